/*
 * cp_health.c - the ControlPlane health check (pure reducer "healthcheck"), as
 * Gardener's health check controller with the Go original's one registration:
 * condition ControlPlaneHealthy from the seed Deployment cloud-controller-manager
 * of the shoot's namespace, judged every sync period (a timer action; default
 * 30 s) and written to status.conditions with a merge patch only when status,
 * reason or message change (lastTransitionTime when the status changes).
 *
 * State: {"config": {"syncPeriodMs": n},
 *         "cps": {"<ns>/<name>": {"uid", "gen", "skip": bool, "conditions": [...],
 *                                 "tick": n, "due": ms, "write": {condition} | absent, "w": n}},
 *         "deploys": {"<ns>": <Deployment>}, "hibernated": {"<ns>": bool}}
 * Checks are skipped while the ControlPlane is deleted or migrated and before
 * its first operation; a hibernated shoot is healthy ("Shoot is hibernated").
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/controllers/cp_health.h"
#include "engine/base/jsonx.h"
#include "engine/base/timefmt.h"
#include "engine/base/xalloc.h"
#include "engine/decide/gardener.h"
#include "providers/equinix-metal/controllers/controlplane.h"
#include "providers/equinix-metal/controllers/infrastructure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HC            CP_HEALTH_CONTROLLER
#define GK_CP         "extensions.gardener.cloud/ControlPlane"
#define GK_CLUSTER    "extensions.gardener.cloud/Cluster"
#define GK_DEPLOYMENT "apps/Deployment"
#define COND_TYPE     "ControlPlaneHealthy"
#define DEFAULT_MS    30000

static const char *S(const json_t *j, const char *k) {
  const char *s = json_string_value(json_object_get(j, k));
  return s ? s : "";
}

static json_t *child(json_t *o, const char *k) {
  json_t *c = json_object_get(o, k);
  if (!c) {
    c = json_object();
    json_object_set_new(o, k, c);
  }
  return c;
}

static json_t *hc_init(const struct reducer *r) {
  (void)r;
  json_t *s = json_object();
  json_object_set_new(s, "config", json_object());
  json_object_set_new(s, "cps", json_object());
  json_object_set_new(s, "deploys", json_object());
  json_object_set_new(s, "hibernated", json_object());
  return s;
}

static int64_t period(const json_t *state) {
  json_int_t p = jsonx_int(json_object_get(state, "config"), "syncPeriodMs", DEFAULT_MS);
  return p > 0 ? p : DEFAULT_MS;
}

static void touch_ns(json_t *state, const char *ns, struct keylist *t) {
  size_t n = strlen(ns);
  const char *k;
  json_t *v;
  json_object_foreach(json_object_get(state, "cps"), k, v) {
    (void)v;
    if (!strncmp(k, ns, n) && k[n] == '/')
      keylist_add(t, k);
  }
}

static void on_cp(json_t *state, const struct reduce_event *ev, bool deleted, struct keylist *t) {
  const json_t *o = ev->payload;
  char *key = xasprintf("%s/%s", ev->ns ? ev->ns : "", ev->name ? ev->name : "");
  json_t *cps = json_object_get(state, "cps");
  if (deleted || strcmp(jsonx_str(o, "spec.type") ? jsonx_str(o, "spec.type") : "",
                        METAL_EXTENSION_TYPE) != 0) {
    if (json_object_get(cps, key)) {
      json_object_del(cps, key);
      keylist_add(t, key);
    }
    free(key);
    return;
  }
  json_t *e = json_object_get(cps, key);
  if (!e) {
    e = json_object();
    json_object_set_new(e, "tick", json_integer(0));
    json_object_set_new(e, "w", json_integer(0));
    json_object_set_new(e, "due", json_integer(ev->recorded_ms));
    json_object_set_new(cps, key, e);
  }
  const json_t *ann = jsonx_path(o, "metadata.annotations");
  const char *opann = S(ann, "gardener.cloud/operation");
  const char *lot = jsonx_str(o, "status.lastOperation.type");
  bool skip = jsonx_str(o, "metadata.deletionTimestamp") != NULL || !strcmp(opann, "migrate") ||
              !lot || !strcmp(lot, "Migrate");
  json_object_set_new(e, "skip", json_boolean(skip));
  json_object_set_new(e, "uid", json_string(ev->uid ? ev->uid : ""));
  const json_t *conds = jsonx_path(o, "status.conditions");
  json_object_set_new(e, "conditions", json_is_array(conds) ? json_deep_copy(conds) : json_array());
  keylist_add(t, key);
  free(key);
}

static const json_t *find_cond(const json_t *conds, const char *type) {
  size_t i;
  json_t *c;
  json_array_foreach(conds, i, c) {
    if (!strcmp(S(c, "type"), type))
      return c;
  }
  return NULL;
}

/* Gardener's CheckDeployment: NULL when healthy, else why (caller frees). */
static char *deployment_problem(const json_t *d) {
  static const struct gardener_cond_want want[] = {{"Available", "True", true},
                                                   {"Progressing", "True", false},
                                                   {"ReplicaFailure", "False", false}};
  return gardener_workload_problem(d, want, ARRAY_SIZE(want), GARDENER_COND_INVALID_STATUS);
}

