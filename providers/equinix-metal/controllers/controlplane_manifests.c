/*
 * controlplane_manifests.c - the manifest model of the ControlPlane controller
 * (pure): the objects of the Go original's charts seed-controlplane
 * (cloud-provider-equinix-metal) and shoot-system-components
 * (cloud-provider-equinix-metal, metallb), built as jansson objects, and the
 * ManagedResources with their Secrets that ship them.
 *
 * Fixed here against the Go charts: the CCM Service selects the CCM pods
 * (app: cloud-controller-manager) and its ServiceMonitor selects that Service.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/controllers/controlplane_int.h"
#include "engine/base/jsonx.h"
#include "engine/base/sha256.h"
#include "engine/base/xalloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define CCM              "cloud-controller-manager"
#define CCM_METRICS_PORT 10253
#define KUBECONFIG_DIR   "/var/run/secrets/gardener.cloud/shoot/generic-kubeconfig"
#define ACCESS_SECRET    "shoot-access-cloud-controller-manager"
#define METALLB_CM       "metallb-config"
#define METALLB_PORT     7472
#define RBAC_API         "rbac.authorization.k8s.io/v1"
#define RBAC_GROUP       "rbac.authorization.k8s.io"

static json_t *meta(const char *name, const char *ns) {
  json_t *m = json_object();
  json_object_set_new(m, "name", json_string(name));
  if (ns)
    json_object_set_new(m, "namespace", json_string(ns));
  return m;
}

static json_t *obj(const char *api, const char *kind, const char *name, const char *ns) {
  json_t *o = json_object();
  json_object_set_new(o, "apiVersion", json_string(api));
  json_object_set_new(o, "kind", json_string(kind));
  json_object_set_new(o, "metadata", meta(name, ns));
  return o;
}

static json_t *strs(const char *const *v) {
  json_t *a = json_array();
  for (; *v; v++)
    json_array_append_new(a, json_string(*v));
  return a;
}

static void set_label(json_t *o, const char *k, const char *v) {
  json_t *md = json_object_get(o, "metadata");
  json_t *l = json_object_get(md, "labels");
  if (!l) {
    l = json_object();
    json_object_set_new(md, "labels", l);
  }
  json_object_set_new(l, k, json_string(v));
}

static void set_annotation(json_t *o, const char *k, const char *v) {
  json_t *md = json_object_get(o, "metadata");
  json_t *l = json_object_get(md, "annotations");
  if (!l) {
    l = json_object();
    json_object_set_new(md, "annotations", l);
  }
  json_object_set_new(l, k, json_string(v));
}

static json_t *labels1(const char *k, const char *v) {
  json_t *l = json_object();
  json_object_set_new(l, k, json_string(v));
  return l;
}

static json_t *env_secret(const char *name, const char *secret, const char *key) {
  return json_pack("{s:s,s:{s:{s:s,s:s}}}", "name", name, "valueFrom", "secretKeyRef", "name",
                   secret, "key", key);
}

static json_t *env_value(const char *name, const char *value) {
  return json_pack("{s:s,s:s}", "name", name, "value", value);
}

static json_t *env_field(const char *name, const char *path) {
  return json_pack("{s:s,s:{s:{s:s}}}", "name", name, "valueFrom", "fieldRef", "fieldPath", path);
}

/* ---- seed ------------------------------------------------------------------------------- */

