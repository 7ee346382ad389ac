/*
 * jsonx.h - JSON helpers on top of jansson: canonical encoding, parsing with
 * operator-readable errors, and small accessors.
 *
 * Canonical JSON (the journal's payload format and the input of its hash chain):
 * compact, object keys sorted bytewise, UTF-8 emitted as is, integers without
 * exponent. Two equal documents always give the same bytes.
 */
#ifndef EQXM_JSONX_H
#define EQXM_JSONX_H

#include "engine/base/common.h"
#include "engine/base/err.h"

#include <jansson.h>

/* Canonical bytes of v; caller frees. */
char *jsonx_canonical(const json_t *v);

/*
 * Parse len bytes as one JSON document. On failure returns NULL and sets err to
 * ENG_INVALID with "<what>: <reason> at line L, column C". what names the input
 * ("response of GET /devices/x", "AdmissionReview body").
 */
json_t *jsonx_parse(const char *data, size_t len, const char *what, struct eng_error *err);

/* Path lookup with '.' separators ("metadata.name"); NULL if absent. Borrowed. */
json_t *jsonx_path(const json_t *root, const char *dotted);
/* String at a dotted path, or NULL when absent or not a string. Borrowed. */
const char *jsonx_str(const json_t *root, const char *dotted);
/* Integer at a dotted path, or dflt. */
json_int_t jsonx_int(const json_t *root, const char *dotted, json_int_t dflt);
/* Boolean at a dotted path, or dflt. */
bool jsonx_bool(const json_t *root, const char *dotted, bool dflt);

/*
 * A new object holding, at the same places, the members of src at the n dotted paths (absent
 * ones are left out, the objects on the way are made). Values are shared with src, not copied:
 * neither may change while the other is held.
 */
json_t *jsonx_project(const json_t *src, const char *const *paths, size_t n);

/* The keys of object o sorted bytewise (borrowed from o, *n of them, NULL-terminated);
 * caller frees the array. An empty array for a non-object. */
const char **jsonx_sorted_keys(const json_t *o, size_t *n);

#endif
