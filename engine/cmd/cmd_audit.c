/*
 * cmd_audit.c - `audit operations|actions|errors JOURNAL`.
 *
 * Everything is derived from the events the engine journals for its own
 * decisions: "engine.action" (what was decided and why), "executor.intent"
 * (an attempt started) and "executor.result" (how it ended), all carrying the
 * operation's correlation id "<controller>/<namespace>/<name>/<operation>".
 */
#include "engine/base/common.h"
#include "engine/cmd/cmd_audit.h"
#include "engine/base/cli.h"
#include "engine/cmd/cmd_journal.h"
#include "engine/journal/journal.h"
#include "engine/base/jsonx.h"
#include "engine/base/progress.h"
#include "engine/base/timefmt.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CMD PROG_NAME " audit"

static void top_usage(FILE *out) {
  fprintf(out,
          "Usage: " CMD " QUERY [options] JOURNAL\n"
          "\n"
          "Answer questions about the reconcile history recorded in a journal. The journal is\n"
          "opened read-only and may be the live one or a copy taken out of a pod.\n"
          "\n"
          "Queries:\n"
          "  operations  every operation (Create, Reconcile, Delete, Migrate, Restore) with its\n"
          "              start, duration, outcome, number of attempts and last error\n"
          "  actions     every attempt of every action: intent, result, duration, error\n"
          "  errors      failed attempts grouped by object and Gardener error code\n"
          "\n"
          "Common options: --object [KIND/]NS/NAME, --since TIME (RFC 3339), --format text|json.\n"
          "Run '" CMD " QUERY --help' for the options of a query.\n"
          "Exit codes: 0 success, 1 failure, 2 usage error.\n");
}

struct query {
  const char *object, *since, *format, *kind, *state;
  bool failed, show_progress;
  char *ns, *name, *okind;
  int64_t since_ms;
  bool json;
};

static const char *kind_of(const char *gk) {
  const char *s = strrchr(gk ? gk : "", '/');
  return s ? s + 1 : (gk ? gk : "");
}

static bool object_matches(const struct query *q, const char *gk, const char *ns,
                           const char *name) {
  if (!q->name)
    return true;
  if (q->okind && *q->okind && strcasecmp(q->okind, kind_of(gk)) != 0)
    return false;
  return ns && name && !strcmp(ns, q->ns) && !strcmp(name, q->name);
}

static int parse_common(const struct cli_spec *spec, struct query *q, int argc, char **argv,
                        char **path) {
  char **pos = xcalloc((size_t)argc + 1, sizeof(*pos));
  int npos;
  int rc = cli_parse(spec, argc, argv, &npos, pos);
  *path = npos ? pos[0] : NULL;
  free(pos);
  if (rc)
    return rc == CLI_HELP ? EXIT_OK : EXIT_USAGE;
  if (strcmp(q->format, "text") && strcmp(q->format, "json"))
    return cli_usage_error(spec, "--format must be text or json, not '%s'.", q->format), EXIT_USAGE;
  q->json = !strcmp(q->format, "json");
  if (q->since && timefmt_parse(q->since, &q->since_ms) != ENG_OK)
    return cli_usage_error(
               spec, "--since must be an RFC 3339 time such as 2026-11-23T10:00:00Z, not '%s'.",
               q->since),
           EXIT_USAGE;
  if (q->object) {
    const char *a = strchr(q->object, '/'), *b = a ? strchr(a + 1, '/') : NULL;
    if (!a)
      return cli_usage_error(spec,
                             "--object must be NAMESPACE/NAME or KIND/NAMESPACE/NAME, not '%s'.",
                             q->object),
             EXIT_USAGE;
    if (b) {
      q->okind = xstrndup(q->object, (size_t)(a - q->object));
      q->ns = xstrndup(a + 1, (size_t)(b - a - 1));
      q->name = xstrdup(b + 1);
    } else {
      q->ns = xstrndup(q->object, (size_t)(a - q->object));
      q->name = xstrdup(a + 1);
    }
  }
  return -1;
}

