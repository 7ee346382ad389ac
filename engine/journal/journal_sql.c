/*
 * journal_sql.c - read-only SQL over a journal through documented views
 * (`audit sql`).
 *
 * The views are TEMP views created on the handle's read-only connection, so
 * nothing is added to the file and journals of any schema version get them.
 * The user's statement runs under an authorizer that allows only reading:
 * SELECT, reads of tables and views, functions, recursive CTEs and a list of
 * pragmas that only report. Writes, schema changes, ATTACH/DETACH,
 * transactions, VACUUM and every other pragma are refused before the
 * statement runs, with a sentence saying what was refused. Only one
 * statement is accepted.
 */
#include "engine/base/common.h"
#include "engine/journal/journal_int.h"
#include "engine/base/sha256.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The views (docs/journal.md, "SQL views"). Keep the two in step. */
static const char *const view_sql[] = {
    /* Every recorded decision (engine.action), with its reason and cause. */
    "CREATE TEMP VIEW IF NOT EXISTS actions AS SELECT seq, recorded_ms, "
    "json_extract(payload, '$.action.id') AS action_id, "
    "json_extract(payload, '$.action.kind') AS kind, "
    "json_extract(payload, '$.action.controller') AS controller, "
    "group_kind, namespace, name, correlation_id, "
    "json_extract(payload, '$.action.attempt') AS attempt, "
    "json_extract(payload, '$.action.reason') AS reason, "
    "json_extract(payload, '$.causeSeq') AS cause_seq, "
    "json_extract(payload, '$.action.params') AS params "
    "FROM main.events WHERE type = 'engine.action'",
    /* Every attempt: its intent and, when there is one, its result. */
    "CREATE TEMP VIEW IF NOT EXISTS attempts AS SELECT i.seq AS intent_seq, "
    "i.recorded_ms AS started_ms, json_extract(i.payload, '$.actionId') AS action_id, "
    "json_extract(i.payload, '$.kind') AS kind, json_extract(i.payload, '$.attempt') AS attempt, "
    "json_extract(i.payload, '$.resolving') AS resolving, i.group_kind, i.namespace, i.name, "
    "i.correlation_id, r.seq AS result_seq, r.recorded_ms AS ended_ms, "
    "json_extract(r.payload, '$.ok') AS ok, json_extract(r.payload, '$.durationMs') AS "
    "duration_ms, "
    "json_extract(r.payload, '$.error.code') AS error_code, "
    "json_extract(r.payload, '$.error.gardenerCodes[0]') AS gardener_code, "
    "json_extract(r.payload, '$.error.message') AS error_message "
    "FROM main.events i LEFT JOIN main.events r ON r.seq = (SELECT min(x.seq) FROM main.events x "
    "WHERE x.type = 'executor.result' AND x.correlation_id = i.correlation_id AND x.seq > i.seq "
    "AND json_extract(x.payload, '$.actionId') = json_extract(i.payload, '$.actionId')) "
    "WHERE i.type = 'executor.intent'",
    /* One row per operation (correlation id). */
    "CREATE TEMP VIEW IF NOT EXISTS reconciles AS SELECT correlation_id, "
    "min(group_kind) AS group_kind, min(namespace) AS namespace, min(name) AS name, "
    "min(recorded_ms) AS started_ms, max(recorded_ms) AS ended_ms, "
    "sum(type = 'engine.action') AS actions, sum(type = 'executor.intent') AS attempts, "
    "sum(type = 'executor.result' AND json_extract(payload, '$.ok') = 0) AS failures, "
    "(SELECT json_extract(e.payload, '$.action.params.patch.status.lastOperation.state') FROM "
    "main.events e WHERE e.correlation_id = g.correlation_id AND e.type = 'engine.action' AND "
    "json_extract(e.payload, '$.action.params.patch.status.lastOperation.state') IS NOT NULL "
    "ORDER BY e.seq DESC LIMIT 1) AS last_state, "
    "(SELECT json_extract(e.payload, '$.action.params.patch.status.lastOperation.type') FROM "
    "main.events e WHERE e.correlation_id = g.correlation_id AND e.type = 'engine.action' AND "
    "json_extract(e.payload, '$.action.params.patch.status.lastOperation.type') IS NOT NULL "
    "ORDER BY e.seq DESC LIMIT 1) AS operation "
    "FROM main.events g WHERE correlation_id <> '' AND (type = 'engine.action' OR "
    "type LIKE 'executor.%') GROUP BY correlation_id",
    /* Failed attempts. */
    "CREATE TEMP VIEW IF NOT EXISTS errors AS SELECT seq, recorded_ms, "
    "json_extract(payload, '$.actionId') AS action_id, json_extract(payload, '$.kind') AS kind, "
    "group_kind, namespace, name, correlation_id, "
    "json_extract(payload, '$.error.code') AS code, "
    "json_extract(payload, '$.error.gardenerCodes[0]') AS gardener_code, "
    "json_extract(payload, '$.error.message') AS message, "
    "json_extract(payload, '$.error.httpStatus') AS http_status, "
    "json_extract(payload, '$.error.retryable') AS retryable "
    "FROM main.events WHERE type = 'executor.result' AND json_extract(payload, '$.ok') = 0",
    /* Device states as the poller saw them, with the state before and when the next came. */
    "CREATE TEMP VIEW IF NOT EXISTS device_states AS SELECT seq, recorded_ms, namespace AS shoot, "
    "uid AS device_id, json_extract(payload, '$.hostname') AS hostname, "
    "json_extract(payload, '$.state') AS state, "
    "lag(json_extract(payload, '$.state')) OVER w AS previous_state, "
    "lead(recorded_ms) OVER w AS until_ms, "
    "json_extract(payload, '$.plan') AS plan, json_extract(payload, '$.metro') AS metro "
    "FROM main.events WHERE type = 'metal.device' "
    "WINDOW w AS (PARTITION BY namespace, uid ORDER BY seq)",
    /* Process starts, and whether the run before ended with a clean stop. */
    "CREATE TEMP VIEW IF NOT EXISTS restarts AS SELECT s.seq, s.recorded_ms, "
    "json_extract(s.payload, '$.version') AS version, "
    "(SELECT p.type = 'engine.stop' FROM main.events p WHERE p.seq < s.seq AND p.type IN "
    "('engine.start', 'engine.stop') ORDER BY p.seq DESC LIMIT 1) AS clean_stop_before "
    "FROM main.events s WHERE s.type = 'engine.start'",
    /* Observed Kubernetes objects (the object as payload; Secrets as digests). */
    "CREATE TEMP VIEW IF NOT EXISTS objects AS SELECT seq, recorded_ms, type, group_kind, "
    "substr(group_kind, instr(group_kind, '/') + 1) AS kind, namespace, name, uid, "
    "resource_version, payload AS object FROM main.events WHERE type IN ('kube.added', "
    "'kube.modified', 'kube.deleted')",
};

