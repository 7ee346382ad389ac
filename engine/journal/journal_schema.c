/*
 * journal_schema.c - understand a journal file before touching it, then create
 * it or migrate it forward.
 *
 * Order matters: the file is first read with plain read(2) (header, size), then
 * through a read-only SQLite connection that never checkpoints (application
 * id, schema version). Only when all of that is understood does a writable
 * connection open, so a foreign, newer, truncated or damaged file is left
 * byte-for-byte as it was.
 */
#include "engine/base/common.h"
#include "engine/base/clock.h"
#include "engine/journal/journal_int.h"
#include "engine/journal/schema_sql.h"
#include "engine/base/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SQLITE_MAGIC "SQLite format 3"

int journal_schema_latest(void) { return (int)schema_sql_count; }

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool wal_has_frames(const char *path) {
  char *wal = xasprintf("%s-wal", path);
  struct stat st;
  bool has = stat(wal, &st) == 0 && st.st_size > 0;
  free(wal);
  return has;
}

/* A writer creates the journal, its -wal and its -shm next to each other. */
static enum eng_err check_dir_writable(struct journal *j, struct eng_error *err) {
  if (faccessat(AT_FDCWD, j->dir, W_OK | X_OK, AT_EACCESS) == 0)
    return ENG_OK;
  int e = errno;
  if (e == EACCES || e == EPERM || e == EROFS)
    return eng_error_set(err, ENG_READONLY,
                         "journal %s: the directory %s is not writable (%s); the controller "
                         "creates the journal and its -wal and -shm files there, so give it "
                         "write access or choose another journal path",
                         j->path, j->dir, strerror(e));
  return eng_error_set(err, ENG_IO, "journal %s: cannot use the directory %s: %s", j->path, j->dir,
                       strerror(e));
}

/*
 * Look at the file with read(2) only. *is_new: absent or empty (a journal is
 * created there). Errors name the file and what is wrong with it.
 */
