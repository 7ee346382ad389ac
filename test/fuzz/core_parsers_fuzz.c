/*
 * core_parsers_fuzz.c - libFuzzer target for the small parsers in engine/: base64,
 * RFC 3339 timestamps, JSON (with canonical re-encoding) and the JSON scanner. Invariants
 * checked: no crash, encode(decode(x)) round-trips, canonical JSON re-parses to the same bytes,
 * and every array element the scanner finds in a document jansson reads parses to the element
 * jansson holds there.
 */
#include "engine/base/common.h"
#include "engine/base/b64.h"
#include "engine/base/jsonscan.h"
#include "engine/base/jsonx.h"
#include "engine/base/timefmt.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The scanner against jansson's reading of the same text, for each array member of v. */
static void scan_agrees(json_t *v, const char *text, size_t len) {
  const char *key;
  json_t *arr;
  json_object_foreach(v, key, arr) {
    struct jspan span, *el = NULL;
    size_t n = 0;
    if (!json_is_array(arr) || !jsonscan_member(text, len, key, &span) ||
        !jsonscan_elements(text, span, &el, &n))
      continue;
    if (n != json_array_size(arr))
      abort();
    for (size_t i = 0; i < n; i++) {
      json_error_t e;
      json_t *one = json_loadb(text + el[i].off, el[i].len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
      if (!one || !json_equal(one, json_array_get(arr, i)))
        abort();
      json_decref(one);
    }
    free(el);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int init;
  if (!init) {
    xalloc_init();
    init = 1;
  }
  unsigned char *dec;
  size_t dl;
  if (b64_decode((const char *)data, size, &dec, &dl) == ENG_OK) {
    char *enc = b64_encode(dec, dl);
    unsigned char *dec2;
    size_t dl2;
    if (b64_decode(enc, strlen(enc), &dec2, &dl2) != ENG_OK || dl2 != dl || memcmp(dec, dec2, dl))
      abort();
    free(dec2);
    free(enc);
    free(dec);
  }
  char *s = xstrndup((const char *)data, size);
  int64_t ms;
  if (timefmt_parse(s, &ms) == ENG_OK) {
    char out[TIMEFMT_LEN];
    timefmt_rfc3339_ms(ms, out);
  }
  free(s);
  struct eng_error err;
  json_t *v = jsonx_parse((const char *)data, size, "fuzz input", &err);
  if (v) {
    char *c1 = jsonx_canonical(v);
    if (c1) {
      json_t *v2 = jsonx_parse(c1, strlen(c1), "canonical", &err);
      if (!v2)
        abort();
      char *c2 = jsonx_canonical(v2);
      if (!c2 || strcmp(c1, c2) != 0)
        abort();
      free(c2);
      json_decref(v2);
      free(c1);
    }
    scan_agrees(v, (const char *)data, size);
    json_decref(v);
  }
  return 0;
}