const char *const journal_sql_views[] = {"reconciles",    "actions",        "attempts", "errors",
                                         "device_states", "restarts",       "objects",  "events",
                                         "snapshots",     "snapshot_parts", "meta",     NULL};

/* Pragmas that only report something. */
static const char *const ro_pragmas[] = {
    "table_info",       "table_xinfo",    "index_list",     "index_info",      "index_xinfo",
    "foreign_key_list", "table_list",     "page_count",     "page_size",       "freelist_count",
    "user_version",     "application_id", "schema_version", "compile_options", "function_list",
    "pragma_list",      "database_list",  "collation_list", "encoding",        "data_version",
    "quick_check",      "integrity_check"};

struct authz {
  char why[256];
};

static int deny(struct authz *a, const char *fmt, const char *x) {
  if (!a->why[0])
    snprintf(a->why, sizeof(a->why), fmt, x ? x : "");
  return SQLITE_DENY;
}

static int authorizer(void *ud, int code, const char *a1, const char *a2, const char *db,
                      const char *trigger) {
  (void)db;
  (void)trigger;
  struct authz *a = ud;
  switch (code) {
  case SQLITE_SELECT:
  case SQLITE_READ:
  case SQLITE_FUNCTION:
  case SQLITE_RECURSIVE:
    return SQLITE_OK;
  case SQLITE_PRAGMA: {
    /* Only pragmas that report; the ones among them that also set something
     * (PRAGMA user_version = 3) only without an argument. */
    static const char *const settable[] = {"user_version", "application_id", "schema_version",
                                           "page_size", "encoding"};
    bool ok = false;
    for (size_t i = 0; a1 && i < ARRAY_SIZE(ro_pragmas); i++)
      ok |= !strcasecmp(a1, ro_pragmas[i]);
    for (size_t i = 0; ok && a2 && i < ARRAY_SIZE(settable); i++)
      ok &= strcasecmp(a1, settable[i]) != 0;
    if (ok)
      return SQLITE_OK;
    return deny(a,
                "PRAGMA %s is refused: audit sql only reads (pragmas that report, such as "
                "table_info, are allowed)",
                a1);
  }
  case SQLITE_ATTACH:
    return deny(a, "ATTACH is refused: audit sql reads only this journal%s", "");
  case SQLITE_DETACH:
    return deny(a, "DETACH is refused: audit sql reads only this journal%s", "");
  case SQLITE_INSERT:
    return deny(a, "INSERT into %s is refused: audit sql is read-only", a1);
  case SQLITE_UPDATE:
    return deny(a, "UPDATE of %s is refused: audit sql is read-only", a1);
  case SQLITE_DELETE:
    return deny(a, "DELETE from %s is refused: audit sql is read-only", a1);
  case SQLITE_TRANSACTION:
  case SQLITE_SAVEPOINT:
    return deny(a, "transactions (%s) are refused: audit sql runs one SELECT", a1);
  default:
    return deny(a,
                "this statement is refused: audit sql is read-only and runs one SELECT over "
                "the views%s",
                "");
  }
}

