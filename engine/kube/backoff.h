/*
 * backoff.h - client-go style exponential backoff with jitter, pure (no clock,
 * no randomness of its own).
 *
 * The delay for the n-th consecutive failure is d(n) = min(initial * factor^n, max),
 * returned as d + r * jitter * d where r in [0,1) comes from an injectable source
 * (like client-go's wait.Jitter, so with jitter 1.0 a delay lies in [d, 2d)).
 * When more than reset_after_ms passed since the previous failure the sequence
 * starts again from initial (client-go's exponential backoff manager: "healthy
 * for two minutes" resets). Time is passed in by the caller, so unit tests are
 * deterministic.
 */
#ifndef EQXM_KUBE_BACKOFF_H
#define EQXM_KUBE_BACKOFF_H

#include "engine/base/common.h"

/* Returns a number in [0, 1). */
typedef double (*kube_backoff_rand_fn)(void *ud);

struct kube_backoff {
  long initial_ms;     /* first delay (800 for the reflector) */
  long max_ms;         /* cap before jitter (30000) */
  double factor;       /* growth per failure (2.0) */
  double jitter;       /* 0 = none, 1.0 = up to +100 % */
  long reset_after_ms; /* quiet period after which the sequence restarts (120000); 0 = never */
  kube_backoff_rand_fn rand_fn;
  void *rand_ud;
  /* state */
  long next_ms;         /* un-jittered delay of the next failure */
  int64_t last_fail_ms; /* caller's clock at the previous failure; -1 = none */
  unsigned failures;    /* consecutive failures counted since the last reset */
};

/* The reflector's defaults: 800 ms, x2, 30 s, jitter 1.0, reset after 2 min. rand_fn NULL
 * = a process-wide pseudo-random source seeded from the clock. */
void kube_backoff_init_default(struct kube_backoff *b, kube_backoff_rand_fn rand_fn, void *rand_ud);
void kube_backoff_init(struct kube_backoff *b, long initial_ms, long max_ms, double factor,
                       double jitter, long reset_after_ms, kube_backoff_rand_fn rand_fn,
                       void *rand_ud);

/* Record a failure at now_ms (any monotonic clock) and return the delay to wait, in ms. */
long kube_backoff_next(struct kube_backoff *b, int64_t now_ms);
/* Forget past failures (after a success that proves health). */
void kube_backoff_reset(struct kube_backoff *b);

/* The default random source: uniform in [0,1), seeded once per process. */
double kube_backoff_rand_default(void *ud);

#endif
