/*
 * server.c - the webhook server: routes, admission handling, registration.
 *
 * One admission request: find the webhook by path in the provider's table;
 * decode the review; refuse kinds the webhook is not registered for (400 in the
 * review, as the Go handler does); let DELETE/CONNECT and objects being deleted
 * through; ask the webhook what it needs (allow, deny, or context); fetch that
 * context (context.h); run the pure mutation on a copy and answer with the
 * JSONPatch from the admitted object to the copy, or run the validation; deny
 * (403) with the webhook's sentence.
 */
#include "engine/base/common.h"
#include "engine/base/clock.h"
#include "engine/obs/metrics_std.h"
#include "server.h"

#include "admission.h"
#include "certmgr.h"
#include "context.h"
#include "definition.h"
#include "fielderr.h"
#include "jsonpatch.h"
#include "kobj.h"
#include "engine/kube/client.h"
#include "engine/kube/status.h"
#include "engine/net/httpd.h"
#include "engine/net/tls.h"
#include "engine/base/log.h"
#include "registration.h"
#include "engine/base/xalloc.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct kube_resource res_vwc = {"admissionregistration.k8s.io", "v1",
                                             "validatingwebhookconfigurations",
                                             "ValidatingWebhookConfiguration", false};
static const struct kube_resource res_managed_resource = {
    "resources.gardener.cloud", "v1alpha1", "managedresources", "ManagedResource", true};

struct webhook_server {
  struct ev_loop *loop;
  struct kube_client *seed, *garden;
  /* options, copied */
  const struct wh_set *set;
  char *host, *ns, *owner_ns, *url, *cert_dir, *mode;
  long port, service_port;
  bool register_validator;
  bool *enabled; /* per set->defs[] entry */
  void *cfg;     /* the provider's configuration */
  /* parts */
  struct wh_certmgr *certs;
  struct tls_server *tls;
  struct httpd *http;
  struct wh_ctx_cache *cache;
  /* registration */
  char *owner_uid;
  struct kube_call *reg_call;
  struct wh_apply *reg_apply;
  struct wh_shoot_hooks *reg_shoot;
  json_t *reg_namespaces; /* shoot namespaces still to refresh */
  int reg_step;
  int reg_doing;  /* the step whose asynchronous call is running */
  bool reg_again; /* the CA changed while registering: run again */
  bool registered;
  bool certs_ready;
  ev_timer reg_timer;
  double reg_backoff;
};

struct pending {
  struct webhook_server *s;
  struct httpd_exchange *x;
  const struct wh_def *def;
  struct admission_request req;
  struct wh_fetch *fetch;
  int64_t started_ms; /* monotonic, for the request duration metric */
};

/* ---- options ------------------------------------------------------------------------------- */

void webhook_options_init(struct webhook_options *o, const struct wh_set *set) {
  memset(o, 0, sizeof(*o));
  o->set = set;
  o->server_host = "";
  o->server_port = WH_DEFAULT_PORT;
  o->cert_dir = WH_DEFAULT_CERT_DIR;
  o->mode = "";
  o->max_body_bytes = 8 * 1024 * 1024;
  o->max_connections = 1024;
  o->read_timeout = 10;
  o->idle_timeout = 90;
  o->cert_check_interval = 3600;
  o->cache_ttl_ms = 5000;
}

