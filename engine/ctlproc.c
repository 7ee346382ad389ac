/*
 * ctlproc.c - the controller process around the runtime: fencing, metrics, probes,
 * leader election, signals and the shutdown order shared by the controller commands.
 */
#include "engine/base/common.h"
#include "engine/ctlproc.h"
#include "engine/base/clock.h"
#include "engine/base/log.h"
#include "engine/kube/informer.h"
#include "engine/kube/lease.h"
#include "engine/net/http.h"
#include "engine/net/httpd.h"
#include "engine/obs/health.h"
#include "engine/obs/metrics.h"
#include "engine/obs/metrics_std.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

void ctlproc_init(struct ctlproc *p, struct ev_loop *loop, const struct ctlproc_opts *o) {
  memset(p, 0, sizeof(*p));
  p->o = *o;
  p->loop = loop;
}

void ctlproc_watch(struct ctlproc *p, struct kube_informer **slot) {
  if (p->nwatches < ARRAY_SIZE(p->watches))
    p->watches[p->nwatches++] = slot;
}

int ctlproc_logging(const struct cli_spec *spec, const char *level, const char *format,
                    bool debug) {
  enum log_level lvl;
  enum log_format fmt;
  if (log_parse_level(level, &lvl))
    return cli_usage_error(spec, "--log-level must be debug, info, warn or error, not '%s'.",
                           level);
  if (log_parse_format(format, &fmt))
    return cli_usage_error(spec, "--log-format must be json or text, not '%s'.", format);
  if (debug)
    lvl = LOG_DEBUG;
  log_setup(lvl, fmt, 2);
  return EXIT_OK;
}

/* ---- fencing, metrics, health ------------------------------------------------------------ */

static bool may_act(void *ud, int64_t *epoch) {
  struct ctlproc *p = ud;
  if (!p->leader) {
    *epoch = 0;
    return true;
  }
  *epoch = kube_leader_epoch(p->leader);
  return kube_leader_may_act(p->leader);
}

static void action_finished(void *ud, const struct action *act, const struct exec_outcome *o,
                            double secs) {
  struct ctlproc *p = ud;
  metrics_std_action(act->controller, act->kind, o->ok, o->retryable, secs);
  if (p->o.action_finished)
    p->o.action_finished(p->o.ud, act, o, secs);
}

static bool journal_size(void *ud, double *v) {
  struct ctlproc *p = ud;
  *v = (double)journal_size_bytes(runtime_journal(p->rt));
  return true;
}

static enum eng_err check_journal(void *ud, struct eng_error *err) {
  struct ctlproc *p = ud;
  struct eng_error e;
  if (runtime_failed(p->rt, &e))
    return eng_error_set(err, e.code, "%s", e.msg);
  return ENG_OK;
}

static enum eng_err check_informers(void *ud, struct eng_error *err) {
  struct ctlproc *p = ud;
  for (size_t i = 0; i < p->nwatches; i++) {
    struct kube_informer *inf = *p->watches[i];
    if (inf && !kube_informer_has_synced(inf)) {
      char n[192];
      kube_resource_name(kube_informer_resource(inf), n);
      return eng_error_set(err, ENG_UNAVAILABLE, "the first list of %s has not completed", n);
    }
  }
  return ENG_OK;
}

int ctlproc_open(struct ctlproc *p, struct runtime_opts *ro) {
  struct eng_error err;
  eng_error_clear(&err);
  ro->may_act = may_act;
  ro->may_act_ud = p;
  ro->action_finished = action_finished;
  ro->metrics_ud = p;
  p->journal_path = ro->journal_path;
  int64_t t0 = clock_mono_ms();
  if (runtime_open(p->loop, ro, &p->rt, &err) != ENG_OK) {
    log_error("cannot open the journal; nothing was changed", "journal", ro->journal_path, "error",
              err.msg, NULL);
    return EXIT_FAIL;
  }
  struct runtime_stats st;
  runtime_stats(p->rt, &st);
  char folded[32], ms[32];
  snprintf(folded, sizeof(folded), "%" PRId64, st.folded);
  snprintf(ms, sizeof(ms), "%" PRId64, clock_mono_ms() - t0);
  log_info("journal opened", "journal", ro->journal_path, "foldedEvents", folded, "ms", ms, NULL);
  return EXIT_OK;
}

int ctlproc_metrics(struct ctlproc *p) {
  struct eng_error err;
  eng_error_clear(&err);
  p->reg = metrics_registry_new();
  p->health = health_new();
  if (metrics_std_init(p->reg, &err) != ENG_OK ||
      metrics_set_fn(metrics_std.journal_size_bytes, journal_size, p) != ENG_OK ||
      health_add_check(p->health, HEALTH_READYZ, "journal", check_journal, p, &err) != ENG_OK ||
      health_add_check(p->health, HEALTH_HEALTHZ, "journal", check_journal, p, &err) != ENG_OK ||
      health_add_check(p->health, HEALTH_READYZ, "informer-sync", check_informers, p, &err) !=
          ENG_OK) {
    log_error("cannot set up metrics", "error", err.msg, NULL);
    return EXIT_FAIL;
  }
  return EXIT_OK;
}

int ctlproc_bind(const struct ctlproc *p, const char *flag, const char *text, const char *dflt,
                 struct httpd_addr *out) {
  struct eng_error err;
  if (httpd_addr_parse(flag, text, dflt, out, &err) != ENG_OK) {
    fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", p->o.cmd, err.msg, p->o.cmd);
    return EXIT_USAGE;
  }
  return EXIT_OK;
}

