/*
 * metal_client_test.c - the Equinix Metal client's request pipeline against a
 * scripted in-process HTTP server (a thread): headers, pagination with a
 * never-ending server, retries and HTML error bodies, 429 pauses and the rate
 * cap, ensure after a lost or failed create, delete of a missing device,
 * cancellation, and the poller's change detection, disappearance confirmation
 * and error events.
 */
#include "engine/base/common.h"
#include "engine/base/clock.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "test/lib/metal_sync.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"

#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TOKEN   "tok-UNIT-SECRET-0123456789"
#define PROJECT "11111111-2222-4333-8444-555555555555"

/* ---- scripted server ---- */

struct sreq {
  char method[16];
  char path[1024];
  char token[128];
  char ua[128];
  char body[8192];
  int64_t at_ms;
};

struct sresp {
  int status;
  char headers[512];
  char *body; /* malloc'ed by the handler */
  bool drop;  /* close the connection without answering */
};

typedef void (*handler_fn)(const struct sreq *q, struct sresp *r);

static int srv_fd, srv_port;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static handler_fn handler;
#define MAXLOG 2048
static struct sreq reqlog[MAXLOG];
static int nreq;

static void send_all(int fd, const char *s, size_t n) {
  while (n) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    if (w <= 0)
      return;
    s += w;
    n -= (size_t)w;
  }
}

static void header_value(const char *req, const char *end, const char *name, char *out,
                         size_t outsz) {
  out[0] = 0;
  const char *h = strcasestr(req, name);
  if (!h || h > end)
    return;
  h += strlen(name);
  while (*h == ' ')
    h++;
  size_t n = strcspn(h, "\r\n");
  if (n >= outsz)
    n = outsz - 1;
  memcpy(out, h, n);
  out[n] = 0;
}

static void *serve_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  static __thread char req[65536];
  size_t len = 0;
  for (;;) {
    char *end = NULL;
    while (!(end = memmem(req, len, "\r\n\r\n", 4))) {
      ssize_t r = recv(fd, req + len, sizeof(req) - len - 1, 0);
      if (r <= 0)
        goto out;
      len += (size_t)r;
    }
    req[len] = 0;
    size_t hlen = (size_t)(end - req) + 4, clen = 0;
    char cl[32];
    header_value(req, end, "\r\nContent-Length:", cl, sizeof(cl));
    clen = strtoul(cl, NULL, 10);
    while (len < hlen + clen) {
      ssize_t r = recv(fd, req + len, sizeof(req) - len - 1, 0);
      if (r <= 0)
        goto out;
      len += (size_t)r;
    }
    struct sreq q;
    memset(&q, 0, sizeof(q));
    sscanf(req, "%15s %1023s", q.method, q.path);
    header_value(req, end, "\r\nX-Auth-Token:", q.token, sizeof(q.token));
    header_value(req, end, "\r\nUser-Agent:", q.ua, sizeof(q.ua));
    memcpy(q.body, req + hlen, clen < sizeof(q.body) - 1 ? clen : sizeof(q.body) - 1);
    q.at_ms = clock_mono_ms();
    struct sresp r = {200, "", NULL, false};
    pthread_mutex_lock(&mu);
    if (nreq < MAXLOG)
      reqlog[nreq++] = q;
    handler(&q, &r);
    pthread_mutex_unlock(&mu);
    if (r.drop) {
      free(r.body);
      goto out;
    }
    const char *b = r.body ? r.body : "";
    char head[1024];
    snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", r.status,
             strlen(b), r.headers);
    send_all(fd, head, strlen(head));
    send_all(fd, b, strlen(b));
    free(r.body);
    memmove(req, req + hlen + clen, len - hlen - clen);
    len -= hlen + clen;
  }
out:
  close(fd);
  return NULL;
}

static void *acceptor(void *arg) {
  (void)arg;
  for (;;) {
    int c = accept(srv_fd, NULL, NULL);
    if (c < 0)
      return NULL;
    pthread_t t;
    pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)c);
    pthread_detach(t);
  }
}

static void start_server(void) {
  srv_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(srv_fd, (struct sockaddr *)&a, sizeof(a)) || listen(srv_fd, 64))
    abort();
  socklen_t al = sizeof(a);
  getsockname(srv_fd, (struct sockaddr *)&a, &al);
  srv_port = ntohs(a.sin_port);
  pthread_t t;
  pthread_create(&t, NULL, acceptor, NULL);
  pthread_detach(t);
}

