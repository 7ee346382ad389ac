/*
 * controlplane.c - the ControlPlane actuator (pure): the steps of each
 * operation and the wait for deleted ManagedResources. The objects are built in
 * controlplane_manifests.c.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/controllers/controlplane.h"
#include "engine/base/jsonx.h"
#include "engine/base/sha256.h"
#include "engine/base/xalloc.h"
#include "providers/equinix-metal/controllers/controlplane_int.h"
#include "providers/equinix-metal/controllers/infrastructure.h"

#include <stdlib.h>
#include <string.h>

#define MR_WAIT_MS                    120000 /* Gardener waits up to 2 minutes for a deleted ManagedResource */
#define GENERIC_KUBECONFIG_ANNOTATION "generic-token-kubeconfig.secret.gardener.cloud/name"

static const char *str_or(const json_t *j, const char *path, const char *dflt) {
  const char *s = jsonx_str(j, path);
  return s ? s : dflt;
}

static const char *image(const struct ext_plan_in *in, const char *name, const char *dflt) {
  const char *s = json_string_value(json_object_get(json_object_get(in->config, "images"), name));
  return s && *s ? s : dflt;
}

/* A checksum of the credentials Secret as the journal holds it (values are digests), so it
 * changes whenever the credentials do; "" when the Secret was not observed. Caller frees. */
static char *credentials_checksum(const struct ext_plan_in *in, const char *secret) {
  const json_t *s = json_object_get(json_object_get(in->related, "/Secret"), secret);
  const json_t *data = json_object_get(s, "data");
  if (!json_is_object(data))
    return xstrdup("");
  char *canon = jsonx_canonical(data);
  char hex[SHA256_HEX_LEN + 1];
  sha256_hex(canon, strlen(canon), hex);
  free(canon);
  return xstrdup(hex);
}

static void add_apply(struct ext_step_list *steps, const char *step, const char *gk, json_t *o,
                      const char *reason) {
  json_t *p = json_object();
  json_object_set_new(p, "object", o);
  ext_steps_add_to_own(steps, step, "kube.apply", gk, jsonx_str(o, "metadata.namespace"),
                       jsonx_str(o, "metadata.name"), p, reason);
}

static void add_mr(struct ext_step_list *steps, const char *ns, const char *mr, bool seed,
                   json_t *objects, const char *what) {
  json_t *secret, *manifests, *m;
  cp_managed_resource(ns, mr, seed, objects, &secret, &manifests, &m);
  char *step = xasprintf("secret-%s", mr);
  char *reason = xasprintf("apply the Secret %s with the %zu object(s) of the ManagedResource %s "
                           "(%s)",
                           jsonx_str(secret, "metadata.name"), json_array_size(objects), mr, what);
  json_t *p = json_object();
  json_object_set_new(p, "object", secret);
  json_object_set_new(p, "manifests", manifests);
  ext_steps_add_to_own(steps, step, "kube.apply", "/Secret", ns, jsonx_str(secret, "metadata.name"),
                       p, reason);
  free(step);
  free(reason);
  step = xasprintf("managedresource-%s", mr);
  reason = xasprintf("apply the ManagedResource %s%s (%s)", mr, seed ? " of class seed" : "", what);
  add_apply(steps, step, MR_GK, m, reason);
  free(step);
  free(reason);
  json_decref(objects);
}

