/*
 * whconfig_test.c - the webhook's reading of the ControllerConfiguration, the
 * registration objects (names, rules, client configs per mode, the shoot
 * ManagedResource) and the webhook table.
 */
#include "engine/base/common.h"
#include "engine/base/b64.h"
#include "engine/base/jsonx.h"
#include "providers/equinix-metal/webhook/config.h"
#include "webhook/registration.h"
#include "providers/equinix-metal/webhook/registry.h"
#include "engine/base/xalloc.h"
#include "engine/base/yamlconv.h"

#include "test/tap.h"

#include <stdlib.h>
#include <string.h>

static void test_config(void) {
  struct wh_config c;
  struct eng_error err;
  const char *good =
      "apiVersion: equinixmetal.provider.extensions.config.gardener.cloud/v1alpha1\n"
      "kind: ControllerConfiguration\nclientConnection:\n  qps: 100\netcd:\n  storage:\n"
      "    className: gardener.cloud-fast\n    capacity: 25Gi\n";
  ASSERT_EQ(ENG_OK, wh_config_parse(good, strlen(good), "c.yaml", &c, &err));
  ASSERT_STR_EQ("gardener.cloud-fast", c.etcd_class);
  ASSERT_STR_EQ("25Gi", c.etcd_capacity);
  wh_config_release(&c);
  ASSERT_EQ(ENG_OK, wh_config_parse("", 0, "empty.yaml", &c, &err));
  ASSERT(!c.etcd_class && !c.etcd_capacity);
  const char *bad_cap = "etcd:\n  storage:\n    capacity: lots\n";
  ASSERT_EQ(ENG_CONFIG, wh_config_parse(bad_cap, strlen(bad_cap), "c.yaml", &c, &err));
  ASSERT_CONTAINS(err.msg,
                  "configuration file c.yaml: etcd.storage.capacity \"lots\" is not a quantity");
  const char *bad_kind = "kind: Other\n";
  ASSERT_EQ(ENG_CONFIG, wh_config_parse(bad_kind, strlen(bad_kind), "c.yaml", &c, &err));
  ASSERT_CONTAINS(err.msg, "kind \"Other\"");
  ASSERT_EQ(ENG_CONFIG, wh_config_parse("a: [", 4, "c.yaml", &c, &err));
  ASSERT_CONTAINS(err.msg, "configuration file c.yaml");
  ASSERT_EQ(ENG_CONFIG, wh_config_load("/nonexistent/x.yaml", &c, &err));
  ASSERT_CONTAINS(err.msg, "/nonexistent/x.yaml");
  ASSERT(wh_quantity_valid("25Gi") && wh_quantity_valid("1.5Ti") && wh_quantity_valid("500M") &&
         wh_quantity_valid("10e3") && wh_quantity_valid("1024"));
  ASSERT(!wh_quantity_valid("Gi") && !wh_quantity_valid("25GB") && !wh_quantity_valid("") &&
         !wh_quantity_valid("1e"));
}