static enum eng_err check_file(struct journal *j, bool *is_new, struct eng_error *err) {
  struct stat st;
  *is_new = false;
  if (stat(j->path, &st) != 0) {
    if (errno != ENOENT)
      return eng_error_set(err, ENG_IO, "journal %s: cannot examine the file: %s", j->path,
                           strerror(errno));
    if (j->read_only)
      return eng_error_set(err, ENG_NOTFOUND, "journal %s does not exist", j->path);
    struct stat ds;
    if (stat(j->dir, &ds) != 0)
      return eng_error_set(err, ENG_NOTFOUND,
                           "journal %s: its directory %s cannot be used (%s); create it or choose "
                           "another journal path",
                           j->path, j->dir, strerror(errno));
    if (!S_ISDIR(ds.st_mode))
      return eng_error_set(err, ENG_INVALID, "journal %s: %s is not a directory", j->path, j->dir);
    *is_new = true;
    return check_dir_writable(j, err);
  }
  if (!S_ISREG(st.st_mode))
    return eng_error_set(err, ENG_INVALID,
                         "journal %s is not a regular file (a directory or device?); give the path "
                         "of the journal file",
                         j->path);
  if (st.st_size == 0) {
    if (j->read_only)
      return eng_error_set(err, ENG_INVALID,
                           "journal %s is an empty file, not a journal (the controller creates "
                           "the journal on its first start; if this is a copy of a live "
                           "journal, its events were in %s-wal: take copies with '" PROG_NAME
                           " journal backup')",
                           j->path, j->path);
    *is_new = true;
    return check_dir_writable(j, err);
  }
  if (!j->read_only) {
    enum eng_err e = check_dir_writable(j, err);
    if (e)
      return e;
  }
  int fd = open(j->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return eng_error_set(err, errno == EACCES ? ENG_FORBIDDEN : ENG_IO,
                         "journal %s: cannot read the file: %s", j->path, strerror(errno));
  unsigned char h[100];
  ssize_t n = pread(fd, h, sizeof(h), 0);
  int rerr = errno;
  close(fd);
  if (n < 0)
    return eng_error_set(err, ENG_IO, "journal %s: cannot read the file: %s", j->path,
                         strerror(rerr));
  size_t ml = sizeof(SQLITE_MAGIC); /* with the NUL, as in the file */
  if ((size_t)n < ml || memcmp(h, SQLITE_MAGIC, ml) != 0) {
    if ((size_t)n < ml && memcmp(h, SQLITE_MAGIC, (size_t)n) == 0)
      return eng_error_set(err, ENG_CORRUPT,
                           "journal %s is truncated: only %zd bytes are left of the SQLite "
                           "header. Nothing was changed; restore it from a backup or start the "
                           "controller with a new journal file",
                           j->path, n);
    return eng_error_set(err, ENG_INVALID,
                         "journal %s is not a SQLite database (it does not start with the SQLite "
                         "header). Nothing was changed; check that the path names the "
                         "controller's journal file",
                         j->path);
  }
  if (n < 100)
    return eng_error_set(err, ENG_CORRUPT,
                         "journal %s is truncated: the file has %zd bytes, less than the 100-byte "
                         "SQLite header. Nothing was changed; restore it from a backup or start "
                         "the controller with a new journal file",
                         j->path, n);
  /* File format bytes 2/2: WAL mode. Committed events may then sit in the -wal
   * file until a checkpoint; a copy of the main file alone lacks them. */
  j->wal_header_no_wal = h[18] == 2 && h[19] == 2 && !wal_has_frames(j->path);
  uint32_t psize = (uint32_t)h[16] << 8 | h[17];
  if (psize == 1)
    psize = 65536;
  if (psize < 512 || (psize & (psize - 1)) != 0)
    return eng_error_set(err, ENG_CORRUPT,
                         "journal %s is damaged: its header gives an impossible page size (%u). "
                         "Nothing was changed; restore it from a backup or start the controller "
                         "with a new journal file",
                         j->path, psize);
  /* With frames in the WAL the main file may legitimately lag behind (a
   * checkpoint was interrupted); SQLite itself then decides. */
  if (!wal_has_frames(j->path)) {
    uint32_t npages = be32(h + 28);
    bool size_valid = npages != 0 && be32(h + 24) == be32(h + 92);
    if (st.st_size % psize != 0 || (size_valid && (uint64_t)st.st_size < (uint64_t)npages * psize))
      return eng_error_set(err, ENG_CORRUPT,
                           "journal %s is truncated: its header says %u pages of %u bytes (%llu "
                           "bytes) but the file has %lld bytes. Nothing was changed; restore it "
                           "from a backup or start the controller with a new journal file",
                           j->path, npages, psize, (unsigned long long)npages * psize,
                           (long long)st.st_size);
  }
  return ENG_OK;
}

enum eng_err journal_missing_wal_error(const struct journal *j, struct eng_error *err) {
  return eng_error_set(
      err, ENG_INVALID,
      "journal %s holds no events, and it is in WAL mode without a %s-wal file beside it: the "
      "events are in that -wal file, which was not copied with it (the controller's newest "
      "events stay there until a checkpoint moves them into the main file). Take a consistent "
      "single-file copy of the live journal next to the controller with '" PROG_NAME
      " journal backup JOURNAL COPY' (through kubectl exec) and copy that out, or copy "
      "%s-wal together with the file",
      j->path, j->path, j->path);
}

static enum eng_err query_int(struct journal *j, sqlite3 *db, const char *sql, int64_t *out,
                              struct eng_error *err) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return ENG_OK;
  }
  sqlite3_finalize(st);
  return journal_sql_error(j, db, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc, "reading the schema",
                           err);
}

/*
 * Classify an existing SQLite file through the read-only connection db:
 * *version 0 means "an empty SQLite database" (may become a journal).
 */
