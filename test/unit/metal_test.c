/*
 * metal_test.c - the pure parts of the Equinix Metal client: error bodies and
 * their classification, idempotency tags, the token bucket (injected clock),
 * the end-of-listing decision, and decoding of API objects with bad input.
 */
#include "engine/base/common.h"
#include "engine/base/log.h"
#include "engine/decide/gardener.h"
#include "providers/equinix-metal/api/metal_bucket.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "providers/equinix-metal/api/metal_decode.h"
#include "providers/equinix-metal/api/metal_errors.h"
#include "providers/equinix-metal/api/metal_idempotency.h"
#include "providers/equinix-metal/api/metal_paging.h"
#include "providers/equinix-metal/act/exec_nodenet.h"
#include "providers/equinix-metal/controllers/infrastructure.h"
#include "engine/base/jsonx.h"
#include "engine/base/sha256.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"

#include <stdlib.h>
#include <string.h>

static const struct metal_err_ctx create_ctx = {
    .what = "creating device shoot--p--s-worker-abc in metro ny",
    .project = "0b7e2f6c-1111-4222-8333-944445555666",
    .plan = "c3.small.x86",
    .metro = "ny",
    .os = "flatcar_stable",
};

static enum eng_err classify(long status, const char *body, struct eng_error *e) {
  return metal_error_from_http(e, &create_ctx, status, body, strlen(body), -1, NULL, 0);
}

/* ---- error bodies ---- */

static void test_error_text_single(void) {
  char *t = metal_error_text("{\"error\":\"Not found\"}", 21);
  ASSERT_STR_EQ("Not found", t);
  free(t);
}

static void test_error_text_many(void) {
  const char *b = "{\"errors\":[\"Plan can't be blank\",\"Metro can't be blank\",7,\"x1 is not a "
                  "valid plan\"]}";
  char *t = metal_error_text(b, strlen(b));
  ASSERT_STR_EQ("Plan can't be blank; Metro can't be blank; x1 is not a valid plan", t);
  free(t);
}

static void test_error_text_both(void) {
  const char *b = "{\"error\":\"bad request\",\"errors\":[\"one\",\"two\"]}";
  char *t = metal_error_text(b, strlen(b));
  ASSERT_STR_EQ("bad request; one; two", t);
  free(t);
}

static void test_error_text_html(void) {
  const char *b = "<html><head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad "
                  "Gateway</h1></center><hr><center>nginx &amp; friends</center></body></html>";
  char *t = metal_error_text(b, strlen(b));
  ASSERT_STR_EQ("502 Bad Gateway 502 Bad Gateway nginx & friends", t);
  free(t);
}

static void test_error_text_truncated_json(void) {
  const char *b = "{\"errors\":[\"no cap";
  char *t = metal_error_text(b, strlen(b));
  ASSERT_STR_EQ("{\"errors\":[\"no cap", t);
  free(t);
}

static void test_error_text_huge(void) {
  size_t n = 5u * 1024 * 1024;
  char *b = xmalloc(n + 1);
  memset(b, 'x', n);
  b[n] = 0;
  char *t = metal_error_text(b, n);
  ASSERT(strlen(t) <= METAL_ERR_SNIPPET + 3);
  ASSERT(strcmp(t + strlen(t) - 3, "...") == 0);
  free(t);
  /* a huge JSON error message is cut too, and control characters do not survive */
  free(b);
  size_t m = 100000;
  b = xmalloc(m + 32);
  memcpy(b, "{\"error\":\"", 10);
  memset(b + 10, 'y', m);
  memcpy(b + 10 + m, "\\n\\u0001\"}", 11);
  t = metal_error_text(b, strlen(b));
  ASSERT(strlen(t) <= METAL_ERR_SNIPPET + 3);
  ASSERT(!strchr(t, '\n'));
  free(t);
  free(b);
}

static void test_error_text_utf8_cut(void) {
  /* 300 two-byte characters: the cut must not split one. */
  char b[1024];
  size_t o = 0;
  for (int i = 0; i < 300; i++) {
    b[o++] = (char)0xc3;
    b[o++] = (char)0xa9;
  }
  b[o] = 0;
  char *t = metal_error_text(b, o);
  size_t l = strlen(t) - 3;
  ASSERT_EQ(0, l % 2);
  ASSERT_EQ(0xc3, (unsigned char)t[l - 2]);
  free(t);
}

static void test_error_text_empty_and_other_json(void) {
  char *t = metal_error_text("", 0);
  ASSERT_STR_EQ("", t);
  free(t);
  t = metal_error_text("[1,2]", 5);
  ASSERT_STR_EQ("[1,2]", t);
  free(t);
  t = metal_error_text("{\"message\":\"gateway timeout\"}", 29);
  ASSERT_STR_EQ("gateway timeout", t);
  free(t);
}

/* ---- classification table ---- */

static void test_classify_401(void) {
  struct eng_error e;
  ASSERT_EQ(ENG_UNAUTHENTICATED, classify(401, "{\"error\":\"Invalid authentication token\"}", &e));
  ASSERT_EQ(401, e.http_status);
  ASSERT_STR_EQ("ERR_INFRA_UNAUTHENTICATED", metal_gardener_code(&e));
  ASSERT(!metal_retryable(&e));
  ASSERT_CONTAINS(e.msg, "creating device shoot--p--s-worker-abc in metro ny failed:");
  ASSERT_CONTAINS(e.msg, "HTTP 401: Invalid authentication token");
  ASSERT_CONTAINS(e.msg, "apiToken");
}

