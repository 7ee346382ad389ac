/*
 * executor_test.c - the executor with fake hooks and handlers: an intent is
 * journaled and durable before its call, fencing holds actions back, the
 * per-controller cap is respected, cancel and timers work, unresolved intents
 * start in resolving mode, and outcomes are journaled (secrets scrubbed).
 */
#include "engine/base/common.h"
#include "engine/act/executor.h"
#include "engine/act/exec_inflight.h"
#include "engine/base/clock.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"

#include <ev.h>
#include <stdlib.h>
#include <string.h>

struct fake {
  json_t *journal;  /* [{"type","durable","payload"}] in append order */
  int durable_upto; /* index of the last durable entry + 1 */
  bool may;
  int64_t epoch;
  json_t *observed; /* events observed (results, timers) */
  struct executor *x;
  struct exec_call *calls[16];
  const struct action *acts[16];
  bool resolving[16];
  int ncalls;
  int journal_at_start[16]; /* durable entries when the handler started */
  bool fail_journal;
};

static int64_t j_hook(void *ud, const struct jevent *ev, bool durable, struct eng_error *err) {
  struct fake *f = ud;
  if (f->fail_journal)
    return eng_error_set(err, ENG_NOSPACE, "disk full"), -1;
  json_array_append_new(f->journal, json_pack("{s:s,s:b,s:O}", "type", ev->type, "durable", durable,
                                              "payload", ev->payload));
  if (durable)
    f->durable_upto = (int)json_array_size(f->journal);
  return (int64_t)json_array_size(f->journal);
}

static void obs_hook(void *ud, const struct jevent *ev) {
  struct fake *f = ud;
  json_array_append_new(f->observed,
                        json_pack("{s:s,s:O}", "type", ev->type, "payload", ev->payload));
}

static bool may_hook(void *ud, int64_t *epoch) {
  struct fake *f = ud;
  *epoch = f->epoch;
  return f->may;
}

static void start(void *ud, struct exec_call *call, const struct action *a, bool resolving) {
  struct fake *f = ud;
  f->calls[f->ncalls] = call;
  f->acts[f->ncalls] = a;
  f->resolving[f->ncalls] = resolving;
  f->journal_at_start[f->ncalls] = f->durable_upto;
  f->ncalls++;
}

static void setup(struct fake *f, struct ev_loop **loop) {
  memset(f, 0, sizeof(*f));
  f->journal = json_array();
  f->observed = json_array();
  f->may = true;
  f->epoch = 3;
  *loop = ev_loop_new(0);
  struct executor_hooks h = {j_hook, obs_hook, may_hook, NULL, f};
  f->x = executor_new(*loop, &h);
  executor_handle(f->x, "fake.", start, f);
}

static void teardown(struct fake *f, struct ev_loop *loop) {
  executor_free(f->x);
  ev_loop_destroy(loop);
  json_decref(f->journal);
  json_decref(f->observed);
}

static void mk(struct action *a, const char *id, const char *controller, const char *kind) {
  memset(a, 0, sizeof(*a));
  a->id = xstrdup(id);
  a->key = xstrdup("k-0123");
  a->controller = xstrdup(controller);
  a->kind = xstrdup(kind);
  a->correlation = xstrdup("op-1");
  a->group_kind = xstrdup("extensions.gardener.cloud/Infrastructure");
  a->ns = xstrdup("shoot--p--s");
  a->name = xstrdup("infra");
  a->uid = xstrdup("u1");
  a->attempt = 1;
  a->params = json_object();
  a->reason = xstrdup("test");
}

static void spin(struct ev_loop *loop, int n) {
  for (int i = 0; i < n; i++)
    ev_run(loop, EVRUN_NOWAIT);
}

