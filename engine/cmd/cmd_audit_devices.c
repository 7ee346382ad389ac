/*
 * cmd_audit_devices.c - `audit devices` and `audit machines`: the lifecycle of
 * each device (from the device poller's "metal.device" events) and of each
 * Machine (from the watch events of machine.sapcloud.io Machines), as periods:
 * the state or phase, when it began, how long it lasted, and who decided the
 * step into it and why (the newest action about that device or Machine decided
 * since the previous step: its controller, kind and reason; a step no action
 * asked for was taken by the platform on its own, e.g. provisioning -> active).
 */
#include "engine/base/common.h"
#include "engine/cmd/cmd_audit_int.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct life {
  struct audit_query *q;
  bool machines;
  json_t *objs;    /* key -> {namespace, name, id, periods: [...], state, fromMs, fromSeq} */
  json_t *order;   /* keys in order of first appearance */
  json_t *decided; /* "ns/name-or-id" -> newest action about it {seq, ms, by, kind, reason, id} */
  json_t *actions; /* action id -> the same record, to follow a result's output to its device */
  int64_t last_ms;
};

static char *key2(const char *ns, const char *x) { return xasprintf("%s/%s", ns, x); }

static void remember(struct life *l, const char *ns, const char *x, json_t *act) {
  if (!x || !*x)
    return;
  char *k = key2(ns, x);
  json_object_set(l->decided, k, act);
  free(k);
}

/* The newest action about ns/x decided after seq. */
static json_t *decider_of(struct life *l, const char *ns, const char *x, int64_t after) {
  if (!x || !*x)
    return NULL;
  char *k = key2(ns, x);
  json_t *a = json_object_get(l->decided, k);
  free(k);
  return a && jsonx_int(a, "seq", 0) > after ? a : NULL;
}

static void on_action(struct life *l, const struct journal_row *r) {
  json_t *a = json_object_get(r->payload, "action");
  if (!a)
    return;
  const char *kind = jsonx_str(a, "kind") ?: "";
  /* Timers only re-check; for devices only the actions on devices decide a step. */
  if (!strcmp(kind, "timer") || (!l->machines && strncmp(kind, "metal.", 6) != 0))
    return;
  const char *ns = jsonx_str(a, "target.namespace") ?: r->ns;
  json_t *act = json_pack("{s:I,s:I,s:s,s:s,s:s,s:s}", "seq", (json_int_t)r->seq, "ms",
                          (json_int_t)r->recorded_ms, "by", jsonx_str(a, "controller") ?: "",
                          "kind", jsonx_str(a, "kind") ?: "", "reason",
                          jsonx_str(a, "reason") ?: "", "id", jsonx_str(a, "id") ?: "");
  /* The target, and a device named in the parameters (hostname, device id). */
  remember(l, ns, jsonx_str(a, "target.name") ?: r->name, act);
  json_t *pa = json_object_get(a, "params");
  static const char *const keys[] = {"hostname",        "deviceId",  "deviceID",
                                     "device.hostname", "device.id", "id"};
  for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
    remember(l, ns, jsonx_str(pa, keys[i]), act);
  json_object_set(l->actions, jsonx_str(act, "id"), act);
  json_decref(act);
}

static void on_result(struct life *l, const struct journal_row *r) {
  json_t *act = json_object_get(l->actions, jsonx_str(r->payload, "actionId") ?: "");
  if (!act || !jsonx_bool(r->payload, "ok", false))
    return;
  json_t *out = json_object_get(r->payload, "output");
  static const char *const keys[] = {"id",        "deviceId", "deviceID",
                                     "device.id", "hostname", "device.hostname"};
  for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
    remember(l, r->ns, jsonx_str(out, keys[i]), act);
}

/* Close the open period of o at ms. */
static void close_period(json_t *o, int64_t ms, bool open_end) {
  const char *st = jsonx_str(o, "state");
  if (!st)
    return;
  json_t *p = json_object_get(o, "current");
  json_object_set_new(p, "toMs", json_integer(ms));
  json_object_set_new(p, "durationMs", json_integer(ms - jsonx_int(p, "fromMs", 0)));
  json_object_set_new(p, "ongoing", json_boolean(open_end));
  json_array_append(json_object_get(o, "periods"), p);
  json_object_del(o, "current");
  json_object_del(o, "state");
}

