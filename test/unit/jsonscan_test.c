/*
 * jsonscan_test.c - the scanner finds the same values jansson parses: on thousands of generated
 * documents (printed compact, indented and with odd spacing), every element span it reports for
 * a member parses to the very element jansson holds there; it refuses what it cannot vouch for
 * (repeated or escaped names, unbalanced text, trailing bytes, deep nesting) and never reads
 * past its input on truncated or mutated text.
 */
#include "engine/base/common.h"
#include "engine/base/jsonscan.h"
#include "engine/base/xalloc.h"
#include "test/lib/jsongen.h"

#include "test/tap.h"

#include <stdlib.h>
#include <string.h>

/* Parse buf[v] alone with jansson. */
static json_t *parse_span(const char *buf, struct jspan v) {
  json_error_t e;
  return json_loadb(buf + v.off, v.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
}

/* {"pad": ..., "items": [...], "meta": ...} printed with flags; checks the scan of "items"
 * against jansson's reading of the same text. *checked: jansson could read it back (it cannot
 * when a generated key holds a NUL). */
static bool check_document(json_t *items, size_t flags, int n, int *checked) {
  json_t *doc = json_pack("{s:o, s:o, s:o}", "pad", jsongen_value(2), "items", items, "meta",
                          jsongen_value(3));
  char *text = json_dumps(doc, flags | JSON_ENCODE_ANY);
  json_error_t e;
  json_t *back = text ? json_loadb(text, strlen(text), JSON_ALLOW_NUL, &e) : NULL;
  json_decref(doc);
  if (!back) {
    free(text);
    return true;
  }
  (*checked)++;
  items = json_object_get(back, "items");
  bool ok = true;
  struct jspan arr, *spans = NULL;
  size_t nspans = 0;
  if (ok && !jsonscan_member(text, strlen(text), "items", &arr)) {
    printf("# document %d: \"items\" not found in %s\n", n, text);
    ok = false;
  }
  if (ok && !jsonscan_elements(text, arr, &spans, &nspans)) {
    printf("# document %d: elements not found\n", n);
    ok = false;
  }
  if (ok && nspans != json_array_size(items)) {
    printf("# document %d: %zu spans for %zu items\n", n, nspans, json_array_size(items));
    ok = false;
  }
  for (size_t i = 0; ok && i < nspans; i++) {
    json_t *got = parse_span(text, spans[i]);
    if (!got || !json_equal(got, json_array_get(items, i))) {
      printf("# document %d: item %zu span does not parse to the item: %.*s\n", n, i,
             (int)spans[i].len, text + spans[i].off);
      ok = false;
    }
    json_decref(got);
  }
  free(spans);
  free(text);
  json_decref(back);
  return ok;
}

static void test_generated_documents(void) {
  static const size_t flags[] = {JSON_COMPACT, JSON_INDENT(2), 0, JSON_INDENT(1) | JSON_SORT_KEYS};
  int checked = 0;
  for (int i = 0; i < 3000; i++) {
    json_t *items = json_array();
    for (uint32_t k = jsongen_rnd(6); k > 0; k--)
      json_array_append_new(items, jsongen_value(1));
    bool ok = check_document(items, flags[i % 4], i, &checked);
    ASSERT_MSG(ok, "generated document %d", i);
  }
  ASSERT_MSG(checked > 1000, "only %d of 3000 documents could be read back", checked);
}

static void test_members(void) {
  const char *doc = " {\"a\" : 1 , \"s\":\"x\\\"}]\" ,\"o\":{\"id\":\"in\"},\"id\" :\"dev-1\", "
                    "\"tags\":[\"t1\", \"t\\u0032\"]}\n";
  struct jspan v;
  const char *s;
  size_t n;
  ASSERT(jsonscan_member(doc, strlen(doc), "id", &v));
  ASSERT(jsonscan_plain_string(doc, v, &s, &n));
  ASSERT(n == 5 && memcmp(s, "dev-1", 5) == 0); /* the top level's id, not the nested one */
  ASSERT(jsonscan_member(doc, strlen(doc), "s", &v));
  ASSERT(!jsonscan_plain_string(doc, v, &s, &n)); /* it has escapes */
  ASSERT(jsonscan_member(doc, strlen(doc), "tags", &v));
  struct jspan *el;
  size_t nel;
  ASSERT(jsonscan_elements(doc, v, &el, &nel));
  ASSERT_EQ(2, (int)nel);
  ASSERT(jsonscan_plain_string(doc, el[0], &s, &n) && n == 2 && memcmp(s, "t1", 2) == 0);
  ASSERT(!jsonscan_plain_string(doc, el[1], &s, &n));
  free(el);
  ASSERT(!jsonscan_member(doc, strlen(doc), "missing", &v));
  ASSERT(!jsonscan_member(doc, strlen(doc), "i", &v)); /* no prefix matches */

  const char *empty = "{\"items\":[ ]}";
  ASSERT(jsonscan_member(empty, strlen(empty), "items", &v));
  ASSERT(jsonscan_elements(empty, v, &el, &nel));
  ASSERT(nel == 0 && el == NULL);
}

/* The splice keeps the envelope and exactly the chosen elements, in order. */
static void test_splice(void) {
  const char *doc = "{\"a\":1, \"items\" : [ {\"id\":\"x\"} ,\"s,]\", [2,3] ] ,\"z\":[]}";
  struct jspan arr, *el;
  size_t n, len;
  ASSERT(jsonscan_member(doc, strlen(doc), "items", &arr));
  ASSERT(jsonscan_elements(doc, arr, &el, &n));
  ASSERT_EQ(3, (int)n);
  struct jspan keep[] = {el[0], el[2]};
  char *out = jsonscan_splice(doc, strlen(doc), arr, keep, 2, &len);
  ASSERT_EQ(strlen(out), len);
  ASSERT(len <= strlen(doc));
  ASSERT_STR_EQ("{\"a\":1, \"items\" : [{\"id\":\"x\"},[2,3]] ,\"z\":[]}", out);
  free(out);
  out = jsonscan_splice(doc, strlen(doc), arr, NULL, 0, &len);
  ASSERT_STR_EQ("{\"a\":1, \"items\" : [] ,\"z\":[]}", out);
  json_error_t e;
  json_t *j = json_loadb(out, len, 0, &e);
  ASSERT(j && json_array_size(json_object_get(j, "items")) == 0);
  json_decref(j);
  free(out);
  free(el);
}

/* What jansson could read differently, or not at all, is refused. */
static void test_refusals(void) {
  const char *bad[] = {
      "{\"id\":\"a\",\"id\":\"b\"}", /* repeated: jansson keeps the last */
      "{\"\\u0069d\":\"a\"}",        /* an escaped name could spell "id" */
      "{\"id\":\"a\"} x",            /* trailing bytes */
      "{\"id\":\"a\"",               /* unterminated */
      "{\"id\":\"a}",                /* unterminated string */
      "{\"x\":[1,2},\"id\":\"a\"}",  /* mismatched brackets */
      "{\"x\":]\"id\":\"a\"}",       /* a close where a value belongs */
      "{\"x\" 1,\"id\":\"a\"}",      /* no colon */
      "{\"x\":1 \"id\":\"a\"}",      /* no comma */
      "{\"x\":1,,\"id\":\"a\"}",     /* two commas */
      "{\"x\":1,\"id\":\"a\",}",     /* trailing comma */
      "[\"id\",\"a\"]",              /* not an object */
      "{\"id\":\"a\x01\"}",          /* a control byte in a string */
      "{\"x\":@,\"id\":\"a\"}",      /* not a value */
      "",
      "{",
  };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    struct jspan v;
    ASSERT_MSG(!jsonscan_member(bad[i], strlen(bad[i]), "id", &v), "accepted %s", bad[i]);
  }
  const char *bad_arrays[] = {"[1,]", "[,1]", "[1 2]", "[1", "{}", "[1]]", "[\"a]"};
  for (size_t i = 0; i < ARRAY_SIZE(bad_arrays); i++) {
    struct jspan *el = NULL;
    size_t n = 9;
    struct jspan v = {0, strlen(bad_arrays[i])};
    ASSERT_MSG(!jsonscan_elements(bad_arrays[i], v, &el, &n), "accepted %s", bad_arrays[i]);
    ASSERT(el == NULL && n == 0);
  }
  /* Nesting deeper than the scanner follows is refused, not overflowed. */
  size_t depth = JSONSCAN_MAX_DEPTH + 1;
  size_t cap = 2 * depth + 32;
  char *deep = xmalloc(cap);
  size_t w = (size_t)snprintf(deep, cap, "{\"x\":");
  for (size_t i = 0; i < depth; i++)
    deep[w++] = '[';
  for (size_t i = 0; i < depth; i++)
    deep[w++] = ']';
  w += (size_t)snprintf(deep + w, cap - w, ",\"id\":\"a\"}");
  struct jspan v;
  ASSERT(!jsonscan_member(deep, w, "id", &v));
  free(deep);
}