static void test_intent_durable_before_call(void) {
  struct fake f;
  struct ev_loop *loop;
  setup(&f, &loop);
  struct action a;
  mk(&a, "c/ns/n/op/s/1", "infrastructure", "fake.do");
  executor_submit(f.x, &a);
  ASSERT_EQ(0, f.ncalls); /* nothing runs inside submit */
  spin(loop, 5);
  ASSERT_EQ(1, f.ncalls);
  ASSERT_EQ(1, json_array_size(f.journal));
  ASSERT_STR_EQ("executor.intent", jsonx_str(json_array_get(f.journal, 0), "type"));
  ASSERT_EQ(1, f.journal_at_start[0]); /* the intent was durable when the call started */
  ASSERT_EQ(3, jsonx_int(json_array_get(f.journal, 0), "payload.epoch", 0));
  ASSERT(!f.resolving[0]);
  ASSERT_EQ(1, executor_running(f.x));
  json_t *out = json_pack("{s:s}", "id", "key-1");
  struct exec_outcome o = {true, out, NULL, NULL, 0, false};
  executor_done(f.calls[0], &o);
  json_decref(out);
  ASSERT_EQ(1, json_array_size(f.observed));
  json_t *r = json_array_get(f.observed, 0);
  ASSERT_STR_EQ("executor.result", jsonx_str(r, "type"));
  ASSERT(jsonx_bool(r, "payload.ok", false));
  ASSERT_STR_EQ("key-1", jsonx_str(r, "payload.output.id"));
  ASSERT_STR_EQ("infrastructure", jsonx_str(r, "payload.controller"));
  ASSERT_EQ(0, executor_running(f.x));
  action_release(&a);
  teardown(&f, loop);
}

static void test_fencing_and_kick(void) {
  struct fake f;
  struct ev_loop *loop;
  setup(&f, &loop);
  f.may = false;
  struct action a;
  mk(&a, "id-1", "infrastructure", "fake.do");
  executor_submit(f.x, &a);
  spin(loop, 5);
  ASSERT_EQ(0, f.ncalls);
  ASSERT_EQ(0, json_array_size(f.journal)); /* not even an intent without leadership */
  ASSERT_EQ(1, executor_queued(f.x));
  f.may = true;
  executor_kick(f.x);
  spin(loop, 5);
  ASSERT_EQ(1, f.ncalls);
  struct exec_outcome o = {true, NULL, NULL, NULL, 0, false};
  executor_done(f.calls[0], &o);
  action_release(&a);
  teardown(&f, loop);
}

static void test_concurrency_cap_and_cancel(void) {
  struct fake f;
  struct ev_loop *loop;
  setup(&f, &loop);
  executor_set_concurrency(f.x, "worker", 2);
  struct action a[4];
  char id[32];
  for (int i = 0; i < 4; i++) {
    snprintf(id, sizeof(id), "w-%d", i);
    mk(&a[i], id, "worker", "fake.do");
    executor_submit(f.x, &a[i]);
  }
  spin(loop, 5);
  ASSERT_EQ(2, f.ncalls);
  ASSERT_EQ(2, executor_queued(f.x));
  /* Intents of one turn share one commit: only the last append was durable. */
  ASSERT_EQ(2, json_array_size(f.journal));
  ASSERT(!jsonx_bool(json_array_get(f.journal, 0), "durable", true));
  ASSERT(jsonx_bool(json_array_get(f.journal, 1), "durable", false));
  executor_cancel(f.x, "w-2"); /* queued: never starts */
  executor_cancel(f.x, "w-0"); /* running: its result is still journaled */
  struct exec_outcome o = {true, NULL, NULL, NULL, 0, false};
  executor_done(f.calls[0], &o);
  spin(loop, 5);
  ASSERT_EQ(3, f.ncalls);
  ASSERT_STR_EQ("w-3", f.acts[2]->id);
  ASSERT_EQ(1, json_array_size(f.observed));
  ASSERT_STR_EQ("w-0", jsonx_str(json_array_get(f.observed, 0), "payload.actionId"));
  executor_done(f.calls[1], &o);
  executor_done(f.calls[2], &o);
  ASSERT_EQ(0, executor_running(f.x));
  ASSERT_EQ(0, executor_queued(f.x));
  for (int i = 0; i < 4; i++)
    action_release(&a[i]);
  teardown(&f, loop);
}

static void set_corr(struct action *a, const char *corr) {
  free(a->correlation);
  a->correlation = xstrdup(corr);
}

/* With one slot, an operation under way takes its next step before other operations start,
 * also after the rank table was pruned; an action without an operation is ranked when it comes. */
