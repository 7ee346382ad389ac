/*
 * worker_health.c - the Worker health check (pure reducer "worker-health"): every
 * 30 s (and at once for a new Worker) the shoot's Nodes are counted (action
 * shoot.nodes.count, act/exec_nodenet.h) and the condition EveryNodeReady is judged
 * from that and the namespace's MachineDeployments, then written to
 * status.conditions, as Gardener's health check controller does with its worker
 * NodesChecker (which, like this, counts the Nodes but judges by the deployments).
 *
 * The period is the ControlPlane check's (--healthcheck-sync-period, engine.start's
 * controllers.healthcheck.syncPeriodMs).
 *
 * State: {"on": bool, "n": counter, "periodMs": n, "clusters": {ns: hibernated},
 *         "mds": {ns: {name: md}},
 *         "workers": {"ns/name": {obj, due, tick, count?, write?}}}
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/controllers/worker.h"
#include "engine/base/jsonx.h"
#include "engine/base/timefmt.h"
#include "engine/base/xalloc.h"
#include "engine/decide/gardener.h"
#include "providers/equinix-metal/controllers/infrastructure.h"

#include <stdlib.h>
#include <string.h>

#define HEALTH_CONTROLLER "worker-health"
#define HEALTH_PERIOD_MS  30000 /* unless --healthcheck-sync-period says otherwise */
#define HEALTH_CONDITION  "EveryNodeReady"

static const char *str_or(const json_t *j, const char *path, const char *dflt) {
  const char *s = jsonx_str(j, path);
  return s ? s : dflt;
}

static json_t *member(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  if (!json_is_object(v)) {
    v = json_object();
    json_object_set_new(o, k, v);
  }
  return v;
}

/* Gardener's CheckMachineDeployment: NULL when healthy, else why (caller frees). */
static char *md_problem(const json_t *md) {
  static const struct gardener_cond_want want[] = {{"Available", "True", true},
                                                   {"Progressing", "True", false},
                                                   {"ReplicaFailure", "False", false},
                                                   {"Frozen", "False", false}};
  return gardener_workload_problem(md, want, ARRAY_SIZE(want), GARDENER_COND_MESSAGE_REASON);
}

/*
 * status/reason/message of EveryNodeReady for a Worker, as Gardener's worker NodesChecker
 * with its health check controller: nodes is the outcome of shoot.nodes.count (NULL while
 * hibernated). A failed node count makes the condition Unknown; otherwise every
 * MachineDeployment of the namespace (by name) is judged: first any failed machine, then
 * Gardener's CheckMachineDeployment.
 */
static void judge(json_t *state, const json_t *w, const json_t *nodes, const char **status,
                  const char **reason, char **message) {
  const char *ns = str_or(w, "metadata.namespace", "");
  *status = "True";
  *reason = "HealthCheckSuccessful";
  if (jsonx_bool(json_object_get(state, "clusters"), ns, false)) {
    *message = xstrdup("Shoot is hibernated");
    return;
  }
  if (!jsonx_bool(nodes, "ok", false)) {
    const char *err = str_or(nodes, "error.message", "the node count did not run");
    *status = "Unknown";
    *reason = "ConditionCheckError";
    /* The check ran but could not list the Nodes, or there was no shoot client to run it. */
    *message = !strncmp(err, METAL_NODES_CHECK_FAILED, sizeof(METAL_NODES_CHECK_FAILED) - 1)
                   ? xasprintf("failed to execute 1 health check: %s", err)
                   : xasprintf("unable to execute any health check: %s", err);
    return;
  }
  const json_t *mds = json_object_get(json_object_get(state, "mds"), ns);
  size_t n, i;
  const char **names = jsonx_sorted_keys(mds, &n);
  *message = NULL;
  for (i = 0; i < n && !*message; i++) {
    json_t *fm =
        json_array_get(jsonx_path(json_object_get(mds, names[i]), "status.failedMachines"), 0);
    if (fm)
      *message = xasprintf("machine \"%s\" failed: %s", str_or(fm, "name", ""),
                           str_or(fm, "lastOperation.description", ""));
  }
  for (i = 0; i < n && !*message; i++) {
    char *why = md_problem(json_object_get(mds, names[i]));
    if (why)
      *message = xasprintf("machine deployment \"%s\" in namespace \"%s\" is unhealthy: %s",
                           names[i], ns, why);
    free(why);
  }
  free(names);
  if (*message) {
    *status = "False";
    *reason = "HealthCheckUnsuccessful";
    return;
  }
  *message = xstrdup("All health checks successful");
}

