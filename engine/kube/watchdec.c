/*
 * watchdec.c - incremental decoder of concatenated JSON values (watch streams).
 */
#include "engine/base/common.h"
#include "engine/kube/watchdec.h"

#include <stdio.h>
#include <string.h>

void kube_watchdec_init(struct kube_watchdec *d, size_t max_event) {
  memset(d, 0, sizeof(*d));
  d->max_event = max_event ? max_event : BUF_MAX_WATCH_EVENT;
  buf_init(&d->pending, d->max_event);
}

void kube_watchdec_release(struct kube_watchdec *d) { buf_release(&d->pending); }

size_t kube_watchdec_pending(const struct kube_watchdec *d) { return d->pending.len; }

static bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

/*
 * Scan data[i..len) continuing the state in d. Returns the index just after the '}' or ']'
 * that brings the depth back to 0, or len when the value continues past the data.
 */
static size_t scan(struct kube_watchdec *d, const char *data, size_t i, size_t len) {
  while (i < len) {
    if (d->in_string) {
      if (d->escape) {
        d->escape = false;
        i++;
        continue;
      }
      /* Skip ordinary string bytes quickly. */
      while (i < len && data[i] != '"' && data[i] != '\\')
        i++;
      if (i == len)
        return len;
      if (data[i] == '\\')
        d->escape = true;
      else
        d->in_string = false;
      i++;
      continue;
    }
    char c = data[i++];
    switch (c) {
    case '"':
      d->in_string = true;
      break;
    case '{':
    case '[':
      d->depth++;
      break;
    case '}':
    case ']':
      d->depth--;
      if (d->depth == 0)
        return i;
      break;
    default:
      break;
    }
  }
  return len;
}

static void excerpt(const char *p, size_t n, char out[48]) {
  size_t k = 0;
  for (size_t i = 0; i < n && k < 40; i++)
    out[k++] = (p[i] >= 32 && p[i] < 127) ? p[i] : '?';
  out[k] = '\0';
}

/* Mark the decoder failed (it accepts nothing more) and pass the code through. */
static enum eng_err fail(struct kube_watchdec *d, enum eng_err code) {
  d->failed = true;
  buf_reset(&d->pending);
  return code;
}

static enum eng_err too_large(struct kube_watchdec *d, struct eng_error *err) {
  eng_error_set(err, ENG_TOOLARGE,
                "a watch event is larger than the limit of %zu bytes (after %llu complete "
                "events); the object is too big to handle, reduce its size or raise the limit",
                d->max_event, (unsigned long long)d->values);
  return fail(d, ENG_TOOLARGE);
}

static enum eng_err emit(struct kube_watchdec *d, const char *p, size_t n, kube_watchdec_fn fn,
                         void *ud, struct eng_error *err) {
  if (n > d->max_event)
    return too_large(d, err);
  json_error_t jerr;
  json_t *v = json_loadb(p, n, 0, &jerr);
  if (!v) {
    eng_error_set(err, ENG_PROTOCOL,
                  "watch event number %llu is not valid JSON: %s (line %d, column %d)",
                  (unsigned long long)d->values + 1, jerr.text, jerr.line, jerr.column);
    return fail(d, ENG_PROTOCOL);
  }
  d->values++;
  int stop = fn ? fn(ud, v) : 0;
  json_decref(v);
  if (stop) {
    eng_error_set(err, ENG_CANCELED, "the receiver stopped the watch stream");
    return fail(d, ENG_CANCELED);
  }
  return ENG_OK;
}

enum eng_err kube_watchdec_feed(struct kube_watchdec *d, const char *data, size_t len,
                                kube_watchdec_fn fn, void *ud, struct eng_error *err) {
  if (d->failed)
    return eng_error_set(err, ENG_PROTOCOL, "the watch stream decoder already failed");
  size_t i = 0;
  /* Continue a value started in an earlier chunk. */
  if (d->pending.len > 0) {
    size_t end = scan(d, data, 0, len);
    size_t take = end;
    if (d->pending.len + take > d->max_event || buf_append(&d->pending, data, take) != ENG_OK)
      return too_large(d, err);
    if (d->depth > 0)
      return ENG_OK; /* still incomplete */
    enum eng_err rc = emit(d, d->pending.data, d->pending.len, fn, ud, err);
    buf_reset(&d->pending);
    if (rc)
      return rc;
    i = end;
  }
  /* At a value boundary: values completely inside data are parsed in place. */
  while (i < len) {
    while (i < len && is_ws(data[i]))
      i++;
    if (i == len)
      break;
    if (data[i] != '{') {
      char ex[48];
      excerpt(data + i, len - i, ex);
      eng_error_set(err, ENG_PROTOCOL,
                    "the watch stream is not a sequence of JSON objects: found \"%s\" after %llu "
                    "event(s)",
                    ex, (unsigned long long)d->values);
      return fail(d, ENG_PROTOCOL);
    }
    size_t start = i;
    d->depth = 0;
    d->in_string = false;
    d->escape = false;
    size_t end = scan(d, data, i, len);
    if (d->depth > 0) {
      size_t n = len - start;
      if (n > d->max_event || buf_append(&d->pending, data + start, n) != ENG_OK)
        return too_large(d, err);
      return ENG_OK;
    }
    enum eng_err rc = emit(d, data + start, end - start, fn, ud, err);
    if (rc)
      return rc;
    i = end;
  }
  return ENG_OK;
}
