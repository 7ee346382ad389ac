/*
 * journal_test.c - the journal's core contract: create and reopen, seq and
 * durability (group commit), canonical rows and the hash chain, iteration
 * filters, snapshots, readers that do not block the writer, one writer only,
 * and no credential in any byte of the database, its WAL or its shared memory.
 */
#include "engine/base/common.h"
#include "engine/journal/journal.h"
#include "engine/base/b64.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "engine/base/redact.h"
#include "engine/base/sha256.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"
#include "test/unit/journal_fixture.h"

#include <sqlite3.h>
#include <sys/wait.h>

static void test_create_append_commit_reopen(void) {
  char *p = fx_path("basic.db");
  struct eng_error err;
  struct journal *j = fx_open(p, false, &err);
  ASSERT_MSG(j, "open: %s", err.msg);
  ASSERT_EQ(36, strlen(journal_id(j)));
  char id[40];
  snprintf(id, sizeof(id), "%s", journal_id(j));
  ASSERT_EQ(0, journal_durable_seq(j));
  for (int i = 1; i <= 5; i++)
    ASSERT_EQ(i, fx_append(j, i, &err));
  ASSERT_EQ(5, journal_last_seq(j));
  ASSERT_EQ(0, journal_durable_seq(j));
  ASSERT_EQ(5, journal_pending(j));
  ASSERT_OK(journal_commit(&*j, &err));
  ASSERT_EQ(5, journal_durable_seq(j));
  ASSERT_EQ(0, journal_pending(j));
  ASSERT_OK(journal_commit(j, &err)); /* nothing pending: no-op */
  /* Appended but not committed: lost on close, by contract. */
  ASSERT_EQ(6, fx_append(j, 6, &err));
  journal_close(j);
  j = fx_open(p, false, &err);
  ASSERT_MSG(j, "reopen: %s", err.msg);
  ASSERT_STR_EQ(id, journal_id(j));
  ASSERT_EQ(5, journal_durable_seq(j));
  ASSERT_EQ(6, fx_append(j, 6, &err));
  ASSERT_OK(journal_commit(j, &err));
  ASSERT_EQ(6, fx_count(j));
  ASSERT(journal_size_bytes(j) > 4096);
  journal_close(j);
  /* The file really is WAL, incremental auto-vacuum, our application id, version 1. */
  sqlite3 *db;
  ASSERT_OK(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL));
  sqlite3_stmt *st;
  const char *q[] = {"PRAGMA journal_mode", "PRAGMA auto_vacuum", "PRAGMA application_id",
                     "PRAGMA user_version"};
  const char *want[] = {"wal", "2", "1246907980", "2"};
  for (size_t i = 0; i < ARRAY_SIZE(q); i++) {
    ASSERT_OK(sqlite3_prepare_v2(db, q[i], -1, &st, NULL));
    ASSERT_EQ(SQLITE_ROW, sqlite3_step(st));
    char got[32];
    snprintf(got, sizeof(got), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    ASSERT_STR_EQ(want[i], got);
  }
  sqlite3_close(db);
  free(p);
}

static void test_group_commit_batch_max(void) {
  char *p = fx_path("batch.db");
  struct eng_error err;
  struct journal_options opt = {.batch_max = 10, .sync = JOURNAL_SYNC_NORMAL};
  struct journal *j = NULL;
  ASSERT_OK(journal_open(p, &opt, &j, &err));
  for (int i = 1; i <= 25; i++)
    ASSERT_EQ(i, fx_append(j, i, &err));
  /* The 11th and 21st appends committed the ten before them. */
  ASSERT_EQ(20, journal_durable_seq(j));
  ASSERT_EQ(5, journal_pending(j));
  /* A reader sees committed events only. */
  struct journal *r = fx_open(p, true, &err);
  ASSERT_MSG(r, "%s", err.msg);
  ASSERT_EQ(20, fx_count(r));
  /* append_durable: durable on return, including what was pending before it. */
  int64_t seq = journal_append_durable(
      j, &(struct jevent){.source = "executor", .type = "executor.intent"}, &err);
  ASSERT_EQ(26, seq);
  ASSERT_EQ(26, journal_durable_seq(j));
  ASSERT_EQ(26, fx_count(r));
  /* discard_pending rewinds last_seq. */
  ASSERT_EQ(27, fx_append(j, 27, &err));
  journal_discard_pending(j);
  ASSERT_EQ(26, journal_last_seq(j));
  ASSERT_EQ(27, fx_append(j, 27, &err));
  ASSERT_OK(journal_commit(j, &err));
  journal_close(r);
  journal_close(j);
  free(p);
}

