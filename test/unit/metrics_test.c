/*
 * metrics_test.c - the metrics registry and its text exposition: golden
 * output (escaping, histogram buckets, +Inf, sorting), definitions that must
 * be refused, the label-set cap, label value normalisation, callbacks, the
 * process metrics and their /proc parsers, and the standard metric set
 * against docs/metrics.md.
 */
#include "engine/base/common.h"
#include "engine/base/log.h"
#include "engine/obs/metrics.h"
#include "providers/equinix-metal/observe/device_watch.h"
#include "engine/obs/metrics_process.h"
#include "engine/obs/metrics_std.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <string.h>
#include <time.h>

#define V(...)                                                                                     \
  (const char *const[]) { __VA_ARGS__ }
#define NAMES(...)                                                                                 \
  (const char *const[]) { __VA_ARGS__, NULL }

static char *render(struct metrics_registry *r) {
  struct buf b;
  buf_init(&b, BUF_MAX_SMALL);
  if (metrics_render(r, &b)) {
    buf_release(&b);
    return xstrdup("(render failed)");
  }
  return buf_take(&b, NULL);
}

static void test_golden(void) {
  struct metrics_registry *r = metrics_registry_new();
  struct eng_error err;
  /* Registered out of order on purpose: output is sorted by name. */
  struct metrics_metric *t = metrics_gauge_new(r, "test_temperature", "Temp.", NULL, &err);
  struct metrics_metric *c = metrics_counter_new(
      r, "test_requests_total", "Requests, by path.\nSecond line \\ backslash \"quoted\"",
      NAMES("path", "code"), &err);
  struct metrics_metric *h = metrics_histogram_new(r, "test_latency_seconds", "Latency.",
                                                   NAMES("api"), (double[]){0.1, 1, 10}, 3, &err);
  struct metrics_metric *e = metrics_counter_new(r, "test_empty_total", "Never.", NAMES("x"), &err);
  struct metrics_metric *a = metrics_counter_new(r, "a_first_total", "First.", NULL, &err);
  ASSERT(t && c && h && e && a);
  metrics_gauge_set(t, NULL, -3.25);
  metrics_counter_inc(c, V("/b", "200"), 1);
  metrics_counter_inc(c, V("/a", "500"), 2);
  metrics_counter_inc(c, V("/a", "200"), 1);
  metrics_counter_inc(c, V("/a", "200"), 2);
  metrics_counter_inc(c, V("quote\"back\\slash\nnl", "200"), 1.5);
  metrics_histogram_observe(h, V("metal"), 1); /* on a bound: counted in le="1" */
  metrics_histogram_observe(h, V("kube"), 0.0625);
  metrics_histogram_observe(h, V("kube"), 0.125);
  metrics_histogram_observe(h, V("kube"), 0.5);
  metrics_histogram_observe(h, V("kube"), 100);
  char *out = render(r);
  const char *want =
      "# HELP a_first_total First.\n"
      "# TYPE a_first_total counter\n"
      "a_first_total 0\n"
      "# HELP test_latency_seconds Latency.\n"
      "# TYPE test_latency_seconds histogram\n"
      "test_latency_seconds_bucket{api=\"kube\",le=\"0.1\"} 1\n"
      "test_latency_seconds_bucket{api=\"kube\",le=\"1\"} 3\n"
      "test_latency_seconds_bucket{api=\"kube\",le=\"10\"} 3\n"
      "test_latency_seconds_bucket{api=\"kube\",le=\"+Inf\"} 4\n"
      "test_latency_seconds_sum{api=\"kube\"} 100.6875\n"
      "test_latency_seconds_count{api=\"kube\"} 4\n"
      "test_latency_seconds_bucket{api=\"metal\",le=\"0.1\"} 0\n"
      "test_latency_seconds_bucket{api=\"metal\",le=\"1\"} 1\n"
      "test_latency_seconds_bucket{api=\"metal\",le=\"10\"} 1\n"
      "test_latency_seconds_bucket{api=\"metal\",le=\"+Inf\"} 1\n"
      "test_latency_seconds_sum{api=\"metal\"} 1\n"
      "test_latency_seconds_count{api=\"metal\"} 1\n"
      "# HELP test_requests_total Requests, by path.\\nSecond line \\\\ backslash \"quoted\"\n"
      "# TYPE test_requests_total counter\n"
      "test_requests_total{path=\"/a\",code=\"200\"} 3\n"
      "test_requests_total{path=\"/a\",code=\"500\"} 2\n"
      "test_requests_total{path=\"/b\",code=\"200\"} 1\n"
      "test_requests_total{path=\"quote\\\"back\\\\slash\\nnl\",code=\"200\"} 1.5\n"
      "# HELP test_temperature Temp.\n"
      "# TYPE test_temperature gauge\n"
      "test_temperature -3.25\n";
  ASSERT_STR_EQ(want, out);
  free(out);
  metrics_registry_free(r);
}

