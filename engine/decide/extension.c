/*
 * reduce_extension.c - Gardener's generic extension reconciler as a pure state
 * machine (the `ext_controller` reducer).
 *
 * State document:
 *   {"config":   {"ignoreOperationAnnotation": bool, "extensionClass": ""},
 *    "clusters": {"<name>": <gardener_cluster_summary() of the Cluster>},
 *    "objects":  {"<ns>/<name>": <object state>}}
 * Object state:
 *   {"obj": <last observed object>, "seen": bool (observed since the last engine.start),
 *    "ops": n (operations started so far), "op": <operation> | absent, "note": "<why idle>"}
 * Operation:
 *   {"id", "type", "force", "generation", "startMs", "steps": [step...], "cur": i,
 *    "phase": "running" | "reporting" | "waiting" | "failed" | "done",
 *    "failures": n, "error": {...}, "outputs": {...}, "pending": bool,
 *    "action": <current action JSON>}
 *
 * Operation flows (mirroring gardener v1.128's generic reconcilers):
 *   Create/Reconcile: remove reconcile annotation, add finalizer, Processing,
 *                     provider steps, Succeeded.
 *   Restore:          add finalizer, Processing, provider steps, Succeeded,
 *                     remove restore annotation.
 *   Delete:           (only with our finalizer) Processing, provider steps,
 *                     Succeeded, remove finalizer.
 *   Migrate:          Processing, provider steps, Succeeded, remove finalizer,
 *                     remove migrate annotation.
 * A failed provider step reports Error (lastOperation Error/50, lastError with
 * codes) and either waits for a timer (retryable) or stops (non-retryable code)
 * until a new trigger. A failed Kubernetes write is retried after a timer.
 */
#include "engine/base/common.h"
#include "engine/decide/extension.h"
#include "engine/decide/backoff.h"
#include "engine/decide/gardener.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

/* ---- small helpers ---------------------------------------------------------------------- */

void keylist_add(struct keylist *l, const char *key) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i], key) == 0)
      return;
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 8;
    l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
  }
  l->v[l->n++] = xstrdup(key);
}

void keylist_clear(struct keylist *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}

void ext_steps_add_own(struct ext_step_list *l, const char *name, const char *kind, json_t *params,
                       const char *reason) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 8;
    l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
  }
  struct ext_step *s = &l->v[l->n++];
  s->name = xstrdup(name);
  s->kind = xstrdup(kind);
  s->params = params ? params : json_object();
  s->reason = xstrdup(reason ? reason : "");
  s->target = NULL;
}

void ext_steps_add_to_own(struct ext_step_list *l, const char *name, const char *kind,
                          const char *group_kind, const char *ns, const char *obj_name,
                          json_t *params, const char *reason) {
  ext_steps_add_own(l, name, kind, params, reason);
  json_t *t = json_object();
  json_object_set_new(t, "groupKind", json_string(group_kind ? group_kind : ""));
  json_object_set_new(t, "namespace", json_string(ns ? ns : ""));
  json_object_set_new(t, "name", json_string(obj_name ? obj_name : ""));
  l->v[l->n - 1].target = t;
}

void ext_steps_clear(struct ext_step_list *l) {
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].name);
    free(l->v[i].kind);
    free(l->v[i].reason);
    json_decref(l->v[i].params);
    json_decref(l->v[i].target);
  }
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}

static const char *str_or(const json_t *j, const char *path, const char *dflt) {
  const char *s = jsonx_str(j, path);
  return s ? s : dflt;
}

static json_t *obj_get_or_new(json_t *parent, const char *key) {
  json_t *v = json_object_get(parent, key);
  if (!json_is_object(v)) {
    v = json_object();
    json_object_set_new(parent, key, v);
  }
  return v;
}

/* Internal engine steps. */
#define STEP_REMOVE_ANNOTATION "remove-operation-annotation"
#define STEP_ADD_FINALIZER     "add-finalizer"
#define STEP_REMOVE_FINALIZER  "remove-finalizer"
#define STEP_PROCESSING        "status-processing"
#define STEP_SUCCESS           "status-succeeded"
#define STEP_PLAN_ERROR        "invalid-provider-config"

struct ctx {
  const struct ext_controller *ctl;
  json_t *state;
  const struct reduce_event *ev;
};

static bool cfg_ignore_annotation(const struct ctx *c) {
  return jsonx_bool(c->state, "config.ignoreOperationAnnotation", false);
}

/* Type and class filter (extensions: spec.type, spec.class absent means "shoot"). */
static bool object_is_ours(const struct ctx *c, const json_t *obj) {
  const char *type = jsonx_str(obj, "spec.type");
  if (!type || strcmp(type, c->ctl->type) != 0)
    return false;
  const char *want = str_or(c->state, "config.extensionClass", "");
  const char *cls = str_or(obj, "spec.class", "");
  if (!*want)
    want = "shoot";
  if (!*cls)
    cls = "shoot";
  return strcmp(want, cls) == 0;
}

static const char *event_reason(enum gardener_op op, enum gardener_phase ph) {
  bool del = op == GOP_DELETE, mig = op == GOP_MIGRATE;
  switch (ph) {
  case GPH_START:
    return del ? "Deleting" : mig ? "PrepareMigration" : "Reconciling";
  case GPH_SUCCESS:
    return del ? "Deleted" : mig ? "MigrationPrepared" : "Reconciled";
  default:
    return del ? "DeleteError" : mig ? "MigrationPreparationFailed" : "ReconcileError";
  }
}

/* ---- actions ------------------------------------------------------------------------------ */

