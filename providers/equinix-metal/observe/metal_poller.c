/*
 * metal_poller.c - observes the devices of shoots and hands changes to a
 * jevent_sink (see metal_client.h for the events). Polls fast while a device is
 * in a transitional state and slowly when all are stable; journals changes, not
 * polls; confirms disappearances with a GET before reporting a device gone.
 *
 * The pollers of one client (one project and token) form a poll group that
 * lists the project once per round, at background priority, and splits the
 * listing by cluster tag: each shoot's poller sees exactly the devices tagged
 * kubernetes.io/cluster/<ns>, as its own tag-filtered listing would have shown,
 * so the events per shoot are the same whether it polls alone or in a group.
 * A group of one lists with the tag filter. A round is deferred (and counted)
 * while the client has mutations or reads queued or is paused after a 429.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "providers/equinix-metal/api/metal_int.h"
#include "engine/base/clock.h"
#include "engine/base/jsonscan.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "engine/base/sha256.h"
#include "engine/base/xalloc.h"

#include <ev.h>

/* The journal source of Metal observations (the engine has no name for it; the string is what
 * journals have always held, so old journals read the same). */
#define METAL_JEV_SOURCE "metal"
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
  uint8_t digest[SHA256_LEN]; /* of the canonical JSON of the last summary emitted */
  bool emitted;
  bool has_item_digest; /* item_digest: of the JSON text the device was last listed with */
  uint8_t item_digest[METAL_ITEM_DIGEST_LEN];
  bool present; /* in the listing of the current poll */
  struct confirm *confirm;
};

struct confirm {
  struct metal_poller *p;
  char *id;
  struct metal_op *op;
};

/* The pollers of one client. */
struct poll_group {
  struct metal_client *c;
  struct metal_poller *members;
  size_t nmembers;
  ev_timer timer;
  bool end_pending; /* the timer ends the round (a member left while only it was awaited) */
  struct metal_op *list_op;
  size_t confirming; /* confirmations in flight, over all members */
  bool polling, kicked;
  unsigned deferrals;           /* consecutive deferred rounds */
  unsigned last_requests;       /* requests of the last round (pages and confirmations) */
  struct metal_poller **by_tag; /* the members sorted by cluster tag, for splitting pages */
  size_t nby_tag;
  bool by_tag_stale; /* a member joined or left since by_tag was sorted */
};

static uint64_t deferred_total;

struct metal_poller {
  struct metal_client *c;
  struct poll_group *g;
  struct metal_poller *gnext;
  bool in_round; /* joined before the round's listing was sent */
  struct jevent_sink sink;
  char *ns, *tag;
  long fast_ms, slow_ms, error_ms, set_every_ms;
  struct seen *seen;
  size_t n, cap;
  size_t confirming;
  bool confirm_failed; /* a confirmation failed: poll fast to settle it */
  bool set_dirty;      /* the set of ids changed since the last marker */
  bool set_ever;
  int64_t last_set_ms;
  enum eng_err last_err;
  long retry_after_ms;
  uint64_t polls;
};

static void round_end(struct poll_group *g);

