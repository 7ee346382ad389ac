/*
 * core_parsers_fuzz.c - libFuzzer target for the small parsers in engine/: base64,
 * RFC 3339 timestamps and JSON (with canonical re-encoding). Invariants checked:
 * no crash, encode(decode(x)) round-trips, canonical JSON re-parses to the same bytes.
 */
#include "engine/base/common.h"
#include "engine/base/b64.h"
#include "engine/base/jsonx.h"
#include "engine/base/timefmt.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    json_decref(v);
  }
  return 0;
}
