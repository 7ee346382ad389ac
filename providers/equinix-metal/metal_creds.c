/*
 * metal_creds.c - Secrets to Metal clients, cached per credentials set.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/metal_creds.h"
#include "engine/base/b64.h"
#include "engine/base/clock.h"
#include "engine/base/jsonx.h"
#include "engine/kube/client.h"
#include "engine/kube/informer.h"
#include "engine/net/http.h"
#include "engine/base/log.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "engine/base/sha256.h"
#include "engine/base/xalloc.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLIENTS 64
/* Connections to the Metal API shared by every client: each holds its own parsed trust store. */
#define MAX_CONNECTIONS 16
/* How long a request waits for the Secret informer's first list before it reads the Secret
 * itself, and how often it looks. */
#define SYNC_WAIT_MS  10000
#define SYNC_CHECK_MS 100

struct slot {
  char digest[SHA256_HEX_LEN + 1]; /* of token and project: never the token itself */
  struct metal_client *mc;
  int pins;
};

struct metal_creds_req {
  struct metal_creds *c;
  char *ns, *name;
  metal_creds_fn fn;
  void *ud;
  struct kube_call *kc;
  bool parked; /* waiting for the Secret informer's first list */
  struct metal_creds_req *prev, *next;
};

struct metal_creds {
  struct ev_loop *loop;
  struct kube_client *kube;
  struct kube_informer *secrets;
  struct http_client *http; /* one libcurl multi and connection pool for every client */
  struct metal_creds_opts o;
  char *base_url, *ca_path;
  struct slot *slots;
  size_t nslots, cap;
  struct metal_creds_req *reqs; /* GETs in flight, and requests parked until the informer syncs */
  uint64_t retired_requests;
  ev_timer sync_wait;
  int64_t parked_since_ms;
  bool gave_up_waiting; /* the informer did not sync in SYNC_WAIT_MS: read Secrets directly */
};

void metal_creds_flags_init(struct metal_creds_flags *f) {
  f->url = METAL_DEFAULT_BASE_URL;
  f->ca = "";
  f->rps = 10;
  f->burst = 20;
}

void metal_creds_flags_apply(const struct metal_creds_flags *f, struct metal_creds_opts *o) {
  o->base_url = f->url;
  o->ca_path = f->ca && *f->ca ? f->ca : NULL;
  o->rate = (double)f->rps;
  o->burst = (double)f->burst;
}

static void sync_wait_cb(struct ev_loop *loop, ev_timer *w, int revents);

struct metal_creds *metal_creds_new(struct ev_loop *loop, struct kube_client *kube,
                                    struct kube_informer *secrets,
                                    const struct metal_creds_opts *o) {
  struct metal_creds *c = xcalloc(1, sizeof(*c));
  c->loop = loop;
  c->kube = kube;
  c->secrets = secrets;
  if (o)
    c->o = *o;
  c->base_url = c->o.base_url ? xstrdup(c->o.base_url) : NULL;
  c->ca_path = c->o.ca_path ? xstrdup(c->o.ca_path) : NULL;
  c->http = http_client_new(loop, METAL_USER_AGENT);
  http_client_set_limits(c->http, MAX_CONNECTIONS, MAX_CONNECTIONS);
  ev_timer_init(&c->sync_wait, sync_wait_cb, SYNC_CHECK_MS / 1000.0, SYNC_CHECK_MS / 1000.0);
  c->sync_wait.data = c;
  return c;
}

static void evict_one(struct metal_creds *c) {
  for (size_t i = 0; i < c->nslots; i++) {
    if (c->slots[i].pins == 0 && metal_client_pending(c->slots[i].mc) == 0) {
      c->retired_requests += metal_client_requests(c->slots[i].mc);
      metal_client_free(c->slots[i].mc);
      memmove(&c->slots[i], &c->slots[i + 1], (c->nslots - i - 1) * sizeof(*c->slots));
      c->nslots--;
      return;
    }
  }
  /* Everything is busy or pinned: grow rather than pull a client from under its user. */
}