static json_t *make_action_to(const struct ctx *c, const json_t *os, const json_t *op,
                              const char *step, const char *kind, int attempt, json_t *params_own,
                              const char *reason, const json_t *target) {
  const json_t *obj = json_object_get(os, "obj");
  const char *ns = str_or(obj, "metadata.namespace", "");
  const char *name = str_or(obj, "metadata.name", "");
  const char *uid = str_or(obj, "metadata.uid", "");
  const char *tns = ns, *tname = name;
  if (json_is_object(target)) {
    tns = str_or(target, "namespace", "");
    tname = str_or(target, "name", "");
  }
  const char *opid = str_or(op, "id", "");
  char key[33];
  action_key(uid, opid, kind, step, key);
  struct action a = {0};
  a.id = xasprintf("%s/%s/%s/%s/%s/%d", c->ctl->controller, ns, name, opid, step, attempt);
  a.key = xstrdup(key);
  a.controller = xstrdup(c->ctl->controller);
  a.kind = xstrdup(kind);
  a.correlation = xasprintf("%s/%s/%s/%s", c->ctl->controller, ns, name, opid);
  if (json_is_object(target))
    a.group_kind = xstrdup(str_or(target, "groupKind", ""));
  else
    a.group_kind = xasprintf("%s/%s", c->ctl->group, c->ctl->kind);
  a.ns = xstrdup(tns);
  a.name = xstrdup(tname);
  /* The uid is the extension object's: it keys the operation, not the written object. */
  a.uid = xstrdup(uid);
  a.attempt = attempt;
  a.params = params_own;
  a.reason = xstrdup(reason);
  json_t *j = action_to_json(&a);
  action_release(&a);
  return j;
}

static json_t *make_action(const struct ctx *c, const json_t *os, const json_t *op,
                           const char *step, const char *kind, int attempt, json_t *params_own,
                           const char *reason) {
  return make_action_to(c, os, op, step, kind, attempt, params_own, reason, NULL);
}

static json_t *patch_params(json_t *patch_own) {
  json_t *p = json_object();
  json_object_set_new(p, "patch", patch_own);
  return p;
}

static json_t *finalizer_patch(const struct ctx *c, const json_t *obj, bool add) {
  json_t *list = json_array();
  json_t *cur = jsonx_path(obj, "metadata.finalizers");
  size_t i;
  json_t *v;
  json_array_foreach(cur, i, v) {
    if (json_is_string(v) && strcmp(json_string_value(v), c->ctl->finalizer) == 0)
      continue;
    json_array_append(list, v);
  }
  if (add)
    json_array_append_new(list, json_string(c->ctl->finalizer));
  json_t *md = json_object();
  json_object_set_new(md, "finalizers", list);
  /* Optimistic lock like controller-runtime's MergeFromWithOptimisticLock. */
  json_object_set_new(md, "resourceVersion",
                      json_string(str_or(obj, "metadata.resourceVersion", "")));
  json_t *patch = json_object();
  json_object_set_new(patch, "metadata", md);
  return patch;
}

static json_t *status_params(json_t *status_own, const char *event_type, const char *reason,
                             const char *message) {
  json_t *patch = json_object();
  json_object_set_new(patch, "status", status_own);
  json_t *p = patch_params(patch);
  json_t *e = json_object();
  json_object_set_new(e, "type", json_string(event_type));
  json_object_set_new(e, "reason", json_string(reason));
  json_object_set_new(e, "message", json_string(message));
  json_object_set_new(p, "event", e);
  return p;
}

static json_t *related_of(const struct ctx *c, const char *ns);

/*
 * Materialise the current step of op as an action, or return NULL when the
 * step has nothing to do (annotation already gone, finalizer already there).
 */
static json_t *materialise_step(const struct ctx *c, json_t *os, json_t *op) {
  const json_t *obj = json_object_get(os, "obj");
  json_t *steps = json_object_get(op, "steps");
  size_t cur = (size_t)jsonx_int(op, "cur", 0);
  json_t *step = json_array_get(steps, cur);
  const char *sname = str_or(step, "name", "");
  int attempt = (int)jsonx_int(op, "failures", 0) + 1;
  enum gardener_op type = gardener_op_parse(jsonx_str(op, "type"));
  int64_t now = c->ev->recorded_ms;
  const char *kind = c->ctl->kind;

  if (!strcmp(sname, STEP_REMOVE_ANNOTATION)) {
    const char *want = str_or(step, "value", "");
    const char *ann = gardener_operation_annotation(obj);
    if (!ann || strcmp(ann, want) != 0)
      return NULL;
    json_t *ann_patch = json_object();
    json_object_set_new(ann_patch, GARDENER_ANNOTATION_OPERATION, json_null());
    json_t *md = json_object();
    json_object_set_new(md, "annotations", ann_patch);
    json_t *patch = json_object();
    json_object_set_new(patch, "metadata", md);
    char *reason =
        xasprintf("remove the annotation %s=%s (%s)", GARDENER_ANNOTATION_OPERATION, want,
                  !strcmp(want, GARDENER_OP_RECONCILE) ? "a reconcile request is taken at its start"
                                                       : "the operation it asked for succeeded");
    json_t *a = make_action(c, os, op, sname, "kube.patch", attempt, patch_params(patch), reason);
    free(reason);
    return a;
  }
  if (!strcmp(sname, STEP_ADD_FINALIZER) || !strcmp(sname, STEP_REMOVE_FINALIZER)) {
    bool add = !strcmp(sname, STEP_ADD_FINALIZER);
    if (add == gardener_has_finalizer(obj, c->ctl->finalizer))
      return NULL;
    char *reason = xasprintf("%s the finalizer %s", add ? "add" : "remove", c->ctl->finalizer);
    json_t *a = make_action(c, os, op, sname, "kube.patch", attempt,
                            patch_params(finalizer_patch(c, obj, add)), reason);
    free(reason);
    return a;
  }
  if (!strcmp(sname, STEP_PROCESSING)) {
    const char *desc = gardener_description(kind, type, GPH_START);
    json_t *status = json_object();
    json_object_set_new(status, "lastOperation",
                        gardener_last_operation(type, "Processing", 1, desc, now));
    char *reason =
        xasprintf("report lastOperation %s Processing: %s", gardener_op_name(type), desc);
    json_t *a =
        make_action(c, os, op, sname, "kube.status", attempt,
                    status_params(status, "Normal", event_reason(type, GPH_START), desc), reason);
    free(reason);
    return a;
  }
  if (!strcmp(sname, STEP_SUCCESS)) {
    const char *desc = gardener_description(kind, type, GPH_SUCCESS);
    json_t *status = json_object();
    json_object_set_new(status, "observedGeneration", json_integer(jsonx_int(op, "generation", 0)));
    json_object_set_new(status, "lastOperation",
                        gardener_last_operation(type, "Succeeded", 100, desc, now));
    json_object_set_new(status, "lastError", json_null());
    if (c->ctl->actuator->success_status)
      c->ctl->actuator->success_status(type, obj, json_object_get(op, "outputs"), status);
    char *reason = xasprintf("report lastOperation %s Succeeded: %s", gardener_op_name(type), desc);
    json_t *a =
        make_action(c, os, op, sname, "kube.status", attempt,
                    status_params(status, "Normal", event_reason(type, GPH_SUCCESS), desc), reason);
    free(reason);
    return a;
  }
  /* A provider step. */
  json_t *params = json_object_get(step, "params");
  json_t *p = json_is_object(params) ? json_deep_copy(params) : json_object();
  if (c->ctl->actuator->prepare) {
    const char *ns = str_or(obj, "metadata.namespace", "");
    json_t *rel = related_of(c, ns);
    struct ext_plan_in in = {type,
                             jsonx_bool(op, "force", false),
                             obj,
                             json_object_get(json_object_get(c->state, "clusters"), ns),
                             rel,
                             now,
                             json_object_get(c->state, "config")};
    bool run = c->ctl->actuator->prepare(&in, sname, json_object_get(op, "outputs"), p);
    json_decref(rel);
    if (!run) {
      json_decref(p);
      return NULL;
    }
  }
  return make_action_to(c, os, op, sname, str_or(step, "kind", ""), attempt, p,
                        str_or(step, "reason", ""), json_object_get(step, "target"));
}

