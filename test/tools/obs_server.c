/*
 * obs_server.c - the metrics and health endpoints as the controller will wire
 * them (metrics_std + process metrics on --metrics-bind-address, /healthz and
 * /readyz on --health-bind-address), with sample data in every standard
 * metric, for integration tests that scrape them with independent clients.
 *
 * Prints "metrics <port>" and "health <port>" (or "... disabled") on stdout,
 * then serves until its stdin closes or it gets SIGTERM/SIGINT. Readiness
 * check "journal" passes while the file given by --ready-file exists.
 * Exit codes: 0 after a clean stop, 1 when an address cannot be bound,
 * 2 for a bad address or option.
 */
#include "engine/base/common.h"
#include "engine/base/cli.h"
#include "engine/obs/health.h"
#include "engine/net/httpd.h"
#include "engine/base/log.h"
#include "engine/obs/metrics.h"
#include "engine/obs/metrics_std.h"
#include "engine/base/xalloc.h"
#include "providers/equinix-metal/observe/device_watch.h"

#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *ready_file = "";
static const char *metrics_addr = ":8080", *health_addr = ":8081", *timeout_s = "";
static long max_conns;

static enum eng_err journal_ready(void *ud, struct eng_error *err) {
  (void)ud;
  if (ready_file[0] && access(ready_file, F_OK) == 0)
    return ENG_OK;
  return eng_error_set(err, ENG_UNAVAILABLE, "the journal is not open (no %s)", ready_file);
}

static bool journal_size(void *ud, double *v) {
  (void)ud;
  *v = 123456;
  return true;
}

/* Touch every standard metric, with label values that need escaping. */
static void sample_data(void) {
  metrics_std_reconcile("infrastructure", "reconcile", "success", 0.42);
  metrics_std_reconcile("infrastructure", "reconcile", "error", 3.5);
  metrics_std_reconcile("worker", "delete", "requeue", 0.004);
  metrics_std_action("infrastructure", "metal.sshkey.ensure", true, false, 0.25);
  metrics_std_action("infrastructure", "metal.sshkey.ensure", true, false, 0.5);
  metrics_counter_inc(metrics_std.actions_total,
                      (const char *const[]){"worker", "weird \"kind\"\\with\nnewline", "retry"}, 1);
  metrics_std_api_request("metal", "POST", 201, ENG_OK, 0.18);
  metrics_std_api_request("metal", "GET", 429, ENG_RATELIMIT, 0.02);
  metrics_std_api_request("kube", "GET", 0, ENG_TIMEOUT, 30);
  metrics_std_api_request("kube", "PATCH", 200, ENG_OK, 1e-4);
  (void)metrics_set_fn(metrics_std.journal_size_bytes, journal_size, NULL);
  metrics_counter_inc(metrics_std.journal_events_total, (const char *const[]){"kube"}, 17);
  metrics_counter_inc(metrics_std.journal_events_total, (const char *const[]){"executor"}, 4);
  metrics_histogram_observe(metrics_std.journal_commit_duration_seconds, NULL, 0.0007);
  metrics_histogram_observe(metrics_std.journal_commit_duration_seconds, NULL, 12);
  metrics_gauge_set(metrics_std.journal_lag_events, (const char *const[]){"commit"}, 0);
  metrics_gauge_set(metrics_std.journal_lag_events, (const char *const[]){"fold"}, 3);
  metrics_gauge_set(metrics_std.leader_status, NULL, 1);
  metrics_gauge_set(metrics_std.leader_epoch, NULL, 7);
  metrics_counter_inc(metrics_std.watch_restarts_total, (const char *const[]){"secrets", "expired"},
                      1);
  metrics_counter_inc(metrics_std.watch_relists_total, (const char *const[]){"secrets"}, 2);
  /* One label set over a (lowered) cap, to expose the overflow counter. */
  metrics_set_max_series(metrics_std.watch_relists_total, 1);
  metrics_counter_inc(metrics_std.watch_relists_total, (const char *const[]){"configmaps"}, 1);
  metrics_counter_inc(metrics_std.webhook_requests_total,
                      (const char *const[]){"controlplane", "CREATE", "patched"}, 5);
  metrics_histogram_observe(metrics_std.webhook_request_duration_seconds,
                            (const char *const[]){"controlplane"}, 0.003);
}