static void test_histogram_unlabelled_and_inf(void) {
  struct metrics_registry *r = metrics_registry_new();
  struct metrics_metric *h =
      metrics_histogram_new(r, "h_seconds", "H.", NULL, (double[]){0.005, 2.5}, 2, NULL);
  ASSERT(h);
  metrics_histogram_observe(h, NULL, INFINITY);
  metrics_histogram_observe(h, NULL, NAN); /* ignored */
  metrics_histogram_observe(h, NULL, -1);
  char *out = render(r);
  ASSERT_STR_EQ("# HELP h_seconds H.\n# TYPE h_seconds histogram\n"
                "h_seconds_bucket{le=\"0.005\"} 1\n"
                "h_seconds_bucket{le=\"2.5\"} 1\n"
                "h_seconds_bucket{le=\"+Inf\"} 2\n"
                "h_seconds_sum +Inf\n"
                "h_seconds_count 2\n",
                out);
  free(out);
  ASSERT_EQ(2, (int)metrics_value(h, NULL));
  metrics_registry_free(r);
}

static void test_format_value(void) {
  char b[32];
  struct {
    double v;
    const char *s;
  } cases[] = {{0, "0"},
               {1, "1"},
               {-2, "-2"},
               {0.1, "0.1"},
               {0.005, "0.005"},
               {1e-9, "1e-09"},
               {123456789, "123456789"},
               {1e21, "1e+21"},
               {1e300, "1e+300"}, /* no (int64_t) conversion out of range */
               {-1e300, "-1e+300"},
               {INFINITY, "+Inf"},
               {-INFINITY, "-Inf"}};
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    metrics_format_value(cases[i].v, b);
    ASSERT_STR_EQ(cases[i].s, b);
  }
  metrics_format_value(NAN, b);
  ASSERT_STR_EQ("NaN", b);
  /* Values that need 17 digits still read back exactly. */
  double vals[] = {1.0 / 3, 0.1 + 0.2, 1732350000.123456, 4.9e-324, 1.7976931348623157e308};
  for (size_t i = 0; i < ARRAY_SIZE(vals); i++) {
    metrics_format_value(vals[i], b);
    ASSERT_MSG(strtod(b, NULL) == vals[i], "%s does not read back as %.17g", b, vals[i]);
  }
}