static void reset(handler_fn h) {
  pthread_mutex_lock(&mu);
  handler = h;
  nreq = 0;
  pthread_mutex_unlock(&mu);
}

static int count_reqs(const char *method, const char *path_part) {
  int n = 0;
  pthread_mutex_lock(&mu);
  for (int i = 0; i < nreq; i++)
    if ((!method || !strcmp(reqlog[i].method, method)) && strstr(reqlog[i].path, path_part))
      n++;
  pthread_mutex_unlock(&mu);
  return n;
}

/* ---- client helpers ---- */

static struct ev_loop *loop;

static struct metal_client *client(unsigned per_page, unsigned max_pages) {
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/metal/v1/", srv_port);
  struct metal_client_opts o = {
      .base_url = url,
      .token = "  " TOKEN "\n",
      .project_id = PROJECT,
      .rate = 1000,
      .burst = 1000,
      .per_page = per_page,
      .max_pages = max_pages,
      .retry_base_ms = 10,
      .retry_max_ms = 20,
      .settle_ms = 10,
      .timeout_ms = 5000,
  };
  struct eng_error err;
  struct metal_client *c = metal_client_new(loop, &o, &err);
  if (!c)
    printf("# %s\n", err.msg);
  return c;
}

static char *device_json(const char *id, const char *state, const char *tags) {
  return xasprintf("{\"id\":\"%s\",\"hostname\":\"host-%s\",\"state\":\"%s\",\"tags\":[%s],"
                   "\"created_at\":\"2026-01-01T00:00:00Z\",\"metro\":{\"code\":\"ny\"}}",
                   id, id, state, tags ? tags : "");
}

static int page_of(const char *path) {
  const char *p = strstr(path, "page=");
  while (p && p > path && p[-1] == '_') /* skip per_page= */
    p = strstr(p + 1, "page=");
  return p ? (int)strtol(p + 5, NULL, 10) : 1;
}

static int per_page_of(const char *path) {
  const char *p = strstr(path, "per_page=");
  return p ? (int)strtol(p + 9, NULL, 10) : 10;
}

/* ---- handlers ---- */

static void h_get_device(const struct sreq *q, struct sresp *r) {
  if (strstr(q->path, "/metal/v1/devices/d1?include=ip_addresses.parent_block")) {
    r->body = device_json("d1", "active", "\"a\"");
    return;
  }
  r->status = 404;
  r->body = xstrdup("{\"errors\":[\"Not found\"]}");
}

static void test_headers_and_get(void) {
  reset(h_get_device);
  struct metal_client *c = client(0, 0);
  ASSERT(c);
  struct metal_device *d = NULL;
  struct eng_error err;
  ASSERT_OK(metal_device_get_sync(c, "d1", &d, &err));
  ASSERT_STR_EQ("d1", d->id);
  ASSERT_STR_EQ("active", d->state);
  metal_device_free(d);
  pthread_mutex_lock(&mu);
  struct sreq q = reqlog[0];
  pthread_mutex_unlock(&mu);
  ASSERT_STR_EQ(TOKEN, q.token); /* trimmed */
  ASSERT_STR_EQ(METAL_USER_AGENT, q.ua);
  ASSERT_EQ(ENG_NOTFOUND, metal_device_get_sync(c, "nope", &d, &err));
  ASSERT(d == NULL);
  ASSERT_CONTAINS(err.msg, "reading device nope failed: it does not exist (HTTP 404: Not found)");
  ASSERT_EQ(ENG_INVALID, metal_device_get_sync(c, "", &d, &err));
  ASSERT_EQ(2, metal_client_requests(c));
  metal_client_free(c);
}

static void test_client_new_errors(void) {
  struct eng_error err;
  struct metal_client_opts o = {.token = " \n", .project_id = PROJECT};
  ASSERT(metal_client_new(loop, &o, &err) == NULL);
  ASSERT_EQ(ENG_CONFIG, err.code);
  ASSERT_CONTAINS(err.msg, "apiToken");
  o.token = TOKEN;
  o.project_id = "";
  ASSERT(metal_client_new(loop, &o, &err) == NULL);
  ASSERT_CONTAINS(err.msg, "projectID");
  o.project_id = PROJECT;
  o.base_url = "ftp://x";
  ASSERT(metal_client_new(loop, &o, &err) == NULL);
  ASSERT_NOT_CONTAINS(err.msg, TOKEN);
}

