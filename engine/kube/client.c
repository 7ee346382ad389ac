/*
 * client.c - Kubernetes API calls on engine/http.h.
 *
 * Every public call is a struct kube_call that may make several HTTP requests: retries
 * after 429/Retry-After and after a 401 with a rotated token file, the pages of a list,
 * the GET-mutate-PUT rounds of the conflict helper. One ev_timer per call carries the
 * delays and the asynchronous delivery of failures found before any request was made.
 */
#include "engine/base/common.h"
#include "engine/kube/client.h"
#include "engine/base/buf.h"
#include "engine/base/clock.h"
#include "engine/net/http.h"
#include "engine/base/jsonscan.h"
#include "engine/base/jsonx.h"
#include "engine/kube/watchdec.h"
#include "engine/base/log.h"
#include "engine/base/xalloc.h"

#include <errno.h>
#include <ev.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KUBE_TOKEN_REREAD_MS      60000
#define KUBE_DEFAULT_TIMEOUT_MS   30000
#define KUBE_DEFAULT_MAX_RETRIES  10
#define KUBE_DEFAULT_PAGE         500
#define KUBE_CONFLICT_ATTEMPTS    5
#define KUBE_CONFLICT_DELAY_MS    10
#define KUBE_DEFAULT_MAX_INFLIGHT 32

struct kube_client {
  struct ev_loop *loop;
  bool own_loop;
  struct http_client *http;
  struct kube_config cfg;
  struct http_tls tls;
  long timeout_ms;
  int max_retries;
  char *token;           /* last token read from the token file */
  int64_t token_read_ms; /* clock_mono_ms of that read; 0 = never */
  struct kube_call *calls;
  size_t ncalls;
  /* client-side rate limit (client-go's token bucket): 0 qps = none */
  double qps, burst, tokens;
  int64_t tokens_ms;  /* clock_mono_ms of the last refill */
  uint64_t throttled; /* requests that waited for a token */
  /* Requests other than watches on the wire at once: each is an HTTP/1.1 connection with its own
   * TLS session, so a burst of writes would otherwise open as many connections as it has writes. */
  size_t max_inflight, nhttp;
  struct kube_call *wait_head, *wait_tail; /* due requests waiting for a slot, in order */
  uint64_t slot_waits;
  bool closing;
};

enum call_kind { CALL_SIMPLE, CALL_LIST, CALL_WATCH, CALL_UPDATE_RETRY };
enum timer_action { TIMER_NONE, TIMER_SEND, TIMER_SEND_NOW, TIMER_FAIL, TIMER_MUTATE };
enum retry_step { STEP_GET, STEP_PUT };

struct kube_call {
  struct kube_client *c;
  struct kube_call *prev, *next;
  enum call_kind kind;
  kube_done_fn done;
  void *ud;
  char *what; /* "update leases ns/name" */
  /* the current HTTP request */
  char *method, *path, *query, *content_type;
  char *body;
  size_t body_len;
  struct http_call *http;
  int attempts;
  int retries; /* 429 / Retry-After retries of the current request */
  bool auth_retried;
  ev_timer timer;
  enum timer_action action;
  enum eng_err fail_code; /* for TIMER_FAIL */
  char *fail_msg;
  bool canceled;
  bool in_feed;  /* inside the watch decoder */
  bool has_slot; /* its request holds one of max_inflight */
  bool queued;   /* in the client's wait list */
  struct kube_call *wnext;
  bool finishing; /* inside done */
  /* list */
  char *list_base_query; /* selectors (+ RV for the first page) without limit/continue */
  char *list_sel_query;  /* selectors only, for continued pages */
  long limit;
  json_t *items;
  char *list_kind, *list_api_version;
  bool list_restarted;
  kube_list_page_fn on_page; /* pages are handed over, not kept */
  void *page_ud;
  bool page_first;
  /* the page being handed over: its items as spans of the response body, parsed one by one */
  const char *page_body;
  struct jspan *page_items;
  size_t npage_items;
  /* watch */
  struct kube_watchdec dec;
  kube_watch_fn on_event;
  json_t *watch_status;   /* the Status of an ERROR event */
  enum eng_err watch_err; /* decoder failure */
  char *watch_msg;
  uint64_t watch_events;
  long watch_timeout_ms; /* client-side limit of the whole stream; 0 = none */
  /* update with conflict retry */
  const struct kube_resource *res;
  char *ns, *name;
  bool status_sub;
  kube_mutate_fn mutate;
  void *mutate_ud;
  int max_puts, puts;
  json_t *current; /* latest object known */
  enum retry_step step;
};

static const char *or_(const char *s, const char *dflt) { return s ? s : dflt; }

/* ---- client ------------------------------------------------------------------------------ */

struct kube_client *kube_client_new(struct ev_loop *loop, const struct kube_config *cfg,
                                    const char *user_agent) {
  struct kube_client *c = xcalloc(1, sizeof(*c));
  if (!loop) {
    loop = ev_loop_new(EVFLAG_AUTO);
    if (!loop)
      abort();
    c->own_loop = true;
  }
  c->loop = loop;
  c->http = http_client_new(loop, user_agent);
  c->max_inflight = KUBE_DEFAULT_MAX_INFLIGHT;
  kube_config_copy(&c->cfg, cfg);
  if (!c->cfg.namespace)
    c->cfg.namespace = xstrdup("default");
  if (!c->cfg.server)
    c->cfg.server = xstrdup("");
  c->tls.ca_path = c->cfg.ca_path;
  c->tls.client_cert_path = c->cfg.client_cert_path;
  c->tls.client_key_path = c->cfg.client_key_path;
  c->tls.insecure = c->cfg.insecure;
  c->timeout_ms = KUBE_DEFAULT_TIMEOUT_MS;
  c->max_retries = KUBE_DEFAULT_MAX_RETRIES;
  if (c->cfg.token)
    log_register_secret(c->cfg.token);
  if (c->cfg.warning)
    log_warn(c->cfg.warning, NULL);
  return c;
}

static void call_free(struct kube_call *call);

void kube_client_free(struct kube_client *c) {
  if (!c)
    return;
  c->closing = true;
  while (c->calls) {
    struct kube_call *call = c->calls;
    kube_cancel(c, call);
  }
  http_client_free(c->http);
  kube_config_free(&c->cfg);
  xfree_secret(c->token);
  if (c->own_loop)
    ev_loop_destroy(c->loop);
  free(c);
}