/* The Error report of a failed provider step. */
static json_t *error_report_action(const struct ctx *c, json_t *os, json_t *op) {
  enum gardener_op type = gardener_op_parse(jsonx_str(op, "type"));
  json_t *err = json_object_get(op, "error");
  bool config = jsonx_bool(err, "config", false);
  const char *desc =
      gardener_description(c->ctl->kind, type, config ? GPH_CONFIG_ERROR : GPH_ERROR);
  char *full = gardener_error_description(desc, str_or(err, "message", ""));
  int64_t now = c->ev->recorded_ms;
  json_t *status = json_object();
  json_object_set_new(status, "observedGeneration", json_integer(jsonx_int(op, "generation", 0)));
  json_object_set_new(status, "lastOperation",
                      gardener_last_operation(type, "Error", 50, full, now));
  json_t *le = json_object();
  json_object_set_new(le, "description", json_string(full));
  json_t *codes = json_object_get(err, "codes");
  if (json_is_array(codes) && json_array_size(codes) > 0)
    json_object_set(le, "codes", codes);
  json_t *lo = json_object_get(status, "lastOperation");
  json_object_set(le, "lastUpdateTime", json_object_get(lo, "lastUpdateTime"));
  json_object_set_new(status, "lastError", le);
  char *step = xasprintf("report-error-%d", (int)jsonx_int(op, "cur", 0));
  char *reason = xasprintf("report lastOperation %s Error: %s", gardener_op_name(type), full);
  json_t *a =
      make_action(c, os, op, step, "kube.status", (int)jsonx_int(op, "reports", 0) + 1,
                  status_params(status, "Warning", event_reason(type, GPH_ERROR), full), reason);
  free(step);
  free(reason);
  free(full);
  return a;
}

static json_t *timer_action(const struct ctx *c, json_t *os, json_t *op, int64_t at,
                            int64_t delay) {
  json_t *steps = json_object_get(op, "steps");
  json_t *step = json_array_get(steps, (size_t)jsonx_int(op, "cur", 0));
  const char *sname = str_or(step, "name", "");
  int failures = (int)jsonx_int(op, "failures", 0);
  char *tname = xasprintf("retry-%s", sname);
  char *reason =
      xasprintf("wait %.1f s, then retry step %s (attempt %d) after: %s", (double)delay / 1000.0,
                sname, failures + 1, str_or(op, "error.message", "a failure"));
  json_t *p = json_object();
  json_object_set_new(p, "atMs", json_integer(at));
  json_t *a = make_action(c, os, op, tname, "timer", failures, p, reason);
  json_object_set_new(a, "atMs", json_integer(at));
  free(tname);
  free(reason);
  return a;
}

/* ---- operation lifecycle -------------------------------------------------------------------- */

static void add_step(json_t *steps, const char *name, const char *value) {
  json_t *s = json_object();
  json_object_set_new(s, "name", json_string(name));
  if (value)
    json_object_set_new(s, "value", json_string(value));
  json_array_append_new(steps, s);
}

static void advance(const struct ctx *c, json_t *os, json_t *op);

static void set_idle_note(json_t *os, const char *note) {
  json_object_set_new(os, "note", json_string(note));
}

/* ---- related objects ----------------------------------------------------------------------- */

/* {"<gk>": {"<name>": {"obj": ..., "seen": bool}}} of namespace ns (may be NULL). */
static json_t *related_ns(const struct ctx *c, const char *ns) {
  return json_object_get(json_object_get(c->state, "related"), ns);
}

/* The related objects of ns as actuators see them: {"<gk>": {"<name>": obj}}; caller decrefs. */
static json_t *related_of(const struct ctx *c, const char *ns) {
  json_t *out = json_object();
  const char *gk, *name;
  json_t *byname, *ent;
  json_object_foreach(related_ns(c, ns), gk, byname) {
    json_t *m = json_object();
    json_object_foreach(byname, name, ent) json_object_set(m, name, json_object_get(ent, "obj"));
    json_object_set_new(out, gk, m);
  }
  return out;
}

static bool is_related_kind(const struct ext_controller *ctl, const char *gk) {
  for (const char *const *r = ctl->related; r && *r; r++)
    if (!strcmp(*r, gk))
      return true;
  return false;
}

