/*
 * fielderr.c - field error rendering in the apimachinery format.
 */
#include "engine/base/common.h"
#include "fielderr.h"

#include "engine/base/buf.h"
#include "engine/base/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *type_text(enum fielderr_type t) {
  switch (t) {
  case FIELDERR_REQUIRED:
    return "Required value";
  case FIELDERR_FORBIDDEN:
    return "Forbidden";
  case FIELDERR_INVALID:
    return "Invalid value";
  case FIELDERR_NOTSUPPORTED:
    return "Unsupported value";
  case FIELDERR_DUPLICATE:
    return "Duplicate value";
  case FIELDERR_NOTFOUND:
  default:
    return "Not found";
  }
}

/* Go-ish rendering of a value: "quoted" strings, compact JSON for the rest, capped. */
static char *render_value(const json_t *v) {
  char *s;
  if (!v) {
    s = xstrdup("null");
  } else if (json_is_string(v)) {
    json_t *tmp = json_stringn(json_string_value(v),
                               json_string_length(v) > 200 ? 200 : json_string_length(v));
    s = tmp ? json_dumps(tmp, JSON_ENCODE_ANY) : NULL;
    json_decref(tmp);
    if (!s)
      s = xstrdup("\"\"");
  } else {
    s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
    if (!s)
      s = xstrdup("null");
    if (strlen(s) > 80) {
      s[77] = '.';
      s[78] = '.';
      s[79] = '.';
      s[80] = '\0';
    }
  }
  return s;
}

static void push(struct fielderr_list *l, char *item) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 8;
    l->items = xrealloc(l->items, l->cap * sizeof(*l->items));
  }
  l->items[l->n++] = item;
}

static void add(struct fielderr_list *l, enum fielderr_type t, const char *path,
                const json_t *value, const char *detail) {
  struct buf b;
  buf_init(&b, BUF_MAX_DERIVED);
  if (buf_printf(&b, "%s: %s", path, type_text(t))) {
  }
  if (t == FIELDERR_INVALID || t == FIELDERR_NOTSUPPORTED || t == FIELDERR_DUPLICATE ||
      t == FIELDERR_NOTFOUND) {
    char *v = render_value(value);
    if (buf_printf(&b, ": %s", v)) {
    }
    free(v);
  }
  if (detail && *detail) {
    if (buf_printf(&b, ": %s", detail)) {
    }
  }
  push(l, buf_take(&b, NULL));
}

void fielderr_add(struct fielderr_list *l, enum fielderr_type t, const char *path,
                  const json_t *value, const char *detail_fmt, ...) {
  char detail[1024] = "";
  if (detail_fmt) {
    va_list ap;
    va_start(ap, detail_fmt);
    vsnprintf(detail, sizeof(detail), detail_fmt, ap);
    va_end(ap);
  }
  add(l, t, path, value, detail);
}

void fielderr_add_unsupported(struct fielderr_list *l, const char *path, const json_t *value,
                              const char *const *supported, size_t nsupported) {
  struct buf b;
  buf_init(&b, BUF_MAX_DERIVED);
  if (buf_appends(&b, "supported values: ")) {
  }
  for (size_t i = 0; i < nsupported; i++) {
    if (buf_printf(&b, "%s\"%s\"", i ? ", " : "", supported[i])) {
    }
  }
  if (nsupported == 0 && buf_appends(&b, "none")) {
  }
  add(l, FIELDERR_NOTSUPPORTED, path, value, b.data);
  buf_release(&b);
}

char *fielderr_message(const struct fielderr_list *l) {
  if (l->n == 0)
    return xstrdup("");
  if (l->n == 1)
    return xstrdup(l->items[0]);
  struct buf b;
  buf_init(&b, BUF_MAX_DERIVED);
  for (size_t i = 0; i < l->n; i++) {
    if (buf_printf(&b, "%s%s", i ? ", " : "[", l->items[i])) {
    }
  }
  if (buf_appends(&b, "]")) {
  }
  return buf_take(&b, NULL);
}

void fielderr_release(struct fielderr_list *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->items[i]);
  free(l->items);
  memset(l, 0, sizeof(*l));
}

char *fielderr_child(const char *base, const char *child) {
  return *base ? xasprintf("%s.%s", base, child) : xstrdup(child);
}

char *fielderr_index(const char *base, size_t i) { return xasprintf("%s[%zu]", base, i); }
