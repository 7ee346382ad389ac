/*
 * registry.c - the table of webhooks (Go: the Types listed in the add.go files of
 * pkg/webhook/controlplane, controlplaneexposure and shoot, and Gardener's generic
 * controlplane and shoot webhook constructors).
 *
 * Differences from the Go registrations, on purpose: the controlplane webhook
 * also covers StatefulSets (the HA vpn-seed-server) and no longer covers
 * VerticalPodAutoscalers (only the machine-controller-manager VPA was touched);
 * the seedprovider webhook covers only Etcds (its Deployment registration
 * changed nothing).
 */
#include "engine/base/common.h"
#include "registry.h"

#include <string.h>

static const struct wh_type controlplane_types[] = {
    {"apps", "v1", "Deployment", "deployments"},
    {"apps", "v1", "StatefulSet", "statefulsets"},
    {"extensions.gardener.cloud", "v1alpha1", "OperatingSystemConfig", "operatingsystemconfigs"},
    {"", "v1", "ConfigMap", "configmaps"},
};

static const struct wh_type seedprovider_types[] = {
    {"druid.gardener.cloud", "v1alpha1", "Etcd", "etcds"},
};

static const struct wh_type shoot_types[] = {
    {"apps", "v1", "Deployment", "deployments"},
};

static const struct wh_type validator_types[] = {
    {"core.gardener.cloud", "v1beta1", "Shoot", "shoots"},
    {"core.gardener.cloud", "v1beta1", "CloudProfile", "cloudprofiles"},
};

const struct wh_def wh_defs[] = {
    {"controlplane", "/controlplane", WH_TARGET_SEED, false, controlplane_types,
     ARRAY_SIZE(controlplane_types), "shoot.gardener.cloud/provider", WH_PROVIDER_TYPE, NULL, NULL,
     "Fail", mutate_controlplane_needs, mutate_controlplane},
    {"seedprovider", "/seedprovider", WH_TARGET_SEED, false, seedprovider_types,
     ARRAY_SIZE(seedprovider_types), "seed.gardener.cloud/provider", WH_PROVIDER_TYPE, NULL, NULL,
     "Fail", mutate_seedprovider_needs, mutate_seedprovider},
    {"shoot", "/shoot", WH_TARGET_SHOOT, false, shoot_types, ARRAY_SIZE(shoot_types),
     "gardener.cloud/purpose", "kube-system", "app", "vpn-shoot", "Ignore", mutate_shoot_needs,
     mutate_shoot},
    {"validator", "/validate", WH_TARGET_GARDEN, true, validator_types, ARRAY_SIZE(validator_types),
     NULL, NULL, "provider.extensions.gardener.cloud/" WH_PROVIDER_TYPE, "true", "Fail", NULL,
     NULL},
};

const size_t wh_ndefs = ARRAY_SIZE(wh_defs);

const struct wh_def *wh_def_by_path(const char *path) {
  for (size_t i = 0; i < wh_ndefs; i++)
    if (!strcmp(wh_defs[i].path, path))
      return &wh_defs[i];
  return NULL;
}

const struct wh_def *wh_def_by_name(const char *name) {
  for (size_t i = 0; i < wh_ndefs; i++)
    if (!strcmp(wh_defs[i].name, name))
      return &wh_defs[i];
  return NULL;
}

bool wh_def_has_kind(const struct wh_def *d, const char *group, const char *version,
                     const char *kind) {
  for (size_t i = 0; i < d->ntypes; i++)
    if (!strcmp(d->types[i].group, group) && !strcmp(d->types[i].version, version) &&
        !strcmp(d->types[i].kind, kind))
      return true;
  return false;
}
