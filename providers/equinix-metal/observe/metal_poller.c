/*
 * metal_poller.c - observes the devices of one shoot and hands changes to a
 * jevent_sink (see metal_client.h for the events). Polls fast while a device is
 * in a transitional state and slowly when all are stable; journals changes, not
 * polls; confirms disappearances with a GET before reporting a device gone.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "engine/base/clock.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "engine/base/xalloc.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEVICE_KIND "metal.equinix.com/Device"

struct confirm;

/* A device as last handed to the sink. */
struct seen {
  char *id;
  char *hostname;
  char *state;
  char *canon;  /* canonical JSON of the last summary emitted */
  bool present; /* in the listing of the current poll */
  struct confirm *confirm;
};

struct confirm {
  struct metal_poller *p;
  char *id;
  struct metal_op *op;
};

struct metal_poller {
  struct metal_client *c;
  struct jevent_sink sink;
  char *ns, *tag;
  long fast_ms, slow_ms, error_ms, set_every_ms;
  ev_timer timer;
  struct metal_op *list_op;
  struct seen *seen;
  size_t n, cap;
  size_t confirming;
  bool confirm_failed; /* a confirmation failed: poll fast to settle it */
  bool set_dirty;      /* the set of ids changed since the last marker */
  bool set_ever;
  int64_t last_set_ms;
  enum eng_err last_err;
  long retry_after_ms;
  bool polling, kicked;
  uint64_t polls;
};

static void poll_start(struct metal_poller *p);

static struct seen *find(struct metal_poller *p, const char *id) {
  for (size_t i = 0; i < p->n; i++)
    if (strcmp(p->seen[i].id, id) == 0)
      return &p->seen[i];
  return NULL;
}

static int cmp_seen(const void *a, const void *b) {
  return strcmp(((const struct seen *)a)->id, ((const struct seen *)b)->id);
}

static void seen_clear(struct seen *s) {
  free(s->id);
  free(s->hostname);
  free(s->state);
  free(s->canon);
}

static void remove_seen(struct metal_poller *p, const char *id) {
  for (size_t i = 0; i < p->n; i++) {
    if (strcmp(p->seen[i].id, id) == 0) {
      seen_clear(&p->seen[i]);
      memmove(&p->seen[i], &p->seen[i + 1], (p->n - i - 1) * sizeof(*p->seen));
      p->n--;
      p->set_dirty = true;
      return;
    }
  }
}

static void emit(struct metal_poller *p, const char *type, const char *kind, const char *name,
                 const char *uid, json_t *payload) {
  struct jevent ev = {
      .source = JEV_SOURCE_METAL,
      .type = type,
      .group_kind = kind,
      .ns = p->ns,
      .name = name ? name : "",
      .uid = uid ? uid : "",
      .resource_version = "",
      .correlation_id = "",
      .payload = payload,
  };
  jevent_emit(&p->sink, &ev);
  json_decref(payload);
}

/* Emit the device's summary when it differs from the last one emitted. */
static void observe(struct metal_poller *p, const struct metal_device *d) {
  json_t *sum = metal_device_summary(d);
  char *canon = jsonx_canonical(sum);
  struct seen *s = find(p, d->id);
  if (!s) {
    if (p->n == p->cap) {
      p->cap = p->cap ? 2 * p->cap : 16;
      p->seen = xrealloc(p->seen, p->cap * sizeof(*p->seen));
    }
    s = &p->seen[p->n++];
    memset(s, 0, sizeof(*s));
    s->id = xstrdup(d->id);
    p->set_dirty = true;
  }
  s->present = true;
  if (s->canon && strcmp(s->canon, canon) == 0) {
    free(canon);
    json_decref(sum);
    return;
  }
  free(s->canon);
  s->canon = canon;
  free(s->hostname);
  s->hostname = xstrdup(d->hostname);
  free(s->state);
  s->state = xstrdup(d->state);
  emit(p, "metal.device", DEVICE_KIND, d->hostname, d->id, sum);
}