static void query_free(struct query *q) {
  free(q->ns);
  free(q->name);
  free(q->okind);
}

/* Parse the options and open the journal: -1 to go on (q and *j are live), else the exit code. */
static int begin(const struct cli_spec *spec, struct query *q, int argc, char **argv,
                 struct journal **j) {
  char *path;
  int rc = parse_common(spec, q, argc, argv, &path);
  if (rc < 0)
    rc = cmd_journal_open_ro(spec->prog, path, j) == EXIT_OK ? -1 : EXIT_FAIL;
  if (rc >= 0)
    query_free(q);
  return rc;
}

/* Visit the engine's own decision events (actions, intents, results) in seq order. */
typedef void (*visit_fn)(void *ud, const struct journal_row *r);
static int visit(struct journal *j, struct query *q, visit_fn fn, void *ud) {
  struct journal_filter f = {0};
  f.type_prefix = "e"; /* engine.* and executor.*: narrowed below */
  struct journal_iter *it;
  struct eng_error err;
  if (journal_iter_open(j, &f, &it, &err) != ENG_OK) {
    fprintf(stderr, CMD ": %s\n", err.msg);
    return EXIT_FAIL;
  }
  struct progress pr;
  progress_init(&pr, q->show_progress, "audited");
  int64_t n = 0, total = journal_durable_seq(j);
  const struct journal_row *r;
  int rc;
  while ((rc = journal_iter_next(it, &r, &err)) == 1) {
    n++;
    if (n % 10000 == 0)
      progress_show(&pr, r->seq, total);
    if (strcmp(r->type, "engine.action") && strcmp(r->type, "executor.intent") &&
        strcmp(r->type, "executor.result"))
      continue;
    if (q->since_ms && r->recorded_ms < q->since_ms)
      continue;
    if (!object_matches(q, r->group_kind, r->ns, r->name))
      continue;
    fn(ud, r);
  }
  progress_done(&pr, n, q->show_progress);
  journal_iter_free(it);
  if (rc < 0) {
    fprintf(stderr, CMD ": %s\n", err.msg);
    return EXIT_FAIL;
  }
  return EXIT_OK;
}

static void emit(const struct query *q, json_t *rec, const char *text_line) {
  if (q->json) {
    char *s = jsonx_canonical(rec);
    printf("%s\n", s);
    free(s);
  } else {
    printf("%s\n", text_line);
  }
}

static void fmt_time(int64_t ms, char out[TIMEFMT_LEN]) {
  if (ms)
    timefmt_rfc3339_ms(ms, out);
  else
    snprintf(out, TIMEFMT_LEN, "-");
}

/* ---- operations ------------------------------------------------------------------------------ */

struct ops {
  json_t *ops;    /* correlation -> record */
  json_t *order;  /* correlations in order of first appearance */
  json_t *states; /* action id -> lastOperation state it writes */
};

static void ops_visit(void *ud, const struct journal_row *r) {
  struct ops *o = ud;
  if (!*r->correlation_id)
    return;
  json_t *op = json_object_get(o->ops, r->correlation_id);
  if (!op) {
    op =
        json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:i,s:i,s:i}", "correlation", r->correlation_id,
                  "kind", kind_of(r->group_kind), "namespace", r->ns, "name", r->name, "startMs",
                  (json_int_t)r->recorded_ms, "endMs", (json_int_t)r->recorded_ms, "operation", "",
                  "outcome", "Processing", "actions", 0, "attempts", 0, "failures", 0);
    json_object_set_new(o->ops, r->correlation_id, op);
    json_array_append_new(o->order, json_string(r->correlation_id));
  }
  json_object_set_new(op, "endMs", json_integer(r->recorded_ms));
  const json_t *p = r->payload;
  if (!strcmp(r->type, "engine.action")) {
    json_object_set_new(op, "actions", json_integer(jsonx_int(op, "actions", 0) + 1));
    json_t *lo = jsonx_path(p, "action.params.patch.status.lastOperation");
    if (lo) {
      json_object_set_new(op, "operation", json_string(jsonx_str(lo, "type") ?: ""));
      json_object_set_new(o->states, jsonx_str(p, "action.id") ?: "",
                          json_string(jsonx_str(lo, "state") ?: ""));
    }
  } else if (!strcmp(r->type, "executor.intent")) {
    json_object_set_new(op, "attempts", json_integer(jsonx_int(op, "attempts", 0) + 1));
  } else if (!strcmp(r->type, "executor.result")) {
    if (jsonx_bool(p, "ok", false)) {
      const char *st = jsonx_str(o->states, jsonx_str(p, "actionId") ?: "");
      if (st && *st)
        json_object_set_new(op, "outcome", json_string(st));
    } else {
      json_object_set_new(op, "failures", json_integer(jsonx_int(op, "failures", 0) + 1));
      json_object_set_new(op, "lastError", json_string(jsonx_str(p, "error.message") ?: ""));
      json_t *codes = jsonx_path(p, "error.gardenerCodes");
      json_object_set_new(op, "codes", codes ? json_deep_copy(codes) : json_array());
    }
  }
}

