/*
 * informer.c - list+watch into a cache, client-go Reflector rules (see informer.h).
 *
 * State machine: one call (a list or a watch) or one timer is active at a time.
 *   LIST page           -> update cache, emit added/modified
 *   LIST done ok        -> emit deleted (cached, not listed), WATCH now
 *   LIST 410            -> relist with RV "" now (the RV we asked for is gone)
 *   LIST other failure  -> back off, LIST again
 *   WATCH EOF           -> WATCH again now from the last RV (unless it was a very short,
 *                          empty watch: then back off first)
 *   WATCH 410 (HTTP or ERROR event) -> LIST with RV = last RV now
 *   WATCH 429/5xx/transport before the stream started -> back off, WATCH again
 *   WATCH other failure -> back off, LIST with RV = last RV
 */
#include "engine/base/common.h"
#include "engine/kube/informer.h"
#include "engine/base/clock.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "engine/obs/metrics_std.h"
#include "engine/base/xalloc.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHORT_WATCH_MS 1000

enum next_step { NEXT_LIST, NEXT_WATCH };

struct kube_informer {
  struct kube_client *c;
  const struct kube_resource *res;
  char *ns, *label, *field;
  long page_size, watch_timeout_s;
  size_t max_event;
  bool metadata_only;
  struct kube_informer_handlers h;
  void *ud;
  struct jevent_sink sink;
  bool journal_bookmarks;
  kube_backoff_rand_fn rand_fn;
  void *rand_ud;
  struct kube_backoff backoff;
  char group_kind[192];
  char res_name[192];

  json_t *cache;  /* "ns/name" -> object */
  json_t *listed; /* keys of the list in progress (as a set) */
  size_t list_added, list_modified;
  char *last_rv; /* last RV seen */
  char *list_rv; /* RV for the next list: "0" first, the last RV after a watch 410, "" after a list
                    410 */
  bool synced, running, initial_done;
  struct kube_call *call;
  ev_timer timer;
  enum next_step next;
  int64_t watch_started_ms;
  uint64_t watch_events;
  struct kube_informer_stats stats;
};

static void start_list(struct kube_informer *inf);
static void start_watch(struct kube_informer *inf);

static char *dup_opt(const char *s) { return s && *s ? xstrdup(s) : NULL; }

static void set_str(char **dst, const char *v) {
  free(*dst);
  *dst = xstrdup(v ? v : "");
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct kube_informer *inf = w->data;
  if (!inf->running)
    return;
  if (inf->next == NEXT_LIST)
    start_list(inf);
  else
    start_watch(inf);
}

static void schedule(struct kube_informer *inf, enum next_step next, long delay_ms) {
  inf->next = next;
  struct ev_loop *loop = kube_client_loop(inf->c);
  ev_timer_stop(loop, &inf->timer);
  ev_timer_set(&inf->timer, delay_ms / 1000.0, 0.);
  ev_timer_start(loop, &inf->timer);
}

/* Back off before next; a server's Retry-After is a lower bound. */
static void schedule_backoff(struct kube_informer *inf, enum next_step next, long retry_after_ms,
                             const char *why) {
  long d = kube_backoff_next(&inf->backoff, clock_mono_ms());
  if (retry_after_ms > d)
    d = retry_after_ms;
  char ms[32];
  snprintf(ms, sizeof(ms), "%ld", d);
  log_warn("watching failed, retrying after a delay", "resource", inf->res_name, "namespace",
           inf->ns ? inf->ns : "", "delay_ms", ms, "error", why, NULL);
  schedule(inf, next, d);
}

