/*
 * httpreq_test.c - the strict request parser: what it accepts, what it refuses and
 * with which status, incremental arrival, limits, keep-alive rules.
 */
#include "engine/base/common.h"
#include "engine/net/httpreq.h"

#include "test/tap.h"

#include <stdlib.h>
#include <string.h>

static const struct httpreq_limits lim = {1024, 4096};

static enum httpreq_result parse(const char *s, struct httpreq *r) {
  return httpreq_parse(s, strlen(s), &lim, r);
}

static void test_post_with_body(void) {
  struct httpreq r;
  const char *s =
      "POST /controlplane?timeout=10s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 5\r\n\r\nhello";
  ASSERT_EQ(HTTPREQ_DONE, parse(s, &r));
  ASSERT_STR_EQ("POST", r.method);
  ASSERT_STR_EQ("/controlplane", r.path);
  ASSERT_STR_EQ("/controlplane?timeout=10s", r.target);
  ASSERT_STR_EQ("application/json", r.content_type);
  ASSERT_EQ(5, r.content_length);
  ASSERT(!memcmp(r.body, "hello", 5));
  ASSERT(r.keep_alive);
  ASSERT_EQ(strlen(s), r.total_len);
}

static void test_incremental(void) {
  const char *s = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcdGET /next";
  size_t full = strlen(s) - strlen("GET /next");
  struct httpreq r;
  for (size_t n = 0; n < full; n++) {
    enum httpreq_result res = httpreq_parse(s, n, &lim, &r);
    ASSERT_MSG(res == HTTPREQ_INCOMPLETE, "prefix of %zu bytes gave %d", n, res);
  }
  ASSERT_EQ(HTTPREQ_DONE, httpreq_parse(s, strlen(s), &lim, &r));
  ASSERT_EQ(full, r.total_len); /* pipelined bytes stay for the next request */
  ASSERT(httpreq_parse(s, full - 1, &lim, &r) == HTTPREQ_INCOMPLETE && r.headers_done &&
         r.total_len == full);
}

static void test_keepalive_rules(void) {
  struct httpreq r;
  ASSERT_EQ(HTTPREQ_DONE,
            parse("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r));
  ASSERT(!r.keep_alive);
  ASSERT_EQ(HTTPREQ_DONE, parse("GET /healthz HTTP/1.0\r\n\r\n", &r));
  ASSERT(!r.keep_alive);
  ASSERT_EQ(HTTPREQ_DONE, parse("GET /healthz HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r));
  ASSERT(r.keep_alive);
  ASSERT_EQ(HTTPREQ_DONE, parse("GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n", &r));
  ASSERT(r.expect_continue);
}

static void expect_error(const char *s, int status, const char *needle) {
  struct httpreq r;
  enum httpreq_result res = parse(s, &r);
  if (res != HTTPREQ_ERROR || r.status != status || !strstr(r.reason, needle)) {
    TAP_FAIL("\"%s\": expected error %d (%s), got result %d status %d (%s)", s, status, needle, res,
             r.status, res == HTTPREQ_ERROR ? r.reason : "");
  }
}

static void test_refusals(void) {
  expect_error("\x16\x03\x01\x02\x00", 400, "HTTP method");
  expect_error("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/1.1");
  expect_error("GET / FOO/1.1\r\nHost: x\r\n\r\n", 400, "request line");
  expect_error("GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400, "absolute path");
  expect_error("GET / HTTP/1.1\r\n\r\n", 400, "Host");
  expect_error("GET / HTTP/1.1\nHost: x\n\n", 400, "CRLF");
  expect_error("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, "folding");
  expect_error("GET / HTTP/1.1\r\nHo st: x\r\n\r\n", 400, "field name");
  expect_error("GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n", 400, "control");
  expect_error("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 411, "chunked");
  expect_error("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
               "Transfer-Encoding");
  expect_error(
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
      411, "chunked");
  expect_error("POST / HTTP/1.1\r\nHost: x\r\n\r\n", 411, "Content-Length");
  expect_error("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400,
               "conflicting");
  expect_error("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, "Content-Length");
  expect_error("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n", 400, "Content-Length");
  expect_error("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4097\r\n\r\n", 413, "larger");
  expect_error("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400,
               "Content-Length");
  expect_error("GET / HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n", 417, "Expect");
  expect_error("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, "Host");
  expect_error("VERYLONGMETHODNAMEXX / HTTP/1.1\r\n\r\n", 501, "method");
  /* Header section over the limit, with or without its end. */
  char big[2048];
  memset(big, 'a', sizeof(big));
  memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
  big[sizeof(big) - 1] = '\0';
  expect_error(big, 431, "too large");
  char *many = malloc(8192);
  size_t ml = (size_t)snprintf(many, 8192, "GET / HTTP/1.1\r\nHost: x\r\n");
  for (int i = 0; i < 70; i++)
    ml += (size_t)snprintf(many + ml, 8192 - ml, "A: b\r\n");
  snprintf(many + ml, 8192 - ml, "\r\n");
  struct httpreq_limits wide = {8192, 10};
  struct httpreq r;
  ASSERT_EQ(HTTPREQ_ERROR, httpreq_parse(many, strlen(many), &wide, &r));
  ASSERT_EQ(431, r.status);
  free(many);
  char target[2100] = "GET /";
  memset(target + 5, 'x', 2060);
  snprintf(target + 2065, sizeof(target) - 2065, " HTTP/1.1\r\nHost: x\r\n\r\n");
  struct httpreq_limits big_hdr = {8192, 10};
  ASSERT_EQ(HTTPREQ_ERROR, httpreq_parse(target, strlen(target), &big_hdr, &r));
  ASSERT_EQ(414, r.status);
}

static void test_status_text(void) {
  ASSERT_STR_EQ("Length Required", httpreq_status_text(411));
  ASSERT_STR_EQ("Error", httpreq_status_text(299));
}

int main(void) {
  TEST(test_post_with_body);
  TEST(test_incremental);
  TEST(test_keepalive_rules);
  TEST(test_refusals);
  TEST(test_status_text);
  return tap_done();
}
