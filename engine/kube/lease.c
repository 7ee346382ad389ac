/*
 * lease.c - leader election (client-go LeaderElector on a Lease) and the Gardener heartbeat.
 *
 * One attempt at a time: a fast-path PUT of the cached Lease while leading, otherwise
 * GET -> (create | judge expiry by local observe time | PUT). Each attempt has a time limit
 * of the renew deadline. While leading, a deadline timer stops leadership the moment the
 * last successful renewal is renew-deadline old, even if a request hangs.
 */
#include "engine/base/common.h"
#include "engine/kube/lease.h"
#include "engine/kube/backoff.h"
#include "engine/base/clock.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "engine/base/timefmt.h"
#include "engine/base/xalloc.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

enum attempt_step {
  STEP_IDLE,
  STEP_FAST_PUT,
  STEP_GET,
  STEP_CREATE,
  STEP_PUT,
  STEP_RELEASE_GET,
  STEP_RELEASE_PUT
};

struct kube_leader {
  struct kube_client *c;
  char *ns, *name, *identity;
  long lease_ms, renew_ms, retry_ms;
  bool release_on_cancel;
  void (*on_started)(void *ud, int64_t epoch);
  void (*on_stopped)(void *ud);
  void (*on_new_leader)(void *ud, const char *identity);
  void *ud;
  struct jevent_sink sink;
  double (*rand_fn)(void *ud);
  void *rand_ud;

  bool running, leading, releasing;
  int64_t epoch;
  int64_t deadline_ms; /* mono: leadership certain until */
  char *observed_raw;  /* canonical spec last observed */
  int64_t observed_ms; /* mono time it was first observed */
  char *observed_holder;
  json_t *lease; /* latest Lease object known (with resourceVersion) */
  struct kube_call *call;
  enum attempt_step step;
  int64_t attempt_ms; /* mono start of the current attempt */
  int release_tries;
  ev_timer retry_timer, deadline_timer, attempt_timer;
  void (*release_done)(void *ud);
  void *release_ud;
  ev_timer release_timer; /* asynchronous release completion */
};

static struct ev_loop *loop_of(const struct kube_leader *l) { return kube_client_loop(l->c); }

static void schedule_attempt(struct kube_leader *l, long ms);
static void attempt(struct kube_leader *l);

/* A random "<hostname>_<uuid>" like controller-runtime's default identity. */
static char *default_identity(void) {
  char host[256] = "unknown";
  if (gethostname(host, sizeof(host) - 1) != 0)
    snprintf(host, sizeof(host), "unknown");
  host[sizeof(host) - 1] = '\0';
  unsigned char r[16];
  if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
    int64_t t = clock_mono_ms() ^ (int64_t)getpid();
    for (size_t i = 0; i < sizeof(r); i++)
      r[i] = (unsigned char)(t >> (i % 8 * 8)) ^ (unsigned char)(i * 37);
  }
  r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
  r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
  return xasprintf("%s_%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", host,
                   r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
                   r[13], r[14], r[15]);
}

static void journal(struct kube_leader *l, const char *type) {
  if (!l->sink.fn)
    return;
  json_t *p = json_pack("{s:s, s:s, s:s, s:I}", "namespace", l->ns, "lease", l->name, "identity",
                        l->identity, "epoch", (json_int_t)l->epoch);
  struct jevent ev = {.source = JEV_SOURCE_ENGINE,
                      .type = type,
                      .group_kind = "coordination.k8s.io/Lease",
                      .ns = l->ns,
                      .name = l->name,
                      .uid = "",
                      .resource_version = "",
                      .correlation_id = "",
                      .payload = p};
  jevent_emit(&l->sink, &ev);
  json_decref(p);
}