struct kube_informer *kube_informer_new(struct kube_client *c, const struct kube_informer_opts *o) {
  struct kube_informer *inf = xcalloc(1, sizeof(*inf));
  inf->c = c;
  inf->res = o->res;
  inf->ns = o->res->namespaced ? dup_opt(o->ns) : NULL;
  inf->label = dup_opt(o->label_selector);
  inf->field = dup_opt(o->field_selector);
  inf->page_size = o->page_size > 0 ? o->page_size : 100;
  inf->watch_timeout_s = o->watch_timeout_s;
  inf->max_event = o->max_event_bytes;
  inf->metadata_only = o->cache_metadata_only;
  inf->h = o->handlers;
  inf->ud = o->ud;
  inf->sink = o->sink;
  inf->journal_bookmarks = o->journal_bookmarks;
  inf->rand_fn = o->rand_fn ? o->rand_fn : kube_backoff_rand_default;
  inf->rand_ud = o->rand_ud;
  kube_backoff_init_default(&inf->backoff, inf->rand_fn, inf->rand_ud);
  if (o->backoff_initial_ms > 0 || o->backoff_max_ms > 0)
    kube_backoff_init(&inf->backoff, o->backoff_initial_ms > 0 ? o->backoff_initial_ms : 800,
                      o->backoff_max_ms > 0 ? o->backoff_max_ms : 30000, 2.0, 1.0, 120000,
                      inf->rand_fn, inf->rand_ud);
  kube_resource_group_kind(inf->res, inf->group_kind);
  kube_resource_name(inf->res, inf->res_name);
  inf->cache = json_object();
  inf->last_rv = xstrdup("");
  inf->list_rv = xstrdup("0");
  ev_timer_init(&inf->timer, timer_cb, 0., 0.);
  inf->timer.data = inf;
  return inf;
}

void kube_informer_start(struct kube_informer *inf) {
  if (inf->running)
    return;
  inf->running = true;
  schedule(inf, NEXT_LIST, 0);
}

void kube_informer_stop(struct kube_informer *inf) {
  if (!inf)
    return;
  inf->running = false;
  ev_timer_stop(kube_client_loop(inf->c), &inf->timer);
  if (inf->call) {
    struct kube_call *call = inf->call;
    inf->call = NULL;
    kube_cancel(inf->c, call);
  }
  json_decref(inf->listed); /* a list cut short: the next one starts over */
  inf->listed = NULL;
}

void kube_informer_free(struct kube_informer *inf) {
  if (!inf)
    return;
  kube_informer_stop(inf);
  json_decref(inf->cache);
  free(inf->ns);
  free(inf->label);
  free(inf->field);
  free(inf->last_rv);
  free(inf->list_rv);
  free(inf);
}

bool kube_informer_has_synced(const struct kube_informer *inf) { return inf->synced; }
size_t kube_informer_len(const struct kube_informer *inf) { return json_object_size(inf->cache); }
const char *kube_informer_last_rv(const struct kube_informer *inf) { return inf->last_rv; }
const struct kube_resource *kube_informer_resource(const struct kube_informer *inf) {
  return inf->res;
}
void kube_informer_get_stats(const struct kube_informer *inf, struct kube_informer_stats *out) {
  *out = inf->stats;
}

/* Cache key "ns/name" ("/name" for cluster-scoped objects). */
static void key_of(const struct kube_informer *inf, const char *ns, const char *name, char *out,
                   size_t n) {
  snprintf(out, n, "%s/%s", inf->res->namespaced && ns ? ns : "", name ? name : "");
}

static bool obj_key(const struct kube_informer *inf, const json_t *obj, char *out, size_t n) {
  const char *name = jsonx_str(obj, "metadata.name");
  if (!name || !*name)
    return false;
  key_of(inf, jsonx_str(obj, "metadata.namespace"), name, out, n);
  return true;
}

const json_t *kube_informer_get(const struct kube_informer *inf, const char *ns, const char *name) {
  char key[600];
  key_of(inf, ns, name, key, sizeof(key));
  return json_object_get(inf->cache, key);
}

void kube_informer_foreach(const struct kube_informer *inf, kube_informer_each_fn fn, void *ud) {
  const char *k;
  json_t *v;
  json_object_foreach(inf->cache, k, v) {
    if (!fn(ud, v))
      return;
  }
}

