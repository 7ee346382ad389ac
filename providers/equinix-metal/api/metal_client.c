/*
 * metal_client.c - the client handle and the request pipeline: token bucket,
 * queue, HTTP through engine/net/http.h, retries, 429 pauses, error classification,
 * and paginated listings. See metal_client.h for the contract and metal_int.h
 * for the pieces the operation files use.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "engine/base/clock.h"
#include "engine/net/http.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "providers/equinix-metal/api/metal_decode.h"
#include "providers/equinix-metal/api/metal_int.h"
#include "providers/equinix-metal/api/metal_paging.h"
#include "engine/base/xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void dispatch(struct metal_client *c);

/* ---- handle ---- */

static char *trim_dup(const char *s) {
  if (!s)
    return xstrdup("");
  while (isspace((unsigned char)*s))
    s++;
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1]))
    n--;
  return xstrndup(s, n);
}

static void wake_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  dispatch(w->data);
}

struct metal_client *metal_client_new(struct ev_loop *loop, const struct metal_client_opts *o,
                                      struct eng_error *err) {
  char *token = trim_dup(o ? o->token : NULL);
  char *project = trim_dup(o ? o->project_id : NULL);
  const char *base = o && o->base_url && *o->base_url ? o->base_url : METAL_DEFAULT_BASE_URL;
  if (!*token) {
    free(token);
    free(project);
    eng_error_set(
        err, ENG_CONFIG,
        "the Equinix Metal API token is empty: set apiToken in the cloud provider secret");
    return NULL;
  }
  log_register_secret(token);
  if (!*project) {
    xfree_secret(token);
    free(project);
    eng_error_set(
        err, ENG_CONFIG,
        "the Equinix Metal project ID is empty: set projectID in the cloud provider secret");
    return NULL;
  }
  if (strncmp(base, "https://", 8) != 0 && strncmp(base, "http://", 7) != 0) {
    xfree_secret(token);
    free(project);
    eng_error_set(err, ENG_CONFIG, "the Equinix Metal API URL '%s' does not start with https://",
                  base);
    return NULL;
  }
  struct metal_client *c = xcalloc(1, sizeof(*c));
  c->loop = loop;
  c->base = xstrdup(base);
  size_t bl = strlen(c->base);
  while (bl > 0 && c->base[bl - 1] == '/')
    c->base[--bl] = '\0';
  c->project = project;
  c->auth_hdr = xasprintf("X-Auth-Token: %s", token);
  xfree_secret(token);
  c->ca_path = o->ca_path && *o->ca_path ? xstrdup(o->ca_path) : NULL;
  c->rate = o->rate > 0 ? o->rate : 10;
  c->burst = o->burst >= 1 ? o->burst : 20;
  c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 60000;
  c->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000;
  c->per_page = o->per_page > 0 ? (o->per_page > 1000 ? 1000 : o->per_page) : 100;
  c->max_pages = o->max_pages > 0 ? o->max_pages : 1000;
  c->max_inflight = o->max_inflight > 0 ? o->max_inflight : 8;
  c->max_retries = o->max_retries > 0 ? o->max_retries : (o->max_retries < 0 ? 0 : 3);
  c->max_rl_retries = o->max_ratelimit_retries > 0 ? o->max_ratelimit_retries
                                                   : (o->max_ratelimit_retries < 0 ? 0 : 5);
  c->max_create_attempts = o->max_create_attempts > 0 ? o->max_create_attempts : 2;
  c->retry_base_ms = o->retry_base_ms > 0 ? o->retry_base_ms : 500;
  c->retry_max_ms = o->retry_max_ms > 0 ? o->retry_max_ms : 30000;
  c->rl_pause_ms = o->ratelimit_pause_ms > 0 ? o->ratelimit_pause_ms : 5000;
  c->max_pause_ms = o->max_pause_ms > 0 ? o->max_pause_ms : 300000;
  c->settle_ms = o->settle_ms > 0 ? o->settle_ms : 2000;
  if (o->http) {
    c->http = o->http;
  } else {
    c->http = http_client_new(loop, METAL_USER_AGENT);
    c->own_http = true;
  }
  metal_bucket_init(&c->bucket, c->rate, c->burst, clock_mono_ms());
  ev_timer_init(&c->wake, wake_cb, 0., 0.);
  c->wake.data = c;
  return c;
}

