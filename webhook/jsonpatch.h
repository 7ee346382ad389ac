/*
 * jsonpatch.h - RFC 6902 JSON Patch between two JSON documents (pure, no I/O).
 *
 * jsonpatch_diff() is how a mutating webhook answers: the mutator changes a copy
 * of the admitted object and the response carries the patch from the original to
 * the copy. Objects are compared key by key (keys in sorted order, so the patch is
 * deterministic). Arrays are compared by index: positions present in both are
 * diffed recursively, extra elements of the new array are added at their index,
 * missing ones are removed from the end backwards. That is always correct and is
 * minimal for the edits mutators make (change in place, append, drop from the end);
 * an insertion in the middle becomes a run of replaces plus one add, still correct.
 * A change of type (object to array, string to number ...) is a replace.
 *
 * Pointers escape "~" as "~0" and "/" as "~1" (RFC 6901).
 */
#ifndef EQXM_JSONPATCH_H
#define EQXM_JSONPATCH_H

#include "engine/base/common.h"
#include "engine/base/err.h"

#include <jansson.h>

/* The patch turning from into to, as a new JSON array (empty when equal). */
json_t *jsonpatch_diff(const json_t *from, const json_t *to);

/*
 * Apply an RFC 6902 patch (add, remove, replace, test, move, copy) to *doc in
 * place; *doc may be replaced (a patch on the root path). On failure *doc is left
 * in an unspecified but valid state and err says which operation failed.
 */
enum eng_err jsonpatch_apply(json_t **doc, const json_t *patch, struct eng_error *err) WARN_UNUSED;

/* Append the RFC 6901 escaped form of a reference token to a growing pointer. */
char *jsonpatch_pointer_append(const char *base, const char *token);

#endif