enum eng_err webhook_options_check(struct webhook_options *o, struct eng_error *err) {
  if (!o->mode || !*o->mode)
    o->mode = WH_MODE_SERVICE;
  if (strcmp(o->mode, WH_MODE_URL) && strcmp(o->mode, WH_MODE_SERVICE) &&
      strcmp(o->mode, WH_MODE_URL_SERVICE))
    return eng_error_set(err, ENG_USAGE,
                         "--webhook-config-mode must be url, service or url-service, not \"%s\"",
                         o->mode);
  if (!strcmp(o->mode, WH_MODE_URL) && (!o->url || !*o->url))
    return eng_error_set(err, ENG_USAGE,
                         "--webhook-config-mode=url needs --webhook-config-url (host:port)");
  if (o->server_port < 0 || o->server_port > 65535)
    return eng_error_set(err, ENG_USAGE,
                         "--webhook-config-server-port must be between 0 and 65535");
  if (o->service_port < 0 || o->service_port > 65535)
    return eng_error_set(err, ENG_USAGE,
                         "--webhook-config-service-port must be between 0 and 65535");
  if (!o->owner_ns || !*o->owner_ns)
    o->owner_ns = o->ns;
  for (size_t i = 0; i < o->disabled.n; i++) {
    const char *n = o->disabled.items[i];
    if (strcmp(n, "*") && !wh_set_by_name(o->set, n)) {
      char *known = wh_set_names(o->set);
      eng_error_set(err, ENG_USAGE,
                    "--disable-webhooks: cannot disable unknown webhook \"%s\" (known: %s, or * "
                    "for all)",
                    n, known);
      free(known);
      return ENG_USAGE;
    }
  }
  if (o->max_body_bytes < 1024 || o->max_body_bytes > 64L * 1024 * 1024)
    return eng_error_set(err, ENG_USAGE,
                         "--webhook-max-request-bytes must be between 1024 and 67108864");
  if (o->max_connections < 1 || o->max_connections > 100000)
    return eng_error_set(err, ENG_USAGE, "--webhook-max-connections must be between 1 and 100000");
  if (o->read_timeout <= 0 || o->idle_timeout <= 0 || o->cert_check_interval <= 0)
    return eng_error_set(err, ENG_USAGE, "webhook timeouts and intervals must be positive");
  if (!o->cert_dir || !*o->cert_dir)
    return eng_error_set(err, ENG_USAGE, "--webhook-config-cert-dir must name a directory");
  return ENG_OK;
}

/* ---- responses ----------------------------------------------------------------------------- */

/* The body of the HTTP server's own refusals (malformed requests, overload): a metav1.Status. */
static char *status_body(int status, const char *reason, const char **content_type) {
  *content_type = "application/json";
  return kube_status_json(status, reason);
}

static void respond_json(struct httpd_exchange *x, int status, char *body) {
  httpd_respond(x, status, "application/json", body, strlen(body), NULL);
  free(body);
}

static void respond_status(struct httpd_exchange *x, int status, const char *message,
                           const char *extra) {
  char *body = kube_status_json(status, message);
  httpd_respond(x, status, "application/json", body, strlen(body), extra);
  free(body);
}

static void pending_free(struct pending *p) {
  admission_request_release(&p->req);
  free(p);
}

static void describe(const struct pending *p, char *out, size_t n) {
  snprintf(out, n, "%s%s%s/%s", p->req.kind, *p->req.ns ? " " : "", p->req.ns, p->req.name);
}

/* eqxm_webhook_requests_total and eqxm_webhook_request_duration_seconds, at the two exits. */
static void count(const struct pending *p, const char *result) {
  const char *name = p->def ? p->def->name : "";
  metrics_counter_inc(metrics_std.webhook_requests_total,
                      (const char *const[]){name, p->req.operation, result}, 1);
  metrics_histogram_observe(metrics_std.webhook_request_duration_seconds,
                            (const char *const[]){name},
                            (double)(clock_mono_ms() - p->started_ms) / 1000.0);
}

static void finish_deny(struct pending *p, int code, const char *msg) {
  count(p, code >= 500 ? "error" : "denied");
  char what[512];
  describe(p, what, sizeof(what));
  log_info("admission denied", "webhook", p->def ? p->def->name : "", "object", what, "operation",
           p->req.operation, "reason", msg, NULL);
  respond_json(p->x, 200, admission_response_deny(&p->req, code, msg));
  pending_free(p);
}

static void finish_allow(struct pending *p, const json_t *patch, const json_t *warnings) {
  count(p, patch && json_array_size(patch) > 0 ? "patched" : "allowed");
  if (patch && json_array_size(patch) > 0) {
    char what[512], ops[32];
    describe(p, what, sizeof(what));
    snprintf(ops, sizeof(ops), "%zu", json_array_size(patch));
    log_info("mutating resource", "webhook", p->def->name, "object", what, "operation",
             p->req.operation, "patchOperations", ops, NULL);
  }
  respond_json(p->x, 200, admission_response_allow(&p->req, patch, warnings));
  pending_free(p);
}

/* ---- mutation and validation --------------------------------------------------------------- */

