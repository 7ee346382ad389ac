/*
 * apply.c - create-or-update on the asynchronous kube client.
 */
#include "engine/base/common.h"
#include "apply.h"

#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

struct wh_apply {
  struct kube_client *c;
  const struct kube_resource *r;
  json_t *desired;
  char *ns, *name;
  bool create_if_missing;
  bool created_once; /* a POST already lost a race: update, never POST again */
  wh_apply_merge_fn merge;
  wh_apply_done_fn done;
  void *ud;
  struct kube_call *call;
};

static void start_update(struct wh_apply *a);

static void finish(struct wh_apply *a, enum eng_err rc, const json_t *obj,
                   const struct eng_error *err) {
  a->call = NULL;
  a->done(a->ud, rc, obj, err);
  json_decref(a->desired);
  free(a->ns);
  free(a->name);
  free(a);
}

static enum kube_mutate on_mutate(void *ud, json_t *obj, struct eng_error *err) {
  (void)err;
  struct wh_apply *a = ud;
  return a->merge(obj, a->desired) ? KUBE_MUTATE_WRITE : KUBE_MUTATE_SKIP;
}

static void on_created(void *ud, const struct kube_result *res) {
  struct wh_apply *a = ud;
  if (res->err == ENG_EXISTS && !a->created_once) {
    a->created_once = true;
    start_update(a);
    return;
  }
  finish(a, res->err, res->err == ENG_OK ? res->body : NULL, &res->error);
}

static void on_updated(void *ud, const struct kube_result *res) {
  struct wh_apply *a = ud;
  if (res->err == ENG_NOTFOUND && a->create_if_missing && !a->created_once) {
    a->call = kube_create(a->c, a->r, a->ns, a->desired, on_created, a);
    return;
  }
  finish(a, res->err, res->err == ENG_OK ? res->body : NULL, &res->error);
}

static void start_update(struct wh_apply *a) {
  a->call =
      kube_update_retry(a->c, a->r, a->ns, a->name, NULL, false, on_mutate, a, 0, on_updated, a);
}

struct wh_apply *wh_apply_start(struct kube_client *c, const struct kube_resource *r,
                                const json_t *desired, bool create_if_missing,
                                wh_apply_merge_fn merge, wh_apply_done_fn done, void *ud) {
  struct wh_apply *a = xcalloc(1, sizeof(*a));
  a->c = c;
  a->r = r;
  a->desired = json_deep_copy(desired);
  json_t *md = json_object_get(desired, "metadata");
  const char *ns = json_string_value(json_object_get(md, "namespace"));
  const char *name = json_string_value(json_object_get(md, "name"));
  a->ns = xstrdup(ns ? ns : "");
  a->name = xstrdup(name ? name : "");
  a->create_if_missing = create_if_missing;
  a->merge = merge ? merge : wh_apply_merge_fields;
  a->done = done;
  a->ud = ud;
  start_update(a);
  return a;
}

void wh_apply_cancel(struct wh_apply *a) {
  if (!a)
    return;
  kube_cancel(a->c, a->call);
  json_decref(a->desired);
  free(a->ns);
  free(a->name);
  free(a);
}

/* Merge the members of a desired map into a live map; true when something changed. */
static bool merge_map(json_t *meta, const json_t *dmeta, const char *key) {
  json_t *want = json_object_get(dmeta, key);
  if (!json_is_object(want) || json_object_size(want) == 0)
    return false;
  json_t *have = json_object_get(meta, key);
  if (!json_is_object(have)) {
    json_object_set(meta, key, want);
    return true;
  }
  bool changed = false;
  const char *k;
  json_t *v;
  json_object_foreach(want, k, v) {
    if (!json_equal(json_object_get(have, k), v)) {
      json_object_set(have, k, v);
      changed = true;
    }
  }
  return changed;
}

bool wh_apply_merge_fields(json_t *current, const json_t *desired) {
  bool changed = false;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)desired, k, v) {
    if (!strcmp(k, "metadata") || !strcmp(k, "status"))
      continue;
    if (!json_equal(json_object_get(current, k), v)) {
      json_object_set_new(current, k, json_deep_copy(v));
      changed = true;
    }
  }
  json_t *meta = json_object_get(current, "metadata");
  json_t *dmeta = json_object_get(desired, "metadata");
  if (json_is_object(meta) && json_is_object(dmeta)) {
    changed |= merge_map(meta, dmeta, "labels");
    changed |= merge_map(meta, dmeta, "annotations");
    json_t *owners = json_object_get(dmeta, "ownerReferences");
    if (json_is_array(owners) && !json_equal(json_object_get(meta, "ownerReferences"), owners)) {
      json_object_set_new(meta, "ownerReferences", json_deep_copy(owners));
      changed = true;
    }
  }
  return changed;
}
