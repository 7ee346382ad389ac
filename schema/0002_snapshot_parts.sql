-- 0002_snapshot_parts.sql: snapshot states kept in parts (user_version 2).
-- A state is written part by part, so that neither its whole text nor SQLite's
-- record of it is in memory at once (at 1,000 shoots one state is several MB).
-- The state of snapshot (name, seq) is the concatenation of data in part order;
-- snapshots.state is then ''. A snapshot written by user_version 1 keeps its
-- state in snapshots.state and has no parts.
CREATE TABLE snapshot_parts (
  name TEXT NOT NULL,
  seq  INTEGER NOT NULL,
  part INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (name, seq, part)
);
