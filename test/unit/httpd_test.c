/*
 * httpd_test.c - the metrics and health HTTP server on a libev loop: bind
 * address parsing, /metrics, /healthz and /readyz scraped with the engine's
 * own HTTP client, and the protocol edges with raw sockets from a client
 * thread (404, 405, HEAD, keep-alive, pipelining, malformed requests, 431,
 * slow clients, the connection cap, a port in use).
 */
#include "engine/base/common.h"
#include "engine/obs/health.h"
#include "engine/net/http.h"
#include "engine/net/httpd.h"
#include "engine/net/httpreq.h"
#include "engine/base/log.h"
#include "engine/obs/metrics.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"

#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- address parsing ------------------------------------------------------------------- */

static void test_addr_parse(void) {
  struct {
    const char *in, *dflt;
    bool disabled;
    const char *host;
    int port;
  } ok[] = {
      {":8080", NULL, false, "", 8080},
      {"127.0.0.1:8080", NULL, false, "127.0.0.1", 8080},
      {"[::1]:8080", NULL, false, "::1", 8080},
      {"[::]:0", NULL, false, "::", 0},
      {"localhost:9090", NULL, false, "localhost", 9090},
      {":0", NULL, false, "", 0},
      {"127.0.0.1:", NULL, false, "127.0.0.1", 0}, /* Go: an empty port is port 0 */
      {"0", ":8080", true, "", 0},
      {"", ":8080", false, "", 8080},
      {NULL, ":8080", false, "", 8080},
      {"", NULL, true, "", 0},
      {":65535", NULL, false, "", 65535},
  };
  for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
    struct httpd_addr a;
    struct eng_error err;
    enum eng_err rc = httpd_addr_parse("--metrics-bind-address", ok[i].in, ok[i].dflt, &a, &err);
    ASSERT_MSG(rc == ENG_OK, "\"%s\": %s", ok[i].in ? ok[i].in : "(null)", err.msg);
    ASSERT_EQ(ok[i].disabled, a.disabled);
    ASSERT_STR_EQ(ok[i].host, a.host);
    ASSERT_EQ(ok[i].port, a.port);
  }
  const char *bad[] = {"8080",
                       "::1:8080",
                       "[::1]8080",
                       "[::1",
                       "[::1]",
                       ":65536",
                       ":http",
                       ":-1",
                       "ho st:80",
                       "a]:80",
                       ":99999999999999999999",
                       "x/y:80"};
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    struct httpd_addr a;
    struct eng_error err;
    ASSERT_MSG(httpd_addr_parse("--health-bind-address", bad[i], NULL, &a, &err) == ENG_USAGE,
               "\"%s\" was accepted", bad[i]);
    ASSERT_CONTAINS(err.msg, "--health-bind-address");
    ASSERT_CONTAINS(err.msg, bad[i]);
  }
  struct httpd_addr a;
  struct eng_error err;
  /* A host that fills the field exactly is refused, not cut or overrun (found by fuzzing). */
  char longhost[HTTPD_HOST_MAX + 8];
  memset(longhost, 'h', sizeof(longhost));
  memcpy(longhost + HTTPD_HOST_MAX, ":80", 4);
  ASSERT_EQ(ENG_USAGE, httpd_addr_parse("--x", longhost, NULL, &a, &err));
  ASSERT_CONTAINS(err.msg, "too long");
  memcpy(longhost + HTTPD_HOST_MAX - 1, ":80", 4);
  ASSERT_EQ(ENG_OK, httpd_addr_parse("--x", longhost, NULL, &a, &err));
  ASSERT_EQ(HTTPD_HOST_MAX - 1, strlen(a.host));
  ASSERT_EQ(ENG_USAGE, httpd_addr_parse("--x", "::1:80", NULL, &a, &err));
  ASSERT_CONTAINS(err.msg, "[::1]:8080"); /* says how to write it */
}

