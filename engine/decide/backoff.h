/*
 * backoff.h - the retry schedule of actions, pure and deterministic.
 *
 * Attempt n (n >= 1 failed attempts so far) waits base * 2^(n-1), capped, times a
 * jitter factor in [1, 1 + jitter) derived from SHA-256(seed, n) instead of a
 * random number, so the same journal always schedules the same retry times.
 * A server's Retry-After is a floor.
 */
#ifndef EQXM_BACKOFF_H
#define EQXM_BACKOFF_H

#include "engine/base/common.h"

struct backoff_policy {
  int64_t base_ms; /* first delay */
  int64_t cap_ms;  /* largest delay before jitter */
  double jitter;   /* 0.5 = up to +50% */
};

/* Defaults for actions: 2 s doubling to 5 min, +0..50 %. */
extern const struct backoff_policy backoff_actions;

/* Delay before attempt `failures + 1`, given `failures` >= 1 failed attempts. */
int64_t backoff_delay_ms(const struct backoff_policy *p, const char *seed, int failures,
                         int64_t retry_after_ms);

#endif