static void test_operations_under_way_first(void) {
  struct fake f;
  struct ev_loop *loop;
  setup(&f, &loop);
  executor_set_concurrency(f.x, "infrastructure", 1);
  struct exec_outcome ok = {true, NULL, NULL, NULL, 0, false};
  struct action a1, b1, c1, a2, lone;
  mk(&a1, "a-1", "infrastructure", "fake.do");
  set_corr(&a1, "op-a");
  mk(&b1, "b-1", "infrastructure", "fake.do");
  set_corr(&b1, "op-b");
  mk(&c1, "c-1", "infrastructure", "fake.do");
  set_corr(&c1, "op-c");
  mk(&lone, "lone-1", "infrastructure", "fake.do");
  set_corr(&lone, "");
  executor_submit(f.x, &a1);
  executor_submit(f.x, &b1);
  executor_submit(f.x, &lone);
  executor_submit(f.x, &c1);
  spin(loop, 5);
  ASSERT_EQ(1, f.ncalls);
  ASSERT_STR_EQ("a-1", f.acts[0]->id);
  executor_done(f.calls[0], &ok);
  mk(&a2, "a-2", "infrastructure", "fake.do"); /* the reducer's next step of op-a */
  set_corr(&a2, "op-a");
  executor_submit(f.x, &a2);
  spin(loop, 5);
  ASSERT_EQ(2, f.ncalls);
  ASSERT_STR_EQ("a-2", f.acts[1]->id); /* not b-1, which waited longer */
  executor_done(f.calls[1], &ok);
  spin(loop, 5);
  ASSERT_STR_EQ("b-1", f.acts[2]->id);
  executor_done(f.calls[2], &ok);
  spin(loop, 5);
  ASSERT_STR_EQ("lone-1", f.acts[3]->id); /* no operation: its place is where it came */
  executor_done(f.calls[3], &ok);
  spin(loop, 5);
  ASSERT_STR_EQ("c-1", f.acts[4]->id);

  /* Prune: op-live waits while thousands of operations come and go; its next step still
   * goes before a newer operation's. */
  struct action live1, live2, newer, other;
  mk(&live1, "live-1", "infrastructure", "fake.do");
  set_corr(&live1, "op-live");
  executor_submit(f.x, &live1); /* waits: c-1 holds the slot */
  char id[32], corr[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(id, sizeof(id), "o-%d", i);
    snprintf(corr, sizeof(corr), "op-%d", i);
    mk(&other, id, "infrastructure", "fake.do");
    set_corr(&other, corr);
    executor_submit(f.x, &other);
    executor_cancel(f.x, id);
    action_release(&other);
  }
  mk(&newer, "new-1", "infrastructure", "fake.do");
  set_corr(&newer, "op-new");
  executor_submit(f.x, &newer);
  mk(&live2, "live-2", "infrastructure", "fake.do");
  set_corr(&live2, "op-live");
  executor_submit(f.x, &live2);
  executor_done(f.calls[4], &ok);
  spin(loop, 5);
  ASSERT_STR_EQ("live-1", f.acts[5]->id);
  executor_done(f.calls[5], &ok);
  spin(loop, 5);
  ASSERT_STR_EQ("live-2", f.acts[6]->id);
  executor_done(f.calls[6], &ok);
  spin(loop, 5);
  ASSERT_STR_EQ("new-1", f.acts[7]->id);
  executor_done(f.calls[7], &ok);
  ASSERT_EQ(0, executor_queued(f.x));
  struct action *all[] = {&a1, &b1, &c1, &a2, &lone, &live1, &live2, &newer};
  for (size_t i = 0; i < ARRAY_SIZE(all); i++)
    action_release(all[i]);
  teardown(&f, loop);
}