static const char *str_or_empty(const char *s) { return s ? s : ""; }

static void journal_obj(struct kube_informer *inf, const char *type, json_t *obj) {
  if (!inf->sink.fn)
    return;
  struct jevent ev = {
      .source = JEV_SOURCE_KUBE,
      .type = type,
      .group_kind = inf->group_kind,
      .ns = str_or_empty(jsonx_str(obj, "metadata.namespace")),
      .name = str_or_empty(jsonx_str(obj, "metadata.name")),
      .uid = str_or_empty(jsonx_str(obj, "metadata.uid")),
      .resource_version = str_or_empty(jsonx_str(obj, "metadata.resourceVersion")),
      .correlation_id = "",
      .payload = obj,
  };
  jevent_emit(&inf->sink, &ev);
}

/* ---- list --------------------------------------------------------------------------------- */

/* What the cache keeps of obj (a new reference): obj, or its identity alone. */
static json_t *cache_entry(const struct kube_informer *inf, json_t *obj) {
  static const char *const identity[] = {"apiVersion",    "kind",
                                         "metadata.name", "metadata.namespace",
                                         "metadata.uid",  "metadata.resourceVersion"};
  return inf->metadata_only ? jsonx_project(obj, identity, ARRAY_SIZE(identity)) : json_incref(obj);
}

/* A changed or new object of a list, into the cache and out to the journal and handlers. */
static void list_item(struct kube_informer *inf, json_t *it) {
  char key[600];
  if (!json_is_object(it) || !obj_key(inf, it, key, sizeof(key)))
    return;
  json_object_set_new(inf->listed, key, json_true());
  json_t *old = json_object_get(inf->cache, key);
  if (old) {
    const char *orv = jsonx_str(old, "metadata.resourceVersion");
    const char *nrv = jsonx_str(it, "metadata.resourceVersion");
    if (orv && nrv && strcmp(orv, nrv) == 0)
      return;
    json_incref(old);
  }
  json_object_set_new(inf->cache, key, cache_entry(inf, it));
  /* Journal and handlers see the cache already holding the object. */
  if (!old) {
    inf->list_added++;
    journal_obj(inf, "kube.added", it);
    if (inf->h.on_add)
      inf->h.on_add(inf->ud, it);
  } else {
    inf->list_modified++;
    journal_obj(inf, "kube.modified", it);
    if (inf->h.on_update)
      inf->h.on_update(inf->ud, old, it);
    json_decref(old);
  }
}

/*
 * A page of a list, as it arrives (so a large list is never in memory at once): its objects
 * are compared with the cache by resourceVersion, and the new and changed ones reported. The
 * first page of a list (or of one started again) begins a new set of listed keys.
 */
static void list_page_cb(void *ud, const json_t *items, bool first) {
  struct kube_informer *inf = ud;
  if (first || !inf->listed) {
    json_decref(inf->listed);
    inf->listed = json_object();
    inf->list_added = inf->list_modified = 0;
  }
  size_t i;
  json_t *it;
  json_array_foreach(items, i, it) {
    list_item(inf, it);
    if (!inf->call)
      return; /* a handler stopped the informer */
  }
}