static void op_free(struct metal_op *op);

void metal_client_free(struct metal_client *c) {
  if (!c)
    return;
  while (c->ops) {
    struct metal_op *op = c->ops;
    if (op->call)
      http_cancel(c->http, op->call);
    op->call = NULL;
    op_free(op);
  }
  ev_timer_stop(c->loop, &c->wake);
  if (c->own_http)
    http_client_free(c->http);
  xfree_secret(c->auth_hdr);
  free(c->base);
  free(c->project);
  free(c->ca_path);
  free(c);
}

struct ev_loop *metal_client_loop(const struct metal_client *c) {
  return c->loop;
}
const char *metal_client_project(const struct metal_client *c) { return c->project; }
uint64_t metal_client_requests(const struct metal_client *c) { return c->requests; }
size_t metal_client_pending(const struct metal_client *c) { return c->nops; }

/* ---- operations ---- */

static void op_timer_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct metal_op *op = w->data;
  metal_then_fn fn = op->timer_fn;
  op->timer_fn = NULL;
  if (fn)
    fn(op);
}

struct metal_op *metal_op_new(struct metal_client *c, const char *what, metal_done_fn cb,
                              void *ud) {
  struct metal_op *op = xcalloc(1, sizeof(*op));
  op->c = c;
  op->cb = cb;
  op->ud = ud;
  op->what = log_scrub(what ? what : "Equinix Metal request");
  op->prio = -1;
  eng_error_clear(&op->err);
  eng_error_clear(&op->saved_err);
  ev_timer_init(&op->timer, op_timer_cb, 0., 0.);
  op->timer.data = op;
  op->next = c->ops;
  if (c->ops)
    c->ops->prev = op;
  c->ops = op;
  c->nops++;
  return op;
}

static void queue_remove(struct metal_client *c, struct metal_op *op) {
  int q = op->qprio;
  struct metal_op **pp = &c->qhead[q], *prev = NULL;
  while (*pp && *pp != op) {
    prev = *pp;
    pp = &(*pp)->qnext;
  }
  if (*pp) {
    *pp = op->qnext;
    if (c->qtail[q] == op)
      c->qtail[q] = prev;
    c->nqueued[q]--;
  }
  op->qnext = NULL;
  op->queued = false;
}

static void op_free(struct metal_op *op) {
  struct metal_client *c = op->c;
  if (op->queued)
    queue_remove(c, op);
  if (op->call) {
    http_cancel(c->http, op->call);
    op->call = NULL;
    c->inflight--;
    if (op->qprio == METAL_PRIO_BACKGROUND)
      c->inflight_bg--;
  }
  ev_timer_stop(c->loop, &op->timer);
  if (op->prev)
    op->prev->next = op->next;
  else
    c->ops = op->next;
  if (op->next)
    op->next->prev = op->prev;
  c->nops--;
  free(op->what);
  free(op->plan);
  free(op->metro);
  free(op->os);
  free(op->method);
  free(op->path);
  if (op->body) {
    /* request bodies may hold userdata */
    xfree_secret(op->body);
  }
  free(op->list_path);
  json_decref(op->list_items);
  json_decref(op->list_seen);
  metal_list_page_reset(op);
  metal_device_clear(&op->device);
  metal_device_list_clear(&op->devices);
  metal_sshkey_clear(&op->sshkey);
  metal_sshkey_list_free_items(&op->sshkeys);
  for (size_t i = 0; i < op->ips.n; i++)
    metal_ipres_clear(&op->ips.items[i]);
  free(op->ips.items);
  free(op->label);
  free(op->pubkey);
  json_decref(op->create_body);
  free(op);
}

void metal_op_cancel(struct metal_op *op) {
  if (!op || op->in_cb)
    return;
  struct metal_client *c = op->c;
  op_free(op);
  /* A canceled request may have freed a slot for the queue. */
  dispatch(c);
}

