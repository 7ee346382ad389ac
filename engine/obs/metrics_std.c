/*
 * metrics_std.c - definitions of the engine's metrics (names, help, labels,
 * buckets). docs/metrics.md must list the same; test/unit/metrics_test.c
 * checks that every metric named there exists here.
 */
#include "engine/base/common.h"
#include "engine/obs/metrics_std.h"
#include "engine/obs/metrics_process.h"

#include <stdio.h>
#include <string.h>

struct metrics_std metrics_std;

/* Controller work: 5 ms to 10 min. */
static const double reconcile_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                           2.5,   5,    10,    30,   60,  120,  300, 600};
/* HTTP round trips: 5 ms to 1 min. */
static const double api_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                     1,     2.5,  5,     10,   30,  60};
/* SQLite commits with fsync: 100 µs to 5 s. */
static const double commit_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                        0.025,  0.05,    0.1,    0.25,  0.5,    1,     5};
/* Admission webhooks answer within the apiserver's 10 s timeout: 1 ms to 10 s. */
static const double webhook_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,    1,     2.5,  5,     10};

#define L(...)                                                                                     \
  (const char *const[]) { __VA_ARGS__, NULL }

enum eng_err metrics_std_init(struct metrics_registry *r, struct eng_error *err) {
  struct eng_error local;
  if (!err)
    err = &local;
  eng_error_clear(err);
  struct metrics_std s;
  memset(&s, 0, sizeof(s));
#define COUNTER(field, name, help, labels)                                                         \
  if (!(s.field = metrics_counter_new(r, name, help, labels, err)))                                \
    return err->code;
#define GAUGE(field, name, help, labels)                                                           \
  if (!(s.field = metrics_gauge_new(r, name, help, labels, err)))                                  \
    return err->code;
#define HISTOGRAM(field, name, help, labels, b)                                                    \
  if (!(s.field = metrics_histogram_new(r, name, help, labels, b, ARRAY_SIZE(b), err)))            \
    return err->code;

  COUNTER(reconciles_total, "eqxm_reconciles_total",
          "Reconciles finished, by controller, operation and result.",
          L("controller", "operation", "result"));
  HISTOGRAM(reconcile_duration_seconds, "eqxm_reconcile_duration_seconds",
            "Time from the start to the end of a reconcile, in seconds.",
            L("controller", "operation"), reconcile_buckets);
  COUNTER(actions_total, "eqxm_actions_total",
          "Actions the executor finished, by controller, action kind and result.",
          L("controller", "kind", "result"));
  HISTOGRAM(action_duration_seconds, "eqxm_action_duration_seconds",
            "Duration of one action attempt (the external call), in seconds.",
            L("controller", "kind"), api_buckets);
  HISTOGRAM(api_request_duration_seconds, "eqxm_api_request_duration_seconds",
            "Duration of requests to the Kubernetes and infrastructure APIs, in seconds, by API, "
            "HTTP method and status code (\"error\" when no response arrived).",
            L("api", "method", "code"), api_buckets);
  COUNTER(api_errors_total, "eqxm_api_errors_total",
          "Requests to the Kubernetes and infrastructure APIs that failed, by API, HTTP method and "
          "reason.",
          L("api", "method", "reason"));
  GAUGE(journal_size_bytes, "eqxm_journal_size_bytes",
        "Size of the journal database and its write-ahead log, in bytes.", NULL);
  COUNTER(journal_events_total, "eqxm_journal_events_total",
          "Events appended to the journal, by source.", L("source"));
  HISTOGRAM(journal_commit_duration_seconds, "eqxm_journal_commit_duration_seconds",
            "Duration of journal commits (until the events are durable), in seconds.", NULL,
            commit_buckets);
  GAUGE(journal_lag_events, "eqxm_journal_lag_events",
        "Journal events waiting: stage=\"commit\" appended but not yet durable, stage=\"fold\" "
        "durable but not yet folded by the reducers.",
        L("stage"));
  GAUGE(leader_status, "eqxm_leader_status",
        "1 while this replica holds the leader election lease, else 0.", NULL);
  GAUGE(leader_epoch, "eqxm_leader_epoch",
        "Leader epoch (number of lease transitions) this replica last observed or won.", NULL);
  COUNTER(watch_restarts_total, "eqxm_watch_restarts_total",
          "Kubernetes watches that ended and were started again, by resource and reason.",
          L("resource", "reason"));
  COUNTER(watch_relists_total, "eqxm_watch_relists_total",
          "Full lists of a Kubernetes resource (at start and when a watch expired), by resource.",
          L("resource"));
  COUNTER(webhook_requests_total, "eqxm_webhook_requests_total",
          "Admission requests answered, by webhook, operation and result.",
          L("webhook", "operation", "result"));
  HISTOGRAM(webhook_request_duration_seconds, "eqxm_webhook_request_duration_seconds",
            "Time to answer an admission request, in seconds, by webhook.", L("webhook"),
            webhook_buckets);
  GAUGE(build_info, "eqxm_build_info", "Always 1; the version label tells the running build.",
        L("version"));
#undef COUNTER
#undef GAUGE
#undef HISTOGRAM
  enum eng_err rc = metrics_process_register(r, err);
  if (rc)
    return rc;
  metrics_gauge_set(s.build_info, (const char *const[]){EQXM_VERSION}, 1);
  metrics_gauge_set(s.leader_status, NULL, 0);
  metrics_std = s;
  return ENG_OK;
}

void metrics_std_clear(void) { memset(&metrics_std, 0, sizeof(metrics_std)); }

const char *metrics_std_reason(enum eng_err e) {
  /* Lower-case names without the ENG_ prefix, built once. */
  static char names[ENG__COUNT][24];
  if ((unsigned)e >= ENG__COUNT)
    return "unknown";
  if (!names[e][0]) {
    const char *n = eng_err_name(e) + 4;
    size_t i = 0;
    for (; n[i] && i + 1 < sizeof(names[e]); i++)
      names[e][i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] - 'A' + 'a' : n[i]);
    names[e][i] = '\0';
  }
  return names[e];
}

void metrics_std_api_request(const char *api, const char *method, long status, enum eng_err result,
                             double seconds) {
  char code[24];
  if (status > 0)
    snprintf(code, sizeof(code), "%ld", status);
  else
    snprintf(code, sizeof(code), "error");
  metrics_histogram_observe(metrics_std.api_request_duration_seconds,
                            (const char *const[]){api, method, code}, seconds);
  if (result != ENG_OK)
    metrics_counter_inc(metrics_std.api_errors_total,
                        (const char *const[]){api, method, metrics_std_reason(result)}, 1);
}

void metrics_std_action(const char *controller, const char *kind, bool ok, bool retryable,
                        double seconds) {
  const char *result = ok ? "success" : retryable ? "retry" : "error";
  metrics_counter_inc(metrics_std.actions_total, (const char *const[]){controller, kind, result},
                      1);
  metrics_histogram_observe(metrics_std.action_duration_seconds,
                            (const char *const[]){controller, kind}, seconds);
}

void metrics_std_reconcile(const char *controller, const char *operation, const char *result,
                           double seconds) {
  metrics_counter_inc(metrics_std.reconciles_total,
                      (const char *const[]){controller, operation, result}, 1);
  metrics_histogram_observe(metrics_std.reconcile_duration_seconds,
                            (const char *const[]){controller, operation}, seconds);
}
