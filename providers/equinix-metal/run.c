/*
 * run.c - `run`: the Gardener extension controller for Equinix Metal.
 *
 * Composition (in start order): options and logging, the seed's API client, the
 * journal runtime (restore + fold), executor handlers (Kubernetes writes, Metal
 * SSH keys), metrics and health servers, leader election and the Gardener
 * heartbeat, plugins (the webhook server), engine.start, then the watches. On
 * SIGTERM/SIGINT: stop watching, let the executor stop, release the lease,
 * commit the journal with engine.stop, exit 0. A lost lease or an unwritable
 * journal exits 1 (Kubernetes restarts the pod, which rebuilds from the journal).
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/run.h"
#include "engine/act/exec_kube.h"
#include "engine/act/exec_kube_env.h"
#include "engine/ctlproc.h"
#include "engine/net/http.h"
#include "engine/net/httpd.h"
#include "engine/base/jsonx.h"
#include "engine/kube/client.h"
#include "engine/kube/events.h"
#include "engine/kube/informer.h"
#include "engine/kube/kubeconfig.h"
#include "engine/kube/lease.h"
#include "engine/base/log.h"
#include "engine/obs/metrics.h"
#include "engine/obs/metrics_std.h"
#include "providers/equinix-metal/observe/device_watch.h"
#include "providers/equinix-metal/act/exec_metal.h"
#include "providers/equinix-metal/act/exec_nodenet.h"
#include "providers/equinix-metal/act/exec_secret_from.h"
#include "providers/equinix-metal/mcm_resources.h"
#include "providers/equinix-metal/imagevector.h"
#include "providers/equinix-metal/controllers/infrastructure.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "providers/equinix-metal/metal_creds.h"
#include "providers/equinix-metal/controllers/registry.h"
#include "engine/runtime.h"
#include "engine/base/xalloc.h"
#include "engine/base/yamlconv.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMD             PROG_NAME " run"
#define DEFAULT_JOURNAL "/var/lib/" PROG_NAME "/journal.db"

/* Controller switch names of the Go original. */
static const char *const known_controllers[] = {"infrastructure", "controlplane", "worker",
                                                "healthcheck", "heartbeat"};
static const char *const implemented[] = {"infrastructure", "controlplane", "worker", "healthcheck",
                                          "heartbeat"};

struct opts {
  const char *kubeconfig, *config_file, *journal;
  const char *le_ns, *le_id, *hb_ns, *metrics_addr, *health_addr, *log_level, *log_format;
  const char *extension_class, *gardener_version, *secret_name, *retention_age, *image_vector;
  bool leader_election, ignore_annotation;
  long infra_conc, cp_conc, worker_conc, hc_conc, hb_interval;
  long snapshot_every, retention_mb, lease_duration, renew_deadline, retry_period;
  long poll_slow, poll_fast, hc_period;
  struct metal_creds_flags metal;
  long kube_qps, kube_burst; /* -1 = not given: clientConnection of --config-file, else 100/130 */
  struct cli_list controllers, disabled;
};

struct app {
  struct opts o;
  struct ev_loop *loop;
  struct kube_config kcfg;
  struct kube_client *kube;
  char *kube_server; /* its URL, to tell its requests from Metal API requests in metrics */
  struct runtime *rt;
  struct kube_recorder *rec;
  struct exec_kube *xk;
  struct metal_creds *creds;
  struct exec_metal *xm;
  struct exec_nodenet *xn;
  struct exec_kube_env *xe;
  struct device_watch *devices;
  struct kube_informer *inf_cluster, *inf_infra, *inf_secret;
  /* Worker: the machine objects first; the Workers once those are listed (so that the
   * first plan sees the live MachineDeployments, e.g. their replicas). */
  struct kube_informer *inf_worker, *inf_mcm[3];
  /* ControlPlane: its ManagedResources first, then the ControlPlanes. */
  struct kube_informer *inf_cp, *inf_mr, *inf_ccm;
  bool cp_started;
  bool plugin_actions; /* a started plugin carries out actions (webhook.shoot-webhooks) */
  json_t *images;      /* the image vector, {name: image} */
  bool worker_started;
  struct exec_secret_from *xs;
  struct ctlproc p; /* journal runtime, lease, metrics, probes, signals */
  struct kube_heartbeat *hb;
  const struct run_plugin *plugins;
  size_t nplugins;
  bool plugin_started[8];
  const struct kube_resource *kres[12];
};

static bool enabled(const struct app *a, const char *c) {
  bool on = a->o.controllers.n == 0 || cli_list_has(&a->o.controllers, c);
  return on && !cli_list_has(&a->o.disabled, c);
}

/* ---- metrics ------------------------------------------------------------------------------- */

