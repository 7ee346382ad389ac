/*
 * definition.h - what a provider hands the admission framework: its webhooks
 * (name, path, which apiserver calls it, the object types it is registered for
 * and the functions that decide), the names its registrations and certificate
 * use, and how its configuration is loaded. The server dispatches by path from
 * this table and registration builds the webhook configurations from it; the
 * framework itself knows no provider (the composition root, main.c, passes the
 * table in).
 *
 * One admission request goes: needs (from the request alone: allow it unchanged,
 * deny it, or name the context to fetch), the fetch (context.h), then mutate (a
 * private copy of the object, edited in place; the server answers with the
 * JSONPatch to it) or validate (field errors deny, warnings are passed on).
 * needs, mutate and validate are pure: no I/O, no clock.
 */
#ifndef EQXM_WEBHOOK_DEFINITION_H
#define EQXM_WEBHOOK_DEFINITION_H

#include "engine/base/common.h"
#include "engine/base/cli.h"
#include "engine/base/err.h"
#include "admission.h"
#include "fielderr.h"

#include <jansson.h>

/* Context a webhook may need before it answers (bit mask). */
#define WH_NEED_CLUSTER       1u /* the Cluster named after the object's namespace */
#define WH_NEED_INFRA         2u /* the shoot's Infrastructure (implies the Cluster) */
#define WH_NEED_CLOUDPROVIDER 4u /* the checksum of Secret "cloudprovider" in the namespace */
#define WH_NEED_CLOUDPROFILE  8u /* the CloudProfile named in wh_needs (garden) */

enum wh_target {
  WH_TARGET_SEED,  /* the seed's apiserver (control planes in shoot namespaces) */
  WH_TARGET_SHOOT, /* a shoot's apiserver (registered through a ManagedResource) */
  WH_TARGET_GARDEN /* the garden cluster's apiserver (provider admission) */
};

struct wh_type {
  const char *group, *version, *kind, *resource;
};

/* What a webhook decided from the request alone. Zeroed by the server before the call. */
struct wh_needs {
  unsigned what;                 /* WH_NEED_* bits to fetch before mutate/validate */
  const char *cloudprofile_kind; /* WH_NEED_CLOUDPROFILE: "CloudProfile" or */
  const char *cloudprofile_name; /*   "NamespacedCloudProfile" and its name (borrowed) */
  bool allow;                    /* not for this webhook: allow unchanged */
  const char *deny;              /* deny (403) with this sentence (static storage) */
};

/* The fetched context and the provider's configuration. Borrowed during the call. */
struct wh_context {
  const json_t *cluster;              /* WH_NEED_CLUSTER / WH_NEED_INFRA, else NULL */
  const json_t *infrastructure;       /* WH_NEED_INFRA, else NULL */
  const char *cloudprovider_checksum; /* WH_NEED_CLOUDPROVIDER, else NULL */
  const json_t *cloudprofile_spec;    /* WH_NEED_CLOUDPROFILE (spec, or a namespaced one's
                                         status.cloudProfileSpec), else NULL */
  const void *config;                 /* what wh_set.config_load made, or NULL */
};

typedef void (*wh_needs_fn)(const struct admission_request *req, struct wh_needs *out);
/* ENG_OK (obj may or may not have changed) or an error whose message is the denial. */
typedef enum eng_err (*wh_mutate_fn)(json_t *obj, const struct admission_request *req,
                                     const struct wh_context *ctx, struct eng_error *err);
typedef void (*wh_validate_fn)(const struct admission_request *req, const struct wh_context *ctx,
                               struct fielderr_list *errs, json_t *warnings);

struct wh_def {
  const char *name; /* "controlplane": the --disable-webhooks switch and "<name><name_suffix>" */
  const char *path; /* "/controlplane" */
  enum wh_target target;
  bool validating;
  const struct wh_type *types;
  size_t ntypes;
  const char *ns_selector_key; /* matchExpressions key In [ns_selector_value], or NULL */
  const char *ns_selector_value;
  const char *obj_selector_key; /* matchLabels {key: value}, or NULL */
  const char *obj_selector_value;
  const char *failure_policy; /* "Fail" or "Ignore" */
  wh_needs_fn needs;          /* NULL = needs nothing */
  wh_mutate_fn mutate;        /* mutating webhooks */
  wh_validate_fn validate;    /* validating webhooks */
};

struct wh_set {
  const char *extension_name; /* Service, certificate and configuration names */
  const char *provider_type;  /* shoot namespaces: label shoot.gardener.cloud/provider */
  const char *name_suffix;    /* webhook names: "<def name><suffix>" */
  const struct wh_def *defs;
  size_t ndefs;
  /* More options of the provider's webhooks (terminated by {0}; NULL = none). They store into the
   * provider's own variables, which config_load reads. */
  const struct cli_opt *options;
  const char *config_help; /* help line of --config-file */
  /* The provider's configuration from --config-file (path "" or NULL = none given): *out is
   * handed to every mutate/validate as ctx->config. ENG_CONFIG with a sentence naming the file. */
  enum eng_err (*config_load)(const char *path, void **out, struct eng_error *err);
  void (*config_free)(void *cfg);
};

const struct wh_def *wh_set_by_path(const struct wh_set *set, const char *path);
const struct wh_def *wh_set_by_name(const struct wh_set *set, const char *name);
/* The webhook is registered for this group/version/kind (matchPolicy Exact). */
bool wh_def_has_kind(const struct wh_def *d, const char *group, const char *version,
                     const char *kind);
/* "controlplane, seedprovider, shoot, validator" (caller frees). */
char *wh_set_names(const struct wh_set *set);

#endif
