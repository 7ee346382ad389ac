/*
 * cmd_audit_out.c - the common options, the journal walk and the output
 * formats (aligned table, JSON lines, CSV) of the `audit` queries.
 */
#include "engine/base/common.h"
#include "engine/cmd/cmd_audit_int.h"
#include "engine/base/jsonx.h"
#include "engine/base/progress.h"
#include "engine/base/timefmt.h"
#include "engine/base/xalloc.h"
#include "engine/cmd/cmd_journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *audit_kind_of(const char *gk) {
  const char *s = strrchr(gk ? gk : "", '/');
  return s ? s + 1 : (gk ? gk : "");
}

bool audit_object_matches(const struct audit_query *q, const char *gk, const char *ns,
                          const char *name) {
  if (q->shoot) {
    /* A cluster-scoped Cluster is named after the shoot's namespace. */
    bool in = (ns && !strcmp(ns, q->shoot)) ||
              (!strcmp(audit_kind_of(gk), "Cluster") && name && !strcmp(name, q->shoot));
    if (!in)
      return false;
  }
  if (!q->name)
    return true;
  if (q->okind && *q->okind && strcasecmp(q->okind, audit_kind_of(gk)) != 0)
    return false;
  return ns && name && !strcmp(ns, q->ns) && !strcmp(name, q->name);
}

static int parse_common(const struct cli_spec *spec, struct audit_query *q, int argc, char **argv,
                        char **path) {
  char **pos = xcalloc((size_t)argc + 1, sizeof(*pos));
  int npos = 0;
  int rc = cli_parse(spec, argc, argv, &npos, pos);
  *path = npos ? pos[0] : NULL;
  free(pos);
  if (rc)
    return rc == CLI_HELP ? EXIT_OK : EXIT_USAGE;
  const char *o = q->output;
  if (!o && q->format) {
    if (strcmp(q->format, "text") && strcmp(q->format, "json"))
      return cli_usage_error(spec, "--format must be text or json, not '%s'.", q->format),
             EXIT_USAGE;
    o = !strcmp(q->format, "text") ? "table" : "json";
  }
  if (!o || !strcmp(o, "table"))
    q->out = AUDIT_TABLE;
  else if (!strcmp(o, "json"))
    q->out = AUDIT_JSON;
  else if (!strcmp(o, "csv"))
    q->out = AUDIT_CSV;
  else
    return cli_usage_error(spec, "--output must be table, json or csv, not '%s'.", o), EXIT_USAGE;
  if (q->since && timefmt_parse(q->since, &q->since_ms) != ENG_OK)
    return cli_usage_error(
               spec, "--since must be an RFC 3339 time such as 2026-11-23T10:00:00Z, not '%s'.",
               q->since),
           EXIT_USAGE;
  if (q->shoot && (!*q->shoot || strchr(q->shoot, '/')))
    return cli_usage_error(spec,
                           "--shoot must be the shoot's seed namespace (shoot--PROJECT--NAME), "
                           "not '%s'.",
                           q->shoot),
           EXIT_USAGE;
  if (q->object) {
    const char *a = strchr(q->object, '/'), *b = a ? strchr(a + 1, '/') : NULL;
    if (!a || !a[1] || (b && !b[1]))
      return cli_usage_error(spec,
                             "--object must be NAMESPACE/NAME or KIND/NAMESPACE/NAME, not '%s'.",
                             q->object),
             EXIT_USAGE;
    if (b) {
      q->okind = xstrndup(q->object, (size_t)(a - q->object));
      q->ns = xstrndup(a + 1, (size_t)(b - a - 1));
      q->name = xstrdup(b + 1);
    } else {
      q->ns = xstrndup(q->object, (size_t)(a - q->object));
      q->name = xstrdup(a + 1);
    }
  }
  return -1;
}

void audit_query_free(struct audit_query *q) {
  free(q->ns);
  free(q->name);
  free(q->okind);
  q->ns = q->name = q->okind = NULL;
}

int audit_begin(const struct cli_spec *spec, struct audit_query *q, int argc, char **argv,
                struct journal **j) {
  char *path = NULL;
  int rc = parse_common(spec, q, argc, argv, &path);
  if (rc < 0)
    rc = cmd_journal_open_ro(spec->prog, path, j) == EXIT_OK ? -1 : EXIT_FAIL;
  if (rc >= 0)
    audit_query_free(q);
  return rc;
}

int audit_walk(struct journal *j, struct audit_query *q, bool (*want)(const char *type),
               audit_row_fn fn, void *ud) {
  struct journal_filter f = {0};
  struct journal_iter *it;
  struct eng_error err;
  eng_error_clear(&err);
  if (journal_iter_open(j, &f, &it, &err) != ENG_OK) {
    fprintf(stderr, AUDIT_CMD ": %s\n", err.msg);
    return EXIT_FAIL;
  }
  struct progress pr;
  progress_init(&pr, q->show_progress, "audited");
  int64_t n = 0, total = journal_durable_seq(j);
  const struct journal_row *r;
  int rc;
  while ((rc = journal_iter_next(it, &r, &err)) == 1) {
    n++;
    if (n % 10000 == 0)
      progress_show(&pr, r->seq, total);
    if (want && !want(r->type))
      continue;
    fn(ud, r);
  }
  progress_done(&pr, n, q->show_progress);
  journal_iter_free(it);
  if (rc < 0) {
    fprintf(stderr, AUDIT_CMD ": %s\n", err.msg);
    return EXIT_FAIL;
  }
  return EXIT_OK;
}

