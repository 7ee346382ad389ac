/*
 * reduce_extension_test.c - the generic Gardener extension reconciler, driven by
 * hand-made events with a fake actuator: every operation type, the annotation
 * and finalizer contract, failures (retryable, non-retryable, config), skips,
 * restarts, and determinism of the produced actions.
 */
#include "engine/base/common.h"
#include "engine/decide/extension.h"
#include "engine/decide/gardener.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"

#include <stdlib.h>
#include <string.h>

/* ---- fake actuator: one provider step, "fake.ensure" or "fake.delete" ---- */

static enum eng_err fake_plan(enum gardener_op op, bool force, const json_t *obj,
                              const json_t *cluster, struct ext_step_list *steps,
                              struct eng_error *err) {
  (void)cluster;
  const char *bad = jsonx_str(obj, "spec.providerConfig.bad");
  if (bad)
    return eng_error_set(err, ENG_CONFIG, "spec.providerConfig.bad: Invalid value: \"%s\"", bad);
  json_t *p = json_object();
  json_object_set_new(p, "name", json_string(jsonx_str(obj, "metadata.namespace")));
  json_object_set_new(p, "force", json_boolean(force));
  if (op == GOP_DELETE)
    ext_steps_add_own(steps, "delete-thing", "fake.delete", p, "delete the thing");
  else if (op == GOP_MIGRATE)
    ext_steps_add_own(steps, "keep-thing", "fake.noop", p, "keep the thing");
  else
    ext_steps_add_own(steps, "ensure-thing", "fake.ensure", p, "ensure the thing");
  return ENG_OK;
}

static void fake_success(enum gardener_op op, const json_t *obj, const json_t *outputs,
                         json_t *status) {
  (void)obj;
  if (op == GOP_DELETE)
    return;
  json_t *ps = json_object();
  json_object_set_new(ps, "thingID", json_string(jsonx_str(outputs, "ensure-thing.id") ?: ""));
  json_object_set_new(status, "providerStatus", ps);
}

static const struct ext_actuator fake_actuator = {fake_plan, fake_success};
static const struct ext_controller fake_ctl = {"infrastructure",
                                               "extensions.gardener.cloud",
                                               "Infrastructure",
                                               "infrastructures",
                                               "extensions.gardener.cloud/infrastructure",
                                               "equinixmetal",
                                               &fake_actuator};

/* ---- driver ---- */

struct drv {
  struct reducer r;
  json_t *state;
  int64_t seq, now;
  struct action_list last; /* desired actions after the last event, for the touched keys */
};

static void drv_init(struct drv *d) {
  memset(d, 0, sizeof(*d));
  ext_controller_reducer(&fake_ctl, &d->r);
  d->state = d->r.init(&d->r);
  d->now = 1795000000000; /* 2026-11-17 */
}

static void drv_free(struct drv *d) {
  action_list_clear(&d->last);
  json_decref(d->state);
}

static void drv_event(struct drv *d, const char *source, const char *type, const char *gk,
                      const char *ns, const char *name, json_t *payload_own) {
  struct reduce_event ev = {++d->seq, d->now, source, type, gk, ns, name, "", "", "", payload_own};
  struct keylist touched = {0};
  d->r.apply(&d->r, d->state, &ev, &touched);
  action_list_clear(&d->last);
  for (size_t i = 0; i < touched.n; i++)
    d->r.desire(&d->r, d->state, touched.v[i], &d->last);
  keylist_clear(&touched);
  json_decref(payload_own);
  d->now += 1000;
}

static void drv_start(struct drv *d, bool ignore) {
  json_t *p = json_pack("{s:{s:{s:b}}}", "controllers", "infrastructure",
                        "ignoreOperationAnnotation", ignore);
  drv_event(d, "engine", "engine.start", "", "", "", p);
}

static void drv_cluster(struct drv *d, const char *shoot_state, const char *force) {
  json_t *c =
      json_pack("{s:s,s:s,s:{s:s},s:{s:{s:{s:o},s:{s:{s:s}}}}}", "apiVersion",
                "extensions.gardener.cloud/v1alpha1", "kind", "Cluster", "metadata", "name",
                "shoot--p--s", "spec", "shoot", "metadata", "annotations",
                force ? json_pack("{s:s}", "confirmation.gardener.cloud/force-deletion", force)
                      : json_object(),
                "status", "lastOperation", "state", shoot_state);
  drv_event(d, "kube", "kube.added", "extensions.gardener.cloud/Cluster", "", "shoot--p--s", c);
}