static enum eng_err probe(struct journal *j, sqlite3 *db, int *version, struct eng_error *err) {
  int64_t app = 0, ver = 0, objects = 0;
  enum eng_err e = query_int(j, db, "PRAGMA application_id", &app, err);
  if (!e)
    e = query_int(j, db, "PRAGMA user_version", &ver, err);
  if (!e)
    e = query_int(j, db, "SELECT count(*) FROM sqlite_schema", &objects, err);
  if (e)
    return e;
  int latest = journal_schema_latest();
  if (app == 0 && ver == 0 && objects == 0) {
    *version = 0;
    return ENG_OK;
  }
  if (app != JOURNAL_APPLICATION_ID)
    return eng_error_set(err, ENG_INVALID,
                         "journal %s is a SQLite database but not a journal (application id "
                         "0x%08llx, %lld schema objects). Nothing was changed; check that the "
                         "path names the controller's journal file",
                         j->path, (unsigned long long)(uint32_t)app, (long long)objects);
  if (ver > latest)
    return eng_error_set(err, ENG_VERSION,
                         "journal %s has schema version %lld, newer than the versions this "
                         "binary understands (1 to %d): it was written by a newer release. "
                         "Nothing was changed; upgrade the binary (this is %s %s) to read or "
                         "write it",
                         j->path, (long long)ver, latest, PROG_NAME, EQXM_VERSION);
  if (ver < 1)
    return eng_error_set(err, ENG_CORRUPT,
                         "journal %s carries the journal id but no schema version; it was damaged "
                         "while being created. Nothing was changed; move it aside",
                         j->path);
  *version = (int)ver;
  return ENG_OK;
}

/* Random RFC 4122 version 4 UUID. */
static void new_uuid(char out[37]) {
  uint8_t b[16];
  if (gnutls_rnd(GNUTLS_RND_NONCE, b, sizeof(b)) < 0)
    abort(); /* the library's generator failed: nothing sensible to do */
  b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
  b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
           b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
           b[15]);
}

/* The facts written once, in the transaction of migration 1. */
static enum eng_err init_meta(struct journal *j, struct eng_error *err) {
  char id[37], ms[32], zero[2 * SHA256_LEN + 1];
  new_uuid(id);
  snprintf(ms, sizeof(ms), "%" PRId64, clock_now_ms());
  memset(zero, '0', 2 * SHA256_LEN);
  zero[2 * SHA256_LEN] = '\0';
  const char *kv[][2] = {
      {"journal_id", id},   {"created_ms", ms},  {"created_by", PROG_NAME " " EQXM_VERSION},
      {"head_seq", "0"},    {"head_hash", zero}, {"anchor_seq", "0"},
      {"anchor_hash", zero}};
  for (size_t i = 0; i < ARRAY_SIZE(kv); i++) {
    enum eng_err e = journal_meta_set(j, j->db, kv[i][0], kv[i][1], err);
    if (e)
      return e;
  }
  char sql[64];
  snprintf(sql, sizeof(sql), "PRAGMA application_id = %d", JOURNAL_APPLICATION_ID);
  return journal_exec(j, j->db, sql, "marking the file as a journal", err);
}

/* Apply every migration above the current version, one transaction each. */
static enum eng_err migrate(struct journal *j, struct eng_error *err) {
  for (size_t i = 0; i < schema_sql_count; i++) {
    int want = (int)i + 1;
    if (strtol(schema_sql_files[i].name, NULL, 10) != want)
      return eng_error_set(err, ENG_INTERNAL,
                           "built-in schema file %s is out of sequence (expected number %04d)",
                           schema_sql_files[i].name, want);
  }
  for (;;) {
    enum eng_err e = journal_exec(j, j->db, "BEGIN IMMEDIATE", "starting a migration", err);
    if (e)
      return e;
    int64_t ver = 0;
    e = query_int(j, j->db, "PRAGMA user_version", &ver, err);
    if (!e && ver >= journal_schema_latest()) {
      j->schema_version = (int)ver;
      return journal_exec(j, j->db, "COMMIT", "finishing a migration", err);
    }
    if (!e) {
      const struct schema_sql *m = &schema_sql_files[ver];
      char doing[128];
      snprintf(doing, sizeof(doing), "migrating the schema to version %lld (%s)",
               (long long)ver + 1, m->name);
      e = journal_exec(j, j->db, m->text, doing, err);
      if (!e && ver == 0)
        e = init_meta(j, err);
      if (!e) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld", (long long)ver + 1);
        e = journal_exec(j, j->db, sql, doing, err);
      }
      if (!e)
        e = journal_exec(j, j->db, "COMMIT", doing, err);
    }
    if (e) {
      if (!sqlite3_get_autocommit(j->db))
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
      return e;
    }
  }
}

