/*
 * journal_retention_test.c - retention by age and by size: only up to a
 * snapshot, the chain stays verifiable from its anchor, replay from the oldest
 * kept snapshot still works, and the file gives space back.
 */
#include "engine/base/common.h"
#include "engine/journal/journal.h"
#include "engine/base/clock.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"
#include "test/unit/journal_fixture.h"

#include <sqlite3.h>

static char filler[1025];

static struct journal *filled(const char *name, int n, char **path) {
  *path = fx_path(name);
  struct eng_error err;
  struct journal *j = fx_open(*path, false, &err);
  if (!j)
    return NULL;
  for (int i = 1; i <= n; i++) {
    json_t *pl = json_pack("{s:i,s:s}", "i", i, "filler", filler);
    journal_append(j, &(struct jevent){.source = "kube", .type = "kube.modified", .payload = pl},
                   &err);
    json_decref(pl);
  }
  if (journal_commit(j, &err) != ENG_OK) {
    journal_close(j);
    return NULL;
  }
  return j;
}

static json_t *state_at(int64_t seq) { return json_pack("{s:I}", "folded_up_to", (json_int_t)seq); }

static void test_nothing_without_snapshot(void) {
  char *p;
  struct journal *j = filled("nosnap.db", 50, &p);
  ASSERT(j);
  struct eng_error err;
  struct journal_retention_result res;
  struct journal_retention pol = {.max_age_ms = 1};
  ASSERT_OK(journal_retain(j, &pol, clock_now_ms() + 60000, &res, &err));
  ASSERT_EQ(50, res.wanted_seq);
  ASSERT_EQ(0, res.deleted_events);
  ASSERT(res.held_by_snapshot);
  ASSERT_EQ(50, fx_count(j));
  journal_close(j);
  free(p);
}

static void test_age_keeps_events_after_snapshot(void) {
  char *p;
  struct journal *j = filled("age.db", 100, &p);
  ASSERT(j);
  struct eng_error err;
  json_t *s = state_at(60);
  ASSERT_OK(journal_snapshot_put(j, "infra", 30, s, &err));
  ASSERT_OK(journal_snapshot_put(j, "infra", 60, s, &err));
  json_decref(s);
  /* Nothing is old yet: nothing goes. */
  struct journal_retention_result res;
  struct journal_retention pol = {.max_age_ms = 3600 * 1000};
  ASSERT_OK(journal_retain(j, &pol, clock_now_ms(), &res, &err));
  ASSERT_EQ(0, res.deleted_events);
  ASSERT_EQ(0, res.wanted_seq);
  /* An hour later everything is old, but only up to the newest snapshot may go. */
  ASSERT_OK(journal_retain(j, &pol, clock_now_ms() + 2 * 3600 * 1000, &res, &err));
  ASSERT_EQ(100, res.wanted_seq);
  ASSERT_EQ(60, res.deleted_events);
  ASSERT_EQ(60, res.anchor_seq);
  ASSERT_EQ(61, res.oldest_seq);
  ASSERT_EQ(1, res.deleted_snapshots); /* the one at 30 can no longer be replayed from */
  ASSERT(res.held_by_snapshot);
  /* Replay from the kept snapshot: snapshot at 60, then events 61.. without a gap. */
  int64_t seq = 0;
  json_t *st = NULL;
  ASSERT_OK(journal_snapshot_latest(j, "infra", 0, &seq, &st, &err));
  ASSERT_EQ(60, seq);
  ASSERT_EQ(60, jsonx_int(st, "folded_up_to", 0));
  json_decref(st);
  int64_t oldest = 0;
  ASSERT_OK(journal_oldest_seq(j, &oldest, &err));
  ASSERT_EQ(seq + 1, oldest);
  struct journal_iter *it;
  ASSERT_OK(journal_iter_open(j, &(struct journal_filter){.from_seq = seq + 1}, &it, &err));
  const struct journal_row *r;
  int64_t expect = seq + 1;
  while (journal_iter_next(it, &r, &err) == 1)
    ASSERT_EQ(expect++, r->seq);
  journal_iter_free(it);
  ASSERT_EQ(101, expect);
  /* The chain verifies from its anchor, and the writer goes on appending. */
  struct journal_verify_result vr;
  ASSERT_OK(journal_verify(j, NULL, NULL, &vr, &err));
  ASSERT_EQ(60, vr.anchor_seq);
  ASSERT_EQ(40, vr.events);
  journal_close(j);
  j = fx_open(p, false, &err);
  ASSERT_MSG(j, "%s", err.msg);
  ASSERT_EQ(101, journal_append_durable(
                     j, &(struct jevent){.source = "clock", .type = "clock.tick"}, &err));
  ASSERT_OK(journal_verify(j, NULL, NULL, &vr, &err));
  ASSERT_EQ(41, vr.events);
  /* Tampering right after the anchor is still caught. */
  journal_close(j);
  sqlite3 *db;
  ASSERT_OK(sqlite3_open(p, &db));
  ASSERT_OK(
      sqlite3_exec(db, "UPDATE events SET type = 'kube.deleted' WHERE seq = 61", NULL, NULL, NULL));
  sqlite3_close(db);
  j = fx_open(p, true, &err);
  ASSERT(j);
  ASSERT_EQ(ENG_CORRUPT, journal_verify(j, NULL, NULL, &vr, &err));
  ASSERT_EQ(61, vr.first_bad_seq);
  journal_close(j);
  free(p);
}