static void gone(struct metal_poller *p, const char *id, const char *reason) {
  struct seen *s = find(p, id);
  if (!s)
    return;
  json_t *pl = json_object();
  json_object_set_new(pl, "id", json_string(s->id));
  json_object_set_new(pl, "hostname", json_string(s->hostname ? s->hostname : ""));
  json_object_set_new(pl, "state", json_string("gone"));
  json_object_set_new(pl, "reason", json_string(reason));
  json_object_set_new(pl, "last_state", json_string(s->state ? s->state : ""));
  char *name = xstrdup(s->hostname ? s->hostname : "");
  char *uid = xstrdup(s->id);
  remove_seen(p, uid);
  emit(p, "metal.device", DEVICE_KIND, name, uid, pl);
  free(name);
  free(uid);
}

static void emit_set(struct metal_poller *p) {
  if (p->n > 1) /* seen is NULL while the shoot has no device */
    qsort(p->seen, p->n, sizeof(*p->seen), cmp_seen);
  json_t *arr = json_array();
  for (size_t i = 0; i < p->n; i++) {
    json_t *e = json_object();
    json_object_set_new(e, "id", json_string(p->seen[i].id));
    json_object_set_new(e, "state", json_string(p->seen[i].state ? p->seen[i].state : ""));
    json_array_append_new(arr, e);
  }
  json_t *pl = json_object();
  json_object_set_new(pl, "devices", arr);
  json_object_set_new(pl, "complete", json_true());
  emit(p, "metal.device-set", "", "", "", pl);
  p->set_dirty = false;
  p->set_ever = true;
  p->last_set_ms = clock_mono_ms();
}

static void schedule(struct metal_poller *p, long ms) {
  ev_timer_stop(metal_client_loop(p->c), &p->timer);
  ev_timer_set(&p->timer, ms > 0 ? ms / 1000.0 : 0., 0.);
  ev_timer_start(metal_client_loop(p->c), &p->timer);
}

static void poll_end(struct metal_poller *p) {
  p->polling = false;
  p->polls++;
  if (p->last_err == ENG_OK &&
      (p->set_dirty || !p->set_ever || clock_mono_ms() - p->last_set_ms >= p->set_every_ms))
    emit_set(p);
  long next = p->slow_ms;
  if (p->last_err != ENG_OK) {
    next = p->retry_after_ms > p->error_ms ? p->retry_after_ms : p->error_ms;
  } else {
    bool busy = p->confirm_failed;
    for (size_t i = 0; i < p->n && !busy; i++)
      busy = metal_state_transitional(p->seen[i].state);
    if (busy)
      next = p->fast_ms;
  }
  if (p->kicked) {
    p->kicked = false;
    next = 0;
  }
  schedule(p, next);
}

static void on_confirm(void *ud, const struct metal_result *r) {
  struct confirm *cf = ud;
  struct metal_poller *p = cf->p;
  struct seen *s = find(p, cf->id);
  if (s)
    s->confirm = NULL;
  p->confirming--;
  if (r->code == ENG_NOTFOUND) {
    gone(p, cf->id, "not-found");
  } else if (r->code == ENG_OK) {
    const struct metal_device *d = r->device;
    bool tagged = false;
    for (size_t i = 0; i < d->ntags && !tagged; i++)
      tagged = strcmp(d->tags[i], p->tag) == 0;
    if (strcmp(d->state, "deleted") == 0)
      gone(p, cf->id, "deleted");
    else if (!tagged)
      gone(p, cf->id, "untagged");
    else
      observe(p, d); /* the listing skipped it while others moved between pages */
  } else {
    p->confirm_failed = true;
    log_warn("could not confirm that a device is gone; trying again at the next poll", "namespace",
             p->ns, "device", cf->id, "error", r->err->msg, NULL);
  }
  free(cf->id);
  free(cf);
  if (p->confirming == 0 && !p->list_op)
    poll_end(p);
}

static void poll_error(struct metal_poller *p, const struct metal_result *r) {
  p->retry_after_ms = r->err->retry_after_ms;
  if (r->code == p->last_err)
    return;
  p->last_err = r->code;
  json_t *pl = json_object();
  json_object_set_new(pl, "code", json_string(eng_err_name(r->code)));
  const char *gc = metal_gardener_code(r->err);
  json_object_set_new(pl, "gardener_code", gc ? json_string(gc) : json_null());
  json_object_set_new(pl, "message", json_string(r->err->msg));
  json_object_set_new(pl, "http_status", json_integer(r->err->http_status));
  json_object_set_new(pl, "retryable", json_boolean(metal_retryable(r->err)));
  log_warn("listing the devices of a shoot failed", "namespace", p->ns, "error", r->err->msg, NULL);
  emit(p, "metal.poll-error", "", "", "", pl);
}