static void test_classify_403(void) {
  struct eng_error e;
  ASSERT_EQ(ENG_FORBIDDEN,
            classify(403, "{\"errors\":[\"You are not authorized to view this project\"]}", &e));
  ASSERT_STR_EQ("ERR_INFRA_UNAUTHORIZED", metal_gardener_code(&e));
  ASSERT(!metal_retryable(&e));
  ASSERT_CONTAINS(e.msg, create_ctx.project);
}

static void test_classify_404(void) {
  struct eng_error e;
  ASSERT_EQ(ENG_NOTFOUND, classify(404, "{\"errors\":[\"Not found\"]}", &e));
  ASSERT(metal_gardener_code(&e) == NULL);
  ASSERT(!metal_retryable(&e));
  ASSERT(!metal_ambiguous(&e));
}

static void test_classify_429_retry_after(void) {
  struct eng_error e;
  const char *b = "{\"errors\":[\"Too many requests\"]}";
  ASSERT_EQ(ENG_RATELIMIT,
            metal_error_from_http(&e, &create_ctx, 429, b, strlen(b), 3000, "99", 0));
  ASSERT_EQ(3000, e.retry_after_ms);
  ASSERT_STR_EQ("ERR_INFRA_RATE_LIMITS_EXCEEDED", metal_gardener_code(&e));
  ASSERT(metal_retryable(&e));
  ASSERT(!metal_ambiguous(&e));
  ASSERT_CONTAINS(e.msg, "retried after 3.000 s");
}

static void test_classify_429_reset(void) {
  struct eng_error e;
  /* X-RateLimit-Reset is Unix seconds; now = 1000.250 s. */
  ASSERT_EQ(ENG_RATELIMIT, metal_error_from_http(&e, &create_ctx, 429, "", 0, -1, "1007", 1000250));
  ASSERT_EQ(6750, e.retry_after_ms);
  /* a reset in the past means "now", garbage means unknown */
  metal_error_from_http(&e, &create_ctx, 429, "", 0, -1, "999", 1000250);
  ASSERT_EQ(0, e.retry_after_ms);
  metal_error_from_http(&e, &create_ctx, 429, "", 0, -1, "soon", 1000250);
  ASSERT_EQ(-1, e.retry_after_ms);
  /* a hostile reset is clamped before it is multiplied: a day at most */
  metal_error_from_http(&e, &create_ctx, 429, "", 0, -1, "9223372036854775807", 1000250);
  ASSERT_EQ(RETRY_WAIT_MAX_S * 1000, e.retry_after_ms);
}

static void test_classify_422_capacity(void) {
  struct eng_error e;
  static const char *const bodies[] = {
      "{\"errors\":[\"The metro ny has no provisionable c3.small.x86 servers matching your "
      "criteria\"]}",
      "{\"errors\":[\"There aren't available servers in that metro\"]}",
      "{\"errors\":[\"There aren't available c3.small.x86 servers in any metro\"]}",
      "{\"errors\":[\"There are no available hardware reservations for plan c3.small.x86 in metro "
      "ny\"]}",
      "{\"error\":\"Server is not provisionable\"}",
      "{\"errors\":[\"Not enough capacity\"]}",
  };
  for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
    ASSERT_MSG(classify(422, bodies[i], &e) == ENG_DEPLETED, "not depleted: %s", bodies[i]);
    ASSERT_STR_EQ("ERR_INFRA_RESOURCES_DEPLETED", metal_gardener_code(&e));
    ASSERT(!metal_retryable(&e));
  }
  classify(422, bodies[0], &e);
  ASSERT_CONTAINS(e.msg,
                  "creating device shoot--p--s-worker-abc in metro ny failed: no capacity for "
                  "plan c3.small.x86 (HTTP 422");
  ASSERT_CONTAINS(e.msg, "Equinix Metal has no free servers of this plan in this metro; choose "
                         "another plan or metro or retry later.");
}

static void test_classify_422_quota(void) {
  struct eng_error e;
  static const char *const bodies[] = {
      "{\"errors\":[\"You have reached the maximum number of devices (5) allowed for this project. "
      "Please contact support to increase your limit.\"]}",
      "{\"errors\":[\"Project quota exceeded\"]}",
      "{\"errors\":[\"This request requires approval\"]}",
  };
  for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
    ASSERT_MSG(classify(422, bodies[i], &e) == ENG_QUOTA, "not quota: %s", bodies[i]);
    ASSERT_STR_EQ("ERR_INFRA_QUOTA_EXCEEDED", metal_gardener_code(&e));
  }
}