static struct metal_client *client_for(struct metal_creds *c, const char *token,
                                       const char *project, struct eng_error *err) {
  struct sha256_ctx h;
  uint8_t d[SHA256_LEN];
  sha256_begin(&h);
  sha256_update(&h, token, strlen(token) + 1);
  sha256_update(&h, project, strlen(project));
  sha256_end(&h, d);
  char digest[SHA256_HEX_LEN + 1];
  hex_encode(d, SHA256_LEN, digest);
  for (size_t i = 0; i < c->nslots; i++)
    if (strcmp(c->slots[i].digest, digest) == 0)
      return c->slots[i].mc;
  struct metal_client_opts co = {0};
  co.base_url = c->base_url;
  co.ca_path = c->ca_path;
  co.token = token;
  co.project_id = project;
  co.rate = c->o.rate;
  co.burst = c->o.burst;
  co.timeout_ms = c->o.timeout_ms;
  co.settle_ms = c->o.settle_ms;
  co.per_page = c->o.per_page;
  co.http = c->http;
  struct metal_client *mc = metal_client_new(c->loop, &co, err);
  if (!mc)
    return NULL;
  if (c->nslots >= MAX_CLIENTS)
    evict_one(c);
  if (c->nslots == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 8;
    c->slots = xrealloc(c->slots, c->cap * sizeof(*c->slots));
  }
  struct slot *s = &c->slots[c->nslots++];
  snprintf(s->digest, sizeof(s->digest), "%s", digest);
  s->mc = mc;
  s->pins = 0;
  return mc;
}

