/*
 * reduce_infra_test.c - the Equinix Metal Infrastructure actuator: steps of each
 * operation, provider-config validation (ERR_CONFIGURATION_PROBLEM material),
 * and the status it writes.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/controllers/infrastructure.h"
#include "engine/base/b64.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"

#include <stdlib.h>
#include <string.h>

static const char *pubkey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExample user@host";

static json_t *infra_obj(const char *pub_plain) {
  json_t *o =
      json_pack("{s:{s:s,s:s,s:s},s:{s:s,s:s,s:{s:s}}}", "metadata", "name", "infrastructure",
                "namespace", "shoot--foo--bar", "uid", "u-1", "spec", "type", "equinixmetal",
                "region", "ny", "secretRef", "name", "cloudprovider");
  if (pub_plain) {
    char *b = b64_encode(pub_plain, strlen(pub_plain));
    json_object_set_new(json_object_get(o, "spec"), "sshPublicKey", json_string(b));
    free(b);
  }
  return o;
}

static enum eng_err plan(enum gardener_op op, bool force, json_t *obj, struct ext_step_list *steps,
                         struct eng_error *err) {
  eng_error_clear(err);
  return metal_infra_controller.actuator->plan(op, force, obj, NULL, steps, err);
}

static void test_reconcile_plan(void) {
  json_t *o = infra_obj(pubkey);
  struct ext_step_list s = {0};
  struct eng_error err;
  ASSERT_EQ(ENG_OK, plan(GOP_RECONCILE, false, o, &s, &err));
  ASSERT_EQ(1, s.n);
  ASSERT_STR_EQ("ensure-ssh-key", s.v[0].name);
  ASSERT_STR_EQ("metal.sshkey.ensure", s.v[0].kind);
  ASSERT_STR_EQ("shoot--foo--bar-ssh-publickey", jsonx_str(s.v[0].params, "label"));
  ASSERT_STR_EQ(pubkey, jsonx_str(s.v[0].params, "publicKey"));
  ASSERT_STR_EQ("cloudprovider", jsonx_str(s.v[0].params, "secretRef.name"));
  ASSERT_STR_EQ("shoot--foo--bar", jsonx_str(s.v[0].params, "secretRef.namespace"));
  ASSERT(!jsonx_str(s.v[0].params, "knownID"));
  /* Nothing secret in an action: parameters only reference the Secret. */
  char *dump = jsonx_canonical(s.v[0].params);
  ASSERT_NOT_CONTAINS(dump, "apiToken");
  free(dump);
  ext_steps_clear(&s);
  /* Success status: InfrastructureStatus with the key id, and state for migration. */
  json_t *outputs = json_pack("{s:{s:s}}", "ensure-ssh-key", "id", "key-123");
  json_t *status = json_object();
  metal_infra_controller.actuator->success_status(GOP_RECONCILE, o, outputs, status);
  ASSERT_STR_EQ(METAL_PROVIDER_API_VERSION, jsonx_str(status, "providerStatus.apiVersion"));
  ASSERT_STR_EQ("InfrastructureStatus", jsonx_str(status, "providerStatus.kind"));
  ASSERT_STR_EQ("key-123", jsonx_str(status, "providerStatus.sshKeyID"));
  ASSERT_STR_EQ("key-123", jsonx_str(status, "state.sshKeyID"));
  json_decref(status);
  json_decref(outputs);
  json_decref(o);
}

