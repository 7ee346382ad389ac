/*
 * journal_iter.c - reading events by seq range, object, type, source or
 * correlation id, through a read-only connection.
 */
#include "engine/base/common.h"
#include "engine/base/buf.h"
#include "engine/journal/journal_int.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COLUMNS                                                                                    \
  "seq, recorded_ms, source, type, group_kind, namespace, name, uid, resource_version, "           \
  "correlation_id, payload, hash"

struct journal_iter {
  struct journal *j;
  sqlite3 *db;
  sqlite3_stmt *st;
  bool raw, in_txn;
  char *type_hi; /* upper bound of the type prefix range */
  struct journal_row row;
};

/* Smallest string greater than every string starting with prefix; NULL if none. */
static char *prefix_upper(const char *prefix) {
  size_t n = strlen(prefix);
  char *s = xstrdup(prefix);
  while (n > 0 && (unsigned char)s[n - 1] == 0xff)
    n--;
  if (n == 0) {
    free(s);
    return NULL;
  }
  s[n - 1] = (char)((unsigned char)s[n - 1] + 1);
  s[n] = '\0';
  return s;
}

enum eng_err journal_iter_open(struct journal *j, const struct journal_filter *f,
                               struct journal_iter **out, struct eng_error *err) {
  static const struct journal_filter none = {0};
  if (!f)
    f = &none;
  *out = NULL;
  sqlite3 *db = NULL;
  enum eng_err e = journal_reader_db(j, &db, err);
  if (e)
    return e;
  struct journal_iter *it = xcalloc(1, sizeof(*it));
  it->j = j;
  it->db = db;
  it->raw = f->raw;
  /* One read transaction for the iterator's life: a consistent snapshot that a
   * concurrent commit or retention cannot change under it. Only when no other
   * transaction is open on this connection (several iterators may overlap). */
  if (sqlite3_get_autocommit(db)) {
    int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
      free(it);
      return journal_sql_error(j, db, rc, "starting to read", err);
    }
    it->in_txn = true;
  }
  struct buf q;
  buf_init(&q, BUF_MAX_SMALL);
  enum eng_err be = buf_appends(&q, "SELECT " COLUMNS " FROM events WHERE 1");
  if (f->from_seq > 0)
    be |= buf_appends(&q, " AND seq >= ?1");
  if (f->to_seq > 0)
    be |= buf_appends(&q, " AND seq <= ?2");
  if (f->group_kind)
    be |= buf_appends(&q, " AND group_kind = ?3");
  if (f->kind)
    be |= buf_appends(&q,
                      " AND (group_kind = ?4 OR substr(group_kind, -length(?4) - 1) = '/' || ?4)");
  if (f->ns)
    be |= buf_appends(&q, " AND namespace = ?5");
  if (f->name)
    be |= buf_appends(&q, " AND name = ?6");
  if (f->uid)
    be |= buf_appends(&q, " AND uid = ?7");
  if (f->type)
    be |= buf_appends(&q, " AND type = ?8");
  if (f->type_prefix) {
    be |= buf_appends(&q, " AND type >= ?9");
    it->type_hi = prefix_upper(f->type_prefix);
    if (it->type_hi)
      be |= buf_appends(&q, " AND type < ?10");
  }
  if (f->source)
    be |= buf_appends(&q, " AND source = ?11");
  if (f->correlation_id)
    be |= buf_appends(&q, " AND correlation_id = ?12");
  be |= buf_appends(&q, " ORDER BY seq");
  if (be) {
    buf_release(&q);
    journal_iter_free(it);
    return eng_error_set(err, ENG_INTERNAL, "journal %s: query too long", j->path);
  }
  int rc = sqlite3_prepare_v2(db, q.data, -1, &it->st, NULL);
  buf_release(&q);
  if (rc != SQLITE_OK) {
    e = journal_sql_error(j, db, rc, "preparing a query", err);
    journal_iter_free(it);
    return e;
  }
  sqlite3_stmt *st = it->st;
  if (f->from_seq > 0)
    sqlite3_bind_int64(st, 1, f->from_seq);
  if (f->to_seq > 0)
    sqlite3_bind_int64(st, 2, f->to_seq);
  const struct {
    int idx;
    const char *v;
  } texts[] = {{3, f->group_kind}, {4, f->kind},           {5, f->ns},          {6, f->name},
               {7, f->uid},        {8, f->type},           {9, f->type_prefix}, {10, it->type_hi},
               {11, f->source},    {12, f->correlation_id}};
  for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
    if (texts[i].v)
      sqlite3_bind_text(st, texts[i].idx, texts[i].v, -1, SQLITE_STATIC);
  *out = it;
  return ENG_OK;
}

static const char *col_text(sqlite3_stmt *st, int i) {
  const char *s = (const char *)sqlite3_column_text(st, i);
  return s ? s : "";
}

int journal_iter_next(struct journal_iter *it, const struct journal_row **row,
                      struct eng_error *err) {
  json_decref(it->row.payload);
  it->row.payload = NULL;
  int rc = sqlite3_step(it->st);
  if (rc == SQLITE_DONE)
    return 0;
  if (rc != SQLITE_ROW) {
    char doing[96];
    snprintf(doing, sizeof(doing), "reading the event after seq %" PRId64, it->row.seq);
    journal_sql_error(it->j, it->db, rc, doing, err);
    return -1;
  }
  sqlite3_stmt *st = it->st;
  struct journal_row *r = &it->row;
  r->seq = sqlite3_column_int64(st, 0);
  r->recorded_ms = sqlite3_column_int64(st, 1);
  r->source = col_text(st, 2);
  r->type = col_text(st, 3);
  r->group_kind = col_text(st, 4);
  r->ns = col_text(st, 5);
  r->name = col_text(st, 6);
  r->uid = col_text(st, 7);
  r->resource_version = col_text(st, 8);
  r->correlation_id = col_text(st, 9);
  r->payload_text = col_text(st, 10);
  r->payload_len = (size_t)sqlite3_column_bytes(st, 10);
  memset(r->hash, 0, SHA256_LEN);
  if (sqlite3_column_bytes(st, 11) == SHA256_LEN)
    memcpy(r->hash, sqlite3_column_blob(st, 11), SHA256_LEN);
  if (!it->raw) {
    char what[96];
    snprintf(what, sizeof(what), "the payload of event %" PRId64, r->seq);
    struct eng_error perr;
    eng_error_clear(&perr);
    r->payload = jsonx_parse(r->payload_text, r->payload_len, what, &perr);
    if (!r->payload) {
      eng_error_set(err, ENG_CORRUPT, "journal %s: %s; run 'journal verify %s'", it->j->path,
                    perr.msg, it->j->path);
      return -1;
    }
  }
  *row = r;
  return 1;
}

void journal_iter_free(struct journal_iter *it) {
  if (!it)
    return;
  json_decref(it->row.payload);
  sqlite3_finalize(it->st);
  if (it->in_txn)
    sqlite3_exec(it->db, "COMMIT", NULL, NULL, NULL);
  free(it->type_hi);
  free(it);
}
