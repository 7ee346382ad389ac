/*
 * replay.h - fold a journal offline through the reducers, as the controller did.
 *
 * Used by the `replay` command (debugging a failed shoot from a journal copied
 * out of a pod) and by the determinism check: every action recomputed from the
 * journal's input events must equal, byte for byte, the "engine.action" event
 * recorded for the same cause when the journal was written.
 *
 * Replay starts at the oldest kept event, or at the newest decider snapshot
 * that precedes it when retention removed the beginning; actions caused before
 * the starting point cannot be checked and are counted as such.
 */
#ifndef EQXM_REPLAY_H
#define EQXM_REPLAY_H

#include "engine/base/common.h"
#include "engine/decide/action.h"
#include "engine/decide/decider.h"
#include "engine/base/err.h"
#include "engine/journal/journal.h"
#include "engine/decide/reduce.h"

/* Called for every event of the journal in order (filtering is the caller's). */
struct replay_step {
  const struct journal_row *row;
  bool input;                        /* folded through the reducers */
  const struct action_list *added;   /* actions that became desired (inputs only) */
  const struct action_list *removed; /* actions no longer desired (inputs only) */
  const struct decider *decider;     /* state after this event */
};
typedef void (*replay_fn)(void *ud, const struct replay_step *s);

struct replay_opts {
  int64_t until_seq; /* stop after this seq; 0 = the end */
  bool check;        /* compare recomputed with recorded actions */
  replay_fn on_step; /* NULL = none */
  void *ud;
  journal_progress_fn progress; /* NULL = none */
  void *progress_ud;
  bool keep_state; /* fill replay_report.snapshot with the final decider snapshot */
};

struct replay_report {
  int64_t events;     /* rows read */
  int64_t inputs;     /* rows folded */
  int64_t from_seq;   /* first row folded (after a snapshot: snapshot seq + 1) */
  int64_t actions;    /* actions recomputed */
  int64_t recorded;   /* engine.action rows compared */
  int64_t unchecked;  /* recorded actions caused before from_seq */
  int64_t mismatches; /* causes whose recomputed and recorded actions differ */
  int64_t first_mismatch_seq;
  char first_mismatch[2048]; /* a sentence naming the cause, the action and the difference */
  json_t *snapshot;          /* with keep_state: decider_snapshot() at the end (caller decrefs) */
};

enum eng_err replay_run(struct journal *j, const struct reducer *const *reducers, size_t n,
                        const struct replay_opts *o, struct replay_report *out,
                        struct eng_error *err) WARN_UNUSED;

#endif
