/*
 * decider.h - folds journal events through every reducer and tells which actions
 * became desired and which stopped being desired.
 *
 * The decider is pure (engine/decide/decider.c): the running controller and the
 * offline `replay` command feed it the same events in the same order and get the
 * same actions, byte for byte. Events that are the engine's own outputs
 * ("engine.action", "engine.cancel", "executor.intent") are not inputs and are
 * ignored (decider_is_input() says which are).
 */
#ifndef EQXM_DECIDER_H
#define EQXM_DECIDER_H

#include "engine/base/common.h"
#include "engine/decide/action.h"
#include "engine/base/err.h"
#include "engine/decide/reduce.h"

#include <jansson.h>

struct decider;

/* reducers[] (and what they point to) must outlive the decider. */
struct decider *decider_new(const struct reducer *const *reducers, size_t n);
void decider_free(struct decider *d);

/* True for events that reducers consume. */
bool decider_is_input(const char *type);

/*
 * Fold ev. Actions that became desired are appended to *added (in a
 * deterministic order), actions that are no longer desired to *removed.
 */
void decider_feed(struct decider *d, const struct reduce_event *ev, struct action_list *added,
                  struct action_list *removed);

/* Every action desired now, e.g. to hand them to the executor after a restart. */
void decider_desired(const struct decider *d, struct action_list *out);

/* Sequence number of the last event fed (0 before any). */
int64_t decider_last_seq(const struct decider *d);

/* The state document of one reducer (borrowed), or NULL. */
const json_t *decider_state(const struct decider *d, const char *reducer);

/*
 * A snapshot: {"version":1,"seq":N,"states":{...},"desired":{...}}. New reference that shares
 * the decider's live state documents (no copy: at 1,000 shoots a deep copy was the largest
 * allocation of the process), so serialise or drop it before the decider folds again.
 */
json_t *decider_snapshot(const struct decider *d);
/* Replace the decider's state by a snapshot. ENG_INVALID/ENG_VERSION with a message. */
enum eng_err decider_restore(struct decider *d, const json_t *snap,
                             struct eng_error *err) WARN_UNUSED;

#endif
