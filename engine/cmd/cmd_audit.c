/*
 * cmd_audit.c - `audit operations|actions|errors|restarts|devices|machines|sql`.
 *
 * Everything is derived from the events the engine journals for its own
 * decisions: "engine.action" (what was decided and why), "executor.intent"
 * (an attempt started), "executor.result" (how it ended), all carrying the
 * operation's correlation id "<controller>/<namespace>/<name>/<operation>", and
 * "engine.start"/"engine.stop" (the process's life). An intent without a result
 * before the next engine.start was interrupted: the process crashed or was
 * killed during the attempt (a clean stop waits for nothing but still leaves
 * the attempt unanswered); the new process resumes it ("resolving" intents).
 */
#include "engine/base/common.h"
#include "engine/cmd/cmd_audit.h"
#include "engine/cmd/cmd_audit_int.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void top_usage(FILE *out) {
  fprintf(out,
          "Usage: " AUDIT_CMD " QUERY [options] JOURNAL\n"
          "\n"
          "Answer questions about the reconcile history recorded in a journal. The journal is\n"
          "opened read-only and may be the live one or a copy (see 'journal backup').\n"
          "\n"
          "Queries:\n"
          "  operations  every operation (Create, Reconcile, Delete, Migrate, Restore) with its\n"
          "              start, duration, outcome, attempts, failures, restarts and last error\n"
          "  actions     every attempt of every action: intent, result, duration, error; attempts\n"
          "              cut short by a crash or restart show as INTERRUPTED\n"
          "  errors      failed and interrupted attempts grouped by object and error code\n"
          "  restarts    every start of the controller: how the previous run ended (clean stop or\n"
          "              crash), the downtime, the attempts it interrupted and resumed\n"
          "  devices     each device's lifecycle: time in each state, who decided each step, why\n"
          "  machines    each Machine's lifecycle: time in each phase, who decided each step, why\n"
          "  sql         run a read-only SQL SELECT over documented views of the journal\n"
          "\n"
          "Common options: --object [KIND/]NS/NAME, --shoot NAMESPACE, --since TIME (RFC 3339),\n"
          "--output table|json|csv. Run '" AUDIT_CMD " QUERY --help' for the options of a query.\n"
          "Exit codes: 0 success, 1 failure, 2 usage error.\n");
}

static bool decision_type(const char *t) {
  return !strcmp(t, "engine.action") || !strcmp(t, "executor.intent") ||
         !strcmp(t, "executor.result") || !strcmp(t, "engine.start") || !strcmp(t, "engine.stop");
}

/* ---- interrupted attempts ------------------------------------------------------------------ */

/* Intents waiting for their result, and what became of them at a restart. */
struct inflight {
  json_t *open; /* actionId -> {seq, ms, correlation, kind, groupKind, namespace, name, attempt} */
};

static void inflight_intent(struct inflight *f, const struct journal_row *r) {
  const json_t *p = r->payload;
  json_t *rec =
      json_pack("{s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:b}", "seq", (json_int_t)r->seq, "ms",
                (json_int_t)r->recorded_ms, "actionId", jsonx_str(p, "actionId") ?: "",
                "correlation", r->correlation_id, "kind", jsonx_str(p, "kind") ?: "", "groupKind",
                r->group_kind, "namespace", r->ns, "name", r->name, "attempt",
                jsonx_int(p, "attempt", 0), "resolving", jsonx_bool(p, "resolving", false));
  json_object_set_new(f->open, jsonx_str(p, "actionId") ?: "", rec);
}

static void inflight_result(struct inflight *f, const struct journal_row *r) {
  json_object_del(f->open, jsonx_str(r->payload, "actionId") ?: "");
}

/* ---- operations ------------------------------------------------------------------------------ */

struct ops {
  struct audit_query *q;
  struct inflight f;
  json_t *ops;    /* correlation -> record */
  json_t *order;  /* correlations in order of first appearance */
  json_t *states; /* action id -> lastOperation state it writes */
};

static json_t *op_of(struct ops *o, const char *corr, const char *gk, const char *ns,
                     const char *name, int64_t ms) {
  json_t *op = json_object_get(o->ops, corr);
  if (!op) {
    op =
        json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:i,s:i,s:i,s:i,s:i}", "correlation", corr,
                  "kind", audit_kind_of(gk), "namespace", ns, "name", name, "startMs",
                  (json_int_t)ms, "endMs", (json_int_t)ms, "operation", "", "outcome", "Processing",
                  "actions", 0, "attempts", 0, "failures", 0, "interrupted", 0, "resumed", 0);
    json_object_set_new(o->ops, corr, op);
    json_array_append_new(o->order, json_string(corr));
  }
  return op;
}

