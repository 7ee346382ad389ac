/*
 * metrics.c - metric registry and Prometheus text exposition (format 0.0.4).
 *
 * Each metric keeps its label sets ("series") in a chained hash table keyed by
 * the label values; rendering copies the series pointers, sorts them and
 * prints. Scrapes are rare (every 15-60 s) and updates frequent, so updates
 * are O(1) and the sorting cost is paid at scrape time.
 */
#include "engine/base/common.h"
#include "engine/obs/metrics.h"
#include "engine/net/httpd.h"
#include "engine/base/log.h"
#include "engine/base/xalloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metrics_series {
  struct metrics_series *next; /* hash chain */
  uint64_t hash;
  char **values; /* nlabels normalised strings */
  double value;  /* counter, gauge */
  double sum;    /* histogram */
  uint64_t count;
  uint64_t *buckets; /* histogram: per-bucket (not cumulative) counts, nbuckets + 1 (+Inf) */
};

struct metrics_metric {
  struct metrics_registry *reg;
  enum metrics_type type;
  char *name;
  char *help;
  char **label_names;
  size_t nlabels;
  double *bounds; /* histogram upper bounds */
  char (*le)[32]; /* the bounds formatted for the le label */
  size_t nbounds;
  metrics_value_fn fn;
  void *fn_ud;
  struct metrics_series **table;
  size_t table_size; /* power of two */
  size_t nseries;
  size_t max_series;
  bool overflow_logged;
};

struct metrics_registry {
  struct metrics_metric **metrics; /* kept sorted by name */
  size_t n, cap;
  struct metrics_metric *overflow;
};

/* ---- names and label values ------------------------------------------------------------- */

static bool valid_metric_name(const char *s) {
  if (!s || !*s)
    return false;
  for (const char *p = s; *p; p++) {
    char c = *p;
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(p != s && c >= '0' && c <= '9'))
      return false;
  }
  return true;
}

static bool valid_label_name(const char *s) {
  if (!s || !*s || (s[0] == '_' && s[1] == '_'))
    return false;
  for (const char *p = s; *p; p++) {
    char c = *p;
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(p != s && c >= '0' && c <= '9'))
      return false;
  }
  return true;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80)
    return 1;
  size_t len;
  unsigned cp;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

/*
 * Normalise one label value: NULL becomes "", invalid UTF-8 bytes become
 * U+FFFD, and the result is cut at a character boundary to
 * METRICS_MAX_LABEL_VALUE bytes. Returns v itself when it is already normal,
 * else a string written to scratch (METRICS_MAX_LABEL_VALUE + 1 bytes).
 */
static const char *normalise_value(const char *v, char *scratch) {
  if (!v)
    return "";
  const unsigned char *s = (const unsigned char *)v;
  size_t n = strlen(v), i = 0;
  while (i < n) {
    size_t l = utf8_seq(s + i, n - i);
    if (!l)
      break;
    i += l;
  }
  if (i == n && n <= METRICS_MAX_LABEL_VALUE)
    return v;
  size_t o = 0;
  for (i = 0; i < n;) {
    size_t l = utf8_seq(s + i, n - i);
    const unsigned char *src = s + i;
    static const unsigned char repl[] = {0xef, 0xbf, 0xbd};
    if (!l) {
      src = repl;
      i++;
      l = 3;
    } else {
      i += l;
    }
    if (o + l > METRICS_MAX_LABEL_VALUE)
      break;
    memcpy(scratch + o, src, l);
    o += l;
  }
  scratch[o] = '\0';
  return scratch;
}

/* ---- series table ------------------------------------------------------------------------ */

static uint64_t hash_values(const char *const *vals, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) {
    for (const unsigned char *p = (const unsigned char *)vals[i]; *p; p++) {
      h ^= *p;
      h *= 1099511628211ull;
    }
    h ^= 0xff; /* separator: no valid UTF-8 byte */
    h *= 1099511628211ull;
  }
  return h;
}

