/*
 * validate_test.c - strict decoding of the provider configs and the Shoot and
 * CloudProfile rules, with the exact field-error messages an operator sees.
 */
#include "engine/base/common.h"
#include "engine/base/jsonx.h"
#include "providers/equinix-metal/webhook/validate.h"
#include "engine/base/xalloc.h"

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

#define AV "\"apiVersion\":\"equinixmetal.provider.extensions.gardener.cloud/v1alpha1\""

static const char *profile_spec =
    "{\"type\":\"equinixmetal\",\"regions\":[{\"name\":\"ny\",\"zones\":[{\"name\":\"ny5\"},{"
    "\"name\":\"ny7\"}]}],"
    "\"machineTypes\":[{\"name\":\"c3.small\"},{\"name\":\"m3.large\"}],"
    "\"machineImages\":[{\"name\":\"flatcar\",\"versions\":[{\"version\":\"1.0\"}]}],"
    "\"providerConfig\":{" AV
    ",\"kind\":\"CloudProfileConfig\",\"machineImages\":[{\"name\":\"flatcar\",\"versions\":"
    "[{\"version\":\"1.0\",\"id\":\"flatcar_stable\"},{\"version\":\"3510.2.2\",\"ipxeScriptUrl\":"
    "\"https://stable.release.flatcar-linux.net/x.ipxe\"}]}]}}";

static char *message_of(struct fielderr_list *l) { return fielderr_message(l); }

static void test_uuid(void) {
  ASSERT(validate_is_uuid("c1b2a3d4-0000-4a5b-9c8d-0123456789AB"));
  ASSERT(!validate_is_uuid("abc"));
  ASSERT(!validate_is_uuid("c1b2a3d4-0000-4a5b-9c8d-0123456789ABC"));
  ASSERT(!validate_is_uuid("c1b2a3d4x0000-4a5b-9c8d-0123456789AB"));
  ASSERT(!validate_is_uuid(""));
}

static void test_worker_config(void) {
  struct fielderr_list l = {0};
  json_t *cfg =
      J("{" AV
        ",\"kind\":\"WorkerConfig\",\"reservationIDs\":[\"c1b2a3d4-0000-4a5b-9c8d-0123456789ab\","
        "\"abc\",\"C1B2A3D4-0000-4A5B-9C8D-0123456789AB\"],\"reservedDevicesOnly\":\"yes\","
        "\"extra\":1}");
  validate_worker_config(cfg, "spec.provider.workers[0].providerConfig", &l);
  char *m = message_of(&l);
  ASSERT_STR_EQ(
      "[spec.provider.workers[0].providerConfig.extra: Forbidden: unknown field in WorkerConfig, "
      "spec.provider.workers[0].providerConfig.reservationIDs[1]: Invalid value: \"abc\": must be "
      "a UUID, "
      "spec.provider.workers[0].providerConfig.reservationIDs[2]: Duplicate value: "
      "\"C1B2A3D4-0000-4A5B-9C8D-0123456789AB\", "
      "spec.provider.workers[0].providerConfig.reservedDevicesOnly: Invalid value: \"yes\": must "
      "be true "
      "or false]",
      m);
  free(m);
  fielderr_release(&l);
  json_decref(cfg);
  cfg = J("{\"apiVersion\":\"x/v1\",\"kind\":\"InfrastructureConfig\"}");
  validate_worker_config(cfg, "p", &l);
  m = message_of(&l);
  ASSERT_STR_EQ(
      "[p.apiVersion: Unsupported value: \"x/v1\": supported values: "
      "\"equinixmetal.provider.extensions.gardener.cloud/v1alpha1\", p.kind: Unsupported value: "
      "\"InfrastructureConfig\": supported values: \"WorkerConfig\"]",
      m);
  free(m);
  fielderr_release(&l);
  json_decref(cfg);
  cfg = J("\"text\"");
  validate_typemeta_only(cfg, "spec.provider.infrastructureConfig", "InfrastructureConfig", &l);
  m = message_of(&l);
  ASSERT_STR_EQ("spec.provider.infrastructureConfig: Invalid value: \"text\": must be an object of "
                "kind InfrastructureConfig",
                m);
  free(m);
  fielderr_release(&l);
  json_decref(cfg);
}

