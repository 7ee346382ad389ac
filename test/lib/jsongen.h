/*
 * jsongen.h - random JSON documents for property tests: strings from interesting pieces
 * (escapes, controls, multi-byte UTF-8, embedded NULs, credential-looking words), numbers at
 * the edges, nested arrays and objects with recurring keys. Deterministic: a fixed xorshift
 * seed, so a failure repeats.
 */
#ifndef EQXM_TEST_JSONGEN_H
#define EQXM_TEST_JSONGEN_H

#include <jansson.h>
#include <stdint.h>

/* A number in [0, n). */
uint32_t jsongen_rnd(uint32_t n);
/* A new value; depth is the nesting so far (0 for a document). */
json_t *jsongen_value(int depth);

#endif