static void test_query(void) {
  const char *cur = "verbose&exclude=a%2Db&exclude=c+d;x=%zz&=v&&";
  char k[16], v[16];
  ASSERT(httpd_query_next(&cur, k, sizeof(k), v, sizeof(v)));
  ASSERT_STR_EQ("verbose", k);
  ASSERT_STR_EQ("", v);
  ASSERT(httpd_query_next(&cur, k, sizeof(k), v, sizeof(v)));
  ASSERT_STR_EQ("exclude", k);
  ASSERT_STR_EQ("a-b", v);
  ASSERT(httpd_query_next(&cur, k, sizeof(k), v, sizeof(v)));
  ASSERT_STR_EQ("c d", v);
  ASSERT(httpd_query_next(&cur, k, sizeof(k), v, sizeof(v)));
  ASSERT_STR_EQ("x", k);
  ASSERT_STR_EQ("", v); /* a malformed escape gives an empty value */
  ASSERT(httpd_query_next(&cur, k, sizeof(k), v, sizeof(v)));
  ASSERT_STR_EQ("", k);
  ASSERT_STR_EQ("v", v);
  ASSERT(!httpd_query_next(&cur, k, sizeof(k), v, sizeof(v)));
  ASSERT(httpd_query_has("a=1&verbose", "verbose"));
  ASSERT(!httpd_query_has("verbosex=1", "verbose"));
  ASSERT(!httpd_query_has("", "verbose"));
}

static void test_pct_decode(void) {
  char out[8];
  ASSERT(httpreq_pct_decode("a%41+b", "a%41+b" + 6, out, sizeof(out), true));
  ASSERT_STR_EQ("aA b", out);
  ASSERT(httpreq_pct_decode("abcdefghij", "abcdefghij" + 10, out, sizeof(out), false));
  ASSERT_STR_EQ("abcdefg", out); /* cut to the buffer */
  ASSERT(!httpreq_pct_decode("%4", "%4" + 2, out, sizeof(out), false));
  ASSERT(!httpreq_pct_decode("%00", "%00" + 3, out, sizeof(out), false));
}

/* ---- a server on a loop ---------------------------------------------------------------- */

struct fixture {
  struct ev_loop *loop;
  ev_timer tick; /* makes ev_run(EVRUN_ONCE) return regularly while a client thread works */
  struct httpd *srv;
  struct metrics_registry *reg;
  struct metrics_metric *counter;
  struct health *health;
  enum eng_err journal_rc;
  struct http_client *client;
};

static struct fixture fx;

static void fixture_up(void);
static void fixture_down(void);

/* A test with a fresh server: the server is stopped whatever the body's assertions do. */
#define FIXTURE_TEST(name)                                                                         \
  static void name##_body(void);                                                                   \
  static void name(void) {                                                                         \
    fixture_up();                                                                                  \
    if (fx.srv)                                                                                    \
      name##_body();                                                                               \
    else                                                                                           \
      TAP_FAIL("the test server did not start");                                                   \
    fixture_down();                                                                                \
  }                                                                                                \
  static void name##_body(void)

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)w;
  (void)revents;
}

static enum eng_err journal_check(void *ud, struct eng_error *err) {
  enum eng_err rc = *(enum eng_err *)ud;
  return rc ? eng_error_set(err, rc, "the journal is not open yet") : ENG_OK;
}

static enum eng_err failing_handler(void *ud, const struct httpd_request *req,
                                    struct httpd_response *resp) {
  (void)ud;
  (void)req;
  (void)!buf_appends(&resp->body, "partial");
  return ENG_INTERNAL;
}

static enum eng_err big_handler(void *ud, const struct httpd_request *req,
                                struct httpd_response *resp) {
  (void)ud;
  (void)req;
  char chunk[1024];
  memset(chunk, 'x', sizeof(chunk));
  for (int i = 0; i < 100; i++) {
    enum eng_err rc = buf_append(&resp->body, chunk, sizeof(chunk));
    if (rc)
      return rc;
  }
  return ENG_OK;
}

static enum eng_err echo_handler(void *ud, const struct httpd_request *req,
                                 struct httpd_response *resp) {
  (void)ud;
  resp->content_type = "text/x-echo";
  resp->status = 203;
  return buf_printf(&resp->body, "%s %s ? %s via %s", req->method, req->path, req->query,
                    req->route);
}

