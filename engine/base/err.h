/*
 * err.h - the project's error codes and the error detail carried next to them.
 *
 * Every fallible function returns enum eng_err (0 = ENG_OK) and, where a caller
 * may show the problem to an operator, fills a struct eng_error with a sentence
 * that names the object and the next step. Foreign codes (HTTP status, SQLite,
 * GnuTLS, errno) are translated where they enter; eng_err_retryable() is the one
 * place that decides what is worth retrying.
 */
#ifndef EQXM_ERR_H
#define EQXM_ERR_H

#include "engine/base/common.h"

#define ENG_ERR_MAP(XX)                                                                            \
  XX(OK, "success")                                                                                \
  XX(IO, "input/output error")                                                                     \
  XX(USAGE, "invalid command-line usage")                                                          \
  XX(INVALID, "invalid input")                                                                     \
  XX(CONFIG, "configuration problem")                                                              \
  XX(CORRUPT, "data is corrupt")                                                                   \
  XX(VERSION, "unsupported version")                                                               \
  XX(NOTFOUND, "not found")                                                                        \
  XX(EXISTS, "already exists")                                                                     \
  XX(CONFLICT, "conflict (stale resourceVersion)")                                                 \
  XX(GONE, "resource version expired")                                                             \
  XX(UNAUTHENTICATED, "not authenticated")                                                         \
  XX(FORBIDDEN, "forbidden")                                                                       \
  XX(RATELIMIT, "rate limited")                                                                    \
  XX(UNAVAILABLE, "service unavailable")                                                           \
  XX(TIMEOUT, "timed out")                                                                         \
  XX(PROTOCOL, "protocol error")                                                                   \
  XX(TOOLARGE, "too large")                                                                        \
  XX(NOSPACE, "no space left on device")                                                           \
  XX(READONLY, "read-only")                                                                        \
  XX(BUSY, "busy")                                                                                 \
  XX(CANCELED, "canceled")                                                                         \
  XX(DEPLETED, "resources depleted")                                                               \
  XX(QUOTA, "quota exceeded")                                                                      \
  XX(INTERNAL, "internal error")

enum eng_err {
#define XX(name, _) ENG_##name,
  ENG_ERR_MAP(XX)
#undef XX
      ENG__COUNT
};

#define ENG_ERROR_MSG_MAX 1024

/* Detail for an error: the code and an operator-readable sentence. */
struct eng_error {
  enum eng_err code;
  int http_status;             /* HTTP status when the error came from an API, else 0 */
  long retry_after_ms;         /* server-requested wait before a retry, -1 if none */
  char msg[ENG_ERROR_MSG_MAX]; /* "" when no detail was recorded */
};

const char *eng_strerror(enum eng_err e);
const char *eng_err_name(enum eng_err e); /* "ENG_NOTFOUND" */
bool eng_err_retryable(enum eng_err e);

/* Reset *err to ENG_OK with no message. NULL is allowed. */
void eng_error_clear(struct eng_error *err);

/*
 * Record an error and return its code, so callers can write
 *   return eng_error_set(err, ENG_IO, "cannot open %s: %s", path, strerror(errno));
 * A NULL err only returns the code.
 */
enum eng_err eng_error_set(struct eng_error *err, enum eng_err code, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

/* Prepend context: "<prefix>: <old message>". Keeps the code. */
enum eng_err eng_error_prefix(struct eng_error *err, const char *fmt, ...) PRINTF_LIKE(2, 3);

#endif