struct ev_loop *kube_client_loop(const struct kube_client *c) {
  return c->loop;
}
const char *kube_client_namespace(const struct kube_client *c) { return c->cfg.namespace; }
const char *kube_client_server(const struct kube_client *c) { return c->cfg.server; }
void kube_client_set_timeout(struct kube_client *c, long ms) {
  c->timeout_ms = ms > 0 ? ms : KUBE_DEFAULT_TIMEOUT_MS;
}
void kube_client_set_max_retries(struct kube_client *c, int n) { c->max_retries = n < 0 ? 0 : n; }

void kube_client_set_rate_limit(struct kube_client *c, double qps, double burst) {
  c->qps = qps > 0 ? qps : 0;
  c->burst = burst >= 1 ? burst : 1;
  c->tokens = c->burst;
  c->tokens_ms = clock_mono_ms();
}

uint64_t kube_client_throttled(const struct kube_client *c) { return c->throttled; }
void kube_client_set_max_inflight(struct kube_client *c, size_t n) { c->max_inflight = n; }
uint64_t kube_client_slot_waits(const struct kube_client *c) { return c->slot_waits; }
size_t kube_client_requests_on_wire(const struct kube_client *c) { return c->nhttp; }
size_t kube_client_inflight(const struct kube_client *c) { return c->ncalls; }

/* The bearer token: the token file (re-read every minute or when forced), else the static one. */
static const char *client_token(struct kube_client *c, bool force) {
  if (c->cfg.token_file) {
    int64_t now = clock_mono_ms();
    if (force || !c->token || now - c->token_read_ms >= KUBE_TOKEN_REREAD_MS) {
      FILE *f = fopen(c->cfg.token_file, "rb");
      char tmp[16384];
      size_t n = 0;
      if (f) {
        n = fread(tmp, 1, sizeof(tmp) - 1, f);
        fclose(f);
      } else {
        log_warn("cannot read the bearer token file; keeping the previous token", "file",
                 c->cfg.token_file, "error", strerror(errno), NULL);
      }
      tmp[n] = '\0';
      char *s = tmp;
      while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
        s++;
      size_t l = strlen(s);
      while (l && (s[l - 1] == ' ' || s[l - 1] == '\n' || s[l - 1] == '\r' || s[l - 1] == '\t'))
        s[--l] = '\0';
      if (l) {
        if (!c->token || strcmp(c->token, s) != 0) {
          if (c->token)
            log_forget_secret(c->token);
          xfree_secret(c->token);
          c->token = xstrdup(s);
          log_register_secret(c->token);
        }
        c->token_read_ms = now;
      }
      explicit_bzero(tmp, sizeof(tmp));
    }
    if (c->token)
      return c->token;
  }
  return c->cfg.token;
}

/* ---- calls -------------------------------------------------------------------------------- */

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void send_wire(struct kube_call *call);

static void unqueue(struct kube_call *call) {
  struct kube_client *c = call->c;
  struct kube_call *prev = NULL;
  for (struct kube_call *q = c->wait_head; q; prev = q, q = q->wnext) {
    if (q != call)
      continue;
    if (prev)
      prev->wnext = q->wnext;
    else
      c->wait_head = q->wnext;
    if (c->wait_tail == q)
      c->wait_tail = prev;
    break;
  }
  call->wnext = NULL;
  call->queued = false;
}

/* The call's request left the wire: its slot goes to the first waiting request. */
static void release_slot(struct kube_call *call) {
  struct kube_client *c = call->c;
  if (!call->has_slot)
    return;
  call->has_slot = false;
  c->nhttp--;
  while (!c->closing && c->wait_head && (!c->max_inflight || c->nhttp < c->max_inflight)) {
    struct kube_call *next = c->wait_head;
    unqueue(next);
    send_wire(next);
  }
}

static struct kube_call *call_new(struct kube_client *c, enum call_kind kind, kube_done_fn done,
                                  void *ud) {
  struct kube_call *call = xcalloc(1, sizeof(*call));
  call->c = c;
  call->kind = kind;
  call->done = done;
  call->ud = ud;
  ev_timer_init(&call->timer, timer_cb, 0., 0.);
  call->timer.data = call;
  call->next = c->calls;
  if (c->calls)
    c->calls->prev = call;
  c->calls = call;
  c->ncalls++;
  return call;
}

static void call_unlink(struct kube_call *call) {
  struct kube_client *c = call->c;
  if (call->prev)
    call->prev->next = call->next;
  else if (c->calls == call)
    c->calls = call->next;
  if (call->next)
    call->next->prev = call->prev;
  call->prev = call->next = NULL;
  c->ncalls--;
}

static void set_request(struct kube_call *call, const char *method, char *path_own, char *query_own,
                        const char *ctype, const json_t *body) {
  free(call->method);
  free(call->path);
  free(call->query);
  free(call->content_type);
  if (call->body)
    explicit_bzero(call->body, call->body_len);
  free(call->body);
  call->method = xstrdup(method);
  call->path = path_own;
  call->query = query_own;
  call->content_type = ctype ? xstrdup(ctype) : NULL;
  call->body = NULL;
  call->body_len = 0;
  if (body) {
    call->body = json_dumps(body, JSON_COMPACT);
    if (!call->body)
      abort();
    call->body_len = strlen(call->body);
  }
  call->retries = 0;
  call->auth_retried = false;
}

static void call_free(struct kube_call *call) {
  ev_timer_stop(call->c->loop, &call->timer);
  free(call->what);
  free(call->method);
  free(call->path);
  free(call->query);
  free(call->content_type);
  if (call->body)
    explicit_bzero(call->body, call->body_len);
  free(call->body);
  free(call->fail_msg);
  free(call->list_base_query);
  free(call->list_sel_query);
  json_decref(call->items);
  free(call->page_items);
  free(call->list_kind);
  free(call->list_api_version);
  if (call->kind == CALL_WATCH)
    kube_watchdec_release(&call->dec);
  json_decref(call->watch_status);
  free(call->watch_msg);
  free(call->ns);
  free(call->name);
  json_decref(call->current);
  free(call);
}

void kube_cancel(struct kube_client *c, struct kube_call *call) {
  if (!call || call->canceled || call->finishing)
    return;
  call->canceled = true;
  if (call->queued)
    unqueue(call);
  if (call->http) {
    http_cancel(c->http, call->http);
    call->http = NULL;
    release_slot(call);
  }
  ev_timer_stop(c->loop, &call->timer);
  call_unlink(call);
  if (!call->in_feed)
    call_free(call); /* else freed when the decoder returns */
}