/* Start an operation for the object in os, as Gardener's reconciler would. */
static void start_op(const struct ctx *c, json_t *os) {
  const json_t *obj = json_object_get(os, "obj");
  const char *ns = str_or(obj, "metadata.namespace", "");
  json_t *cluster = json_object_get(json_object_get(c->state, "clusters"), ns);
  json_object_del(os, "op");
  if (!cluster) {
    set_idle_note(os, "waiting for the Cluster object of this namespace");
    json_object_set_new(os, "waitingCluster", json_true());
    return;
  }
  json_object_del(os, "waitingCluster");
  if (gardener_cluster_shoot_failed(cluster)) {
    set_idle_note(os, "skipped: the shoot's last operation is Failed");
    return;
  }
  enum gardener_op type = gardener_compute_op_type(obj);
  if (gardener_should_skip(type, obj)) {
    set_idle_note(os, "skipped: the object was migrated away from this seed");
    return;
  }
  if (type == GOP_DELETE && !gardener_has_finalizer(obj, c->ctl->finalizer)) {
    set_idle_note(os, "deletion is a no-op: our finalizer is not on the object");
    return;
  }
  bool force = type == GOP_DELETE && gardener_cluster_force_delete(cluster);
  json_int_t n = jsonx_int(os, "ops", 0) + 1;
  json_object_set_new(os, "ops", json_integer(n));
  const char *uid = str_or(obj, "metadata.uid", "");
  char *opid = xasprintf("%.8s-%" JSON_INTEGER_FORMAT, uid, n);

  json_t *op = json_object();
  json_object_set_new(op, "id", json_string(opid));
  free(opid);
  json_object_set_new(op, "type", json_string(gardener_op_name(type)));
  json_object_set_new(op, "force", json_boolean(force));
  json_object_set_new(op, "generation", json_integer(jsonx_int(obj, "metadata.generation", 0)));
  json_object_set_new(op, "startMs", json_integer(c->ev->recorded_ms));
  json_object_set_new(op, "startSeq", json_integer(c->ev->seq));
  json_object_set_new(op, "cur", json_integer(0));
  json_object_set_new(op, "failures", json_integer(0));
  json_object_set_new(op, "outputs", json_object());
  json_object_set_new(op, "phase", json_string("running"));

  json_t *steps = json_array();
  if (type == GOP_CREATE || type == GOP_RECONCILE)
    add_step(steps, STEP_REMOVE_ANNOTATION, GARDENER_OP_RECONCILE);
  if (type == GOP_CREATE || type == GOP_RECONCILE || type == GOP_RESTORE)
    add_step(steps, STEP_ADD_FINALIZER, NULL);
  add_step(steps, STEP_PROCESSING, NULL);

  struct ext_step_list psteps = {0};
  struct eng_error err;
  eng_error_clear(&err);
  enum eng_err rc;
  if (c->ctl->actuator->plan_with) {
    json_t *rel = related_of(c, ns);
    struct ext_plan_in in = {
        type, force, obj, cluster, rel, c->ev->recorded_ms, json_object_get(c->state, "config")};
    rc = c->ctl->actuator->plan_with(&in, &psteps, &err);
    json_decref(rel);
  } else {
    rc = c->ctl->actuator->plan(type, force, obj, cluster, &psteps, &err);
  }
  if (rc != ENG_OK) {
    add_step(steps, STEP_PLAN_ERROR, NULL);
    json_t *e = json_object();
    json_object_set_new(e, "message", json_string(err.msg[0] ? err.msg : eng_strerror(rc)));
    json_t *codes = json_array();
    json_array_append_new(codes, json_string("ERR_CONFIGURATION_PROBLEM"));
    json_object_set_new(e, "codes", codes);
    json_object_set_new(e, "retryable", json_false());
    json_object_set_new(e, "config", json_true());
    json_object_set_new(op, "planError", e);
  } else {
    for (size_t i = 0; i < psteps.n; i++) {
      json_t *s = json_object();
      json_object_set_new(s, "name", json_string(psteps.v[i].name));
      json_object_set_new(s, "kind", json_string(psteps.v[i].kind));
      json_object_set(s, "params", psteps.v[i].params);
      json_object_set_new(s, "reason", json_string(psteps.v[i].reason));
      if (psteps.v[i].target)
        json_object_set(s, "target", psteps.v[i].target);
      json_object_set_new(s, "provider", json_true());
      json_array_append_new(steps, s);
    }
    add_step(steps, STEP_SUCCESS, NULL);
    if (type == GOP_DELETE || type == GOP_MIGRATE)
      add_step(steps, STEP_REMOVE_FINALIZER, NULL);
    if (type == GOP_MIGRATE)
      add_step(steps, STEP_REMOVE_ANNOTATION, GARDENER_OP_MIGRATE);
    if (type == GOP_RESTORE)
      add_step(steps, STEP_REMOVE_ANNOTATION, GARDENER_OP_RESTORE);
  }
  ext_steps_clear(&psteps);
  json_object_set_new(op, "steps", steps);
  json_object_set_new(os, "op", op);
  json_object_del(os, "note");
  advance(c, os, op);
}

/* Enter the Error-reporting phase for the failure recorded in op.error. */
static void begin_report(const struct ctx *c, json_t *os, json_t *op) {
  json_object_set_new(op, "phase", json_string("reporting"));
  json_object_set_new(op, "reports", json_integer(0));
  json_object_set_new(op, "action", error_report_action(c, os, op));
}

/* After the Error report: wait for a retry timer, or stop for a non-retryable code. */
static void after_report(const struct ctx *c, json_t *os, json_t *op) {
  json_t *err = json_object_get(op, "error");
  if (!jsonx_bool(err, "retryable", true)) {
    json_object_set_new(op, "phase", json_string("failed"));
    json_object_del(op, "action");
    return;
  }
  int failures = (int)jsonx_int(op, "failures", 1);
  json_t *cur_action = json_object_get(op, "failedAction");
  const char *seed = str_or(cur_action, "key", str_or(op, "id", ""));
  int64_t delay =
      backoff_delay_ms(&backoff_actions, seed, failures, jsonx_int(err, "retryAfterMs", -1));
  int64_t at = c->ev->recorded_ms + delay;
  json_object_set_new(op, "phase", json_string("waiting"));
  json_object_set_new(op, "action", timer_action(c, os, op, at, delay));
}

#define WAIT_DEFAULT_TIMEOUT_MS (5 * 60 * 1000)

