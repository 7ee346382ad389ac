/*
 * replay.c (bench) - replay of a 1,000,000-event journal against a plain
 * SELECT scan of the same journal, in the same run.
 *
 * The journal is written once (journal API, batches of 1024, synchronous off)
 * with a controller-like mix: device states from the poller, watch events of
 * Infrastructures, Workers and Secrets, intents and results. Then, alternating,
 * three times each: (a) the baseline, a prepared SELECT of every column of
 * every event in seq order that reads each value (what any reader must at
 * least do); (b) replay_run() with this binary's reducers (iteration, JSON
 * parse of every payload, the decider folding every input). Reported: the best
 * time of each, events per second, and replay's rate as a fraction of the scan's.
 * Targets (docs/benchmarks.md): replay under 10 s, and at least 1/3 of the scan.
 *
 * EQXM_BENCH_EVENTS=N changes the event count (default 1000000).
 */
#include "engine/base/common.h"
#include "engine/base/clock.h"
#include "engine/base/xalloc.h"
#include "engine/cmd/replay.h"
#include "engine/journal/journal.h"
#include "providers/equinix-metal/controllers/registry.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void die(const char *what, const char *msg) {
  fprintf(stderr, "bench replay: %s: %s\n", what, msg);
  exit(1);
}

static void write_journal(const char *path, long n) {
  struct journal_options o = {.sync = JOURNAL_SYNC_OFF};
  struct journal *j = NULL;
  struct eng_error err;
  eng_error_clear(&err);
  if (journal_open(path, &o, &j, &err))
    die("open", err.msg);
  for (long i = 1; i <= n; i++) {
    char ns[64], name[160], uid[64], rv[32];
    long shoot = i % 200;
    snprintf(ns, sizeof(ns), "shoot--bench--s%ld", shoot);
    snprintf(rv, sizeof(rv), "%ld", i);
    json_t *p;
    struct jevent ev = {.ns = ns, .resource_version = rv, .correlation_id = ""};
    switch (i % 4) {
    case 0:
    case 1:
      snprintf(name, sizeof(name), "%s-pool-a-%ld", ns, i % 7);
      snprintf(uid, sizeof(uid), "d%07ld-aaaa-4bbb-8ccc-%012ld", shoot, i % 7);
      ev.source = "metal";
      ev.type = "metal.device";
      ev.group_kind = "metal.equinix.com/Device";
      p = json_pack("{s:s,s:s,s:s,s:s,s:s,s:[s,s],s:b}", "id", uid, "hostname", name, "state",
                    i % 8 == 0 ? "active" : "provisioning", "metro", "sv", "plan", "c3.small.x86",
                    "tags", "kubernetes.io/cluster/x", "kubernetes.io/role/node", "locked", 0);
      break;
    case 2:
      snprintf(name, sizeof(name), "worker");
      snprintf(uid, sizeof(uid), "w-%ld", shoot);
      ev.source = "kube";
      ev.type = "kube.modified";
      ev.group_kind = "extensions.gardener.cloud/Worker";
      p = json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:I,s:s},s:{s:s,s:[{s:s,s:s,s:i,s:i}]},s:{s:{s:s,"
                    "s:s}}}",
                    "apiVersion", "extensions.gardener.cloud/v1alpha1", "kind", "Worker",
                    "metadata", "name", name, "namespace", ns, "uid", uid, "generation",
                    (json_int_t)1, "resourceVersion", rv, "spec", "type", "equinixmetal", "pools",
                    "name", "pool-a", "machineType", "c3.small.x86", "minimum", 1, "maximum", 3,
                    "status", "lastOperation", "type", "Reconcile", "state", "Succeeded");
      break;
    default:
      snprintf(name, sizeof(name), "cloudprovider");
      snprintf(uid, sizeof(uid), "s-%ld", shoot);
      ev.source = "kube";
      ev.type = "kube.modified";
      ev.group_kind = "/Secret";
      p = json_pack("{s:s,s:o}", "type", "MODIFIED", "object",
                    json_pack("{s:s,s:s,s:{s:s,s:s,s:s},s:s,s:{s:s,s:s}}", "apiVersion", "v1",
                              "kind", "Secret", "metadata", "name", name, "namespace", ns,
                              "resourceVersion", rv, "type", "Opaque", "data", "apiToken",
                              "dG9rZW4=", "projectID", "cHJvamVjdA=="));
    }
    ev.name = name;
    ev.uid = uid;
    ev.payload = p;
    if (journal_append(j, &ev, &err) < 0)
      die("append", err.msg);
    json_decref(p);
  }
  if (journal_commit(j, &err))
    die("commit", err.msg);
  journal_close(j);
}

