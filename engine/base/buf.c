/*
 * buf.c - capped growable byte buffer.
 */
#include "engine/base/common.h"
#include "engine/base/buf.h"
#include "engine/base/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max > BUF_MAX_ANY ? BUF_MAX_ANY : max;
}

void buf_release(struct buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void buf_reset(struct buf *b) {
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

static enum eng_err buf_grow(struct buf *b, size_t extra) {
  /* With max <= BUF_MAX_ANY (far below SIZE_MAX) and len <= max, neither the subtraction nor
   * len + extra + 1 below can wrap, whatever a caller stored in b->max. */
  size_t max = b->max > BUF_MAX_ANY ? BUF_MAX_ANY : b->max;
  if (b->len > max || extra > max - b->len)
    return ENG_TOOLARGE;
  size_t need = b->len + extra + 1;
  if (need <= b->cap)
    return ENG_OK;
  size_t ncap = b->cap ? b->cap : 256;
  while (ncap < need)
    ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
  b->data = xrealloc(b->data, ncap);
  b->cap = ncap;
  return ENG_OK;
}

enum eng_err buf_append(struct buf *b, const void *data, size_t n) {
  enum eng_err rc = buf_grow(b, n);
  if (rc)
    return rc;
  if (n)
    memcpy(b->data + b->len, data, n);
  b->len += n;
  b->data[b->len] = '\0';
  return ENG_OK;
}

enum eng_err buf_appends(struct buf *b, const char *s) { return buf_append(b, s, strlen(s)); }

enum eng_err buf_printf(struct buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char small[256];
  int n = vsnprintf(small, sizeof(small), fmt, ap);
  va_end(ap);
  if (n < 0)
    return ENG_INVALID;
  if ((size_t)n < sizeof(small))
    return buf_append(b, small, (size_t)n);
  enum eng_err rc = buf_grow(b, (size_t)n);
  if (rc)
    return rc;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return ENG_OK;
}

void buf_consume(struct buf *b, size_t n) {
  if (n >= b->len) {
    buf_reset(b);
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
  b->data[b->len] = '\0';
}

char *buf_take(struct buf *b, size_t *len) {
  char *d = b->data ? b->data : xstrdup("");
  if (len)
    *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return d;
}