/* Every prefix and single-byte mutation of a listing: no crash, no read past the end (ASan),
 * and whenever both the scan and jansson accept, they agree. */
static void test_truncated_and_mutated(void) {
  const char *page =
      "{\"devices\":[{\"id\":\"d1\",\"tags\":[\"a\",\"b\"],\"n\":{\"x\":[1,2.5e3,true]}},"
      "{\"id\":\"d2\",\"s\":\"q\\\\\\\"]}\"}],\"meta\":{\"next\":null}}";
  size_t len = strlen(page);
  static const char repl[] = "{}[]\",:\\ a1";
  int agreed = 0;
  for (size_t cut = 0; cut <= len; cut++) {
    char *b = xmalloc(cut ? cut : 1);
    memcpy(b, page, cut);
    struct jspan v;
    ASSERT(cut == len || !jsonscan_member(b, cut, "devices", &v));
    free(b);
  }
  for (size_t at = 0; at < len; at++) {
    for (size_t r = 0; r < sizeof(repl) - 1; r++) {
      char *b = xmalloc(len);
      memcpy(b, page, len);
      b[at] = repl[r];
      struct jspan v, *el = NULL;
      size_t n = 0;
      json_error_t e;
      json_t *whole = json_loadb(b, len, 0, &e);
      if (jsonscan_member(b, len, "devices", &v) && jsonscan_elements(b, v, &el, &n) && whole) {
        json_t *arr = json_object_get(whole, "devices");
        bool same = json_is_array(arr) && json_array_size(arr) == n;
        for (size_t i = 0; same && i < n; i++) {
          json_t *one = parse_span(b, el[i]);
          same = one && json_equal(one, json_array_get(arr, i));
          json_decref(one);
        }
        ASSERT_MSG(same, "mutation at %zu to '%c' read differently", at, repl[r]);
        agreed++;
      }
      json_decref(whole);
      free(el);
      free(b);
    }
  }
  ASSERT(agreed > 0);
}

int main(void) {
  xalloc_init();
  TEST(test_generated_documents);
  TEST(test_members);
  TEST(test_splice);
  TEST(test_refusals);
  TEST(test_truncated_and_mutated);
  return tap_done();
}