/* A provider-step failure with message msg (retryable unless told): report it. */
static void fail_provider_step(const struct ctx *c, json_t *os, json_t *op, const char *msg,
                               bool retryable) {
  json_object_set_new(op, "failures", json_integer(jsonx_int(op, "failures", 0) + 1));
  json_t *e = json_object();
  json_object_set_new(e, "message", json_string(msg));
  json_object_set_new(e, "codes", json_array());
  json_object_set_new(e, "retryable", json_boolean(retryable));
  json_object_set_new(e, "retryAfterMs", json_integer(-1));
  json_object_set_new(op, "error", e);
  json_object_set(op, "failedAction", json_object_get(op, "action"));
  begin_report(c, os, op);
}

/*
 * Judge the wait step at op.cur. Returns true when it is done (the caller moves
 * on); otherwise the operation is left blocked (with a deadline timer) or
 * reporting a failure. deadline: the deadline timer fired.
 */
static bool wait_step(const struct ctx *c, json_t *os, json_t *op, json_t *step, bool deadline) {
  const json_t *params = json_object_get(step, "params");
  const json_t *obj = json_object_get(os, "obj");
  const char *ns = str_or(obj, "metadata.namespace", "");
  if (!c->ctl->actuator->wait)
    return true;
  json_t *rel = related_of(c, ns);
  json_t *cluster = json_object_get(json_object_get(c->state, "clusters"), ns);
  enum gardener_op type = gardener_op_parse(jsonx_str(op, "type"));
  struct ext_plan_in in = {type,
                           jsonx_bool(op, "force", false),
                           obj,
                           cluster,
                           rel,
                           c->ev->recorded_ms,
                           json_object_get(c->state, "config")};
  char *msg = NULL;
  enum ext_wait_result r = c->ctl->actuator->wait(&in, params, &msg);
  json_decref(rel);
  if (r == EXT_WAIT_DONE) {
    free(msg);
    return true;
  }
  if (!json_is_integer(json_object_get(op, "waitSinceMs")))
    json_object_set_new(op, "waitSinceMs", json_integer(c->ev->recorded_ms));
  if (r == EXT_WAIT_FAILED || deadline) {
    char *full = r == EXT_WAIT_FAILED
                     ? xstrdup(msg ? msg : "the awaited condition failed")
                     : xasprintf("%s: %s", str_or(params, "timeoutMessage", "timed out waiting"),
                                 msg ? msg : "the awaited condition did not hold in time");
    free(msg);
    json_object_del(op, "waitSinceMs");
    json_object_del(op, "waitMessage");
    fail_provider_step(c, os, op, full, true);
    free(full);
    return false;
  }
  json_object_set_new(op, "waitMessage", json_string(msg ? msg : ""));
  free(msg);
  int64_t timeout = jsonx_int(params, "timeoutMs", WAIT_DEFAULT_TIMEOUT_MS);
  int64_t at = jsonx_int(op, "waitSinceMs", c->ev->recorded_ms) + timeout;
  const char *sname = str_or(step, "name", "");
  char *tname = xasprintf("deadline-%s", sname);
  char *reason = xasprintf("wait until %s (at most %.0f s): %s", str_or(step, "reason", sname),
                           (double)timeout / 1000.0, str_or(op, "waitMessage", ""));
  json_t *p = json_object();
  json_object_set_new(p, "atMs", json_integer(at));
  json_t *a =
      make_action(c, os, op, tname, "timer", (int)jsonx_int(op, "failures", 0) + 1, p, reason);
  json_object_set_new(a, "atMs", json_integer(at));
  free(tname);
  free(reason);
  json_object_set_new(op, "phase", json_string("blocked"));
  json_object_set_new(op, "action", a);
  return false;
}

/*
 * Move op forward from its current step: materialise the first step that has
 * work to do, or finish the operation.
 */
static void advance(const struct ctx *c, json_t *os, json_t *op) {
  json_t *steps = json_object_get(op, "steps");
  for (;;) {
    size_t cur = (size_t)jsonx_int(op, "cur", 0);
    if (cur >= json_array_size(steps)) {
      json_object_set_new(op, "phase", json_string("done"));
      json_object_del(op, "action");
      return;
    }
    json_t *step = json_array_get(steps, cur);
    if (!strcmp(str_or(step, "name", ""), STEP_PLAN_ERROR)) {
      json_object_set(op, "error", json_object_get(op, "planError"));
      json_object_set_new(op, "failures", json_integer(1));
      begin_report(c, os, op);
      return;
    }
    if (!strcmp(str_or(step, "kind", ""), EXT_WAIT_KIND)) {
      if (!wait_step(c, os, op, step, false))
        return;
      json_object_set_new(op, "cur", json_integer((json_int_t)cur + 1));
      json_object_set_new(op, "failures", json_integer(0));
      json_object_del(op, "waitSinceMs");
      json_object_del(op, "waitMessage");
      continue;
    }
    json_t *a = materialise_step(c, os, op);
    if (a) {
      json_object_set_new(op, "phase", json_string("running"));
      json_object_set_new(op, "action", a);
      return;
    }
    json_object_set_new(op, "cur", json_integer((json_int_t)cur + 1));
    json_object_set_new(op, "failures", json_integer(0));
  }
}

static bool op_active(const json_t *op) {
  const char *ph = jsonx_str(op, "phase");
  return ph && (!strcmp(ph, "running") || !strcmp(ph, "reporting"));
}

/*
 * A Restore or Migrate keeps its annotation until it ends, so every write of its own (status,
 * finalizer) comes back as an admitted update. The same operation type with that annotation at
 * the operation's generation asks for nothing new: it must not start the operation over again,
 * whatever phase it is in (running, blocked on a wait, waiting for a retry, failed).
 */
static bool same_request(const json_t *obj, const json_t *op) {
  const char *ph = jsonx_str(op, "phase"), *cur = jsonx_str(op, "type");
  if (!ph || !strcmp(ph, "done") || !cur)
    return false;
  enum gardener_op now = gardener_compute_op_type(obj);
  const char *ann = gardener_operation_annotation(obj);
  bool kept = ann && ((now == GOP_RESTORE && !strcmp(ann, GARDENER_OP_RESTORE)) ||
                      (now == GOP_MIGRATE && !strcmp(ann, GARDENER_OP_MIGRATE)));
  return kept && gardener_op_parse(cur) == now &&
         jsonx_int(obj, "metadata.generation", 0) == jsonx_int(op, "generation", 0);
}

