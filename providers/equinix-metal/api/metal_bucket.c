/*
 * metal_bucket.c - token bucket arithmetic (see metal_bucket.h).
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/api/metal_bucket.h"

#include <math.h>

void metal_bucket_init(struct metal_bucket *b, double rate, double burst, int64_t now_ms) {
  b->rate = rate > 0 ? rate : 1;
  b->burst = burst >= 1 ? burst : 1;
  b->tokens = b->burst;
  b->last_ms = now_ms;
  b->paused_until_ms = 0;
}

static void refill(struct metal_bucket *b, int64_t now_ms) {
  if (now_ms <= b->last_ms)
    return; /* clocks that step back do not mint tokens */
  b->tokens += (double)(now_ms - b->last_ms) * b->rate / 1000.0;
  if (b->tokens > b->burst)
    b->tokens = b->burst;
  b->last_ms = now_ms;
}

int64_t metal_bucket_take(struct metal_bucket *b, int64_t now_ms) {
  if (now_ms < b->paused_until_ms)
    return b->paused_until_ms - now_ms;
  refill(b, now_ms);
  if (b->tokens >= 1.0) {
    b->tokens -= 1.0;
    return 0;
  }
  double missing = 1.0 - b->tokens;
  int64_t wait = (int64_t)ceil(missing * 1000.0 / b->rate);
  return wait > 0 ? wait : 1;
}

void metal_bucket_pause(struct metal_bucket *b, int64_t until_ms) {
  if (until_ms <= b->paused_until_ms)
    return;
  b->paused_until_ms = until_ms;
  /* One probe right when the pause ends, then the normal rate: no burst into a limit that may
   * still be close to exhausted. */
  b->tokens = 1.0;
  b->last_ms = until_ms;
}