static int cmd_operations(int argc, char **argv) {
  struct query q = {.format = "text"};
  const struct cli_opt opts[] = {
      {"object", CLI_STRING, &q.object, "[KIND/]NS/NAME", "only this object", NULL},
      {"since", CLI_STRING, &q.since, "TIME", "only events recorded at or after TIME (RFC 3339)",
       NULL},
      {"state", CLI_STRING, &q.state, "STATE",
       "only operations whose outcome is Succeeded, Error or Processing", NULL},
      {"format", CLI_STRING, &q.format, "text|json", "a table, or JSON lines", NULL},
      {"progress", CLI_BOOL, &q.show_progress, NULL, "report progress on stderr", NULL},
      {0}};
  const struct cli_spec spec = {
      CMD " operations",
      "[options] JOURNAL",
      "Every operation (one reconcile, deletion, migration or restoration of an\n"
      "object), oldest first: when it started, how long it took, how it ended\n"
      "(the last lastOperation state written), how many attempts it needed and\n"
      "its last error.",
      opts,
      1,
      1};
  struct journal *j;
  int rc = begin(&spec, &q, argc, argv, &j);
  if (rc >= 0)
    return rc;
  struct ops o = {json_object(), json_array(), json_object()};
  rc = visit(j, &q, ops_visit, &o);
  if (rc == EXIT_OK) {
    if (!q.json)
      printf("%-24s %-40s %-10s %-10s %9s %7s %8s  %s\n", "STARTED", "OBJECT", "OPERATION",
             "OUTCOME", "DURATION", "ACTIONS", "FAILURES", "LAST ERROR");
    size_t i;
    json_t *c;
    size_t shown = 0;
    json_array_foreach(o.order, i, c) {
      json_t *op = json_object_get(o.ops, json_string_value(c));
      if (q.state && strcasecmp(q.state, jsonx_str(op, "outcome") ?: "") != 0)
        continue;
      shown++;
      char t[TIMEFMT_LEN];
      fmt_time(jsonx_int(op, "startMs", 0), t);
      double dur = (double)(jsonx_int(op, "endMs", 0) - jsonx_int(op, "startMs", 0)) / 1000.0;
      json_object_set_new(op, "durationSeconds", json_real(dur));
      char obj[200], line[2048];
      snprintf(obj, sizeof(obj), "%s %s/%s", jsonx_str(op, "kind"), jsonx_str(op, "namespace"),
               jsonx_str(op, "name"));
      snprintf(line, sizeof(line),
               "%-24s %-40s %-10s %-10s %8.1fs %7" JSON_INTEGER_FORMAT " %8" JSON_INTEGER_FORMAT
               "  %s",
               t, obj, jsonx_str(op, "operation"), jsonx_str(op, "outcome"), dur,
               jsonx_int(op, "actions", 0), jsonx_int(op, "failures", 0),
               jsonx_str(op, "lastError") ?: "");
      emit(&q, op, line);
    }
    if (!q.json && shown == 0)
      printf("(no operations match)\n");
  }
  json_decref(o.ops);
  json_decref(o.order);
  json_decref(o.states);
  journal_close(j);
  query_free(&q);
  return rc;
}

