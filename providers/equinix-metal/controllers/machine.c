/*
 * machine.c - the machine controller (MCM provider sidecar) as a pure reducer.
 *
 * State document:
 *   {"on": bool, "cfg": {...engine.start controllers.machine},
 *    "machines": {"<name>": {"obj": Machine, "st": {step: {n, ok, fail, at, out, err, code}},
 *                            "want": {phase, pat, desc, state, type, code, at},
 *                            "del": stage, "plan": [action...], "wake": ms}},
 *    "classes":  {"<name>": {"obj": MachineClass, "st": {...}, "plan": [...]}},
 *    "secrets":  {"<name>": {"rv", "fin": [...], "deleting", "st", "plan"}},
 *    "nodes":    {"<name>": {ready, taint, bad, label, unsched, pid}},
 *    "devices":  {"<id>": {hostname, state, tags}},
 *    "orphans":  {"<id>": {since, st, plan, wake}},
 *    "listed":   {"machines": bool, "devices": bool}}
 *
 * Keys: "m/<name>", "c/<name>", "s/<name>", "o/<device id>". Action ids:
 * "machine/<ns>/<scope>/<name>/<step>/<attempt>" with scope m, c, s or o, so a
 * result or timer finds its object and step again. apply() evaluates the touched
 * objects into a plan (action JSON) that desire() only renders.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/controllers/machine.h"
#include "engine/base/jsonx.h"
#include "engine/base/sha256.h"
#include "engine/base/timefmt.h"
#include "engine/base/xalloc.h"
#include "engine/decide/backoff.h"
#include "engine/decide/gardener.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GK_MACHINE "machine.sapcloud.io/Machine"
#define GK_CLASS   "machine.sapcloud.io/MachineClass"
#define GK_SECRET  "/Secret"
#define GK_NODE    "/Node"

/* MCM's retry periods. */
#define SHORT_RETRY_MS  5000
#define MEDIUM_RETRY_MS 180000

struct ctx {
  json_t *state;
  const json_t *cfg;
  const char *ns;
  int64_t now;
};

/* ---- small helpers --------------------------------------------------------------------- */

static const char *S(const json_t *o, const char *path) {
  const char *s = jsonx_str(o, path);
  return s ? s : "";
}

static json_t *obj_child(json_t *o, const char *key) {
  json_t *c = json_object_get(o, key);
  if (!json_is_object(c)) {
    c = json_object();
    json_object_set_new(o, key, c);
  }
  return c;
}

static int64_t cfg_ms(const struct ctx *c, const char *key, int64_t dflt) {
  return (int64_t)jsonx_int(c->cfg, key, dflt);
}

bool machine_parse_duration(const char *s, int64_t *ms) {
  if (!s || !*s)
    return false;
  double total = 0;
  const char *p = s;
  if (!strcmp(p, "0")) {
    *ms = 0;
    return true;
  }
  while (*p) {
    char *end;
    double v = strtod(p, &end);
    if (end == p || v < 0)
      return false;
    p = end;
    double unit;
    if (!strncmp(p, "ms", 2)) {
      unit = 1;
      p += 2;
    } else if (*p == 'h') {
      unit = 3600000;
      p++;
    } else if (*p == 'm') {
      unit = 60000;
      p++;
    } else if (*p == 's') {
      unit = 1000;
      p++;
    } else {
      return false;
    }
    total += v * unit;
  }
  if (total > 9e15)
    return false;
  *ms = (int64_t)total;
  return true;
}

void machine_token_id(const char *machine, char out[7]) {
  size_t n = strlen(machine);
  const char *tail = n > 5 ? machine + n - 5 : machine;
  char hex[11] = "";
  hex_encode((const uint8_t *)tail, strlen(tail) > 5 ? 5 : strlen(tail), hex);
  memcpy(out, hex, 6);
  out[6] = 0;
}

static int64_t parse_time(const char *s) {
  int64_t ms = 0;
  if (!s || !*s || timefmt_parse(s, &ms) != ENG_OK)
    return 0;
  return ms;
}

static bool has_str(const json_t *arr, const char *s) {
  size_t i;
  json_t *v;
  json_array_foreach(arr, i,
                     v) if (json_is_string(v) && !strcmp(json_string_value(v), s)) return true;
  return false;
}

static void short_hash(const char *text, char out[13]) {
  char hex[SHA256_HEX_LEN + 1];
  sha256_hex(text, strlen(text), hex);
  memcpy(out, hex, 12);
  out[12] = 0;
}

static char *canon_hash(const json_t *v) {
  char *t = jsonx_canonical(v);
  char h[13];
  short_hash(t ? t : "", h);
  free(t);
  return xstrdup(h);
}

/* Go-like duration text of ms ("4m12s", "37s"). */
static void fmt_duration(int64_t ms, char out[48]) {
  if (ms < 0)
    ms = 0;
  int64_t s = ms / 1000, h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
  if (h)
    snprintf(out, 48, "%" PRId64 "h%" PRId64 "m%" PRId64 "s", h, m, sec);
  else if (m)
    snprintf(out, 48, "%" PRId64 "m%" PRId64 "s", m, sec);
  else
    snprintf(out, 48, "%" PRId64 ".%03" PRId64 "s", sec, ms % 1000);
}

/* ---- steps and actions ------------------------------------------------------------------ */

/* The step record (created on demand). */
static json_t *step_of(json_t *ent, const char *step) {
  return obj_child(obj_child(ent, "st"), step);
}

static bool step_ok(const json_t *ent, const char *step) {
  return jsonx_bool(json_object_get(json_object_get(ent, "st"), step), "ok", false);
}

static const json_t *step_out(const json_t *ent, const char *step) {
  return json_object_get(json_object_get(json_object_get(ent, "st"), step), "out");
}

/* A step that is planned, not finished and not waiting for a retry: in flight or queued. */
static bool step_running(const json_t *ent, const char *step) {
  const json_t *s = json_object_get(json_object_get(ent, "st"), step);
  return s && jsonx_bool(s, "planned", false) && !jsonx_bool(s, "ok", false) &&
         !jsonx_bool(s, "fail", false);
}

static void wake_at(json_t *ent, const struct ctx *c, int64_t at) {
  if (at <= c->now)
    return;
  json_int_t cur = jsonx_int(ent, "wake", 0);
  if (!cur || at < cur)
    json_object_set_new(ent, "wake", json_integer(at));
}

/*
 * Plan one step: unless it succeeded or waits for its retry, append its action
 * (attempt = the step's attempt) to the entry's plan. Returns true when it is done.
 */
static bool plan(json_t *ent, const struct ctx *c, const char *scope, const char *name,
                 const char *uid, const char *step, const char *kind, const char *gk,
                 const char *tns, const char *tname, json_t *params_own, const char *reason) {
  json_t *s = step_of(ent, step);
  if (jsonx_bool(s, "ok", false)) {
    json_decref(params_own);
    return true;
  }
  if (jsonx_bool(s, "fail", false)) {
    wake_at(ent, c, (int64_t)jsonx_int(s, "at", 0));
    json_decref(params_own);
    return false;
  }
  int attempt = (int)jsonx_int(s, "n", 1);
  json_object_set_new(s, "planned", json_true());
  char key[33];
  char *ident = xasprintf("%s/%s/%s", scope, c->ns, name);
  action_key(uid, ident, kind, step, key);
  struct action a = {0};
  a.id = xasprintf("%s/%s/%s/%s/%s/%d", MACHINE_CONTROLLER, c->ns, scope, name, step, attempt);
  a.key = xstrdup(key);
  a.controller = xstrdup(MACHINE_CONTROLLER);
  a.kind = xstrdup(kind);
  a.correlation = xasprintf("%s/%s/%s", MACHINE_CONTROLLER, c->ns, ident);
  a.group_kind = xstrdup(gk);
  a.ns = xstrdup(tns);
  a.name = xstrdup(tname);
  a.uid = xstrdup(uid);
  a.attempt = attempt;
  a.params = params_own;
  a.reason = xstrdup(reason);
  json_t *pl = json_object_get(ent, "plan");
  if (!json_is_array(pl)) {
    pl = json_array();
    json_object_set_new(ent, "plan", pl);
  }
  json_array_append_new(pl, action_to_json(&a));
  action_release(&a);
  free(ident);
  return false;
}

