/*
 * redact_fuzz.c - libFuzzer target for the journal's payload path: any JSON
 * document (as a Secret or not) through redaction and the canonical writer.
 * Invariants: no crash; jcanon output equals jsonx_canonical byte for byte;
 * redact_needed() is false only when redaction changes nothing; redacting a
 * redacted document changes nothing more (idempotence).
 */
#include "engine/base/common.h"
#include "engine/base/jcanon.h"
#include "engine/base/jsonx.h"
#include "engine/base/redact.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *canon(const json_t *v) {
  struct buf b;
  buf_init(&b, 1u << 26);
  if (jcanon_append(&b, v) != ENG_OK) {
    buf_release(&b);
    return NULL;
  }
  char *ref = jsonx_canonical(v);
  if (!ref || strcmp(ref, b.data) != 0)
    abort(); /* the two canonical writers disagree */
  free(ref);
  return buf_take(&b, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int init;
  if (!init) {
    xalloc_init();
    init = 1;
  }
  if (size < 1)
    return 0;
  enum redact_hint hint = data[0] & 1 ? REDACT_HINT_SECRET : REDACT_HINT_NONE;
  json_t *v = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
  if (!v)
    return 0;
  json_t *r = redact_copy(v, hint);
  json_t *rr = redact_copy(r, hint);
  char *a = canon(v), *b = canon(r), *c = canon(rr);
  if (!a || !b || !c)
    abort();
  if (!redact_needed(v, hint) && strcmp(a, b) != 0)
    abort(); /* the fast path would have stored something redaction changes */
  if (strcmp(b, c) != 0)
    abort(); /* redaction is not idempotent */
  free(a);
  free(b);
  free(c);
  json_decref(v);
  json_decref(r);
  json_decref(rr);
  return 0;
}