static bool same_values(const struct metrics_series *s, const char *const *vals, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(s->values[i], vals[i]) != 0)
      return false;
  return true;
}

static struct metrics_series *series_alloc(struct metrics_metric *m, const char *const *vals,
                                           uint64_t h) {
  struct metrics_series *s = xcalloc(1, sizeof(*s));
  s->hash = h;
  if (m->nlabels) {
    s->values = xcalloc(m->nlabels, sizeof(char *));
    for (size_t i = 0; i < m->nlabels; i++)
      s->values[i] = xstrdup(vals[i]);
  }
  if (m->type == METRICS_HISTOGRAM)
    s->buckets = xcalloc(m->nbounds + 1, sizeof(uint64_t));
  return s;
}

static void series_free(struct metrics_series *s, size_t nlabels) {
  for (size_t i = 0; i < nlabels; i++)
    free(s->values[i]);
  free(s->values);
  free(s->buckets);
  free(s);
}

static void table_grow(struct metrics_metric *m) {
  size_t nsize = m->table_size ? m->table_size * 2 : 8;
  struct metrics_series **nt = xcalloc(nsize, sizeof(*nt));
  for (size_t i = 0; i < m->table_size; i++) {
    struct metrics_series *s = m->table[i], *next;
    for (; s; s = next) {
      next = s->next;
      size_t b = (size_t)(s->hash & (nsize - 1));
      s->next = nt[b];
      nt[b] = s;
    }
  }
  free(m->table);
  m->table = nt;
  m->table_size = nsize;
}

static void count_overflow(struct metrics_metric *m) {
  struct metrics_registry *r = m->reg;
  if (!m->overflow_logged) {
    m->overflow_logged = true;
    char limit[32];
    snprintf(limit, sizeof(limit), "%zu", m->max_series);
    log_warn("a metric reached its limit of distinct label sets; new label sets are dropped and "
             "counted in " METRICS_OVERFLOW_NAME,
             "metric", m->name, "limit", limit, NULL);
  }
  if (r->overflow && m != r->overflow)
    metrics_counter_inc(r->overflow, (const char *const[]){m->name}, 1);
}

/*
 * Find the series of label values vals (normalised first), creating it when
 * create is set and the metric is under its cap. NULL when absent or dropped.
 */
static struct metrics_series *series_get(struct metrics_metric *m, const char *const *vals,
                                         bool create) {
  const char *norm[METRICS_MAX_LABELS];
  static char scratch[METRICS_MAX_LABELS][METRICS_MAX_LABEL_VALUE + 1];
  for (size_t i = 0; i < m->nlabels; i++)
    norm[i] = normalise_value(vals ? vals[i] : NULL, scratch[i]);
  uint64_t h = hash_values(norm, m->nlabels);
  if (m->table_size) {
    for (struct metrics_series *s = m->table[h & (m->table_size - 1)]; s; s = s->next)
      if (s->hash == h && same_values(s, norm, m->nlabels))
        return s;
  }
  if (!create)
    return NULL;
  if (m->nseries >= m->max_series) {
    count_overflow(m);
    return NULL;
  }
  if (m->nseries + 1 > m->table_size * 3 / 4)
    table_grow(m);
  struct metrics_series *s = series_alloc(m, norm, h);
  size_t b = (size_t)(h & (m->table_size - 1));
  s->next = m->table[b];
  m->table[b] = s;
  m->nseries++;
  return s;
}

/* ---- registry ---------------------------------------------------------------------------- */

static void series_clear(struct metrics_metric *m) {
  for (size_t i = 0; i < m->table_size; i++) {
    struct metrics_series *s = m->table[i], *next;
    for (; s; s = next) {
      next = s->next;
      series_free(s, m->nlabels);
    }
    m->table[i] = NULL;
  }
  m->nseries = 0;
}