static struct httpd *start(const char *address, const struct httpd_options *opts) {
  struct httpd_addr a;
  struct eng_error err;
  if (httpd_addr_parse("--metrics-bind-address", address, NULL, &a, &err))
    return NULL;
  return httpd_new(fx.loop, "--metrics-bind-address", &a, opts, &err);
}

static void fixture_up(void) {
  memset(&fx, 0, sizeof(fx));
  fx.loop = ev_loop_new(0);
  ev_timer_init(&fx.tick, tick_cb, 0.01, 0.01);
  ev_timer_start(fx.loop, &fx.tick);
  struct httpd_options o = {.read_timeout = 0.3, .max_conns = 8, .max_response = 64 * 1024};
  fx.srv = start("127.0.0.1:0", &o);
  fx.reg = metrics_registry_new();
  fx.counter = metrics_counter_new(fx.reg, "test_scrapes_total", "Scrapes.",
                                   (const char *const[]){"kind", NULL}, NULL);
  fx.health = health_new();
  fx.journal_rc = ENG_UNAVAILABLE;
  (void)!health_add_check(fx.health, HEALTH_READYZ, "journal", journal_check, &fx.journal_rc, NULL);
  httpd_route(fx.srv, "/metrics", metrics_http_handler, fx.reg);
  httpd_route(fx.srv, "/fail", failing_handler, NULL);
  httpd_route(fx.srv, "/big", big_handler, NULL);
  httpd_route(fx.srv, "/echo/", echo_handler, NULL);
  httpd_route(fx.srv, "/echo/exact", echo_handler, NULL);
  health_mount(fx.health, fx.srv);
  fx.client = http_client_new(fx.loop, "httpd-test");
}

static void fixture_down(void) {
  http_client_free(fx.client);
  httpd_free(fx.srv);
  health_free(fx.health);
  metrics_registry_free(fx.reg);
  ev_timer_stop(fx.loop, &fx.tick);
  ev_loop_destroy(fx.loop);
}

struct result {
  int done;
  enum eng_err err;
  long status;
  char body[65536];
  size_t body_len;
  char ctype[128];
  char allow[64];
};

static void on_done(void *ud, const struct http_response *r) {
  struct result *res = ud;
  res->done = 1;
  res->err = r->err;
  res->status = r->status;
  res->body_len = r->body_len;
  snprintf(res->body, sizeof(res->body), "%.*s", (int)r->body_len, r->body);
  snprintf(res->ctype, sizeof(res->ctype), "%s", r->content_type);
  const char *a = http_response_header(r, "Allow");
  snprintf(res->allow, sizeof(res->allow), "%s", a ? a : "");
}

/* One request through the engine's HTTP client, on the server's loop. */
static void fetch(const char *method, const char *host, int port, const char *path,
                  struct result *res) {
  memset(res, 0, sizeof(*res));
  char *url = xasprintf("http://%s:%d%s", host, port, path);
  struct http_request r = {
      .method = method, .url = url, .timeout_ms = 10000, .on_done = on_done, .ud = res};
  if (method && !strcmp(method, "POST")) {
    r.body = "x=1";
    r.body_len = 3;
  }
  if (!http_submit(fx.client, &r)) {
    res->err = ENG_INTERNAL;
    free(url);
    return;
  }
  for (int i = 0; i < 100000 && !res->done; i++)
    ev_run(fx.loop, EVRUN_ONCE);
  free(url);
}