static void run_webhook(struct pending *p, const struct wh_fetched *f) {
  const struct wh_context ctx = {
      .cluster = f ? f->cluster : NULL,
      .infrastructure = f ? f->infrastructure : NULL,
      .cloudprovider_checksum = f ? f->cloudprovider_checksum : NULL,
      .cloudprofile_spec = f ? f->cloudprofile_spec : NULL,
      .config = p->s->cfg,
  };
  if (p->def->validating) {
    struct fielderr_list errs = {0};
    json_t *warnings = json_array();
    if (p->def->validate)
      p->def->validate(&p->req, &ctx, &errs, warnings);
    if (errs.n > 0) {
      char *m = fielderr_message(&errs);
      finish_deny(p, 403, m);
      free(m);
    } else {
      finish_allow(p, NULL, warnings);
    }
    fielderr_release(&errs);
    json_decref(warnings);
    return;
  }
  if (!p->def->mutate) {
    finish_allow(p, NULL, NULL);
    return;
  }
  json_t *copy = json_deep_copy(p->req.object);
  struct eng_error err = {0};
  if (p->def->mutate(copy, &p->req, &ctx, &err) != ENG_OK) {
    json_decref(copy);
    finish_deny(p, 403, err.msg[0] ? err.msg : "the mutation failed");
    return;
  }
  json_t *patch = jsonpatch_diff(p->req.object, copy);
  json_decref(copy);
  finish_allow(p, patch, NULL);
  json_decref(patch);
}

static void on_fetched(void *ud, const struct wh_fetched *f) {
  struct pending *p = ud;
  p->fetch = NULL;
  if (f->failed) {
    finish_deny(p, 403, f->message);
    return;
  }
  run_webhook(p, f);
}

static void on_abort(void *ud) {
  struct pending *p = ud;
  wh_fetch_cancel(p->fetch);
  pending_free(p);
}

static void need_context(struct pending *p, unsigned needs, const char *cp_kind,
                         const char *cp_name) {
  if (!p->s->cache) {
    finish_deny(p, 500,
                "the webhook server has no access to the Kubernetes API (start it with "
                "--kubeconfig or inside a "
                "cluster), so it cannot read the objects this admission needs");
    return;
  }
  httpd_on_abort(p->x, on_abort, p);
  p->fetch = wh_fetch_start(p->s->cache, needs, p->req.ns, cp_kind, cp_name, on_fetched, p);
}

static void handle_admission(struct webhook_server *s, struct httpd_exchange *x,
                             const struct wh_def *def) {
  const struct httpreq *r = httpd_request_of(x);
  if (strcmp(r->method, "POST")) {
    respond_status(x, 405, "admission reviews are sent with POST", "Allow: POST\r\n");
    return;
  }
  if (strncasecmp(r->content_type, "application/json", 16) ||
      (r->content_type[16] && r->content_type[16] != ';' && r->content_type[16] != ' ')) {
    respond_status(x, 415, "admission reviews must have Content-Type application/json", NULL);
    return;
  }
  size_t len;
  const char *body = httpd_body(x, &len);
  struct pending *p = xcalloc(1, sizeof(*p));
  p->s = s;
  p->x = x;
  p->def = def;
  p->started_ms = clock_mono_ms();
  struct eng_error err = {0};
  if (admission_decode(body, len, &p->req, &err) != ENG_OK) {
    log_info("malformed admission review refused", "path", r->path, "peer", httpd_peer(x), "reason",
             err.msg, NULL);
    respond_status(x, 400, err.msg, NULL);
    pending_free(p);
    return;
  }
  if (!wh_def_has_kind(def, p->req.group, p->req.version, p->req.kind)) {
    char msg[512];
    snprintf(msg, sizeof(msg), "unexpected request kind %s%s%s, Kind=%s", p->req.group,
             *p->req.group ? "/" : "", p->req.version, p->req.kind);
    finish_deny(p, 400, msg);
    return;
  }
  bool writes = !strcmp(p->req.operation, "CREATE") || !strcmp(p->req.operation, "UPDATE");
  if (!writes || !p->req.object || kobj_deleting(p->req.object)) {
    finish_allow(p, NULL, NULL);
    return;
  }
  struct wh_needs needs = {0};
  if (def->needs)
    def->needs(&p->req, &needs);
  if (needs.allow) {
    finish_allow(p, NULL, NULL);
    return;
  }
  if (needs.deny) {
    finish_deny(p, 403, needs.deny);
    return;
  }
  if (needs.what) {
    need_context(p, needs.what, needs.cloudprofile_kind, needs.cloudprofile_name);
    return;
  }
  run_webhook(p, NULL);
}