static json_t *action_json(const json_t *w, const char *step, const char *kind, json_t *params_own,
                           int64_t at, const char *reason) {
  const char *ns = str_or(w, "metadata.namespace", ""), *name = str_or(w, "metadata.name", "");
  const char *uid = str_or(w, "metadata.uid", "");
  char k[33];
  action_key(uid, "health", kind, step, k);
  struct action a = {0};
  a.id = xasprintf("%s/%s/%s/health/%s/1", HEALTH_CONTROLLER, ns, name, step);
  a.key = xstrdup(k);
  a.controller = xstrdup(HEALTH_CONTROLLER);
  a.kind = xstrdup(kind);
  a.correlation = xasprintf("%s/%s/%s/health", HEALTH_CONTROLLER, ns, name);
  a.group_kind = xstrdup("extensions.gardener.cloud/Worker");
  a.ns = xstrdup(ns);
  a.name = xstrdup(name);
  a.uid = xstrdup(uid);
  a.attempt = 1;
  a.at_ms = at;
  a.params = params_own;
  a.reason = xstrdup(reason);
  json_t *j = action_to_json(&a);
  action_release(&a);
  return j;
}

static int64_t period(const json_t *state) {
  json_int_t p = jsonx_int(state, "periodMs", HEALTH_PERIOD_MS);
  return p > 0 ? p : HEALTH_PERIOD_MS;
}

static void schedule(json_t *state, json_t *ws, int64_t at) {
  json_int_t n = jsonx_int(state, "n", 0) + 1;
  json_object_set_new(state, "n", json_integer(n));
  json_object_set_new(ws, "due", json_integer(at));
  json_object_set_new(ws, "tick", json_integer(n));
}

/* Judge the Worker in ws at now from nodes (see judge()) and plan the condition's write. */
static void check(json_t *state, json_t *ws, const json_t *nodes, int64_t now) {
  const json_t *w = json_object_get(ws, "obj");
  const char *status, *reason;
  char *msg = NULL;
  judge(state, w, nodes, &status, &reason, &msg);
  char ts[TIMEFMT_LEN];
  timefmt_rfc3339(now, ts);
  const json_t *old = gardener_condition(w, HEALTH_CONDITION);
  const char *ltt = old && !strcmp(str_or(old, "status", ""), status)
                        ? str_or(old, "lastTransitionTime", ts)
                        : ts;
  json_t *conds = json_array();
  size_t i;
  json_t *c;
  json_array_foreach(jsonx_path(w, "status.conditions"), i, c) {
    const char *t = str_or(c, "type", "");
    /* The Go original's health check also removes an old ControlPlaneHealthy from Workers. */
    if (strcmp(t, HEALTH_CONDITION) && strcmp(t, "ControlPlaneHealthy"))
      json_array_append(conds, c);
  }
  json_array_append_new(conds, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", HEALTH_CONDITION,
                                         "status", status, "reason", reason, "message", msg,
                                         "lastTransitionTime", ltt, "lastUpdateTime", ts));
  json_t *params = json_pack("{s:{s:{s:o}}}", "patch", "status", "conditions", conds);
  json_int_t n = jsonx_int(state, "n", 0) + 1;
  json_object_set_new(state, "n", json_integer(n));
  char step[48];
  snprintf(step, sizeof(step), "write-%" JSON_INTEGER_FORMAT, n);
  char *why = xasprintf("report condition %s=%s: %s", HEALTH_CONDITION, status, msg);
  json_object_set_new(ws, "write", action_json(w, step, "kube.status", params, 0, why));
  free(why);
  free(msg);
}