static void plan_timer(json_t *ent, const struct ctx *c, const char *scope, const char *name,
                       const char *uid, const char *gk, const char *tname) {
  int64_t at = (int64_t)jsonx_int(ent, "wake", 0);
  if (at <= c->now)
    return;
  struct action a = {0};
  char step[48];
  snprintf(step, sizeof(step), "wake-%" PRId64, at);
  char key[33];
  action_key(uid, name, "timer", step, key);
  a.id = xasprintf("%s/%s/%s/%s/%s/1", MACHINE_CONTROLLER, c->ns, scope, name, step);
  a.key = xstrdup(key);
  a.controller = xstrdup(MACHINE_CONTROLLER);
  a.kind = xstrdup("timer");
  a.correlation = xasprintf("%s/%s/%s/%s", MACHINE_CONTROLLER, c->ns, scope, name);
  a.group_kind = xstrdup(gk);
  a.ns = xstrdup(c->ns);
  a.name = xstrdup(tname);
  a.uid = xstrdup(uid);
  a.attempt = 1;
  a.at_ms = at;
  a.params = json_object();
  a.reason = xstrdup("re-check timeouts and retries when they fall due");
  json_array_append_new(json_object_get(ent, "plan"), action_to_json(&a));
  action_release(&a);
}

/* Start a fresh plan; retries whose time has come become runnable again. */
static void plan_begin(json_t *ent, const struct ctx *c) {
  json_object_set_new(ent, "plan", json_array());
  json_object_del(ent, "wake");
  const char *k;
  json_t *s;
  json_object_foreach(obj_child(ent, "st"), k, s) {
    if (jsonx_bool(s, "fail", false) && jsonx_int(s, "at", 0) <= c->now) {
      json_object_set_new(s, "fail", json_false());
      json_object_set_new(s, "n", json_integer(jsonx_int(s, "n", 1) + 1));
      json_object_del(s, "planned");
    }
  }
}

static json_t *patch_params(json_t *patch_own) {
  json_t *p = json_object();
  json_object_set_new(p, "patch", patch_own);
  return p;
}

static json_t *finalizer_patch(const json_t *obj, const char *fin, bool add) {
  json_t *list = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(jsonx_path(obj, "metadata.finalizers"), i, v) {
    if (json_is_string(v) && !strcmp(json_string_value(v), fin))
      continue;
    json_array_append(list, v);
  }
  if (add)
    json_array_append_new(list, json_string(fin));
  return json_pack("{s:{s:o,s:s}}", "metadata", "finalizers", list, "resourceVersion",
                   S(obj, "metadata.resourceVersion"));
}

/* ---- configuration and per-machine settings --------------------------------------------- */

static int64_t machine_timeout(const struct ctx *c, const json_t *obj, const char *spec_key,
                               const char *cfg_key, int64_t dflt) {
  int64_t ms;
  json_t *ann = jsonx_path(obj, "metadata.annotations");
  if (!strcmp(spec_key, "creationTimeout")) {
    const char *a = json_string_value(
        json_object_get(ann, "node.machine.sapcloud.io/effective-creation-timeout"));
    if (a && machine_parse_duration(a, &ms))
      return ms;
  }
  const char *v = json_string_value(json_object_get(json_object_get(obj, "spec"), spec_key));
  if (v && machine_parse_duration(v, &ms))
    return ms;
  return cfg_ms(c, cfg_key, dflt);
}

static const char *label_of(const json_t *obj, const char *label) {
  return json_string_value(json_object_get(jsonx_path(obj, "metadata.labels"), label));
}

static const char *ann_of(const json_t *obj, const char *a) {
  return json_string_value(json_object_get(jsonx_path(obj, "metadata.annotations"), a));
}

static const char *device_id_of(const char *provider_id) {
  if (!provider_id || strncmp(provider_id, MCM_PROVIDER_PREFIX, strlen(MCM_PROVIDER_PREFIX)))
    return NULL;
  const char *slash = strrchr(provider_id, '/');
  return slash && slash[1] ? slash + 1 : NULL;
}

/* The device id a Machine is bound to: spec.providerID, else what our create returned. */
static const char *machine_device(const json_t *m) {
  const char *id = device_id_of(S(json_object_get(m, "obj"), "spec.providerID"));
  if (id)
    return id;
  const char *out = jsonx_str(step_out(m, "create"), "id");
  return out && *out ? out : NULL;
}

/* ---- status ------------------------------------------------------------------------------ */

static const char *phase_of(const json_t *m) {
  const json_t *w = json_object_get(m, "want");
  if (w)
    return S(w, "phase");
  return S(json_object_get(m, "obj"), "status.currentStatus.phase");
}

/* Decide a new status (phase and lastOperation); pat = when the phase last changed. */
static void want_status(json_t *m, const struct ctx *c, const char *phase, const char *desc,
                        const char *state, const char *type, const char *code) {
  json_t *w = json_object_get(m, "want");
  if (w && !strcmp(S(w, "phase"), phase) && !strcmp(S(w, "desc"), desc) &&
      !strcmp(S(w, "state"), state) && !strcmp(S(w, "type"), type) &&
      !strcmp(S(w, "code"), code ? code : ""))
    return;
  int64_t pat = c->now;
  const char *cur = phase_of(m);
  if (!strcmp(cur, phase)) {
    if (w)
      pat = (int64_t)jsonx_int(w, "pat", c->now);
    else {
      int64_t t = parse_time(S(json_object_get(m, "obj"), "status.currentStatus.lastUpdateTime"));
      pat = t ? t : c->now;
    }
  }
  json_object_set_new(m, "want",
                      json_pack("{s:s,s:I,s:s,s:s,s:s,s:s,s:I}", "phase", phase, "pat",
                                (json_int_t)pat, "desc", desc, "state", state, "type", type, "code",
                                code ? code : "", "at", (json_int_t)c->now));
}

static bool status_matches(const json_t *obj, const json_t *w) {
  return !strcmp(S(obj, "status.currentStatus.phase"), S(w, "phase")) &&
         !strcmp(S(obj, "status.lastOperation.description"), S(w, "desc")) &&
         !strcmp(S(obj, "status.lastOperation.state"), S(w, "state")) &&
         !strcmp(S(obj, "status.lastOperation.type"), S(w, "type"));
}

static void plan_status(json_t *m, const struct ctx *c, const char *name, const char *uid) {
  json_t *w = json_object_get(m, "want");
  json_t *obj = json_object_get(m, "obj");
  if (!w || status_matches(obj, w))
    return;
  char at[TIMEFMT_LEN], pat[TIMEFMT_LEN];
  timefmt_rfc3339((int64_t)jsonx_int(w, "at", 0), at);
  timefmt_rfc3339((int64_t)jsonx_int(w, "pat", 0), pat);
  const char *phase = S(w, "phase");
  json_t *lo = json_pack("{s:s,s:s,s:s,s:s}", "description", S(w, "desc"), "state", S(w, "state"),
                         "type", S(w, "type"), "lastUpdateTime", at);
  if (*S(w, "code"))
    json_object_set_new(lo, "errorCode", json_string(S(w, "code")));
  bool timeout_active = !strcmp(phase, "Pending") || !strcmp(phase, "Unknown");
  json_t *patch =
      json_pack("{s:{s:o,s:{s:s,s:b,s:s}}}", "status", "lastOperation", lo, "currentStatus",
                "phase", phase, "timeoutActive", timeout_active, "lastUpdateTime", pat);
  char *h = canon_hash(w);
  char *step = xasprintf("status-%s", h);
  char *reason = xasprintf("set phase %s, lastOperation %s %s: %s", phase, S(w, "type"),
                           S(w, "state"), S(w, "desc"));
  plan(m, c, "m", name, uid, step, "kube.status", GK_MACHINE, c->ns, name, patch_params(patch),
       reason);
  free(reason);
  free(step);
  free(h);
}

