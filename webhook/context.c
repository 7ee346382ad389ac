/*
 * context.c - cached, single-flight lookups of the objects mutations need.
 */
#include "engine/base/common.h"
#include "context.h"

#include "engine/base/clock.h"
#include "engine/kube/client.h"
#include "kobj.h"
#include "engine/base/xalloc.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct kube_resource res_cloudprofile = {"core.gardener.cloud", "v1beta1",
                                                      "cloudprofiles", "CloudProfile", false};
static const struct kube_resource res_ns_cloudprofile = {
    "core.gardener.cloud", "v1beta1", "namespacedcloudprofiles", "NamespacedCloudProfile", true};

enum slot { S_CLUSTER, S_INFRA, S_SECRET, S_CP, S_COUNT };

struct entry;

struct wait {
  struct wh_fetch *f;
  struct entry *e; /* NULL when not waiting */
  struct wait *next;
};

struct entry {
  struct wh_ctx_cache *cache;
  char *key;
  enum slot kind;
  bool ready;
  int64_t expires;
  enum eng_err rc;
  char *msg;
  json_t *value;
  struct kube_call *call;
  struct kube_client *client;
  struct wait *waiters;
  bool delivering; /* on_get is handing the result out: never prune it meanwhile */
  struct entry *next;
};

struct wh_ctx_cache {
  struct kube_client *seed, *garden;
  long ttl_ms;
  struct entry *entries;
};

struct wh_fetch {
  struct wh_ctx_cache *c;
  unsigned needs;
  char *ns, *cp_kind, *cp_name;
  json_t *got[S_COUNT];
  struct wait waits[S_COUNT];
  int pending;
  bool failed;
  char *message;
  bool starting, finished;
  ev_timer later;
  struct ev_loop *loop;
  wh_fetch_done_fn done;
  void *ud;
};

/* ---- cache --------------------------------------------------------------------------------- */

struct wh_ctx_cache *wh_ctx_cache_new(struct kube_client *seed, struct kube_client *garden,
                                      long ttl_ms) {
  struct wh_ctx_cache *c = xcalloc(1, sizeof(*c));
  c->seed = seed;
  c->garden = garden ? garden : seed;
  c->ttl_ms = ttl_ms >= 0 ? ttl_ms : 5000; /* 0: no caching, only shared in-flight reads */
  return c;
}

static void entry_free(struct entry *e) {
  if (e->call)
    kube_cancel(e->client, e->call);
  json_decref(e->value);
  free(e->msg);
  free(e->key);
  free(e);
}

static void entry_unlink(struct entry *e) {
  struct entry **pp = &e->cache->entries;
  while (*pp && *pp != e)
    pp = &(*pp)->next;
  if (*pp)
    *pp = e->next;
}

void wh_ctx_cache_free(struct wh_ctx_cache *c) {
  if (!c)
    return;
  while (c->entries) {
    struct entry *e = c->entries;
    c->entries = e->next;
    entry_free(e);
  }
  free(c);
}

static void prune(struct wh_ctx_cache *c, int64_t now) {
  struct entry **pp = &c->entries;
  while (*pp) {
    struct entry *e = *pp;
    if (e->ready && !e->waiters && !e->delivering && e->expires <= now) {
      *pp = e->next;
      entry_free(e);
    } else {
      pp = &e->next;
    }
  }
}

/* ---- fetch --------------------------------------------------------------------------------- */

static void fetch_free(struct wh_fetch *f) {
  if (f->loop)
    ev_timer_stop(f->loop, &f->later);
  for (int i = 0; i < S_COUNT; i++)
    json_decref(f->got[i]);
  free(f->ns);
  free(f->cp_kind);
  free(f->cp_name);
  free(f->message);
  free(f);
}

static void call_done(struct wh_fetch *f) {
  struct wh_fetched r = {0};
  r.cluster = f->got[S_CLUSTER];
  r.infrastructure = f->got[S_INFRA];
  r.cloudprofile_spec = f->got[S_CP];
  r.cloudprovider_checksum = json_string_value(f->got[S_SECRET]);
  r.failed = f->failed;
  r.message = f->message ? f->message : "";
  f->done(f->ud, &r);
  fetch_free(f);
}