static void metric_free(struct metrics_metric *m) {
  series_clear(m);
  free(m->table);
  for (size_t i = 0; i < m->nlabels; i++)
    free(m->label_names[i]);
  free(m->label_names);
  free(m->bounds);
  free(m->le);
  free(m->name);
  free(m->help);
  free(m);
}

static bool has_suffix(const char *s, const char *base, const char *suffix) {
  size_t bl = strlen(base);
  return strncmp(s, base, bl) == 0 && strcmp(s + bl, suffix) == 0;
}

/* Would a metric named name (of type t) produce sample names that clash with e? */
static bool clashes(const char *name, enum metrics_type t, const struct metrics_metric *e) {
  if (strcmp(name, e->name) == 0)
    return true;
  static const char *const sfx[] = {"_bucket", "_sum", "_count"};
  for (size_t i = 0; i < ARRAY_SIZE(sfx); i++) {
    if (e->type == METRICS_HISTOGRAM && has_suffix(name, e->name, sfx[i]))
      return true;
    if (t == METRICS_HISTOGRAM && has_suffix(e->name, name, sfx[i]))
      return true;
  }
  return false;
}

static struct metrics_metric *metric_new(struct metrics_registry *r, enum metrics_type t,
                                         const char *name, const char *help,
                                         const char *const *labels, const double *bounds,
                                         size_t nbounds, struct eng_error *err) {
  if (!r) {
    eng_error_set(err, ENG_INVALID, "cannot define metric %s: no registry", name ? name : "");
    return NULL;
  }
  if (!valid_metric_name(name)) {
    eng_error_set(err, ENG_INVALID,
                  "cannot define metric \"%s\": a metric name must match [a-zA-Z_:][a-zA-Z0-9_:]*",
                  name ? name : "");
    return NULL;
  }
  size_t nl = 0;
  for (; labels && labels[nl]; nl++) {
    if (nl == METRICS_MAX_LABELS) {
      eng_error_set(err, ENG_INVALID, "cannot define metric %s: more than %d labels", name,
                    METRICS_MAX_LABELS);
      return NULL;
    }
    if (!valid_label_name(labels[nl]) || (t == METRICS_HISTOGRAM && !strcmp(labels[nl], "le"))) {
      eng_error_set(err, ENG_INVALID, "cannot define metric %s: invalid label name \"%s\"", name,
                    labels[nl]);
      return NULL;
    }
    for (size_t j = 0; j < nl; j++) {
      if (!strcmp(labels[j], labels[nl])) {
        eng_error_set(err, ENG_INVALID, "cannot define metric %s: label \"%s\" appears twice", name,
                      labels[nl]);
        return NULL;
      }
    }
  }
  if (t == METRICS_HISTOGRAM) {
    if (!bounds || nbounds == 0 || nbounds > METRICS_MAX_BUCKETS) {
      eng_error_set(err, ENG_INVALID, "cannot define histogram %s: it needs 1 to %d buckets", name,
                    METRICS_MAX_BUCKETS);
      return NULL;
    }
    for (size_t i = 0; i < nbounds; i++) {
      if (!isfinite(bounds[i]) || (i && !(bounds[i] > bounds[i - 1]))) {
        eng_error_set(err, ENG_INVALID,
                      "cannot define histogram %s: bucket bounds must be finite and strictly "
                      "increasing",
                      name);
        return NULL;
      }
    }
  }
  for (size_t i = 0; i < r->n; i++) {
    if (clashes(name, t, r->metrics[i])) {
      eng_error_set(err, ENG_EXISTS, "cannot define metric %s: it clashes with metric %s", name,
                    r->metrics[i]->name);
      return NULL;
    }
  }
  struct metrics_metric *m = xcalloc(1, sizeof(*m));
  m->reg = r;
  m->type = t;
  m->name = xstrdup(name);
  m->help = xstrdup(help ? help : "");
  m->nlabels = nl;
  m->max_series = METRICS_DEFAULT_MAX_SERIES;
  if (nl) {
    m->label_names = xcalloc(nl, sizeof(char *));
    for (size_t i = 0; i < nl; i++)
      m->label_names[i] = xstrdup(labels[i]);
  }
  if (t == METRICS_HISTOGRAM) {
    m->bounds = xmalloc(nbounds * sizeof(double));
    memcpy(m->bounds, bounds, nbounds * sizeof(double));
    m->le = xmalloc(nbounds * sizeof(*m->le));
    for (size_t i = 0; i < nbounds; i++)
      metrics_format_value(bounds[i], m->le[i]);
    m->nbounds = nbounds;
  }
  /* An unlabelled metric has its one series from the start, so it shows 0 before any update. */
  if (nl == 0)
    (void)series_get(m, NULL, true);
  if (r->n == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 16;
    r->metrics = xrealloc(r->metrics, r->cap * sizeof(*r->metrics));
  }
  size_t pos = r->n;
  while (pos > 0 && strcmp(r->metrics[pos - 1]->name, name) > 0)
    pos--;
  memmove(r->metrics + pos + 1, r->metrics + pos, (r->n - pos) * sizeof(*r->metrics));
  r->metrics[pos] = m;
  r->n++;
  return m;
}