static void stop_leading(struct kube_leader *l, const char *why) {
  if (!l->leading)
    return;
  char ep[32];
  snprintf(ep, sizeof(ep), "%" PRId64, l->epoch);
  log_warn("stopped leading", "lease", l->name, "namespace", l->ns, "epoch", ep, "reason", why,
           NULL);
  journal(l, "engine.leader.stopped");
  l->leading = false;
  l->epoch = -1;
  l->deadline_ms = 0;
  ev_timer_stop(loop_of(l), &l->deadline_timer);
  if (l->on_stopped)
    l->on_stopped(l->ud);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct kube_leader *l = w->data;
  if (l->leading && clock_mono_ms() >= l->deadline_ms)
    stop_leading(l, "the lease could not be renewed within the renew deadline");
  else if (l->leading) {
    ev_timer_set(&l->deadline_timer, (double)(l->deadline_ms - clock_mono_ms()) / 1000.0, 0.);
    ev_timer_start(loop_of(l), &l->deadline_timer);
  }
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct kube_leader *l = w->data;
  if (l->running && !l->call)
    attempt(l);
}

static void attempt_failed(struct kube_leader *l, const char *why);

static void attempt_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct kube_leader *l = w->data;
  if (l->call) {
    struct kube_call *call = l->call;
    l->call = NULL;
    kube_cancel(l->c, call);
    attempt_failed(l, "the API server did not answer in time");
  }
}

static void release_finish(struct kube_leader *l);

static void release_timer_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  release_finish(w->data);
}

char *kube_leader_lease_name(const char *extension) {
  return xasprintf("%s-leader-election", extension);
}

struct kube_leader *kube_leader_new(struct kube_client *c, const struct kube_leader_opts *o,
                                    struct eng_error *err) {
  long lease = o->lease_duration_ms > 0 ? o->lease_duration_ms : 15000;
  long renew = o->renew_deadline_ms > 0 ? o->renew_deadline_ms : 10000;
  long retry = o->retry_period_ms > 0 ? o->retry_period_ms : 2000;
  if (!o->ns || !*o->ns) {
    eng_error_set(err, ENG_CONFIG, "leader election needs a namespace for its Lease");
    return NULL;
  }
  if (!o->name || !*o->name) {
    eng_error_set(err, ENG_CONFIG, "leader election needs the name of its Lease");
    return NULL;
  }
  if (lease <= renew) {
    eng_error_set(err, ENG_CONFIG,
                  "leader election: the lease duration (%ld ms) must be greater than the renew "
                  "deadline (%ld ms)",
                  lease, renew);
    return NULL;
  }
  if ((double)renew <= 1.2 * (double)retry) {
    eng_error_set(err, ENG_CONFIG,
                  "leader election: the renew deadline (%ld ms) must be greater than 1.2 x the "
                  "retry period (%ld ms)",
                  renew, retry);
    return NULL;
  }
  if (lease < 1000) {
    eng_error_set(err, ENG_CONFIG, "leader election: the lease duration must be at least 1 s");
    return NULL;
  }
  struct kube_leader *l = xcalloc(1, sizeof(*l));
  l->c = c;
  l->ns = xstrdup(o->ns);
  l->name = xstrdup(o->name);
  l->identity = o->identity && *o->identity ? xstrdup(o->identity) : default_identity();
  l->lease_ms = lease;
  l->renew_ms = renew;
  l->retry_ms = retry;
  l->release_on_cancel = o->release_on_cancel;
  l->on_started = o->on_started;
  l->on_stopped = o->on_stopped;
  l->on_new_leader = o->on_new_leader;
  l->ud = o->ud;
  l->sink = o->sink;
  l->rand_fn = o->rand_fn ? o->rand_fn : kube_backoff_rand_default;
  l->rand_ud = o->rand_ud;
  l->epoch = -1;
  l->observed_holder = xstrdup("");
  ev_timer_init(&l->retry_timer, retry_cb, 0., 0.);
  ev_timer_init(&l->deadline_timer, deadline_cb, 0., 0.);
  ev_timer_init(&l->attempt_timer, attempt_timeout_cb, 0., 0.);
  ev_timer_init(&l->release_timer, release_timer_cb, 0., 0.);
  l->retry_timer.data = l->deadline_timer.data = l->attempt_timer.data = l->release_timer.data = l;
  return l;
}