/* After the action metrics: a Succeeded or Error status write ends (or fails) a reconcile, so
 * count it as one. */
static void action_finished(void *ud, const struct action *act, const struct exec_outcome *o,
                            double secs) {
  (void)ud;
  (void)secs;
  if (strcmp(act->kind, "kube.status") == 0 && o->ok) {
    const char *state = jsonx_str(act->params, "patch.status.lastOperation.state");
    const char *type = jsonx_str(act->params, "patch.status.lastOperation.type");
    if (state && type && strcmp(state, "Processing") != 0) {
      char op[32];
      snprintf(op, sizeof(op), "%s", type);
      for (char *p = op; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
      metrics_std_reconcile(act->controller, op, !strcmp(state, "Succeeded") ? "success" : "error",
                            0);
    }
  }
}

/* Every HTTP call of the process: requests to the seed's API server are "kube", the rest "metal".
 */
static void http_observe(void *ud, const char *method, const char *url, long status,
                         enum eng_err result, double secs) {
  const char *kube_server = ud;
  const char *api = !strncmp(url, kube_server, strlen(kube_server)) ? "kube" : "metal";
  metrics_std_api_request(api, method, status, result, secs);
}

static void gauges(void *ud) {
  struct app *a = ud;
  struct kube_leader *leader = a->p.leader;
  struct runtime_stats st;
  runtime_stats(a->p.rt, &st);
  metrics_gauge_set(metrics_std.journal_lag_events, (const char *const[]){"commit"},
                    (double)st.pending);
  /* Inputs are folded as they are appended (runtime_observe), so after the start-up fold
   * nothing durable waits for the reducers. */
  metrics_gauge_set(metrics_std.journal_lag_events, (const char *const[]){"fold"}, 0);
  if (leader) {
    metrics_gauge_set(metrics_std.leader_status, NULL, kube_leader_is_leader(leader) ? 1 : 0);
    metrics_gauge_set(metrics_std.leader_epoch, NULL, (double)kube_leader_epoch(leader));
  } else {
    metrics_gauge_set(metrics_std.leader_status, NULL, 1);
  }
}

/* ---- set-up -----------------------------------------------------------------------------------
 */

static struct kube_informer *informer(struct app *a, const struct kube_resource *r,
                                      const char *field_selector,
                                      const struct kube_informer_handlers *h) {
  struct kube_informer_opts io = {0};
  io.res = r;
  io.field_selector = field_selector;
  io.sink = runtime_sink(a->p.rt);
  /* Only the credentials Secrets are read from an informer's cache (metal_creds); the others
   * journal and notify, and keep each object's identity alone. */
  io.cache_metadata_only = r != &kube_res_secret;
  if (h) {
    io.handlers = *h;
    io.ud = a;
  }
  return kube_informer_new(a->kube, &io);
}

/* ---- device observation: one poller per equinixmetal Infrastructure ------------------------ */

static void watch_devices(struct app *a, const json_t *infra) {
  const char *type = jsonx_str(infra, "spec.type");
  const char *ns = jsonx_str(infra, "metadata.namespace");
  if (!type || strcmp(type, METAL_EXTENSION_TYPE) != 0 || !ns)
    return;
  const char *sns = jsonx_str(infra, "spec.secretRef.namespace");
  device_watch_shoot(a->devices, ns, sns && *sns ? sns : ns,
                     jsonx_str(infra, "spec.secretRef.name"));
}

static void infra_added(void *ud, const json_t *obj) { watch_devices(ud, obj); }

static void infra_updated(void *ud, const json_t *old_obj, const json_t *new_obj) {
  (void)old_obj;
  watch_devices(ud, new_obj);
}

static void infra_deleted(void *ud, const json_t *last) {
  struct app *a = ud;
  const char *ns = jsonx_str(last, "metadata.namespace");
  if (ns)
    device_watch_forget(a->devices, ns);
}

/* Every machine kind has been listed once: start the Worker watch. */
static void mcm_synced(void *ud) {
  struct app *a = ud;
  if (a->worker_started || a->p.stopping)
    return;
  for (size_t i = 0; i < ARRAY_SIZE(a->inf_mcm); i++)
    if (!a->inf_mcm[i] || !kube_informer_has_synced(a->inf_mcm[i]))
      return;
  a->worker_started = true;
  kube_informer_start(a->inf_worker);
}

/* The ManagedResources have been listed once: start the ControlPlane watch. */
static void mr_synced(void *ud) {
  struct app *a = ud;
  if (a->cp_started || a->p.stopping)
    return;
  a->cp_started = true;
  kube_informer_start(a->inf_cp);
}

static json_t *start_payload(const struct app *a) {
  json_t *cfg = json_pack("{s:b,s:s}", "ignoreOperationAnnotation", a->o.ignore_annotation,
                          "extensionClass", a->o.extension_class);
  json_t *ctl = json_object();
  json_object_set_new(ctl, "infrastructure", cfg);
  json_object_set_new(ctl, "worker", json_deep_copy(cfg));
  json_t *cp = json_deep_copy(cfg);
  json_object_set_new(cp, "images", a->images ? json_incref(a->images) : json_object());
  json_object_set_new(cp, "shootWebhooks", json_boolean(a->plugin_actions));
  json_object_set_new(ctl, "controlplane", cp);
  json_object_set_new(ctl, "healthcheck",
                      json_pack("{s:I}", "syncPeriodMs", (json_int_t)a->o.hc_period * 1000));
  char host[256] = "";
  gethostname(host, sizeof(host) - 1);
  return json_pack("{s:s,s:o,s:s,s:b,s:s}", "version", EQXM_VERSION, "controllers", ctl, "host",
                   host, "leaderElection", a->o.leader_election, "journal", a->o.journal);
}

static int setup_and_run(struct app *a) {
  struct eng_error err;
  eng_error_clear(&err);
  /* API client of the seed. */
  kube_config_init(&a->kcfg);
  if (kube_config_load(a->o.kubeconfig, NULL, &a->kcfg, &err) != ENG_OK) {
    log_error("cannot configure the Kubernetes API client; pass --kubeconfig or run in a cluster",
              "error", err.msg, NULL);
    return EXIT_FAIL;
  }
  if (a->kcfg.warning)
    log_warn(a->kcfg.warning, NULL);
  a->kube = kube_client_new(a->loop, &a->kcfg, NULL);
  kube_client_set_rate_limit(a->kube, (double)a->o.kube_qps, (double)a->o.kube_burst);
  a->kube_server = xstrdup(kube_client_server(a->kube));
  http_set_observer(http_observe, a->kube_server);

  /* The image vector (the ControlPlane controller's images). */
  if (enabled(a, "controlplane")) {
    bool dflt = !a->o.image_vector || !*a->o.image_vector;
    a->images = imagevector_load(dflt ? IMAGEVECTOR_DEFAULT_PATH : a->o.image_vector, dflt, &err);
    if (!a->images) {
      log_error("cannot load the image vector; fix the file or pass --image-vector", "error",
                err.msg, NULL);
      return EXIT_FAIL;
    }
  }

  /* The journal runtime. */
  struct runtime_opts ro = {.journal_path = a->o.journal, .snapshot_every = a->o.snapshot_every};
  ro.reducers = metal_reducers(&ro.nreducers);
  if (a->o.retention_mb > 0)
    ro.retention.max_bytes = (int64_t)a->o.retention_mb * 1024 * 1024;
  if (a->o.retention_age && *a->o.retention_age) {
    char *end;
    double h = strtod(a->o.retention_age, &end);
    ro.retention.max_age_ms = (int64_t)(h * 3600 * 1000);
  }
  int code = ctlproc_open(&a->p, &ro);
  if (code != EXIT_OK)
    return code;

  /* Executor handlers and concurrency. */
  struct executor *x = runtime_executor(a->p.rt);
  executor_set_concurrency(x, "infrastructure", (int)a->o.infra_conc);
  executor_set_concurrency(x, "worker", (int)a->o.worker_conc);
  executor_set_concurrency(x, "controlplane", (int)a->o.cp_conc);
  executor_set_concurrency(x, "healthcheck", (int)a->o.hc_conc);
  executor_set_concurrency(x, "worker-health", (int)a->o.hc_conc);
  a->rec = kube_recorder_new(a->kube, "gardener-extension-" METAL_EXTENSION_NAME, NULL);
  size_t nk = 0;
  a->kres[nk++] = &kube_res_gardener_infrastructure;
  a->kres[nk++] = &kube_res_gardener_worker;
  a->kres[nk++] = &kube_res_secret; /* class Secrets */
  a->kres[nk++] = &mcm_res_machine_deployment;
  a->kres[nk++] = &mcm_res_machine_class;
  a->kres[nk++] = &mcm_res_machine;
  a->kres[nk++] = &mcm_res_machine_set; /* restored from Worker status.state */
  a->kres[nk++] = &kube_res_gardener_controlplane;
  a->kres[nk++] = &metal_res_managed_resource;
  a->xk = exec_kube_new(a->kube, a->rec, a->kres, nk);
  exec_kube_register(a->xk, x);
  a->xs = exec_secret_from_new(a->kube, a->kres, nk);
  exec_secret_from_register(a->xs, x);
  if (a->o.secret_name && *a->o.secret_name) {
    char *fs = xasprintf("metadata.name=%s", a->o.secret_name);
    a->inf_secret = informer(a, &kube_res_secret, fs, NULL);
    free(fs);
  }
  struct metal_creds_opts mo = {0};
  metal_creds_flags_apply(&a->o.metal, &mo);
  a->creds = metal_creds_new(a->loop, a->kube, a->inf_secret, &mo);
  a->xm = exec_metal_new(a->creds);
  exec_metal_register(a->xm, x);
  a->xn = exec_nodenet_new(a->loop, a->kube, a->creds);
  exec_nodenet_register(a->xn, x);
  a->xe = exec_kube_env_new(a->kube);
  exec_kube_env_register(a->xe, x);
  struct device_watch_opts dw = {a->o.poll_fast * 1000, a->o.poll_slow * 1000};
  a->devices = device_watch_new(a->creds, runtime_sink(a->p.rt), &dw);

  /* Metrics and health. */
  if ((code = ctlproc_metrics(&a->p)) != EXIT_OK)
    return code;
  if (device_watch_metrics(a->p.reg, &err) != ENG_OK) {
    log_error("cannot set up metrics", "error", err.msg, NULL);
    return EXIT_FAIL;
  }
  struct httpd_addr maddr, haddr;
  if ((code = ctlproc_bind(&a->p, "--metrics-bind-address", a->o.metrics_addr, ":8080", &maddr)) ||
      (code = ctlproc_bind(&a->p, "--health-bind-address", a->o.health_addr, ":8081", &haddr)))
    return code;
  if (!maddr.disabled &&
      (code = ctlproc_serve(&a->p, "--metrics-bind-address", &maddr, true, false, "metrics")))
    return code;
  if (!haddr.disabled &&
      (code = ctlproc_serve(&a->p, "--health-bind-address", &haddr, false, true, "health probes")))
    return code;

  /* Leader election and heartbeat. */
  const char *le_ns = a->o.le_ns && *a->o.le_ns ? a->o.le_ns : kube_client_namespace(a->kube);
  if (a->o.leader_election) {
    struct kube_leader_opts lo = {0};
    lo.ns = le_ns;
    lo.name = a->o.le_id;
    lo.lease_duration_ms = a->o.lease_duration * 1000;
    lo.renew_deadline_ms = a->o.renew_deadline * 1000;
    lo.retry_period_ms = a->o.retry_period * 1000;
    if ((code = ctlproc_leader(&a->p, a->kube, &lo)) != EXIT_OK)
      return code;
  }
  if (enabled(a, "heartbeat")) {
    const char *hb_ns = a->o.hb_ns && *a->o.hb_ns ? a->o.hb_ns : le_ns;
    a->hb = kube_heartbeat_new(a->kube, hb_ns, METAL_EXTENSION_NAME, a->o.hb_interval);
  }

  /* Plugins (the webhook server). */
  for (size_t i = 0; i < a->nplugins && i < ARRAY_SIZE(a->plugin_started); i++) {
    const struct run_plugin *p = &a->plugins[i];
    if (p->disabled && p->disabled(p->self))
      continue;
    if (p->start(p->self, a->loop, &a->kcfg, a->o.config_file ? a->o.config_file : "", a->p.health,
                 &err) != ENG_OK) {
      log_error("cannot start a part of the extension", "part", p->name, "error", err.msg, NULL);
      return EXIT_FAIL;
    }
    a->plugin_started[i] = true;
    if (p->register_actions) {
      p->register_actions(p->self, runtime_executor(a->p.rt));
      a->plugin_actions = true;
    }
  }

  /* engine.start, then the watches: their first events meet the start's "first sight" rules. */
  if ((code = ctlproc_start(&a->p, start_payload(a))) != EXIT_OK)
    return code;
  if (enabled(a, "infrastructure") || enabled(a, "worker") || enabled(a, "controlplane") ||
      enabled(a, "healthcheck")) {
    a->inf_cluster = informer(a, &kube_res_gardener_cluster, NULL, NULL);
    kube_informer_start(a->inf_cluster);
  }
  if (enabled(a, "infrastructure")) {
    static const struct kube_informer_handlers infra_handlers = {infra_added, infra_updated,
                                                                 infra_deleted, NULL};
    a->inf_infra = informer(a, &kube_res_gardener_infrastructure, NULL,
                            a->o.poll_slow > 0 ? &infra_handlers : NULL);
    kube_informer_start(a->inf_infra);
  }
  if (enabled(a, "worker")) {
    static const struct kube_informer_handlers mcm_handlers = {NULL, NULL, NULL, mcm_synced};
    const struct kube_resource *kinds[] = {&mcm_res_machine_deployment, &mcm_res_machine_class,
                                           &mcm_res_machine};
    a->inf_worker = informer(a, &kube_res_gardener_worker, NULL, NULL);
    for (size_t i = 0; i < ARRAY_SIZE(a->inf_mcm); i++)
      a->inf_mcm[i] = informer(a, kinds[i], NULL, &mcm_handlers);
    for (size_t i = 0; i < ARRAY_SIZE(a->inf_mcm); i++)
      kube_informer_start(a->inf_mcm[i]);
  }
  if (enabled(a, "controlplane") || enabled(a, "healthcheck"))
    a->inf_cp = informer(a, &kube_res_gardener_controlplane, NULL, NULL);
  if (enabled(a, "healthcheck")) {
    a->inf_ccm = informer(a, &kube_res_deployment, "metadata.name=cloud-controller-manager", NULL);
    kube_informer_start(a->inf_ccm);
  }
  if (enabled(a, "controlplane")) {
    static const struct kube_informer_handlers mr_handlers = {NULL, NULL, NULL, mr_synced};
    a->inf_mr = informer(a, &metal_res_managed_resource, NULL, &mr_handlers);
    kube_informer_start(a->inf_mr);
  } else if (a->inf_cp) {
    a->cp_started = true;
    kube_informer_start(a->inf_cp);
  }
  if (a->inf_secret)
    kube_informer_start(a->inf_secret);
  return ctlproc_run(&a->p);
}

/* With the lease and the signal handlers started: the heartbeat; then say plainly which
 * controllers run (the known ones that --controllers and --disable-controllers leave enabled). */
static void running(void *ud) {
  struct app *a = ud;
  if (a->hb)
    kube_heartbeat_start(a->hb);
  char running[256] = "";
  for (size_t c = 0; c < ARRAY_SIZE(known_controllers); c++)
    if (enabled(a, known_controllers[c]))
      snprintf(running + strlen(running), sizeof(running) - strlen(running), "%s%s",
               running[0] ? "," : "", known_controllers[c]);
  log_info("controller running", "version", EQXM_VERSION, "kubernetes", kube_client_server(a->kube),
           "leaderElection", a->o.leader_election ? "true" : "false", "controllers",
           running[0] ? running : "none", NULL);
}

static void teardown(struct app *a, int code) {
  /* Stop sources of new work first, then the executor's clients, then the journal. */
  ctlproc_quiesce(&a->p);
  for (size_t i = 0; i < a->nplugins && i < ARRAY_SIZE(a->plugin_started); i++)
    if (a->plugin_started[i])
      a->plugins[i].stop(a->plugins[i].self);
  kube_informer_free(a->inf_cluster);
  kube_informer_free(a->inf_infra);
  kube_informer_free(a->inf_worker);
  kube_informer_free(a->inf_cp);
  kube_informer_free(a->inf_mr);
  kube_informer_free(a->inf_ccm);
  json_decref(a->images);
  for (size_t i = 0; i < ARRAY_SIZE(a->inf_mcm); i++)
    kube_informer_free(a->inf_mcm[i]);
  kube_heartbeat_free(a->hb);
  device_watch_free(a->devices);
  exec_metal_free(a->xm);
  exec_nodenet_free(a->xn);
  exec_kube_env_free(a->xe);
  metal_creds_free(a->creds);
  kube_informer_free(a->inf_secret);
  exec_secret_from_free(a->xs);
  exec_kube_free(a->xk);
  kube_recorder_free(a->rec);
  ctlproc_close(&a->p, code); /* the lease, then the journal, the servers and the metrics */
  free(a->kube_server);
  kube_client_free(a->kube);
  kube_config_free(&a->kcfg);
  log_forget_all_secrets();
}

/*
 * The Kubernetes client's rate limit: --kube-api-qps/--kube-api-burst when given, else
 * clientConnection.qps/burst of the ControllerConfiguration (--config-file), else the Go
 * original's 100/130. Numbers below 1 or of the wrong type are usage errors naming the source.
 */
static enum eng_err client_connection(struct opts *o, struct eng_error *err) {
  long qps = 100, burst = 130;
  if (o->config_file && *o->config_file) {
    FILE *f = fopen(o->config_file, "rb");
    if (!f)
      return eng_error_set(err, ENG_CONFIG, "--config-file %s cannot be read.", o->config_file);
    char *buf = xmalloc(1024 * 1024 + 1);
    size_t n = fread(buf, 1, 1024 * 1024 + 1, f);
    fclose(f);
    json_t *doc = n <= 1024 * 1024 ? yamlconv_parse(buf, n, o->config_file, err) : NULL;
    free(buf);
    if (!doc && n > 1024 * 1024)
      return eng_error_set(err, ENG_CONFIG, "--config-file %s is larger than 1 MiB.",
                           o->config_file);
    if (!doc)
      return err->code ? err->code : ENG_CONFIG;
    const char *names[2] = {"qps", "burst"};
    long *vals[2] = {&qps, &burst};
    for (int i = 0; i < 2; i++) {
      char path[64];
      snprintf(path, sizeof(path), "clientConnection.%s", names[i]);
      json_t *v = jsonx_path(doc, path);
      if (!v || json_is_null(v))
        continue;
      if (!json_is_number(v) || json_number_value(v) < 1 || json_number_value(v) > 1e6) {
        json_decref(doc);
        return eng_error_set(err, ENG_CONFIG,
                             "--config-file %s: %s must be a number from 1 to 1000000.",
                             o->config_file, path);
      }
      *vals[i] = (long)json_number_value(v);
    }
    json_decref(doc);
  }
  if (o->kube_qps < 0)
    o->kube_qps = qps;
  if (o->kube_burst < 0)
    o->kube_burst = burst;
  if (o->kube_qps < 1 || o->kube_burst < 1)
    return eng_error_set(err, ENG_CONFIG,
                         "--kube-api-qps and --kube-api-burst must be at least 1.");
  return ENG_OK;
}

int metal_run(int argc, char **argv, const struct run_plugin *plugins, size_t nplugins) {
  struct app a;
  memset(&a, 0, sizeof(a));
  struct opts *o = &a.o;
  o->journal = DEFAULT_JOURNAL;
  metal_creds_flags_init(&o->metal);
  o->leader_election = true;
  o->le_id = NULL;
  o->metrics_addr = ":8080";
  o->health_addr = ":8081";
  o->log_level = "info";
  o->log_format = "json";
  o->extension_class = "";
  o->gardener_version = "";
  o->secret_name = "cloudprovider";
  o->retention_age = "";
  o->infra_conc = o->cp_conc = o->worker_conc = 5;
  o->hc_conc = 1;
  o->hc_period = 30;
  o->hb_interval = 30;
  o->snapshot_every = 10000;
  o->poll_slow = 60;
  o->poll_fast = 10;
  o->kube_qps = o->kube_burst = -1;
  o->lease_duration = 15;
  o->renew_deadline = 10;
  o->retry_period = 2;
  o->kubeconfig = "";
  o->config_file = "";
  const struct cli_opt base[] = {
      {"kubeconfig", CLI_STRING, &o->kubeconfig, "PATH",
       "kubeconfig of the seed (default: KUBECONFIG, in-cluster, ~/.kube/config)", NULL},
      {"config-file", CLI_STRING, &o->config_file, "PATH",
       "ControllerConfiguration YAML (etcd storage for the webhooks)", NULL},
      {"journal", CLI_STRING, &o->journal, "PATH",
       "the SQLite journal (default " DEFAULT_JOURNAL ")", "EQXM_JOURNAL"},
      METAL_CREDS_CLI_OPTS(&o->metal),
      {"metal-poll-seconds", CLI_INT, &o->poll_slow, "N",
       "how often each shoot's devices are listed while all are stable (default 60; 0 = do not "
       "watch devices)",
       NULL},
      {"kube-api-qps", CLI_INT, &o->kube_qps, "N",
       "requests per second to the seed's API server, client-side (default clientConnection.qps "
       "of --config-file, else 100)",
       NULL},
      {"kube-api-burst", CLI_INT, &o->kube_burst, "N",
       "burst above --kube-api-qps (default clientConnection.burst of --config-file, else 130)",
       NULL},
      {"metal-poll-fast-seconds", CLI_INT, &o->poll_fast, "N",
       "how often while a device is being provisioned or deprovisioned (default 10)", NULL},
      {"image-vector", CLI_STRING, &o->image_vector, "FILE",
       "image vector of the deployed components (default " IMAGEVECTOR_DEFAULT_PATH
       ", else built-in images; IMAGEVECTOR_OVERWRITE replaces entries)",
       NULL},
      {"credentials-secret-name", CLI_STRING, &o->secret_name, "NAME",
       "name of the credentials Secrets to watch (default cloudprovider; others are read on "
       "demand)",
       NULL},
      {"leader-election", CLI_BOOL, &o->leader_election, NULL,
       "elect a leader through a Lease; only the leader acts (default true)", NULL},
      {"leader-election-id", CLI_STRING, &o->le_id, "NAME",
       "name of the leader Lease (default provider-equinix-metal-leader-election)", NULL},
      {"leader-election-namespace", CLI_STRING, &o->le_ns, "NAMESPACE",
       "namespace of the leader Lease", "LEADER_ELECTION_NAMESPACE"},
      {"leader-election-lease-duration-seconds", CLI_INT, &o->lease_duration, "N",
       "how long a standby waits before taking over an unrenewed lease (default 15)", NULL},
      {"leader-election-renew-deadline-seconds", CLI_INT, &o->renew_deadline, "N",
       "how long the leader keeps acting without a successful renewal (default 10)", NULL},
      {"leader-election-retry-period-seconds", CLI_INT, &o->retry_period, "N",
       "interval between lease acquisition and renewal attempts (default 2)", NULL},
      {"ignore-operation-annotation", CLI_BOOL, &o->ignore_annotation, NULL,
       "reconcile on every generation change instead of on the gardener.cloud/operation annotation",
       NULL},
      {"extension-class", CLI_STRING, &o->extension_class, "CLASS",
       "handle objects of this spec.class (default shoot)", NULL},
      {"controllers", CLI_LIST, &o->controllers, "NAMES",
       "controllers to run (default all: infrastructure,controlplane,worker,healthcheck,heartbeat)",
       NULL},
      {"disable-controllers", CLI_LIST, &o->disabled, "NAMES", "controllers not to run", NULL},
      {"infrastructure-max-concurrent-reconciles", CLI_INT, &o->infra_conc, "N",
       "Infrastructure actions in flight at once (default 5)", NULL},
      {"controlplane-max-concurrent-reconciles", CLI_INT, &o->cp_conc, "N",
       "ControlPlane actions in flight at once (default 5)", NULL},
      {"worker-max-concurrent-reconciles", CLI_INT, &o->worker_conc, "N",
       "Worker actions in flight at once (default 5)", NULL},
      {"healthcheck-sync-period", CLI_INT, &o->hc_period, "SECONDS",
       "how often the health checks run (default 30; the config file's "
       "healthCheckConfig.syncPeriod "
       "in the Go original)",
       NULL},
      {"healthcheck-max-concurrent-reconciles", CLI_INT, &o->hc_conc, "N",
       "health checks in flight at once (default 1)", NULL},
      {"heartbeat-namespace", CLI_STRING, &o->hb_ns, "NAMESPACE",
       "namespace of the gardener-extension-heartbeat Lease (default: the leader election "
       "namespace)",
       NULL},
      {"heartbeat-renew-interval-seconds", CLI_INT, &o->hb_interval, "N",
       "heartbeat renewal interval (default 30)", NULL},
      {"metrics-bind-address", CLI_STRING, &o->metrics_addr, "ADDR",
       "Prometheus metrics address (default :8080; 0 disables)", NULL},
      {"health-bind-address", CLI_STRING, &o->health_addr, "ADDR",
       "/healthz and /readyz address (default :8081; 0 disables)", NULL},
      {"log-level", CLI_STRING, &o->log_level, "LEVEL", "debug, info, warn or error (default info)",
       NULL},
      {"log-format", CLI_STRING, &o->log_format, "FORMAT", "json or text (default json)", NULL},
      {"gardener-version", CLI_STRING, &o->gardener_version, "VERSION",
       "version of Gardener (informational)", NULL},
      {"journal-snapshot-every", CLI_INT, &o->snapshot_every, "N",
       "events between reducer snapshots (default 10000)", NULL},
      {"journal-retention-hours", CLI_STRING, &o->retention_age, "HOURS",
       "remove journal events older than this (default: keep)", NULL},
      {"journal-retention-megabytes", CLI_INT, &o->retention_mb, "MB",
       "keep the journal under this size (default: no limit)", NULL},
      {0}};
  /* Base options plus every plugin's. */
  size_t nbase = ARRAY_SIZE(base) - 1, total = nbase;
  for (size_t i = 0; i < nplugins; i++)
    for (const struct cli_opt *p = plugins[i].options(plugins[i].self); p->name; p++)
      total++;
  struct cli_opt *all = xcalloc(total + 1, sizeof(*all));
  memcpy(all, base, nbase * sizeof(*all));
  size_t k = nbase;
  for (size_t i = 0; i < nplugins; i++)
    for (const struct cli_opt *p = plugins[i].options(plugins[i].self); p->name; p++)
      all[k++] = *p;
  const struct cli_spec spec = {
      CMD,
      "[options]",
      "Run the Gardener extension controller for Equinix Metal: watch the seed's\n"
      "extension objects, journal every observation in a local SQLite file, decide\n"
      "with deterministic reducers, act on the Equinix Metal API and Kubernetes, and\n"
      "serve the admission webhooks. Stops cleanly on SIGTERM. Exit codes: 0 after a\n"
      "signal, 1 on failure (including a lost lease), 2 usage error.",
      all,
      0,
      0};
  char **pos = xcalloc((size_t)argc + 1, sizeof(*pos));
  int npos;
  int rc = cli_parse(&spec, argc, argv, &npos, pos);
  free(pos);
  int code = EXIT_OK;
  if (rc) {
    code = rc == CLI_HELP ? EXIT_OK : EXIT_USAGE;
    goto out;
  }
  if ((code = ctlproc_logging(&spec, o->log_level, o->log_format, false)) != EXIT_OK)
    goto out;
  struct cli_list *lists[] = {&o->controllers, &o->disabled};
  for (size_t l = 0; l < 2; l++)
    for (size_t i = 0; i < lists[l]->n; i++) {
      bool known = false;
      for (size_t c = 0; c < ARRAY_SIZE(known_controllers); c++)
        known |= !strcmp(lists[l]->items[i], known_controllers[c]);
      if (!known) {
        code = cli_usage_error(&spec,
                               "unknown controller '%s' (known: infrastructure, controlplane, "
                               "worker, healthcheck, heartbeat).",
                               lists[l]->items[i]);
        goto out;
      }
    }
  for (size_t c = 0; c < ARRAY_SIZE(known_controllers); c++) {
    bool impl = false;
    for (size_t i = 0; i < ARRAY_SIZE(implemented); i++)
      impl |= !strcmp(known_controllers[c], implemented[i]);
    if (!impl && o->controllers.n && cli_list_has(&o->controllers, known_controllers[c]) &&
        !cli_list_has(&o->disabled, known_controllers[c]))
      log_warn("this controller is not part of this version yet and does not run", "controller",
               known_controllers[c], NULL);
  }
  if (o->poll_slow < 0 || o->poll_fast < 1 || o->infra_conc < 1 || o->hb_interval < 1 ||
      o->hc_period < 1 || o->metal.rps < 1 || o->metal.burst < 1 || o->snapshot_every < 1) {
    code = cli_usage_error(
        &spec, "concurrency, rates, intervals and --journal-snapshot-every must be at least 1.");
    goto out;
  }
  if (o->retention_age && *o->retention_age) {
    char *end;
    double h = strtod(o->retention_age, &end);
    if (end == o->retention_age || *end || !(h > 0) || !(h <= 876000)) { /* also NaN, inf */
      code = cli_usage_error(
          &spec,
          "--journal-retention-hours must be a positive number of hours up to 876000 "
          "(100 years), not '%s'.",
          o->retention_age);
      goto out;
    }
  }
  if (o->retention_mb < 0 || o->retention_mb > 1048576L * 1024) { /* MiB → bytes must fit */
    code = cli_usage_error(
        &spec, "--journal-retention-megabytes must be between 0 and 1073741824, not %ld.",
        o->retention_mb);
    goto out;
  }
  if (o->config_file && *o->config_file && access(o->config_file, R_OK) != 0) {
    code = cli_usage_error(&spec, "--config-file %s cannot be read.", o->config_file);
    goto out;
  }
  {
    struct eng_error err;
    if (client_connection(o, &err) != ENG_OK) {
      code = cli_usage_error(&spec, "%s", err.msg);
      goto out;
    }
  }
  for (size_t i = 0; i < nplugins; i++) {
    struct eng_error err;
    eng_error_clear(&err);
    if (plugins[i].check && plugins[i].check(plugins[i].self, &err) != ENG_OK) {
      code = cli_usage_error(&spec, "%s", err.msg);
      goto out;
    }
  }
  {
    /* Bind addresses are checked now, not after the API client and the journal are set up. */
    struct httpd_addr probe;
    struct eng_error err;
    if (httpd_addr_parse("--metrics-bind-address", o->metrics_addr, ":8080", &probe, &err) !=
            ENG_OK ||
        httpd_addr_parse("--health-bind-address", o->health_addr, ":8081", &probe, &err) !=
            ENG_OK) {
      code = cli_usage_error(&spec, "%s", err.msg);
      goto out;
    }
  }
  if (!o->le_id || !*o->le_id)
    o->le_id = "provider-equinix-metal-leader-election";
  a.plugins = plugins;
  a.nplugins = nplugins;
  a.loop = ev_default_loop(EVFLAG_AUTO);
  const struct ctlproc_opts po = {CMD, action_finished, gauges, 0., 5., running, &a};
  ctlproc_init(&a.p, a.loop, &po);
  /* /readyz waits for the first lists in this order; a signal stops the watches. */
  struct kube_informer **watches[] = {&a.inf_cluster, &a.inf_infra,  &a.inf_secret, &a.inf_worker,
                                      &a.inf_mcm[0],  &a.inf_mcm[1], &a.inf_mcm[2], &a.inf_mr,
                                      &a.inf_ccm,     &a.inf_cp};
  for (size_t i = 0; i < ARRAY_SIZE(watches); i++)
    ctlproc_watch(&a.p, watches[i]);
  code = setup_and_run(&a);
  teardown(&a, code);
out:
  cli_list_free(&o->controllers);
  cli_list_free(&o->disabled);
  free(all);
  return code;
}