/* The list is complete: what the cache holds and the list did not is gone. */
static void list_finish(struct kube_informer *inf, const json_t *list) {
  const char *rv = str_or_empty(jsonx_str(list, "metadata.resourceVersion"));
  if (!inf->listed)
    inf->listed = json_object(); /* an empty list has no page with items */
  size_t ngone = 0;
  json_t **gone = xcalloc(json_object_size(inf->cache) + 1, sizeof(*gone));
  const char *k;
  json_t *v;
  void *tmp;
  json_object_foreach_safe(inf->cache, tmp, k, v) {
    if (!json_object_get(inf->listed, k)) {
      gone[ngone++] = json_incref(v);
      json_object_del(inf->cache, k);
    }
  }
  json_decref(inf->listed);
  inf->listed = NULL;
  size_t added = inf->list_added, modified = inf->list_modified;
  set_str(&inf->last_rv, rv);
  bool initial = !inf->initial_done;
  inf->initial_done = true;
  inf->synced = true;
  inf->stats.lists++;
  metrics_counter_inc(metrics_std.watch_relists_total, (const char *const[]){inf->res_name}, 1);
  for (size_t j = 0; j < ngone; j++) {
    journal_obj(inf, "kube.deleted", gone[j]);
    if (inf->h.on_delete)
      inf->h.on_delete(inf->ud, gone[j]);
    json_decref(gone[j]);
  }
  free(gone);
  if (inf->sink.fn) {
    json_t *payload =
        json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:b}", "resource", inf->res_name, "namespace",
                  inf->ns ? inf->ns : "", "count", (json_int_t)json_object_size(inf->cache),
                  "added", (json_int_t)added, "modified", (json_int_t)modified, "deleted",
                  (json_int_t)ngone, "initial", initial);
    struct jevent ev = {.source = JEV_SOURCE_KUBE,
                        .type = "kube.relisted",
                        .group_kind = inf->group_kind,
                        .ns = inf->ns ? inf->ns : "",
                        .name = "",
                        .uid = "",
                        .resource_version = rv,
                        .correlation_id = "",
                        .payload = payload};
    jevent_emit(&inf->sink, &ev);
    json_decref(payload);
  }
  if (inf->h.on_synced && inf->running)
    inf->h.on_synced(inf->ud);
}

static void list_done(void *ud, const struct kube_result *res) {
  struct kube_informer *inf = ud;
  inf->call = NULL;
  if (res->err == ENG_OK) {
    list_finish(inf, res->body);
    if (inf->running)
      start_watch(inf);
    return;
  }
  inf->stats.list_errors++;
  json_decref(inf->listed);
  inf->listed = NULL;
  if (res->err == ENG_GONE && inf->list_rv[0]) {
    /* The RV we asked for is no longer available: a consistent list from etcd, now. */
    log_info("relisting without resourceVersion after 410 Gone", "resource", inf->res_name,
             "namespace", inf->ns ? inf->ns : "", NULL);
    set_str(&inf->list_rv, "");
    schedule(inf, NEXT_LIST, 0);
    return;
  }
  schedule_backoff(inf, NEXT_LIST, res->retry_after_ms, res->error.msg);
}

static void start_list(struct kube_informer *inf) {
  /* client-go: page the RV "0" and "" lists; an RV of our own is served unpaged from the
   * watch cache. */
  bool own_rv = inf->list_rv[0] && strcmp(inf->list_rv, "0") != 0;
  struct kube_list_opts o = {
      .label_selector = inf->label,
      .field_selector = inf->field,
      .resource_version = inf->list_rv[0] ? inf->list_rv : NULL,
      .limit = own_rv ? -1 : inf->page_size,
      .on_page = list_page_cb,
      .page_ud = inf,
  };
  inf->call = kube_list(inf->c, inf->res, inf->ns, &o, list_done, inf);
}

/* ---- watch -------------------------------------------------------------------------------- */