static void handle(void *ud, struct httpd_exchange *x) {
  struct webhook_server *s = ud;
  const struct httpreq *r = httpd_request_of(x);
  if (!strcmp(r->path, "/healthz") || !strcmp(r->path, "/readyz")) {
    if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD")) {
      respond_status(x, 405, "use GET", "Allow: GET, HEAD\r\n");
      return;
    }
    bool ready = !strcmp(r->path, "/healthz") || webhook_server_ready(s);
    httpd_respond(x, ready ? 200 : 503, "text/plain; charset=utf-8", ready ? "ok\n" : "not ready\n",
                  ready ? 3 : 10, NULL);
    return;
  }
  const struct wh_def *def = wh_set_by_path(s->set, r->path);
  if (!def || !s->enabled[def - s->set->defs]) {
    respond_status(x, 404, "no webhook is served at this path", NULL);
    return;
  }
  handle_admission(s, x, def);
}

/* ---- registration -------------------------------------------------------------------------- */

static void registration_run(struct webhook_server *s);

static struct registration_params reg_params(const struct webhook_server *s) {
  struct registration_params p = {
      .set = s->set,
      .mode = s->mode,
      .url = s->url,
      .ns = s->ns,
      .service_port =
          s->service_port > 0 ? s->service_port : (s->port > 0 ? s->port : httpd_port(s->http)),
      .ca_bundle = wh_certmgr_ca_bundle(s->certs),
      .enabled = s->enabled,
      .owner_ns = s->owner_ns,
      .owner_ns_uid = s->owner_uid,
  };
  return p;
}

json_t *webhook_server_shoot_webhook_config(const struct webhook_server *s) {
  if (!s->certs_ready)
    return NULL;
  struct registration_params p = reg_params(s);
  return registration_build(WH_TARGET_SHOOT, &p);
}

static void reg_retry(struct webhook_server *s, const char *what, const char *msg) {
  log_error("webhook registration failed; retrying", "step", what, "error", msg, NULL);
  ev_timer_stop(s->loop, &s->reg_timer);
  ev_timer_set(&s->reg_timer, s->reg_backoff, 0.);
  ev_timer_start(s->loop, &s->reg_timer);
  s->reg_backoff = s->reg_backoff * 2 > 60 ? 60 : s->reg_backoff * 2;
  s->reg_step = 0;
}

enum reg_steps { REG_OWNER = 1, REG_SEED, REG_SHOOT_LIST, REG_SHOOT_EACH, REG_GARDEN, REG_DONE };

static void reg_next(struct webhook_server *s);

static void reg_applied(void *ud, enum eng_err rc, const json_t *obj, const struct eng_error *err) {
  (void)obj;
  struct webhook_server *s = ud;
  s->reg_apply = NULL;
  s->reg_shoot = NULL;
  /* A shoot namespace without the ManagedResource (yet) is fine: its ControlPlane creates it. */
  if (rc != ENG_OK && !(s->reg_doing == REG_SHOOT_EACH && rc == ENG_NOTFOUND)) {
    reg_retry(s,
              s->reg_doing == REG_GARDEN ? "validating webhook configuration"
              : s->reg_doing == REG_SEED ? "seed webhook configuration"
                                         : "shoot webhooks",
              err ? err->msg : eng_strerror(rc));
    return;
  }
  if (s->reg_doing == REG_SEED) {
    if (!s->registered) {
      char *name = registration_config_name(s->set, WH_TARGET_SEED);
      log_info("registered the webhooks", "configuration", name, NULL);
      free(name);
    }
    s->registered = true;
  }
  reg_next(s);
}

static void on_owner(void *ud, const struct kube_result *res) {
  struct webhook_server *s = ud;
  s->reg_call = NULL;
  free(s->owner_uid);
  s->owner_uid = NULL;
  if (res->err == ENG_OK) {
    const char *uid =
        json_string_value(json_object_get(json_object_get(res->body, "metadata"), "uid"));
    s->owner_uid = uid ? xstrdup(uid) : NULL;
  } else {
    log_warn("cannot read the owner namespace of the webhook configuration; registering without "
             "owner reference",
             "namespace", s->owner_ns, "error", res->error.msg, NULL);
  }
  reg_next(s);
}

