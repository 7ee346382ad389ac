/*
 * journal.c - opening, appending, group commit and SQLite error translation.
 *
 * Appends are buffered in memory with their seq and chain hash already
 * assigned; journal_commit() writes the whole buffer and the new head in one
 * transaction (one fsync), which is what makes batching cheap. Readers never
 * use the writer's connection.
 */
#include "engine/base/common.h"
#include "engine/journal/journal.h"
#include "engine/base/clock.h"
#include "engine/base/jcanon.h"
#include "engine/journal/journal_int.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "engine/base/redact.h"
#include "engine/base/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- errors ---------------------------------------------------------------------------- */

static const char *dir_of(const char *path, char *buf, size_t n) {
  snprintf(buf, n, "%s", path);
  return dirname(buf);
}

enum eng_err journal_sql_error_path(const char *path, sqlite3 *db, int rc, const char *doing,
                                    struct eng_error *err) {
  int prim = rc & 0xff;
  const char *smsg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  int sys = db ? sqlite3_system_errno(db) : 0;
  char dbuf[4096];
  const char *dir = dir_of(path, dbuf, sizeof(dbuf));
  switch (prim) {
  case SQLITE_FULL:
    return eng_error_set(err, ENG_NOSPACE,
                         "journal %s: %s: the disk is full or the journal reached its size limit "
                         "(%s). Free space on the volume holding %s or lower the retention limits; "
                         "events not yet committed are kept and the commit can be retried",
                         path, doing, smsg, dir);
  case SQLITE_CORRUPT:
    return eng_error_set(err, ENG_CORRUPT,
                         "journal %s: %s: the database file is damaged (%s). Nothing was changed; "
                         "keep the file for investigation, run 'journal verify %s', and start the "
                         "controller with a new journal file",
                         path, doing, smsg, path);
  case SQLITE_NOTADB:
    return eng_error_set(err, ENG_INVALID,
                         "journal %s: %s: the file is not a SQLite database (%s). Nothing was "
                         "changed; check the journal path",
                         path, doing, smsg);
  case SQLITE_READONLY:
    return eng_error_set(err, ENG_READONLY,
                         "journal %s: %s: the file or its directory %s is read-only (%s). The "
                         "controller needs write access to both",
                         path, doing, dir, smsg);
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return eng_error_set(err, ENG_BUSY,
                         "journal %s: %s: the database is locked by another connection (%s); "
                         "only one process may write a journal",
                         path, doing, smsg);
  case SQLITE_PERM:
  case SQLITE_AUTH:
    return eng_error_set(err, ENG_FORBIDDEN, "journal %s: %s: access denied (%s)", path, doing,
                         smsg);
  case SQLITE_CANTOPEN:
    if (sys == EACCES || sys == EPERM || sys == EROFS)
      return eng_error_set(err, ENG_READONLY,
                           "journal %s: %s: cannot create or open the file or its -wal/-shm files "
                           "in %s (%s). The directory must be writable by the controller",
                           path, doing, dir, strerror(sys));
    if (sys == ENOENT) {
      struct stat ds;
      if (stat(dir, &ds) != 0)
        return eng_error_set(err, ENG_NOTFOUND,
                             "journal %s: %s: the directory %s does not exist (%s)", path, doing,
                             dir, strerror(sys));
      return eng_error_set(err, ENG_IO,
                           "journal %s: %s: SQLite could not open the file or the -wal/-shm files "
                           "beside it in %s (%s); check that they are readable",
                           path, doing, dir, strerror(sys));
    }
    return eng_error_set(err, ENG_IO, "journal %s: %s: cannot open the file (%s%s%s)", path, doing,
                         smsg, sys ? ": " : "", sys ? strerror(sys) : "");
  case SQLITE_IOERR:
    if (sys == ENOSPC || sys == EDQUOT)
      return eng_error_set(err, ENG_NOSPACE,
                           "journal %s: %s: no space left on the volume holding %s (%s). Free "
                           "space or lower the retention limits; events not yet committed are "
                           "kept and the commit can be retried",
                           path, doing, dir, strerror(sys));
    return eng_error_set(err, ENG_IO, "journal %s: %s: input/output error (%s%s%s)", path, doing,
                         smsg, sys ? ": " : "", sys ? strerror(sys) : "");
  case SQLITE_NOMEM:
    return eng_error_set(err, ENG_INTERNAL, "journal %s: %s: SQLite is out of memory", path, doing);
  default:
    return eng_error_set(err, ENG_INTERNAL, "journal %s: %s: %s (SQLite code %d)", path, doing,
                         smsg, rc);
  }
}

