/*
 * sdunit.c - go-systemd compatible unit (de)serialization and Gardener command lines.
 */
#include "engine/base/common.h"
#include "sdunit.h"

#include "engine/base/buf.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Copy of s[0..n) without leading and trailing whitespace. */
static char *trim_dup(const char *s, size_t n) {
  while (n && is_space(*s))
    s++, n--;
  while (n && is_space(s[n - 1]))
    n--;
  return xstrndup(s, n);
}

static void add_option(struct sdunit *u, const char *section, char *name, char *value) {
  if (u->n == u->cap) {
    u->cap = u->cap ? 2 * u->cap : 16;
    u->opts = xrealloc(u->opts, u->cap * sizeof(*u->opts));
  }
  u->opts[u->n].section = xstrdup(section);
  u->opts[u->n].name = name;
  u->opts[u->n].value = value;
  u->n++;
}

/* The line starting at p (without its "\n" and then a trailing "\r"): [p, *line_end); returns the
 * next position. */
static const char *to_eol(const char *p, const char *end, const char **line_end, bool *eof) {
  const char *nl = memchr(p, '\n', (size_t)(end - p));
  const char *e = nl ? nl : end;
  const char *next = nl ? nl + 1 : end;
  /* go-systemd trims "\r" first, then "\n": with CRLF endings the "\r" stays in the line. */
  if (!nl && e > p && e[-1] == '\r')
    e--;
  *line_end = e;
  *eof = nl == NULL;
  return next;
}

/* Skip a comment line and its backslash continuations. */
static const char *skip_comment(const char *p, const char *end) {
  for (;;) {
    const char *le;
    bool eof;
    const char *next = to_eol(p, end, &le, &eof);
    while (le > p && le[-1] == ' ')
      le--;
    bool cont = le > p && le[-1] == '\\';
    p = next;
    if (!cont || eof)
      return p;
  }
}

enum eng_err sdunit_parse(const char *text, size_t len, struct sdunit *u, struct eng_error *err) {
  memset(u, 0, sizeof(*u));
  const char *p = text, *end = text + len;
  /* go-systemd refuses lines systemd would truncate. */
  for (const char *l = text; l < end;) {
    const char *nl = memchr(l, '\n', (size_t)(end - l));
    size_t ll = (size_t)((nl ? nl : end) - l);
    if (ll >= SDUNIT_LINE_MAX)
      return eng_error_set(err, ENG_INVALID, "line too long (max %d bytes)", SDUNIT_LINE_MAX);
    l = nl ? nl + 1 : end;
  }
  char *section = NULL;
  while (p < end) {
    char c = *p;
    if (c == '[') {
      const char *close = memchr(p + 1, ']', (size_t)(end - p - 1));
      if (!close) {
        free(section);
        sdunit_release(u);
        return eng_error_set(err, ENG_INVALID, "unable to find end of section");
      }
      free(section);
      section = xstrndup(p + 1, (size_t)(close - p - 1));
      const char *le;
      bool eof;
      const char *next = to_eol(close + 1, end, &le, &eof);
      for (const char *g = close + 1; g < le; g++) {
        if (!is_space(*g)) {
          char *garbage = trim_dup(close + 1, (size_t)(le - close - 1));
          eng_error_set(err, ENG_INVALID, "found garbage after section name %s: \"%s\"", section,
                        garbage);
          free(garbage);
          free(section);
          sdunit_release(u);
          return ENG_INVALID;
        }
      }
      p = next;
      continue;
    }
    if (c == '#' || c == ';') {
      p = skip_comment(p, end);
      continue;
    }
    if (!section || is_space(c)) {
      p++; /* before the first section everything else is skipped, one character at a time */
      continue;
    }
    /* Option name up to "=". */
    const char *q = p;
    while (q < end && *q != '=') {
      if (*q == '\n' || *q == '\r') {
        free(section);
        sdunit_release(u);
        return eng_error_set(err, ENG_INVALID,
                             "unexpected newline encountered while parsing option name");
      }
      q++;
    }
    if (q == end) {
      free(section);
      sdunit_release(u);
      return eng_error_set(err, ENG_INVALID, "unexpected end of file while parsing option name");
    }
    char *name = trim_dup(p, (size_t)(q - p));
    p = q + 1;
    /* Value with backslash continuations. */
    struct buf val;
    buf_init(&val, len + 1);
    for (;;) {
      const char *le;
      bool eof;
      const char *next = to_eol(p, end, &le, &eof);
      bool blank = true;
      for (const char *g = p; g < le; g++)
        if (!is_space(*g))
          blank = false;
      bool cont = false;
      if (!blank) {
        if (buf_append(&val, p, (size_t)(le - p))) {
        }
        if (le > p && le[-1] == '\\') {
          if (!eof)
            if (buf_append(&val, "\n", 1)) {
            }
          cont = true;
        }
      }
      p = next;
      if (!cont || p >= end)
        break;
    }
    const char *raw = val.data ? val.data : "";
    size_t rl = val.len;
    char *value;
    if (rl > 0 && raw[rl - 1] == '\n') {
      char *t = trim_dup(raw, rl);
      value = xasprintf("%s\n", t);
      free(t);
    } else {
      value = trim_dup(raw, rl);
    }
    buf_release(&val);
    add_option(u, section, name, value);
  }
  free(section);
  return ENG_OK;
}