static void test_classify_422_config(void) {
  struct eng_error e;
  static const char *const bodies[] = {
      "{\"errors\":[\"x9.huge is not a valid plan\"]}",
      "{\"errors\":[\"zz is not a valid metro\"]}",
      "{\"errors\":[\"windows_1 is not a valid operating system\",\"Plan can't be blank\"]}",
      "{\"errors\":[\"Spot instances are not available in this project\"]}",
      "{\"errors\":[\"Tag 'x' is too long (maximum is 80 characters)\"]}",
  };
  for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
    ASSERT_MSG(classify(422, bodies[i], &e) == ENG_CONFIG, "not config: %s", bodies[i]);
    ASSERT_STR_EQ("ERR_CONFIGURATION_PROBLEM", metal_gardener_code(&e));
    ASSERT(!metal_retryable(&e));
  }
  struct metal_err_ctx kctx = {.what = "creating project SSH key k"};
  const char *taken = "{\"errors\":[\"Fingerprint has already been taken\"]}";
  ASSERT_EQ(ENG_CONFIG, metal_error_from_http(&e, &kctx, 422, taken, strlen(taken), -1, NULL, 0));
  ASSERT_CONTAINS(e.msg, "under another label");
  classify(422, bodies[2], &e);
  ASSERT_CONTAINS(e.msg, "windows_1 is not a valid operating system; Plan can't be blank");
  ASSERT_CONTAINS(e.msg, "plan c3.small.x86");
}

static void test_classify_5xx_html(void) {
  struct eng_error e;
  const char *b = "<html><body><h1>502 Bad Gateway</h1>nginx</body></html>";
  ASSERT_EQ(ENG_UNAVAILABLE,
            metal_error_from_http(&e, &create_ctx, 502, b, strlen(b), 2000, NULL, 0));
  ASSERT_EQ(502, e.http_status);
  ASSERT_EQ(2000, e.retry_after_ms);
  ASSERT(metal_retryable(&e));
  ASSERT(metal_ambiguous(&e));
  ASSERT_STR_EQ("ERR_RETRYABLE_INFRA_DEPENDENCIES", metal_gardener_code(&e));
  ASSERT_CONTAINS(e.msg, "(HTTP 502: 502 Bad Gateway nginx)");
  ASSERT_NOT_CONTAINS(e.msg, "<");
  ASSERT_EQ(ENG_UNAVAILABLE, classify(500, "{\"error\":\"Oh snap, something went wrong!\"}", &e));
}

static void test_classify_other(void) {
  struct eng_error e;
  ASSERT_EQ(ENG_INVALID, classify(400, "{}", &e));
  ASSERT_EQ(ENG_CONFLICT, classify(409, "{}", &e));
  ASSERT(metal_retryable(&e));
  ASSERT_EQ(ENG_INVALID, classify(418, "teapot", &e));
  ASSERT_EQ(ENG_PROTOCOL, classify(302, "", &e));
}

static void test_classify_transport(void) {
  struct eng_error e;
  ASSERT_EQ(ENG_TIMEOUT,
            metal_error_from_transport(&e, &create_ctx, ENG_TIMEOUT,
                                       "Operation timed out after 60000 milliseconds"));
  ASSERT(metal_retryable(&e));
  ASSERT(metal_ambiguous(&e));
  ASSERT_STR_EQ("ERR_RETRYABLE_INFRA_DEPENDENCIES", metal_gardener_code(&e));
  ASSERT_CONTAINS(e.msg, "did not answer in time");
  ASSERT_EQ(ENG_UNAVAILABLE, metal_error_from_transport(&e, &create_ctx, ENG_UNAVAILABLE,
                                                        "Connection reset by peer"));
  ASSERT(metal_ambiguous(&e));
  ASSERT_EQ(ENG_PROTOCOL,
            metal_error_from_transport(&e, &create_ctx, ENG_PROTOCOL, "SSL certificate problem"));
  ASSERT_CONTAINS(e.msg, "CA bundle");
  ASSERT_EQ(ENG_IO, metal_error_from_transport(&e, &create_ctx, ENG_INTERNAL, "x"));
  ASSERT_EQ(0, e.http_status);
}

static void test_error_scrubs_secret(void) {
  const char *tok = "tok-SECRET-0123456789abcdef";
  log_register_secret(tok);
  struct eng_error e;
  char body[256];
  snprintf(body, sizeof(body), "{\"error\":\"token %s is not valid\"}", tok);
  classify(401, body, &e);
  ASSERT_NOT_CONTAINS(e.msg, tok);
  ASSERT_CONTAINS(e.msg, "[REDACTED]");
  log_forget_secret(tok);
}

/* ---- idempotency tags ---- */

static void test_idem_tag_plain(void) {
  char t[METAL_TAG_MAX + 1];
  ASSERT(metal_idem_tag("shoot--p--s/worker-a/abc12", t));
  ASSERT_STR_EQ("gardener.cloud/idempotency-key=shoot--p--s/worker-a/abc12", t);
  ASSERT(metal_idem_is_tag(t));
  ASSERT(!metal_idem_is_tag("kubernetes.io/cluster/shoot--p--s"));
  ASSERT(!metal_idem_tag("", t));
  ASSERT(!metal_idem_tag(NULL, t));
  ASSERT_STR_EQ("", t);
}

