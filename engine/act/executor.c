/*
 * executor.c - intents, calls and outcomes of actions, on the libev loop.
 *
 * Pending actions live in one FIFO list. A zero-delay timer ("dispatch") runs on
 * the next loop iteration after anything changed; it starts what may start,
 * journaling the intents of that turn with one commit. Entries that are
 * cancelled or finished are moved to a graveyard and freed at the next dispatch,
 * never inside a callback that might still read them.
 */
#include "engine/base/common.h"
#include "engine/act/executor.h"
#include "engine/base/clock.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "engine/base/xalloc.h"

#include <ev.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONCURRENCY 5

struct pending {
  struct action a;
  uint64_t rank;   /* of its operation: the order in which operations first had an action */
  bool unresolved; /* an intent without result exists from an earlier run */
  bool running;
  bool canceled;
  bool timer_armed;
  ev_timer timer; /* "timer" actions */
  struct executor *x;
  struct exec_call *call;
  struct pending *prev, *next;
};

struct exec_call {
  struct executor *x;
  struct pending *p;
  int64_t started_mono;
  bool resolving;
  bool done;
  struct exec_call *next; /* live calls, for executor_free */
};

struct handler {
  char *kind;
  exec_start_fn start;
  void *ud;
};

struct conc {
  char *controller;
  int max;
  int running;
};

struct executor {
  struct ev_loop *loop;
  struct executor_hooks hooks;
  struct handler *handlers;
  size_t nhandlers;
  struct conc *conc;
  size_t nconc;
  struct pending *head, *tail;
  struct pending *graveyard; /* singly linked through next */
  struct exec_call *calls;
  json_t *unresolved; /* {"<action id>": true} */
  json_t *ranks;      /* {"<correlation>": rank} of the operations with actions lately */
  uint64_t next_rank;
  ev_timer dispatch;
  ev_timer retry; /* after a failed intent commit */
};

static void schedule(struct executor *x) {
  if (!ev_is_active(&x->dispatch)) {
    ev_timer_set(&x->dispatch, 0., 0.);
    ev_timer_start(x->loop, &x->dispatch);
  }
}

static struct conc *conc_of(struct executor *x, const char *controller) {
  for (size_t i = 0; i < x->nconc; i++)
    if (strcmp(x->conc[i].controller, controller) == 0)
      return &x->conc[i];
  x->conc = xrealloc(x->conc, (x->nconc + 1) * sizeof(*x->conc));
  struct conc *c = &x->conc[x->nconc++];
  c->controller = xstrdup(controller);
  c->max = DEFAULT_CONCURRENCY;
  c->running = 0;
  return c;
}

void executor_set_concurrency(struct executor *x, const char *controller, int max) {
  conc_of(x, controller)->max = max > 0 ? max : 1;
}

static const struct handler *handler_of(const struct executor *x, const char *kind) {
  for (size_t i = 0; i < x->nhandlers; i++)
    if (strcmp(x->handlers[i].kind, kind) == 0)
      return &x->handlers[i];
  for (size_t i = 0; i < x->nhandlers; i++) {
    size_t n = strlen(x->handlers[i].kind);
    if (n > 0 && x->handlers[i].kind[n - 1] == '.' && strncmp(kind, x->handlers[i].kind, n) == 0)
      return &x->handlers[i];
  }
  return NULL;
}

void executor_handle(struct executor *x, const char *kind, exec_start_fn start, void *ud) {
  x->handlers = xrealloc(x->handlers, (x->nhandlers + 1) * sizeof(*x->handlers));
  x->handlers[x->nhandlers].kind = xstrdup(kind);
  x->handlers[x->nhandlers].start = start;
  x->handlers[x->nhandlers].ud = ud;
  x->nhandlers++;
}

static void unlink_pending(struct executor *x, struct pending *p) {
  if (p->prev)
    p->prev->next = p->next;
  else
    x->head = p->next;
  if (p->next)
    p->next->prev = p->prev;
  else
    x->tail = p->prev;
  p->prev = NULL;
  p->next = x->graveyard;
  x->graveyard = p;
  if (p->timer_armed) {
    ev_timer_stop(x->loop, &p->timer);
    p->timer_armed = false;
  }
}

static void bury(struct executor *x) {
  while (x->graveyard) {
    struct pending *p = x->graveyard;
    x->graveyard = p->next;
    action_release(&p->a);
    free(p);
  }
}

static struct pending *find(struct executor *x, const char *id) {
  for (struct pending *p = x->head; p; p = p->next)
    if (strcmp(p->a.id, id) == 0)
      return p;
  return NULL;
}