/* Deliver res and free the call. */
static void complete(struct kube_call *call, struct kube_result *res) {
  res->attempts = call->attempts;
  res->error.code = res->err;
  res->error.http_status = (int)res->status;
  res->error.retry_after_ms = res->retry_after_ms;
  if (res->err == ENG_OK)
    res->error.msg[0] = '\0';
  call_unlink(call);
  call->finishing = true;
  if (call->done)
    call->done(call->ud, res);
  call_free(call);
}

static void result_init(struct kube_result *res) {
  memset(res, 0, sizeof(*res));
  res->reason = "";
  res->message = "";
  res->retry_after_ms = -1;
  eng_error_clear(&res->error);
}

/* Complete with a failure found without a response. */
static void complete_error(struct kube_call *call, enum eng_err code, const char *msg) {
  struct kube_result res;
  result_init(&res);
  res.err = code;
  res.message = msg;
  eng_error_set(&res.error, code, "%s: %s", call->what, msg);
  complete(call, &res);
}

/* Schedule a failure for delivery from the loop (never inside the submitting function). */
static void fail_later(struct kube_call *call, enum eng_err code, const char *fmt, ...)
    PRINTF_LIKE(3, 4);
static void fail_later(struct kube_call *call, enum eng_err code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char msg[ENG_ERROR_MSG_MAX];
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  free(call->fail_msg);
  call->fail_msg = xstrdup(msg);
  call->fail_code = code;
  call->action = TIMER_FAIL;
  ev_timer_stop(call->c->loop, &call->timer);
  ev_timer_set(&call->timer, 0., 0.);
  ev_timer_start(call->c->loop, &call->timer);
}

static void after(struct kube_call *call, enum timer_action action, long ms) {
  call->action = action;
  ev_timer_stop(call->c->loop, &call->timer);
  ev_timer_set(&call->timer, ms / 1000.0, 0.);
  ev_timer_start(call->c->loop, &call->timer);
}

enum eng_err kube_map_status(long status, const char *reason) {
  if (status >= 200 && status < 300)
    return ENG_OK;
  switch (status) {
  case 400:
  case 422:
    return ENG_INVALID;
  case 401:
    return ENG_UNAUTHENTICATED;
  case 403:
    return ENG_FORBIDDEN;
  case 404:
    return ENG_NOTFOUND;
  case 409:
    return reason && !strcmp(reason, "AlreadyExists") ? ENG_EXISTS : ENG_CONFLICT;
  case 410:
    return ENG_GONE;
  case 413:
    return ENG_TOOLARGE;
  case 429:
    return ENG_RATELIMIT;
  case 504:
    return ENG_TIMEOUT;
  default:
    break;
  }
  if (status >= 500)
    return ENG_UNAVAILABLE;
  if (status == 0)
    return ENG_UNAVAILABLE;
  return ENG_PROTOCOL;
}

static const char *status_text(long s) {
  switch (s) {
  case 400:
    return "400 Bad Request";
  case 401:
    return "401 Unauthorized";
  case 403:
    return "403 Forbidden";
  case 404:
    return "404 Not Found";
  case 405:
    return "405 Method Not Allowed";
  case 406:
    return "406 Not Acceptable";
  case 409:
    return "409 Conflict";
  case 410:
    return "410 Gone";
  case 413:
    return "413 Request Entity Too Large";
  case 415:
    return "415 Unsupported Media Type";
  case 422:
    return "422 Unprocessable Entity";
  case 429:
    return "429 Too Many Requests";
  case 500:
    return "500 Internal Server Error";
  case 502:
    return "502 Bad Gateway";
  case 503:
    return "503 Service Unavailable";
  case 504:
    return "504 Gateway Timeout";
  default:
    return NULL;
  }
}

/* A hint for the operator, by error. */
static const char *hint(const struct kube_client *c, enum eng_err e, char *buf, size_t n) {
  switch (e) {
  case ENG_UNAUTHENTICATED:
    snprintf(buf, n, "; check the credentials of %s",
             c->cfg.source ? c->cfg.source : "the kubeconfig");
    return buf;
  case ENG_FORBIDDEN:
    return "; check the RBAC rules of the controller's service account";
  case ENG_RATELIMIT:
    return "; the API server is overloaded, the request will be retried later";
  case ENG_UNAVAILABLE:
  case ENG_TIMEOUT:
    return "; the API server is unreachable or overloaded, the request will be retried";
  default:
    return "";
  }
}

/*
 * A page for on_page: the list parsed without its items (NULL if the text does not allow it),
 * the items left as spans of body to be parsed one at a time in list_page(). A page of 100
 * objects of 30 KB is 3 MB of text but many times that once parsed whole.
 */
static json_t *list_envelope(struct kube_call *call, const char *body, size_t len) {
  struct jspan arr, *items = NULL;
  size_t n = 0;
  if (!jsonscan_member(body, len, "items", &arr) || !jsonscan_elements(body, arr, &items, &n))
    return NULL;
  size_t elen = 0;
  char *env = jsonscan_splice(body, len, arr, NULL, 0, &elen);
  json_error_t jerr;
  json_t *j = json_loadb(env, elen, 0, &jerr);
  free(env);
  if (!j) {
    free(items);
    return NULL;
  }
  free(call->page_items);
  call->page_body = body;
  call->page_items = items;
  call->npage_items = n;
  return j;
}

/*
 * Turn an HTTP response into a result. *parsed receives the parsed body (owned by the caller,
 * NULL when none). Statuses: reason, message, retryAfterSeconds.
 */