void kube_leader_start(struct kube_leader *l) {
  if (l->running || l->releasing)
    return;
  l->running = true;
  log_info("attempting to acquire the leader lease", "lease", l->name, "namespace", l->ns,
           "identity", l->identity, NULL);
  schedule_attempt(l, 0);
}

static void stop_all(struct kube_leader *l) {
  l->running = false;
  ev_timer_stop(loop_of(l), &l->retry_timer);
  ev_timer_stop(loop_of(l), &l->attempt_timer);
  if (l->call) {
    struct kube_call *call = l->call;
    l->call = NULL;
    kube_cancel(l->c, call);
  }
}

void kube_leader_free(struct kube_leader *l) {
  if (!l)
    return;
  stop_all(l);
  ev_timer_stop(loop_of(l), &l->deadline_timer);
  ev_timer_stop(loop_of(l), &l->release_timer);
  free(l->ns);
  free(l->name);
  free(l->identity);
  free(l->observed_raw);
  free(l->observed_holder);
  json_decref(l->lease);
  free(l);
}

bool kube_leader_is_leader(const struct kube_leader *l) { return l->leading; }
int64_t kube_leader_epoch(const struct kube_leader *l) { return l->leading ? l->epoch : -1; }
int64_t kube_leader_deadline_ms(const struct kube_leader *l) {
  return l->leading ? l->deadline_ms : 0;
}
bool kube_leader_may_act(const struct kube_leader *l) {
  return l->leading && clock_mono_ms() < l->deadline_ms;
}
const char *kube_leader_identity(const struct kube_leader *l) { return l->identity; }
const char *kube_leader_holder(const struct kube_leader *l) { return l->observed_holder; }

static void schedule_attempt(struct kube_leader *l, long ms) {
  ev_timer_stop(loop_of(l), &l->retry_timer);
  ev_timer_set(&l->retry_timer, ms / 1000.0, 0.);
  ev_timer_start(loop_of(l), &l->retry_timer);
}

/* The wait before the next attempt: the retry period, jittered by 1.2 while not leading. */
static long next_delay(struct kube_leader *l) {
  if (l->leading)
    return l->retry_ms;
  return l->retry_ms + (long)(l->rand_fn(l->rand_ud) * 1.2 * (double)l->retry_ms);
}

static void attempt_end(struct kube_leader *l) {
  ev_timer_stop(loop_of(l), &l->attempt_timer);
  l->step = STEP_IDLE;
  if (l->running)
    schedule_attempt(l, next_delay(l));
}

static void attempt_failed(struct kube_leader *l, const char *why) {
  log_debug("leader election attempt failed", "lease", l->name, "reason", why, NULL);
  if (l->leading && clock_mono_ms() >= l->deadline_ms)
    stop_leading(l, why);
  attempt_end(l);
}

/* Remember the record if it differs from the last one observed (client-go observedTime). */
static void observe(struct kube_leader *l, const json_t *lease) {
  json_t *spec = json_object_get(lease, "spec");
  char *raw = spec ? jsonx_canonical(spec) : xstrdup("{}");
  if (!l->observed_raw || strcmp(raw, l->observed_raw) != 0) {
    free(l->observed_raw);
    l->observed_raw = raw;
    l->observed_ms = clock_mono_ms();
    const char *holder = jsonx_str(lease, "spec.holderIdentity");
    if (!holder)
      holder = "";
    if (strcmp(holder, l->observed_holder) != 0) {
      free(l->observed_holder);
      l->observed_holder = xstrdup(holder);
      if (*holder)
        log_info("new leader observed", "lease", l->name, "namespace", l->ns, "holder", holder,
                 NULL);
      if (l->on_new_leader)
        l->on_new_leader(l->ud, holder);
    }
  } else {
    free(raw);
  }
  json_decref(l->lease);
  l->lease = json_deep_copy(lease);
}