/* A new observation of object key (ns, name, id) in state. */
static void observe(struct life *l, const struct journal_row *r, const char *ns, const char *name,
                    const char *id, const char *state, const char *detail) {
  char *k = key2(ns, id && *id ? id : name);
  json_t *o = json_object_get(l->objs, k);
  if (!o) {
    o = json_pack("{s:s,s:s,s:s,s:[]}", "namespace", ns, "name", name, "id", id ? id : "",
                  "periods");
    json_object_set_new(l->objs, k, o);
    json_array_append_new(l->order, json_string(k));
  }
  free(k);
  if (name && *name)
    json_object_set_new(o, "name", json_string(name));
  const char *cur = jsonx_str(o, "state");
  if (cur && !strcmp(cur, state))
    return;
  int64_t prev_seq = jsonx_int(o, "fromSeq", 0);
  close_period(o, r->recorded_ms, false);
  json_t *a = decider_of(l, ns, id, prev_seq);
  json_t *b = decider_of(l, ns, name, prev_seq);
  if (!a || (b && jsonx_int(b, "seq", 0) > jsonx_int(a, "seq", 0)))
    a = b;
  json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I}", "namespace", ns, "name",
                        jsonx_str(o, "name") ?: "", "id", jsonx_str(o, "id") ?: "", "state", state,
                        "detail", detail ? detail : "", "fromMs", (json_int_t)r->recorded_ms, "seq",
                        (json_int_t)r->seq);
  if (a) {
    char *by = xasprintf("%s (%s, seq %" JSON_INTEGER_FORMAT ")", jsonx_str(a, "by"),
                         jsonx_str(a, "kind"), jsonx_int(a, "seq", 0));
    json_object_set_new(p, "decidedBy", json_string(by));
    free(by);
    json_object_set_new(p, "reason", json_string(jsonx_str(a, "reason") ?: ""));
    json_object_set_new(p, "action", json_string(jsonx_str(a, "id") ?: ""));
  } else {
    json_object_set_new(p, "decidedBy",
                        json_string(l->machines ? "observed (no action of ours)"
                                                : "the platform (no action of ours)"));
    json_object_set_new(p, "reason", json_string(cur ? "" : "first observation"));
  }
  json_object_set_new(o, "current", p);
  json_object_set_new(o, "state", json_string(state));
  json_object_set_new(o, "fromSeq", json_integer(r->seq));
}

static bool is_machine_kind(const char *gk) { return !strcmp(audit_kind_of(gk), "Machine"); }

/* The phase of a Machine as MCM reports it, else its lastOperation. */
static const char *machine_phase(const json_t *m, const char *type) {
  if (!strcmp(type, "kube.deleted"))
    return "Deleted";
  const char *ph = jsonx_str(m, "status.currentStatus.phase");
  if (ph && *ph)
    return ph;
  if (jsonx_str(m, "metadata.deletionTimestamp"))
    return "Terminating";
  ph = jsonx_str(m, "status.lastOperation.state");
  return ph && *ph ? ph : "Pending";
}

static void life_visit(void *ud, const struct journal_row *r) {
  struct life *l = ud;
  l->last_ms = r->recorded_ms;
  if (!strcmp(r->type, "engine.action")) {
    on_action(l, r);
    return;
  }
  if (!strcmp(r->type, "executor.result")) {
    on_result(l, r);
    return;
  }
  if (!audit_object_matches(l->q, r->group_kind, r->ns, r->name))
    return;
  const json_t *p = r->payload;
  if (!l->machines && !strcmp(r->type, "metal.device")) {
    const char *state = jsonx_str(p, "state") ?: "";
    char *detail = NULL;
    if (!strcmp(state, "gone"))
      detail = xasprintf("%s", jsonx_str(p, "reason") ?: "");
    else
      detail = xasprintf("%s %s", jsonx_str(p, "plan") ?: "", jsonx_str(p, "metro") ?: "");
    observe(l, r, r->ns, jsonx_str(p, "hostname") ?: r->name, jsonx_str(p, "id") ?: r->uid, state,
            detail);
    free(detail);
  } else if (l->machines && !strncmp(r->type, "kube.", 5) && is_machine_kind(r->group_kind) &&
             strcmp(r->type, "kube.relisted") != 0) {
    const char *node = jsonx_str(p, "status.node");
    const char *pid = jsonx_str(p, "spec.providerID");
    char *detail =
        xasprintf("%s%s%s%s%s", node && *node ? "node " : "", node ? node : "",
                  node && *node && pid && *pid ? ", " : "", pid && *pid ? "" : "", pid ? pid : "");
    const char *desc = jsonx_str(p, "status.lastOperation.description");
    if (desc && *desc) {
      char *d2 = xasprintf("%s%s%s", detail, *detail ? "; " : "", desc);
      free(detail);
      detail = d2;
    }
    observe(l, r, r->ns, r->name, "", machine_phase(p, r->type), detail);
    free(detail);
  }
}

static bool life_type(const char *t) {
  return !strcmp(t, "engine.action") || !strcmp(t, "executor.result") ||
         !strcmp(t, "metal.device") || !strncmp(t, "kube.", 5);
}

