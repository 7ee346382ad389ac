/*
 * mutate_controlplane.c - the /controlplane webhook of the Go original
 * (pkg/webhook/controlplane: customMutator + ensurer), as pure functions.
 *
 * Dispatch as the Go generic mutator does it, by kind and name:
 *   Deployment kube-apiserver          admission plugins, CSI feature gates, cloudprovider checksum
 *   Deployment kube-controller-manager --cloud-provider=external
 *   Deployment/StatefulSet vpn-seed-server  NODE_NETWORK from the Infrastructure's nodesCIDR
 *   ConfigMap gardener-resource-manager*    metallb-system in the watched namespaces (deduplicated)
 *   OperatingSystemConfig                   see mutate_osc.c
 * Objects being deleted are left alone. The machine-controller-manager sidecar and
 * its VPA policy are not added: this engine manages devices itself.
 */
#include "engine/base/common.h"
#include "mutate.h"

#include "webhook/kobj.h"
#include "engine/base/xalloc.h"
#include "engine/base/yamlconv.h"

#include <stdlib.h>
#include <string.h>

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

static void ensure_kube_controller_manager(json_t *obj) {
  json_t *c = kobj_container(kobj_pod_spec(obj), "kube-controller-manager");
  if (c)
    kobj_ensure_string_with_prefix(c, "command", "--cloud-provider=", "external");
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* nodesCIDR "a,b,a" -> "a,b" (sorted, unique), as ParseJoinedNetwork + JoinedNetworksCidr do. */
static char *joined_networks(const char *cidrs) {
  char *copy = xstrdup(cidrs);
  size_t n = 1;
  for (const char *p = copy; *p; p++)
    n += *p == ',';
  char **parts = xmalloc(n * sizeof(*parts));
  size_t k = 0;
  char *save = copy;
  for (;;) {
    char *comma = strchr(save, ',');
    if (comma)
      *comma = '\0';
    parts[k++] = save;
    if (!comma)
      break;
    save = comma + 1;
  }
  qsort(parts, k, sizeof(*parts), cmp_str);
  size_t len = 1;
  for (size_t i = 0; i < k; i++)
    len += strlen(parts[i]) + 1;
  char *out = xmalloc(len);
  out[0] = '\0';
  bool first = true;
  for (size_t i = 0; i < k; i++) {
    if (i > 0 && !strcmp(parts[i], parts[i - 1]))
      continue;
    if (!first)
      strcat(out, ",");
    strcat(out, parts[i]);
    first = false;
  }
  free(parts);
  free(copy);
  return out;
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
  char *joined = joined_networks(cidr);
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