struct stopper {
  ev_io in;
  ev_signal term, intr;
};

static void stop_io(struct ev_loop *loop, ev_io *w, int revents) {
  (void)revents;
  char b[256];
  ssize_t n = read(w->fd, b, sizeof(b));
  if (n <= 0)
    ev_break(loop, EVBREAK_ALL);
}

static void stop_sig(struct ev_loop *loop, ev_signal *w, int revents) {
  (void)w;
  (void)revents;
  ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv) {
  xalloc_init();
  log_setup(LOG_INFO, LOG_FORMAT_TEXT, 2);
  double timeout = 0;
  static const struct cli_opt opts[] = {
      {"metrics-bind-address", CLI_STRING, &metrics_addr, "ADDR", "metrics listen address", NULL},
      {"health-bind-address", CLI_STRING, &health_addr, "ADDR", "health probe listen address",
       NULL},
      {"ready-file", CLI_STRING, &ready_file, "PATH", "readiness passes while this file exists",
       NULL},
      {"max-conns", CLI_INT, &max_conns, "N", "connection cap per endpoint", NULL},
      {"read-timeout", CLI_STRING, &timeout_s, "SECONDS", "per-request timeout", NULL},
      {0}};
  struct cli_spec spec = {.prog = "obs_server",
                          .description = "Serve the metrics and health endpoints with sample data.",
                          .opts = opts,
                          .min_pos = 0,
                          .max_pos = 0};
  int npos = 0;
  char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
  int rc = cli_parse(&spec, argc - 1, argv + 1, &npos, pos);
  free(pos);
  if (rc != CLI_OK)
    return rc == CLI_HELP ? EXIT_OK : EXIT_USAGE;
  if (timeout_s[0])
    timeout = strtod(timeout_s, NULL);

  struct eng_error err;
  struct httpd_addr ma, ha;
  if (httpd_addr_parse("--metrics-bind-address", metrics_addr, ":8080", &ma, &err) ||
      httpd_addr_parse("--health-bind-address", health_addr, NULL, &ha, &err)) {
    fprintf(stderr, "obs_server: %s\n", err.msg);
    return EXIT_USAGE;
  }
  struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
  struct metrics_registry *reg = metrics_registry_new();
  struct health *health = health_new();
  struct httpd *ms = NULL, *hs = NULL;
  int status = EXIT_FAIL;
  if (metrics_std_init(reg, &err) || device_watch_metrics(reg, &err) ||
      health_add_check(health, HEALTH_READYZ, "journal", journal_ready, NULL, &err)) {
    fprintf(stderr, "obs_server: %s\n", err.msg);
    goto out;
  }
  sample_data();
  struct httpd_options o = {.read_timeout = timeout, .max_conns = (size_t)max_conns};
  if (!ma.disabled) {
    if (!(ms = httpd_new(loop, "--metrics-bind-address", &ma, &o, &err))) {
      fprintf(stderr, "obs_server: %s\n", err.msg);
      goto out;
    }
    httpd_route(ms, "/metrics", metrics_http_handler, reg);
  }
  if (!ha.disabled) {
    if (!(hs = httpd_new(loop, "--health-bind-address", &ha, &o, &err))) {
      fprintf(stderr, "obs_server: %s\n", err.msg);
      goto out;
    }
    health_mount(health, hs);
  }
  if (ms)
    printf("metrics %d\n", httpd_port(ms));
  else
    printf("metrics disabled\n");
  if (hs)
    printf("health %d\n", httpd_port(hs));
  else
    printf("health disabled\n");
  fflush(stdout);
  struct stopper st;
  ev_io_init(&st.in, stop_io, 0, EV_READ);
  ev_signal_init(&st.term, stop_sig, SIGTERM);
  ev_signal_init(&st.intr, stop_sig, SIGINT);
  ev_io_start(loop, &st.in);
  ev_signal_start(loop, &st.term);
  ev_signal_start(loop, &st.intr);
  ev_run(loop, 0);
  ev_io_stop(loop, &st.in);
  ev_signal_stop(loop, &st.term);
  ev_signal_stop(loop, &st.intr);
  status = EXIT_OK;
out:
  httpd_free(ms);
  httpd_free(hs);
  health_free(health);
  metrics_std_clear();
  metrics_registry_free(reg);
  ev_loop_destroy(loop);
  return status;
}