static int run_life(int argc, char **argv, bool machines) {
  struct audit_query q = {0};
  const struct cli_opt opts[] = {
      AUDIT_COMMON_OPTS(q),
      {"state", CLI_STRING, &q.state, machines ? "PHASE" : "STATE",
       machines ? "only periods in this phase (Pending, Running, Terminating, Failed, ...)"
                : "only periods in this state (queued, provisioning, active, failed, gone, ...)",
       NULL},
      {0}};
  const struct cli_spec dev_spec = {
      AUDIT_CMD " devices",
      "[options] JOURNAL",
      "The lifecycle of every device the device poller saw, one row per state it was\n"
      "in: the device (hostname and id), its shoot, the state, when it entered it and\n"
      "how long it stayed (to the next state, or to the end of the journal when still\n"
      "in it), and who decided the step into it and why: the controller, the action\n"
      "kind and the seq of the newest action about the device since the step before,\n"
      "with the action's reason; steps no action asked for were the platform's own.",
      opts,
      1,
      1};
  const struct cli_spec m_spec = {
      AUDIT_CMD " machines",
      "[options] JOURNAL",
      "The lifecycle of every Machine (machine.sapcloud.io) seen in the journal, one row\n"
      "per phase (status.currentStatus.phase; Deleted once it is gone): the Machine,\n"
      "its shoot, the phase, when it entered it and how long it stayed, the node and\n"
      "provider id, and who decided the step into it and why (the newest action about\n"
      "the Machine since the step before: controller, kind, seq and reason).",
      opts,
      1,
      1};
  const struct cli_spec *spec = machines ? &m_spec : &dev_spec;
  struct journal *j;
  int rc = audit_begin(spec, &q, argc, argv, &j);
  if (rc >= 0)
    return rc;
  struct life l = {&q, machines, json_object(), json_array(), json_object(), json_object(), 0};
  rc = audit_walk(j, &q, life_type, life_visit, &l);
  if (rc == EXIT_OK) {
    json_t *rows = json_array();
    size_t i;
    json_t *k;
    json_array_foreach(l.order, i, k) {
      json_t *o = json_object_get(l.objs, json_string_value(k));
      bool gone = jsonx_str(o, "state") && (!strcmp(jsonx_str(o, "state"), "gone") ||
                                            !strcmp(jsonx_str(o, "state"), "Deleted"));
      close_period(o, gone ? jsonx_int(json_object_get(o, "current"), "fromMs", 0) : l.last_ms,
                   !gone);
      size_t pi;
      json_t *p;
      json_array_foreach(json_object_get(o, "periods"), pi, p) {
        if (q.since_ms && jsonx_int(p, "toMs", 0) < q.since_ms)
          continue;
        if (q.state && strcasecmp(q.state, jsonx_str(p, "state") ?: "") != 0)
          continue;
        bool last_gone = gone && pi + 1 == json_array_size(json_object_get(o, "periods"));
        if (last_gone)
          json_object_set_new(p, "durationMs", json_null());
        json_object_set_new(p, "shownDuration",
                            last_gone ? json_null() : json_integer(jsonx_int(p, "durationMs", 0)));
        if (jsonx_bool(p, "ongoing", false)) {
          char buf[32];
          audit_fmt_dur(jsonx_int(p, "durationMs", 0), buf, sizeof(buf));
          char *s = xasprintf("%s+ (still, at the end of the journal)", buf);
          json_object_set_new(p, "durationText", json_string(s));
          free(s);
        } else if (last_gone) {
          json_object_set_new(p, "durationText", json_string("-"));
        } else {
          char buf[32];
          audit_fmt_dur(jsonx_int(p, "durationMs", 0), buf, sizeof(buf));
          json_object_set_new(p, "durationText", json_string(buf));
        }
        json_array_append(rows, p);
      }
    }
    static const struct audit_col dcols[] = {
        {"DEVICE", "name", COL_STR},          {"ID", "id", COL_STR},
        {"SHOOT", "namespace", COL_STR},      {"STATE", "state", COL_STR},
        {"SINCE", "fromMs", COL_TIME},        {"FOR", "durationText", COL_STR},
        {"DECIDED BY", "decidedBy", COL_STR}, {"WHY", "reason", COL_STR},
        {"DETAIL", "detail", COL_STR}};
    static const struct audit_col mcols[] = {
        {"MACHINE", "name", COL_STR},     {"SHOOT", "namespace", COL_STR},
        {"PHASE", "state", COL_STR},      {"SINCE", "fromMs", COL_TIME},
        {"FOR", "durationText", COL_STR}, {"DECIDED BY", "decidedBy", COL_STR},
        {"WHY", "reason", COL_STR},       {"DETAIL", "detail", COL_STR}};
    if (machines)
      audit_print(&q, mcols, ARRAY_SIZE(mcols), rows, "(no machines match)");
    else
      audit_print(&q, dcols, ARRAY_SIZE(dcols), rows, "(no devices match)");
    json_decref(rows);
  }
  json_decref(l.objs);
  json_decref(l.order);
  json_decref(l.decided);
  json_decref(l.actions);
  journal_close(j);
  audit_query_free(&q);
  return rc;
}

int audit_cmd_devices(int argc, char **argv) { return run_life(argc, argv, false); }
int audit_cmd_machines(int argc, char **argv) { return run_life(argc, argv, true); }
