/*
 * journal_sql_test.c - journal_sql_query(): the views answer, and the
 * authorizer refuses every kind of write, ATTACH/DETACH, transactions,
 * state-changing pragmas and a second statement, leaving the file unchanged.
 */
#include "engine/base/common.h"
#include "engine/journal/journal.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"
#include "test/unit/journal_fixture.h"

static int rows_seen;
static int64_t first_int;

static void count_row(void *ud, int n, const char *const *names, const json_t *vals) {
  (void)ud;
  (void)names;
  if (rows_seen++ == 0 && n > 0)
    first_int = json_integer_value(json_array_get(vals, 0));
}

static char *path;

static void test_select_views(void) {
  struct eng_error err;
  struct journal *j = fx_open(path, true, &err);
  ASSERT(j);
  static const char *const ok[] = {"SELECT count(*) FROM events",
                                   "SELECT count(*) FROM reconciles",
                                   "SELECT count(*) FROM actions",
                                   "SELECT count(*) FROM attempts",
                                   "SELECT count(*) FROM errors",
                                   "SELECT count(*) FROM device_states",
                                   "SELECT count(*) FROM restarts",
                                   "SELECT count(*) FROM objects",
                                   "PRAGMA table_info(events)",
                                   "PRAGMA user_version",
                                   "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n "
                                   "WHERE x < 3) SELECT count(*) FROM n"};
  for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
    rows_seen = 0;
    eng_error_clear(&err);
    ASSERT_MSG(journal_sql_query(j, ok[i], count_row, NULL, &err) == ENG_OK, "%s: %s", ok[i],
               err.msg);
    ASSERT_MSG(rows_seen >= 1, "%s gave no row", ok[i]);
  }
  rows_seen = 0;
  ASSERT_OK(journal_sql_query(j, "SELECT count(*) FROM events", count_row, NULL, &err));
  ASSERT_EQ(20, first_int);
  journal_close(j);
}

static void test_refusals(void) {
  size_t before_len = 0, after_len = 0;
  char *before = fx_read(path, &before_len);
  struct eng_error err;
  struct journal *j = fx_open(path, true, &err);
  ASSERT(j);
  static const struct {
    const char *sql, *why;
  } bad[] = {
      {"INSERT INTO meta VALUES ('x', 'y')", "INSERT"},
      {"UPDATE events SET payload = '{}'", "UPDATE"},
      {"DELETE FROM events", "DELETE"},
      {"DELETE FROM temp.actions", "actions"},
      {"CREATE TABLE t (x)", "refused"},
      {"CREATE TEMP TABLE t (x)", "refused"},
      {"CREATE VIEW v AS SELECT 1", "refused"},
      {"DROP TABLE events", "refused"},
      {"DROP VIEW actions", "refused"},
      {"ALTER TABLE events ADD COLUMN x", "refused"},
      {"CREATE INDEX i ON events (payload)", "refused"},
      {"ATTACH '/tmp/other.db' AS o", "ATTACH"},
      {"DETACH temp", "DETACH"},
      {"BEGIN", "transactions"},
      {"SAVEPOINT s", "transactions"},
      {"VACUUM", "read-only"},
      {"REINDEX", "refused"},
      {"ANALYZE", "refused"},
      {"PRAGMA journal_mode = DELETE", "PRAGMA journal_mode"},
      {"PRAGMA query_only = 0", "PRAGMA query_only"},
      {"PRAGMA writable_schema = 1", "PRAGMA writable_schema"},
      {"PRAGMA user_version = 9", "PRAGMA user_version"},
      {"PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA wal_checkpoint"},
      {"PRAGMA foreign_keys = 0", "PRAGMA foreign_keys"},
      {"SELECT 1; DELETE FROM events", "only one SQL statement"},
      {"SELECT load_extension('/tmp/x.so')", "not authorized"},
      {"not sql at all", "syntax"},
      {"", "no statement"},
  };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    eng_error_clear(&err);
    rows_seen = 0;
    enum eng_err e = journal_sql_query(j, bad[i].sql, count_row, NULL, &err);
    ASSERT_MSG(e == ENG_FORBIDDEN || e == ENG_USAGE, "%s was accepted", bad[i].sql);
    ASSERT_MSG(strstr(err.msg, bad[i].why) != NULL, "%s: expected '%s' in '%s'", bad[i].sql,
               bad[i].why, err.msg);
    ASSERT_EQ(0, rows_seen);
  }
  /* Still usable after the refusals, and the views are intact. */
  rows_seen = 0;
  ASSERT_OK(journal_sql_query(j, "SELECT count(*) FROM actions", count_row, NULL, &err));
  ASSERT_EQ(1, rows_seen);
  journal_close(j);
  char *after = fx_read(path, &after_len);
  ASSERT(fx_same_bytes(before, before_len, after, after_len));
  free(before);
  free(after);
}

static void test_writable_handle_refused(void) {
  struct eng_error err;
  struct journal *j = fx_open(path, false, &err);
  ASSERT(j);
  ASSERT_EQ(ENG_USAGE, journal_sql_query(j, "SELECT 1", count_row, NULL, &err));
  journal_close(j);
}

int main(void) {
  xalloc_init();
  fx_setup("journal-sql");
  path = fx_path("sql.db");
  struct eng_error err;
  struct journal *j = fx_open(path, false, &err);
  if (!j)
    return 1;
  for (int i = 1; i <= 20; i++)
    if (fx_append(j, i, &err) < 0)
      return 1;
  if (journal_commit(j, &err))
    return 1;
  journal_close(j);
  TEST(test_select_views);
  TEST(test_refusals);
  TEST(test_writable_handle_refused);
  free(path);
  return tap_done();
}
