/*
 * runtime.c - journal, decider and executor wired together on the loop.
 */
#include "engine/base/common.h"
#include "engine/runtime.h"
#include "engine/base/clock.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "engine/obs/metrics_std.h"
#include "engine/base/xalloc.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNAPSHOT_NAME "decider"

struct runtime {
  struct ev_loop *loop;
  struct journal *j;
  struct decider *d;
  struct executor *x;
  struct runtime_opts o;
  ev_prepare prepare;
  ev_timer retention_timer;
  int64_t since_snapshot;
  struct runtime_stats st;
  bool failed;
  struct eng_error fail_err;
  bool closing;
};

/* ---- failure ---------------------------------------------------------------------------- */

static void fail(struct runtime *rt, const struct eng_error *err, const char *what) {
  if (rt->failed)
    return;
  rt->failed = true;
  rt->fail_err = *err;
  eng_error_prefix(&rt->fail_err, "%s", what);
  log_error(
      "the journal cannot be written; the controller stops acting and exits so that it restarts "
      "from the journal and a fresh list",
      "journal", journal_path(rt->j), "error", rt->fail_err.msg, NULL);
  ev_break(rt->loop, EVBREAK_ALL);
}

bool runtime_failed(const struct runtime *rt, struct eng_error *err) {
  if (rt->failed && err)
    *err = rt->fail_err;
  return rt->failed;
}

/* ---- the payload a reducer sees: exactly what the journal stores ------------------------ */

/* The stored (redacted, canonical) payload of the event just appended, parsed. */
static json_t *stored_payload(struct runtime *rt, int64_t *recorded_ms) {
  const char *text = NULL;
  size_t len = 0;
  *recorded_ms = 0;
  if (!journal_last_appended(rt->j, recorded_ms, &text, &len))
    return json_object();
  json_error_t je;
  json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
  return v ? v : json_object();
}

static void row_event(const struct journal_row *row, struct reduce_event *ev) {
  ev->seq = row->seq;
  ev->recorded_ms = row->recorded_ms;
  ev->source = row->source;
  ev->type = row->type;
  ev->group_kind = row->group_kind;
  ev->ns = row->ns;
  ev->name = row->name;
  ev->uid = row->uid;
  ev->resource_version = row->resource_version;
  ev->correlation_id = row->correlation_id;
  ev->payload = row->payload;
}

/* ---- output events ------------------------------------------------------------------------- */

/* Every append of this process goes through here (observations, actions, intents). */
static int64_t append_counted(struct runtime *rt, const struct jevent *ev, struct eng_error *err) {
  int64_t seq = journal_append(rt->j, ev, err);
  if (seq >= 0) {
    rt->st.events++;
    metrics_counter_inc(metrics_std.journal_events_total, (const char *const[]){ev->source}, 1);
  }
  return seq;
}

/* Make everything appended durable; time it for the stats and the metrics. */
static enum eng_err commit(struct runtime *rt, struct eng_error *err) {
  int64_t t0 = clock_mono_ms();
  enum eng_err rc = journal_commit(rt->j, err);
  if (rc == ENG_OK) {
    rt->st.commits++;
    rt->st.last_commit_seconds = (double)(clock_mono_ms() - t0) / 1000.0;
    metrics_histogram_observe(metrics_std.journal_commit_duration_seconds, NULL,
                              rt->st.last_commit_seconds);
  }
  return rc;
}

static int64_t append(struct runtime *rt, const struct jevent *ev) {
  struct eng_error err;
  eng_error_clear(&err);
  int64_t seq = append_counted(rt, ev, &err);
  if (seq < 0)
    fail(rt, &err, "appending to the journal");
  return seq;
}

static void journal_action(struct runtime *rt, const struct action *a, int64_t cause,
                           const char *type, bool recovered) {
  json_t *p = json_object();
  json_object_set_new(p, "causeSeq", json_integer(cause));
  if (!strcmp(type, "engine.action")) {
    json_object_set_new(p, "action", action_to_json(a));
    if (recovered)
      json_object_set_new(p, "recovered", json_true());
  } else {
    json_object_set_new(p, "actionId", json_string(a->id));
    json_object_set_new(p, "reason", json_string("no longer desired"));
  }
  struct jevent ev = {JEV_SOURCE_ENGINE, type, a->group_kind, a->ns, a->name, a->uid, "",
                      a->correlation,    p};
  append(rt, &ev);
  json_decref(p);
}

/* ---- observe ------------------------------------------------------------------------------- */

