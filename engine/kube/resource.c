/*
 * resource.c - resource descriptors and URL paths.
 */
#include "engine/base/common.h"
#include "engine/kube/client.h"
#include "engine/base/buf.h"
#include "engine/net/http.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct kube_resource kube_res_namespace = {"", "v1", "namespaces", "Namespace", false};
const struct kube_resource kube_res_secret = {"", "v1", "secrets", "Secret", true};
const struct kube_resource kube_res_configmap = {"", "v1", "configmaps", "ConfigMap", true};
const struct kube_resource kube_res_service = {"", "v1", "services", "Service", true};
const struct kube_resource kube_res_event = {"", "v1", "events", "Event", true};
const struct kube_resource kube_res_lease = {"coordination.k8s.io", "v1", "leases", "Lease", true};
const struct kube_resource kube_res_deployment = {"apps", "v1", "deployments", "Deployment", true};
const struct kube_resource kube_res_statefulset = {"apps", "v1", "statefulsets", "StatefulSet",
                                                   true};
const struct kube_resource kube_res_mutating_webhook_configuration = {
    "admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
    "MutatingWebhookConfiguration", false};
const struct kube_resource kube_res_gardener_cluster = {"extensions.gardener.cloud", "v1alpha1",
                                                        "clusters", "Cluster", false};
const struct kube_resource kube_res_gardener_infrastructure = {
    "extensions.gardener.cloud", "v1alpha1", "infrastructures", "Infrastructure", true};
const struct kube_resource kube_res_gardener_controlplane = {
    "extensions.gardener.cloud", "v1alpha1", "controlplanes", "ControlPlane", true};
const struct kube_resource kube_res_gardener_worker = {"extensions.gardener.cloud", "v1alpha1",
                                                       "workers", "Worker", true};
const struct kube_resource kube_res_gardener_operatingsystemconfig = {
    "extensions.gardener.cloud", "v1alpha1", "operatingsystemconfigs", "OperatingSystemConfig",
    true};

static void add_seg(struct buf *b, const char *seg) {
  char *e = http_escape(seg);
  if (buf_appends(b, "/") || buf_appends(b, e))
    abort(); /* paths are far below the cap */
  free(e);
}

char *kube_resource_path(const struct kube_resource *r, const char *ns, const char *name,
                         const char *sub) {
  struct buf b;
  buf_init(&b, BUF_MAX_SMALL);
  if (r->group && *r->group) {
    if (buf_printf(&b, "/apis/%s/%s", r->group, r->version))
      abort();
  } else if (buf_printf(&b, "/api/%s", r->version)) {
    abort();
  }
  if (r->namespaced && ns && *ns) {
    add_seg(&b, "namespaces");
    add_seg(&b, ns);
  }
  add_seg(&b, r->plural);
  if (name && *name) {
    add_seg(&b, name);
    if (sub && *sub)
      add_seg(&b, sub);
  }
  return buf_take(&b, NULL);
}

void kube_resource_api_version(const struct kube_resource *r, char out[128]) {
  if (r->group && *r->group)
    snprintf(out, 128, "%s/%s", r->group, r->version);
  else
    snprintf(out, 128, "%s", r->version);
}

void kube_resource_group_kind(const struct kube_resource *r, char out[192]) {
  snprintf(out, 192, "%s/%s", r->group ? r->group : "", r->kind);
}

void kube_resource_name(const struct kube_resource *r, char out[192]) {
  if (r->group && *r->group)
    snprintf(out, 192, "%s.%s", r->plural, r->group);
  else
    snprintf(out, 192, "%s", r->plural);
}