/* An Infrastructure object; annotation, finalizer, deletion and lastOperation state optional. */
static json_t *infra(const char *rv, int gen, const char *annotation, bool finalizer, bool deleting,
                     const char *last_state, const char *last_type) {
  json_t *o =
      json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:s,s:i},s:{s:s,s:s,s:{s:s,s:s}}}", "apiVersion",
                "extensions.gardener.cloud/v1alpha1", "kind", "Infrastructure", "metadata", "name",
                "infra", "namespace", "shoot--p--s", "uid", "0123456789abcdef", "resourceVersion",
                rv, "generation", gen, "spec", "type", "equinixmetal", "region", "ny", "secretRef",
                "name", "cloudprovider", "namespace", "shoot--p--s");
  json_t *md = json_object_get(o, "metadata");
  if (annotation)
    json_object_set_new(md, "annotations",
                        json_pack("{s:s}", "gardener.cloud/operation", annotation));
  if (finalizer)
    json_object_set_new(md, "finalizers",
                        json_pack("[s]", "extensions.gardener.cloud/infrastructure"));
  if (deleting)
    json_object_set_new(md, "deletionTimestamp", json_string("2026-11-17T10:00:00Z"));
  if (last_state)
    json_object_set_new(
        o, "status",
        json_pack("{s:{s:s,s:s}}", "lastOperation", "state", last_state, "type", last_type));
  return o;
}

static void drv_obj(struct drv *d, const char *type, json_t *obj) {
  drv_event(d, "kube", type, "extensions.gardener.cloud/Infrastructure", "shoot--p--s", "infra",
            obj);
}

/* Answer the single desired action. */
static void drv_result(struct drv *d, bool ok, json_t *output_or_error) {
  struct action *a = &d->last.v[0];
  json_t *p = json_pack("{s:s,s:s,s:s,s:b}", "controller", "infrastructure", "actionId", a->id,
                        "kind", a->kind, "ok", ok);
  json_object_set_new(p, ok ? "output" : "error",
                      output_or_error ? output_or_error : json_object());
  drv_event(d, "executor", "executor.result", "extensions.gardener.cloud/Infrastructure",
            "shoot--p--s", "infra", p);
}

static void drv_timer(struct drv *d) {
  struct action *a = &d->last.v[0];
  json_t *p = json_pack("{s:s,s:s}", "controller", "infrastructure", "actionId", a->id);
  d->now = a->at_ms;
  drv_event(d, "clock", "clock.timer", "extensions.gardener.cloud/Infrastructure", "shoot--p--s",
            "infra", p);
}

