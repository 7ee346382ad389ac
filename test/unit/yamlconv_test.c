/*
 * yamlconv_test.c - YAML <-> JSON conversion: scalar resolution (YAML 1.1 as Go reads
 * it), anchors, merge keys, caps, error messages, and emit/parse round trips.
 */
#include "engine/base/common.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"
#include "engine/base/yamlconv.h"

#include "test/tap.h"

#include <stdlib.h>
#include <string.h>

/* Parse YAML and return canonical JSON (caller frees), or NULL with err filled. */
static char *y2j(const char *yaml, struct eng_error *err) {
  json_t *v = yamlconv_parse(yaml, strlen(yaml), "test input", err);
  if (!v)
    return NULL;
  char *s = jsonx_canonical(v);
  json_decref(v);
  return s;
}

static void test_scalars(void) {
  struct eng_error err;
  char *s = y2j("a: 1\nb: 0x10\nc: 0755\nd: 1.5\ne: yes\nf: off\ng: ~\nh:\ni: \"1\"\nj: '1.5'\n"
                "k: 1.2.3\nl: !!str true\nm: 1e3\nneg: -7\no: 0o17\np: 0b101\nq: 08\nr: .inf\n"
                "s: 99999999999999999999\n",
                &err);
  ASSERT_MSG(s, "%s", err.msg);
  ASSERT_STR_EQ(
      "{\"a\":1,\"b\":16,\"c\":493,\"d\":1.5,\"e\":true,\"f\":false,\"g\":null,\"h\":null,"
      "\"i\":\"1\",\"j\":\"1.5\",\"k\":\"1.2.3\",\"l\":\"true\",\"m\":1000.0,\"neg\":-7,\"o\":15,"
      "\"p\":5,\"q\":8.0,\"r\":\".inf\",\"s\":1e20}",
      s);
  free(s);
}

static void test_collections_anchors_merge(void) {
  struct eng_error err;
  char *s = y2j("base: &b {x: 1, w: 2}\nlist: &l [a, b]\nuse:\n  <<: *b\n  w: 3\ncopy: *l\n"
                "multi:\n  <<: [{p: 1}, {p: 2, q: 2}]\n",
                &err);
  ASSERT_MSG(s, "%s", err.msg);
  ASSERT_STR_EQ("{\"base\":{\"w\":2,\"x\":1},\"copy\":[\"a\",\"b\"],\"list\":[\"a\",\"b\"],"
                "\"multi\":{\"p\":1,\"q\":2},\"use\":{\"w\":3,\"x\":1}}",
                s);
  free(s);
  s = y2j("", &err);
  ASSERT_STR_EQ("null", s);
  free(s);
  s = y2j("# only a comment\n", &err);
  ASSERT_STR_EQ("null", s);
  free(s);
  s = y2j("---\n- 1\n- x\n", &err);
  ASSERT_STR_EQ("[1,\"x\"]", s);
  free(s);
  s = y2j("1: a\ntrue: b\n", &err);
  ASSERT_STR_EQ("{\"1\":\"a\",\"true\":\"b\"}", s);
  free(s);
}

static void test_errors(void) {
  struct eng_error err;
  char *s = y2j("a: 1\na: 2\n", &err);
  ASSERT(!s);
  ASSERT_CONTAINS(err.msg, "test input: duplicate mapping key \"a\" at line 2");
  s = y2j("a: [1, 2\n", &err);
  ASSERT(!s);
  ASSERT_CONTAINS(err.msg, "test input:");
  ASSERT_CONTAINS(err.msg, "line");
  s = y2j("a: 1\n---\nb: 2\n", &err);
  ASSERT(!s);
  ASSERT_CONTAINS(err.msg, "second one");
  s = y2j("a: *nope\n", &err);
  ASSERT(!s);
  ASSERT_CONTAINS(err.msg, "unknown or enclosing anchor");
  s = y2j("a: &x [*x]\n", &err);
  ASSERT(!s);
  s = y2j("? [1, 2]\n: x\n", &err);
  ASSERT(!s);
  ASSERT_CONTAINS(err.msg, "must be a scalar");
  s = y2j("a: !!int abc\n", &err);
  ASSERT(!s);
  ASSERT_CONTAINS(err.msg, "tagged !!int");
  /* Deep nesting is capped. */
  char deep[1000];
  size_t n = 0;
  for (int i = 0; i < 300; i++)
    deep[n++] = '[';
  deep[n] = '\0';
  s = y2j(deep, &err);
  ASSERT(!s);
  ASSERT_CONTAINS(err.msg, "deeper");
}