FIXTURE_TEST(test_metrics_endpoint) {
  int port = httpd_port(fx.srv);
  ASSERT(port > 0);
  metrics_counter_inc(fx.counter, (const char *const[]){"first"}, 1);
  struct result res;
  fetch("GET", "127.0.0.1", port, "/metrics", &res);
  ASSERT_EQ(ENG_OK, res.err);
  ASSERT_EQ(200, res.status);
  ASSERT_STR_EQ(METRICS_CONTENT_TYPE, res.ctype);
  ASSERT_CONTAINS(res.body, "# TYPE test_scrapes_total counter\n");
  ASSERT_CONTAINS(res.body, "test_scrapes_total{kind=\"first\"} 1\n");
  /* Values are read at scrape time. */
  metrics_counter_inc(fx.counter, (const char *const[]){"first"}, 41);
  fetch("GET", "127.0.0.1", port, "/metrics?x=1", &res);
  ASSERT_CONTAINS(res.body, "test_scrapes_total{kind=\"first\"} 42\n");
  /* HEAD: same status and headers, no body. */
  fetch("HEAD", "127.0.0.1", port, "/metrics", &res);
  ASSERT_EQ(ENG_OK, res.err);
  ASSERT_EQ(200, res.status);
  ASSERT_EQ(0, res.body_len);
}

FIXTURE_TEST(test_health_endpoints) {
  int port = httpd_port(fx.srv);
  struct result res;
  fetch("GET", "127.0.0.1", port, "/healthz", &res);
  ASSERT_EQ(200, res.status);
  ASSERT_STR_EQ("ok", res.body);
  ASSERT_STR_EQ("text/plain; charset=utf-8", res.ctype);
  fetch("GET", "127.0.0.1", port, "/readyz", &res);
  ASSERT_EQ(500, res.status);
  ASSERT_STR_EQ("[-]journal failed: reason withheld\nreadyz check failed\n", res.body);
  fetch("GET", "127.0.0.1", port, "/readyz/journal", &res);
  ASSERT_EQ(500, res.status);
  ASSERT_STR_EQ("internal server error: the journal is not open yet\n", res.body);
  fx.journal_rc = ENG_OK;
  fetch("GET", "127.0.0.1", port, "/readyz", &res);
  ASSERT_EQ(200, res.status);
  ASSERT_STR_EQ("ok", res.body);
  fetch("GET", "127.0.0.1", port, "/readyz/?verbose", &res);
  ASSERT_EQ(200, res.status);
  ASSERT_STR_EQ("[+]journal ok\nreadyz check passed\n", res.body);
  fetch("GET", "127.0.0.1", port, "/healthz/ping", &res);
  ASSERT_EQ(200, res.status);
  fetch("GET", "127.0.0.1", port, "/readyz/unknown", &res);
  ASSERT_EQ(404, res.status);
}

FIXTURE_TEST(test_routing_and_methods) {
  int port = httpd_port(fx.srv);
  struct result res;
  fetch("GET", "127.0.0.1", port, "/nope", &res);
  ASSERT_EQ(404, res.status);
  ASSERT_STR_EQ("404 page not found\n", res.body);
  fetch("GET", "127.0.0.1", port, "/metricsx", &res); /* exact routes do not match prefixes */
  ASSERT_EQ(404, res.status);
  fetch("POST", "127.0.0.1", port, "/metrics", &res);
  ASSERT_EQ(405, res.status);
  ASSERT_STR_EQ("GET, HEAD", res.allow);
  fetch("DELETE", "127.0.0.1", port, "/healthz", &res);
  ASSERT_EQ(405, res.status);
  /* A handler's status and content type; prefix routes; the longest route wins; decoding. */
  fetch("GET", "127.0.0.1", port, "/echo/a%20b?q=1", &res);
  ASSERT_EQ(203, res.status);
  ASSERT_STR_EQ("text/x-echo", res.ctype);
  ASSERT_STR_EQ("GET /echo/a b ? q=1 via /echo/", res.body);
  fetch("GET", "127.0.0.1", port, "/echo/exact", &res);
  ASSERT_STR_EQ("GET /echo/exact ?  via /echo/exact", res.body);
  /* A failing handler and a body over the cap become 500 without the partial body. */
  fetch("GET", "127.0.0.1", port, "/fail", &res);
  ASSERT_EQ(500, res.status);
  ASSERT_STR_EQ("internal server error\n", res.body);
  fetch("GET", "127.0.0.1", port, "/big", &res);
  ASSERT_EQ(500, res.status);
}

