/*
 * exec_metal.c - Equinix Metal handlers of the executor (SSH keys).
 */
#include "common.h"
#include "providers/equinix-metal/exec_metal.h"
#include "b64.h"
#include "jsonx.h"
#include "log.h"
#include "providers/equinix-metal/metal_client.h"
#include "sha256.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

#define MAX_CLIENTS 64

struct client_slot {
  char digest[SHA256_HEX_LEN + 1]; /* of token and project: never the token itself */
  struct metal_client *mc;
};

struct exec_metal {
  struct ev_loop *loop;
  struct kube_client *kube;
  struct kube_informer *secrets;
  struct exec_metal_opts o;
  char *base_url, *ca_path;
  struct client_slot slots[MAX_CLIENTS];
  size_t nslots;
  struct job *jobs; /* in flight */
  uint64_t retired_requests;
};

enum job_kind { JOB_ENSURE, JOB_DELETE };

struct job {
  struct exec_metal *m;
  struct exec_call *call;
  enum job_kind kind;
  struct action a;
  struct metal_client *mc;
  struct metal_op *op;
  struct kube_call *kc;
  /* delete: ids still to delete, and how many went */
  char **ids;
  size_t nids, next_id;
  int deleted;
  /* ensure: the key adopted with another public key, to replace */
  char *replace_id;
  struct job *prev, *next;
};

/* ---- bookkeeping ---------------------------------------------------------------------------- */

static void job_unlink(struct job *j) {
  if (j->prev)
    j->prev->next = j->next;
  else
    j->m->jobs = j->next;
  if (j->next)
    j->next->prev = j->prev;
}

static void job_free(struct job *j) {
  action_release(&j->a);
  for (size_t i = 0; i < j->nids; i++)
    free(j->ids[i]);
  free(j->ids);
  free(j->replace_id);
  free(j);
}

static void finish_ok(struct job *j, json_t *out_own) {
  job_unlink(j);
  struct exec_outcome o = {true, out_own, NULL, NULL, 0, false};
  executor_done(j->call, &o);
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
  job_unlink(j);
  const char *codes[1] = {code};
  struct exec_outcome o = {false, NULL, err, codes, code ? 1 : 0, retryable};
  executor_done(j->call, &o);
  job_free(j);
}

static void finish_metal_err(struct job *j, const struct eng_error *err) {
  finish_err(j, err, metal_gardener_code(err), metal_retryable(err));
}

/* ---- credentials ------------------------------------------------------------------------------
 */

static struct metal_client *client_for(struct exec_metal *m, const char *token, const char *project,
                                       struct eng_error *err) {
  char buf[4096];
  snprintf(buf, sizeof(buf), "%s%c%s", token, 0, project);
  char digest[SHA256_HEX_LEN + 1];
  sha256_hex(buf, strlen(token) + 1 + strlen(project), digest);
  explicit_bzero(buf, sizeof(buf));
  for (size_t i = 0; i < m->nslots; i++)
    if (strcmp(m->slots[i].digest, digest) == 0)
      return m->slots[i].mc;
  struct metal_client_opts co = {0};
  co.base_url = m->base_url;
  co.ca_path = m->ca_path;
  co.token = token;
  co.project_id = project;
  co.rate = m->o.rate;
  co.burst = m->o.burst;
  co.timeout_ms = m->o.timeout_ms;
  co.settle_ms = m->o.settle_ms;
  struct metal_client *mc = metal_client_new(m->loop, &co, err);
  if (!mc)
    return NULL;
  if (m->nslots == MAX_CLIENTS) {
    /* Evict the oldest idle client (rotated credentials leave old ones behind). */
    size_t victim = MAX_CLIENTS;
    for (size_t i = 0; i < m->nslots && victim == MAX_CLIENTS; i++)
      if (metal_client_pending(m->slots[i].mc) == 0)
        victim = i;
    if (victim == MAX_CLIENTS)
      victim = 0;
    m->retired_requests += metal_client_requests(m->slots[victim].mc);
    metal_client_free(m->slots[victim].mc);
    memmove(&m->slots[victim], &m->slots[victim + 1],
            (m->nslots - victim - 1) * sizeof(m->slots[0]));
    m->nslots--;
  }
  snprintf(m->slots[m->nslots].digest, sizeof(m->slots[0].digest), "%s", digest);
  m->slots[m->nslots].mc = mc;
  m->nslots++;
  return mc;
}

