/*
 * mutate_test.c - the pure mutations, object by object, with the results the Go
 * original gives (commands, env, annotations, units, files), and the context each
 * asks for.
 */
#include "engine/base/common.h"
#include "engine/base/b64.h"
#include "engine/base/jsonx.h"
#include "providers/equinix-metal/webhook/mutate.h"
#include "webhook/kobj.h"
#include "engine/base/xalloc.h"
#include "engine/base/yamlconv.h"

#include "test/tap.h"

#include <stdlib.h>
#include <string.h>

static json_t *J(const char *s) {
  struct eng_error err;
  json_t *v = jsonx_parse(s, strlen(s), "test", &err);
  if (!v) {
    fprintf(stderr, "bad test JSON %s: %s\n", s, err.msg);
    abort();
  }
  return v;
}

static struct admission_request req_for(const char *group, const char *kind, json_t *obj) {
  struct admission_request r = {0};
  r.group = group;
  r.version = "v1";
  r.kind = kind;
  r.ns = "shoot--p--s";
  r.name = "";
  r.operation = "CREATE";
  r.object = obj;
  return r;
}

static const char *cluster_json = "{\"metadata\":{\"name\":\"shoot--p--s\"},\"spec\":{\"shoot\":{"
                                  "\"metadata\":{\"name\":\"s\"},\"spec\":{\"provider\":"
                                  "{\"workers\":[{\"name\":\"w1\",\"machine\":{\"type\":\"c3."
                                  "small\",\"image\":{\"name\":\"flatcar\",\"version\":\"1\"}}"
                                  ",\"volume\":{\"size\":\"100Gi\"}}]}}}}}";

static void test_kube_apiserver(void) {
  json_t *obj =
      J("{\"metadata\":{\"name\":\"kube-apiserver\"},\"spec\":{\"template\":{\"metadata\":{},"
        "\"spec\":"
        "{\"containers\":[{\"name\":\"kube-apiserver\",\"command\":[\"/usr/local/bin/"
        "kube-apiserver\","
        "\"--enable-admission-plugins=Priority,PersistentVolumeLabel,NodeRestriction\","
        "\"--feature-gates=CSINodeInfo=false,Foo=true,KubeletPluginsWatcher=false\"]}]}}}}");
  json_t *twin = json_deep_copy(obj);
  struct admission_request r = req_for("apps", "Deployment", obj);
  ASSERT_EQ(MUTATE_NEED_CLOUDPROVIDER, mutate_controlplane_needs(&r));
  struct mutate_ctx ctx = {.cloudprovider_checksum = "abc"};
  struct eng_error err;
  ASSERT_EQ(ENG_OK, mutate_controlplane(obj, &r, &ctx, &err));
  json_t *cmd = jsonx_path(obj, "spec.template.spec.containers");
  cmd = json_object_get(json_array_get(cmd, 0), "command");
  ASSERT_STR_EQ("--enable-admission-plugins=Priority,NodeRestriction",
                json_string_value(json_array_get(cmd, 1)));
  ASSERT_STR_EQ("--feature-gates=Foo=true", json_string_value(json_array_get(cmd, 2)));
  ASSERT_STR_EQ("--disable-admission-plugins=PersistentVolumeLabel",
                json_string_value(json_array_get(cmd, 3)));
  ASSERT_STR_EQ("abc",
                jsonx_str(json_object_get(jsonx_path(obj, "spec.template.metadata"), "annotations"),
                          "checksum/secret-cloudprovider"));
  /* Idempotent: a second run changes nothing. */
  json_t *again = json_deep_copy(obj);
  ASSERT_EQ(ENG_OK, mutate_controlplane(again, &r, &ctx, &err));
  ASSERT(json_equal(obj, again));
  json_decref(again);
  json_decref(obj);
  /* An empty --disable-admission-plugins= gets the plugin alone, not ",PersistentVolumeLabel". */
  json_t *c0 = json_array_get(jsonx_path(twin, "spec.template.spec.containers"), 0);
  json_array_append_new(json_object_get(c0, "command"),
                        json_string("--disable-admission-plugins="));
  ASSERT_EQ(ENG_OK, mutate_controlplane(twin, &r, &ctx, &err));
  ASSERT_STR_EQ("--disable-admission-plugins=PersistentVolumeLabel",
                json_string_value(json_array_get(json_object_get(c0, "command"), 3)));
  ASSERT_EQ(4, json_array_size(json_object_get(c0, "command")));
  json_decref(twin);
}

