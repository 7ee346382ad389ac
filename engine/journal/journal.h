/*
 * journal.h - the persistent, append-only event journal (SQLite, WAL mode).
 *
 * One process writes a journal; any number of processes read it at the same
 * time without blocking the writer (readers use their own read-only
 * connections). Everything the engine observes or decides is appended as a
 * struct jevent (event.h); the journal redacts credentials (redact.h),
 * canonicalises the payload, assigns the next seq and the recorded time, and
 * extends a SHA-256 hash chain over the rows.
 *
 * Durability is explicit (group commit):
 *
 *   int64_t seq = journal_append(j, &ev, &err);    buffered in memory, NOT durable
 *   ...more appends...
 *   journal_commit(j, &err);                         now every appended event is durable
 *
 * An event is durable once journal_commit() has returned ENG_OK after its
 * append (journal_durable_seq() >= its seq): it survives a crash or a power
 * loss (synchronous=FULL, the default). An action intent must be durable
 * before the action runs: use journal_append_durable(). A failed commit keeps
 * the buffered events so a later commit can retry them (after space was
 * freed); journal_discard_pending() drops them instead.
 *
 * The file format, the canonical row bytes of the hash chain, redaction and
 * retention are documented in docs/journal.md.
 *
 * Not thread-safe: one thread uses a handle at a time.
 */
#ifndef EQXM_JOURNAL_H
#define EQXM_JOURNAL_H

#include "engine/base/common.h"
#include "engine/base/err.h"
#include "engine/journal/event.h"
#include "engine/base/sha256.h"

#include <jansson.h>

struct journal;

enum journal_sync {
  JOURNAL_SYNC_FULL = 0, /* default: a committed batch survives power loss (fsync per commit) */
  JOURNAL_SYNC_NORMAL,   /* survives a process crash; the last batches may be lost on power loss */
  JOURNAL_SYNC_OFF,      /* tests and benchmarks only */
};

struct journal_options {
  bool read_only;   /* open for reading: never writes the file (CLI, replay, audit) */
  size_t batch_max; /* append commits on its own when this many events are pending; 0 = 1024 */
  enum journal_sync sync;
  /* Test hook: cap the database at this many pages (PRAGMA max_page_count), so a
   * test can provoke a full disk. 0 = no cap. */
  long max_page_count;
  /* Test hook: the wall clock recorded_ms comes from (NULL = clock_now_ms), so
   * test tools can write journals with chosen times (golden timelines). */
  int64_t (*now_ms)(void);
};

/*
 * Open (read_only) or open-or-create the journal at path. Before anything is
 * written the file is checked: it must be empty or absent (a new journal), or a
 * SQLite database carrying the journal's application id, not truncated, with a
 * schema version this binary knows (older versions are migrated forward, each
 * migration in one transaction). Otherwise nothing is modified and the error
 * names the file and the problem: ENG_INVALID (not a journal), ENG_VERSION
 * (newer schema: upgrade the binary), ENG_CORRUPT, ENG_NOTFOUND, ENG_READONLY,
 * ENG_NOSPACE, ENG_IO. On success *out owns the handle (journal_close).
 */
enum eng_err journal_open(const char *path, const struct journal_options *opt, struct journal **out,
                          struct eng_error *err) WARN_UNUSED;

/* Close the handle. Pending (uncommitted) events are discarded, not committed:
 * commit first when they matter. NULL is allowed. */
void journal_close(struct journal *j);

/*
 * Buffer one event: redact a copy of ev->payload, canonicalise it, assign
 * seq = last_seq + 1 and recorded_ms (UTC wall clock in ms, never smaller than
 * the previous event's), and extend the hash chain. Returns the seq, which is
 * not durable until journal_commit(); -1 on error (nothing buffered). When
 * batch_max events are already pending it first commits them; if that commit
 * fails, append fails and the error is the commit's. ENG_READONLY on a
 * read-only handle, ENG_INVALID for a missing source or type, ENG_TOOLARGE for
 * a payload over 16 MiB.
 */
int64_t journal_append(struct journal *j, const struct jevent *ev, struct eng_error *err);

/* Make every appended event durable (one transaction, one fsync). ENG_OK with
 * nothing pending is a no-op. On failure the events stay pending (ENG_NOSPACE:
 * free space and retry). */
enum eng_err journal_commit(struct journal *j, struct eng_error *err) WARN_UNUSED;

/* journal_append() then journal_commit(): returns the seq once it is durable,
 * -1 on error (the event and any other pending events are then not durable). */
int64_t journal_append_durable(struct journal *j, const struct jevent *ev, struct eng_error *err);

/*
 * The event appended last, exactly as it is stored: its recorded time and its
 * canonical, redacted payload text (borrowed until the next append, commit or
 * discard). Only meaningful right after a successful journal_append(); the
 * runtime feeds reducers this text so live decisions and replayed decisions
 * see the same bytes. False when nothing is pending.
 */
bool journal_last_appended(const struct journal *j, int64_t *recorded_ms, const char **payload,
                           size_t *payload_len);

