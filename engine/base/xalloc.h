/*
 * xalloc.h - allocation that never returns NULL.
 *
 * Out of memory aborts the process with a fixed message: the controller restarts
 * and its state is in the journal, so there is nothing better to do, and callers
 * need no NULL branches. xalloc_init() points jansson at the same allocator.
 */
#ifndef EQXM_XALLOC_H
#define EQXM_XALLOC_H

#include "engine/base/common.h"

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Allocate and format; the caller frees. */
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* Free a string that held a secret, overwriting it first. NULL is allowed. */
void xfree_secret(char *s);

/* Out of memory reported by a library: the fixed message, then abort. */
NORETURN void xalloc_oom(void);

/* Route jansson's allocations through xmalloc/free. Call once at start-up. */
void xalloc_init(void);

#endif