static void test_bad_definitions(void) {
  struct metrics_registry *r = metrics_registry_new();
  struct eng_error err;
  ASSERT(!metrics_counter_new(r, "", "x", NULL, &err));
  ASSERT_EQ(ENG_INVALID, err.code);
  ASSERT(!metrics_counter_new(r, "9starts_with_digit", "x", NULL, &err));
  ASSERT(!metrics_counter_new(r, "has-dash", "x", NULL, &err));
  ASSERT_CONTAINS(err.msg, "has-dash");
  ASSERT(!metrics_counter_new(r, "ok_total", "x", NAMES("__reserved"), &err));
  ASSERT(!metrics_counter_new(r, "ok_total", "x", NAMES("a:b"), &err));
  ASSERT(!metrics_counter_new(r, "ok_total", "x", NAMES("a", "a"), &err));
  ASSERT_CONTAINS(err.msg, "twice");
  ASSERT(!metrics_counter_new(r, "ok_total", "x",
                              NAMES("a", "b", "c", "d", "e", "f", "g", "h", "i"), &err));
  ASSERT(!metrics_histogram_new(r, "h", "x", NAMES("le"), (double[]){1}, 1, &err));
  ASSERT(!metrics_histogram_new(r, "h", "x", NULL, (double[]){2, 1}, 2, &err));
  ASSERT(!metrics_histogram_new(r, "h", "x", NULL, (double[]){1, 1}, 2, &err));
  ASSERT(!metrics_histogram_new(r, "h", "x", NULL, (double[]){1, INFINITY}, 2, &err));
  ASSERT(!metrics_histogram_new(r, "h", "x", NULL, NULL, 0, &err));
  /* le is an ordinary label outside histograms. */
  ASSERT(metrics_gauge_new(r, "g_le", "x", NAMES("le"), &err));
  ASSERT(metrics_counter_new(r, "ok_total", "x", NULL, &err));
  ASSERT(!metrics_gauge_new(r, "ok_total", "x", NULL, &err));
  ASSERT_EQ(ENG_EXISTS, err.code);
  /* A histogram reserves its _bucket, _sum and _count names, in both directions. */
  ASSERT(metrics_histogram_new(r, "lat", "x", NULL, (double[]){1}, 1, &err));
  ASSERT(!metrics_counter_new(r, "lat_count", "x", NULL, &err));
  ASSERT(!metrics_gauge_new(r, "lat_bucket", "x", NULL, &err));
  ASSERT(metrics_counter_new(r, "dur_sum", "x", NULL, &err));
  ASSERT(!metrics_histogram_new(r, "dur", "x", NULL, (double[]){1}, 1, &err));
  ASSERT_CONTAINS(err.msg, "dur_sum");
  /* The registry's own overflow counter is taken too. */
  ASSERT(!metrics_counter_new(r, METRICS_OVERFLOW_NAME, "x", NULL, &err));
  ASSERT(!metrics_counter_new(NULL, "x_total", "x", NULL, &err));
  metrics_registry_free(r);
}

static void test_label_cap(void) {
  struct metrics_registry *r = metrics_registry_new();
  struct metrics_metric *c = metrics_counter_new(r, "objs_total", "x", NAMES("name"), NULL);
  ASSERT(c);
  metrics_set_max_series(c, 3);
  char name[32];
  for (int i = 0; i < 10; i++) {
    snprintf(name, sizeof(name), "obj-%d", i);
    metrics_counter_inc(c, V(name), 1);
  }
  ASSERT_EQ(3, metrics_series_count(c));
  /* Existing label sets keep counting. */
  metrics_counter_inc(c, V("obj-1"), 5);
  ASSERT_EQ(6, (int)metrics_value(c, V("obj-1")));
  ASSERT_EQ(0, (int)metrics_value(c, V("obj-7")));
  struct metrics_metric *ov = metrics_find(r, METRICS_OVERFLOW_NAME);
  ASSERT(ov);
  ASSERT_EQ(7, (int)metrics_value(ov, V("objs_total")));
  char *out = render(r);
  ASSERT_CONTAINS(out, METRICS_OVERFLOW_NAME "{metric=\"objs_total\"} 7\n");
  ASSERT_NOT_CONTAINS(out, "obj-5");
  free(out);
  /* The default cap holds without any call. */
  struct metrics_metric *g = metrics_gauge_new(r, "g", "x", NAMES("k"), NULL);
  for (int i = 0; i < METRICS_DEFAULT_MAX_SERIES + 50; i++) {
    snprintf(name, sizeof(name), "%d", i);
    metrics_gauge_set(g, V(name), i);
  }
  ASSERT_EQ(METRICS_DEFAULT_MAX_SERIES, metrics_series_count(g));
  ASSERT_EQ(50, (int)metrics_value(ov, V("g")));
  /* Reset frees the label sets; new ones are accepted again. */
  metrics_reset(g);
  ASSERT_EQ(0, metrics_series_count(g));
  metrics_gauge_set(g, V("x"), 1);
  ASSERT_EQ(1, metrics_series_count(g));
  metrics_registry_free(r);
}

