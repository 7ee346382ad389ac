/*
 * exec_kube.c - Kubernetes write handlers of the executor.
 */
#include "engine/base/common.h"
#include "engine/act/exec_kube.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

struct exec_kube {
  struct kube_client *c;
  struct kube_recorder *rec;
  const struct kube_resource *const *res;
  size_t nres;
  struct kcall *calls; /* in flight */
};

struct kcall {
  struct exec_kube *k;
  struct exec_call *call;
  struct kube_call *kc;
  json_t *event; /* Event to record after a successful status write, or NULL */
  struct kcall *prev, *next;
};

static const struct kube_resource *resource_of(const struct exec_kube *k, const char *group_kind) {
  for (size_t i = 0; i < k->nres; i++) {
    char gk[192];
    kube_resource_group_kind(k->res[i], gk);
    if (strcmp(gk, group_kind) == 0)
      return k->res[i];
  }
  return NULL;
}

static void unlink_call(struct kcall *kc) {
  if (kc->prev)
    kc->prev->next = kc->next;
  else
    kc->k->calls = kc->next;
  if (kc->next)
    kc->next->prev = kc->prev;
}

static void done(void *ud, const struct kube_result *res) {
  struct kcall *kc = ud;
  unlink_call(kc);
  if (res->err == ENG_OK) {
    if (kc->event && kc->k->rec && json_is_object(res->body))
      kube_recorder_event(kc->k->rec, res->body, jsonx_str(kc->event, "type") ?: "Normal",
                          jsonx_str(kc->event, "reason") ?: "Reconciling", "%s",
                          jsonx_str(kc->event, "message") ?: "");
    /* The object as our write left it: the reducers use it like controller-runtime
     * uses a PATCH response, so the next step does not start from a stale version. */
    json_t *out = json_object();
    const char *rv = jsonx_str(res->body, "metadata.resourceVersion");
    json_object_set_new(out, "resourceVersion", json_string(rv ? rv : ""));
    json_t *fins = jsonx_path(res->body, "metadata.finalizers");
    json_object_set_new(out, "finalizers",
                        json_is_array(fins) ? json_deep_copy(fins) : json_array());
    struct exec_outcome o = {true, out, NULL, NULL, 0, false};
    executor_done(kc->call, &o);
    json_decref(out);
  } else {
    struct eng_error err = res->error;
    err.http_status = (int)res->status;
    err.retry_after_ms = res->retry_after_ms;
    struct exec_outcome o = {false, NULL, &err, NULL, 0, eng_err_retryable(res->err)};
    executor_done(kc->call, &o);
  }
  json_decref(kc->event);
  free(kc);
}

static void start(void *ud, struct exec_call *call, const struct action *a, bool resolving) {
  (void)resolving; /* merge patches are idempotent */
  struct exec_kube *k = ud;
  const struct kube_resource *r = resource_of(k, a->group_kind);
  json_t *patch = json_object_get(a->params, "patch");
  if (!r || !json_is_object(patch)) {
    struct eng_error err;
    eng_error_set(&err, ENG_INTERNAL, "cannot write %s %s/%s: %s", a->group_kind, a->ns, a->name,
                  r ? "the action has no patch" : "this kind is not registered with the executor");
    struct exec_outcome o = {false, NULL, &err, NULL, 0, false};
    executor_done(call, &o);
    return;
  }
  bool status = strcmp(a->kind, "kube.status") == 0;
  struct kcall *kc = xcalloc(1, sizeof(*kc));
  kc->k = k;
  kc->call = call;
  json_t *ev = json_object_get(a->params, "event");
  kc->event = json_is_object(ev) ? json_deep_copy(ev) : NULL;
  kc->next = k->calls;
  if (k->calls)
    k->calls->prev = kc;
  k->calls = kc;
  kc->kc = kube_patch(k->c, r, a->ns, a->name, status ? KUBE_PATCH_STATUS_MERGE : KUBE_PATCH_MERGE,
                      patch, done, kc);
}

struct exec_kube *exec_kube_new(struct kube_client *c, struct kube_recorder *recorder,
                                const struct kube_resource *const *res, size_t nres) {
  struct exec_kube *k = xcalloc(1, sizeof(*k));
  k->c = c;
  k->rec = recorder;
  k->res = res;
  k->nres = nres;
  return k;
}

void exec_kube_register(struct exec_kube *k, struct executor *x) {
  executor_handle(x, "kube.patch", start, k);
  executor_handle(x, "kube.status", start, k);
}

void exec_kube_free(struct exec_kube *k) {
  if (!k)
    return;
  while (k->calls) {
    struct kcall *kc = k->calls;
    k->calls = kc->next;
    kube_cancel(k->c, kc->kc);
    json_decref(kc->event);
    free(kc);
  }
  free(k);
}