static void became_or_stayed_leader(struct kube_leader *l, const json_t *lease) {
  observe(l, lease);
  l->deadline_ms = l->attempt_ms + l->renew_ms;
  ev_timer_stop(loop_of(l), &l->deadline_timer);
  ev_timer_set(&l->deadline_timer, (double)(l->deadline_ms - clock_mono_ms()) / 1000.0, 0.);
  ev_timer_start(loop_of(l), &l->deadline_timer);
  if (!l->leading) {
    l->leading = true;
    l->epoch = (int64_t)jsonx_int(lease, "spec.leaseTransitions", 0);
    char ep[32];
    snprintf(ep, sizeof(ep), "%" PRId64, l->epoch);
    log_info("became leader", "lease", l->name, "namespace", l->ns, "identity", l->identity,
             "epoch", ep, NULL);
    journal(l, "engine.leader.started");
    if (l->on_started)
      l->on_started(l->ud, l->epoch);
  }
}

/* The spec to write for acquiring or renewing, based on the current record. */
static json_t *desired_lease(struct kube_leader *l, const json_t *current) {
  /* Keep acquireTime and leaseTransitions only when renewing our own term. */
  const char *holder = current ? jsonx_str(current, "spec.holderIdentity") : NULL;
  bool renewing = l->leading && holder && !strcmp(holder, l->identity);
  char now[TIMEFMT_LEN];
  timefmt_micro(clock_now_ms(), now);
  json_t *lease = current ? json_deep_copy(current) : NULL;
  if (!lease)
    lease = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "coordination.k8s.io/v1", "kind",
                      "Lease", "metadata", "name", l->name, "namespace", l->ns);
  json_t *spec = json_object_get(lease, "spec");
  if (!json_is_object(spec)) {
    spec = json_object();
    json_object_set_new(lease, "spec", spec);
  }
  json_int_t transitions = jsonx_int(spec, "leaseTransitions", 0);
  const char *acquire = jsonx_str(spec, "acquireTime");
  char *acq = xstrdup(renewing && acquire ? acquire : now);
  if (current && !renewing)
    transitions++;
  json_object_set_new(spec, "holderIdentity", json_string(l->identity));
  json_object_set_new(spec, "leaseDurationSeconds", json_integer((l->lease_ms + 999) / 1000));
  json_object_set_new(spec, "acquireTime", json_string(acq));
  json_object_set_new(spec, "renewTime", json_string(now));
  json_object_set_new(spec, "leaseTransitions", json_integer(current ? transitions : 0));
  free(acq);
  return lease;
}

static void call_done(void *ud, const struct kube_result *res);

static void do_get(struct kube_leader *l) {
  l->step = STEP_GET;
  l->call = kube_get(l->c, &kube_res_lease, l->ns, l->name, call_done, l);
}

