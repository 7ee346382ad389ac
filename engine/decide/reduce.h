/*
 * reduce.h - the reducer interface: pure folds from journal events to state, and
 * from state to desired actions.
 *
 * A reducer owns one JSON state document (so that snapshots, replay output and
 * debugging all see the same thing). apply() folds one event into it and names
 * the keys (objects) whose desired actions may have changed; desire() lists the
 * desired actions of one key. Both are pure: they read only their arguments,
 * never the clock (the event's recorded_ms is the time), never randomness, never
 * I/O. Replaying the same events therefore yields byte-identical actions.
 */
#ifndef EQXM_REDUCE_H
#define EQXM_REDUCE_H

#include "engine/base/common.h"
#include "engine/decide/action.h"

#include <jansson.h>

/* One journal event as reducers see it (all pointers borrowed). */
struct reduce_event {
  int64_t seq;
  int64_t recorded_ms;
  const char *source;
  const char *type;
  const char *group_kind;
  const char *ns;
  const char *name;
  const char *uid;
  const char *resource_version;
  const char *correlation_id;
  const json_t *payload;
};

/* A small set of strings (keys touched by an event), insertion-ordered, no duplicates. */
struct keylist {
  char **v;
  size_t n, cap;
};
void keylist_add(struct keylist *l, const char *key);
void keylist_clear(struct keylist *l);

struct reducer {
  const char *name; /* controller name; executor results and timers are routed by it */
  const void *ud;   /* reducer-specific definition (e.g. struct ext_controller) */
  /* A new, empty state document. */
  json_t *(*init)(const struct reducer *r);
  /* Fold ev into state; add every key whose desired actions may have changed. */
  void (*apply)(const struct reducer *r, json_t *state, const struct reduce_event *ev,
                struct keylist *touched);
  /* Append the desired actions of key, in a deterministic order. */
  void (*desire)(const struct reducer *r, const json_t *state, const char *key,
                 struct action_list *out);
  /* Every key that has state. */
  void (*keys)(const struct reducer *r, const json_t *state, struct keylist *out);
};

#endif