static void test_idem_tag_hashed(void) {
  char t[METAL_TAG_MAX + 1];
  const char *key = "shoot--project-with-long-name--cluster-name/worker-pool-zone-a/0123456789";
  ASSERT(strlen(METAL_IDEM_TAG_PREFIX) + strlen(key) > METAL_TAG_MAX);
  ASSERT(metal_idem_tag(key, t));
  ASSERT(strlen(t) <= METAL_TAG_MAX);
  char hex[SHA256_HEX_LEN + 1];
  sha256_hex(key, strlen(key), hex);
  char want[METAL_TAG_MAX + 1];
  snprintf(want, sizeof(want), "%s%s%.40s", METAL_IDEM_TAG_PREFIX, METAL_IDEM_HASH_PREFIX, hex);
  ASSERT_STR_EQ(want, t);
  ASSERT_EQ(78, strlen(t));
  /* stable, and different keys give different tags */
  char t2[METAL_TAG_MAX + 1];
  ASSERT(metal_idem_tag(key, t2));
  ASSERT_STR_EQ(t, t2);
  char key2[128];
  snprintf(key2, sizeof(key2), "%sX", key);
  ASSERT(metal_idem_tag(key2, t2));
  ASSERT(strcmp(t, t2) != 0);
}

static void test_idem_tag_unusual_chars(void) {
  char t[METAL_TAG_MAX + 1];
  ASSERT(metal_idem_tag("a b,c", t));
  ASSERT_CONTAINS(t, METAL_IDEM_HASH_PREFIX);
  /* a key that looks like a hashed one is hashed itself, so the two cannot collide */
  char forged[128], real[METAL_TAG_MAX + 1];
  ASSERT(metal_idem_tag("a b,c", real));
  snprintf(forged, sizeof(forged), "%s", real + strlen(METAL_IDEM_TAG_PREFIX));
  ASSERT(metal_idem_tag(forged, t));
  ASSERT(strcmp(t, real) != 0);
  /* exactly at the limit stays plain, one more is hashed */
  char k[METAL_TAG_MAX + 2];
  size_t room = METAL_TAG_MAX - strlen(METAL_IDEM_TAG_PREFIX);
  memset(k, 'k', room);
  k[room] = 0;
  ASSERT(metal_idem_tag(k, t));
  ASSERT_EQ(METAL_TAG_MAX, strlen(t));
  ASSERT(!strstr(t, METAL_IDEM_HASH_PREFIX));
  k[room] = 'k';
  k[room + 1] = 0;
  ASSERT(metal_idem_tag(k, t));
  ASSERT_CONTAINS(t, METAL_IDEM_HASH_PREFIX);
}

/* A Node's providerID as the CCM writes it (and the forms of older CCMs). */
static void test_provider_id(void) {
  static const struct {
    const char *in, *want; /* want NULL: an error */
  } cases[] = {{"equinixmetal://3f0c", "3f0c"},
               {"packet://3f0c", "3f0c"},
               {"3f0c", "3f0c"},
               {"aws:///eu-west-1a/i-0abc", ""},
               {"equinixmetal:/3f0c", "equinixmetal:/3f0c"},
               {"equinixmetal://a://b", NULL},
               {"", ""},
               {NULL, ""}};
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    char *got = metal_device_id_from_provider_id(cases[i].in);
    if (!cases[i].want)
      ASSERT_MSG(got == NULL, "%s gives an error", cases[i].in);
    else
      ASSERT_STR_EQ(cases[i].want, got);
    free(got);
  }
}

/* nodesCIDR as the Go original joins it: sorted, duplicates dropped. */
static void test_joined_networks(void) {
  static const char *const cases[][2] = {
      {"10.0.0.128/25,10.0.0.0/25,10.0.0.128/25", "10.0.0.0/25,10.0.0.128/25"},
      {"10.0.0.0/25", "10.0.0.0/25"},
      {"", ""}};
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    char *got = metal_joined_networks(cases[i][0]);
    ASSERT_STR_EQ(cases[i][1], got);
    free(got);
  }
}

static void test_cluster_tag(void) {
  char *t = metal_cluster_tag("shoot--p--s");
  ASSERT_STR_EQ("kubernetes.io/cluster/shoot--p--s", t);
  free(t);
}

/* ---- token bucket ---- */

static void test_bucket_burst_then_rate(void) {
  struct metal_bucket b;
  metal_bucket_init(&b, 10, 3, 1000);
  ASSERT_EQ(0, metal_bucket_take(&b, 1000));
  ASSERT_EQ(0, metal_bucket_take(&b, 1000));
  ASSERT_EQ(0, metal_bucket_take(&b, 1000));
  ASSERT_EQ(100, metal_bucket_take(&b, 1000)); /* 10/s: next token in 100 ms */
  ASSERT_EQ(50, metal_bucket_take(&b, 1050));
  ASSERT_EQ(0, metal_bucket_take(&b, 1100));
  ASSERT_EQ(100, metal_bucket_take(&b, 1100));
  /* a long idle time refills only up to the burst */
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(0, metal_bucket_take(&b, 60000));
  ASSERT(metal_bucket_take(&b, 60000) > 0);
}