/* Drop the pending events; last_seq goes back to durable_seq. */
void journal_discard_pending(struct journal *j);

/*
 * A jevent_sink (event.h) that appends to j, for observers that cannot handle
 * an error themselves (watch and poll callbacks). A failed append is logged
 * (log_error, with the journal's message) and counted in
 * journal_sink_failures(); durability still comes from journal_commit(),
 * which the owner of j calls (e.g. once per event-loop iteration).
 */
struct jevent_sink journal_sink(struct journal *j);
uint64_t journal_sink_failures(const struct journal *j);

int64_t journal_durable_seq(const struct journal *j); /* newest committed seq (0: none) */
int64_t journal_last_seq(const struct journal *j);    /* newest appended seq, committed or not */
size_t journal_pending(const struct journal *j);      /* events appended but not committed */
const char *journal_path(const struct journal *j);
/* Bytes of the database file plus its WAL now (two stat calls; for a metric). */
int64_t journal_size_bytes(const struct journal *j);
const char *journal_id(const struct journal *j); /* random UUID chosen at creation */
/* A read-only handle on a file in WAL mode with no -wal file beside it whose
 * newest event is not a clean stop: possibly a copy of a live journal's main
 * file without its -wal, so newer events may be missing (commands say so). */
bool journal_may_lack_wal(const struct journal *j);

/* ---- reading ---------------------------------------------------------------------------- */

/* Which events an iterator yields. Zero/NULL fields do not filter. Reading
 * always sees committed events only, in seq order. */
struct journal_filter {
  int64_t from_seq, to_seq; /* inclusive bounds; 0 = open */
  const char *group_kind;   /* exact, e.g. "extensions.gardener.cloud/Infrastructure" */
  const char *kind; /* kind in any group: "Infrastructure" matches "<group>/Infrastructure" */
  const char *ns, *name, *uid;
  const char *type;        /* exact */
  const char *type_prefix; /* e.g. "kube." */
  const char *source;
  const char *correlation_id;
  bool raw; /* do not parse payloads: journal_row.payload stays NULL */
};

/* One event. Everything is borrowed until the next journal_iter_next() or
 * journal_iter_free(); json_incref(payload) to keep it. */
struct journal_row {
  int64_t seq, recorded_ms;
  const char *source, *type, *group_kind, *ns, *name, *uid, *resource_version, *correlation_id;
  const char *payload_text; /* canonical JSON as stored */
  size_t payload_len;
  json_t *payload; /* parsed payload, NULL with filter.raw */
  uint8_t hash[SHA256_LEN];
};

struct journal_iter;

/* Start iterating. Works on read-only handles; on a writable handle it reads
 * through a separate read-only connection, so it never blocks commits. The
 * iterator sees one consistent snapshot of the journal for its lifetime. */
enum eng_err journal_iter_open(struct journal *j, const struct journal_filter *f,
                               struct journal_iter **out, struct eng_error *err) WARN_UNUSED;
/* 1 = *row is the next event, 0 = end, -1 = error (err says which file and why). */
int journal_iter_next(struct journal_iter *it, const struct journal_row **row,
                      struct eng_error *err);
void journal_iter_free(struct journal_iter *it);

/* ---- snapshots -------------------------------------------------------------------------- */

/*
 * Store the state of the reducer `name` after folding every event up to and
 * including seq (which must be durable, and 0 <= seq). The state is redacted
 * and stored as canonical JSON with the chain hash of event seq. Replaces an
 * existing snapshot of the same name and seq. Durable on return.
 */
enum eng_err journal_snapshot_put(struct journal *j, const char *name, int64_t seq,
                                  const json_t *state, struct eng_error *err) WARN_UNUSED;
/* The newest snapshot of name with seq <= max_seq (0 = any): *seq and *state
 * (owned by the caller). ENG_NOTFOUND when there is none (replay from the
 * oldest event, journal_oldest_seq()). */
enum eng_err journal_snapshot_latest(struct journal *j, const char *name, int64_t max_seq,
                                     int64_t *seq, json_t **state,
                                     struct eng_error *err) WARN_UNUSED;
/* Forget every snapshot of name (a reducer that no longer exists would
 * otherwise hold retention back). */
enum eng_err journal_snapshot_drop(struct journal *j, const char *name,
                                   struct eng_error *err) WARN_UNUSED;
/* Oldest kept seq (first event after the retention anchor); last committed + 1 if empty. */
enum eng_err journal_oldest_seq(struct journal *j, int64_t *seq, struct eng_error *err) WARN_UNUSED;

/* ---- retention -------------------------------------------------------------------------- */

struct journal_retention {
  int64_t max_age_ms; /* events recorded more than this before now may go; 0 = no age limit */
  int64_t max_bytes;  /* database size (used pages) to stay under; 0 = no size limit */
};

struct journal_retention_result {
  int64_t deleted_events;
  int64_t deleted_snapshots;
  int64_t anchor_seq;                /* newest removed seq (0: nothing ever removed) */
  int64_t oldest_seq;                /* oldest kept event */
  int64_t wanted_seq;                /* how far the policy alone would have deleted */
  bool held_by_snapshot;             /* stopped earlier than wanted because no snapshot was newer */
  int64_t bytes_before, bytes_after; /* database file size */
};