static void test_kcm_and_others(void) {
  json_t *obj =
      J("{\"metadata\":{\"name\":\"kube-controller-manager\"},\"spec\":{\"template\":{\"spec\":"
        "{\"containers\":[{\"name\":\"kube-controller-manager\",\"command\":[\"kcm\",\"--cloud-"
        "provider=x\","
        "\"--v=2\",\"--cloud-provider=y\"]}]}}}}");
  struct admission_request r = req_for("apps", "Deployment", obj);
  ASSERT_EQ(0, mutate_controlplane_needs(&r));
  struct mutate_ctx ctx = {0};
  struct eng_error err;
  ASSERT_EQ(ENG_OK, mutate_controlplane(obj, &r, &ctx, &err));
  char *s = jsonx_canonical(jsonx_path(obj, "spec.template.spec.containers"));
  ASSERT_STR_EQ("[{\"command\":[\"kcm\",\"--cloud-provider=external\",\"--v=2\",\"--cloud-provider="
                "external\"],"
                "\"name\":\"kube-controller-manager\"}]",
                s);
  free(s);
  json_decref(obj);
  /* Other deployments and objects being deleted are untouched. */
  obj = J("{\"metadata\":{\"name\":\"kube-scheduler\"},\"spec\":{}}");
  r = req_for("apps", "Deployment", obj);
  json_t *before = json_deep_copy(obj);
  ASSERT_EQ(ENG_OK, mutate_controlplane(obj, &r, &ctx, &err));
  ASSERT(json_equal(before, obj));
  json_decref(obj);
  json_decref(before);
  obj = J("{\"metadata\":{\"name\":\"kube-apiserver\",\"deletionTimestamp\":\"2026-01-01T00:00:"
          "00Z\"}}");
  r = req_for("apps", "Deployment", obj);
  ASSERT_EQ(0, mutate_controlplane_needs(&r));
  json_decref(obj);
}

static void test_vpn_seed_server(void) {
  const char *kinds[] = {"Deployment", "StatefulSet"};
  for (int k = 0; k < 2; k++) {
    json_t *obj =
        J("{\"metadata\":{\"name\":\"vpn-seed-server\"},\"spec\":{\"template\":{\"spec\":{"
          "\"containers\":["
          "{\"name\":\"vpn-seed-server\",\"env\":[{\"name\":\"A\",\"value\":\"1\"}]}]}}}}");
    struct admission_request r = req_for("apps", kinds[k], obj);
    ASSERT_EQ(MUTATE_NEED_CLUSTER | MUTATE_NEED_INFRA, mutate_controlplane_needs(&r));
    json_t *infra = J("{\"status\":{\"nodesCIDR\":\"10.2.0.0/16,10.1.0.0/16,10.2.0.0/16\"}}");
    struct mutate_ctx ctx = {.infrastructure = infra};
    struct eng_error err;
    ASSERT_EQ(ENG_OK, mutate_controlplane(obj, &r, &ctx, &err));
    char *s = jsonx_canonical(jsonx_path(obj, "spec.template.spec.containers"));
    ASSERT_STR_EQ(
        "[{\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"NODE_NETWORK\",\"value\":"
        "\"10.1.0.0/16,10.2.0.0/16\"}],\"name\":\"vpn-seed-server\"}]",
        s);
    free(s);
    json_decref(infra);
    /* No nodesCIDR yet: nothing to do. */
    infra = J("{\"status\":{}}");
    ctx.infrastructure = infra;
    json_t *before = json_deep_copy(obj);
    json_object_set_new(json_array_get(jsonx_path(obj, "spec.template.spec.containers"), 0), "env",
                        json_array());
    json_decref(before);
    before = json_deep_copy(obj);
    ASSERT_EQ(ENG_OK, mutate_controlplane(obj, &r, &ctx, &err));
    ASSERT(json_equal(before, obj));
    json_decref(before);
    json_decref(infra);
    json_decref(obj);
  }
}