/* A trigger (predicate admitted an event) for the object in os. */
static void trigger(const struct ctx *c, json_t *os, bool first_sight) {
  json_t *op = json_object_get(os, "op");
  const json_t *obj = json_object_get(os, "obj");
  if (op && !first_sight && same_request(obj, op))
    return;
  if (op && op_active(op)) {
    /* An operation is in flight. A restart re-observing the same work changes
     * nothing; anything else runs once the current step has answered. */
    enum gardener_op now = gardener_compute_op_type(obj);
    const char *cur = jsonx_str(op, "type");
    if (first_sight && cur && gardener_op_parse(cur) == now)
      return;
    json_object_set_new(op, "pending", json_true());
    return;
  }
  start_op(c, os);
}

/* ---- events --------------------------------------------------------------------------------- */

static json_t *objects(json_t *state) { return obj_get_or_new(state, "objects"); }

static void on_object(const struct ctx *c, const char *key, bool deleted, struct keylist *touched) {
  json_t *objs = objects(c->state);
  const json_t *obj = c->ev->payload;
  if (deleted) {
    if (json_object_get(objs, key)) {
      json_object_del(objs, key);
      keylist_add(touched, key);
    }
    return;
  }
  if (!json_is_object(obj) || !object_is_ours(c, obj)) {
    if (json_object_get(objs, key)) {
      json_object_del(objs, key);
      keylist_add(touched, key);
    }
    return;
  }
  json_t *os = obj_get_or_new(objs, key);
  json_t *old = json_object_get(os, "obj");
  if (old)
    json_incref(old);
  json_object_set_new(os, "obj", json_deep_copy(obj));
  keylist_add(touched, key);
  bool first = !jsonx_bool(os, "seen", false) || !old;
  json_object_set_new(os, "seen", json_true());
  bool admit = first ? gardener_admit_first_sight(obj, cfg_ignore_annotation(c))
                     : gardener_admit_update(old, obj, cfg_ignore_annotation(c));
  json_decref(old);
  const char *ann = gardener_operation_annotation(obj);
  if (ann && !strcmp(ann, GARDENER_OP_WAIT_FOR_STATE)) {
    set_idle_note(os, "skipped: gardener.cloud/operation=wait-for-state");
    return;
  }
  if (admit) {
    trigger(c, os, first);
    return;
  }
  /* Not a trigger, but the current step may have been made moot (e.g. the
   * annotation was removed by someone else): nothing to do until its result. */
}

/*
 * The summary of this event's Cluster (gardener_cluster_summary()), made once per event and
 * shared by every extension controller that folds it: a memo keyed by the event's seq and
 * payload (held, so the address cannot be reused while it is the key). The result is the same
 * with or without the memo, so the reducers stay pure.
 */
static json_t *cluster_summary(const struct reduce_event *ev) {
  static json_t *memo_payload, *memo_summary;
  static int64_t memo_seq = -1;
  if (memo_payload == ev->payload && memo_seq == ev->seq && memo_summary)
    return json_incref(memo_summary);
  json_decref(memo_payload);
  json_decref(memo_summary);
  memo_payload = json_incref((json_t *)ev->payload);
  memo_seq = ev->seq;
  memo_summary = gardener_cluster_summary(ev->payload);
  return json_incref(memo_summary);
}

static void on_cluster(const struct ctx *c, struct keylist *touched, bool deleted) {
  json_t *clusters = obj_get_or_new(c->state, "clusters");
  const char *name = c->ev->name ? c->ev->name : "";
  if (deleted)
    json_object_del(clusters, name);
  else if (json_is_object(c->ev->payload))
    json_object_set_new(clusters, name, cluster_summary(c->ev));
  /* Objects of this namespace that waited for their Cluster start now. */
  json_t *objs = objects(c->state);
  const char *key;
  json_t *os;
  size_t plen = strlen(name);
  json_object_foreach(objs, key, os) {
    if (strncmp(key, name, plen) != 0 || key[plen] != '/')
      continue;
    if (!deleted && jsonx_bool(os, "waitingCluster", false)) {
      start_op(c, os);
      keylist_add(touched, key);
    }
  }
}

/*
 * The object key ("<ns>/<name>") an executor result or timer belongs to: from the
 * correlation id "<controller>/<ns>/<name>/<operation>", since a step may target
 * another object than the extension object; caller frees.
 */
static char *event_object_key(const struct ctx *c) {
  const char *corr = c->ev->correlation_id;
  size_t cl = strlen(c->ctl->controller);
  if (corr && !strncmp(corr, c->ctl->controller, cl) && corr[cl] == '/') {
    const char *ns = corr + cl + 1;
    const char *slash = strchr(ns, '/');
    const char *end = slash ? strchr(slash + 1, '/') : NULL;
    if (slash && end)
      return xasprintf("%.*s", (int)(end - ns), ns);
  }
  return xasprintf("%s/%s", c->ev->ns ? c->ev->ns : "", c->ev->name ? c->ev->name : "");
}