static void build_result(struct kube_call *call, const struct http_response *resp,
                         struct kube_result *res, json_t **parsed) {
  struct kube_client *c = call->c;
  result_init(res);
  *parsed = NULL;
  res->status = resp->status;
  res->retry_after_ms = resp->retry_after_ms;
  if (resp->err != ENG_OK) {
    res->err = resp->err == ENG_CANCELED ? ENG_UNAVAILABLE : resp->err;
    if (resp->err == ENG_TOOLARGE)
      res->err = ENG_TOOLARGE;
    res->message = resp->errmsg;
    char h[256];
    eng_error_set(&res->error, res->err, "%s: cannot reach the API server %s: %s%s", call->what,
                  c->cfg.server, resp->errmsg, hint(c, res->err, h, sizeof(h)));
    return;
  }
  if (resp->body_len > 0 && call->kind == CALL_LIST && call->on_page && resp->status >= 200 &&
      resp->status < 300)
    *parsed = list_envelope(call, resp->body, resp->body_len);
  if (resp->body_len > 0 && !*parsed) {
    json_error_t jerr;
    *parsed = json_loadb(resp->body, resp->body_len, 0, &jerr);
  }
  json_t *b = *parsed;
  if (b && json_is_object(b) &&
      !strcmp(or_(json_string_value(json_object_get(b, "kind")), ""), "Status")) {
    res->reason = or_(json_string_value(json_object_get(b, "reason")), "");
    res->message = or_(json_string_value(json_object_get(b, "message")), "");
    json_int_t ra = jsonx_int(b, "details.retryAfterSeconds", -1);
    if (ra >= 0 && res->retry_after_ms < 0)
      res->retry_after_ms = retry_wait_ms(ra);
  }
  res->body = b;
  res->err = kube_map_status(resp->status, res->reason);
  if (res->err == ENG_OK) {
    if (!b && resp->body_len > 0) {
      res->err = ENG_PROTOCOL;
      eng_error_set(&res->error, ENG_PROTOCOL,
                    "%s: the API server answered %ld with a body that is not JSON", call->what,
                    resp->status);
    }
    return;
  }
  const char *st = status_text(resp->status);
  char stbuf[32];
  if (!st) {
    snprintf(stbuf, sizeof(stbuf), "HTTP %ld", resp->status);
    st = stbuf;
  }
  char text[512] = "";
  if (!*res->message && resp->body_len > 0 && !b) {
    /* Plain-text error bodies (proxies, load balancers): show the start. */
    size_t k = 0;
    for (size_t i = 0; i < resp->body_len && k < sizeof(text) - 1 && k < 200; i++)
      text[k++] = (resp->body[i] >= 32 && resp->body[i] < 127) ? resp->body[i] : ' ';
    text[k] = '\0';
    res->message = text;
  }
  char h[256];
  eng_error_set(&res->error, res->err, "%s: %s%s%s%s%s%s", call->what, st, *res->reason ? " (" : "",
                res->reason, *res->reason ? ")" : "", *res->message ? ": " : "", res->message);
  const char *hn = hint(c, res->err, h, sizeof(h));
  size_t ml = strlen(res->error.msg);
  if (*hn && ml < sizeof(res->error.msg) - 1)
    snprintf(res->error.msg + ml, sizeof(res->error.msg) - ml, "%s", hn);
  if (res->message == text)
    res->message = ""; /* text lives on this stack frame only */
}

static void http_done_cb(void *ud, const struct http_response *resp);
static int http_chunk_cb(void *ud, const char *data, size_t len, long status);

static void send_now(struct kube_call *call);
static void after(struct kube_call *call, enum timer_action action, long ms);

/*
 * Send the call's current request within the client's rate limit. Like client-go's limiter
 * this reserves: a request without a token takes one ahead (the balance goes negative) and
 * waits until it is due, so waiting requests go out in order at qps. Failures to start are
 * delivered asynchronously.
 */
static void send_request(struct kube_call *call) {
  struct kube_client *c = call->c;
  if (c->qps <= 0) {
    send_now(call);
    return;
  }
  int64_t now = clock_mono_ms();
  if (now > c->tokens_ms) {
    c->tokens += (double)(now - c->tokens_ms) * c->qps / 1000.0;
    if (c->tokens > c->burst)
      c->tokens = c->burst;
    c->tokens_ms = now;
  }
  c->tokens -= 1.0;
  if (c->tokens >= 0) {
    send_now(call);
    return;
  }
  c->throttled++;
  long wait = (long)(-c->tokens * 1000.0 / c->qps + 0.999);
  after(call, TIMER_SEND_NOW, wait > 0 ? wait : 1);
}

/* Put the request on the wire, or in the wait list while max_inflight requests are out. */
static void send_now(struct kube_call *call) {
  struct kube_client *c = call->c;
  if (call->kind != CALL_WATCH && c->max_inflight && c->nhttp >= c->max_inflight) {
    c->slot_waits++;
    call->queued = true;
    if (c->wait_tail)
      c->wait_tail->wnext = call;
    else
      c->wait_head = call;
    c->wait_tail = call;
    return;
  }
  send_wire(call);
}

static void send_wire(struct kube_call *call) {
  struct kube_client *c = call->c;
  const char *token = client_token(c, false);
  char *auth = token ? xasprintf("Authorization: Bearer %s", token) : NULL;
  char *ctype = call->body ? xasprintf("Content-Type: %s",
                                       call->content_type ? call->content_type : "application/json")
                           : NULL;
  const char *headers[4];
  size_t nh = 0;
  headers[nh++] = "Accept: application/json";
  if (auth)
    headers[nh++] = auth;
  if (ctype)
    headers[nh++] = ctype;
  headers[nh] = NULL;
  char *url = call->query && *call->query
                  ? xasprintf("%s%s?%s", c->cfg.server, call->path, call->query)
                  : xasprintf("%s%s", c->cfg.server, call->path);
  struct http_request r = {
      .method = call->method,
      .url = url,
      .headers = headers,
      .body = call->body,
      .body_len = call->body_len,
      .tls = &c->tls,
      .on_done = http_done_cb,
      .ud = call,
  };
  if (call->kind == CALL_WATCH) {
    r.on_chunk = http_chunk_cb;
    r.timeout_ms = call->watch_timeout_ms;
  } else {
    r.timeout_ms = c->timeout_ms;
  }
  call->attempts++;
  call->http = http_submit(c->http, &r);
  xfree_secret(auth);
  free(ctype);
  free(url);
  if (!call->http) {
    fail_later(call, ENG_INTERNAL, "the HTTP client refused the request to %s", c->cfg.server);
  } else if (call->kind != CALL_WATCH) {
    call->has_slot = true;
    c->nhttp++;
  }
}

/* ---- list --------------------------------------------------------------------------------- */