/* The decoded, trimmed value of data[key] (Go's strings.TrimSpace). Free with xfree_secret(). */
static char *secret_value(const json_t *secret, const char *key) {
  const char *b = jsonx_str(json_object_get(secret, "data"), key);
  if (!b)
    return NULL;
  unsigned char *raw;
  size_t len;
  if (b64_decode(b, strlen(b), &raw, &len) != ENG_OK)
    return NULL;
  char *s = (char *)raw;
  while (len > 0 &&
         (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
    s[--len] = '\0';
  size_t lead = strspn(s, " \t\r\n");
  if (lead)
    memmove(s, s + lead, len - lead + 1);
  return s;
}

static void answer(metal_creds_fn fn, void *ud, struct metal_client *mc,
                   const struct eng_error *err, const char *code, bool retryable) {
  struct metal_creds_result r = {mc, err, code, retryable};
  fn(ud, &r);
}

static void from_secret(struct metal_creds *c, const char *ns, const char *name,
                        const json_t *secret, metal_creds_fn fn, void *ud) {
  char *token = secret_value(secret, "apiToken");
  char *project = secret_value(secret, "projectID");
  struct eng_error err;
  eng_error_clear(&err);
  if (!token || !*token || !project || !*project) {
    eng_error_set(&err, ENG_CONFIG,
                  "the Secret %s/%s has no \"%s\" field; it must hold the Equinix Metal API token "
                  "(apiToken) and the project ID (projectID)",
                  ns, name, !token || !*token ? "apiToken" : "projectID");
    xfree_secret(token);
    xfree_secret(project);
    answer(fn, ud, NULL, &err, "ERR_CONFIGURATION_PROBLEM", false);
    return;
  }
  struct metal_client *mc = client_for(c, token, project, &err);
  xfree_secret(token);
  xfree_secret(project);
  if (!mc)
    answer(fn, ud, NULL, &err, "ERR_CONFIGURATION_PROBLEM", false);
  else
    answer(fn, ud, mc, &err, NULL, false);
}

static void req_unlink(struct metal_creds_req *r) {
  if (r->prev)
    r->prev->next = r->next;
  else
    r->c->reqs = r->next;
  if (r->next)
    r->next->prev = r->prev;
}

static void req_free(struct metal_creds_req *r) {
  free(r->ns);
  free(r->name);
  free(r);
}

static void got(void *ud, const struct kube_result *res) {
  struct metal_creds_req *r = ud;
  req_unlink(r);
  if (res->err) {
    struct eng_error err;
    if (res->err == ENG_NOTFOUND)
      eng_error_set(
          &err, ENG_NOTFOUND,
          "the Secret %s/%s named by spec.secretRef does not exist; it must hold the Equinix "
          "Metal API token (apiToken) and project ID (projectID)",
          r->ns, r->name);
    else
      eng_error_set(&err, res->err, "cannot read the Secret %s/%s: %s", r->ns, r->name,
                    res->error.msg);
    answer(r->fn, r->ud, NULL, &err, NULL, true);
  } else {
    from_secret(r->c, r->ns, r->name, res->body, r->fn, r->ud);
  }
  req_free(r);
}

struct metal_creds_req *metal_creds_get(struct metal_creds *c, const char *ns, const char *name,
                                        metal_creds_fn fn, void *ud) {
  if (!ns || !*ns || !name || !*name) {
    struct eng_error err;
    eng_error_set(&err, ENG_CONFIG, "no credentials Secret is named (spec.secretRef)");
    answer(fn, ud, NULL, &err, "ERR_CONFIGURATION_PROBLEM", false);
    return NULL;
  }
  const json_t *s = c->secrets ? kube_informer_get(c->secrets, ns, name) : NULL;
  if (s) {
    from_secret(c, ns, name, s, fn, ud);
    return NULL;
  }
  /* Before the Secret informer's first list, wait for it instead of reading each Secret: at
   * start every shoot asks at once, and a thousand GETs would spend seconds of the Kubernetes
   * client's rate limit that the reconciles need. */
  bool park = c->secrets && !c->gave_up_waiting && !kube_informer_has_synced(c->secrets);
  struct metal_creds_req *r = xcalloc(1, sizeof(*r));
  r->c = c;
  r->ns = xstrdup(ns);
  r->name = xstrdup(name);
  r->fn = fn;
  r->ud = ud;
  r->next = c->reqs;
  if (c->reqs)
    c->reqs->prev = r;
  c->reqs = r;
  if (park) {
    r->parked = true;
    if (!ev_is_active(&c->sync_wait)) {
      c->parked_since_ms = clock_mono_ms();
      ev_timer_again(c->loop, &c->sync_wait);
    }
    return r;
  }
  r->kc = kube_get(c->kube, &kube_res_secret, ns, name, got, r);
  return r;
}

/* The informer listed (or SYNC_WAIT_MS passed): answer the parked requests from its cache, or
 * read the Secrets it does not hold (its field selector may not cover every secretRef). */
static void sync_wait_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct metal_creds *c = w->data;
  bool synced = kube_informer_has_synced(c->secrets);
  if (!synced) {
    if (clock_mono_ms() - c->parked_since_ms < SYNC_WAIT_MS)
      return;
    c->gave_up_waiting = true;
    log_warn("the credentials Secret informer has not listed yet; reading the Secrets directly",
             NULL);
  }
  ev_timer_stop(c->loop, &c->sync_wait);
  /* Answers may cancel or add requests: look for the next parked one afresh each time. */
  for (;;) {
    struct metal_creds_req *r = c->reqs;
    while (r && !r->parked)
      r = r->next;
    if (!r)
      break;
    r->parked = false;
    const json_t *s = synced ? kube_informer_get(c->secrets, r->ns, r->name) : NULL;
    if (s) {
      req_unlink(r);
      from_secret(c, r->ns, r->name, s, r->fn, r->ud);
      req_free(r);
    } else {
      r->kc = kube_get(c->kube, &kube_res_secret, r->ns, r->name, got, r);
    }
  }
}

void metal_creds_cancel(struct metal_creds *c, struct metal_creds_req *r) {
  if (!r)
    return;
  kube_cancel(c->kube, r->kc);
  req_unlink(r);
  req_free(r);
}

static struct slot *slot_of(struct metal_creds *c, const struct metal_client *mc) {
  for (size_t i = 0; i < c->nslots; i++)
    if (c->slots[i].mc == mc)
      return &c->slots[i];
  return NULL;
}

void metal_creds_pin(struct metal_creds *c, struct metal_client *mc) {
  struct slot *s = slot_of(c, mc);
  if (s)
    s->pins++;
}

void metal_creds_unpin(struct metal_creds *c, struct metal_client *mc) {
  struct slot *s = slot_of(c, mc);
  if (s && s->pins > 0)
    s->pins--;
}

uint64_t metal_creds_requests(const struct metal_creds *c) {
  uint64_t n = c->retired_requests;
  for (size_t i = 0; i < c->nslots; i++)
    n += metal_client_requests(c->slots[i].mc);
  return n;
}

void metal_creds_free(struct metal_creds *c) {
  if (!c)
    return;
  while (c->reqs)
    metal_creds_cancel(c, c->reqs);
  ev_timer_stop(c->loop, &c->sync_wait);
  for (size_t i = 0; i < c->nslots; i++)
    metal_client_free(c->slots[i].mc);
  free(c->slots);
  http_client_free(c->http);
  free(c->base_url);
  free(c->ca_path);
  free(c);
}