/*
 * Apply the policy at time now_ms. Events are removed from the oldest up to a
 * cut that is always the seq of a snapshot (so replay restarts from the state
 * right before the oldest kept event) and never above the newest snapshot of
 * any snapshot name (so every reducer can still replay):
 *  - max_age_ms: up to the newest such snapshot recorded before now - max_age;
 *  - max_bytes: up to the oldest such snapshot that brings the used size under
 *    the limit (or as far as allowed).
 * Without any snapshot nothing is deleted (held_by_snapshot). The chain anchor
 * (seq and hash of the newest removed event) is stored so verify keeps
 * working, snapshots below the cut are removed, and free pages go back to the
 * file system (incremental vacuum, then a passive checkpoint). Commits pending
 * events first. Deletes in transactions of 10,000 events.
 */
enum eng_err journal_retain(struct journal *j, const struct journal_retention *policy,
                            int64_t now_ms, struct journal_retention_result *out,
                            struct eng_error *err) WARN_UNUSED;

/* ---- verification and statistics -------------------------------------------------------- */

/* Progress of a long operation: done of total events. */
typedef void (*journal_progress_fn)(void *ud, int64_t done, int64_t total);

struct journal_verify_result {
  int64_t events; /* events checked */
  int64_t first_seq, last_seq;
  int64_t anchor_seq;    /* retention anchor the chain starts from */
  int64_t first_bad_seq; /* -1 when intact */
  char problem[512];     /* what is wrong at first_bad_seq, or "" */
};

/*
 * Recompute the hash chain from the anchor to the head inside one read
 * transaction, compare with the head recorded in meta and with the snapshots'
 * event hashes, then run SQLite's quick_check. ENG_OK: intact. ENG_CORRUPT:
 * res->first_bad_seq names the first event that does not match (altered,
 * inserted, or the first after removed ones) and err explains; first_bad_seq is
 * -1 when the damage is below the rows (quick_check). Works read-only.
 */
enum eng_err journal_verify(struct journal *j, journal_progress_fn progress, void *ud,
                            struct journal_verify_result *res, struct eng_error *err) WARN_UNUSED;

/*
 * Figures for `journal stats` as a JSON object (caller owns): events, seq and
 * time range, counts by source and type, snapshots, retention anchor, file
 * sizes of the database and its WAL, schema version, journal id.
 */
json_t *journal_stats(struct journal *j, struct eng_error *err);

/* ---- backup ---------------------------------------------------------------------------- */

struct journal_backup_result {
  int64_t bytes; /* size of the copy */
};

/*
 * Write a consistent single-file copy of j (read-only handles too, and a
 * journal another process is writing) to dst, which must not exist: every page
 * of one read transaction (SQLite's online backup API, so events still in the
 * -wal are included), in rollback-journal mode (no -wal, no -shm: it can be
 * read from read-only media), written under a temporary name, synced and then
 * renamed. ENG_EXISTS when dst exists, ENG_NOTFOUND when its directory does
 * not, ENG_NOSPACE, ENG_IO.
 */
enum eng_err journal_backup(struct journal *j, const char *dst, struct journal_backup_result *res,
                            struct eng_error *err) WARN_UNUSED;

/* ---- read-only SQL ----------------------------------------------------------------------- */

/* The views (and tables) a query may read, NULL-terminated; docs/journal.md describes them. */
extern const char *const journal_sql_views[];

/* One result row: n columns, their names, and the values as JSON (integer,
 * real, string, null; blobs as hex strings), borrowed for the call. */
typedef void (*journal_sql_row_fn)(void *ud, int n, const char *const *names, const json_t *vals);

/*
 * Run one read-only SQL statement on a read-only handle, over the tables and
 * the TEMP views of journal_sql_views. An authorizer refuses, before anything
 * runs, writes (INSERT, UPDATE, DELETE, CREATE, DROP, ALTER), ATTACH and
 * DETACH, transactions, and every pragma except a list that only reports;
 * ENG_FORBIDDEN says what was refused. ENG_USAGE: not SQL, more than one
 * statement, or a failing query (SQLite's message).
 */
enum eng_err journal_sql_query(struct journal *j, const char *sql, journal_sql_row_fn fn, void *ud,
                               struct eng_error *err) WARN_UNUSED;

/* ---- canonical rows (documented in docs/journal.md) ------------------------------------- */

/* The row bytes of the hash chain: the canonical JSON array
 * [seq,recorded_ms,source,type,group_kind,namespace,name,uid,resource_version,correlation_id,payload]
 * with payload spliced in as the stored canonical text. Caller frees. */
char *journal_row_bytes(int64_t seq, int64_t recorded_ms, const char *const strs[8],
                        const char *payload, size_t payload_len, size_t *len);
/* hash = SHA-256(prev || row bytes). */
void journal_chain_hash(const uint8_t prev[SHA256_LEN], const char *row, size_t len,
                        uint8_t out[SHA256_LEN]);

#endif