static const char *step_of(const struct action *a) {
  /* id = controller/ns/name/op/step/attempt: the fifth part */
  static char buf[128];
  const char *p = a->id;
  for (int i = 0; i < 4 && p; i++) {
    p = strchr(p, '/');
    if (p)
      p++;
  }
  if (!p)
    return "";
  const char *e = strchr(p, '/');
  snprintf(buf, sizeof(buf), "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
  return buf;
}

#define EXPECT_STEP(d, s)                                                                          \
  do {                                                                                             \
    ASSERT_EQ(1, (d)->last.n);                                                                     \
    ASSERT_STR_EQ(s, step_of(&(d)->last.v[0]));                                                    \
  } while (0)

static void test_create_flow(void) {
  struct drv d;
  drv_init(&d);
  drv_start(&d, false);
  drv_obj(&d, "kube.added", infra("10", 1, "reconcile", false, false, NULL, NULL));
  ASSERT_EQ(0, d.last.n); /* waits for the Cluster */
  drv_cluster(&d, "Succeeded", NULL);
  EXPECT_STEP(&d, "remove-operation-annotation");
  ASSERT_STR_EQ("kube.patch", d.last.v[0].kind);
  ASSERT(json_is_null(jsonx_path(d.last.v[0].params,
                                 "patch.metadata.annotations.gardener.cloud/operation")) ||
         json_is_null(json_object_get(jsonx_path(d.last.v[0].params, "patch.metadata.annotations"),
                                      "gardener.cloud/operation")));
  drv_result(&d, true, NULL);
  EXPECT_STEP(&d, "add-finalizer");
  json_t *fins = jsonx_path(d.last.v[0].params, "patch.metadata.finalizers");
  ASSERT_EQ(1, json_array_size(fins));
  ASSERT_STR_EQ("10", jsonx_str(d.last.v[0].params, "patch.metadata.resourceVersion"));
  drv_result(&d, true, NULL);
  EXPECT_STEP(&d, "status-processing");
  ASSERT_STR_EQ("kube.status", d.last.v[0].kind);
  ASSERT_STR_EQ("Processing", jsonx_str(d.last.v[0].params, "patch.status.lastOperation.state"));
  ASSERT_STR_EQ("Create", jsonx_str(d.last.v[0].params, "patch.status.lastOperation.type"));
  ASSERT_STR_EQ("Reconciling the infrastructure",
                jsonx_str(d.last.v[0].params, "patch.status.lastOperation.description"));
  ASSERT_EQ(1, jsonx_int(d.last.v[0].params, "patch.status.lastOperation.progress", 0));
  ASSERT_STR_EQ("Reconciling", jsonx_str(d.last.v[0].params, "event.reason"));
  drv_result(&d, true, NULL);
  EXPECT_STEP(&d, "ensure-thing");
  ASSERT_STR_EQ("fake.ensure", d.last.v[0].kind);
  ASSERT_EQ(32, strlen(d.last.v[0].key));
  drv_result(&d, true, json_pack("{s:s}", "id", "thing-1"));
  EXPECT_STEP(&d, "status-succeeded");
  json_t *p = d.last.v[0].params;
  ASSERT_STR_EQ("Succeeded", jsonx_str(p, "patch.status.lastOperation.state"));
  ASSERT_EQ(100, jsonx_int(p, "patch.status.lastOperation.progress", 0));
  ASSERT_STR_EQ("Successfully reconciled infrastructure",
                jsonx_str(p, "patch.status.lastOperation.description"));
  ASSERT_EQ(1, jsonx_int(p, "patch.status.observedGeneration", 0));
  ASSERT(json_is_null(jsonx_path(p, "patch.status.lastError")));
  ASSERT_STR_EQ("thing-1", jsonx_str(p, "patch.status.providerStatus.thingID"));
  ASSERT_STR_EQ("Reconciled", jsonx_str(p, "event.reason"));
  drv_result(&d, true, NULL);
  ASSERT_EQ(0, d.last.n);
  drv_free(&d);
}

/* Run until the provider step of a reconcile is the desired action. */
static void to_provider_step(struct drv *d) {
  drv_start(d, false);
  drv_cluster(d, "Succeeded", NULL);
  drv_obj(d, "kube.added", infra("10", 1, NULL, true, false, NULL, NULL));
  EXPECT_STEP(d, "status-processing");
  drv_result(d, true, NULL);
  EXPECT_STEP(d, "ensure-thing");
}

static void test_retryable_failure(void) {
  struct drv d;
  drv_init(&d);
  to_provider_step(&d);
  char *key1 = xstrdup(d.last.v[0].key);
  drv_result(&d, false,
             json_pack("{s:s,s:s,s:[s],s:b,s:i}", "code", "ENG_UNAVAILABLE", "message",
                       "the Metal API answered 503", "gardenerCodes",
                       "ERR_RETRYABLE_INFRA_DEPENDENCIES", "retryable", 1, "retryAfterMs", 7000));
  EXPECT_STEP(&d, "report-error-3");
  json_t *p = d.last.v[0].params;
  ASSERT_STR_EQ("Error", jsonx_str(p, "patch.status.lastOperation.state"));
  ASSERT_EQ(50, jsonx_int(p, "patch.status.lastOperation.progress", 0));
  ASSERT_STR_EQ("Error reconciling infrastructure: the Metal API answered 503",
                jsonx_str(p, "patch.status.lastOperation.description"));
  ASSERT_STR_EQ(
      "ERR_RETRYABLE_INFRA_DEPENDENCIES",
      json_string_value(json_array_get(jsonx_path(p, "patch.status.lastError.codes"), 0)));
  ASSERT_STR_EQ("ReconcileError", jsonx_str(p, "event.reason"));
  ASSERT_STR_EQ("Warning", jsonx_str(p, "event.type"));
  int64_t t = d.now;
  drv_result(&d, true, NULL);
  EXPECT_STEP(&d, "retry-ensure-thing");
  ASSERT_STR_EQ("timer", d.last.v[0].kind);
  ASSERT(d.last.v[0].at_ms >= t + 7000); /* Retry-After is a floor */
  drv_timer(&d);
  EXPECT_STEP(&d, "ensure-thing");
  ASSERT_EQ(2, d.last.v[0].attempt);
  ASSERT_STR_EQ(key1, d.last.v[0].key); /* same idempotency key for every attempt */
  free(key1);
  drv_result(&d, true, json_pack("{s:s}", "id", "thing-2"));
  EXPECT_STEP(&d, "status-succeeded");
  drv_free(&d);
}

static void test_non_retryable_failure(void) {
  struct drv d;
  drv_init(&d);
  to_provider_step(&d);
  drv_result(&d, false,
             json_pack("{s:s,s:s,s:[s],s:b}", "code", "ENG_UNAUTHENTICATED", "message",
                       "the API token was rejected", "gardenerCodes", "ERR_INFRA_UNAUTHENTICATED",
                       "retryable", 0));
  EXPECT_STEP(&d, "report-error-3");
  ASSERT_STR_EQ("ERR_INFRA_UNAUTHENTICATED",
                json_string_value(json_array_get(
                    jsonx_path(d.last.v[0].params, "patch.status.lastError.codes"), 0)));
  drv_result(&d, true, NULL);
  ASSERT_EQ(0, d.last.n); /* no timer: no retry storm */
  ASSERT_STR_EQ("failed", jsonx_str(d.state, "objects.shoot--p--s/infra.op.phase") ?: "");
  drv_free(&d);
}

static void test_config_error(void) {
  struct drv d;
  drv_init(&d);
  drv_start(&d, false);
  drv_cluster(&d, "Succeeded", NULL);
  json_t *o = infra("10", 1, NULL, true, false, NULL, NULL);
  json_object_set_new(json_object_get(o, "spec"), "providerConfig", json_pack("{s:s}", "bad", "x"));
  drv_obj(&d, "kube.added", o);
  EXPECT_STEP(&d, "status-processing");
  drv_result(&d, true, NULL);
  EXPECT_STEP(&d, "report-error-3");
  json_t *p = d.last.v[0].params;
  ASSERT_STR_EQ(
      "Error checking infrastructure config: spec.providerConfig.bad: Invalid value: \"x\"",
      jsonx_str(p, "patch.status.lastOperation.description"));
  ASSERT_STR_EQ(
      "ERR_CONFIGURATION_PROBLEM",
      json_string_value(json_array_get(jsonx_path(p, "patch.status.lastError.codes"), 0)));
  drv_result(&d, true, NULL);
  ASSERT_EQ(0, d.last.n);
  drv_free(&d);
}

static void test_delete_flow(void) {
  struct drv d;
  drv_init(&d);
  drv_start(&d, false);
  drv_cluster(&d, "Succeeded", "true");
  drv_obj(&d, "kube.added", infra("20", 2, NULL, true, true, "Succeeded", "Reconcile"));
  EXPECT_STEP(&d, "status-processing");
  ASSERT_STR_EQ("Deleting the Infrastructure",
                jsonx_str(d.last.v[0].params, "patch.status.lastOperation.description"));
  ASSERT_STR_EQ("Delete", jsonx_str(d.last.v[0].params, "patch.status.lastOperation.type"));
  drv_result(&d, true, NULL);
  EXPECT_STEP(&d, "delete-thing");
  ASSERT(jsonx_bool(d.last.v[0].params, "force", false)); /* the shoot asks for force deletion */
  drv_result(&d, true, NULL);
  EXPECT_STEP(&d, "status-succeeded");
  ASSERT_STR_EQ("Successfully deleted Infrastructure",
                jsonx_str(d.last.v[0].params, "patch.status.lastOperation.description"));
  ASSERT_STR_EQ("Deleted", jsonx_str(d.last.v[0].params, "event.reason"));
  drv_result(&d, true, NULL);
  EXPECT_STEP(&d, "remove-finalizer");
  ASSERT_EQ(0, json_array_size(jsonx_path(d.last.v[0].params, "patch.metadata.finalizers")));
  drv_result(&d, true, NULL);
  ASSERT_EQ(0, d.last.n);
  drv_obj(&d, "kube.deleted", infra("21", 2, NULL, false, true, NULL, NULL));
  ASSERT(!jsonx_path(d.state, "objects.shoot--p--s/infra"));
  drv_free(&d);
}

static void test_delete_without_finalizer_is_noop(void) {
  struct drv d;
  drv_init(&d);
  drv_start(&d, false);
  drv_cluster(&d, "Succeeded", NULL);
  drv_obj(&d, "kube.added", infra("20", 2, NULL, false, true, NULL, NULL));
  ASSERT_EQ(0, d.last.n);
  drv_free(&d);
}

static void test_skips(void) {
  struct drv d;
  drv_init(&d);
  drv_start(&d, false);
  drv_cluster(&d, "Failed", NULL);
  drv_obj(&d, "kube.added", infra("10", 1, "reconcile", false, false, NULL, NULL));
  ASSERT_EQ(0, d.last.n); /* the shoot failed: leave it alone */
  drv_free(&d);
  drv_init(&d);
  drv_start(&d, false);
  drv_cluster(&d, "Succeeded", NULL);
  drv_obj(&d, "kube.added", infra("10", 1, "wait-for-state", false, false, NULL, NULL));
  ASSERT_EQ(0, d.last.n);
  /* Type filter: another provider's object is ignored. */
  json_t *o = infra("11", 1, "reconcile", false, false, NULL, NULL);
  json_object_set_new(json_object_get(o, "spec"), "type", json_string("aws"));
  drv_obj(&d, "kube.modified", o);
  ASSERT_EQ(0, d.last.n);
  /* Migrated objects are skipped by Reconcile. */
  drv_obj(&d, "kube.modified", infra("12", 1, "reconcile", true, false, "Succeeded", "Migrate"));
  ASSERT_EQ(0, d.last.n);
  drv_free(&d);
}

static void test_first_sight_and_updates(void) {
  struct drv d;
  drv_init(&d);
  drv_start(&d, false);
  drv_cluster(&d, "Succeeded", NULL);
  /* Succeeded and no annotation: nothing to do on start. */
  drv_obj(&d, "kube.added", infra("30", 3, NULL, true, false, "Succeeded", "Reconcile"));
  ASSERT_EQ(0, d.last.n);
  /* A plain update without annotation is not a trigger. */
  drv_obj(&d, "kube.modified", infra("31", 4, NULL, true, false, "Succeeded", "Reconcile"));
  ASSERT_EQ(0, d.last.n);
  /* The reconcile annotation is. */
  drv_obj(&d, "kube.modified", infra("32", 4, "reconcile", true, false, "Succeeded", "Reconcile"));
  EXPECT_STEP(&d, "remove-operation-annotation");
  drv_free(&d);
  /* A restart re-admits an object whose last operation did not succeed. */
  drv_init(&d);
  drv_start(&d, false);
  drv_cluster(&d, "Succeeded", NULL);
  drv_obj(&d, "kube.added", infra("40", 1, NULL, true, false, "Error", "Reconcile"));
  EXPECT_STEP(&d, "status-processing");
  ASSERT_STR_EQ("Reconcile", jsonx_str(d.last.v[0].params, "patch.status.lastOperation.type"));
  drv_free(&d);
  /* --ignore-operation-annotation: generation changes trigger. */
  drv_init(&d);
  drv_start(&d, true);
  drv_cluster(&d, "Succeeded", NULL);
  drv_obj(&d, "kube.added", infra("50", 5, NULL, true, false, "Succeeded", "Reconcile"));
  EXPECT_STEP(&d, "status-processing"); /* first sight reconciles everything in this mode */
  drv_free(&d);
}

static void test_migrate_and_restore(void) {
  struct drv d;
  drv_init(&d);
  drv_start(&d, false);
  drv_cluster(&d, "Succeeded", NULL);
  drv_obj(&d, "kube.added", infra("60", 1, "migrate", true, false, "Succeeded", "Reconcile"));
  EXPECT_STEP(&d, "status-processing");
  ASSERT_STR_EQ("Starting migration of the Infrastructure",
                jsonx_str(d.last.v[0].params, "patch.status.lastOperation.description"));
  drv_result(&d, true, NULL);
  EXPECT_STEP(&d, "keep-thing");
  drv_result(&d, true, NULL);
  EXPECT_STEP(&d, "status-succeeded");
  drv_result(&d, true, NULL);
  EXPECT_STEP(&d, "remove-finalizer");
  drv_result(&d, true, NULL);
  EXPECT_STEP(&d, "remove-operation-annotation");
  drv_result(&d, true, NULL);
  ASSERT_EQ(0, d.last.n);
  drv_free(&d);
  drv_init(&d);
  drv_start(&d, false);
  drv_cluster(&d, "Succeeded", NULL);
  drv_obj(&d, "kube.added", infra("70", 1, "restore", false, false, "Succeeded", "Migrate"));
  EXPECT_STEP(&d, "add-finalizer");
  drv_result(&d, true, NULL);
  EXPECT_STEP(&d, "status-processing");
  ASSERT_STR_EQ("Restoring the Infrastructure",
                jsonx_str(d.last.v[0].params, "patch.status.lastOperation.description"));
  drv_result(&d, true, NULL);
  EXPECT_STEP(&d, "ensure-thing");
  /* Our own status write comes back as an update: the annotation is still there (it goes at
   * the end), the generation is the same, so it asks for nothing new and restarts nothing. */
  drv_obj(&d, "kube.modified", infra("71", 1, "restore", true, false, "Processing", "Restore"));
  drv_result(&d, true, json_pack("{s:s}", "id", "t"));
  EXPECT_STEP(&d, "status-succeeded");
  ASSERT_STR_EQ("Successfully restored Infrastructure",
                jsonx_str(d.last.v[0].params, "patch.status.lastOperation.description"));
  drv_obj(&d, "kube.modified", infra("72", 1, "restore", true, false, "Succeeded", "Restore"));
  drv_result(&d, true, NULL);
  EXPECT_STEP(&d, "remove-operation-annotation");
  drv_free(&d);
  /* A new generation during a Restore is a new request: the operation runs again. */
  drv_init(&d);
  drv_start(&d, false);
  drv_cluster(&d, "Succeeded", NULL);
  drv_obj(&d, "kube.added", infra("80", 1, "restore", true, false, "Succeeded", "Migrate"));
  EXPECT_STEP(&d, "status-processing");
  drv_result(&d, true, NULL);
  EXPECT_STEP(&d, "ensure-thing");
  drv_obj(&d, "kube.modified", infra("81", 2, "restore", true, false, "Processing", "Restore"));
  drv_result(&d, true, json_pack("{s:s}", "id", "t"));
  EXPECT_STEP(&d, "status-processing");
  drv_free(&d);
  /* A Restore that failed for good: the echo of its Error status does not start it again. */
  drv_init(&d);
  drv_start(&d, false);
  drv_cluster(&d, "Succeeded", NULL);
  json_t *o = infra("90", 1, "restore", true, false, "Succeeded", "Migrate");
  json_object_set_new(json_object_get(o, "spec"), "providerConfig", json_pack("{s:s}", "bad", "x"));
  drv_obj(&d, "kube.added", o);
  EXPECT_STEP(&d, "status-processing");
  drv_result(&d, true, NULL);
  EXPECT_STEP(&d, "report-error-2");
  drv_result(&d, true, NULL);
  ASSERT_EQ(0, d.last.n);
  o = infra("91", 1, "restore", true, false, "Error", "Restore");
  json_object_set_new(json_object_get(o, "spec"), "providerConfig", json_pack("{s:s}", "bad", "x"));
  drv_obj(&d, "kube.modified", o);
  ASSERT_EQ(0, d.last.n);
  drv_free(&d);
}

static void test_trigger_during_operation(void) {
  struct drv d;
  drv_init(&d);
  to_provider_step(&d);
  /* Deletion arrives while the provider step runs: it waits for the answer, then Delete starts. */
  drv_obj(&d, "kube.modified", infra("11", 1, NULL, true, true, NULL, NULL));
  EXPECT_STEP(&d, "ensure-thing"); /* unchanged */
  drv_result(&d, true, json_pack("{s:s}", "id", "t"));
  EXPECT_STEP(&d, "status-processing");
  ASSERT_STR_EQ("Delete", jsonx_str(d.last.v[0].params, "patch.status.lastOperation.type"));
  /* A stale result (an old action id) changes nothing. */
  json_t *p =
      json_pack("{s:s,s:s,s:b}", "controller", "infrastructure", "actionId", "old/one", "ok", 1);
  drv_event(&d, "executor", "executor.result", "extensions.gardener.cloud/Infrastructure",
            "shoot--p--s", "infra", p);
  ASSERT_EQ(0, d.last.n);
  drv_free(&d);
}

/* Determinism: the same events give byte-identical actions. */
static char *run_script(void) {
  struct drv d;
  drv_init(&d);
  to_provider_step(&d);
  drv_result(
      &d, false,
      json_pack("{s:s,s:s,s:b}", "code", "ENG_TIMEOUT", "message", "timed out", "retryable", 1));
  drv_result(&d, true, NULL);
  json_t *all = json_array();
  json_array_append_new(all, action_to_json(&d.last.v[0]));
  drv_timer(&d);
  json_array_append_new(all, action_to_json(&d.last.v[0]));
  json_array_append(all, d.state);
  char *s = jsonx_canonical(all);
  json_decref(all);
  drv_free(&d);
  return s;
}

static void test_determinism(void) {
  char *a = run_script(), *b = run_script();
  ASSERT(a && b);
  ASSERT_STR_EQ(a, b);
  free(a);
  free(b);
}

/* What the extension reducers keep of a Cluster: what they read, not the cloud profile's images. */
static void test_cluster_summary(void) {
  json_t *c = json_loads(
      "{\"apiVersion\":\"extensions.gardener.cloud/v1alpha1\",\"kind\":\"Cluster\","
      "\"metadata\":{\"name\":\"shoot--p--s\",\"uid\":\"u\",\"annotations\":{\"a\":\"1\"}},"
      "\"spec\":{\"cloudProfile\":{\"metadata\":{\"name\":\"eqx\"},\"spec\":{\"type\":"
      "\"equinixmetal\","
      "\"machineImages\":[{\"name\":\"flatcar\"}],\"kubernetes\":{\"versions\":[]},"
      "\"machineTypes\":[{\"name\":\"c3.small.x86\"}],\"providerConfig\":{\"k\":1}}},"
      "\"seed\":{\"metadata\":{\"name\":\"s1\"},\"spec\":{\"provider\":{\"type\":\"aws\"},"
      "\"dns\":{}},\"status\":{\"conditions\":[]}},"
      "\"shoot\":{\"metadata\":{\"name\":\"s\",\"namespace\":\"garden-p\",\"managedFields\":[]},"
      "\"spec\":{\"hibernation\":{\"enabled\":true}},"
      "\"status\":{\"technicalID\":\"shoot--p--s\",\"lastOperation\":{\"state\":\"Failed\"},"
      "\"conditions\":[{\"type\":\"APIServerAvailable\"}]}}}}",
      0, NULL);
  ASSERT(c != NULL);
  json_t *s = gardener_cluster_summary(c);
  ASSERT(gardener_cluster_hibernated(s));
  ASSERT(gardener_cluster_shoot_failed(s));
  ASSERT_STR_EQ("shoot--p--s", jsonx_str(s, "spec.shoot.status.technicalID"));
  ASSERT_STR_EQ("eqx", jsonx_str(s, "spec.cloudProfile.metadata.name"));
  ASSERT(json_array_size(jsonx_path(s, "spec.cloudProfile.spec.machineTypes")) == 1);
  ASSERT_EQ(1, (int)jsonx_int(s, "spec.cloudProfile.spec.providerConfig.k", 0));
  ASSERT_STR_EQ("1", jsonx_str(jsonx_path(s, "metadata.annotations"), "a"));
  ASSERT_STR_EQ("aws", jsonx_str(s, "spec.seed.spec.provider.type"));
  ASSERT(jsonx_path(s, "spec.cloudProfile.spec.machineImages") == NULL);
  ASSERT(jsonx_path(s, "spec.cloudProfile.spec.kubernetes") == NULL);
  ASSERT(jsonx_path(s, "spec.seed.status") == NULL);
  ASSERT(jsonx_path(s, "spec.shoot.status.conditions") == NULL);
  ASSERT(jsonx_path(s, "spec.shoot.metadata.managedFields") == NULL);
  json_decref(s);
  json_decref(c);
}

/* Gardener's workload checks: generation first, then each wanted condition in order. */
static void test_workload_problem(void) {
  static const struct gardener_cond_want want[] = {
      {"Available", "True", true}, {"Progressing", "True", false}, {"Frozen", "False", false}};
  struct {
    const char *json;
    enum gardener_cond_style style;
    const char *expect; /* NULL: healthy */
  } cases[] = {
      {"{\"metadata\":{\"generation\":3},\"status\":{\"observedGeneration\":2}}",
       GARDENER_COND_MESSAGE_REASON, "observed generation outdated (2/3)"},
      {"{\"status\":{\"conditions\":[{\"type\":\"Progressing\",\"status\":\"True\"}]}}",
       GARDENER_COND_MESSAGE_REASON, "condition \"Available\" is missing"},
      {"{\"status\":{\"conditions\":[{\"type\":\"Available\",\"status\":\"True\"}]}}",
       GARDENER_COND_MESSAGE_REASON, NULL},
      {"{\"status\":{\"conditions\":[{\"type\":\"Available\",\"status\":\"False\",\"reason\":"
       "\"R\",\"message\":\"..not enough.\"}]}}",
       GARDENER_COND_MESSAGE_REASON, "not enough (R)"},
      {"{\"status\":{\"conditions\":[{\"type\":\"Available\",\"status\":\"False\",\"reason\":"
       "\"R\",\"message\":\"not enough.\"}]}}",
       GARDENER_COND_INVALID_STATUS,
       "condition \"Available\" has invalid status False (expected True) due to R: not enough."},
      {"{\"status\":{\"conditions\":[{\"type\":\"Available\",\"status\":\"True\"},{\"type\":"
       "\"Frozen\",\"status\":\"True\",\"reason\":\"F\",\"message\":\"frozen\"}]}}",
       GARDENER_COND_MESSAGE_REASON, "frozen (F)"},
      {"{\"status\":{\"conditions\":[{\"type\":\"Available\",\"status\":\"True\"},{\"type\":"
       "\"Progressing\",\"status\":\"False\",\"reason\":\"P\",\"message\":\"...\"}]}}",
       GARDENER_COND_MESSAGE_REASON, " (P)"},
  };
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    json_t *o = json_loads(cases[i].json, 0, NULL);
    ASSERT(o != NULL);
    char *why = gardener_workload_problem(o, want, ARRAY_SIZE(want), cases[i].style);
    if (cases[i].expect)
      ASSERT_STR_EQ(cases[i].expect, why ? why : "(healthy)");
    else
      ASSERT_MSG(why == NULL, "case %zu: expected healthy, got %s", i, why);
    free(why);
    json_decref(o);
  }
}

int main(void) {
  xalloc_init();
  TEST(test_create_flow);
  TEST(test_retryable_failure);
  TEST(test_non_retryable_failure);
  TEST(test_config_error);
  TEST(test_delete_flow);
  TEST(test_delete_without_finalizer_is_noop);
  TEST(test_skips);
  TEST(test_first_sight_and_updates);
  TEST(test_migrate_and_restore);
  TEST(test_trigger_during_operation);
  TEST(test_determinism);
  TEST(test_workload_problem);
  TEST(test_cluster_summary);
  return tap_done();
}
