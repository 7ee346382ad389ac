/*
 * journal_snapshot.c - reducer state at a seq, so replay need not start at seq 1.
 */
#include "engine/base/common.h"
#include "engine/base/clock.h"
#include "engine/base/jcanon.h"
#include "engine/base/log.h"
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

/* A state is stored in parts of about this size (schema 0002_snapshot_parts.sql). */
#define SNAPSHOT_PART_BYTES (256u * 1024)

static enum eng_err delete_parts(struct journal *j, const char *name, int64_t seq,
                                 struct eng_error *err) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(j->db, "DELETE FROM snapshot_parts WHERE name = ?1 AND seq = ?2", -1,
                              &st, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, seq);
    rc = sqlite3_step(st);
  }
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? ENG_OK : journal_sql_error(j, j->db, rc, "storing a snapshot", err);
}

struct part_writer {
  sqlite3_stmt *st;
  int64_t part;
  bool secret; /* a part holds a registered secret: stop and take the careful way */
  int rc;
};

static enum eng_err put_part(void *ud, const char *text, size_t len) {
  struct part_writer *w = ud;
  /* text is NUL-terminated; a registered secret cannot straddle parts (strings are whole). */
  if (log_has_secret(text)) {
    w->secret = true;
    return ENG_INVALID;
  }
  sqlite3_bind_int64(w->st, 3, w->part++);
  sqlite3_bind_text(w->st, 4, text, (int)len, SQLITE_STATIC);
  w->rc = sqlite3_step(w->st);
  sqlite3_reset(w->st);
  return w->rc == SQLITE_DONE ? ENG_OK : ENG_IO;
}

/* The parts of state (redacted) for (name, seq). ENG_OK with *secret set when a part holds a
 * registered secret (nothing is then complete: the caller stores the state another way). */
static enum eng_err write_parts(struct journal *j, const char *name, int64_t seq,
                                const json_t *state, bool *secret, struct eng_error *err) {
  json_t *red = redact_needed(state, REDACT_HINT_NONE)
                    ? redact_shared_keyed(state, REDACT_HINT_NONE, &j->key)
                    : json_incref((json_t *)state);
  struct part_writer w = {.rc = SQLITE_DONE};
  int rc = sqlite3_prepare_v2(
      j->db, "INSERT INTO snapshot_parts (name, seq, part, data) VALUES (?1, ?2, ?3, ?4)", -1,
      &w.st, NULL);
  enum eng_err e = ENG_OK;
  if (rc != SQLITE_OK) {
    e = journal_sql_error(j, j->db, rc, "storing a snapshot", err);
  } else {
    sqlite3_bind_text(w.st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(w.st, 2, seq);
    struct jcanon_sink sink = {SNAPSHOT_PART_BYTES, put_part, &w};
    e = jcanon_stream(red, &sink);
    if (e && !w.secret)
      e = w.rc != SQLITE_DONE
              ? journal_sql_error(j, j->db, w.rc, "storing a snapshot", err)
              : eng_error_set(err, ENG_INVALID, "journal %s: snapshot '%s' cannot be encoded",
                              j->path, name);
  }
  sqlite3_finalize(w.st);
  json_decref(red);
  *secret = w.secret;
  return w.secret ? ENG_OK : e;
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
  /* The row and its parts in one savepoint: a reader sees all of the snapshot or none. */
  e = journal_exec(j, j->db, "SAVEPOINT snapshot_put", "storing a snapshot", err);
  if (e)
    return e;
  e = delete_parts(j, name, seq, err);
  bool secret = false;
  if (!e)
    e = write_parts(j, name, seq, state, &secret, err);
  char *text = NULL;
  if (!e && secret) {
    /* A credential survived redaction (free text): the whole state is scrubbed and stored in
     * one piece, as journal_clean_json() does for events. Rare; never the big states. */
    e = delete_parts(j, name, seq, err);
    text = e ? NULL : journal_clean_json(state, REDACT_HINT_NONE, &j->key);
    if (!e && !text)
      e = eng_error_set(err, ENG_INVALID, "journal %s: snapshot '%s' cannot be encoded", j->path,
                        name);
  }
  sqlite3_stmt *st = NULL;
  if (!e) {
    int rc = sqlite3_prepare_v2(j->db,
                                "INSERT OR REPLACE INTO snapshots (name, seq, recorded_ms, "
                                "event_hash, state) VALUES (?1, ?2, ?3, ?4, ?5)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
      sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
      sqlite3_bind_int64(st, 2, seq);
      sqlite3_bind_int64(st, 3, clock_now_ms());
      sqlite3_bind_blob(st, 4, h, SHA256_LEN, SQLITE_STATIC);
      sqlite3_bind_text(st, 5, text ? text : "", -1, SQLITE_STATIC);
      rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
      e = journal_sql_error(j, j->db, rc, "storing a snapshot", err);
  }
  free(text);
  if (e) {
    struct eng_error ignored;
    (void)journal_exec(j, j->db, "ROLLBACK TO snapshot_put", "storing a snapshot", &ignored);
    (void)journal_exec(j, j->db, "RELEASE snapshot_put", "storing a snapshot", &ignored);
    return e;
  }
  return journal_exec(j, j->db, "RELEASE snapshot_put", "storing a snapshot", err);
}

/* The state text of snapshot (name, seq) whose row holds none: its parts, in order. */
static enum eng_err read_parts(struct journal *j, sqlite3 *db, const char *name, int64_t seq,
                               struct buf *out, struct eng_error *err) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(
      db, "SELECT data FROM snapshot_parts WHERE name = ?1 AND seq = ?2 ORDER BY part", -1, &st,
      NULL);
  size_t parts = 0;
  enum eng_err e = ENG_OK;
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, seq);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && !e) {
      e = buf_append(out, (const char *)sqlite3_column_text(st, 0),
                     (size_t)sqlite3_column_bytes(st, 0));
      parts++;
    }
  }
  sqlite3_finalize(st);
  if (e)
    return eng_error_set(err, e, "journal %s: snapshot '%s' at seq %" PRId64 " is too large",
                         j->path, name, seq);
  if (rc != SQLITE_DONE)
    return journal_sql_error(j, db, rc, "reading a snapshot", err);
  if (parts == 0)
    return eng_error_set(err, ENG_CORRUPT,
                         "journal %s: snapshot '%s' at seq %" PRId64
                         " has neither a state nor parts of one",
                         j->path, name, seq);
  return ENG_OK;
}