static void on_list(void *ud, const struct metal_result *r) {
  struct metal_poller *p = ud;
  p->list_op = NULL;
  if (r->code != ENG_OK) {
    poll_error(p, r);
    poll_end(p);
    return;
  }
  if (p->last_err != ENG_OK) {
    p->last_err = ENG_OK;
    p->set_dirty = true; /* tell the reducers the picture is complete again */
  }
  p->retry_after_ms = -1;
  p->confirm_failed = false;
  for (size_t i = 0; i < p->n; i++)
    p->seen[i].present = false;
  for (size_t i = 0; i < r->devices->n; i++)
    observe(p, &r->devices->items[i]);
  /* Devices missing from this complete listing: confirm each before calling it gone. Collect
   * the ids first: starting an operation must not race with changes to p->seen. */
  size_t nmiss = 0;
  char **miss = xcalloc(p->n ? p->n : 1, sizeof(*miss));
  for (size_t i = 0; i < p->n; i++)
    if (!p->seen[i].present && !p->seen[i].confirm)
      miss[nmiss++] = xstrdup(p->seen[i].id);
  for (size_t i = 0; i < nmiss; i++) {
    struct confirm *cf = xcalloc(1, sizeof(*cf));
    cf->p = p;
    cf->id = miss[i];
    find(p, miss[i])->confirm = cf;
    p->confirming++;
    cf->op = metal_device_get(p->c, miss[i], on_confirm, cf);
  }
  free(miss);
  if (p->confirming == 0)
    poll_end(p);
}

static void poll_start(struct metal_poller *p) {
  p->polling = true;
  p->list_op = metal_device_list(p->c, p->tag, on_list, p);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct metal_poller *p = w->data;
  if (!p->polling)
    poll_start(p);
}

struct metal_poller *metal_poller_new(struct metal_client *c, const struct metal_poller_opts *o,
                                      const struct jevent_sink *sink, struct eng_error *err) {
  if (!o || !o->ns || !*o->ns) {
    eng_error_set(err, ENG_INVALID, "the device poller needs the namespace of the shoot");
    return NULL;
  }
  struct metal_poller *p = xcalloc(1, sizeof(*p));
  p->c = c;
  if (sink)
    p->sink = *sink;
  p->ns = xstrdup(o->ns);
  p->tag = metal_cluster_tag(o->ns);
  p->fast_ms = o->fast_ms > 0 ? o->fast_ms : 10000;
  p->slow_ms = o->slow_ms > 0 ? o->slow_ms : 60000;
  p->error_ms = o->error_ms > 0 ? o->error_ms : p->slow_ms;
  p->set_every_ms = o->set_every_ms > 0 ? o->set_every_ms : 600000;
  p->last_err = ENG_OK;
  p->retry_after_ms = -1;
  ev_timer_init(&p->timer, timer_cb, 0., 0.);
  p->timer.data = p;
  schedule(p, 0);
  return p;
}

void metal_poller_kick(struct metal_poller *p) {
  if (p->polling)
    p->kicked = true;
  else
    schedule(p, 0);
}

void metal_poller_free(struct metal_poller *p) {
  if (!p)
    return;
  ev_timer_stop(metal_client_loop(p->c), &p->timer);
  if (p->list_op)
    metal_op_cancel(p->list_op);
  for (size_t i = 0; i < p->n; i++) {
    struct confirm *cf = p->seen[i].confirm;
    if (cf) {
      metal_op_cancel(cf->op);
      free(cf->id);
      free(cf);
    }
    seen_clear(&p->seen[i]);
  }
  free(p->seen);
  free(p->ns);
  free(p->tag);
  free(p);
}

uint64_t metal_poller_polls(const struct metal_poller *p) { return p->polls; }