static void test_sink(void) {
  char *p = fx_path("sink.db");
  struct eng_error err;
  struct journal *j = fx_open(p, false, &err);
  ASSERT(j);
  struct jevent_sink s = journal_sink(j);
  log_setup(LOG_OFF, LOG_FORMAT_TEXT, 2);
  jevent_emit(&s, &(struct jevent){.source = "clock", .type = "clock.tick"});
  jevent_emit(&s, &(struct jevent){.source = "clock"}); /* no type: refused, counted */
  log_setup(LOG_INFO, LOG_FORMAT_JSON, 2);
  ASSERT_EQ(1, journal_last_seq(j));
  ASSERT_EQ(1, journal_sink_failures(j));
  ASSERT_OK(journal_commit(j, &err));
  ASSERT_EQ(1, journal_durable_seq(j));
  journal_close(j);
  free(p);
}

static void test_bad_events_rejected(void) {
  char *p = fx_path("bad-ev.db");
  struct eng_error err;
  struct journal *j = fx_open(p, false, &err);
  ASSERT(j);
  ASSERT_EQ(-1, journal_append(j, &(struct jevent){.type = "x"}, &err));
  ASSERT_EQ(ENG_INVALID, err.code);
  ASSERT_EQ(-1, journal_append(
                    j, &(struct jevent){.source = "kube", .type = "x", .name = "bad\xff\xfe utf8"},
                    &err));
  ASSERT_EQ(ENG_INVALID, err.code);
  ASSERT_CONTAINS(err.msg, "UTF-8");
  ASSERT_EQ(0, journal_last_seq(j));
  journal_close(j);
  j = fx_open(p, true, &err);
  ASSERT(j);
  ASSERT_EQ(-1, journal_append(j, &(struct jevent){.source = "kube", .type = "x"}, &err));
  ASSERT_EQ(ENG_READONLY, err.code);
  journal_close(j);
  free(p);
}