/* The decoded value of data[key] of a Secret, or NULL. Caller frees with xfree_secret(). */
static char *secret_value(const json_t *secret, const char *key) {
  const char *b = jsonx_str(json_object_get(secret, "data"), key);
  if (!b)
    return NULL;
  unsigned char *raw;
  size_t len;
  if (b64_decode(b, strlen(b), &raw, &len) != ENG_OK)
    return NULL;
  /* Trim surrounding whitespace like the Go original (strings.TrimSpace). */
  char *s = (char *)raw;
  while (len > 0 &&
         (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
    s[--len] = '\0';
  size_t lead = strspn(s, " \t\r\n");
  if (lead)
    memmove(s, s + lead, len - lead + 1);
  return s;
}

static void run_job(struct job *j, const json_t *secret);

static void secret_got(void *ud, const struct kube_result *res) {
  struct job *j = ud;
  j->kc = NULL;
  if (res->err) {
    struct eng_error err;
    const char *ns = jsonx_str(j->a.params, "secretRef.namespace");
    const char *name = jsonx_str(j->a.params, "secretRef.name");
    if (res->err == ENG_NOTFOUND)
      eng_error_set(
          &err, ENG_NOTFOUND,
          "the Secret %s/%s named by spec.secretRef does not exist; it must hold the Equinix "
          "Metal API token (apiToken) and project ID (projectID)",
          ns, name);
    else
      eng_error_set(&err, res->err, "cannot read the Secret %s/%s: %s", ns, name, res->error.msg);
    finish_err(j, &err, NULL, true);
    return;
  }
  run_job(j, res->body);
}

static void with_secret(struct job *j) {
  struct exec_metal *m = j->m;
  const char *ns = jsonx_str(j->a.params, "secretRef.namespace");
  const char *name = jsonx_str(j->a.params, "secretRef.name");
  if (!ns || !name) {
    struct eng_error err;
    eng_error_set(&err, ENG_CONFIG, "the action names no Secret (secretRef)");
    finish_err(j, &err, "ERR_CONFIGURATION_PROBLEM", false);
    return;
  }
  const json_t *s = m->secrets ? kube_informer_get(m->secrets, ns, name) : NULL;
  if (s) {
    run_job(j, s);
    return;
  }
  j->kc = kube_get(m->kube, &kube_res_secret, ns, name, secret_got, j);
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

static void run_job(struct job *j, const json_t *secret) {
  const char *ns = jsonx_str(j->a.params, "secretRef.namespace");
  const char *name = jsonx_str(j->a.params, "secretRef.name");
  char *token = secret_value(secret, "apiToken");
  char *project = secret_value(secret, "projectID");
  struct eng_error err;
  eng_error_clear(&err);
  if (!token || !*token || !project || !*project) {
    eng_error_set(
        &err, ENG_CONFIG,
        "the Secret %s/%s has no \"%s\" field; it must hold the Equinix Metal API token (apiToken) "
        "and the project ID (projectID)",
        ns, name, !token || !*token ? "apiToken" : "projectID");
    xfree_secret(token);
    xfree_secret(project);
    finish_err(j, &err, "ERR_CONFIGURATION_PROBLEM", false);
    return;
  }
  j->mc = client_for(j->m, token, project, &err);
  xfree_secret(token);
  xfree_secret(project);
  if (!j->mc) {
    finish_err(j, &err, "ERR_CONFIGURATION_PROBLEM", false);
    return;
  }
  if (j->kind == JOB_ENSURE) {
    const char *known = jsonx_str(j->a.params, "knownID");
    if (known && *known)
      j->op = metal_sshkey_get(j->mc, known, known_done, j);
    else
      j->op = metal_sshkey_ensure(j->mc, jsonx_str(j->a.params, "label"),
                                  jsonx_str(j->a.params, "publicKey"), ensure_done, j);
  } else {
    j->op = metal_sshkey_list(j->mc, listed_for_delete, j);
  }
}

static void start(void *ud, struct exec_call *call, const struct action *a, bool resolving) {
  (void)resolving; /* ensure and delete look up before acting in every attempt */
  struct exec_metal *m = ud;
  struct job *j = xcalloc(1, sizeof(*j));
  j->m = m;
  j->call = call;
  action_copy(&j->a, a);
  j->kind = strcmp(a->kind, "metal.sshkey.delete") == 0 ? JOB_DELETE : JOB_ENSURE;
  j->next = m->jobs;
  if (m->jobs)
    m->jobs->prev = j;
  m->jobs = j;
  if (j->kind == JOB_ENSURE &&
      (!jsonx_str(a->params, "label") || !jsonx_str(a->params, "publicKey"))) {
    struct eng_error err;
    eng_error_set(&err, ENG_INTERNAL, "the action lacks the SSH key label or public key");
    finish_err(j, &err, NULL, false);
    return;
  }
  with_secret(j);
}

struct exec_metal *exec_metal_new(struct ev_loop *loop, struct kube_client *kube,
                                  struct kube_informer *secrets, const struct exec_metal_opts *o) {
  struct exec_metal *m = xcalloc(1, sizeof(*m));
  m->loop = loop;
  m->kube = kube;
  m->secrets = secrets;
  if (o)
    m->o = *o;
  m->base_url = m->o.base_url ? xstrdup(m->o.base_url) : NULL;
  m->ca_path = m->o.ca_path ? xstrdup(m->o.ca_path) : NULL;
  return m;
}

void exec_metal_register(struct exec_metal *m, struct executor *x) {
  executor_handle(x, "metal.sshkey.ensure", start, m);
  executor_handle(x, "metal.sshkey.delete", start, m);
}

uint64_t exec_metal_requests(const struct exec_metal *m) {
  uint64_t n = m->retired_requests;
  for (size_t i = 0; i < m->nslots; i++)
    n += metal_client_requests(m->slots[i].mc);
  return n;
}

void exec_metal_free(struct exec_metal *m) {
  if (!m)
    return;
  while (m->jobs) {
    struct job *j = m->jobs;
    m->jobs = j->next;
    if (j->kc)
      kube_cancel(m->kube, j->kc);
    job_free(j); /* metal ops are cancelled with their clients below */
  }
  for (size_t i = 0; i < m->nslots; i++)
    metal_client_free(m->slots[i].mc);
  free(m->base_url);
  free(m->ca_path);
  free(m);
}
