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
