/*
 * kube_sync.h - synchronous wrappers around the asynchronous Kubernetes client, for tests and
 * test tools only (the binary never blocks its loop on a call). Each runs the client's loop
 * until the call ends: never call them from a callback of that loop.
 */
#ifndef EQXM_TEST_KUBE_SYNC_H
#define EQXM_TEST_KUBE_SYNC_H

#include "engine/kube/client.h"

/* ---- synchronous wrappers --------------------------------------------------------------- */
/* Each returns the call's err; *out (may be NULL) receives a new reference to the body on
 * success (caller json_decref()s); err receives the sentence, HTTP status and retry-after. */

enum eng_err kube_get_sync(struct kube_client *c, const struct kube_resource *r, const char *ns,
                           const char *name, json_t **out, struct eng_error *err) WARN_UNUSED;
enum eng_err kube_list_sync(struct kube_client *c, const struct kube_resource *r, const char *ns,
                            const struct kube_list_opts *opts, json_t **out,
                            struct eng_error *err) WARN_UNUSED;
enum eng_err kube_create_sync(struct kube_client *c, const struct kube_resource *r, const char *ns,
                              const json_t *obj, json_t **out, struct eng_error *err) WARN_UNUSED;
enum eng_err kube_update_sync(struct kube_client *c, const struct kube_resource *r, const char *ns,
                              const char *name, const json_t *obj, json_t **out,
                              struct eng_error *err) WARN_UNUSED;
enum eng_err kube_update_status_sync(struct kube_client *c, const struct kube_resource *r,
                                     const char *ns, const char *name, const json_t *obj,
                                     json_t **out, struct eng_error *err) WARN_UNUSED;
enum eng_err kube_patch_sync(struct kube_client *c, const struct kube_resource *r, const char *ns,
                             const char *name, enum kube_patch_type type, const json_t *patch,
                             json_t **out, struct eng_error *err) WARN_UNUSED;
enum eng_err kube_delete_sync(struct kube_client *c, const struct kube_resource *r, const char *ns,
                              const char *name, const struct kube_delete_opts *opts, json_t **out,
                              struct eng_error *err) WARN_UNUSED;
enum eng_err kube_update_retry_sync(struct kube_client *c, const struct kube_resource *r,
                                    const char *ns, const char *name, const json_t *cached,
                                    bool status, kube_mutate_fn mutate, void *mutate_ud,
                                    int max_attempts, json_t **out,
                                    struct eng_error *err) WARN_UNUSED;

#endif
