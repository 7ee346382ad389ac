/*
 * watchdec_test.c - the watch stream decoder gives the same events whatever the chunking
 * (everything at once, 1 byte at a time, random cuts), handles tricky strings and layouts,
 * and fails clearly on oversized events and on bytes that are not a JSON object stream.
 */
#include "engine/base/common.h"
#include "engine/kube/watchdec.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"

#include <stdlib.h>
#include <string.h>

struct collect {
  char **items;
  size_t n;
  size_t stop_after; /* 0 = never */
};

static int collect_fn(void *ud, json_t *v) {
  struct collect *c = ud;
  c->items = xrealloc(c->items, (c->n + 1) * sizeof(*c->items));
  c->items[c->n++] = jsonx_canonical(v);
  return c->stop_after && c->n >= c->stop_after;
}

static void collect_free(struct collect *c) {
  for (size_t i = 0; i < c->n; i++)
    free(c->items[i]);
  free(c->items);
  memset(c, 0, sizeof(*c));
}

/* A stream exercising the scanner: braces and quotes inside strings, escapes, nesting,
 * several layouts (one per line, none, pretty-printed, CRLF). */
static char *make_stream(size_t *len, size_t *nevents) {
  static const char *const events[] = {
      "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"1\"}}}\n",
      "{\"type\":\"MODIFIED\",\"object\":{\"data\":\"}{][\\\"\\\\\",\"x\":[1,[2,{\"y\":\"}\"}]]}}",
      "{\"type\":\"DELETED\",\"object\":{\"s\":\"\\u00e9t\\u00e9 \xc3\xa9 \\\\\\\"\"}}",
      "\r\n  {\n  \"type\": \"BOOKMARK\",\n  \"object\": {\n    \"metadata\": "
      "{\"resourceVersion\": \"99\"}\n  }\n}\r\n",
      "{\"type\":\"ADDED\",\"object\":{\"empty\":{},\"arr\":[],\"str\":\"\",\"esc\":\"\\\\\"}}\t",
  };
  struct buf b;
  buf_init(&b, 1u << 24);
  size_t n = 0;
  for (int round = 0; round < 40; round++) {
    for (size_t i = 0; i < ARRAY_SIZE(events); i++, n++)
      if (buf_appends(&b, events[i]))
        abort();
    /* A large object every few rounds. */
    if (round % 10 == 0) {
      if (buf_appends(&b, "{\"type\":\"ADDED\",\"object\":{\"big\":\""))
        abort();
      for (int k = 0; k < 20000; k++)
        if (buf_appends(&b, k % 97 == 0 ? "\\\"" : "x"))
          abort();
      if (buf_appends(&b, "\"}}\n"))
        abort();
      n++;
    }
  }
  *nevents = n;
  return buf_take(&b, len);
}

static enum eng_err feed_cut(const char *s, size_t len, size_t (*next_cut)(unsigned *),
                             unsigned seed, struct collect *out, struct eng_error *err) {
  struct kube_watchdec d;
  kube_watchdec_init(&d, 0);
  size_t off = 0;
  enum eng_err rc = ENG_OK;
  while (off < len && rc == ENG_OK) {
    size_t n = next_cut(&seed);
    if (n > len - off)
      n = len - off;
    rc = kube_watchdec_feed(&d, s + off, n, collect_fn, out, err);
    off += n;
  }
  if (rc == ENG_OK && kube_watchdec_pending(&d) != 0)
    rc = ENG_PROTOCOL;
  kube_watchdec_release(&d);
  return rc;
}

static size_t cut_all(unsigned *s) {
  (void)s;
  return (size_t)-1 / 2;
}
static size_t cut_one(unsigned *s) {
  (void)s;
  return 1;
}
static size_t cut_random(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return 1 + (*s >> 16) % 300;
}
static size_t cut_random_big(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return 1 + (*s >> 8) % 70000;
}

static void test_same_events_any_chunking(void) {
  size_t len, nev;
  char *s = make_stream(&len, &nev);
  struct collect ref = {0};
  struct eng_error err;
  ASSERT_EQ(ENG_OK, feed_cut(s, len, cut_all, 0, &ref, &err));
  ASSERT_EQ(nev, ref.n);
  ASSERT_CONTAINS(ref.items[1], "}{][\\\"\\\\");
  ASSERT_CONTAINS(ref.items[3], "\"BOOKMARK\"");
  size_t (*cuts[])(unsigned *) = {cut_one, cut_random, cut_random_big};
  for (size_t c = 0; c < ARRAY_SIZE(cuts); c++) {
    for (unsigned seed = 1; seed <= (c == 0 ? 1u : 5u); seed++) {
      struct collect got = {0};
      ASSERT_EQ(ENG_OK, feed_cut(s, len, cuts[c], seed, &got, &err));
      ASSERT_EQ(ref.n, got.n);
      for (size_t i = 0; i < ref.n; i++)
        ASSERT_MSG(!strcmp(ref.items[i], got.items[i]), "cut %zu seed %u: event %zu differs", c,
                   seed, i);
      collect_free(&got);
    }
  }
  collect_free(&ref);
  free(s);
}