static void on_later(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  call_done(w->data);
}

/* One wait ended; when none is left, report (from the loop, never inside wh_fetch_start). */
static void maybe_finish(struct wh_fetch *f) {
  if (f->pending > 0 || f->finished)
    return;
  f->finished = true;
  if (f->starting) {
    ev_timer_init(&f->later, on_later, 0., 0.);
    f->later.data = f;
    ev_timer_start(f->loop, &f->later);
    return;
  }
  call_done(f);
}

static void fail(struct wh_fetch *f, const char *fmt, const char *a, const char *b) {
  if (f->failed)
    return;
  f->failed = true;
  char buf[1024];
  snprintf(buf, sizeof(buf), fmt, a, b);
  f->message = xstrdup(buf);
}

static void wait_for(struct wh_fetch *f, enum slot s, const char *ns, const char *name);

/* An entry this fetch waited for is ready (or failed). */
static void deliver(struct wh_fetch *f, enum slot s, struct entry *e) {
  f->pending--;
  const char *why = e->msg && *e->msg ? e->msg : eng_strerror(e->rc);
  if (f->failed) {
    /* already failed: just count down */
  } else if (e->rc != ENG_OK) {
    switch (s) {
    case S_CLUSTER:
      fail(f, "could not get Cluster \"%s\": %s", f->ns, why);
      break;
    case S_INFRA: {
      const char *shoot = json_string_value(json_object_get(
          json_object_get(json_object_get(json_object_get(f->got[S_CLUSTER], "spec"), "shoot"),
                          "metadata"),
          "name"));
      fail(f, "failed to get %s infrastructure: %s", shoot ? shoot : "", why);
      break;
    }
    case S_SECRET: {
      char what[512];
      snprintf(what, sizeof(what), "%s/cloudprovider", f->ns);
      fail(f, "could not get secret '%s': %s", what, why);
      break;
    }
    default:
      fail(f, "could not get the CloudProfile \"%s\": %s", f->cp_name ? f->cp_name : "", why);
      break;
    }
  } else {
    f->got[s] = json_incref(e->value);
    if (s == S_CLUSTER && (f->needs & WH_NEED_INFRA)) {
      const char *shoot = json_string_value(json_object_get(
          json_object_get(json_object_get(json_object_get(e->value, "spec"), "shoot"), "metadata"),
          "name"));
      if (!shoot || !*shoot)
        fail(f, "the Cluster \"%s\" names no shoot%s", f->ns, "");
      else
        wait_for(f, S_INFRA, f->ns, shoot);
    }
  }
  maybe_finish(f);
}

/* Turn an API answer into what the cache keeps. */
static json_t *keep_value(enum slot kind, const json_t *body, bool namespaced_cp) {
  switch (kind) {
  case S_SECRET: {
    char sum[65];
    if (kobj_secret_checksum(body, sum, NULL) != ENG_OK)
      return NULL;
    return json_string(sum);
  }
  case S_CP: {
    json_t *spec = namespaced_cp
                       ? json_object_get(json_object_get(body, "status"), "cloudProfileSpec")
                       : json_object_get(body, "spec");
    return json_is_object(spec) ? json_deep_copy(spec) : NULL;
  }
  default:
    return json_deep_copy(body);
  }
}

static void on_get(void *ud, const struct kube_result *res) {
  struct entry *e = ud;
  e->call = NULL;
  e->rc = res->err;
  free(e->msg);
  e->msg = xstrdup(res->message && *res->message ? res->message : res->error.msg);
  if (res->err == ENG_OK) {
    e->value = keep_value(e->kind, res->body, !strncmp(e->key, "ncp|", 4));
    if (!e->value) {
      e->rc = ENG_INVALID;
      free(e->msg);
      e->msg = xstrdup(e->kind == S_SECRET ? "its data is not a map of base64 values"
                                           : "it has no cloud profile spec");
    }
  }
  bool cache_it = e->rc == ENG_OK || e->rc == ENG_NOTFOUND;
  e->ready = true;
  e->expires = clock_mono_ms() + e->cache->ttl_ms;
  if (!cache_it)
    entry_unlink(e); /* a later lookup asks again */
  e->delivering = true;
  while (e->waiters) {
    struct wait *w = e->waiters;
    e->waiters = w->next;
    w->e = NULL;
    w->next = NULL;
    deliver(w->f, (enum slot)(w - w->f->waits), e);
  }
  e->delivering = false;
  if (!cache_it)
    entry_free(e);
}