/* ---- raw sockets from a client thread --------------------------------------------------- */

struct raw {
  int port;
  const char *parts[4]; /* sent one after the other */
  size_t part_len[4];   /* 0 = strlen */
  double pause;         /* seconds between parts */
  bool sequential;      /* read one full response after each part before sending the next */
  int idle_conns;       /* extra connections opened first and held silent */
  char resp[65536];
  size_t len;
  atomic_int done;
};

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Read until the buffer holds one more complete response (head + Content-Length body). */
static void read_one_response(struct raw *r, int fd, size_t start) {
  for (;;) {
    r->resp[r->len] = '\0';
    char *h = strstr(r->resp + start, "\r\n\r\n");
    if (h) {
      char *cl = strstr(r->resp + start, "Content-Length: ");
      size_t need = (size_t)(h + 4 - r->resp) + (cl ? strtoul(cl + 16, NULL, 10) : 0);
      if (r->len >= need)
        return;
    }
    ssize_t n = recv(fd, r->resp + r->len, sizeof(r->resp) - 1 - r->len, 0);
    if (n <= 0)
      return;
    r->len += (size_t)n;
  }
}

static void *raw_thread(void *arg) {
  struct raw *r = arg;
  int idle[8];
  for (int i = 0; i < r->idle_conns; i++)
    idle[i] = dial(r->port);
  int fd = dial(r->port);
  if (fd >= 0) {
    for (int i = 0; i < 4 && r->parts[i]; i++) {
      size_t n = r->part_len[i] ? r->part_len[i] : strlen(r->parts[i]);
      if (send(fd, r->parts[i], n, MSG_NOSIGNAL) < 0)
        break;
      if (r->sequential)
        read_one_response(r, fd, r->len);
      if (r->pause > 0 && i < 3 && r->parts[i + 1])
        usleep((useconds_t)(r->pause * 1e6));
    }
    /* Then everything until the server closes. */
    for (;;) {
      ssize_t n = recv(fd, r->resp + r->len, sizeof(r->resp) - 1 - r->len, 0);
      if (n <= 0)
        break;
      r->len += (size_t)n;
    }
    r->resp[r->len] = '\0';
    close(fd);
  }
  for (int i = 0; i < r->idle_conns; i++)
    if (idle[i] >= 0)
      close(idle[i]);
  atomic_store(&r->done, 1);
  return NULL;
}

/* Run the client thread while the loop serves it; returns when the server closed on it. */
static void run_raw(struct raw *r) {
  pthread_t t;
  atomic_store(&r->done, 0);
  r->len = 0;
  pthread_create(&t, NULL, raw_thread, r);
  while (!atomic_load(&r->done))
    ev_run(fx.loop, EVRUN_ONCE);
  pthread_join(t, NULL);
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
    n++;
  return n;
}

/* Status lines in a stream of responses (at the start or right after a previous body). */
static int responses(const char *stream) {
  int n = strncmp(stream, "HTTP/1.1 ", 9) == 0;
  for (const char *p = stream; (p = strstr(p, "\nHTTP/1.1 ")) != NULL; p++)
    if (p[10] >= '1' && p[10] <= '5' && p[11] >= '0' && p[11] <= '9' && p[13] == ' ')
      n++; /* a status line, not a body line starting with "HTTP/1.1 " */
  return n;
}

