/*
 * metal_sshkeys.c - project SSH keys: create, list (every page if the server
 * paginates), get, delete, and ensure by label.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "engine/base/log.h"
#include "providers/equinix-metal/api/metal_decode.h"
#include "providers/equinix-metal/api/metal_int.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool empty(const char *s) { return !s || !*s; }

static void fail_decode(struct metal_op *op, long status, const struct eng_error *derr) {
  char *why = xasprintf("an unusable object (%s)", derr->msg);
  metal_op_bad_reply(op, status, why);
  free(why);
}

static char *keys_path(struct metal_client *c) {
  char *ep = metal_esc(metal_client_project(c));
  char *p = xasprintf("/projects/%s/ssh-keys", ep);
  free(ep);
  return p;
}

/*
 * The project's keys the API finds for label (?query= searches label, key and fingerprint): a
 * superset of those with exactly this label, which callers pick out. Without it every lookup
 * reads every key of the project, and a project shared by N shoots holds N keys: N² bytes to
 * reconcile them all.
 */
static char *keys_query_path(struct metal_client *c, const char *label) {
  char *base = keys_path(c), *q = metal_esc(label);
  char *p = xasprintf("%s?query=%s", base, q);
  free(base);
  free(q);
  return p;
}

static void key_step(struct metal_op *op, const struct metal_resp *r) {
  if (r->code == ENG_OK) {
    struct eng_error derr;
    if (metal_sshkey_decode(r->json, &op->sshkey, &derr))
      fail_decode(op, r->status, &derr);
    else
      op->res.sshkey = &op->sshkey;
  }
  metal_op_finish(op);
}

static json_t *key_body(const char *label, const char *key) {
  json_t *b = json_object();
  json_object_set_new(b, "label", json_string(label));
  json_object_set_new(b, "key", json_string(key));
  return b;
}

static bool check_args(struct metal_op *op, const char *label, const char *key) {
  if (empty(label) || empty(key)) {
    eng_error_set(&op->err, ENG_INVALID, "%s failed: the request has no %s", op->what,
                  empty(label) ? "label" : "public key");
    metal_op_finish_later(op);
    return false;
  }
  return true;
}

struct metal_op *metal_sshkey_create(struct metal_client *c, const char *label, const char *key,
                                     metal_done_fn cb, void *ud) {
  char *what = xasprintf("creating project SSH key %s", empty(label) ? "(no label)" : label);
  struct metal_op *op = metal_op_new(c, what, cb, ud);
  free(what);
  if (!check_args(op, label, key))
    return op;
  char *path = keys_path(c);
  metal_op_send(op, "POST", path, key_body(label, key), false, key_step);
  free(path);
  return op;
}

static void list_done(struct metal_op *op) {
  if (op->err.code == ENG_OK) {
    struct eng_error derr;
    if (metal_sshkey_list_decode(op->list_items, &op->sshkeys, &derr)) {
      fail_decode(op, 200, &derr);
    } else {
      op->sshkeys.pages = op->list_page;
      op->res.sshkeys = &op->sshkeys;
    }
  }
  metal_op_finish(op);
}

struct metal_op *metal_sshkey_list(struct metal_client *c, metal_done_fn cb, void *ud) {
  char *what = xasprintf("listing the SSH keys of project %s", metal_client_project(c));
  struct metal_op *op = metal_op_new(c, what, cb, ud);
  free(what);
  char *path = keys_path(c);
  metal_op_list(op, path, "ssh_keys", list_done);
  free(path);
  return op;
}

struct metal_op *metal_sshkey_find(struct metal_client *c, const char *label, metal_done_fn cb,
                                   void *ud) {
  if (!label || !*label)
    return metal_sshkey_list(c, cb, ud);
  char *what = xasprintf("looking up the SSH key %s of project %s", label, metal_client_project(c));
  struct metal_op *op = metal_op_new(c, what, cb, ud);
  free(what);
  char *path = keys_query_path(c, label);
  metal_op_list(op, path, "ssh_keys", list_done);
  free(path);
  return op;
}