/* Judge the CCM Deployment of ns: status/reason/message (message: caller frees). */
static const char *judge(const json_t *state, const char *ns, const char **reason, char **msg) {
  if (jsonx_bool(json_object_get(state, "hibernated"), ns, false)) {
    *reason = "HealthCheckSuccessful";
    *msg = xstrdup("Shoot is hibernated");
    return "True";
  }
  const json_t *d = json_object_get(json_object_get(state, "deploys"), ns);
  if (!d) {
    *reason = "HealthCheckUnsuccessful";
    *msg = xasprintf("deployment \"" CP_CCM_DEPLOYMENT "\" in namespace \"%s\" not found", ns);
    return "False";
  }
  char *why = deployment_problem(d);
  if (why) {
    *reason = "HealthCheckUnsuccessful";
    *msg = xasprintf("deployment \"" CP_CCM_DEPLOYMENT "\" in namespace \"%s\" is unhealthy: %s",
                     ns, why);
    free(why);
    return "False";
  }
  *reason = "HealthCheckSuccessful";
  *msg = xstrdup("All health checks successful");
  return "True";
}

static void check(json_t *state, const char *key, json_t *e, int64_t now) {
  char ns[256];
  const char *slash = strchr(key, '/');
  size_t n = slash ? (size_t)(slash - key) : strlen(key);
  if (n >= sizeof(ns))
    n = sizeof(ns) - 1;
  memcpy(ns, key, n);
  ns[n] = '\0';
  const char *reason;
  char *msg;
  const char *status = judge(state, ns, &reason, &msg);
  const json_t *old = find_cond(json_object_get(e, "conditions"), COND_TYPE);
  bool same = old && !strcmp(S(old, "status"), status) && !strcmp(S(old, "reason"), reason) &&
              !strcmp(S(old, "message"), msg);
  if (!same) {
    char ts[TIMEFMT_LEN];
    timefmt_rfc3339(now, ts);
    json_t *c = json_object();
    json_object_set_new(c, "type", json_string(COND_TYPE));
    json_object_set_new(c, "status", json_string(status));
    json_object_set_new(c, "reason", json_string(reason));
    json_object_set_new(c, "message", json_string(msg));
    json_object_set_new(c, "lastUpdateTime", json_string(ts));
    const char *lt = old && !strcmp(S(old, "status"), status) ? S(old, "lastTransitionTime") : "";
    json_object_set_new(c, "lastTransitionTime", json_string(*lt ? lt : ts));
    json_object_set_new(e, "write", c);
    json_object_set_new(e, "w", json_integer(jsonx_int(e, "w", 0) + 1));
  } else {
    json_object_del(e, "write");
  }
  free(msg);
}

static bool parse_tick(const char *id, const char *key, const char *what) {
  size_t kl = strlen(key), hl = strlen(HC);
  return !strncmp(id, HC, hl) && id[hl] == '/' && !strncmp(id + hl + 1, key, kl) &&
         id[hl + 1 + kl] == '/' && !strncmp(id + hl + 2 + kl, what, strlen(what));
}

static void on_timer_or_result(json_t *state, const struct reduce_event *ev, bool timer,
                               struct keylist *t) {
  const char *id = S(ev->payload, "actionId");
  const char *k;
  json_t *e;
  json_object_foreach(json_object_get(state, "cps"), k, e) {
    if (timer && parse_tick(id, k, "tick-")) {
      int64_t now = ev->recorded_ms;
      int64_t at = (int64_t)jsonx_int(ev->payload, "atMs", 0);
      if (at > now)
        now = at; /* a timer stands for its due time */
      if (!jsonx_bool(e, "skip", false))
        check(state, k, e, now);
      json_object_set_new(e, "tick", json_integer(jsonx_int(e, "tick", 0) + 1));
      json_object_set_new(e, "due", json_integer(now + period(state)));
      keylist_add(t, k);
      return;
    }
    if (!timer && parse_tick(id, k, "condition-")) {
      /* Written or not: the next tick judges again from what is observed. */
      json_object_del(e, "write");
      keylist_add(t, k);
      return;
    }
  }
}