static void test_label_values_normalised(void) {
  struct metrics_registry *r = metrics_registry_new();
  struct metrics_metric *c = metrics_counter_new(r, "c_total", "x", NAMES("v"), NULL);
  ASSERT(c);
  metrics_counter_inc(c, V("caf\xc3\xa9"), 1); /* valid UTF-8 kept */
  metrics_counter_inc(c,
                      V("bad\xff"
                        "byte"),
                      1); /* invalid byte → U+FFFD */
  metrics_counter_inc(c,
                      V("bad\xfe"
                        "byte"),
                      1);                           /* the same after normalising */
  metrics_counter_inc(c, V("over\xc0\xaflong"), 1); /* overlong '/' is invalid */
  metrics_counter_inc(c, V(NULL), 2);               /* NULL is "" */
  char longv[METRICS_MAX_LABEL_VALUE + 100];
  memset(longv, 'x', sizeof(longv) - 1);
  longv[sizeof(longv) - 1] = '\0';
  longv[METRICS_MAX_LABEL_VALUE - 1] = '\xc3'; /* a 2-byte character across the limit */
  longv[METRICS_MAX_LABEL_VALUE] = '\xa9';
  metrics_counter_inc(c, V(longv), 1);
  ASSERT_EQ(5, metrics_series_count(c));
  ASSERT_EQ(2, (int)metrics_value(c, V("bad\xef\xbf\xbd"
                                       "byte")));
  char *out = render(r);
  ASSERT_CONTAINS(out, "c_total{v=\"caf\xc3\xa9\"} 1\n");
  ASSERT_CONTAINS(out, "c_total{v=\"bad\xef\xbf\xbd"
                       "byte\"} 2\n");
  ASSERT_CONTAINS(out, "c_total{v=\"over\xef\xbf\xbd\xef\xbf\xbdlong\"} 1\n");
  ASSERT_CONTAINS(out, "c_total{v=\"\"} 2\n");
  char want[METRICS_MAX_LABEL_VALUE + 40];
  snprintf(want, sizeof(want), "c_total{v=\"%.*s\"} 1\n", METRICS_MAX_LABEL_VALUE - 1, longv);
  ASSERT_CONTAINS(out, want);
  free(out);
  metrics_registry_free(r);
}

static bool cb_value(void *ud, double *v) {
  int *calls = ud;
  (*calls)++;
  if (*calls == 2)
    return false;
  *v = 4096;
  return true;
}

static void test_callbacks_and_noops(void) {
  struct metrics_registry *r = metrics_registry_new();
  struct metrics_metric *g = metrics_gauge_new(r, "size_bytes", "Size.", NULL, NULL);
  struct metrics_metric *lg = metrics_gauge_new(r, "lg", "x", NAMES("a"), NULL);
  struct metrics_metric *c = metrics_counter_new(r, "c_total", "x", NULL, NULL);
  ASSERT(g && lg && c);
  int calls = 0;
  ASSERT_EQ(ENG_OK, metrics_set_fn(g, cb_value, &calls));
  ASSERT_EQ(ENG_INVALID, metrics_set_fn(lg, cb_value, &calls));
  char *out = render(r);
  ASSERT_CONTAINS(out, "# TYPE size_bytes gauge\nsize_bytes 4096\n");
  free(out);
  out = render(r); /* the callback says "nothing": the family is left out */
  ASSERT_NOT_CONTAINS(out, "size_bytes");
  free(out);
  ASSERT_EQ(ENG_OK, metrics_set_fn(g, NULL, NULL));
  metrics_gauge_set(g, NULL, 7);
  out = render(r);
  ASSERT_CONTAINS(out, "size_bytes 7\n");
  ASSERT_EQ(2, calls);
  free(out);
  /* Counters only go up; wrong-type updates and NULL metrics do nothing. */
  metrics_counter_inc(c, NULL, -1);
  metrics_counter_inc(c, NULL, NAN);
  metrics_gauge_set(c, NULL, 100);
  metrics_histogram_observe(c, NULL, 1);
  metrics_counter_inc(c, NULL, 0.5);
  ASSERT(metrics_value(c, NULL) == 0.5);
  metrics_gauge_add(g, NULL, -2);
  ASSERT(metrics_value(g, NULL) == 5);
  metrics_counter_inc(NULL, NULL, 1);
  metrics_gauge_set(NULL, NULL, 1);
  metrics_histogram_observe(NULL, NULL, 1);
  metrics_reset(NULL);
  metrics_registry_free(r);
  metrics_registry_free(NULL);
}

