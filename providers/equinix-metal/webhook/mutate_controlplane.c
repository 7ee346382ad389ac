/*
 * mutate_controlplane.c - the /controlplane webhook of the Go original
 * (pkg/webhook/controlplane: customMutator + ensurer), as pure functions.
 *
 * Dispatch as the Go generic mutator does it, by kind and name:
 *   Deployment kube-apiserver          admission plugins, CSI feature gates, cloudprovider checksum
 *   Deployment kube-controller-manager --cloud-provider=external
 *   Deployment/StatefulSet vpn-seed-server  NODE_NETWORK from the Infrastructure's nodesCIDR
 *   Deployment machine-controller-manager   the machine controller as MCM's provider sidecar
 *   VerticalPodAutoscaler machine-controller-manager-vpa  RequestsOnly policy for the sidecar
 *   ConfigMap gardener-resource-manager*    metallb-system in the watched namespaces (deduplicated)
 *   OperatingSystemConfig                   see mutate_osc.c
 * Objects being deleted are left alone.
 */
#include "engine/base/common.h"
#include "mutate.h"
#include "providers/equinix-metal/controllers/infrastructure.h"

#include "webhook/kobj.h"
#include "engine/base/xalloc.h"
#include "engine/base/yamlconv.h"

#include <stdlib.h>
#include <string.h>

#define MCM_SIDECAR_NAME   "machine-controller-manager-provider-equinix-metal"
#define MCM_KUBECONFIG_DIR "/var/run/secrets/gardener.cloud/shoot/generic-kubeconfig"

static bool is_kind(const struct admission_request *req, const char *group, const char *kind) {
  return !strcmp(req->group, group) && !strcmp(req->kind, kind);
}

unsigned mutate_controlplane_needs(const struct admission_request *req) {
  const json_t *obj = req->object;
  if (!obj || kobj_deleting(obj))
    return 0;
  const char *name = kobj_name(obj);
  if (is_kind(req, "apps", "Deployment")) {
    if (!strcmp(name, "kube-apiserver"))
      return MUTATE_NEED_CLOUDPROVIDER;
    if (!strcmp(name, "vpn-seed-server"))
      return MUTATE_NEED_CLUSTER | MUTATE_NEED_INFRA;
  } else if (is_kind(req, "apps", "StatefulSet")) {
    if (!strcmp(name, "vpn-seed-server"))
      return MUTATE_NEED_CLUSTER | MUTATE_NEED_INFRA;
  } else if (is_kind(req, "extensions.gardener.cloud", "OperatingSystemConfig")) {
    const char *purpose =
        json_string_value(json_object_get(json_object_get(obj, "spec"), "purpose"));
    if (purpose && (!strcmp(purpose, "reconcile") || !strcmp(purpose, "provision")))
      return MUTATE_NEED_CLUSTER;
  }
  return 0;
}

static void ensure_kube_apiserver(json_t *obj, const struct mutate_ctx *ctx) {
  json_t *ps = kobj_pod_spec(obj);
  json_t *c = kobj_container(ps, "kube-apiserver");
  if (c) {
    /* PersistentVolumeLabel is a cloud-provider admission plugin that must stay off. */
    kobj_ensure_no_string_with_prefix_contains(
        c, "command", "--enable-admission-plugins=", "PersistentVolumeLabel", ",");
    kobj_ensure_string_with_prefix_contains(
        c, "command", "--disable-admission-plugins=", "PersistentVolumeLabel", ",");
    static const char *const gates[] = {"VolumeSnapshotDataSource=false", "CSINodeInfo=false",
                                        "CSIDriverRegistry=false", "KubeletPluginsWatcher=false"};
    for (size_t i = 0; i < ARRAY_SIZE(gates); i++)
      kobj_ensure_no_string_with_prefix_contains(c, "command", "--feature-gates=", gates[i], ",");
  }
  /* Roll the pods when the cloud provider credentials change. */
  json_t *tmpl = kobj_object_member(kobj_object_member(obj, "spec"), "template");
  kobj_set_annotation(tmpl, "checksum/secret-cloudprovider", ctx->cloudprovider_checksum);
}