static bool skipped(const json_t *w) {
  return gardener_being_deleted(w) || gardener_is_migrated(w) ||
         strcmp(str_or(w, "spec.type", ""), METAL_EXTENSION_TYPE) != 0;
}

/*
 * The Worker's timer fired at now: judge at once while hibernated, else count the shoot's
 * Nodes first (the count's result then judges). A count still running is not started again.
 */
static void tick(json_t *state, json_t *ws, int64_t now) {
  const json_t *w = json_object_get(ws, "obj");
  schedule(state, ws, now + period(state));
  if (skipped(w)) { /* no check now; one left over from before is dropped */
    json_object_del(ws, "count");
    return;
  }
  if (jsonx_bool(json_object_get(state, "clusters"), str_or(w, "metadata.namespace", ""), false)) {
    check(state, ws, NULL, now);
    return;
  }
  if (json_object_get(ws, "count"))
    return;
  char step[48];
  snprintf(step, sizeof(step), "nodes-%" JSON_INTEGER_FORMAT, jsonx_int(state, "n", 0));
  json_t *params = json_pack("{s:[s,s]}", "kubeconfigSecrets", "gardener-internal", "gardener");
  json_object_set_new(ws, "count",
                      action_json(w, step, "shoot.nodes.count", params, 0,
                                  "count the shoot's Nodes for the health check (EveryNodeReady)"));
}

static json_t *hinit(const struct reducer *r) {
  (void)r;
  return json_pack("{s:b,s:i,s:{},s:{},s:{}}", "on", 0, "n", 0, "clusters", "mds", "workers");
}

