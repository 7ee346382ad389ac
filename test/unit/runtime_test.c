/*
 * runtime_test.c - journal + decider + executor together, on a real journal:
 * an operation runs to the end through journaled actions, intents and results;
 * a crash between intent and result is resolved (not repeated blindly) at the
 * next start; snapshots restore the same state as a full fold; and replay
 * recomputes exactly the recorded actions.
 */
#include "engine/base/common.h"
#include "engine/decide/extension.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "engine/cmd/replay.h"
#include "engine/runtime.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"

#include <ev.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fake actuator with one provider step. */
static enum eng_err plan(enum gardener_op op, bool force, const json_t *obj, const json_t *cluster,
                         struct ext_step_list *steps, struct eng_error *err) {
  (void)force;
  (void)obj;
  (void)cluster;
  (void)err;
  if (op != GOP_MIGRATE)
    ext_steps_add_own(steps, op == GOP_DELETE ? "delete-thing" : "ensure-thing",
                      op == GOP_DELETE ? "fake.delete" : "fake.ensure", json_object(), "the thing");
  return ENG_OK;
}
static void success(enum gardener_op op, const json_t *obj, const json_t *outputs, json_t *status) {
  (void)op;
  (void)obj;
  json_object_set_new(status, "providerStatus",
                      json_pack("{s:s}", "id", jsonx_str(outputs, "ensure-thing.id") ?: ""));
}
static const struct ext_actuator act = {plan, success};
static const struct ext_controller ctl = {"infrastructure",
                                          "extensions.gardener.cloud",
                                          "Infrastructure",
                                          "infrastructures",
                                          "extensions.gardener.cloud/infrastructure",
                                          "equinixmetal",
                                          &act};

struct world {
  struct ev_loop *loop;
  struct runtime *rt;
  struct reducer red;
  const struct reducer *reds[1];
  int calls;      /* handler starts */
  int resolving;  /* starts in resolving mode */
  bool hold_fake; /* do not answer fake.* (simulate a crash in flight) */
  struct exec_call *held;
  char path[256];
};

static void answer(void *ud, struct exec_call *call, const struct action *a, bool resolving) {
  struct world *w = ud;
  w->calls++;
  w->resolving += resolving;
  if (w->hold_fake && !strncmp(a->kind, "fake.", 5)) {
    w->held = call;
    return;
  }
  json_t *out = json_pack("{s:s}", "id", "thing-42");
  struct exec_outcome o = {true, out, NULL, NULL, 0, false};
  executor_done(call, &o);
  json_decref(out);
}

static enum eng_err world_open(struct world *w, int64_t snapshot_every) {
  struct eng_error err;
  ext_controller_reducer(&ctl, &w->red);
  w->reds[0] = &w->red;
  struct runtime_opts o = {0};
  o.journal_path = w->path;
  o.journal.sync = JOURNAL_SYNC_OFF;
  o.reducers = w->reds;
  o.nreducers = 1;
  o.snapshot_every = snapshot_every;
  enum eng_err rc = runtime_open(w->loop, &o, &w->rt, &err);
  if (rc) {
    printf("# runtime_open: %s\n", err.msg);
    return rc;
  }
  struct executor *x = runtime_executor(w->rt);
  executor_handle(x, "kube.", answer, w);
  executor_handle(x, "fake.", answer, w);
  json_t *start = json_pack("{s:{s:{}}}", "controllers", "infrastructure");
  rc = runtime_start(w->rt, start, &err);
  json_decref(start);
  return rc;
}

static void observe_obj(struct world *w, const char *type, const char *gk, const char *ns,
                        const char *name, json_t *obj) {
  struct jevent ev = {"kube",
                      type,
                      gk,
                      ns,
                      name,
                      jsonx_str(obj, "metadata.uid") ?: "",
                      jsonx_str(obj, "metadata.resourceVersion") ?: "",
                      "",
                      obj};
  runtime_observe(w->rt, &ev);
  json_decref(obj);
}

static void spin(struct world *w, int n) {
  for (int i = 0; i < n; i++)
    ev_run(w->loop, EVRUN_NOWAIT);
}

static json_t *infra(void) {
  return json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:s,s:i,s:{s:s}},s:{s:s,s:s}}", "apiVersion",
                   "extensions.gardener.cloud/v1alpha1", "kind", "Infrastructure", "metadata",
                   "name", "infra", "namespace", "shoot--p--s", "uid", "abcdef0123",
                   "resourceVersion", "5", "generation", 1, "annotations",
                   "gardener.cloud/operation", "reconcile", "spec", "type", "equinixmetal",
                   "region", "ny");
}

static json_t *cluster(void) {
  return json_pack("{s:s,s:{s:s},s:{s:{s:{s:{s:s}}}}}", "kind", "Cluster", "metadata", "name",
                   "shoot--p--s", "spec", "shoot", "status", "lastOperation", "state", "Succeeded");
}

static const char *op_phase(struct world *w) {
  const json_t *st = decider_state(runtime_decider(w->rt), "infrastructure");
  return jsonx_str(st, "objects.shoot--p--s/infra.op.phase");
}

static int count_type(const char *path, const char *type) {
  struct journal *j;
  struct journal_options jo = {.read_only = true};
  struct eng_error err;
  if (journal_open(path, &jo, &j, &err))
    return -1;
  struct journal_filter f = {0};
  f.type = type;
  struct journal_iter *it;
  int n = 0;
  if (journal_iter_open(j, &f, &it, &err) == ENG_OK) {
    const struct journal_row *r;
    while (journal_iter_next(it, &r, &err) == 1)
      n++;
    journal_iter_free(it);
  }
  journal_close(j);
  return n;
}