/*
 * The provider sidecar of gardenlet's machine-controller-manager Deployment, as
 * Gardener's ProviderSidecarContainer builds it (replaced or appended by name):
 * this binary's `machine-controller` command with MCM's provider flags, the
 * providermetrics port 10259 with its /healthz liveness probe, and the shoot's
 * generic kubeconfig mounted read-only. The image's entrypoint is the binary.
 */
static json_t *mcm_sidecar(const char *ns, const char *image) {
  char *nsarg = xasprintf("--namespace=%s", ns);
  json_t *args = json_pack(
      "[s,s,s,s,s,s,s,s,s,s,s,s,s,s]", "machine-controller", "--control-kubeconfig=inClusterConfig",
      "--kube-api-qps=100", "--kube-api-burst=200", "--machine-creation-timeout=20m",
      "--machine-drain-timeout=2h", "--machine-health-timeout=10m",
      "--machine-safety-apiserver-statuscheck-timeout=30s",
      "--machine-safety-apiserver-statuscheck-period=1m", "--machine-safety-orphan-vms-period=30m",
      nsarg, "--port=10259", "--target-kubeconfig=" MCM_KUBECONFIG_DIR "/kubeconfig", "--v=3");
  free(nsarg);
  json_t *c = json_object();
  json_object_set_new(c, "name", json_string(MCM_SIDECAR_NAME));
  json_object_set_new(c, "image", json_string(image));
  json_object_set_new(c, "imagePullPolicy", json_string("IfNotPresent"));
  json_object_set_new(c, "args", args);
  json_object_set_new(c, "livenessProbe",
                      json_pack("{s:{s:s,s:i,s:s},s:i,s:i,s:i,s:i,s:i}", "httpGet", "path",
                                "/healthz", "port", 10259, "scheme", "HTTP", "initialDelaySeconds",
                                30, "timeoutSeconds", 5, "periodSeconds", 10, "successThreshold", 1,
                                "failureThreshold", 3));
  json_object_set_new(c, "ports",
                      json_pack("[{s:s,s:i,s:s}]", "name", "providermetrics", "containerPort",
                                10259, "protocol", "TCP"));
  json_object_set_new(c, "resources",
                      json_pack("{s:{s:s,s:s}}", "requests", "cpu", "10m", "memory", "20Mi"));
  json_object_set_new(c, "securityContext", json_pack("{s:b}", "allowPrivilegeEscalation", 0));
  json_object_set_new(c, "volumeMounts",
                      json_pack("[{s:s,s:s,s:b}]", "name", "kubeconfig", "mountPath",
                                MCM_KUBECONFIG_DIR, "readOnly", 1));
  return c;
}

static void ensure_machine_controller_manager(json_t *obj, const char *ns,
                                              const struct mutate_ctx *ctx) {
  json_t *ps = kobj_pod_spec(obj);
  if (!ps)
    return;
  json_t *c =
      mcm_sidecar(ns, ctx->machine_controller_image ? ctx->machine_controller_image
                                                    : MUTATE_DEFAULT_MACHINE_CONTROLLER_IMAGE);
  kobj_ensure_named(ps, "containers", c);
  json_decref(c);
}

/* The VPA of machine-controller-manager: requests only for the sidecar (by name). */
static void ensure_machine_controller_manager_vpa(json_t *obj) {
  json_t *rp = kobj_object_member(kobj_object_member(obj, "spec"), "resourcePolicy");
  json_t *pol =
      json_pack("{s:s,s:s}", "containerName", MCM_SIDECAR_NAME, "controlledValues", "RequestsOnly");
  long i =
      kobj_index_by(kobj_array_member(rp, "containerPolicies"), "containerName", MCM_SIDECAR_NAME);
  json_t *arr = json_object_get(rp, "containerPolicies");
  if (i >= 0)
    json_array_set_new(arr, (size_t)i, pol);
  else
    json_array_append_new(arr, pol);
}

static void ensure_kube_controller_manager(json_t *obj) {
  json_t *c = kobj_container(kobj_pod_spec(obj), "kube-controller-manager");
  if (c)
    kobj_ensure_string_with_prefix(c, "command", "--cloud-provider=", "external");
}