static int total_devices;

static void h_pages(const struct sreq *q, struct sresp *r) {
  int page = page_of(q->path), per = per_page_of(q->path);
  int last = (total_devices + per - 1) / per;
  char *items = xstrdup("");
  for (int i = (page - 1) * per; i < page * per && i < total_devices; i++) {
    char id[16];
    snprintf(id, sizeof(id), "d%03d", i);
    char *d = device_json(id, "active", "\"kubernetes.io/cluster/shoot--a--b\"");
    char *n = xasprintf("%s%s%s", items, *items ? "," : "", d);
    free(d);
    free(items);
    items = n;
  }
  r->body =
      xasprintf("{\"devices\":[%s],\"meta\":{\"current_page\":%d,\"last_page\":%d,\"total\":%d}}",
                items, page, last, total_devices);
  free(items);
}

static void test_list_all_pages(void) {
  reset(h_pages);
  total_devices = 25;
  struct metal_client *c = client(10, 0);
  struct metal_device_list *l = NULL;
  struct eng_error err;
  ASSERT_OK(metal_device_list_sync(c, "kubernetes.io/cluster/shoot--a--b", &l, &err));
  ASSERT_EQ(25, l->n);
  ASSERT_EQ(3, l->pages);
  ASSERT_STR_EQ("d000", l->items[0].id);
  ASSERT_STR_EQ("d024", l->items[24].id);
  metal_device_list_free(l);
  ASSERT_EQ(3, count_reqs("GET", "tag=kubernetes.io%2Fcluster%2Fshoot--a--b"));
  ASSERT_EQ(1, count_reqs("GET", "page=3&per_page=10"));
  metal_client_free(c);
}

static void h_endless(const struct sreq *q, struct sresp *r) {
  int page = page_of(q->path);
  char id[16];
  snprintf(id, sizeof(id), "e%06d", page);
  char *d = device_json(id, "active", NULL);
  r->body = xasprintf("{\"devices\":[%s],\"meta\":{\"current_page\":%d,\"last_page\":99999999}}", d,
                      page);
  free(d);
}

static void test_list_never_ends(void) {
  reset(h_endless);
  struct metal_client *c = client(1, 7);
  struct metal_device_list *l = NULL;
  struct eng_error err;
  ASSERT_EQ(ENG_PROTOCOL, metal_device_list_sync(c, NULL, &l, &err));
  ASSERT(l == NULL);
  ASSERT_CONTAINS(err.msg, "listing the devices of project " PROJECT " failed");
  ASSERT_CONTAINS(err.msg, "after 7 pages");
  ASSERT_EQ(7, count_reqs("GET", "/devices"));
  metal_client_free(c);
}

static void h_html502(const struct sreq *q, struct sresp *r) {
  (void)q;
  r->status = 502;
  r->body =
      xstrdup("<html><head><title>502 Bad Gateway</title></head><body>upstream gone</body></html>");
}

static void test_retry_then_html_error(void) {
  reset(h_html502);
  struct metal_client *c = client(0, 0);
  struct metal_device *d = NULL;
  struct eng_error err;
  ASSERT_EQ(ENG_UNAVAILABLE, metal_device_get_sync(c, "d1", &d, &err));
  ASSERT_EQ(4, count_reqs("GET", "/devices/d1")); /* 1 + 3 retries */
  ASSERT_EQ(502, err.http_status);
  ASSERT_CONTAINS(err.msg, "reading device d1 failed");
  ASSERT_CONTAINS(err.msg, "HTTP 502: 502 Bad Gateway upstream gone");
  ASSERT_NOT_CONTAINS(err.msg, TOKEN);
  ASSERT(metal_retryable(&err));
  metal_client_free(c);
}

static int rl_left;

static void h_ratelimit_once(const struct sreq *q, struct sresp *r) {
  if (rl_left > 0) {
    rl_left--;
    r->status = 429;
    snprintf(r->headers, sizeof(r->headers), "Retry-After: 1\r\n");
    r->body = xstrdup("{\"errors\":[\"Too many requests\"]}");
    return;
  }
  h_get_device(q, r);
}