static void test_render_cap(void) {
  struct metrics_registry *r = metrics_registry_new();
  struct metrics_metric *c = metrics_counter_new(r, "c_total", "x", NAMES("k"), NULL);
  char k[16];
  for (int i = 0; i < 100; i++) {
    snprintf(k, sizeof(k), "%d", i);
    metrics_counter_inc(c, V(k), 1);
  }
  struct buf b;
  buf_init(&b, 512);
  ASSERT_EQ(ENG_TOOLARGE, metrics_render(r, &b));
  buf_release(&b);
  metrics_registry_free(r);
}

static void test_proc_parsers(void) {
  struct metrics_proc_stat st;
  const char *stat = "4242 (evil) name) (x) S 1 2 3 4 -1 4194304 99 0 0 0 150 25 0 0 20 0 1 0 "
                     "132528 3133440 407 18446744073709551615 1 2 3\n";
  ASSERT_EQ(ENG_OK, metrics_proc_parse_stat(stat, &st));
  ASSERT_EQ(150, st.utime_ticks);
  ASSERT_EQ(25, st.stime_ticks);
  ASSERT_EQ(132528, st.starttime_ticks);
  ASSERT_EQ(3133440, st.vsize_bytes);
  ASSERT_EQ(407, st.rss_pages);
  ASSERT_EQ(ENG_CORRUPT, metrics_proc_parse_stat("", &st));
  ASSERT_EQ(ENG_CORRUPT, metrics_proc_parse_stat("1 (x) S 1 2 3", &st));
  ASSERT_EQ(ENG_CORRUPT, metrics_proc_parse_stat(NULL, &st));
  ASSERT_EQ(ENG_CORRUPT, metrics_proc_parse_stat(
                             "1 (x) S 1 2 3 4 -1 4 9 0 0 0 abc 25 0 0 20 0 1 0 1 2 3\n", &st));
  uint64_t bt = 0;
  ASSERT_EQ(ENG_OK,
            metrics_proc_parse_btime("cpu 1 2 3\nintr 5\nbtime 1795474368\nprocs 9\n", &bt));
  ASSERT_EQ(1795474368, bt);
  ASSERT_EQ(ENG_CORRUPT, metrics_proc_parse_btime("cpu 1 2 3\n", &bt));
  ASSERT_EQ(ENG_CORRUPT, metrics_proc_parse_btime("btime x\n", &bt));
}

/* The value of an unlabelled sample "name value" in text, or NaN. */
static double sample(const char *text, const char *name) {
  char pat[128];
  snprintf(pat, sizeof(pat), "\n%s ", name);
  const char *p = strstr(text, pat);
  return p ? strtod(p + strlen(pat), NULL) : NAN;
}

