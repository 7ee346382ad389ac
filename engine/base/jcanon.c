/*
 * jcanon.c - canonical JSON writer (see jcanon.h for the exact format).
 */
#include "engine/base/common.h"
#include "engine/base/jcanon.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629). */
static size_t utf8_seq(const unsigned char *p, size_t n) {
  unsigned char c = p[0];
  size_t len;
  uint32_t cp;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (len > n)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xC0) != 0x80)
      return 0;
    cp = cp << 6 | (p[i] & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

/* 1 for bytes copied as they are: printable ASCII except '"' and '\\'. */
static const unsigned char plain[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(0), R16(0), /* 0x00-0x1f: controls */
    1,      1,      0,      1,      1,      1,      1,      1,
    1,      1,      1,      1,      1,      1,      1,      1, /* 0x20-0x2f: '"' */
    R16(1), R16(1),                                            /* 0x30-0x4f */
    1,      1,      1,      1,      1,      1,      1,      1,
    1,      1,      1,      1,      0,      1,      1,      1,     /* 0x50-0x5f: '\\' */
    R16(1), R16(1),                                                /* 0x60-0x7f */
    R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0) /* 0x80-0xff: UTF-8 */
#undef R16
};

enum eng_err jcanon_append_string(struct buf *b, const char *s, size_t len) {
  size_t start = b->len;
  const unsigned char *p = (const unsigned char *)s;
  enum eng_err e = buf_append(b, "\"", 1);
  size_t i = 0;
  while (i < len && !e) {
    size_t r = i;
    while (r < len && plain[p[r]])
      r++;
    if (r > i)
      e = buf_append(b, p + i, r - i);
    i = r;
    if (i >= len || e)
      break;
    unsigned char c = p[i];
    if (c >= 0x80) {
      size_t l = utf8_seq(p + i, len - i);
      if (!l) {
        e = ENG_INVALID;
        break;
      }
      e = buf_append(b, p + i, l);
      i += l;
      continue;
    }
    char esc[8];
    switch (c) {
    case '"':
      memcpy(esc, "\\\"", 3);
      break;
    case '\\':
      memcpy(esc, "\\\\", 3);
      break;
    case '\b':
      memcpy(esc, "\\b", 3);
      break;
    case '\f':
      memcpy(esc, "\\f", 3);
      break;
    case '\n':
      memcpy(esc, "\\n", 3);
      break;
    case '\r':
      memcpy(esc, "\\r", 3);
      break;
    case '\t':
      memcpy(esc, "\\t", 3);
      break;
    default:
      snprintf(esc, sizeof(esc), "\\u%04X", (unsigned)c);
    }
    e = buf_append(b, esc, strlen(esc));
    i++;
  }
  if (!e)
    e = buf_append(b, "\"", 1);
  if (e) {
    b->len = start;
    if (b->data)
      b->data[start] = '\0';
  }
  return e;
}

struct key_ref {
  const char *key;
  size_t len;
  json_t *value;
};

/* Between two values: hand the text so far to the sink once it holds enough. */
static enum eng_err boundary(struct buf *b, const struct jcanon_sink *sink) {
  if (!sink || b->len < sink->part_bytes)
    return ENG_OK;
  enum eng_err e = sink->flush(sink->ud, b->data, b->len);
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
  return e;
}

static int key_cmp(const void *a, const void *b) {
  const struct key_ref *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int r = memcmp(x->key, y->key, n);
  if (r)
    return r;
  return x->len < y->len ? -1 : x->len > y->len;
}

static enum eng_err put(struct buf *b, const json_t *v, int depth, const struct jcanon_sink *sink);

static enum eng_err put_object(struct buf *b, const json_t *v, int depth,
                               const struct jcanon_sink *sink) {
  size_t n = json_object_size(v);
  if (n == 0)
    return buf_append(b, "{}", 2);
  struct key_ref small[16];
  struct key_ref *keys = n <= ARRAY_SIZE(small) ? small : xmalloc(n * sizeof(*keys));
  size_t i = 0;
  for (void *it = json_object_iter((json_t *)v); it && i < n;
       it = json_object_iter_next((json_t *)v, it), i++) {
    keys[i].key = json_object_iter_key(it);
    keys[i].len = json_object_iter_key_len(it);
    keys[i].value = json_object_iter_value(it);
  }
  /* Insertion sort for the usual handful of keys, qsort beyond. */
  if (n <= ARRAY_SIZE(small)) {
    for (size_t a = 1; a < n; a++) {
      struct key_ref k = keys[a];
      size_t c = a;
      while (c > 0 && key_cmp(&keys[c - 1], &k) > 0) {
        keys[c] = keys[c - 1];
        c--;
      }
      keys[c] = k;
    }
  } else {
    qsort(keys, n, sizeof(*keys), key_cmp);
  }
  enum eng_err e = buf_append(b, "{", 1);
  for (i = 0; i < n && !e; i++) {
    if (i)
      e = boundary(b, sink);
    if (!e && i)
      e = buf_append(b, ",", 1);
    if (!e)
      e = jcanon_append_string(b, keys[i].key, keys[i].len);
    if (!e)
      e = buf_append(b, ":", 1);
    if (!e)
      e = put(b, keys[i].value, depth + 1, sink);
  }
  if (!e)
    e = buf_append(b, "}", 1);
  if (keys != small)
    free(keys);
  return e;
}

static enum eng_err put(struct buf *b, const json_t *v, int depth, const struct jcanon_sink *sink) {
  if (!v || depth > JCANON_MAX_DEPTH)
    return ENG_INVALID;
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return put_object(b, v, depth, sink);
  case JSON_ARRAY: {
    size_t n = json_array_size(v);
    enum eng_err e = buf_append(b, "[", 1);
    for (size_t i = 0; i < n && !e; i++) {
      if (i)
        e = boundary(b, sink);
      if (!e && i)
        e = buf_append(b, ",", 1);
      if (!e)
        e = put(b, json_array_get(v, i), depth + 1, sink);
    }
    return e ? e : buf_append(b, "]", 1);
  }
  case JSON_STRING:
    return jcanon_append_string(b, json_string_value(v), json_string_length(v));
  case JSON_INTEGER: {
    char num[32];
    int k = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return buf_append(b, num, (size_t)k);
  }
  case JSON_REAL: {
    /* Rare in our payloads: let jansson format it, so the digits are its own. */
    char num[128];
    size_t k = json_dumpb(v, num, sizeof(num), JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    if (k == 0 || k >= sizeof(num))
      return ENG_INVALID;
    return buf_append(b, num, k);
  }
  case JSON_TRUE:
    return buf_append(b, "true", 4);
  case JSON_FALSE:
    return buf_append(b, "false", 5);
  case JSON_NULL:
    return buf_append(b, "null", 4);
  }
  return ENG_INVALID;
}

enum eng_err jcanon_stream(const json_t *v, const struct jcanon_sink *sink) {
  struct buf b;
  buf_init(&b, BUF_MAX_DERIVED);
  enum eng_err e = put(&b, v, 0, sink);
  if (!e && b.len)
    e = sink->flush(sink->ud, b.data, b.len);
  buf_release(&b);
  return e;
}

enum eng_err jcanon_append(struct buf *b, const json_t *v) {
  size_t start = b->len;
  enum eng_err e = put(b, v, 0, NULL);
  if (e) {
    b->len = start;
    if (b->data)
      b->data[start] = '\0';
  }
  return e;
}