/* ---- node health ---------------------------------------------------------------------------- */

static bool node_healthy(const struct ctx *c, const json_t *node, const json_t *mobj, char *why,
                         size_t whylen) {
  snprintf(why, whylen, "%s", "");
  if (!node) {
    snprintf(why, whylen, "%s", "the node is not registered");
    return false;
  }
  if (strcmp(S(node, "ready"), "True") != 0) {
    snprintf(why, whylen, "Ready=%s", *S(node, "ready") ? S(node, "ready") : "Unknown");
    return false;
  }
  const char *list =
      json_string_value(json_object_get(json_object_get(mobj, "spec"), "nodeConditions"));
  if (!list || !*list)
    list = S(c->cfg, "nodeConditions");
  json_t *bad = json_object_get(node, "conds");
  char *copy = xstrdup(list);
  bool ok = true;
  for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    const char *v = json_string_value(json_object_get(bad, t));
    if (v && strcmp(v, "False") != 0) {
      snprintf(why, whylen, "%s=%s", t, v);
      ok = false;
      break;
    }
  }
  free(copy);
  return ok;
}

/* ---- the machine state machine -------------------------------------------------------------- */

static bool class_valid(const json_t *spec, char *why, size_t n) {
  const char *missing = NULL;
  if (!*S(spec, "machineType"))
    missing = "machineType";
  else if (!*S(spec, "projectID"))
    missing = "projectID";
  else if (!*S(spec, "metro"))
    missing = "metro";
  if (missing) {
    snprintf(why, n, "%s is required in the MachineClass providerSpec", missing);
    return false;
  }
  if (!*S(spec, "OS") && !*S(spec, "ipxeScriptUrl")) {
    snprintf(why, n, "%s", "OS or IPXEScriptURL is required");
    return false;
  }
  bool cl = false, role = false;
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(spec, "tags"), i, t) {
    const char *s = json_string_value(t);
    if (s && !strncmp(s, "kubernetes.io/cluster/", 22))
      cl = true;
    if (s && !strncmp(s, "kubernetes.io/role/", 19))
      role = true;
  }
  if (!cl || !role) {
    snprintf(why, n, "%s",
             "tags must contain a kubernetes.io/cluster/* and a kubernetes.io/role/* tag");
    return false;
  }
  return true;
}

static json_t *ref_json(const json_t *ref, const char *dflt_ns) {
  const char *ns = S(ref, "namespace");
  return json_pack("{s:s,s:s}", "namespace", *ns ? ns : dflt_ns, "name", S(ref, "name"));
}

static json_t *create_params(const struct ctx *c, const char *name, const char *uid,
                             const json_t *cls, const char *token_secret) {
  const json_t *spec = json_object_get(cls, "providerSpec");
  char key[33];
  action_key(uid, "machine", "metal.device", name, key);
  json_t *p = json_object();
  json_object_set_new(p, "machine", json_string(name));
  json_object_set_new(p, "hostname", json_string(name));
  json_object_set_new(p, "key", json_string(key));
  json_object_set_new(p, "classSecretRef", ref_json(json_object_get(cls, "secretRef"), c->ns));
  json_object_set_new(p, "credentialsSecretRef",
                      ref_json(json_object_get(cls, "credentialsSecretRef"), c->ns));
  json_object_set_new(p, "tokenSecret", json_string(token_secret));
  const char *keys[] = {"projectID", "metro", "billingCycle", "ipxeScriptUrl"};
  for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
    json_object_set_new(p, keys[i], json_string(S(spec, keys[i])));
  json_object_set_new(p, "plan", json_string(S(spec, "machineType")));
  json_object_set_new(p, "operatingSystem", json_string(S(spec, "OS")));
  const char *arrs[] = {"tags", "sshKeys", "reservationIDs"};
  for (size_t i = 0; i < ARRAY_SIZE(arrs); i++) {
    json_t *a = json_object_get(spec, arrs[i]);
    json_object_set_new(p, arrs[i], json_is_array(a) ? json_deep_copy(a) : json_array());
  }
  json_object_set_new(p, "reservedDevicesOnly",
                      json_boolean(jsonx_bool(spec, "reservedDevicesOnly", false)));
  return p;
}

/* MCM's retry period after a failed create, by code. */
static int64_t create_retry_ms(const struct ctx *c, const char *code) {
  if (!strcmp(code, "ResourceExhausted"))
    return cfg_ms(c, "resourceExhaustedRetryMs", 600000);
  if (!strcmp(code, "Unknown") || !strcmp(code, "DeadlineExceeded") || !strcmp(code, "Aborted") ||
      !strcmp(code, "Unavailable"))
    return SHORT_RETRY_MS;
  return MEDIUM_RETRY_MS;
}

/* Meltdown protection: may this machine be marked Failed now? */
static bool meltdown_allows(const struct ctx *c, const char *name, const json_t *mobj) {
  const char *md = label_of(mobj, "name");
  if (!md)
    return true;
  int count = 0;
  const char *k;
  json_t *o;
  json_object_foreach(json_object_get(c->state, "machines"), k, o) {
    if (!strcmp(k, name))
      continue;
    const char *omd = label_of(json_object_get(o, "obj"), "name");
    if (!omd || strcmp(omd, md) != 0)
      continue;
    const char *ph = phase_of(o);
    if (!strcmp(ph, "Unknown") || !strcmp(ph, "Running"))
      continue;
    count += !strcmp(ph, "Terminating") ? 2 : 1;
  }
  return count < 1;
}

