/*
 * core_test.c - buf, b64, timefmt, jsonx, err, cli and log scrubbing.
 */
#include "engine/base/common.h"
#include "engine/base/b64.h"
#include "engine/base/buf.h"
#include "engine/base/cli.h"
#include "engine/base/err.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "engine/base/sha256.h"
#include "engine/base/timefmt.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_buf_cap(void) {
  struct buf b;
  buf_init(&b, 8);
  ASSERT_EQ(ENG_OK, buf_appends(&b, "1234"));
  ASSERT_EQ(ENG_OK, buf_appends(&b, "5678"));
  ASSERT_EQ(ENG_TOOLARGE, buf_appends(&b, "9"));
  ASSERT_STR_EQ("12345678", b.data);
  buf_consume(&b, 3);
  ASSERT_STR_EQ("45678", b.data);
  ASSERT_EQ(ENG_OK, buf_printf(&b, "%d", 12));
  ASSERT_STR_EQ("4567812", b.data);
  size_t n;
  char *s = buf_take(&b, &n);
  ASSERT_EQ(7, n);
  ASSERT_EQ(0, b.len);
  free(s);
  buf_release(&b);
}

/* A cap of SIZE_MAX is lowered to BUF_MAX_ANY, and a length near SIZE_MAX cannot wrap the check. */
static void test_buf_no_unbounded(void) {
  struct buf b;
  buf_init(&b, SIZE_MAX);
  ASSERT_EQ(BUF_MAX_ANY, b.max);
  ASSERT_EQ(ENG_OK, buf_appends(&b, "ab"));
  b.max = SIZE_MAX; /* even a hand-set cap must not let len + extra + 1 wrap to 0 */
  ASSERT_EQ(ENG_TOOLARGE, buf_append(&b, "x", SIZE_MAX - 2));
  ASSERT_EQ(ENG_TOOLARGE, buf_append(&b, "x", SIZE_MAX));
  ASSERT_EQ(2, b.len);
  buf_release(&b);
}

/* A message cut at ENG_ERROR_MSG_MAX never ends inside a UTF-8 sequence (jansson would drop it). */
static void test_error_utf8_cut(void) {
  char big[2 * ENG_ERROR_MSG_MAX];
  for (int shift = 0; shift < 4; shift++) {
    memset(big, 'a', (size_t)shift);
    size_t o = (size_t)shift;
    while (o + 3 < sizeof(big) - 1) {
      memcpy(big + o, "\xe2\x82\xac", 3); /* the euro sign */
      o += 3;
    }
    big[o] = '\0';
    struct eng_error err;
    eng_error_set(&err, ENG_INVALID, "%s", big);
    json_t *s = json_string(err.msg);
    ASSERT_MSG(s != NULL, "shift %d: the cut message is not valid UTF-8", shift);
    json_decref(s);
    eng_error_set(&err, ENG_INVALID, "x");
    eng_error_prefix(&err, "%s", big);
    s = json_string(err.msg);
    ASSERT_MSG(s != NULL, "shift %d: the cut prefixed message is not valid UTF-8", shift);
    ASSERT(strlen(err.msg) >= ENG_ERROR_MSG_MAX - 4);
    json_decref(s);
  }
}

static void test_buf_printf_long(void) {
  struct buf b;
  buf_init(&b, 4096);
  char big[1000];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = 0;
  ASSERT_EQ(ENG_OK, buf_printf(&b, "<%s>", big));
  ASSERT_EQ(1001, b.len);
  ASSERT_EQ('>', b.data[1000]);
  buf_release(&b);
}