/* The documented row bytes and chain, recomputed here from scratch. */
static void test_canonical_row_and_chain(void) {
  char *p = fx_path("chain.db");
  struct eng_error err;
  struct journal *j = fx_open(p, false, &err);
  ASSERT(j);
  json_t *payload = json_pack("{s:i,s:s,s:[i,i]}", "zz", 1, "aa", "x\"y", "mm", 1, 2);
  struct jevent ev = {.source = "kube",
                      .type = "kube.added",
                      .group_kind = "/ConfigMap",
                      .ns = "ns",
                      .name = "n",
                      .uid = "u",
                      .resource_version = "7",
                      .correlation_id = "c",
                      .payload = payload};
  ASSERT_EQ(1, journal_append(j, &ev, &err));
  ASSERT_EQ(2, journal_append(j, &ev, &err));
  json_decref(payload);
  ASSERT_OK(journal_commit(j, &err));
  struct journal_iter *it;
  ASSERT_OK(journal_iter_open(j, NULL, &it, &err));
  const struct journal_row *r;
  uint8_t prev[SHA256_LEN] = {0};
  for (int k = 1; k <= 2; k++) {
    ASSERT_EQ(1, journal_iter_next(it, &r, &err));
    ASSERT_EQ(k, r->seq);
    ASSERT_STR_EQ("{\"aa\":\"x\\\"y\",\"mm\":[1,2],\"zz\":1}", r->payload_text);
    char expect_row[512];
    snprintf(expect_row, sizeof(expect_row),
             "[%d,%" PRId64 ",\"kube\",\"kube.added\",\"/ConfigMap\",\"ns\",\"n\",\"u\",\"7\","
             "\"c\",{\"aa\":\"x\\\"y\",\"mm\":[1,2],\"zz\":1}]",
             k, r->recorded_ms);
    uint8_t buf[SHA256_LEN + 512], h[SHA256_LEN];
    memcpy(buf, prev, SHA256_LEN);
    memcpy(buf + SHA256_LEN, expect_row, strlen(expect_row));
    sha256(buf, SHA256_LEN + strlen(expect_row), h);
    ASSERT(memcmp(h, r->hash, SHA256_LEN) == 0);
    memcpy(prev, h, SHA256_LEN);
    ASSERT_EQ(7, jsonx_int(r->payload, "zz", 0) + 6);
  }
  ASSERT_EQ(0, journal_iter_next(it, &r, &err));
  journal_iter_free(it);
  struct journal_verify_result vr;
  ASSERT_OK(journal_verify(j, NULL, NULL, &vr, &err));
  ASSERT_EQ(2, vr.events);
  ASSERT_EQ(-1, vr.first_bad_seq);
  journal_close(j);
  free(p);
}

static int64_t count_filter(struct journal *j, const struct journal_filter *f, int64_t *first) {
  struct journal_iter *it = NULL;
  struct eng_error err;
  if (journal_iter_open(j, f, &it, &err) != ENG_OK)
    return -1;
  int64_t n = 0, prev = 0;
  const struct journal_row *r;
  int rc;
  *first = 0;
  while ((rc = journal_iter_next(it, &r, &err)) == 1) {
    if (r->seq <= prev) { /* order must be by seq */
      n = -2;
      break;
    }
    if (!*first)
      *first = r->seq;
    prev = r->seq;
    n++;
  }
  journal_iter_free(it);
  return rc < 0 ? -1 : n;
}

static void test_iteration_filters(void) {
  char *p = fx_path("iter.db");
  struct eng_error err;
  struct journal *j = fx_open(p, false, &err);
  ASSERT(j);
  for (int i = 1; i <= 30; i++)
    ASSERT_EQ(i, fx_append(j, i, &err));
  ASSERT_OK(journal_commit(j, &err));
  struct journal *r = fx_open(p, true, &err);
  ASSERT(r);
  int64_t first = 0;
  ASSERT_EQ(11, count_filter(r, &(struct journal_filter){.from_seq = 10, .to_seq = 20}, &first));
  ASSERT_EQ(10, first);
  ASSERT_EQ(15, count_filter(r, &(struct journal_filter){.type = "kube.modified"}, &first));
  ASSERT_EQ(1, first);
  ASSERT_EQ(30, count_filter(r, &(struct journal_filter){.type_prefix = ""}, &first));
  ASSERT_EQ(15, count_filter(r, &(struct journal_filter){.type_prefix = "metal."}, &first));
  ASSERT_EQ(2, first);
  ASSERT_EQ(15, count_filter(r, &(struct journal_filter){.source = "kube"}, &first));
  ASSERT_EQ(10, count_filter(r, &(struct journal_filter){.uid = "uid-1"}, &first));
  ASSERT_EQ(1, first);
  /* obj-1 is i = 1, 4, 7, ...; Infrastructure are the odd i: 1, 7, 13, 19, 25. */
  ASSERT_EQ(5, count_filter(r,
                            &(struct journal_filter){.group_kind =
                                                         "extensions.gardener.cloud/Infrastructure",
                                                     .ns = "shoot--a--b",
                                                     .name = "obj-1"},
                            &first));
  ASSERT_EQ(5, count_filter(r, &(struct journal_filter){.kind = "Infrastructure", .name = "obj-1"},
                            &first));
  ASSERT_EQ(0, count_filter(r, &(struct journal_filter){.kind = "structure"}, &first));
  ASSERT_EQ(4, count_filter(r, &(struct journal_filter){.correlation_id = "rec-1"}, &first));
  ASSERT_EQ(0, count_filter(r, &(struct journal_filter){.from_seq = 31}, &first));
  journal_close(r);
  /* Iteration through a writable handle uses its own reader connection. */
  ASSERT_EQ(30, fx_count(j));
  journal_close(j);
  free(p);
}