void metal_op_after(struct metal_op *op, long ms, metal_then_fn fn) {
  struct metal_client *c = op->c;
  ev_timer_stop(c->loop, &op->timer);
  op->timer_fn = fn;
  /* 0 still goes through the loop, so that callbacks never run inside the caller's call. */
  ev_timer_set(&op->timer, ms > 0 ? ms / 1000.0 : 0., 0.);
  ev_timer_start(c->loop, &op->timer);
}

void metal_op_finish(struct metal_op *op) {
  op->res.code = op->err.code;
  op->res.err = &op->err;
  if (op->err.code != ENG_OK) {
    op->res.device = NULL;
    op->res.devices = NULL;
    op->res.sshkey = NULL;
    op->res.sshkeys = NULL;
    op->res.ips = NULL;
  }
  if (op->cb) {
    op->in_cb = true;
    op->cb(op->ud, &op->res);
    op->in_cb = false;
  }
  op_free(op);
}

void metal_op_finish_later(struct metal_op *op) { metal_op_after(op, 0, metal_op_finish); }

void metal_op_ctx(const struct metal_op *op, struct metal_err_ctx *ctx) {
  memset(ctx, 0, sizeof(*ctx));
  ctx->what = op->what;
  ctx->project = op->c->project;
  ctx->plan = op->plan;
  ctx->metro = op->metro;
  ctx->os = op->os;
}

void metal_op_bad_reply(struct metal_op *op, long status, const char *why) {
  struct metal_err_ctx ctx;
  metal_op_ctx(op, &ctx);
  char *clean = log_scrub(why);
  metal_error_bad_reply(&op->err, &ctx, status, clean);
  free(clean);
}

char *metal_esc(const char *s) { return http_escape(s ? s : ""); }

/* ---- the pipeline ---- */

static int prio_of(const struct metal_op *op) {
  if (op->prio >= 0 && op->prio < METAL_PRIORITIES)
    return op->prio;
  return op->method && strcmp(op->method, "GET") == 0 ? METAL_PRIO_READ : METAL_PRIO_MUTATE;
}

static void enqueue(struct metal_op *op) {
  struct metal_client *c = op->c;
  int q = prio_of(op);
  op->queued = true;
  op->qprio = q;
  op->qnext = NULL;
  if (c->qtail[q])
    c->qtail[q]->qnext = op;
  else
    c->qhead[q] = op;
  c->qtail[q] = op;
  c->nqueued[q]++;
}

void metal_op_set_priority(struct metal_op *op, enum metal_priority prio) {
  if (!op || (int)prio < 0 || (int)prio >= METAL_PRIORITIES)
    return;
  if (op->queued) {
    queue_remove(op->c, op);
    op->prio = (int)prio;
    enqueue(op);
    dispatch(op->c);
  } else {
    op->prio = (int)prio;
  }
}

size_t metal_client_queued(const struct metal_client *c, enum metal_priority prio) {
  size_t n = 0;
  for (int q = 0; q <= (int)prio && q < METAL_PRIORITIES; q++)
    n += c->nqueued[q];
  return n;
}

bool metal_client_paused(const struct metal_client *c) {
  return c->bucket.paused_until_ms > clock_mono_ms();
}

double metal_client_rate(const struct metal_client *c) { return c->rate; }

static void on_http_done(void *ud, const struct http_response *resp);

static void submit_failed(struct metal_op *op) {
  eng_error_set(&op->err, ENG_INTERNAL, "%s failed: the HTTP client could not start the request",
                op->what);
  struct metal_resp r = {ENG_INTERNAL, 0, NULL};
  op->step(op, &r);
}