static void on_shoot_namespaces(void *ud, const struct kube_result *res) {
  struct webhook_server *s = ud;
  s->reg_call = NULL;
  if (res->err != ENG_OK) {
    reg_retry(s, "list shoot namespaces", res->error.msg);
    return;
  }
  json_decref(s->reg_namespaces);
  s->reg_namespaces = json_array();
  size_t i;
  json_t *item;
  json_array_foreach(json_object_get(res->body, "items"), i, item) {
    const char *name =
        json_string_value(json_object_get(json_object_get(item, "metadata"), "name"));
    json_t *dts = json_object_get(json_object_get(item, "metadata"), "deletionTimestamp");
    if (name && (!dts || json_is_null(dts)))
      json_array_append_new(s->reg_namespaces, json_string(name));
  }
  reg_next(s);
}

/* Some webhook is registered in shoots: their ManagedResources carry the CA bundle. */
static bool shoot_webhooks_enabled(const struct webhook_server *s) {
  for (size_t i = 0; i < s->set->ndefs; i++)
    if (s->set->defs[i].target == WH_TARGET_SHOOT && s->enabled[i])
      return true;
  return false;
}

static void reg_next(struct webhook_server *s) {
  struct registration_params p = reg_params(s);
  for (;;) {
    s->reg_step++;
    s->reg_doing = s->reg_step;
    switch (s->reg_step) {
    case REG_OWNER:
      if (s->owner_ns && *s->owner_ns) {
        s->reg_call = kube_get(s->seed, &kube_res_namespace, NULL, s->owner_ns, on_owner, s);
        return;
      }
      continue;
    case REG_SEED: {
      p = reg_params(s);
      json_t *cfg = registration_build(WH_TARGET_SEED, &p);
      if (!cfg)
        continue;
      s->reg_apply = wh_apply_start(s->seed, &kube_res_mutating_webhook_configuration, cfg, true,
                                    NULL, reg_applied, s);
      json_decref(cfg);
      return;
    }
    case REG_SHOOT_LIST: {
      if (!shoot_webhooks_enabled(s))
        continue;
      char *sel = xasprintf("gardener.cloud/role=shoot,shoot.gardener.cloud/provider=%s",
                            s->set->provider_type);
      struct kube_list_opts lo = {.label_selector = sel};
      s->reg_call = kube_list(s->seed, &kube_res_namespace, NULL, &lo, on_shoot_namespaces, s);
      free(sel);
      return;
    }
    case REG_SHOOT_EACH: {
      if (!s->reg_namespaces || json_array_size(s->reg_namespaces) == 0)
        continue;
      char *ns = xstrdup(json_string_value(json_array_get(s->reg_namespaces, 0)));
      json_array_remove(s->reg_namespaces, 0);
      s->reg_step--; /* come back here for the next namespace */
      json_t *cfg = webhook_server_shoot_webhook_config(s);
      s->reg_shoot =
          webhook_shoot_webhooks_reconcile(s->set, s->seed, ns, cfg, false, reg_applied, s);
      json_decref(cfg);
      free(ns);
      return;
    }
    case REG_GARDEN: {
      if (!s->register_validator)
        continue;
      json_t *cfg = registration_build(WH_TARGET_GARDEN, &p);
      if (!cfg)
        continue;
      s->reg_apply = wh_apply_start(s->garden, &res_vwc, cfg, true, NULL, reg_applied, s);
      json_decref(cfg);
      return;
    }
    default:
      s->reg_step = 0;
      s->reg_backoff = 1;
      log_info("webhook registrations are up to date", NULL);
      if (s->reg_again) {
        s->reg_again = false;
        registration_run(s);
      }
      return;
    }
  }
}

static void registration_run(struct webhook_server *s) {
  if (!s->seed || !s->certs_ready)
    return;
  if (s->reg_step != 0) {
    s->reg_again = true; /* finish the current round first */
    return;
  }
  ev_timer_stop(s->loop, &s->reg_timer);
  reg_next(s);
}

static void on_reg_timer(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  registration_run(w->data);
}

/* ---- startup ------------------------------------------------------------------------------- */

