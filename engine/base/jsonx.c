/*
 * jsonx.c - canonical JSON and parsing helpers.
 */
#include "engine/base/common.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

char *jsonx_canonical(const json_t *v) {
  char *s =
      json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
  return s;
}

json_t *jsonx_parse(const char *data, size_t len, const char *what, struct eng_error *err) {
  json_error_t jerr;
  json_t *v = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
  if (!v) {
    eng_error_set(err, ENG_INVALID, "%s is not valid JSON: %s at line %d, column %d", what,
                  jerr.text, jerr.line, jerr.column);
  }
  return v;
}

json_t *jsonx_path(const json_t *root, const char *dotted) {
  const json_t *cur = root;
  const char *p = dotted;
  char key[256];
  while (cur && *p) {
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    if (n >= sizeof(key))
      return NULL;
    memcpy(key, p, n);
    key[n] = '\0';
    if (!json_is_object(cur))
      return NULL;
    cur = json_object_get(cur, key);
    p = dot ? dot + 1 : p + n;
  }
  return (json_t *)cur;
}

const char *jsonx_str(const json_t *root, const char *dotted) {
  json_t *v = jsonx_path(root, dotted);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

json_int_t jsonx_int(const json_t *root, const char *dotted, json_int_t dflt) {
  json_t *v = jsonx_path(root, dotted);
  return json_is_integer(v) ? json_integer_value(v) : dflt;
}

bool jsonx_bool(const json_t *root, const char *dotted, bool dflt) {
  json_t *v = jsonx_path(root, dotted);
  return json_is_boolean(v) ? json_is_true(v) : dflt;
}

json_t *jsonx_project(const json_t *src, const char *const *paths, size_t n) {
  json_t *out = json_object();
  for (size_t i = 0; i < n; i++) {
    json_t *v = jsonx_path(src, paths[i]);
    if (!v)
      continue;
    json_t *cur = out;
    const char *seg = paths[i], *dot;
    while ((dot = strchr(seg, '.')) != NULL) {
      char *k = xstrndup(seg, (size_t)(dot - seg));
      json_t *next = json_object_get(cur, k);
      if (!json_is_object(next)) {
        next = json_object();
        json_object_set_new(cur, k, next);
      }
      free(k);
      cur = next;
      seg = dot + 1;
    }
    json_object_set(cur, seg, v);
  }
  return out;
}

static int by_key(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **jsonx_sorted_keys(const json_t *o, size_t *n) {
  size_t k = 0, cap = json_is_object(o) ? json_object_size(o) : 0;
  const char **keys = xcalloc(cap + 1, sizeof(*keys));
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)o, key, v) keys[k++] = key;
  qsort(keys, k, sizeof(*keys), by_key);
  *n = k;
  return keys;
}