static json_t *ccm_deployment(const struct cp_values *v) {
  json_t *d = obj("apps/v1", "Deployment", CCM, v->ns);
  set_label(d, "app", CCM);
  set_label(d, "high-availability-config.resources.gardener.cloud/type", "controller");

  static const char *const cmd[] = {"./cloud-provider-equinix-metal",
                                    "--cloud-provider=equinixmetal",
                                    "--leader-elect=true",
                                    "--allow-untagged-cloud=true",
                                    "--authentication-skip-lookup=true",
                                    "--kubeconfig=" KUBECONFIG_DIR "/kubeconfig",
                                    NULL};
  json_t *env = json_array();
  json_array_append_new(env, env_secret("METAL_API_KEY", v->credentials, "apiToken"));
  json_array_append_new(env, env_secret("METAL_PROJECT_ID", v->credentials, "projectID"));
  if (v->metro && *v->metro)
    json_array_append_new(env, env_value("METAL_METRO_NAME", v->metro));
  json_array_append_new(env,
                        env_value("METAL_LOAD_BALANCER", "metallb:///kube-system/" METALLB_CM));

  json_t *c = json_object();
  json_object_set_new(c, "name", json_string("cloud-provider-equinix-metal"));
  json_object_set_new(c, "image", json_string(v->img_ccm));
  json_object_set_new(c, "imagePullPolicy", json_string("IfNotPresent"));
  json_object_set_new(c, "command", strs(cmd));
  json_object_set_new(c, "env", env);
  json_object_set_new(c, "ports",
                      json_pack("[{s:s,s:i,s:s}]", "name", "metrics", "containerPort",
                                CCM_METRICS_PORT, "protocol", "TCP"));
  json_object_set_new(c, "resources",
                      json_pack("{s:{s:s,s:s},s:{s:s,s:s}}", "requests", "cpu", "100m", "memory",
                                "64Mi", "limits", "cpu", "500m", "memory", "512Mi"));
  json_object_set_new(c, "volumeMounts",
                      json_pack("[{s:s,s:s,s:b}]", "name", "kubeconfig", "mountPath",
                                KUBECONFIG_DIR, "readOnly", 1));

  json_t *sources = json_array();
  json_array_append_new(sources, json_pack("{s:{s:s,s:[{s:s,s:s}],s:b}}", "secret", "name",
                                           v->generic_kubeconfig, "items", "key", "kubeconfig",
                                           "path", "kubeconfig", "optional", 0));
  json_array_append_new(sources,
                        json_pack("{s:{s:s,s:[{s:s,s:s}],s:b}}", "secret", "name", ACCESS_SECRET,
                                  "items", "key", "token", "path", "token", "optional", 0));
  json_t *vol = json_object();
  json_object_set_new(vol, "name", json_string("kubeconfig"));
  json_t *proj = json_object();
  json_object_set_new(proj, "defaultMode", json_integer(420));
  json_object_set_new(proj, "sources", sources);
  json_object_set_new(vol, "projected", proj);

  json_t *podlabels = json_object();
  json_object_set_new(podlabels, "app", json_string(CCM));
  json_object_set_new(podlabels, "gardener.cloud/role", json_string("controlplane"));
  json_object_set_new(podlabels, "networking.gardener.cloud/to-dns", json_string("allowed"));
  json_object_set_new(podlabels, "networking.gardener.cloud/to-public-networks",
                      json_string("allowed"));
  json_object_set_new(podlabels, "networking.resources.gardener.cloud/to-kube-apiserver-tcp-443",
                      json_string("allowed"));
  json_t *podmeta = json_object();
  json_object_set_new(podmeta, "labels", podlabels);
  if (v->checksum && *v->checksum)
    json_object_set_new(podmeta, "annotations",
                        labels1("checksum/secret-cloudprovider", v->checksum));

  json_t *pod = json_object();
  json_object_set_new(pod, "automountServiceAccountToken", json_false());
  json_object_set_new(pod, "priorityClassName", json_string("gardener-system-300"));
  json_object_set_new(pod, "tolerations",
                      json_pack("[{s:s,s:s}]", "key", "CriticalAddonsOnly", "operator", "Exists"));
  json_t *cs = json_array();
  json_array_append_new(cs, c);
  json_object_set_new(pod, "containers", cs);
  json_t *vols = json_array();
  json_array_append_new(vols, vol);
  json_object_set_new(pod, "volumes", vols);

  json_t *tmpl = json_object();
  json_object_set_new(tmpl, "metadata", podmeta);
  json_object_set_new(tmpl, "spec", pod);
  json_t *spec = json_object();
  json_object_set_new(spec, "revisionHistoryLimit", json_integer(1));
  json_object_set_new(spec, "replicas", json_integer(v->replicas));
  json_object_set_new(spec, "selector", json_pack("{s:o}", "matchLabels", labels1("app", CCM)));
  json_object_set_new(spec, "template", tmpl);
  json_object_set_new(d, "spec", spec);
  return d;
}