static void test_grm_configmap(void) {
  const char *cfg = "apiVersion: resourcemanager.config.gardener.cloud/v1alpha1\nkind: "
                    "ResourceManagerConfiguration\n"
                    "targetClientConnection:\n  namespaces:\n  - kube-system\n  qps: 100\n";
  json_t *obj = json_pack("{s:{s:s},s:{s:s}}", "metadata", "name", "gardener-resource-manager-abc",
                          "data", "config.yaml", cfg);
  struct admission_request r = req_for("", "ConfigMap", obj);
  struct mutate_ctx ctx = {0};
  struct eng_error err;
  ASSERT_EQ(ENG_OK, mutate_controlplane(obj, &r, &ctx, &err));
  const char *out = jsonx_str(obj, "data.config.yaml");
  ASSERT(!out); /* jsonx_path splits on dots: look it up directly */
  out = json_string_value(json_object_get(json_object_get(obj, "data"), "config.yaml"));
  json_t *parsed = yamlconv_parse(out, strlen(out), "out", &err);
  ASSERT(parsed);
  char *s = jsonx_canonical(
      json_object_get(json_object_get(parsed, "targetClientConnection"), "namespaces"));
  ASSERT_STR_EQ("[\"kube-system\",\"metallb-system\"]", s);
  free(s);
  ASSERT_EQ(100, jsonx_int(parsed, "targetClientConnection.qps", 0));
  json_decref(parsed);
  /* Deduplicated: a second admission adds nothing (the Go original appended again). */
  json_t *before = json_deep_copy(obj);
  ASSERT_EQ(ENG_OK, mutate_controlplane(obj, &r, &ctx, &err));
  ASSERT(json_equal(before, obj));
  json_decref(before);
  json_decref(obj);
  /* "All namespaces" (no list) is not narrowed; a broken config is refused with the Go wording. */
  obj = json_pack("{s:{s:s},s:{s:s}}", "metadata", "name", "gardener-resource-manager", "data",
                  "config.yaml", "targetClientConnection:\n  qps: 1\n");
  before = json_deep_copy(obj);
  ASSERT_EQ(ENG_OK, mutate_controlplane(obj, &r, &ctx, &err));
  ASSERT(json_equal(before, obj));
  json_decref(before);
  json_decref(obj);
  obj = json_pack("{s:{s:s},s:{s:s}}", "metadata", "name", "gardener-resource-manager", "data",
                  "config.yaml", "a: [1\n");
  ASSERT_EQ(ENG_INVALID, mutate_controlplane(obj, &r, &ctx, &err));
  ASSERT_CONTAINS(err.msg, "error decoding config");
  json_decref(obj);
}

static const char kubelet_unit[] =
    "[Unit]\nDescription=kubelet daemon\n\n[Service]\nRestart=always\n"
    "ExecStart=/opt/bin/kubelet \\\n    --config=/var/lib/kubelet/config/kubelet \\\n"
    "    --cloud-provider=aws\n";

static json_t *osc(const char *purpose, const char *kubelet_cfg_b64) {
  json_t *o =
      json_pack("{s:{s:s},s:{s:s,s:[{s:s,s:s}],s:[{s:s,s:{s:{s:s,s:s}}}]}}", "metadata", "name",
                "osc", "spec", "purpose", purpose, "units", "name", "kubelet.service", "content",
                kubelet_unit, "files", "path", "/var/lib/kubelet/config/kubelet", "content",
                "inline", "encoding", "b64", "data", kubelet_cfg_b64);
  return o;
}

