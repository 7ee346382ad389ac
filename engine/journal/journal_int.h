/*
 * journal_int.h - what the journal_*.c files share: the handle, the pending
 * rows, SQLite error translation and small SQL helpers. Not for other modules.
 */
#ifndef EQXM_JOURNAL_INT_H
#define EQXM_JOURNAL_INT_H

#include "engine/base/common.h"
#include "engine/base/buf.h"
#include "engine/journal/journal.h"
#include "engine/base/redact.h"

#include <sqlite3.h>

/* PRAGMA application_id of every journal: "JRNL". */
#define JOURNAL_APPLICATION_ID    0x4A524E4C
#define JOURNAL_DEFAULT_BATCH     1024
#define JOURNAL_PENDING_BYTES_MAX (64u * 1024 * 1024) /* commit before buffering more */
#define JOURNAL_PAYLOAD_MAX       (16u * 1024 * 1024)
#define JOURNAL_BUSY_TIMEOUT_MS   5000

/* Identity strings of a row, in canonical order. */
enum { JS_SOURCE, JS_TYPE, JS_GROUP_KIND, JS_NS, JS_NAME, JS_UID, JS_RV, JS_CORR, JS__COUNT };

/* An appended event waiting for journal_commit(). */
struct journal_pending {
  int64_t seq, recorded_ms;
  char *block;           /* owns the strings and the payload below */
  char *strs[JS__COUNT]; /* into block */
  char *payload;         /* into block, NUL-terminated */
  size_t payload_len;
  uint8_t hash[SHA256_LEN];
};

struct journal {
  char *path;
  char *dir;    /* directory holding the file, for messages */
  sqlite3 *db;  /* the writer, or the read-only connection of a read-only handle */
  sqlite3 *rdb; /* read-only connection for iterators of a writable handle (lazy) */
  bool read_only;
  struct redact_key key;  /* Secret digest key of a writer (PATH.key); len 0 when read-only */
  bool wal_header_no_wal; /* the header says WAL mode and no (or an empty) -wal file is beside it */
  bool may_lack_wal; /* ...and the newest event is not a clean stop: a copy without its -wal? */
  char
      *scratch_dir; /* read-only handle reading a scratch copy (see journal_open_reader), or NULL */
  size_t batch_max;
  int64_t (*now_ms)(void); /* clock_now_ms unless a test replaced it */
  int schema_version;
  char id[40];
  sqlite3_stmt *st_insert; /* prepared on first commit */

  int64_t durable_seq, durable_ms; /* head: newest committed event */
  uint8_t durable_hash[SHA256_LEN];
  int64_t last_seq, last_ms; /* newest appended event */
  uint8_t last_hash[SHA256_LEN];

  struct journal_pending *pend;
  size_t npend, pend_cap, pend_bytes;
  struct buf scratch; /* payload and row bytes of the event being appended */
  uint64_t sink_failures;
};

/*
 * Translate a SQLite failure into an operator's sentence naming the journal:
 * "journal PATH: <doing>: <problem>; <next step>". rc is the SQLite result
 * code, db the connection it came from (for its message and errno; may be NULL).
 */
enum eng_err journal_sql_error(const struct journal *j, sqlite3 *db, int rc, const char *doing,
                               struct eng_error *err);
enum eng_err journal_sql_error_path(const char *path, sqlite3 *db, int rc, const char *doing,
                                    struct eng_error *err);

/* Run SQL without results on db; translates failures. */
enum eng_err journal_exec(const struct journal *j, sqlite3 *db, const char *sql, const char *doing,
                          struct eng_error *err);

/* Meta table accessors on db. get: ENG_NOTFOUND when the key is absent; *out is
 * malloc'ed. */
enum eng_err journal_meta_get(const struct journal *j, sqlite3 *db, const char *key, char **out,
                              struct eng_error *err);
enum eng_err journal_meta_set(const struct journal *j, sqlite3 *db, const char *key,
                              const char *value, struct eng_error *err);
enum eng_err journal_meta_get_int(const struct journal *j, sqlite3 *db, const char *key,
                                  int64_t *out, struct eng_error *err);
/* hex <-> 32 bytes; parse returns false on malformed input. */
bool journal_hash_parse(const char *hex, uint8_t out[SHA256_LEN]);

/* The connection readers use: the handle's own when read-only, else the lazy
 * read-only second connection. */
enum eng_err journal_reader_db(struct journal *j, sqlite3 **out, struct eng_error *err);

/* Open a read-only connection to path (no checkpoint on close, query_only),
 * falling back to immutable mode on read-only media without a WAL file. With a
 * WAL in a directory where SQLite cannot create the -shm file it needs, and
 * scratch non-NULL, it reads a private copy of the file and its WAL in $TMPDIR
 * instead: *scratch is then that directory (journal_scratch_remove()). */
enum eng_err journal_open_reader(const char *path, sqlite3 **out, char **scratch,
                                 struct eng_error *err);
/* Remove a scratch directory made by journal_open_reader() and free dir (NULL: nothing). */
void journal_scratch_remove(char *dir);

/* journal_schema.c: check the file before touching it, then create or migrate
 * (writable handle) or check the version (read-only handle). Fills
 * j->schema_version and j->id. */
enum eng_err journal_schema_prepare(struct journal *j, const struct journal_options *opt,
                                    struct eng_error *err);
/* The sentence for a copy of a journal's main file without its -wal (ENG_INVALID). */
enum eng_err journal_missing_wal_error(const struct journal *j, struct eng_error *err);
/* The newest schema version this binary knows (number of migrations). */
int journal_schema_latest(void);

/* journal.c: v redacted (redact.h), as canonical JSON, with every secret
 * registered through log_register_secret() scrubbed as a second line of
 * defence. NULL v gives "{}". NULL when v cannot be encoded. Caller frees. */
char *journal_clean_json(const json_t *v, enum redact_hint hint, const struct redact_key *key);
/* The same, appended to b (on failure b is as before). */
enum eng_err journal_clean_append(struct buf *b, const json_t *v, enum redact_hint hint,
                                  const struct redact_key *key);
/* The row bytes (journal_row_bytes) appended to b. ENG_INVALID: a string is not UTF-8. */
enum eng_err journal_row_append(struct buf *b, int64_t seq, int64_t recorded_ms,
                                const char *const strs[JS__COUNT], const char *payload,
                                size_t payload_len);

/* journal.c: commit pending events when there are any (retention, snapshots). */
enum eng_err journal_flush(struct journal *j, struct eng_error *err);

/* Sizes of the database file and its WAL in bytes (-1 when absent). */
void journal_file_sizes(const struct journal *j, int64_t *db_bytes, int64_t *wal_bytes);

#endif
