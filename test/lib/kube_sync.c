/*
 * kube_sync.c - synchronous wrappers of the Kubernetes client (see kube_sync.h); test-only.
 */
#include "test/lib/kube_sync.h"

#include <ev.h>

/* ---- synchronous wrappers ----------------------------------------------------------------- */

struct sync_state {
  bool done;
  enum eng_err rc;
  json_t *body;
  struct eng_error error;
};

static void sync_done(void *ud, const struct kube_result *res) {
  struct sync_state *st = ud;
  st->done = true;
  st->rc = res->err;
  st->body = res->body ? json_incref(res->body) : NULL;
  st->error = res->error;
  st->error.code = res->err;
}

static enum eng_err sync_wait(struct kube_client *c, struct sync_state *st, json_t **out,
                              struct eng_error *err) {
  while (!st->done)
    ev_run(kube_client_loop(c), EVRUN_ONCE);
  if (err)
    *err = st->error;
  if (out && st->rc == ENG_OK)
    *out = st->body;
  else
    json_decref(st->body);
  if (out && st->rc != ENG_OK)
    *out = NULL;
  return st->rc;
}

#define SYNC_BEGIN struct sync_state st = {0}
#define SYNC_END   return sync_wait(c, &st, out, err)

enum eng_err kube_get_sync(struct kube_client *c, const struct kube_resource *r, const char *ns,
                           const char *name, json_t **out, struct eng_error *err) {
  SYNC_BEGIN;
  (void)kube_get(c, r, ns, name, sync_done, &st);
  SYNC_END;
}

enum eng_err kube_list_sync(struct kube_client *c, const struct kube_resource *r, const char *ns,
                            const struct kube_list_opts *opts, json_t **out,
                            struct eng_error *err) {
  SYNC_BEGIN;
  (void)kube_list(c, r, ns, opts, sync_done, &st);
  SYNC_END;
}

enum eng_err kube_create_sync(struct kube_client *c, const struct kube_resource *r, const char *ns,
                              const json_t *obj, json_t **out, struct eng_error *err) {
  SYNC_BEGIN;
  (void)kube_create(c, r, ns, obj, sync_done, &st);
  SYNC_END;
}

enum eng_err kube_update_sync(struct kube_client *c, const struct kube_resource *r, const char *ns,
                              const char *name, const json_t *obj, json_t **out,
                              struct eng_error *err) {
  SYNC_BEGIN;
  (void)kube_update(c, r, ns, name, obj, sync_done, &st);
  SYNC_END;
}

enum eng_err kube_update_status_sync(struct kube_client *c, const struct kube_resource *r,
                                     const char *ns, const char *name, const json_t *obj,
                                     json_t **out, struct eng_error *err) {
  SYNC_BEGIN;
  (void)kube_update_status(c, r, ns, name, obj, sync_done, &st);
  SYNC_END;
}

enum eng_err kube_patch_sync(struct kube_client *c, const struct kube_resource *r, const char *ns,
                             const char *name, enum kube_patch_type type, const json_t *patch,
                             json_t **out, struct eng_error *err) {
  SYNC_BEGIN;
  (void)kube_patch(c, r, ns, name, type, patch, sync_done, &st);
  SYNC_END;
}

enum eng_err kube_delete_sync(struct kube_client *c, const struct kube_resource *r, const char *ns,
                              const char *name, const struct kube_delete_opts *opts, json_t **out,
                              struct eng_error *err) {
  SYNC_BEGIN;
  (void)kube_delete(c, r, ns, name, opts, sync_done, &st);
  SYNC_END;
}

enum eng_err kube_update_retry_sync(struct kube_client *c, const struct kube_resource *r,
                                    const char *ns, const char *name, const json_t *cached,
                                    bool status, kube_mutate_fn mutate, void *mutate_ud,
                                    int max_attempts, json_t **out, struct eng_error *err) {
  SYNC_BEGIN;
  (void)kube_update_retry(c, r, ns, name, cached, status, mutate, mutate_ud, max_attempts,
                          sync_done, &st);
  SYNC_END;
}