void runtime_observe(struct runtime *rt, const struct jevent *ev) {
  if (rt->failed)
    return;
  int64_t seq = append(rt, ev);
  if (seq < 0)
    return;
  if (!decider_is_input(ev->type))
    return;
  int64_t recorded_ms;
  json_t *payload = stored_payload(rt, &recorded_ms);
  struct reduce_event rev = {seq,
                             recorded_ms,
                             ev->source,
                             ev->type,
                             ev->group_kind ? ev->group_kind : "",
                             ev->ns ? ev->ns : "",
                             ev->name ? ev->name : "",
                             ev->uid ? ev->uid : "",
                             ev->resource_version ? ev->resource_version : "",
                             ev->correlation_id ? ev->correlation_id : "",
                             payload};
  struct action_list added = {0}, removed = {0};
  decider_feed(rt->d, &rev, &added, &removed);
  json_decref(payload);
  rt->since_snapshot++;
  for (size_t i = 0; i < removed.n; i++) {
    journal_action(rt, &removed.v[i], seq, "engine.cancel", false);
    executor_cancel(rt->x, removed.v[i].id);
  }
  for (size_t i = 0; i < added.n; i++) {
    journal_action(rt, &added.v[i], seq, "engine.action", false);
    log_debug("action desired", "action", added.v[i].id, "reason", added.v[i].reason, NULL);
    if (!rt->failed)
      executor_submit(rt->x, &added.v[i]);
  }
  action_list_clear(&added);
  action_list_clear(&removed);
}

static void sink_fn(void *ud, const struct jevent *ev) { runtime_observe(ud, ev); }

struct jevent_sink runtime_sink(struct runtime *rt) {
  struct jevent_sink s = {sink_fn, rt};
  return s;
}

/* ---- executor hooks ------------------------------------------------------------------------ */

static int64_t hook_journal(void *ud, const struct jevent *ev, bool durable,
                            struct eng_error *err) {
  struct runtime *rt = ud;
  if (rt->failed)
    return eng_error_set(err, ENG_IO, "the journal failed earlier"), -1;
  int64_t seq = append_counted(rt, ev, err);
  if (seq < 0 || (durable && commit(rt, err) != ENG_OK))
    return -1;
  return seq;
}

static void hook_observe(void *ud, const struct jevent *ev) { runtime_observe(ud, ev); }

static bool hook_may_act(void *ud, int64_t *epoch) {
  struct runtime *rt = ud;
  if (rt->failed || rt->closing)
    return false;
  if (!rt->o.may_act) {
    *epoch = 0;
    return true;
  }
  return rt->o.may_act(rt->o.may_act_ud, epoch);
}

static void hook_finished(void *ud, const struct action *a, const struct exec_outcome *o,
                          double secs) {
  struct runtime *rt = ud;
  if (rt->o.action_finished)
    rt->o.action_finished(rt->o.metrics_ud, a, o, secs);
}

/* ---- commit, snapshot, retention ------------------------------------------------------------ */

static void snapshot(struct runtime *rt) {
  int64_t seq = decider_last_seq(rt->d);
  if (seq <= 0 || seq == rt->st.snapshot_seq || seq > journal_durable_seq(rt->j))
    return;
  json_t *snap = decider_snapshot(rt->d);
  struct eng_error err;
  if (journal_snapshot_put(rt->j, SNAPSHOT_NAME, seq, snap, &err) != ENG_OK) {
    log_warn("cannot write a snapshot of the reducers; the next start folds more events", "error",
             err.msg, NULL);
  } else {
    rt->st.snapshot_seq = seq;
    rt->since_snapshot = 0;
  }
  json_decref(snap);
}

static void commit_now(struct runtime *rt) {
  if (rt->failed || journal_pending(rt->j) == 0)
    return;
  struct eng_error err;
  if (commit(rt, &err) != ENG_OK)
    fail(rt, &err, "committing the journal");
}

/* Just before the loop blocks: make this turn's events durable (group commit). */
static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents) {
  (void)loop;
  (void)revents;
  struct runtime *rt = w->data;
  commit_now(rt);
  if (!rt->failed && rt->since_snapshot >= rt->o.snapshot_every)
    snapshot(rt);
}

static void retention_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct runtime *rt = w->data;
  if (rt->failed)
    return;
  commit_now(rt);
  snapshot(rt);
  struct journal_retention_result res;
  struct eng_error err;
  if (journal_retain(rt->j, &rt->o.retention, clock_now_ms(), &res, &err) != ENG_OK) {
    log_warn("journal retention failed; the journal keeps growing", "error", err.msg, NULL);
    return;
  }
  if (res.deleted_events > 0) {
    char n[32], b[32], a[32];
    snprintf(n, sizeof(n), "%" PRId64, res.deleted_events);
    snprintf(b, sizeof(b), "%" PRId64, res.bytes_before);
    snprintf(a, sizeof(a), "%" PRId64, res.bytes_after);
    log_info("journal retention removed old events", "events", n, "bytesBefore", b, "bytesAfter", a,
             NULL);
  }
}