struct metrics_registry *metrics_registry_new(void) {
  struct metrics_registry *r = xcalloc(1, sizeof(*r));
  r->overflow = metric_new(r, METRICS_COUNTER, METRICS_OVERFLOW_NAME,
                           "Updates dropped because their metric already had its maximum number "
                           "of distinct label sets.",
                           (const char *const[]){"metric", NULL}, NULL, 0, NULL);
  /* Bounded by the number of metrics, which code defines. */
  r->overflow->max_series = SIZE_MAX;
  return r;
}

void metrics_registry_free(struct metrics_registry *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->n; i++)
    metric_free(r->metrics[i]);
  free(r->metrics);
  free(r);
}

struct metrics_metric *metrics_counter_new(struct metrics_registry *r, const char *name,
                                           const char *help, const char *const *label_names,
                                           struct eng_error *err) {
  return metric_new(r, METRICS_COUNTER, name, help, label_names, NULL, 0, err);
}

struct metrics_metric *metrics_gauge_new(struct metrics_registry *r, const char *name,
                                         const char *help, const char *const *label_names,
                                         struct eng_error *err) {
  return metric_new(r, METRICS_GAUGE, name, help, label_names, NULL, 0, err);
}

struct metrics_metric *metrics_histogram_new(struct metrics_registry *r, const char *name,
                                             const char *help, const char *const *label_names,
                                             const double *buckets, size_t nbuckets,
                                             struct eng_error *err) {
  return metric_new(r, METRICS_HISTOGRAM, name, help, label_names, buckets, nbuckets, err);
}

enum eng_err metrics_set_fn(struct metrics_metric *m, metrics_value_fn fn, void *ud) {
  if (!m || m->nlabels || m->type == METRICS_HISTOGRAM)
    return ENG_INVALID;
  m->fn = fn;
  m->fn_ud = fn ? ud : NULL;
  return ENG_OK;
}

void metrics_set_max_series(struct metrics_metric *m, size_t max) {
  if (m)
    m->max_series = max ? max : 1;
}

void metrics_counter_inc(struct metrics_metric *m, const char *const *label_values, double v) {
  if (!m || m->type != METRICS_COUNTER || !(v >= 0))
    return;
  struct metrics_series *s = series_get(m, label_values, true);
  if (s)
    s->value += v;
}

void metrics_gauge_set(struct metrics_metric *m, const char *const *label_values, double v) {
  if (!m || m->type != METRICS_GAUGE)
    return;
  struct metrics_series *s = series_get(m, label_values, true);
  if (s)
    s->value = v;
}