static void eval_create(json_t *m, const struct ctx *c, const char *name) {
  json_t *obj = json_object_get(m, "obj");
  const char *uid = S(obj, "metadata.uid");
  /* 1. Our finalizer. */
  if (!has_str(jsonx_path(obj, "metadata.finalizers"), MCM_FINALIZER)) {
    plan(m, c, "m", name, uid, "finalizer", "kube.patch", GK_MACHINE, c->ns, name,
         patch_params(finalizer_patch(obj, MCM_FINALIZER, true)),
         "add the finalizer " MCM_FINALIZER " to the Machine");
    return;
  }
  /* 2. The class: it must exist and carry our finalizer. */
  const char *cname = S(obj, "spec.class.name");
  json_t *centry = json_object_get(json_object_get(c->state, "classes"), cname);
  json_t *cls = json_object_get(centry, "obj");
  if (!*cname || !cls || !has_str(jsonx_path(cls, "metadata.finalizers"), MCM_FINALIZER))
    return; /* the class event re-evaluates the machine */
  const char *phase = phase_of(m);
  const char *dev = machine_device(m);
  int64_t created = parse_time(S(obj, "metadata.creationTimestamp"));
  int64_t ctimeout = machine_timeout(c, obj, "creationTimeout", "creationTimeoutMs", 1200000);
  bool creating = !*phase || !strcmp(phase, "CrashLoopBackOff");
  if (creating && !dev) {
    const json_t *spec = json_object_get(cls, "providerSpec");
    char why[256];
    if (!class_valid(spec, why, sizeof(why))) {
      char *d = xasprintf("Cloud provider message - machine codes error: code = [InvalidArgument] "
                          "message = [%s]",
                          why);
      bool late = created && c->now - created > ctimeout;
      want_status(m, c, late ? "Failed" : "CrashLoopBackOff", d, "Failed", "Create",
                  "InvalidArgument");
      free(d);
      return;
    }
    char tid[7];
    machine_token_id(name, tid);
    char *tname = xasprintf("bootstrap-token-%s", tid);
    json_t *tp = json_pack("{s:s,s:s,s:I,s:s}", "machine", name, "tokenID", tid, "expirySeconds",
                           (json_int_t)(ctimeout / 1000), "authExtraGroups",
                           S(c->cfg, "bootstrapTokenAuthExtraGroups"));
    bool token =
        plan(m, c, "m", name, uid, "token", "machine.token.ensure", GK_SECRET, "kube-system", tname,
             tp, "create the bootstrap token Secret of the machine in the shoot");
    if (token) {
      char *reason = xasprintf("create the Equinix Metal device %s (%s in %s)", name,
                               S(spec, "machineType"), S(spec, "metro"));
      plan(m, c, "m", name, uid, "create", "metal.device.create", GK_MACHINE, c->ns, name,
           create_params(c, name, uid, cls, tname), reason);
      free(reason);
    }
    free(tname);
    /* A failed create: MCM's status, CrashLoopBackOff until the creation timeout. */
    json_t *cs = json_object_get(json_object_get(m, "st"), "create");
    if (jsonx_bool(cs, "fail", false)) {
      const char *code = S(cs, "code");
      char *d =
          xasprintf("Cloud provider message - machine codes error: code = [%s] message = [%s]",
                    *code ? code : "Unknown", S(cs, "err"));
      bool late = created && c->now - created > ctimeout;
      want_status(m, c, late ? "Failed" : "CrashLoopBackOff", d, "Failed", "Create",
                  *code ? code : "Unknown");
      free(d);
    }
    return;
  }
  if (!dev)
    return;
  /* 3. providerID, the node label and the priority annotation. */
  /* equinixmetal://<device id>: the form the Equinix CCM writes into Node.spec.providerID. */
  char *pid;
  const char *have = S(obj, "spec.providerID");
  if (*have)
    pid = xstrdup(have);
  else
    pid = xasprintf(MCM_PROVIDER_PREFIX "%s", dev);
  const char *node_label = label_of(obj, "node");
  const char *prio = ann_of(obj, "machinepriority.machine.sapcloud.io");
  if (!*have || !node_label || !prio) {
    json_t *patch = json_pack("{s:{s:{s:s}},s:{s:s}}", "metadata", "labels", "node",
                              node_label ? node_label : name, "spec", "providerID", pid);
    if (!prio)
      json_object_set_new(json_object_get(patch, "metadata"), "annotations",
                          json_pack("{s:s}", "machinepriority.machine.sapcloud.io", "3"));
    char *h = canon_hash(patch);
    char *step = xasprintf("bind-%s", h);
    char *reason = xasprintf("set spec.providerID %s and the node label", pid);
    plan(m, c, "m", name, uid, step, "kube.patch", GK_MACHINE, c->ns, name, patch_params(patch),
         reason);
    free(reason);
    free(step);
    free(h);
    free(pid);
    return;
  }
  free(pid);
  /* 4. Pending. */
  if (creating) {
    want_status(m, c, "Pending", "Creating machine on cloud provider", "Processing", "Create",
                NULL);
    phase = "Pending";
  }
  /* 5. Health. */
  json_t *node = json_object_get(json_object_get(c->state, "nodes"), node_label);
  json_t *devj = json_object_get(json_object_get(c->state, "devices"), dev);
  bool dev_failed = devj && !strcmp(S(devj, "state"), "failed");
  char why[160];
  bool healthy = node_healthy(c, node, obj, why, sizeof(why)) && !dev_failed;
  if (dev_failed)
    snprintf(why, sizeof(why), "the Equinix Metal device %s is in state failed", dev);
  bool tainted = node && jsonx_bool(node, "taint", false);
  if (node && strcmp(S(node, "label"), name) != 0) {
    json_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "labels", MCM_NODE_MACHINE, name);
    plan(m, c, "m", name, uid, "node-label", "machine.node.patch", GK_NODE, "", node_label,
         patch_params(patch), "label the node " MCM_NODE_MACHINE);
  }
  int64_t htimeout = machine_timeout(c, obj, "healthTimeout", "healthTimeoutMs", 600000);
  const json_t *w = json_object_get(m, "want");
  if (!strcmp(phase, "Pending")) {
    if (healthy && !tainted) {
      char d[48], *desc;
      fmt_duration(c->now - created, d);
      desc = xasprintf("Machine %s successfully joined the cluster in %s", name, d);
      want_status(m, c, "Running", desc, "Successful", "Create", NULL);
      free(desc);
      json_object_set_new(m, "joined", json_true());
    } else if (dev_failed || (created && c->now - created >= ctimeout)) {
      char *desc = dev_failed
                       ? xasprintf("Machine %s failed: %s.", name, why)
                       : xasprintf("Machine %s failed to join the cluster in %" PRId64 " minutes.",
                                   name, ctimeout / 60000);
      /* MCM limits only health-timeout failures (meltdown); a machine that never joined fails. */
      want_status(m, c, "Failed", desc, "Failed", "Create", NULL);
      free(desc);
    } else if (created) {
      wake_at(m, c, created + ctimeout);
    }
  } else if (dev_failed && (!strcmp(phase, "Running") || !strcmp(phase, "Unknown"))) {
    /* A failed device does not come back: replace the machine (meltdown permitting). */
    char *desc = xasprintf("Machine %s failed: %s. Updating machine phase to Failed.", name, why);
    if (meltdown_allows(c, name, obj))
      want_status(m, c, "Failed", desc, "Failed", "HealthCheck", NULL);
    else
      wake_at(m, c, c->now + SHORT_RETRY_MS);
    free(desc);
  } else if (!strcmp(phase, "Running")) {
    if (!healthy) {
      char *desc = xasprintf("Machine %s is unhealthy - changing MachinePhase to Unknown. Node "
                             "conditions: %s",
                             name, why);
      want_status(m, c, "Unknown", desc, "Processing", "HealthCheck", NULL);
      free(desc);
      w = json_object_get(m, "want");
      wake_at(m, c, (int64_t)jsonx_int(w, "pat", c->now) + htimeout);
    }
  } else if (!strcmp(phase, "Unknown")) {
    int64_t since = w ? (int64_t)jsonx_int(w, "pat", c->now)
                      : parse_time(S(obj, "status.currentStatus.lastUpdateTime"));
    if (healthy && !tainted) {
      char *desc = xasprintf("Machine %s successfully re-joined the cluster", name);
      want_status(m, c, "Running", desc, "Successful", "HealthCheck", NULL);
      free(desc);
    } else if (c->now - since >= htimeout &&
               !jsonx_bool(json_object_get(obj, "spec"), "disableHealthTimeout", false)) {
      char *desc = xasprintf("Machine %s health checks failing since last %" PRId64
                             " minutes. Updating machine phase to Failed. Node Conditions: %s",
                             name, htimeout / 60000, why);
      if (meltdown_allows(c, name, obj))
        want_status(m, c, "Failed", desc, "Failed", "HealthCheck", NULL);
      else
        wake_at(m, c, c->now + SHORT_RETRY_MS);
      free(desc);
    } else {
      wake_at(m, c, since + htimeout);
    }
  }
  /* The token goes once the machine joined. */
  if (jsonx_bool(m, "joined", false) && !strcmp(phase_of(m), "Running")) {
    char tid[7];
    machine_token_id(name, tid);
    char *tname = xasprintf("bootstrap-token-%s", tid);
    plan(m, c, "m", name, uid, "token-delete", "machine.token.delete", GK_SECRET, "kube-system",
         tname, json_object(), "delete the bootstrap token: the machine joined");
    free(tname);
  }
}