static void test_429_pauses_client(void) {
  reset(h_ratelimit_once);
  rl_left = 1;
  struct metal_client *c = client(0, 0);
  struct metal_device *d = NULL;
  struct eng_error err;
  ASSERT_OK(metal_device_get_sync(c, "d1", &d, &err));
  metal_device_free(d);
  pthread_mutex_lock(&mu);
  int n = nreq;
  int64_t gap = n >= 2 ? reqlog[1].at_ms - reqlog[0].at_ms : 0;
  pthread_mutex_unlock(&mu);
  ASSERT_EQ(2, n);
  ASSERT_MSG(gap >= 999, "the retry came %" PRId64 " ms after the 429 with Retry-After: 1", gap);
  metal_client_free(c);
}

static void test_429_gives_up(void) {
  reset(h_ratelimit_once);
  rl_left = 1000;
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/metal/v1", srv_port);
  struct metal_client_opts o = {
      .base_url = url, .token = TOKEN, .project_id = PROJECT, .max_ratelimit_retries = -1};
  struct eng_error err;
  struct metal_client *c = metal_client_new(loop, &o, &err);
  struct metal_device *d = NULL;
  ASSERT_EQ(ENG_RATELIMIT, metal_device_get_sync(c, "d1", &d, &err));
  ASSERT_EQ(1000, err.retry_after_ms);
  ASSERT_EQ(429, err.http_status);
  ASSERT_STR_EQ("ERR_INFRA_RATE_LIMITS_EXCEEDED", metal_gardener_code(&err));
  ASSERT_EQ(1, count_reqs("GET", "/devices/d1"));
  metal_client_free(c);
}

struct counter {
  int done;
  int ok;
};

static void count_cb(void *ud, const struct metal_result *r) {
  struct counter *k = ud;
  k->done++;
  if (r->code == ENG_OK)
    k->ok++;
}

static void test_rate_cap(void) {
  reset(h_get_device);
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/metal/v1", srv_port);
  struct metal_client_opts o = {
      .base_url = url, .token = TOKEN, .project_id = PROJECT, .rate = 40, .burst = 3};
  struct eng_error err;
  struct metal_client *c = metal_client_new(loop, &o, &err);
  struct counter k = {0, 0};
  const int n = 15;
  for (int i = 0; i < n; i++)
    metal_device_get(c, "d1", count_cb, &k);
  while (k.done < n)
    ev_run(loop, EVRUN_ONCE);
  ASSERT_EQ(n, k.ok);
  pthread_mutex_lock(&mu);
  int64_t span = reqlog[nreq - 1].at_ms - reqlog[0].at_ms;
  /* n requests at 40/s with a burst of 3: the last n-3 each waited for a 25 ms token (300 ms).
   * Arrival times lag send times by a varying latency (new connections), so allow 100 ms; a client
   * without the cap sends all 15 within a few milliseconds. */
  int64_t min_span = (int64_t)(n - 3) * 25 - 100;
  int got = nreq;
  pthread_mutex_unlock(&mu);
  ASSERT_EQ(n, got);
  ASSERT_MSG(span >= min_span, "%d requests took %" PRId64 " ms, the cap needs at least %" PRId64,
             n, span, min_span);
  metal_client_free(c);
}

/* ensure: the server creates the device and then fails or drops the answer */
static bool created;
static int
    post_mode; /* 0 = answer, 1 = 500 after creating, 2 = drop after creating, 3 = 422 capacity */

