/*
 * metal_errors.h - Equinix Metal API error bodies and their classification.
 * Pure: no I/O, no clock (the caller passes the wall clock for X-RateLimit-Reset).
 *
 *   HTTP / transport     enum eng_err         Gardener code                     retryable
 *   401                  ENG_UNAUTHENTICATED  ERR_INFRA_UNAUTHENTICATED         no
 *   403                  ENG_FORBIDDEN        ERR_INFRA_UNAUTHORIZED            no
 *   404                  ENG_NOTFOUND         -                                 no
 *   409                  ENG_CONFLICT         -                                 yes
 *   429                  ENG_RATELIMIT        ERR_INFRA_RATE_LIMITS_EXCEEDED    after the wait
 *   422 capacity         ENG_DEPLETED         ERR_INFRA_RESOURCES_DEPLETED      no
 *   422 quota, limit     ENG_QUOTA            ERR_INFRA_QUOTA_EXCEEDED          no
 *   422 other            ENG_CONFIG           ERR_CONFIGURATION_PROBLEM         no
 *   400, other 4xx       ENG_INVALID          ERR_CONFIGURATION_PROBLEM         no
 *   5xx                  ENG_UNAVAILABLE      ERR_RETRYABLE_INFRA_DEPENDENCIES  yes
 *   timeout              ENG_TIMEOUT          ERR_RETRYABLE_INFRA_DEPENDENCIES  yes
 *   refused, reset, EOF  ENG_UNAVAILABLE      ERR_RETRYABLE_INFRA_DEPENDENCIES  yes
 *   bad 2xx body, TLS    ENG_PROTOCOL         ERR_RETRYABLE_INFRA_DEPENDENCIES  yes
 */
#ifndef EQXM_METAL_ERRORS_H
#define EQXM_METAL_ERRORS_H

#include "engine/base/common.h"
#include "engine/base/err.h"

/* Longest piece of a server error text quoted in a message. */
#define METAL_ERR_SNIPPET 200

/* What an error message names: the operation and the object, plus create details. */
struct metal_err_ctx {
  const char *what;    /* "creating device shoot--p--s-worker-abc in metro ny" (required) */
  const char *project; /* project UUID, for 403/404 advice; NULL = unknown */
  const char *plan;    /* device create: plan slug, else NULL */
  const char *metro;   /* device create: metro code, else NULL */
  const char *os;      /* device create: operating system slug, else NULL */
};

/*
 * The error text of a response body: "error", or the "errors" joined with "; ",
 * for a JSON error body; otherwise (HTML from a proxy, plain text, truncated
 * JSON) a one-line snippet with tags stripped and whitespace collapsed.
 * At most METAL_ERR_SNIPPET bytes (cut on a UTF-8 boundary, "..." appended).
 * "" for an empty body. Caller frees.
 */
char *metal_error_text(const char *body, size_t len);

/*
 * Classify a non-2xx HTTP response into err (code, http_status, retry_after_ms
 * and a sentence "<what> failed: <reason> (HTTP <status>: <server text>).
 * <advice>"). retry_after_ms is the parsed Retry-After (-1 if none);
 * ratelimit_reset is the X-RateLimit-Reset header (Unix seconds) or NULL;
 * now_ms is the wall clock used to turn it into a wait. Returns the code.
 */
enum eng_err metal_error_from_http(struct eng_error *err, const struct metal_err_ctx *ctx,
                                   long status, const char *body, size_t len, long retry_after_ms,
                                   const char *ratelimit_reset, int64_t now_ms);

/* Classify a transport failure (code from engine/net/http.h, detail from libcurl). */
enum eng_err metal_error_from_transport(struct eng_error *err, const struct metal_err_ctx *ctx,
                                        enum eng_err code, const char *detail);

/* A 2xx response whose body is not the expected JSON. */
enum eng_err metal_error_bad_reply(struct eng_error *err, const struct metal_err_ctx *ctx,
                                   long status, const char *why);

/* The class of a 422 text: ENG_DEPLETED, ENG_QUOTA or ENG_CONFIG. */
enum eng_err metal_classify_422(const char *text);

/* Gardener error code of err ("ERR_INFRA_UNAUTHENTICATED", ...), NULL when none applies:
 * gardener_error_code(err->code), the one table. */
const char *metal_gardener_code(const struct eng_error *err);
/* Whether the same request may succeed later without a change (429, 5xx, timeouts, resets):
 * eng_err_retryable(err->code), the one rule. */
bool metal_retryable(const struct eng_error *err);
/* Whether a failed create may nevertheless have created the object (timeout, reset, 5xx,
 * unreadable 2xx): such a create must not be repeated before a lookup. */
bool metal_ambiguous(const struct eng_error *err);

#endif
