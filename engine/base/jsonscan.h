/*
 * jsonscan.h - find values in JSON text without parsing it.
 *
 * A scan walks the bytes once, following strings (with their escapes) and the nesting of
 * objects and arrays, and reports where values begin and end. It builds nothing and checks
 * only structure: numbers, literals and UTF-8 are not validated. It serves callers that parse
 * with jansson anyway and want to leave out parts they have already seen byte for byte (a
 * listing whose items did not change since the last poll): whatever they keep is still
 * parsed and checked in full.
 *
 * Every function answers false when it cannot be sure: text that is not well nested, a
 * member name with an escape (it could spell the name looked for), a name that occurs
 * twice at the level asked (jansson keeps the last), nesting deeper than JSONSCAN_MAX_DEPTH.
 */
#ifndef EQXM_JSONSCAN_H
#define EQXM_JSONSCAN_H

#include <stdbool.h>
#include <stddef.h>

#define JSONSCAN_MAX_DEPTH 128

/* A value's bytes: buf[off, off + len). */
struct jspan {
  size_t off, len;
};

/* The value of member `key` of the object that is the whole of buf[0, len) (whitespace
 * around it allowed). */
bool jsonscan_member(const char *buf, size_t len, const char *key, struct jspan *value);

/* The elements of the array in buf at v: *items (malloc'd, caller frees; NULL when empty) and
 * *n. False when v is not an array. */
bool jsonscan_elements(const char *buf, struct jspan v, struct jspan **items, size_t *n);

/* The string at v when it is one without escapes: its content (not NUL-terminated). */
bool jsonscan_plain_string(const char *buf, struct jspan v, const char **s, size_t *n);

/* buf[0, len) with the array at arr (as jsonscan_member() found it) holding only the nkeep
 * elements at keep (spans of buf, in their order): a new NUL-terminated text of *out_len bytes
 * (caller frees), never longer than buf. */
char *jsonscan_splice(const char *buf, size_t len, struct jspan arr, const struct jspan *keep,
                      size_t nkeep, size_t *out_len);

#endif