FIXTURE_TEST(test_keepalive_and_pipelining) {
  struct raw r = {.port = httpd_port(fx.srv), .sequential = true};
  r.parts[0] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
  r.parts[1] = "GET /healthz/ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  run_raw(&r);
  ASSERT_EQ(2, count(r.resp, "HTTP/1.1 200 OK\r\n"));
  ASSERT_EQ(1, count(r.resp, "Connection: close\r\n"));
  /* Three requests in one segment, with blank lines before one: three answers in order. */
  struct raw p = {.port = httpd_port(fx.srv)};
  p.parts[0] = "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
               "\r\nHEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
               "GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  run_raw(&p);
  const char *a = strstr(p.resp, "HTTP/1.1 404 ");
  const char *b = a ? strstr(a, "HTTP/1.1 200 ") : NULL;
  const char *c = b ? strstr(b, "HTTP/1.1 500 ") : NULL;
  ASSERT_MSG(a && b && c, "responses: %s", p.resp);
  ASSERT(strstr(b, "Content-Length: 2\r\n")); /* HEAD: the length of "ok", without the body */
  ASSERT_EQ(p.resp, a);
  /* HTTP/1.0 gets one answer and the connection closes. */
  struct raw o = {.port = httpd_port(fx.srv)};
  o.parts[0] = "GET /healthz HTTP/1.0\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n";
  run_raw(&o);
  ASSERT_EQ(1, count(o.resp, "HTTP/1.1 200 OK\r\n"));
  ASSERT_CONTAINS(o.resp, "Connection: close\r\n");
}

static void expect_status(const char *request, size_t len, const char *status_line) {
  struct raw r = {.port = httpd_port(fx.srv)};
  r.parts[0] = request;
  r.part_len[0] = len;
  run_raw(&r);
  ASSERT_MSG(strncmp(r.resp, status_line, strlen(status_line)) == 0,
             "request %.40s...: expected %s, got: %.80s", request, status_line, r.resp);
  /* The server closes after an error: exactly one response arrives. */
  ASSERT_MSG(responses(r.resp) == 1, "request %.40s...: more than one response: %s", request,
             r.resp);
}

