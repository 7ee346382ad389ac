/*
 * server.h - the admission webhook server, ready to embed: one call starts it on
 * a libev loop (certificates, HTTPS listener, registration), one call stops it.
 * `webhook serve` is a thin command around it. It serves the webhooks of the
 * table it is given (definition.h) at their paths, and /healthz and /readyz.
 *
 * Startup, all on the loop: the serving certificate is obtained (certmgr.h), then
 * the listener starts (a log line "webhook server listening" gives the port), then
 * the configurations are registered when an API client is given: the seed
 * MutatingWebhookConfiguration, the shoot webhooks ManagedResource of every shoot
 * namespace that already has one (new CA bundle), and, with
 * register_validator, the ValidatingWebhookConfiguration in the garden cluster.
 * Failed registrations are retried with backoff (1 s doubling to 60 s). When the
 * CA bundle changes later, registration runs again.
 */
#ifndef EQXM_WEBHOOK_SERVER_H
#define EQXM_WEBHOOK_SERVER_H

#include "engine/base/common.h"
#include "apply.h"
#include "engine/base/cli.h"
#include "engine/base/err.h"
#include "definition.h"

#include <jansson.h>

struct ev_loop;
struct kube_client;
struct webhook_server;

#define WH_DEFAULT_CERT_DIR "/tmp/gardener-extensions-cert"
#define WH_DEFAULT_PORT     443

struct webhook_options {
  const struct wh_set *set; /* the provider's webhooks (borrowed, must outlive the server) */
  const char *server_host;  /* --webhook-config-server-host ("" = all addresses) */
  long server_port;         /* --webhook-config-server-port (443; 0 = any free port) */
  long service_port;        /* --webhook-config-service-port (0 = the server port) */
  const char *ns;           /* --webhook-config-namespace / $WEBHOOK_CONFIG_NAMESPACE */
  const char *owner_ns;     /* --webhook-config-owner-namespace (default: ns) */
  const char *url;          /* --webhook-config-url (url mode: host:port) */
  const char *cert_dir;     /* --webhook-config-cert-dir */
  const char *mode;         /* --webhook-config-mode: url | service | url-service ("" = service) */
  struct cli_list disabled; /* --disable-webhooks: names of set->defs, or * */
  bool register_validator;  /* --webhook-config-register-validator: VWC in the garden cluster */
  const char *config_file;  /* --config-file: the provider's configuration (set->config_load) */
  long max_body_bytes;      /* --webhook-max-request-bytes (8 MiB) */
  long max_connections;     /* --webhook-max-connections (1024) */
  double read_timeout;      /* --webhook-read-timeout seconds (10) */
  double idle_timeout;      /* --webhook-idle-timeout seconds (90) */
  double cert_check_interval; /* --webhook-cert-check-interval seconds (3600) */
  long cache_ttl_ms;          /* context cache lifetime (5000) */
};

/* Defaults of the Go original (port 443, cert dir /tmp/gardener-extensions-cert, mode service ...)
 * for the webhooks of set. */
void webhook_options_init(struct webhook_options *o, const struct wh_set *set);
/* Check the combination; ENG_USAGE with a sentence naming the flag. Completes defaults (owner ns,
 * mode). */
enum eng_err webhook_options_check(struct webhook_options *o, struct eng_error *err) WARN_UNUSED;

/*
 * Start serving on loop. seed: API client of the seed (NULL = no registration and
 * no mutation that needs context; those are denied with a sentence saying why).
 * garden: client for CloudProfiles and the validating registration (NULL = seed).
 * Clients are borrowed and must outlive the server. Fails synchronously only on
 * configuration problems (config file, certificate directory, local certificates).
 */
enum eng_err webhook_server_start(struct ev_loop *loop, const struct webhook_options *o,
                                  struct kube_client *seed, struct kube_client *garden,
                                  struct webhook_server **out, struct eng_error *err) WARN_UNUSED;
void webhook_server_free(struct webhook_server *s);
/* The bound port once listening, else 0. */
int webhook_server_port(const struct webhook_server *s);
/* Listening, and (with an API client) the seed registration succeeded at least once. */
bool webhook_server_ready(const struct webhook_server *s);

/* The shoot-side MutatingWebhookConfiguration with the current CA bundle (new reference), or NULL
 * when the shoot webhook is disabled or the certificate is not there yet. */
json_t *webhook_server_shoot_webhook_config(const struct webhook_server *s);

/*
 * For the ControlPlane controller (the Go generic actuator does this on every
 * ControlPlane reconcile): create or update the Secret and the ManagedResource
 * extension-controlplane-shoot-webhooks in the shoot namespace ns so that the
 * shoot's apiserver gets shoot_config (NULL: an empty configuration, named after
 * set's extension). create_if_missing false only updates an
 * existing ManagedResource. done runs once (rc, the ManagedResource) unless canceled.
 */
struct wh_shoot_hooks;
struct wh_shoot_hooks *webhook_shoot_webhooks_reconcile(const struct wh_set *set,
                                                        struct kube_client *c, const char *ns,
                                                        const json_t *shoot_config,
                                                        bool create_if_missing,
                                                        wh_apply_done_fn done, void *ud);
void webhook_shoot_webhooks_cancel(struct wh_shoot_hooks *h);

#endif