static void eval_delete(json_t *m, const struct ctx *c, const char *name) {
  json_t *obj = json_object_get(m, "obj");
  const char *uid = S(obj, "metadata.uid");
  if (!has_str(jsonx_path(obj, "metadata.finalizers"), MCM_FINALIZER))
    return;
  /* A create in flight finishes first (MCM refuses deletion while creating). */
  if (step_running(m, "create")) {
    json_array_extend(json_object_get(m, "plan"), json_object_get(m, "keep"));
    return;
  }
  const char *stage = S(m, "del");
  if (!*stage) {
    json_object_set_new(m, "del", json_string("term"));
    stage = "term";
  }
  const char *node = label_of(obj, "node");
  if (!strcmp(stage, "term")) {
    want_status(m, c, "Terminating", "Set machine status to termination. Now, getting VM Status",
                "Processing", "Delete", NULL);
    json_object_set_new(m, "del", json_string(node && *node ? "drain" : "vm"));
    if (!node || !*node)
      want_status(m, c, "Terminating",
                  "Skipping drain as nodeName is not a valid one for machine. Initiate VM deletion",
                  "Processing", "Delete", NULL);
    stage = S(m, "del");
  }
  if (!strcmp(stage, "drain")) {
    int64_t dts = parse_time(S(obj, "metadata.deletionTimestamp"));
    int64_t dtimeout = machine_timeout(c, obj, "drainTimeout", "drainTimeoutMs", 7200000);
    bool force_label = false;
    const char *fl = label_of(obj, "force-deletion");
    if (fl)
      gardener_parse_bool(fl, &force_label);
    bool force = force_label || (dts && c->now - dts >= dtimeout);
    bool node_known = json_object_get(json_object_get(c->state, "nodes"), node) != NULL;
    if (!node_known) {
      /* No such node in the shoot: nothing to drain. */
      json_object_set_new(m, "del", json_string("vm"));
      want_status(m, c, "Terminating", "Drain successful. Initiate VM deletion", "Processing",
                  "Delete", NULL);
      stage = "vm";
    } else {
      for (int round = 0; round < 2; round++) {
        int pass = (int)jsonx_int(m, "drainPass", 1);
        char step[48];
        snprintf(step, sizeof(step), "drain-%d%s", pass, force ? "-force" : "");
        json_t *p = json_pack("{s:b,s:I}", "force", force, "maxEvictRetries",
                              jsonx_int(c->cfg, "maxEvictRetries", 360));
        bool done = plan(m, c, "m", name, uid, step, "machine.drain", GK_NODE, "", node, p,
                         force ? "force-drain the node: delete its pods"
                               : "drain the node: cordon it and evict its pods");
        if (!force && dts)
          wake_at(m, c, dts + dtimeout);
        if (!done)
          break;
        const json_t *out = step_out(m, step);
        if (jsonx_bool(out, "done", false)) {
          json_object_set_new(m, "del", json_string("vm"));
          want_status(m, c, "Terminating",
                      force ? "Force Drain successful. Initiate VM deletion"
                            : "Drain successful. Initiate VM deletion",
                      "Processing", "Delete", NULL);
          stage = "vm";
          break;
        }
        char *d = xasprintf("Drain failed due to - %" JSON_INTEGER_FORMAT
                            " pod(s) could not be evicted (pod disruption budgets). Will retry "
                            "in next sync. Initiate node drain",
                            jsonx_int(out, "blocked", 0));
        want_status(m, c, "Terminating", d, "Failed", "Delete", NULL);
        free(d);
        int64_t done_at =
            (int64_t)jsonx_int(json_object_get(json_object_get(m, "st"), step), "doneAt", c->now);
        int64_t next = done_at + cfg_ms(c, "evictRetryMs", 20000);
        if (c->now < next) {
          wake_at(m, c, next);
          break;
        }
        json_object_set_new(m, "drainPass", json_integer(pass + 1));
      }
    }
  }
  if (!strcmp(stage, "vm")) {
    const char *cname = S(obj, "spec.class.name");
    json_t *cls =
        json_object_get(json_object_get(json_object_get(c->state, "classes"), cname), "obj");
    const char *dev = machine_device(m);
    char key[33];
    action_key(uid, "machine", "metal.device", name, key);
    json_t *cref = cls ? ref_json(json_object_get(cls, "credentialsSecretRef"), c->ns)
                       : json_deep_copy(json_object_get(c->cfg, "credentialsSecretRef"));
    if (!cref || !*S(cref, "name")) {
      json_decref(cref);
      return; /* no credentials known yet: a class event re-evaluates */
    }
    json_t *p = json_pack("{s:s,s:s,s:o,s:s}", "id", dev ? dev : "", "key", key,
                          "credentialsSecretRef", cref, "reason", "the Machine is being deleted");
    char *reason =
        xasprintf("delete the Equinix Metal device %s of the Machine", dev ? dev : "(by tag)");
    bool done = plan(m, c, "m", name, uid, "delete-device", "metal.device.delete", GK_MACHINE,
                     c->ns, name, p, reason);
    free(reason);
    if (!done)
      return;
    json_object_set_new(m, "del", json_string("node"));
    want_status(m, c, "Terminating", "VM deletion was successful. Initiate node object deletion",
                "Processing", "Delete", NULL);
    stage = "node";
  }
  if (!strcmp(stage, "node")) {
    bool done = true;
    if (node && *node)
      done = plan(m, c, "m", name, uid, "delete-node", "machine.node.delete", GK_NODE, "", node,
                  json_object(), "delete the Node object of the machine in the shoot");
    char tid[7];
    machine_token_id(name, tid);
    char *tname = xasprintf("bootstrap-token-%s", tid);
    if (!step_ok(m, "token-delete"))
      done &=
          plan(m, c, "m", name, uid, "delete-token", "machine.token.delete", GK_SECRET,
               "kube-system", tname, json_object(), "delete the bootstrap token of the machine");
    free(tname);
    if (!done)
      return;
    json_object_set_new(m, "del", json_string("fin"));
    want_status(m, c, "Terminating",
                "Deletion of Node object was successful. Initiate machine object finalizer removal",
                "Processing", "Delete", NULL);
    stage = "fin";
  }
  if (!strcmp(stage, "fin")) {
    plan(m, c, "m", name, uid, "finalizer-remove", "kube.patch", GK_MACHINE, c->ns, name,
         patch_params(finalizer_patch(obj, MCM_FINALIZER, false)),
         "remove the finalizer: the device, the node and the token are gone");
  }
}

static void eval_machine(const struct ctx *c, const char *name) {
  json_t *m = json_object_get(json_object_get(c->state, "machines"), name);
  if (!m)
    return;
  json_t *keep = json_array();
  /* A create in flight stays desired, whatever else changes. */
  json_t *oldplan = json_object_get(m, "plan");
  size_t i;
  json_t *a;
  json_array_foreach(oldplan, i, a) {
    const char *k = jsonx_str(a, "kind");
    if (k && !strcmp(k, "metal.device.create") && step_running(m, "create"))
      json_array_append(keep, a);
  }
  plan_begin(m, c);
  json_object_set(m, "keep", keep);
  json_decref(keep);
  json_t *obj = json_object_get(m, "obj");
  if (*S(obj, "metadata.deletionTimestamp"))
    eval_delete(m, c, name);
  else
    eval_create(m, c, name);
  json_object_del(m, "keep");
  plan_status(m, c, name, S(obj, "metadata.uid"));
  plan_timer(m, c, "m", name, S(obj, "metadata.uid"), GK_MACHINE, name);
}

/* ---- classes and secrets -------------------------------------------------------------------- */

static bool class_used(const struct ctx *c, const char *cname) {
  const char *k;
  json_t *o;
  json_object_foreach(json_object_get(c->state, "machines"), k, o) {
    const json_t *obj = json_object_get(o, "obj");
    if (!strcmp(S(obj, "spec.class.name"), cname))
      return true;
  }
  return false;
}

static void eval_class(const struct ctx *c, const char *cname) {
  json_t *e = json_object_get(json_object_get(c->state, "classes"), cname);
  if (!e)
    return;
  plan_begin(e, c);
  json_t *obj = json_object_get(e, "obj");
  const char *uid = S(obj, "metadata.uid");
  bool has = has_str(jsonx_path(obj, "metadata.finalizers"), MCM_FINALIZER);
  bool deleting = *S(obj, "metadata.deletionTimestamp") != 0;
  /* Only a missing finalizer or a deletion needs the (linear) count of users. */
  bool used = (!has || deleting) ? class_used(c, cname) : true;
  if (!deleting && used && !has) {
    char *step = xasprintf("finalizer-add-%s", S(obj, "metadata.resourceVersion"));
    plan(e, c, "c", cname, uid, step, "kube.patch", GK_CLASS, c->ns, cname,
         patch_params(finalizer_patch(obj, MCM_FINALIZER, true)),
         "add the finalizer " MCM_FINALIZER ": Machines use this class");
    free(step);
  } else if (deleting && !used && has) {
    char *step = xasprintf("finalizer-remove-%s", S(obj, "metadata.resourceVersion"));
    plan(e, c, "c", cname, uid, step, "kube.patch", GK_CLASS, c->ns, cname,
         patch_params(finalizer_patch(obj, MCM_FINALIZER, false)),
         "remove the finalizer: no Machine uses this class any more");
    free(step);
  }
  plan_timer(e, c, "c", cname, uid, GK_CLASS, cname);
}