static enum eng_err plan_reconcile(const struct ext_plan_in *in, struct ext_step_list *steps,
                                   struct eng_error *err) {
  (void)err;
  const char *ns = str_or(in->obj, "metadata.namespace", "");
  bool hibernated = jsonx_bool(in->cluster, "spec.shoot.spec.hibernation.enabled", false);
  const char *gk = json_string_value(
      json_object_get(json_object_get(json_object_get(in->cluster, "metadata"), "annotations"),
                      GENERIC_KUBECONFIG_ANNOTATION));
  const char *creds = str_or(in->obj, "spec.secretRef.name", "cloudprovider");
  char *checksum = credentials_checksum(in, creds);
  struct cp_values v = {
      .ns = ns,
      .metro = str_or(in->obj, "spec.region", ""),
      .generic_kubeconfig = gk && *gk ? gk : "generic-token-kubeconfig",
      .credentials = creds,
      .checksum = checksum,
      .replicas = hibernated ? 0 : 1,
      .img_ccm = image(in, "cloud-controller-manager",
                       "europe-docker.pkg.dev/gardener-project/releases/3rd/equinix/"
                       "cloud-provider-equinix-metal:v3.6.2"),
      .img_metallb_controller =
          image(in, "metallb-controller", "quay.io/metallb/controller:v0.12.1"),
      .img_metallb_speaker = image(in, "metallb-speaker", "quay.io/metallb/speaker:v0.12.1"),
  };
  /* Gardener's step 1: the shoot webhooks ManagedResource, shipped by the webhook server (it
   * holds the configuration and its CA bundle) when it runs in this process. */
  if (jsonx_bool(in->config, "shootWebhooks", false))
    ext_steps_add_to_own(
        steps, "shoot-webhooks", "webhook.shoot-webhooks", MR_GK, ns, CP_MR_WEBHOOKS, json_object(),
        "ship the shoot webhook configuration in the ManagedResource " CP_MR_WEBHOOKS);
  add_apply(steps, "access-secret", "/Secret", cp_access_secret(ns),
            "apply the shoot access Secret " CP_ACCESS_SECRET
            " (the resource manager fills in the token of kube-system/cloud-controller-manager)");
  char *what = xasprintf("cloud-controller-manager with %d replica(s)%s", v.replicas,
                         hibernated ? ", hibernated" : "");
  add_mr(steps, ns, CP_MR_SEED, true, cp_seed_objects(&v), what);
  free(what);
  add_mr(steps, ns, CP_MR_SHOOT, false, cp_shoot_objects(&v),
         "cloud-controller-manager RBAC and MetalLB in the shoot");
  add_mr(steps, ns, CP_MR_STORAGE, false, json_array(), "no storage classes: there is no CSI");
  free(checksum);
  return ENG_OK;
}

static void add_delete(struct ext_step_list *steps, const char *gk, const char *ns,
                       const char *name, const char *why) {
  char *step = xasprintf("delete-%s-%s", strchr(gk, '/') + 1, name);
  for (char *c = step; *c; c++)
    if (*c >= 'A' && *c <= 'Z')
      *c = (char)(*c - 'A' + 'a');
  char *reason = xasprintf("delete the %s %s (%s)", strchr(gk, '/') + 1, name, why);
  ext_steps_add_to_own(steps, step, "kube.delete", gk, ns, name, json_object(), reason);
  free(step);
  free(reason);
}

static void add_wait(struct ext_step_list *steps, const char *step, const char *const *names,
                     size_t n) {
  json_t *p = json_object();
  json_object_set_new(p, "check", json_string("managedResourcesGone"));
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(a, json_string(names[i]));
  json_object_set_new(p, "names", a);
  json_object_set_new(p, "timeoutMs", json_integer(MR_WAIT_MS));
  json_object_set_new(p, "timeoutMessage",
                      json_string("failed waiting for the ManagedResources to be deleted"));
  ext_steps_add_own(steps, step, EXT_WAIT_KIND, p, "the ManagedResources are gone");
}

/* Delete the Secrets the observed ManagedResources mr reference. */
static void add_mr_secret_deletes(const struct ext_plan_in *in, struct ext_step_list *steps,
                                  const char *ns, const char *mr) {
  const json_t *m = json_object_get(json_object_get(in->related, MR_GK), mr);
  size_t i;
  json_t *ref;
  json_array_foreach(jsonx_path(m, "spec.secretRefs"), i, ref) {
    const char *name = jsonx_str(ref, "name");
    if (name)
      add_delete(steps, "/Secret", ns, name, "its ManagedResource is deleted");
  }
}