/* The identity fields of an event about action a. */
static void event_about(struct jevent *ev, const struct action *a, const char *type,
                        json_t *payload) {
  memset(ev, 0, sizeof(*ev));
  ev->source = JEV_SOURCE_EXECUTOR;
  ev->type = type;
  ev->group_kind = a->group_kind;
  ev->ns = a->ns;
  ev->name = a->name;
  ev->uid = a->uid;
  ev->resource_version = "";
  ev->correlation_id = a->correlation;
  ev->payload = payload;
}

static void timer_fired(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct pending *p = w->data;
  struct executor *x = p->x;
  p->timer_armed = false;
  /* The reducer cancels the timer action while handling this event: work on a copy. */
  struct action a;
  action_copy(&a, &p->a);
  json_t *payload = json_pack("{s:s,s:s,s:I}", "controller", a.controller, "actionId", a.id, "atMs",
                              (json_int_t)a.at_ms);
  struct jevent ev;
  event_about(&ev, &a, "clock.timer", payload);
  ev.source = JEV_SOURCE_CLOCK;
  x->hooks.observe(x->hooks.ud, &ev);
  json_decref(payload);
  action_release(&a);
  schedule(x);
}

/*
 * The rank of a's operation. Waiting actions start in rank order, FIFO within a rank: an
 * operation under way goes on before operations that have not started, as a reconcile holds its
 * worker until it returns in controller-runtime, so that a thousand operations started at once
 * finish one after another instead of all taking each step together (each shoot's first step,
 * then each shoot's second ...), which made the first one finish only when the last began.
 * Forgetting a rank (the table is pruned to the operations with actions waiting or running)
 * only moves that operation to the back.
 */
static uint64_t rank_of(struct executor *x, const char *correlation) {
  if (!correlation || !*correlation)
    return x->next_rank++;
  json_t *r = json_object_get(x->ranks, correlation);
  if (r)
    return (uint64_t)json_integer_value(r);
  if (json_object_size(x->ranks) >= 4096) {
    size_t live = 0;
    for (struct pending *p = x->head; p; p = p->next)
      live++;
    if (json_object_size(x->ranks) >= 4096 + 2 * live) {
      json_t *keep = json_object();
      for (struct pending *p = x->head; p; p = p->next)
        if (p->a.correlation && *p->a.correlation)
          json_object_set_new(keep, p->a.correlation, json_integer((json_int_t)p->rank));
      json_decref(x->ranks);
      x->ranks = keep;
    }
  }
  uint64_t rank = x->next_rank++;
  json_object_set_new(x->ranks, correlation, json_integer((json_int_t)rank));
  return rank;
}

void executor_submit(struct executor *x, const struct action *a) {
  if (find(x, a->id))
    return;
  struct pending *p = xcalloc(1, sizeof(*p));
  p->x = x;
  action_copy(&p->a, a);
  p->unresolved = json_object_get(x->unresolved, a->id) != NULL;
  p->rank = rank_of(x, a->correlation);
  struct pending *after = x->tail;
  while (after && after->rank > p->rank)
    after = after->prev;
  p->prev = after;
  p->next = after ? after->next : x->head;
  if (p->next)
    p->next->prev = p;
  else
    x->tail = p;
  if (after)
    after->next = p;
  else
    x->head = p;
  if (strcmp(a->kind, "timer") == 0) {
    double delay = (double)(a->at_ms - clock_now_ms()) / 1000.0;
    ev_timer_init(&p->timer, timer_fired, delay > 0 ? delay : 0., 0.);
    p->timer.data = p;
    ev_timer_start(x->loop, &p->timer);
    p->timer_armed = true;
    return;
  }
  schedule(x);
}

void executor_cancel(struct executor *x, const char *action_id) {
  struct pending *p = find(x, action_id);
  if (!p)
    return;
  if (p->running) {
    p->canceled = true; /* its outcome is still journaled when it arrives */
    return;
  }
  unlink_pending(x, p);
  schedule(x);
}

void executor_mark_unresolved(struct executor *x, const char *action_id) {
  json_object_set_new(x->unresolved, action_id, json_true());
  struct pending *p = find(x, action_id);
  if (p)
    p->unresolved = true;
}

void executor_kick(struct executor *x) { schedule(x); }

const struct action *exec_call_action(const struct exec_call *call) {
  return call->p ? &call->p->a : NULL;
}

size_t executor_queued(const struct executor *x) {
  size_t n = 0;
  for (const struct pending *p = x->head; p; p = p->next)
    n += !p->running && strcmp(p->a.kind, "timer") != 0;
  return n;
}

size_t executor_running(const struct executor *x) {
  size_t n = 0;
  for (const struct pending *p = x->head; p; p = p->next)
    n += p->running;
  return n;
}

