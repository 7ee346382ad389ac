/*
 * machine_controller.c - `machine-controller`: MCM's provider sidecar for
 * Equinix Metal, on the same engine as `run` (journal, decider, executor).
 *
 * Composition: options (the flags gardenlet passes to MCM's provider sidecar),
 * the control (seed) and target (shoot) API clients, the journal runtime with
 * the machine reducer, executor handlers (seed writes through exec_kube, shoot
 * writes and Metal devices through exec_machine), one HTTP server for /metrics
 * and /healthz on --port, leader election on the Lease "machine-controller",
 * engine.start, then the watches: Machines, MachineClasses and Secrets of
 * --namespace in the seed, Nodes of the shoot, and the devices of the cluster
 * in Equinix Metal (one poller, with the credentials the MachineClasses name).
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/machine_controller.h"
#include "engine/act/exec_kube.h"
#include "engine/ctlproc.h"
#include "engine/base/cli.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "engine/base/sha256.h"
#include "engine/base/xalloc.h"
#include "engine/kube/client.h"
#include "engine/kube/events.h"
#include "engine/kube/informer.h"
#include "engine/kube/kubeconfig.h"
#include "engine/kube/lease.h"
#include "engine/net/http.h"
#include "engine/net/httpd.h"
#include "engine/obs/metrics.h"
#include "engine/obs/metrics_std.h"
#include "engine/runtime.h"
#include "providers/equinix-metal/act/exec_machine.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "providers/equinix-metal/controllers/machine.h"
#include "providers/equinix-metal/controllers/registry.h"
#include "providers/equinix-metal/metal_creds.h"
#include "providers/equinix-metal/observe/device_watch.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMD             PROG_NAME " machine-controller"
#define DEFAULT_JOURNAL "/var/lib/" PROG_NAME "/machine-controller.db"

const struct kube_resource kube_res_mcm_machine = {MCM_GROUP, "v1alpha1", "machines", "Machine",
                                                   true};
const struct kube_resource kube_res_mcm_machineclass = {MCM_GROUP, "v1alpha1", "machineclasses",
                                                        "MachineClass", true};
static const struct kube_resource res_node = {"", "v1", "nodes", "Node", false};

struct opts {
  const char *ns, *control_kc, *target_kc, *journal, *address;
  const char *creation_timeout, *health_timeout, *drain_timeout, *orphan_period;
  const char *status_timeout, *status_period, *pv_detach, *pv_reattach, *resource_exhausted;
  const char *le_duration, *le_renew, *le_retry, *le_resource_lock, *node_conditions;
  const char *auth_extra_groups, *evict_retry, *log_level, *log_format, *min_resync;
  const char *kube_content_type, *cloud_provider, *orphan_grace;
  long port, concurrency, max_evict, qps, burst, verbosity;
  long poll_slow, poll_fast, snapshot_every, page_size;
  struct metal_creds_flags metal;
  bool leader_elect, profiling, contention_profiling;
};

struct app {
  struct opts o;
  struct ev_loop *loop;
  struct kube_config seed_cfg, shoot_cfg;
  struct kube_client *seed, *shoot;
  char *seed_server, *shoot_server;
  struct runtime *rt;
  struct kube_recorder *rec;
  struct exec_kube *xk;
  struct exec_machine *xm;
  struct metal_creds *creds;
  struct device_watch *devices;
  char *watched_creds; /* "<ns>/<name>" the device poller uses */
  struct kube_informer *inf_machine, *inf_class, *inf_secret, *inf_node;
  json_t *node_digests; /* last journaled summary digest per Node */
  struct ctlproc p;     /* journal runtime, lease, metrics, probes, signals */
  struct metrics_metric *m_items, *m_phase, *m_frozen;
  const struct kube_resource *kres[3];
  int64_t ms_creation, ms_health, ms_drain, ms_orphan, ms_status_timeout, ms_status_period;
  int64_t ms_exhausted, ms_evict_retry, ms_le_duration, ms_le_renew, ms_le_retry, ms_grace;
};

/* ---- metrics ------------------------------------------------------------------------------- */

