/*
 * health.h - named liveness and readiness checks, served as /healthz and
 * /readyz the way controller-runtime's manager serves them.
 *
 * Other modules register a check once they exist and remove it before they go
 * away:
 *
 *   health_add_check(h, HEALTH_READYZ, "journal", journal_ready, j, &err);
 *   ...
 *   health_remove_check(h, HEALTH_READYZ, "journal");
 *
 * A check returns ENG_OK when healthy, or an error code with a sentence in
 * *err. Checks run on the loop's thread at request time and must not block.
 *
 * Endpoints (for each of /healthz and /readyz):
 *   GET /healthz            200 "ok" when every check passes; 500 and the verbose list otherwise
 *   GET /healthz?verbose    the list: "[+]name ok" / "[-]name failed: reason withheld", then
 *                           "healthz check passed" or "healthz check failed"
 *   GET /healthz?exclude=a  skip check a ("[+]a excluded: ok"); repeatable
 *   GET /healthz/<name>     that check alone: 200 "ok" or 500 "internal server error: <reason>"
 * Without any check, an implicit "ping" check passes (the loop answered).
 */
#ifndef EQXM_HEALTH_H
#define EQXM_HEALTH_H

#include "engine/base/common.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"

struct health;
struct httpd;

enum health_kind { HEALTH_HEALTHZ, HEALTH_READYZ };

#define HEALTH_NAME_MAX 64

typedef enum eng_err (*health_check_fn)(void *ud, struct eng_error *err);

struct health *health_new(void);
/* NULL is allowed. Check user data is not touched. */
void health_free(struct health *h);

/*
 * Register a check. name: 1..HEALTH_NAME_MAX-1 characters of [a-z0-9._-]
 * (it becomes a URL path segment). ENG_EXISTS when the kind already has a
 * check of that name, ENG_INVALID for a bad name. ud must stay valid until the
 * check is removed or h is freed.
 */
enum eng_err health_add_check(struct health *h, enum health_kind kind, const char *name,
                              health_check_fn fn, void *ud, struct eng_error *err) WARN_UNUSED;
/* Remove a check; false if there was none of that name. */
bool health_remove_check(struct health *h, enum health_kind kind, const char *name);

/*
 * Answer a request for kind: subpath is what follows "/healthz" or "/readyz"
 * ("" or "/" for the aggregate, "/name" for one check), query the raw query
 * string. Appends the body to out and returns the HTTP status (200, 404, 500).
 */
int health_serve(struct health *h, enum health_kind kind, const char *subpath, const char *query,
                 struct buf *out);

/* Route /healthz, /healthz/, /readyz and /readyz/ of s to h. */
void health_mount(struct health *h, struct httpd *s);

#endif