static void list_send_page(struct kube_call *call, const char *cont) {
  struct buf q;
  buf_init(&q, BUF_MAX_SMALL);
  const char *base = cont ? call->list_sel_query : call->list_base_query;
  bool ok = buf_appends(&q, base ? base : "") == ENG_OK;
  if (call->limit > 0)
    ok = ok && buf_printf(&q, "%slimit=%ld", q.len ? "&" : "", call->limit) == ENG_OK;
  if (cont) {
    char *e = http_escape(cont);
    ok = ok && buf_printf(&q, "%scontinue=%s", q.len ? "&" : "", e) == ENG_OK;
    free(e);
  }
  if (!ok)
    abort();
  char *query = buf_take(&q, NULL);
  set_request(call, "GET", xstrdup(call->path), query ? query : xstrdup(""), NULL, NULL);
  send_request(call);
}

/* Give items to on_page. False when the callback canceled the call (it is freed then). */
static bool hand_over(struct kube_call *call, const json_t *items) {
  call->in_feed = true;
  call->on_page(call->page_ud, items, call->page_first);
  call->in_feed = false;
  call->page_first = false;
  if (call->canceled) {
    call_free(call); /* kube_cancel() ran inside on_page */
    return false;
  }
  return true;
}

/* A page arrived (2xx): collect items, ask for the next page or finish. */
static void list_page(struct kube_call *call, struct kube_result *res) {
  json_t *b = res->body;
  json_t *items = json_object_get(b, "items");
  if (!json_is_object(b) || (items && !json_is_array(items) && !json_is_null(items))) {
    json_decref(b);
    complete_error(call, ENG_PROTOCOL,
                   "the API server answered a list with something that is not a list");
    return;
  }
  if (!call->items)
    call->items = json_array();
  if (call->on_page && call->page_items) {
    /* One item at a time, each parsed from the page's text and dropped after its turn. */
    struct jspan *spans = call->page_items;
    size_t n = call->npage_items;
    call->page_items = NULL;
    bool bad = false, gone = false;
    for (size_t i = 0; i < n && !bad && !gone; i++) {
      json_error_t jerr;
      json_t *one = json_loadb(call->page_body + spans[i].off, spans[i].len, 0, &jerr);
      if (!one) {
        bad = true;
        break;
      }
      json_t *arr = json_array();
      json_array_append_new(arr, one);
      gone = !hand_over(call, arr);
      json_decref(arr);
    }
    if (!gone && !bad && n == 0 && call->page_first) {
      json_t *none = json_array();
      gone = !hand_over(call, none); /* an empty first page still starts the list */
      json_decref(none);
    }
    free(spans);
    if (gone) {
      json_decref(b);
      return;
    }
    if (bad) {
      json_decref(b);
      complete_error(call, ENG_PROTOCOL,
                     "the API server answered a list with an item that is not JSON");
      return;
    }
  } else if (call->on_page) {
    json_t *none = json_is_array(items) ? NULL : json_array();
    bool gone = !hand_over(call, none ? none : items);
    json_decref(none);
    if (gone) {
      json_decref(b);
      return;
    }
  } else if (json_is_array(items)) {
    json_array_extend(call->items, items);
  }
  if (!call->list_kind) {
    call->list_kind = xstrdup(or_(json_string_value(json_object_get(b, "kind")), "List"));
    call->list_api_version =
        xstrdup(or_(json_string_value(json_object_get(b, "apiVersion")), "v1"));
  }
  const char *cont = jsonx_str(b, "metadata.continue");
  if (cont && *cont) {
    char *ct = xstrdup(cont);
    json_decref(b);
    list_send_page(call, ct);
    free(ct);
    return;
  }
  json_t *out = json_pack("{s:s, s:s, s:{s:s}, s:O}", "apiVersion", call->list_api_version, "kind",
                          call->list_kind, "metadata", "resourceVersion",
                          or_(jsonx_str(b, "metadata.resourceVersion"), ""), "items", call->items);
  json_decref(b);
  struct kube_result r;
  result_init(&r);
  r.status = res->status;
  r.body = out;
  complete(call, &r);
  json_decref(out);
}

/* ---- watch -------------------------------------------------------------------------------- */

static int watch_value(void *ud, json_t *v) {
  struct kube_call *call = ud;
  const char *type = json_string_value(json_object_get(v, "type"));
  json_t *obj = json_object_get(v, "object");
  if (!type || !json_is_object(obj)) {
    call->watch_err = ENG_PROTOCOL;
    free(call->watch_msg);
    call->watch_msg = xstrdup("the watch stream carries an event without type or object");
    return 1;
  }
  struct kube_watch_event ev = {.object = obj};
  if (!strcmp(type, "ADDED"))
    ev.type = KUBE_EVENT_ADDED;
  else if (!strcmp(type, "MODIFIED"))
    ev.type = KUBE_EVENT_MODIFIED;
  else if (!strcmp(type, "DELETED"))
    ev.type = KUBE_EVENT_DELETED;
  else if (!strcmp(type, "BOOKMARK"))
    ev.type = KUBE_EVENT_BOOKMARK;
  else if (!strcmp(type, "ERROR")) {
    call->watch_status = json_incref(obj);
    return 1;
  } else {
    call->watch_err = ENG_PROTOCOL;
    free(call->watch_msg);
    call->watch_msg =
        xasprintf("the watch stream carries an event of unknown type \"%.40s\"", type);
    return 1;
  }
  ev.resource_version = or_(jsonx_str(obj, "metadata.resourceVersion"), "");
  call->watch_events++;
  if (call->on_event && call->on_event(call->ud, &ev)) {
    call->watch_err = ENG_CANCELED;
    free(call->watch_msg);
    call->watch_msg = xstrdup("stopped by the receiver");
    return 1;
  }
  return call->canceled ? 1 : 0;
}

static int http_chunk_cb(void *ud, const char *data, size_t len, long status) {
  (void)status;
  struct kube_call *call = ud;
  struct eng_error err;
  eng_error_clear(&err);
  call->in_feed = true;
  enum eng_err rc = kube_watchdec_feed(&call->dec, data, len, watch_value, call, &err);
  call->in_feed = false;
  if (call->canceled) {
    call_free(call); /* kube_cancel() ran inside on_event; http_cancel was called */
    return 1;
  }
  if (rc != ENG_OK) {
    if (!call->watch_status && call->watch_err == ENG_OK) {
      call->watch_err = rc;
      free(call->watch_msg);
      call->watch_msg = xstrdup(err.msg);
    }
    return 1;
  }
  return 0;
}