static void test_bucket_rate_over_time(void) {
  /* Over 10 simulated seconds at 5/s with burst 2, at most 2 + 5*10 tokens are handed out. */
  struct metal_bucket b;
  metal_bucket_init(&b, 5, 2, 0);
  int got = 0;
  for (int64_t t = 0; t <= 10000; t++)
    while (metal_bucket_take(&b, t) == 0)
      got++;
  ASSERT(got <= 52);
  ASSERT(got >= 51);
}

static void test_bucket_pause(void) {
  struct metal_bucket b;
  metal_bucket_init(&b, 10, 5, 0);
  metal_bucket_pause(&b, 3000);
  ASSERT_EQ(3000, metal_bucket_take(&b, 0));
  ASSERT_EQ(1, metal_bucket_take(&b, 2999));
  ASSERT_EQ(0, metal_bucket_take(&b, 3000)); /* one probe at the end of the pause */
  ASSERT_EQ(100, metal_bucket_take(&b, 3000));
  /* an earlier pause does not shorten a later one */
  metal_bucket_pause(&b, 9000);
  metal_bucket_pause(&b, 5000);
  ASSERT_EQ(5000, metal_bucket_take(&b, 4000));
  /* a clock that steps back mints nothing */
  ASSERT_EQ(0, metal_bucket_take(&b, 9000));
  ASSERT(metal_bucket_take(&b, 8000) > 0);
}

static void test_bucket_odd_params(void) {
  struct metal_bucket b;
  metal_bucket_init(&b, 0, 0, 0); /* becomes 1/s, burst 1 */
  ASSERT_EQ(0, metal_bucket_take(&b, 0));
  ASSERT_EQ(1000, metal_bucket_take(&b, 0));
  metal_bucket_init(&b, 3, 1, 0);
  ASSERT_EQ(0, metal_bucket_take(&b, 0));
  ASSERT_EQ(334, metal_bucket_take(&b, 0));
}

/* ---- pagination ---- */

static json_t *J(const char *s) {
  json_error_t e;
  return json_loads(s, 0, &e);
}

static void test_page_last_page(void) {
  struct eng_error e;
  json_t *m = J("{\"current_page\":1,\"last_page\":3,\"total\":25}");
  ASSERT_EQ(METAL_PAGE_NEXT, metal_page_next(m, 1, 10, 10, 10, 100, "listing", &e));
  json_decref(m);
  m = J("{\"current_page\":3,\"last_page\":3}");
  ASSERT_EQ(METAL_PAGE_DONE, metal_page_next(m, 3, 5, 5, 10, 100, "listing", &e));
  json_decref(m);
  /* last_page wins over a full page */
  m = J("{\"last_page\":1}");
  ASSERT_EQ(METAL_PAGE_DONE, metal_page_next(m, 1, 10, 10, 10, 100, "listing", &e));
  json_decref(m);
}

static void test_page_next_href(void) {
  struct eng_error e;
  json_t *m = J("{\"next\":{\"href\":\"/metal/v1/projects/x/devices?page=2\"}}");
  ASSERT_EQ(METAL_PAGE_NEXT, metal_page_next(m, 1, 3, 3, 10, 100, "listing", &e));
  json_decref(m);
  m = J("{\"next\":null,\"total\":100}");
  ASSERT_EQ(METAL_PAGE_DONE, metal_page_next(m, 1, 10, 10, 10, 100, "listing", &e));
  json_decref(m);
  m = J("{\"total\":25}");
  ASSERT_EQ(METAL_PAGE_NEXT, metal_page_next(m, 2, 10, 10, 10, 100, "listing", &e));
  ASSERT_EQ(METAL_PAGE_DONE, metal_page_next(m, 3, 5, 5, 10, 100, "listing", &e));
  json_decref(m);
}

static void test_page_no_meta(void) {
  struct eng_error e;
  ASSERT_EQ(METAL_PAGE_DONE, metal_page_next(NULL, 1, 7, 7, 10, 100, "listing", &e));
  ASSERT_EQ(METAL_PAGE_NEXT, metal_page_next(NULL, 1, 10, 10, 10, 100, "listing", &e));
  /* a server that ignores page and repeats itself ends the listing */
  ASSERT_EQ(METAL_PAGE_DONE, metal_page_next(NULL, 2, 10, 0, 10, 100, "listing", &e));
  /* more than per_page: the server ignored paging and sent everything (SSH keys, issue 10) */
  ASSERT_EQ(METAL_PAGE_DONE, metal_page_next(NULL, 1, 300, 300, 100, 100, "listing", &e));
  /* meta of the wrong type is ignored, not trusted */
  json_t *m = J("[1,2]");
  ASSERT_EQ(METAL_PAGE_NEXT, metal_page_next(m, 1, 10, 10, 10, 100, "listing", &e));
  json_decref(m);
  m = J("{\"last_page\":\"7\"}");
  ASSERT_EQ(METAL_PAGE_DONE, metal_page_next(m, 1, 4, 4, 10, 100, "listing", &e));
  json_decref(m);
}

static void test_page_empty_ends(void) {
  struct eng_error e;
  json_t *m = J("{\"last_page\":50}");
  ASSERT_EQ(METAL_PAGE_DONE, metal_page_next(m, 4, 0, 0, 10, 100, "listing", &e));
  json_decref(m);
}

