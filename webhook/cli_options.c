/*
 * cli_options.c - the webhook server's options, for `webhook serve` and `run`.
 */
#include "engine/base/common.h"
#include "cli_options.h"
#include "engine/kube/client.h"
#include "engine/kube/kubeconfig.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

void webhook_cli_init(struct webhook_cli *w, const struct wh_set *set) {
  memset(w, 0, sizeof(*w));
  webhook_options_init(&w->o, set);
  char *names = wh_set_names(set);
  w->disable_help = xasprintf("webhooks not to serve: %s, or *", names);
  free(names);
  w->server_port = w->o.server_port;
  w->read_timeout = "10";
  w->idle_timeout = "90";
  w->cert_interval = "3600";
  w->cache_ttl = "5";
  const struct cli_opt opts[] = {
      {"garden-kubeconfig", CLI_STRING, &w->garden_kubeconfig, "PATH",
       "kubeconfig of the garden cluster, for CloudProfiles and the validating registration "
       "(default: the seed's)",
       "GARDEN_KUBECONFIG"},
      {"webhook-config-server-host", CLI_STRING, &w->o.server_host, "HOST",
       "address the webhook server listens on (default: all)", NULL},
      {"webhook-config-server-port", CLI_INT, &w->server_port, "PORT",
       "port of the webhook server (default 443; 0 = any free port)", NULL},
      {"webhook-config-service-port", CLI_INT, &w->o.service_port, "PORT",
       "port of the Service in front of the server (default: the server port)", NULL},
      {"webhook-config-namespace", CLI_STRING, &w->o.ns, "NAMESPACE",
       "namespace of the extension (Service, certificate Secret)", "WEBHOOK_CONFIG_NAMESPACE"},
      {"webhook-config-owner-namespace", CLI_STRING, &w->o.owner_ns, "NAMESPACE",
       "namespace that owns the seed webhook configuration (default: --webhook-config-namespace)",
       NULL},
      {"webhook-config-url", CLI_STRING, &w->o.url, "HOST:PORT",
       "address the apiserver calls in url mode", NULL},
      {"webhook-config-cert-dir", CLI_STRING, &w->o.cert_dir, "DIR",
       "directory of tls.crt and tls.key (default " WH_DEFAULT_CERT_DIR ")", NULL},
      {"webhook-config-mode", CLI_STRING, &w->o.mode, "MODE",
       "how the apiserver reaches the webhooks: url, service or url-service (default service)",
       NULL},
      {"webhook-config-register-validator", CLI_BOOL, &w->o.register_validator, NULL,
       "register the ValidatingWebhookConfiguration in the garden cluster (default false)", NULL},
      {"disable-webhooks", CLI_LIST, &w->o.disabled, "NAMES", w->disable_help, NULL},
      {"webhook-max-request-bytes", CLI_INT, &w->o.max_body_bytes, "BYTES",
       "largest admission request body accepted (default 8388608)", NULL},
      {"webhook-max-connections", CLI_INT, &w->o.max_connections, "N",
       "webhook connections served at once (default 1024)", NULL},
      {"webhook-read-timeout", CLI_STRING, &w->read_timeout, "SECONDS",
       "time a client has for the handshake, each request and each response (default 10)", NULL},
      {"webhook-idle-timeout", CLI_STRING, &w->idle_timeout, "SECONDS",
       "time a kept-alive connection may wait for its next request (default 90)", NULL},
      {"webhook-cert-check-interval", CLI_STRING, &w->cert_interval, "SECONDS",
       "how often the certificate Secret is checked for renewal (default 3600)", NULL},
      {"webhook-cache-ttl", CLI_STRING, &w->cache_ttl, "SECONDS",
       "how long objects read for admissions are reused (default 5; 0 = always read)", NULL},
  };
  size_t n = 0;
  for (size_t i = 0; i < ARRAY_SIZE(opts) && n + 1 < ARRAY_SIZE(w->opts); i++)
    w->opts[n++] = opts[i];
  /* The provider's own options (e.g. an image its mutations put into objects). */
  for (const struct cli_opt *o = set->options; o && o->name && n + 1 < ARRAY_SIZE(w->opts); o++)
    w->opts[n++] = *o;
  w->opts[n] = (struct cli_opt){0};
}

static bool parse_seconds(const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || !(v > 0) || v > 86400)
    return false;
  *out = v;
  return true;
}

enum eng_err webhook_cli_finish(struct webhook_cli *w, struct eng_error *err) {
  w->o.server_port = w->server_port;
  if (!parse_seconds(w->read_timeout, &w->o.read_timeout) ||
      !parse_seconds(w->idle_timeout, &w->o.idle_timeout) ||
      !parse_seconds(w->cert_interval, &w->o.cert_check_interval))
    return eng_error_set(
        err, ENG_USAGE,
        "the webhook timeouts and intervals are seconds greater than 0 (fractions allowed)");
  char *end;
  double ttl = strtod(w->cache_ttl, &end);
  if (end == w->cache_ttl || *end || ttl < 0 || ttl > 3600)
    return eng_error_set(err, ENG_USAGE,
                         "--webhook-cache-ttl must be between 0 and 3600 seconds, not '%s'",
                         w->cache_ttl);
  w->o.cache_ttl_ms = (long)(ttl * 1000);
  return webhook_options_check(&w->o, err);
}

void webhook_cli_release(struct webhook_cli *w) {
  cli_list_free(&w->o.disabled);
  free(w->disable_help);
  w->disable_help = NULL;
}

struct kube_client *webhook_kube_client(struct ev_loop *loop, const struct kube_config *cfg,
                                        const char *path, const char *what, struct eng_error *err) {
  struct kube_config own;
  kube_config_init(&own);
  if (!cfg) {
    if (kube_config_load(path, NULL, &own, err) != ENG_OK) {
      eng_error_prefix(err, "cannot configure the %s API client", what);
      kube_config_free(&own);
      return NULL;
    }
    cfg = &own;
  }
  struct kube_client *c = kube_client_new(loop, cfg, NULL);
  kube_config_free(&own);
  /* An admission answer is due within 10 s: context reads must give up well before. */
  kube_client_set_timeout(c, 5000);
  kube_client_set_max_retries(c, 1);
  return c;
}
