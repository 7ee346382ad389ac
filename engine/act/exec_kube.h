/*
 * exec_kube.h - executor handlers for Kubernetes writes decided by reducers:
 *
 *   kube.patch   {patch}          merge patch on the target object
 *   kube.status  {patch, event?}  merge patch on its /status subresource, then an
 *                                 optional core/v1 Event {type, reason, message}
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

/* res[] must outlive the handlers. recorder may be NULL (no Events). */
struct exec_kube *exec_kube_new(struct kube_client *c, struct kube_recorder *recorder,
                                const struct kube_resource *const *res, size_t nres);
/* Register "kube.patch" and "kube.status" on x. */
void exec_kube_register(struct exec_kube *k, struct executor *x);
/* Cancels calls in flight (their outcomes never arrive). */
void exec_kube_free(struct exec_kube *k);

#endif
