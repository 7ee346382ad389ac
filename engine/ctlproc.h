/*
 * ctlproc.h - the process around a runtime that a controller command runs:
 * the journal opened with leader fencing, the standard metrics and the journal
 * and informer health checks, HTTP servers for /metrics and the probes, leader
 * election whose loss ends the process, SIGTERM/SIGINT handling, the loop, and
 * the shutdown order. `run` and `machine-controller` are two such commands;
 * what differs between them (their clients, executor handlers, watches, flags)
 * stays in the command, which calls these steps in order:
 *
 *   ctlproc_init(&p, loop, &opts);
 *   ctlproc_open(&p, &ro)           journal: restore + fold, "journal opened"
 *   ... executor handlers on runtime_executor(p.rt) ...
 *   ctlproc_metrics(&p)             registry, standard metrics, health checks
 *   ctlproc_bind()/ctlproc_serve()  HTTP servers (metrics, probes or both)
 *   ctlproc_leader(&p, client, &lo) leader election (optional)
 *   ctlproc_start(&p, payload)      engine.start; then the command starts its watches
 *   ctlproc_run(&p)                 gauges, lease, signals, opts.running, the loop
 *   ctlproc_quiesce(&p)             first step of teardown: no more signals or gauges
 *   ... the command frees its watches, pollers and executor clients ...
 *   ctlproc_close(&p, code)         lease, journal (engine.stop), servers, metrics
 *
 * The step functions return a process exit code (EXIT_OK, EXIT_FAIL or EXIT_USAGE) and
 * log the reason of a failure themselves.
 */
#ifndef EQXM_CTLPROC_H
#define EQXM_CTLPROC_H

#include "engine/base/common.h"
#include "engine/base/cli.h"
#include "engine/runtime.h"

#include <ev.h>
#include <jansson.h>

struct kube_client;
struct kube_informer;
struct kube_leader;
struct kube_leader_opts;
struct metrics_registry;
struct health;
struct httpd;
struct httpd_addr;

#define CTLPROC_MAX_WATCHES 16
#define CTLPROC_MAX_SERVERS 2

struct ctlproc_opts {
  const char *cmd; /* the command's name in usage messages, e.g. PROG_NAME " run" */
  /* After the standard action metrics: more of the command's own (optional). */
  void (*action_finished)(void *ud, const struct action *act, const struct exec_outcome *o,
                          double secs);
  /* Refresh the command's gauges, first after gauges_after s, then every gauges_every s
   * (optional). */
  void (*gauges)(void *ud);
  double gauges_after, gauges_every;
  /* Just before the loop runs, with the lease and the signal handlers started: say that the
   * process runs (optional). */
  void (*running)(void *ud);
  void *ud;
};

struct ctlproc {
  struct ctlproc_opts o;
  struct ev_loop *loop;
  struct runtime *rt;
  const char *journal_path;   /* as given to ctlproc_open */
  struct kube_leader *leader; /* NULL without leader election */
  struct metrics_registry *reg;
  struct health *health;
  struct httpd *servers[CTLPROC_MAX_SERVERS];
  size_t nservers;
  /* The command's informers (slots, so that they may be made later): /readyz waits for their
   * first lists; a signal stops them, in this order. */
  struct kube_informer **watches[CTLPROC_MAX_WATCHES];
  size_t nwatches;
  ev_signal sigterm, sigint;
  ev_timer gauges;
  int exit_code;
  bool stopping; /* a signal came: shutting down */
};

void ctlproc_init(struct ctlproc *p, struct ev_loop *loop, const struct ctlproc_opts *o);
/* Register the slot of an informer of the command (NULL slots' contents are skipped). */
void ctlproc_watch(struct ctlproc *p, struct kube_informer **slot);

/* --log-level and --log-format (debug forces the debug level): EXIT_OK or a usage error. */
int ctlproc_logging(const struct cli_spec *spec, const char *level, const char *format, bool debug);

/* Open the journal (may_act is the lease's fencing; action_finished counts metrics). */
int ctlproc_open(struct ctlproc *p, struct runtime_opts *ro);
/* The metrics registry with the standard metrics, and the journal and informer health checks. */
int ctlproc_metrics(struct ctlproc *p);
/* Parse a bind address; a bad one is a usage error printed with cmd. */
int ctlproc_bind(const struct ctlproc *p, const char *flag, const char *text, const char *dflt,
                 struct httpd_addr *out);
/* Serve /metrics and/or the probes on addr; what names them in the log ("metrics"). */
int ctlproc_serve(struct ctlproc *p, const char *flag, const struct httpd_addr *addr, bool metrics,
                  bool probes, const char *what);
/* Leader election through c (lo's callbacks, ud and sink are set here). */
int ctlproc_leader(struct ctlproc *p, struct kube_client *c, struct kube_leader_opts *lo);
/* Journal engine.start with payload (owned). */
int ctlproc_start(struct ctlproc *p, json_t *payload);
/* Run the loop until a signal, a lost lease or a journal failure; the exit code. */
int ctlproc_run(struct ctlproc *p);
void ctlproc_quiesce(struct ctlproc *p);
void ctlproc_close(struct ctlproc *p, int code);

#endif