static void h_ensure(const struct sreq *q, struct sresp *r) {
  if (!strcmp(q->method, "POST")) {
    if (post_mode == 3) {
      r->status = 422;
      r->body = xstrdup("{\"errors\":[\"The metro ny has no provisionable c3.small.x86 servers "
                        "matching your criteria\"]}");
      return;
    }
    created = true;
    if (post_mode == 4) {
      r->status = 503;
      snprintf(r->headers, sizeof(r->headers), "Retry-After: 1\r\n");
      r->body = xstrdup("{\"error\":\"busy\"}");
    } else if (post_mode == 1) {
      r->status = 500;
      r->body = xstrdup("{\"error\":\"Oh snap\"}");
    } else if (post_mode == 2) {
      r->drop = true;
    } else if (post_mode == 5) {
      /* created, but the answer comes after the client gave up */
      pthread_mutex_unlock(&mu);
      usleep(1500000);
      pthread_mutex_lock(&mu);
      r->status = 201;
      r->body = device_json("new1", "queued", "\"gardener.cloud/idempotency-key=k-1\"");
    } else {
      r->status = 201;
      r->body = device_json("new1", "queued", "\"gardener.cloud/idempotency-key=k-1\"");
    }
    return;
  }
  if (strstr(q->path, "/devices?")) {
    /* a loose tag filter: also returns a device with another key, which must not be adopted */
    char *other = device_json("other", "active", "\"gardener.cloud/idempotency-key=k-10\"");
    char *mine =
        created ? device_json("new1", "queued", "\"gardener.cloud/idempotency-key=k-1\"") : NULL;
    r->body = xasprintf("{\"devices\":[%s%s%s],\"meta\":{\"current_page\":1,\"last_page\":1}}",
                        other, mine ? "," : "", mine ? mine : "");
    free(other);
    free(mine);
    return;
  }
  r->status = 404;
  r->body = xstrdup("{}");
}

static const struct metal_device_spec spec = {
    .idempotency_key = "k-1",
    .hostname = "shoot--a--b-worker-1",
    .metro = "ny",
    .plan = "c3.small.x86",
    .operating_system = "flatcar_stable",
    .userdata = "#cloud-config secret-bootstrap-token",
};

static void test_ensure_creates_once(void) {
  reset(h_ensure);
  created = false;
  post_mode = 0;
  struct metal_client *c = client(0, 0);
  struct metal_device *d = NULL;
  bool adopted = true;
  struct eng_error err;
  ASSERT_OK(metal_device_ensure_sync(c, &spec, &d, &adopted, &err));
  ASSERT(!adopted);
  ASSERT_STR_EQ("new1", d->id);
  metal_device_free(d);
  ASSERT_EQ(1, count_reqs("POST", "/devices"));
  pthread_mutex_lock(&mu);
  char body[8192];
  for (int i = 0; i < nreq; i++)
    if (!strcmp(reqlog[i].method, "POST"))
      snprintf(body, sizeof(body), "%s", reqlog[i].body);
  pthread_mutex_unlock(&mu);
  ASSERT_CONTAINS(body, "\"tags\":[\"gardener.cloud/idempotency-key=k-1\"]");
  ASSERT_CONTAINS(body, "\"billing_cycle\":\"hourly\"");
  /* again: adopted, no POST */
  ASSERT_OK(metal_device_ensure_sync(c, &spec, &d, &adopted, &err));
  ASSERT(adopted);
  ASSERT_STR_EQ("new1", d->id);
  metal_device_free(d);
  ASSERT_EQ(1, count_reqs("POST", "/devices"));
  metal_client_free(c);
}

static void ensure_after_failure(int mode) {
  reset(h_ensure);
  created = false;
  post_mode = mode;
  struct metal_client *c = client(0, 0);
  struct metal_device *d = NULL;
  bool adopted = false;
  struct eng_error err;
  ASSERT_OK(metal_device_ensure_sync(c, &spec, &d, &adopted, &err));
  ASSERT(adopted);
  ASSERT_STR_EQ("new1", d->id);
  metal_device_free(d);
  ASSERT_EQ(1, count_reqs("POST", "/devices"));
  ASSERT_EQ(2, count_reqs("GET", "tag=gardener.cloud%2Fidempotency-key%3Dk-1"));
  metal_client_free(c);
}

static void test_ensure_after_500(void) { ensure_after_failure(1); }

static void test_ensure_after_timeout(void) {
  reset(h_ensure);
  created = false;
  post_mode = 5;
  char url[128];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/metal/v1", srv_port);
  struct metal_client_opts o = {.base_url = url,
                                .token = TOKEN,
                                .project_id = PROJECT,
                                .timeout_ms = 500,
                                .settle_ms = 10,
                                .retry_base_ms = 10};
  struct eng_error err;
  struct metal_client *c = metal_client_new(loop, &o, &err);
  struct metal_device *d = NULL;
  bool adopted = false;
  ASSERT_OK(metal_device_ensure_sync(c, &spec, &d, &adopted, &err));
  ASSERT(adopted);
  ASSERT_STR_EQ("new1", d->id);
  metal_device_free(d);
  ASSERT_EQ(1, count_reqs("POST", "/devices"));
  metal_client_free(c);
}
static void test_ensure_after_lost_response(void) { ensure_after_failure(2); }

