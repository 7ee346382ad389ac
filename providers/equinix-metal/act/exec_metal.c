/*
 * exec_metal.c - Equinix Metal handlers of the executor (SSH keys).
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/act/exec_metal.h"
#include "engine/act/exec_inflight.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "providers/equinix-metal/metal_creds.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

struct exec_metal {
  struct metal_creds *creds;
  struct exec_inflight_list jobs;
};

enum job_kind { JOB_ENSURE, JOB_DELETE };

struct job {
  struct exec_metal *m;
  struct exec_inflight fl;
  enum job_kind kind;
  struct action a;
  struct metal_client *mc;
  struct metal_op *op;
  struct metal_creds_req *cr;
  /* delete: ids still to delete, and how many went */
  char **ids;
  size_t nids, next_id;
  int deleted;
  /* ensure: the key adopted with another public key, to replace */
  char *replace_id;
};

/* ---- bookkeeping ---------------------------------------------------------------------------- */

static void job_free(struct job *j) {
  action_release(&j->a);
  for (size_t i = 0; i < j->nids; i++)
    free(j->ids[i]);
  free(j->ids);
  free(j->replace_id);
  free(j);
}

static void finish_ok(struct job *j, json_t *out_own) {
  exec_inflight_ok(&j->fl, out_own);
  json_decref(out_own);
  job_free(j);
}

static void finish_err(struct job *j, const struct eng_error *err, const char *code,
                       bool retryable) {
  /* Force deletion must not block on what cannot be fixed: report and carry on. */
  if (j->kind == JOB_DELETE && jsonx_bool(j->a.params, "force", false) && !retryable) {
    log_warn("force deletion: the project SSH key could not be deleted and may remain", "label",
             jsonx_str(j->a.params, "label"), "error", err->msg, NULL);
    json_t *out = json_pack("{s:i,s:s}", "deleted", j->deleted, "skipped", err->msg);
    finish_ok(j, out);
    return;
  }
  exec_inflight_fail(&j->fl, err, code, retryable);
  job_free(j);
}

static void finish_metal_err(struct job *j, const struct eng_error *err) {
  finish_err(j, err, metal_gardener_code(err), metal_retryable(err));
}

/* ---- ensure -----------------------------------------------------------------------------------
 */

static json_t *key_output(const struct metal_sshkey *k, bool adopted, bool replaced) {
  return json_pack("{s:s,s:s,s:b,s:b}", "id", k->id, "fingerprint",
                   k->fingerprint ? k->fingerprint : "", "adopted", adopted, "replaced", replaced);
}

static void ensure_done(void *ud, const struct metal_result *r);

static void replace_created(void *ud, const struct metal_result *r) {
  struct job *j = ud;
  j->op = NULL;
  if (r->code) {
    finish_metal_err(j, r->err);
    return;
  }
  finish_ok(j, key_output(r->sshkey, false, true));
}

static void replace_deleted(void *ud, const struct metal_result *r) {
  struct job *j = ud;
  j->op = NULL;
  if (r->code) {
    finish_metal_err(j, r->err);
    return;
  }
  log_info("replaced the project SSH key because the shoot's public key changed", "label",
           jsonx_str(j->a.params, "label"), NULL);
  j->op = metal_sshkey_create(j->mc, jsonx_str(j->a.params, "label"),
                              jsonx_str(j->a.params, "publicKey"), replace_created, j);
}

static void ensure_done(void *ud, const struct metal_result *r) {
  struct job *j = ud;
  j->op = NULL;
  if (r->code) {
    finish_metal_err(j, r->err);
    return;
  }
  if (r->key_differs) {
    /* The key with our label holds another public key (sshPublicKey was rotated):
     * replace it, as Terraform's metal_project_ssh_key did (public_key forces a new key). */
    j->op = metal_sshkey_delete(j->mc, r->sshkey->id, replace_deleted, j);
    return;
  }
  finish_ok(j, key_output(r->sshkey, r->adopted, false));
}

static void known_done(void *ud, const struct metal_result *r) {
  struct job *j = ud;
  j->op = NULL;
  const char *label = jsonx_str(j->a.params, "label");
  const char *pub = jsonx_str(j->a.params, "publicKey");
  if (r->code == ENG_OK && r->sshkey->label && !strcmp(r->sshkey->label, label) && r->sshkey->key &&
      !strcmp(r->sshkey->key, pub)) {
    finish_ok(j, key_output(r->sshkey, true, false));
    return;
  }
  if (r->code && r->code != ENG_NOTFOUND) {
    finish_metal_err(j, r->err);
    return;
  }
  j->op = metal_sshkey_ensure(j->mc, label, pub, ensure_done, j);
}