static void on_result(const struct ctx *c, struct keylist *touched) {
  const json_t *p = c->ev->payload;
  const char *aid = jsonx_str(p, "actionId");
  char *key = event_object_key(c);
  json_t *os = json_object_get(objects(c->state), key);
  json_t *op = json_object_get(os, "op");
  const char *want = jsonx_str(op, "action.id");
  if (!op || !aid || !want || strcmp(aid, want) != 0) {
    free(key);
    return; /* stale result of a superseded action */
  }
  keylist_add(touched, key);
  free(key);
  const char *phase = str_or(op, "phase", "");
  bool ok = jsonx_bool(p, "ok", false);

  if (!strcmp(phase, "reporting")) {
    if (!ok) {
      json_object_set_new(op, "reports", json_integer(jsonx_int(op, "reports", 0) + 1));
      json_object_set_new(op, "action", error_report_action(c, os, op));
      return;
    }
    if (jsonx_bool(op, "pending", false)) {
      start_op(c, os);
      return;
    }
    after_report(c, os, op);
    return;
  }
  if (strcmp(phase, "running") != 0)
    return;

  json_t *steps = json_object_get(op, "steps");
  size_t cur = (size_t)jsonx_int(op, "cur", 0);
  json_t *step = json_array_get(steps, cur);
  bool provider = jsonx_bool(step, "provider", false);
  if (ok) {
    json_t *out = json_object_get(p, "output");
    if (provider) {
      json_object_set(json_object_get(op, "outputs"), str_or(step, "name", ""),
                      out ? out : json_null());
    } else {
      /* Our own write returned the object's new version: continue from it (as
       * controller-runtime does with a PATCH response) instead of waiting for
       * the watch, so the next optimistic-lock patch does not conflict. */
      json_t *md = jsonx_path(json_object_get(os, "obj"), "metadata");
      const char *rv = jsonx_str(out, "resourceVersion");
      json_t *fins = json_object_get(out, "finalizers");
      /* Unless the watch has already shown a newer version (another writer, e.g. the
       * health check): resourceVersions are opaque, but etcd's are decimal counters. */
      const char *seen_rv = jsonx_str(md, "resourceVersion");
      bool older = false;
      if (seen_rv && rv) {
        char *e1, *e2;
        unsigned long long a1 = strtoull(seen_rv, &e1, 10), a2 = strtoull(rv, &e2, 10);
        older = *seen_rv && *rv && !*e1 && !*e2 && a2 < a1;
      }
      if (json_is_object(md) && rv && *rv && !older) {
        json_object_set_new(md, "resourceVersion", json_string(rv));
        if (json_is_array(fins))
          json_object_set(md, "finalizers", fins);
      }
    }
    if (jsonx_bool(op, "pending", false)) {
      start_op(c, os);
      return;
    }
    json_object_set_new(op, "cur", json_integer((json_int_t)cur + 1));
    json_object_set_new(op, "failures", json_integer(0));
    advance(c, os, op);
    return;
  }
  /* Failure. */
  json_t *err = json_object_get(p, "error");
  const char *code = str_or(err, "code", "");
  if (!provider && !strcmp(code, "ENG_NOTFOUND")) {
    /* The object is gone; its deletion event will clean up. */
    json_object_set_new(op, "phase", json_string("done"));
    json_object_del(op, "action");
    return;
  }
  json_object_set_new(op, "failures", json_integer(jsonx_int(op, "failures", 0) + 1));
  json_t *e = json_object();
  json_object_set_new(e, "message", json_string(str_or(err, "message", "unknown error")));
  json_t *codes = json_object_get(err, "gardenerCodes");
  json_object_set_new(e, "codes", json_is_array(codes) ? json_deep_copy(codes) : json_array());
  json_t *retryable = json_object_get(err, "retryable");
  bool non_retryable = false;
  size_t i;
  json_t *cv;
  json_array_foreach(codes, i, cv) {
    if (gardener_code_non_retryable(json_string_value(cv)))
      non_retryable = true;
  }
  bool can_retry =
      !non_retryable && (!json_is_boolean(retryable) || json_is_true(retryable) || !provider);
  json_object_set_new(e, "retryable", json_boolean(can_retry));
  json_object_set_new(e, "retryAfterMs", json_integer(jsonx_int(err, "retryAfterMs", -1)));
  json_object_set_new(op, "error", e);
  json_object_set(op, "failedAction", json_object_get(op, "action"));
  if (jsonx_bool(op, "pending", false) && !provider) {
    start_op(c, os);
    return;
  }
  if (provider)
    begin_report(c, os, op);
  else
    after_report(c, os, op);
}

static void on_timer(const struct ctx *c, struct keylist *touched) {
  const char *aid = jsonx_str(c->ev->payload, "actionId");
  char *key = event_object_key(c);
  json_t *os = json_object_get(objects(c->state), key);
  json_t *op = json_object_get(os, "op");
  const char *want = jsonx_str(op, "action.id");
  if (op && aid && want && !strcmp(aid, want) && !strcmp(str_or(op, "phase", ""), "blocked")) {
    keylist_add(touched, key);
    json_t *step = json_array_get(json_object_get(op, "steps"), (size_t)jsonx_int(op, "cur", 0));
    if (jsonx_bool(op, "pending", false))
      start_op(c, os);
    else if (wait_step(c, os, op, step, true)) {
      json_object_set_new(op, "cur", json_integer(jsonx_int(op, "cur", 0) + 1));
      json_object_set_new(op, "failures", json_integer(0));
      json_object_del(op, "waitSinceMs");
      json_object_del(op, "waitMessage");
      advance(c, os, op);
    }
  } else if (op && aid && want && !strcmp(aid, want) &&
             !strcmp(str_or(op, "phase", ""), "waiting")) {
    keylist_add(touched, key);
    json_object_del(op, "error");
    json_object_del(op, "failedAction");
    if (jsonx_bool(op, "pending", false))
      start_op(c, os);
    else
      advance(c, os, op);
  }
  free(key);
}

static void on_start(const struct ctx *c, struct keylist *touched) {
  json_t *cfg = jsonx_path(c->ev->payload, "controllers");
  json_t *mine = json_object_get(cfg, c->ctl->controller);
  json_object_set_new(c->state, "config",
                      json_is_object(mine) ? json_deep_copy(mine) : json_object());
  const char *key;
  json_t *os;
  json_object_foreach(objects(c->state), key, os) {
    json_object_set_new(os, "seen", json_false());
    json_t *op = json_object_get(os, "op");
    /* Failed or finished operations are reconsidered on first sight after a restart. */
    if (op && !op_active(op) && strcmp(str_or(op, "phase", ""), "waiting") != 0 &&
        strcmp(str_or(op, "phase", ""), "blocked") != 0)
      json_object_del(os, "op");
    keylist_add(touched, key);
  }
  /* Related objects must be seen again by their kind's first list after this start. */
  json_t *byns;
  json_object_foreach(json_object_get(c->state, "related"), key, byns) {
    const char *gk, *name;
    json_t *byname, *ent;
    json_object_foreach(byns, gk, byname) {
      json_object_foreach(byname, name, ent) json_object_set_new(ent, "seen", json_false());
    }
  }
}