static void test_failure_outcome_scrubbed(void) {
  struct fake f;
  struct ev_loop *loop;
  setup(&f, &loop);
  log_register_secret("very-secret-token-1234");
  struct action a;
  mk(&a, "id-f", "infrastructure", "fake.do");
  executor_submit(f.x, &a);
  spin(loop, 5);
  struct eng_error err;
  eng_error_set(&err, ENG_UNAUTHENTICATED, "the token very-secret-token-1234 was rejected");
  err.http_status = 401;
  const char *codes[] = {"ERR_INFRA_UNAUTHENTICATED"};
  struct exec_outcome o = {false, NULL, &err, codes, 1, false};
  executor_done(f.calls[0], &o);
  json_t *r = json_array_get(f.observed, 0);
  ASSERT(!jsonx_bool(r, "payload.ok", true));
  ASSERT_STR_EQ("ENG_UNAUTHENTICATED", jsonx_str(r, "payload.error.code"));
  ASSERT_EQ(401, jsonx_int(r, "payload.error.httpStatus", 0));
  ASSERT_STR_EQ("ERR_INFRA_UNAUTHENTICATED",
                json_string_value(json_array_get(jsonx_path(r, "payload.error.gardenerCodes"), 0)));
  ASSERT_NOT_CONTAINS(jsonx_str(r, "payload.error.message"), "very-secret");
  log_forget_all_secrets();
  action_release(&a);
  teardown(&f, loop);
}

static void test_timer_and_unresolved_and_missing_handler(void) {
  struct fake f;
  struct ev_loop *loop;
  setup(&f, &loop);
  struct action t;
  mk(&t, "timer-1", "infrastructure", "timer");
  t.at_ms = clock_now_ms() + 30;
  executor_submit(f.x, &t);
  spin(loop, 3);
  ASSERT_EQ(0, json_array_size(f.observed));
  for (int i = 0; i < 1000 && json_array_size(f.observed) == 0; i++)
    ev_run(loop, EVRUN_ONCE);
  ASSERT_EQ(1, json_array_size(f.observed));
  ASSERT_STR_EQ("clock.timer", jsonx_str(json_array_get(f.observed, 0), "type"));
  ASSERT_STR_EQ("timer-1", jsonx_str(json_array_get(f.observed, 0), "payload.actionId"));
  ASSERT_EQ(0, json_array_size(f.journal)); /* timers need no intent */
  executor_cancel(f.x, "timer-1");
  /* An intent without result from an earlier run: resolving mode. */
  executor_mark_unresolved(f.x, "id-u");
  struct action u;
  mk(&u, "id-u", "infrastructure", "fake.do");
  executor_submit(f.x, &u);
  spin(loop, 5);
  ASSERT_EQ(1, f.ncalls);
  ASSERT(f.resolving[0]);
  ASSERT(jsonx_bool(json_array_get(f.journal, 0), "payload.resolving", false));
  struct exec_outcome o = {true, NULL, NULL, NULL, 0, false};
  executor_done(f.calls[0], &o);
  ASSERT(jsonx_bool(json_array_get(f.observed, 1), "payload.resolving", false));
  /* No handler for a kind: a clear failure, not a hang. */
  struct action m;
  mk(&m, "id-m", "infrastructure", "unknown.kind");
  executor_submit(f.x, &m);
  spin(loop, 5);
  json_t *r = json_array_get(f.observed, 2);
  ASSERT_STR_EQ("ENG_INTERNAL", jsonx_str(r, "payload.error.code"));
  ASSERT_CONTAINS(jsonx_str(r, "payload.error.message"), "no handler for action kind unknown.kind");
  action_release(&t);
  action_release(&u);
  action_release(&m);
  teardown(&f, loop);
}

static void test_journal_failure_holds_actions(void) {
  struct fake f;
  struct ev_loop *loop;
  setup(&f, &loop);
  f.fail_journal = true;
  struct action a;
  mk(&a, "id-j", "infrastructure", "fake.do");
  executor_submit(f.x, &a);
  spin(loop, 5);
  ASSERT_EQ(0, f.ncalls); /* no durable intent, no call */
  f.fail_journal = false;
  for (int i = 0; i < 2000 && f.ncalls == 0; i++)
    ev_run(loop, EVRUN_ONCE); /* the retry timer fires after 1 s */
  ASSERT_EQ(1, f.ncalls);
  ASSERT(f.resolving[0]); /* a failed commit may still have left the intent: resolve first */
  struct exec_outcome o = {true, NULL, NULL, NULL, 0, false};
  executor_done(f.calls[0], &o);
  action_release(&a);
  teardown(&f, loop);
}

/* exec_inflight: jobs linked per call, popped newest first, unlinked when they end; the finish
 * helpers report success, failure with a Gardener code, and a Kubernetes error. */