static void test_ensure_settles_after_retry_after(void) {
  /* A 503 with Retry-After on a create: the confirming lookup waits at least that long. */
  ensure_after_failure(4);
  pthread_mutex_lock(&mu);
  int64_t post_at = -1, lookup_at = -1;
  for (int i = 0; i < nreq; i++) {
    if (!strcmp(reqlog[i].method, "POST"))
      post_at = reqlog[i].at_ms;
    else if (post_at >= 0 && lookup_at < 0)
      lookup_at = reqlog[i].at_ms;
  }
  pthread_mutex_unlock(&mu);
  ASSERT(post_at >= 0 && lookup_at >= 0);
  ASSERT_MSG(lookup_at - post_at >= 999, "lookup %" PRId64 " ms after the 503",
             lookup_at - post_at);
}

static void test_ensure_definitive_failure(void) {
  reset(h_ensure);
  created = false;
  post_mode = 3;
  struct metal_client *c = client(0, 0);
  struct metal_device *d = NULL;
  struct eng_error err;
  ASSERT_EQ(ENG_DEPLETED, metal_device_ensure_sync(c, &spec, &d, NULL, &err));
  ASSERT(d == NULL);
  ASSERT_EQ(1, count_reqs("POST", "/devices"));
  ASSERT_EQ(1, count_reqs("GET", "/devices"));
  ASSERT_CONTAINS(
      err.msg,
      "creating device shoot--a--b-worker-1 in metro ny failed: no capacity for plan c3.small.x86");
  ASSERT_NOT_CONTAINS(err.msg, "secret-bootstrap-token");
  metal_client_free(c);
}

static void test_ensure_bad_spec(void) {
  reset(h_ensure);
  struct metal_client *c = client(0, 0);
  struct metal_device_spec s = spec;
  s.idempotency_key = NULL;
  struct eng_error err;
  ASSERT_EQ(ENG_INVALID, metal_device_ensure_sync(c, &s, NULL, NULL, &err));
  ASSERT_CONTAINS(err.msg, "idempotency key");
  s = spec;
  s.plan = "";
  ASSERT_EQ(ENG_INVALID, metal_device_ensure_sync(c, &s, NULL, NULL, &err));
  ASSERT_CONTAINS(err.msg, "no a plan");
  ASSERT_EQ(0, metal_client_requests(c));
  metal_client_free(c);
}

static void test_delete_404_is_gone(void) {
  reset(h_get_device);
  struct metal_client *c = client(0, 0);
  bool gone = false;
  struct eng_error err;
  ASSERT_OK(metal_device_delete_sync(c, "missing", &gone, &err));
  ASSERT(gone);
  ASSERT_EQ(1, count_reqs("DELETE", "/devices/missing"));
  metal_client_free(c);
}

static void h_slow(const struct sreq *q, struct sresp *r) {
  (void)q;
  pthread_mutex_unlock(&mu);
  usleep(300000);
  pthread_mutex_lock(&mu);
  r->body = device_json("d1", "active", NULL);
}

static void never_cb(void *ud, const struct metal_result *r) {
  (void)r;
  *(int *)ud += 1;
}

static void test_cancel_and_free(void) {
  reset(h_slow);
  struct metal_client *c = client(0, 0);
  int calls = 0;
  struct metal_op *op = metal_device_get(c, "d1", never_cb, &calls);
  metal_device_get(c, "d2", never_cb, &calls);
  metal_device_list(c, NULL, never_cb, &calls);
  ASSERT_EQ(3, metal_client_pending(c));
  metal_op_cancel(op);
  ASSERT_EQ(2, metal_client_pending(c));
  for (int i = 0; i < 5; i++)
    ev_run(loop, EVRUN_NOWAIT);
  metal_client_free(c); /* the other two are canceled: no callback, no leak */
  ev_run(loop, EVRUN_NOWAIT);
  ASSERT_EQ(0, calls);
}

/* ---- poller ---- */

struct fake_dev {
  char id[16];
  char state[24];
  bool tagged, hidden, exists;
};
static struct fake_dev devs[4];
static bool list_fails;

static char *fake_json(const struct fake_dev *d) {
  return device_json(d->id, d->state,
                     d->tagged ? "\"kubernetes.io/cluster/shoot--a--b\"" : "\"x\"");
}

