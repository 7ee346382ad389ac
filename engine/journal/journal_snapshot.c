/*
 * journal_snapshot.c - reducer state at a seq, so replay need not start at seq 1.
 */
#include "engine/base/common.h"
#include "engine/base/clock.h"
#include "engine/journal/journal_int.h"
#include "engine/base/jsonx.h"
#include "engine/base/redact.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The chain hash of event seq on db: the event's own hash, or the anchor's when
 * retention removed it, or zeros for seq 0. ENG_NOTFOUND when neither. */
static enum eng_err hash_at(struct journal *j, sqlite3 *db, int64_t seq, uint8_t out[SHA256_LEN],
                            struct eng_error *err) {
  if (seq == 0) {
    memset(out, 0, SHA256_LEN);
    return ENG_OK;
  }
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "SELECT hash FROM events WHERE seq = ?1", -1, &st, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(st, 1, seq);
    rc = sqlite3_step(st);
  }
  if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == SHA256_LEN) {
    memcpy(out, sqlite3_column_blob(st, 0), SHA256_LEN);
    sqlite3_finalize(st);
    return ENG_OK;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return journal_sql_error(j, db, rc, "reading an event hash", err);
  int64_t anchor = 0;
  enum eng_err e = journal_meta_get_int(j, db, "anchor_seq", &anchor, err);
  if (e)
    return e;
  if (anchor == seq) {
    char *hex = NULL;
    e = journal_meta_get(j, db, "anchor_hash", &hex, err);
    bool ok = !e && journal_hash_parse(hex, out);
    free(hex);
    if (e)
      return e;
    if (ok)
      return ENG_OK;
  }
  return eng_error_set(err, ENG_NOTFOUND, "journal %s has no event %" PRId64, j->path, seq);
}

enum eng_err journal_snapshot_put(struct journal *j, const char *name, int64_t seq,
                                  const json_t *state, struct eng_error *err) {
  if (j->read_only)
    return eng_error_set(err, ENG_READONLY,
                         "journal %s was opened read-only; cannot store a "
                         "snapshot",
                         j->path);
  if (!name || !*name || !state)
    return eng_error_set(err, ENG_INVALID, "journal %s: a snapshot needs a name and a state",
                         j->path);
  if (seq < 0 || seq > j->durable_seq)
    return eng_error_set(err, ENG_INVALID,
                         "journal %s: snapshot '%s' at seq %" PRId64
                         " refers to an event that is not durable yet (durable up to %" PRId64
                         "); commit first",
                         j->path, name, seq, j->durable_seq);
  uint8_t h[SHA256_LEN];
  enum eng_err e = hash_at(j, j->db, seq, h, err);
  if (e)
    return e == ENG_NOTFOUND ? eng_error_set(err, ENG_INVALID,
                                             "journal %s: snapshot '%s' at seq %" PRId64
                                             " refers to an event removed by retention",
                                             j->path, name, seq)
                             : e;
  char *text = journal_clean_json(state, REDACT_HINT_NONE, &j->key);
  if (!text)
    return eng_error_set(err, ENG_INVALID, "journal %s: snapshot '%s' cannot be encoded", j->path,
                         name);
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(j->db,
                              "INSERT OR REPLACE INTO snapshots (name, seq, recorded_ms, "
                              "event_hash, state) VALUES (?1, ?2, ?3, ?4, ?5)",
                              -1, &st, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_bind_int64(st, 3, clock_now_ms());
    sqlite3_bind_blob(st, 4, h, SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, text, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
  }
  sqlite3_finalize(st);
  free(text);
  if (rc != SQLITE_DONE)
    return journal_sql_error(j, j->db, rc, "storing a snapshot", err);
  return ENG_OK;
}

enum eng_err journal_snapshot_latest(struct journal *j, const char *name, int64_t max_seq,
                                     int64_t *seq, json_t **state, struct eng_error *err) {
  sqlite3 *db = NULL;
  enum eng_err e = journal_reader_db(j, &db, err);
  if (e)
    return e;
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT seq, state FROM snapshots WHERE name = ?1 AND seq <= ?2 "
                              "ORDER BY seq DESC LIMIT 1",
                              -1, &st, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, max_seq > 0 ? max_seq : INT64_MAX);
    rc = sqlite3_step(st);
  }
  if (rc == SQLITE_DONE) {
    sqlite3_finalize(st);
    return eng_error_set(err, ENG_NOTFOUND, "journal %s has no snapshot '%s'", j->path, name);
  }
  if (rc != SQLITE_ROW) {
    sqlite3_finalize(st);
    return journal_sql_error(j, db, rc, "reading a snapshot", err);
  }
  int64_t s = sqlite3_column_int64(st, 0);
  char what[160];
  snprintf(what, sizeof(what), "snapshot '%.100s' at seq %" PRId64, name, s);
  struct eng_error perr;
  eng_error_clear(&perr);
  json_t *v = jsonx_parse((const char *)sqlite3_column_text(st, 1),
                          (size_t)sqlite3_column_bytes(st, 1), what, &perr);
  sqlite3_finalize(st);
  if (!v)
    return eng_error_set(err, ENG_CORRUPT, "journal %s: %s", j->path, perr.msg);
  *seq = s;
  *state = v;
  return ENG_OK;
}

enum eng_err journal_snapshot_drop(struct journal *j, const char *name, struct eng_error *err) {
  if (j->read_only)
    return eng_error_set(err, ENG_READONLY, "journal %s was opened read-only", j->path);
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(j->db, "DELETE FROM snapshots WHERE name = ?1", -1, &st, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return journal_sql_error(j, j->db, rc, "dropping snapshots", err);
  return ENG_OK;
}

enum eng_err journal_oldest_seq(struct journal *j, int64_t *seq, struct eng_error *err) {
  sqlite3 *db = NULL;
  enum eng_err e = journal_reader_db(j, &db, err);
  if (e)
    return e;
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "SELECT min(seq) FROM events", -1, &st, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    sqlite3_finalize(st);
    return journal_sql_error(j, db, rc, "reading the oldest event", err);
  }
  bool empty = sqlite3_column_type(st, 0) == SQLITE_NULL;
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  if (empty) {
    int64_t anchor = 0;
    e = journal_meta_get_int(j, db, "anchor_seq", &anchor, err);
    if (e)
      return e;
    v = anchor + 1;
  }
  *seq = v;
  return ENG_OK;
}