struct ijob {
  struct exec_inflight fl;
  int n;
};

static void test_inflight_helpers(void) {
  struct fake f;
  struct ev_loop *loop;
  setup(&f, &loop);
  struct action a[4];
  char id[32];
  for (int i = 0; i < 4; i++) {
    snprintf(id, sizeof(id), "i-%d", i);
    mk(&a[i], id, "infrastructure", "fake.do");
    executor_submit(f.x, &a[i]);
  }
  spin(loop, 5);
  ASSERT_EQ(4, f.ncalls);
  struct exec_inflight_list l = {NULL};
  struct ijob j[4];
  for (int i = 0; i < 4; i++) {
    j[i].n = i;
    exec_inflight_link(&l, &j[i].fl, f.calls[i], &j[i]);
  }
  json_t *out = json_pack("{s:s}", "id", "x");
  exec_inflight_ok(&j[1].fl, out); /* a middle one */
  json_decref(out);
  struct eng_error err;
  eng_error_set(&err, ENG_CONFIG, "the Secret lacks apiToken");
  exec_inflight_fail(&j[3].fl, &err, "ERR_CONFIGURATION_PROBLEM", false); /* the head */
  exec_inflight_unlink(&j[3].fl);                                         /* idempotent */
  struct kube_result kr;
  memset(&kr, 0, sizeof(kr));
  kr.err = ENG_CONFLICT;
  kr.status = 409;
  kr.retry_after_ms = 1500;
  eng_error_set(&kr.error, ENG_CONFLICT, "the object was modified");
  exec_inflight_kube_fail(&j[0].fl, &kr); /* the tail */
  ASSERT_EQ(3, json_array_size(f.observed));
  json_t *r1 = json_array_get(f.observed, 0), *r3 = json_array_get(f.observed, 1),
         *r0 = json_array_get(f.observed, 2);
  ASSERT_STR_EQ("i-1", jsonx_str(r1, "payload.actionId"));
  ASSERT(jsonx_bool(r1, "payload.ok", false));
  ASSERT_STR_EQ("x", jsonx_str(r1, "payload.output.id"));
  ASSERT_STR_EQ("i-3", jsonx_str(r3, "payload.actionId"));
  ASSERT(!jsonx_bool(r3, "payload.ok", true));
  ASSERT_STR_EQ("ENG_CONFIG", jsonx_str(r3, "payload.error.code"));
  ASSERT_STR_EQ(
      "ERR_CONFIGURATION_PROBLEM",
      json_string_value(json_array_get(jsonx_path(r3, "payload.error.gardenerCodes"), 0)));
  ASSERT(!jsonx_bool(r3, "payload.error.retryable", true));
  ASSERT_STR_EQ("i-0", jsonx_str(r0, "payload.actionId"));
  ASSERT_STR_EQ("ENG_CONFLICT", jsonx_str(r0, "payload.error.code"));
  ASSERT_EQ(409, jsonx_int(r0, "payload.error.httpStatus", 0));
  ASSERT_EQ(1500, jsonx_int(r0, "payload.error.retryAfterMs", 0));
  ASSERT(jsonx_bool(r0, "payload.error.retryable", false));
  ASSERT_EQ(0, json_array_size(jsonx_path(r0, "payload.error.gardenerCodes")));
  /* Only j[2] is left in flight. */
  struct ijob *left = exec_inflight_pop(&l);
  ASSERT(left == &j[2]);
  ASSERT(exec_inflight_pop(&l) == NULL);
  executor_succeed(f.calls[2], NULL);
  ASSERT_EQ(0, executor_running(f.x));
  for (int i = 0; i < 4; i++)
    action_release(&a[i]);
  teardown(&f, loop);
}

int main(void) {
  xalloc_init();
  log_setup(LOG_OFF, LOG_FORMAT_TEXT, 2);
  TEST(test_intent_durable_before_call);
  TEST(test_fencing_and_kick);
  TEST(test_concurrency_cap_and_cancel);
  TEST(test_operations_under_way_first);
  TEST(test_failure_outcome_scrubbed);
  TEST(test_timer_and_unresolved_and_missing_handler);
  TEST(test_journal_failure_holds_actions);
  TEST(test_inflight_helpers);
  return tap_done();
}
