/*
 * exec_inflight.c - the calls in flight of an executor handler, and how they end.
 */
#include "engine/base/common.h"
#include "engine/act/exec_inflight.h"

#include <stdio.h>

void exec_inflight_link(struct exec_inflight_list *l, struct exec_inflight *f,
                        struct exec_call *call, void *job) {
  f->call = call;
  f->job = job;
  f->list = l;
  f->prev = NULL;
  f->next = l->head;
  if (l->head)
    l->head->prev = f;
  l->head = f;
}

void exec_inflight_unlink(struct exec_inflight *f) {
  if (!f->list)
    return;
  if (f->prev)
    f->prev->next = f->next;
  else
    f->list->head = f->next;
  if (f->next)
    f->next->prev = f->prev;
  f->prev = f->next = NULL;
  f->list = NULL;
}

void *exec_inflight_pop(struct exec_inflight_list *l) {
  struct exec_inflight *f = l->head;
  if (!f)
    return NULL;
  exec_inflight_unlink(f);
  return f->job;
}

void exec_inflight_ok(struct exec_inflight *f, const json_t *out) {
  exec_inflight_unlink(f);
  executor_succeed(f->call, out);
}

void exec_inflight_fail(struct exec_inflight *f, const struct eng_error *err,
                        const char *gardener_code, bool retryable) {
  exec_inflight_unlink(f);
  executor_fail(f->call, err, gardener_code, retryable);
}

void exec_inflight_vfail(struct exec_inflight *f, enum eng_err code, bool retryable,
                         const char *fmt, va_list ap) {
  struct eng_error err;
  eng_error_clear(&err);
  err.code = code;
  vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
  exec_inflight_fail(f, &err, NULL, retryable);
}

void exec_inflight_kube_fail(struct exec_inflight *f, const struct kube_result *res) {
  struct eng_error err = res->error;
  err.http_status = (int)res->status;
  err.retry_after_ms = res->retry_after_ms;
  exec_inflight_fail(f, &err, NULL, eng_err_retryable(res->err));
}