static void test_oversized_event(void) {
  struct kube_watchdec d;
  kube_watchdec_init(&d, 1000);
  struct collect got = {0};
  struct eng_error err;
  char small[200];
  snprintf(small, sizeof(small), "{\"type\":\"ADDED\",\"object\":{\"a\":\"b\"}}\n");
  ASSERT_EQ(ENG_OK, kube_watchdec_feed(&d, small, strlen(small), collect_fn, &got, &err));
  ASSERT_EQ(1, got.n);
  /* 3000 bytes of one event, in chunks: fails once the cap is crossed. */
  char big[3000];
  memset(big, 'x', sizeof(big));
  memcpy(big, "{\"type\":\"ADDED\",\"object\":{\"a\":\"", 31);
  enum eng_err rc = ENG_OK;
  for (size_t off = 0; off < sizeof(big) && rc == ENG_OK; off += 100)
    rc = kube_watchdec_feed(&d, big + off, 100, collect_fn, &got, &err);
  ASSERT_EQ(ENG_TOOLARGE, rc);
  ASSERT_CONTAINS(err.msg, "larger than the limit of 1000 bytes");
  ASSERT_EQ(1, got.n);
  /* After a failure nothing more is accepted. */
  ASSERT_EQ(ENG_PROTOCOL, kube_watchdec_feed(&d, small, strlen(small), collect_fn, &got, &err));
  kube_watchdec_release(&d);
  /* The same in a single chunk, complete: still refused. */
  kube_watchdec_init(&d, 1000);
  char *one = xcalloc(1, 3100);
  memcpy(one, big, sizeof(big));
  memcpy(one + strlen(one), "\"}}", 4);
  ASSERT_EQ(ENG_TOOLARGE, kube_watchdec_feed(&d, one, strlen(one), collect_fn, &got, &err));
  kube_watchdec_release(&d);
  free(one);
  collect_free(&got);
}

static void test_garbage(void) {
  const char *bad[] = {"[1,2]\n", "\"str\"", "{\"type\":\"ADDED\"}\nnull\n", "<html>oops</html>",
                       "{\"a\":tru}"};
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    struct kube_watchdec d;
    kube_watchdec_init(&d, 0);
    struct collect got = {0};
    struct eng_error err;
    eng_error_clear(&err);
    enum eng_err rc = kube_watchdec_feed(&d, bad[i], strlen(bad[i]), collect_fn, &got, &err);
    ASSERT_MSG(rc == ENG_PROTOCOL, "case %zu: rc %d", i, rc);
    ASSERT_MSG(err.msg[0], "case %zu: no message", i);
    kube_watchdec_release(&d);
    collect_free(&got);
  }
  struct kube_watchdec d;
  kube_watchdec_init(&d, 0);
  struct collect got = {0};
  struct eng_error err;
  ASSERT_EQ(ENG_PROTOCOL, kube_watchdec_feed(&d, "<html>", 6, collect_fn, &got, &err));
  ASSERT_CONTAINS(err.msg, "not a sequence of JSON objects: found \"<html>\"");
  kube_watchdec_release(&d);
}

static void test_stop_and_pending(void) {
  struct kube_watchdec d;
  kube_watchdec_init(&d, 0);
  struct collect got = {.stop_after = 2};
  struct eng_error err;
  const char *s = "{\"n\":1}{\"n\":2}{\"n\":3}{\"n\":";
  ASSERT_EQ(ENG_CANCELED, kube_watchdec_feed(&d, s, strlen(s), collect_fn, &got, &err));
  ASSERT_EQ(2, got.n);
  kube_watchdec_release(&d);
  collect_free(&got);
  kube_watchdec_init(&d, 0);
  ASSERT_EQ(ENG_OK, kube_watchdec_feed(&d, s, strlen(s), collect_fn, &got, &err));
  ASSERT_EQ(3, got.n);
  ASSERT_EQ(5, kube_watchdec_pending(&d)); /* {"n": waits for the rest */
  ASSERT_EQ(ENG_OK, kube_watchdec_feed(&d, "4}", 2, collect_fn, &got, &err));
  ASSERT_EQ(4, got.n);
  ASSERT_STR_EQ("{\"n\":4}", got.items[3]);
  ASSERT_EQ(0, kube_watchdec_pending(&d));
  kube_watchdec_release(&d);
  collect_free(&got);
}

int main(void) {
  xalloc_init();
  TEST(test_same_events_any_chunking);
  TEST(test_oversized_event);
  TEST(test_garbage);
  TEST(test_stop_and_pending);
  return tap_done();
}