struct metal_op *metal_sshkey_get(struct metal_client *c, const char *id, metal_done_fn cb,
                                  void *ud) {
  return metal_op_on_id(c, "reading", "SSH key", "GET", "/ssh-keys", id, "", key_step, cb, ud);
}

struct metal_op *metal_sshkey_delete(struct metal_client *c, const char *id, metal_done_fn cb,
                                     void *ud) {
  return metal_op_on_id(c, "deleting", "SSH key", "DELETE", "/ssh-keys", id, "", metal_delete_step,
                        cb, ud);
}

/* ---- ensure ---- */

static void ensure_lookup(struct metal_op *op);

static void ensure_create_step(struct metal_op *op, const struct metal_resp *r) {
  if (r->code == ENG_OK || !metal_ambiguous(&op->err)) {
    key_step(op, r);
    return;
  }
  op->saved_err = op->err;
  eng_error_clear(&op->err);
  log_warn("the outcome of an SSH key create is unknown; looking it up before any new attempt",
           "operation", op->what, "error", op->saved_err.msg, NULL);
  long ms = op->c->settle_ms, ra = op->saved_err.retry_after_ms;
  if (ra > ms)
    ms = ra > op->c->max_pause_ms ? op->c->max_pause_ms : ra;
  metal_op_after(op, ms, ensure_lookup);
}

static void ensure_lookup_done(struct metal_op *op) {
  if (op->err.code == ENG_OK) {
    struct eng_error derr;
    if (metal_sshkey_list_decode(op->list_items, &op->sshkeys, &derr))
      fail_decode(op, 200, &derr);
  }
  if (op->err.code != ENG_OK) {
    if (op->creates > 0)
      eng_error_prefix(&op->err,
                       "the outcome of an earlier create request is unknown (%s) and the lookup "
                       "that would settle it failed, so the next attempt looks up again before "
                       "creating",
                       eng_strerror(op->saved_err.code));
    metal_op_finish(op);
    return;
  }
  const struct metal_sshkey *best = NULL;
  size_t matches = 0;
  for (size_t i = 0; i < op->sshkeys.n; i++) {
    const struct metal_sshkey *k = &op->sshkeys.items[i];
    if (strcmp(k->label, op->label) != 0)
      continue;
    matches++;
    if (!best || strcmp(k->created_at, best->created_at) < 0 ||
        (strcmp(k->created_at, best->created_at) == 0 && strcmp(k->id, best->id) < 0))
      best = k;
  }
  if (best) {
    metal_sshkey_decode(best->raw, &op->sshkey, NULL);
    op->res.sshkey = &op->sshkey;
    op->res.adopted = true;
    op->res.duplicates = matches - 1;
    op->res.key_differs = !metal_sshkey_same(best->key, op->pubkey);
    metal_sshkey_list_free_items(&op->sshkeys);
    metal_op_finish(op);
    return;
  }
  metal_sshkey_list_free_items(&op->sshkeys);
  if (op->creates >= op->c->max_create_attempts) {
    op->err = op->saved_err;
    metal_op_finish(op);
    return;
  }
  op->creates++;
  char *path = keys_path(op->c);
  metal_op_send(op, "POST", path, key_body(op->label, op->pubkey), false, ensure_create_step);
  free(path);
}

static void ensure_lookup(struct metal_op *op) {
  char *path = keys_query_path(op->c, op->label);
  metal_op_list(op, path, "ssh_keys", ensure_lookup_done);
  free(path);
}

struct metal_op *metal_sshkey_ensure(struct metal_client *c, const char *label, const char *key,
                                     metal_done_fn cb, void *ud) {
  char *what = xasprintf("creating project SSH key %s", empty(label) ? "(no label)" : label);
  struct metal_op *op = metal_op_new(c, what, cb, ud);
  free(what);
  if (!check_args(op, label, key))
    return op;
  op->label = xstrdup(label);
  op->pubkey = xstrdup(key);
  ensure_lookup(op);
  return op;
}
