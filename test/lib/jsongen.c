/*
 * jsongen.c - random JSON documents for property tests (see jsongen.h).
 */
#include "engine/base/common.h"
#include "test/lib/jsongen.h"

#include <stdint.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;

uint32_t jsongen_rnd(uint32_t n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng % n);
}

/* A string from interesting pieces: ASCII, escapes, controls, 2-4 byte UTF-8,
 * credential-looking prefixes. */
static json_t *rand_string(void) {
  static const char *const pieces[] = {"a",
                                       "Z",
                                       "key",
                                       "\"",
                                       "\\",
                                       "/",
                                       "\n",
                                       "\t",
                                       "\b",
                                       "\f",
                                       "\r",
                                       "\x01",
                                       "\x1f",
                                       "\x7f",
                                       "é",
                                       "€",
                                       "𝄞",
                                       " ",
                                       "Bearer ",
                                       "token",
                                       "apiToken",
                                       ":",
                                       "Authorization: ",
                                       "sha256:",
                                       "{}",
                                       "[1]"};
  char s[256];
  size_t n = 0, parts = jsongen_rnd(8);
  for (size_t i = 0; i < parts; i++) {
    const char *p = pieces[jsongen_rnd(ARRAY_SIZE(pieces))];
    size_t l = strlen(p);
    if (n + l >= sizeof(s))
      break;
    memcpy(s + n, p, l);
    n += l;
  }
  if (jsongen_rnd(10) == 0 && n + 1 < sizeof(s)) /* an embedded NUL */
    s[n++] = '\0';
  return json_stringn(s, n);
}

json_t *jsongen_value(int depth) {
  uint32_t k = jsongen_rnd(depth > 4 ? 6 : 9);
  switch (k) {
  case 0:
    return json_null();
  case 1:
    return json_boolean(jsongen_rnd(2));
  case 2: {
    static const json_int_t ints[] = {0, 1, -1, 42, 1700000000000LL, INT64_MAX, INT64_MIN};
    return json_integer(ints[jsongen_rnd(ARRAY_SIZE(ints))]);
  }
  case 3: {
    static const double reals[] = {0.0, -0.0, 0.1, 1.5, 1e300, -2.5e-300, 123456789.125, 3.0};
    return json_real(reals[jsongen_rnd(ARRAY_SIZE(reals))]);
  }
  case 4:
  case 5:
    return rand_string();
  case 6: {
    json_t *a = json_array();
    for (uint32_t i = jsongen_rnd(5); i > 0; i--)
      json_array_append_new(a, jsongen_value(depth + 1));
    return a;
  }
  default: {
    json_t *o = json_object();
    static const char *const keys[] = {
        "a",     "b",        "ab",   "A",        "",      "é",      "kind", "data", "stringData",
        "token", "metadata", "type", "password", "items", "object", "aa",   "a\x01"};
    for (uint32_t i = jsongen_rnd(20); i > 0; i--) {
      if (jsongen_rnd(4) == 0) {
        json_t *s = rand_string();
        json_object_setn_new(o, json_string_value(s), json_string_length(s),
                             jsongen_value(depth + 1));
        json_decref(s);
      } else {
        json_object_set_new(o, keys[jsongen_rnd(ARRAY_SIZE(keys))], jsongen_value(depth + 1));
      }
    }
    if (jsongen_rnd(5) == 0)
      json_object_set_new(o, "kind", json_string(jsongen_rnd(2) ? "Secret" : "SecretList"));
    return o;
  }
  }
}
