/*
 * kobj.c - object editing helpers with Gardener "ensure" semantics.
 */
#include "engine/base/common.h"
#include "kobj.h"

#include "engine/base/b64.h"
#include "engine/base/sha256.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

json_t *kobj_object_member(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  if (!json_is_object(v)) {
    v = json_object();
    json_object_set_new(obj, key, v);
  }
  return v;
}

json_t *kobj_array_member(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  if (!json_is_array(v)) {
    v = json_array();
    json_object_set_new(obj, key, v);
  }
  return v;
}

long kobj_index_by(const json_t *arr, const char *key, const char *value) {
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e) {
    const char *s = json_string_value(json_object_get(e, key));
    if (s && !strcmp(s, value))
      return (long)i;
  }
  return -1;
}

json_t *kobj_find_by(const json_t *arr, const char *key, const char *value) {
  long i = kobj_index_by(arr, key, value);
  return i < 0 ? NULL : json_array_get(arr, (size_t)i);
}

json_t *kobj_pod_spec(json_t *obj) {
  json_t *spec = json_object_get(json_object_get(json_object_get(obj, "spec"), "template"), "spec");
  return json_is_object(spec) ? spec : NULL;
}

json_t *kobj_container(json_t *podspec, const char *name) {
  json_t *c = kobj_find_by(json_object_get(podspec, "containers"), "name", name);
  return json_is_object(c) ? c : NULL;
}

json_t *kobj_init_container(json_t *podspec, const char *name) {
  json_t *c = kobj_find_by(json_object_get(podspec, "initContainers"), "name", name);
  return json_is_object(c) ? c : NULL;
}

static bool has_prefix(const char *s, const char *prefix) {
  return s && !strncmp(s, prefix, strlen(prefix));
}

void kobj_ensure_string_with_prefix(json_t *holder, const char *field, const char *prefix,
                                    const char *value) {
  json_t *arr = json_object_get(holder, field);
  char *want = xasprintf("%s%s", prefix, value);
  bool found = false;
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e) {
    if (has_prefix(json_string_value(e), prefix)) {
      found = true;
      if (strcmp(json_string_value(e), want))
        json_array_set_new(arr, i, json_string(want));
    }
  }
  if (!found)
    json_array_append_new(kobj_array_member(holder, field), json_string(want));
  free(want);
}

/* Split s on sep into a JSON array of strings (Go strings.Split semantics: "" gives [""]). */
static json_t *split(const char *s, const char *sep) {
  json_t *out = json_array();
  size_t sl = strlen(sep);
  const char *p = s;
  for (;;) {
    const char *q = sl ? strstr(p, sep) : NULL;
    if (!q) {
      json_array_append_new(out, json_string(p));
      return out;
    }
    json_array_append_new(out, json_stringn(p, (size_t)(q - p)));
    p = q + sl;
  }
}

static char *join(const json_t *parts, const char *prefix, const char *sep) {
  size_t n = strlen(prefix) + 1, i;
  json_t *e;
  json_array_foreach(parts, i, e) n += json_string_length(e) + strlen(sep);
  char *out = xmalloc(n);
  size_t o = strlen(prefix);
  memcpy(out, prefix, o + 1);
  json_array_foreach(parts, i, e) {
    if (i > 0) {
      memcpy(out + o, sep, strlen(sep));
      o += strlen(sep);
    }
    memcpy(out + o, json_string_value(e), json_string_length(e));
    o += json_string_length(e);
  }
  out[o] = '\0';
  return out;
}

void kobj_ensure_string_with_prefix_contains(json_t *holder, const char *field, const char *prefix,
                                             const char *value, const char *sep) {
  json_t *arr = json_object_get(holder, field);
  bool found = false;
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e) {
    const char *s = json_string_value(e);
    if (!has_prefix(s, prefix))
      continue;
    found = true;
    /* An empty list ("--disable-admission-plugins=") becomes just the value; the Go original
     * kept an empty first entry (",PersistentVolumeLabel"), which kube-apiserver reads as a plugin
     * "". */
    json_t *parts = s[strlen(prefix)] ? split(s + strlen(prefix), sep) : json_array();
    bool present = false;
    size_t j;
    json_t *pe;
    json_array_foreach(parts, j, pe) present = present || !strcmp(json_string_value(pe), value);
    if (!present) {
      json_array_append_new(parts, json_string(value));
      char *joined = join(parts, prefix, sep);
      json_array_set_new(arr, i, json_string(joined));
      free(joined);
    }
    json_decref(parts);
  }
  if (!found) {
    char *want = xasprintf("%s%s", prefix, value);
    json_array_append_new(kobj_array_member(holder, field), json_string(want));
    free(want);
  }
}