static void test_snapshots(void) {
  char *p = fx_path("snap.db");
  struct eng_error err;
  struct journal *j = fx_open(p, false, &err);
  ASSERT(j);
  for (int i = 1; i <= 10; i++)
    fx_append(j, i, &err);
  json_t *st = json_pack("{s:i,s:s}", "devices", 3, "password", "hunter22");
  /* Not durable yet: refused. */
  ASSERT_EQ(ENG_INVALID, journal_snapshot_put(j, "infra", 5, st, &err));
  ASSERT_CONTAINS(err.msg, "not durable");
  ASSERT_OK(journal_commit(j, &err));
  ASSERT_OK(journal_snapshot_put(j, "infra", 5, st, &err));
  json_object_set_new(st, "devices", json_integer(4));
  ASSERT_OK(journal_snapshot_put(j, "infra", 8, st, &err));
  json_decref(st);
  int64_t seq = 0;
  json_t *got = NULL;
  ASSERT_OK(journal_snapshot_latest(j, "infra", 0, &seq, &got, &err));
  ASSERT_EQ(8, seq);
  ASSERT_EQ(4, jsonx_int(got, "devices", 0));
  ASSERT_STR_EQ(REDACTED, jsonx_str(got, "password")); /* states are redacted too */
  json_decref(got);
  ASSERT_OK(journal_snapshot_latest(j, "infra", 7, &seq, &got, &err));
  ASSERT_EQ(5, seq);
  json_decref(got);
  ASSERT_EQ(ENG_NOTFOUND, journal_snapshot_latest(j, "infra", 4, &seq, &got, &err));
  ASSERT_EQ(ENG_NOTFOUND, journal_snapshot_latest(j, "worker", 0, &seq, &got, &err));
  /* Readable read-only; verify checks the snapshot binds to its event. */
  struct journal *r = fx_open(p, true, &err);
  ASSERT(r);
  ASSERT_OK(journal_snapshot_latest(r, "infra", 0, &seq, &got, &err));
  json_decref(got);
  struct journal_verify_result vr;
  ASSERT_OK(journal_verify(r, NULL, NULL, &vr, &err));
  journal_close(r);
  ASSERT_OK(journal_snapshot_drop(j, "infra", &err));
  ASSERT_EQ(ENG_NOTFOUND, journal_snapshot_latest(j, "infra", 0, &seq, &got, &err));
  journal_close(j);
  free(p);
}

static int64_t count_sql(const char *path, const char *sql) {
  sqlite3 *db;
  sqlite3_stmt *st;
  int64_t n = -1;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return n;
}

/* A large state is stored in parts of about 256 KB and read back whole; one holding a
 * registered secret in free text is scrubbed and stored in one piece; a snapshot written by
 * schema 1 (state in the row, no parts) still reads, also read-only; dropping removes parts. */
