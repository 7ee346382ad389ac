/*
 * reduce_decider.c - routes events to reducers and diffs desired actions (pure).
 *
 * Desired actions are kept per "<reducer>\n<key>" as a JSON object
 * {"<action id>": <action JSON>}; after an event, only the keys the reducers
 * report as touched are recomputed, so the cost of an event does not grow with
 * the number of objects.
 */
#include "engine/base/common.h"
#include "engine/decide/decider.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

#define SNAPSHOT_VERSION 1

struct decider {
  const struct reducer *const *reducers;
  size_t n;
  json_t *states;  /* {"<reducer>": state} */
  json_t *desired; /* {"<reducer>\n<key>": {"<id>": action}} */
  int64_t last_seq;
};

struct decider *decider_new(const struct reducer *const *reducers, size_t n) {
  struct decider *d = xcalloc(1, sizeof(*d));
  d->reducers = reducers;
  d->n = n;
  d->states = json_object();
  d->desired = json_object();
  for (size_t i = 0; i < n; i++)
    json_object_set_new(d->states, reducers[i]->name, reducers[i]->init(reducers[i]));
  return d;
}

void decider_free(struct decider *d) {
  if (!d)
    return;
  json_decref(d->states);
  json_decref(d->desired);
  free(d);
}

bool decider_is_input(const char *type) {
  if (!type)
    return false;
  return strcmp(type, "engine.action") != 0 && strcmp(type, "engine.cancel") != 0 &&
         strcmp(type, "executor.intent") != 0;
}

static void push_json_action(struct action_list *l, const json_t *aj) {
  struct action *a = action_list_push(l);
  struct eng_error err;
  if (action_from_json(aj, a, &err) != ENG_OK)
    l->n--;
}

void decider_feed(struct decider *d, const struct reduce_event *ev, struct action_list *added,
                  struct action_list *removed) {
  if (ev->seq > d->last_seq)
    d->last_seq = ev->seq;
  if (!decider_is_input(ev->type))
    return;
  for (size_t i = 0; i < d->n; i++) {
    const struct reducer *r = d->reducers[i];
    json_t *state = json_object_get(d->states, r->name);
    struct keylist touched = {0};
    r->apply(r, state, ev, &touched);
    for (size_t k = 0; k < touched.n; k++) {
      struct action_list now = {0};
      r->desire(r, state, touched.v[k], &now);
      char *dkey = xasprintf("%s\n%s", r->name, touched.v[k]);
      json_t *old = json_object_get(d->desired, dkey);
      json_t *next = json_object();
      for (size_t a = 0; a < now.n; a++) {
        json_t *aj = action_to_json(&now.v[a]);
        if (!json_object_get(old, now.v[a].id))
          push_json_action(added, aj);
        json_object_set_new(next, now.v[a].id, aj);
      }
      const char *id;
      json_t *aj;
      json_object_foreach(old, id, aj) {
        if (!json_object_get(next, id))
          push_json_action(removed, aj);
      }
      if (json_object_size(next))
        json_object_set_new(d->desired, dkey, next);
      else {
        json_decref(next);
        json_object_del(d->desired, dkey);
      }
      free(dkey);
      action_list_clear(&now);
    }
    keylist_clear(&touched);
  }
}

void decider_desired(const struct decider *d, struct action_list *out) {
  /* Sorted by key for a deterministic order. */
  size_t n = json_object_size(d->desired);
  const char **keys = xcalloc(n ? n : 1, sizeof(*keys));
  size_t i = 0;
  const char *k;
  json_t *v;
  json_object_foreach(d->desired, k, v) keys[i++] = k;
  for (size_t a = 1; a < n; a++)
    for (size_t b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0; b--) {
      const char *t = keys[b];
      keys[b] = keys[b - 1];
      keys[b - 1] = t;
    }
  for (i = 0; i < n; i++) {
    json_t *set = json_object_get(d->desired, keys[i]);
    const char *id;
    json_t *aj;
    json_object_foreach(set, id, aj) push_json_action(out, aj);
  }
  free(keys);
}

int64_t decider_last_seq(const struct decider *d) { return d->last_seq; }

const json_t *decider_state(const struct decider *d, const char *reducer) {
  return json_object_get(d->states, reducer);
}

json_t *decider_snapshot(const struct decider *d) {
  json_t *s = json_object();
  json_object_set_new(s, "version", json_integer(SNAPSHOT_VERSION));
  json_object_set_new(s, "seq", json_integer(d->last_seq));
  json_object_set(s, "states", d->states);
  json_object_set(s, "desired", d->desired);
  return s;
}

enum eng_err decider_restore(struct decider *d, const json_t *snap, struct eng_error *err) {
  if (!json_is_object(snap))
    return eng_error_set(err, ENG_INVALID, "the decider snapshot is not a JSON object");
  json_int_t v = jsonx_int(snap, "version", 0);
  if (v != SNAPSHOT_VERSION)
    return eng_error_set(err, ENG_VERSION,
                         "the decider snapshot has version %" JSON_INTEGER_FORMAT
                         ", this binary understands version %d; replay from the start instead",
                         v, SNAPSHOT_VERSION);
  json_t *states = json_object_get(snap, "states");
  json_t *desired = json_object_get(snap, "desired");
  if (!json_is_object(states) || !json_is_object(desired))
    return eng_error_set(err, ENG_INVALID, "the decider snapshot lacks states or desired actions");
  json_t *ns = json_object();
  for (size_t i = 0; i < d->n; i++) {
    json_t *st = json_object_get(states, d->reducers[i]->name);
    json_object_set_new(ns, d->reducers[i]->name,
                        json_is_object(st) ? json_deep_copy(st)
                                           : d->reducers[i]->init(d->reducers[i]));
  }
  json_decref(d->states);
  d->states = ns;
  json_decref(d->desired);
  d->desired = json_deep_copy(desired);
  d->last_seq = jsonx_int(snap, "seq", 0);
  return ENG_OK;
}