static void call_done(void *ud, const struct kube_result *res) {
  struct kube_leader *l = ud;
  l->call = NULL;
  switch (l->step) {
  case STEP_FAST_PUT:
    if (res->err == ENG_OK) {
      became_or_stayed_leader(l, res->body);
      attempt_end(l);
      return;
    }
    /* Fall back to the slow path within the same attempt. */
    do_get(l);
    return;
  case STEP_GET:
    if (res->err == ENG_NOTFOUND) {
      json_t *lease = desired_lease(l, NULL);
      l->step = STEP_CREATE;
      l->call = kube_create(l->c, &kube_res_lease, l->ns, lease, call_done, l);
      json_decref(lease);
      return;
    }
    if (res->err != ENG_OK) {
      attempt_failed(l, res->error.msg);
      return;
    }
    observe(l, res->body);
    {
      const char *holder = jsonx_str(res->body, "spec.holderIdentity");
      json_int_t dur = jsonx_int(res->body, "spec.leaseDurationSeconds", 0);
      bool mine = holder && !strcmp(holder, l->identity);
      if (holder && *holder && !mine && l->observed_ms + (int64_t)dur * 1000 > clock_mono_ms()) {
        /* Someone else holds a lease that has not expired by our own clock. */
        if (l->leading)
          stop_leading(l, "another process holds the lease");
        attempt_end(l);
        return;
      }
      json_t *lease = desired_lease(l, res->body);
      l->step = STEP_PUT;
      l->call = kube_update(l->c, &kube_res_lease, l->ns, l->name, lease, call_done, l);
      json_decref(lease);
    }
    return;
  case STEP_CREATE:
  case STEP_PUT:
    if (res->err == ENG_OK) {
      became_or_stayed_leader(l, res->body);
      attempt_end(l);
    } else {
      attempt_failed(l, res->error.msg);
    }
    return;
  case STEP_RELEASE_GET:
  case STEP_RELEASE_PUT:
    if (l->step == STEP_RELEASE_PUT && res->err == ENG_OK) {
      observe(l, res->body);
      log_info("released the leader lease", "lease", l->name, "namespace", l->ns, NULL);
      release_finish(l);
      return;
    }
    if (l->step == STEP_RELEASE_GET && res->err == ENG_OK) {
      const char *holder = jsonx_str(res->body, "spec.holderIdentity");
      if (!holder || strcmp(holder, l->identity) != 0) {
        release_finish(l); /* no longer ours: nothing to give up */
        return;
      }
      json_decref(l->lease);
      l->lease = json_deep_copy(res->body);
    } else if (res->err != ENG_CONFLICT || ++l->release_tries > 3) {
      log_warn("could not release the leader lease; the successor waits for it to expire", "lease",
               l->name, "error", res->error.msg, NULL);
      release_finish(l);
      return;
    } else {
      l->step = STEP_RELEASE_GET;
      l->call = kube_get(l->c, &kube_res_lease, l->ns, l->name, call_done, l);
      return;
    }
    {
      /* PUT the released record: no holder, 1 s duration, transitions kept. */
      char now[TIMEFMT_LEN];
      timefmt_micro(clock_now_ms(), now);
      json_t *lease = json_deep_copy(l->lease);
      json_t *spec = json_object_get(lease, "spec");
      if (!json_is_object(spec)) {
        spec = json_object();
        json_object_set_new(lease, "spec", spec);
      }
      json_object_set_new(spec, "holderIdentity", json_string(""));
      json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
      json_object_set_new(spec, "acquireTime", json_string(now));
      json_object_set_new(spec, "renewTime", json_string(now));
      l->step = STEP_RELEASE_PUT;
      l->call = kube_update(l->c, &kube_res_lease, l->ns, l->name, lease, call_done, l);
      json_decref(lease);
    }
    return;
  default:
    return;
  }
}

static void attempt(struct kube_leader *l) {
  l->attempt_ms = clock_mono_ms();
  ev_timer_stop(loop_of(l), &l->attempt_timer);
  ev_timer_set(&l->attempt_timer, l->renew_ms / 1000.0, 0.);
  ev_timer_start(loop_of(l), &l->attempt_timer);
  if (l->leading && l->lease && l->observed_ms + l->lease_ms > l->attempt_ms) {
    /* Fast path: renew the record we wrote last (optimistic, its resourceVersion). */
    json_t *lease = desired_lease(l, l->lease);
    l->step = STEP_FAST_PUT;
    l->call = kube_update(l->c, &kube_res_lease, l->ns, l->name, lease, call_done, l);
    json_decref(lease);
    return;
  }
  do_get(l);
}

static void release_finish(struct kube_leader *l) {
  ev_timer_stop(loop_of(l), &l->release_timer);
  l->releasing = false;
  void (*done)(void *) = l->release_done;
  void *ud = l->release_ud;
  l->release_done = NULL;
  if (done)
    done(ud);
}

void kube_leader_release(struct kube_leader *l, void (*done)(void *ud), void *ud) {
  bool was_leading = l->leading;
  stop_all(l);
  l->release_done = done;
  l->release_ud = ud;
  l->releasing = true;
  if (was_leading)
    stop_leading(l, "shutting down");
  if (was_leading && l->release_on_cancel && l->lease) {
    l->release_tries = 0;
    l->step = STEP_RELEASE_GET;
    /* Start from our last written record; a 409 re-reads it. */
    struct kube_result fake;
    memset(&fake, 0, sizeof(fake));
    fake.err = ENG_OK;
    fake.body = l->lease;
    json_incref(fake.body);
    call_done(l, &fake);
    json_decref(fake.body);
    return;
  }
  ev_timer_set(&l->release_timer, 0., 0.);
  ev_timer_start(loop_of(l), &l->release_timer);
}