static void http_observe(void *ud, const char *method, const char *url, long status,
                         enum eng_err result, double secs) {
  struct app *a = ud;
  const char *api = "metal";
  if (!strncmp(url, a->seed_server, strlen(a->seed_server)) ||
      !strncmp(url, a->shoot_server, strlen(a->shoot_server)))
    api = "kube";
  metrics_std_api_request(api, method, status, result, secs);
}

/* MCM's machine metrics that gardenlet's ServiceMonitor keeps, from the watch cache. */
static int phase_value(const char *p) {
  static const struct {
    const char *phase;
    int v;
  } t[] = {{"Terminating", -4}, {"Failed", -3}, {"CrashLoopBackOff", -2},
           {"Unknown", -1},     {"Pending", 0}, {"Running", 1}};
  for (size_t i = 0; i < ARRAY_SIZE(t); i++)
    if (!strcmp(p, t[i].phase))
      return t[i].v;
  return 0;
}

static bool machine_gauge(void *ud, const json_t *obj) {
  struct app *a = ud;
  const char *phase = jsonx_str(obj, "status.currentStatus.phase");
  const char *name = jsonx_str(obj, "metadata.name");
  metrics_gauge_set(a->m_phase, (const char *const[]){name ? name : "", a->o.ns},
                    (double)phase_value(phase ? phase : ""));
  return true;
}

static void gauges(void *ud) {
  struct app *a = ud;
  if (!a->inf_machine || !a->m_items)
    return;
  metrics_reset(a->m_phase);
  metrics_gauge_set(a->m_items, NULL, (double)kube_informer_len(a->inf_machine));
  metrics_gauge_set(a->m_frozen, NULL, 0);
  kube_informer_foreach(a->inf_machine, machine_gauge, a);
}

/* ---- observation --------------------------------------------------------------------------------
 */

/* Poll the cluster's devices with the credentials the MachineClasses name. */
static void class_seen(void *ud, const json_t *obj) {
  struct app *a = ud;
  const char *name = jsonx_str(obj, "credentialsSecretRef.name");
  const char *ns = jsonx_str(obj, "credentialsSecretRef.namespace");
  if (!name || !*name || a->o.poll_slow <= 0)
    return;
  char *key = xasprintf("%s/%s", ns && *ns ? ns : a->o.ns, name);
  if (!a->watched_creds || strcmp(a->watched_creds, key) != 0) {
    device_watch_shoot(a->devices, a->o.ns, ns && *ns ? ns : a->o.ns, name);
    free(a->watched_creds);
    a->watched_creds = key;
    return;
  }
  free(key);
}

static void class_added(void *ud, const json_t *obj) { class_seen(ud, obj); }
static void class_updated(void *ud, const json_t *o, const json_t *n) {
  (void)o;
  class_seen(ud, n);
}

/*
 * Nodes reach the journal as summaries (labels, providerID, unschedulable, taints,
 * condition types and statuses), and only when the summary changed: kubelet heartbeats
 * alone would otherwise fill the journal.
 */
static json_t *node_summary(const json_t *n) {
  json_t *conds = json_array();
  size_t i;
  json_t *c;
  json_array_foreach(jsonx_path(n, "status.conditions"), i, c) {
    json_array_append_new(conds, json_pack("{s:s,s:s}", "type", jsonx_str(c, "type") ?: "",
                                           "status", jsonx_str(c, "status") ?: ""));
  }
  json_t *labels = jsonx_path(n, "metadata.labels");
  json_t *taints = jsonx_path(n, "spec.taints");
  json_t *md = json_pack("{s:s,s:s,s:s,s:o}", "name", jsonx_str(n, "metadata.name") ?: "", "uid",
                         jsonx_str(n, "metadata.uid") ?: "", "resourceVersion",
                         jsonx_str(n, "metadata.resourceVersion") ?: "", "labels",
                         json_is_object(labels) ? json_deep_copy(labels) : json_object());
  const char *dts = jsonx_str(n, "metadata.deletionTimestamp");
  if (dts)
    json_object_set_new(md, "deletionTimestamp", json_string(dts));
  json_t *spec = json_pack("{s:s,s:b,s:o}", "providerID", jsonx_str(n, "spec.providerID") ?: "",
                           "unschedulable", jsonx_bool(n, "spec.unschedulable", false), "taints",
                           json_is_array(taints) ? json_deep_copy(taints) : json_array());
  return json_pack("{s:s,s:s,s:o,s:o,s:{s:o}}", "apiVersion", "v1", "kind", "Node", "metadata", md,
                   "spec", spec, "status", "conditions", conds);
}

