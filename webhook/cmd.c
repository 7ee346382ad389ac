/*
 * cmd.c - the `webhook` command: `webhook serve [options]`.
 */
#include "common.h"
#include "cmd.h"

#include "cli.h"
#include "kube/client.h"
#include "kube/kubeconfig.h"
#include "log.h"
#include "server.h"
#include "xalloc.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD PROG_NAME " webhook"

static void top_usage(FILE *out) {
  fprintf(out,
          "Usage: " CMD " serve [options]\n"
          "\n"
          "Run the admission webhook server of the extension on its own: the mutating\n"
          "webhooks /controlplane, /seedprovider and /shoot, the validating webhook /validate,\n"
          "with certificate management and registration. The controller runs the same server.\n"
          "\n"
          "Run '" CMD " serve --help' for the options.\n");
}

static bool parse_seconds(const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || !(v > 0) || v > 86400)
    return false;
  *out = v;
  return true;
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents) {
  (void)revents;
  log_info("shutting down the webhook server", "signal",
           w->signum == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
  ev_break(loop, EVBREAK_ALL);
}

static struct kube_client *make_client(struct ev_loop *loop, const char *path, const char *what,
                                       int *rc) {
  struct kube_config cfg;
  struct eng_error err = {0};
  if (kube_config_load(path, NULL, &cfg, &err) != ENG_OK) {
    fprintf(stderr, CMD " serve: cannot configure the %s API client: %s\n", what, err.msg);
    kube_config_free(&cfg);
    *rc = EXIT_FAIL;
    return NULL;
  }
  struct kube_client *c = kube_client_new(loop, &cfg, NULL);
  kube_config_free(&cfg);
  /* An admission answer is due within 10 s: context reads must give up well before. */
  kube_client_set_timeout(c, 5000);
  kube_client_set_max_retries(c, 1);
  return c;
}

static int serve(int argc, char **argv) {
  struct webhook_options o;
  webhook_options_init(&o);
  const char *kubeconfig = NULL, *garden_kubeconfig = NULL, *log_level = "info",
             *log_format = "json";
  const char *read_timeout = "10", *idle_timeout = "90", *cert_interval = "3600", *cache_ttl = "5";
  bool standalone = false;
  long server_port = o.server_port;
  const struct cli_opt opts[] = {
      {"kubeconfig", CLI_STRING, &kubeconfig, "PATH",
       "kubeconfig of the seed (default: KUBECONFIG, in-cluster, ~/.kube/config)", NULL},
      {"garden-kubeconfig", CLI_STRING, &garden_kubeconfig, "PATH",
       "kubeconfig of the garden cluster, for CloudProfiles and the validating registration "
       "(default: the seed's)",
       "GARDEN_KUBECONFIG"},
      {"standalone", CLI_BOOL, &standalone, NULL,
       "serve without Kubernetes API access: no registration, local certificates; mutations that "
       "need cluster objects are denied",
       NULL},
      {"config-file", CLI_STRING, &o.config_file, "PATH",
       "ControllerConfiguration (etcd.storage.className/capacity for etcd-main)", NULL},
      {"webhook-config-server-host", CLI_STRING, &o.server_host, "HOST",
       "address to listen on (default: all)", NULL},
      {"webhook-config-server-port", CLI_INT, &server_port, "PORT",
       "port to listen on (default 443; 0 = any free port)", NULL},
      {"webhook-config-service-port", CLI_INT, &o.service_port, "PORT",
       "port of the Service in front of the server (default: the server port)", NULL},
      {"webhook-config-namespace", CLI_STRING, &o.ns, "NAMESPACE",
       "namespace of the extension (Service, certificate Secret)", "WEBHOOK_CONFIG_NAMESPACE"},
      {"webhook-config-owner-namespace", CLI_STRING, &o.owner_ns, "NAMESPACE",
       "namespace that owns the seed webhook configuration (default: --webhook-config-namespace)",
       NULL},
      {"webhook-config-url", CLI_STRING, &o.url, "HOST:PORT",
       "address the apiserver calls in url mode", NULL},
      {"webhook-config-cert-dir", CLI_STRING, &o.cert_dir, "DIR",
       "directory of tls.crt and tls.key (default " WH_DEFAULT_CERT_DIR ")", NULL},
      {"webhook-config-mode", CLI_STRING, &o.mode, "MODE",
       "how the apiserver reaches the webhooks: url, service or url-service (default service)",
       NULL},
      {"webhook-config-register-validator", CLI_BOOL, &o.register_validator, NULL,
       "register the ValidatingWebhookConfiguration in the garden cluster (default false)", NULL},
      {"disable-webhooks", CLI_LIST, &o.disabled, "NAMES",
       "webhooks not to serve: controlplane, seedprovider, shoot, validator, or *", NULL},
      {"metabot-image", CLI_STRING, &o.metabot_image, "IMAGE",
       "image of the metabot init container of vpn-shoot", NULL},
      {"webhook-max-request-bytes", CLI_INT, &o.max_body_bytes, "BYTES",
       "largest request body accepted (default 8388608)", NULL},
      {"webhook-max-connections", CLI_INT, &o.max_connections, "N",
       "connections served at once (default 1024)", NULL},
      {"webhook-read-timeout", CLI_STRING, &read_timeout, "SECONDS",
       "time a client has for the handshake, for each request and for taking each response "
       "(default 10)",
       NULL},
      {"webhook-idle-timeout", CLI_STRING, &idle_timeout, "SECONDS",
       "time a kept-alive connection may wait for its next request (default 90)", NULL},
      {"webhook-cert-check-interval", CLI_STRING, &cert_interval, "SECONDS",
       "how often the certificate Secret is checked for renewal (default 3600)", NULL},
      {"webhook-cache-ttl", CLI_STRING, &cache_ttl, "SECONDS",
       "how long Clusters, Infrastructures, Secret checksums and CloudProfiles read for admissions "
       "are reused (default "
       "5; 0 = always read)",
       NULL},
      {"log-level", CLI_STRING, &log_level, "LEVEL", "debug, info, warn or error (default info)",
       NULL},
      {"log-format", CLI_STRING, &log_format, "FORMAT", "json or text (default json)", NULL},
      {0}};
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
    cli_list_free(&o.disabled);
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
  o.server_port = server_port;
  if (!parse_seconds(read_timeout, &o.read_timeout) ||
      !parse_seconds(idle_timeout, &o.idle_timeout) ||
      !parse_seconds(cert_interval, &o.cert_check_interval)) {
    rc = cli_usage_error(&spec,
                         "timeouts and intervals are seconds greater than 0 (fractions allowed)");
    goto out;
  }
  char *end;
  double ttl = strtod(cache_ttl, &end);
  if (end == cache_ttl || *end || ttl < 0 || ttl > 3600) {
    rc = cli_usage_error(&spec, "--webhook-cache-ttl must be between 0 and 3600 seconds");
    goto out;
  }
  o.cache_ttl_ms = (long)(ttl * 1000);
  struct eng_error err = {0};
  if (webhook_options_check(&o, &err) != ENG_OK) {
    rc = cli_usage_error(&spec, "%s", err.msg);
    goto out;
  }
  if (standalone && (kubeconfig || garden_kubeconfig || o.register_validator)) {
    rc = cli_usage_error(
        &spec, "--standalone cannot be combined with --kubeconfig, --garden-kubeconfig or "
               "--webhook-config-register-validator");
    goto out;
  }
  struct ev_loop *loop = ev_default_loop(0);
  struct kube_client *seed = NULL, *garden = NULL;
  if (!standalone) {
    seed = make_client(loop, kubeconfig, "seed", &rc);
    if (seed && garden_kubeconfig && *garden_kubeconfig)
      garden = make_client(loop, garden_kubeconfig, "garden", &rc);
  }
  struct webhook_server *srv = NULL;
  if (rc == EXIT_OK && webhook_server_start(loop, &o, seed, garden, &srv, &err) != ENG_OK) {
    fprintf(stderr, CMD " serve: %s\n", err.msg);
    rc = EXIT_FAIL;
  }
  if (rc == EXIT_OK) {
    ev_signal sigterm, sigint;
    ev_signal_init(&sigterm, on_signal, SIGTERM);
    ev_signal_init(&sigint, on_signal, SIGINT);
    ev_signal_start(loop, &sigterm);
    ev_signal_start(loop, &sigint);
    ev_run(loop, 0);
    ev_signal_stop(loop, &sigterm);
    ev_signal_stop(loop, &sigint);
  }
  webhook_server_free(srv);
  kube_client_free(garden);
  kube_client_free(seed);
  ev_loop_destroy(loop);
  log_forget_all_secrets();
out:
  cli_list_free(&o.disabled);
  return rc;
}

int cmd_webhook(int argc, char **argv) {
  if (argc < 1) {
    top_usage(stderr);
    return EXIT_USAGE;
  }
  const char *sub = argv[0];
  if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
    top_usage(stdout);
    return EXIT_OK;
  }
  if (!strcmp(sub, "serve"))
    return serve(argc - 1, argv + 1);
  fprintf(stderr, CMD ": unknown command '%s' (serve).\nRun '" CMD " --help' for usage.\n", sub);
  return EXIT_USAGE;
}