static struct entry *lookup(struct wh_ctx_cache *c, enum slot kind, const char *key) {
  int64_t now = clock_mono_ms();
  prune(c, now);
  for (struct entry *e = c->entries; e; e = e->next)
    if (e->kind == kind && !strcmp(e->key, key))
      return e;
  return NULL;
}

static void wait_for(struct wh_fetch *f, enum slot s, const char *ns, const char *name) {
  struct wh_ctx_cache *c = f->c;
  const struct kube_resource *r;
  struct kube_client *client = c->seed;
  bool ncp = false;
  switch (s) {
  case S_CLUSTER:
    r = &kube_res_gardener_cluster;
    break;
  case S_INFRA:
    r = &kube_res_gardener_infrastructure;
    break;
  case S_SECRET:
    r = &kube_res_secret;
    break;
  default:
    ncp = f->cp_kind && !strcmp(f->cp_kind, "NamespacedCloudProfile");
    r = ncp ? &res_ns_cloudprofile : &res_cloudprofile;
    client = c->garden;
    break;
  }
  char *key = xasprintf("%s|%s|%s", ncp ? "ncp" : r->plural, r->namespaced ? ns : "", name);
  struct entry *e = lookup(c, s, key);
  f->pending++;
  if (e && e->ready) {
    free(key);
    deliver(f, s, e);
    return;
  }
  if (!e) {
    e = xcalloc(1, sizeof(*e));
    e->cache = c;
    e->key = key;
    e->kind = s;
    e->client = client;
    e->next = c->entries;
    c->entries = e;
    e->call = kube_get(client, r, r->namespaced ? ns : NULL, name, on_get, e);
  } else {
    free(key);
  }
  struct wait *w = &f->waits[s];
  w->f = f;
  w->e = e;
  w->next = e->waiters;
  e->waiters = w;
}

struct wh_fetch *wh_fetch_start(struct wh_ctx_cache *c, unsigned needs, const char *ns,
                                const char *cp_kind, const char *cp_name, wh_fetch_done_fn done,
                                void *ud) {
  struct wh_fetch *f = xcalloc(1, sizeof(*f));
  f->c = c;
  f->needs = needs;
  f->ns = xstrdup(ns ? ns : "");
  f->cp_kind = cp_kind ? xstrdup(cp_kind) : NULL;
  f->cp_name = cp_name ? xstrdup(cp_name) : NULL;
  f->done = done;
  f->ud = ud;
  f->loop = kube_client_loop(c->seed ? c->seed : c->garden);
  f->starting = true;
  f->pending = 1; /* held until every wait is registered */
  if (needs & (WH_NEED_CLUSTER | WH_NEED_INFRA))
    wait_for(f, S_CLUSTER, ns, ns);
  if (needs & WH_NEED_CLOUDPROVIDER)
    wait_for(f, S_SECRET, ns, "cloudprovider");
  if (needs & WH_NEED_CLOUDPROFILE)
    wait_for(f, S_CP, ns, cp_name ? cp_name : "");
  f->pending--;
  maybe_finish(f);
  f->starting = false;
  return f;
}

void wh_fetch_cancel(struct wh_fetch *f) {
  if (!f)
    return;
  for (int i = 0; i < S_COUNT; i++) {
    struct wait *w = &f->waits[i];
    if (!w->e)
      continue;
    struct wait **pp = &w->e->waiters;
    while (*pp && *pp != w)
      pp = &(*pp)->next;
    if (*pp)
      *pp = w->next;
    w->e = NULL;
  }
  fetch_free(f);
}
