/*
 * jsonpatch.c - JSON diff to RFC 6902 operations, and an applier used by tests and
 * the fuzz target to prove that applying the diff gives the target document.
 */
#include "engine/base/common.h"
#include "jsonpatch.h"

#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *jsonpatch_pointer_append(const char *base, const char *token) {
  size_t bl = strlen(base), tl = strlen(token), extra = 0;
  for (size_t i = 0; i < tl; i++)
    if (token[i] == '~' || token[i] == '/')
      extra++;
  char *out = xmalloc(bl + 1 + tl + extra + 1);
  memcpy(out, base, bl);
  size_t o = bl;
  out[o++] = '/';
  for (size_t i = 0; i < tl; i++) {
    if (token[i] == '~') {
      out[o++] = '~';
      out[o++] = '0';
    } else if (token[i] == '/') {
      out[o++] = '~';
      out[o++] = '1';
    } else {
      out[o++] = token[i];
    }
  }
  out[o] = '\0';
  return out;
}

static void add_op(json_t *ops, const char *op, const char *path, const json_t *value) {
  json_t *o = json_object();
  json_object_set_new(o, "op", json_string(op));
  json_object_set_new(o, "path", json_string(path));
  if (value)
    json_object_set_new(o, "value", json_deep_copy(value));
  json_array_append_new(ops, o);
}

static int cmp_key(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keys of an object, sorted; caller frees the array (not the keys). */
static const char **sorted_keys(const json_t *obj, size_t *n) {
  *n = json_object_size(obj);
  const char **keys = xmalloc((*n ? *n : 1) * sizeof(*keys));
  size_t i = 0;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)obj, k, v) keys[i++] = k;
  qsort(keys, *n, sizeof(*keys), cmp_key);
  return keys;
}

static void diff(json_t *ops, const char *path, const json_t *a, const json_t *b) {
  if (json_equal(a, b))
    return;
  if (json_is_object(a) && json_is_object(b)) {
    size_t na, nb;
    const char **ka = sorted_keys(a, &na);
    const char **kb = sorted_keys(b, &nb);
    for (size_t i = 0; i < na; i++) {
      if (!json_object_get(b, ka[i])) {
        char *p = jsonpatch_pointer_append(path, ka[i]);
        add_op(ops, "remove", p, NULL);
        free(p);
      }
    }
    for (size_t i = 0; i < nb; i++) {
      json_t *av = json_object_get(a, kb[i]);
      json_t *bv = json_object_get(b, kb[i]);
      char *p = jsonpatch_pointer_append(path, kb[i]);
      if (!av)
        add_op(ops, "add", p, bv);
      else
        diff(ops, p, av, bv);
      free(p);
    }
    free(ka);
    free(kb);
    return;
  }
  if (json_is_array(a) && json_is_array(b)) {
    size_t na = json_array_size(a), nb = json_array_size(b);
    size_t common = na < nb ? na : nb;
    char idx[32];
    for (size_t i = 0; i < common; i++) {
      snprintf(idx, sizeof(idx), "%zu", i);
      char *p = jsonpatch_pointer_append(path, idx);
      diff(ops, p, json_array_get(a, i), json_array_get(b, i));
      free(p);
    }
    for (size_t i = common; i < nb; i++) {
      snprintf(idx, sizeof(idx), "%zu", i);
      char *p = jsonpatch_pointer_append(path, idx);
      add_op(ops, "add", p, json_array_get(b, i));
      free(p);
    }
    for (size_t i = na; i-- > common;) {
      snprintf(idx, sizeof(idx), "%zu", i);
      char *p = jsonpatch_pointer_append(path, idx);
      add_op(ops, "remove", p, NULL);
      free(p);
    }
    return;
  }
  add_op(ops, "replace", path, b);
}

json_t *jsonpatch_diff(const json_t *from, const json_t *to) {
  json_t *ops = json_array();
  diff(ops, "", from, to);
  return ops;
}

/* ---- applying ------------------------------------------------------------------------------ */

/* Decode one reference token (between slashes) into out; false on a bad escape. */
static bool unescape_token(const char *s, size_t n, char **out) {
  char *t = xmalloc(n + 1);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '~') {
      if (i + 1 >= n || (s[i + 1] != '0' && s[i + 1] != '1')) {
        free(t);
        return false;
      }
      t[o++] = s[i + 1] == '0' ? '~' : '/';
      i++;
    } else {
      t[o++] = s[i];
    }
  }
  t[o] = '\0';
  *out = t;
  return true;
}

/* Array index token: "0" or [1-9][0-9]*, or "-" (end) when allow_end. */
static bool parse_index(const char *tok, size_t size, bool allow_end, size_t *idx) {
  if (allow_end && !strcmp(tok, "-")) {
    *idx = size;
    return true;
  }
  size_t n = strlen(tok);
  if (n == 0 || n > 18 || (n > 1 && tok[0] == '0'))
    return false;
  size_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (tok[i] < '0' || tok[i] > '9')
      return false;
    v = v * 10 + (size_t)(tok[i] - '0');
  }
  *idx = v;
  return true;
}