/* ---- heartbeat ----------------------------------------------------------------------------- */

struct kube_heartbeat {
  struct kube_client *c;
  char *ns, *ext;
  long interval_s;
  ev_timer timer;
  struct kube_call *call;
  bool creating;
  uint64_t renewals;
};

static void hb_tick(struct ev_loop *loop, ev_timer *w, int revents);

struct kube_heartbeat *kube_heartbeat_new(struct kube_client *c, const char *ns,
                                          const char *extension_name, long renew_interval_s) {
  struct kube_heartbeat *h = xcalloc(1, sizeof(*h));
  h->c = c;
  h->ns = xstrdup(ns ? ns : kube_client_namespace(c));
  h->ext = xstrdup(extension_name ? extension_name : "");
  h->interval_s = renew_interval_s > 0 ? renew_interval_s : 30;
  ev_timer_init(&h->timer, hb_tick, 0., (double)h->interval_s);
  h->timer.data = h;
  return h;
}

void kube_heartbeat_start(struct kube_heartbeat *h) {
  ev_timer_stop(kube_client_loop(h->c), &h->timer);
  ev_timer_set(&h->timer, 0., (double)h->interval_s);
  ev_timer_start(kube_client_loop(h->c), &h->timer);
}

void kube_heartbeat_free(struct kube_heartbeat *h) {
  if (!h)
    return;
  ev_timer_stop(kube_client_loop(h->c), &h->timer);
  if (h->call)
    kube_cancel(h->c, h->call);
  free(h->ns);
  free(h->ext);
  free(h);
}

uint64_t kube_heartbeat_renewals(const struct kube_heartbeat *h) { return h->renewals; }

static void hb_fill(struct kube_heartbeat *h, json_t *lease) {
  char now[TIMEFMT_LEN];
  timefmt_micro(clock_now_ms(), now);
  json_t *spec = json_object_get(lease, "spec");
  if (!json_is_object(spec)) {
    spec = json_object();
    json_object_set_new(lease, "spec", spec);
  }
  json_object_set_new(spec, "holderIdentity", json_string(h->ext));
  json_object_set_new(spec, "leaseDurationSeconds", json_integer(h->interval_s));
  json_object_set_new(spec, "renewTime", json_string(now));
}

static void hb_done(void *ud, const struct kube_result *res) {
  struct kube_heartbeat *h = ud;
  h->call = NULL;
  if (res->err == ENG_OK) {
    h->renewals++;
    return;
  }
  log_warn("could not renew the heartbeat lease; retrying at the next interval", "lease",
           KUBE_HEARTBEAT_LEASE, "namespace", h->ns, "error", res->error.msg, NULL);
}

static void hb_got(void *ud, const struct kube_result *res) {
  struct kube_heartbeat *h = ud;
  h->call = NULL;
  if (res->err == ENG_NOTFOUND) {
    json_t *lease =
        json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "coordination.k8s.io/v1", "kind",
                  "Lease", "metadata", "name", KUBE_HEARTBEAT_LEASE, "namespace", h->ns);
    hb_fill(h, lease);
    h->call = kube_create(h->c, &kube_res_lease, h->ns, lease, hb_done, h);
    json_decref(lease);
    return;
  }
  if (res->err != ENG_OK) {
    hb_done(h, res);
    return;
  }
  json_t *lease = json_deep_copy(res->body);
  hb_fill(h, lease);
  h->call = kube_update(h->c, &kube_res_lease, h->ns, KUBE_HEARTBEAT_LEASE, lease, hb_done, h);
  json_decref(lease);
}

static void hb_tick(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct kube_heartbeat *h = w->data;
  if (h->call)
    return; /* the previous renewal is still running */
  h->call = kube_get(h->c, &kube_res_lease, h->ns, KUBE_HEARTBEAT_LEASE, hb_got, h);
}