static void node_sink(void *ud, const struct jevent *ev) {
  struct app *a = ud;
  struct jevent copy = *ev;
  json_t *sum = NULL;
  bool obj = !strcmp(ev->type, "kube.added") || !strcmp(ev->type, "kube.modified") ||
             !strcmp(ev->type, "kube.deleted");
  if (obj && ev->payload) {
    sum = node_summary(ev->payload);
    json_t *noversion = json_deep_copy(sum);
    json_object_del(json_object_get(noversion, "metadata"), "resourceVersion");
    char *text = jsonx_canonical(noversion);
    json_decref(noversion);
    char digest[SHA256_HEX_LEN + 1];
    sha256_hex(text ? text : "", text ? strlen(text) : 0, digest);
    free(text);
    const char *name = ev->name ? ev->name : "";
    const char *prev = json_string_value(json_object_get(a->node_digests, name));
    if (!strcmp(ev->type, "kube.deleted")) {
      json_object_del(a->node_digests, name);
    } else {
      if (prev && !strcmp(prev, digest) && !strcmp(ev->type, "kube.modified")) {
        json_decref(sum);
        return; /* only the heartbeat moved */
      }
      json_object_set_new(a->node_digests, name, json_string(digest));
    }
    copy.payload = sum;
  }
  runtime_observe(a->p.rt, &copy);
  json_decref(sum);
}

static struct kube_informer *informer(struct app *a, struct kube_client *c,
                                      const struct kube_resource *r, const char *ns,
                                      const struct kube_informer_handlers *h,
                                      struct jevent_sink sink) {
  struct kube_informer_opts io = {0};
  io.res = r;
  io.ns = ns;
  io.sink = sink;
  if (h) {
    io.handlers = *h;
    io.ud = a;
  }
  return kube_informer_new(c, &io);
}

static json_t *start_payload(const struct app *a) {
  json_t *cfg = json_pack(
      "{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:s}", "namespace", a->o.ns, "creationTimeoutMs",
      (json_int_t)a->ms_creation, "healthTimeoutMs", (json_int_t)a->ms_health, "drainTimeoutMs",
      (json_int_t)a->ms_drain, "maxEvictRetries", (json_int_t)a->o.max_evict, "orphanGraceMs",
      (json_int_t)a->ms_grace, "resourceExhaustedRetryMs", (json_int_t)a->ms_exhausted,
      "evictRetryMs", (json_int_t)a->ms_evict_retry, "nodeConditions", a->o.node_conditions,
      "bootstrapTokenAuthExtraGroups", a->o.auth_extra_groups);
  json_t *ctl = json_object();
  json_object_set_new(ctl, "machine", cfg);
  char host[256] = "";
  gethostname(host, sizeof(host) - 1);
  return json_pack("{s:s,s:s,s:o,s:s,s:b,s:s}", "version", EQXM_VERSION, "command",
                   "machine-controller", "controllers", ctl, "host", host, "leaderElection",
                   a->o.leader_elect, "journal", a->o.journal);
}

static int load_config(const char *flag, const char *path, struct kube_config *cfg) {
  struct eng_error err;
  eng_error_clear(&err);
  kube_config_init(cfg);
  enum eng_err rc;
  if (!strcmp(path, "inClusterConfig"))
    rc = kube_config_in_cluster(cfg, &err);
  else
    rc = kube_config_load(*path ? path : NULL, NULL, cfg, &err);
  if (rc != ENG_OK) {
    log_error("cannot configure a Kubernetes API client; check the kubeconfig flag", "flag", flag,
              "path", path, "error", err.msg, NULL);
    return EXIT_FAIL;
  }
  if (cfg->warning)
    log_warn(cfg->warning, NULL);
  return EXIT_OK;
}