/* Re-judge the blocked operations of namespace ns after a change of its related objects. */
static void wake_namespace(const struct ctx *c, const char *ns, struct keylist *touched) {
  size_t plen = strlen(ns);
  const char *key;
  json_t *os;
  json_object_foreach(objects(c->state), key, os) {
    if (strncmp(key, ns, plen) != 0 || key[plen] != '/')
      continue;
    json_t *op = json_object_get(os, "op");
    if (!op || strcmp(str_or(op, "phase", ""), "blocked") != 0)
      continue;
    keylist_add(touched, key);
    advance(c, os, op);
  }
}

static json_t *strip_object(const json_t *obj) {
  json_t *o = json_deep_copy(obj);
  json_t *md = json_object_get(o, "metadata");
  if (json_is_object(md))
    json_object_del(md, "managedFields");
  return o;
}

static void on_related(const struct ctx *c, bool deleted, struct keylist *touched) {
  const char *ns = c->ev->ns ? c->ev->ns : "";
  const char *name = c->ev->name ? c->ev->name : "";
  json_t *all = obj_get_or_new(c->state, "related");
  json_t *byns = obj_get_or_new(all, ns);
  json_t *byname = obj_get_or_new(byns, c->ev->group_kind);
  if (deleted) {
    json_object_del(byname, name);
    if (json_object_size(byname) == 0)
      json_object_del(byns, c->ev->group_kind);
    if (json_object_size(byns) == 0)
      json_object_del(all, ns);
  } else {
    if (!json_is_object(c->ev->payload))
      return;
    json_t *ent = json_object();
    json_object_set_new(ent, "obj", strip_object(c->ev->payload));
    json_object_set_new(ent, "seen", json_true());
    json_object_set_new(byname, name, ent);
  }
  wake_namespace(c, ns, touched);
}

/* A complete list of a related kind: forget the objects of that kind not seen since the start. */
static void on_related_relisted(const struct ctx *c, struct keylist *touched) {
  json_t *all = json_object_get(c->state, "related");
  const char *want_ns = jsonx_str(c->ev->payload, "namespace");
  const char *ns;
  json_t *byns;
  void *tmp;
  json_object_foreach_safe(all, tmp, ns, byns) {
    if (want_ns && *want_ns && strcmp(want_ns, ns) != 0)
      continue;
    json_t *byname = json_object_get(byns, c->ev->group_kind);
    const char *name;
    json_t *ent;
    void *tmp2;
    bool changed = false;
    json_object_foreach_safe(byname, tmp2, name, ent) {
      if (!jsonx_bool(ent, "seen", false)) {
        json_object_del(byname, name);
        changed = true;
      }
    }
    if (byname && json_object_size(byname) == 0)
      json_object_del(byns, c->ev->group_kind);
    if (changed)
      wake_namespace(c, ns, touched);
  }
  /* Empty namespaces go too (iteration above may have emptied them). */
  json_object_foreach_safe(all, tmp, ns, byns) {
    if (json_object_size(byns) == 0)
      json_object_del(all, ns);
  }
}

/* ---- reducer interface ------------------------------------------------------------------------
 */

static json_t *ext_init(const struct reducer *r) {
  (void)r;
  json_t *s = json_object();
  json_object_set_new(s, "config", json_object());
  json_object_set_new(s, "clusters", json_object());
  json_object_set_new(s, "objects", json_object());
  return s;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void ext_apply(const struct reducer *r, json_t *state, const struct reduce_event *ev,
                      struct keylist *touched) {
  const struct ext_controller *ctl = r->ud;
  struct ctx c = {ctl, state, ev};
  const char *src = ev->source ? ev->source : "";
  const char *type = ev->type ? ev->type : "";
  if (!strcmp(src, "engine") && !strcmp(type, "engine.start")) {
    on_start(&c, touched);
    return;
  }
  if (!strcmp(src, "executor") && !strcmp(type, "executor.result")) {
    const char *ctrl = jsonx_str(ev->payload, "controller");
    if (ctrl && !strcmp(ctrl, ctl->controller))
      on_result(&c, touched);
    return;
  }
  if (!strcmp(src, "clock") && !strcmp(type, "clock.timer")) {
    const char *ctrl = jsonx_str(ev->payload, "controller");
    if (ctrl && !strcmp(ctrl, ctl->controller))
      on_timer(&c, touched);
    return;
  }
  if (strcmp(src, "kube") != 0 || !ev->group_kind)
    return;
  if (is_related_kind(ctl, ev->group_kind)) {
    if (!strcmp(type, "kube.relisted"))
      on_related_relisted(&c, touched);
    else if (ends_with(type, ".added") || ends_with(type, ".modified") ||
             ends_with(type, ".deleted"))
      on_related(&c, ends_with(type, ".deleted"), touched);
    return;
  }
  bool deleted = ends_with(type, ".deleted");
  if (!deleted && !ends_with(type, ".added") && !ends_with(type, ".modified"))
    return;
  char gk[256];
  snprintf(gk, sizeof(gk), "%s/%s", ctl->group, ctl->kind);
  if (!strcmp(ev->group_kind, "extensions.gardener.cloud/Cluster")) {
    on_cluster(&c, touched, deleted);
    return;
  }
  if (strcmp(ev->group_kind, gk) != 0)
    return;
  char *key = xasprintf("%s/%s", ev->ns ? ev->ns : "", ev->name ? ev->name : "");
  on_object(&c, key, deleted, touched);
  free(key);
}

static void ext_desire(const struct reducer *r, const json_t *state, const char *key,
                       struct action_list *out) {
  (void)r;
  json_t *os = json_object_get(json_object_get(state, "objects"), key);
  json_t *op = json_object_get(os, "op");
  json_t *a = json_object_get(op, "action");
  if (!a)
    return;
  struct action *act = action_list_push(out);
  struct eng_error err;
  if (action_from_json(a, act, &err) != ENG_OK)
    out->n--; /* cannot happen: we wrote it */
}

static void ext_keys(const struct reducer *r, const json_t *state, struct keylist *out) {
  (void)r;
  const char *key;
  json_t *os;
  json_object_foreach(json_object_get(state, "objects"), key, os) keylist_add(out, key);
}

void ext_controller_reducer(const struct ext_controller *ctl, struct reducer *out) {
  out->name = ctl->controller;
  out->ud = ctl;
  out->init = ext_init;
  out->apply = ext_apply;
  out->desire = ext_desire;
  out->keys = ext_keys;
}