static void test_process_metrics(void) {
  struct metrics_registry *r = metrics_registry_new();
  struct eng_error err;
  ASSERT_EQ(ENG_OK, metrics_process_register(r, &err));
  ASSERT_EQ(ENG_EXISTS, metrics_process_register(r, &err));
  char *out = render(r);
  double rss = sample(out, "process_resident_memory_bytes");
  double vm = sample(out, "process_virtual_memory_bytes");
  double fds = sample(out, "process_open_fds");
  double maxfds = sample(out, "process_max_fds");
  double start = sample(out, "process_start_time_seconds");
  double cpu = sample(out, "process_cpu_seconds_total");
  double heap = sample(out, "eqxm_heap_in_use_bytes");
  double sq = sample(out, "eqxm_sqlite_memory_bytes");
#ifdef __SANITIZE_ADDRESS__
  /* ASan's allocator serves malloc: glibc's mallinfo2() knows nothing, the gauge is absent. */
  ASSERT_MSG(isnan(heap), "heap %g under ASan", heap);
#else
  ASSERT_MSG(heap > 0 && heap < rss * 4, "heap %g rss %g", heap, rss);
#endif
  ASSERT_MSG(sq >= 0, "sqlite %g", sq);
  {
    /* 16 MiB more on the heap and an SQLite connection show up in the next scrape. */
    char *big = malloc(16u << 20);
    ASSERT(big);
    memset(big, 1, 16u << 20);
    sqlite3 *db = NULL;
    ASSERT_EQ(SQLITE_OK, sqlite3_open(":memory:", &db));
    char *o2 = render(r);
    double heap2 = sample(o2, "eqxm_heap_in_use_bytes"),
           sq2 = sample(o2, "eqxm_sqlite_memory_bytes");
    free(o2);
    sqlite3_close(db);
    free(big);
#ifndef __SANITIZE_ADDRESS__
    ASSERT_MSG(heap2 - heap >= (double)(16u << 20), "heap %g then %g", heap, heap2);
#else
    (void)heap2;
#endif
    ASSERT_MSG(sq2 > sq, "sqlite %g then %g", sq, sq2);
  }
  ASSERT_CONTAINS(out, "# TYPE process_cpu_seconds_total counter\n");
  ASSERT_MSG(rss > 0 && vm >= rss, "rss %g vm %g", rss, vm);
  ASSERT_MSG(fds >= 3 && fds <= maxfds, "open fds %g max %g", fds, maxfds);
  /* After 2020-01-01 and not in the future (one day of clock skew allowed). */
  ASSERT_MSG(start > 1577836800 && start < (double)time(NULL) + 86400, "start %f", start);
  ASSERT_MSG(cpu >= 0, "cpu %g", cpu);
  free(out);
  /* An extra open descriptor shows up in the next scrape. */
  FILE *f = fopen("/dev/null", "r");
  ASSERT(f);
  out = render(r);
  double fds2 = sample(out, "process_open_fds");
  fclose(f);
  free(out);
  ASSERT_MSG(fds2 == fds + 1, "open fds %g then %g", fds, fds2);
  metrics_registry_free(r);
}

