/*
 * journal_badinput_test.c - files the journal must refuse without touching
 * them (a text file, a foreign database, a newer schema, truncated and damaged
 * files), a read-only directory, a full disk, and tampering that verify must
 * pin to the first bad seq.
 */
#include "engine/base/common.h"
#include "engine/journal/journal.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"
#include "test/unit/journal_fixture.h"

#include <errno.h>
#include <grp.h>
#include <sqlite3.h>
#include <sys/wait.h>

/* A checkpointed journal (no WAL left) with n events of ~1 KiB. */
static char *make_journal(const char *name, int n) {
  char *p = fx_path(name);
  struct eng_error err;
  struct journal *j = fx_open(p, false, &err);
  if (!j) {
    printf("# %s\n", err.msg);
    return p;
  }
  char filler[1025];
  memset(filler, 'f', 1024);
  filler[1024] = 0;
  for (int i = 1; i <= n; i++) {
    json_t *pl = json_pack("{s:i,s:s}", "i", i, "filler", filler);
    struct jevent ev = {.source = "kube",
                        .type = "kube.modified",
                        .group_kind = "/ConfigMap",
                        .ns = "ns",
                        .name = "cm",
                        .payload = pl};
    journal_append(j, &ev, &err);
    json_decref(pl);
  }
  if (journal_commit(j, &err) != ENG_OK)
    printf("# %s\n", err.msg);
  journal_close(j);
  return p;
}

static int sql(const char *path, const char *stmt) {
  sqlite3 *db;
  int rc = sqlite3_open(path, &db);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, stmt, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    printf("# sql %s: %s\n", stmt, sqlite3_errmsg(db));
  sqlite3_close(db);
  return rc;
}

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Open path both ways and expect code, a message naming the file and
 * containing what, and identical bytes afterwards. */
static bool refuses(const char *path, enum eng_err code, const char *what) {
  size_t n0, n1;
  char *before = fx_read(path, &n0);
  bool ok = true;
  for (int ro = 0; ro <= 1; ro++) {
    struct eng_error err;
    struct journal *j = fx_open(path, ro, &err);
    if (j || err.code != code || !strstr(err.msg, path) || !strstr(err.msg, what)) {
      printf("# %s open of %s: got %s \"%s\", wanted %s with \"%s\"\n",
             ro ? "read-only" : "writable", path, j ? "success" : eng_err_name(err.code),
             j ? "" : err.msg, eng_err_name(code), what);
      ok = false;
    }
    journal_close(j);
  }
  char *after = fx_read(path, &n1);
  if (!fx_same_bytes(before, n0, after, n1)) {
    printf("# %s was modified\n", path);
    ok = false;
  }
  free(before);
  free(after);
  return ok;
}

static void test_text_file(void) {
  char *p = fx_path("notes.txt");
  const char *text = "this is not a journal, just notes\n";
  fx_write(p, text, strlen(text));
  ASSERT(refuses(p, ENG_INVALID, "not a SQLite database"));
  char *wal = xasprintf("%s-wal", p);
  ASSERT(!exists(wal));
  free(wal);
  free(p);
}

static void test_foreign_sqlite_database(void) {
  char *p = fx_path("other.db");
  ASSERT_OK(sql(p, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);"
                   "INSERT INTO customers (name) VALUES ('x');"));
  ASSERT(refuses(p, ENG_INVALID, "not a journal"));
  free(p);
}

static void test_newer_schema_version(void) {
  char *p = make_journal("newer.db", 5);
  ASSERT_OK(sql(p, "PRAGMA user_version = 99"));
  ASSERT(refuses(p, ENG_VERSION, "schema version 99"));
  struct eng_error err;
  ASSERT(!fx_open(p, false, &err));
  ASSERT_CONTAINS(err.msg, "upgrade the binary");
  free(p);
}

static void test_truncated_files(void) {
  char *p = make_journal("trunc.db", 60);
  size_t n;
  char *b = fx_read(p, &n);
  ASSERT(n > 16 * 4096);
  fx_write(p, b, n / 2 / 4096 * 4096); /* whole pages, but half of them */
  ASSERT(refuses(p, ENG_CORRUPT, "truncated"));
  fx_write(p, b, n / 2 + 100); /* not a whole number of pages */
  ASSERT(refuses(p, ENG_CORRUPT, "truncated"));
  fx_write(p, b, 60); /* inside the header */
  ASSERT(refuses(p, ENG_CORRUPT, "truncated"));
  fx_write(p, b, 10); /* inside the magic */
  ASSERT(refuses(p, ENG_CORRUPT, "truncated"));
  free(b);
  free(p);
}