static void test_seed_config(void) {
  bool enabled[8] = {true, true, true, true};
  struct registration_params p = {.set = metal_webhooks(),
                                  .mode = "service",
                                  .ns = "garden",
                                  .service_port = 443,
                                  .ca_bundle = "PEM",
                                  .enabled = enabled,
                                  .owner_ns = "garden",
                                  .owner_ns_uid = "u-1"};
  json_t *cfg = registration_build(WH_TARGET_SEED, &p);
  ASSERT(cfg);
  ASSERT_STR_EQ("MutatingWebhookConfiguration", jsonx_str(cfg, "kind"));
  ASSERT_STR_EQ("gardener-extension-provider-equinix-metal", jsonx_str(cfg, "metadata.name"));
  ASSERT_STR_EQ("u-1",
                jsonx_str(json_array_get(jsonx_path(cfg, "metadata.ownerReferences"), 0), "uid"));
  json_t *hooks = json_object_get(cfg, "webhooks");
  ASSERT_EQ(2, json_array_size(hooks));
  json_t *cp = json_array_get(hooks, 0);
  ASSERT_STR_EQ("controlplane.equinix-metal.extensions.gardener.cloud", jsonx_str(cp, "name"));
  ASSERT_STR_EQ("Fail", jsonx_str(cp, "failurePolicy"));
  ASSERT_STR_EQ("None", jsonx_str(cp, "sideEffects"));
  ASSERT_STR_EQ("Exact", jsonx_str(cp, "matchPolicy"));
  ASSERT_EQ(10, jsonx_int(cp, "timeoutSeconds", 0));
  char *s = jsonx_canonical(json_object_get(cp, "admissionReviewVersions"));
  ASSERT_STR_EQ("[\"v1\",\"v1beta1\"]", s);
  free(s);
  s = jsonx_canonical(json_object_get(cp, "namespaceSelector"));
  ASSERT_STR_EQ("{\"matchExpressions\":[{\"key\":\"shoot.gardener.cloud/"
                "provider\",\"operator\":\"In\",\"values\":"
                "[\"equinixmetal\"]}]}",
                s);
  free(s);
  s = jsonx_canonical(json_array_get(json_object_get(cp, "rules"), 1));
  ASSERT_STR_EQ(
      "{\"apiGroups\":[\"apps\"],\"apiVersions\":[\"v1\"],\"operations\":[\"CREATE\",\"UPDATE\"],"
      "\"resources\":[\"statefulsets\"]}",
      s);
  free(s);
  s = jsonx_canonical(json_object_get(cp, "clientConfig"));
  ASSERT_STR_EQ(
      "{\"caBundle\":\"UEVN\",\"service\":{\"name\":\"gardener-extension-provider-equinix-metal\","
      "\"namespace\":\"garden\",\"path\":\"/controlplane\",\"port\":443}}",
      s);
  free(s);
  ASSERT_STR_EQ(
      "seed.gardener.cloud/provider",
      jsonx_str(json_array_get(
                    jsonx_path(json_array_get(hooks, 1), "namespaceSelector.matchExpressions"), 0),
                "key"));
  json_decref(cfg);
  /* Disabled webhooks are left out; with none left there is no configuration. */
  enabled[0] = false;
  cfg = registration_build(WH_TARGET_SEED, &p);
  ASSERT_EQ(1, json_array_size(json_object_get(cfg, "webhooks")));
  json_decref(cfg);
  enabled[1] = false;
  ASSERT(!registration_build(WH_TARGET_SEED, &p));
}