static int setup_and_run(struct app *a) {
  struct eng_error err;
  eng_error_clear(&err);
  if (load_config("--control-kubeconfig", a->o.control_kc, &a->seed_cfg) ||
      load_config("--target-kubeconfig", *a->o.target_kc ? a->o.target_kc : a->o.control_kc,
                  &a->shoot_cfg))
    return EXIT_FAIL;
  a->seed = kube_client_new(a->loop, &a->seed_cfg, NULL);
  a->shoot = kube_client_new(a->loop, &a->shoot_cfg, NULL);
  /* A 429 of the shoot (a refused eviction above all) is an outcome the reducer sees and retries
   * in its own, journaled pass, not something the client waits out. */
  kube_client_set_max_retries(a->shoot, 0);
  a->seed_server = xstrdup(kube_client_server(a->seed));
  a->shoot_server = xstrdup(kube_client_server(a->shoot));
  http_set_observer(http_observe, a);
  a->node_digests = json_object();

  struct runtime_opts ro = {.journal_path = a->o.journal, .snapshot_every = a->o.snapshot_every};
  ro.reducers = metal_reducers(&ro.nreducers);
  int code = ctlproc_open(&a->p, &ro);
  if (code != EXIT_OK)
    return code;

  struct executor *x = runtime_executor(a->p.rt);
  executor_set_concurrency(x, MACHINE_CONTROLLER, (int)a->o.concurrency);
  a->rec = kube_recorder_new(a->seed, "machine-controller", NULL);
  a->kres[0] = &kube_res_mcm_machine;
  a->kres[1] = &kube_res_mcm_machineclass;
  a->kres[2] = &kube_res_secret;
  a->xk = exec_kube_new(a->seed, a->rec, a->kres, 3);
  exec_kube_register(a->xk, x);
  struct jevent_sink sink = runtime_sink(a->p.rt);
  a->inf_secret = informer(a, a->seed, &kube_res_secret, a->o.ns, NULL, sink);
  struct metal_creds_opts mo = {0};
  metal_creds_flags_apply(&a->o.metal, &mo);
  mo.per_page = (unsigned)a->o.page_size;
  a->creds = metal_creds_new(a->loop, a->seed, a->inf_secret, &mo);
  struct exec_machine_opts xo = {a->seed, a->inf_secret, a->shoot, a->creds};
  a->xm = exec_machine_new(&xo);
  exec_machine_register(a->xm, x);
  struct device_watch_opts dw = {a->o.poll_fast * 1000, a->o.poll_slow * 1000};
  a->devices = device_watch_new(a->creds, sink, &dw);

  /* One HTTP server on --port: /metrics, /healthz, /readyz. */
  if ((code = ctlproc_metrics(&a->p)) != EXIT_OK)
    return code;
  char *addr_text = xasprintf("%s:%ld", a->o.address, a->o.port);
  struct httpd_addr haddr;
  code = ctlproc_bind(&a->p, "--port", addr_text, ":10259", &haddr);
  free(addr_text);
  if (code != EXIT_OK ||
      (code = ctlproc_serve(&a->p, "--port", &haddr, true, true, "metrics and health probes")))
    return code;
  static const char *const phase_labels[] = {"name", "namespace", NULL};
  if (!(a->m_items = metrics_gauge_new(a->p.reg, "mcm_machine_items_total",
                                       "Count of Machines in the namespace.", NULL, &err)) ||
      !(a->m_phase = metrics_gauge_new(a->p.reg, "mcm_machine_current_status_phase",
                                       "Phase of each Machine (Terminating -4, Failed -3, "
                                       "CrashLoopBackOff -2, Unknown -1, Pending 0, Running 1).",
                                       phase_labels, &err)) ||
      !(a->m_frozen = metrics_gauge_new(a->p.reg, "mcm_machine_controller_frozen",
                                        "1 while the machine controller is frozen (never: the "
                                        "API-server freeze is not implemented).",
                                        NULL, &err))) {
    log_error("cannot set up metrics", "error", err.msg, NULL);
    return EXIT_FAIL;
  }

  if (a->o.leader_elect) {
    struct kube_leader_opts lo = {0};
    lo.ns = a->o.ns;
    lo.name = "machine-controller";
    lo.lease_duration_ms = a->ms_le_duration;
    lo.renew_deadline_ms = a->ms_le_renew;
    lo.retry_period_ms = a->ms_le_retry;
    if ((code = ctlproc_leader(&a->p, a->seed, &lo)) != EXIT_OK)
      return code;
  }

  if ((code = ctlproc_start(&a->p, start_payload(a))) != EXIT_OK)
    return code;
  static const struct kube_informer_handlers class_handlers = {class_added, class_updated, NULL,
                                                               NULL};
  a->inf_class = informer(a, a->seed, &kube_res_mcm_machineclass, a->o.ns, &class_handlers, sink);
  a->inf_machine = informer(a, a->seed, &kube_res_mcm_machine, a->o.ns, NULL, sink);
  struct jevent_sink ns_sink = {node_sink, a};
  a->inf_node = informer(a, a->shoot, &res_node, NULL, NULL, ns_sink);
  kube_informer_start(a->inf_secret);
  kube_informer_start(a->inf_class);
  kube_informer_start(a->inf_node);
  kube_informer_start(a->inf_machine);
  return ctlproc_run(&a->p);
}

