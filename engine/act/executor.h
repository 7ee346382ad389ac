/*
 * executor.h - carries out desired actions: journal the intent (durable), make
 * the call, journal the outcome.
 *
 * Actions come from the decider (executor_submit) and stop being desired
 * (executor_cancel). For every attempt the executor:
 *   1. waits until the action's controller has a free slot
 *      (--<controller>-max-concurrent-reconciles) and the process may act
 *      (leader, and the lease's renew deadline not passed: fencing);
 *   2. journals "executor.intent" {actionId, key, kind, attempt, epoch, resolving}
 *      and makes it durable (intents of one loop turn share one commit);
 *   3. checks fencing again, then calls the handler registered for the action's
 *      kind;
 *   4. journals "executor.result" {controller, actionId, key, kind, attempt, ok,
 *      output | error {code, message, gardenerCodes, retryable, retryAfterMs,
 *      httpStatus}, durationMs, resolving} through the observe hook, so the
 *      reducers see it.
 * Retries are not the executor's business: the reducers schedule them
 * (deterministic backoff, Retry-After as a floor) with "timer" actions, which
 * the executor turns into "clock.timer" events when they fall due. So every
 * attempt is a journaled decision, and replay shows why it happened.
 *
 * After a restart, an action whose intent was journaled without a result is
 * started with resolving=true: handlers first look the outcome up by
 * idempotency key (device tags, SSH key labels; Kubernetes patches are
 * idempotent) before acting again.
 *
 * Handlers run on the loop and report through executor_done() exactly once.
 */
#ifndef EQXM_EXECUTOR_H
#define EQXM_EXECUTOR_H

#include "engine/base/common.h"
#include "engine/decide/action.h"
#include "engine/base/err.h"
#include "engine/journal/event.h"

#include <jansson.h>

struct ev_loop;
struct executor;
struct exec_call;

struct exec_outcome {
  bool ok;
  const json_t *output;        /* ok: result data (borrowed), NULL = {} */
  const struct eng_error *err; /* !ok: code, sentence, http_status, retry_after_ms */
  const char *const
      *codes; /* Gardener error codes (ncodes entries), e.g. ERR_INFRA_UNAUTHENTICATED */
  size_t ncodes;
  bool retryable; /* !ok: the same action may succeed later unchanged */
};

/* Start one attempt of a (borrowed for the call; copy what you keep). */
typedef void (*exec_start_fn)(void *ud, struct exec_call *call, const struct action *a,
                              bool resolving);

struct executor_hooks {
  /* Append ev to the journal; with durable, commit before returning. seq or -1. */
  int64_t (*journal)(void *ud, const struct jevent *ev, bool durable, struct eng_error *err);
  /* Journal ev and feed it to the decider (results, timer firings). */
  void (*observe)(void *ud, const struct jevent *ev);
  /* Fencing: true when external calls are allowed now; *epoch = leader epoch. */
  bool (*may_act)(void *ud, int64_t *epoch);
  /* Optional: an attempt finished (for metrics). */
  void (*finished)(void *ud, const struct action *a, const struct exec_outcome *o, double seconds);
  void *ud;
};

struct executor *executor_new(struct ev_loop *loop, const struct executor_hooks *hooks);
/* Free everything. Free the clients the handlers use first (cancelling their
 * callbacks): no executor_done() may arrive afterwards. */
void executor_free(struct executor *x);

/* Register the handler of an action kind: exact ("kube.patch") or a prefix ending in '.'
 * ("metal."). */
void executor_handle(struct executor *x, const char *kind, exec_start_fn start, void *ud);
/* Concurrency cap of one controller (default 5). */
void executor_set_concurrency(struct executor *x, const char *controller, int max);

/* A newly desired action (copied). Timers ("timer" kind, at_ms) are armed. */
void executor_submit(struct executor *x, const struct action *a);
/* The action is no longer desired: dropped if queued; if running, its result is still journaled. */
void executor_cancel(struct executor *x, const char *action_id);
/* Startup: this action's intent is in the journal without a result. */
void executor_mark_unresolved(struct executor *x, const char *action_id);
/* Re-check what may start (e.g. leadership was gained). */
void executor_kick(struct executor *x);

/* Report the outcome of an attempt (exactly once per started call). */
void executor_done(struct exec_call *call, const struct exec_outcome *o);
/* executor_done() with a success (out borrowed; NULL = {}) ... */
void executor_succeed(struct exec_call *call, const json_t *out);
/* ... or a failure: err, one optional Gardener error code, and whether a retry may help. */
void executor_fail(struct exec_call *call, const struct eng_error *err, const char *gardener_code,
                   bool retryable);
/* The executor a call belongs to, and its action (borrowed until executor_done). */
const struct action *exec_call_action(const struct exec_call *call);

size_t executor_queued(const struct executor *x);
size_t executor_running(const struct executor *x);

#endif