static void submit(struct metal_op *op) {
  struct metal_client *c = op->c;
  char *url = xasprintf("%s%s", c->base, op->path);
  const char *headers[6];
  size_t nh = 0;
  headers[nh++] = c->auth_hdr;
  headers[nh++] = "Accept: application/json";
  headers[nh++] = "User-Agent: " METAL_USER_AGENT;
  if (op->body)
    headers[nh++] = "Content-Type: application/json";
  headers[nh] = NULL;
  struct http_tls tls = {.ca_path = c->ca_path};
  struct http_request req = {
      .method = op->method,
      .url = url,
      .headers = headers,
      .body = op->body,
      .body_len = op->body ? strlen(op->body) : 0,
      .timeout_ms = c->timeout_ms,
      .connect_timeout_ms = c->connect_timeout_ms,
      .tls = &tls,
      .fresh_connect = !op->idempotent,
      .on_done = on_http_done,
      .ud = op,
  };
  op->call = http_submit(c->http, &req);
  if (op->call) {
    c->inflight++;
    if (op->qprio == METAL_PRIO_BACKGROUND)
      c->inflight_bg++;
    c->requests++;
    op->res.requests++;
    if (log_enabled(LOG_DEBUG))
      log_debug("Equinix Metal request", "method", op->method, "path", op->path, NULL);
  } else {
    metal_op_after(op, 0, submit_failed);
  }
  free(url);
}

/* Send queued requests while the bucket has tokens and a slot is free; otherwise wake up when
 * the next token is due. Never runs an operation's callback itself. */
/* The queue to serve next: the most urgent non-empty one; background requests only while they
 * hold fewer than half of the in-flight slots. -1 when nothing may be sent. */
static int next_queue(const struct metal_client *c) {
  if (c->inflight >= c->max_inflight)
    return -1;
  for (int q = 0; q < METAL_PRIORITIES; q++) {
    if (!c->qhead[q])
      continue;
    if (q == METAL_PRIO_BACKGROUND) {
      unsigned cap = c->max_inflight / 2 ? c->max_inflight / 2 : 1;
      if (c->inflight_bg >= cap)
        return -1;
    }
    return q;
  }
  return -1;
}

static void dispatch(struct metal_client *c) {
  int q;
  while ((q = next_queue(c)) >= 0) {
    int64_t wait = metal_bucket_take(&c->bucket, clock_mono_ms());
    if (wait > 0) {
      ev_timer_stop(c->loop, &c->wake);
      ev_timer_set(&c->wake, wait / 1000.0, 0.);
      ev_timer_start(c->loop, &c->wake);
      return;
    }
    struct metal_op *op = c->qhead[q];
    c->qhead[q] = op->qnext;
    if (!c->qhead[q])
      c->qtail[q] = NULL;
    c->nqueued[q]--;
    op->qnext = NULL;
    op->queued = false;
    submit(op);
  }
}

static void resend(struct metal_op *op) {
  enqueue(op);
  dispatch(op->c);
}

void metal_op_send(struct metal_op *op, const char *method, const char *path, json_t *body,
                   bool idempotent, metal_step_fn step) {
  free(op->method);
  free(op->path);
  if (op->body)
    xfree_secret(op->body);
  op->method = xstrdup(method);
  op->path = xstrdup(path);
  op->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  op->idempotent = idempotent;
  op->attempts = 0;
  op->ratelimited = 0;
  op->step = step;
  resend(op);
}

static long backoff_ms(const struct metal_client *c, unsigned attempt, long server_ms) {
  long ms = c->retry_base_ms;
  for (unsigned i = 1; i < attempt && ms < c->retry_max_ms; i++)
    ms *= 2;
  if (ms > c->retry_max_ms)
    ms = c->retry_max_ms;
  if (server_ms > ms)
    ms = server_ms > c->max_pause_ms ? c->max_pause_ms : server_ms;
  return ms;
}

/* Retry op's request after a backoff when the pipeline may; true when it will. */
static bool maybe_retry(struct metal_op *op, const struct eng_error *e) {
  struct metal_client *c = op->c;
  if (!op->idempotent || !metal_retryable(e) || op->attempts >= (unsigned)c->max_retries)
    return false;
  op->attempts++;
  long ms = backoff_ms(c, op->attempts, e->retry_after_ms);
  char a[16], w[24];
  snprintf(a, sizeof(a), "%u", op->attempts);
  snprintf(w, sizeof(w), "%ld", ms);
  log_info("retrying an Equinix Metal request", "operation", op->what, "attempt", a, "wait_ms", w,
           "error", e->msg, NULL);
  metal_op_after(op, ms, resend);
  return true;
}