static json_t *ccm_service(const struct cp_values *v) {
  json_t *s = obj("v1", "Service", CCM, v->ns);
  set_label(s, "app", CCM);
  json_t *spec = json_object();
  json_object_set_new(spec, "type", json_string("ClusterIP"));
  json_object_set_new(spec, "clusterIP", json_string("None"));
  json_object_set_new(spec, "ports",
                      json_pack("[{s:s,s:i,s:i,s:s}]", "name", "metrics", "port", CCM_METRICS_PORT,
                                "targetPort", CCM_METRICS_PORT, "protocol", "TCP"));
  json_object_set_new(spec, "selector", labels1("app", CCM));
  json_object_set_new(s, "spec", spec);
  return s;
}

static json_t *ccm_pdb(const struct cp_values *v) {
  json_t *p = obj("policy/v1", "PodDisruptionBudget", CCM, v->ns);
  set_label(p, "app", CCM);
  json_object_set_new(p, "spec",
                      json_pack("{s:i,s:{s:o}}", "maxUnavailable", 1, "selector", "matchLabels",
                                labels1("app", CCM)));
  return p;
}

static json_t *ccm_vpa(const struct cp_values *v) {
  json_t *p = obj("autoscaling.k8s.io/v1", "VerticalPodAutoscaler", CCM "-vpa", v->ns);
  json_t *spec = json_object();
  json_object_set_new(
      spec, "targetRef",
      json_pack("{s:s,s:s,s:s}", "apiVersion", "apps/v1", "kind", "Deployment", "name", CCM));
  json_object_set_new(spec, "updatePolicy", json_pack("{s:s}", "updateMode", "Recreate"));
  json_object_set_new(spec, "resourcePolicy",
                      json_pack("{s:[{s:s,s:{s:s,s:s},s:s}]}", "containerPolicies", "containerName",
                                "*", "maxAllowed", "cpu", "4", "memory", "10G", "controlledValues",
                                "RequestsOnly"));
  json_object_set_new(p, "spec", spec);
  return p;
}

static json_t *ccm_service_monitor(const struct cp_values *v) {
  json_t *m = obj("monitoring.coreos.com/v1", "ServiceMonitor", "shoot-" CCM, v->ns);
  set_label(m, "prometheus", "shoot");
  json_t *ep = json_object();
  json_object_set_new(ep, "port", json_string("metrics"));
  json_object_set_new(ep, "scheme", json_string("https"));
  json_object_set_new(ep, "tlsConfig", json_pack("{s:b}", "insecureSkipVerify", 1));
  json_object_set_new(ep, "authorization",
                      json_pack("{s:{s:s,s:s}}", "credentials", "name",
                                "shoot-access-prometheus-shoot", "key", "token"));
  json_object_set_new(ep, "relabelings",
                      json_pack("[{s:s,s:s}]", "action", "labelmap", "regex",
                                "__meta_kubernetes_service_label_(.+)"));
  json_object_set_new(ep, "metricRelabelings",
                      json_pack("[{s:[s],s:s,s:s}]", "sourceLabels", "__name__", "action", "keep",
                                "regex",
                                "^(rest_client_requests_total|process_max_fds|process_open_fds)$"));
  json_t *spec = json_object();
  json_object_set_new(spec, "selector", json_pack("{s:o}", "matchLabels", labels1("app", CCM)));
  json_t *eps = json_array();
  json_array_append_new(eps, ep);
  json_object_set_new(spec, "endpoints", eps);
  json_object_set_new(m, "spec", spec);
  return m;
}