/* ---- open: restore and fold ------------------------------------------------------------------ */

/* Intents without results, anywhere in the kept journal (they may precede the snapshot). */
static enum eng_err scan_intents(struct runtime *rt, json_t *unresolved, struct eng_error *err) {
  struct journal_filter f = {0};
  f.type_prefix = "executor.";
  struct journal_iter *it;
  enum eng_err rc = journal_iter_open(rt->j, &f, &it, err);
  if (rc)
    return rc;
  const struct journal_row *row;
  int r;
  while ((r = journal_iter_next(it, &row, err)) == 1) {
    const char *id = jsonx_str(row->payload, "actionId");
    if (!id)
      continue;
    if (!strcmp(row->type, "executor.intent"))
      json_object_set_new(unresolved, id, json_integer(row->seq));
    else if (!strcmp(row->type, "executor.result"))
      json_object_del(unresolved, id);
  }
  journal_iter_free(it);
  return r < 0 ? err->code : ENG_OK;
}

/* Fold every event after the snapshot; note actions the journal never recorded. */
static enum eng_err fold(struct runtime *rt, int64_t from, json_t *recovered,
                         struct eng_error *err) {
  struct journal_filter f = {0};
  f.from_seq = from;
  struct journal_iter *it;
  enum eng_err rc = journal_iter_open(rt->j, &f, &it, err);
  if (rc)
    return rc;
  json_t *recorded = json_object(); /* action ids seen in engine.action rows */
  json_t *added_by = json_object(); /* action id -> cause seq, for actions added while folding */
  const struct journal_row *row;
  int r;
  int64_t n = 0, t0 = clock_mono_ms(), last_log = t0;
  while ((r = journal_iter_next(it, &row, err)) == 1) {
    n++;
    const char *type = row->type;
    if (!strcmp(type, "engine.action")) {
      const char *id = jsonx_str(row->payload, "action.id");
      if (id)
        json_object_set_new(recorded, id, json_true());
    }
    if (decider_is_input(type)) {
      struct reduce_event ev;
      row_event(row, &ev);
      struct action_list added = {0}, removed = {0};
      decider_feed(rt->d, &ev, &added, &removed);
      for (size_t i = 0; i < added.n; i++)
        json_object_set_new(added_by, added.v[i].id, json_integer(row->seq));
      action_list_clear(&added);
      action_list_clear(&removed);
    }
    int64_t now = clock_mono_ms();
    if (now - last_log >= 5000) {
      char buf[32];
      snprintf(buf, sizeof(buf), "%" PRId64, n);
      log_info("folding the journal", "events", buf, NULL);
      last_log = now;
    }
  }
  journal_iter_free(it);
  rt->st.folded = n;
  /* Actions the fold desires whose engine.action never reached the journal (a crash
   * between an input's commit and its actions'): record them now. */
  struct action_list desired = {0};
  decider_desired(rt->d, &desired);
  for (size_t i = 0; i < desired.n; i++) {
    json_t *cause = json_object_get(added_by, desired.v[i].id);
    if (cause && !json_object_get(recorded, desired.v[i].id))
      json_object_set_new(recovered, desired.v[i].id, json_integer(json_integer_value(cause)));
  }
  action_list_clear(&desired);
  json_decref(recorded);
  json_decref(added_by);
  return r < 0 ? err->code : ENG_OK;
}