enum eng_err journal_sql_error(const struct journal *j, sqlite3 *db, int rc, const char *doing,
                               struct eng_error *err) {
  return journal_sql_error_path(j->path, db, rc, doing, err);
}

enum eng_err journal_exec(const struct journal *j, sqlite3 *db, const char *sql, const char *doing,
                          struct eng_error *err) {
  int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return journal_sql_error(j, db, rc, doing, err);
  return ENG_OK;
}

/* ---- meta ------------------------------------------------------------------------------ */

enum eng_err journal_meta_get(const struct journal *j, sqlite3 *db, const char *key, char **out,
                              struct eng_error *err) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(st);
  enum eng_err e = ENG_OK;
  if (rc == SQLITE_ROW) {
    const char *v = (const char *)sqlite3_column_text(st, 0);
    *out = xstrdup(v ? v : "");
  } else if (rc == SQLITE_DONE) {
    e = eng_error_set(err, ENG_NOTFOUND, "journal %s: the meta table has no '%s' entry", j->path,
                      key);
  } else {
    e = journal_sql_error(j, db, rc, "reading the meta table", err);
  }
  sqlite3_finalize(st);
  return e;
}

enum eng_err journal_meta_set(const struct journal *j, sqlite3 *db, const char *key,
                              const char *value, struct eng_error *err) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", -1,
                              &st, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK)
    rc = sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return journal_sql_error(j, db, rc, "writing the meta table", err);
  return ENG_OK;
}

enum eng_err journal_meta_get_int(const struct journal *j, sqlite3 *db, const char *key,
                                  int64_t *out, struct eng_error *err) {
  char *v = NULL;
  enum eng_err e = journal_meta_get(j, db, key, &v, err);
  if (e)
    return e;
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (errno || end == v || *end || n < 0) {
    e = eng_error_set(err, ENG_CORRUPT,
                      "journal %s: the meta entry '%s' is '%.40s', not a number: the file was "
                      "altered; run 'journal verify %s'",
                      j->path, key, v, j->path);
  } else {
    *out = n;
  }
  free(v);
  return e;
}

bool journal_hash_parse(const char *hex, uint8_t out[SHA256_LEN]) {
  if (!hex || strlen(hex) != 2 * SHA256_LEN)
    return false;
  for (size_t i = 0; i < SHA256_LEN; i++) {
    unsigned v = 0;
    for (int k = 0; k < 2; k++) {
      char c = hex[2 * i + (size_t)k];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= (unsigned)(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= (unsigned)(c - 'a' + 10);
      else
        return false;
    }
    out[i] = (uint8_t)v;
  }
  return true;
}

/* ---- canonical rows and the chain -------------------------------------------------------- */

enum eng_err journal_row_append(struct buf *b, int64_t seq, int64_t recorded_ms,
                                const char *const strs[JS__COUNT], const char *payload,
                                size_t payload_len) {
  size_t start = b->len;
  char nums[64];
  int n = snprintf(nums, sizeof(nums), "[%" PRId64 ",%" PRId64, seq, recorded_ms);
  enum eng_err e = buf_append(b, nums, (size_t)n);
  for (int i = 0; i < JS__COUNT && !e; i++) {
    const char *v = strs[i] ? strs[i] : "";
    e = buf_append(b, ",", 1);
    if (!e)
      e = jcanon_append_string(b, v, strlen(v));
  }
  if (!e)
    e = buf_append(b, ",", 1);
  if (!e)
    e = buf_append(b, payload, payload_len);
  if (!e)
    e = buf_append(b, "]", 1);
  if (e) {
    b->len = start;
    if (b->data)
      b->data[start] = '\0';
  }
  return e;
}

char *journal_row_bytes(int64_t seq, int64_t recorded_ms, const char *const strs[JS__COUNT],
                        const char *payload, size_t payload_len, size_t *len) {
  struct buf b;
  buf_init(&b, BUF_MAX_DERIVED);
  if (journal_row_append(&b, seq, recorded_ms, strs, payload, payload_len) != ENG_OK) {
    buf_release(&b);
    return NULL; /* an identity string is not UTF-8: no canonical form */
  }
  return buf_take(&b, len);
}

void journal_chain_hash(const uint8_t prev[SHA256_LEN], const char *row, size_t len,
                        uint8_t out[SHA256_LEN]) {
  struct sha256_ctx c;
  sha256_begin(&c);
  sha256_update(&c, prev, SHA256_LEN);
  sha256_update(&c, row, len);
  sha256_end(&c, out);
}

/* ---- reader connections ------------------------------------------------------------------ */

static bool wal_is_empty(const char *path) {
  char *wal = xasprintf("%s-wal", path);
  struct stat st;
  bool empty = stat(wal, &st) != 0 || st.st_size == 0;
  free(wal);
  return empty;
}

/* Copy one file (0600), fsync not needed: a private scratch copy. */
static enum eng_err copy_file(const char *from, const char *to, struct eng_error *err) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return eng_error_set(err, ENG_IO, "journal %s: cannot read it: %s", from, strerror(errno));
  int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) {
    int e = errno;
    close(in);
    return eng_error_set(err, ENG_IO, "cannot create the scratch copy %s: %s", to, strerror(e));
  }
  enum eng_err rc = ENG_OK;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = read(in, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rc = eng_error_set(err, ENG_IO, "journal %s: cannot read it: %s", from, strerror(errno));
      break;
    }
    if (n == 0)
      break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(out, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0) {
        rc = eng_error_set(err, errno == ENOSPC ? ENG_NOSPACE : ENG_IO,
                           "cannot write the scratch copy %s: %s", to, strerror(errno));
        break;
      }
      off += w;
    }
    if (rc)
      break;
  }
  close(in);
  if (close(out) != 0 && !rc)
    rc = eng_error_set(err, ENG_IO, "cannot write the scratch copy %s: %s", to, strerror(errno));
  return rc;
}