static json_t *outcome_json(const struct action *a, const struct exec_outcome *o, double secs,
                            bool resolving) {
  json_t *p = json_object();
  json_object_set_new(p, "controller", json_string(a->controller));
  json_object_set_new(p, "actionId", json_string(a->id));
  json_object_set_new(p, "key", json_string(a->key));
  json_object_set_new(p, "kind", json_string(a->kind));
  json_object_set_new(p, "attempt", json_integer(a->attempt));
  json_object_set_new(p, "ok", json_boolean(o->ok));
  json_object_set_new(p, "durationMs", json_integer((json_int_t)(secs * 1000.0)));
  if (resolving)
    json_object_set_new(p, "resolving", json_true());
  if (o->ok) {
    json_object_set_new(p, "output", o->output ? json_deep_copy(o->output) : json_object());
  } else {
    json_t *e = json_object();
    enum eng_err code = o->err ? o->err->code : ENG_INTERNAL;
    json_object_set_new(e, "code", json_string(eng_err_name(code)));
    char *msg = log_scrub(o->err && o->err->msg[0] ? o->err->msg : eng_strerror(code));
    json_object_set_new(e, "message", json_string(msg));
    free(msg);
    json_t *codes = json_array();
    for (size_t i = 0; i < o->ncodes; i++)
      json_array_append_new(codes, json_string(o->codes[i]));
    json_object_set_new(e, "gardenerCodes", codes);
    json_object_set_new(e, "retryable", json_boolean(o->retryable));
    json_object_set_new(e, "retryAfterMs", json_integer(o->err ? o->err->retry_after_ms : -1));
    json_object_set_new(e, "httpStatus", json_integer(o->err ? o->err->http_status : 0));
    json_object_set_new(p, "error", e);
  }
  return p;
}

/* One info line per finished operation, so `kubectl logs` shows progress: the
 * successful write of a lastOperation with state Succeeded ends an operation of
 * Gardener's extension contract (engine/decide/extension.c). */
static void log_operation_done(const struct action *a) {
  if (strcmp(a->kind, "kube.status") != 0)
    return;
  json_t *lo = jsonx_path(a->params, "patch.status.lastOperation");
  const char *state = jsonx_str(lo, "state");
  if (!state || strcmp(state, "Succeeded") != 0)
    return;
  const char *gk = a->group_kind ? a->group_kind : "";
  const char *kind = strrchr(gk, '/') ? strrchr(gk, '/') + 1 : gk;
  log_info("operation succeeded", "kind", kind, "namespace", a->ns ? a->ns : "", "name",
           a->name ? a->name : "", "operation", jsonx_str(lo, "type") ?: "", "description",
           jsonx_str(lo, "description") ?: "", "correlation", a->correlation ? a->correlation : "",
           NULL);
}

void executor_succeed(struct exec_call *call, const json_t *out) {
  struct exec_outcome o = {true, out, NULL, NULL, 0, false};
  executor_done(call, &o);
}

void executor_fail(struct exec_call *call, const struct eng_error *err, const char *gardener_code,
                   bool retryable) {
  const char *codes[1] = {gardener_code};
  struct exec_outcome o = {false, NULL, err, codes, gardener_code ? 1 : 0, retryable};
  executor_done(call, &o);
}

void executor_done(struct exec_call *call, const struct exec_outcome *o) {
  if (call->done)
    return;
  call->done = true;
  struct executor *x = call->x;
  /* Unlink from the live calls. */
  for (struct exec_call **pp = &x->calls; *pp; pp = &(*pp)->next) {
    if (*pp == call) {
      *pp = call->next;
      break;
    }
  }
  struct pending *p = call->p;
  double secs = (double)(clock_mono_ms() - call->started_mono) / 1000.0;
  struct conc *c = conc_of(x, p->a.controller);
  c->running--;
  p->call = NULL;
  json_object_del(x->unresolved, p->a.id);
  /* The observer may cancel or resubmit: keep our own copy of the action. */
  struct action a;
  action_copy(&a, &p->a);
  unlink_pending(x, p); /* still marked running: not counted as queued */
  p->running = false;
  json_t *payload = outcome_json(&a, o, secs, call->resolving);
  struct jevent ev;
  event_about(&ev, &a, "executor.result", payload);
  x->hooks.observe(x->hooks.ud, &ev);
  json_decref(payload);
  if (x->hooks.finished)
    x->hooks.finished(x->hooks.ud, &a, o, secs);
  if (!o->ok)
    log_warn("action failed", "action", a.id, "kind", a.kind, "error", o->err ? o->err->msg : "",
             NULL);
  else
    log_debug("action done", "action", a.id, "kind", a.kind, NULL);
  if (o->ok)
    log_operation_done(&a);
  action_release(&a);
  free(call);
  schedule(x);
}