static void check_replay(const char *path, struct replay_report *rep) {
  struct journal *j;
  struct journal_options jo = {.read_only = true};
  struct eng_error err;
  memset(rep, 0, sizeof(*rep));
  if (journal_open(path, &jo, &j, &err))
    return;
  struct reducer red;
  ext_controller_reducer(&ctl, &red);
  const struct reducer *reds[1] = {&red};
  struct replay_opts o = {0};
  o.check = true;
  if (replay_run(j, reds, 1, &o, rep, &err) != ENG_OK)
    rep->mismatches = -1;
  journal_close(j);
}

static void test_operation_end_to_end(void) {
  struct world w;
  memset(&w, 0, sizeof(w));
  w.loop = ev_loop_new(0);
  char dir[] = "/tmp/eqxm-rt-XXXXXX";
  ASSERT(mkdtemp(dir));
  snprintf(w.path, sizeof(w.path), "%s/journal.db", dir);
  ASSERT_EQ(ENG_OK, world_open(&w, 1000));
  observe_obj(&w, "kube.added", "extensions.gardener.cloud/Infrastructure", "shoot--p--s", "infra",
              infra());
  observe_obj(&w, "kube.added", "extensions.gardener.cloud/Cluster", "", "shoot--p--s", cluster());
  for (int i = 0; i < 50 && (!op_phase(&w) || strcmp(op_phase(&w), "done")); i++)
    spin(&w, 3);
  ASSERT_STR_EQ("done", op_phase(&w));
  ASSERT_EQ(5, w.calls); /* annotation, finalizer, Processing, provider step, Succeeded */
  struct eng_error err;
  ASSERT_EQ(ENG_OK, runtime_close(w.rt, "test", &err));
  ASSERT_EQ(5, count_type(w.path, "engine.action"));
  ASSERT_EQ(5, count_type(w.path, "executor.intent"));
  ASSERT_EQ(5, count_type(w.path, "executor.result"));
  struct replay_report rep;
  check_replay(w.path, &rep);
  ASSERT_EQ(0, rep.mismatches);
  ASSERT_EQ(5, rep.recorded);
  ASSERT_EQ(5, rep.actions);
  ev_loop_destroy(w.loop);
  unlink(w.path);
  char side[300];
  snprintf(side, sizeof(side), "%s-wal", w.path);
  unlink(side);
  snprintf(side, sizeof(side), "%s-shm", w.path);
  unlink(side);
  rmdir(dir);
}

static void test_crash_resolves_and_snapshot(void) {
  struct world w;
  memset(&w, 0, sizeof(w));
  w.loop = ev_loop_new(0);
  char dir[] = "/tmp/eqxm-rt-XXXXXX";
  ASSERT(mkdtemp(dir));
  snprintf(w.path, sizeof(w.path), "%s/journal.db", dir);
  w.hold_fake = true;
  ASSERT_EQ(ENG_OK, world_open(&w, 1)); /* snapshot after every input */
  observe_obj(&w, "kube.added", "extensions.gardener.cloud/Cluster", "", "shoot--p--s", cluster());
  observe_obj(&w, "kube.added", "extensions.gardener.cloud/Infrastructure", "shoot--p--s", "infra",
              infra());
  for (int i = 0; i < 50 && !w.held; i++)
    spin(&w, 3);
  ASSERT(w.held); /* the provider call is in flight: its intent is durable, no result */
  ASSERT_EQ(4, w.calls);
  struct eng_error err;
  ASSERT_EQ(ENG_OK, runtime_close(w.rt, "test crash", &err));
  ASSERT_EQ(4, count_type(w.path, "executor.intent"));
  ASSERT_EQ(3, count_type(w.path, "executor.result"));
  /* Restart: restored from the snapshot, the unanswered intent is resolved. */
  w.hold_fake = false;
  w.held = NULL;
  w.calls = 0;
  ASSERT_EQ(ENG_OK, world_open(&w, 1));
  struct runtime_stats st;
  runtime_stats(w.rt, &st);
  ASSERT(st.snapshot_seq > 0);
  for (int i = 0; i < 50 && strcmp(op_phase(&w) ?: "", "done"); i++)
    spin(&w, 3);
  ASSERT_STR_EQ("done", op_phase(&w));
  ASSERT(w.resolving >= 1);
  ASSERT_EQ(2, w.calls); /* the resolved provider step, then Succeeded: nothing earlier repeated */
  /* A restart re-delivering the same object does not start a new operation. */
  observe_obj(&w, "kube.added", "extensions.gardener.cloud/Cluster", "", "shoot--p--s", cluster());
  json_t *o = infra();
  json_object_del(json_object_get(o, "metadata"), "annotations");
  json_object_set_new(
      o, "status",
      json_pack("{s:{s:s,s:s}}", "lastOperation", "type", "Create", "state", "Succeeded"));
  observe_obj(&w, "kube.modified", "extensions.gardener.cloud/Infrastructure", "shoot--p--s",
              "infra", o);
  spin(&w, 5);
  ASSERT_EQ(2, w.calls);
  ASSERT_EQ(ENG_OK, runtime_close(w.rt, "test", &err));
  struct replay_report rep;
  check_replay(w.path, &rep);
  ASSERT_MSG(rep.mismatches == 0, "replay mismatch: %s", rep.first_mismatch);
  ASSERT_EQ(5, rep.recorded); /* the provider step was recorded once, before the crash */
  ev_loop_destroy(w.loop);
  char side[300];
  snprintf(side, sizeof(side), "rm -rf %s", dir);
  ASSERT_OK(system(side));
}

int main(void) {
  xalloc_init();
  log_setup(LOG_OFF, LOG_FORMAT_TEXT, 2);
  TEST(test_operation_end_to_end);
  TEST(test_crash_resolves_and_snapshot);
  return tap_done();
}