void metrics_gauge_add(struct metrics_metric *m, const char *const *label_values, double v) {
  if (!m || m->type != METRICS_GAUGE)
    return;
  struct metrics_series *s = series_get(m, label_values, true);
  if (s)
    s->value += v;
}

void metrics_histogram_observe(struct metrics_metric *m, const char *const *label_values,
                               double v) {
  if (!m || m->type != METRICS_HISTOGRAM || isnan(v))
    return;
  struct metrics_series *s = series_get(m, label_values, true);
  if (!s)
    return;
  size_t i = 0;
  while (i < m->nbounds && v > m->bounds[i])
    i++;
  s->buckets[i]++;
  s->count++;
  s->sum += v;
}

void metrics_reset(struct metrics_metric *m) {
  if (!m)
    return;
  series_clear(m);
  if (m->nlabels == 0)
    (void)series_get(m, NULL, true);
}

double metrics_value(const struct metrics_metric *m, const char *const *label_values) {
  if (!m)
    return 0;
  struct metrics_series *s = series_get((struct metrics_metric *)m, label_values, false);
  if (!s)
    return 0;
  return m->type == METRICS_HISTOGRAM ? (double)s->count : s->value;
}

size_t metrics_series_count(const struct metrics_metric *m) { return m ? m->nseries : 0; }

const char *metrics_name(const struct metrics_metric *m) { return m ? m->name : ""; }

struct metrics_metric *metrics_find(struct metrics_registry *r, const char *name) {
  for (size_t i = 0; r && name && i < r->n; i++)
    if (strcmp(r->metrics[i]->name, name) == 0)
      return r->metrics[i];
  return NULL;
}

/* ---- text exposition --------------------------------------------------------------------- */

void metrics_format_value(double v, char out[32]) {
  if (isnan(v)) {
    snprintf(out, 32, "NaN");
    return;
  }
  if (isinf(v)) {
    snprintf(out, 32, "%s", v > 0 ? "+Inf" : "-Inf");
    return;
  }
  /* Integers (bucket counts, most counters) without the round-trip search. */
  if (fabs(v) < 1e15 && v == (double)(int64_t)v) { /* range first: (int64_t)1e300 is UB */
    snprintf(out, 32, "%" PRId64, (int64_t)v);
    return;
  }
  /* The shortest of %.15g..%.17g that reads back as the same double. */
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(out, 32, "%.*g", prec, v);
    if (strtod(out, NULL) == v)
      return;
  }
}

/* Escape for a label value (backslash, double quote, newline) or HELP text (no quote). */
static enum eng_err append_escaped(struct buf *out, const char *s, bool quote) {
  const char *run = s;
  for (const char *p = s;; p++) {
    const char *rep = NULL;
    if (*p == '\\')
      rep = "\\\\";
    else if (*p == '\n')
      rep = "\\n";
    else if (quote && *p == '"')
      rep = "\\\"";
    if (!rep && *p)
      continue;
    enum eng_err rc = buf_append(out, run, (size_t)(p - run));
    if (!rc && rep)
      rc = buf_appends(out, rep);
    if (rc || !*p)
      return rc;
    run = p + 1;
  }
}

/* "{a="x",b="y"}" plus an optional le label; nothing for no labels. */
static enum eng_err append_labels(struct buf *out, const struct metrics_metric *m,
                                  const struct metrics_series *s, const char *le) {
  if (m->nlabels == 0 && !le)
    return ENG_OK;
  enum eng_err rc = buf_appends(out, "{");
  for (size_t i = 0; !rc && i < m->nlabels; i++) {
    if (i)
      rc = buf_appends(out, ",");
    if (!rc)
      rc = buf_appends(out, m->label_names[i]);
    if (!rc)
      rc = buf_appends(out, "=\"");
    if (!rc)
      rc = append_escaped(out, s->values[i], true);
    if (!rc)
      rc = buf_appends(out, "\"");
  }
  if (!rc && le) {
    rc = buf_appends(out, m->nlabels ? ",le=\"" : "le=\"");
    if (!rc)
      rc = buf_appends(out, le);
    if (!rc)
      rc = buf_appends(out, "\"");
  }
  if (!rc)
    rc = buf_appends(out, "}");
  return rc;
}

