/*
 * run_plugin.c - the webhook server embedded in `run`.
 */
#include "engine/base/common.h"
#include "run_plugin.h"
#include "cli_options.h"
#include "engine/obs/health.h"
#include "engine/kube/client.h"
#include "engine/kube/kubeconfig.h"
#include "server.h"

#include <string.h>

struct wh_plugin {
  const struct wh_set *set;
  struct webhook_cli cli;
  bool initialised;
  struct kube_client *seed, *garden;
  struct webhook_server *srv;
  struct health *health;
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

static void wh_stop(void *ud) {
  struct wh_plugin *p = ud;
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

static const struct run_plugin plugin = {"webhook-server", wh_options, wh_check, wh_disabled,
                                         wh_start,         wh_stop,    &self};

const struct run_plugin *webhook_run_plugin(const struct wh_set *set) {
  self.set = set;
  return &plugin;
}