static void test_snapshot_parts(void) {
  char *p = fx_path("parts.db");
  struct eng_error err;
  struct journal *j = fx_open_filled(p, 10, &err);
  ASSERT_MSG(j, "%s", err.msg);
  json_t *big = json_object();
  char key[32], val[200];
  memset(val, 'v', sizeof(val) - 1);
  val[sizeof(val) - 1] = '\0';
  for (int i = 0; i < 8000; i++) {
    snprintf(key, sizeof(key), "shoot--p--%05d", i);
    json_object_set_new(
        big, key, json_pack("{s:s,s:i,s:[s,s]}", "note", val, "n", i, "tags", "a", "b\"quoted\""));
  }
  json_t *st = json_pack("{s:o}", "objects", big);
  ASSERT_OK(journal_snapshot_put(j, "big", 5, st, &err));
  int64_t parts = count_sql(p, "SELECT count(*) FROM snapshot_parts WHERE name = 'big'");
  ASSERT_MSG(parts >= 6, "%lld parts for about 1.8 MB", (long long)parts);
  ASSERT_EQ(0, count_sql(p, "SELECT length(state) FROM snapshots WHERE name = 'big'"));
  int64_t seq = 0;
  json_t *got = NULL;
  ASSERT_OK(journal_snapshot_latest(j, "big", 0, &seq, &got, &err));
  ASSERT(json_equal(got, st));
  json_decref(got);
  /* Written again at the same seq: the parts are replaced, not added to. */
  ASSERT_OK(journal_snapshot_put(j, "big", 5, st, &err));
  ASSERT_EQ(parts, count_sql(p, "SELECT count(*) FROM snapshot_parts WHERE name = 'big'"));
  json_decref(st);

  log_register_secret("tok-very-secret-9f8e7d");
  st = json_pack("{s:s,s:i}", "note", "the token is tok-very-secret-9f8e7d, oops", "n", 1);
  ASSERT_OK(journal_snapshot_put(j, "leaky", 6, st, &err));
  json_decref(st);
  log_forget_secret("tok-very-secret-9f8e7d");
  ASSERT_EQ(0, count_sql(p, "SELECT count(*) FROM snapshot_parts WHERE name = 'leaky'"));
  ASSERT_EQ(0, count_sql(p, "SELECT count(*) FROM snapshots WHERE name = 'leaky' AND "
                            "instr(state, 'tok-very-secret') > 0"));
  ASSERT_OK(journal_snapshot_latest(j, "leaky", 0, &seq, &got, &err));
  ASSERT_EQ(1, jsonx_int(got, "n", 0));
  ASSERT(!strstr(jsonx_str(got, "note"), "tok-very-secret"));
  json_decref(got);
  journal_close(j);

  /* A snapshot as schema 1 wrote it. */
  sqlite3 *db;
  ASSERT_EQ(SQLITE_OK, sqlite3_open(p, &db));
  ASSERT_EQ(SQLITE_OK, sqlite3_exec(db,
                                    "INSERT INTO snapshots (name, seq, recorded_ms, event_hash, "
                                    "state) SELECT 'old', 7, 1, hash, '{\"v\":1}' FROM events "
                                    "WHERE seq = 7",
                                    NULL, NULL, NULL));
  sqlite3_close(db);
  struct journal *r = fx_open(p, true, &err);
  ASSERT(r);
  ASSERT_OK(journal_snapshot_latest(r, "old", 0, &seq, &got, &err));
  ASSERT_EQ(1, jsonx_int(got, "v", 0));
  json_decref(got);
  ASSERT_OK(journal_snapshot_latest(r, "big", 0, &seq, &got, &err));
  ASSERT_EQ(8000, json_object_size(json_object_get(got, "objects")));
  json_decref(got);
  journal_close(r);

  /* A whole schema 1 journal: read as it is read-only, migrated by a writer. */
  char *p1 = fx_path("schema1.db");
  j = fx_open_filled(p1, 3, &err);
  ASSERT_MSG(j, "%s", err.msg);
  json_t *one = json_pack("{s:i}", "v", 1);
  ASSERT_OK(journal_snapshot_put(j, "infra", 2, one, &err));
  json_decref(one);
  journal_close(j);
  ASSERT_EQ(SQLITE_OK, sqlite3_open(p1, &db));
  ASSERT_EQ(SQLITE_OK,
            sqlite3_exec(db,
                         "UPDATE snapshots SET state = (SELECT group_concat(data, '') FROM "
                         "snapshot_parts); DROP TABLE snapshot_parts; PRAGMA user_version = 1",
                         NULL, NULL, NULL));
  sqlite3_close(db);
  r = fx_open(p1, true, &err);
  ASSERT_MSG(r, "%s", err.msg);
  ASSERT_OK(journal_snapshot_latest(r, "infra", 0, &seq, &got, &err));
  ASSERT_EQ(1, jsonx_int(got, "v", 0));
  json_decref(got);
  journal_close(r);
  j = fx_open(p1, false, &err);
  ASSERT(j);
  ASSERT_OK(journal_snapshot_latest(j, "infra", 0, &seq, &got, &err));
  ASSERT_EQ(1, jsonx_int(got, "v", 0));
  json_decref(got);
  journal_close(j);
  ASSERT_EQ(2, count_sql(p1, "PRAGMA user_version"));
  free(p1);

  /* Parts lost: a clear error, not an empty state. */
  ASSERT_EQ(SQLITE_OK, sqlite3_open(p, &db));
  ASSERT_EQ(SQLITE_OK,
            sqlite3_exec(db, "DELETE FROM snapshot_parts WHERE name = 'big'", NULL, NULL, NULL));
  sqlite3_close(db);
  j = fx_open(p, false, &err);
  ASSERT(j);
  ASSERT_EQ(ENG_CORRUPT, journal_snapshot_latest(j, "big", 0, &seq, &got, &err));
  ASSERT_CONTAINS(err.msg, "neither a state nor parts");
  json_t *small = json_pack("{s:s}", "a", "b");
  ASSERT_OK(journal_snapshot_put(j, "big", 5, small, &err));
  json_decref(small);
  ASSERT_EQ(1, count_sql(p, "SELECT count(*) FROM snapshot_parts WHERE name = 'big'"));
  ASSERT_OK(journal_snapshot_drop(j, "big", &err));
  ASSERT_EQ(0, count_sql(p, "SELECT count(*) FROM snapshot_parts WHERE name = 'big'"));
  journal_close(j);
  free(p);
}