static bool secret_used(const struct ctx *c, const char *sname) {
  const char *k;
  json_t *o;
  json_object_foreach(json_object_get(c->state, "classes"), k, o) {
    const json_t *obj = json_object_get(o, "obj");
    if (!strcmp(S(obj, "secretRef.name"), sname) ||
        !strcmp(S(obj, "credentialsSecretRef.name"), sname))
      return true;
  }
  return false;
}

static void eval_secret(const struct ctx *c, const char *sname) {
  json_t *e = json_object_get(json_object_get(c->state, "secrets"), sname);
  if (!e)
    return;
  plan_begin(e, c);
  json_t *meta = json_object_get(e, "meta");
  bool has = has_str(json_object_get(meta, "finalizers"), MCM_SECRET_FINALIZER);
  bool used = secret_used(c, sname);
  json_t *fake = json_pack("{s:O}", "metadata", meta);
  const char *uid = S(meta, "uid");
  if (used && !has && !*S(meta, "deletionTimestamp")) {
    char *step = xasprintf("finalizer-add-%s", S(meta, "resourceVersion"));
    plan(e, c, "s", sname, uid, step, "kube.patch", GK_SECRET, c->ns, sname,
         patch_params(finalizer_patch(fake, MCM_SECRET_FINALIZER, true)),
         "add the finalizer " MCM_SECRET_FINALIZER ": a MachineClass names this Secret");
    free(step);
  } else if (!used && has) {
    char *step = xasprintf("finalizer-remove-%s", S(meta, "resourceVersion"));
    plan(e, c, "s", sname, uid, step, "kube.patch", GK_SECRET, c->ns, sname,
         patch_params(finalizer_patch(fake, MCM_SECRET_FINALIZER, false)),
         "remove the finalizer: no MachineClass names this Secret any more");
    free(step);
  }
  json_decref(fake);
  plan_timer(e, c, "s", sname, uid, GK_SECRET, sname);
}

/* ---- orphans ----------------------------------------------------------------------------------
 */

/* Is device d (id, hostname) claimed by a Machine? */
static bool claimed(const struct ctx *c, const char *id, const char *hostname) {
  json_t *machines = json_object_get(c->state, "machines");
  /* Our devices are named after their Machine: look there first. */
  const json_t *o = json_object_get(machines, hostname);
  if (o) {
    const char *dev = machine_device(o);
    if (!dev || !strcmp(dev, id) || step_running(o, "create"))
      return true; /* bound to it, or still being created: its device may be this one */
  }
  const char *k;
  json_t *m;
  json_object_foreach(machines, k, m) {
    const char *dev = machine_device(m);
    if (dev && !strcmp(dev, id))
      return true;
  }
  return false;
}

static void eval_orphan(const struct ctx *c, const char *id) {
  json_t *orphans = obj_child(c->state, "orphans");
  json_t *d = json_object_get(json_object_get(c->state, "devices"), id);
  json_t *e = json_object_get(orphans, id);
  bool listed = jsonx_bool(json_object_get(c->state, "listed"), "machines", false) &&
                jsonx_bool(json_object_get(c->state, "listed"), "devices", false);
  const char *state = d ? S(d, "state") : "";
  bool candidate = d && listed && strcmp(state, "deprovisioning") != 0 &&
                   strcmp(state, "deleted") != 0 && !claimed(c, id, S(d, "hostname"));
  if (!candidate) {
    /* Keep an orphan deletion that has started until it answers. */
    if (e && step_running(e, "delete"))
      return;
    if (e)
      json_object_del(orphans, id);
    return;
  }
  if (!e) {
    e = json_pack("{s:I}", "since", (json_int_t)c->now);
    json_object_set_new(orphans, id, e);
  }
  plan_begin(e, c);
  int64_t grace = cfg_ms(c, "orphanGraceMs", 1800000);
  int64_t since = (int64_t)jsonx_int(e, "since", c->now);
  if (c->now < since + grace) {
    wake_at(e, c, since + grace);
  } else if (!step_ok(e, "delete")) {
    json_t *cref = json_deep_copy(json_object_get(c->cfg, "credentialsSecretRef"));
    if (cref && *S(cref, "name")) {
      char *why = xasprintf("orphan: no Machine in %s claims the device %s (hostname %s) of this "
                            "cluster since %" PRId64 " s",
                            c->ns, id, S(d, "hostname"), (c->now - since) / 1000);
      json_t *p = json_pack("{s:s,s:s,s:o,s:s}", "id", id, "key", "", "credentialsSecretRef", cref,
                            "reason", why);
      plan(e, c, "o", id, id, "delete", "metal.device.delete", GK_MACHINE, c->ns, S(d, "hostname"),
           p, why);
      free(why);
    } else {
      json_decref(cref);
    }
  }
  plan_timer(e, c, "o", id, id, GK_MACHINE, S(d, "hostname"));
}

static void touch_all_orphans(const struct ctx *c, struct keylist *touched) {
  const char *k;
  json_t *o;
  json_object_foreach(json_object_get(c->state, "devices"), k, o) {
    char *key = xasprintf("o/%s", k);
    keylist_add(touched, key);
    free(key);
  }
  json_object_foreach(json_object_get(c->state, "orphans"), k, o) {
    char *key = xasprintf("o/%s", k);
    keylist_add(touched, key);
    free(key);
  }
}

/* ---- folding events -----------------------------------------------------------------------------
 */

/* The devices a change of Machine name can claim or release: its own, and those named after it. */
static void touch_related_orphans(const struct ctx *c, const char *name, struct keylist *t) {
  const json_t *m = json_object_get(json_object_get(c->state, "machines"), name);
  const char *dev = m ? machine_device(m) : NULL;
  if (dev) {
    char *key = xasprintf("o/%s", dev);
    keylist_add(t, key);
    free(key);
  }
  const char *k;
  json_t *d;
  json_object_foreach(json_object_get(c->state, "devices"), k, d) {
    if (!strcmp(S(d, "hostname"), name)) {
      char *key = xasprintf("o/%s", k);
      keylist_add(t, key);
      free(key);
    }
  }
  json_object_foreach(json_object_get(c->state, "orphans"), k, d) {
    char *key = xasprintf("o/%s", k);
    keylist_add(t, key);
    free(key);
  }
}

static void touch(struct keylist *t, const char *scope, const char *name) {
  char *key = xasprintf("%s/%s", scope, name);
  keylist_add(t, key);
  free(key);
}

static void on_machine(const struct ctx *c, const struct reduce_event *ev, bool deleted,
                       struct keylist *t) {
  json_t *ms = obj_child(c->state, "machines");
  const char *name = ev->name;
  json_t *m = json_object_get(ms, name);
  const char *cls_before = m ? S(json_object_get(m, "obj"), "spec.class.name") : "";
  char *cls_old = xstrdup(cls_before);
  if (deleted) {
    if (m)
      json_object_del(ms, name);
    touch(t, "m", name);
  } else {
    if (!m) {
      m = json_object();
      json_object_set_new(ms, name, m);
    } else if (strcmp(S(json_object_get(m, "obj"), "metadata.uid"),
                      S(ev->payload, "metadata.uid"))) {
      /* Another Machine of the same name: start over. */
      json_object_clear(m);
    }
    json_object_set(m, "obj", (json_t *)ev->payload);
    touch(t, "m", name);
    const char *md = label_of(ev->payload, "name");
    (void)md;
  }
  if (*cls_old)
    touch(t, "c", cls_old);
  if (!deleted)
    touch(t, "c", S(ev->payload, "spec.class.name"));
  free(cls_old);
  touch_related_orphans(c, name, t);
}

