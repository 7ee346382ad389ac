/*
 * cmd.c - the `webhook` command: `webhook serve [options]`.
 */
#include "engine/base/common.h"
#include "cmd.h"

#include "engine/base/cli.h"
#include "engine/kube/client.h"
#include "engine/kube/kubeconfig.h"
#include "engine/base/log.h"
#include "cli_options.h"
#include "server.h"
#include "engine/base/xalloc.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD PROG_NAME " webhook"

static const struct wh_set *webhooks; /* what cmd_webhook() was given */

static void top_usage(FILE *out) {
  fprintf(out, "Usage: " CMD " serve [options]\n"
               "\n"
               "Run the admission webhook server of the extension on its own, with certificate\n"
               "management and registration. The controller runs the same server. Webhooks:\n");
  for (size_t i = 0; i < webhooks->ndefs; i++)
    fprintf(out, "  %-14s %s (%s)\n", webhooks->defs[i].path, webhooks->defs[i].name,
            webhooks->defs[i].validating ? "validating" : "mutating");
  fprintf(out, "\nRun '" CMD " serve --help' for the options.\n");
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents) {
  (void)revents;
  log_info("shutting down the webhook server", "signal",
           w->signum == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
  ev_break(loop, EVBREAK_ALL);
}

static int serve(int argc, char **argv) {
  struct webhook_cli w;
  webhook_cli_init(&w, webhooks);
  const char *kubeconfig = NULL, *log_level = "info", *log_format = "json";
  bool standalone = false;
  const struct cli_opt own[] = {
      {"kubeconfig", CLI_STRING, &kubeconfig, "PATH",
       "kubeconfig of the seed (default: KUBECONFIG, in-cluster, ~/.kube/config)", NULL},
      {"standalone", CLI_BOOL, &standalone, NULL,
       "serve without Kubernetes API access: no registration, local certificates; mutations that "
       "need cluster objects are denied",
       NULL},
      {"config-file", CLI_STRING, &w.o.config_file, "PATH",
       webhooks->config_help ? webhooks->config_help : "configuration of the webhooks", NULL},
      {"log-level", CLI_STRING, &log_level, "LEVEL", "debug, info, warn or error (default info)",
       NULL},
      {"log-format", CLI_STRING, &log_format, "FORMAT", "json or text (default json)", NULL},
  };
  struct cli_opt opts[ARRAY_SIZE(own) + ARRAY_SIZE(w.opts)];
  memcpy(opts, own, sizeof(own));
  memcpy(opts + ARRAY_SIZE(own), w.opts, sizeof(w.opts));
  const struct cli_spec spec = {
      .prog = CMD " serve",
      .usage = "[options]",
      .description =
          "Serve the admission webhooks over HTTPS until SIGTERM. With API access (the default) "
          "the\n"
          "serving certificate is kept in a Secret of --webhook-config-namespace and the webhook\n"
          "configurations are registered; with --standalone the certificate comes from (or is made "
          "in)\n"
          "--webhook-config-cert-dir and nothing is registered.",
      .opts = opts,
      .min_pos = 0,
      .max_pos = 0,
  };
  char **pos = xcalloc((size_t)argc + 1, sizeof(*pos));
  int npos = 0;
  int prc = cli_parse(&spec, argc, argv, &npos, pos);
  free(pos);
  if (prc) {
    webhook_cli_release(&w);
    return prc == CLI_HELP ? EXIT_OK : EXIT_USAGE;
  }
  int rc = EXIT_OK;
  enum log_level lvl;
  enum log_format fmt;
  if (log_parse_level(log_level, &lvl) || log_parse_format(log_format, &fmt)) {
    rc = cli_usage_error(
        &spec, "--log-level must be debug, info, warn or error and --log-format json or text");
    goto out;
  }
  log_setup(lvl, fmt, 2);
  struct eng_error err = {0};
  if (webhook_cli_finish(&w, &err) != ENG_OK) {
    rc = cli_usage_error(&spec, "%s", err.msg);
    goto out;
  }
  const char *garden_kubeconfig = w.garden_kubeconfig;
  struct webhook_options o = w.o;
  if (standalone && (kubeconfig || garden_kubeconfig || o.register_validator)) {
    rc = cli_usage_error(
        &spec, "--standalone cannot be combined with --kubeconfig, --garden-kubeconfig or "
               "--webhook-config-register-validator");
    goto out;
  }
  struct ev_loop *loop = ev_default_loop(0);
  struct kube_client *seed = NULL, *garden = NULL;
  if (!standalone) {
    seed = webhook_kube_client(loop, NULL, kubeconfig, "seed", &err);
    if (seed && garden_kubeconfig && *garden_kubeconfig)
      garden = webhook_kube_client(loop, NULL, garden_kubeconfig, "garden", &err);
    if (!seed || (garden_kubeconfig && *garden_kubeconfig && !garden)) {
      fprintf(stderr, CMD " serve: %s\n", err.msg);
      rc = EXIT_FAIL;
    }
  }
  /* The handlers are installed before the server says it listens, so a SIGTERM sent as soon
   * as "webhook server listening" is logged is a clean shutdown, not a kill. */
  ev_signal sigterm, sigint;
  ev_signal_init(&sigterm, on_signal, SIGTERM);
  ev_signal_init(&sigint, on_signal, SIGINT);
  ev_signal_start(loop, &sigterm);
  ev_signal_start(loop, &sigint);
  struct webhook_server *srv = NULL;
  if (rc == EXIT_OK && webhook_server_start(loop, &o, seed, garden, &srv, &err) != ENG_OK) {
    fprintf(stderr, CMD " serve: %s\n", err.msg);
    rc = EXIT_FAIL;
  }
  if (rc == EXIT_OK)
    ev_run(loop, 0);
  ev_signal_stop(loop, &sigterm);
  ev_signal_stop(loop, &sigint);
  webhook_server_free(srv);
  kube_client_free(garden);
  kube_client_free(seed);
  ev_loop_destroy(loop);
  log_forget_all_secrets();
out:
  webhook_cli_release(&w);
  return rc;
}

int cmd_webhook(const struct wh_set *set, int argc, char **argv) {
  webhooks = set;
  static const struct cli_subcommand subs[] = {{"serve", serve}, {NULL, NULL}};
  return cli_dispatch(CMD, "command", subs, top_usage, argc, argv);
}
