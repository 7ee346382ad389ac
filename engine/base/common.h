/*
 * common.h - included first by every C file of the project.
 *
 * Standard headers every module needs, a few macros, and the attributes that make
 * mistakes visible at compile time (WARN_UNUSED on fallible functions, PRINTF_LIKE
 * on formatters).
 */
#ifndef EQXM_COMMON_H
#define EQXM_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The longest wait a server may ask for (Retry-After, retryAfterSeconds, X-RateLimit-Reset). */
#define RETRY_WAIT_MAX_S (24LL * 3600)
/* A server-requested wait of secs seconds in milliseconds, saturated to [0, RETRY_WAIT_MAX_S]
 * before multiplying, so hostile values (99999999999999999) cannot overflow. */
static inline long retry_wait_ms(long long secs) {
  if (secs < 0)
    secs = 0;
  if (secs > RETRY_WAIT_MAX_S)
    secs = RETRY_WAIT_MAX_S;
  return (long)(secs * 1000);
}

#if defined(__GNUC__)
#define WARN_UNUSED            __attribute__((warn_unused_result))
#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))
#define NORETURN               __attribute__((noreturn))
#define UNUSED                 __attribute__((unused))
#else
#define WARN_UNUSED
#define PRINTF_LIKE(fmt, args)
#define NORETURN
#define UNUSED
#endif

#ifndef EQXM_VERSION
#define EQXM_VERSION "0.0.0-dev"
#endif

/* The program name comes from the build (Makefile NAME); the engine itself is provider-neutral. */
#ifndef PROG_NAME
#define PROG_NAME "reconciler"
#endif

/* Exit codes of every command: success, failure, usage error. */
#define EXIT_OK    0
#define EXIT_FAIL  1
#define EXIT_USAGE 2

#endif