void journal_scratch_remove(char *dir) {
  if (!dir)
    return;
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
    char *f = xasprintf("%s/journal.db%s", dir, suffixes[i]);
    unlink(f);
    free(f);
  }
  rmdir(dir);
  free(dir);
}

/* A read-only directory holding a journal and its -wal: SQLite needs a -shm
 * file beside them to read the WAL and cannot create one there, and immutable
 * mode would ignore the WAL (and its events). Read a private copy of both in
 * $TMPDIR instead; *scratch is the directory to remove afterwards. */
static enum eng_err open_scratch_copy(const char *path, sqlite3 **out, char **scratch,
                                      struct eng_error *err) {
  const char *tmp = getenv("TMPDIR");
  char *dir = xasprintf("%s/journal-read-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    int e = errno;
    free(dir);
    return eng_error_set(err, ENG_READONLY,
                         "journal %s: its directory is read-only, so SQLite cannot create the "
                         "-shm file it needs to read the -wal file, and a scratch copy in "
                         "$TMPDIR could not be made either (%s); copy the journal and its -wal "
                         "into a writable directory",
                         path, strerror(e));
  }
  char *db_copy = xasprintf("%s/journal.db", dir);
  char *wal = xasprintf("%s-wal", path), *wal_copy = xasprintf("%s-wal", db_copy);
  enum eng_err e = copy_file(path, db_copy, err);
  if (!e)
    e = copy_file(wal, wal_copy, err);
  free(wal);
  free(wal_copy);
  sqlite3 *db = NULL;
  if (!e) {
    int rc = sqlite3_open_v2(db_copy, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
      sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
      rc = sqlite3_exec(db, "PRAGMA query_only = 1; SELECT count(*) FROM sqlite_schema", NULL, NULL,
                        NULL);
    }
    if (rc != SQLITE_OK)
      e = journal_sql_error_path(path, db, rc, "reading a scratch copy of it and its -wal", err);
  }
  free(db_copy);
  if (e) {
    sqlite3_close(db);
    journal_scratch_remove(dir);
    return e;
  }
  *out = db;
  *scratch = dir;
  return ENG_OK;
}