static void test_osc_reconcile(void) {
  const char *cfg = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                    "enableControllerAttachDetach: false\nmaxPods: 110\n";
  char *b = b64_encode(cfg, strlen(cfg));
  json_t *obj = osc("reconcile", b);
  free(b);
  json_t *cluster = J(cluster_json);
  struct admission_request r = req_for("extensions.gardener.cloud", "OperatingSystemConfig", obj);
  ASSERT_EQ(MUTATE_NEED_CLUSTER, mutate_controlplane_needs(&r));
  struct mutate_ctx ctx = {.cluster = cluster};
  struct eng_error err;
  ASSERT_EQ(ENG_OK, mutate_controlplane(obj, &r, &ctx, &err));
  json_t *units = jsonx_path(obj, "spec.units");
  ASSERT_EQ(2, json_array_size(units));
  ASSERT_STR_EQ(
      "[Unit]\nDescription=kubelet daemon\n\n[Service]\nRestart=always\nExecStart=/opt/bin/kubelet "
      "--config=/var/lib/kubelet/config/kubelet \\\n    --cloud-provider=external \\\n"
      "    --root-dir=/var/lib/containerd\n",
      json_string_value(json_object_get(json_array_get(units, 0), "content")));
  json_t *bgp = json_array_get(units, 1);
  ASSERT_STR_EQ("bgp-peer-route.service", jsonx_str(bgp, "name"));
  ASSERT(jsonx_bool(bgp, "enable", false));
  ASSERT_STR_EQ("start", jsonx_str(bgp, "command"));
  ASSERT_CONTAINS(jsonx_str(bgp, "content"), "ExecStart=/opt/bin/bgp-peer.sh");
  json_t *files = jsonx_path(obj, "spec.files");
  ASSERT_EQ(2, json_array_size(files));
  json_t *script = json_array_get(files, 1);
  ASSERT_STR_EQ("/opt/bin/bgp-peer.sh", jsonx_str(script, "path"));
  ASSERT_EQ(0755, jsonx_int(script, "permissions", 0));
  ASSERT_STR_EQ("", jsonx_str(script, "content.inline.encoding"));
  ASSERT_CONTAINS(jsonx_str(script, "content.inline.data"),
                  "ip route add 169.254.255.1 via ${GATEWAY} dev bond0");
  /* The kubelet configuration is still b64 and now enables attach/detach, the rest kept. */
  const char *data = jsonx_str(json_array_get(files, 0), "content.inline.data");
  unsigned char *raw;
  size_t rl;
  ASSERT_EQ(ENG_OK, b64_decode(data, strlen(data), &raw, &rl));
  json_t *kc = yamlconv_parse((char *)raw, rl, "kubelet config", &err);
  free(raw);
  ASSERT(kc);
  ASSERT(jsonx_bool(kc, "enableControllerAttachDetach", false));
  ASSERT_EQ(110, jsonx_int(kc, "maxPods", 0));
  ASSERT_STR_EQ("KubeletConfiguration", jsonx_str(kc, "kind"));
  json_decref(kc);
  /* Idempotent. */
  json_t *again = json_deep_copy(obj);
  ASSERT_EQ(ENG_OK, mutate_controlplane(again, &r, &ctx, &err));
  ASSERT(json_equal(obj, again));
  json_decref(again);
  json_decref(obj);
  json_decref(cluster);
}

static void test_osc_errors(void) {
  json_t *obj = osc("reconcile", "!!notbase64");
  json_t *cluster = J(cluster_json);
  struct admission_request r = req_for("extensions.gardener.cloud", "OperatingSystemConfig", obj);
  struct mutate_ctx ctx = {.cluster = cluster};
  struct eng_error err;
  ASSERT_EQ(ENG_INVALID, mutate_controlplane(obj, &r, &ctx, &err));
  ASSERT_CONTAINS(err.msg, "could not decode kubelet configuration");
  json_decref(obj);
  obj = osc("reconcile", "");
  json_object_set_new(json_array_get(jsonx_path(obj, "spec.units"), 0), "content",
                      json_string("[Service"));
  ASSERT_EQ(ENG_INVALID, mutate_controlplane(obj, &r, &ctx, &err));
  ASSERT_CONTAINS(err.msg, "could not deserialize kubelet.service unit content");
  json_decref(obj);
  json_decref(cluster);
}

