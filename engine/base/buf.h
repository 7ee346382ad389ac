/*
 * buf.h - growable byte buffer with a mandatory size cap.
 *
 * Every buffer fed from the network or a file has a cap; appending past it fails
 * with ENG_TOOLARGE and leaves the buffer unchanged. The content is always
 * NUL-terminated (the terminator is not counted in len).
 */
#ifndef EQXM_BUF_H
#define EQXM_BUF_H

#include "engine/base/common.h"
#include "engine/base/err.h"

struct buf {
  char *data; /* NUL-terminated; NULL until the first append */
  size_t len; /* bytes used, without the terminator */
  size_t cap; /* bytes allocated */
  size_t max; /* hard limit on len */
};

/* Named limits, one place. */
#define BUF_MAX_HTTP_BODY   (64u * 1024 * 1024) /* any API response body */
#define BUF_MAX_WATCH_EVENT (16u * 1024 * 1024) /* one watch event line */
#define BUF_MAX_SMALL       (1u * 1024 * 1024)  /* config files, headers */
/* Text built from input that is already in memory and capped by one of the limits above
 * (journal rows, scrubbed log lines, responses and messages derived from a request). */
#define BUF_MAX_DERIVED (256u * 1024 * 1024)
/* No buffer is larger: buf_init() lowers any greater max (SIZE_MAX included) to this. */
#define BUF_MAX_ANY BUF_MAX_DERIVED

/* max above BUF_MAX_ANY is lowered to BUF_MAX_ANY: there is no unbounded buffer. */
void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_reset(struct buf *b); /* len = 0, keeps memory */
enum eng_err buf_append(struct buf *b, const void *data, size_t n) WARN_UNUSED;
enum eng_err buf_appends(struct buf *b, const char *s) WARN_UNUSED;
enum eng_err buf_printf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3) WARN_UNUSED;
/* Drop the first n bytes (consumed input). */
void buf_consume(struct buf *b, size_t n);
/* Hand the content to the caller (who frees it); the buffer is reset to empty. */
char *buf_take(struct buf *b, size_t *len);

#endif