static void h_poller(const struct sreq *q, struct sresp *r) {
  if (strstr(q->path, "/projects/")) {
    if (list_fails) {
      r->status = 503;
      r->body = xstrdup("{\"error\":\"maintenance\"}");
      return;
    }
    char *items = xstrdup("");
    for (size_t i = 0; i < ARRAY_SIZE(devs); i++) {
      if (!devs[i].exists || devs[i].hidden || !devs[i].tagged)
        continue;
      char *d = fake_json(&devs[i]);
      char *n = xasprintf("%s%s%s", items, *items ? "," : "", d);
      free(d);
      free(items);
      items = n;
    }
    r->body = xasprintf("{\"devices\":[%s],\"meta\":{\"current_page\":1,\"last_page\":1}}", items);
    free(items);
    return;
  }
  for (size_t i = 0; i < ARRAY_SIZE(devs); i++) {
    char want[256];
    snprintf(want, sizeof(want), "/devices/%s?", devs[i].id);
    if (devs[i].exists && strstr(q->path, want)) {
      r->body = fake_json(&devs[i]);
      return;
    }
  }
  r->status = 404;
  r->body = xstrdup("{\"errors\":[\"Not found\"]}");
}

static json_t *events;

static void sink_fn(void *ud, const struct jevent *ev) {
  (void)ud;
  json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:O}", "type", ev->type, "ns", ev->ns, "name", ev->name,
                        "uid", ev->uid, "payload", ev->payload ? ev->payload : json_null());
  json_array_append_new(events, e);
}

static void set_dev(int i, const char *id, const char *state, bool tagged) {
  pthread_mutex_lock(&mu);
  snprintf(devs[i].id, sizeof(devs[i].id), "%s", id);
  snprintf(devs[i].state, sizeof(devs[i].state), "%s", state);
  devs[i].tagged = tagged;
  devs[i].exists = true;
  devs[i].hidden = false;
  pthread_mutex_unlock(&mu);
}

static void run_polls(struct metal_poller *p, uint64_t n) {
  uint64_t target = metal_poller_polls(p) + n;
  int64_t deadline = clock_mono_ms() + 10000;
  while (metal_poller_polls(p) < target && clock_mono_ms() < deadline)
    ev_run(loop, EVRUN_ONCE);
}

static size_t count_type(const char *type, size_t from) {
  size_t n = 0;
  for (size_t i = from; i < json_array_size(events); i++)
    if (!strcmp(jsonx_str(json_array_get(events, i), "type"), type))
      n++;
  return n;
}