/* The newest snapshot of name at or below max_seq, read on db (inside one read transaction). */
static enum eng_err latest_on(struct journal *j, sqlite3 *db, const char *name, int64_t max_seq,
                              int64_t *seq, json_t **state, struct eng_error *err) {
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
  json_t *v = NULL;
  if (sqlite3_column_bytes(st, 1) > 0 || j->schema_version < 2) {
    /* Written in one piece (schema 1, or a state that needed scrubbing). */
    v = jsonx_parse((const char *)sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1),
                    what, &perr);
    sqlite3_finalize(st);
  } else {
    sqlite3_finalize(st);
    struct buf text;
    buf_init(&text, BUF_MAX_DERIVED);
    enum eng_err e = read_parts(j, db, name, s, &text, err);
    if (e) {
      buf_release(&text);
      return e;
    }
    v = jsonx_parse(text.data, text.len, what, &perr);
    buf_release(&text);
  }
  if (!v)
    return eng_error_set(err, ENG_CORRUPT, "journal %s: %s", j->path, perr.msg);
  *seq = s;
  *state = v;
  return ENG_OK;
}

enum eng_err journal_snapshot_latest(struct journal *j, const char *name, int64_t max_seq,
                                     int64_t *seq, json_t **state, struct eng_error *err) {
  sqlite3 *db = NULL;
  enum eng_err e = journal_reader_db(j, &db, err);
  if (e)
    return e;
  /* The row and its parts from one moment: retention may delete both meanwhile. */
  bool own = sqlite3_get_autocommit(db) != 0;
  if (own && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
    own = false;
  e = latest_on(j, db, name, max_seq, seq, state, err);
  if (own)
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  return e;
}

enum eng_err journal_snapshot_drop(struct journal *j, const char *name, struct eng_error *err) {
  if (j->read_only)
    return eng_error_set(err, ENG_READONLY, "journal %s was opened read-only", j->path);
  static const char *const sql[] = {"DELETE FROM snapshots WHERE name = ?1",
                                    "DELETE FROM snapshot_parts WHERE name = ?1"};
  for (size_t i = 0; i < ARRAY_SIZE(sql); i++) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(j->db, sql[i], -1, &st, NULL);
    if (rc == SQLITE_OK) {
      sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
      rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
      return journal_sql_error(j, j->db, rc, "dropping snapshots", err);
  }
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
