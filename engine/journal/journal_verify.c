/*
 * journal_verify.c - recompute the hash chain and check the file; statistics.
 */
#include "engine/base/common.h"
#include "engine/journal/journal_int.h"
#include "engine/base/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGRESS_EVERY 10000

static enum eng_err bad(struct journal_verify_result *res, struct eng_error *err,
                        const struct journal *j, int64_t seq, const char *fmt, ...)
    PRINTF_LIKE(5, 6);

static enum eng_err bad(struct journal_verify_result *res, struct eng_error *err,
                        const struct journal *j, int64_t seq, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(res->problem, sizeof(res->problem), fmt, ap);
  va_end(ap);
  res->first_bad_seq = seq;
  if (seq >= 0)
    return eng_error_set(err, ENG_CORRUPT, "journal %s: hash chain broken at seq %" PRId64 ": %s",
                         j->path, seq, res->problem);
  return eng_error_set(err, ENG_CORRUPT, "journal %s: the database file is damaged: %s", j->path,
                       res->problem);
}

/* Read anchor and head from meta; malformed values are corruption. */
static enum eng_err read_bounds(struct journal *j, sqlite3 *db, int64_t *anchor,
                                uint8_t anchor_hash[SHA256_LEN], int64_t *head,
                                uint8_t head_hash[SHA256_LEN], struct eng_error *err) {
  char *ah = NULL, *hh = NULL;
  enum eng_err e = journal_meta_get_int(j, db, "anchor_seq", anchor, err);
  if (!e)
    e = journal_meta_get_int(j, db, "head_seq", head, err);
  if (!e)
    e = journal_meta_get(j, db, "anchor_hash", &ah, err);
  if (!e)
    e = journal_meta_get(j, db, "head_hash", &hh, err);
  if (!e && (!journal_hash_parse(ah, anchor_hash) || !journal_hash_parse(hh, head_hash)))
    e = eng_error_set(err, ENG_CORRUPT,
                      "journal %s: the chain anchor or head in the meta table is malformed",
                      j->path);
  if (e == ENG_NOTFOUND)
    e = eng_error_set(err, ENG_CORRUPT,
                      "journal %s: the meta table lacks the chain anchor or head: the file was "
                      "altered",
                      j->path);
  free(ah);
  free(hh);
  return e;
}

static enum eng_err walk_chain(struct journal *j, sqlite3 *db, journal_progress_fn progress,
                               void *ud, struct journal_verify_result *res, struct eng_error *err) {
  int64_t anchor = 0, head = 0;
  uint8_t prev[SHA256_LEN], head_hash[SHA256_LEN];
  enum eng_err e = read_bounds(j, db, &anchor, prev, &head, head_hash, err);
  if (e)
    return e;
  res->anchor_seq = anchor;
  int64_t total = head - anchor, expect = anchor + 1;
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT seq, recorded_ms, source, type, group_kind, namespace, name, "
                              "uid, resource_version, correlation_id, payload, hash FROM events "
                              "ORDER BY seq",
                              -1, &st, NULL);
  if (rc != SQLITE_OK)
    return journal_sql_error(j, db, rc, "reading events", err);
  e = ENG_OK;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t seq = sqlite3_column_int64(st, 0);
    if (res->events == 0)
      res->first_seq = seq;
    if (seq != expect) {
      e = bad(res, err, j, seq,
              "events %" PRId64 "..%" PRId64 " before it are missing (removed from the middle "
              "of the journal)",
              expect, seq - 1);
      break;
    }
    const char *strs[JS__COUNT];
    for (int k = 0; k < JS__COUNT; k++) {
      const char *s = (const char *)sqlite3_column_text(st, 2 + k);
      strs[k] = s ? s : "";
    }
    const char *payload = (const char *)sqlite3_column_text(st, 10);
    size_t plen = (size_t)sqlite3_column_bytes(st, 10);
    size_t rlen = 0;
    char *row = journal_row_bytes(seq, sqlite3_column_int64(st, 1), strs, payload ? payload : "",
                                  plen, &rlen);
    uint8_t h[SHA256_LEN];
    if (row)
      journal_chain_hash(prev, row, rlen, h);
    free(row);
    if (!row || sqlite3_column_bytes(st, 11) != SHA256_LEN ||
        memcmp(h, sqlite3_column_blob(st, 11), SHA256_LEN) != 0) {
      e = bad(res, err, j, seq,
              "its stored hash does not match its content and the chain before it: event %" PRId64
              " was altered (or the hash of event %" PRId64 " was)",
              seq, seq - 1);
      break;
    }
    memcpy(prev, h, SHA256_LEN);
    res->events++;
    res->last_seq = seq;
    expect = seq + 1;
    if (progress && res->events % PROGRESS_EVERY == 0)
      progress(ud, res->events, total);
  }
  if (!e && rc != SQLITE_DONE) {
    /* Damage below the rows: name where reading stopped, in the file's terms. */
    bad(res, err, j, expect, "the event cannot be read (%s)", sqlite3_errmsg(db));
    char hint[96] = "";
    if (expect > res->anchor_seq + 1)
      snprintf(hint, sizeof(hint),
               "; export what is readable with 'journal export --to-seq %" PRId64 "'", expect - 1);
    e = eng_error_set(err, ENG_CORRUPT,
                      "journal %s: the database file is damaged: events from seq %" PRId64
                      " on cannot be read (%s). Keep the file for investigation%s",
                      j->path, expect, sqlite3_errmsg(db), hint);
  }
  sqlite3_finalize(st);
  if (e)
    return e;
  int64_t last = expect - 1;
  if (last < head)
    return bad(res, err, j, last + 1,
               "events %" PRId64 "..%" PRId64 " are missing at the end (the head record says the "
               "journal ends at seq %" PRId64 ")",
               last + 1, head, head);
  if (last > head)
    return bad(res, err, j, head + 1,
               "events after seq %" PRId64 " were added outside the controller", head);
  if (memcmp(prev, head_hash, SHA256_LEN) != 0)
    return bad(res, err, j, head,
               "the chain ends in a different hash than the head record: event %" PRId64
               " or the head record was altered",
               head);
  if (progress)
    progress(ud, res->events, total);
  return ENG_OK;
}

