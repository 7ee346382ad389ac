/*
 * jcanon_test.c - the fast canonical writer is byte-identical to
 * jsonx_canonical() on thousands of generated documents and fixed edge cases,
 * fails cleanly where jansson fails, and redact_needed() never says "clean"
 * for a document redact_copy() would change.
 */
#include "engine/base/common.h"
#include "engine/base/jcanon.h"
#include "engine/base/jsonx.h"
#include "engine/base/redact.h"
#include "engine/base/xalloc.h"

#include "test/lib/jsongen.h"
#include "test/tap.h"

#include <stdlib.h>
#include <string.h>

static bool same_as_jansson(const json_t *v) {
  struct buf b;
  buf_init(&b, 1 << 24);
  enum eng_err e = jcanon_append(&b, v);
  char *want = jsonx_canonical(v);
  bool ok = e == ENG_OK && want && b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
  if (!ok)
    printf("# jansson: %s\n# jcanon:  %s (%d)\n", want ? want : "(null)", b.data ? b.data : "",
           (int)e);
  free(want);
  buf_release(&b);
  return ok;
}

static void test_generated_documents_match_jansson(void) {
  for (int i = 0; i < 3000; i++) {
    json_t *v = jsongen_value(0);
    bool ok = same_as_jansson(v);
    json_decref(v);
    ASSERT_MSG(ok, "document %d differs", i);
  }
}

static void test_edge_cases_match_jansson(void) {
  const char *docs[] = {"{}",
                        "[]",
                        "\"\"",
                        "0",
                        "-0.0",
                        "1e-7",
                        "{\"b\":1,\"a\":{\"d\":[],\"c\":{}}}",
                        "[\"\\u0000\\u001f\\u007f\\ud834\\udd1e\"]"};
  for (size_t i = 0; i < ARRAY_SIZE(docs); i++) {
    json_t *v = json_loads(docs[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    ASSERT_MSG(v, "parse %s", docs[i]);
    bool ok = same_as_jansson(v);
    json_decref(v);
    ASSERT_MSG(ok, "%s differs", docs[i]);
  }
  /* A wide object goes through qsort instead of the insertion sort. */
  json_t *o = json_object();
  for (int i = 0; i < 200; i++) {
    char k[16];
    snprintf(k, sizeof(k), "k%d", (i * 7919) % 200);
    json_object_set_new(o, k, json_integer(i));
  }
  ASSERT(same_as_jansson(o));
  json_decref(o);
}

static void test_failures_leave_buffer_alone(void) {
  struct buf b;
  buf_init(&b, 64);
  ASSERT_OK(buf_appends(&b, "keep"));
  json_t *bad = json_stringn_nocheck("\xff\xfe", 2);
  ASSERT_EQ(ENG_INVALID, jcanon_append(&b, bad));
  ASSERT(jsonx_canonical(bad) == NULL); /* jansson refuses it too */
  json_decref(bad);
  ASSERT_EQ(ENG_INVALID, jcanon_append(&b, NULL));
  json_t *big = json_string("0123456789012345678901234567890123456789012345678901234567890123");
  ASSERT_EQ(ENG_TOOLARGE, jcanon_append(&b, big));
  json_decref(big);
  ASSERT_STR_EQ("keep", b.data);
  ASSERT_EQ(4, b.len);
  /* Too deep. */
  json_t *deep = json_array(), *cur = deep;
  for (int i = 0; i < JCANON_MAX_DEPTH + 5; i++) {
    json_t *n = json_array();
    json_array_append_new(cur, n);
    cur = n;
  }
  buf_release(&b);
  buf_init(&b, 1 << 20);
  ASSERT_EQ(ENG_INVALID, jcanon_append(&b, deep));
  ASSERT_EQ(0, b.len);
  json_decref(deep);
  buf_release(&b);
}

static void test_redact_needed_never_misses(void) {
  int clean = 0, dirty = 0;
  for (int i = 0; i < 3000; i++) {
    json_t *v = jsongen_value(0);
    enum redact_hint hint = jsongen_rnd(4) == 0 ? REDACT_HINT_SECRET : REDACT_HINT_NONE;
    json_t *r = redact_copy(v, hint);
    char *a = jsonx_canonical(v), *b = jsonx_canonical(r);
    bool changed = !a || !b || strcmp(a, b) != 0;
    bool needed = redact_needed(v, hint);
    if (changed && !needed)
      printf("# missed: %s\n", a ? a : "(null)");
    free(a);
    free(b);
    json_decref(v);
    json_decref(r);
    ASSERT_MSG(!changed || needed, "redact_needed said clean for a document redaction changes");
    needed ? dirty++ : clean++;
  }
  /* Both branches were exercised. */
  ASSERT(clean > 100);
  ASSERT(dirty > 100);
}

static void test_sorted_keys(void) {
  json_t *o = json_pack("{s:i,s:i,s:i,s:i}", "b", 1, "a-2", 2, "a", 3, "B", 4);
  size_t n = 99;
  const char **k = jsonx_sorted_keys(o, &n);
  ASSERT_EQ((size_t)4, n);
  ASSERT_STR_EQ("B", k[0]);
  ASSERT_STR_EQ("a", k[1]);
  ASSERT_STR_EQ("a-2", k[2]);
  ASSERT_STR_EQ("b", k[3]);
  ASSERT(k[4] == NULL);
  free(k);
  json_decref(o);
  json_t *arr = json_array();
  k = jsonx_sorted_keys(arr, &n);
  ASSERT_EQ((size_t)0, n);
  ASSERT(k && k[0] == NULL);
  free(k);
  k = jsonx_sorted_keys(NULL, &n);
  ASSERT_EQ((size_t)0, n);
  free(k);
  json_decref(arr);
}

static void test_project(void) {
  json_t *src =
      json_loads("{\"a\":{\"b\":{\"c\":1,\"d\":2},\"e\":[3]},\"f\":\"x\",\"g\":4}", 0, NULL);
  ASSERT(src != NULL);
  static const char *const paths[] = {"a.b.c", "a.e", "f", "missing", "a.none.deeper"};
  json_t *p = jsonx_project(src, paths, ARRAY_SIZE(paths));
  char *text = jsonx_canonical(p);
  ASSERT_STR_EQ("{\"a\":{\"b\":{\"c\":1},\"e\":[3]},\"f\":\"x\"}", text);
  free(text);
  ASSERT(jsonx_path(p, "a.e") == jsonx_path(src, "a.e")); /* shared, not copied */
  json_decref(p);
  json_decref(src);
}

int main(void) {
  xalloc_init();
  TEST(test_generated_documents_match_jansson);
  TEST(test_edge_cases_match_jansson);
  TEST(test_failures_leave_buffer_alone);
  TEST(test_redact_needed_never_misses);
  TEST(test_sorted_keys);
  TEST(test_project);
  return tap_done();
}