static void on_class(const struct ctx *c, const struct reduce_event *ev, bool deleted,
                     struct keylist *t) {
  json_t *cs = obj_child(c->state, "classes");
  const char *name = ev->name;
  json_t *old = json_object_get(cs, name);
  if (old) {
    const json_t *o = json_object_get(old, "obj");
    touch(t, "s", S(o, "secretRef.name"));
    touch(t, "s", S(o, "credentialsSecretRef.name"));
  }
  if (deleted) {
    json_object_del(cs, name);
  } else {
    json_t *e = old ? old : json_object();
    if (!old)
      json_object_set_new(cs, name, e);
    json_object_set(e, "obj", (json_t *)ev->payload);
    touch(t, "s", S(ev->payload, "secretRef.name"));
    touch(t, "s", S(ev->payload, "credentialsSecretRef.name"));
    /* The credentials of the cluster (for orphan deletion). */
    json_t *cref = json_object_get(ev->payload, "credentialsSecretRef");
    if (json_is_object(cref) && *S(cref, "name"))
      json_object_set_new(obj_child(c->state, "cfg"), "credentialsSecretRef",
                          ref_json(cref, c->ns));
  }
  touch(t, "c", name);
  const char *k;
  json_t *o;
  json_object_foreach(json_object_get(c->state, "machines"), k, o) {
    if (!strcmp(S(json_object_get(o, "obj"), "spec.class.name"), name))
      touch(t, "m", k);
  }
}

static void on_secret(const struct ctx *c, const struct reduce_event *ev, bool deleted,
                      struct keylist *t) {
  json_t *ss = obj_child(c->state, "secrets");
  if (deleted) {
    json_object_del(ss, ev->name);
  } else {
    json_t *e = json_object_get(ss, ev->name);
    if (!e) {
      e = json_object();
      json_object_set_new(ss, ev->name, e);
    }
    json_t *md = json_object_get(ev->payload, "metadata");
    json_t *fins = json_object_get(md, "finalizers");
    json_object_set_new(e, "meta",
                        json_pack("{s:s,s:s,s:s,s:o,s:s}", "name", S(md, "name"), "uid",
                                  S(md, "uid"), "resourceVersion", S(md, "resourceVersion"),
                                  "finalizers",
                                  json_is_array(fins) ? json_deep_copy(fins) : json_array(),
                                  "deletionTimestamp", S(md, "deletionTimestamp")));
  }
  touch(t, "s", ev->name);
}

static void on_node(const struct ctx *c, const struct reduce_event *ev, bool deleted,
                    struct keylist *t) {
  json_t *ns = obj_child(c->state, "nodes");
  const char *name = ev->name;
  if (deleted) {
    json_object_del(ns, name);
  } else {
    const json_t *o = ev->payload;
    json_t *conds = json_object();
    const char *ready = "";
    size_t i;
    json_t *cnd;
    json_array_foreach(jsonx_path(o, "status.conditions"), i, cnd) {
      const char *type = S(cnd, "type"), *st = S(cnd, "status");
      if (!strcmp(type, "Ready"))
        ready = st;
      else
        json_object_set_new(conds, type, json_string(st));
    }
    bool taint = false;
    json_array_foreach(jsonx_path(o, "spec.taints"), i, cnd) {
      if (!strcmp(S(cnd, "key"), MCM_CRITICAL_TAINT) && !strcmp(S(cnd, "effect"), "NoSchedule"))
        taint = true;
    }
    const char *label = label_of(o, MCM_NODE_MACHINE);
    json_object_set_new(ns, name,
                        json_pack("{s:s,s:b,s:o,s:s,s:b,s:s}", "ready", ready, "taint", taint,
                                  "conds", conds, "label", label ? label : "", "unsched",
                                  jsonx_bool(o, "spec.unschedulable", false), "pid",
                                  S(o, "spec.providerID")));
  }
  /* The machine of this node: the node is named after it (hostname = machine name). */
  touch(t, "m", name);
  const char *k;
  json_t *m;
  json_object_foreach(json_object_get(c->state, "machines"), k, m) {
    const char *nl = label_of(json_object_get(m, "obj"), "node");
    if (nl && !strcmp(nl, name) && strcmp(k, name) != 0)
      touch(t, "m", k);
  }
}

static void on_device(const struct ctx *c, const struct reduce_event *ev, struct keylist *t) {
  json_t *ds = obj_child(c->state, "devices");
  const json_t *p = ev->payload;
  const char *id = S(p, "id");
  if (!*id)
    id = ev->uid;
  if (!*id)
    return;
  const char *state = S(p, "state");
  if (!strcmp(state, "gone") || !strcmp(state, "deleted")) {
    json_object_del(ds, id);
  } else {
    json_t *tags = json_object_get(p, "tags");
    json_object_set_new(ds, id,
                        json_pack("{s:s,s:s,s:o}", "hostname", S(p, "hostname"), "state", state,
                                  "tags",
                                  json_is_array(tags) ? json_deep_copy(tags) : json_array()));
  }
  /* Its machine: devices are named after their Machine. */
  touch(t, "m", S(p, "hostname"));
  touch(t, "o", id);
}

static void on_device_set(const struct ctx *c, const struct reduce_event *ev, struct keylist *t) {
  json_t *ds = obj_child(c->state, "devices");
  json_t *seen = json_object();
  size_t i;
  json_t *d;
  json_array_foreach(json_object_get(ev->payload, "devices"), i, d) {
    json_object_set_new(seen, S(d, "id"), json_true());
    json_t *cur = json_object_get(ds, S(d, "id"));
    if (cur)
      json_object_set_new(cur, "state", json_string(S(d, "state")));
  }
  const char *k;
  json_t *v;
  void *tmp;
  json_object_foreach_safe(ds, tmp, k, v) {
    if (!json_object_get(seen, k)) {
      touch(t, "m", S(v, "hostname"));
      json_object_del(ds, k);
    }
  }
  json_decref(seen);
  if (jsonx_bool(ev->payload, "complete", false))
    json_object_set_new(obj_child(c->state, "listed"), "devices", json_true());
  touch_all_orphans(c, t);
}

/* "machine/<ns>/<scope>/<name>/<step>/<attempt>" → scope, name, step. */
static bool parse_id(const char *id, char scope[4], char *name, size_t nlen, char *step,
                     size_t slen) {
  const char *p[6];
  int n = 0;
  p[n++] = id;
  for (const char *s = id; *s && n < 6; s++)
    if (*s == '/')
      p[n++] = s + 1;
  if (n < 6)
    return false;
  size_t sl = (size_t)(p[3] - p[2] - 1), nl = (size_t)(p[4] - p[3] - 1),
         tl = (size_t)(p[5] - p[4] - 1);
  if (sl == 0 || sl > 3 || nl == 0 || nl >= nlen || tl == 0 || tl >= slen)
    return false;
  memcpy(scope, p[2], sl);
  scope[sl] = 0;
  memcpy(name, p[3], nl);
  name[nl] = 0;
  memcpy(step, p[4], tl);
  step[tl] = 0;
  return true;
}

static json_t *entry_of(const struct ctx *c, const char *scope, const char *name) {
  const char *coll = !strcmp(scope, "m")   ? "machines"
                     : !strcmp(scope, "c") ? "classes"
                     : !strcmp(scope, "s") ? "secrets"
                     : !strcmp(scope, "o") ? "orphans"
                                           : NULL;
  return coll ? json_object_get(json_object_get(c->state, coll), name) : NULL;
}

/* The MCM code of a failed Metal or Kubernetes call. */
static const char *mcm_code(const json_t *err) {
  const char *g = NULL;
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(err, "gardenerCodes"), i, v) {
    const char *s = json_string_value(v);
    if (s && !strncmp(s, "mcm:", 4))
      return s + 4;
    if (s && !g)
      g = s;
  }
  if (g && (!strcmp(g, "ERR_INFRA_RESOURCES_DEPLETED") || !strcmp(g, "ERR_INFRA_QUOTA_EXCEEDED")))
    return "ResourceExhausted";
  if (g && !strcmp(g, "ERR_INFRA_UNAUTHENTICATED"))
    return "Unauthenticated";
  if (g && !strcmp(g, "ERR_INFRA_UNAUTHORIZED"))
    return "PermissionDenied";
  if (g && !strcmp(g, "ERR_CONFIGURATION_PROBLEM"))
    return "InvalidArgument";
  return jsonx_bool(err, "retryable", false) ? "Unavailable" : "Internal";
}