static enum eng_err make_views(struct journal *j, sqlite3 *db, struct eng_error *err) {
  enum eng_err e = journal_exec(j, db, "PRAGMA query_only = 0", "preparing the SQL views", err);
  for (size_t i = 0; !e && i < ARRAY_SIZE(view_sql); i++)
    e = journal_exec(j, db, view_sql[i], "creating the SQL views", err);
  enum eng_err e2 = journal_exec(j, db, "PRAGMA query_only = 1", "preparing the SQL views", err);
  return e ? e : e2;
}

enum eng_err journal_sql_query(struct journal *j, const char *sql, journal_sql_row_fn fn, void *ud,
                               struct eng_error *err) {
  if (!j->read_only)
    return eng_error_set(err, ENG_USAGE, "journal %s: SQL queries need a read-only handle",
                         j->path);
  sqlite3 *db = NULL;
  enum eng_err e = journal_reader_db(j, &db, err);
  if (!e)
    e = make_views(j, db, err);
  if (e)
    return e;
  struct authz a = {{0}};
  sqlite3_set_authorizer(db, authorizer, &a);
  sqlite3_stmt *st = NULL;
  const char *tail = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, &tail);
  if (rc == SQLITE_OK && !st)
    e = eng_error_set(err, ENG_USAGE, "the SQL text holds no statement; give one SELECT");
  else if (rc != SQLITE_OK)
    e = eng_error_set(err, a.why[0] ? ENG_FORBIDDEN : ENG_USAGE, "%s",
                      a.why[0] ? a.why : sqlite3_errmsg(db));
  if (!e) {
    for (const char *p = tail; p && *p; p++)
      if (!strchr(" \t\r\n;", *p)) {
        e = eng_error_set(err, ENG_USAGE,
                          "only one SQL statement is accepted; the text goes on after it: '%.60s'",
                          p);
        break;
      }
  }
  if (!e && !sqlite3_stmt_readonly(st))
    e = eng_error_set(err, ENG_FORBIDDEN, "the statement would write: audit sql is read-only");
  if (!e) {
    int n = sqlite3_column_count(st);
    const char **names = xcalloc((size_t)n + 1, sizeof(*names));
    for (int i = 0; i < n; i++)
      names[i] = sqlite3_column_name(st, i);
    json_t *vals = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      json_array_clear(vals);
      for (int i = 0; i < n; i++) {
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
          json_array_append_new(vals, json_integer(sqlite3_column_int64(st, i)));
          break;
        case SQLITE_FLOAT:
          json_array_append_new(vals, json_real(sqlite3_column_double(st, i)));
          break;
        case SQLITE_TEXT: {
          json_t *s = json_stringn((const char *)sqlite3_column_text(st, i),
                                   (size_t)sqlite3_column_bytes(st, i));
          json_array_append_new(vals, s ? s : json_string("\xef\xbf\xbd"));
          break;
        }
        case SQLITE_BLOB: {
          size_t len = (size_t)sqlite3_column_bytes(st, i);
          char *hex = xmalloc(2 * len + 1);
          hex_encode(sqlite3_column_blob(st, i), len, hex);
          json_array_append_new(vals, json_string(hex));
          free(hex);
          break;
        }
        default:
          json_array_append_new(vals, json_null());
        }
      }
      fn(ud, n, names, vals);
    }
    if (rc != SQLITE_DONE)
      e = eng_error_set(err, ENG_USAGE, "the query failed: %s", sqlite3_errmsg(db));
    json_decref(vals);
    free(names);
  }
  sqlite3_finalize(st);
  sqlite3_set_authorizer(db, NULL, NULL);
  return e;
}