static void hc_apply(const struct reducer *r, json_t *state, const struct reduce_event *ev,
                     struct keylist *t) {
  (void)r;
  const char *src = ev->source ? ev->source : "", *type = ev->type ? ev->type : "";
  if (!strcmp(src, "engine") && !strcmp(type, "engine.start")) {
    json_t *cfg = jsonx_path(ev->payload, "controllers." HC);
    json_object_set_new(state, "config", json_is_object(cfg) ? json_deep_copy(cfg) : json_object());
    return;
  }
  if (!strcmp(src, "clock") && !strcmp(type, "clock.timer")) {
    if (!strcmp(S(ev->payload, "controller"), HC))
      on_timer_or_result(state, ev, true, t);
    return;
  }
  if (!strcmp(src, "executor") && !strcmp(type, "executor.result")) {
    if (!strcmp(S(ev->payload, "controller"), HC))
      on_timer_or_result(state, ev, false, t);
    return;
  }
  if (strcmp(src, "kube") != 0)
    return;
  bool deleted = !strcmp(type, "kube.deleted");
  if (!deleted && strcmp(type, "kube.added") != 0 && strcmp(type, "kube.modified") != 0)
    return;
  const char *gk = ev->group_kind ? ev->group_kind : "";
  if (!strcmp(gk, GK_CP)) {
    on_cp(state, ev, deleted, t);
  } else if (!strcmp(gk, GK_DEPLOYMENT) && ev->ns &&
             !strcmp(ev->name ? ev->name : "", CP_CCM_DEPLOYMENT)) {
    json_t *deps = json_object_get(state, "deploys");
    if (deleted) {
      json_object_del(deps, ev->ns);
    } else {
      json_t *d = json_object();
      json_object_set_new(
          d, "metadata",
          json_pack("{s:I}", "generation", jsonx_int(ev->payload, "metadata.generation", 0)));
      const json_t *st = json_object_get(ev->payload, "status");
      json_object_set_new(d, "status", st ? json_deep_copy(st) : json_object());
      json_object_set_new(deps, ev->ns, d);
    }
  } else if (!strcmp(gk, GK_CLUSTER) && ev->name) {
    json_object_set_new(
        child(state, "hibernated"), ev->name,
        json_boolean(!deleted &&
                     jsonx_bool(ev->payload, "spec.shoot.spec.hibernation.enabled", false)));
    touch_ns(state, ev->name, t);
  }
}

static struct action *base_action(struct action_list *out, const char *key, const json_t *e,
                                  const char *step, const char *kind) {
  struct action *a = action_list_push(out);
  const char *slash = strchr(key, '/');
  size_t nl = slash ? (size_t)(slash - key) : 0;
  char k[33];
  action_key(S(e, "uid"), HC, kind, step, k);
  a->id = xasprintf("%s/%s/%s/1", HC, key, step);
  a->key = xstrdup(k);
  a->controller = xstrdup(HC);
  a->kind = xstrdup(kind);
  a->correlation = xasprintf("%s/%s", HC, key);
  a->group_kind = xstrdup(GK_CP);
  a->ns = xstrndup(key, nl);
  a->name = xstrdup(slash ? slash + 1 : key);
  a->uid = xstrdup(S(e, "uid"));
  a->attempt = 1;
  return a;
}

static void hc_desire(const struct reducer *r, const json_t *state, const char *key,
                      struct action_list *out) {
  (void)r;
  const json_t *e = json_object_get(json_object_get(state, "cps"), key);
  if (!e)
    return;
  char step[64];
  snprintf(step, sizeof(step), "tick-%" JSON_INTEGER_FORMAT, jsonx_int(e, "tick", 0));
  struct action *a = base_action(out, key, e, step, "timer");
  a->at_ms = (int64_t)jsonx_int(e, "due", 0);
  a->params = json_object();
  a->reason = xstrdup("judge the health of the cloud-controller-manager Deployment "
                      "(condition " COND_TYPE ")");
  const json_t *w = json_object_get(e, "write");
  if (!w || jsonx_bool(e, "skip", false))
    return;
  /* The merge patch replaces the list: every other condition as observed, ours new. */
  json_t *conds = json_array();
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(e, "conditions"), i, c) {
    if (strcmp(S(c, "type"), COND_TYPE) != 0)
      json_array_append(conds, c);
  }
  json_array_append(conds, (json_t *)w);
  snprintf(step, sizeof(step), "condition-%" JSON_INTEGER_FORMAT, jsonx_int(e, "w", 0));
  a = base_action(out, key, e, step, "kube.status");
  a->params = json_pack("{s:{s:{s:o}}}", "patch", "status", "conditions", conds);
  a->reason = xasprintf("set condition " COND_TYPE " to %s (%s): %s", S(w, "status"),
                        S(w, "reason"), S(w, "message"));
}

static void hc_keys(const struct reducer *r, const json_t *state, struct keylist *out) {
  (void)r;
  const char *k;
  json_t *v;
  json_object_foreach(json_object_get(state, "cps"), k, v) {
    (void)v;
    keylist_add(out, k);
  }
}

const struct reducer metal_cp_health_reducer = {HC, NULL, hc_init, hc_apply, hc_desire, hc_keys};