static void inc(json_t *o, const char *k) {
  json_object_set_new(o, k, json_integer(jsonx_int(o, k, 0) + 1));
}

static void ops_visit(void *ud, const struct journal_row *r) {
  struct ops *o = ud;
  if (o->q->since_ms && r->recorded_ms < o->q->since_ms)
    return;
  if (!strcmp(r->type, "engine.start")) {
    const char *id;
    json_t *in;
    json_object_foreach(o->f.open, id, in) {
      json_t *op = json_object_get(o->ops, jsonx_str(in, "correlation") ?: "");
      if (!op)
        continue;
      inc(op, "interrupted");
      char *msg =
          xasprintf("the controller restarted (seq %" PRId64
                    ") during attempt %" JSON_INTEGER_FORMAT " of %s; no result was journaled",
                    r->seq, jsonx_int(in, "attempt", 0), jsonx_str(in, "kind") ?: "");
      json_object_set_new(op, "lastError", json_string(msg));
      free(msg);
    }
    json_object_clear(o->f.open);
    return;
  }
  if (!*r->correlation_id || !audit_object_matches(o->q, r->group_kind, r->ns, r->name))
    return;
  json_t *op = op_of(o, r->correlation_id, r->group_kind, r->ns, r->name, r->recorded_ms);
  json_object_set_new(op, "endMs", json_integer(r->recorded_ms));
  const json_t *p = r->payload;
  if (!strcmp(r->type, "engine.action")) {
    inc(op, "actions");
    json_t *lo = jsonx_path(p, "action.params.patch.status.lastOperation");
    if (lo) {
      json_object_set_new(op, "operation", json_string(jsonx_str(lo, "type") ?: ""));
      json_object_set_new(o->states, jsonx_str(p, "action.id") ?: "",
                          json_string(jsonx_str(lo, "state") ?: ""));
    }
  } else if (!strcmp(r->type, "executor.intent")) {
    inc(op, "attempts");
    if (jsonx_bool(p, "resolving", false))
      inc(op, "resumed");
    inflight_intent(&o->f, r);
  } else if (!strcmp(r->type, "executor.result")) {
    inflight_result(&o->f, r);
    if (jsonx_bool(p, "ok", false)) {
      const char *st = jsonx_str(o->states, jsonx_str(p, "actionId") ?: "");
      if (st && *st)
        json_object_set_new(op, "outcome", json_string(st));
    } else {
      inc(op, "failures");
      json_object_set_new(op, "lastError", json_string(jsonx_str(p, "error.message") ?: ""));
      json_t *codes = jsonx_path(p, "error.gardenerCodes");
      json_object_set_new(op, "codes", codes ? json_deep_copy(codes) : json_array());
    }
  }
}