/*
 * Resolve the parent of the location named by path; *last gets the final token
 * (caller frees). Returns NULL when the parent does not exist. For the root path
 * "" returns NULL with *is_root set.
 */
static json_t *resolve_parent(json_t *doc, const char *path, char **last, bool *is_root) {
  *last = NULL;
  *is_root = false;
  if (!*path) {
    *is_root = true;
    return NULL;
  }
  if (*path != '/')
    return NULL;
  json_t *cur = doc;
  const char *p = path + 1;
  for (;;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    char *tok;
    if (!unescape_token(p, n, &tok))
      return NULL;
    if (!slash) {
      *last = tok;
      return cur;
    }
    json_t *next = NULL;
    if (json_is_object(cur)) {
      next = json_object_get(cur, tok);
    } else if (json_is_array(cur)) {
      size_t i;
      if (parse_index(tok, json_array_size(cur), false, &i))
        next = json_array_get(cur, i);
    }
    free(tok);
    if (!next)
      return NULL;
    cur = next;
    p = slash + 1;
  }
}

static json_t *get_at(json_t *doc, const char *path) {
  char *last;
  bool root;
  json_t *parent = resolve_parent(doc, path, &last, &root);
  if (root)
    return doc;
  json_t *v = NULL;
  if (parent && json_is_object(parent)) {
    v = json_object_get(parent, last);
  } else if (parent && json_is_array(parent)) {
    size_t i;
    if (parse_index(last, json_array_size(parent), false, &i))
      v = json_array_get(parent, i);
  }
  free(last);
  return v;
}

/* Remove the value at path; returns it (new reference) or NULL. */
static json_t *take_at(json_t *doc, const char *path) {
  char *last;
  bool root;
  json_t *parent = resolve_parent(doc, path, &last, &root);
  json_t *v = NULL;
  if (parent && json_is_object(parent)) {
    v = json_incref(json_object_get(parent, last));
    if (v)
      json_object_del(parent, last);
  } else if (parent && json_is_array(parent)) {
    size_t i;
    if (parse_index(last, json_array_size(parent), false, &i) && i < json_array_size(parent)) {
      v = json_incref(json_array_get(parent, i));
      json_array_remove(parent, i);
    }
  }
  free(last);
  return v;
}

/* Add value (stolen) at path; replace_only forbids creating a new key or index. */
static bool put_at(json_t **doc, const char *path, json_t *value, bool replace_only) {
  char *last;
  bool root;
  json_t *parent = resolve_parent(*doc, path, &last, &root);
  bool ok = false;
  if (root) {
    json_decref(*doc);
    *doc = value;
    return true;
  }
  if (parent && json_is_object(parent)) {
    if (!replace_only || json_object_get(parent, last))
      ok = json_object_set_new(parent, last, value) == 0, value = NULL;
  } else if (parent && json_is_array(parent)) {
    size_t i, size = json_array_size(parent);
    if (parse_index(last, size, !replace_only, &i)) {
      if (replace_only && i < size)
        ok = json_array_set_new(parent, i, value) == 0, value = NULL;
      else if (!replace_only && i <= size)
        ok = json_array_insert_new(parent, i, value) == 0, value = NULL;
    }
  }
  json_decref(value);
  free(last);
  return ok;
}

enum eng_err jsonpatch_apply(json_t **doc, const json_t *patch, struct eng_error *err) {
  if (!json_is_array(patch))
    return eng_error_set(err, ENG_INVALID, "a JSON patch must be an array of operations");
  size_t i;
  json_t *op;
  json_array_foreach(patch, i, op) {
    const char *kind = json_string_value(json_object_get(op, "op"));
    const char *path = json_string_value(json_object_get(op, "path"));
    json_t *value = json_object_get(op, "value");
    const char *from = json_string_value(json_object_get(op, "from"));
    if (!kind || !path)
      return eng_error_set(err, ENG_INVALID, "patch operation %zu lacks \"op\" or \"path\"", i);
    bool ok = false;
    if (!strcmp(kind, "add") && value) {
      ok = put_at(doc, path, json_deep_copy(value), false);
    } else if (!strcmp(kind, "replace") && value) {
      ok = get_at(*doc, path) && put_at(doc, path, json_deep_copy(value), true);
    } else if (!strcmp(kind, "remove")) {
      json_t *old = *path ? take_at(*doc, path) : NULL;
      ok = old != NULL;
      json_decref(old);
    } else if (!strcmp(kind, "test") && value) {
      ok = json_equal(get_at(*doc, path), value);
    } else if ((!strcmp(kind, "move") || !strcmp(kind, "copy")) && from) {
      bool move = kind[0] == 'm';
      size_t fl = strlen(from);
      if (move && !strncmp(path, from, fl) && path[fl] == '/')
        return eng_error_set(err, ENG_INVALID, "patch operation %zu moves %s into itself", i, from);
      json_t *v = move ? take_at(*doc, from) : json_deep_copy(get_at(*doc, from));
      ok = v && put_at(doc, path, v, false);
    }
    if (!ok)
      return eng_error_set(err, ENG_INVALID, "patch operation %zu (%s %s) cannot be applied", i,
                           kind, path);
  }
  return ENG_OK;
}
