/*
 * jsonpatch_test.c - the JSON diff: exact operations for the common shapes, pointer
 * escaping, and apply(diff(a, b), a) == b over many generated document pairs.
 */
#include "engine/base/common.h"
#include "engine/base/jsonx.h"
#include "webhook/jsonpatch.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"

#include <stdlib.h>
#include <string.h>

static json_t *J(const char *s) {
  struct eng_error err;
  json_t *v = jsonx_parse(s, strlen(s), "test", &err);
  if (!v) {
    fprintf(stderr, "bad test JSON %s: %s\n", s, err.msg);
    abort();
  }
  return v;
}

static char *diff_str(const char *a, const char *b) {
  json_t *ja = J(a), *jb = J(b);
  json_t *p = jsonpatch_diff(ja, jb);
  char *s = json_dumps(p, JSON_COMPACT);
  json_decref(ja);
  json_decref(jb);
  json_decref(p);
  return s;
}

static void test_equal_is_empty(void) {
  char *s =
      diff_str("{\"a\":[1,{\"b\":null}],\"c\":\"x\"}", "{\"c\":\"x\",\"a\":[1,{\"b\":null}]}");
  ASSERT_STR_EQ("[]", s);
  free(s);
}

static void test_object_ops(void) {
  char *s = diff_str("{\"a\":1,\"b\":2,\"d\":{\"x\":1}}", "{\"a\":1,\"c\":3,\"d\":{\"x\":2}}");
  ASSERT_STR_EQ("[{\"op\":\"remove\",\"path\":\"/b\"},{\"op\":\"add\",\"path\":\"/c\",\"value\":3},"
                "{\"op\":\"replace\",\"path\":\"/d/x\",\"value\":2}]",
                s);
  free(s);
}

static void test_escaping(void) {
  char *s = diff_str(
      "{\"metadata\":{\"annotations\":{}}}",
      "{\"metadata\":{\"annotations\":{\"checksum/secret-cloudprovider\":\"h\",\"a~b\":\"x\"}}}");
  ASSERT_STR_EQ("[{\"op\":\"add\",\"path\":\"/metadata/annotations/a~0b\",\"value\":\"x\"},"
                "{\"op\":\"add\",\"path\":\"/metadata/annotations/"
                "checksum~1secret-cloudprovider\",\"value\":\"h\"}]",
                s);
  free(s);
}

static void test_arrays(void) {
  char *s = diff_str("{\"c\":[\"a\",\"b\"]}", "{\"c\":[\"a\",\"b\",\"--x\"]}");
  ASSERT_STR_EQ("[{\"op\":\"add\",\"path\":\"/c/2\",\"value\":\"--x\"}]", s);
  free(s);
  s = diff_str("{\"c\":[1,2,3,4]}", "{\"c\":[1,5]}");
  ASSERT_STR_EQ(
      "[{\"op\":\"replace\",\"path\":\"/c/1\",\"value\":5},{\"op\":\"remove\",\"path\":\"/c/3\"},"
      "{\"op\":\"remove\",\"path\":\"/c/2\"}]",
      s);
  free(s);
  s = diff_str("{\"c\":{\"x\":1}}", "{\"c\":[1]}");
  ASSERT_STR_EQ("[{\"op\":\"replace\",\"path\":\"/c\",\"value\":[1]}]", s);
  free(s);
  s = diff_str("{\"n\":1}", "{\"n\":1.0}");
  ASSERT_STR_EQ("[{\"op\":\"replace\",\"path\":\"/n\",\"value\":1.0}]", s);
  free(s);
}