void sdunit_release(struct sdunit *u) {
  for (size_t i = 0; i < u->n; i++) {
    free(u->opts[i].section);
    free(u->opts[i].name);
    free(u->opts[i].value);
  }
  free(u->opts);
  memset(u, 0, sizeof(*u));
}

char *sdunit_serialize(const struct sdunit *u) {
  struct buf out;
  buf_init(&out, BUF_MAX_DERIVED);
  bool *done = xcalloc(u->n ? u->n : 1, sizeof(bool));
  bool first = true;
  for (size_t i = 0; i < u->n; i++) {
    if (done[i])
      continue;
    const char *sec = u->opts[i].section;
    if (!first)
      if (buf_append(&out, "\n", 1)) {
      }
    first = false;
    if (buf_printf(&out, "[%s]\n", sec)) {
    }
    for (size_t j = i; j < u->n; j++) {
      if (done[j] || strcmp(u->opts[j].section, sec))
        continue;
      done[j] = true;
      if (buf_printf(&out, "%s=%s\n", u->opts[j].name, u->opts[j].value)) {
      }
    }
  }
  free(done);
  char *s = buf_take(&out, NULL);
  return s ? s : xstrdup("");
}

struct sdunit_option *sdunit_find(const struct sdunit *u, const char *section, const char *name) {
  for (size_t i = 0; i < u->n; i++)
    if (!strcmp(u->opts[i].section, section) && !strcmp(u->opts[i].name, name))
      return &u->opts[i];
  return NULL;
}

/* ---- command lines ------------------------------------------------------------------------- */

static void cmd_push(struct cmdline *c, char *word) {
  if (c->argc == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 16;
    c->argv = xrealloc(c->argv, c->cap * sizeof(*c->argv));
  }
  c->argv[c->argc++] = word;
}

/* RE2's \s is [\t\n\f\r ]; the separator class adds the backslash. */
static bool is_sep(char c) {
  return c == '\\' || c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

void cmdline_split(const char *s, struct cmdline *out) {
  memset(out, 0, sizeof(*out));
  const char *p = s;
  for (;;) {
    const char *q = p;
    while (*q && !is_sep(*q))
      q++;
    cmd_push(out, xstrndup(p, (size_t)(q - p)));
    if (!*q)
      return;
    while (*q && is_sep(*q))
      q++;
    p = q;
  }
}

void cmdline_release(struct cmdline *c) {
  for (size_t i = 0; i < c->argc; i++)
    free(c->argv[i]);
  free(c->argv);
  memset(c, 0, sizeof(*c));
}

void cmdline_ensure_prefix(struct cmdline *c, const char *prefix, const char *value) {
  size_t pl = strlen(prefix);
  bool found = false;
  for (size_t i = 0; i < c->argc; i++) {
    if (!strncmp(c->argv[i], prefix, pl)) {
      found = true;
      free(c->argv[i]);
      c->argv[i] = xasprintf("%s%s", prefix, value);
    }
  }
  if (!found)
    cmd_push(c, xasprintf("%s%s", prefix, value));
}

char *cmdline_join(const struct cmdline *c, size_t n, const char *sep) {
  struct buf out;
  buf_init(&out, BUF_MAX_DERIVED);
  for (size_t i = 0; i < c->argc; i++) {
    if (i > 0)
      if (buf_appends(&out, (c->argc <= n || i < n) ? " " : (n == 0 || i > n) ? sep : " ")) {
      }
    if (buf_appends(&out, c->argv[i])) {
    }
  }
  char *s = buf_take(&out, NULL);
  return s ? s : xstrdup("");
}