static void deliver(struct metal_op *op, const struct metal_resp *r) { op->step(op, r); }

static void on_http_done(void *ud, const struct http_response *resp) {
  struct metal_op *op = ud;
  struct metal_client *c = op->c;
  op->call = NULL;
  c->inflight--;
  if (op->qprio == METAL_PRIO_BACKGROUND)
    c->inflight_bg--;
  struct metal_err_ctx ctx;
  metal_op_ctx(op, &ctx);
  struct eng_error e;
  eng_error_clear(&e);
  if (log_enabled(LOG_DEBUG)) {
    char st[16];
    snprintf(st, sizeof(st), "%ld", resp->status);
    log_debug("Equinix Metal response", "method", op->method, "path", op->path, "status", st, NULL);
  }
  if (resp->err != ENG_OK) {
    metal_error_from_transport(&e, &ctx, resp->err, resp->errmsg);
    if (!maybe_retry(op, &e)) {
      op->err = e;
      struct metal_resp r = {e.code, 0, NULL};
      deliver(op, &r);
    }
  } else if (resp->status == 429) {
    metal_error_from_http(&e, &ctx, resp->status, resp->body, resp->body_len, resp->retry_after_ms,
                          http_response_header(resp, "X-RateLimit-Reset"), clock_now_ms());
    long wait = e.retry_after_ms >= 0 ? e.retry_after_ms : c->rl_pause_ms;
    if (wait > c->max_pause_ms)
      wait = c->max_pause_ms;
    e.retry_after_ms = wait;
    /* The whole client waits: the limit belongs to the token, not to this request. */
    metal_bucket_pause(&c->bucket, clock_mono_ms() + wait);
    char w[24];
    snprintf(w, sizeof(w), "%ld", wait);
    log_warn("Equinix Metal API rate limit reached; pausing this client", "operation", op->what,
             "wait_ms", w, NULL);
    if (op->ratelimited < (unsigned)c->max_rl_retries) {
      /* A 429 was not processed, so even a create may be sent again. */
      op->ratelimited++;
      enqueue(op);
    } else {
      op->err = e;
      struct metal_resp r = {e.code, resp->status, NULL};
      deliver(op, &r);
    }
  } else if (resp->status >= 200 && resp->status <= 299) {
    json_t *j = NULL;
    bool ok = true;
    if (resp->body_len > 0) {
      struct eng_error pe;
      size_t flen = 0;
      char *filtered = metal_list_prefilter(op, resp->body, resp->body_len, &flen);
      if (filtered) {
        j = jsonx_parse(filtered, flen, "response", &pe);
        free(filtered);
        if (!j)
          metal_list_page_reset(op); /* the envelope is bad: the whole body tells how */
      }
      if (!j)
        j = jsonx_parse(resp->body, resp->body_len, "response", &pe);
      if (!j) {
        char *snip = metal_error_text(resp->body, resp->body_len);
        char *why = xasprintf("a body that is not JSON (%s)", snip);
        metal_op_bad_reply(op, resp->status, why);
        free(why);
        free(snip);
        e = op->err;
        eng_error_clear(&op->err);
        ok = false;
      }
    }
    if (ok) {
      struct metal_resp r = {ENG_OK, resp->status, j};
      deliver(op, &r);
    } else if (!maybe_retry(op, &e)) {
      op->err = e;
      struct metal_resp r = {e.code, resp->status, NULL};
      deliver(op, &r);
    }
    json_decref(j);
  } else {
    metal_error_from_http(&e, &ctx, resp->status, resp->body, resp->body_len, resp->retry_after_ms,
                          http_response_header(resp, "X-RateLimit-Reset"), clock_now_ms());
    if (!maybe_retry(op, &e)) {
      op->err = e;
      struct metal_resp r = {e.code, resp->status, NULL};
      deliver(op, &r);
    }
  }
  /* op may be gone now; the client is not (callbacks must not free it). */
  dispatch(c);
}