/* ---- delete -----------------------------------------------------------------------------------
 */

static void delete_next(struct job *j);

static void deleted_one(void *ud, const struct metal_result *r) {
  struct job *j = ud;
  j->op = NULL;
  if (r->code) {
    finish_metal_err(j, r->err);
    return;
  }
  if (!r->gone)
    j->deleted++;
  delete_next(j);
}

static void delete_next(struct job *j) {
  if (j->next_id < j->nids) {
    j->op = metal_sshkey_delete(j->mc, j->ids[j->next_id++], deleted_one, j);
    return;
  }
  finish_ok(j, json_pack("{s:i}", "deleted", j->deleted));
}

static void listed_for_delete(void *ud, const struct metal_result *r) {
  struct job *j = ud;
  j->op = NULL;
  if (r->code) {
    finish_metal_err(j, r->err);
    return;
  }
  /* The known id first, then every key carrying our label (duplicates left by others too). */
  const char *label = jsonx_str(j->a.params, "label");
  const char *known = jsonx_str(j->a.params, "id");
  j->ids = xcalloc(r->sshkeys->n + 1, sizeof(*j->ids));
  if (known && *known)
    j->ids[j->nids++] = xstrdup(known);
  for (size_t i = 0; i < r->sshkeys->n; i++) {
    const struct metal_sshkey *k = &r->sshkeys->items[i];
    if (k->label && !strcmp(k->label, label) && (!known || strcmp(k->id, known) != 0))
      j->ids[j->nids++] = xstrdup(k->id);
  }
  delete_next(j);
}

/* ---- dispatch ---------------------------------------------------------------------------------
 */

static void with_client(void *ud, const struct metal_creds_result *r) {
  struct job *j = ud;
  j->cr = NULL;
  if (!r->mc) {
    finish_err(j, r->err, r->gardener_code, r->retryable);
    return;
  }
  j->mc = r->mc;
  if (j->kind == JOB_ENSURE) {
    const char *known = jsonx_str(j->a.params, "knownID");
    if (known && *known)
      j->op = metal_sshkey_get(j->mc, known, known_done, j);
    else
      j->op = metal_sshkey_ensure(j->mc, jsonx_str(j->a.params, "label"),
                                  jsonx_str(j->a.params, "publicKey"), ensure_done, j);
  } else {
    j->op = metal_sshkey_find(j->mc, jsonx_str(j->a.params, "label"), listed_for_delete, j);
  }
}

static void start(void *ud, struct exec_call *call, const struct action *a, bool resolving) {
  (void)resolving; /* ensure and delete look up before acting in every attempt */
  struct exec_metal *m = ud;
  struct job *j = xcalloc(1, sizeof(*j));
  j->m = m;
  exec_inflight_link(&m->jobs, &j->fl, call, j);
  action_copy(&j->a, a);
  j->kind = strcmp(a->kind, "metal.sshkey.delete") == 0 ? JOB_DELETE : JOB_ENSURE;
  if (j->kind == JOB_ENSURE &&
      (!jsonx_str(a->params, "label") || !jsonx_str(a->params, "publicKey"))) {
    struct eng_error err;
    eng_error_set(&err, ENG_INTERNAL, "the action lacks the SSH key label or public key");
    finish_err(j, &err, NULL, false);
    return;
  }
  /* with_client() may run (and finish the job) before metal_creds_get() returns. */
  struct metal_creds_req *cr =
      metal_creds_get(m->creds, jsonx_str(a->params, "secretRef.namespace"),
                      jsonx_str(a->params, "secretRef.name"), with_client, j);
  if (cr)
    j->cr = cr;
}

struct exec_metal *exec_metal_new(struct metal_creds *creds) {
  struct exec_metal *m = xcalloc(1, sizeof(*m));
  m->creds = creds;
  return m;
}

void exec_metal_register(struct exec_metal *m, struct executor *x) {
  executor_handle(x, "metal.sshkey.ensure", start, m);
  executor_handle(x, "metal.sshkey.delete", start, m);
}

void exec_metal_free(struct exec_metal *m) {
  if (!m)
    return;
  struct job *j;
  while ((j = exec_inflight_pop(&m->jobs))) {
    if (j->cr)
      metal_creds_cancel(m->creds, j->cr);
    if (j->op)
      metal_op_cancel(j->op);
    job_free(j);
  }
  free(m);
}