static void happly(const struct reducer *r, json_t *state, const struct reduce_event *ev,
                   struct keylist *touched) {
  (void)r;
  const char *src = ev->source ? ev->source : "", *type = ev->type ? ev->type : "";
  const char *gk = ev->group_kind ? ev->group_kind : "";
  const char *ns = ev->ns ? ev->ns : "", *name = ev->name ? ev->name : "";
  json_t *workers = member(state, "workers");
  if (!strcmp(type, "engine.start")) {
    bool on = json_is_object(jsonx_path(ev->payload, "controllers.worker"));
    json_object_set_new(state, "on", json_boolean(on));
    json_object_set_new(state, "periodMs",
                        json_integer(jsonx_int(ev->payload, "controllers.healthcheck.syncPeriodMs",
                                               HEALTH_PERIOD_MS)));
    const char *k;
    json_t *ws;
    json_object_foreach(workers, k, ws) {
      json_object_del(ws, "write");
      json_object_del(ws, "count");
      schedule(state, ws, ev->recorded_ms);
      keylist_add(touched, k);
    }
    return;
  }
  char *key = xasprintf("%s/%s", ns, name);
  if (!strcmp(src, "kube")) {
    bool del = strstr(type, ".deleted") != NULL;
    bool obs = del || strstr(type, ".added") || strstr(type, ".modified");
    if (!obs) {
      free(key);
      return;
    }
    if (!strcmp(gk, "extensions.gardener.cloud/Cluster")) {
      json_object_set_new(member(state, "clusters"), name,
                          json_boolean(!del && gardener_cluster_hibernated(ev->payload)));
    } else if (!strcmp(gk, MCM_GK_MACHINE_DEPLOYMENT)) {
      json_t *byns = member(member(state, "mds"), ns);
      if (del)
        json_object_del(byns, name);
      else {
        /* Keep what judge() reads: generation, spec.replicas, status. */
        json_t *m = json_object();
        json_t *g = jsonx_path(ev->payload, "metadata.generation");
        json_object_set_new(
            m, "metadata",
            json_pack("{s:I}", "generation", json_is_integer(g) ? json_integer_value(g) : 0));
        json_object_set_new(
            m, "spec", json_pack("{s:I}", "replicas", jsonx_int(ev->payload, "spec.replicas", 0)));
        json_t *st = json_object_get(ev->payload, "status");
        if (json_is_object(st))
          json_object_set(m, "status", st);
        json_object_set_new(byns, name, m);
      }
    } else if (!strcmp(gk, "extensions.gardener.cloud/Worker")) {
      if (del || !json_is_object(ev->payload)) {
        if (json_object_get(workers, key)) {
          json_object_del(workers, key);
          keylist_add(touched, key);
        }
      } else {
        json_t *ws = member(workers, key);
        json_t *o = json_deep_copy(ev->payload);
        json_object_del(json_object_get(o, "metadata"), "managedFields");
        json_object_set_new(ws, "obj", o);
        if (!json_is_integer(json_object_get(ws, "due")))
          schedule(state, ws, ev->recorded_ms);
        keylist_add(touched, key);
      }
    }
    free(key);
    return;
  }
  free(key);
  const char *ctl = jsonx_str(ev->payload, "controller");
  if (!ctl || strcmp(ctl, HEALTH_CONTROLLER) != 0)
    return;
  /* Route by correlation id "<controller>/<ns>/<name>/health". */
  const char *corr = ev->correlation_id ? ev->correlation_id : "";
  size_t cl = strlen(HEALTH_CONTROLLER);
  if (strncmp(corr, HEALTH_CONTROLLER "/", cl + 1) != 0)
    return;
  const char *rest = corr + cl + 1, *end = strstr(rest, "/health");
  if (!end)
    return;
  key = xasprintf("%.*s", (int)(end - rest), rest);
  json_t *ws = json_object_get(workers, key);
  const char *aid = jsonx_str(ev->payload, "actionId");
  if (ws && aid && !strcmp(type, "clock.timer")) {
    keylist_add(touched, key);
    tick(state, ws, ev->recorded_ms);
  } else if (ws && aid && !strcmp(type, "executor.result")) {
    json_t *wr = json_object_get(ws, "write"), *cnt = json_object_get(ws, "count");
    if (wr && !strcmp(str_or(wr, "id", ""), aid)) {
      json_object_del(ws, "write");
      keylist_add(touched, key);
    } else if (cnt && !strcmp(str_or(cnt, "id", ""), aid)) {
      json_object_del(ws, "count");
      keylist_add(touched, key);
      check(state, ws, ev->payload, ev->recorded_ms);
    }
  }
  free(key);
}

static void hdesire(const struct reducer *r, const json_t *state, const char *key,
                    struct action_list *out) {
  (void)r;
  if (!jsonx_bool(state, "on", false))
    return;
  json_t *ws = json_object_get(json_object_get(state, "workers"), key);
  const json_t *w = json_object_get(ws, "obj");
  if (!ws || !w || skipped(w))
    return;
  json_t *list[3] = {json_object_get(ws, "write"), json_object_get(ws, "count"), NULL};
  char step[48];
  snprintf(step, sizeof(step), "tick-%" JSON_INTEGER_FORMAT, jsonx_int(ws, "tick", 0));
  int64_t due = jsonx_int(ws, "due", 0);
  list[2] = action_json(w, step, "timer", json_pack("{s:I}", "atMs", (json_int_t)due), due,
                        "check the Worker's health (EveryNodeReady) every sync period");
  for (size_t i = 0; i < 3; i++) {
    if (!list[i])
      continue;
    struct action *a = action_list_push(out);
    struct eng_error err;
    if (action_from_json(list[i], a, &err) != ENG_OK)
      out->n--;
  }
  json_decref(list[2]);
}

static void hkeys(const struct reducer *r, const json_t *state, struct keylist *out) {
  (void)r;
  const char *k;
  json_t *v;
  json_object_foreach(json_object_get(state, "workers"), k, v) keylist_add(out, k);
}

const struct reducer metal_worker_health_reducer = {HEALTH_CONTROLLER, NULL, hinit, happly,
                                                    hdesire,           hkeys};
