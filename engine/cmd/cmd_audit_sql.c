/*
 * cmd_audit_sql.c - `audit sql "SELECT ..." JOURNAL`: one read-only SQL query
 * over the documented views of a journal (journal_sql_query()).
 */
#include "engine/base/common.h"
#include "engine/cmd/cmd_audit_int.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"
#include "engine/cmd/cmd_journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sqlrows {
  json_t *rows;
  json_t *names; /* column names, from the first row */
};

static void on_row(void *ud, int n, const char *const *names, const json_t *vals) {
  struct sqlrows *s = ud;
  if (!s->names) {
    s->names = json_array();
    for (int i = 0; i < n; i++)
      json_array_append_new(s->names, json_string(names[i] ? names[i] : ""));
  }
  json_t *o = json_object();
  for (int i = 0; i < n; i++) {
    /* Duplicate names (SELECT a, a) keep the first; the table shows every column. */
    char *k = xasprintf("%d", i);
    json_object_set(o, k, json_array_get(vals, (size_t)i));
    free(k);
  }
  json_array_append_new(s->rows, o);
}

int audit_cmd_sql(int argc, char **argv) {
  struct audit_query q = {0};
  const struct cli_opt opts[] = {
      {"output", CLI_STRING, &q.output, "table|json|csv",
       "an aligned table (default), JSON lines (one object per row), or CSV", NULL},
      {0}};
  const struct cli_spec spec = {
      AUDIT_CMD " sql",
      "[options] \"SELECT ...\" JOURNAL",
      "Run one read-only SQL SELECT over the journal. Besides the tables events,\n"
      "snapshots, snapshot_parts and meta, these views are there (columns in\n"
      "docs/journal.md):\n"
      "  reconciles     one row per operation: object, start, end, actions, attempts,\n"
      "                 failures, last lastOperation state\n"
      "  actions        every decision (engine.action): id, kind, controller, object,\n"
      "                 attempt, reason, cause_seq, params\n"
      "  attempts       every attempt: intent and result (ok, duration, error)\n"
      "  errors         failed attempts: code, Gardener code, message, HTTP status\n"
      "  device_states  every device state seen: shoot, device, state, previous state,\n"
      "                 until when\n"
      "  restarts       every process start, and whether a clean stop came before\n"
      "  objects        every observed Kubernetes object (Secrets as digests)\n"
      "Writes, ATTACH/DETACH, transactions and pragmas that change state are refused.\n"
      "Example: audit sql \"SELECT kind, count(*) FROM attempts WHERE ok = 0 GROUP BY kind\" j.db",
      opts,
      2,
      2};
  char **pos = xcalloc((size_t)argc + 1, sizeof(*pos));
  int npos = 0;
  int rc = cli_parse(&spec, argc, argv, &npos, pos);
  const char *sql = npos > 0 ? pos[0] : NULL, *path = npos > 1 ? pos[1] : NULL;
  free(pos);
  if (rc)
    return rc == CLI_HELP ? EXIT_OK : EXIT_USAGE;
  const char *o = q.output ? q.output : "table";
  q.out = !strcmp(o, "json") ? AUDIT_JSON : !strcmp(o, "csv") ? AUDIT_CSV : AUDIT_TABLE;
  if (strcmp(o, "table") && strcmp(o, "json") && strcmp(o, "csv"))
    return cli_usage_error(&spec, "--output must be table, json or csv, not '%s'.", o), EXIT_USAGE;
  struct journal *j = NULL;
  if (cmd_journal_open_ro(spec.prog, path, &j) != EXIT_OK)
    return EXIT_FAIL;
  struct sqlrows s = {json_array(), NULL};
  struct eng_error err;
  eng_error_clear(&err);
  enum eng_err e = journal_sql_query(j, sql, on_row, &s, &err);
  journal_close(j);
  int status = EXIT_OK;
  if (e) {
    fprintf(stderr, "%s: %s\n", spec.prog, err.msg);
    status = e == ENG_FORBIDDEN || e == ENG_USAGE ? EXIT_USAGE : EXIT_FAIL;
  } else {
    size_t n = json_array_size(s.names);
    struct audit_col *cols = xcalloc(n + 1, sizeof(*cols));
    char **keys = xcalloc(n + 1, sizeof(*keys));
    for (size_t i = 0; i < n; i++) {
      keys[i] = xasprintf("%zu", i);
      cols[i].title = json_string_value(json_array_get(s.names, i));
      cols[i].key = keys[i];
      cols[i].type = COL_STR;
    }
    if (q.out == AUDIT_JSON) {
      /* JSON lines keyed by column name. */
      size_t i;
      json_t *r;
      json_array_foreach(s.rows, i, r) {
        json_t *named = json_object();
        for (size_t c = 0; c < n; c++)
          if (!json_object_get(named, cols[c].title))
            json_object_set(named, cols[c].title, json_object_get(r, keys[c]));
        char *line = jsonx_canonical(named);
        printf("%s\n", line);
        free(line);
        json_decref(named);
      }
    } else if (n) {
      audit_print(&q, cols, n, s.rows, NULL);
    } else {
      printf("(no rows)\n");
    }
    for (size_t i = 0; i < n; i++)
      free(keys[i]);
    free(keys);
    free(cols);
  }
  json_decref(s.rows);
  json_decref(s.names);
  return status;
}