void kobj_ensure_no_string_with_prefix_contains(json_t *holder, const char *field,
                                                const char *prefix, const char *value,
                                                const char *sep) {
  json_t *arr = json_object_get(holder, field);
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e) {
    const char *s = json_string_value(e);
    if (!has_prefix(s, prefix))
      continue;
    json_t *parts = split(s + strlen(prefix), sep);
    size_t j;
    json_t *pe;
    json_array_foreach(parts, j, pe) {
      if (!strcmp(json_string_value(pe), value)) {
        json_array_remove(parts, j);
        char *joined = join(parts, prefix, sep);
        json_array_set_new(arr, i, json_string(joined));
        free(joined);
        break;
      }
    }
    json_decref(parts);
  }
}

void kobj_ensure_env(json_t *container, const char *name, const char *value) {
  json_t *env = json_object_get(container, "env");
  json_t *e = kobj_find_by(env, "name", name);
  if (json_is_object(e)) {
    const char *cur = json_string_value(json_object_get(e, "value"));
    if (!cur || strcmp(cur, value))
      json_object_set_new(e, "value", json_string(value));
    if (json_object_get(e, "valueFrom"))
      json_object_del(e, "valueFrom");
    return;
  }
  json_t *item = json_object();
  json_object_set_new(item, "name", json_string(name));
  json_object_set_new(item, "value", json_string(value));
  json_array_append_new(kobj_array_member(container, "env"), item);
}

void kobj_ensure_named(json_t *holder, const char *field, const json_t *item) {
  const char *name = json_string_value(json_object_get(item, "name"));
  json_t *arr = json_object_get(holder, field);
  long i = name ? kobj_index_by(arr, "name", name) : -1;
  if (i >= 0) {
    if (!json_equal(json_array_get(arr, (size_t)i), item))
      json_array_set_new(arr, (size_t)i, json_deep_copy(item));
    return;
  }
  json_array_append_new(kobj_array_member(holder, field), json_deep_copy(item));
}

void kobj_set_annotation(json_t *obj, const char *key, const char *value) {
  json_t *ann = kobj_object_member(kobj_object_member(obj, "metadata"), "annotations");
  const char *cur = json_string_value(json_object_get(ann, key));
  if (!cur || strcmp(cur, value))
    json_object_set_new(ann, key, json_string(value));
}

bool kobj_deleting(const json_t *obj) {
  json_t *ts = json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp");
  return ts && !json_is_null(ts);
}

const char *kobj_name(const json_t *obj) {
  const char *n = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
  return n ? n : "";
}

enum eng_err kobj_secret_checksum(const json_t *secret, char out[65], struct eng_error *err) {
  json_t *data = json_object_get(secret, "data");
  json_t *norm = NULL;
  if (data && !json_is_null(data)) {
    if (!json_is_object(data))
      return eng_error_set(err, ENG_INVALID, "Secret data is not a map");
    norm = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(data, k, v) {
      if (json_is_null(v)) {
        json_object_set_new(norm, k, json_null());
        continue;
      }
      unsigned char *raw;
      size_t rl;
      if (!json_is_string(v) ||
          b64_decode(json_string_value(v), json_string_length(v), &raw, &rl) != ENG_OK) {
        json_decref(norm);
        return eng_error_set(err, ENG_INVALID, "Secret data key \"%s\" is not base64", k);
      }
      /* Re-encode as Go does ([]byte marshals to standard base64 with padding). */
      char *enc = b64_encode(raw, rl);
      xfree_secret((char *)raw);
      json_object_set_new(norm, k, json_string(enc));
      xfree_secret(enc);
    }
  }
  char *text = norm ? json_dumps(norm, JSON_COMPACT | JSON_SORT_KEYS) : xstrdup("null");
  sha256_hex(text, strlen(text), out);
  xfree_secret(text);
  json_decref(norm);
  return ENG_OK;
}
