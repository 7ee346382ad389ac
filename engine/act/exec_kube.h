/*
 * exec_kube.h - executor handlers for Kubernetes writes decided by reducers:
 *
 *   kube.patch   {patch}          merge patch on the target object
 *   kube.status  {patch, event?}  merge patch on its /status subresource, then an
 *                                 optional core/v1 Event {type, reason, message}
 *   kube.apply   {object}         server-side apply of the whole desired object (field manager
 *                                 EXEC_KUBE_FIELD_MANAGER, force): creates or updates it; the
 *                                 object's apiVersion/kind/name/namespace must be the target's.
 *                                 Outcome {"resourceVersion", "uid", "generation"}.
 *   kube.create  {object}         create the object (POST) unless it exists: an existing one is
 *                                 left as it is. Outcome {"created": true, "resourceVersion",
 *                                 "uid", "generation"} or {"created": false}.
 *   kube.delete  {uid?, propagationPolicy?}  delete the target (uid: precondition).
 *                                 Outcome {"gone": true}, also when it was already absent.
 *
 * Targets are found by group/kind among the resources registered here. Patches
 * are idempotent, so an attempt resolving an earlier crash simply runs again.
 * Outcome: {"resourceVersion", "finalizers"} of the written object, or the mapped error (409
 * Conflict and 5xx retryable; 404 ENG_NOTFOUND, which the reducers read as "object gone").
 */
#ifndef EQXM_EXEC_KUBE_H
#define EQXM_EXEC_KUBE_H

#include "engine/base/common.h"
#include "engine/act/executor.h"
#include "engine/kube/client.h"
#include "engine/kube/events.h"

struct exec_kube;

/* The field manager of every server-side apply (metadata.managedFields[].manager). */
#define EXEC_KUBE_FIELD_MANAGER PROG_NAME

/* The outcome of a server-side apply: {"resourceVersion", "uid", "generation"} of the object in
 * body (the response). Caller owns it. */
json_t *exec_kube_apply_output(const json_t *body);

/* res[] must outlive the handlers. recorder may be NULL (no Events). */
struct exec_kube *exec_kube_new(struct kube_client *c, struct kube_recorder *recorder,
                                const struct kube_resource *const *res, size_t nres);
/* Register "kube.patch", "kube.status", "kube.apply", "kube.create" and "kube.delete" on x. */
void exec_kube_register(struct exec_kube *k, struct executor *x);
/* Cancels calls in flight (their outcomes never arrive). */
void exec_kube_free(struct exec_kube *k);

#endif
