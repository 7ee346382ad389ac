/*
 * metrics.h - a small Prometheus metrics registry and its text exposition
 * (format 0.0.4).
 *
 * A metric is a counter, a gauge or a histogram with a fixed list of label
 * names; label values are given at update time, in the same order:
 *
 *   struct metrics_metric *m = metrics_counter_new(reg, "eqxm_actions_total", "Actions run.",
 *                                                  (const char *[]){"controller", "kind", "result",
 * NULL}, &err); metrics_counter_inc(m, (const char *[]){"infrastructure", "sshkey.ensure",
 * "success"}, 1);
 *
 * The values array must hold exactly as many entries as the metric has label
 * names (NULL entries count as ""); pass NULL for a metric without labels.
 * Label values are normalised before use: invalid UTF-8 becomes U+FFFD and
 * values longer than METRICS_MAX_LABEL_VALUE bytes are cut at a character
 * boundary. Each metric holds at most max_series distinct label sets
 * (METRICS_DEFAULT_MAX_SERIES); an update that would create one more is
 * dropped and counted in eqxm_metrics_label_overflow_total{metric="<name>"},
 * so a bug that puts unbounded data (object names, error texts) in a label
 * cannot eat the process's memory.
 *
 * Every update function accepts a NULL metric and then does nothing, so a
 * module can be used with metrics switched off. Nothing here is thread-safe:
 * the registry belongs to the event loop's thread.
 *
 * metrics_render() writes the whole registry, sorted by metric name and then
 * by label values, with # HELP and # TYPE lines. Families of labelled metrics
 * without any label set yet are left out (as the Go client does).
 */
#ifndef EQXM_METRICS_H
#define EQXM_METRICS_H

#include "engine/base/common.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"

#define METRICS_MAX_LABELS         8
#define METRICS_MAX_BUCKETS        32
#define METRICS_MAX_LABEL_VALUE    256
#define METRICS_DEFAULT_MAX_SERIES 1000
#define METRICS_CONTENT_TYPE       "text/plain; version=0.0.4; charset=utf-8"
/* The counter of dropped label sets every registry carries. */
#define METRICS_OVERFLOW_NAME "eqxm_metrics_label_overflow_total"

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metrics_registry;
struct metrics_metric;
struct httpd_request;
struct httpd_response;

/* Scrape-time value of a callback metric: return false to leave the sample out. */
typedef bool (*metrics_value_fn)(void *ud, double *value);

struct metrics_registry *metrics_registry_new(void);
/* Frees every metric of the registry. Callback user data is not touched. NULL is allowed. */
void metrics_registry_free(struct metrics_registry *r);

/*
 * Create a metric in r. name must match [a-zA-Z_:][a-zA-Z0-9_:]* and be unique
 * in the registry (a histogram also reserves name_bucket, name_sum and
 * name_count); label_names is a NULL-terminated list (or NULL) of at most
 * METRICS_MAX_LABELS distinct names matching [a-zA-Z_][a-zA-Z0-9_]*, not
 * starting with "__" ("le" is reserved for histograms). help is one line of
 * text. Returns NULL and fills err on a bad definition; the registry owns the
 * metric.
 */
struct metrics_metric *metrics_counter_new(struct metrics_registry *r, const char *name,
                                           const char *help, const char *const *label_names,
                                           struct eng_error *err);
struct metrics_metric *metrics_gauge_new(struct metrics_registry *r, const char *name,
                                         const char *help, const char *const *label_names,
                                         struct eng_error *err);
/* buckets: nbuckets (1..METRICS_MAX_BUCKETS) finite upper bounds, strictly increasing;
 * the +Inf bucket is implicit. */
struct metrics_metric *metrics_histogram_new(struct metrics_registry *r, const char *name,
                                             const char *help, const char *const *label_names,
                                             const double *buckets, size_t nbuckets,
                                             struct eng_error *err);

/*
 * Make an unlabelled counter or gauge read its value from fn at every scrape
 * (a file size, a queue length). fn NULL returns the metric to its stored
 * value. The caller keeps ud alive until it unsets the callback or frees the
 * registry. Returns ENG_INVALID for a labelled metric or a histogram.
 */
enum eng_err metrics_set_fn(struct metrics_metric *m, metrics_value_fn fn, void *ud);

/* Limit on distinct label sets of m (at least 1). Existing series are kept. */
void metrics_set_max_series(struct metrics_metric *m, size_t max);

/* Add v (>= 0; negative and NaN are ignored: counters only go up). */
void metrics_counter_inc(struct metrics_metric *m, const char *const *label_values, double v);
void metrics_gauge_set(struct metrics_metric *m, const char *const *label_values, double v);
void metrics_gauge_add(struct metrics_metric *m, const char *const *label_values, double v);
/* Record one observation (NaN is ignored). */
void metrics_histogram_observe(struct metrics_metric *m, const char *const *label_values, double v);
/* Forget every label set of m (for example a gauge of objects that went away). */
void metrics_reset(struct metrics_metric *m);

/* Current stored value of a counter or gauge label set (0 when absent); for tests and status. */
double metrics_value(const struct metrics_metric *m, const char *const *label_values);
/* Number of label sets m holds. */
size_t metrics_series_count(const struct metrics_metric *m);
const char *metrics_name(const struct metrics_metric *m);
/* The metric of r named name, or NULL. */
struct metrics_metric *metrics_find(struct metrics_registry *r, const char *name);

/* Append the text exposition of r to out. ENG_TOOLARGE when out's cap is reached. */
enum eng_err metrics_render(struct metrics_registry *r, struct buf *out) WARN_UNUSED;

/* An httpd_handler_fn serving metrics_render(ud) (ud is the registry), for "/metrics". */
enum eng_err metrics_http_handler(void *ud, const struct httpd_request *req,
                                  struct httpd_response *resp);

/* Format a sample value the way Prometheus parsers read it back exactly:
 * shortest round-trip decimal, "+Inf", "-Inf", "NaN". */
void metrics_format_value(double v, char out[32]);

#endif
