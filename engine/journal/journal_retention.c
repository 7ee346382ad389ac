/*
 * journal_retention.c - forget old events by age and size, never past what a
 * snapshot can replace, and give the space back.
 */
#include "engine/base/common.h"
#include "engine/journal/journal_int.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETAIN_CHUNK 10000 /* events deleted per transaction */

static enum eng_err one_int(struct journal *j, const char *sql, int64_t bind, bool use_bind,
                            int64_t *out, bool *is_null, struct eng_error *err) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(j->db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK && use_bind)
    sqlite3_bind_int64(st, 1, bind);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    if (is_null)
      *is_null = sqlite3_column_type(st, 0) == SQLITE_NULL;
    *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return ENG_OK;
  }
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE) {
    if (is_null)
      *is_null = true;
    *out = 0;
    return ENG_OK;
  }
  return journal_sql_error(j, j->db, rc, "applying retention", err);
}

/* Newest seq recorded before cutoff, by binary search over seq (recorded_ms
 * never decreases along seq), so no index on time is needed. 0 if none. */
static enum eng_err seq_before(struct journal *j, int64_t lo, int64_t hi, int64_t cutoff,
                               int64_t *out, struct eng_error *err) {
  int64_t best = 0;
  while (lo <= hi) {
    int64_t mid = lo + (hi - lo) / 2, ms = 0, at = 0;
    bool none = false;
    /* The first existing seq at or after mid (tolerates gaps). */
    enum eng_err e = one_int(j, "SELECT seq FROM events WHERE seq >= ?1 ORDER BY seq LIMIT 1", mid,
                             true, &at, &none, err);
    if (!e && !none)
      e = one_int(j, "SELECT recorded_ms FROM events WHERE seq = ?1", at, true, &ms, NULL, err);
    if (e)
      return e;
    if (none || at > hi) {
      hi = mid - 1;
    } else if (ms < cutoff) {
      best = at;
      lo = at + 1;
    } else {
      hi = mid - 1;
    }
  }
  *out = best;
  return ENG_OK;
}

/* Used bytes of the database (pages in use times page size). */
static enum eng_err used_bytes(struct journal *j, int64_t *out, struct eng_error *err) {
  int64_t pages = 0, free_pages = 0, psize = 0;
  enum eng_err e = one_int(j, "PRAGMA page_count", 0, false, &pages, NULL, err);
  if (!e)
    e = one_int(j, "PRAGMA freelist_count", 0, false, &free_pages, NULL, err);
  if (!e)
    e = one_int(j, "PRAGMA page_size", 0, false, &psize, NULL, err);
  *out = (pages - free_pages) * psize;
  return e;
}

/*
 * Where to cut. A cut is always the seq of a snapshot (so replay restarts from
 * state exactly at the oldest kept event) and never above any snapshot name's
 * newest snapshot (so every reducer can still replay). Within that:
 *  - age: the newest such snapshot at or below want_age (keep everything newer);
 *  - size: the oldest such snapshot at or above want_size (get under the cap),
 *    or as far as allowed when no snapshot is new enough.
 * want_* of 0 means "no wish". *held: the policy wanted more than allowed.
 */
static enum eng_err choose_cut(struct journal *j, int64_t anchor, int64_t want_age,
                               int64_t want_size, int64_t *cut, bool *held, struct eng_error *err) {
  int64_t safe = 0, age_cut = 0, size_cut = 0;
  bool none = false;
  *cut = anchor;
  *held = false;
  enum eng_err e =
      one_int(j, "SELECT min(m) FROM (SELECT max(seq) AS m FROM snapshots GROUP BY name)", 0, false,
              &safe, &none, err);
  if (e)
    return e;
  if (none || safe <= anchor) {
    *held = want_age > anchor || want_size > anchor;
    return ENG_OK;
  }
  if (want_age > anchor) {
    int64_t lim = want_age < safe ? want_age : safe;
    e = one_int(j, "SELECT max(seq) FROM snapshots WHERE seq <= ?1", lim, true, &age_cut, &none,
                err);
    if (e)
      return e;
    if (none)
      age_cut = anchor;
    *held |= age_cut < want_age;
  }
  if (want_size > anchor) {
    e = one_int(j, "SELECT min(seq) FROM snapshots WHERE seq >= ?1", want_size, true, &size_cut,
                &none, err);
    if (e)
      return e;
    if (none || size_cut > safe) {
      size_cut = safe;
      *held = true;
    }
  }
  *cut = anchor;
  if (age_cut > *cut)
    *cut = age_cut;
  if (size_cut > *cut)
    *cut = size_cut;
  return ENG_OK;
}

/* Delete events anchor+1..upto and move the anchor, in one transaction. */
/* Run the DELETE sql with ?1 = seq; *changes (may be NULL) += the rows it removed. */
static enum eng_err delete_seq(struct journal *j, const char *sql, int64_t seq, const char *doing,
                               int64_t *changes, struct eng_error *err) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(j->db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(st, 1, seq);
    rc = sqlite3_step(st);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return journal_sql_error(j, j->db, rc, doing, err);
  if (changes)
    *changes += sqlite3_changes(j->db);
  return ENG_OK;
}

