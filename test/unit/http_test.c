/*
 * http_test.c - the libcurl/libev client against an in-process HTTP/1.1 server
 * (a thread): buffered and streamed bodies, status and Retry-After, body caps,
 * timeouts, cancel, and submitting a request from inside a stream callback.
 */
#include "engine/base/common.h"
#include "engine/net/http.h"
#include "test/lib/http_sync.h"
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

static int srv_fd;
static int srv_port;

static void send_all(int fd, const char *s, size_t n) {
  while (n) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    if (w <= 0)
      return;
    s += w;
    n -= (size_t)w;
  }
}

static void send_str(int fd, const char *s) { send_all(fd, s, strlen(s)); }

static void *serve_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  char req[65536];
  size_t len = 0;
  for (;;) {
    /* Read one request (headers + Content-Length body). */
    char *end = NULL;
    while (!(end = memmem(req, len, "\r\n\r\n", 4))) {
      ssize_t r = recv(fd, req + len, sizeof(req) - len - 1, 0);
      if (r <= 0)
        goto out;
      len += (size_t)r;
    }
    req[len] = 0;
    size_t hlen = (size_t)(end - req) + 4;
    size_t clen = 0;
    char *cl = strcasestr(req, "Content-Length:");
    if (cl && cl < end)
      clen = strtoul(cl + 15, NULL, 10);
    while (len < hlen + clen) {
      ssize_t r = recv(fd, req + len, sizeof(req) - len - 1, 0);
      if (r <= 0)
        goto out;
      len += (size_t)r;
    }
    char method[16] = {0}, path[256] = {0};
    sscanf(req, "%15s %255s", method, path);
    char body[4096] = {0};
    memcpy(body, req + hlen, clen < sizeof(body) - 1 ? clen : sizeof(body) - 1);
    char resp[8192];
    if (!strcmp(path, "/json")) {
      send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                   "11\r\n\r\n{\"ok\":true}");
    } else if (!strcmp(path, "/echo")) {
      char *xt = strcasestr(req, "X-Test: ");
      char xv[64] = {0};
      if (xt)
        sscanf(xt + 8, "%63[^\r]", xv);
      char payload[5000];
      snprintf(payload, sizeof(payload), "%s %s %s", method, xv, body);
      snprintf(resp, sizeof(resp), "HTTP/1.1 201 Created\r\nContent-Length: %zu\r\n\r\n%s",
               strlen(payload), payload);
      send_str(fd, resp);
    } else if (!strcmp(path, "/retry")) {
      send_str(fd,
               "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Length: 4\r\n\r\nslow");
    } else if (!strcmp(path, "/retry-huge")) {
      send_str(fd, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 99999999999999999\r\n"
                   "Content-Length: 4\r\n\r\nslow");
    } else if (!strcmp(path, "/big")) {
      char big[10000];
      memset(big, 'b', sizeof(big));
      send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n");
      send_all(fd, big, sizeof(big));
    } else if (!strcmp(path, "/chunked")) {
      send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
      for (int i = 0; i < 5; i++) {
        char line[64];
        int n = snprintf(line, sizeof(line), "{\"n\":%d}\n", i);
        char chunk[128];
        snprintf(chunk, sizeof(chunk), "%x\r\n%s\r\n", n, line);
        send_str(fd, chunk);
        usleep(20000);
      }
      send_str(fd, "0\r\n\r\n");
    } else if (!strcmp(path, "/slow")) {
      sleep(2);
      send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    } else {
      send_str(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
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
  int one = 1;
  setsockopt(srv_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
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

static char *url(const char *path) { return xasprintf("http://127.0.0.1:%d%s", srv_port, path); }

struct result {
  int done;
  enum eng_err err;
  long status;
  char body[16384];
  long retry_after_ms;
  char hdr[64];
};

static void on_done(void *ud, const struct http_response *r) {
  struct result *res = ud;
  res->done++;
  res->err = r->err;
  res->status = r->status;
  snprintf(res->body, sizeof(res->body), "%.*s", (int)r->body_len, r->body);
  res->retry_after_ms = r->retry_after_ms;
  const char *h = http_response_header(r, "content-type");
  snprintf(res->hdr, sizeof(res->hdr), "%s", h ? h : "");
}

static void run_until(struct ev_loop *loop, int *flag, int want) {
  for (int i = 0; i < 100000 && *flag < want; i++)
    ev_run(loop, EVRUN_ONCE);
}

static void test_buffered_get(void) {
  struct ev_loop *loop = ev_loop_new(0);
  struct http_client *c = http_client_new(loop, "test/1");
  struct result res = {0};
  char *u = url("/json");
  struct http_request r = {.method = "GET", .url = u, .on_done = on_done, .ud = &res};
  ASSERT(http_submit(c, &r));
  run_until(loop, &res.done, 1);
  ASSERT_EQ(1, res.done);
  ASSERT_EQ(ENG_OK, res.err);
  ASSERT_EQ(200, res.status);
  ASSERT_STR_EQ("{\"ok\":true}", res.body);
  ASSERT_STR_EQ("application/json", res.hdr);
  free(u);
  http_client_free(c);
  ev_loop_destroy(loop);
}

static void test_post_headers_and_status(void) {
  struct ev_loop *loop = ev_loop_new(0);
  struct http_client *c = http_client_new(loop, NULL);
  struct result res = {0}, res2 = {0}, res3 = {0}, res4 = {0};
  char *u1 = url("/echo"), *u2 = url("/retry"), *u3 = url("/missing"), *u4 = url("/retry-huge");
  const char *hdrs[] = {"X-Test: hello", NULL};
  struct http_request r1 = {.method = "POST",
                            .url = u1,
                            .headers = hdrs,
                            .body = "payload",
                            .body_len = 7,
                            .on_done = on_done,
                            .ud = &res};
  struct http_request r2 = {.url = u2, .on_done = on_done, .ud = &res2};
  struct http_request r3 = {.url = u3, .on_done = on_done, .ud = &res3};
  struct http_request r4 = {.url = u4, .on_done = on_done, .ud = &res4};
  ASSERT(http_submit(c, &r1));
  ASSERT(http_submit(c, &r2));
  ASSERT(http_submit(c, &r3));
  ASSERT(http_submit(c, &r4));
  ASSERT_EQ(4, http_client_inflight(c));
  int total = 0;
  for (int i = 0; i < 100000 && total < 4; i++) {
    ev_run(loop, EVRUN_ONCE);
    total = res.done + res2.done + res3.done + res4.done;
  }
  ASSERT_EQ(201, res.status);
  ASSERT_STR_EQ("POST hello payload", res.body);
  ASSERT_EQ(429, res2.status);
  ASSERT_EQ(3000, res2.retry_after_ms);
  /* a hostile Retry-After saturates at a day instead of overflowing */
  ASSERT_EQ(429, res4.status);
  ASSERT_EQ(RETRY_WAIT_MAX_S * 1000, res4.retry_after_ms);
  ASSERT_EQ(404, res3.status);
  ASSERT_EQ(0, http_client_inflight(c));
  free(u1);
  free(u2);
  free(u3);
  free(u4);
  http_client_free(c);
  ev_loop_destroy(loop);
}

static void test_body_cap(void) {
  struct ev_loop *loop = ev_loop_new(0);
  struct http_client *c = http_client_new(loop, NULL);
  struct result res = {0};
  char *u = url("/big");
  struct http_request r = {.url = u, .max_body = 1000, .on_done = on_done, .ud = &res};
  ASSERT(http_submit(c, &r));
  run_until(loop, &res.done, 1);
  ASSERT_EQ(ENG_TOOLARGE, res.err);
  free(u);
  http_client_free(c);
  ev_loop_destroy(loop);
}

static void test_timeout(void) {
  struct ev_loop *loop = ev_loop_new(0);
  struct http_client *c = http_client_new(loop, NULL);
  struct result res = {0};
  char *u = url("/slow");
  struct http_request r = {.url = u, .timeout_ms = 200, .on_done = on_done, .ud = &res};
  ASSERT(http_submit(c, &r));
  run_until(loop, &res.done, 1);
  ASSERT_EQ(ENG_TIMEOUT, res.err);
  free(u);
  http_client_free(c);
  ev_loop_destroy(loop);
}

struct stream {
  struct http_client *c;
  int chunks;
  char data[1024];
  size_t len;
  struct result inner; /* a request submitted from inside on_chunk */
  struct result outer;
  char *inner_url;
};

static int on_chunk(void *ud, const char *data, size_t len, long status) {
  struct stream *s = ud;
  (void)status;
  s->chunks++;
  if (s->len + len < sizeof(s->data)) {
    memcpy(s->data + s->len, data, len);
    s->len += len;
  }
  if (s->chunks == 1) {
    struct http_request r = {.url = s->inner_url, .on_done = on_done, .ud = &s->inner};
    if (!http_submit(s->c, &r))
      s->inner.err = ENG_INTERNAL;
  }
  return 0;
}

static void test_on_done_required(void) {
  struct ev_loop *loop = ev_loop_new(0);
  struct http_client *c = http_client_new(loop, NULL);
  struct http_request r = {.url = "http://127.0.0.1:1/"};
  ASSERT(!http_submit(c, &r)); /* no on_done: refused, nothing runs */
  ASSERT_EQ(0, http_client_inflight(c));
  http_client_free(c);
  ev_loop_destroy(loop);
}

static void on_stream_done(void *ud, const struct http_response *r) {
  struct stream *s = ud;
  s->outer.done++;
  s->outer.err = r->err;
  s->outer.status = r->status;
}

static void test_stream(void) {
  struct ev_loop *loop = ev_loop_new(0);
  struct stream s;
  memset(&s, 0, sizeof(s));
  s.c = http_client_new(loop, NULL);
  s.inner_url = url("/json");
  char *u = url("/chunked");
  struct http_request r = {.url = u, .on_chunk = on_chunk, .on_done = on_stream_done, .ud = &s};
  ASSERT(http_submit(s.c, &r));
  for (int i = 0; i < 100000 && (s.outer.done < 1 || s.inner.done < 1); i++)
    ev_run(loop, EVRUN_ONCE);
  ASSERT_EQ(1, s.outer.done);
  ASSERT_EQ(ENG_OK, s.outer.err);
  ASSERT_EQ(200, s.outer.status);
  ASSERT_STR_EQ("{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n", s.data);
  ASSERT(s.chunks >= 2);
  ASSERT_EQ(1, s.inner.done); /* submitted from inside on_chunk */
  ASSERT_EQ(200, s.inner.status);
  free(u);
  free(s.inner_url);
  http_client_free(s.c);
  ev_loop_destroy(loop);
}

static int cancel_in_chunk(void *ud, const char *data, size_t len, long status) {
  (void)data;
  (void)len;
  (void)status;
  struct stream *s = ud;
  s->chunks++;
  return 1; /* stop */
}

static void test_stream_stop_and_cancel(void) {
  struct ev_loop *loop = ev_loop_new(0);
  struct stream s;
  memset(&s, 0, sizeof(s));
  s.c = http_client_new(loop, NULL);
  char *u = url("/chunked");
  struct http_request r = {
      .url = u, .on_chunk = cancel_in_chunk, .on_done = on_stream_done, .ud = &s};
  ASSERT(http_submit(s.c, &r));
  run_until(loop, &s.outer.done, 1);
  ASSERT_EQ(ENG_CANCELED, s.outer.err);
  ASSERT_EQ(1, s.chunks);
  /* Cancel before completion: on_done never runs. */
  struct stream s2;
  memset(&s2, 0, sizeof(s2));
  char *slow = url("/slow");
  struct http_request r2 = {.url = slow, .on_done = on_stream_done, .ud = &s2};
  struct http_call *call = http_submit(s.c, &r2);
  ASSERT(call);
  for (int i = 0; i < 20; i++)
    ev_run(loop, EVRUN_NOWAIT);
  http_cancel(s.c, call);
  ASSERT_EQ(0, http_client_inflight(s.c));
  ASSERT_EQ(0, s2.outer.done);
  free(slow);
  free(u);
  http_client_free(s.c);
  ev_loop_destroy(loop);
}

static void test_sync_and_connect_failure(void) {
  char *u = url("/json");
  long status = 0;
  char *body = NULL;
  size_t bl = 0;
  struct eng_error err;
  ASSERT_EQ(ENG_OK, http_fetch_sync(&(struct http_request){.url = u}, &status, &body, &bl, &err));
  ASSERT_EQ(200, status);
  ASSERT_STR_EQ("{\"ok\":true}", body);
  free(body);
  free(u);
  /* Nothing listens on port 1. */
  enum eng_err rc = http_fetch_sync(&(struct http_request){.url = "http://127.0.0.1:1/"}, &status,
                                    &body, &bl, &err);
  ASSERT_EQ(ENG_UNAVAILABLE, rc);
  ASSERT_CONTAINS(err.msg, "http://127.0.0.1:1/");
  free(body);
}

static void test_escape_and_pem(void) {
  char *e = http_escape("kubernetes.io/cluster/shoot--a b");
  ASSERT_STR_EQ("kubernetes.io%2Fcluster%2Fshoot--a%20b", e);
  free(e);
  char path[64];
  int fd;
  struct eng_error err;
  ASSERT_EQ(ENG_OK, http_pem_path("-----BEGIN X-----\n", 18, path, &fd, &err));
  FILE *f = fopen(path, "r");
  ASSERT(f);
  char line[64] = {0};
  ASSERT(fgets(line, sizeof(line), f));
  fclose(f);
  close(fd);
  ASSERT_STR_EQ("-----BEGIN X-----\n", line);
}

int main(void) {
  xalloc_init();
  start_server();
  TEST(test_buffered_get);
  TEST(test_post_headers_and_status);
  TEST(test_body_cap);
  TEST(test_timeout);
  TEST(test_on_done_required);
  TEST(test_stream);
  TEST(test_stream_stop_and_cancel);
  TEST(test_sync_and_connect_failure);
  TEST(test_escape_and_pem);
  return tap_done();
}
