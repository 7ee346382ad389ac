/*
 * registry.c - the table of webhooks (Go: the Types listed in the add.go files of
 * pkg/webhook/controlplane, controlplaneexposure and shoot, and Gardener's generic
 * controlplane and shoot webhook constructors), and the glue from the framework's
 * calls to the pure mutations (mutate.h) and validation (validate.h).
 *
 * Differences from the Go registrations, on purpose: the controlplane webhook
 * also covers StatefulSets (the HA vpn-seed-server);
 * the seedprovider webhook covers only Etcds (its Deployment registration
 * changed nothing).
 */
#include "engine/base/common.h"
#include "registry.h"

#include "config.h"
#include "mutate.h"
#include "validate.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

/* ---- configuration: the ControllerConfiguration file and --metabot-image ------------------- */

struct metal_webhook_config {
  struct wh_config file;
  char *metabot_image;
  char *machine_controller_image;
};

static const char *metabot_image = MUTATE_DEFAULT_METABOT_IMAGE;
static const char *machine_controller_image = MUTATE_DEFAULT_MACHINE_CONTROLLER_IMAGE;

static const struct cli_opt options[] = {
    {"metabot-image", CLI_STRING, &metabot_image, "IMAGE",
     "image of the metabot init container of vpn-shoot", NULL},
    {"machine-controller-image", CLI_STRING, &machine_controller_image, "IMAGE",
     "image of the machine controller sidecar injected into machine-controller-manager (this "
     "binary; default " MUTATE_DEFAULT_MACHINE_CONTROLLER_IMAGE ")",
     "MACHINE_CONTROLLER_IMAGE"},
    {0}};

static enum eng_err config_load(const char *path, void **out, struct eng_error *err) {
  struct metal_webhook_config *c = xcalloc(1, sizeof(*c));
  if (path && *path && wh_config_load(path, &c->file, err) != ENG_OK) {
    free(c);
    *out = NULL;
    return ENG_CONFIG;
  }
  c->metabot_image =
      xstrdup(metabot_image && *metabot_image ? metabot_image : MUTATE_DEFAULT_METABOT_IMAGE);
  c->machine_controller_image = xstrdup(machine_controller_image && *machine_controller_image
                                            ? machine_controller_image
                                            : MUTATE_DEFAULT_MACHINE_CONTROLLER_IMAGE);
  *out = c;
  return ENG_OK;
}

static void config_free(void *cfg) {
  struct metal_webhook_config *c = cfg;
  if (!c)
    return;
  wh_config_release(&c->file);
  free(c->metabot_image);
  free(c->machine_controller_image);
  free(c);
}

static struct mutate_ctx mutate_ctx_of(const struct wh_context *w) {
  const struct metal_webhook_config *c = w->config;
  return (struct mutate_ctx){
      .cluster = w->cluster,
      .infrastructure = w->infrastructure,
      .cloudprovider_checksum = w->cloudprovider_checksum,
      .etcd_class = c ? c->file.etcd_class : NULL,
      .etcd_capacity = c ? c->file.etcd_capacity : NULL,
      .metabot_image = c ? c->metabot_image : MUTATE_DEFAULT_METABOT_IMAGE,
      .machine_controller_image =
          c ? c->machine_controller_image : MUTATE_DEFAULT_MACHINE_CONTROLLER_IMAGE,
  };
}

/* ---- the framework's calls ------------------------------------------------------------------ */

#define MUTATOR(NAME)                                                                              \
  static void NAME##_needs(const struct admission_request *req, struct wh_needs *out) {            \
    out->what = mutate_##NAME##_needs(req);                                                        \
  }                                                                                                \
  static enum eng_err NAME##_mutate(json_t *obj, const struct admission_request *req,              \
                                    const struct wh_context *w, struct eng_error *err) {           \
    struct mutate_ctx ctx = mutate_ctx_of(w);                                                      \
    return mutate_##NAME(obj, req, &ctx, err);                                                     \
  }
MUTATOR(controlplane)
MUTATOR(seedprovider)
MUTATOR(shoot)

static void validator_needs(const struct admission_request *req, struct wh_needs *out) {
  if (!validate_applies(req)) {
    out->allow = true;
    return;
  }
  if (!strcmp(req->kind, "CloudProfile"))
    return;
  if (!validate_shoot_cloudprofile(req->object, &out->cloudprofile_kind, &out->cloudprofile_name)) {
    out->deny = "spec.cloudProfile: Required value: the Shoot must name its CloudProfile";
    return;
  }
  out->what = WH_NEED_CLOUDPROFILE;
}

static void validator_validate(const struct admission_request *req, const struct wh_context *w,
                               struct fielderr_list *errs, json_t *warnings) {
  if (!strcmp(req->kind, "CloudProfile")) {
    validate_cloudprofile(req->object, errs, warnings);
    return;
  }
  const char *kind, *name = NULL;
  validate_shoot_cloudprofile(req->object, &kind, &name);
  validate_shoot(req->object, w->cloudprofile_spec, name, errs, warnings);
}

/* ---- the table ------------------------------------------------------------------------------ */

static const struct wh_type controlplane_types[] = {
    {"apps", "v1", "Deployment", "deployments"},
    {"apps", "v1", "StatefulSet", "statefulsets"},
    {"autoscaling.k8s.io", "v1", "VerticalPodAutoscaler", "verticalpodautoscalers"},
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

static const struct wh_def defs[] = {
    {"controlplane", "/controlplane", WH_TARGET_SEED, false, controlplane_types,
     ARRAY_SIZE(controlplane_types), "shoot.gardener.cloud/provider", WH_PROVIDER_TYPE, NULL, NULL,
     "Fail", controlplane_needs, controlplane_mutate, NULL},
    {"seedprovider", "/seedprovider", WH_TARGET_SEED, false, seedprovider_types,
     ARRAY_SIZE(seedprovider_types), "seed.gardener.cloud/provider", WH_PROVIDER_TYPE, NULL, NULL,
     "Fail", seedprovider_needs, seedprovider_mutate, NULL},
    {"shoot", "/shoot", WH_TARGET_SHOOT, false, shoot_types, ARRAY_SIZE(shoot_types),
     "gardener.cloud/purpose", "kube-system", "app", "vpn-shoot", "Ignore", shoot_needs,
     shoot_mutate, NULL},
    {"validator", "/validate", WH_TARGET_GARDEN, true, validator_types, ARRAY_SIZE(validator_types),
     NULL, NULL, "provider.extensions.gardener.cloud/" WH_PROVIDER_TYPE, "true", "Fail",
     validator_needs, NULL, validator_validate},
};

static const struct wh_set set = {
    .extension_name = WH_EXTENSION_NAME,
    .provider_type = WH_PROVIDER_TYPE,
    .name_suffix = WH_NAME_SUFFIX,
    .defs = defs,
    .ndefs = ARRAY_SIZE(defs),
    .options = options,
    .config_help = "ControllerConfiguration (etcd.storage.className/capacity for etcd-main)",
    .config_load = config_load,
    .config_free = config_free,
};

const struct wh_set *metal_webhooks(void) { return &set; }
