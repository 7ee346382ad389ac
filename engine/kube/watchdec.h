/*
 * watchdec.h - incremental decoder of a Kubernetes watch stream, pure (no I/O).
 *
 * The body of a watch is a sequence of JSON objects ({"type":..,"object":..}), normally
 * one per line, but the decoder assumes nothing about whitespace or how the bytes are
 * cut into chunks: it scans for the end of each top-level value (tracking nesting and
 * strings across feeds, so every byte is scanned once) and parses each complete value.
 * A value that lies entirely inside one fed chunk is parsed in place, without copying.
 * One value larger than the cap fails with ENG_TOOLARGE and a clear message.
 */
#ifndef EQXM_KUBE_WATCHDEC_H
#define EQXM_KUBE_WATCHDEC_H

#include "engine/base/common.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"

#include <jansson.h>

struct kube_watchdec {
  struct buf pending; /* bytes of an incomplete value */
  size_t max_event;   /* cap on one value */
  size_t scanned;     /* bytes of pending already scanned */
  int depth;          /* nesting depth at the end of the scanned bytes */
  bool in_string;
  bool escape;
  bool failed;     /* a previous feed failed: nothing more is accepted */
  uint64_t values; /* values decoded so far */
};

/* Called with each decoded value (a new reference the callee must not keep without incref).
 * Return 0 to continue, nonzero to stop: feed then returns ENG_CANCELED. */
typedef int (*kube_watchdec_fn)(void *ud, json_t *value);

void kube_watchdec_init(struct kube_watchdec *d, size_t max_event); /* 0 = BUF_MAX_WATCH_EVENT */
void kube_watchdec_release(struct kube_watchdec *d);

/*
 * Feed bytes; fn runs for every value completed by them, in order. Errors:
 * ENG_TOOLARGE (one value over the cap), ENG_PROTOCOL (not a stream of JSON objects:
 * message with the offending text), ENG_CANCELED (fn asked to stop). After an error
 * the decoder refuses further input.
 */
enum eng_err kube_watchdec_feed(struct kube_watchdec *d, const char *data, size_t len,
                                kube_watchdec_fn fn, void *ud, struct eng_error *err) WARN_UNUSED;

/* Bytes of an unfinished value held (0 at a clean boundary, e.g. at the stream's end). */
size_t kube_watchdec_pending(const struct kube_watchdec *d);

#endif