/* seen is kept sorted by id: the index of id, or where it would go. */
static size_t seen_lower_bound(const struct metal_poller *p, const char *id) {
  size_t lo = 0, hi = p->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(p->seen[mid].id, id) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static struct seen *find(struct metal_poller *p, const char *id) {
  size_t i = seen_lower_bound(p, id);
  return i < p->n && strcmp(p->seen[i].id, id) == 0 ? &p->seen[i] : NULL;
}

static void seen_clear(struct seen *s) {
  free(s->id);
  free(s->hostname);
  free(s->state);
}

static void remove_seen(struct metal_poller *p, const char *id) {
  struct seen *s = find(p, id);
  if (!s)
    return;
  size_t i = (size_t)(s - p->seen);
  seen_clear(s);
  memmove(&p->seen[i], &p->seen[i + 1], (p->n - i - 1) * sizeof(*p->seen));
  p->n--;
  p->set_dirty = true;
}

static void emit(struct metal_poller *p, const char *type, const char *kind, const char *name,
                 const char *uid, json_t *payload) {
  struct jevent ev = {
      .source = METAL_JEV_SOURCE,
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
  uint8_t digest[SHA256_LEN];
  sha256(canon, strlen(canon), digest);
  free(canon);
  struct seen *s = find(p, d->id);
  if (!s) {
    if (p->n == p->cap) {
      p->cap = p->cap ? 2 * p->cap : 16;
      p->seen = xrealloc(p->seen, p->cap * sizeof(*p->seen));
    }
    size_t at = seen_lower_bound(p, d->id);
    memmove(&p->seen[at + 1], &p->seen[at], (p->n - at) * sizeof(*p->seen));
    p->n++;
    s = &p->seen[at];
    memset(s, 0, sizeof(*s));
    s->id = xstrdup(d->id);
    p->set_dirty = true;
  }
  s->present = true;
  s->has_item_digest = d->has_item_digest;
  if (d->has_item_digest)
    memcpy(s->item_digest, d->item_digest, METAL_ITEM_DIGEST_LEN);
  if (s->emitted && memcmp(s->digest, digest, SHA256_LEN) == 0) {
    json_decref(sum);
    return;
  }
  memcpy(s->digest, digest, SHA256_LEN);
  s->emitted = true;
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

static void schedule(struct poll_group *g, long ms) {
  ev_timer_stop(metal_client_loop(g->c), &g->timer);
  ev_timer_set(&g->timer, ms > 0 ? ms / 1000.0 : 0., 0.);
  ev_timer_start(metal_client_loop(g->c), &g->timer);
}

/* A member's part of a finished round: markers, and the interval it asks for. */
static long member_end(struct metal_poller *p) {
  p->in_round = false;
  p->polls++;
  if (p->last_err == ENG_OK &&
      (p->set_dirty || !p->set_ever || clock_mono_ms() - p->last_set_ms >= p->set_every_ms))
    emit_set(p);
  if (p->last_err != ENG_OK)
    return p->retry_after_ms > p->error_ms ? p->retry_after_ms : p->error_ms;
  bool busy = p->confirm_failed;
  for (size_t i = 0; i < p->n && !busy; i++)
    busy = metal_state_transitional(p->seen[i].state);
  return busy ? p->fast_ms : p->slow_ms;
}

static void round_end(struct poll_group *g) {
  g->polling = false;
  long next = -1;
  for (struct metal_poller *p = g->members; p; p = p->gnext) {
    if (!p->in_round)
      continue;
    long want = member_end(p);
    if (next < 0 || want < next)
      next = want;
  }
  if (next < 0)
    next = g->members ? g->members->slow_ms : 60000;
  /* Adaptive: background polls use at most half of the project's request rate. */
  double rate = metal_client_rate(g->c);
  long floor_ms = rate > 0 ? (long)(2000.0 * g->last_requests / rate) : 0;
  if (next < floor_ms)
    next = floor_ms;
  if (g->kicked) {
    g->kicked = false;
    next = 0;
  }
  schedule(g, next);
}

static bool has_tag(const struct metal_device *d, const char *tag) {
  for (size_t i = 0; i < d->ntags; i++)
    if (strcmp(d->tags[i], tag) == 0)
      return true;
  return false;
}

static void on_confirm(void *ud, const struct metal_result *r) {
  struct confirm *cf = ud;
  struct metal_poller *p = cf->p;
  struct poll_group *g = p->g;
  struct seen *s = find(p, cf->id);
  if (s)
    s->confirm = NULL;
  p->confirming--;
  g->confirming--;
  g->last_requests += r->requests;
  if (r->code == ENG_NOTFOUND) {
    gone(p, cf->id, "not-found");
  } else if (r->code == ENG_OK) {
    const struct metal_device *d = r->device;
    if (strcmp(d->state, "deleted") == 0)
      gone(p, cf->id, "deleted");
    else if (!has_tag(d, p->tag))
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
  if (g->confirming == 0 && !g->list_op && g->polling)
    round_end(g);
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

static int cmp_member_tag(const void *a, const void *b) {
  return strcmp((*(struct metal_poller *const *)a)->tag, (*(struct metal_poller *const *)b)->tag);
}

/* A member's tag against the n bytes at s (no NUL among them), as strcmp would order them. */
static int cmp_tag_n(const char *tag, const char *s, size_t n) {
  int c = strncmp(tag, s, n);
  return c ? c : (tag[n] ? 1 : 0);
}

/* The first member (in by_tag) whose tag is not less than the n bytes at s. */
static size_t member_lower_bound(const struct poll_group *g, const char *s, size_t n) {
  size_t lo = 0, hi = g->nby_tag;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cmp_tag_n(g->by_tag[mid]->tag, s, n) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static void sort_members(struct poll_group *g) {
  g->by_tag = xrealloc(g->by_tag, (g->nmembers ? g->nmembers : 1) * sizeof(*g->by_tag));
  g->nby_tag = 0;
  for (struct metal_poller *p = g->members; p; p = p->gnext)
    g->by_tag[g->nby_tag++] = p;
  qsort(g->by_tag, g->nby_tag, sizeof(*g->by_tag), cmp_member_tag);
  g->by_tag_stale = false;
}

/* A device of a project listing goes to the members in the round whose tag it carries: a
 * lookup per tag, so a page costs the same with one member or a thousand. */
static void split_device(struct poll_group *g, const struct metal_device *d) {
  for (size_t t = 0; t < d->ntags; t++) {
    bool repeated = false;
    for (size_t u = 0; u < t && !repeated; u++)
      repeated = strcmp(d->tags[u], d->tags[t]) == 0;
    if (repeated)
      continue;
    size_t n = strlen(d->tags[t]);
    for (size_t i = member_lower_bound(g, d->tags[t], n);
         i < g->nby_tag && cmp_tag_n(g->by_tag[i]->tag, d->tags[t], n) == 0; i++)
      if (g->by_tag[i]->in_round)
        observe(g->by_tag[i], d);
  }
}

/* A member's part of a complete listing: the picture is complete again; confirm the devices it
 * did not show before calling them gone. */
static void member_complete(struct metal_poller *p) {
  if (p->last_err != ENG_OK) {
    p->last_err = ENG_OK;
    p->set_dirty = true; /* tell the reducers the picture is complete again */
  }
  p->retry_after_ms = -1;
  p->confirm_failed = false;
  /* Collect the ids first: starting an operation must not race with changes to p->seen. */
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
    p->g->confirming++;
    cf->op = metal_device_get(p->c, miss[i], on_confirm, cf);
    metal_op_set_priority(cf->op, METAL_PRIO_BACKGROUND);
  }
  free(miss);
}

/*
 * Before a page is parsed: the item (device id, its JSON text and digest) may be left out when
 * every member in the round whose tag it carries last saw the device listed with these very
 * bytes. Decoding them again would give the summary already emitted, so all that is left to
 * do is to mark the device present. An item carrying no member's tag is no member's concern.
 * Anything the scan cannot read (no "tags", a tag with an escape) is parsed as before.
 */
static bool unchanged_item(void *ud, const char *id, const char *item, size_t len,
                           const uint8_t digest[METAL_ITEM_DIGEST_LEN]) {
  struct poll_group *g = ud;
  if (g->by_tag_stale)
    sort_members(g);
  struct jspan tv;
  struct jspan *tags = NULL;
  size_t nt = 0;
  if (!jsonscan_member(item, len, "tags", &tv) || !jsonscan_elements(item, tv, &tags, &nt))
    return false;
  bool same = true;
  for (int mark = 0; mark < 2 && same; mark++) {
    for (size_t t = 0; t < nt && same; t++) {
      const char *s;
      size_t n;
      if (!jsonscan_plain_string(item, tags[t], &s, &n)) {
        same = false;
        break;
      }
      for (size_t i = member_lower_bound(g, s, n);
           i < g->nby_tag && cmp_tag_n(g->by_tag[i]->tag, s, n) == 0; i++) {
        struct metal_poller *p = g->by_tag[i];
        if (!p->in_round)
          continue;
        struct seen *sn = find(p, id);
        if (!sn || !sn->emitted || !sn->has_item_digest ||
            memcmp(sn->item_digest, digest, METAL_ITEM_DIGEST_LEN) != 0)
          same = false;
        else if (mark)
          sn->present = true;
      }
    }
  }
  free(tags);
  return same;
}

/* One page of the round's listing (the sink may not free pollers, so the list is stable). */
static void on_page(void *ud, const struct metal_device_list *page) {
  struct poll_group *g = ud;
  if (g->by_tag_stale)
    sort_members(g);
  for (size_t i = 0; i < page->n; i++)
    split_device(g, &page->items[i]);
}

static void on_list(void *ud, const struct metal_result *r) {
  struct poll_group *g = ud;
  g->list_op = NULL;
  g->last_requests = r->requests;
  for (struct metal_poller *p = g->members; p; p = p->gnext) {
    if (!p->in_round)
      continue;
    if (r->code != ENG_OK)
      poll_error(p, r);
    else
      member_complete(p);
  }
  if (g->confirming == 0)
    round_end(g);
}

static void round_start(struct poll_group *g) {
  /* Mutations and the reads reducers wait for go first: while they queue, or while the project
   * is paused after a 429, the round waits (each wait counted), longer each time. */
  if (metal_client_queued(g->c, METAL_PRIO_READ) > 0 || metal_client_paused(g->c)) {
    deferred_total++;
    g->deferrals++;
    long ms = 1000L << (g->deferrals < 6 ? g->deferrals - 1 : 5);
    long cap = g->members ? g->members->slow_ms : 60000;
    schedule(g, ms < cap ? ms : cap);
    return;
  }
  g->deferrals = 0;
  g->polling = true;
  for (struct metal_poller *p = g->members; p; p = p->gnext) {
    p->in_round = true;
    for (size_t i = 0; i < p->n; i++)
      p->seen[i].present = false;
  }
  /* One shoot: the tag-filtered listing; several: the whole project, split by tag. */
  const char *tag = g->nmembers == 1 ? g->members->tag : NULL;
  g->list_op = metal_device_list_paged(g->c, tag, on_page, on_list, g);
  metal_op_set_priority(g->list_op, METAL_PRIO_BACKGROUND);
  metal_op_set_list_skip(g->list_op, unchanged_item, g);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct poll_group *g = w->data;
  if (g->end_pending) {
    g->end_pending = false;
    if (g->polling && !g->list_op && g->confirming == 0)
      round_end(g);
    return;
  }
  if (!g->polling)
    round_start(g);
}

static struct poll_group *group_of(struct metal_client *c) {
  struct poll_group *g = c->poll_group;
  if (g)
    return g;
  g = xcalloc(1, sizeof(*g));
  g->c = c;
  ev_timer_init(&g->timer, timer_cb, 0., 0.);
  g->timer.data = g;
  c->poll_group = g;
  return g;
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
  struct poll_group *g = group_of(c);
  p->g = g;
  p->gnext = g->members;
  g->members = p;
  g->nmembers++;
  g->by_tag_stale = true;
  /* The first poll of a new member: at once, or right after the round in progress. */
  metal_poller_kick(p);
  return p;
}

void metal_poller_kick(struct metal_poller *p) {
  struct poll_group *g = p->g;
  if (g->polling)
    g->kicked = true;
  else if (!g->end_pending)
    schedule(g, 0);
}

void metal_poller_free(struct metal_poller *p) {
  if (!p)
    return;
  struct poll_group *g = p->g;
  for (struct metal_poller **pp = &g->members; *pp; pp = &(*pp)->gnext)
    if (*pp == p) {
      *pp = p->gnext;
      g->nmembers--;
      g->by_tag_stale = true;
      break;
    }
  for (size_t i = 0; i < p->n; i++) {
    struct confirm *cf = p->seen[i].confirm;
    if (cf) {
      metal_op_cancel(cf->op);
      g->confirming--;
      free(cf->id);
      free(cf);
    }
    seen_clear(&p->seen[i]);
  }
  free(p->seen);
  free(p->ns);
  free(p->tag);
  free(p);
  if (!g->members) {
    ev_timer_stop(metal_client_loop(g->c), &g->timer);
    if (g->list_op)
      metal_op_cancel(g->list_op);
    g->c->poll_group = NULL;
    free(g->by_tag);
    free(g);
  } else if (g->polling && !g->list_op && g->confirming == 0) {
    /* The round waited only for this member: end it from the loop, not inside this call. */
    g->end_pending = true;
    schedule(g, 0);
  }
}

uint64_t metal_poller_polls(const struct metal_poller *p) { return p->polls; }

uint64_t metal_polls_deferred(void) { return deferred_total; }