/* Every snapshot's event_hash must be the chain hash of its seq. */
static enum eng_err check_snapshots(struct journal *j, sqlite3 *db,
                                    struct journal_verify_result *res, struct eng_error *err) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT s.name, s.seq, s.event_hash, e.hash FROM snapshots s LEFT "
                              "JOIN events e ON e.seq = s.seq ORDER BY s.seq",
                              -1, &st, NULL);
  if (rc != SQLITE_OK)
    return journal_sql_error(j, db, rc, "reading snapshots", err);
  enum eng_err e = ENG_OK;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (sqlite3_column_type(st, 3) == SQLITE_NULL)
      continue; /* at or below the anchor: nothing left to compare with */
    if (sqlite3_column_bytes(st, 2) != SHA256_LEN || sqlite3_column_bytes(st, 3) != SHA256_LEN ||
        memcmp(sqlite3_column_blob(st, 2), sqlite3_column_blob(st, 3), SHA256_LEN) != 0) {
      int64_t seq = sqlite3_column_int64(st, 1);
      e = bad(res, err, j, seq,
              "snapshot '%.100s' was taken at a different event %" PRId64
              " than the one stored now",
              (const char *)sqlite3_column_text(st, 0), seq);
      break;
    }
  }
  if (!e && rc != SQLITE_DONE)
    e = journal_sql_error(j, db, rc, "reading snapshots", err);
  sqlite3_finalize(st);
  return e;
}

static enum eng_err quick_check(struct journal *j, sqlite3 *db, struct journal_verify_result *res,
                                struct eng_error *err) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);
  if (rc != SQLITE_OK)
    return journal_sql_error(j, db, rc, "checking the file", err);
  enum eng_err e = ENG_OK;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const char *msg = (const char *)sqlite3_column_text(st, 0);
    if (!msg || strcmp(msg, "ok") != 0)
      e = bad(res, err, j, -1, "SQLite's quick_check reports: %.300s", msg ? msg : "(nothing)");
  } else {
    e = bad(res, err, j, -1, "SQLite's quick_check failed: %.300s", sqlite3_errmsg(db));
  }
  sqlite3_finalize(st);
  return e;
}

enum eng_err journal_verify(struct journal *j, journal_progress_fn progress, void *ud,
                            struct journal_verify_result *res, struct eng_error *err) {
  memset(res, 0, sizeof(*res));
  res->first_bad_seq = -1;
  sqlite3 *db = NULL;
  enum eng_err e = journal_reader_db(j, &db, err);
  if (e)
    return e;
  /* One read transaction: the chain, the head and the snapshots of one moment. */
  bool own = sqlite3_get_autocommit(db);
  if (own) {
    int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
      return journal_sql_error(j, db, rc, "starting to read", err);
  }
  e = walk_chain(j, db, progress, ud, res, err);
  if (!e)
    e = check_snapshots(j, db, res, err);
  if (!e)
    e = quick_check(j, db, res, err);
  if (own)
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  return e;
}

/* ---- statistics ------------------------------------------------------------------------ */

