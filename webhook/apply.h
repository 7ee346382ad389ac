/*
 * apply.h - asynchronous create-or-update of one Kubernetes object
 * (controller-runtime's CreateOrUpdate): GET it; when it exists, let a merge
 * function bring the live object to the desired state and PUT it only if that
 * changed something (conflicts retried with a fresh GET); when it does not exist,
 * POST the desired object (unless create_if_missing is false); when a POST loses a
 * race (AlreadyExists), update the winner instead.
 */
#ifndef EQXM_WEBHOOK_APPLY_H
#define EQXM_WEBHOOK_APPLY_H

#include "engine/base/common.h"
#include "engine/base/err.h"
#include "engine/kube/client.h"

#include <jansson.h>

struct wh_apply;

/* Change current (the live object, private copy) towards desired; return true when it changed. */
typedef bool (*wh_apply_merge_fn)(json_t *current, const json_t *desired);
/* rc ENG_OK when the object is as desired (created, updated or already right); obj is the
 * object as stored (borrowed, NULL on failure); err names verb, object and cause. */
typedef void (*wh_apply_done_fn)(void *ud, enum eng_err rc, const json_t *obj,
                                 const struct eng_error *err);

/*
 * Start; desired is copied. Returns a handle for wh_apply_cancel(); done runs exactly
 * once, from the loop, unless the apply is canceled first.
 */
struct wh_apply *wh_apply_start(struct kube_client *c, const struct kube_resource *r,
                                const json_t *desired, bool create_if_missing,
                                wh_apply_merge_fn merge, wh_apply_done_fn done, void *ud);
void wh_apply_cancel(struct wh_apply *a);

/* A merge function for objects whose desired top-level fields (other than metadata) replace the
 * live ones, and whose desired metadata labels/annotations/ownerReferences are merged in. */
bool wh_apply_merge_fields(json_t *current, const json_t *desired);

#endif