static void watch_finish(struct kube_call *call, const struct http_response *resp) {
  struct kube_result res;
  json_t *parsed = NULL;
  if (call->watch_status) {
    /* An ERROR event in a 200 stream: report it like an HTTP error. */
    result_init(&res);
    json_t *st = call->watch_status;
    res.status = resp->status;
    res.body = st;
    res.reason = or_(json_string_value(json_object_get(st, "reason")), "");
    res.message = or_(json_string_value(json_object_get(st, "message")), "");
    long code = (long)jsonx_int(st, "code", 500);
    res.err = kube_map_status(code, res.reason);
    if (res.err == ENG_OK)
      res.err = ENG_PROTOCOL;
    if (!strcmp(res.reason, "Expired") || !strcmp(res.reason, "Gone"))
      res.err = ENG_GONE;
    json_int_t ra = jsonx_int(st, "details.retryAfterSeconds", -1);
    res.retry_after_ms = ra >= 0 ? retry_wait_ms(ra) : -1;
    eng_error_set(&res.error, res.err,
                  "%s: the API server ended the watch with an error (%ld %s): %s", call->what, code,
                  res.reason, res.message);
    complete(call, &res);
    return;
  }
  if (call->watch_err != ENG_OK) {
    result_init(&res);
    res.status = resp->status;
    res.err = call->watch_err;
    res.message = call->watch_msg ? call->watch_msg : "";
    eng_error_set(&res.error, res.err, "%s: %s", call->what, res.message);
    complete(call, &res);
    return;
  }
  build_result(call, resp, &res, &parsed);
  if (res.err == ENG_OK && kube_watchdec_pending(&call->dec) > 0) {
    res.err = ENG_UNAVAILABLE;
    eng_error_set(&res.error, res.err, "%s: the watch stream ended in the middle of an event",
                  call->what);
  }
  complete(call, &res);
  json_decref(parsed);
}

/* ---- conflict retry ----------------------------------------------------------------------- */

static void retry_get(struct kube_call *call) {
  call->step = STEP_GET;
  set_request(call, "GET", kube_resource_path(call->res, call->ns, call->name, NULL), NULL, NULL,
              NULL);
  send_request(call);
}

/* Mutate a private copy of call->current and PUT it, or finish. */
static void retry_mutate_and_put(struct kube_call *call) {
  json_t *obj = json_deep_copy(call->current);
  struct eng_error merr;
  eng_error_clear(&merr);
  enum kube_mutate m = call->mutate(call->mutate_ud, obj, &merr);
  if (m == KUBE_MUTATE_SKIP) {
    struct kube_result res;
    result_init(&res);
    res.status = 200;
    res.body = obj;
    complete(call, &res);
    json_decref(obj);
    return;
  }
  if (m != KUBE_MUTATE_WRITE) {
    json_decref(obj);
    struct kube_result res;
    result_init(&res);
    res.err = merr.code != ENG_OK ? merr.code : ENG_INVALID;
    res.message = merr.msg;
    eng_error_set(&res.error, res.err, "%s: %s", call->what,
                  merr.msg[0] ? merr.msg : "the change was refused");
    complete(call, &res);
    return;
  }
  call->step = STEP_PUT;
  call->puts++;
  set_request(
      call, "PUT",
      kube_resource_path(call->res, call->ns, call->name, call->status_sub ? "status" : NULL), NULL,
      NULL, obj);
  json_decref(obj);
  send_request(call);
}

static void retry_response(struct kube_call *call, struct kube_result *res, json_t *parsed) {
  if (call->step == STEP_GET) {
    if (res->err != ENG_OK) {
      complete(call, res);
      return;
    }
    json_decref(call->current);
    call->current = json_incref(parsed);
    retry_mutate_and_put(call);
    return;
  }
  if (res->err == ENG_CONFLICT && call->puts < call->max_puts) {
    log_debug("conflict on update, retrying with the latest object", "what", call->what, NULL);
    after(call, TIMER_SEND, KUBE_CONFLICT_DELAY_MS);
    call->step = STEP_GET;
    set_request(call, "GET", kube_resource_path(call->res, call->ns, call->name, NULL), NULL, NULL,
                NULL);
    return;
  }
  complete(call, res);
}

/* ---- response dispatch -------------------------------------------------------------------- */

static void http_done_cb(void *ud, const struct http_response *resp) {
  struct kube_call *call = ud;
  struct kube_client *c = call->c;
  call->http = NULL;
  release_slot(call);
  if (call->kind == CALL_WATCH && (call->watch_status || call->watch_err != ENG_OK)) {
    watch_finish(call, resp);
    return;
  }
  /* A rotated token: read the file again and retry once. */
  if (resp->err == ENG_OK && resp->status == 401 && c->cfg.token_file && !call->auth_retried) {
    const char *before = c->token ? xstrdup(c->token) : NULL;
    client_token(c, true);
    bool changed = !before || !c->token || strcmp(before, c->token) != 0;
    xfree_secret((char *)before);
    if (changed) {
      call->auth_retried = true;
      send_request(call);
      return;
    }
  }
  /* 429, or 5xx with Retry-After: wait as told, like client-go's checkWait. */
  if (resp->err == ENG_OK &&
      (resp->status == 429 || (resp->status >= 500 && resp->retry_after_ms >= 0)) &&
      call->retries < c->max_retries) {
    long wait = resp->retry_after_ms;
    if (wait < 0) {
      json_error_t jerr;
      json_t *b = json_loadb(resp->body, resp->body_len, 0, &jerr);
      json_int_t ra = b ? jsonx_int(b, "details.retryAfterSeconds", -1) : -1;
      json_decref(b);
      wait = ra >= 0 ? retry_wait_ms(ra) : 1000;
    }
    call->retries++;
    log_debug("the API server asks to retry later", "what", call->what, NULL);
    after(call, TIMER_SEND, wait);
    return;
  }
  if (call->kind == CALL_WATCH) {
    watch_finish(call, resp);
    return;
  }
  struct kube_result res;
  json_t *parsed = NULL;
  build_result(call, resp, &res, &parsed);
  switch (call->kind) {
  case CALL_LIST:
    if (res.err == ENG_GONE && call->items && !call->list_restarted) {
      /* The continue token expired: list again from the start, most recent (client-go pager). */
      call->list_restarted = true;
      json_decref(call->items);
      call->items = NULL;
      call->page_first = true;
      free(call->list_base_query);
      call->list_base_query = xstrdup(call->list_sel_query ? call->list_sel_query : "");
      json_decref(parsed);
      list_send_page(call, NULL);
      return;
    }
    if (res.err == ENG_OK) {
      list_page(call, &res); /* takes parsed (res.body) */
      return;
    }
    complete(call, &res);
    break;
  case CALL_UPDATE_RETRY:
    retry_response(call, &res, parsed);
    break;
  default:
    complete(call, &res);
    break;
  }
  json_decref(parsed);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct kube_call *call = w->data;
  enum timer_action a = call->action;
  call->action = TIMER_NONE;
  switch (a) {
  case TIMER_SEND:
    send_request(call);
    break;
  case TIMER_SEND_NOW:
    send_now(call);
    break;
  case TIMER_FAIL:
    complete_error(call, call->fail_code, call->fail_msg ? call->fail_msg : "failed");
    break;
  case TIMER_MUTATE:
    retry_mutate_and_put(call);
    break;
  default:
    break;
  }
}

