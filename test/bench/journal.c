/*
 * journal.c (bench) - journal_append + journal_commit against a minimal raw
 * SQLite insert loop, in the same run, with the same durability.
 *
 * Both sides write 1 KiB payloads (the same canonical bytes) into a fresh
 * database created from the same schema (the .sql files of schema/, with the indexes), in
 * WAL mode with synchronous=FULL and auto_vacuum=INCREMENTAL, one transaction
 * per batch. The raw loop only binds a prepared INSERT; the journal also
 * redacts, canonicalises, builds the row bytes, hashes the chain and moves the
 * head. Each configuration runs five times, alternating sides; the best rate
 * of each side is reported. Target: batched appends at least half the raw rate.
 *
 * EQXM_BENCH_SCALE=N multiplies the event counts (default 1).
 */
#include "engine/base/common.h"
#include "engine/base/clock.h"
#include "engine/journal/journal.h"
#include "engine/base/jsonx.h"
#include "engine/journal/schema_sql.h"
#include "engine/base/xalloc.h"

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ROUNDS 5

static char dir[512];
static json_t *payload;
static char *payload_text;
static int run_no;

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static void die(const char *what, const char *msg) {
  fprintf(stderr, "bench journal: %s: %s\n", what, msg);
  exit(1);
}

/* A Kubernetes-like object whose canonical form is exactly 1024 bytes. */
static void make_payload(void) {
  for (size_t fill = 0; fill < 2048; fill++) {
    char *f = xmalloc(fill + 1);
    memset(f, 'x', fill);
    f[fill] = 0;
    json_t *p = json_pack(
        "{s:s,s:s,s:{s:s,s:s,s:s,s:s,s:{s:s,s:s}},s:{s:s,s:s,s:i,s:s},s:{s:s,s:[s,s]}}",
        "apiVersion", "extensions.gardener.cloud/v1alpha1", "kind", "Infrastructure", "metadata",
        "name", "infrastructure", "namespace", "shoot--bench--cluster", "uid",
        "6f1c2a3b-4d5e-4f60-8a1b-2c3d4e5f6a7b", "resourceVersion", "123456", "labels", "app",
        "bench", "filler", f, "spec", "type", "metal", "region", "ny", "generation", 7,
        "sshPublicKey", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchBenchBenchBenchBenchBench",
        "status", "phase", "Succeeded", "conditions", "Ready", "Reconciled");
    char *t = jsonx_canonical(p);
    free(f);
    if (strlen(t) == 1024) {
      payload = p;
      payload_text = t;
      return;
    }
    json_decref(p);
    free(t);
  }
  die("payload", "cannot size the payload to 1 KiB");
}

static char *fresh_path(const char *side) { return xasprintf("%s/%s-%d.db", dir, side, run_no++); }

static void remove_db(const char *p) {
  const char *suf[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    char *f = xasprintf("%s%s", p, suf[i]);
    unlink(f);
    free(f);
  }
}

static void exec_or_die(sqlite3 *db, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
    die(sql, msg ? msg : "?");
}

