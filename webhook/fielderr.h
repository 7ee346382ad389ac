/*
 * fielderr.h - Kubernetes-style field errors (k8s.io/apimachinery field.Error),
 * collected into a list and rendered the way kubectl users know them:
 *
 *   spec.provider.workers[0].providerConfig.reservationIDs[1]: Invalid value: "abc": must be a UUID
 *
 * One error renders as itself; several as "[e1, e2, ...]" (ToAggregate().Error()).
 * Pure, no I/O.
 */
#ifndef EQXM_FIELDERR_H
#define EQXM_FIELDERR_H

#include "engine/base/common.h"

#include <jansson.h>

enum fielderr_type {
  FIELDERR_REQUIRED,     /* "Required value" */
  FIELDERR_FORBIDDEN,    /* "Forbidden" */
  FIELDERR_INVALID,      /* "Invalid value" */
  FIELDERR_NOTSUPPORTED, /* "Unsupported value" */
  FIELDERR_DUPLICATE,    /* "Duplicate value" */
  FIELDERR_NOTFOUND,     /* "Not found" */
};

struct fielderr_list {
  char **items; /* rendered errors */
  size_t n, cap;
};

/*
 * Add an error at path. value (may be NULL) is rendered for Invalid, Unsupported,
 * Duplicate and Not found: strings quoted, other JSON compact (cut at 80 bytes).
 * detail is a printf format (may be NULL).
 */
void fielderr_add(struct fielderr_list *l, enum fielderr_type t, const char *path,
                  const json_t *value, const char *detail_fmt, ...) PRINTF_LIKE(5, 6);
/* Unsupported value with the list of supported values (NULL-terminated). */
void fielderr_add_unsupported(struct fielderr_list *l, const char *path, const json_t *value,
                              const char *const *supported, size_t nsupported);
/* The aggregate message; caller frees. "" when the list is empty. */
char *fielderr_message(const struct fielderr_list *l);
void fielderr_release(struct fielderr_list *l);

/* Path helpers: "<base>.<child>" and "<base>[<i>]"; caller frees. */
char *fielderr_child(const char *base, const char *child);
char *fielderr_index(const char *base, size_t i);

#endif