static void test_page_never_ending(void) {
  struct eng_error e;
  json_t *m = J("{\"last_page\":1000000}");
  unsigned page = 1;
  enum metal_page_step s;
  while ((s = metal_page_next(m, page, 10, 10, 10, 20, "listing the devices of project P", &e)) ==
         METAL_PAGE_NEXT)
    page++;
  json_decref(m);
  ASSERT_EQ(METAL_PAGE_ERROR, s);
  ASSERT_EQ(20, page);
  ASSERT_EQ(ENG_PROTOCOL, e.code);
  ASSERT_CONTAINS(e.msg, "listing the devices of project P failed");
  ASSERT_CONTAINS(e.msg, "after 20 pages");
}

static void test_page_wrong_current(void) {
  struct eng_error e;
  json_t *m = J("{\"current_page\":1,\"last_page\":5}");
  ASSERT_EQ(METAL_PAGE_ERROR, metal_page_next(m, 2, 10, 10, 10, 100, "listing", &e));
  ASSERT_CONTAINS(e.msg, "returned page 1 when page 2 was asked");
  json_decref(m);
}

/* ---- decoding ---- */

static const char *DEVICE =
    "{\"id\":\"d-1\",\"hostname\":\"w-1\",\"state\":\"provisioning\",\"tags\":[\"z\",\"a\"],"
    "\"metro\":{\"code\":\"ny\",\"name\":\"New York\"},\"plan\":{\"slug\":\"c3.small.x86\"},"
    "\"operating_system\":{\"slug\":\"flatcar_stable\"},\"billing_cycle\":\"hourly\","
    "\"created_at\":\"2026-01-01T00:00:00Z\",\"updated_at\":\"2026-01-01T00:05:00Z\","
    "\"provisioning_percentage\":47.5,\"userdata\":\"#!secret\",\"root_password\":\"pw\","
    "\"ip_addresses\":[{\"id\":\"ip2\",\"address\":\"10.0.0.5\",\"address_family\":4,\"cidr\":31,"
    "\"public\":false,\"management\":true,\"parent_block\":{\"network\":\"10.0.0.0\",\"cidr\":25}},"
    "{\"id\":\"ip1\",\"address\":\"147.1.2.3\",\"address_family\":4,\"cidr\":31,\"public\":true,"
    "\"management\":true}]}";

static void test_decode_device(void) {
  json_t *v = J(DEVICE);
  struct metal_device d;
  struct eng_error e;
  ASSERT_OK(metal_device_decode(v, &d, &e));
  json_decref(v);
  ASSERT_STR_EQ("d-1", d.id);
  ASSERT_STR_EQ("ny", d.metro);
  ASSERT_STR_EQ("c3.small.x86", d.plan);
  ASSERT_STR_EQ("flatcar_stable", d.operating_system);
  ASSERT_EQ(2, d.ntags);
  ASSERT_EQ(2, d.nips);
  ASSERT_STR_EQ("10.0.0.0", d.ips[0].parent_network);
  ASSERT_EQ(25, d.ips[0].parent_cidr);
  ASSERT_EQ(-1, d.ips[1].parent_cidr);
  json_t *s = metal_device_summary(&d);
  char *c = jsonx_canonical(s);
  ASSERT_NOT_CONTAINS(c, "secret");
  ASSERT_NOT_CONTAINS(c, "root_password");
  ASSERT_NOT_CONTAINS(c, "updated_at");
  ASSERT_CONTAINS(c, "\"tags\":[\"a\",\"z\"]");
  ASSERT_CONTAINS(c, "\"provisioning_percentage\":40");
  ASSERT_CONTAINS(c, "\"ips\":[{\"address\":\"10.0.0.5\"");
  ASSERT_CONTAINS(c, "\"parent_block\":{\"cidr\":25,\"network\":\"10.0.0.0\"}");
  free(c);
  json_decref(s);
  struct metal_device *dup = metal_device_dup(&d);
  ASSERT(dup && strcmp(dup->id, "d-1") == 0 && dup->nips == 2);
  metal_device_free(dup);
  metal_device_clear(&d);
}

static void test_decode_summary_stable(void) {
  /* Progress inside the same 10 % step and a moved updated_at do not change the summary. */
  json_t *a = J(DEVICE), *b = J(DEVICE);
  json_object_set_new(b, "provisioning_percentage", json_real(49.9));
  json_object_set_new(b, "updated_at", json_string("2026-01-01T00:06:00Z"));
  struct metal_device da, db;
  ASSERT_OK(metal_device_decode(a, &da, NULL));
  ASSERT_OK(metal_device_decode(b, &db, NULL));
  json_t *sa = metal_device_summary(&da), *sb = metal_device_summary(&db);
  ASSERT(json_equal(sa, sb));
  json_decref(sa);
  json_decref(sb);
  metal_device_clear(&db);
  json_decref(b);
  /* but a state change does */
  b = J(DEVICE);
  json_object_set_new(b, "state", json_string("failed"));
  ASSERT_OK(metal_device_decode(b, &db, NULL));
  sa = metal_device_summary(&da);
  sb = metal_device_summary(&db);
  ASSERT(!json_equal(sa, sb));
  ASSERT(!json_object_get(sb, "provisioning_percentage"));
  json_decref(sa);
  json_decref(sb);
  metal_device_clear(&da);
  metal_device_clear(&db);
  json_decref(a);
  json_decref(b);
}