/* The baseline: prepared INSERT, one transaction per batch, same PRAGMAs. */
static double raw_rate(int batch, int n) {
  char *p = fresh_path("raw");
  sqlite3 *db;
  if (sqlite3_open(p, &db) != SQLITE_OK)
    die(p, sqlite3_errmsg(db));
  exec_or_die(db, "PRAGMA auto_vacuum = INCREMENTAL");
  exec_or_die(db, "PRAGMA journal_mode = WAL");
  exec_or_die(db, "PRAGMA synchronous = FULL");
  exec_or_die(db, "PRAGMA journal_size_limit = 67108864");
  for (size_t i = 0; i < schema_sql_count; i++)
    exec_or_die(db, schema_sql_files[i].text);
  sqlite3_stmt *st;
  if (sqlite3_prepare_v3(db,
                         "INSERT INTO events (seq, recorded_ms, source, type, group_kind, "
                         "namespace, name, uid, resource_version, correlation_id, payload, hash) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                         -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
    die("prepare", sqlite3_errmsg(db));
  uint8_t hash[SHA256_LEN];
  memset(hash, 0x42, sizeof(hash));
  size_t plen = strlen(payload_text);
  int64_t t0 = clock_mono_ms();
  for (int seq = 1; seq <= n;) {
    exec_or_die(db, "BEGIN IMMEDIATE");
    for (int k = 0; k < batch && seq <= n; k++, seq++) {
      sqlite3_bind_int64(st, 1, seq);
      sqlite3_bind_int64(st, 2, clock_now_ms());
      sqlite3_bind_text(st, 3, "kube", -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 4, "kube.modified", -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 5, "extensions.gardener.cloud/Infrastructure", -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 6, "shoot--bench--cluster", -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 7, "infrastructure", -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 8, "6f1c2a3b-4d5e-4f60-8a1b-2c3d4e5f6a7b", -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 9, "123456", -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 10, "reconcile-1", -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 11, payload_text, (int)plen, SQLITE_STATIC);
      sqlite3_bind_blob(st, 12, hash, SHA256_LEN, SQLITE_STATIC);
      if (sqlite3_step(st) != SQLITE_DONE)
        die("insert", sqlite3_errmsg(db));
      sqlite3_reset(st);
    }
    exec_or_die(db, "COMMIT");
  }
  int64_t ms = clock_mono_ms() - t0;
  sqlite3_finalize(st);
  sqlite3_close(db);
  remove_db(p);
  free(p);
  return (double)n * 1000.0 / (double)(ms > 0 ? ms : 1);
}

static double journal_rate(int batch, int n) {
  char *p = fresh_path("journal");
  struct journal_options opt = {.sync = JOURNAL_SYNC_FULL, .batch_max = (size_t)batch + 1};
  struct journal *j = NULL;
  struct eng_error err;
  if (journal_open(p, &opt, &j, &err))
    die("open", err.msg);
  struct jevent ev = {.source = "kube",
                      .type = "kube.modified",
                      .group_kind = "extensions.gardener.cloud/Infrastructure",
                      .ns = "shoot--bench--cluster",
                      .name = "infrastructure",
                      .uid = "6f1c2a3b-4d5e-4f60-8a1b-2c3d4e5f6a7b",
                      .resource_version = "123456",
                      .correlation_id = "reconcile-1",
                      .payload = payload};
  int64_t t0 = clock_mono_ms();
  for (int i = 1; i <= n; i++) {
    if (journal_append(j, &ev, &err) < 0)
      die("append", err.msg);
    if ((i % batch == 0 || i == n) && journal_commit(j, &err))
      die("commit", err.msg);
  }
  int64_t ms = clock_mono_ms() - t0;
  journal_close(j);
  remove_db(p);
  free(p);
  return (double)n * 1000.0 / (double)(ms > 0 ? ms : 1);
}

int main(void) {
  xalloc_init();
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof(dir), "%s/journal-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir))
    die("mkdtemp", dir);
  const char *sc = getenv("EQXM_BENCH_SCALE");
  int scale = sc && strtol(sc, NULL, 10) > 0 ? (int)strtol(sc, NULL, 10) : 1;
  make_payload();
  const struct {
    int batch, n;
  } cfg[] = {{1, 300 * scale}, {100, 20000 * scale}, {10000, 100000 * scale}};
  printf("journal append vs raw SQLite insert: 1 KiB payloads, WAL, synchronous=FULL, "
         "best of %d, dir %s\n",
         ROUNDS, dir);
  printf("%-8s %9s %16s %16s %8s\n", "batch", "events", "raw SQLite ev/s", "journal ev/s", "ratio");
  bool target_met = true;
  for (size_t c = 0; c < ARRAY_SIZE(cfg); c++) {
    double raw = 0, jr = 0;
    for (int r = 0; r < ROUNDS; r++) {
      double a = raw_rate(cfg[c].batch, cfg[c].n);
      double b = journal_rate(cfg[c].batch, cfg[c].n);
      raw = a > raw ? a : raw;
      jr = b > jr ? b : jr;
    }
    double ratio = jr / raw;
    printf("%-8d %9d %16.0f %16.0f %8.2f\n", cfg[c].batch, cfg[c].n, raw, jr, ratio);
    if (cfg[c].batch > 1 && ratio < 0.5)
      target_met = false;
  }
  printf("target (batched journal >= 0.5 x raw SQLite): %s\n", target_met ? "met" : "NOT MET");
  nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
  json_decref(payload);
  free(payload_text);
  return 0;
}