static int cmd_operations(int argc, char **argv) {
  struct audit_query q = {0};
  const struct cli_opt opts[] = {AUDIT_COMMON_OPTS(q),
                                 {"state", CLI_STRING, &q.state, "STATE",
                                  "only operations whose outcome is Succeeded, Error or Processing",
                                  NULL},
                                 {0}};
  const struct cli_spec spec = {
      AUDIT_CMD " operations",
      "[options] JOURNAL",
      "Every operation (one reconcile, deletion, migration or restoration of an\n"
      "object), oldest first: when it started, how long it took, how it ended\n"
      "(the last lastOperation state written), how many actions and attempts it\n"
      "needed, how many attempts failed, how many a crash or restart of the\n"
      "controller interrupted (and were resumed by the next process), and its last\n"
      "error.",
      opts,
      1,
      1};
  struct journal *j;
  int rc = audit_begin(&spec, &q, argc, argv, &j);
  if (rc >= 0)
    return rc;
  struct ops o = {&q, {json_object()}, json_object(), json_array(), json_object()};
  rc = audit_walk(j, &q, decision_type, ops_visit, &o);
  if (rc == EXIT_OK) {
    json_t *rows = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(o.order, i, c) {
      json_t *op = json_object_get(o.ops, json_string_value(c));
      if (q.state && strcasecmp(q.state, jsonx_str(op, "outcome") ?: "") != 0)
        continue;
      int64_t dur = jsonx_int(op, "endMs", 0) - jsonx_int(op, "startMs", 0);
      json_object_set_new(op, "durationMs", json_integer(dur));
      json_object_set_new(op, "durationSeconds", json_real((double)dur / 1000.0));
      char *obj = xasprintf("%s %s/%s", jsonx_str(op, "kind"), jsonx_str(op, "namespace"),
                            jsonx_str(op, "name"));
      json_object_set_new(op, "object", json_string(obj));
      free(obj);
      json_array_append(rows, op);
    }
    static const struct audit_col cols[] = {
        {"STARTED", "startMs", COL_TIME},        {"OBJECT", "object", COL_STR},
        {"OPERATION", "operation", COL_STR},     {"OUTCOME", "outcome", COL_STR},
        {"DURATION", "durationMs", COL_DUR},     {"ACTIONS", "actions", COL_INT},
        {"ATTEMPTS", "attempts", COL_INT},       {"FAILURES", "failures", COL_INT},
        {"INTERRUPTED", "interrupted", COL_INT}, {"LAST ERROR", "lastError", COL_STR}};
    audit_print(&q, cols, ARRAY_SIZE(cols), rows, "(no operations match)");
    json_decref(rows);
  }
  json_decref(o.f.open);
  json_decref(o.ops);
  json_decref(o.order);
  json_decref(o.states);
  journal_close(j);
  audit_query_free(&q);
  return rc;
}

/* ---- actions -----------------------------------------------------------------------------------
 */

struct acts {
  struct audit_query *q;
  struct inflight f;
  json_t *reasons; /* action id -> reason */
  json_t *rows;
};

static void act_row(struct acts *a, json_t *rec) {
  const char *kind = jsonx_str(rec, "kind") ?: "";
  bool ok = !strcmp(jsonx_str(rec, "result") ?: "", "ok");
  if ((a->q->kind && strcmp(a->q->kind, kind) != 0) || (a->q->failed && ok)) {
    json_decref(rec);
    return;
  }
  json_object_set_new(rec, "reason",
                      json_string(jsonx_str(a->reasons, jsonx_str(rec, "actionId") ?: "") ?: ""));
  json_array_append_new(a->rows, rec);
}

static json_t *interrupted_row(const json_t *in, const char *result, const char *why) {
  json_t *rec =
      json_pack("{s:I,s:I,s:s,s:s,s:I,s:s,s:b,s:s}", "seq", jsonx_int(in, "seq", 0), "startedMs",
                jsonx_int(in, "ms", 0), "actionId", jsonx_str(in, "actionId") ?: "", "kind",
                jsonx_str(in, "kind") ?: "", "attempt", jsonx_int(in, "attempt", 0), "result",
                result, "ok", false, "errorMessage", why);
  json_object_set_new(rec, "resumed", json_boolean(jsonx_bool(in, "resolving", false)));
  return rec;
}

static void acts_visit(void *ud, const struct journal_row *r) {
  struct acts *a = ud;
  const json_t *p = r->payload;
  if (a->q->since_ms && r->recorded_ms < a->q->since_ms)
    return;
  if (!strcmp(r->type, "engine.start")) {
    const char *id;
    json_t *in;
    json_object_foreach(a->f.open, id, in) {
      char *why = xasprintf("no result: the controller stopped or crashed during the attempt and "
                            "restarted at seq %" PRId64,
                            r->seq);
      act_row(a, interrupted_row(in, "INTERRUPTED", why));
      free(why);
    }
    json_object_clear(a->f.open);
    return;
  }
  if (!strcmp(r->type, "engine.stop") || !audit_object_matches(a->q, r->group_kind, r->ns, r->name))
    return;
  if (!strcmp(r->type, "engine.action")) {
    json_object_set_new(a->reasons, jsonx_str(p, "action.id") ?: "",
                        json_string(jsonx_str(p, "action.reason") ?: ""));
    return;
  }
  if (!strcmp(r->type, "executor.intent")) {
    inflight_intent(&a->f, r);
    return;
  }
  const char *id = jsonx_str(p, "actionId") ?: "";
  json_t *in = json_object_get(a->f.open, id);
  bool ok = jsonx_bool(p, "ok", false);
  json_t *rec =
      json_pack("{s:I,s:I,s:s,s:s,s:I,s:s,s:b,s:I,s:b}", "seq", (json_int_t)r->seq, "startedMs",
                in ? jsonx_int(in, "ms", 0) : (json_int_t)r->recorded_ms, "actionId", id, "kind",
                jsonx_str(p, "kind") ?: "", "attempt", jsonx_int(p, "attempt", 0), "result",
                ok ? "ok" : "FAILED", "ok", ok, "durationMs", jsonx_int(p, "durationMs", 0),
                "resumed", jsonx_bool(p, "resolving", false));
  if (!ok) {
    json_object_set(rec, "error", json_object_get(p, "error"));
    json_object_set_new(rec, "errorMessage", json_string(jsonx_str(p, "error.message") ?: ""));
  }
  inflight_result(&a->f, r);
  act_row(a, rec);
}

