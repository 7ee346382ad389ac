/*
 * exec_inflight.h - the calls in flight of an executor handler, and how they end.
 *
 * A handler keeps one struct exec_inflight in each job it starts and links it into its
 * list, so that its _free() can pop every job still running and cancel what it waits
 * for (a job that ends is unlinked first). Ending a job reports the outcome to the
 * executor through one of the finish helpers, which unlink it; the handler then frees
 * the job itself:
 *
 *   exec_inflight_link(&h->jobs, &j->fl, call, j);
 *   ...
 *   exec_inflight_ok(&j->fl, out);          or exec_inflight_fail(), exec_inflight_kube_fail()
 *   job_free(j);
 *   ...
 *   while ((j = exec_inflight_pop(&h->jobs))) { cancel what j waits for; job_free(j); }
 *
 * Calls that end before any job is made report with executor_succeed()/executor_fail().
 */
#ifndef EQXM_EXEC_INFLIGHT_H
#define EQXM_EXEC_INFLIGHT_H

#include "engine/base/common.h"
#include "engine/act/executor.h"
#include "engine/kube/client.h"

#include <stdarg.h>

struct exec_inflight_list;

struct exec_inflight {
  struct exec_call *call;          /* the executor's call the job answers */
  void *job;                       /* the handler's job (what exec_inflight_pop returns) */
  struct exec_inflight_list *list; /* NULL once unlinked */
  struct exec_inflight *prev, *next;
};

struct exec_inflight_list {
  struct exec_inflight *head;
};

void exec_inflight_link(struct exec_inflight_list *l, struct exec_inflight *f,
                        struct exec_call *call, void *job);
/* Idempotent. */
void exec_inflight_unlink(struct exec_inflight *f);
/* Unlink the newest job and return it; NULL when none is in flight. */
void *exec_inflight_pop(struct exec_inflight_list *l);

/* Unlink f and report to the executor: success with out (borrowed; NULL = {}), ... */
void exec_inflight_ok(struct exec_inflight *f, const json_t *out);
/* ... failure with err, one optional Gardener error code, and whether a retry may help, ... */
void exec_inflight_fail(struct exec_inflight *f, const struct eng_error *err,
                        const char *gardener_code, bool retryable);
/* ... failure with a message built from fmt and ap (code, no Gardener code), ... */
void exec_inflight_vfail(struct exec_inflight *f, enum eng_err code, bool retryable,
                         const char *fmt, va_list ap) PRINTF_LIKE(4, 0);
/* ... or a failed Kubernetes call: its error, HTTP status and Retry-After; retryable by code. */
void exec_inflight_kube_fail(struct exec_inflight *f, const struct kube_result *res);

#endif
