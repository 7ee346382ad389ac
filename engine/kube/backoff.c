/*
 * backoff.c - client-go style exponential backoff with injectable jitter.
 */
#include "engine/base/common.h"
#include "engine/kube/backoff.h"

#include <stdlib.h>
#include <time.h>

void kube_backoff_init(struct kube_backoff *b, long initial_ms, long max_ms, double factor,
                       double jitter, long reset_after_ms, kube_backoff_rand_fn rand_fn,
                       void *rand_ud) {
  b->initial_ms = initial_ms > 0 ? initial_ms : 1;
  b->max_ms = max_ms >= b->initial_ms ? max_ms : b->initial_ms;
  b->factor = factor >= 1.0 ? factor : 1.0;
  b->jitter = jitter > 0 ? jitter : 0;
  b->reset_after_ms = reset_after_ms > 0 ? reset_after_ms : 0;
  b->rand_fn = rand_fn ? rand_fn : kube_backoff_rand_default;
  b->rand_ud = rand_ud;
  kube_backoff_reset(b);
}

void kube_backoff_init_default(struct kube_backoff *b, kube_backoff_rand_fn rand_fn,
                               void *rand_ud) {
  kube_backoff_init(b, 800, 30000, 2.0, 1.0, 120000, rand_fn, rand_ud);
}

void kube_backoff_reset(struct kube_backoff *b) {
  b->next_ms = b->initial_ms;
  b->last_fail_ms = -1;
  b->failures = 0;
}

long kube_backoff_next(struct kube_backoff *b, int64_t now_ms) {
  /* A long quiet period since the previous failure means the thing was healthy. */
  if (b->reset_after_ms > 0 && b->last_fail_ms >= 0 && now_ms - b->last_fail_ms > b->reset_after_ms)
    kube_backoff_reset(b);
  b->last_fail_ms = now_ms;
  b->failures++;
  long d = b->next_ms;
  double next = (double)b->next_ms * b->factor;
  b->next_ms = next > (double)b->max_ms ? b->max_ms : (long)next;
  if (b->jitter > 0) {
    double r = b->rand_fn(b->rand_ud);
    if (r < 0 || r >= 1)
      r = 0;
    d += (long)(r * b->jitter * (double)d);
  }
  return d;
}

/* xorshift64*, seeded once from the clock and the address space; good enough for jitter. */
double kube_backoff_rand_default(void *ud) {
  (void)ud;
  static uint64_t s;
  if (!s) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    s = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&s;
    if (!s)
      s = 0x9E3779B97F4A7C15ull;
  }
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  uint64_t v = s * 0x2545F4914F6CDD1Dull;
  return (double)(v >> 11) / 9007199254740992.0; /* 2^53 */
}