static void test_b64_roundtrip(void) {
  const char *cases[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    char *e = b64_encode(cases[i], strlen(cases[i]));
    ASSERT_STR_EQ(want[i], e);
    unsigned char *d;
    size_t dl;
    ASSERT_EQ(ENG_OK, b64_decode(e, strlen(e), &d, &dl));
    ASSERT_EQ(strlen(cases[i]), dl);
    ASSERT(memcmp(d, cases[i], dl) == 0);
    free(d);
    free(e);
  }
  unsigned char *d;
  size_t dl;
  ASSERT_EQ(ENG_INVALID, b64_decode("Zm9v!", 5, &d, &dl));
  ASSERT_EQ(ENG_INVALID, b64_decode("Zg==Zg", 6, &d, &dl));
  ASSERT_EQ(ENG_OK, b64_decode("Zm9v\nYmFy", 9, &d, &dl));
  ASSERT_STR_EQ("foobar", (char *)d);
  free(d);
}

/* Strict padding: what the hand-written decoder let through (missing padding) is refused. */
static void test_b64_strict_padding(void) {
  const char *bad[] = {
      "Zg",       /* "f" without its padding */
      "Zg=",      /* one pad short */
      "Zm9vYg",   /* "foob" without padding */
      "Zm9vYmE",  /* "fooba" without padding */
      "Zg===",    /* too much padding */
      "Zh==",     /* non-zero unused bits: not the canonical encoding of any byte */
      "Zm9vYg=x", /* data after the padding */
      "=Zg=",     /* padding first */
      "Zm9v!",    /* not in the alphabet */
      "Zm9v-_8=", /* URL-safe alphabet */
      "Zm9v-x",   /* GnuTLS alone stops at '-' and would return "foo" */
  };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    unsigned char *d = (unsigned char *)"untouched";
    size_t dl = 99;
    ASSERT_MSG(b64_decode(bad[i], strlen(bad[i]), &d, &dl) == ENG_INVALID,
               "bad base64 \"%s\" must be refused", bad[i]);
    ASSERT(d == NULL && dl == 0);
  }
  /* Every length round-trips through the library, bytes 0..255 included. */
  unsigned char all[300];
  for (size_t i = 0; i < sizeof(all); i++)
    all[i] = (unsigned char)(i * 7 + 3);
  for (size_t n = 0; n <= sizeof(all); n += 37) {
    char *e = b64_encode(all, n);
    ASSERT_EQ(4 * ((n + 2) / 3), strlen(e));
    unsigned char *d;
    size_t dl;
    ASSERT_EQ(ENG_OK, b64_decode(e, strlen(e), &d, &dl));
    ASSERT_EQ(n, dl);
    ASSERT(memcmp(d, all, n) == 0 && d[dl] == '\0');
    free(d);
    free(e);
  }
}

static void test_timefmt(void) {
  char out[TIMEFMT_LEN];
  timefmt_rfc3339(0, out);
  ASSERT_STR_EQ("1970-01-01T00:00:00Z", out);
  int64_t ms;
  ASSERT_EQ(ENG_OK, timefmt_parse("2026-11-23T10:11:12.345Z", &ms));
  timefmt_rfc3339_ms(ms, out);
  ASSERT_STR_EQ("2026-11-23T10:11:12.345Z", out);
  timefmt_micro(ms, out);
  ASSERT_STR_EQ("2026-11-23T10:11:12.345000Z", out);
  int64_t ms2;
  ASSERT_EQ(ENG_OK, timefmt_parse("2026-11-23T12:11:12.345+02:00", &ms2));
  ASSERT_EQ(ms, ms2);
  ASSERT_EQ(ENG_OK, timefmt_parse("2000-02-29T00:00:00Z", &ms));
  timefmt_rfc3339(ms, out);
  ASSERT_STR_EQ("2000-02-29T00:00:00Z", out);
  ASSERT_EQ(ENG_INVALID, timefmt_parse("2026-13-01T00:00:00Z", &ms));
  ASSERT_EQ(ENG_INVALID, timefmt_parse("yesterday", &ms));
  ASSERT_EQ(ENG_INVALID, timefmt_parse("2026-11-23T10:11:12", &ms));
}