static void test_corrupted_pages(void) {
  char *p = make_journal("corrupt.db", 60);
  size_t n;
  char *b = fx_read(p, &n);
  /* A page in the middle of the events: garbage. */
  size_t page = n / 4096 / 2;
  memset(b + page * 4096, 0xA5, 4096);
  fx_write(p, b, n);
  size_t n0;
  char *before = fx_read(p, &n0);
  struct eng_error err;
  struct journal *j = fx_open(p, true, &err);
  if (j) { /* the damage may lie beyond what open reads; verify must find it */
    struct journal_verify_result vr;
    ASSERT_EQ(ENG_CORRUPT, journal_verify(j, NULL, NULL, &vr, &err));
    ASSERT_CONTAINS(err.msg, p);
    journal_close(j);
  } else {
    ASSERT_EQ(ENG_CORRUPT, err.code);
  }
  size_t n1;
  char *after = fx_read(p, &n1);
  ASSERT(fx_same_bytes(before, n0, after, n1));
  free(before);
  free(after);
  /* The schema page (page 1 after its header): open itself must refuse. */
  char *b2 = fx_read(p, &n);
  memset(b2 + 100, 0x5A, 4096 - 100);
  fx_write(p, b2, n);
  ASSERT(refuses(p, ENG_CORRUPT, "damaged"));
  free(b2);
  free(b);
  free(p);
}

static void test_paths_that_are_not_files(void) {
  struct eng_error err;
  ASSERT(!fx_open(fx_dir, false, &err));
  ASSERT_EQ(ENG_INVALID, err.code);
  ASSERT_CONTAINS(err.msg, "not a regular file");
  char *p = fx_path("missing-dir/j.db");
  ASSERT(!fx_open(p, false, &err));
  ASSERT_EQ(ENG_NOTFOUND, err.code);
  ASSERT_CONTAINS(err.msg, "missing-dir");
  free(p);
  p = fx_path("absent.db");
  ASSERT(!fx_open(p, true, &err));
  ASSERT_EQ(ENG_NOTFOUND, err.code);
  ASSERT(!exists(p)); /* a reader never creates */
  /* An empty file: a reader refuses it, a writer makes it a journal. */
  fx_write(p, "", 0);
  ASSERT(!fx_open(p, true, &err));
  ASSERT_EQ(ENG_INVALID, err.code);
  struct journal *j = fx_open(p, false, &err);
  ASSERT_MSG(j, "%s", err.msg);
  journal_close(j);
  free(p);
}

/* ---- read-only directory ------------------------------------------------------------------ */

/* Runs as an unprivileged user (root drops to nobody first, because chmod does
 * not stop root). Returns the number of failed checks. */
static int readonly_checks(const char *dir, const char *existing, const char *rofile) {
  int failed = 0;
  struct eng_error err;
  /* A read-only journal file in a writable directory. */
  size_t n0, n1;
  char *before = fx_read(rofile, &n0);
  struct journal *rj = fx_open(rofile, false, &err);
  if (rj || err.code != ENG_READONLY || !strstr(err.msg, "not writable")) {
    printf("# read-only journal file: %s %s\n", eng_err_name(err.code), err.msg);
    failed++;
  }
  journal_close(rj);
  char *after = fx_read(rofile, &n1);
  if (!fx_same_bytes(before, n0, after, n1)) {
    printf("# %s was modified\n", rofile);
    failed++;
  }
  free(before);
  free(after);
  char *p = xasprintf("%s/new.db", dir);
  struct journal *j = fx_open(p, false, &err);
  if (j || err.code != ENG_READONLY || !strstr(err.msg, dir)) {
    printf("# new journal in a read-only directory: %s %s\n", eng_err_name(err.code), err.msg);
    failed++;
  }
  journal_close(j);
  if (exists(p)) {
    printf("# %s was created\n", p);
    failed++;
  }
  free(p);
  /* An existing, writable journal in a read-only directory: its WAL cannot be created. */
  j = fx_open(existing, false, &err);
  if (j || err.code != ENG_READONLY || !strstr(err.msg, existing)) {
    printf("# existing journal in a read-only directory: %s %s\n", eng_err_name(err.code), err.msg);
    failed++;
  }
  journal_close(j);
  /* Readers still work (read-only media). */
  j = fx_open(existing, true, &err);
  if (!j || fx_count(j) != 3) {
    printf("# reading from a read-only directory: %s\n", j ? "wrong count" : err.msg);
    failed++;
  }
  journal_close(j);
  return failed;
}