static json_t *ccm_prometheus_rule(const struct cp_values *v) {
  json_t *r = obj("monitoring.coreos.com/v1", "PrometheusRule", "shoot-" CCM, v->ns);
  set_label(r, "prometheus", "shoot");
  json_t *rule = json_object();
  json_object_set_new(rule, "alert", json_string("CloudControllerManagerDown"));
  json_object_set_new(rule, "expr", json_string("absent(up{job=\"" CCM "\"} == 1)"));
  json_object_set_new(rule, "for", json_string("15m"));
  json_object_set_new(rule, "labels",
                      json_pack("{s:s,s:s,s:s,s:s}", "service", CCM, "severity", "critical", "type",
                                "seed", "visibility", "all"));
  json_object_set_new(
      rule, "annotations",
      json_pack("{s:s,s:s}", "summary", "Cloud controller manager is down.", "description",
                "All infrastructure specific operations cannot be completed (e.g. creating load "
                "balancers or persistent volumes)."));
  json_t *rules = json_array();
  json_array_append_new(rules, rule);
  json_t *group = json_object();
  json_object_set_new(group, "name", json_string(CCM ".rules"));
  json_object_set_new(group, "rules", rules);
  json_t *groups = json_array();
  json_array_append_new(groups, group);
  json_object_set_new(r, "spec", json_pack("{s:o}", "groups", groups));
  return r;
}

json_t *cp_seed_objects(const struct cp_values *v) {
  json_t *a = json_array();
  json_array_append_new(a, ccm_deployment(v));
  json_array_append_new(a, ccm_service(v));
  json_array_append_new(a, ccm_pdb(v));
  json_array_append_new(a, ccm_vpa(v));
  json_array_append_new(a, ccm_service_monitor(v));
  json_array_append_new(a, ccm_prometheus_rule(v));
  return a;
}

/* ---- shoot ------------------------------------------------------------------------------ */

static json_t *rule(const char *group, const char *const *resources, const char *const *verbs) {
  json_t *r = json_object();
  json_t *g = json_array();
  json_array_append_new(g, json_string(group));
  json_object_set_new(r, "apiGroups", g);
  json_object_set_new(r, "resources", strs(resources));
  json_object_set_new(r, "verbs", strs(verbs));
  return r;
}

static json_t *sa_subject(const char *name) {
  return json_pack("{s:s,s:s,s:s}", "kind", "ServiceAccount", "name", name, "namespace",
                   "kube-system");
}

static json_t *binding(const char *kind, const char *name, const char *ns, const char *role_kind,
                       const char *role, json_t *subjects) {
  json_t *b = obj(RBAC_API, kind, name, ns);
  json_object_set_new(
      b, "roleRef",
      json_pack("{s:s,s:s,s:s}", "apiGroup", RBAC_GROUP, "kind", role_kind, "name", role));
  json_object_set_new(b, "subjects", subjects);
  return b;
}

static json_t *one(json_t *x) {
  json_t *a = json_array();
  json_array_append_new(a, x);
  return a;
}

static json_t *metallb_labels(const char *component) {
  json_t *l = json_object();
  json_object_set_new(l, "app", json_string("metallb"));
  json_object_set_new(l, "component", json_string(component));
  return l;
}

static json_t *metallb_container(const char *name, const char *image) {
  json_t *c = json_object();
  json_object_set_new(c, "name", json_string(name));
  json_object_set_new(c, "image", json_string(image));
  json_object_set_new(c, "imagePullPolicy", json_string("IfNotPresent"));
  json_object_set_new(c, "args", json_pack("[s,s]", "--port=7472", "--config=" METALLB_CM));
  json_object_set_new(c, "ports",
                      json_pack("[{s:s,s:i,s:s}]", "name", "monitoring", "containerPort",
                                METALLB_PORT, "protocol", "TCP"));
  json_object_set_new(c, "resources",
                      json_pack("{s:{s:s,s:s}}", "requests", "cpu", "10m", "memory", "32Mi"));
  return c;
}