static void test_std_metrics_documented(void) {
  struct metrics_registry *r = metrics_registry_new();
  struct eng_error err;
  ASSERT(metrics_std.actions_total == NULL);
  metrics_counter_inc(metrics_std.actions_total, V("a", "b", "c"), 1); /* no-op before init */
  ASSERT_EQ(ENG_OK, metrics_std_init(r, &err));
  /* run also registers the provider's device polling metric, documented in the same file */
  ASSERT_EQ(ENG_OK, device_watch_metrics(r, &err));
  struct metrics_metric *const *all = (struct metrics_metric *const *)&metrics_std;
  size_t n = sizeof(metrics_std) / sizeof(*all);
  for (size_t i = 0; i < n; i++)
    ASSERT_MSG(all[i] != NULL, "member %zu of struct metrics_std is not set", i);
  struct metrics_registry *r2 = metrics_registry_new();
  (void)metrics_counter_new(r2, "eqxm_leader_status", "taken", NULL, NULL);
  struct metrics_std saved = metrics_std;
  ASSERT_EQ(ENG_EXISTS, metrics_std_init(r2, &err));
  ASSERT(metrics_std.actions_total == saved.actions_total); /* a failed init changes nothing */
  metrics_registry_free(r2);

  /* Every metric of the set is in docs/metrics.md, and every name there exists. */
  const char *root = getenv("EQXM_ROOT");
  char path[4096];
  snprintf(path, sizeof(path), "%s/docs/metrics.md", root ? root : ".");
  FILE *f = fopen(path, "r");
  ASSERT_MSG(f, "cannot open %s", path);
  static char doc[65536];
  size_t dl = fread(doc, 1, sizeof(doc) - 1, f);
  fclose(f);
  doc[dl] = '\0';
  static const char *const process[] = {"process_cpu_seconds_total",
                                        "process_resident_memory_bytes",
                                        "process_virtual_memory_bytes",
                                        "process_start_time_seconds",
                                        "process_open_fds",
                                        "process_max_fds",
                                        "eqxm_heap_in_use_bytes",
                                        "eqxm_sqlite_memory_bytes",
                                        METRICS_OVERFLOW_NAME};
  char pat[160];
  for (size_t i = 0; i < n + ARRAY_SIZE(process); i++) {
    const char *name = i < n ? metrics_name(all[i]) : process[i - n];
    ASSERT(metrics_find(r, name));
    snprintf(pat, sizeof(pat), "`%s`", name);
    ASSERT_MSG(strstr(doc, pat), "%s is not documented in docs/metrics.md", name);
  }
  for (const char *p = doc; (p = strstr(p, "| `")) != NULL;) {
    p += 3;
    size_t l = strcspn(p, "`");
    if (l >= 100 || (strncmp(p, "eqxm_", 5) && strncmp(p, "process_", 8)))
      continue;
    char name[100];
    memcpy(name, p, l);
    name[l] = '\0';
    ASSERT_MSG(metrics_find(r, name), "docs/metrics.md lists %s, which does not exist", name);
  }

  /* The helpers fill the right label sets. */
  metrics_std_api_request("metal", "POST", 201, ENG_OK, 0.2);
  metrics_std_api_request("kube", "GET", 0, ENG_TIMEOUT, 30);
  metrics_std_api_request("kube", "PATCH", 429, ENG_RATELIMIT, 0.01);
  metrics_std_reconcile("infrastructure", "reconcile", "success", 1.5);
  metrics_std_action("infrastructure", "metal.sshkey.ensure", false, true, 0.3);
  metrics_std_action("infrastructure", "metal.sshkey.ensure", true, false, 0.2);
  ASSERT_EQ(1, (int)metrics_value(metrics_std.actions_total,
                                  V("infrastructure", "metal.sshkey.ensure", "retry")));
  ASSERT_EQ(1, (int)metrics_value(metrics_std.actions_total,
                                  V("infrastructure", "metal.sshkey.ensure", "success")));
  ASSERT_EQ(2, (int)metrics_value(metrics_std.action_duration_seconds,
                                  V("infrastructure", "metal.sshkey.ensure")));
  ASSERT_EQ(
      1, (int)metrics_value(metrics_std.api_request_duration_seconds, V("metal", "POST", "201")));
  ASSERT_EQ(
      1, (int)metrics_value(metrics_std.api_request_duration_seconds, V("kube", "GET", "error")));
  ASSERT_EQ(1, (int)metrics_value(metrics_std.api_errors_total, V("kube", "GET", "timeout")));
  ASSERT_EQ(1, (int)metrics_value(metrics_std.api_errors_total, V("kube", "PATCH", "ratelimit")));
  ASSERT_EQ(2, metrics_series_count(metrics_std.api_errors_total));
  ASSERT_EQ(1, (int)metrics_value(metrics_std.reconciles_total,
                                  V("infrastructure", "reconcile", "success")));
  ASSERT_STR_EQ("notfound", metrics_std_reason(ENG_NOTFOUND));
  ASSERT_STR_EQ("unknown", metrics_std_reason((enum eng_err)999));
  char *out = render(r);
  ASSERT_CONTAINS(out, "eqxm_build_info{version=\"" EQXM_VERSION "\"} 1\n");
  ASSERT_CONTAINS(out, "eqxm_leader_status 0\n");
  free(out);
  metrics_std_clear();
  ASSERT(metrics_std.reconciles_total == NULL);
  metrics_std_reconcile("x", "y", "z", 1); /* no-op again */
  metrics_registry_free(r);
}

int main(void) {
  xalloc_init();
  log_setup(LOG_ERROR, LOG_FORMAT_TEXT, 2); /* the overflow warnings are expected */
  TEST(test_golden);
  TEST(test_histogram_unlabelled_and_inf);
  TEST(test_format_value);
  TEST(test_bad_definitions);
  TEST(test_label_cap);
  TEST(test_label_values_normalised);
  TEST(test_callbacks_and_noops);
  TEST(test_render_cap);
  TEST(test_proc_parsers);
  TEST(test_process_metrics);
  TEST(test_std_metrics_documented);
  return tap_done();
}