static void test_readonly_directory(void) {
  char *dir = fx_path("ro");
  ASSERT_OK(mkdir(dir, 0755));
  char *existing = xasprintf("%s/existing.db", dir);
  struct eng_error err;
  struct journal *j = fx_open_filled(existing, 3, &err);
  ASSERT_MSG(j, "%s", err.msg);
  journal_close(j);
  ASSERT_OK(chmod(existing, 0666));
  char *rodir = fx_path("rofile");
  ASSERT_OK(mkdir(rodir, 0777));
  ASSERT_OK(chmod(rodir, 0777));
  char *rofile = xasprintf("%s/j.db", rodir);
  j = fx_open(rofile, false, &err);
  ASSERT(j);
  fx_append(j, 1, &err);
  ASSERT_OK(journal_commit(j, &err));
  journal_close(j);
  ASSERT_OK(chmod(rofile, 0444));
  ASSERT_OK(chmod(dir, 0555));
  ASSERT_OK(chmod(fx_dir, 0755));
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0))
      _exit(100);
    int failed = readonly_checks(dir, existing, rofile);
    fflush(stdout);
    _exit(failed);
  }
  int ws = 0;
  ASSERT_EQ(pid, waitpid(pid, &ws, 0));
  chmod(dir, 0755);
  ASSERT_MSG(WIFEXITED(ws) && WEXITSTATUS(ws) != 100, "could not drop root privileges");
  ASSERT_MSG(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "%d read-only checks failed", WEXITSTATUS(ws));
  free(existing);
  free(dir);
  free(rofile);
  free(rodir);
}

/* Can this process test permissions at all? (root without CAP_SETUID cannot) */
static bool can_test_permissions(void) {
  if (geteuid() != 0)
    return true;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0)
    _exit(setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(65534) == 0 ? 0 : 1);
  int ws = 0;
  return waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
}

/* ---- full disk ------------------------------------------------------------------------------ */

static void test_full_disk(void) {
  char *p = fx_path("full.db");
  struct eng_error err;
  struct journal_options opt = {.max_page_count = 64, .sync = JOURNAL_SYNC_NORMAL};
  struct journal *j = NULL;
  ASSERT_OK(journal_open(p, &opt, &j, &err));
  char filler[1025];
  memset(filler, 'x', 1024);
  filler[1024] = 0;
  enum eng_err e = ENG_OK;
  int i = 0;
  while (e == ENG_OK && i < 10000) {
    for (int k = 0; k < 10; k++, i++) {
      json_t *pl = json_pack("{s:i,s:s}", "i", i, "filler", filler);
      journal_append(j, &(struct jevent){.source = "engine", .type = "engine.fill", .payload = pl},
                     &err);
      json_decref(pl);
    }
    e = journal_commit(j, &err);
  }
  ASSERT_EQ(ENG_NOSPACE, e);
  ASSERT_CONTAINS(err.msg, p);
  ASSERT_CONTAINS(err.msg, "Free space");
  int64_t durable = journal_durable_seq(j);
  ASSERT(durable > 0);
  ASSERT_EQ(10, journal_pending(j)); /* kept for a retry */
  ASSERT_EQ(ENG_NOSPACE, journal_commit(j, &err));
  /* An intent that cannot be made durable is taken back. */
  ASSERT_EQ(-1, journal_append_durable(
                    j, &(struct jevent){.source = "executor", .type = "executor.intent"}, &err));
  ASSERT_EQ(10, journal_pending(j));
  /* Everything committed before stays readable and verifiable. */
  struct journal *r = fx_open(p, true, &err);
  ASSERT(r);
  ASSERT_EQ(durable, fx_count(r));
  struct journal_verify_result vr;
  ASSERT_OK(journal_verify(r, NULL, NULL, &vr, &err));
  journal_close(r);
  /* With room again, the kept events commit. */
  journal_close(j);
  j = fx_open(p, false, &err);
  ASSERT(j);
  ASSERT_EQ(durable, journal_durable_seq(j));
  ASSERT(journal_append_durable(j, &(struct jevent){.source = "engine", .type = "engine.ok"},
                                &err) == durable + 1);
  journal_close(j);
  free(p);
}

/* ---- tampering ------------------------------------------------------------------------------ */

static int64_t verify_first_bad(const char *p, char *msg, size_t msgsz) {
  struct eng_error err;
  struct journal *j = fx_open(p, true, &err);
  if (!j) {
    snprintf(msg, msgsz, "%s", err.msg);
    return -100;
  }
  struct journal_verify_result vr;
  enum eng_err e = journal_verify(j, NULL, NULL, &vr, &err);
  snprintf(msg, msgsz, "%s", err.msg);
  journal_close(j);
  return e == ENG_OK ? 0 : vr.first_bad_seq;
}