static json_t *metallb_controller(const struct cp_values *v) {
  json_t *d = obj("apps/v1", "Deployment", "metallb-controller", "kube-system");
  set_label(d, "app", "metallb");
  set_label(d, "component", "controller");
  json_t *c = metallb_container("controller", v->img_metallb_controller);
  json_object_set_new(c, "securityContext",
                      json_pack("{s:b,s:{s:[s]},s:b}", "allowPrivilegeEscalation", 0,
                                "capabilities", "drop", "ALL", "readOnlyRootFilesystem", 1));
  json_t *pod = json_object();
  json_object_set_new(pod, "serviceAccountName", json_string("controller"));
  json_object_set_new(pod, "terminationGracePeriodSeconds", json_integer(0));
  json_object_set_new(pod, "nodeSelector", labels1("kubernetes.io/os", "linux"));
  json_object_set_new(pod, "securityContext",
                      json_pack("{s:b,s:i,s:{s:s}}", "runAsNonRoot", 1, "runAsUser", 65534,
                                "seccompProfile", "type", "RuntimeDefault"));
  json_object_set_new(pod, "containers", one(c));
  json_t *spec = json_object();
  json_object_set_new(spec, "revisionHistoryLimit", json_integer(3));
  json_object_set_new(spec, "selector",
                      json_pack("{s:o}", "matchLabels", metallb_labels("controller")));
  json_object_set_new(
      spec, "template",
      json_pack("{s:{s:o},s:o}", "metadata", "labels", metallb_labels("controller"), "spec", pod));
  json_object_set_new(d, "spec", spec);
  return d;
}

static json_t *metallb_speaker(const struct cp_values *v) {
  json_t *d = obj("apps/v1", "DaemonSet", "metallb-speaker", "kube-system");
  set_label(d, "app", "metallb");
  set_label(d, "component", "speaker");
  json_t *c = metallb_container("speaker", v->img_metallb_speaker);
  /* No memberlist (METALLB_ML_*): BGP mode only, as in the Go original. */
  json_t *env = json_array();
  json_array_append_new(env, env_field("METALLB_NODE_NAME", "spec.nodeName"));
  json_array_append_new(env, env_field("METALLB_HOST", "status.hostIP"));
  json_object_set_new(c, "env", env);
  json_object_set_new(c, "securityContext",
                      json_pack("{s:b,s:{s:[s,s,s],s:[s]},s:b}", "allowPrivilegeEscalation", 0,
                                "capabilities", "add", "NET_ADMIN", "NET_RAW", "SYS_ADMIN", "drop",
                                "ALL", "readOnlyRootFilesystem", 1));
  json_t *pod = json_object();
  json_object_set_new(pod, "serviceAccountName", json_string("speaker"));
  json_object_set_new(pod, "terminationGracePeriodSeconds", json_integer(2));
  json_object_set_new(pod, "hostNetwork", json_true());
  json_object_set_new(pod, "nodeSelector", labels1("kubernetes.io/os", "linux"));
  json_object_set_new(pod, "tolerations",
                      json_pack("[{s:s,s:s},{s:s,s:s}]", "key", "node-role.kubernetes.io/master",
                                "effect", "NoSchedule", "key",
                                "node-role.kubernetes.io/control-plane", "effect", "NoSchedule"));
  json_object_set_new(pod, "containers", one(c));
  json_t *spec = json_object();
  json_object_set_new(spec, "selector",
                      json_pack("{s:o}", "matchLabels", metallb_labels("speaker")));
  json_object_set_new(
      spec, "template",
      json_pack("{s:{s:o},s:o}", "metadata", "labels", metallb_labels("speaker"), "spec", pod));
  json_object_set_new(d, "spec", spec);
  return d;
}

