/*
 * action.h - a desired action: what a reducer wants done in the world.
 *
 * Reducers emit actions; the decider journals each new action ("engine.action"),
 * and the executor carries it out, journaling an intent before the call and the
 * outcome after. An action is plain data (kind + params), never a credential:
 * parameters name Secrets by reference.
 *
 * Identity: `id` names one attempt of one step of one operation and is unique in
 * a journal; `key` is the idempotency key, stable across attempts of the same
 * step, derived from (object uid, operation, action kind, target). Both are
 * deterministic, so replaying a journal yields byte-identical actions.
 */
#ifndef EQXM_ACTION_H
#define EQXM_ACTION_H

#include "engine/base/common.h"
#include "engine/base/err.h"

#include <jansson.h>

struct action {
  char *id;         /* unique per attempt, e.g. "infrastructure/ns/name/op-7f3a/ensure-ssh-key/2" */
  char *key;        /* idempotency key: 32 hex digits, same for every attempt of a step */
  char *controller; /* "infrastructure" */
  char *kind; /* "kube.patch", "kube.status", "kube.event", "metal.sshkey.ensure", "timer", ... */
  char *correlation; /* id of the operation (reconcile) this action belongs to */
  char *group_kind;  /* target object: "extensions.gardener.cloud/Infrastructure" */
  char *ns;
  char *name;
  char *uid;
  int attempt;    /* 1, 2, ... */
  int64_t at_ms;  /* timers: when to fire (journal time); 0 otherwise */
  json_t *params; /* kind-specific parameters (owned); never secrets */
  char *reason;   /* one sentence shown by replay and audit */
};

struct action_list {
  struct action *v;
  size_t n, cap;
};

/* Derive the idempotency key: hex(sha256(uid \0 operation \0 kind \0 target))[:32]. */
void action_key(const char *uid, const char *operation, const char *kind, const char *target,
                char out[33]);

/* Append a zeroed action and return it (owned by the list). */
struct action *action_list_push(struct action_list *l);
void action_list_clear(struct action_list *l);
void action_release(struct action *a);
void action_copy(struct action *dst, const struct action *src);

/* Canonical JSON form (the payload of "engine.action" events); caller decrefs. */
json_t *action_to_json(const struct action *a);
/* Inverse of action_to_json. ENG_INVALID with a message on malformed input. */
enum eng_err action_from_json(const json_t *j, struct action *a, struct eng_error *err) WARN_UNUSED;
/* True when both encode to the same canonical bytes. */
bool action_equal(const struct action *a, const struct action *b);

#endif