static enum eng_err append_sample(struct buf *out, const struct metrics_metric *m,
                                  const char *suffix, const struct metrics_series *s,
                                  const char *le, double v) {
  char num[32];
  metrics_format_value(v, num);
  enum eng_err rc = buf_appends(out, m->name);
  if (!rc)
    rc = buf_appends(out, suffix);
  if (!rc)
    rc = append_labels(out, m, s, le);
  if (!rc)
    rc = buf_appends(out, " ");
  if (!rc)
    rc = buf_appends(out, num);
  if (!rc)
    rc = buf_appends(out, "\n");
  return rc;
}

static size_t cmp_nlabels;

static int cmp_series(const void *a, const void *b) {
  const struct metrics_series *x = *(const struct metrics_series *const *)a;
  const struct metrics_series *y = *(const struct metrics_series *const *)b;
  for (size_t i = 0; i < cmp_nlabels; i++) {
    int c = strcmp(x->values[i], y->values[i]);
    if (c)
      return c;
  }
  return 0;
}

static enum eng_err render_series(struct buf *out, const struct metrics_metric *m,
                                  const struct metrics_series *s) {
  if (m->type != METRICS_HISTOGRAM)
    return append_sample(out, m, "", s, NULL, s->value);
  enum eng_err rc = ENG_OK;
  uint64_t cum = 0;
  for (size_t i = 0; !rc && i < m->nbounds; i++) {
    cum += s->buckets[i];
    rc = append_sample(out, m, "_bucket", s, m->le[i], (double)cum);
  }
  if (!rc)
    rc = append_sample(out, m, "_bucket", s, "+Inf", (double)s->count);
  if (!rc)
    rc = append_sample(out, m, "_sum", s, NULL, s->sum);
  if (!rc)
    rc = append_sample(out, m, "_count", s, NULL, (double)s->count);
  return rc;
}

static enum eng_err render_metric(struct buf *out, const struct metrics_metric *m) {
  static const char *const type_names[] = {"counter", "gauge", "histogram"};
  double fv = 0;
  if (m->fn && !m->fn(m->fn_ud, &fv))
    return ENG_OK; /* the callback has nothing to say this time */
  if (!m->fn && m->nseries == 0)
    return ENG_OK;
  enum eng_err rc = buf_printf(out, "# HELP %s ", m->name);
  if (!rc)
    rc = append_escaped(out, m->help, false);
  if (!rc)
    rc = buf_printf(out, "\n# TYPE %s %s\n", m->name, type_names[m->type]);
  if (rc)
    return rc;
  if (m->fn)
    return append_sample(out, m, "", NULL, NULL, fv);
  struct metrics_series **all = xmalloc(m->nseries * sizeof(*all));
  size_t n = 0;
  for (size_t i = 0; i < m->table_size; i++)
    for (struct metrics_series *s = m->table[i]; s; s = s->next)
      all[n++] = s;
  cmp_nlabels = m->nlabels;
  qsort(all, n, sizeof(*all), cmp_series);
  for (size_t i = 0; !rc && i < n; i++)
    rc = render_series(out, m, all[i]);
  free(all);
  return rc;
}

enum eng_err metrics_render(struct metrics_registry *r, struct buf *out) {
  if (!r)
    return ENG_OK;
  for (size_t i = 0; i < r->n; i++) {
    enum eng_err rc = render_metric(out, r->metrics[i]);
    if (rc)
      return rc;
  }
  return ENG_OK;
}

enum eng_err metrics_http_handler(void *ud, const struct httpd_request *req,
                                  struct httpd_response *resp) {
  (void)req;
  resp->content_type = METRICS_CONTENT_TYPE;
  return metrics_render(ud, &resp->body);
}