json_t *cp_shoot_objects(const struct cp_values *v) {
  json_t *a = json_array();
  static const char *const nodes[] = {"nodes", NULL},
                           *const nodes_status[] = {"nodes/status", NULL},
                           *const events[] = {"events", NULL};
  static const char *const node_verbs[] = {"delete", "get", "patch", "update", "list", NULL},
                           *const patch[] = {"patch", NULL},
                           *const ev_verbs[] = {"create", "patch", "update", NULL};
  static const char *const glw[] = {"get", "list", "watch", NULL}, *const list[] = {"list", NULL};

  /* CCM RBAC. */
  json_t *admin =
      binding("ClusterRoleBinding", "extensions.gardener.cloud:provider-equinix-metal:" CCM, NULL,
              "ClusterRole", "cluster-admin", one(sa_subject(CCM)));
  set_annotation(admin, "resources.gardener.cloud/keep-object", "true");
  json_array_append_new(a, admin);
  json_t *cnc = obj(RBAC_API, "ClusterRole", "system:controller:cloud-node-controller", NULL);
  json_t *rules = json_array();
  json_array_append_new(rules, rule("", nodes, node_verbs));
  json_array_append_new(rules, rule("", nodes_status, patch));
  json_array_append_new(rules, rule("", events, ev_verbs));
  json_object_set_new(cnc, "rules", rules);
  json_array_append_new(a, cnc);
  json_array_append_new(a, binding("ClusterRoleBinding", "system:controller:cloud-node-controller",
                                   NULL, "ClusterRole", "system:controller:cloud-node-controller",
                                   one(sa_subject("cloud-node-controller"))));

  /* MetalLB: configuration (owned by the CCM), accounts, RBAC, controller, speaker. */
  json_t *cm = obj("v1", "ConfigMap", METALLB_CM, "kube-system");
  set_annotation(cm, "resources.gardener.cloud/ignore", "true");
  json_object_set_new(cm, "data", json_pack("{s:s}", "config", "peers: []\naddress-pools: []\n"));
  json_array_append_new(a, cm);
  const char *sas[] = {"controller", "speaker"};
  for (size_t i = 0; i < 2; i++) {
    json_t *sa = obj("v1", "ServiceAccount", sas[i], "kube-system");
    set_label(sa, "app", "metallb");
    json_array_append_new(a, sa);
  }
  static const char *const svc[] = {"services", NULL}, *const svc_status[] = {"services/status",
                                                                              NULL};
  static const char *const update[] = {"update", NULL}, *const cpatch[] = {"create", "patch", NULL};
  json_t *cr = obj(RBAC_API, "ClusterRole", "metallb-system:controller", NULL);
  rules = json_array();
  json_array_append_new(rules, rule("", svc, glw));
  json_array_append_new(rules, rule("", svc_status, update));
  json_array_append_new(rules, rule("", events, cpatch));
  json_object_set_new(cr, "rules", rules);
  json_array_append_new(a, cr);
  static const char *const spk[] = {"services", "endpoints", "nodes", NULL}, *const slices[] = {
                                                                                 "endpointslices",
                                                                                 NULL};
  cr = obj(RBAC_API, "ClusterRole", "metallb-system:speaker", NULL);
  rules = json_array();
  json_array_append_new(rules, rule("", spk, glw));
  json_array_append_new(rules, rule("discovery.k8s.io", slices, glw));
  json_array_append_new(rules, rule("", events, cpatch));
  json_object_set_new(cr, "rules", rules);
  json_array_append_new(a, cr);
  static const char *const cms[] = {"configmaps", NULL}, *const pods[] = {"pods", NULL};
  json_t *role = obj(RBAC_API, "Role", "config-watcher", "kube-system");
  json_object_set_new(role, "rules", one(rule("", cms, glw)));
  json_array_append_new(a, role);
  role = obj(RBAC_API, "Role", "pod-lister", "kube-system");
  json_object_set_new(role, "rules", one(rule("", pods, list)));
  json_array_append_new(a, role);
  json_array_append_new(a, binding("ClusterRoleBinding", "metallb-system:controller", NULL,
                                   "ClusterRole", "metallb-system:controller",
                                   one(sa_subject("controller"))));
  json_array_append_new(a,
                        binding("ClusterRoleBinding", "metallb-system:speaker", NULL, "ClusterRole",
                                "metallb-system:speaker", one(sa_subject("speaker"))));
  json_t *both = json_array();
  json_array_append_new(both, sa_subject("controller"));
  json_array_append_new(both, sa_subject("speaker"));
  json_array_append_new(
      a, binding("RoleBinding", "config-watcher", "kube-system", "Role", "config-watcher", both));
  json_array_append_new(a, binding("RoleBinding", "pod-lister", "kube-system", "Role", "pod-lister",
                                   one(sa_subject("speaker"))));
  json_array_append_new(a, metallb_controller(v));
  json_array_append_new(a, metallb_speaker(v));
  return a;
}