/* ---- paginated listings ---- */

static void list_request(struct metal_op *op);

static void list_step(struct metal_op *op, const struct metal_resp *r) {
  if (r->code != ENG_OK) {
    op->list_done(op);
    return;
  }
  json_t *arr = json_is_object(r->json) ? json_object_get(r->json, op->list_key) : NULL;
  if (!json_is_array(arr)) {
    char why[128];
    snprintf(why, sizeof(why), "no \"%s\" list", op->list_key);
    metal_op_bad_reply(op, r->status, why);
    op->list_done(op);
    return;
  }
  size_t fresh = 0, i;
  json_t *item;
  json_array_foreach(arr, i, item) {
    const char *id = json_string_value(json_object_get(item, "id"));
    if (id) {
      if (json_object_get(op->list_seen, id))
        continue;
      json_object_set_new(op->list_seen, id, json_true());
    }
    fresh++;
    json_array_append(op->list_items, item);
  }
  /* Items the skip function left out were listed all the same. */
  for (i = 0; i < op->nlist_skipped; i++) {
    if (json_object_get(op->list_seen, op->list_skipped[i]))
      continue;
    json_object_set_new(op->list_seen, op->list_skipped[i], json_true());
    fresh++;
  }
  size_t listed = json_array_size(arr) + op->nlist_skipped;
  if (op->list_page_fn) {
    op->list_page_fn(op);
    json_array_clear(op->list_items);
    if (op->err.code != ENG_OK) {
      op->list_done(op);
      return;
    }
  }
  enum metal_page_step next =
      metal_page_next(json_object_get(r->json, "meta"), op->list_page, listed, fresh,
                      op->c->per_page, op->c->max_pages, op->what, &op->err);
  if (next == METAL_PAGE_NEXT) {
    op->list_page++;
    list_request(op);
    return;
  }
  if (next == METAL_PAGE_ERROR)
    op->err.http_status = (int)r->status;
  op->list_done(op);
}

static void list_request(struct metal_op *op) {
  char *path = xasprintf("%s%cpage=%u&per_page=%u", op->list_path,
                         strchr(op->list_path, '?') ? '&' : '?', op->list_page, op->c->per_page);
  metal_op_send(op, "GET", path, NULL, true, list_step);
  free(path);
}

void metal_op_list(struct metal_op *op, const char *path, const char *key, metal_then_fn then) {
  free(op->list_path);
  json_decref(op->list_items);
  json_decref(op->list_seen);
  op->list_path = xstrdup(path);
  op->list_key = key;
  op->list_page = 1;
  op->list_items = json_array();
  op->list_seen = json_object();
  op->list_done = then;
  op->list_page_fn = NULL;
  eng_error_clear(&op->err);
  list_request(op);
}

void metal_op_list_paged(struct metal_op *op, const char *path, const char *key,
                         metal_then_fn page_fn, metal_then_fn then) {
  metal_op_list(op, path, key, then);
  op->list_page_fn = page_fn;
}

struct metal_op *metal_op_on_id(struct metal_client *c, const char *verb, const char *noun,
                                const char *method, const char *collection, const char *id,
                                const char *suffix, metal_step_fn step, metal_done_fn cb,
                                void *ud) {
  bool no_id = !id || !*id;
  char *what = xasprintf("%s %s %s", verb, noun, no_id ? "(no id)" : id);
  struct metal_op *op = metal_op_new(c, what, cb, ud);
  free(what);
  if (no_id) {
    eng_error_set(&op->err, ENG_INVALID, "%s failed: no %s id was given", op->what, noun);
    metal_op_finish_later(op);
    return op;
  }
  char *eid = metal_esc(id);
  char *path = xasprintf("%s/%s%s", collection, eid, suffix);
  metal_op_send(op, method, path, NULL, true, step);
  free(path);
  free(eid);
  return op;
}

void metal_delete_step(struct metal_op *op, const struct metal_resp *r) {
  if (r->code == ENG_NOTFOUND) {
    eng_error_clear(&op->err);
    op->res.gone = true;
  }
  metal_op_finish(op);
}