FIXTURE_TEST(test_malformed_requests) {
  static const char nul_req[] = "GET /healthz HTTP/1.1\r\nHost: t\0x\r\n\r\n";
  struct {
    const char *req;
    size_t len;
    const char *status;
  } cases[] = {
      {"GARBAGE\r\n\r\n", 0, "HTTP/1.1 400 "},
      {"GET /healthz HTTP/1.1\r\n\r\n", 0, "HTTP/1.1 400 "}, /* no Host */
      {"GET healthz HTTP/1.1\r\nHost: t\r\n\r\n", 0, "HTTP/1.1 400 "},
      {"GET  /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 0, "HTTP/1.1 400 "},
      {"GET /healthz HTTP/1.1 x\r\nHost: t\r\n\r\n", 0, "HTTP/1.1 400 "},
      {"GET /healthz HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n", 0, "HTTP/1.1 400 "},
      {"GET /healthz HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n", 0, "HTTP/1.1 400 "},
      {"GET /healthz HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n", 0, "HTTP/1.1 400 "},
      {"GET /healthz HTTP/1.1\r\nHost: t\r\nX: a\r\n folded\r\n\r\n", 0, "HTTP/1.1 400 "},
      {"GET /healthz HTTP/1.1\r\nHost: t\rx\r\n\r\n", 0, "HTTP/1.1 400 "},
      {"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 1x\r\n\r\n", 0, "HTTP/1.1 400 "},
      {"GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n", 0, "HTTP/1.1 400 "},
      {"GET /a%00b HTTP/1.1\r\nHost: t\r\n\r\n", 0, "HTTP/1.1 400 "},
      {"GET /h\x01 HTTP/1.1\r\nHost: t\r\n\r\n", 0, "HTTP/1.1 400 "},
      {nul_req, sizeof(nul_req) - 1, "HTTP/1.1 400 "},
      {"GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n", 0, "HTTP/1.1 505 "},
      {"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", 0, "HTTP/1.1 200 "},
      {"POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", 0, "HTTP/1.1 405 "},
      {"PUT /nope HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       0, "HTTP/1.1 411 "},
      /* One line-end rule for every port: a bare LF is refused (it was served here before). */
      {"GET /healthz HTTP/1.1\nHost: t\n\n", 0, "HTTP/1.1 400 "},
      {"GET /healthz HTTP/1.1\r\nHost: t\n\r\n", 0, "HTTP/1.1 400 "},
  };
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    expect_status(cases[i].req, cases[i].len, cases[i].status);
    if (tap_cur_failed)
      break;
  }
  /* Too many header lines. */
  char many[8000] = "GET /healthz HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < HTTPD_MAX_HEADERS + 1; i++)
    snprintf(many + strlen(many), sizeof(many) - strlen(many), "X-%d: y\r\n", i);
  snprintf(many + strlen(many), sizeof(many) - strlen(many), "\r\n");
  expect_status(many, 0, "HTTP/1.1 431 ");
}

FIXTURE_TEST(test_oversized_header) {
  /* A header over the cap, then more: 431 and close, even though the client keeps writing. */
  static char big[HTTPD_MAX_HEADER_BYTES + 4096];
  size_t l = (size_t)snprintf(big, sizeof(big), "GET /metrics HTTP/1.1\r\nHost: t\r\nX-Big: ");
  memset(big + l, 'a', HTTPD_MAX_HEADER_BYTES + 1000);
  memcpy(big + l + HTTPD_MAX_HEADER_BYTES + 1000, "\r\n\r\n", 5);
  struct raw r = {.port = httpd_port(fx.srv)};
  r.parts[0] = big;
  run_raw(&r);
  ASSERT_MSG(strncmp(r.resp, "HTTP/1.1 431 ", 13) == 0, "got: %.60s", r.resp);
  ASSERT_CONTAINS(r.resp, "Connection: close\r\n");
  /* Just under the cap is fine. */
  memset(big, 0, sizeof(big));
  l = (size_t)snprintf(big, sizeof(big),
                       "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Big: ");
  size_t fill = HTTPD_MAX_HEADER_BYTES - l - 4;
  memset(big + l, 'a', fill);
  memcpy(big + l + fill, "\r\n\r\n", 5);
  ASSERT_EQ(HTTPD_MAX_HEADER_BYTES, strlen(big));
  struct raw ok = {.port = httpd_port(fx.srv)};
  ok.parts[0] = big;
  run_raw(&ok);
  ASSERT_MSG(strncmp(ok.resp, "HTTP/1.1 200 ", 13) == 0, "got: %.60s", ok.resp);
}

FIXTURE_TEST(test_slow_clients_time_out) {
  /* Half a request, then silence: the server closes without an answer (as Go's net/http does on
   * its read timeout), on every port alike. */
  struct raw r = {.port = httpd_port(fx.srv)};
  r.parts[0] = "GET /metrics HTTP/1.1\r\nHost: t\r\n";
  run_raw(&r);
  ASSERT_MSG(r.len == 0, "got: %.60s", r.resp);
  /* Trickling bytes does not extend the deadline: the request never completes. */
  struct raw t = {.port = httpd_port(fx.srv), .pause = 0.2};
  t.parts[0] = "GET /metrics HTTP/1.1\r\n";
  t.parts[1] = "Host: t\r\n";
  t.parts[2] = "X-A: b\r\n";
  t.parts[3] = "\r\n";
  run_raw(&t);
  ASSERT_MSG(t.len == 0, "got: %.60s", t.resp);
  ASSERT_EQ(0, responses(t.resp));
  /* A silent connection is closed without a word. */
  struct raw s = {.port = httpd_port(fx.srv)};
  s.parts[0] = "";
  run_raw(&s);
  ASSERT_EQ(0, s.len);
  ASSERT_EQ(0, httpd_conn_count(fx.srv));
}

FIXTURE_TEST(test_connection_cap) {
  httpd_free(fx.srv);
  struct httpd_options o = {.read_timeout = 5, .max_conns = 2};
  fx.srv = start("127.0.0.1:0", &o);
  ASSERT(fx.srv);
  health_mount(fx.health, fx.srv);
  struct raw r = {.port = httpd_port(fx.srv), .idle_conns = 2};
  r.parts[0] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
  run_raw(&r);
  ASSERT_MSG(strncmp(r.resp, "HTTP/1.1 503 ", 13) == 0, "got: %.60s", r.resp);
  ASSERT_CONTAINS(r.resp, "Retry-After: 1\r\n");
  ASSERT_CONTAINS(r.resp, "Connection: close\r\n");
  /* Once the idle ones are gone, a new connection is served. */
  for (int i = 0; i < 1000 && httpd_conn_count(fx.srv) > 0; i++)
    ev_run(fx.loop, EVRUN_ONCE);
  ASSERT_EQ(0, httpd_conn_count(fx.srv));
  struct raw ok = {.port = httpd_port(fx.srv)};
  ok.parts[0] = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  run_raw(&ok);
  ASSERT_MSG(strncmp(ok.resp, "HTTP/1.1 200 ", 13) == 0, "got: %.60s", ok.resp);
}

FIXTURE_TEST(test_listen_errors) {
  int port = httpd_port(fx.srv);
  char addr[64];
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
  struct httpd_addr a;
  struct eng_error err;
  ASSERT_EQ(ENG_OK, httpd_addr_parse("--health-bind-address", addr, NULL, &a, &err));
  ASSERT(!httpd_new(fx.loop, "--health-bind-address", &a, NULL, &err));
  ASSERT_EQ(ENG_BUSY, err.code);
  ASSERT_CONTAINS(err.msg, "--health-bind-address");
  ASSERT_CONTAINS(err.msg, addr);
  ASSERT_CONTAINS(err.msg, "already in use");
  /* The wildcard form on the same port collides too. */
  snprintf(addr, sizeof(addr), ":%d", port);
  ASSERT_EQ(ENG_OK, httpd_addr_parse("--health-bind-address", addr, NULL, &a, &err));
  ASSERT(!httpd_new(fx.loop, "--health-bind-address", &a, NULL, &err));
  ASSERT_EQ(ENG_BUSY, err.code);
  /* An address of no local interface (TEST-NET-1), and a disabled address. */
  ASSERT_EQ(ENG_OK, httpd_addr_parse("--health-bind-address", "192.0.2.1:0", NULL, &a, &err));
  ASSERT(!httpd_new(fx.loop, "--health-bind-address", &a, NULL, &err));
  ASSERT_EQ(ENG_CONFIG, err.code);
  ASSERT_CONTAINS(err.msg, "192.0.2.1:0");
  ASSERT_EQ(ENG_OK, httpd_addr_parse("--health-bind-address", "0", ":8081", &a, &err));
  ASSERT(a.disabled);
  ASSERT(!httpd_new(fx.loop, "--health-bind-address", &a, NULL, &err));
  ASSERT_EQ(ENG_INVALID, err.code);
}

FIXTURE_TEST(test_wildcard_and_ipv6) {
  httpd_free(fx.srv);
  fx.srv = start(":0", NULL);
  ASSERT(fx.srv);
  health_mount(fx.health, fx.srv);
  struct result res;
  fetch("GET", "127.0.0.1", httpd_port(fx.srv), "/healthz", &res);
  ASSERT_EQ(200, res.status);
  httpd_free(fx.srv);
  fx.srv = start("localhost:0", NULL);
  ASSERT(fx.srv);
  health_mount(fx.health, fx.srv);
  fetch("GET", "127.0.0.1", httpd_port(fx.srv), "/healthz", &res);
  ASSERT_EQ(200, res.status);
  httpd_free(fx.srv);
  fx.srv = start("[::1]:0", NULL);
  if (!fx.srv) {
    printf("# no IPv6 loopback here; [::1] not tested\n");
  } else {
    health_mount(fx.health, fx.srv);
    fetch("GET", "[::1]", httpd_port(fx.srv), "/healthz", &res);
    ASSERT_EQ(200, res.status);
  }
}

int main(void) {
  xalloc_init();
  log_setup(LOG_OFF, LOG_FORMAT_TEXT, 2);
  TEST(test_addr_parse);
  TEST(test_query);
  TEST(test_pct_decode);
  TEST(test_metrics_endpoint);
  TEST(test_health_endpoints);
  TEST(test_routing_and_methods);
  TEST(test_keepalive_and_pipelining);
  TEST(test_malformed_requests);
  TEST(test_oversized_header);
  TEST(test_slow_clients_time_out);
  TEST(test_connection_cap);
  TEST(test_listen_errors);
  TEST(test_wildcard_and_ipv6);
  return tap_done();
}
