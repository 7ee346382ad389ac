/*
 * metrics_bench.c - cost of metric updates and of a scrape.
 *
 *  1. metrics_counter_inc() on a 3-label counter holding 500 label sets, against
 *     a baseline of formatting the same three label values with snprintf
 *     (what any label lookup must at least touch): the ratio says how many
 *     "label formats" one update costs.
 *  2. metrics_render() of the standard set with 1,000 action and 1,000 API
 *     histogram label sets (a large controller), against a baseline of copying the same number of
 *     bytes with memcpy: the ratio is the formatting overhead per byte.
 */
#include "engine/base/common.h"
#include "engine/obs/metrics.h"
#include "engine/obs/metrics_std.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char names[500][3][32];

int main(void) {
  xalloc_init();
  for (int i = 0; i < 500; i++) {
    snprintf(names[i][0], 32, "controller-%d", i % 5);
    snprintf(names[i][1], 32, "metal.kind.%d", i / 5);
    snprintf(names[i][2], 32, "%s", i % 3 ? "success" : "retry");
  }
  struct metrics_registry *r = metrics_registry_new();
  struct metrics_metric *c =
      metrics_counter_new(r, "bench_total", "x", (const char *const[]){"a", "b", "c", NULL}, NULL);
  const int n = 2000000;
  double t0 = now_s();
  for (int i = 0; i < n; i++) {
    const char *const *v = (const char *const *)(const char *[]){
        names[i % 500][0], names[i % 500][1], names[i % 500][2]};
    metrics_counter_inc(c, v, 1);
  }
  double t_inc = now_s() - t0;
  char sink[128];
  size_t guard = 0;
  t0 = now_s();
  for (int i = 0; i < n; i++) {
    guard += (size_t)snprintf(sink, sizeof(sink), "%s|%s|%s", names[i % 500][0], names[i % 500][1],
                              names[i % 500][2]);
  }
  double t_fmt = now_s() - t0;
  printf("counter_inc: %.0f ns/update, snprintf baseline %.0f ns, ratio %.2f (%zu)\n",
         t_inc / n * 1e9, t_fmt / n * 1e9, t_inc / t_fmt, guard % 10);

  struct metrics_registry *std = metrics_registry_new();
  if (metrics_std_init(std, NULL))
    return 1;
  /* A large controller: 1,000 action label sets and 1,000 API histogram label sets. */
  for (int i = 0; i < 1000; i++) {
    char code[16], kind[32];
    snprintf(code, sizeof(code), "%d", 200 + i % 5);
    snprintf(kind, sizeof(kind), "metal.kind.%d", i / 5);
    metrics_counter_inc(metrics_std.actions_total,
                        (const char *const[]){names[i % 500][0], kind, code}, 1 + i % 7);
    const char *method = (const char *[]){"GET", "POST", "PATCH", "PUT", "DELETE"}[i % 5];
    const char *api = i % 2 ? "kube" : "metal";
    metrics_std_api_request(api, method, 100 + i / 10, ENG_OK, 0.001 * (i % 1000));
  }
  struct buf b;
  buf_init(&b, BUF_MAX_HTTP_BODY);
  const int scrapes = 50;
  t0 = now_s();
  for (int i = 0; i < scrapes; i++) {
    buf_reset(&b);
    if (metrics_render(std, &b))
      return 1;
  }
  double t_render = (now_s() - t0) / scrapes;
  char *copy = xmalloc(b.len);
  t0 = now_s();
  for (int i = 0; i < scrapes * 20; i++) {
    memcpy(copy, b.data, b.len);
    __asm__ volatile("" : : "r"(copy) : "memory");
  }
  double t_copy = (now_s() - t0) / (scrapes * 20);
  printf("render: %zu bytes in %.2f ms per scrape, memcpy baseline %.3f ms, ratio %.0f\n", b.len,
         t_render * 1e3, t_copy * 1e3, t_render / t_copy);
  free(copy);
  buf_release(&b);
  metrics_std_clear();
  metrics_registry_free(std);
  metrics_registry_free(r);
  return 0;
}
