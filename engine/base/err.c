/*
 * err.c - names and messages of enum eng_err, and struct eng_error helpers.
 */
#include "engine/base/common.h"
#include "engine/base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const err_msgs[] = {
#define XX(name, msg) msg,
    ENG_ERR_MAP(XX)
#undef XX
};

static const char *const err_names[] = {
#define XX(name, _) "ENG_" #name,
    ENG_ERR_MAP(XX)
#undef XX
};

const char *eng_strerror(enum eng_err e) {
  if ((unsigned)e >= ENG__COUNT)
    return "unknown error";
  return err_msgs[e];
}

const char *eng_err_name(enum eng_err e) {
  if ((unsigned)e >= ENG__COUNT)
    return "ENG_UNKNOWN";
  return err_names[e];
}

/* The single place that decides which failures are worth another attempt. */
bool eng_err_retryable(enum eng_err e) {
  switch (e) {
  case ENG_IO:
  case ENG_CONFLICT:
  case ENG_GONE:
  case ENG_RATELIMIT:
  case ENG_UNAVAILABLE:
  case ENG_TIMEOUT:
  case ENG_BUSY:
  case ENG_PROTOCOL:
    return true;
  default:
    return false;
  }
}

/* Cut s (of length n) so it does not end inside a UTF-8 sequence; returns the new length. */
static size_t utf8_trim(char *s, size_t n) {
  size_t lead = n;
  while (lead > 0 && lead > n - 4 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
    lead--;
  if (lead == 0)
    return n;
  unsigned char c = (unsigned char)s[lead - 1];
  size_t want = c < 0x80             ? 1
                : (c & 0xE0) == 0xC0 ? 2
                : (c & 0xF0) == 0xE0 ? 3
                : (c & 0xF8) == 0xF0 ? 4
                                     : 1;
  if (n - (lead - 1) < want) {
    s[lead - 1] = '\0';
    return lead - 1;
  }
  return n;
}

void eng_error_clear(struct eng_error *err) {
  if (!err)
    return;
  err->code = ENG_OK;
  err->http_status = 0;
  err->retry_after_ms = -1;
  err->msg[0] = '\0';
}

enum eng_err eng_error_set(struct eng_error *err, enum eng_err code, const char *fmt, ...) {
  if (!err)
    return code;
  err->code = code;
  err->http_status = 0;
  err->retry_after_ms = -1;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
  va_end(ap);
  if (n >= (int)sizeof(err->msg)) /* cut: never inside a UTF-8 sequence (jansson drops such text) */
    utf8_trim(err->msg, sizeof(err->msg) - 1);
  return code;
}

enum eng_err eng_error_prefix(struct eng_error *err, const char *fmt, ...) {
  if (!err)
    return ENG_OK;
  char prefix[ENG_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof(prefix), fmt, ap);
  va_end(ap);
  /* Build "<prefix>: <old>" in a scratch buffer, then cut it to the field size. */
  char joined[2 * ENG_ERROR_MSG_MAX + 2];
  size_t pl = strlen(prefix), ol = strlen(err->msg);
  memcpy(joined, prefix, pl);
  size_t n = pl;
  if (ol) {
    joined[n++] = ':';
    joined[n++] = ' ';
    memcpy(joined + n, err->msg, ol);
    n += ol;
  }
  bool cut = n >= sizeof(err->msg);
  if (cut)
    n = sizeof(err->msg) - 1;
  memcpy(err->msg, joined, n);
  err->msg[n] = '\0';
  if (cut)
    utf8_trim(err->msg, n);
  return err->code;
}