static void test_json_canonical(void) {
  struct eng_error err;
  const char *in = "{\"b\": 1, \"a\": {\"z\": [3, 2], \"y\": \"\xc3\xa9\"}}";
  json_t *v = jsonx_parse(in, strlen(in), "test input", &err);
  ASSERT(v);
  char *c = jsonx_canonical(v);
  ASSERT_STR_EQ("{\"a\":{\"y\":\"\xc3\xa9\",\"z\":[3,2]},\"b\":1}", c);
  ASSERT_STR_EQ("\xc3\xa9", jsonx_str(v, "a.y"));
  ASSERT_EQ(1, jsonx_int(v, "b", -1));
  ASSERT_EQ(-1, jsonx_int(v, "a.nope", -1));
  free(c);
  json_decref(v);
  v = jsonx_parse("{\"a\":", 5, "the watch event", &err);
  ASSERT(!v);
  ASSERT_EQ(ENG_INVALID, err.code);
  ASSERT_CONTAINS(err.msg, "the watch event is not valid JSON");
}

static void test_err_prefix(void) {
  struct eng_error err;
  eng_error_clear(&err);
  ASSERT_EQ(ENG_NOTFOUND, eng_error_set(&err, ENG_NOTFOUND, "key %s missing", "x"));
  eng_error_prefix(&err, "reading %s", "secret");
  ASSERT_STR_EQ("reading secret: key x missing", err.msg);
  ASSERT_STR_EQ("ENG_NOTFOUND", eng_err_name(ENG_NOTFOUND));
  ASSERT(eng_err_retryable(ENG_RATELIMIT));
  ASSERT(!eng_err_retryable(ENG_UNAUTHENTICATED));
}

static void test_cli_parse(void) {
  const char *path = NULL;
  bool flag = false;
  long n = 5;
  struct cli_list list = {0};
  const struct cli_opt opts[] = {{"journal", CLI_STRING, &path, "PATH", "the journal", NULL},
                                 {"leader-election", CLI_BOOL, &flag, NULL, "elect", NULL},
                                 {"max", CLI_INT, &n, "N", "max", NULL},
                                 {"controllers", CLI_LIST, &list, "A,B", "list", NULL},
                                 {0}};
  const struct cli_spec spec = {"prog test", "[options] FILE", NULL, opts, 1, 1};
  char *argv[] = {(char *)"--journal=/tmp/j",
                  (char *)"--leader-election",
                  (char *)"--max",
                  (char *)"7",
                  (char *)"file.db",
                  (char *)"--controllers=a,b",
                  (char *)"--controllers",
                  (char *)"c"};
  char *pos[8];
  int npos;
  ASSERT_EQ(CLI_OK, cli_parse(&spec, 8, argv, &npos, pos));
  ASSERT_STR_EQ("/tmp/j", path);
  ASSERT(flag);
  ASSERT_EQ(7, n);
  ASSERT_EQ(1, npos);
  ASSERT_STR_EQ("file.db", pos[0]);
  ASSERT_EQ(3, list.n);
  ASSERT(cli_list_has(&list, "c"));
  cli_list_free(&list);
  char *bad1[] = {(char *)"--nope", (char *)"x"};
  ASSERT_EQ(CLI_ERROR, cli_parse(&spec, 2, bad1, &npos, pos));
  char *bad2[] = {(char *)"--max=abc", (char *)"x"};
  ASSERT_EQ(CLI_ERROR, cli_parse(&spec, 2, bad2, &npos, pos));
  char *bad3[] = {(char *)"--leader-election=maybe", (char *)"x"};
  ASSERT_EQ(CLI_ERROR, cli_parse(&spec, 2, bad3, &npos, pos));
  char *bad4[] = {(char *)"--journal"};
  ASSERT_EQ(CLI_ERROR, cli_parse(&spec, 1, bad4, &npos, pos));
  ASSERT_EQ(CLI_ERROR, cli_parse(&spec, 0, NULL, &npos, pos)); /* missing FILE */
}

/* Many secrets (one token per credentials set): every one is still found, short ones too,
 * at the start, the end and in the middle of a text; texts without one are left alone. */