static void test_decode_device_bad(void) {
  static const struct {
    const char *json, *msg;
  } cases[] = {
      {"[]", "not a JSON object"},
      {"{\"state\":\"active\"}", "has no id"},
      {"{\"id\":5,\"state\":\"active\"}", "has no id"},
      {"{\"id\":\"x\"}", "field 'state'"},
      {"{\"id\":\"x\",\"state\":3}", "field 'state'"},
      {"{\"id\":\"x\",\"state\":\"active\",\"tags\":\"a\"}", "field 'tags'"},
      {"{\"id\":\"x\",\"state\":\"active\",\"tags\":[\"a\",1]}", "field 'tags'"},
      {"{\"id\":\"x\",\"state\":\"active\",\"hostname\":[]}", "field 'hostname'"},
      {"{\"id\":\"x\",\"state\":\"active\",\"ip_addresses\":{}}", "field 'ip_addresses'"},
      {"{\"id\":\"x\",\"state\":\"active\",\"ip_addresses\":[1]}",
       "'ip_addresses' is not an object"},
  };
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    json_t *v = J(cases[i].json);
    ASSERT(v);
    struct metal_device d;
    struct eng_error e;
    ASSERT_MSG(metal_device_decode(v, &d, &e) == ENG_PROTOCOL, "accepted %s", cases[i].json);
    ASSERT_CONTAINS(e.msg, cases[i].msg);
    ASSERT(d.id == NULL);
    metal_device_clear(&d);
    json_decref(v);
  }
}

static void test_decode_device_lenient_extras(void) {
  /* Fields shown only to operators fall back quietly: odd metro/plan shapes, NaN-free numbers. */
  json_t *v =
      J("{\"id\":\"x\",\"state\":\"active\",\"metro\":{\"href\":\"/metal/v1/metros/1\"},"
        "\"plan\":\"c3.small.x86\",\"operating_system\":7,\"hostname\":null,"
        "\"provisioning_percentage\":\"50\",\"ip_addresses\":[{\"address\":7,\"cidr\":\"x\"}]}");
  struct metal_device d;
  ASSERT_OK(metal_device_decode(v, &d, NULL));
  ASSERT_STR_EQ("", d.metro);
  ASSERT_STR_EQ("c3.small.x86", d.plan);
  ASSERT_STR_EQ("", d.operating_system);
  ASSERT_STR_EQ("", d.hostname);
  ASSERT(d.provisioning_percentage < 0);
  ASSERT_STR_EQ("", d.ips[0].address);
  ASSERT_EQ(-1, d.ips[0].cidr);
  metal_device_clear(&d);
  json_decref(v);
}

static void test_decode_list(void) {
  json_t *arr = J("[{\"id\":\"b\",\"state\":\"active\"},{\"id\":\"a\",\"state\":\"queued\"},"
                  "{\"id\":\"b\",\"state\":\"active\"}]");
  struct metal_device_list l;
  ASSERT_OK(metal_device_list_decode(arr, &l, NULL));
  ASSERT_EQ(2, l.n);
  ASSERT_STR_EQ("a", l.items[0].id);
  ASSERT_STR_EQ("b", l.items[1].id);
  metal_device_list_clear(&l);
  json_decref(arr);
  /* one bad device fails the whole list: skipping it would look like a disappearance */
  arr = J("[{\"id\":\"b\",\"state\":\"active\"},{\"id\":\"c\"}]");
  struct eng_error e;
  ASSERT_EQ(ENG_PROTOCOL, metal_device_list_decode(arr, &l, &e));
  ASSERT_EQ(0, l.n);
  json_decref(arr);
  ASSERT_EQ(ENG_PROTOCOL, metal_device_list_decode(NULL, &l, &e));
}

static void test_decode_truncated_json(void) {
  /* Truncated JSON never reaches the decoders: the parser rejects it with a position. */
  struct eng_error e;
  char *cut = xstrndup(DEVICE, strlen(DEVICE) / 2);
  json_t *v = jsonx_parse(cut, strlen(cut), "response of GET /devices/d-1", &e);
  ASSERT(v == NULL);
  ASSERT_CONTAINS(e.msg, "response of GET /devices/d-1 is not valid JSON");
  free(cut);
}

static void test_decode_sshkeys(void) {
  json_t *arr =
      J("[{\"id\":\"k1\",\"label\":\"shoot--p--s-ssh-publickey\",\"key\":\"ssh-ed25519 AAAA c1\","
        "\"fingerprint\":\"aa:bb\",\"created_at\":\"2026-01-01T00:00:00Z\"},{\"id\":\"k2\"}]");
  struct metal_sshkey_list l;
  ASSERT_OK(metal_sshkey_list_decode(arr, &l, NULL));
  ASSERT_EQ(2, l.n);
  ASSERT_STR_EQ("shoot--p--s-ssh-publickey", l.items[0].label);
  ASSERT_STR_EQ("", l.items[1].label);
  metal_sshkey_list_free_items(&l);
  json_decref(arr);
  arr = J("[{\"id\":\"k1\",\"label\":5}]");
  struct eng_error e;
  ASSERT_EQ(ENG_PROTOCOL, metal_sshkey_list_decode(arr, &l, &e));
  ASSERT_CONTAINS(e.msg, "field 'label'");
  json_decref(arr);
  ASSERT(metal_sshkey_same("ssh-ed25519 AAAA c1", " ssh-ed25519  AAAA other-comment\n"));
  ASSERT(!metal_sshkey_same("ssh-ed25519 AAAA", "ssh-ed25519 AAAB"));
  ASSERT(!metal_sshkey_same("ssh-rsa AAAA", "ssh-ed25519 AAAA"));
}