static void test_tampering_named_by_seq(void) {
  char msg[ENG_ERROR_MSG_MAX];
  char *p = make_journal("tamper1.db", 20);
  ASSERT_EQ(0, verify_first_bad(p, msg, sizeof(msg)));
  ASSERT_OK(
      sql(p, "UPDATE events SET payload = replace(payload, '\"i\":5', '\"i\":50') WHERE seq = 5"));
  ASSERT_EQ(5, verify_first_bad(p, msg, sizeof(msg)));
  ASSERT_CONTAINS(msg, "seq 5");
  ASSERT_CONTAINS(msg, p);
  free(p);

  p = make_journal("tamper2.db", 20);
  ASSERT_OK(sql(p, "DELETE FROM events WHERE seq = 7"));
  ASSERT_EQ(8, verify_first_bad(p, msg, sizeof(msg)));
  ASSERT_CONTAINS(msg, "7..7");
  free(p);

  /* Altered and re-hashed: the chain breaks at the next event. */
  p = make_journal("tamper3.db", 20);
  {
    sqlite3 *db;
    ASSERT_OK(sqlite3_open(p, &db));
    sqlite3_stmt *st;
    ASSERT_OK(
        sqlite3_prepare_v2(db,
                           "SELECT e.seq, e.recorded_ms, e.source, e.type, e.group_kind, "
                           "e.namespace, e.name, e.uid, e.resource_version, e.correlation_id, "
                           "p.hash FROM events e JOIN events p ON p.seq = e.seq - 1 WHERE "
                           "e.seq = 10",
                           -1, &st, NULL));
    ASSERT_EQ(SQLITE_ROW, sqlite3_step(st));
    const char *strs[8];
    char *copies[8];
    for (int k = 0; k < 8; k++)
      strs[k] = copies[k] = xstrdup((const char *)sqlite3_column_text(st, 2 + k));
    const char *forged = "{\"i\":10,\"forged\":true}";
    size_t len;
    char *row =
        journal_row_bytes(10, sqlite3_column_int64(st, 1), strs, forged, strlen(forged), &len);
    uint8_t h[SHA256_LEN];
    journal_chain_hash(sqlite3_column_blob(st, 10), row, len, h);
    sqlite3_finalize(st);
    ASSERT_OK(sqlite3_prepare_v2(db, "UPDATE events SET payload = ?1, hash = ?2 WHERE seq = 10", -1,
                                 &st, NULL));
    sqlite3_bind_text(st, 1, forged, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, h, SHA256_LEN, SQLITE_STATIC);
    ASSERT_EQ(SQLITE_DONE, sqlite3_step(st));
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(row);
    for (int k = 0; k < 8; k++)
      free(copies[k]);
  }
  ASSERT_EQ(11, verify_first_bad(p, msg, sizeof(msg)));
  free(p);

  /* The newest events removed: verify names the first missing one and the
   * writer refuses to continue such a journal. */
  p = make_journal("tamper4.db", 20);
  ASSERT_OK(sql(p, "DELETE FROM events WHERE seq >= 19"));
  ASSERT_EQ(19, verify_first_bad(p, msg, sizeof(msg)));
  ASSERT_CONTAINS(msg, "missing at the end");
  struct eng_error err;
  size_t n0, n1;
  char *before = fx_read(p, &n0);
  ASSERT(!fx_open(p, false, &err));
  ASSERT_EQ(ENG_CORRUPT, err.code);
  ASSERT_CONTAINS(err.msg, "head record says seq 20");
  char *after = fx_read(p, &n1);
  ASSERT(fx_same_bytes(before, n0, after, n1));
  free(before);
  free(after);
  free(p);
}

int main(void) {
  xalloc_init();
  fx_setup("journal-bad");
  TEST(test_text_file);
  TEST(test_foreign_sqlite_database);
  TEST(test_newer_schema_version);
  TEST(test_truncated_files);
  TEST(test_corrupted_pages);
  TEST(test_paths_that_are_not_files);
  if (can_test_permissions()) {
    TEST(test_readonly_directory);
  } else {
    tap_n++;
    printf("ok %d - test_readonly_directory # SKIP running as root without CAP_SETUID: no way "
           "to make a directory read-only for this process\n",
           tap_n);
  }
  TEST(test_full_disk);
  TEST(test_tampering_named_by_seq);
  return tap_done();
}