static void test_every_snapshot_name_is_respected(void) {
  char *p;
  struct journal *j = filled("names.db", 80, &p);
  ASSERT(j);
  struct eng_error err;
  json_t *s = state_at(0);
  ASSERT_OK(journal_snapshot_put(j, "infra", 70, s, &err));
  ASSERT_OK(journal_snapshot_put(j, "worker", 25, s, &err));
  struct journal_retention_result res;
  struct journal_retention pol = {.max_age_ms = 1};
  ASSERT_OK(journal_retain(j, &pol, clock_now_ms() + 60000, &res, &err));
  ASSERT_EQ(25, res.deleted_events); /* worker would have to replay from 26 */
  /* Both names can still replay. */
  int64_t seq;
  json_t *st;
  ASSERT_OK(journal_snapshot_latest(j, "worker", 0, &seq, &st, &err));
  ASSERT_EQ(25, seq);
  json_decref(st);
  ASSERT_OK(journal_snapshot_latest(j, "infra", 0, &seq, &st, &err));
  json_decref(st);
  /* A retired reducer no longer holds retention back once its snapshots are dropped. */
  ASSERT_OK(journal_snapshot_drop(j, "worker", &err));
  ASSERT_OK(journal_retain(j, &pol, clock_now_ms() + 60000, &res, &err));
  ASSERT_EQ(45, res.deleted_events);
  ASSERT_EQ(70, res.anchor_seq);
  json_decref(s);
  journal_close(j);
  free(p);
}

static void test_size_limit_reclaims_space(void) {
  char *p;
  struct journal *j = filled("size.db", 3000, &p);
  ASSERT(j);
  struct eng_error err;
  json_t *s = state_at(2500);
  ASSERT_OK(journal_snapshot_put(j, "infra", 2500, s, &err));
  json_decref(s);
  journal_close(j); /* checkpoint: the whole journal is in the main file */
  j = fx_open(p, false, &err);
  ASSERT(j);
  struct journal_retention_result res;
  struct journal_retention pol = {.max_bytes = 1024 * 1024};
  ASSERT_OK(journal_retain(j, &pol, clock_now_ms(), &res, &err));
  ASSERT(res.wanted_seq > 2000);
  ASSERT_EQ(2500, res.anchor_seq);
  ASSERT_EQ(2500, res.deleted_events);
  ASSERT_MSG(res.bytes_after < res.bytes_before / 2, "file did not shrink: %" PRId64 " -> %" PRId64,
             res.bytes_before, res.bytes_after);
  json_t *stats = journal_stats(j, &err);
  ASSERT(stats);
  ASSERT_EQ(0, jsonx_int(stats, "freelist_pages", -1)); /* incremental vacuum ran */
  ASSERT_EQ(500, jsonx_int(stats, "events", 0));
  ASSERT_EQ(2500, jsonx_int(stats, "anchor_seq", 0));
  json_decref(stats);
  struct journal_verify_result vr;
  ASSERT_OK(journal_verify(j, NULL, NULL, &vr, &err));
  journal_close(j);
  free(p);
}

static void test_readonly_handle_cannot_retain(void) {
  char *p;
  struct journal *j = filled("ro.db", 3, &p);
  ASSERT(j);
  journal_close(j);
  struct eng_error err;
  j = fx_open(p, true, &err);
  ASSERT(j);
  struct journal_retention_result res;
  struct journal_retention pol = {.max_age_ms = 1};
  ASSERT_EQ(ENG_READONLY, journal_retain(j, &pol, clock_now_ms(), &res, &err));
  journal_close(j);
  free(p);
}

int main(void) {
  xalloc_init();
  memset(filler, 'r', 1024);
  fx_setup("journal-ret");
  TEST(test_nothing_without_snapshot);
  TEST(test_age_keeps_events_after_snapshot);
  TEST(test_every_snapshot_name_is_respected);
  TEST(test_size_limit_reclaims_space);
  TEST(test_readonly_handle_cannot_retain);
  return tap_done();
}
