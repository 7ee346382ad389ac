/*
 * metrics_std.h - the metrics the engine exposes, defined in one place
 * (docs/metrics.md lists them with their labels and label values).
 *
 * The composition root creates them once in its registry:
 *
 *   struct metrics_registry *reg = metrics_registry_new();
 *   if (metrics_std_init(reg, &err)) ...
 *
 * and every module updates them through the global metrics_std:
 *
 *   metrics_counter_inc(metrics_std.actions_total,
 *                       (const char *[]){"infrastructure", "sshkey.ensure", "success"}, 1);
 *   metrics_std_api_request("metal", "POST", 201, ENG_OK, 0.182);
 *
 * Before metrics_std_init() (commands other than the controller, unit tests)
 * every member is NULL and every update is a no-op. metrics_std_clear() makes
 * them NULL again; call it before freeing the registry.
 */
#ifndef EQXM_METRICS_STD_H
#define EQXM_METRICS_STD_H

#include "engine/base/common.h"
#include "engine/base/err.h"
#include "engine/obs/metrics.h"

struct metrics_std {
  /* Reconciles: counter {controller, operation, result}; histogram {controller, operation}. */
  struct metrics_metric *reconciles_total;
  struct metrics_metric *reconcile_duration_seconds;
  /* Executor actions: counter {controller, kind, result}; histogram {controller, kind}. */
  struct metrics_metric *actions_total;
  struct metrics_metric *action_duration_seconds;
  /* Outgoing API calls: histogram {api, method, code}; counter {api, method, reason}. */
  struct metrics_metric *api_request_duration_seconds;
  struct metrics_metric *api_errors_total;
  /* Journal: size gauge (set a callback), events counter {source}, commit latency histogram,
   * lag gauge {stage} ("commit": appended, not yet durable; "fold": durable, not yet folded). */
  struct metrics_metric *journal_size_bytes;
  struct metrics_metric *journal_events_total;
  struct metrics_metric *journal_commit_duration_seconds;
  struct metrics_metric *journal_lag_events;
  /* Leader election: 1 while this replica holds the lease; the epoch of the current term. */
  struct metrics_metric *leader_status;
  struct metrics_metric *leader_epoch;
  /* Kubernetes watches: restarts {resource, reason}; full relists {resource}. */
  struct metrics_metric *watch_restarts_total;
  struct metrics_metric *watch_relists_total;
  /* Admission webhooks: counter {webhook, operation, result}; histogram {webhook}. */
  struct metrics_metric *webhook_requests_total;
  struct metrics_metric *webhook_request_duration_seconds;
  /* Constant 1 with {version}. */
  struct metrics_metric *build_info;
};

extern struct metrics_std metrics_std;

/*
 * Create every metric above plus the process metrics (metrics_process.h) in
 * r, and point metrics_std at them. Fails (nothing is pointed to) when a name
 * is already taken in r.
 */
enum eng_err metrics_std_init(struct metrics_registry *r, struct eng_error *err) WARN_UNUSED;
/* Point every member of metrics_std back to NULL. */
void metrics_std_clear(void);

/*
 * Record one outgoing API call: its duration in
 * eqxm_api_request_duration_seconds{api, method, code} (code is the HTTP
 * status, or "error" when no response arrived), and, unless result is ENG_OK,
 * one eqxm_api_errors_total{api, method, reason} where reason is the lower-case
 * name of result ("timeout", "ratelimit", "unavailable", ...).
 */
void metrics_std_api_request(const char *api, const char *method, long status, enum eng_err result,
                             double seconds);

/* One finished reconcile: eqxm_reconciles_total and eqxm_reconcile_duration_seconds. */
void metrics_std_reconcile(const char *controller, const char *operation, const char *result,
                           double seconds);

/*
 * One finished action attempt (for the executor's "finished" hook):
 * eqxm_actions_total{controller, kind, result} with result "success", "retry"
 * (failed, retryable) or "error", and eqxm_action_duration_seconds.
 */
void metrics_std_action(const char *controller, const char *kind, bool ok, bool retryable,
                        double seconds);

/* The reason label for an error code: "timeout" for ENG_TIMEOUT. */
const char *metrics_std_reason(enum eng_err e);

#endif