static void test_log_many_secrets(void) {
  char tok[64];
  for (int i = 0; i < 500; i++) {
    snprintf(tok, sizeof(tok), "tok-%04d-0123456789abcdef", i);
    log_register_secret(tok);
  }
  log_register_secret("shrt5");
  ASSERT(!log_has_secret("{\"projectID\":\"tok-0500-0123456789abcdef\"}"));
  ASSERT(!log_has_secret("tok-0001-0123456789abcde")); /* a prefix is not the secret */
  ASSERT(log_has_secret("tok-0000-0123456789abcdef"));
  ASSERT(log_has_secret("x tok-0499-0123456789abcdef"));
  ASSERT(log_has_secret("{\"a\":\"tok-0250-0123456789abcdef\",\"b\":1}"));
  ASSERT(log_has_secret("ends with shrt5"));
  char *s = log_scrub("a tok-0123-0123456789abcdef b shrt5 c");
  ASSERT_STR_EQ("a [REDACTED] b [REDACTED] c", s);
  free(s);
  log_forget_secret("tok-0250-0123456789abcdef");
  ASSERT(!log_has_secret("tok-0250-0123456789abcdef"));
  ASSERT(log_has_secret("tok-0251-0123456789abcdef"));
  log_forget_all_secrets();
  ASSERT(!log_has_secret("tok-0251-0123456789abcdef"));
}

static void test_log_scrub(void) {
  log_register_secret("s3cr3t-token-value");
  log_register_secret("ab"); /* too short: ignored */
  char *s = log_scrub("Authorization: Bearer s3cr3t-token-value; again s3cr3t-token-value ab");
  ASSERT_STR_EQ("Authorization: Bearer [REDACTED]; again [REDACTED] ab", s);
  free(s);
  /* A log line never carries the secret. */
  int fds[2];
  ASSERT_OK(pipe(fds));
  log_setup(LOG_DEBUG, LOG_FORMAT_JSON, fds[1]);
  log_info("calling api", "token", "s3cr3t-token-value", "quote", "a\"b", NULL);
  log_setup(LOG_INFO, LOG_FORMAT_JSON, 2);
  close(fds[1]);
  char line[1024] = {0};
  ssize_t r = read(fds[0], line, sizeof(line) - 1);
  close(fds[0]);
  ASSERT(r > 0);
  ASSERT_NOT_CONTAINS(line, "s3cr3t");
  ASSERT_CONTAINS(line, "\"token\":\"[REDACTED]\"");
  ASSERT_CONTAINS(line, "\"quote\":\"a\\\"b\"");
  json_error_t je;
  json_t *j = json_loads(line, 0, &je);
  ASSERT(j);
  ASSERT_STR_EQ("info", jsonx_str(j, "level"));
  json_decref(j);
  log_forget_all_secrets();
}

static void test_sha256(void) {
  char hex[SHA256_HEX_LEN + 1];
  sha256_hex("abc", 3, hex);
  ASSERT_STR_EQ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", hex);
  struct sha256_ctx c;
  uint8_t d[SHA256_LEN];
  sha256_begin(&c);
  sha256_update(&c, "a", 1);
  sha256_update(&c, "bc", 2);
  sha256_end(&c, d);
  char hex2[SHA256_HEX_LEN + 1];
  hex_encode(d, SHA256_LEN, hex2);
  ASSERT_STR_EQ(hex, hex2);
}

int main(void) {
  xalloc_init();
  TEST(test_buf_cap);
  TEST(test_buf_printf_long);
  TEST(test_buf_no_unbounded);
  TEST(test_error_utf8_cut);
  TEST(test_b64_roundtrip);
  TEST(test_b64_strict_padding);
  TEST(test_timefmt);
  TEST(test_json_canonical);
  TEST(test_err_prefix);
  TEST(test_cli_parse);
  TEST(test_log_scrub);
  TEST(test_log_many_secrets);
  TEST(test_sha256);
  return tap_done();
}