enum eng_err journal_open_reader(const char *path, sqlite3 **out, char **scratch,
                                 struct eng_error *err) {
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    sqlite3_busy_timeout(db, JOURNAL_BUSY_TIMEOUT_MS);
    /* Touch the schema now, so a WAL that cannot be opened shows here. */
    rc = sqlite3_exec(db, "PRAGMA query_only = 1; SELECT count(*) FROM sqlite_schema", NULL, NULL,
                      NULL);
  }
  int prim = rc & 0xff;
  if ((prim == SQLITE_CANTOPEN || prim == SQLITE_READONLY) && wal_is_empty(path)) {
    /* Read-only media (a copied journal on a read-only volume): without a WAL the
     * main file is complete, so immutable mode (no locks, no -shm) is exact. */
    sqlite3_close(db);
    db = NULL;
    char *uri = sqlite3_mprintf("file:%s?immutable=1", path);
    rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                         NULL);
    sqlite3_free(uri);
    if (rc == SQLITE_OK)
      rc = sqlite3_exec(db, "PRAGMA query_only = 1; SELECT count(*) FROM sqlite_schema", NULL, NULL,
                        NULL);
  } else if ((prim == SQLITE_CANTOPEN || prim == SQLITE_READONLY) && scratch) {
    sqlite3_close(db);
    return open_scratch_copy(path, out, scratch, err);
  }
  if (rc != SQLITE_OK) {
    enum eng_err e = journal_sql_error_path(path, db, rc, "opening for reading", err);
    sqlite3_close(db);
    return e;
  }
  *out = db;
  return ENG_OK;
}

enum eng_err journal_reader_db(struct journal *j, sqlite3 **out, struct eng_error *err) {
  if (j->read_only) {
    *out = j->db;
    return ENG_OK;
  }
  if (!j->rdb) {
    enum eng_err e = journal_open_reader(j->path, &j->rdb, NULL, err);
    if (e)
      return e;
  }
  *out = j->rdb;
  return ENG_OK;
}

/* ---- open and close ---------------------------------------------------------------------- */

/* Load the head (durable seq, hash, time) and check it against the newest row. */
static enum eng_err load_head(struct journal *j, struct eng_error *err) {
  char *hex = NULL;
  int64_t head_seq = 0;
  enum eng_err e = journal_meta_get_int(j, j->db, "head_seq", &head_seq, err);
  if (!e)
    e = journal_meta_get(j, j->db, "head_hash", &hex, err);
  if (e) {
    free(hex);
    return e == ENG_NOTFOUND ? eng_error_set(err, ENG_CORRUPT,
                                             "journal %s: the head record is missing from the "
                                             "meta table: the file was altered; run 'journal "
                                             "verify %s'",
                                             j->path, j->path)
                             : e;
  }
  bool ok = journal_hash_parse(hex, j->durable_hash);
  free(hex);
  if (!ok)
    return eng_error_set(err, ENG_CORRUPT,
                         "journal %s: the head hash in the meta table is malformed: the file was "
                         "altered; run 'journal verify %s'",
                         j->path, j->path);
  j->durable_seq = head_seq;
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(j->db,
                              "SELECT seq, recorded_ms, hash FROM events ORDER BY seq DESC "
                              "LIMIT 1",
                              -1, &st, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    int64_t seq = sqlite3_column_int64(st, 0);
    j->durable_ms = sqlite3_column_int64(st, 1);
    bool same = seq == head_seq && sqlite3_column_bytes(st, 2) == SHA256_LEN &&
                memcmp(sqlite3_column_blob(st, 2), j->durable_hash, SHA256_LEN) == 0;
    sqlite3_finalize(st);
    if (!same && !j->read_only)
      return eng_error_set(err, ENG_CORRUPT,
                           "journal %s: the newest event is seq %" PRId64
                           " but the head record says seq %" PRId64
                           ": events were removed or altered outside the controller. Nothing was "
                           "changed; keep the file for audit ('journal verify %s') and start the "
                           "controller with a new journal file",
                           j->path, seq, head_seq, j->path);
  } else if (rc == SQLITE_DONE) {
    sqlite3_finalize(st);
    j->durable_ms = 0;
    int64_t anchor = 0;
    e = journal_meta_get_int(j, j->db, "anchor_seq", &anchor, err);
    if (e)
      return e;
    if (anchor != head_seq && !j->read_only)
      return eng_error_set(err, ENG_CORRUPT,
                           "journal %s: the events table is empty but the head record says seq "
                           "%" PRId64 ": events were removed outside the controller. Nothing "
                           "was changed; keep the file for audit and start the controller with "
                           "a new journal file",
                           j->path, head_seq);
  } else {
    sqlite3_finalize(st);
    return journal_sql_error(j, j->db, rc, "reading the newest event", err);
  }
  j->last_seq = j->durable_seq;
  j->last_ms = j->durable_ms;
  memcpy(j->last_hash, j->durable_hash, SHA256_LEN);
  if (j->read_only && j->wal_header_no_wal) {
    /* A controller that stopped cleanly checkpointed and removed its -wal and
     * wrote engine.stop last; anything else may be a copy that lacks it. */
    rc = sqlite3_prepare_v2(j->db, "SELECT type FROM events ORDER BY seq DESC LIMIT 1", -1, &st,
                            NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
      const char *t = (const char *)sqlite3_column_text(st, 0);
      j->may_lack_wal = !t || strcmp(t, "engine.stop") != 0;
    }
    sqlite3_finalize(st);
  }
  return ENG_OK;
}