static void on_certs_ready(void *ud, const char *ca_bundle, bool changed) {
  (void)ca_bundle;
  struct webhook_server *s = ud;
  if (!s->tls) {
    struct eng_error err = {0};
    if (tls_server_new(s->loop, s->cert_dir, &s->tls, &err) != ENG_OK) {
      log_error("cannot load the webhook serving certificate", "error", err.msg, NULL);
      return;
    }
    httpd_set_tls(s->http, s->tls);
    s->certs_ready = true;
    log_info("webhook server is serving TLS", "certDir", s->cert_dir, NULL);
  } else if (changed) {
    log_info("the webhook CA bundle changed; updating the registrations", NULL);
  }
  registration_run(s);
}

enum eng_err webhook_server_start(struct ev_loop *loop, const struct webhook_options *o,
                                  struct kube_client *seed, struct kube_client *garden,
                                  struct webhook_server **out, struct eng_error *err) {
  struct webhook_server *s = xcalloc(1, sizeof(*s));
  s->loop = loop;
  s->set = o->set;
  s->seed = seed;
  s->garden = garden ? garden : seed;
  s->host = xstrdup(o->server_host ? o->server_host : "");
  s->ns = o->ns && *o->ns ? xstrdup(o->ns) : NULL;
  s->owner_ns = o->owner_ns && *o->owner_ns ? xstrdup(o->owner_ns) : NULL;
  s->url = o->url ? xstrdup(o->url) : NULL;
  s->cert_dir = xstrdup(o->cert_dir);
  s->mode = xstrdup(o->mode && *o->mode ? o->mode : WH_MODE_SERVICE);
  s->port = o->server_port;
  s->service_port = o->service_port;
  s->register_validator = o->register_validator;
  s->reg_backoff = 1;
  ev_timer_init(&s->reg_timer, on_reg_timer, 0., 0.);
  s->reg_timer.data = s;
  bool all_off = cli_list_has(&o->disabled, "*");
  s->enabled = xcalloc(s->set->ndefs ? s->set->ndefs : 1, sizeof(*s->enabled));
  for (size_t i = 0; i < s->set->ndefs; i++)
    s->enabled[i] = !all_off && !cli_list_has(&o->disabled, s->set->defs[i].name);
  struct httpd_options hopts = {
      .tls = true,
      .max_body = (size_t)o->max_body_bytes,
      .read_timeout = o->read_timeout,
      .idle_timeout = o->idle_timeout,
      .max_conns = (size_t)o->max_connections,
      .error_body = status_body,
  };
  struct httpd_addr addr;
  *out = s;
  if (s->set->config_load && s->set->config_load(o->config_file, &s->cfg, err) != ENG_OK) {
    webhook_server_free(s);
    *out = NULL;
    return ENG_CONFIG;
  }
  if (httpd_addr_host_port(s->host, (int)o->server_port, &addr, err) != ENG_OK ||
      !(s->http = httpd_new(loop, "--webhook-config-server-host/port", &addr, &hopts, err))) {
    webhook_server_free(s);
    *out = NULL;
    return err->code ? err->code : ENG_IO;
  }
  httpd_route_async(s->http, "/", handle, s);
  char port[16];
  snprintf(port, sizeof(port), "%d", httpd_port(s->http));
  log_info("webhook server listening", "port", port, "mode", s->mode, NULL);
  if (seed)
    s->cache = wh_ctx_cache_new(seed, s->garden, o->cache_ttl_ms);
  struct wh_certmgr_opts co = {
      .cert_dir = s->cert_dir,
      .mode = s->mode,
      .url = s->url,
      .ns = s->ns,
      .service_name = s->set->extension_name,
      .kube = seed,
      .check_interval = o->cert_check_interval,
  };
  enum eng_err rc = wh_certmgr_start(loop, &co, on_certs_ready, s, &s->certs, err);
  if (rc == ENG_OK && (!s->ns || !seed) && !s->tls)
    rc = eng_error_set(err, ENG_CONFIG,
                       "the webhook serving certificate in %s cannot be used (see the log above)",
                       s->cert_dir);
  if (rc != ENG_OK) {
    webhook_server_free(s);
    *out = NULL;
    return rc;
  }
  return ENG_OK;
}