static void test_recorded_time_monotonic(void) {
  char *p = fx_path("time.db");
  struct eng_error err;
  struct journal *j = fx_open_filled(p, 200, &err);
  ASSERT_MSG(j, "%s", err.msg);
  struct journal_iter *it;
  ASSERT_OK(journal_iter_open(j, &(struct journal_filter){.raw = true}, &it, &err));
  const struct journal_row *r;
  int64_t prev = 0;
  int n = 0;
  while (journal_iter_next(it, &r, &err) == 1) {
    ASSERT(r->recorded_ms >= prev);
    ASSERT(r->recorded_ms > 1600000000000LL); /* UTC ms, not seconds */
    ASSERT(r->payload == NULL);               /* raw: not parsed */
    prev = r->recorded_ms;
    n++;
  }
  journal_iter_free(it);
  ASSERT_EQ(200, n);
  journal_close(j);
  free(p);
}

/* The writer appends in another process while this one holds a read
 * transaction open: the writer must finish every commit (a blocked writer
 * would fail with ENG_BUSY after its timeout), and the open iterator keeps
 * seeing its own consistent snapshot. */
static void test_reader_does_not_block_writer(void) {
  char *p = fx_path("concurrent.db");
  struct eng_error err;
  struct journal *j = fx_open_filled(p, 50, &err);
  ASSERT_MSG(j, "%s", err.msg);
  journal_close(j);
  /* SQLite connections must not cross fork(): the child opens its own after it. */
  int go[2];
  ASSERT_OK(pipe(go));
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(go[1]);
    char c;
    if (read(go[0], &c, 1) != 1)
      _exit(2);
    struct journal *w = fx_open(p, false, &err);
    int status = w ? 0 : 5;
    for (int b = 0; b < 40 && !status; b++) {
      for (int i = 0; i < 25; i++)
        if (fx_append(w, 1000 + i, &err) < 0)
          status = 3;
      if (journal_commit(w, &err) != ENG_OK)
        status = 4;
    }
    if (status)
      fprintf(stderr, "writer child: %s\n", err.msg);
    journal_close(w);
    _exit(status);
  }
  close(go[0]);
  j = fx_open(p, false, &err); /* a second writer handle, idle until the end */
  struct journal *r = fx_open(p, true, &err);
  struct journal_iter *it = NULL;
  const struct journal_row *row;
  bool started = j && r &&
                 journal_iter_open(r, &(struct journal_filter){.raw = true}, &it, &err) == ENG_OK &&
                 journal_iter_next(it, &row, &err) == 1; /* the read transaction is now open */
  ASSERT_EQ(1, write(go[1], "g", 1));
  close(go[1]);
  int ws = 0;
  ASSERT_EQ(pid, waitpid(pid, &ws, 0));
  ASSERT_MSG(started, "reader could not start: %s", err.msg);
  ASSERT_MSG(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "writer child failed: status %d", ws);
  int64_t n = 1;
  while (journal_iter_next(it, &row, &err) == 1)
    n++;
  journal_iter_free(it);
  ASSERT_EQ(50, n); /* the snapshot of the moment the iteration started */
  ASSERT_EQ(1050, fx_count(r));
  struct journal_verify_result vr;
  ASSERT_OK(journal_verify(r, NULL, NULL, &vr, &err));
  ASSERT_EQ(1050, vr.events);
  journal_close(r);
  /* The idle writer handle is now behind the head: its next commit must refuse. */
  fx_append(j, 1, &err);
  ASSERT_EQ(ENG_CONFLICT, journal_commit(j, &err));
  ASSERT_CONTAINS(err.msg, "only one process may write");
  journal_close(j);
  free(p);
}