static enum eng_err pragma_text(struct journal *j, const char *sql, const char *want,
                                const char *doing, struct eng_error *err) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(j->db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    sqlite3_finalize(st);
    return journal_sql_error(j, j->db, rc, doing, err);
  }
  const char *got = (const char *)sqlite3_column_text(st, 0);
  bool ok = got && strcmp(got, want) == 0;
  char gotbuf[32];
  snprintf(gotbuf, sizeof(gotbuf), "%s", got ? got : "");
  sqlite3_finalize(st);
  if (!ok)
    return eng_error_set(err, ENG_IO,
                         "journal %s: %s: SQLite answered '%s' instead of '%s' (is the file on a "
                         "file system without shared memory support, e.g. a network share?)",
                         j->path, doing, gotbuf, want);
  return ENG_OK;
}

static enum eng_err open_writer(struct journal *j, const struct journal_options *opt, bool is_new,
                                struct eng_error *err) {
  int rc = sqlite3_open_v2(j->path, &j->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK)
    return journal_sql_error(j, j->db, rc, is_new ? "creating the file" : "opening the file", err);
  sqlite3_busy_timeout(j->db, JOURNAL_BUSY_TIMEOUT_MS);
  sqlite3_extended_result_codes(j->db, 1);
  if (sqlite3_db_readonly(j->db, "main") == 1)
    return eng_error_set(err, ENG_READONLY,
                         "journal %s: the file is not writable (check its owner and mode); the "
                         "controller needs write access to it and to %s",
                         j->path, j->dir);
  enum eng_err e = ENG_OK;
  if (is_new)
    e = journal_exec(j, j->db, "PRAGMA auto_vacuum = INCREMENTAL", "creating the file", err);
  if (!e)
    e = pragma_text(j, "PRAGMA journal_mode = WAL", "wal", "switching to WAL mode", err);
  if (!e) {
    static const char *const sync_sql[] = {
        "PRAGMA synchronous = FULL", "PRAGMA synchronous = NORMAL", "PRAGMA synchronous = OFF"};
    unsigned s = (unsigned)opt->sync < ARRAY_SIZE(sync_sql) ? (unsigned)opt->sync : 0;
    e = journal_exec(j, j->db, sync_sql[s], "setting durability", err);
  }
  if (!e)
    /* The WAL is truncated back to this size after a checkpoint resets it. */
    e = journal_exec(j, j->db, "PRAGMA journal_size_limit = 67108864", "setting the WAL limit",
                     err);
  if (!e && opt->max_page_count > 0) {
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %ld", opt->max_page_count);
    e = journal_exec(j, j->db, sql, "setting the size cap", err);
  }
  if (!e)
    e = migrate(j, err);
  return e;
}

enum eng_err journal_schema_prepare(struct journal *j, const struct journal_options *opt,
                                    struct eng_error *err) {
  bool is_new = false;
  enum eng_err e = check_file(j, &is_new, err);
  if (e)
    return e;
  if (!is_new) {
    sqlite3 *db = NULL;
    char *scratch = NULL;
    e = journal_open_reader(j->path, &db, j->read_only ? &scratch : NULL, err);
    int version = 0;
    if (!e)
      e = probe(j, db, &version, err);
    if (!e && version == 0 && j->read_only && j->wal_header_no_wal)
      e = journal_missing_wal_error(j, err);
    else if (!e && version == 0 && j->read_only)
      e = eng_error_set(err, ENG_INVALID,
                        "journal %s is an empty SQLite database, not a journal yet", j->path);
    if (e) {
      sqlite3_close(db);
      journal_scratch_remove(scratch);
      return e;
    }
    if (j->read_only) {
      j->db = db;
      j->scratch_dir = scratch;
      j->schema_version = version;
    } else {
      sqlite3_close(db);
      is_new = version == 0;
    }
  }
  if (!j->read_only) {
    e = open_writer(j, opt, is_new, err);
    if (e)
      return e;
  }
  char *id = NULL;
  e = journal_meta_get(j, j->db, "journal_id", &id, err);
  if (e == ENG_NOTFOUND)
    return eng_error_set(err, ENG_CORRUPT,
                         "journal %s has no journal id in its meta table: the file was altered",
                         j->path);
  if (e)
    return e;
  snprintf(j->id, sizeof(j->id), "%s", id);
  free(id);
  return ENG_OK;
}