static enum eng_err plan_delete(const struct ext_plan_in *in, struct ext_step_list *steps) {
  const char *ns = str_or(in->obj, "metadata.namespace", "");
  const char *why = "the ControlPlane is being deleted";
  add_delete(steps, MR_GK, ns, CP_MR_STORAGE, why);
  add_delete(steps, MR_GK, ns, CP_MR_SHOOT, why);
  static const char *const shoot_mrs[] = {CP_MR_STORAGE, CP_MR_SHOOT};
  if (!in->force)
    add_wait(steps, "wait-shoot-managedresources", shoot_mrs, 2);
  add_delete(steps, MR_GK, ns, CP_MR_SEED, why);
  static const char *const seed_mrs[] = {CP_MR_SEED};
  if (!in->force)
    add_wait(steps, "wait-seed-managedresource", seed_mrs, 1);
  add_delete(steps, "/Secret", ns, CP_ACCESS_SECRET, why);
  add_delete(steps, MR_GK, ns, CP_MR_WEBHOOKS, why);
  static const char *const wh_mrs[] = {CP_MR_WEBHOOKS};
  if (!in->force)
    add_wait(steps, "wait-webhooks-managedresource", wh_mrs, 1);
  add_mr_secret_deletes(in, steps, ns, CP_MR_STORAGE);
  add_mr_secret_deletes(in, steps, ns, CP_MR_SHOOT);
  add_mr_secret_deletes(in, steps, ns, CP_MR_SEED);
  add_mr_secret_deletes(in, steps, ns, CP_MR_WEBHOOKS);
  return ENG_OK;
}

static enum eng_err cp_plan(const struct ext_plan_in *in, struct ext_step_list *steps,
                            struct eng_error *err) {
  switch (in->op) {
  case GOP_CREATE:
  case GOP_RECONCILE:
  case GOP_RESTORE:
    return plan_reconcile(in, steps, err);
  case GOP_DELETE:
    return plan_delete(in, steps);
  case GOP_MIGRATE: /* the ManagedResources and the access secret stay for the new seed */
  case GOP_NONE:
    break;
  }
  return ENG_OK;
}

static enum ext_wait_result cp_wait(const struct ext_plan_in *in, const json_t *params,
                                    char **msg) {
  const json_t *mrs = json_object_get(in->related, MR_GK);
  size_t i;
  json_t *n;
  json_array_foreach(json_object_get(params, "names"), i, n) {
    const char *name = json_string_value(n);
    if (name && json_object_get(mrs, name)) {
      *msg = xasprintf("ManagedResource %s/%s still exists",
                       str_or(in->obj, "metadata.namespace", ""), name);
      return EXT_WAIT_PENDING;
    }
  }
  return EXT_WAIT_DONE;
}

static enum eng_err cp_plan_plain(enum gardener_op op, bool force, const json_t *obj,
                                  const json_t *cluster, struct ext_step_list *steps,
                                  struct eng_error *err) {
  json_t *rel = json_object(), *cfg = json_object();
  struct ext_plan_in in = {op, force, obj, cluster, rel, 0, cfg};
  enum eng_err rc = cp_plan(&in, steps, err);
  json_decref(rel);
  json_decref(cfg);
  return rc;
}

static const struct ext_actuator cp_actuator = {cp_plan_plain, NULL, cp_plan, cp_wait};

static const char *const cp_related[] = {MR_GK, "/Secret", NULL};

const struct ext_controller metal_controlplane_controller = {
    "controlplane",
    "extensions.gardener.cloud",
    "ControlPlane",
    "controlplanes",
    "extensions.gardener.cloud/controlplane",
    METAL_EXTENSION_TYPE,
    &cp_actuator,
    cp_related};