static void test_decode_ips(void) {
  json_t *arr =
      J("[{\"id\":\"r1\",\"address\":\"10.1.0.0\",\"network\":\"10.1.0.0\",\"cidr\":25,"
        "\"type\":\"private_ipv4\",\"public\":false,\"management\":true,\"tags\":[\"t\"],"
        "\"metro\":{\"code\":\"ny\"},\"parent_block\":{\"network\":\"10.1.0.0\",\"cidr\":24}},"
        "{\"id\":\"r1\"}]");
  struct metal_ip_list l;
  ASSERT_OK(metal_ip_list_decode(arr, &l, NULL));
  ASSERT_EQ(1, l.n);
  ASSERT_STR_EQ("private_ipv4", l.items[0].type);
  ASSERT_EQ(24, l.items[0].parent_cidr);
  ASSERT_STR_EQ("ny", l.items[0].metro);
  for (size_t i = 0; i < l.n; i++)
    metal_ipres_clear(&l.items[i]);
  free(l.items);
  json_decref(arr);
  arr = J("[{\"id\":\"r1\",\"tags\":{}}]");
  struct eng_error e;
  ASSERT_EQ(ENG_PROTOCOL, metal_ip_list_decode(arr, &l, &e));
  json_decref(arr);
}

static void test_transitional(void) {
  ASSERT(metal_state_transitional("queued"));
  ASSERT(metal_state_transitional("powering_off"));
  ASSERT(!metal_state_transitional("active"));
  ASSERT(!metal_state_transitional("failed"));
  ASSERT(!metal_state_transitional(NULL));
}

/* One table, one rule: the Metal client's code and retry answers are the engine's, and nothing
 * is retried that Gardener treats as unrecoverable (or the other way round). */
static void test_one_error_table(void) {
  for (int c = 0; c < ENG__COUNT; c++) {
    struct eng_error e;
    eng_error_set(&e, (enum eng_err)c, "x");
    const char *g = gardener_error_code((enum eng_err)c);
    const char *m = metal_gardener_code(&e);
    ASSERT_MSG((g == NULL) == (m == NULL) && (!g || !strcmp(g, m)), "%s: gardener %s, metal %s",
               eng_err_name((enum eng_err)c), g ? g : "-", m ? m : "-");
    ASSERT_MSG(metal_retryable(&e) == eng_err_retryable((enum eng_err)c), "%s: retry rules differ",
               eng_err_name((enum eng_err)c));
    if (g && gardener_code_non_retryable(g))
      ASSERT_MSG(!eng_err_retryable((enum eng_err)c), "%s is retried but %s is unrecoverable",
                 eng_err_name((enum eng_err)c), g);
  }
}

int main(void) {
  xalloc_init();
  TEST(test_error_text_single);
  TEST(test_error_text_many);
  TEST(test_error_text_both);
  TEST(test_error_text_html);
  TEST(test_error_text_truncated_json);
  TEST(test_error_text_huge);
  TEST(test_error_text_utf8_cut);
  TEST(test_error_text_empty_and_other_json);
  TEST(test_classify_401);
  TEST(test_classify_403);
  TEST(test_classify_404);
  TEST(test_classify_429_retry_after);
  TEST(test_classify_429_reset);
  TEST(test_classify_422_capacity);
  TEST(test_classify_422_quota);
  TEST(test_classify_422_config);
  TEST(test_classify_5xx_html);
  TEST(test_classify_other);
  TEST(test_classify_transport);
  TEST(test_error_scrubs_secret);
  TEST(test_idem_tag_plain);
  TEST(test_idem_tag_hashed);
  TEST(test_idem_tag_unusual_chars);
  TEST(test_cluster_tag);
  TEST(test_provider_id);
  TEST(test_joined_networks);
  TEST(test_bucket_burst_then_rate);
  TEST(test_bucket_rate_over_time);
  TEST(test_bucket_pause);
  TEST(test_bucket_odd_params);
  TEST(test_page_last_page);
  TEST(test_page_next_href);
  TEST(test_page_no_meta);
  TEST(test_page_empty_ends);
  TEST(test_page_never_ending);
  TEST(test_page_wrong_current);
  TEST(test_decode_device);
  TEST(test_decode_summary_stable);
  TEST(test_decode_device_bad);
  TEST(test_decode_device_lenient_extras);
  TEST(test_decode_list);
  TEST(test_decode_truncated_json);
  TEST(test_decode_sshkeys);
  TEST(test_decode_ips);
  TEST(test_transitional);
  TEST(test_one_error_table);
  log_forget_all_secrets();
  return tap_done();
}
