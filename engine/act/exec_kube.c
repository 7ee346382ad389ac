/*
 * exec_kube.c - Kubernetes write handlers of the executor.
 */
#include "engine/base/common.h"
#include "engine/act/exec_kube.h"
#include "engine/act/exec_inflight.h"
#include "engine/base/b64.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

struct exec_kube {
  struct kube_client *c;
  struct kube_recorder *rec;
  const struct kube_resource *const *res;
  size_t nres;
  struct exec_inflight_list calls;
};

struct kcall {
  struct exec_kube *k;
  struct exec_inflight fl;
  struct kube_call *kc;
  json_t *event; /* Event to record after a successful status write, or NULL */
  bool del;      /* a kube.delete: 404 means done */
  bool create;   /* a kube.create: 409 AlreadyExists means done */
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

/* Hand the call's outcome to the executor (out on success, res's error otherwise) and free kc. */
static void finish(struct kcall *kc, const struct kube_result *res, const json_t *out) {
  if (out)
    exec_inflight_ok(&kc->fl, out);
  else
    exec_inflight_kube_fail(&kc->fl, res);
  json_decref(kc->event);
  free(kc);
}

/* A new call in flight, linked so that exec_kube_free() can cancel it. */
static struct kcall *track(struct exec_kube *k, struct exec_call *call) {
  struct kcall *kc = xcalloc(1, sizeof(*kc));
  kc->k = k;
  exec_inflight_link(&k->calls, &kc->fl, call, kc);
  return kc;
}

static void done(void *ud, const struct kube_result *res) {
  struct kcall *kc = ud;
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
    finish(kc, res, out);
    json_decref(out);
  } else {
    finish(kc, res, NULL);
  }
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
    executor_fail(call, &err, NULL, false);
    return;
  }
  bool status = strcmp(a->kind, "kube.status") == 0;
  struct kcall *kc = track(k, call);
  json_t *ev = json_object_get(a->params, "event");
  kc->event = json_is_object(ev) ? json_deep_copy(ev) : NULL;
  kc->kc = kube_patch(k->c, r, a->ns, a->name, status ? KUBE_PATCH_STATUS_MERGE : KUBE_PATCH_MERGE,
                      patch, done, kc);
}

/* kube.apply, kube.create and kube.delete. */

static void fail_now(struct exec_call *call, const struct action *a, const char *why) {
  struct eng_error err;
  const char *verb = !strcmp(a->kind, "kube.delete")   ? "delete"
                     : !strcmp(a->kind, "kube.create") ? "create"
                                                       : "apply";
  eng_error_set(&err, ENG_INTERNAL, "cannot %s %s %s/%s: %s", verb, a->group_kind,
                a->ns ? a->ns : "", a->name ? a->name : "", why);
  executor_fail(call, &err, NULL, false);
}

static void write_done(void *ud, const struct kube_result *res) {
  struct kcall *kc = ud;
  if (kc->create && (res->err == ENG_OK || res->err == ENG_EXISTS)) {
    /* An object that exists already is left as it is (Gardener's restore: AlreadyExists is
     * ignored). */
    json_t *out = res->err == ENG_OK ? exec_kube_apply_output(res->body) : json_object();
    json_object_set_new(out, "created", json_boolean(res->err == ENG_OK));
    finish(kc, res, out);
    json_decref(out);
    return;
  }
  if (res->err == ENG_OK || (kc->del && res->err == ENG_NOTFOUND)) {
    json_t *out = kc->del ? json_pack("{s:b}", "gone", true) : exec_kube_apply_output(res->body);
    finish(kc, res, out);
    json_decref(out);
  } else {
    finish(kc, res, NULL);
  }
}

json_t *exec_kube_apply_output(const json_t *body) {
  const char *rv = jsonx_str(body, "metadata.resourceVersion");
  const char *uid = jsonx_str(body, "metadata.uid");
  json_t *gen = jsonx_path(body, "metadata.generation");
  return json_pack("{s:s,s:s,s:I}", "resourceVersion", rv ? rv : "", "uid", uid ? uid : "",
                   "generation", (json_int_t)(json_is_integer(gen) ? json_integer_value(gen) : 0));
}

static void start_write(void *ud, struct exec_call *call, const struct action *a, bool resolving) {
  (void)resolving; /* apply and delete are idempotent: a resolved attempt simply runs again */
  struct exec_kube *k = ud;
  const struct kube_resource *r = resource_of(k, a->group_kind);
  if (!r) {
    fail_now(call, a, "this kind is not registered with the executor");
    return;
  }
  if (!a->name || !*a->name) {
    fail_now(call, a, "the action names no object");
    return;
  }
  bool del = strcmp(a->kind, "kube.delete") == 0;
  json_t *obj = json_object_get(a->params, "object");
  if (!del) {
    if (!json_is_object(obj)) {
      fail_now(call, a, "the action has no object to apply");
      return;
    }
    const char *n = jsonx_str(obj, "metadata.name");
    const char *ns = jsonx_str(obj, "metadata.namespace");
    if (!n || strcmp(n, a->name) != 0 || (r->namespaced && (!ns || !a->ns || strcmp(ns, a->ns))) ||
        !jsonx_str(obj, "apiVersion") || !jsonx_str(obj, "kind")) {
      fail_now(call, a,
               "the object's apiVersion, kind, metadata.name and metadata.namespace must name the "
               "action's target");
      return;
    }
  }
  struct kcall *kc = track(k, call);
  kc->del = del;
  kc->create = !strcmp(a->kind, "kube.create");
  if (kc->create) {
    kc->kc = kube_create(k->c, r, a->ns, obj, write_done, kc);
  } else if (del) {
    struct kube_delete_opts o = {jsonx_str(a->params, "uid"), NULL,
                                 jsonx_str(a->params, "propagationPolicy")};
    kc->kc = kube_delete(k->c, r, a->ns, a->name, &o, write_done, kc);
  } else {
    /* params.manifests {key: object}: data of a Secret made here, each object as canonical JSON
     * in base64, so that the journal holds the objects and not a Secret's data (which it would
     * keep only as digests, e.g. in snapshots of the desired actions). */
    json_t *manifests = json_object_get(a->params, "manifests"), *full = NULL;
    if (json_is_object(manifests)) {
      full = json_deep_copy(obj);
      json_t *data = json_object();
      const char *key;
      json_t *m;
      json_object_foreach(manifests, key, m) {
        char *text = jsonx_canonical(m);
        char *enc = b64_encode(text, strlen(text));
        json_object_set_new(data, key, json_string(enc));
        free(enc);
        free(text);
      }
      json_object_set_new(full, "data", data);
    }
    kc->kc = kube_apply(k->c, r, a->ns, a->name, full ? full : obj, EXEC_KUBE_FIELD_MANAGER, true,
                        write_done, kc);
    json_decref(full);
  }
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
  executor_handle(x, "kube.apply", start_write, k);
  executor_handle(x, "kube.create", start_write, k);
  executor_handle(x, "kube.delete", start_write, k);
}

void exec_kube_free(struct exec_kube *k) {
  if (!k)
    return;
  struct kcall *kc;
  while ((kc = exec_inflight_pop(&k->calls))) {
    kube_cancel(k->c, kc->kc);
    json_decref(kc->event);
    free(kc);
  }
  free(k);
}