/* ---- actions -----------------------------------------------------------------------------------
 */

struct acts {
  struct query *q;
  json_t *reasons; /* action id -> reason */
  json_t *started; /* action id -> intent time */
  size_t shown;
};

static void acts_visit(void *ud, const struct journal_row *r) {
  struct acts *a = ud;
  const json_t *p = r->payload;
  if (!strcmp(r->type, "engine.action")) {
    json_object_set_new(a->reasons, jsonx_str(p, "action.id") ?: "",
                        json_string(jsonx_str(p, "action.reason") ?: ""));
    return;
  }
  if (!strcmp(r->type, "executor.intent")) {
    json_object_set_new(a->started, jsonx_str(p, "actionId") ?: "", json_integer(r->recorded_ms));
    return;
  }
  const char *id = jsonx_str(p, "actionId") ?: "";
  const char *kind = jsonx_str(p, "kind") ?: "";
  bool ok = jsonx_bool(p, "ok", false);
  if (a->q->kind && strcmp(a->q->kind, kind) != 0)
    return;
  if (a->q->failed && ok)
    return;
  a->shown++;
  char t[TIMEFMT_LEN];
  fmt_time(jsonx_int(a->started, id, r->recorded_ms), t);
  json_t *rec = json_pack("{s:I,s:s,s:s,s:s,s:I,s:b,s:I,s:s}", "seq", (json_int_t)r->seq, "started",
                          t, "actionId", id, "kind", kind, "attempt", jsonx_int(p, "attempt", 0),
                          "ok", ok, "durationMs", jsonx_int(p, "durationMs", 0), "reason",
                          jsonx_str(a->reasons, id) ?: "");
  if (!ok)
    json_object_set(rec, "error", json_object_get(p, "error"));
  char line[2400];
  snprintf(line, sizeof(line), "%-24s %-20s %-8s %6" JSON_INTEGER_FORMAT "ms  %s%s%s", t, kind,
           ok ? "ok" : "FAILED", jsonx_int(p, "durationMs", 0), id,
           ok ? "" : "\n                         error: ",
           ok ? "" : (jsonx_str(p, "error.message") ?: ""));
  emit(a->q, rec, line);
  json_decref(rec);
}

static int cmd_actions(int argc, char **argv) {
  struct query q = {.format = "text"};
  const struct cli_opt opts[] = {
      {"object", CLI_STRING, &q.object, "[KIND/]NS/NAME", "only this object", NULL},
      {"since", CLI_STRING, &q.since, "TIME", "only events recorded at or after TIME (RFC 3339)",
       NULL},
      {"kind", CLI_STRING, &q.kind, "KIND", "only this action kind, e.g. metal.sshkey.ensure",
       NULL},
      {"failed", CLI_BOOL, &q.failed, NULL, "only failed attempts", NULL},
      {"format", CLI_STRING, &q.format, "text|json", "a table, or JSON lines", NULL},
      {"progress", CLI_BOOL, &q.show_progress, NULL, "report progress on stderr", NULL},
      {0}};
  const struct cli_spec spec = {
      CMD " actions",
      "[options] JOURNAL",
      "Every attempt of every action, oldest first: when its intent was journaled,\n"
      "its kind, how it ended and how long it took, with the error of failed ones.",
      opts,
      1,
      1};
  struct journal *j;
  int rc = begin(&spec, &q, argc, argv, &j);
  if (rc >= 0)
    return rc;
  struct acts a = {&q, json_object(), json_object(), 0};
  if (!q.json)
    printf("%-24s %-20s %-8s %8s  %s\n", "STARTED", "KIND", "RESULT", "DURATION", "ACTION");
  rc = visit(j, &q, acts_visit, &a);
  if (rc == EXIT_OK && !q.json && a.shown == 0)
    printf("(no actions match)\n");
  json_decref(a.reasons);
  json_decref(a.started);
  journal_close(j);
  query_free(&q);
  return rc;
}