static enum eng_err delete_chunk(struct journal *j, int64_t upto, int64_t *deleted,
                                 struct eng_error *err) {
  enum eng_err e = journal_exec(j, j->db, "BEGIN IMMEDIATE", "applying retention", err);
  if (e)
    return e;
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(j->db,
                              "SELECT seq, hash FROM events WHERE seq <= ?1 ORDER BY seq DESC "
                              "LIMIT 1",
                              -1, &st, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(st, 1, upto);
    rc = sqlite3_step(st);
  }
  if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == SHA256_LEN) {
    char seq[32], hex[2 * SHA256_LEN + 1];
    snprintf(seq, sizeof(seq), "%" PRId64, (int64_t)sqlite3_column_int64(st, 0));
    hex_encode(sqlite3_column_blob(st, 1), SHA256_LEN, hex);
    sqlite3_finalize(st);
    e = journal_meta_set(j, j->db, "anchor_seq", seq, err);
    if (!e)
      e = journal_meta_set(j, j->db, "anchor_hash", hex, err);
  } else {
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
      e = journal_sql_error(j, j->db, rc, "applying retention", err);
  }
  if (!e)
    e = delete_seq(j, "DELETE FROM events WHERE seq <= ?1", upto, "deleting old events", deleted,
                   err);
  if (!e)
    e = journal_exec(j, j->db, "COMMIT", "applying retention", err);
  if (e && !sqlite3_get_autocommit(j->db))
    sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
  return e;
}

enum eng_err journal_retain(struct journal *j, const struct journal_retention *policy,
                            int64_t now_ms, struct journal_retention_result *out,
                            struct eng_error *err) {
  struct journal_retention_result res = {0};
  if (out)
    *out = res;
  if (j->read_only)
    return eng_error_set(err, ENG_READONLY,
                         "journal %s was opened read-only; retention needs "
                         "write access",
                         j->path);
  enum eng_err e = journal_flush(j, err);
  if (e)
    return e;
  int64_t wal = 0;
  journal_file_sizes(j, &res.bytes_before, &wal);
  int64_t anchor = 0, oldest = 0, newest = j->durable_seq;
  bool empty = false;
  e = journal_meta_get_int(j, j->db, "anchor_seq", &anchor, err);
  if (!e)
    e = one_int(j, "SELECT min(seq) FROM events", 0, false, &oldest, &empty, err);
  if (e)
    return e;
  int64_t want_age = 0, want_size = 0;
  if (!empty && policy && policy->max_age_ms > 0) {
    e = seq_before(j, oldest, newest, now_ms - policy->max_age_ms, &want_age, err);
    if (e)
      return e;
  }
  if (!empty && policy && policy->max_bytes > 0) {
    int64_t used = 0;
    e = used_bytes(j, &used, err);
    if (e)
      return e;
    if (used > policy->max_bytes) {
      /* Rows are of similar size: drop the same fraction of the events as the
       * fraction of bytes over the limit (a little more, to land below it). */
      int64_t n = newest - oldest + 1;
      double frac = (double)(used - policy->max_bytes) / (double)used;
      int64_t drop = (int64_t)((double)n * frac) + 1 + n / 100;
      want_size = oldest + drop - 1;
      if (want_size > newest)
        want_size = newest;
    }
  }
  res.wanted_seq = want_age > want_size ? want_age : want_size;
  int64_t cut = anchor;
  e = choose_cut(j, anchor, want_age, want_size, &cut, &res.held_by_snapshot, err);
  if (e)
    return e;
  for (int64_t at = anchor; at < cut;) {
    int64_t upto = at + RETAIN_CHUNK < cut ? at + RETAIN_CHUNK : cut;
    e = delete_chunk(j, upto, &res.deleted_events, err);
    if (e)
      return e;
    at = upto;
  }
  if (cut > anchor) {
    /* A snapshot below the cut would need removed events to replay from. */
    int64_t n = 0;
    e = delete_seq(j, "DELETE FROM snapshots WHERE seq < ?1", cut, "deleting old snapshots", &n,
                   err);
    if (!e)
      e = delete_seq(j, "DELETE FROM snapshot_parts WHERE seq < ?1", cut, "deleting old snapshots",
                     NULL, err);
    if (e)
      return e;
    res.deleted_snapshots = n;
  }
  /* Give freed pages back to the file system; the file shrinks when the WAL
   * is checkpointed (passive: never waits for readers). */
  e = journal_exec(j, j->db, "PRAGMA incremental_vacuum", "reclaiming space", err);
  if (!e)
    sqlite3_wal_checkpoint_v2(j->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
  if (e)
    return e;
  res.anchor_seq = cut;
  e = one_int(j, "SELECT min(seq) FROM events", 0, false, &oldest, &empty, err);
  if (e)
    return e;
  res.oldest_seq = empty ? cut + 1 : oldest;
  journal_file_sizes(j, &res.bytes_after, &wal);
  if (out)
    *out = res;
  return ENG_OK;
}