static void test_alias_bomb(void) {
  struct eng_error err;
  const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                     "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                     "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                     "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
  char *s = y2j(bomb, &err);
  ASSERT(!s);
  ASSERT_CONTAINS(err.msg, "more than");
}

static void roundtrip(const char *json) {
  struct eng_error err;
  json_t *v = jsonx_parse(json, strlen(json), "json", &err);
  if (!v) {
    TAP_FAIL("bad test json %s", json);
    return;
  }
  size_t len;
  char *y = yamlconv_emit(v, &len, &err);
  if (!y) {
    TAP_FAIL("emit failed: %s", err.msg);
    json_decref(v);
    return;
  }
  json_t *back = yamlconv_parse(y, len, "emitted", &err);
  if (!back || !json_equal(v, back)) {
    char *c = back ? jsonx_canonical(back) : NULL;
    TAP_FAIL("round trip of %s through\n%s\ngave %s (%s)", json, y, c ? c : "NULL", err.msg);
    free(c);
  }
  json_decref(back);
  json_decref(v);
  free(y);
}

static void test_roundtrip(void) {
  roundtrip(
      "{\"s\":\"true\",\"n\":\"null\",\"e\":\"\",\"i\":\"12\",\"f\":\"1.5\",\"o\":\"0755\",\"y\":"
      "\"yes\","
      "\"colon\":\"a: b\",\"hash\":\"# x\",\"dash\":\"- x\",\"multi\":\"line1\\nline2\\n\","
      "\"lead\":\" spaced \",\"merge\":\"<<\",\"uni\":\"gr\\u00fc\\u00dfe\",\"ctl\":\"a\\u0001b\","
      "\"num\":3,\"neg\":-2,\"real\":2.0,\"tiny\":1e-300,\"t\":true,\"fa\":false,\"nu\":null,"
      "\"arr\":[1,[2,[]],{}],\"obj\":{\"k\":{\"z\":[\"a\",\"b\"]}},\"star\":\"*x\",\"amp\":\"&x\","
      "\"tilde\":\"~\",\"quote\":\"it's \\\"q\\\"\",\"trail\":\"x \\n y\\n\\n\"}");
  if (tap_cur_failed)
    return;
  roundtrip("[]");
  roundtrip("\"just a string\"");
  roundtrip("[\"- a\", \"? b\", \": c\", \"%d\", \"@x\", \"`x\", \"{x\", \"!x\", \"|x\", \">x\"]");
}

static void test_emit_shape(void) {
  struct eng_error err;
  const char *json = "{\"b\":[\"x\",\"z\",\"y\"],\"a\":{\"c\":\"true\",\"d\":1}}";
  json_t *v = jsonx_parse(json, strlen(json), "json", &err);
  char *y = yamlconv_emit(v, NULL, &err);
  ASSERT_STR_EQ("a:\n  c: \"true\"\n  d: 1\nb:\n- x\n- z\n- \"y\"\n", y);
  free(y);
  json_decref(v);
}

int main(void) {
  xalloc_init();
  TEST(test_scalars);
  TEST(test_collections_anchors_merge);
  TEST(test_errors);
  TEST(test_alias_bomb);
  TEST(test_roundtrip);
  TEST(test_emit_shape);
  return tap_done();
}
