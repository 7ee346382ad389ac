/*
 * metal_sync.h - synchronous wrappers around the asynchronous Metal client, for
 * tests and test tools only (the binary never blocks its loop on a call).
 */
#ifndef EQXM_TEST_METAL_SYNC_H
#define EQXM_TEST_METAL_SYNC_H

#include "providers/equinix-metal/api/metal_client.h"

/* ---- synchronous wrappers -------------------------------------------- */
/*
 * Run the client's loop until the operation ends. They block the calling thread
 * and run every other watcher of that loop meanwhile: never call them from a
 * callback. *out gets an owned copy (free with the matching _free); err gets the
 * error. The return value is the result code.
 */
enum eng_err metal_device_get_sync(struct metal_client *c, const char *id,
                                   struct metal_device **out, struct eng_error *err) WARN_UNUSED;
enum eng_err metal_device_list_sync(struct metal_client *c, const char *tag,
                                    struct metal_device_list **out,
                                    struct eng_error *err) WARN_UNUSED;
enum eng_err metal_device_find_sync(struct metal_client *c, const char *key,
                                    struct metal_device_list **out,
                                    struct eng_error *err) WARN_UNUSED;
enum eng_err metal_device_create_sync(struct metal_client *c, const struct metal_device_spec *spec,
                                      struct metal_device **out, struct eng_error *err) WARN_UNUSED;
enum eng_err metal_device_ensure_sync(struct metal_client *c, const struct metal_device_spec *spec,
                                      struct metal_device **out, bool *adopted,
                                      struct eng_error *err) WARN_UNUSED;
enum eng_err metal_device_delete_sync(struct metal_client *c, const char *id, bool *gone,
                                      struct eng_error *err) WARN_UNUSED;
enum eng_err metal_sshkey_ensure_sync(struct metal_client *c, const char *label, const char *key,
                                      struct metal_sshkey **out, bool *adopted,
                                      struct eng_error *err) WARN_UNUSED;
enum eng_err metal_sshkey_list_sync(struct metal_client *c, struct metal_sshkey_list **out,
                                    struct eng_error *err) WARN_UNUSED;
enum eng_err metal_sshkey_delete_sync(struct metal_client *c, const char *id, bool *gone,
                                      struct eng_error *err) WARN_UNUSED;
enum eng_err metal_ip_list_sync(struct metal_client *c, const char *types,
                                struct metal_ip_list **out, struct eng_error *err) WARN_UNUSED;

#endif
