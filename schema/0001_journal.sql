-- 0001_journal.sql: the first schema of the journal (user_version 1).
-- See docs/journal.md for the meaning of every column and the hash chain.

-- Facts about the journal itself: journal_id, created_ms, created_by, and the
-- chain bookkeeping (head_seq/head_hash: the newest committed event;
-- anchor_seq/anchor_hash: the newest event removed by retention).
CREATE TABLE meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- Append-only. seq is assigned by the single writer, starts at 1, increases by
-- exactly 1 per event and is never reused. hash = SHA-256(previous hash || row
-- bytes), 32 bytes; the row bytes are the canonical JSON array documented in
-- docs/journal.md.
CREATE TABLE events (
  seq              INTEGER PRIMARY KEY NOT NULL,
  recorded_ms      INTEGER NOT NULL,
  source           TEXT NOT NULL,
  type             TEXT NOT NULL,
  group_kind       TEXT NOT NULL,
  namespace        TEXT NOT NULL,
  name             TEXT NOT NULL,
  uid              TEXT NOT NULL,
  resource_version TEXT NOT NULL,
  correlation_id   TEXT NOT NULL,
  payload          TEXT NOT NULL,
  hash             BLOB NOT NULL
);
CREATE INDEX events_by_object ON events (group_kind, namespace, name, seq);
CREATE INDEX events_by_uid ON events (uid, seq) WHERE uid <> '';
CREATE INDEX events_by_type ON events (type, seq);
CREATE INDEX events_by_correlation ON events (correlation_id, seq) WHERE correlation_id <> '';

-- Reducer state at a seq, so a restart or a replay starts from the newest
-- snapshot instead of seq 1. event_hash is the chain hash of event seq, binding
-- the snapshot to the history it summarises.
CREATE TABLE snapshots (
  name        TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  recorded_ms INTEGER NOT NULL,
  event_hash  BLOB NOT NULL,
  state       TEXT NOT NULL,
  PRIMARY KEY (name, seq)
) WITHOUT ROWID;