enum eng_err runtime_open(struct ev_loop *loop, const struct runtime_opts *o, struct runtime **out,
                          struct eng_error *err) {
  struct runtime *rt = xcalloc(1, sizeof(*rt));
  rt->loop = loop;
  rt->o = *o;
  if (rt->o.snapshot_every <= 0)
    rt->o.snapshot_every = 10000;
  if (rt->o.retention_interval_ms <= 0)
    rt->o.retention_interval_ms = 3600 * 1000;
  enum eng_err rc = journal_open(o->journal_path, &o->journal, &rt->j, err);
  if (rc) {
    free(rt);
    return rc;
  }
  rt->d = decider_new(o->reducers, o->nreducers);
  int64_t from = 0, sseq = 0;
  json_t *snap = NULL;
  struct eng_error serr;
  if (journal_snapshot_latest(rt->j, SNAPSHOT_NAME, 0, &sseq, &snap, &serr) == ENG_OK) {
    if (decider_restore(rt->d, snap, &serr) == ENG_OK) {
      from = sseq + 1;
      rt->st.snapshot_seq = sseq;
    } else {
      log_warn("ignoring an unusable snapshot; folding the whole journal", "error", serr.msg, NULL);
      decider_free(rt->d);
      rt->d = decider_new(o->reducers, o->nreducers);
    }
    json_decref(snap);
  }
  json_t *unresolved = json_object(), *recovered = json_object();
  rc = fold(rt, from, recovered, err);
  if (!rc)
    rc = scan_intents(rt, unresolved, err);
  struct executor_hooks hooks = {hook_journal, hook_observe, hook_may_act, hook_finished, rt};
  rt->x = executor_new(loop, &hooks);
  const char *id;
  json_t *v;
  json_object_foreach(unresolved, id, v) executor_mark_unresolved(rt->x, id);
  json_decref(unresolved);
  /* Remember what to record at start. */
  rt->st.last_seq = journal_last_seq(rt->j);
  if (rc) {
    json_decref(recovered);
    executor_free(rt->x);
    decider_free(rt->d);
    journal_close(rt->j);
    free(rt);
    return rc;
  }
  ev_prepare_init(&rt->prepare, prepare_cb);
  rt->prepare.data = rt;
  ev_timer_init(&rt->retention_timer, retention_cb, (double)rt->o.retention_interval_ms / 1000.0,
                (double)rt->o.retention_interval_ms / 1000.0);
  rt->retention_timer.data = rt;
  rt->st.events = 0;
  *out = rt;
  /* Record recovered actions right away (they are durable with the first commit). */
  struct action_list desired = {0};
  decider_desired(rt->d, &desired);
  for (size_t i = 0; i < desired.n; i++) {
    json_t *cause = json_object_get(recovered, desired.v[i].id);
    if (cause)
      journal_action(rt, &desired.v[i], json_integer_value(cause), "engine.action", true);
  }
  action_list_clear(&desired);
  json_decref(recovered);
  return rt->failed ? rt->fail_err.code : ENG_OK;
}

struct executor *runtime_executor(struct runtime *rt) {
  return rt->x;
}
struct journal *runtime_journal(struct runtime *rt) {
  return rt->j;
}
const struct decider *runtime_decider(const struct runtime *rt) { return rt->d; }

enum eng_err runtime_start(struct runtime *rt, const json_t *start_payload, struct eng_error *err) {
  /* Everything desired before this start goes to the (new) executor first. */
  struct action_list desired = {0};
  decider_desired(rt->d, &desired);
  for (size_t i = 0; i < desired.n; i++)
    executor_submit(rt->x, &desired.v[i]);
  action_list_clear(&desired);
  struct jevent ev = {JEV_SOURCE_ENGINE,      "engine.start", "", "", "", "", "", "",
                      (json_t *)start_payload};
  runtime_observe(rt, &ev);
  commit_now(rt);
  if (rt->failed) {
    if (err)
      *err = rt->fail_err;
    return rt->fail_err.code;
  }
  ev_prepare_start(rt->loop, &rt->prepare);
  if (rt->o.retention.max_age_ms > 0 || rt->o.retention.max_bytes > 0)
    ev_timer_start(rt->loop, &rt->retention_timer);
  return ENG_OK;
}

void runtime_stats(const struct runtime *rt, struct runtime_stats *out) {
  *out = rt->st;
  out->last_seq = journal_last_seq(rt->j);
  out->durable_seq = journal_durable_seq(rt->j);
  out->pending = journal_pending(rt->j);
}

enum eng_err runtime_close(struct runtime *rt, const char *reason, struct eng_error *err) {
  if (!rt)
    return ENG_OK;
  rt->closing = true;
  ev_prepare_stop(rt->loop, &rt->prepare);
  ev_timer_stop(rt->loop, &rt->retention_timer);
  enum eng_err rc = ENG_OK;
  if (!rt->failed) {
    json_t *p = json_pack("{s:s}", "reason", reason ? reason : "stopped");
    struct jevent ev = {JEV_SOURCE_ENGINE, "engine.stop", "", "", "", "", "", "", p};
    runtime_observe(rt, &ev);
    json_decref(p);
    commit_now(rt);
    if (!rt->failed)
      snapshot(rt);
  }
  if (rt->failed) {
    rc = rt->fail_err.code;
    if (err)
      *err = rt->fail_err;
  }
  executor_free(rt->x);
  decider_free(rt->d);
  journal_close(rt->j);
  free(rt);
  return rc;
}