void webhook_server_free(struct webhook_server *s) {
  if (!s)
    return;
  httpd_free(s->http); /* aborts pending exchanges, which cancel their fetches */
  tls_server_free(s->tls);
  wh_ctx_cache_free(s->cache);
  wh_certmgr_free(s->certs);
  if (s->reg_call)
    kube_cancel(s->seed, s->reg_call);
  wh_apply_cancel(s->reg_apply);
  webhook_shoot_webhooks_cancel(s->reg_shoot);
  ev_timer_stop(s->loop, &s->reg_timer);
  json_decref(s->reg_namespaces);
  if (s->set->config_free)
    s->set->config_free(s->cfg);
  free(s->enabled);
  free(s->owner_uid);
  free(s->host);
  free(s->ns);
  free(s->owner_ns);
  free(s->url);
  free(s->cert_dir);
  free(s->mode);
  free(s);
}

int webhook_server_port(const struct webhook_server *s) {
  return s && s->http ? httpd_port(s->http) : 0;
}

bool webhook_server_ready(const struct webhook_server *s) {
  return s && s->certs_ready && (!s->seed || s->registered);
}

/* ---- shoot webhooks ManagedResource -------------------------------------------------------- */

struct wh_shoot_hooks {
  struct kube_client *c;
  json_t *secret, *mr;
  bool create;
  struct wh_apply *apply;
  struct kube_call *call;
  wh_apply_done_fn done;
  void *ud;
};

static void shoot_finish(struct wh_shoot_hooks *h, enum eng_err rc, const json_t *obj,
                         const struct eng_error *err) {
  h->apply = NULL;
  h->call = NULL;
  h->done(h->ud, rc, obj, err);
  json_decref(h->secret);
  json_decref(h->mr);
  free(h);
}

static void shoot_mr_done(void *ud, enum eng_err rc, const json_t *obj,
                          const struct eng_error *err) {
  shoot_finish(ud, rc, obj, err);
}

static void shoot_secret_done(void *ud, enum eng_err rc, const json_t *obj,
                              const struct eng_error *err) {
  (void)obj;
  struct wh_shoot_hooks *h = ud;
  h->apply = NULL;
  if (rc != ENG_OK) {
    shoot_finish(h, rc, NULL, err);
    return;
  }
  h->apply = wh_apply_start(h->c, &res_managed_resource, h->mr, true, NULL, shoot_mr_done, h);
}

static void shoot_mr_exists(void *ud, const struct kube_result *res) {
  struct wh_shoot_hooks *h = ud;
  h->call = NULL;
  if (res->err != ENG_OK) {
    /* Not there (or unreadable): nothing to update in this namespace. */
    shoot_finish(h, res->err, NULL, &res->error);
    return;
  }
  h->apply = wh_apply_start(h->c, &kube_res_secret, h->secret, true, NULL, shoot_secret_done, h);
}

struct wh_shoot_hooks *webhook_shoot_webhooks_reconcile(const struct wh_set *set,
                                                        struct kube_client *c, const char *ns,
                                                        const json_t *shoot_config,
                                                        bool create_if_missing,
                                                        wh_apply_done_fn done, void *ud) {
  struct wh_shoot_hooks *h = xcalloc(1, sizeof(*h));
  h->c = c;
  h->create = create_if_missing;
  h->done = done;
  h->ud = ud;
  if (!shoot_config) {
    /* The shoot webhook is disabled: there is nothing to ship. */
    char *name = registration_config_name(set, WH_TARGET_SHOOT);
    json_t *empty = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "admissionregistration.k8s.io/v1",
                              "kind", "MutatingWebhookConfiguration", "metadata", "name", name);
    free(name);
    json_object_set_new(empty, "webhooks", json_array());
    h->mr = registration_shoot_managed_resource(ns, empty, &h->secret);
    json_decref(empty);
  } else {
    h->mr = registration_shoot_managed_resource(ns, shoot_config, &h->secret);
  }
  if (create_if_missing)
    h->apply = wh_apply_start(c, &kube_res_secret, h->secret, true, NULL, shoot_secret_done, h);
  else
    h->call = kube_get(c, &res_managed_resource, ns, WH_SHOOT_MR_NAME, shoot_mr_exists, h);
  return h;
}

void webhook_shoot_webhooks_cancel(struct wh_shoot_hooks *h) {
  if (!h)
    return;
  wh_apply_cancel(h->apply);
  if (h->call)
    kube_cancel(h->c, h->call);
  json_decref(h->secret);
  json_decref(h->mr);
  free(h);
}