bool journal_may_lack_wal(const struct journal *j) { return j->may_lack_wal; }

/* The digest key (docs/journal.md, "Threat model of the Secret digests"): PATH.key,
 * 64 hex digits, mode 0600, created by the first writer; never inside the
 * journal file, so a copy of the journal (journal backup) does not carry it. */
static enum eng_err load_key(struct journal *j, struct eng_error *err) {
  char *kp = xasprintf("%s.key", j->path);
  enum eng_err e = ENG_OK;
  int fd = open(kp, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    uint8_t b[32];
    if (gnutls_rnd(GNUTLS_RND_KEY, b, sizeof(b)) < 0)
      abort();
    char hex[65];
    hex_encode(b, sizeof(b), hex);
    hex[64] = '\n';
    int w = open(kp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (w < 0 || write(w, hex, 65) != 65 || fsync(w) != 0) {
      e = eng_error_set(err, errno == ENOSPC ? ENG_NOSPACE : ENG_IO,
                        "journal %s: cannot create its digest key file %s: %s", j->path, kp,
                        strerror(errno));
      if (w >= 0)
        close(w);
      unlink(kp);
    } else {
      close(w);
      memcpy(j->key.bytes, b, sizeof(b));
      j->key.len = sizeof(b);
    }
    explicit_bzero(b, sizeof(b));
    explicit_bzero(hex, sizeof(hex));
    free(kp);
    return e;
  }
  if (fd < 0) {
    e = eng_error_set(err, ENG_IO, "journal %s: cannot read its digest key file %s: %s", j->path,
                      kp, strerror(errno));
    free(kp);
    return e;
  }
  char hex[80] = {0};
  ssize_t n = read(fd, hex, sizeof(hex) - 1);
  close(fd);
  if (n >= 64) {
    char h64[65];
    memcpy(h64, hex, 64);
    h64[64] = '\0';
    if (journal_hash_parse(h64, j->key.bytes))
      j->key.len = 32;
    explicit_bzero(h64, sizeof(h64));
  }
  explicit_bzero(hex, sizeof(hex));
  if (!j->key.len)
    e = eng_error_set(
        err, ENG_CORRUPT,
        "journal %s: its digest key file %s is not 64 hex digits; restore it, or move "
        "it aside to start a new key (Secret digests then change once)",
        j->path, kp);
  free(kp);
  return e;
}

enum eng_err journal_open(const char *path, const struct journal_options *opt, struct journal **out,
                          struct eng_error *err) {
  static const struct journal_options defaults = {0};
  if (!opt)
    opt = &defaults;
  *out = NULL;
  if (!path || !*path)
    return eng_error_set(err, ENG_USAGE, "no journal path was given");
  struct journal *j = xcalloc(1, sizeof(*j));
  j->path = xstrdup(path);
  char dbuf[4096];
  j->dir = xstrdup(dir_of(path, dbuf, sizeof(dbuf)));
  j->read_only = opt->read_only;
  j->batch_max = opt->batch_max ? opt->batch_max : JOURNAL_DEFAULT_BATCH;
  j->now_ms = opt->now_ms ? opt->now_ms : clock_now_ms;
  buf_init(&j->scratch, 2 * JOURNAL_PAYLOAD_MAX + 64 * 1024);
  enum eng_err e = journal_schema_prepare(j, opt, err);
  if (!e)
    e = load_head(j, err);
  if (!e && !j->read_only)
    e = load_key(j, err);
  if (e) {
    journal_close(j);
    return e;
  }
  *out = j;
  return ENG_OK;
}

static void pending_free(struct journal_pending *p) {
  free(p->block);
  p->block = NULL;
}

void journal_discard_pending(struct journal *j) {
  for (size_t i = 0; i < j->npend; i++)
    pending_free(&j->pend[i]);
  j->npend = 0;
  j->pend_bytes = 0;
  j->last_seq = j->durable_seq;
  j->last_ms = j->durable_ms;
  memcpy(j->last_hash, j->durable_hash, SHA256_LEN);
}

void journal_close(struct journal *j) {
  if (!j)
    return;
  journal_discard_pending(j);
  free(j->pend);
  buf_release(&j->scratch);
  sqlite3_finalize(j->st_insert);
  if (j->rdb)
    sqlite3_close(j->rdb);
  if (j->db)
    sqlite3_close(j->db);
  journal_scratch_remove(j->scratch_dir);
  explicit_bzero(&j->key, sizeof(j->key));
  free(j->path);
  free(j->dir);
  free(j);
}

bool journal_last_appended(const struct journal *j, int64_t *recorded_ms, const char **payload,
                           size_t *payload_len) {
  if (j->npend == 0)
    return false;
  const struct journal_pending *p = &j->pend[j->npend - 1];
  *recorded_ms = p->recorded_ms;
  *payload = p->payload;
  *payload_len = p->payload_len;
  return true;
}

int64_t journal_durable_seq(const struct journal *j) { return j->durable_seq; }
int64_t journal_last_seq(const struct journal *j) { return j->last_seq; }
size_t journal_pending(const struct journal *j) { return j->npend; }
const char *journal_path(const struct journal *j) { return j->path; }
const char *journal_id(const struct journal *j) { return j->id; }

/* ---- append and commit ------------------------------------------------------------------- */

char *journal_clean_json(const json_t *v, enum redact_hint hint, const struct redact_key *key) {
  struct buf b;
  buf_init(&b, BUF_MAX_DERIVED);
  enum eng_err e = journal_clean_append(&b, v, hint, key);
  if (e) {
    buf_release(&b);
    return NULL;
  }
  return buf_take(&b, NULL);
}

enum eng_err journal_clean_append(struct buf *b, const json_t *v, enum redact_hint hint,
                                  const struct redact_key *key) {
  size_t start = b->len;
  enum eng_err e;
  if (!v) {
    e = buf_append(b, "{}", 2);
  } else if (redact_needed(v, hint)) {
    json_t *red = redact_shared_keyed(v, hint, key);
    e = jcanon_append(b, red);
    json_decref(red);
  } else {
    e = jcanon_append(b, v); /* nothing to redact: no copy */
  }
  if (e)
    return e;
  /* Second line of defence: a credential registered with log_register_secret()
   * that survived redaction (free text, an unknown key) is scrubbed, and the
   * result re-canonicalised (a key may have changed, and with it the order). */
  if (!log_has_secret(b->data + start))
    return ENG_OK; /* the common case: no copy */
  char *scrubbed = log_scrub(b->data + start);
  if (strcmp(scrubbed, b->data + start) != 0) {
    json_t *parsed = json_loads(scrubbed, JSON_DECODE_ANY, NULL);
    explicit_bzero(b->data + start, b->len - start);
    b->len = start;
    b->data[start] = '\0';
    e = parsed ? jcanon_append(b, parsed) : buf_appends(b, "{\"redacted\":\"" REDACTED "\"}");
    json_decref(parsed);
  }
  xfree_secret(scrubbed);
  return e;
}

int64_t journal_append(struct journal *j, const struct jevent *ev, struct eng_error *err) {
  if (j->read_only) {
    eng_error_set(err, ENG_READONLY, "journal %s was opened read-only; cannot append", j->path);
    return -1;
  }
  if (!ev || !ev->source || !*ev->source || !ev->type || !*ev->type) {
    eng_error_set(err, ENG_INVALID, "journal %s: an event needs a source and a type", j->path);
    return -1;
  }
  if (j->npend >= j->batch_max || j->pend_bytes >= JOURNAL_PENDING_BYTES_MAX) {
    if (journal_commit(j, err) != ENG_OK)
      return -1;
  }
  const char *strs[JS__COUNT] = {ev->source, ev->type, ev->group_kind,       ev->ns,
                                 ev->name,   ev->uid,  ev->resource_version, ev->correlation_id};
  /* The scratch buffer holds the previous hash, then the row bytes, so the
   * chain hash is one SHA-256 call over it. */
  struct buf *b = &j->scratch;
  buf_reset(b);
  enum eng_err e = buf_append(b, j->last_hash, SHA256_LEN);
  size_t payload_at = b->len;
  if (!e)
    e = journal_clean_append(b, ev->payload, redact_hint_for_kind(ev->group_kind), &j->key);
  size_t plen = b->len - payload_at;
  if (e || plen > JOURNAL_PAYLOAD_MAX) {
    if (e == ENG_INVALID)
      eng_error_set(err, ENG_INVALID,
                    "journal %s: the payload of a %s event cannot be encoded as JSON (a string "
                    "that is not UTF-8, or nesting deeper than %d levels)",
                    j->path, ev->type, JCANON_MAX_DEPTH);
    else
      eng_error_set(err, ENG_TOOLARGE,
                    "journal %s: the payload of a %s event for %s/%s is larger than the limit of "
                    "%u bytes",
                    j->path, ev->type, ev->ns ? ev->ns : "", ev->name ? ev->name : "",
                    JOURNAL_PAYLOAD_MAX);
    return -1;
  }
  int64_t now = j->now_ms();
  struct journal_pending p = {.seq = j->last_seq + 1,
                              .recorded_ms = now > j->last_ms ? now : j->last_ms};
  /* One block per row: the identity strings (each NUL-terminated), then the payload. */
  size_t lens[JS__COUNT], total = plen + 1;
  for (int i = 0; i < JS__COUNT; i++) {
    lens[i] = strs[i] ? strlen(strs[i]) : 0;
    total += lens[i] + 1;
  }
  p.block = xmalloc(total);
  char *w = p.block;
  for (int i = 0; i < JS__COUNT; i++) {
    if (lens[i])
      memcpy(w, strs[i], lens[i]);
    w[lens[i]] = '\0';
    p.strs[i] = w;
    w += lens[i] + 1;
  }
  memcpy(w, b->data + payload_at, plen);
  w[plen] = '\0';
  p.payload = w;
  p.payload_len = plen;
  /* Row bytes after the payload in the scratch buffer, prefixed by prev hash. */
  size_t row_at = b->len;
  e = buf_append(b, j->last_hash, SHA256_LEN);
  if (!e)
    e = journal_row_append(b, p.seq, p.recorded_ms, (const char *const *)p.strs, p.payload, plen);
  if (e) {
    free(p.block);
    eng_error_set(err, ENG_INVALID,
                  "journal %s: a %s event has an identity field that is not valid UTF-8", j->path,
                  ev->type);
    return -1;
  }
  sha256(b->data + row_at, b->len - row_at, p.hash);
  if (j->npend == j->pend_cap) {
    j->pend_cap = j->pend_cap ? 2 * j->pend_cap : 64;
    j->pend = xrealloc(j->pend, j->pend_cap * sizeof(*j->pend));
  }
  j->pend[j->npend++] = p;
  j->pend_bytes += total;
  j->last_seq = p.seq;
  j->last_ms = p.recorded_ms;
  memcpy(j->last_hash, p.hash, SHA256_LEN);
  return p.seq;
}

static void rollback(struct journal *j) {
  if (!sqlite3_get_autocommit(j->db))
    sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Insert the pending rows and move the head, inside the caller's transaction. */
static enum eng_err write_pending(struct journal *j, struct eng_error *err) {
  int rc;
  if (!j->st_insert) {
    rc = sqlite3_prepare_v3(j->db,
                            "INSERT INTO events (seq, recorded_ms, source, type, group_kind, "
                            "namespace, name, uid, resource_version, correlation_id, payload, "
                            "hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                            -1, SQLITE_PREPARE_PERSISTENT, &j->st_insert, NULL);
    if (rc != SQLITE_OK)
      return journal_sql_error(j, j->db, rc, "preparing the event insert", err);
  }
  sqlite3_stmt *st = j->st_insert;
  for (size_t i = 0; i < j->npend; i++) {
    const struct journal_pending *p = &j->pend[i];
    sqlite3_bind_int64(st, 1, p->seq);
    sqlite3_bind_int64(st, 2, p->recorded_ms);
    for (int k = 0; k < JS__COUNT; k++)
      sqlite3_bind_text(st, 3 + k, p->strs[k], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, p->payload, (int)p->payload_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 12, p->hash, SHA256_LEN, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
      char doing[128];
      snprintf(doing, sizeof(doing), "committing events %" PRId64 "..%" PRId64, j->pend[0].seq,
               j->pend[j->npend - 1].seq);
      return journal_sql_error(j, j->db, rc, doing, err);
    }
  }
  sqlite3_clear_bindings(st);
  char seq[32], hex[2 * SHA256_LEN + 1];
  snprintf(seq, sizeof(seq), "%" PRId64, j->last_seq);
  hex_encode(j->last_hash, SHA256_LEN, hex);
  enum eng_err e = journal_meta_set(j, j->db, "head_seq", seq, err);
  if (!e)
    e = journal_meta_set(j, j->db, "head_hash", hex, err);
  return e;
}

enum eng_err journal_commit(struct journal *j, struct eng_error *err) {
  if (j->read_only)
    return eng_error_set(err, ENG_READONLY, "journal %s was opened read-only; cannot commit",
                         j->path);
  if (j->npend == 0)
    return ENG_OK;
  int rc = sqlite3_exec(j->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return journal_sql_error(j, j->db, rc, "starting a commit", err);
  /* One writer per journal: if the head moved, another process appends too. */
  int64_t head = 0;
  enum eng_err e = journal_meta_get_int(j, j->db, "head_seq", &head, err);
  if (!e && head != j->durable_seq)
    e = eng_error_set(err, ENG_CONFLICT,
                      "journal %s: another process appended events (the head is seq %" PRId64
                      ", this process wrote up to %" PRId64
                      "); only one process may write a journal: stop the other one",
                      j->path, head, j->durable_seq);
  if (!e)
    e = write_pending(j, err);
  if (!e) {
    rc = sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
      e = journal_sql_error(j, j->db, rc, "committing", err);
  }
  if (e) {
    rollback(j);
    return e;
  }
  struct journal_pending *last = &j->pend[j->npend - 1];
  j->durable_seq = last->seq;
  j->durable_ms = last->recorded_ms;
  memcpy(j->durable_hash, last->hash, SHA256_LEN);
  for (size_t i = 0; i < j->npend; i++)
    pending_free(&j->pend[i]);
  j->npend = 0;
  j->pend_bytes = 0;
  return ENG_OK;
}

enum eng_err journal_flush(struct journal *j, struct eng_error *err) {
  return j->npend ? journal_commit(j, err) : ENG_OK;
}

int64_t journal_append_durable(struct journal *j, const struct jevent *ev, struct eng_error *err) {
  int64_t seq = journal_append(j, ev, err);
  if (seq < 0)
    return -1;
  if (journal_commit(j, err) != ENG_OK) {
    /* Take this event back out, so a caller that retries does not journal the
     * intent twice; earlier pending events stay pending. */
    struct journal_pending *p = &j->pend[--j->npend];
    j->pend_bytes = j->pend_bytes > p->payload_len ? j->pend_bytes - p->payload_len : 0;
    pending_free(p);
    if (j->npend) {
      struct journal_pending *q = &j->pend[j->npend - 1];
      j->last_seq = q->seq;
      j->last_ms = q->recorded_ms;
      memcpy(j->last_hash, q->hash, SHA256_LEN);
    } else {
      j->last_seq = j->durable_seq;
      j->last_ms = j->durable_ms;
      memcpy(j->last_hash, j->durable_hash, SHA256_LEN);
    }
    return -1;
  }
  return seq;
}

static void sink_append(void *ud, const struct jevent *ev) {
  struct journal *j = ud;
  struct eng_error err;
  eng_error_clear(&err);
  if (journal_append(j, ev, &err) < 0) {
    j->sink_failures++;
    log_error("an event could not be journaled", "journal", j->path, "type",
              ev && ev->type ? ev->type : "", "error", err.msg, NULL);
  }
}

struct jevent_sink journal_sink(struct journal *j) {
  struct jevent_sink s = {sink_append, j};
  return s;
}

uint64_t journal_sink_failures(const struct journal *j) { return j->sink_failures; }

void journal_file_sizes(const struct journal *j, int64_t *db_bytes, int64_t *wal_bytes) {
  struct stat st;
  *db_bytes = stat(j->path, &st) == 0 ? (int64_t)st.st_size : -1;
  char *wal = xasprintf("%s-wal", j->path);
  *wal_bytes = stat(wal, &st) == 0 ? (int64_t)st.st_size : -1;
  free(wal);
}

int64_t journal_size_bytes(const struct journal *j) {
  int64_t db = 0, wal = 0;
  journal_file_sizes(j, &db, &wal);
  return (db > 0 ? db : 0) + (wal > 0 ? wal : 0);
}
