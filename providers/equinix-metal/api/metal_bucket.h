/*
 * metal_bucket.h - the token bucket that caps the request rate of one client,
 * with a pause for 429 answers. Pure arithmetic: the caller passes the time
 * (monotonic milliseconds), so tests inject their own clock.
 *
 * Tokens accrue at `rate` per second up to `burst`; a request takes one. After
 * a 429 the bucket is paused until the server's reset time: no token before it,
 * exactly one right at it (a probe), then the normal rate.
 */
#ifndef EQXM_METAL_BUCKET_H
#define EQXM_METAL_BUCKET_H

#include "engine/base/common.h"

struct metal_bucket {
  double rate;     /* tokens per second (> 0) */
  double burst;    /* capacity (>= 1) */
  double tokens;   /* available now */
  int64_t last_ms; /* time of the last refill */
  int64_t paused_until_ms;
};

/* Start full. rate <= 0 becomes 1, burst < 1 becomes 1. */
void metal_bucket_init(struct metal_bucket *b, double rate, double burst, int64_t now_ms);
/* Take a token: 0 when one was taken, else the milliseconds (>= 1) until one is available. */
int64_t metal_bucket_take(struct metal_bucket *b, int64_t now_ms);
/* No token before until_ms (a later pause extends, an earlier one is ignored). */
void metal_bucket_pause(struct metal_bucket *b, int64_t until_ms);

#endif