static void test_validation_errors(void) {
  struct {
    const char *pub;
    const char *pc;
    const char *want;
  } cases[] = {
      {NULL, NULL, "spec.sshPublicKey: Required value"},
      {"not a key", NULL, "spec.sshPublicKey: Invalid value: not an OpenSSH public key"},
      {pubkey, "{\"apiVersion\":\"v1\",\"kind\":\"InfrastructureConfig\"}",
       "spec.providerConfig.apiVersion: Unsupported value: \"v1\""},
      {pubkey, "{\"apiVersion\":\"" METAL_PROVIDER_API_VERSION "\",\"kind\":\"WorkerConfig\"}",
       "spec.providerConfig.kind: Unsupported value"},
      {pubkey,
       "{\"apiVersion\":\"" METAL_PROVIDER_API_VERSION
       "\",\"kind\":\"InfrastructureConfig\",\"vlan\":5}",
       "spec.providerConfig.vlan: Forbidden: unknown field"},
      {pubkey, "[1]", "spec.providerConfig: Invalid value"},
  };
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    json_t *o = infra_obj(cases[i].pub);
    if (cases[i].pc) {
      json_error_t je;
      json_object_set_new(json_object_get(o, "spec"), "providerConfig",
                          json_loads(cases[i].pc, 0, &je));
    }
    struct ext_step_list s = {0};
    struct eng_error err;
    ASSERT_EQ(ENG_CONFIG, plan(GOP_RECONCILE, false, o, &s, &err));
    ASSERT_CONTAINS(err.msg, cases[i].want);
    ASSERT_EQ(0, s.n);
    json_decref(o);
  }
  /* Bad base64 */
  json_t *o = infra_obj(NULL);
  json_object_set_new(json_object_get(o, "spec"), "sshPublicKey", json_string("%%%"));
  struct ext_step_list s = {0};
  struct eng_error err;
  ASSERT_EQ(ENG_CONFIG, plan(GOP_CREATE, false, o, &s, &err));
  ASSERT_CONTAINS(err.msg, "not valid base64");
  /* A valid InfrastructureConfig passes. */
  json_decref(o);
  o = infra_obj(pubkey);
  json_object_set_new(json_object_get(o, "spec"), "providerConfig",
                      json_pack("{s:s,s:s}", "apiVersion", METAL_PROVIDER_API_VERSION, "kind",
                                "InfrastructureConfig"));
  ASSERT_EQ(ENG_OK, plan(GOP_CREATE, false, o, &s, &err));
  ext_steps_clear(&s);
  json_decref(o);
}

static void test_delete_migrate_restore(void) {
  json_t *o = infra_obj(NULL); /* deletion does not need the public key */
  json_object_set_new(o, "status", json_pack("{s:{s:s}}", "providerStatus", "sshKeyID", "key-9"));
  struct ext_step_list s = {0};
  struct eng_error err;
  ASSERT_EQ(ENG_OK, plan(GOP_DELETE, true, o, &s, &err));
  ASSERT_EQ(1, s.n);
  ASSERT_STR_EQ("metal.sshkey.delete", s.v[0].kind);
  ASSERT_STR_EQ("key-9", jsonx_str(s.v[0].params, "id"));
  ASSERT(jsonx_bool(s.v[0].params, "force", false));
  ASSERT_CONTAINS(s.v[0].reason, "force deletion");
  ext_steps_clear(&s);
  /* Migrate leaves the key and records it in status.state. */
  ASSERT_EQ(ENG_OK, plan(GOP_MIGRATE, false, o, &s, &err));
  ASSERT_EQ(0, s.n);
  json_t *status = json_object();
  metal_infra_controller.actuator->success_status(GOP_MIGRATE, o, NULL, status);
  ASSERT_STR_EQ("key-9", jsonx_str(status, "state.sshKeyID"));
  ASSERT(!json_object_get(status, "providerStatus"));
  json_decref(status);
  json_decref(o);
  /* Restore passes the id from status.state. */
  o = infra_obj(pubkey);
  json_object_set_new(o, "status", json_pack("{s:{s:s}}", "state", "sshKeyID", "key-7"));
  ASSERT_EQ(ENG_OK, plan(GOP_RESTORE, false, o, &s, &err));
  ASSERT_STR_EQ("key-7", jsonx_str(s.v[0].params, "knownID"));
  ext_steps_clear(&s);
  json_decref(o);
}

int main(void) {
  xalloc_init();
  TEST(test_reconcile_plan);
  TEST(test_validation_errors);
  TEST(test_delete_migrate_restore);
  return tap_done();
}