static void on_result(const struct ctx *c, const struct reduce_event *ev, struct keylist *t) {
  const char *id = S(ev->payload, "actionId");
  char scope[4], name[256], step[128];
  if (!parse_id(id, scope, name, sizeof(name), step, sizeof(step)))
    return;
  json_t *e = entry_of(c, scope, name);
  if (!e)
    return;
  json_t *s = step_of(e, step);
  int attempt = (int)jsonx_int(ev->payload, "attempt", 1);
  if (attempt != (int)jsonx_int(s, "n", 1))
    return; /* a late answer of an earlier attempt */
  if (jsonx_bool(ev->payload, "ok", false)) {
    json_object_set_new(s, "ok", json_true());
    json_object_set_new(s, "doneAt", json_integer(ev->recorded_ms));
    json_t *out = json_object_get(ev->payload, "output");
    if (out && json_object_size(out))
      json_object_set(s, "out", out);
  } else {
    json_t *err = json_object_get(ev->payload, "error");
    const char *code = mcm_code(err);
    int64_t delay;
    if (!strcmp(step, "create")) {
      delay = create_retry_ms(c, code);
    } else {
      delay = backoff_delay_ms(&backoff_actions, S(ev->payload, "key"), attempt,
                               (int64_t)jsonx_int(err, "retryAfterMs", 0));
    }
    json_object_set_new(s, "fail", json_true());
    json_object_set_new(s, "at", json_integer(ev->recorded_ms + delay));
    json_object_set_new(s, "err", json_string(S(err, "message")));
    json_object_set_new(s, "code", json_string(code));
  }
  touch(t, scope, name);
  if (!strcmp(scope, "m"))
    touch_related_orphans(c, name, t);
}

static void on_timer(const struct ctx *c, const struct reduce_event *ev, struct keylist *t) {
  (void)c;
  char scope[4], name[256], step[128];
  if (parse_id(S(ev->payload, "actionId"), scope, name, sizeof(name), step, sizeof(step)))
    touch(t, scope, name);
}

static json_t *m_init(const struct reducer *r) {
  (void)r;
  return json_pack("{s:b,s:{},s:{},s:{},s:{},s:{},s:{},s:{},s:{}}", "on", 0, "cfg", "machines",
                   "classes", "secrets", "nodes", "devices", "orphans", "listed");
}

static void m_apply(const struct reducer *r, json_t *state, const struct reduce_event *ev,
                    struct keylist *touched) {
  (void)r;
  const char *src = ev->source ? ev->source : "";
  const char *type = ev->type ? ev->type : "";
  if (!strcmp(src, "engine") && !strcmp(type, "engine.start")) {
    json_t *cfg = jsonx_path(ev->payload, "controllers.machine");
    bool on = json_is_object(cfg);
    json_object_set_new(state, "on", json_boolean(on));
    if (on) {
      json_t *old = json_object_get(state, "cfg");
      json_t *keep = json_object_get(old, "credentialsSecretRef");
      json_t *nc = json_deep_copy(cfg);
      if (keep && !json_object_get(nc, "credentialsSecretRef"))
        json_object_set(nc, "credentialsSecretRef", keep);
      json_object_set_new(state, "cfg", nc);
    }
    return;
  }
  if (!jsonx_bool(state, "on", false))
    return;
  struct ctx c = {state, json_object_get(state, "cfg"),
                  S(json_object_get(state, "cfg"), "namespace"), ev->recorded_ms};
  struct keylist t = {0};
  if (!strcmp(src, "executor") && !strcmp(type, "executor.result")) {
    if (!strcmp(S(ev->payload, "controller"), MACHINE_CONTROLLER))
      on_result(&c, ev, &t);
  } else if (!strcmp(src, "clock") && !strcmp(type, "clock.timer")) {
    /* A timer may fire (and be recorded) a little before its time: it stands for its time,
     * so that the decision it was set for is taken and the same timer is not asked for again. */
    int64_t at = (int64_t)jsonx_int(ev->payload, "atMs", 0);
    if (at > c.now)
      c.now = at;
    if (!strcmp(S(ev->payload, "controller"), MACHINE_CONTROLLER))
      on_timer(&c, ev, &t);
  } else if (!strcmp(src, "metal")) {
    if (!strcmp(ev->ns ? ev->ns : "", c.ns)) {
      if (!strcmp(type, "metal.device"))
        on_device(&c, ev, &t);
      else if (!strcmp(type, "metal.device-set"))
        on_device_set(&c, ev, &t);
    }
  } else if (!strcmp(src, "kube")) {
    bool deleted = !strcmp(type, "kube.deleted");
    bool obs = deleted || !strcmp(type, "kube.added") || !strcmp(type, "kube.modified");
    const char *gk = ev->group_kind ? ev->group_kind : "";
    if (!strcmp(type, "kube.relisted")) {
      if (!strcmp(S(ev->payload, "resource"), "machines." MCM_GROUP) ||
          !strcmp(S(ev->payload, "resource"), "machines"))
        json_object_set_new(obj_child(state, "listed"), "machines", json_true());
      touch_all_orphans(&c, &t);
    } else if (obs && !strcmp(gk, GK_NODE)) {
      on_node(&c, ev, deleted, &t);
    } else if (obs && !strcmp(ev->ns ? ev->ns : "", c.ns)) {
      if (!strcmp(gk, GK_MACHINE))
        on_machine(&c, ev, deleted, &t);
      else if (!strcmp(gk, GK_CLASS))
        on_class(&c, ev, deleted, &t);
      else if (!strcmp(gk, GK_SECRET))
        on_secret(&c, ev, deleted, &t);
    }
  }
  /* Evaluate the touched objects (classes and secrets after machines: they count them). */
  for (int pass = 0; pass < 4; pass++) {
    const char *want = pass == 0 ? "m/" : pass == 1 ? "c/" : pass == 2 ? "s/" : "o/";
    for (size_t i = 0; i < t.n; i++) {
      if (strncmp(t.v[i], want, 2) != 0)
        continue;
      const char *name = t.v[i] + 2;
      if (pass == 0)
        eval_machine(&c, name);
      else if (pass == 1)
        eval_class(&c, name);
      else if (pass == 2)
        eval_secret(&c, name);
      else
        eval_orphan(&c, name);
      keylist_add(touched, t.v[i]);
    }
  }
  keylist_clear(&t);
}

static void m_desire(const struct reducer *r, const json_t *state, const char *key,
                     struct action_list *out) {
  (void)r;
  if (!jsonx_bool(state, "on", false) || strlen(key) < 3)
    return;
  struct ctx c = {(json_t *)state, NULL, "", 0};
  char scope[2] = {key[0], 0};
  const json_t *e = entry_of(&c, scope, key + 2);
  size_t i;
  json_t *a;
  json_array_foreach(json_object_get(e, "plan"), i, a) {
    struct action *act = action_list_push(out);
    struct eng_error err;
    if (action_from_json(a, act, &err) != ENG_OK)
      out->n--;
  }
}

static void m_keys(const struct reducer *r, const json_t *state, struct keylist *out) {
  (void)r;
  const char *colls[] = {"machines", "classes", "secrets", "orphans"};
  const char *scopes[] = {"m", "c", "s", "o"};
  for (size_t i = 0; i < 4; i++) {
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(state, colls[i]), k, v) {
      char *key = xasprintf("%s/%s", scopes[i], k);
      keylist_add(out, key);
      free(key);
    }
  }
}

const struct reducer metal_machine_reducer = {MACHINE_CONTROLLER, NULL,  m_init, m_apply,
                                              m_desire,           m_keys};