static void test_client_configs(void) {
  struct registration_params p = {
      .set = metal_webhooks(), .url = "10.0.0.1:8443", .ns = "ext", .service_port = 9443};
  json_t *cc = registration_client_config("/shoot", "url", &p);
  ASSERT_STR_EQ("https://10.0.0.1:8443/shoot", jsonx_str(cc, "url"));
  ASSERT(!json_object_get(cc, "caBundle"));
  json_decref(cc);
  cc = registration_client_config("/shoot", "url-service", &p);
  ASSERT_STR_EQ("https://gardener-extension-provider-equinix-metal.ext:9443/shoot",
                jsonx_str(cc, "url"));
  json_decref(cc);
  /* Shoot webhooks use url-service unless the mode is url. */
  bool enabled[8] = {true, true, true, true};
  p.mode = "service";
  p.enabled = enabled;
  json_t *shoot = registration_build(WH_TARGET_SHOOT, &p);
  ASSERT_STR_EQ("gardener-extension-provider-equinix-metal-shoot",
                jsonx_str(shoot, "metadata.name"));
  json_t *w = json_array_get(json_object_get(shoot, "webhooks"), 0);
  ASSERT_STR_EQ("shoot.equinix-metal.extensions.gardener.cloud", jsonx_str(w, "name"));
  ASSERT_STR_EQ("Ignore", jsonx_str(w, "failurePolicy"));
  ASSERT_STR_EQ("vpn-shoot", jsonx_str(w, "objectSelector.matchLabels.app"));
  ASSERT_STR_EQ("https://gardener-extension-provider-equinix-metal.ext:9443/shoot",
                jsonx_str(w, "clientConfig.url"));
  /* The ManagedResource and its Secret, named like Gardener's managedresources.Create names them.
   */
  json_t *secret = NULL;
  json_t *mr = registration_shoot_managed_resource("shoot--p--s", shoot, &secret);
  ASSERT_STR_EQ("extension-controlplane-shoot-webhooks", jsonx_str(mr, "metadata.name"));
  ASSERT_STR_EQ("shoot--p--s", jsonx_str(mr, "metadata.namespace"));
  const char *sname = jsonx_str(json_array_get(jsonx_path(mr, "spec.secretRefs"), 0), "name");
  ASSERT_STR_EQ(sname, jsonx_str(secret, "metadata.name"));
  ASSERT_EQ(strlen("extension-controlplane-shoot-webhooks-") + 8, strlen(sname));
  ASSERT(jsonx_bool(secret, "immutable", false));
  json_t *data = json_object_get(secret, "data");
  const char *key = "admissionregistration.k8s.io/v1, kind=mutatingwebhookconfiguration____"
                    "gardener-extension-provider-equinix-metal-shoot.yaml";
  const char *b = json_string_value(json_object_get(data, key));
  ASSERT(b);
  unsigned char *yaml;
  size_t yl;
  struct eng_error err;
  ASSERT_EQ(ENG_OK, b64_decode(b, strlen(b), &yaml, &yl));
  json_t *back = yamlconv_parse((char *)yaml, yl, "secret data", &err);
  free(yaml);
  ASSERT(json_equal(back, shoot));
  json_decref(back);
  json_decref(secret);
  json_decref(mr);
  json_decref(shoot);
  p.mode = "url";
  shoot = registration_build(WH_TARGET_SHOOT, &p);
  ASSERT_STR_EQ(
      "https://10.0.0.1:8443/shoot",
      jsonx_str(json_array_get(json_object_get(shoot, "webhooks"), 0), "clientConfig.url"));
  json_decref(shoot);
  json_t *vwc = registration_build(WH_TARGET_GARDEN, &p);
  ASSERT_STR_EQ("ValidatingWebhookConfiguration", jsonx_str(vwc, "kind"));
  ASSERT_STR_EQ("gardener-extension-provider-equinix-metal-admission",
                jsonx_str(vwc, "metadata.name"));
  w = json_array_get(json_object_get(vwc, "webhooks"), 0);
  ASSERT_STR_EQ("validator.equinix-metal.extensions.gardener.cloud", jsonx_str(w, "name"));
  ASSERT_STR_EQ("true", json_string_value(
                            json_object_get(jsonx_path(w, "objectSelector.matchLabels"),
                                            "provider.extensions.gardener.cloud/equinixmetal")));
  json_decref(vwc);
}

static void test_registry(void) {
  const struct wh_def *d = wh_set_by_path(metal_webhooks(), "/controlplane");
  ASSERT(d && !strcmp(d->name, "controlplane"));
  ASSERT(wh_def_has_kind(d, "apps", "v1", "StatefulSet"));
  ASSERT(!wh_def_has_kind(d, "apps", "v1beta1", "Deployment"));
  ASSERT(wh_def_has_kind(d, "autoscaling.k8s.io", "v1",
                         "VerticalPodAutoscaler")); /* MCM sidecar VPA entry */
  ASSERT(wh_set_by_name(metal_webhooks(), "validator")->validating);
  ASSERT(!wh_set_by_path(metal_webhooks(), "/nope"));
}

int main(void) {
  xalloc_init();
  TEST(test_config);
  TEST(test_seed_config);
  TEST(test_client_configs);
  TEST(test_registry);
  return tap_done();
}