static void test_osc_provision(void) {
  json_t *cluster = J(cluster_json);
  json_t *obj = J("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"purpose\":\"provision\"}}");
  struct admission_request r = req_for("extensions.gardener.cloud", "OperatingSystemConfig", obj);
  struct mutate_ctx ctx = {.cluster = cluster};
  struct eng_error err;
  ASSERT_EQ(ENG_OK, mutate_controlplane(obj, &r, &ctx, &err));
  ASSERT_EQ(2, json_array_size(jsonx_path(obj, "spec.units")));
  ASSERT_STR_EQ("lvm-setup.service",
                jsonx_str(json_array_get(jsonx_path(obj, "spec.units"), 0), "name"));
  ASSERT_STR_EQ("var-lib-containerd.mount",
                jsonx_str(json_array_get(jsonx_path(obj, "spec.units"), 1), "name"));
  ASSERT_CONTAINS(jsonx_str(json_array_get(jsonx_path(obj, "spec.units"), 1), "content"),
                  "What=/dev/vg-containerd/vol_containerd");
  ASSERT_STR_EQ("/opt/bin/lvm.sh",
                jsonx_str(json_array_get(jsonx_path(obj, "spec.files"), 0), "path"));
  json_decref(obj);
  /* Two operating systems: refused, as in the Go original. */
  json_t *workers = jsonx_path(cluster, "spec.shoot.spec.provider.workers");
  json_array_append_new(workers,
                        J("{\"name\":\"w2\",\"machine\":{\"image\":{\"name\":\"ubuntu\"}}}"));
  obj = J("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"purpose\":\"provision\"}}");
  ASSERT_EQ(ENG_INVALID, mutate_controlplane(obj, &r, &ctx, &err));
  ASSERT_STR_EQ("multiple operatingsystems used: [flatcar ubuntu]; Only one allowed", err.msg);
  json_decref(obj);
  /* No volume: nothing. */
  json_array_remove(workers, 1);
  json_object_del(json_array_get(workers, 0), "volume");
  obj = J("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"purpose\":\"provision\"}}");
  json_t *before = json_deep_copy(obj);
  ASSERT_EQ(ENG_OK, mutate_controlplane(obj, &r, &ctx, &err));
  ASSERT(json_equal(before, obj));
  json_decref(before);
  json_decref(obj);
  json_decref(cluster);
}

static void test_seedprovider(void) {
  json_t *obj = J("{\"metadata\":{\"name\":\"etcd-main\"},\"spec\":{\"storageClass\":\"x\"}}");
  struct admission_request r = req_for("druid.gardener.cloud", "Etcd", obj);
  struct mutate_ctx ctx = {.etcd_class = "fast", .etcd_capacity = "33Gi"};
  struct eng_error err;
  ASSERT_EQ(0, mutate_seedprovider_needs(&r));
  ASSERT_EQ(ENG_OK, mutate_seedprovider(obj, &r, &ctx, &err));
  ASSERT_STR_EQ("fast", jsonx_str(obj, "spec.storageClass"));
  ASSERT_STR_EQ("33Gi", jsonx_str(obj, "spec.storageCapacity"));
  json_decref(obj);
  obj = J("{\"metadata\":{\"name\":\"etcd-main\"}}");
  struct mutate_ctx dflt = {0};
  ASSERT_EQ(ENG_OK, mutate_seedprovider(obj, &r, &dflt, &err));
  ASSERT_STR_EQ(MUTATE_DEFAULT_ETCD_CLASS, jsonx_str(obj, "spec.storageClass"));
  ASSERT_STR_EQ(MUTATE_DEFAULT_ETCD_CAPACITY, jsonx_str(obj, "spec.storageCapacity"));
  json_decref(obj);
  obj = J("{\"metadata\":{\"name\":\"etcd-events\"},\"spec\":{}}");
  ASSERT_EQ(ENG_OK, mutate_seedprovider(obj, &r, &ctx, &err));
  ASSERT_STR_EQ("", jsonx_str(obj, "spec.storageClass"));
  ASSERT_STR_EQ("10Gi", jsonx_str(obj, "spec.storageCapacity"));
  json_decref(obj);
}

