/*
 * backoff_test.c - the reflector's backoff sequence with a fixed jitter source: doubling
 * from 800 ms, capped at 30 s, jitter proportional to the delay, reset after 2 min quiet.
 */
#include "engine/base/common.h"
#include "engine/kube/backoff.h"

#include "test/tap.h"

static double fixed(void *ud) { return *(double *)ud; }

static void test_sequence_no_jitter_value(void) {
  double r = 0.0;
  struct kube_backoff b;
  kube_backoff_init_default(&b, fixed, &r);
  const long want[] = {800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000};
  int64_t t = 0;
  for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
    ASSERT_EQ(want[i], kube_backoff_next(&b, t));
    t += 1000;
  }
}

static void test_jitter(void) {
  double r = 0.5;
  struct kube_backoff b;
  kube_backoff_init_default(&b, fixed, &r);
  ASSERT_EQ(1200, kube_backoff_next(&b, 0));  /* 800 + 0.5 * 800 */
  ASSERT_EQ(2400, kube_backoff_next(&b, 10)); /* 1600 + 800 */
  r = 0.999;
  ASSERT_EQ(6396, kube_backoff_next(&b, 20)); /* 3200 + (long)3196.8 */
  /* Out-of-range random values are ignored rather than trusted. */
  r = 7.0;
  ASSERT_EQ(6400, kube_backoff_next(&b, 30));
}

static void test_reset_after_quiet_period(void) {
  double r = 0.0;
  struct kube_backoff b;
  kube_backoff_init_default(&b, fixed, &r);
  ASSERT_EQ(800, kube_backoff_next(&b, 0));
  ASSERT_EQ(1600, kube_backoff_next(&b, 100000));
  ASSERT_EQ(3200, kube_backoff_next(&b, 220000)); /* 120 s after the previous: not more */
  ASSERT_EQ(800, kube_backoff_next(&b, 340001));  /* more than 120 s quiet: start over */
  ASSERT_EQ(1600, kube_backoff_next(&b, 340002));
  kube_backoff_reset(&b);
  ASSERT_EQ(800, kube_backoff_next(&b, 340003));
}

static void test_custom(void) {
  double r = 0.25;
  struct kube_backoff b;
  kube_backoff_init(&b, 10, 35, 3.0, 0.4, 0, fixed, &r);
  ASSERT_EQ(11, kube_backoff_next(&b, 0));       /* 10 + 0.25*0.4*10 */
  ASSERT_EQ(33, kube_backoff_next(&b, 1));       /* 30 + 3 */
  ASSERT_EQ(38, kube_backoff_next(&b, 1000000)); /* capped 35 (+3.5), no reset configured */
  double x = kube_backoff_rand_default(NULL);
  ASSERT(x >= 0 && x < 1);
}

int main(void) {
  TEST(test_sequence_no_jitter_value);
  TEST(test_jitter);
  TEST(test_reset_after_quiet_period);
  TEST(test_custom);
  return tap_done();
}
