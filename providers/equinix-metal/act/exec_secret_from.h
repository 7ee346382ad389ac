/*
 * exec_secret_from.h - the "kube.secret.from" executor action: server-side apply
 * of an object some of whose values come from Secrets, read at call time, so that
 * Secret data never appears in action parameters or in the journal.
 *
 *   kube.secret.from {object, fill: [{secretRef {namespace, name}, key, path, decode,
 *                                     notFound, missing}]}
 *     For each fill entry: GET the Secret, take data[key] (base64); put it at the
 *     dotted path of object as is (decode false: e.g. data.userData of a class
 *     Secret) or decoded and trimmed (decode true: e.g. providerSpec.projectID);
 *     then apply the object (field manager EXEC_KUBE_FIELD_MANAGER, force) as the
 *     action's target (group_kind/ns/name, registered resources only).
 *     Outcome {resourceVersion, uid, generation, digests: {"<path>": "sha256:<hex>"}}.
 *     Errors: "<notFound>: <cause>" when the Secret cannot be read, "<missing>" when
 *     the key is absent or empty (both retryable: the Secret may be fixed).
 */
#ifndef EQXM_EXEC_SECRET_FROM_H
#define EQXM_EXEC_SECRET_FROM_H

#include "engine/base/common.h"
#include "engine/act/executor.h"
#include "engine/kube/client.h"

struct exec_secret_from;

/* res[] (the kinds that may be written) must outlive the handler. */
struct exec_secret_from *exec_secret_from_new(struct kube_client *c,
                                              const struct kube_resource *const *res, size_t nres);
void exec_secret_from_register(struct exec_secret_from *x, struct executor *ex);
/* Cancels calls in flight (their outcomes never arrive). */
void exec_secret_from_free(struct exec_secret_from *x);

#endif