static double scan(const char *path, long *rows) {
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    die("scan open", sqlite3_errmsg(db));
  sqlite3_stmt *st = NULL;
  int64_t t0 = clock_mono_ms();
  if (sqlite3_prepare_v2(db,
                         "SELECT seq, recorded_ms, source, type, group_kind, namespace, name, uid, "
                         "resource_version, correlation_id, payload, hash FROM events ORDER BY seq",
                         -1, &st, NULL) != SQLITE_OK)
    die("scan prepare", sqlite3_errmsg(db));
  long n = 0;
  size_t bytes = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    for (int c = 0; c < 12; c++) {
      if (c < 2)
        bytes += (size_t)sqlite3_column_int64(st, c) & 1;
      else if (c == 11)
        bytes += (size_t)sqlite3_column_bytes(st, c) + (sqlite3_column_blob(st, c) != NULL);
      else
        bytes += (size_t)sqlite3_column_bytes(st, c) + (sqlite3_column_text(st, c) != NULL);
    }
    n++;
  }
  double s = (double)(clock_mono_ms() - t0) / 1000.0;
  sqlite3_finalize(st);
  sqlite3_close(db);
  *rows = bytes ? n : 0;
  return s;
}

static double replay(const char *path, long *events) {
  size_t nr = 0;
  const struct reducer *const *r = metal_reducers(&nr);
  struct journal_options o = {.read_only = true};
  struct journal *j = NULL;
  struct eng_error err;
  eng_error_clear(&err);
  if (journal_open(path, &o, &j, &err))
    die("replay open", err.msg);
  int64_t t0 = clock_mono_ms();
  struct replay_opts ro = {0};
  struct replay_report rep;
  if (replay_run(j, r, nr, &ro, &rep, &err))
    die("replay", err.msg);
  double s = (double)(clock_mono_ms() - t0) / 1000.0;
  journal_close(j);
  *events = (long)rep.events;
  return s;
}

int main(void) {
  xalloc_init();
  long n = getenv("EQXM_BENCH_EVENTS") ? strtol(getenv("EQXM_BENCH_EVENTS"), NULL, 10) : 1000000;
  const char *tmp = getenv("TMPDIR");
  char dir[512];
  snprintf(dir, sizeof(dir), "%s/bench-replay-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir))
    die("mkdtemp", "failed");
  char *path = xasprintf("%s/j.db", dir);
  int64_t w0 = clock_mono_ms();
  write_journal(path, n);
  printf("replay: wrote %ld events in %.1f s\n", n, (double)(clock_mono_ms() - w0) / 1000.0);
  double best_scan = 1e9, best_replay = 1e9;
  long rows = 0, evs = 0;
  for (int round = 0; round < 3; round++) {
    double s = scan(path, &rows);
    double r = replay(path, &evs);
    if (s < best_scan)
      best_scan = s;
    if (r < best_replay)
      best_replay = r;
  }
  if (rows != n || evs != n)
    die("count", "the scan or the replay did not see every event");
  double ratio = best_scan / best_replay; /* replay rate / scan rate */
  printf("replay: plain SELECT scan %.2f s (%.0f events/s), replay %.2f s (%.0f events/s)\n",
         best_scan, (double)n / best_scan, best_replay, (double)n / best_replay);
  printf("replay: ratio replay/scan rate = %.3f (target >= 0.333); replay %s 10 s -> %s\n", ratio,
         best_replay < 10.0 ? "under" : "OVER",
         ratio >= 1.0 / 3.0 && best_replay < 10.0 ? "ok" : "BELOW TARGET");
  char *wal = xasprintf("%s-wal", path), *shm = xasprintf("%s-shm", path);
  unlink(path);
  unlink(wal);
  unlink(shm);
  rmdir(dir);
  free(wal);
  free(shm);
  free(path);
  return 0;
}