static void check_no_token(const char *path, const char *token, const char *b64, bool *ok) {
  const char *suffixes[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
    char *f = xasprintf("%s%s", path, suffixes[i]);
    if (fx_file_contains(f, token) || fx_file_contains(f, b64)) {
      printf("# found the planted token in %s\n", f);
      *ok = false;
    }
    free(f);
  }
}

/* The planted-token test: a Secret's data, stringData and last-applied
 * annotation, an Authorization header and an apiToken field, plus a
 * registered secret in free text. None may reach any byte on disk. */
static void test_token_never_stored(void) {
  const char *token = "planted-9c1e4b7a2f6d8e0b3a5c7d9e1f2a4b6c";
  const char *registered = "registered-77e1c2d3b4a5968778695a4b3c2d1e0f";
  char *b64 = b64_encode(token, strlen(token));
  log_register_secret(registered);
  char *p = fx_path("token.db");
  struct eng_error err;
  struct journal *j = fx_open(p, false, &err);
  ASSERT(j);
  char la[512];
  snprintf(la, sizeof(la),
           "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"stringData\":{\"apiToken\":\"%s\"}}",
           token);
  json_t *secret =
      json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:s,s:{s:s},s:{s:s}}", "apiVersion", "v1", "kind",
                "Secret", "metadata", "name", "cloudprovider", "namespace", "shoot--a--b",
                "annotations", "kubectl.kubernetes.io/last-applied-configuration", la, "type",
                "Opaque", "data", "apiToken", b64, "stringData", "token", token);
  json_t *watch = json_pack("{s:s,s:O}", "type", "ADDED", "object", secret);
  char bearer[128];
  snprintf(bearer, sizeof(bearer), "Bearer %s", token);
  char note[128];
  snprintf(note, sizeof(note), "the key is %s, do not log it", registered);
  json_t *call =
      json_pack("{s:s,s:{s:s,s:s},s:{s:s},s:s}", "method", "POST", "headers", "Authorization",
                bearer, "X-Auth-Token", token, "body", "apiToken", token, "note", note);
  struct jevent ev1 = {.source = "kube",
                       .type = "kube.added",
                       .group_kind = "/Secret",
                       .ns = "shoot--a--b",
                       .name = "cloudprovider",
                       .payload = watch};
  struct jevent ev2 = {.source = "executor", .type = "executor.intent", .payload = call};
  /* The same Secret without kind, as a typed client delivers it. */
  json_t *bare = json_deep_copy(secret);
  json_object_del(bare, "kind");
  json_object_del(bare, "apiVersion");
  struct jevent ev3 = {
      .source = "kube", .type = "kube.modified", .group_kind = "/Secret", .payload = bare};
  for (int round = 0; round < 20; round++) {
    ASSERT(journal_append(j, &ev1, &err) > 0);
    ASSERT(journal_append(j, &ev2, &err) > 0);
    ASSERT(journal_append(j, &ev3, &err) > 0);
  }
  ASSERT_OK(journal_commit(j, &err));
  ASSERT_OK(journal_snapshot_put(j, "s", journal_durable_seq(j), call, &err));
  json_decref(secret);
  json_decref(watch);
  json_decref(call);
  json_decref(bare);
  /* Before any checkpoint: everything is in the WAL. */
  bool ok = true;
  check_no_token(p, token, b64, &ok);
  check_no_token(p, registered, registered, &ok);
  /* Iterated payloads neither. */
  struct journal_iter *it;
  ASSERT_OK(journal_iter_open(j, NULL, &it, &err));
  const struct journal_row *r;
  int n = 0;
  while (journal_iter_next(it, &r, &err) == 1) {
    n++;
    if (strstr(r->payload_text, token) || strstr(r->payload_text, b64))
      ok = false;
  }
  journal_iter_free(it);
  ASSERT_EQ(60, n);
  /* After a checkpoint into the main file. */
  journal_close(j);

  check_no_token(p, token, b64, &ok);
  check_no_token(p, registered, registered, &ok);
  ASSERT_MSG(ok, "the planted token reached the journal files");
  /* Redaction left the useful parts: the digest of the token is there. */
  char digest[REDACT_DIGEST_LEN + 1];
  redact_digest(token, strlen(token), digest);
  ASSERT(!fx_file_contains(p, digest)); /* a guess cannot be confirmed with plain SHA-256 */
  char *kp = xasprintf("%s.key", p);
  size_t klen = 0;
  char *khex = fx_read(kp, &klen);
  ASSERT(khex && klen == 65);
  struct redact_key key = {.len = 32};
  for (size_t i = 0; khex && i < 32; i++) {
    unsigned v = 0;
    sscanf(khex + 2 * i, "%2x", &v);
    key.bytes[i] = (uint8_t)v;
  }
  char keyed[REDACT_KEYED_DIGEST_LEN + 1];
  redact_keyed_digest(&key, token, strlen(token), keyed);
  ASSERT(fx_file_contains(p, keyed)); /* the keyed digest of the token is there */
  struct stat kst;
  ASSERT(stat(kp, &kst) == 0 && (kst.st_mode & 0777) == 0600);
  free(khex);
  free(kp);
  ASSERT(fx_file_contains(p, "cloudprovider"));
  log_forget_all_secrets();
  free(b64);
  free(p);
}

int main(void) {
  xalloc_init();
  fx_setup("journal-test");
  TEST(test_create_append_commit_reopen);
  TEST(test_group_commit_batch_max);
  TEST(test_sink);
  TEST(test_bad_events_rejected);
  TEST(test_canonical_row_and_chain);
  TEST(test_iteration_filters);
  TEST(test_snapshots);
  TEST(test_snapshot_parts);
  TEST(test_recorded_time_monotonic);
  TEST(test_reader_does_not_block_writer);
  TEST(test_token_never_stored);
  return tap_done();
}