static void fail_now(struct executor *x, struct pending *p, enum eng_err code, const char *msg) {
  struct exec_call *call = xcalloc(1, sizeof(*call));
  call->x = x;
  call->p = p;
  call->started_mono = clock_mono_ms();
  call->next = x->calls;
  x->calls = call;
  struct eng_error err;
  eng_error_set(&err, code, "%s", msg);
  executor_fail(call, &err, NULL, false);
}

static void dispatch_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct executor *x = w->data;
  bury(x);
  int64_t epoch = 0;
  if (!x->hooks.may_act(x->hooks.ud, &epoch))
    return; /* executor_kick() when that changes */
  /* Pick what may start now, reserving slots. */
  size_t n = 0, cap = 0;
  struct pending **batch = NULL;
  for (struct pending *p = x->head; p; p = p->next) {
    if (p->running || p->canceled || strcmp(p->a.kind, "timer") == 0)
      continue;
    struct conc *c = conc_of(x, p->a.controller);
    if (c->running >= c->max)
      continue;
    c->running++;
    p->running = true;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      batch = xrealloc(batch, cap * sizeof(*batch));
    }
    batch[n++] = p;
  }
  if (n == 0) {
    free(batch);
    return;
  }
  /* Journal every intent; the last append commits them all. */
  struct eng_error err;
  eng_error_clear(&err);
  bool journaled = true;
  for (size_t i = 0; i < n && journaled; i++) {
    struct pending *p = batch[i];
    json_t *payload =
        json_pack("{s:s,s:s,s:s,s:s,s:i,s:I,s:b}", "controller", p->a.controller, "actionId",
                  p->a.id, "key", p->a.key, "kind", p->a.kind, "attempt", p->a.attempt, "epoch",
                  (json_int_t)epoch, "resolving", p->unresolved);
    struct jevent ev;
    event_about(&ev, &p->a, "executor.intent", payload);
    if (x->hooks.journal(x->hooks.ud, &ev, i == n - 1, &err) < 0)
      journaled = false;
    json_decref(payload);
  }
  if (!journaled || !x->hooks.may_act(x->hooks.ud, &epoch)) {
    /* No durable intent, or leadership lapsed meanwhile: start nothing. The
     * intents that did reach the journal make these actions "resolving" later. */
    if (!journaled)
      log_error("cannot journal action intents; actions wait", "error", err.msg, NULL);
    for (size_t i = 0; i < n; i++) {
      struct pending *p = batch[i];
      p->running = false;
      p->unresolved = true;
      conc_of(x, p->a.controller)->running--;
    }
    free(batch);
    if (!ev_is_active(&x->retry)) {
      ev_timer_set(&x->retry, 1., 0.);
      ev_timer_start(x->loop, &x->retry);
    }
    return;
  }
  for (size_t i = 0; i < n; i++) {
    struct pending *p = batch[i];
    const struct handler *h = handler_of(x, p->a.kind);
    if (!h) {
      char msg[256];
      snprintf(msg, sizeof(msg), "no handler for action kind %s; this binary cannot carry it out",
               p->a.kind);
      fail_now(x, p, ENG_INTERNAL, msg);
      continue;
    }
    struct exec_call *call = xcalloc(1, sizeof(*call));
    call->x = x;
    call->p = p;
    call->resolving = p->unresolved;
    call->started_mono = clock_mono_ms();
    call->next = x->calls;
    x->calls = call;
    p->call = call;
    log_debug("action start", "action", p->a.id, "kind", p->a.kind, "reason", p->a.reason, NULL);
    h->start(h->ud, call, &p->a, call->resolving);
  }
  free(batch);
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  schedule(w->data);
}

struct executor *executor_new(struct ev_loop *loop, const struct executor_hooks *hooks) {
  struct executor *x = xcalloc(1, sizeof(*x));
  x->loop = loop;
  x->hooks = *hooks;
  x->unresolved = json_object();
  x->ranks = json_object();
  ev_timer_init(&x->dispatch, dispatch_cb, 0., 0.);
  x->dispatch.data = x;
  ev_timer_init(&x->retry, retry_cb, 1., 0.);
  x->retry.data = x;
  return x;
}

void executor_free(struct executor *x) {
  if (!x)
    return;
  ev_timer_stop(x->loop, &x->dispatch);
  ev_timer_stop(x->loop, &x->retry);
  /* Calls still outstanding are freed: the caller has already freed the
   * clients their handlers used (which cancels their callbacks). */
  while (x->calls) {
    struct exec_call *c = x->calls;
    x->calls = c->next;
    free(c);
  }
  while (x->head)
    unlink_pending(x, x->head);
  bury(x);
  for (size_t i = 0; i < x->nhandlers; i++)
    free(x->handlers[i].kind);
  free(x->handlers);
  for (size_t i = 0; i < x->nconc; i++)
    free(x->conc[i].controller);
  free(x->conc);
  json_decref(x->unresolved);
  json_decref(x->ranks);
  free(x);
}
