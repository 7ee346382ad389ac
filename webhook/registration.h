/*
 * registration.h - the webhook configuration objects (pure builders), from the
 * provider's table (definition.h); <ext> is its extension_name:
 *
 *   seed:   MutatingWebhookConfiguration <ext> (the seed-target webhooks),
 *           in the seed;
 *   shoot:  MutatingWebhookConfiguration <ext>-shoot (the shoot-target webhooks),
 *           shipped into every shoot inside the ManagedResource
 *           extension-controlplane-shoot-webhooks;
 *   garden: ValidatingWebhookConfiguration <ext>-admission (the garden-target
 *           webhooks), in the garden cluster (optional).
 * Every webhook: name "<name><name_suffix>", its failurePolicy, sideEffects
 * None, timeoutSeconds 10, matchPolicy Exact, admissionReviewVersions [v1,
 * v1beta1], rules CREATE/UPDATE per registered type, the label
 * remediation.webhook.shoot.gardener.cloud/exclude=true on the configuration.
 *
 * Client configuration by mode (Go BuildClientConfigFor):
 *   url          https://<url><path>
 *   service      service {namespace, name: gardener-extension-provider-equinix-metal, path, port}
 *   url-service  https://gardener-extension-provider-equinix-metal.<namespace>:<port><path>
 * Shoot webhooks use url-service unless the mode is url (a shoot's apiserver runs
 * in the seed, outside the extension's namespace, and cannot use a Service reference).
 * The Service is named <ext> in the extension's namespace.
 */
#ifndef EQXM_WEBHOOK_REGISTRATION_H
#define EQXM_WEBHOOK_REGISTRATION_H

#include "engine/base/common.h"
#include "definition.h"

#include <jansson.h>

#define WH_MODE_URL         "url"
#define WH_MODE_SERVICE     "service"
#define WH_MODE_URL_SERVICE "url-service"

#define WH_SHOOT_MR_NAME             "extension-controlplane-shoot-webhooks"
#define WH_LABEL_EXCLUDE_REMEDIATION "remediation.webhook.shoot.gardener.cloud/exclude"

struct registration_params {
  const struct wh_set *set; /* the provider's webhooks and names */
  const char *mode;         /* url | service | url-service */
  const char *url;          /* host[:port] for url mode */
  const char *ns;           /* the extension's namespace (service modes) */
  long service_port;        /* port of the Service (service modes) */
  const char *ca_bundle;    /* PEM of the CA(s) that sign the serving certificate; NULL = none */
  const bool *enabled;      /* per set->defs[] entry; NULL = all */
  const char *owner_ns;     /* owner reference to this Namespace (seed config), or NULL */
  const char *owner_ns_uid; /* its uid */
};

/* The name of the configuration for target (caller frees). */
char *registration_config_name(const struct wh_set *set, enum wh_target target);

/* The configuration for one target, or NULL when no enabled webhook has that target. */
json_t *registration_build(enum wh_target target, const struct registration_params *p);

/* The client configuration of one webhook path (exposed for tests). */
json_t *registration_client_config(const char *path, const char *mode,
                                   const struct registration_params *p);

/*
 * The Secret (*secret_out) and ManagedResource that ship the shoot configuration
 * into the shoot namespace ns: the Secret holds the configuration as YAML under
 * "<gvk>__<namespace>__<name>.yaml", is immutable and named
 * extension-controlplane-shoot-webhooks-<8 hex digits of its data checksum>, as
 * Gardener's managedresources.Create makes it.
 */
json_t *registration_shoot_managed_resource(const char *ns, const json_t *shoot_config,
                                            json_t **secret_out);

#endif