int ctlproc_serve(struct ctlproc *p, const char *flag, const struct httpd_addr *addr, bool metrics,
                  bool probes, const char *what) {
  struct eng_error err;
  eng_error_clear(&err);
  char msg[96];
  struct httpd_options hopt = {0};
  struct httpd *s = NULL;
  if (p->nservers == ARRAY_SIZE(p->servers))
    eng_error_set(&err, ENG_INTERNAL, "at most %d servers", CTLPROC_MAX_SERVERS);
  else
    s = httpd_new(p->loop, flag, addr, &hopt, &err);
  if (!s) {
    snprintf(msg, sizeof(msg), "cannot serve %s", what);
    log_error(msg, "error", err.msg, NULL);
    return EXIT_FAIL;
  }
  p->servers[p->nservers++] = s;
  if (metrics)
    httpd_route(s, "/metrics", metrics_http_handler, p->reg);
  if (probes)
    health_mount(p->health, s);
  char port[16];
  snprintf(port, sizeof(port), "%d", httpd_port(s));
  snprintf(msg, sizeof(msg), "serving %s", what);
  log_info(msg, "address", addr->text, "port", port, NULL);
  return EXIT_OK;
}

/* ---- leadership and shutdown ----------------------------------------------------------------- */

static void on_started(void *ud, int64_t epoch) {
  struct ctlproc *p = ud;
  char e[32];
  snprintf(e, sizeof(e), "%" PRId64, epoch);
  log_info("became leader; acting", "epoch", e, "identity", kube_leader_identity(p->leader), NULL);
  executor_kick(runtime_executor(p->rt));
}

static void on_stopped(void *ud) {
  struct ctlproc *p = ud;
  if (p->stopping)
    return;
  log_error("leader election lost: another replica may act now, so this one stops and exits "
            "(Kubernetes restarts it as a standby)",
            NULL);
  p->exit_code = EXIT_FAIL;
  ev_break(p->loop, EVBREAK_ALL);
}

static void released(void *ud) {
  struct ctlproc *p = ud;
  ev_break(p->loop, EVBREAK_ALL);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents) {
  (void)loop;
  (void)revents;
  struct ctlproc *p = w->data;
  if (p->stopping) {
    ev_break(p->loop, EVBREAK_ALL);
    return;
  }
  p->stopping = true;
  log_info("stopping: finishing journal writes", "signal",
           w->signum == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
  for (size_t i = 0; i < p->nwatches; i++)
    kube_informer_stop(*p->watches[i]); /* NULL, or not started yet: nothing to stop */
  if (p->leader && kube_leader_is_leader(p->leader)) {
    kube_leader_release(p->leader, released, p);
    return;
  }
  ev_break(p->loop, EVBREAK_ALL);
}

static void gauges_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct ctlproc *p = w->data;
  p->o.gauges(p->o.ud);
}

int ctlproc_leader(struct ctlproc *p, struct kube_client *c, struct kube_leader_opts *lo) {
  struct eng_error err;
  eng_error_clear(&err);
  lo->release_on_cancel = true;
  lo->on_started = on_started;
  lo->on_stopped = on_stopped;
  lo->ud = p;
  lo->sink = runtime_sink(p->rt);
  if (!(p->leader = kube_leader_new(c, lo, &err))) {
    log_error("cannot set up leader election", "error", err.msg, NULL);
    return EXIT_FAIL;
  }
  return EXIT_OK;
}

int ctlproc_start(struct ctlproc *p, json_t *payload) {
  struct eng_error err;
  eng_error_clear(&err);
  enum eng_err rc = runtime_start(p->rt, payload, &err);
  json_decref(payload);
  if (rc != ENG_OK) {
    log_error("cannot write to the journal", "journal", p->journal_path, "error", err.msg, NULL);
    return EXIT_FAIL;
  }
  return EXIT_OK;
}

int ctlproc_run(struct ctlproc *p) {
  if (p->o.gauges) {
    ev_timer_init(&p->gauges, gauges_cb, p->o.gauges_after, p->o.gauges_every);
    p->gauges.data = p;
    ev_timer_start(p->loop, &p->gauges);
  }
  if (p->leader)
    kube_leader_start(p->leader);
  ev_signal_init(&p->sigterm, on_signal, SIGTERM);
  ev_signal_init(&p->sigint, on_signal, SIGINT);
  p->sigterm.data = p->sigint.data = p;
  ev_signal_start(p->loop, &p->sigterm);
  ev_signal_start(p->loop, &p->sigint);
  if (p->o.running)
    p->o.running(p->o.ud);
  ev_run(p->loop, 0);
  if (runtime_failed(p->rt, NULL))
    p->exit_code = EXIT_FAIL;
  return p->exit_code;
}

void ctlproc_quiesce(struct ctlproc *p) {
  if (!p->loop)
    return;
  ev_signal_stop(p->loop, &p->sigterm);
  ev_signal_stop(p->loop, &p->sigint);
  ev_timer_stop(p->loop, &p->gauges);
}

void ctlproc_close(struct ctlproc *p, int code) {
  kube_leader_free(p->leader);
  p->leader = NULL;
  struct eng_error err;
  if (p->rt && runtime_close(p->rt, code == EXIT_OK ? "signal" : "failure", &err) != ENG_OK)
    log_error("the journal could not be closed cleanly", "error", err.msg, NULL);
  p->rt = NULL;
  for (size_t i = 0; i < p->nservers; i++)
    httpd_free(p->servers[i]);
  p->nservers = 0;
  health_free(p->health);
  p->health = NULL;
  metrics_std_clear();
  metrics_registry_free(p->reg);
  p->reg = NULL;
  http_set_observer(NULL, NULL);
}
