/*
 * action.c - action records: keys, lists, canonical JSON.
 */
#include "engine/base/common.h"
#include "engine/decide/action.h"
#include "engine/base/jsonx.h"
#include "engine/base/sha256.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

void action_key(const char *uid, const char *operation, const char *kind, const char *target,
                char out[33]) {
  struct sha256_ctx c;
  uint8_t d[SHA256_LEN];
  const char *parts[] = {uid ? uid : "", operation ? operation : "", kind ? kind : "",
                         target ? target : ""};
  sha256_begin(&c);
  for (size_t i = 0; i < ARRAY_SIZE(parts); i++)
    sha256_update(&c, parts[i], strlen(parts[i]) + 1); /* include the NUL as separator */
  sha256_end(&c, d);
  hex_encode(d, 16, out);
}

struct action *action_list_push(struct action_list *l) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 8;
    l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
  }
  struct action *a = &l->v[l->n++];
  memset(a, 0, sizeof(*a));
  return a;
}

void action_release(struct action *a) {
  free(a->id);
  free(a->key);
  free(a->controller);
  free(a->kind);
  free(a->correlation);
  free(a->group_kind);
  free(a->ns);
  free(a->name);
  free(a->uid);
  free(a->reason);
  json_decref(a->params);
  memset(a, 0, sizeof(*a));
}

void action_list_clear(struct action_list *l) {
  for (size_t i = 0; i < l->n; i++)
    action_release(&l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}

static char *dup_or_empty(const char *s) { return xstrdup(s ? s : ""); }

void action_copy(struct action *dst, const struct action *src) {
  dst->id = dup_or_empty(src->id);
  dst->key = dup_or_empty(src->key);
  dst->controller = dup_or_empty(src->controller);
  dst->kind = dup_or_empty(src->kind);
  dst->correlation = dup_or_empty(src->correlation);
  dst->group_kind = dup_or_empty(src->group_kind);
  dst->ns = dup_or_empty(src->ns);
  dst->name = dup_or_empty(src->name);
  dst->uid = dup_or_empty(src->uid);
  dst->attempt = src->attempt;
  dst->at_ms = src->at_ms;
  dst->params = src->params ? json_deep_copy(src->params) : json_object();
  dst->reason = dup_or_empty(src->reason);
}

json_t *action_to_json(const struct action *a) {
  json_t *j = json_object();
  json_object_set_new(j, "id", json_string(a->id ? a->id : ""));
  json_object_set_new(j, "key", json_string(a->key ? a->key : ""));
  json_object_set_new(j, "controller", json_string(a->controller ? a->controller : ""));
  json_object_set_new(j, "kind", json_string(a->kind ? a->kind : ""));
  json_object_set_new(j, "correlation", json_string(a->correlation ? a->correlation : ""));
  json_t *t = json_object();
  json_object_set_new(t, "groupKind", json_string(a->group_kind ? a->group_kind : ""));
  json_object_set_new(t, "namespace", json_string(a->ns ? a->ns : ""));
  json_object_set_new(t, "name", json_string(a->name ? a->name : ""));
  json_object_set_new(t, "uid", json_string(a->uid ? a->uid : ""));
  json_object_set_new(j, "target", t);
  json_object_set_new(j, "attempt", json_integer(a->attempt));
  if (a->at_ms)
    json_object_set_new(j, "atMs", json_integer(a->at_ms));
  json_object_set_new(j, "params", a->params ? json_deep_copy(a->params) : json_object());
  json_object_set_new(j, "reason", json_string(a->reason ? a->reason : ""));
  return j;
}

static char *get_str(const json_t *j, const char *path, bool *ok) {
  const char *s = jsonx_str(j, path);
  if (!s) {
    *ok = false;
    return xstrdup("");
  }
  return xstrdup(s);
}

enum eng_err action_from_json(const json_t *j, struct action *a, struct eng_error *err) {
  memset(a, 0, sizeof(*a));
  if (!json_is_object(j))
    return eng_error_set(err, ENG_INVALID, "an action must be a JSON object");
  bool ok = true;
  a->id = get_str(j, "id", &ok);
  a->key = get_str(j, "key", &ok);
  a->controller = get_str(j, "controller", &ok);
  a->kind = get_str(j, "kind", &ok);
  a->correlation = get_str(j, "correlation", &ok);
  a->group_kind = get_str(j, "target.groupKind", &ok);
  a->ns = get_str(j, "target.namespace", &ok);
  a->name = get_str(j, "target.name", &ok);
  a->uid = get_str(j, "target.uid", &ok);
  a->reason = get_str(j, "reason", &ok);
  a->attempt = (int)jsonx_int(j, "attempt", 0);
  a->at_ms = jsonx_int(j, "atMs", 0);
  json_t *p = json_object_get(j, "params");
  a->params = json_is_object(p) ? json_deep_copy(p) : json_object();
  if (!ok || a->attempt < 1) {
    action_release(a);
    return eng_error_set(
        err, ENG_INVALID,
        "an action lacks one of id, key, controller, kind, correlation, target, attempt or reason");
  }
  return ENG_OK;
}

bool action_equal(const struct action *a, const struct action *b) {
  json_t *ja = action_to_json(a), *jb = action_to_json(b);
  char *sa = jsonx_canonical(ja), *sb = jsonx_canonical(jb);
  bool eq = sa && sb && strcmp(sa, sb) == 0;
  free(sa);
  free(sb);
  json_decref(ja);
  json_decref(jb);
  return eq;
}
