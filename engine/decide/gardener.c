/*
 * gardener.c - the Gardener extension contract (pure).
 */
#include "engine/base/common.h"
#include "engine/decide/gardener.h"
#include "engine/base/jsonx.h"
#include "engine/base/timefmt.h"
#include "engine/base/xalloc.h"

#include <ctype.h>
#include <string.h>

static const char *const op_names[] = {"", "Create", "Reconcile", "Delete", "Migrate", "Restore"};

const char *gardener_op_name(enum gardener_op op) {
  if ((unsigned)op >= ARRAY_SIZE(op_names))
    return "";
  return op_names[op];
}

enum gardener_op gardener_op_parse(const char *s) {
  for (size_t i = 1; s && i < ARRAY_SIZE(op_names); i++)
    if (strcmp(s, op_names[i]) == 0)
      return (enum gardener_op)i;
  return GOP_NONE;
}

const char *gardener_operation_annotation(const json_t *obj) {
  json_t *ann = jsonx_path(obj, "metadata.annotations");
  if (!json_is_object(ann))
    return NULL;
  json_t *v = json_object_get(ann, GARDENER_ANNOTATION_OPERATION);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

bool gardener_being_deleted(const json_t *obj) {
  const char *ts = jsonx_str(obj, "metadata.deletionTimestamp");
  return ts && *ts;
}

enum gardener_op gardener_compute_op_type(const json_t *obj) {
  const char *ann = gardener_operation_annotation(obj);
  if (ann && strcmp(ann, GARDENER_OP_MIGRATE) == 0)
    return GOP_MIGRATE;
  if (gardener_being_deleted(obj))
    return GOP_DELETE;
  if (ann && strcmp(ann, GARDENER_OP_RESTORE) == 0)
    return GOP_RESTORE;
  json_t *lo = jsonx_path(obj, "status.lastOperation");
  if (!json_is_object(lo))
    return GOP_CREATE;
  enum gardener_op last = gardener_op_parse(jsonx_str(lo, "type"));
  const char *state = jsonx_str(lo, "state");
  bool succeeded = state && strcmp(state, "Succeeded") == 0;
  if ((last == GOP_CREATE || last == GOP_MIGRATE || last == GOP_RESTORE) && !succeeded)
    return last;
  return GOP_RECONCILE;
}

bool gardener_is_migrated(const json_t *obj) {
  const char *type = jsonx_str(obj, "status.lastOperation.type");
  const char *state = jsonx_str(obj, "status.lastOperation.state");
  return type && state && strcmp(type, "Migrate") == 0 && strcmp(state, "Succeeded") == 0;
}

bool gardener_should_skip(enum gardener_op op, const json_t *obj) {
  return op != GOP_MIGRATE && op != GOP_RESTORE && gardener_is_migrated(obj);
}

static bool has_operation_annotation(const json_t *obj) {
  const char *ann = gardener_operation_annotation(obj);
  return ann && (strcmp(ann, GARDENER_OP_RECONCILE) == 0 || strcmp(ann, GARDENER_OP_RESTORE) == 0 ||
                 strcmp(ann, GARDENER_OP_MIGRATE) == 0);
}

bool gardener_admit_first_sight(const json_t *obj, bool ignore_operation_annotation) {
  if (ignore_operation_annotation)
    return true;
  if (has_operation_annotation(obj) || gardener_being_deleted(obj))
    return true;
  const char *state = jsonx_str(obj, "status.lastOperation.state");
  return !state || strcmp(state, "Succeeded") != 0;
}

bool gardener_admit_update(const json_t *old_obj, const json_t *new_obj,
                           bool ignore_operation_annotation) {
  if (ignore_operation_annotation) {
    json_int_t og = jsonx_int(old_obj, "metadata.generation", 0);
    json_int_t ng = jsonx_int(new_obj, "metadata.generation", 0);
    return og != ng || (gardener_being_deleted(new_obj) && !gardener_being_deleted(old_obj));
  }
  if (has_operation_annotation(new_obj))
    return true;
  if (gardener_being_deleted(new_obj)) {
    json_t *os = json_object_get(old_obj, "status");
    json_t *ns = json_object_get(new_obj, "status");
    return json_equal(os, ns) || (!os && !ns);
  }
  return false;
}

bool gardener_has_finalizer(const json_t *obj, const char *finalizer) {
  json_t *f = jsonx_path(obj, "metadata.finalizers");
  size_t i;
  json_t *v;
  json_array_foreach(f, i, v) {
    if (json_is_string(v) && strcmp(json_string_value(v), finalizer) == 0)
      return true;
  }
  return false;
}

bool gardener_parse_bool(const char *s, bool *out) {
  static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
  static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
  for (size_t i = 0; s && i < ARRAY_SIZE(t); i++) {
    if (strcmp(s, t[i]) == 0) {
      *out = true;
      return true;
    }
    if (strcmp(s, f[i]) == 0) {
      *out = false;
      return true;
    }
  }
  return false;
}

bool gardener_cluster_shoot_failed(const json_t *cluster) {
  const char *state = jsonx_str(cluster, "spec.shoot.status.lastOperation.state");
  return state && strcmp(state, "Failed") == 0;
}

bool gardener_cluster_force_delete(const json_t *cluster) {
  json_t *ann = jsonx_path(cluster, "spec.shoot.metadata.annotations");
  json_t *v = json_object_get(ann, GARDENER_ANNOTATION_FORCE_DELETION);
  bool b = false;
  return json_is_string(v) && gardener_parse_bool(json_string_value(v), &b) && b;
}

json_t *gardener_cluster_summary(const json_t *cluster) {
  static const char *const keep[] = {
      "apiVersion",
      "kind",
      "metadata.name",
      "metadata.annotations",
      "spec.shoot.apiVersion",
      "spec.shoot.kind",
      "spec.shoot.metadata.name",
      "spec.shoot.metadata.namespace",
      "spec.shoot.metadata.uid",
      "spec.shoot.metadata.annotations",
      "spec.shoot.metadata.labels",
      "spec.shoot.spec",
      "spec.shoot.status.technicalID",
      "spec.shoot.status.uid",
      "spec.shoot.status.isHibernated",
      "spec.shoot.status.lastOperation",
      "spec.cloudProfile.apiVersion",
      "spec.cloudProfile.kind",
      "spec.cloudProfile.metadata.name",
      "spec.cloudProfile.spec.type",
      "spec.cloudProfile.spec.providerConfig",
      "spec.cloudProfile.spec.machineTypes",
      "spec.cloudProfile.spec.regions",
      "spec.seed.metadata.name",
      "spec.seed.spec.provider",
  };
  return jsonx_project(cluster, keep, ARRAY_SIZE(keep));
}

bool gardener_cluster_hibernated(const json_t *cluster) {
  return jsonx_bool(cluster, "spec.shoot.spec.hibernation.enabled", false);
}

struct desc_row {
  const char *kind;
  enum gardener_op op; /* GOP_RECONCILE also covers GOP_CREATE */
  const char *start, *error, *success, *config_error;
};

/* The exact strings of the Go original (inventory §2.0). */
static const struct desc_row desc_rows[] = {
    {"Infrastructure", GOP_RECONCILE, "Reconciling the infrastructure",
     "Error reconciling infrastructure", "Successfully reconciled infrastructure",
     "Error checking infrastructure config"},
    {"Infrastructure", GOP_DELETE, "Deleting the Infrastructure", "Error deleting Infrastructure",
     "Successfully deleted Infrastructure", "Error deleting Infrastructure"},
    {"Infrastructure", GOP_MIGRATE, "Starting migration of the Infrastructure",
     "Error migrating Infrastructure", "Successfully migrated Infrastructure",
     "Error migrating Infrastructure"},
    {"Infrastructure", GOP_RESTORE, "Restoring the Infrastructure",
     "Error restoring Infrastructure", "Successfully restored Infrastructure",
     "Error checking Infrastructure config"},
    {"ControlPlane", GOP_RECONCILE, "Reconciling the ControlPlane",
     "Error reconciling ControlPlane", "Successfully reconciled ControlPlane",
     "Error reconciling ControlPlane"},
    {"ControlPlane", GOP_DELETE, "Deleting the ControlPlane", "Error deleting ControlPlane",
     "Successfully deleted ControlPlane", "Error deleting ControlPlane"},
    {"ControlPlane", GOP_MIGRATE, "Migrating the ControlPlane", "Error migrating ControlPlane",
     "Successfully migrated ControlPlane", "Error migrating ControlPlane"},
    {"ControlPlane", GOP_RESTORE, "Restoring the ControlPlane", "Error restoring ControlPlane",
     "Successfully restored ControlPlane", "Error restoring ControlPlane"},
    {"Worker", GOP_RECONCILE, "Reconciling the Worker", "Error reconciling Worker",
     "Successfully reconciled Worker", "Error reconciling Worker"},
    {"Worker", GOP_DELETE, "Deleting the Worker", "Error deleting Worker",
     "Successfully deleted Worker", "Error deleting Worker"},
    {"Worker", GOP_MIGRATE, "Starting migration of the Worker", "Error migrating Worker",
     "Successfully migrated Worker", "Error migrating Worker"},
    {"Worker", GOP_RESTORE, "Restoring the Worker", "Error restoring Worker",
     "Successfully reconciled Worker", "Error restoring Worker"},
};

const char *gardener_description(const char *kind, enum gardener_op op, enum gardener_phase ph) {
  enum gardener_op row_op = op == GOP_CREATE ? GOP_RECONCILE : op;
  for (size_t i = 0; i < ARRAY_SIZE(desc_rows); i++) {
    const struct desc_row *r = &desc_rows[i];
    if (r->op != row_op || strcmp(r->kind, kind) != 0)
      continue;
    switch (ph) {
    case GPH_START:
      return r->start;
    case GPH_ERROR:
      return r->error;
    case GPH_SUCCESS:
      return r->success;
    case GPH_CONFIG_ERROR:
      return r->config_error;
    }
  }
  return "";
}

json_t *gardener_last_operation(enum gardener_op op, const char *state, int progress,
                                const char *description, int64_t time_ms) {
  char ts[TIMEFMT_LEN];
  timefmt_rfc3339(time_ms, ts);
  json_t *lo = json_object();
  json_object_set_new(lo, "type", json_string(gardener_op_name(op)));
  json_object_set_new(lo, "state", json_string(state));
  json_object_set_new(lo, "progress", json_integer(progress));
  json_object_set_new(lo, "description", json_string(description));
  json_object_set_new(lo, "lastUpdateTime", json_string(ts));
  return lo;
}

char *gardener_error_description(const char *description, const char *message) {
  char *s = xasprintf("%s: %s", description, message ? message : "");
  if (s[0])
    s[0] = (char)toupper((unsigned char)s[0]);
  return s;
}

const char *gardener_error_code(enum eng_err e) {
  switch (e) {
  case ENG_UNAUTHENTICATED:
    return "ERR_INFRA_UNAUTHENTICATED";
  case ENG_FORBIDDEN:
    return "ERR_INFRA_UNAUTHORIZED";
  case ENG_RATELIMIT:
    return "ERR_INFRA_RATE_LIMITS_EXCEEDED";
  case ENG_DEPLETED:
    return "ERR_INFRA_RESOURCES_DEPLETED";
  case ENG_QUOTA:
    return "ERR_INFRA_QUOTA_EXCEEDED";
  case ENG_CONFIG:
  case ENG_INVALID:
    return "ERR_CONFIGURATION_PROBLEM";
  case ENG_UNAVAILABLE:
  case ENG_TIMEOUT:
  case ENG_PROTOCOL:
  case ENG_IO:
    return "ERR_RETRYABLE_INFRA_DEPENDENCIES";
  default:
    return NULL;
  }
}

bool gardener_code_non_retryable(const char *code) {
  static const char *const codes[] = {"ERR_INFRA_UNAUTHENTICATED", "ERR_INFRA_UNAUTHORIZED",
                                      "ERR_INFRA_QUOTA_EXCEEDED",  "ERR_INFRA_DEPENDENCIES",
                                      "ERR_CONFIGURATION_PROBLEM", "ERR_PROBLEMATIC_WEBHOOK"};
  for (size_t i = 0; code && i < ARRAY_SIZE(codes); i++)
    if (strcmp(code, codes[i]) == 0)
      return true;
  return false;
}

const json_t *gardener_condition(const json_t *obj, const char *type) {
  size_t i;
  json_t *c;
  json_array_foreach(jsonx_path(obj, "status.conditions"), i, c) {
    const char *t = jsonx_str(c, "type");
    if (t && !strcmp(t, type))
      return c;
  }
  return NULL;
}

char *gardener_workload_problem(const json_t *obj, const struct gardener_cond_want *want, size_t n,
                                enum gardener_cond_style style) {
  json_int_t og = jsonx_int(obj, "status.observedGeneration", 0);
  json_int_t g = jsonx_int(obj, "metadata.generation", 0);
  if (og < g)
    return xasprintf(
        "observed generation outdated (%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT ")", og, g);
  for (size_t i = 0; i < n; i++) {
    const json_t *c = gardener_condition(obj, want[i].type);
    if (!c) {
      if (want[i].required)
        return xasprintf("condition \"%s\" is missing", want[i].type);
      continue;
    }
    const char *st = jsonx_str(c, "status"), *reason = jsonx_str(c, "reason");
    const char *msg = jsonx_str(c, "message");
    st = st ? st : "";
    reason = reason ? reason : "";
    msg = msg ? msg : "";
    if (!strcmp(st, want[i].status))
      continue;
    if (style == GARDENER_COND_INVALID_STATUS)
      return xasprintf("condition \"%s\" has invalid status %s (expected %s) due to %s: %s",
                       want[i].type, st, want[i].status, reason, msg);
    size_t len = strlen(msg);
    while (len && *msg == '.')
      msg++, len--;
    while (len && msg[len - 1] == '.')
      len--;
    return xasprintf("%.*s (%s)", (int)len, msg, reason);
  }
  return NULL;
}