json_t *cp_access_secret(const char *ns) {
  json_t *s = obj("v1", "Secret", ACCESS_SECRET, ns);
  set_label(s, "resources.gardener.cloud/purpose", "token-requestor");
  set_label(s, "resources.gardener.cloud/class", "shoot");
  set_annotation(s, "serviceaccount.resources.gardener.cloud/name", CCM);
  set_annotation(s, "serviceaccount.resources.gardener.cloud/namespace", "kube-system");
  json_object_set_new(s, "type", json_string("Opaque"));
  return s;
}

/* ---- ManagedResources --------------------------------------------------------------------- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding (pure code links no GnuTLS). Caller frees. */
static char *b64(const char *s, size_t n) {
  char *out = xmalloc((n + 2) / 3 * 4 + 1), *p = out;
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    *p++ = b64chars[u[i] >> 2];
    *p++ = b64chars[((u[i] & 3) << 4) | (u[i + 1] >> 4)];
    *p++ = b64chars[((u[i + 1] & 15) << 2) | (u[i + 2] >> 6)];
    *p++ = b64chars[u[i + 2] & 63];
  }
  if (i < n) {
    *p++ = b64chars[u[i] >> 2];
    if (i + 1 < n) {
      *p++ = b64chars[((u[i] & 3) << 4) | (u[i + 1] >> 4)];
      *p++ = b64chars[(u[i + 1] & 15) << 2];
    } else {
      *p++ = b64chars[(u[i] & 3) << 4];
      *p++ = '=';
    }
    *p++ = '=';
  }
  *p = '\0';
  return out;
}

void cp_managed_resource(const char *ns, const char *mr, bool seed_class, const json_t *objects,
                         json_t **secret_out, json_t **manifests_out, json_t **mr_out) {
  json_t *data = json_object(), *manifests = json_object();
  size_t i;
  json_t *o;
  json_array_foreach(objects, i, o) {
    const char *kind = jsonx_str(o, "kind");
    const char *ons = jsonx_str(o, "metadata.namespace");
    const char *name = jsonx_str(o, "metadata.name");
    char *key = xasprintf("%s__%s__%s.json", kind ? kind : "", ons ? ons : "", name ? name : "");
    for (char *c = key; *c; c++)
      *c = (char)tolower((unsigned char)*c);
    char *doc = jsonx_canonical(o);
    char *enc = b64(doc, strlen(doc));
    json_object_set_new(data, key, json_string(enc));
    json_object_set(manifests, key, o);
    free(enc);
    free(doc);
    free(key);
  }
  char *canon = jsonx_canonical(data);
  char hex[SHA256_HEX_LEN + 1];
  sha256_hex(canon, strlen(canon), hex);
  free(canon);
  hex[8] = '\0';
  char *sname = xasprintf("%s-%s", mr, hex);

  json_t *s = obj("v1", "Secret", sname, ns);
  set_label(s, "resources.gardener.cloud/garbage-collectable-reference", "true");
  json_object_set_new(s, "type", json_string("Opaque"));
  json_object_set_new(s, "immutable", json_true());
  json_decref(data);

  json_t *m = obj("resources.gardener.cloud/v1alpha1", "ManagedResource", mr, ns);
  if (!seed_class)
    set_label(m, "origin", "gardener");
  json_t *spec = json_object();
  if (seed_class)
    json_object_set_new(spec, "class", json_string("seed"));
  json_object_set_new(spec, "secretRefs", json_pack("[{s:s}]", "name", sname));
  json_object_set_new(spec, "keepObjects", json_false());
  json_object_set_new(m, "spec", spec);
  free(sname);
  *secret_out = s;
  *manifests_out = manifests;
  *mr_out = m;
}