static int cmd_actions(int argc, char **argv) {
  struct audit_query q = {0};
  const struct cli_opt opts[] = {
      AUDIT_COMMON_OPTS(q),
      {"kind", CLI_STRING, &q.kind, "KIND", "only this action kind, e.g. metal.sshkey.ensure",
       NULL},
      {"failed", CLI_BOOL, &q.failed, NULL, "only failed or interrupted attempts", NULL},
      {0}};
  const struct cli_spec spec = {
      AUDIT_CMD " actions",
      "[options] JOURNAL",
      "Every attempt of every action, oldest first: when its intent was journaled,\n"
      "its kind, how it ended (ok, FAILED, INTERRUPTED by a crash or restart of the\n"
      "controller, or IN FLIGHT at the end of the journal) and how long it took,\n"
      "whether it resumed an interrupted attempt, with the error of failed ones.",
      opts,
      1,
      1};
  struct journal *j;
  int rc = audit_begin(&spec, &q, argc, argv, &j);
  if (rc >= 0)
    return rc;
  struct acts a = {&q, {json_object()}, json_object(), json_array()};
  rc = audit_walk(j, &q, decision_type, acts_visit, &a);
  if (rc == EXIT_OK) {
    const char *id;
    json_t *in;
    json_object_foreach(a.f.open, id, in)
        act_row(&a, interrupted_row(in, "IN FLIGHT", "no result yet at the end of the journal"));
    for (size_t i = 0; i < json_array_size(a.rows); i++) {
      json_t *r = json_array_get(a.rows, i);
      json_object_set_new(r, "resumedMark",
                          json_string(jsonx_bool(r, "resumed", false) ? "yes" : ""));
    }
    static const struct audit_col cols[] = {
        {"STARTED", "startedMs", COL_TIME}, {"KIND", "kind", COL_STR},
        {"RESULT", "result", COL_STR},      {"DURATION", "durationMs", COL_DUR},
        {"ATTEMPT", "attempt", COL_INT},    {"RESUMED", "resumedMark", COL_STR},
        {"ACTION", "actionId", COL_STR},    {"ERROR", "errorMessage", COL_STR}};
    audit_print(&q, cols, ARRAY_SIZE(cols), a.rows, "(no actions match)");
  }
  json_decref(a.f.open);
  json_decref(a.reasons);
  json_decref(a.rows);
  journal_close(j);
  audit_query_free(&q);
  return rc;
}

/* ---- errors ------------------------------------------------------------------------------------
 */

struct errs {
  struct audit_query *q;
  struct inflight f;
  json_t *groups; /* "object\ncode" -> record */
  json_t *order;
};

static void err_add(struct errs *e, const char *gk, const char *ns, const char *name,
                    const char *code, int64_t ms, const char *msg) {
  char *obj = xasprintf("%s %s/%s", audit_kind_of(gk), ns, name);
  char *k = xasprintf("%s\n%s", obj, code);
  json_t *g = json_object_get(e->groups, k);
  if (!g) {
    g = json_pack("{s:s,s:s,s:i,s:I}", "object", obj, "code", code, "count", 0, "firstMs",
                  (json_int_t)ms);
    json_object_set_new(e->groups, k, g);
    json_array_append_new(e->order, json_string(k));
  }
  inc(g, "count");
  json_object_set_new(g, "lastMs", json_integer(ms));
  json_object_set_new(g, "lastMessage", json_string(msg));
  free(k);
  free(obj);
}