static void test_cloudprofile(void) {
  struct fielderr_list l = {0};
  json_t *warnings = json_array();
  json_t *cp = json_pack("{s:{s:s}}", "metadata", "name", "em");
  json_object_set_new(cp, "spec", J(profile_spec));
  validate_cloudprofile(cp, &l, warnings);
  ASSERT_EQ(0, l.n);
  ASSERT_EQ(0, json_array_size(warnings));
  /* An iPXE-only version is fine (the Go validator wrongly demanded an id); no id and no URL is
   * not. */
  json_t *vers = jsonx_path(cp, "spec.providerConfig.machineImages");
  vers = json_object_get(json_array_get(vers, 0), "versions");
  json_array_append_new(vers, J("{\"version\":\"2.0\"}"));
  json_array_append_new(vers,
                        J("{\"version\":\"1.0\",\"id\":\"x\",\"ipxeScriptUrl\":\"ftp://x\"}"));
  json_array_append_new(vers,
                        J("{\"version\":\"3.0\",\"id\":\"x\",\"ipxeScriptUrl\":\"http://h/x\"}"));
  json_array_append_new(
      json_object_get(json_array_get(jsonx_path(cp, "spec.machineImages"), 0), "versions"),
      J("{\"version\":\"9.9\"}"));
  validate_cloudprofile(cp, &l, warnings);
  char *m = message_of(&l);
  ASSERT_STR_EQ(
      "[spec.providerConfig.machineImages[0].versions[2]: Required value: must provide an id or an "
      "ipxeScriptUrl, spec.providerConfig.machineImages[0].versions[3].version: Duplicate value: "
      "\"1.0\", "
      "spec.providerConfig.machineImages[0].versions[3].ipxeScriptUrl: Invalid value: \"ftp://x\": "
      "must be "
      "an http or https URL]",
      m);
  free(m);
  ASSERT_EQ(1, json_array_size(warnings));
  ASSERT_CONTAINS(json_string_value(json_array_get(warnings, 0)),
                  "versions[4]: both id and ipxeScriptUrl");
  fielderr_release(&l);
  /* Fix the providerConfig: now the missing mapping of 9.9 shows. */
  json_array_remove(vers, 3);
  json_array_remove(vers, 2);
  validate_cloudprofile(cp, &l, NULL);
  m = message_of(&l);
  ASSERT_STR_EQ(
      "spec.providerConfig.machineImages: Required value: must provide an image mapping for image "
      "\"flatcar\" in version \"9.9\"",
      m);
  free(m);
  fielderr_release(&l);
  json_object_del(json_object_get(cp, "spec"), "providerConfig");
  validate_cloudprofile(cp, &l, NULL);
  ASSERT_EQ(1, l.n);
  ASSERT_CONTAINS(l.items[0], "spec.providerConfig: Required value");
  fielderr_release(&l);
  json_decref(cp);
  json_decref(warnings);
  /* Empty and malformed machine image lists, as the Go validator words them. */
  json_t *cfg =
      J("{" AV
        ",\"kind\":\"CloudProfileConfig\",\"machineImages\":[{\"versions\":[]},{\"name\":\"u\","
        "\"versions\":[{\"id\":\"x\"}]}]}");
  validate_cloudprofile_config(cfg, "providerConfig", &l, NULL);
  m = message_of(&l);
  ASSERT_STR_EQ("[providerConfig.machineImages[0].name: Required value: must provide a name, "
                "providerConfig.machineImages[0].versions: Required value: must provide at least "
                "one version for "
                "machine image \"\", providerConfig.machineImages[1].versions[0].version: Required "
                "value: must "
                "provide a version]",
                m);
  free(m);
  fielderr_release(&l);
  json_decref(cfg);
}