static void test_apply_errors(void) {
  struct eng_error err;
  json_t *doc = J("{\"a\":[1,2]}");
  json_t *p = J("[{\"op\":\"remove\",\"path\":\"/a/5\"}]");
  ASSERT_EQ(ENG_INVALID, jsonpatch_apply(&doc, p, &err));
  ASSERT_CONTAINS(err.msg, "operation 0 (remove /a/5)");
  json_decref(p);
  p = J("[{\"op\":\"test\",\"path\":\"/a/0\",\"value\":1},{\"op\":\"add\",\"path\":\"/a/"
        "-\",\"value\":3},"
        "{\"op\":\"move\",\"from\":\"/a/0\",\"path\":\"/b\"},{\"op\":\"copy\",\"from\":\"/"
        "b\",\"path\":\"/c\"}]");
  ASSERT_EQ(ENG_OK, jsonpatch_apply(&doc, p, &err));
  char *s = jsonx_canonical(doc);
  ASSERT_STR_EQ("{\"a\":[2,3],\"b\":1,\"c\":1}", s);
  free(s);
  json_decref(p);
  p = J("[{\"op\":\"add\",\"path\":\"/x~2\",\"value\":1}]");
  ASSERT_EQ(ENG_INVALID, jsonpatch_apply(&doc, p, &err));
  json_decref(p);
  p = J("[{\"op\":\"replace\",\"path\":\"/nope\",\"value\":1}]");
  ASSERT_EQ(ENG_INVALID, jsonpatch_apply(&doc, p, &err));
  json_decref(p);
  p = J("{\"op\":\"add\"}");
  ASSERT_EQ(ENG_INVALID, jsonpatch_apply(&doc, p, &err));
  json_decref(p);
  json_decref(doc);
}

/* A small deterministic generator of JSON trees. */
static unsigned rng_state = 12345;
static unsigned rnd(unsigned n) {
  rng_state = rng_state * 1103515245u + 12345u;
  return (rng_state >> 16) % n;
}

static json_t *gen(int depth) {
  static const char *const keys[] = {"a", "b", "c/d", "e~f", "", "spec", "0"};
  switch (depth <= 0 ? rnd(4) : rnd(6)) {
  case 0:
    return json_integer((json_int_t)rnd(3));
  case 1:
    return json_string(keys[rnd(ARRAY_SIZE(keys))]);
  case 2:
    return rnd(2) ? json_true() : json_null();
  case 3:
    return json_real(0.5 * rnd(3));
  case 4: {
    json_t *a = json_array();
    for (unsigned i = rnd(4); i > 0; i--)
      json_array_append_new(a, gen(depth - 1));
    return a;
  }
  default: {
    json_t *o = json_object();
    for (unsigned i = rnd(4); i > 0; i--)
      json_object_set_new(o, keys[rnd(ARRAY_SIZE(keys))], gen(depth - 1));
    return o;
  }
  }
}

static void test_roundtrip_generated(void) {
  for (int i = 0; i < 3000; i++) {
    json_t *a = json_object(), *b = json_object();
    json_object_set_new(a, "root", gen(4));
    json_object_set_new(b, "root", gen(4));
    if (rnd(3) == 0) {
      json_decref(b);
      b = json_deep_copy(a);
      json_object_set_new(b, "extra", gen(2));
    }
    json_t *p = jsonpatch_diff(a, b);
    json_t *doc = json_deep_copy(a);
    struct eng_error err;
    enum eng_err rc = jsonpatch_apply(&doc, p, &err);
    bool ok = rc == ENG_OK && json_equal(doc, b);
    if (!ok) {
      char *sa = jsonx_canonical(a), *sb = jsonx_canonical(b), *sp = json_dumps(p, JSON_COMPACT);
      TAP_FAIL("diff does not turn %s into %s: %s (%s)", sa, sb, sp,
               rc == ENG_OK ? "wrong result" : err.msg);
      free(sa);
      free(sb);
      free(sp);
    }
    json_decref(doc);
    json_decref(p);
    json_decref(a);
    json_decref(b);
    if (!ok)
      return;
  }
}

int main(void) {
  xalloc_init();
  TEST(test_equal_is_empty);
  TEST(test_object_ops);
  TEST(test_escaping);
  TEST(test_arrays);
  TEST(test_apply_errors);
  TEST(test_roundtrip_generated);
  return tap_done();
}