static void errs_visit(void *ud, const struct journal_row *r) {
  struct errs *e = ud;
  if (e->q->since_ms && r->recorded_ms < e->q->since_ms)
    return;
  if (!strcmp(r->type, "engine.start")) {
    const char *id;
    json_t *in;
    json_object_foreach(e->f.open, id, in) {
      char *msg = xasprintf("%s attempt %" JSON_INTEGER_FORMAT
                            " had no result: the controller restarted at seq %" PRId64,
                            jsonx_str(in, "kind") ?: "", jsonx_int(in, "attempt", 0), r->seq);
      err_add(e, jsonx_str(in, "groupKind"), jsonx_str(in, "namespace"), jsonx_str(in, "name"),
              "INTERRUPTED_BY_RESTART", r->recorded_ms, msg);
      free(msg);
    }
    json_object_clear(e->f.open);
    return;
  }
  if (!audit_object_matches(e->q, r->group_kind, r->ns, r->name))
    return;
  if (!strcmp(r->type, "executor.intent")) {
    inflight_intent(&e->f, r);
    return;
  }
  if (strcmp(r->type, "executor.result") != 0)
    return;
  inflight_result(&e->f, r);
  if (jsonx_bool(r->payload, "ok", true))
    return;
  json_t *codes = jsonx_path(r->payload, "error.gardenerCodes");
  const char *code = json_string_value(json_array_get(codes, 0));
  if (!code)
    code = jsonx_str(r->payload, "error.code") ?: "";
  err_add(e, r->group_kind, r->ns, r->name, code, r->recorded_ms,
          jsonx_str(r->payload, "error.message") ?: "");
}

static int cmd_errors(int argc, char **argv) {
  struct audit_query q = {0};
  const struct cli_opt opts[] = {AUDIT_COMMON_OPTS(q), {0}};
  const struct cli_spec spec = {
      AUDIT_CMD " errors",
      "[options] JOURNAL",
      "Failed action attempts grouped by object and error code (the Gardener code\n"
      "when there is one; INTERRUPTED_BY_RESTART for attempts a crash or restart cut\n"
      "short), with how often, when first and last, and the last message.",
      opts,
      1,
      1};
  struct journal *j;
  int rc = audit_begin(&spec, &q, argc, argv, &j);
  if (rc >= 0)
    return rc;
  struct errs e = {&q, {json_object()}, json_object(), json_array()};
  rc = audit_walk(j, &q, decision_type, errs_visit, &e);
  if (rc == EXIT_OK) {
    json_t *rows = json_array();
    size_t i;
    json_t *k;
    json_array_foreach(e.order, i, k)
        json_array_append(rows, json_object_get(e.groups, json_string_value(k)));
    static const struct audit_col cols[] = {
        {"OBJECT", "object", COL_STR}, {"CODE", "code", COL_STR},
        {"COUNT", "count", COL_INT},   {"FIRST", "firstMs", COL_TIME},
        {"LAST", "lastMs", COL_TIME},  {"LAST MESSAGE", "lastMessage", COL_STR}};
    audit_print(&q, cols, ARRAY_SIZE(cols), rows, "(no failed attempts)");
    json_decref(rows);
  }
  json_decref(e.f.open);
  json_decref(e.groups);
  json_decref(e.order);
  journal_close(j);
  audit_query_free(&q);
  return rc;
}

/* ---- restarts ----------------------------------------------------------------------------------
 */

struct rst {
  struct audit_query *q;
  struct inflight f;
  json_t *rows;
  json_t *cur; /* the row of the current run (owned), or NULL before the first start */
  int64_t last_ms, last_seq; /* newest event before the current one */
  const char *stop_reason;   /* engine.stop of the current run (borrowed from stop_buf) */
  char stop_buf[256];
  bool stopped;
};

