/*
 * jsonscan.c - find values in JSON text without parsing it (see jsonscan.h).
 */
#include "engine/base/common.h"
#include "engine/base/jsonscan.h"
#include "engine/base/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BAD SIZE_MAX

static size_t skip_ws(const char *b, size_t len, size_t i) {
  while (i < len && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t'))
    i++;
  return i;
}

/* b[i] is the opening quote: the index past the closing one. *esc tells of a backslash. */
static size_t skip_string(const char *b, size_t len, size_t i, bool *esc) {
  for (i++; i < len; i++) {
    unsigned char ch = (unsigned char)b[i];
    if (ch == '"')
      return i + 1;
    if (ch == '\\') {
      if (esc)
        *esc = true;
      i++; /* the escaped byte; \uXXXX's digits are ordinary bytes */
    } else if (ch < 0x20) {
      return BAD;
    }
  }
  return BAD;
}

static bool scalar_byte(char ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         ch == '-' || ch == '+' || ch == '.';
}

/* b[i] starts a value: the index past its end. Inside containers only the nesting is followed. */
static size_t skip_value(const char *b, size_t len, size_t i) {
  char close[JSONSCAN_MAX_DEPTH];
  size_t depth = 0;
  while (i < len) {
    char ch = b[i];
    if (ch == '"') {
      i = skip_string(b, len, i, NULL);
      if (i == BAD)
        return BAD;
    } else if (ch == '{' || ch == '[') {
      if (depth == JSONSCAN_MAX_DEPTH)
        return BAD;
      close[depth++] = ch == '{' ? '}' : ']';
      i++;
      continue;
    } else if (ch == '}' || ch == ']') {
      if (depth == 0 || close[depth - 1] != ch)
        return BAD;
      depth--;
      i++;
    } else if (depth > 0 &&
               (ch == ',' || ch == ':' || ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')) {
      i++;
      continue;
    } else if (scalar_byte(ch)) {
      while (i < len && scalar_byte(b[i]))
        i++;
    } else {
      return BAD;
    }
    if (depth == 0)
      return i;
  }
  return BAD;
}

bool jsonscan_member(const char *buf, size_t len, const char *key, struct jspan *value) {
  size_t klen = strlen(key);
  size_t i = skip_ws(buf, len, 0);
  if (i >= len || buf[i] != '{')
    return false;
  i = skip_ws(buf, len, i + 1);
  bool found = false;
  if (i < len && buf[i] == '}') {
    i++;
  } else {
    for (;;) {
      if (i >= len || buf[i] != '"')
        return false;
      bool esc = false;
      size_t ks = i + 1, ke = skip_string(buf, len, i, &esc);
      if (ke == BAD || esc)
        return false;
      i = skip_ws(buf, len, ke);
      if (i >= len || buf[i] != ':')
        return false;
      i = skip_ws(buf, len, i + 1);
      size_t vs = i, ve = skip_value(buf, len, i);
      if (ve == BAD)
        return false;
      if (ke - 1 - ks == klen && memcmp(buf + ks, key, klen) == 0) {
        if (found)
          return false;
        found = true;
        value->off = vs;
        value->len = ve - vs;
      }
      i = skip_ws(buf, len, ve);
      if (i < len && buf[i] == ',') {
        i = skip_ws(buf, len, i + 1);
        continue;
      }
      if (i < len && buf[i] == '}') {
        i++;
        break;
      }
      return false;
    }
  }
  return found && skip_ws(buf, len, i) == len;
}

bool jsonscan_elements(const char *buf, struct jspan v, struct jspan **items, size_t *n) {
  const char *b = buf + v.off;
  size_t len = v.len, cap = 0, cnt = 0;
  struct jspan *out = NULL;
  *items = NULL;
  *n = 0;
  size_t i = skip_ws(b, len, 0);
  if (i >= len || b[i] != '[')
    return false;
  i = skip_ws(b, len, i + 1);
  if (i < len && b[i] == ']') {
    i++;
  } else {
    for (;;) {
      size_t e = skip_value(b, len, i);
      if (e == BAD)
        goto fail;
      if (cnt == cap) {
        cap = cap ? 2 * cap : 16;
        out = xrealloc(out, cap * sizeof(*out));
      }
      out[cnt].off = v.off + i;
      out[cnt].len = e - i;
      cnt++;
      i = skip_ws(b, len, e);
      if (i < len && b[i] == ',') {
        i = skip_ws(b, len, i + 1);
        continue;
      }
      if (i < len && b[i] == ']') {
        i++;
        break;
      }
      goto fail;
    }
  }
  if (skip_ws(b, len, i) != len)
    goto fail;
  *items = out;
  *n = cnt;
  return true;
fail:
  free(out);
  return false;
}

bool jsonscan_plain_string(const char *buf, struct jspan v, const char **s, size_t *n) {
  const char *b = buf + v.off;
  if (v.len < 2 || b[0] != '"')
    return false;
  bool esc = false;
  if (skip_string(b, v.len, 0, &esc) != v.len || esc)
    return false;
  *s = b + 1;
  *n = v.len - 2;
  return true;
}

char *jsonscan_splice(const char *buf, size_t len, struct jspan arr, const struct jspan *keep,
                      size_t nkeep, size_t *out_len) {
  /* Kept elements and the commas between them are no longer than the array's content. */
  char *out = xmalloc(len + 1);
  size_t w = arr.off + 1; /* up to and with the '[' */
  memcpy(out, buf, w);
  for (size_t i = 0; i < nkeep; i++) {
    if (i)
      out[w++] = ',';
    memcpy(out + w, buf + keep[i].off, keep[i].len);
    w += keep[i].len;
  }
  size_t tail = arr.off + arr.len - 1; /* the ']' and what follows the array */
  memcpy(out + w, buf + tail, len - tail);
  w += len - tail;
  out[w] = '\0';
  *out_len = w;
  return out;
}