void audit_fmt_dur(int64_t ms, char *out, size_t n) {
  if (ms < 0)
    ms = 0;
  if (ms < 10000)
    snprintf(out, n, "%.2fs", (double)ms / 1000.0);
  else if (ms < 60000)
    snprintf(out, n, "%.1fs", (double)ms / 1000.0);
  else if (ms < 3600000)
    snprintf(out, n, "%" PRId64 "m%02" PRId64 "s", ms / 60000, ms / 1000 % 60);
  else
    snprintf(out, n, "%" PRId64 "h%02" PRId64 "m", ms / 3600000, ms / 60000 % 60);
}

/* One cell as text (caller frees). */
static char *cell(const struct audit_col *c, const json_t *row) {
  const json_t *v = json_object_get(row, c->key);
  char buf[64];
  switch (c->type) {
  case COL_INT:
    return json_is_integer(v) ? xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v))
                              : xstrdup("");
  case COL_TIME:
    if (!json_is_integer(v) || json_integer_value(v) == 0)
      return xstrdup("-");
    timefmt_rfc3339_ms(json_integer_value(v), buf);
    return xstrdup(buf);
  case COL_DUR:
    if (!json_is_integer(v))
      return xstrdup("-");
    audit_fmt_dur(json_integer_value(v), buf, sizeof(buf));
    return xstrdup(buf);
  default:
    if (json_is_string(v))
      return xstrdup(json_string_value(v));
    if (json_is_null(v) || !v)
      return xstrdup("");
    return jsonx_canonical(v);
  }
}

/* Display width: code points, so names with non-ASCII letters still align. */
static size_t width(const char *s) {
  size_t w = 0;
  for (; *s; s++)
    w += ((unsigned char)*s & 0xc0) != 0x80;
  return w;
}

static void csv_cell(const char *s) {
  if (!strpbrk(s, ",\"\r\n")) {
    fputs(s, stdout);
    return;
  }
  putchar('"');
  for (; *s; s++) {
    if (*s == '"')
      putchar('"');
    putchar(*s);
  }
  putchar('"');
}

void audit_print(const struct audit_query *q, const struct audit_col *cols, size_t ncols,
                 json_t *rows, const char *empty) {
  size_t nrows = json_array_size(rows), i;
  json_t *row;
  if (q->out == AUDIT_JSON) {
    json_array_foreach(rows, i, row) {
      char *s = jsonx_canonical(row);
      printf("%s\n", s);
      free(s);
    }
    return;
  }
  char **cells = xcalloc(nrows * ncols + 1, sizeof(*cells));
  size_t *w = xcalloc(ncols, sizeof(*w));
  for (size_t c = 0; c < ncols; c++)
    w[c] = width(cols[c].title);
  json_array_foreach(rows, i, row) {
    for (size_t c = 0; c < ncols; c++) {
      char *s = cell(&cols[c], row);
      /* One line per row: a newline inside a message would break the table. */
      if (q->out == AUDIT_TABLE)
        for (char *p = s; *p; p++)
          if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
      cells[i * ncols + c] = s;
      size_t cw = width(s);
      if (cw > w[c])
        w[c] = cw;
    }
  }
  if (q->out == AUDIT_CSV) {
    for (size_t c = 0; c < ncols; c++) {
      if (c)
        putchar(',');
      csv_cell(cols[c].title);
    }
    printf("\r\n");
    for (i = 0; i < nrows; i++) {
      for (size_t c = 0; c < ncols; c++) {
        if (c)
          putchar(',');
        csv_cell(cells[i * ncols + c]);
      }
      printf("\r\n");
    }
  } else {
    for (size_t r = 0; r <= nrows; r++) {
      /* The last column with something in it ends the line (no trailing blanks). */
      size_t last = 0;
      for (size_t c = 0; c < ncols; c++)
        if (*(r == 0 ? cols[c].title : cells[(r - 1) * ncols + c]))
          last = c;
      for (size_t c = 0; c <= last; c++) {
        const char *s = r == 0 ? cols[c].title : cells[(r - 1) * ncols + c];
        bool numeric = cols[c].type == COL_INT || cols[c].type == COL_DUR;
        size_t pad = w[c] - width(s);
        if (c)
          fputs("  ", stdout);
        if (numeric)
          for (size_t k = 0; k < pad; k++)
            putchar(' ');
        fputs(s, stdout);
        if (!numeric && c < last)
          for (size_t k = 0; k < pad; k++)
            putchar(' ');
      }
      putchar('\n');
    }
    if (nrows == 0 && empty)
      printf("%s\n", empty);
  }
  for (i = 0; i < nrows * ncols; i++)
    free(cells[i]);
  free(cells);
  free(w);
}