static void rst_visit(void *ud, const struct journal_row *r) {
  struct rst *s = ud;
  if (!strcmp(r->type, "engine.start")) {
    json_t *row = json_pack("{s:I,s:I,s:s,s:i,s:i}", "seq", (json_int_t)r->seq, "startedMs",
                            (json_int_t)r->recorded_ms, "version",
                            jsonx_str(r->payload, "version") ?: "", "interrupted", 0, "resumed", 0);
    json_t *ids = json_array();
    const char *id;
    json_t *in;
    json_object_foreach(s->f.open, id, in) {
      if (!audit_object_matches(s->q, jsonx_str(in, "groupKind"), jsonx_str(in, "namespace"),
                                jsonx_str(in, "name")))
        continue;
      json_array_append_new(ids, json_string(id));
    }
    json_object_set_new(row, "interrupted", json_integer((json_int_t)json_array_size(ids)));
    json_object_set_new(row, "interruptedActions", ids);
    json_object_clear(s->f.open);
    if (!s->cur) {
      json_object_set_new(row, "previousRun", json_string("none: the first start in the journal"));
      json_object_set_new(row, "cleanStop", json_null());
    } else {
      char *prev = s->stopped ? xasprintf("stopped cleanly (%s)", s->stop_reason)
                              : xstrdup("crashed or was killed (no engine.stop)");
      json_object_set_new(row, "previousRun", json_string(prev));
      free(prev);
      json_object_set_new(row, "cleanStop", json_boolean(s->stopped));
      json_object_set_new(row, "previousLastEventMs", json_integer(s->last_ms));
      json_object_set_new(row, "previousLastEventSeq", json_integer(s->last_seq));
      json_object_set_new(row, "downtimeMs", json_integer(r->recorded_ms - s->last_ms));
    }
    s->stopped = false;
    json_decref(s->cur);
    s->cur = row; /* owned; the rows array holds its own reference */
    if (!s->q->since_ms || r->recorded_ms >= s->q->since_ms)
      json_array_append(s->rows, row);
  } else if (!strcmp(r->type, "engine.stop")) {
    s->stopped = true;
    snprintf(s->stop_buf, sizeof(s->stop_buf), "%s", jsonx_str(r->payload, "reason") ?: "");
    s->stop_reason = s->stop_buf;
  } else if (!strcmp(r->type, "executor.intent")) {
    inflight_intent(&s->f, r);
    if (s->cur && jsonx_bool(r->payload, "resolving", false) &&
        audit_object_matches(s->q, r->group_kind, r->ns, r->name))
      inc(s->cur, "resumed");
  } else if (!strcmp(r->type, "executor.result")) {
    inflight_result(&s->f, r);
  }
  s->last_ms = r->recorded_ms;
  s->last_seq = r->seq;
}

static int cmd_restarts(int argc, char **argv) {
  struct audit_query q = {0};
  const struct cli_opt opts[] = {AUDIT_COMMON_OPTS(q), {0}};
  const struct cli_spec spec = {
      AUDIT_CMD " restarts",
      "[options] JOURNAL",
      "Every start of the controller recorded in the journal (engine.start), oldest\n"
      "first: the version, how the previous run ended (a clean stop with its reason,\n"
      "or a crash or kill: no engine.stop), its last event and the downtime until this\n"
      "start, how many action attempts the end of the previous run interrupted (their\n"
      "intent has no result) and how many this run resumed. With --object or --shoot\n"
      "only the attempts of those objects are counted.",
      opts,
      1,
      1};
  struct journal *j;
  int rc = audit_begin(&spec, &q, argc, argv, &j);
  if (rc >= 0)
    return rc;
  /* Every event counts for "the last event before a start", so walk them all. */
  struct rst s = {.q = &q, .f = {json_object()}, .rows = json_array()};
  rc = audit_walk(j, &q, NULL, rst_visit, &s);
  if (rc == EXIT_OK) {
    static const struct audit_col cols[] = {
        {"STARTED", "startedMs", COL_TIME},  {"SEQ", "seq", COL_INT},
        {"VERSION", "version", COL_STR},     {"PREVIOUS RUN", "previousRun", COL_STR},
        {"DOWNTIME", "downtimeMs", COL_DUR}, {"INTERRUPTED", "interrupted", COL_INT},
        {"RESUMED", "resumed", COL_INT}};
    audit_print(&q, cols, ARRAY_SIZE(cols), s.rows, "(no starts recorded)");
  }
  json_decref(s.cur);
  json_decref(s.f.open);
  json_decref(s.rows);
  journal_close(j);
  audit_query_free(&q);
  return rc;
}

int cmd_audit(int argc, char **argv) {
  static const struct cli_subcommand subs[] = {
      {"operations", cmd_operations}, {"actions", cmd_actions},
      {"errors", cmd_errors},         {"restarts", cmd_restarts},
      {"devices", audit_cmd_devices}, {"machines", audit_cmd_machines},
      {"sql", audit_cmd_sql},         {NULL, NULL}};
  return cli_dispatch(AUDIT_CMD, "query", subs, top_usage, argc, argv);
}
