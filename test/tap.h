/*
 * tap.h - a tiny TAP producer for C unit tests (run by prove).
 *
 *   #include "test/tap.h"
 *   static void test_something(void) { ASSERT_EQ(2, 1 + 1); ASSERT_STR_EQ("a", s); }
 *   int main(void) { TEST(test_something); return tap_done(); }
 *
 * Each TEST() is one TAP line, "ok N - name" or "not ok N - name" followed by
 * the first failed assertion with its file and line. An assertion failure ends
 * the test function (it returns), so later assertions do not cascade.
 */
#ifndef EQXM_TAP_H
#define EQXM_TAP_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed, tap_cur_failed;

#define TAP_FAIL(...)                                                                              \
  do {                                                                                             \
    tap_cur_failed = 1;                                                                            \
    printf("# %s:%d: ", __FILE__, __LINE__);                                                       \
    printf(__VA_ARGS__);                                                                           \
    printf("\n");                                                                                  \
    fflush(stdout);                                                                                \
  } while (0)

#define ASSERT(cond)                                                                               \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      TAP_FAIL("assertion failed: %s", #cond);                                                     \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

#define ASSERT_MSG(cond, ...)                                                                      \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      TAP_FAIL(__VA_ARGS__);                                                                       \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

#define ASSERT_EQ(expected, actual)                                                                \
  do {                                                                                             \
    intmax_t tap_e_ = (intmax_t)(expected), tap_a_ = (intmax_t)(actual);                           \
    if (tap_e_ != tap_a_) {                                                                        \
      TAP_FAIL("%s == %s: expected %jd, got %jd", #expected, #actual, tap_e_, tap_a_);             \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

#define ASSERT_NE(unexpected, actual)                                                              \
  do {                                                                                             \
    intmax_t tap_e_ = (intmax_t)(unexpected), tap_a_ = (intmax_t)(actual);                         \
    if (tap_e_ == tap_a_) {                                                                        \
      TAP_FAIL("%s != %s: both are %jd", #unexpected, #actual, tap_a_);                            \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

#define ASSERT_OK(expr) ASSERT_EQ(0, (expr))

#define ASSERT_STR_EQ(expected, actual)                                                            \
  do {                                                                                             \
    const char *tap_e_ = (expected), *tap_a_ = (actual);                                           \
    if (!tap_e_ || !tap_a_ || strcmp(tap_e_, tap_a_) != 0) {                                       \
      TAP_FAIL("%s == %s: expected \"%s\", got \"%s\"", #expected, #actual,                        \
               tap_e_ ? tap_e_ : "(null)", tap_a_ ? tap_a_ : "(null)");                            \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

#define ASSERT_CONTAINS(haystack, needle)                                                          \
  do {                                                                                             \
    const char *tap_h_ = (haystack), *tap_n_ = (needle);                                           \
    if (!tap_h_ || !strstr(tap_h_, tap_n_)) {                                                      \
      TAP_FAIL("expected \"%s\" in \"%s\"", tap_n_, tap_h_ ? tap_h_ : "(null)");                   \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

#define ASSERT_NOT_CONTAINS(haystack, needle)                                                      \
  do {                                                                                             \
    const char *tap_h_ = (haystack), *tap_n_ = (needle);                                           \
    if (tap_h_ && strstr(tap_h_, tap_n_)) {                                                        \
      TAP_FAIL("did not expect \"%s\" in \"%s\"", tap_n_, tap_h_);                                 \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

#define TEST(fn)                                                                                   \
  do {                                                                                             \
    tap_cur_failed = 0;                                                                            \
    fn();                                                                                          \
    tap_n++;                                                                                       \
    if (tap_cur_failed)                                                                            \
      tap_failed++;                                                                                \
    printf("%sok %d - %s\n", tap_cur_failed ? "not " : "", tap_n, #fn);                            \
    fflush(stdout);                                                                                \
  } while (0)

static inline int tap_done(void) {
  printf("1..%d\n", tap_n);
  return tap_failed ? 1 : 0;
}

#endif