/* ---- public calls ------------------------------------------------------------------------- */

static char *what_of(const char *verb, const struct kube_resource *r, const char *ns,
                     const char *name) {
  char rn[192];
  kube_resource_name(r, rn);
  if (name && *name) {
    if (r->namespaced && ns && *ns)
      return xasprintf("%s %s %s/%s", verb, rn, ns, name);
    return xasprintf("%s %s %s", verb, rn, name);
  }
  if (r->namespaced && ns && *ns)
    return xasprintf("%s %s in namespace %s", verb, rn, ns);
  return xasprintf("%s %s", verb, rn);
}

struct kube_call *kube_request(struct kube_client *c, const struct kube_request *req,
                               kube_done_fn done, void *ud) {
  struct kube_call *call = call_new(c, CALL_SIMPLE, done, ud);
  const char *method = req->method ? req->method : "GET";
  call->what =
      req->what ? xstrdup(req->what) : xasprintf("%s %s", method, req->path ? req->path : "");
  set_request(call, method, xstrdup(req->path ? req->path : "/"),
              req->query ? xstrdup(req->query) : NULL, req->content_type, req->body);
  if (!req->path || req->path[0] != '/') {
    fail_later(call, ENG_INVALID, "the request path must start with '/'");
    return call;
  }
  send_request(call);
  return call;
}

/* Common start of single-object calls: name checks. */
static struct kube_call *object_call_q(struct kube_client *c, const char *verb,
                                       const struct kube_resource *r, const char *ns,
                                       const char *name, const char *method, const char *sub,
                                       char *query, const char *ctype, const json_t *body,
                                       kube_done_fn done, void *ud);

static struct kube_call *object_call(struct kube_client *c, const char *verb,
                                     const struct kube_resource *r, const char *ns,
                                     const char *name, const char *method, const char *sub,
                                     const char *ctype, const json_t *body, kube_done_fn done,
                                     void *ud) {
  return object_call_q(c, verb, r, ns, name, method, sub, NULL, ctype, body, done, ud);
}

/* object_call() with a query string (already escaped; owned by the call afterwards). */
static struct kube_call *object_call_q(struct kube_client *c, const char *verb,
                                       const struct kube_resource *r, const char *ns,
                                       const char *name, const char *method, const char *sub,
                                       char *query, const char *ctype, const json_t *body,
                                       kube_done_fn done, void *ud) {
  struct kube_call *call = call_new(c, CALL_SIMPLE, done, ud);
  call->what = what_of(verb, r, ns, name);
  bool need_name = strcmp(method, "POST") != 0;
  set_request(call, method, kube_resource_path(r, ns, need_name ? name : NULL, sub), query, ctype,
              body);
  if (need_name && (!name || !*name)) {
    fail_later(call, ENG_INVALID, "no object name given");
    return call;
  }
  if (r->namespaced && (!ns || !*ns)) {
    fail_later(call, ENG_INVALID, "%s is namespaced but no namespace was given", r->kind);
    return call;
  }
  send_request(call);
  return call;
}

struct kube_call *kube_get(struct kube_client *c, const struct kube_resource *r, const char *ns,
                           const char *name, kube_done_fn done, void *ud) {
  return object_call(c, "get", r, ns, name, "GET", NULL, NULL, NULL, done, ud);
}

static void add_param(struct buf *q, const char *k, const char *v) {
  if (!v || !*v)
    return;
  char *e = http_escape(v);
  if (buf_printf(q, "%s%s=%s", q->len ? "&" : "", k, e))
    abort();
  free(e);
}

struct kube_call *kube_list(struct kube_client *c, const struct kube_resource *r, const char *ns,
                            const struct kube_list_opts *opts, kube_done_fn done, void *ud) {
  struct kube_list_opts o = {0};
  if (opts)
    o = *opts;
  struct kube_call *call = call_new(c, CALL_LIST, done, ud);
  call->what = what_of("list", r, ns, NULL);
  call->path = kube_resource_path(r, ns, NULL, NULL);
  struct buf q;
  buf_init(&q, BUF_MAX_SMALL);
  add_param(&q, "labelSelector", o.label_selector);
  add_param(&q, "fieldSelector", o.field_selector);
  call->list_sel_query = xstrdup(q.data ? q.data : "");
  add_param(&q, "resourceVersion", o.resource_version);
  add_param(&q, "resourceVersionMatch", o.resource_version_match);
  call->list_base_query = xstrdup(q.data ? q.data : "");
  buf_release(&q);
  call->limit = o.limit == 0 ? KUBE_DEFAULT_PAGE : o.limit;
  call->on_page = o.on_page;
  call->page_ud = o.page_ud;
  call->page_first = true;
  list_send_page(call, NULL);
  return call;
}

const char *kube_event_type_name(enum kube_event_type t) {
  static const char *const names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
  return (unsigned)t < ARRAY_SIZE(names) ? names[t] : "UNKNOWN";
}

