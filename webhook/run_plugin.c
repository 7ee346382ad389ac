/*
 * run_plugin.c - the webhook server embedded in `run`.
 */
#include "engine/base/common.h"
#include "run_plugin.h"
#include "cli_options.h"
#include "engine/act/exec_inflight.h"
#include "engine/act/executor.h"
#include "engine/obs/health.h"
#include "engine/kube/client.h"
#include "engine/kube/kubeconfig.h"
#include "server.h"
#include "engine/base/xalloc.h"

#include <string.h>

struct wh_plugin {
  const struct wh_set *set;
  struct webhook_cli cli;
  bool initialised;
  struct kube_client *seed, *garden;
  struct webhook_server *srv;
  struct health *health;
  struct exec_inflight_list calls; /* "webhook.shoot-webhooks" actions in flight */
};

/* One "webhook.shoot-webhooks" action: create or update the ManagedResource of a shoot. */
struct shoot_call {
  struct exec_inflight fl;
  struct wh_shoot_hooks *h;
};

static struct wh_plugin self;

static const struct cli_opt *wh_options(void *ud) {
  struct wh_plugin *p = ud;
  if (!p->initialised) {
    webhook_cli_init(&p->cli, p->set);
    p->initialised = true;
  }
  return p->cli.opts;
}

static enum eng_err wh_check(void *ud, struct eng_error *err) {
  struct wh_plugin *p = ud;
  return webhook_cli_finish(&p->cli, err);
}

static bool wh_disabled(void *ud) {
  struct wh_plugin *p = ud;
  return cli_list_has(&p->cli.o.disabled, "*");
}

static enum eng_err wh_ready(void *ud, struct eng_error *err) {
  struct wh_plugin *p = ud;
  if (p->srv && webhook_server_ready(p->srv))
    return ENG_OK;
  return eng_error_set(err, ENG_UNAVAILABLE,
                       "the webhook server is not listening or not registered yet");
}

static enum eng_err wh_start(void *ud, struct ev_loop *loop, const struct kube_config *seed,
                             const char *config_file, struct health *health,
                             struct eng_error *err) {
  struct wh_plugin *p = ud;
  if (config_file && *config_file)
    p->cli.o.config_file = config_file;
  p->seed = webhook_kube_client(loop, seed, NULL, "seed", err);
  if (!p->seed)
    return err->code;
  if (p->cli.garden_kubeconfig && *p->cli.garden_kubeconfig) {
    p->garden = webhook_kube_client(loop, NULL, p->cli.garden_kubeconfig, "garden", err);
    if (!p->garden)
      return err->code;
  }
  enum eng_err rc = webhook_server_start(loop, &p->cli.o, p->seed, p->garden, &p->srv, err);
  if (rc)
    return rc;
  p->health = health;
  return health_add_check(health, HEALTH_READYZ, "webhook-server", wh_ready, p, err);
}

static void shoot_done(void *ud, enum eng_err rc, const json_t *obj, const struct eng_error *err) {
  (void)obj;
  struct shoot_call *c = ud;
  if (rc == ENG_OK) {
    exec_inflight_ok(&c->fl, NULL);
  } else {
    struct eng_error e;
    if (err)
      e = *err;
    else
      eng_error_set(&e, rc, "%s", eng_strerror(rc));
    exec_inflight_fail(&c->fl, &e, NULL, eng_err_retryable(rc));
  }
  free(c);
}

/* "webhook.shoot-webhooks" (target: the ManagedResource extension-controlplane-shoot-webhooks of a
 * shoot namespace): ship the shoot webhook configuration (an empty one when the shoot webhooks are
 * disabled) in that namespace, creating the ManagedResource and its Secret when missing. */
static void shoot_start(void *ud, struct exec_call *call, const struct action *a, bool resolving) {
  (void)resolving; /* applies are idempotent */
  struct wh_plugin *p = ud;
  if (!p->srv || !p->seed || !a->ns || !*a->ns) {
    struct eng_error e;
    eng_error_set(&e, ENG_UNAVAILABLE,
                  "the webhook server is not running; the shoot webhooks of "
                  "%s cannot be shipped yet",
                  a->ns ? a->ns : "?");
    executor_fail(call, &e, NULL, true);
    return;
  }
  struct shoot_call *c = xcalloc(1, sizeof(*c));
  exec_inflight_link(&p->calls, &c->fl, call, c);
  json_t *cfg = webhook_server_shoot_webhook_config(p->srv);
  c->h = webhook_shoot_webhooks_reconcile(p->set, p->seed, a->ns, cfg, true, shoot_done, c);
  json_decref(cfg);
}

static void wh_register_actions(void *ud, struct executor *x) {
  executor_handle(x, "webhook.shoot-webhooks", shoot_start, ud);
}

static void wh_stop(void *ud) {
  struct wh_plugin *p = ud;
  struct shoot_call *c;
  while ((c = exec_inflight_pop(&p->calls))) {
    webhook_shoot_webhooks_cancel(c->h);
    free(c);
  }
  if (p->health)
    health_remove_check(p->health, HEALTH_READYZ, "webhook-server");
  webhook_server_free(p->srv);
  kube_client_free(p->garden);
  kube_client_free(p->seed);
  if (p->initialised)
    webhook_cli_release(&p->cli);
  const struct wh_set *set = p->set;
  memset(p, 0, sizeof(*p));
  p->set = set;
}

static const struct run_plugin plugin = {.name = "webhook-server",
                                         .options = wh_options,
                                         .check = wh_check,
                                         .disabled = wh_disabled,
                                         .start = wh_start,
                                         .stop = wh_stop,
                                         .self = &self,
                                         .register_actions = wh_register_actions};

const struct run_plugin *webhook_run_plugin(const struct wh_set *set) {
  self.set = set;
  return &plugin;
}