static int watch_event(void *ud, const struct kube_watch_event *ev) {
  struct kube_informer *inf = ud;
  json_t *obj = ev->object;
  if (ev->resource_version[0])
    set_str(&inf->last_rv, ev->resource_version);
  if (ev->type == KUBE_EVENT_BOOKMARK) {
    inf->stats.bookmarks++;
    if (inf->journal_bookmarks)
      journal_obj(inf, "kube.bookmark", obj);
    return 0;
  }
  char key[600];
  if (!obj_key(inf, obj, key, sizeof(key)))
    return 0; /* an object without a name cannot be cached; ignore it */
  inf->watch_events++;
  inf->stats.events++;
  json_t *old = json_object_get(inf->cache, key);
  if (old)
    json_incref(old);
  if (ev->type == KUBE_EVENT_DELETED) {
    json_object_del(inf->cache, key);
    journal_obj(inf, "kube.deleted", obj);
    if (inf->h.on_delete)
      inf->h.on_delete(inf->ud, obj);
  } else {
    json_object_set_new(inf->cache, key, cache_entry(inf, obj));
    journal_obj(inf, ev->type == KUBE_EVENT_ADDED ? "kube.added" : "kube.modified", obj);
    if (old && inf->h.on_update)
      inf->h.on_update(inf->ud, old, obj);
    else if (!old && inf->h.on_add)
      inf->h.on_add(inf->ud, obj);
  }
  json_decref(old);
  return inf->running ? 0 : 1;
}

static void watch_done(void *ud, const struct kube_result *res) {
  struct kube_informer *inf = ud;
  inf->call = NULL;
  if (!inf->running)
    return;
  int64_t lasted = clock_mono_ms() - inf->watch_started_ms;
  bool short_empty = lasted < SHORT_WATCH_MS && inf->watch_events == 0;
  if (res->err == ENG_GONE) {
    inf->stats.expired++;
    metrics_counter_inc(metrics_std.watch_restarts_total,
                        (const char *const[]){inf->res_name, "expired"}, 1);
    log_info("watch expired (410), relisting from the last resourceVersion", "resource",
             inf->res_name, "namespace", inf->ns ? inf->ns : "", "resourceVersion", inf->last_rv,
             NULL);
    set_str(&inf->list_rv, inf->last_rv);
    if (short_empty)
      schedule_backoff(inf, NEXT_LIST, res->retry_after_ms, res->error.msg);
    else
      schedule(inf, NEXT_LIST, 0);
    return;
  }
  /* A stream that started (200) and then closed or broke is a normal end (client-go). */
  bool eof = res->err == ENG_OK ||
             (res->status == 200 && (res->err == ENG_UNAVAILABLE || res->err == ENG_TIMEOUT));
  if (eof) {
    metrics_counter_inc(metrics_std.watch_restarts_total,
                        (const char *const[]){inf->res_name, "closed"}, 1);
    if (short_empty)
      schedule_backoff(inf, NEXT_WATCH, -1, "the watch ended at once without events");
    else
      schedule(inf, NEXT_WATCH, 0);
    return;
  }
  inf->stats.watch_errors++;
  metrics_counter_inc(metrics_std.watch_restarts_total,
                      (const char *const[]){inf->res_name, "error"}, 1);
  switch (res->err) {
  case ENG_RATELIMIT:
  case ENG_UNAVAILABLE:
  case ENG_TIMEOUT:
    /* The server is busy or unreachable; the RV is still good. */
    schedule_backoff(inf, NEXT_WATCH, res->retry_after_ms, res->error.msg);
    break;
  default:
    set_str(&inf->list_rv, inf->last_rv);
    schedule_backoff(inf, NEXT_LIST, res->retry_after_ms, res->error.msg);
    break;
  }
}

static void start_watch(struct kube_informer *inf) {
  long timeout = inf->watch_timeout_s;
  if (timeout <= 0) {
    double r = inf->rand_fn(inf->rand_ud);
    timeout = 300 + (long)(r * 300.0);
  }
  struct kube_watch_opts o = {
      .label_selector = inf->label,
      .field_selector = inf->field,
      .resource_version = inf->last_rv,
      .allow_bookmarks = true,
      .timeout_seconds = timeout,
      .max_event_bytes = inf->max_event,
  };
  inf->watch_started_ms = clock_mono_ms();
  inf->watch_events = 0;
  inf->stats.watches++;
  inf->call = kube_watch(inf->c, inf->res, inf->ns, &o, watch_event, watch_done, inf);
}
