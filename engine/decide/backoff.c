/*
 * backoff.c - deterministic exponential backoff with hashed jitter.
 */
#include "engine/base/common.h"
#include "engine/decide/backoff.h"
#include "engine/base/sha256.h"

#include <stdio.h>
#include <string.h>

const struct backoff_policy backoff_actions = {2000, 300000, 0.5};

int64_t backoff_delay_ms(const struct backoff_policy *p, const char *seed, int failures,
                         int64_t retry_after_ms) {
  if (failures < 1)
    failures = 1;
  int64_t d = p->base_ms;
  for (int i = 1; i < failures && d < p->cap_ms; i++)
    d *= 2;
  if (d > p->cap_ms)
    d = p->cap_ms;
  /* Jitter from the hash of (seed, failures): a fraction in [0, 1). */
  char buf[256];
  int n = snprintf(buf, sizeof(buf), "%s#%d", seed ? seed : "", failures);
  uint8_t h[SHA256_LEN];
  sha256(buf, (size_t)(n < (int)sizeof(buf) ? n : (int)sizeof(buf) - 1), h);
  uint32_t r = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
  double frac = (double)r / 4294967296.0;
  d += (int64_t)((double)d * p->jitter * frac);
  if (retry_after_ms > d)
    d = retry_after_ms;
  return d;
}