static void running(void *ud) {
  struct app *a = ud;
  log_info("machine controller running", "version", EQXM_VERSION, "namespace", a->o.ns, "control",
           a->seed_server, "target", a->shoot_server, "leaderElection",
           a->o.leader_elect ? "true" : "false", NULL);
}

static void teardown(struct app *a, int code) {
  ctlproc_quiesce(&a->p);
  kube_informer_free(a->inf_machine);
  kube_informer_free(a->inf_class);
  kube_informer_free(a->inf_node);
  device_watch_free(a->devices);
  exec_machine_free(a->xm);
  metal_creds_free(a->creds);
  kube_informer_free(a->inf_secret);
  exec_kube_free(a->xk);
  kube_recorder_free(a->rec);
  ctlproc_close(&a->p, code); /* the lease, then the journal, the server and the metrics */
  free(a->seed_server);
  free(a->shoot_server);
  free(a->watched_creds);
  json_decref(a->node_digests);
  kube_client_free(a->seed);
  kube_client_free(a->shoot);
  kube_config_free(&a->seed_cfg);
  kube_config_free(&a->shoot_cfg);
  log_forget_all_secrets();
}

/* A Go duration flag into ms (0 allowed only when zero_ok). */
static bool duration_flag(const struct cli_spec *spec, const char *flag, const char *v, int64_t *ms,
                          bool zero_ok, int *code) {
  if (!machine_parse_duration(v, ms) || (!zero_ok && *ms <= 0)) {
    *code = cli_usage_error(spec,
                            "--%s must be a positive Go duration such as 20m, 90s or 1h30m, not "
                            "'%s'.",
                            flag, v);
    return false;
  }
  return true;
}

