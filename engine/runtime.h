/*
 * runtime.h - the engine at run time: one journal, one decider, one executor,
 * glued so that every observation is journaled before any reducer sees it and
 * every action's intent is durable before the action runs.
 *
 *   runtime_open()   opens the journal, restores the decider from its newest
 *                    snapshot and folds the events after it, and finds intents
 *                    without results (they will be resolved, not repeated);
 *   runtime_start()  hands every desired action to the executor and journals
 *                    "engine.start" with the reducers' configuration;
 *   runtime_sink()   the jevent sink for watches, pollers and the leader elector;
 *   runtime_close()  commits, journals "engine.stop", snapshots and closes.
 *
 * Group commit: observations are appended as they arrive and committed once per
 * loop turn, just before the loop blocks (an ev_prepare watcher), or earlier when
 * a batch fills up. The executor commits its intents itself before acting.
 *
 * When the journal cannot be written (disk full, I/O error) the runtime stops
 * acting and reports runtime_failed(): the caller exits, and the next start
 * rebuilds its view from the journal and a fresh list, so nothing is lost.
 */
#ifndef EQXM_RUNTIME_H
#define EQXM_RUNTIME_H

#include "engine/base/common.h"
#include "engine/decide/decider.h"
#include "engine/base/err.h"
#include "engine/journal/event.h"
#include "engine/act/executor.h"
#include "engine/journal/journal.h"

#include <jansson.h>

struct ev_loop;
struct runtime;

struct runtime_opts {
  const char *journal_path;
  struct journal_options journal;
  const struct reducer *const *reducers; /* must outlive the runtime */
  size_t nreducers;
  int64_t snapshot_every;             /* events between decider snapshots; 0 = 10000 */
  struct journal_retention retention; /* both 0 = keep everything */
  int64_t retention_interval_ms;      /* how often retention runs; 0 = 1 h */
  /* Fencing: may the executor act now? NULL = always (no leader election). */
  bool (*may_act)(void *ud, int64_t *epoch);
  void *may_act_ud;
  /* Optional metrics hook for finished actions. */
  void (*action_finished)(void *ud, const struct action *a, const struct exec_outcome *o,
                          double seconds);
  void *metrics_ud;
};

struct runtime_stats {
  int64_t last_seq, durable_seq; /* appended / committed */
  int64_t events;                /* appended by this process */
  int64_t folded;                /* events folded at start-up (restore) */
  int64_t snapshot_seq;          /* newest snapshot written or restored */
  int64_t commits;
  double last_commit_seconds;
  size_t pending; /* appended, not yet durable */
};

enum eng_err runtime_open(struct ev_loop *loop, const struct runtime_opts *o, struct runtime **out,
                          struct eng_error *err) WARN_UNUSED;
/* The executor, to register handlers and concurrency before runtime_start(). */
struct executor *runtime_executor(struct runtime *rt);
struct journal *runtime_journal(struct runtime *rt);
const struct decider *runtime_decider(const struct runtime *rt);

/* Journal engine.start (payload owned by the caller) and start acting. */
enum eng_err runtime_start(struct runtime *rt, const json_t *start_payload,
                           struct eng_error *err) WARN_UNUSED;
/* Journal ev and feed it to the decider. */
void runtime_observe(struct runtime *rt, const struct jevent *ev);
struct jevent_sink runtime_sink(struct runtime *rt);

bool runtime_failed(const struct runtime *rt, struct eng_error *err);
void runtime_stats(const struct runtime *rt, struct runtime_stats *out);

/* Commit, journal engine.stop with reason, snapshot, close and free. NULL is allowed. */
enum eng_err runtime_close(struct runtime *rt, const char *reason, struct eng_error *err);

#endif