/*
 * vpn-seed-server (Deployment, or StatefulSet for HA control planes): the
 * container learns the node network. The Go original patched the live object
 * through the API instead of the admitted one; here the admitted object changes.
 */
static void ensure_vpn_seed_server(json_t *obj, const struct mutate_ctx *ctx) {
  const char *cidr = json_string_value(
      json_object_get(json_object_get(ctx->infrastructure, "status"), "nodesCIDR"));
  if (!cidr)
    return; /* node CIDR not known yet */
  json_t *c = kobj_container(kobj_pod_spec(obj), "vpn-seed-server");
  if (!c)
    return;
  char *joined = metal_joined_networks(cidr);
  kobj_ensure_env(c, "NODE_NETWORK", joined);
  free(joined);
}

/*
 * gardener-resource-manager ConfigMaps: the shoot's resource manager also watches
 * metallb-system. Unlike the Go original the entry is added once (not on every
 * admission), a config without targetClientConnection is left alone (Go panics),
 * and an empty namespace list, which means "all namespaces", is not narrowed.
 */
static enum eng_err ensure_grm_configmap(json_t *obj, struct eng_error *err) {
  json_t *data = json_object_get(obj, "data");
  json_t *cfgv = json_object_get(data, "config.yaml");
  if (!json_is_string(cfgv))
    return ENG_OK;
  json_t *cfg = yamlconv_parse(json_string_value(cfgv), json_string_length(cfgv),
                               "config.yaml of the gardener-resource-manager ConfigMap", err);
  if (!cfg)
    return eng_error_prefix(err, "error decoding config"), ENG_INVALID;
  enum eng_err rc = ENG_OK;
  json_t *tcc = json_object_get(cfg, "targetClientConnection");
  json_t *nss = json_object_get(tcc, "namespaces");
  if (json_is_object(tcc) && json_is_array(nss) && json_array_size(nss) > 0) {
    bool present = false;
    size_t i;
    json_t *e;
    json_array_foreach(nss, i, e) present =
        present || (json_is_string(e) && !strcmp(json_string_value(e), "metallb-system"));
    if (!present) {
      json_array_append_new(nss, json_string("metallb-system"));
      size_t len;
      char *y = yamlconv_emit(cfg, &len, err);
      if (!y)
        rc = ENG_INVALID;
      else
        json_object_set_new(data, "config.yaml", json_stringn(y, len));
      free(y);
    }
  }
  json_decref(cfg);
  return rc;
}

enum eng_err mutate_controlplane(json_t *obj, const struct admission_request *req,
                                 const struct mutate_ctx *ctx, struct eng_error *err) {
  if (kobj_deleting(obj))
    return ENG_OK;
  const char *name = kobj_name(obj);
  if (is_kind(req, "apps", "Deployment")) {
    if (!strcmp(name, "kube-apiserver"))
      ensure_kube_apiserver(obj, ctx);
    else if (!strcmp(name, "kube-controller-manager"))
      ensure_kube_controller_manager(obj);
    else if (!strcmp(name, "vpn-seed-server"))
      ensure_vpn_seed_server(obj, ctx);
    else if (!strcmp(name, "machine-controller-manager"))
      ensure_machine_controller_manager(obj, req->ns, ctx);
    return ENG_OK;
  }
  if (is_kind(req, "autoscaling.k8s.io", "VerticalPodAutoscaler")) {
    if (!strcmp(name, "machine-controller-manager-vpa"))
      ensure_machine_controller_manager_vpa(obj);
    return ENG_OK;
  }
  if (is_kind(req, "apps", "StatefulSet")) {
    if (!strcmp(name, "vpn-seed-server"))
      ensure_vpn_seed_server(obj, ctx);
    return ENG_OK;
  }
  if (is_kind(req, "", "ConfigMap")) {
    if (!strncmp(name, "gardener-resource-manager", strlen("gardener-resource-manager")))
      return ensure_grm_configmap(obj, err);
    return ENG_OK;
  }
  if (is_kind(req, "extensions.gardener.cloud", "OperatingSystemConfig"))
    return mutate_osc(obj, ctx, err);
  return eng_error_set(err, ENG_INVALID, "unexpected request kind %s%s%s, Kind=%s", req->group,
                       *req->group ? "/" : "", req->version, req->kind);
}