static void test_shoot(void) {
  json_t *spec = J(profile_spec);
  json_t *shoot =
      J("{\"spec\":{\"cloudProfile\":{\"kind\":\"CloudProfile\",\"name\":\"em\"},\"region\":\"ny\","
        "\"provider\":{\"type\":"
        "\"equinixmetal\",\"infrastructureConfig\":{" AV
        ",\"kind\":\"InfrastructureConfig\"},\"controlPlaneConfig\":{" AV
        ",\"kind\":\"ControlPlaneConfig\",\"x\":1},\"workers\":[{\"name\":\"a\",\"machine\":{"
        "\"type\":\"c3.small\","
        "\"image\":{\"name\":\"flatcar\",\"version\":\"3510.2.2\"}},\"zones\":[\"ny5\"]},{\"name\":"
        "\"b\",\"machine\":"
        "{\"type\":\"t1.small\",\"image\":{\"name\":\"ubuntu\",\"version\":\"20.04\"}},\"zones\":["
        "\"ewr1\"],"
        "\"providerConfig\":{" AV ",\"kind\":\"WorkerConfig\",\"reservationIDs\":[\"abc\"]}}]}}}");
  const char *kind, *name;
  ASSERT(validate_shoot_cloudprofile(shoot, &kind, &name));
  ASSERT_STR_EQ("CloudProfile", kind);
  ASSERT_STR_EQ("em", name);
  struct fielderr_list l = {0};
  validate_shoot(shoot, spec, name, &l, NULL);
  char *m = message_of(&l);
  ASSERT_STR_EQ(
      "[spec.provider.controlPlaneConfig.x: Forbidden: unknown field in ControlPlaneConfig, "
      "spec.provider.workers[1].providerConfig.reservationIDs[0]: Invalid value: \"abc\": must be "
      "a UUID, "
      "spec.provider.workers[1].machine.type: Unsupported value: \"t1.small\": supported values: "
      "\"c3.small\", \"m3.large\", spec.provider.workers[1].machine.image: Invalid value: "
      "{\"name\":\"ubuntu\",\"version\":\"20.04\"}: no machine image with name \"ubuntu\", version "
      "\"20.04\" found in the providerConfig of cloud profile \"em\", "
      "spec.provider.workers[1].zones[0]: "
      "Unsupported value: \"ewr1\": supported values: \"ny5\", \"ny7\"]",
      m);
  free(m);
  fielderr_release(&l);
  json_object_set_new(json_object_get(shoot, "spec"), "region", json_string("fr"));
  json_object_del(json_object_get(shoot, "spec"), "cloudProfile");
  json_object_set_new(json_object_get(shoot, "spec"), "cloudProfileName", json_string("old"));
  ASSERT(validate_shoot_cloudprofile(shoot, &kind, &name));
  ASSERT_STR_EQ("old", name);
  validate_shoot(shoot, spec, name, &l, NULL);
  ASSERT_CONTAINS(l.items[1], "spec.region: Unsupported value: \"fr\": supported values: \"ny\"");
  fielderr_release(&l);
  /* A CloudProfile with a broken providerConfig is reported once, naming the profile. */
  json_object_set_new(spec, "providerConfig", J("{\"kind\":\"CloudProfileConfig\"}"));
  validate_shoot(shoot, spec, "old", &l, NULL);
  ASSERT_CONTAINS(l.items[1],
                  "spec.cloudProfile.name: Invalid value: \"old\": the CloudProfile has an invalid "
                  "providerConfig");
  fielderr_release(&l);
  json_decref(shoot);
  json_decref(spec);
}

static void test_applies(void) {
  json_t *obj = J("{\"spec\":{\"provider\":{\"type\":\"equinixmetal\"}}}");
  struct admission_request r = {
      .group = "core.gardener.cloud", .version = "v1beta1", .kind = "Shoot", .object = obj};
  ASSERT(validate_applies(&r));
  json_object_set_new(jsonx_path(obj, "spec.provider"), "type", json_string("aws"));
  ASSERT(!validate_applies(&r));
  json_decref(obj);
}

int main(void) {
  xalloc_init();
  TEST(test_uuid);
  TEST(test_worker_config);
  TEST(test_cloudprofile);
  TEST(test_shoot);
  TEST(test_applies);
  return tap_done();
}
