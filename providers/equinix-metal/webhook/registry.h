/*
 * registry.h - the webhooks this extension serves: name (the --disable-webhooks
 * switch), path, which cluster's apiserver calls it, the object types it is
 * registered for and the function that handles them. The server dispatches by
 * path from this table and registration builds the webhook configurations from it.
 */
#ifndef EQXM_WEBHOOK_REGISTRY_H
#define EQXM_WEBHOOK_REGISTRY_H

#include "engine/base/common.h"
#include "mutate.h"

#define WH_EXTENSION_NAME "gardener-extension-provider-equinix-metal"
#define WH_PROVIDER_TYPE  "equinixmetal"
#define WH_NAME_SUFFIX    ".equinix-metal.extensions.gardener.cloud"

enum wh_target {
  WH_TARGET_SEED,  /* the seed's apiserver (control planes in shoot namespaces) */
  WH_TARGET_SHOOT, /* a shoot's apiserver (registered through a ManagedResource) */
  WH_TARGET_GARDEN /* the garden cluster's apiserver (provider admission) */
};

struct wh_type {
  const char *group, *version, *kind, *resource;
};

struct wh_def {
  const char
      *name; /* "controlplane": webhook "controlplane.equinix-metal.extensions.gardener.cloud" */
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
  mutate_needs_fn needs;      /* mutating webhooks */
  mutate_fn mutate;
};

extern const struct wh_def wh_defs[];
extern const size_t wh_ndefs;

const struct wh_def *wh_def_by_path(const char *path);
const struct wh_def *wh_def_by_name(const char *name);
/* The webhook is registered for this group/version/kind (matchPolicy Exact). */
bool wh_def_has_kind(const struct wh_def *d, const char *group, const char *version,
                     const char *kind);

#endif