static void test_shoot_vpn(void) {
  json_t *obj =
      J("{\"metadata\":{\"name\":\"vpn-shoot\"},\"spec\":{\"template\":{\"spec\":{\"containers\":[{"
        "\"name\":"
        "\"vpn-shoot\"}],\"volumes\":[{\"name\":\"shared-init-config\",\"secret\":{}}]}}}}");
  struct admission_request r = req_for("apps", "Deployment", obj);
  struct mutate_ctx ctx = {.metabot_image = "img:1"};
  struct eng_error err;
  ASSERT_EQ(ENG_OK, mutate_shoot(obj, &r, &ctx, &err));
  char *s = jsonx_canonical(jsonx_path(obj, "spec.template.spec"));
  ASSERT_STR_EQ("{\"containers\":[{\"name\":\"vpn-shoot\",\"volumeMounts\":[{\"mountPath\":\"/"
                "init-config\",\"name\":"
                "\"shared-init-config\"}]}],\"initContainers\":[{\"args\":[\"ip\",\"4\","
                "\"private\",\"parent\","
                "\"network\",\"--out\",\"/init-config/"
                "nodeNetwork\"],\"image\":\"img:1\",\"name\":\"metabot\","
                "\"volumeMounts\":[{\"mountPath\":\"/"
                "init-config\",\"name\":\"shared-init-config\"}]}],\"volumes\":"
                "[{\"emptyDir\":{},\"name\":\"shared-init-config\"}]}",
                s);
  free(s);
  json_t *again = json_deep_copy(obj);
  ASSERT_EQ(ENG_OK, mutate_shoot(again, &r, &ctx, &err));
  ASSERT(json_equal(obj, again));
  json_decref(again);
  json_decref(obj);
  r.kind = "StatefulSet";
  obj = J("{}");
  ASSERT_EQ(ENG_INVALID, mutate_shoot(obj, &r, &ctx, &err));
  ASSERT_CONTAINS(err.msg, "wrong object type");
  json_decref(obj);
}

static void test_secret_checksum(void) {
  char out[65];
  struct eng_error err;
  json_t *sec = J("{\"data\":{\"projectID\":\"cHJvamVjdElkCg==\",\"apiToken\":\"YXBpVG9rZW4K\"}}");
  ASSERT_EQ(ENG_OK, kobj_secret_checksum(sec, out, &err));
  /* sha256 of {"apiToken":"YXBpVG9rZW4K","projectID":"cHJvamVjdElkCg=="}, as Go's json.Marshal
   * writes it. */
  ASSERT_STR_EQ("58d3b88e67367ba83dc701842223ee527e8a58bee97524f2256bde123558c6dd", out);
  json_decref(sec);
  sec = J("{\"metadata\":{}}");
  ASSERT_EQ(ENG_OK, kobj_secret_checksum(sec, out, &err));
  ASSERT_STR_EQ("74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b",
                out); /* "null" */
  json_decref(sec);
  sec = J("{\"data\":{\"k\":\"***\"}}");
  ASSERT_EQ(ENG_INVALID, kobj_secret_checksum(sec, out, &err));
  json_decref(sec);
}

int main(void) {
  xalloc_init();
  TEST(test_kube_apiserver);
  TEST(test_kcm_and_others);
  TEST(test_vpn_seed_server);
  TEST(test_grm_configmap);
  TEST(test_osc_reconcile);
  TEST(test_osc_errors);
  TEST(test_osc_provision);
  TEST(test_seedprovider);
  TEST(test_shoot_vpn);
  TEST(test_secret_checksum);
  return tap_done();
}