static enum eng_err group_counts(struct journal *j, sqlite3 *db, const char *sql, json_t *into,
                                 struct eng_error *err) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *k = (const char *)sqlite3_column_text(st, 0);
    json_object_set_new(into, k ? k : "", json_integer(sqlite3_column_int64(st, 1)));
    rc = SQLITE_OK;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return journal_sql_error(j, db, rc, "counting events", err);
  return ENG_OK;
}

json_t *journal_stats(struct journal *j, struct eng_error *err) {
  sqlite3 *db = NULL;
  if (journal_reader_db(j, &db, err))
    return NULL;
  bool own = sqlite3_get_autocommit(db);
  if (own && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
    journal_sql_error(j, db, sqlite3_errcode(db), "starting to read", err);
    return NULL;
  }
  json_t *o = json_object();
  json_object_set_new(o, "path", json_string(j->path));
  json_object_set_new(o, "journal_id", json_string(j->id));
  json_object_set_new(o, "schema_version", json_integer(j->schema_version));
  enum eng_err e = ENG_OK;
  static const char *const meta_keys[] = {"created_ms", "created_by", "anchor_seq", "head_seq",
                                          "head_hash"};
  for (size_t i = 0; i < ARRAY_SIZE(meta_keys) && !e; i++) {
    char *v = NULL;
    e = journal_meta_get(j, db, meta_keys[i], &v, err);
    if (!e) {
      char *end;
      long long n = strtoll(v, &end, 10);
      json_object_set_new(o, meta_keys[i], *v && !*end ? json_integer(n) : json_string(v));
    }
    free(v);
  }
  sqlite3_stmt *st = NULL;
  int rc = e ? SQLITE_OK
             : sqlite3_prepare_v2(db,
                                  "SELECT count(*), min(seq), max(seq), min(recorded_ms), "
                                  "max(recorded_ms) FROM events",
                                  -1, &st, NULL);
  if (!e && rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    static const char *const keys[] = {"events", "first_seq", "last_seq", "first_recorded_ms",
                                       "last_recorded_ms"};
    for (int i = 0; i < 5; i++)
      json_object_set_new(o, keys[i],
                          sqlite3_column_type(st, i) == SQLITE_NULL
                              ? json_null()
                              : json_integer(sqlite3_column_int64(st, i)));
    rc = SQLITE_OK;
  }
  sqlite3_finalize(st);
  if (!e && rc != SQLITE_OK)
    e = journal_sql_error(j, db, rc, "counting events", err);
  json_t *by_source = json_object(), *by_type = json_object();
  json_object_set_new(o, "by_source", by_source);
  json_object_set_new(o, "by_type", by_type);
  if (!e)
    e = group_counts(j, db, "SELECT source, count(*) FROM events GROUP BY source", by_source, err);
  if (!e)
    e = group_counts(j, db, "SELECT type, count(*) FROM events GROUP BY type", by_type, err);
  json_t *snaps = json_object();
  json_object_set_new(o, "snapshots", snaps);
  if (!e) {
    rc = sqlite3_prepare_v2(db,
                            "SELECT name, count(*), min(seq), max(seq) FROM snapshots GROUP BY "
                            "name",
                            -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
      json_t *s = json_object();
      json_object_set_new(s, "count", json_integer(sqlite3_column_int64(st, 1)));
      json_object_set_new(s, "oldest_seq", json_integer(sqlite3_column_int64(st, 2)));
      json_object_set_new(s, "newest_seq", json_integer(sqlite3_column_int64(st, 3)));
      const char *name = (const char *)sqlite3_column_text(st, 0);
      json_object_set_new(snaps, name ? name : "", s);
      rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
      e = journal_sql_error(j, db, rc, "reading snapshots", err);
  }
  static const char *const pragmas[][2] = {{"page_size", "PRAGMA page_size"},
                                           {"page_count", "PRAGMA page_count"},
                                           {"freelist_pages", "PRAGMA freelist_count"}};
  for (size_t i = 0; i < ARRAY_SIZE(pragmas) && !e; i++) {
    rc = sqlite3_prepare_v2(db, pragmas[i][1], -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
      json_object_set_new(o, pragmas[i][0], json_integer(sqlite3_column_int64(st, 0)));
      rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
      e = journal_sql_error(j, db, rc, "reading the page counts", err);
  }
  if (own)
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  if (e) {
    json_decref(o);
    return NULL;
  }
  int64_t dbb = 0, walb = 0;
  journal_file_sizes(j, &dbb, &walb);
  json_object_set_new(o, "db_bytes", json_integer(dbb));
  json_object_set_new(o, "wal_bytes", json_integer(walb < 0 ? 0 : walb));
  return o;
}