/* ---- errors ------------------------------------------------------------------------------------
 */

struct errs {
  json_t *groups; /* "object\ncode" -> record */
  json_t *order;
};

static void errs_visit(void *ud, const struct journal_row *r) {
  struct errs *e = ud;
  if (strcmp(r->type, "executor.result") != 0 || jsonx_bool(r->payload, "ok", true))
    return;
  json_t *codes = jsonx_path(r->payload, "error.gardenerCodes");
  const char *code = json_string_value(json_array_get(codes, 0));
  if (!code)
    code = jsonx_str(r->payload, "error.code") ?: "";
  char *obj = xasprintf("%s %s/%s", kind_of(r->group_kind), r->ns, r->name);
  char *k = xasprintf("%s\n%s", obj, code);
  json_t *g = json_object_get(e->groups, k);
  if (!g) {
    g = json_pack("{s:s,s:s,s:i,s:I}", "object", obj, "code", code, "count", 0, "firstMs",
                  (json_int_t)r->recorded_ms);
    json_object_set_new(e->groups, k, g);
    json_array_append_new(e->order, json_string(k));
  }
  json_object_set_new(g, "count", json_integer(jsonx_int(g, "count", 0) + 1));
  json_object_set_new(g, "lastMs", json_integer(r->recorded_ms));
  json_object_set_new(g, "lastMessage", json_string(jsonx_str(r->payload, "error.message") ?: ""));
  free(k);
  free(obj);
}

static int cmd_errors(int argc, char **argv) {
  struct query q = {.format = "text"};
  const struct cli_opt opts[] = {
      {"object", CLI_STRING, &q.object, "[KIND/]NS/NAME", "only this object", NULL},
      {"since", CLI_STRING, &q.since, "TIME", "only events recorded at or after TIME (RFC 3339)",
       NULL},
      {"format", CLI_STRING, &q.format, "text|json", "a table, or JSON lines", NULL},
      {"progress", CLI_BOOL, &q.show_progress, NULL, "report progress on stderr", NULL},
      {0}};
  const struct cli_spec spec = {
      CMD " errors",
      "[options] JOURNAL",
      "Failed action attempts grouped by object and error code (the Gardener code\n"
      "when there is one), with how often, when first and last, and the last message.",
      opts,
      1,
      1};
  struct journal *j;
  int rc = begin(&spec, &q, argc, argv, &j);
  if (rc >= 0)
    return rc;
  struct errs e = {json_object(), json_array()};
  rc = visit(j, &q, errs_visit, &e);
  if (rc == EXIT_OK) {
    if (!q.json)
      printf("%-40s %-34s %6s %-24s %-24s  %s\n", "OBJECT", "CODE", "COUNT", "FIRST", "LAST",
             "LAST MESSAGE");
    size_t i;
    json_t *k;
    json_array_foreach(e.order, i, k) {
      json_t *g = json_object_get(e.groups, json_string_value(k));
      char f[TIMEFMT_LEN], l[TIMEFMT_LEN], line[2400];
      fmt_time(jsonx_int(g, "firstMs", 0), f);
      fmt_time(jsonx_int(g, "lastMs", 0), l);
      snprintf(line, sizeof(line), "%-40s %-34s %6" JSON_INTEGER_FORMAT " %-24s %-24s  %s",
               jsonx_str(g, "object"), jsonx_str(g, "code"), jsonx_int(g, "count", 0), f, l,
               jsonx_str(g, "lastMessage"));
      emit(&q, g, line);
    }
    if (!q.json && json_array_size(e.order) == 0)
      printf("(no failed attempts)\n");
  }
  json_decref(e.groups);
  json_decref(e.order);
  journal_close(j);
  query_free(&q);
  return rc;
}

int cmd_audit(int argc, char **argv) {
  static const struct cli_subcommand subs[] = {{"operations", cmd_operations},
                                               {"actions", cmd_actions},
                                               {"errors", cmd_errors},
                                               {NULL, NULL}};
  return cli_dispatch(CMD, "query", subs, top_usage, argc, argv);
}