static void test_poller(void) {
  reset(h_poller);
  memset(devs, 0, sizeof(devs));
  list_fails = false;
  set_dev(0, "pa", "active", true);
  set_dev(1, "pb", "provisioning", true);
  set_dev(2, "px", "active", false); /* another cluster's device */
  events = json_array();
  struct metal_client *c = client(0, 0);
  struct metal_poller_opts po = {.ns = "shoot--a--b", .fast_ms = 5, .slow_ms = 20, .error_ms = 5};
  struct jevent_sink sink = {sink_fn, NULL};
  struct eng_error err;
  struct metal_poller *p = metal_poller_new(c, &po, &sink, &err);
  ASSERT(p);
  run_polls(p, 1);
  ASSERT_EQ(2, count_type("metal.device", 0));
  ASSERT_EQ(1, count_type("metal.device-set", 0));
  json_t *set = json_array_get(events, 2);
  ASSERT_STR_EQ("metal.device-set", jsonx_str(set, "type"));
  ASSERT_STR_EQ("shoot--a--b", jsonx_str(set, "ns"));
  char *sc = jsonx_canonical(json_object_get(set, "payload"));
  ASSERT_STR_EQ(
      "{\"complete\":true,\"devices\":[{\"id\":\"pa\",\"state\":\"active\"},{\"id\":\"pb\","
      "\"state\":\"provisioning\"}]}",
      sc);
  free(sc);
  ASSERT_STR_EQ("host-pa", jsonx_str(json_array_get(events, 0), "name"));
  ASSERT_STR_EQ("pa", jsonx_str(json_array_get(events, 0), "uid"));

  /* nothing changes: polls go on, nothing is emitted */
  run_polls(p, 3);
  ASSERT_EQ(3, json_array_size(events));

  /* pb fails: exactly one event over several polls */
  size_t mark = json_array_size(events);
  set_dev(1, "pb", "failed", true);
  run_polls(p, 4);
  ASSERT_EQ(1, json_array_size(events) - mark);
  ASSERT_STR_EQ("failed", jsonx_str(json_array_get(events, mark), "payload.state"));

  /* pa skipped by one listing but still there (GET finds it tagged): not gone */
  mark = json_array_size(events);
  pthread_mutex_lock(&mu);
  devs[0].hidden = true;
  pthread_mutex_unlock(&mu);
  run_polls(p, 1);
  ASSERT_EQ(0, json_array_size(events) - mark);
  ASSERT(count_reqs("GET", "/devices/pa") >= 1);
  pthread_mutex_lock(&mu);
  devs[0].hidden = false;
  pthread_mutex_unlock(&mu);

  /* pb deleted out of band: one gone event and a new set marker */
  mark = json_array_size(events);
  pthread_mutex_lock(&mu);
  devs[1].exists = false;
  pthread_mutex_unlock(&mu);
  run_polls(p, 3);
  ASSERT_EQ(1, count_type("metal.device", mark));
  ASSERT_EQ(1, count_type("metal.device-set", mark));
  json_t *g = json_array_get(events, mark);
  ASSERT_STR_EQ("gone", jsonx_str(g, "payload.state"));
  ASSERT_STR_EQ("not-found", jsonx_str(g, "payload.reason"));
  ASSERT_STR_EQ("failed", jsonx_str(g, "payload.last_state"));
  ASSERT_STR_EQ("pb", jsonx_str(g, "uid"));

  /* pa loses the cluster tag: gone as untagged */
  mark = json_array_size(events);
  set_dev(0, "pa", "active", false);
  run_polls(p, 2);
  ASSERT_EQ(1, count_type("metal.device", mark));
  ASSERT_STR_EQ("untagged", jsonx_str(json_array_get(events, mark), "payload.reason"));

  /* the listing fails: one poll-error event however long it lasts, then a fresh marker */
  set_dev(0, "pa", "active", true);
  run_polls(p, 2);
  mark = json_array_size(events);
  pthread_mutex_lock(&mu);
  list_fails = true;
  pthread_mutex_unlock(&mu);
  run_polls(p, 3);
  ASSERT_EQ(1, count_type("metal.poll-error", mark));
  ASSERT_EQ(0, count_type("metal.device", mark));
  json_t *pe = json_array_get(events, mark);
  ASSERT_STR_EQ("ENG_UNAVAILABLE", jsonx_str(pe, "payload.code"));
  ASSERT_STR_EQ("ERR_RETRYABLE_INFRA_DEPENDENCIES", jsonx_str(pe, "payload.gardener_code"));
  mark = json_array_size(events);
  pthread_mutex_lock(&mu);
  list_fails = false;
  pthread_mutex_unlock(&mu);
  run_polls(p, 2);
  ASSERT_EQ(1, count_type("metal.device-set", mark));

  /* nothing an event carries shows the token */
  char *all = jsonx_canonical(events);
  ASSERT_NOT_CONTAINS(all, TOKEN);
  free(all);
  metal_poller_free(p);
  metal_client_free(c);
  json_decref(events);
}

int main(void) {
  xalloc_init();
  log_setup(LOG_ERROR, LOG_FORMAT_TEXT, 2);
  start_server();
  loop = ev_loop_new(EVFLAG_AUTO);
  TEST(test_headers_and_get);
  TEST(test_client_new_errors);
  TEST(test_list_all_pages);
  TEST(test_list_never_ends);
  TEST(test_retry_then_html_error);
  TEST(test_429_pauses_client);
  TEST(test_429_gives_up);
  TEST(test_rate_cap);
  TEST(test_ensure_creates_once);
  TEST(test_ensure_after_500);
  TEST(test_ensure_after_lost_response);
  TEST(test_ensure_after_timeout);
  TEST(test_ensure_settles_after_retry_after);
  TEST(test_ensure_definitive_failure);
  TEST(test_ensure_bad_spec);
  TEST(test_delete_404_is_gone);
  TEST(test_cancel_and_free);
  TEST(test_poller);
  ev_loop_destroy(loop);
  log_forget_all_secrets();
  return tap_done();
}