int metal_machine_controller(int argc, char **argv) {
  struct app a;
  memset(&a, 0, sizeof(a));
  struct opts *o = &a.o;
  o->ns = "default";
  o->control_kc = "";
  o->target_kc = "";
  o->journal = DEFAULT_JOURNAL;
  metal_creds_flags_init(&o->metal);
  o->address = "0.0.0.0";
  o->port = 10259;
  o->creation_timeout = "20m";
  o->health_timeout = "10m";
  o->drain_timeout = "2h";
  o->orphan_period = "15m";
  o->orphan_grace = "";
  o->status_timeout = "30s";
  o->status_period = "1m";
  o->pv_detach = "2m";
  o->pv_reattach = "90s";
  o->resource_exhausted = "10m";
  o->le_duration = "15s";
  o->le_renew = "10s";
  o->le_retry = "2s";
  o->le_resource_lock = "leases";
  o->node_conditions = "KernelDeadlock,ReadonlyFilesystem,DiskPressure,NetworkUnavailable";
  o->auth_extra_groups = "";
  o->evict_retry = "20s";
  o->log_level = "info";
  o->log_format = "json";
  o->min_resync = "12h";
  o->kube_content_type = "application/vnd.kubernetes.protobuf";
  o->cloud_provider = "";
  o->concurrency = 50;
  o->max_evict = 360;
  o->qps = 20;
  o->burst = 30;
  o->verbosity = 0;
  o->poll_slow = 60;
  o->poll_fast = 10;
  o->snapshot_every = 10000;
  o->page_size = 100;
  o->leader_elect = true;
  const struct cli_opt opts[] = {
      {"namespace", CLI_STRING, &o->ns, "NAMESPACE",
       "the shoot's control-plane namespace in the seed: the only namespace watched (default "
       "default)",
       NULL},
      {"control-kubeconfig", CLI_STRING, &o->control_kc, "PATH",
       "kubeconfig of the seed, or inClusterConfig (default: KUBECONFIG, in-cluster, "
       "~/.kube/config)",
       NULL},
      {"target-kubeconfig", CLI_STRING, &o->target_kc, "PATH",
       "kubeconfig of the shoot (default: the control kubeconfig)", NULL},
      {"journal", CLI_STRING, &o->journal, "PATH",
       "the SQLite journal of this controller (default " DEFAULT_JOURNAL ")", "EQXM_JOURNAL"},
      METAL_CREDS_CLI_OPTS(&o->metal),
      {"metal-page-size", CLI_INT, &o->page_size, "N",
       "devices per page of Metal API lists (default 100, at most 1000)", NULL},
      {"metal-poll-seconds", CLI_INT, &o->poll_slow, "N",
       "how often the cluster's devices are listed while all are stable (default 60)", NULL},
      {"metal-poll-fast-seconds", CLI_INT, &o->poll_fast, "N",
       "how often while a device is being provisioned or deprovisioned (default 10)", NULL},
      {"machine-creation-timeout", CLI_STRING, &o->creation_timeout, "DURATION",
       "a machine whose node has not joined by then is Failed; also the bootstrap token's "
       "lifetime (default 20m)",
       NULL},
      {"machine-health-timeout", CLI_STRING, &o->health_timeout, "DURATION",
       "an Unknown machine becomes Failed after this (default 10m)", NULL},
      {"machine-drain-timeout", CLI_STRING, &o->drain_timeout, "DURATION",
       "after this since deletion, pods are deleted instead of evicted (default 2h)", NULL},
      {"machine-max-evict-retries", CLI_INT, &o->max_evict, "N",
       "evictions tried per pod before the drain gives up on it (default 360)", NULL},
      {"machine-evict-retry-interval", CLI_STRING, &o->evict_retry, "DURATION",
       "wait between drain passes whose evictions were refused (default 20s, as MCM)", NULL},
      {"machine-safety-orphan-vms-period", CLI_STRING, &o->orphan_period, "DURATION",
       "devices of the cluster that no Machine claims are deleted after this grace period "
       "(default 15m)",
       NULL},
      {"machine-safety-orphan-vms-grace", CLI_STRING, &o->orphan_grace, "DURATION",
       "grace period of an unclaimed device before it is deleted (default: the orphan period)",
       NULL},
      {"machine-safety-apiserver-statuscheck-timeout", CLI_STRING, &o->status_timeout, "DURATION",
       "accepted for MCM compatibility; the API-server freeze is not implemented", NULL},
      {"machine-safety-apiserver-statuscheck-period", CLI_STRING, &o->status_period, "DURATION",
       "accepted for MCM compatibility (must be at least the timeout)", NULL},
      {"machine-pv-detach-timeout", CLI_STRING, &o->pv_detach, "DURATION",
       "accepted for MCM compatibility; Equinix Metal has no volumes to detach", NULL},
      {"machine-pv-reattach-timeout", CLI_STRING, &o->pv_reattach, "DURATION",
       "accepted for MCM compatibility; Equinix Metal has no volumes to detach", NULL},
      {"resource-exhausted-retry", CLI_STRING, &o->resource_exhausted, "DURATION",
       "retry after a create failed for lack of capacity (default 10m)", NULL},
      {"node-conditions", CLI_STRING, &o->node_conditions, "LIST",
       "node conditions that must be False for a healthy machine (default "
       "KernelDeadlock,ReadonlyFilesystem,DiskPressure,NetworkUnavailable)",
       NULL},
      {"bootstrap-token-auth-extra-groups", CLI_STRING, &o->auth_extra_groups, "GROUPS",
       "auth-extra-groups of the bootstrap tokens (default none)", NULL},
      {"concurrent-syncs", CLI_INT, &o->concurrency, "N",
       "machine actions in flight at once (default 50)", NULL},
      {"kube-api-qps", CLI_INT, &o->qps, "N",
       "accepted for MCM compatibility; the Kubernetes clients are not rate limited", NULL},
      {"kube-api-burst", CLI_INT, &o->burst, "N", "accepted for MCM compatibility", NULL},
      {"port", CLI_INT, &o->port, "PORT",
       "port of /metrics, /healthz and /readyz (default 10259; 0 picks a free one)", NULL},
      {"address", CLI_STRING, &o->address, "ADDR", "bind address (default 0.0.0.0)", NULL},
      {"leader-elect", CLI_BOOL, &o->leader_elect, NULL,
       "elect a leader through the Lease machine-controller in --namespace (default true)", NULL},
      {"leader-elect-lease-duration", CLI_STRING, &o->le_duration, "DURATION",
       "how long a standby waits before taking over (default 15s)", NULL},
      {"leader-elect-renew-deadline", CLI_STRING, &o->le_renew, "DURATION",
       "how long the leader acts without a renewal (default 10s)", NULL},
      {"leader-elect-retry-period", CLI_STRING, &o->le_retry, "DURATION",
       "interval of lease attempts (default 2s)", NULL},
      {"leader-elect-resource-lock", CLI_STRING, &o->le_resource_lock, "KIND",
       "only leases is supported (default leases)", NULL},
      {"min-resync-period", CLI_STRING, &o->min_resync, "DURATION",
       "accepted for MCM compatibility; watches relist on their own schedule", NULL},
      {"kube-api-content-type", CLI_STRING, &o->kube_content_type, "TYPE",
       "accepted for MCM compatibility; JSON is always used", NULL},
      {"cloud-provider", CLI_STRING, &o->cloud_provider, "NAME", "accepted for MCM compatibility",
       NULL},
      {"profiling", CLI_BOOL, &o->profiling, NULL, "accepted for MCM compatibility", NULL},
      {"contention-profiling", CLI_BOOL, &o->contention_profiling, NULL,
       "accepted for MCM compatibility", NULL},
      {"v", CLI_INT, &o->verbosity, "N", "log verbosity: 4 or more logs at debug level", NULL},
      {"log-level", CLI_STRING, &o->log_level, "LEVEL", "debug, info, warn or error (default info)",
       NULL},
      {"log-format", CLI_STRING, &o->log_format, "FORMAT", "json or text (default json)", NULL},
      {"journal-snapshot-every", CLI_INT, &o->snapshot_every, "N",
       "events between reducer snapshots (default 10000)", NULL},
      {0}};
  const struct cli_spec spec = {
      CMD,
      "[options]",
      "Run the machine controller of machine-controller-manager (MCM's provider\n"
      "sidecar) for Equinix Metal: watch the Machines, MachineClasses and Secrets of\n"
      "--namespace in the seed and the Nodes of the shoot, journal every observation,\n"
      "decide with deterministic reducers, and create and delete Equinix Metal devices,\n"
      "bootstrap tokens and Nodes as MCM does. Stops cleanly on SIGTERM. Exit codes:\n"
      "0 after a signal, 1 on failure (including a lost lease), 2 usage error.",
      opts,
      0,
      0};
  char **pos = xcalloc((size_t)argc + 1, sizeof(*pos));
  int npos;
  int rc = cli_parse(&spec, argc, argv, &npos, pos);
  free(pos);
  if (rc)
    return rc == CLI_HELP ? EXIT_OK : EXIT_USAGE;
  int code = ctlproc_logging(&spec, o->log_level, o->log_format, o->verbosity >= 4);
  if (code != EXIT_OK)
    return code;
  code = EXIT_USAGE;
  if (!duration_flag(&spec, "machine-creation-timeout", o->creation_timeout, &a.ms_creation, false,
                     &code) ||
      !duration_flag(&spec, "machine-health-timeout", o->health_timeout, &a.ms_health, false,
                     &code) ||
      !duration_flag(&spec, "machine-drain-timeout", o->drain_timeout, &a.ms_drain, false, &code) ||
      !duration_flag(&spec, "machine-safety-orphan-vms-period", o->orphan_period, &a.ms_orphan,
                     false, &code) ||
      !duration_flag(&spec, "machine-safety-apiserver-statuscheck-timeout", o->status_timeout,
                     &a.ms_status_timeout, false, &code) ||
      !duration_flag(&spec, "machine-safety-apiserver-statuscheck-period", o->status_period,
                     &a.ms_status_period, false, &code) ||
      !duration_flag(&spec, "resource-exhausted-retry", o->resource_exhausted, &a.ms_exhausted,
                     true, &code) ||
      !duration_flag(&spec, "machine-evict-retry-interval", o->evict_retry, &a.ms_evict_retry,
                     false, &code) ||
      !duration_flag(&spec, "leader-elect-lease-duration", o->le_duration, &a.ms_le_duration, false,
                     &code) ||
      !duration_flag(&spec, "leader-elect-renew-deadline", o->le_renew, &a.ms_le_renew, false,
                     &code) ||
      !duration_flag(&spec, "leader-elect-retry-period", o->le_retry, &a.ms_le_retry, false, &code))
    return code;
  int64_t unused;
  if (!duration_flag(&spec, "machine-pv-detach-timeout", o->pv_detach, &unused, true, &code) ||
      !duration_flag(&spec, "machine-pv-reattach-timeout", o->pv_reattach, &unused, true, &code) ||
      !duration_flag(&spec, "min-resync-period", o->min_resync, &unused, true, &code))
    return code;
  a.ms_grace = a.ms_orphan;
  if (*o->orphan_grace && !duration_flag(&spec, "machine-safety-orphan-vms-grace", o->orphan_grace,
                                         &a.ms_grace, false, &code))
    return code;
  if (a.ms_exhausted == 0)
    a.ms_exhausted = 600000;
  if (a.ms_status_period < a.ms_status_timeout)
    return cli_usage_error(&spec, "--machine-safety-apiserver-statuscheck-period must be at least "
                                  "--machine-safety-apiserver-statuscheck-timeout.");
  if (o->port < 0 || o->port > 65535)
    return cli_usage_error(&spec, "--port must be between 0 and 65535, not %ld.", o->port);
  if (o->concurrency < 1 || o->qps < 1 || o->burst < 1 || o->max_evict < 0 || o->metal.rps < 1 ||
      o->metal.burst < 1 || o->poll_fast < 1 || o->poll_slow < 1 || o->snapshot_every < 1 ||
      o->page_size < 1 || o->page_size > 1000)
    return cli_usage_error(&spec, "--concurrent-syncs, --kube-api-qps, --kube-api-burst, rates, "
                                  "poll intervals, --metal-page-size (at most 1000) and "
                                  "--journal-snapshot-every must be at least 1.");
  if (strcmp(o->le_resource_lock, "leases") != 0)
    return cli_usage_error(&spec, "--leader-elect-resource-lock must be leases, not '%s'.",
                           o->le_resource_lock);
  if (!*o->ns)
    return cli_usage_error(&spec, "--namespace must name the shoot's control-plane namespace.");
  if (!strcmp(o->target_kc, "none"))
    return cli_usage_error(&spec, "--target-kubeconfig=none is not supported: the machine "
                                  "controller needs the shoot for bootstrap tokens and nodes.");
  a.loop = ev_default_loop(EVFLAG_AUTO);
  const struct ctlproc_opts po = {CMD, NULL, gauges, 1., 1., running, &a};
  ctlproc_init(&a.p, a.loop, &po);
  /* /readyz waits for the first lists in this order; a signal stops the watches. */
  struct kube_informer **watches[] = {&a.inf_machine, &a.inf_class, &a.inf_secret, &a.inf_node};
  for (size_t i = 0; i < ARRAY_SIZE(watches); i++)
    ctlproc_watch(&a.p, watches[i]);
  code = setup_and_run(&a);
  teardown(&a, code);
  return code;
}