struct kube_call *kube_watch(struct kube_client *c, const struct kube_resource *r, const char *ns,
                             const struct kube_watch_opts *opts, kube_watch_fn on_event,
                             kube_done_fn done, void *ud) {
  struct kube_watch_opts o = {0};
  if (opts)
    o = *opts;
  struct kube_call *call = call_new(c, CALL_WATCH, done, ud);
  call->what = what_of("watch", r, ns, NULL);
  call->on_event = on_event;
  kube_watchdec_init(&call->dec, o.max_event_bytes);
  struct buf q;
  buf_init(&q, BUF_MAX_SMALL);
  if (buf_appends(&q, "watch=1"))
    abort();
  add_param(&q, "labelSelector", o.label_selector);
  add_param(&q, "fieldSelector", o.field_selector);
  add_param(&q, "resourceVersion", o.resource_version);
  if (o.allow_bookmarks)
    add_param(&q, "allowWatchBookmarks", "true");
  if (o.timeout_seconds > 0 && buf_printf(&q, "&timeoutSeconds=%ld", o.timeout_seconds))
    abort();
  set_request(call, "GET", kube_resource_path(r, ns, NULL, NULL), buf_take(&q, NULL), NULL, NULL);
  /* The client-side limit: the server's timeout plus a margin, so a silent dead connection
   * ends too. */
  call->watch_timeout_ms = o.timeout_seconds > 0 ? (o.timeout_seconds + 30) * 1000 : 0;
  send_request(call);
  return call;
}

struct kube_call *kube_create(struct kube_client *c, const struct kube_resource *r, const char *ns,
                              const json_t *obj, kube_done_fn done, void *ud) {
  const char *name = jsonx_str(obj, "metadata.name");
  struct kube_call *call =
      object_call(c, "create", r, ns, name ? name : "", "POST", NULL, NULL, obj, done, ud);
  if (!json_is_object(obj))
    fail_later(call, ENG_INVALID, "the object to create is not a JSON object");
  return call;
}

struct kube_call *kube_update(struct kube_client *c, const struct kube_resource *r, const char *ns,
                              const char *name, const json_t *obj, kube_done_fn done, void *ud) {
  if (!name)
    name = jsonx_str(obj, "metadata.name");
  return object_call(c, "update", r, ns, name, "PUT", NULL, NULL, obj, done, ud);
}

struct kube_call *kube_update_status(struct kube_client *c, const struct kube_resource *r,
                                     const char *ns, const char *name, const json_t *obj,
                                     kube_done_fn done, void *ud) {
  if (!name)
    name = jsonx_str(obj, "metadata.name");
  return object_call(c, "update the status of", r, ns, name, "PUT", "status", NULL, obj, done, ud);
}

struct kube_call *kube_patch(struct kube_client *c, const struct kube_resource *r, const char *ns,
                             const char *name, enum kube_patch_type type, const json_t *patch,
                             kube_done_fn done, void *ud) {
  bool status = type == KUBE_PATCH_STATUS_MERGE || type == KUBE_PATCH_STATUS_JSON;
  bool json = type == KUBE_PATCH_JSON || type == KUBE_PATCH_STATUS_JSON;
  struct kube_call *call = object_call(
      c, status ? "patch the status of" : "patch", r, ns, name, "PATCH", status ? "status" : NULL,
      json ? "application/json-patch+json" : "application/merge-patch+json", patch, done, ud);
  if (json && !json_is_array(patch))
    fail_later(call, ENG_INVALID, "a JSON patch must be an array of operations");
  else if (!json && !json_is_object(patch))
    fail_later(call, ENG_INVALID, "a merge patch must be a JSON object");
  return call;
}

struct kube_call *kube_apply(struct kube_client *c, const struct kube_resource *r, const char *ns,
                             const char *name, const json_t *obj, const char *field_manager,
                             bool force, kube_done_fn done, void *ud) {
  struct buf q;
  buf_init(&q, BUF_MAX_SMALL);
  add_param(&q, "fieldManager", field_manager);
  if (force)
    add_param(&q, "force", "true");
  char *query = q.len ? xstrdup(q.data) : NULL;
  buf_release(&q);
  /* JSON is YAML: the apply body is sent as JSON with the apply content type. */
  struct kube_call *call = object_call_q(c, "apply", r, ns, name, "PATCH", NULL, query,
                                         "application/apply-patch+yaml", obj, done, ud);
  if (!json_is_object(obj))
    fail_later(call, ENG_INVALID, "an applied object must be a JSON object");
  return call;
}

struct kube_call *kube_delete(struct kube_client *c, const struct kube_resource *r, const char *ns,
                              const char *name, const struct kube_delete_opts *opts,
                              kube_done_fn done, void *ud) {
  json_t *body = NULL;
  if (opts && (opts->uid || opts->resource_version || opts->propagation)) {
    body = json_pack("{s:s, s:s}", "apiVersion", "v1", "kind", "DeleteOptions");
    if (opts->uid || opts->resource_version) {
      json_t *pre = json_object();
      if (opts->uid)
        json_object_set_new(pre, "uid", json_string(opts->uid));
      if (opts->resource_version)
        json_object_set_new(pre, "resourceVersion", json_string(opts->resource_version));
      json_object_set_new(body, "preconditions", pre);
    }
    if (opts->propagation)
      json_object_set_new(body, "propagationPolicy", json_string(opts->propagation));
  }
  struct kube_call *call =
      object_call(c, "delete", r, ns, name, "DELETE", NULL, NULL, body, done, ud);
  json_decref(body);
  return call;
}

struct kube_call *kube_update_retry(struct kube_client *c, const struct kube_resource *r,
                                    const char *ns, const char *name, const json_t *cached,
                                    bool status, kube_mutate_fn mutate, void *mutate_ud,
                                    int max_attempts, kube_done_fn done, void *ud) {
  struct kube_call *call = call_new(c, CALL_UPDATE_RETRY, done, ud);
  call->what = what_of(status ? "update the status of" : "update", r, ns, name);
  call->res = r;
  call->ns = xstrdup(ns ? ns : "");
  call->name = xstrdup(name ? name : "");
  call->status_sub = status;
  call->mutate = mutate;
  call->mutate_ud = mutate_ud;
  call->max_puts = max_attempts > 0 ? max_attempts : KUBE_CONFLICT_ATTEMPTS;
  if (!name || !*name || !mutate) {
    fail_later(call, ENG_INVALID, "no object name or no mutation given");
    return call;
  }
  if (r->namespaced && (!ns || !*ns)) {
    fail_later(call, ENG_INVALID, "%s is namespaced but no namespace was given", r->kind);
    return call;
  }
  if (json_is_object(cached)) {
    call->current = json_deep_copy(cached);
    after(call, TIMER_MUTATE, 0); /* mutate runs from the loop, never inside this call */
  } else {
    retry_get(call);
  }
  return call;
}
