/*
 * exec_machine.c - executor handlers of the machine controller: bootstrap
 * tokens, Nodes and drains in the shoot, devices in Equinix Metal.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/act/exec_machine.h"
#include "engine/act/exec_inflight.h"
#include "engine/base/b64.h"
#include "engine/base/buf.h"
#include "engine/base/clock.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "engine/base/sha256.h"
#include "engine/base/timefmt.h"
#include "engine/base/xalloc.h"
#include "engine/kube/client.h"
#include "engine/kube/informer.h"
#include "engine/net/http.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "providers/equinix-metal/metal_creds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const struct kube_resource res_pod = {"", "v1", "pods", "Pod", true};
static const struct kube_resource res_node = {"", "v1", "nodes", "Node", false};

struct exec_machine {
  struct exec_machine_opts o;
  struct exec_inflight_list jobs;
};

enum job_kind {
  J_TOKEN_ENSURE,
  J_TOKEN_DELETE,
  J_NODE_PATCH,
  J_NODE_DELETE,
  J_DRAIN,
  J_DEV_CREATE,
  J_DEV_DELETE
};

struct pod_call {
  struct job *j;
  size_t idx;
};

struct job {
  struct exec_machine *m;
  struct exec_inflight fl;
  enum job_kind kind;
  struct action a;
  struct kube_call *kc;    /* one kube call in flight (drain: several, see pods) */
  struct kube_call **pods; /* drain: evictions in flight */
  struct pod_call *pcs;
  size_t npods, pods_left;
  int evicted, deleted, blocked, errors;
  char *first_error;
  struct metal_client *mc;
  struct metal_op *op;
  struct metal_creds_req *cr;
  char *userdata; /* create: the substituted userdata (freed as soon as sent) */
  size_t next_reservation;
  char **ids; /* delete: device ids to delete */
  size_t nids, next_id;
  int devices_deleted;
  bool gone;
};

/* ---- bookkeeping ---------------------------------------------------------------------------- */

static void job_free(struct job *j) {
  action_release(&j->a);
  free(j->pods);
  free(j->pcs);
  free(j->first_error);
  if (j->userdata) {
    memset(j->userdata, 0, strlen(j->userdata));
    free(j->userdata);
  }
  for (size_t i = 0; i < j->nids; i++)
    free(j->ids[i]);
  free(j->ids);
  free(j);
}

static void finish_ok(struct job *j, json_t *out_own) {
  exec_inflight_ok(&j->fl, out_own);
  json_decref(out_own);
  job_free(j);
}

static void finish_err(struct job *j, const struct eng_error *err, const char *code,
                       bool retryable) {
  exec_inflight_fail(&j->fl, err, code, retryable);
  job_free(j);
}

static void finish_kube_err(struct job *j, const struct kube_result *r) {
  exec_inflight_kube_fail(&j->fl, r);
  job_free(j);
}

static void finish_msg(struct job *j, enum eng_err code, const char *gcode, bool retryable,
                       const char *fmt, const char *arg) {
  struct eng_error err;
  eng_error_clear(&err);
  eng_error_set(&err, code, fmt, arg ? arg : "");
  finish_err(j, &err, gcode, retryable);
}

/* ---- userdata ----------------------------------------------------------------------------------
 */

static char *replace_all(const char *s, const char *what, const char *with) {
  struct buf b;
  buf_init(&b, BUF_MAX_HTTP_BODY);
  size_t wl = strlen(what);
  for (const char *p = s;;) {
    const char *hit = strstr(p, what);
    if (!hit) {
      if (buf_appends(&b, p))
        abort(); /* userdata is far below the cap */
      break;
    }
    if (buf_append(&b, p, (size_t)(hit - p)) || buf_appends(&b, with))
      abort();
    p = hit + wl;
  }
  char *out = xstrdup(b.data ? b.data : "");
  if (b.data)
    memset(b.data, 0, b.len);
  buf_release(&b);
  return out;
}

static char *substitute(const char *s, const char *plain, const char *escaped, const char *value) {
  if (strstr(s, plain))
    return replace_all(s, plain, value);
  if (strstr(s, escaped)) {
    char *e = http_escape(value);
    char *out = replace_all(s, escaped, e);
    free(e);
    return out;
  }
  return xstrdup(s);
}

char *exec_machine_userdata(const char *tmpl, const char *token, const char *machine) {
  char *a = substitute(tmpl, "<<BOOTSTRAP_TOKEN>>", "%3C%3CBOOTSTRAP_TOKEN%3E%3E", token);
  char *b = substitute(a, "<<MACHINE_NAME>>", "%3C%3CMACHINE_NAME%3E%3E", machine);
  memset(a, 0, strlen(a));
  free(a);
  return b;
}

static char *secret_value(const json_t *secret, const char *key) {
  const char *v = json_string_value(json_object_get(json_object_get(secret, "data"), key));
  if (!v)
    return NULL;
  unsigned char *raw = NULL;
  size_t len = 0;
  if (b64_decode(v, strlen(v), &raw, &len) != ENG_OK)
    return NULL;
  char *s = xmalloc(len + 1);
  memcpy(s, raw, len);
  s[len] = 0;
  memset(raw, 0, len);
  free(raw);
  return s;
}

/* ---- bootstrap tokens ---------------------------------------------------------------------------
 */

static void token_created(void *ud, const struct kube_result *r) {
  struct job *j = ud;
  j->kc = NULL;
  if (r->err == ENG_OK || r->status == 409) {
    finish_ok(j, json_pack("{s:s,s:b}", "secret", j->a.name, "created", r->err == ENG_OK));
    return;
  }
  finish_kube_err(j, r);
}

static void token_got(void *ud, const struct kube_result *r) {
  struct job *j = ud;
  j->kc = NULL;
  if (r->err == ENG_OK) {
    finish_ok(j, json_pack("{s:s,s:b}", "secret", j->a.name, "created", false));
    return;
  }
  if (r->err != ENG_NOTFOUND) {
    finish_kube_err(j, r);
    return;
  }
  /* 16 characters of [0-9a-z], like MCM's token secret. */
  static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  unsigned char rnd[16];
  if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
    finish_msg(j, ENG_IO, NULL, true, "%s", "cannot read random bytes for the bootstrap token");
    return;
  }
  char secret[17];
  for (size_t i = 0; i < 16; i++)
    secret[i] = alphabet[rnd[i] % 36];
  secret[16] = 0;
  char exp[TIMEFMT_LEN];
  timefmt_rfc3339(clock_now_ms() + jsonx_int(j->a.params, "expirySeconds", 1200) * 1000, exp);
  const char *machine = jsonx_str(j->a.params, "machine");
  char *desc =
      xasprintf("A bootstrap token for machine \"%s\" generated by MachineControllerManager.",
                machine ? machine : "");
  json_t *obj = json_pack(
      "{s:s,s:s,s:{s:s,s:s},s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s}}", "apiVersion", "v1", "kind",
      "Secret", "metadata", "name", j->a.name, "namespace", "kube-system", "type",
      "bootstrap.kubernetes.io/token", "stringData", "token-id",
      jsonx_str(j->a.params, "tokenID") ? jsonx_str(j->a.params, "tokenID") : "", "token-secret",
      secret, "expiration", exp, "usage-bootstrap-authentication", "true",
      "usage-bootstrap-signing", "true", "auth-extra-groups",
      jsonx_str(j->a.params, "authExtraGroups") ? jsonx_str(j->a.params, "authExtraGroups") : "",
      "description", desc);
  free(desc);
  memset(secret, 0, sizeof(secret));
  j->kc = kube_create(j->m->o.shoot, &kube_res_secret, "kube-system", obj, token_created, j);
  json_t *sd = json_object_get(obj, "stringData");
  json_object_set_new(sd, "token-secret", json_string(""));
  json_decref(obj);
}

/* ---- simple shoot writes ------------------------------------------------------------------------
 */

static void gone_ok(void *ud, const struct kube_result *r) {
  struct job *j = ud;
  j->kc = NULL;
  if (r->err == ENG_OK || r->err == ENG_NOTFOUND) {
    finish_ok(j, json_pack("{s:b}", "gone", r->err == ENG_NOTFOUND || j->kind != J_NODE_PATCH));
    return;
  }
  finish_kube_err(j, r);
}

/* ---- drain --------------------------------------------------------------------------------------
 */

static void drain_finish(struct job *j) {
  bool done = j->blocked == 0 && j->errors == 0;
  json_t *out =
      json_pack("{s:b,s:i,s:i,s:i,s:i,s:i}", "done", done, "pods", (int)j->npods, "evicted",
                j->evicted, "deleted", j->deleted, "blocked", j->blocked, "errors", j->errors);
  if (j->first_error)
    json_object_set_new(out, "firstError", json_string(j->first_error));
  finish_ok(j, out);
}

static void pod_done(void *ud, const struct kube_result *r) {
  struct pod_call *pc = ud;
  struct job *j = pc->j;
  j->pods[pc->idx] = NULL;
  bool force = jsonx_bool(j->a.params, "force", false);
  if (r->err == ENG_OK || r->err == ENG_NOTFOUND) {
    if (force)
      j->deleted++;
    else
      j->evicted++;
  } else if (r->status == 429) {
    j->blocked++;
  } else {
    j->errors++;
    if (!j->first_error)
      j->first_error = xstrdup(r->error.msg);
  }
  if (--j->pods_left == 0)
    drain_finish(j);
}

static bool skip_pod(const json_t *pod) {
  size_t i;
  json_t *o;
  json_array_foreach(jsonx_path(pod, "metadata.ownerReferences"), i, o) {
    const char *k = jsonx_str(o, "kind");
    if (k && !strcmp(k, "DaemonSet") && jsonx_bool(o, "controller", false))
      return true;
  }
  json_t *ann = jsonx_path(pod, "metadata.annotations");
  return json_object_get(ann, "kubernetes.io/config.mirror") != NULL;
}

static void pods_listed(void *ud, const struct kube_result *r) {
  struct job *j = ud;
  j->kc = NULL;
  if (r->err != ENG_OK) {
    finish_kube_err(j, r);
    return;
  }
  json_t *items = json_object_get(r->body, "items");
  size_t n = json_array_size(items);
  j->pods = xcalloc(n ? n : 1, sizeof(*j->pods));
  j->pcs = xcalloc(n ? n : 1, sizeof(*j->pcs));
  bool force = jsonx_bool(j->a.params, "force", false);
  size_t started = 0;
  /* Count first, so that a synchronous answer cannot finish the job early. */
  size_t want = 0;
  for (size_t i = 0; i < n; i++)
    if (!skip_pod(json_array_get(items, i)))
      want++;
  j->npods = want;
  j->pods_left = want;
  if (want == 0) {
    drain_finish(j);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *pod = json_array_get(items, i);
    if (skip_pod(pod))
      continue;
    const char *pns = jsonx_str(pod, "metadata.namespace");
    const char *pname = jsonx_str(pod, "metadata.name");
    struct pod_call *pc = &j->pcs[started];
    pc->j = j;
    pc->idx = started++;
    if (force) {
      char *path = kube_resource_path(&res_pod, pns, pname, NULL);
      json_t *body = json_pack("{s:s,s:s,s:i}", "apiVersion", "v1", "kind", "DeleteOptions",
                               "gracePeriodSeconds", 0);
      struct kube_request rq = {"DELETE", path, NULL, NULL, body, "delete pod"};
      j->pods[pc->idx] = kube_request(j->m->o.shoot, &rq, pod_done, pc);
      json_decref(body);
      free(path);
    } else {
      char *base = kube_resource_path(&res_pod, pns, pname, NULL);
      char *path = xasprintf("%s/eviction", base);
      json_t *body = json_pack("{s:s,s:s,s:{s:s,s:s}}", "apiVersion", "policy/v1", "kind",
                               "Eviction", "metadata", "name", pname, "namespace", pns);
      struct kube_request rq = {"POST", path, NULL, NULL, body, "evict pod"};
      j->pods[pc->idx] = kube_request(j->m->o.shoot, &rq, pod_done, pc);
      json_decref(body);
      free(path);
      free(base);
    }
  }
}

static void cordoned(void *ud, const struct kube_result *r) {
  struct job *j = ud;
  j->kc = NULL;
  if (r->err == ENG_NOTFOUND) {
    finish_ok(j, json_pack("{s:b,s:b,s:i}", "done", true, "nodeGone", true, "pods", 0));
    return;
  }
  if (r->err != ENG_OK) {
    finish_kube_err(j, r);
    return;
  }
  char *fs = xasprintf("spec.nodeName=%s", j->a.name);
  struct kube_list_opts lo = {0};
  lo.field_selector = fs;
  j->kc = kube_list(j->m->o.shoot, &res_pod, NULL, &lo, pods_listed, j);
  free(fs);
}

/* ---- devices
 * ---------------------------------------------------------------------------------------- */

static void create_try(struct job *j);

static json_t *str_array(const json_t *a, const char ***out, size_t *n) {
  *n = json_array_size(a);
  *out = xcalloc(*n ? *n : 1, sizeof(**out));
  for (size_t i = 0; i < *n; i++)
    (*out)[i] = json_string_value(json_array_get(a, i));
  return NULL;
}

static void created(void *ud, const struct metal_result *r) {
  struct job *j = ud;
  j->op = NULL;
  json_t *resv = json_object_get(j->a.params, "reservationIDs");
  size_t nres = json_array_size(resv);
  if (r->code) {
    /* A hardware reservation that cannot be used: the next one, then on demand. */
    if (j->next_reservation < nres && (r->code == ENG_CONFIG || r->code == ENG_DEPLETED ||
                                       r->code == ENG_INVALID || r->code == ENG_NOTFOUND)) {
      log_info("hardware reservation not usable; trying the next", "machine", j->a.name,
               "reservation", json_string_value(json_array_get(resv, j->next_reservation)), "error",
               r->err->msg, NULL);
      j->next_reservation++;
      if (j->next_reservation == nres && jsonx_bool(j->a.params, "reservedDevicesOnly", false)) {
        finish_msg(j, ENG_DEPLETED, "ERR_INFRA_RESOURCES_DEPLETED", false, "%s",
                   "could not get a device with the provided reservation IDs, and reservedOnly "
                   "is true");
        return;
      }
      create_try(j);
      return;
    }
    finish_err(j, r->err, metal_gardener_code(r->err), metal_retryable(r->err));
    return;
  }
  const struct metal_device *d = r->device;
  char digest[SHA256_HEX_LEN + 1];
  sha256_hex(j->userdata ? j->userdata : "", j->userdata ? strlen(j->userdata) : 0, digest);
  json_t *out =
      json_pack("{s:s,s:s,s:s,s:s,s:b,s:i,s:s}", "id", d->id, "metro", d->metro ? d->metro : "",
                "state", d->state ? d->state : "", "hostname", d->hostname ? d->hostname : "",
                "adopted", r->adopted, "duplicates", (int)r->duplicates, "userDataDigest", digest);
  if (d->hardware_reservation_id && *d->hardware_reservation_id)
    json_object_set_new(out, "hardwareReservation", json_string(d->hardware_reservation_id));
  if (r->duplicates)
    log_warn("more than one device carried the machine's idempotency tag; the oldest was adopted",
             "machine", j->a.name, "device", d->id, NULL);
  finish_ok(j, out);
}

static void create_try(struct job *j) {
  const json_t *p = j->a.params;
  json_t *resv = json_object_get(p, "reservationIDs");
  struct metal_device_spec spec = {0};
  spec.idempotency_key = jsonx_str(p, "key");
  spec.hostname = jsonx_str(p, "hostname");
  spec.metro = jsonx_str(p, "metro");
  spec.plan = jsonx_str(p, "plan");
  const char *os = jsonx_str(p, "operatingSystem");
  const char *ipxe = jsonx_str(p, "ipxeScriptUrl");
  spec.ipxe_script_url = ipxe && *ipxe ? ipxe : NULL;
  spec.operating_system = spec.ipxe_script_url ? "custom_ipxe" : os;
  spec.userdata = j->userdata;
  const char **tags, **keys;
  size_t ntags, nkeys;
  str_array(json_object_get(p, "tags"), &tags, &ntags);
  str_array(json_object_get(p, "sshKeys"), &keys, &nkeys);
  spec.tags = tags;
  spec.ntags = ntags;
  spec.project_ssh_keys = keys;
  spec.nkeys = nkeys;
  const char *bc = jsonx_str(p, "billingCycle");
  spec.billing_cycle = bc && *bc ? bc : "hourly";
  if (j->next_reservation < json_array_size(resv))
    spec.hardware_reservation_id = json_string_value(json_array_get(resv, j->next_reservation));
  j->op = metal_device_ensure(j->mc, &spec, created, j);
  free(tags);
  free(keys);
}

static void token_read(void *ud, const struct kube_result *r) {
  struct job *j = ud;
  j->kc = NULL;
  if (r->err != ENG_OK) {
    if (r->err == ENG_NOTFOUND) {
      finish_msg(j, ENG_NOTFOUND, NULL, true,
                 "the bootstrap token Secret kube-system/%s is missing in the shoot",
                 jsonx_str(j->a.params, "tokenSecret"));
      return;
    }
    finish_kube_err(j, r);
    return;
  }
  char *id = secret_value(r->body, "token-id");
  char *sec = secret_value(r->body, "token-secret");
  if (!id || !sec) {
    free(id);
    free(sec);
    finish_msg(j, ENG_INVALID, NULL, true,
               "the bootstrap token Secret kube-system/%s lacks token-id or token-secret",
               jsonx_str(j->a.params, "tokenSecret"));
    return;
  }
  char *token = xasprintf("%s.%s", id, sec);
  log_register_secret(token);
  free(id);
  memset(sec, 0, strlen(sec));
  free(sec);
  /* The class Secret's userData: the watch cache, else a GET. */
  const char *cns = jsonx_str(j->a.params, "classSecretRef.namespace");
  const char *cname = jsonx_str(j->a.params, "classSecretRef.name");
  const json_t *cs =
      j->m->o.seed_secrets ? kube_informer_get(j->m->o.seed_secrets, cns, cname) : NULL;
  char *tmpl = cs ? secret_value(cs, "userData") : NULL;
  if (!tmpl) {
    memset(token, 0, strlen(token));
    free(token);
    struct eng_error err;
    eng_error_clear(&err);
    eng_error_set(&err, ENG_CONFIG,
                  "userdata field not found in secret for machine \"%s\" (Secret %s/%s, key "
                  "userData)",
                  j->a.name, cns ? cns : "", cname ? cname : "");
    finish_err(j, &err, cs ? "ERR_CONFIGURATION_PROBLEM" : NULL, true);
    return;
  }
  j->userdata = exec_machine_userdata(tmpl, token, jsonx_str(j->a.params, "machine"));
  memset(tmpl, 0, strlen(tmpl));
  free(tmpl);
  memset(token, 0, strlen(token));
  free(token);
  create_try(j);
}

static void delete_next(struct job *j);

static void device_deleted(void *ud, const struct metal_result *r) {
  struct job *j = ud;
  j->op = NULL;
  if (r->code) {
    finish_err(j, r->err, metal_gardener_code(r->err), metal_retryable(r->err));
    return;
  }
  if (!r->gone)
    j->devices_deleted++;
  delete_next(j);
}

static void delete_next(struct job *j) {
  if (j->next_id < j->nids) {
    j->op = metal_device_delete(j->mc, j->ids[j->next_id++], device_deleted, j);
    return;
  }
  const char *reason = jsonx_str(j->a.params, "reason");
  if (j->devices_deleted)
    log_info("deleted Equinix Metal device(s)", "target", j->a.name, "reason", reason ? reason : "",
             NULL);
  finish_ok(j,
            json_pack("{s:i,s:b}", "deleted", j->devices_deleted, "gone", j->devices_deleted == 0));
}

static void tagged_listed(void *ud, const struct metal_result *r) {
  struct job *j = ud;
  j->op = NULL;
  if (r->code) {
    finish_err(j, r->err, metal_gardener_code(r->err), metal_retryable(r->err));
    return;
  }
  const char *known = jsonx_str(j->a.params, "id");
  j->ids = xcalloc(r->devices->n + 1, sizeof(*j->ids));
  if (known && *known)
    j->ids[j->nids++] = xstrdup(known);
  for (size_t i = 0; i < r->devices->n; i++) {
    const struct metal_device *d = &r->devices->items[i];
    if (known && !strcmp(d->id, known))
      continue;
    if (d->state && (!strcmp(d->state, "deprovisioning") || !strcmp(d->state, "deleted")))
      continue;
    j->ids[j->nids++] = xstrdup(d->id);
  }
  delete_next(j);
}

static void with_client(void *ud, const struct metal_creds_result *r) {
  struct job *j = ud;
  j->cr = NULL;
  if (!r->mc) {
    finish_err(j, r->err, r->gardener_code, r->retryable);
    return;
  }
  j->mc = r->mc;
  if (j->kind == J_DEV_CREATE) {
    j->kc = kube_get(j->m->o.shoot, &kube_res_secret, "kube-system",
                     jsonx_str(j->a.params, "tokenSecret"), token_read, j);
    return;
  }
  const char *key = jsonx_str(j->a.params, "key");
  if (key && *key) {
    j->op = metal_device_find(j->mc, key, tagged_listed, j);
    return;
  }
  const char *id = jsonx_str(j->a.params, "id");
  j->ids = xcalloc(1, sizeof(*j->ids));
  if (id && *id)
    j->ids[j->nids++] = xstrdup(id);
  delete_next(j);
}

/* ---- dispatch
 * ------------------------------------------------------------------------------------ */

static void start(void *ud, struct exec_call *call, const struct action *a, bool resolving) {
  (void)resolving; /* every kind looks up (tag, GET) or is idempotent */
  struct exec_machine *m = ud;
  struct job *j = xcalloc(1, sizeof(*j));
  j->m = m;
  exec_inflight_link(&m->jobs, &j->fl, call, j);
  action_copy(&j->a, a);
  const char *k = a->kind;
  j->kind = !strcmp(k, "machine.token.ensure")   ? J_TOKEN_ENSURE
            : !strcmp(k, "machine.token.delete") ? J_TOKEN_DELETE
            : !strcmp(k, "machine.node.patch")   ? J_NODE_PATCH
            : !strcmp(k, "machine.node.delete")  ? J_NODE_DELETE
            : !strcmp(k, "machine.drain")        ? J_DRAIN
            : !strcmp(k, "metal.device.create")  ? J_DEV_CREATE
                                                 : J_DEV_DELETE;
  if (!a->name || !*a->name) {
    finish_msg(j, ENG_INTERNAL, NULL, false, "%s", "the action names no object");
    return;
  }
  switch (j->kind) {
  case J_TOKEN_ENSURE:
    j->kc = kube_get(m->o.shoot, &kube_res_secret, "kube-system", a->name, token_got, j);
    return;
  case J_TOKEN_DELETE:
    j->kc = kube_delete(m->o.shoot, &kube_res_secret, "kube-system", a->name, NULL, gone_ok, j);
    return;
  case J_NODE_PATCH: {
    json_t *patch = json_object_get(a->params, "patch");
    j->kc = kube_patch(m->o.shoot, &res_node, NULL, a->name, KUBE_PATCH_MERGE, patch, gone_ok, j);
    return;
  }
  case J_NODE_DELETE:
    j->kc = kube_delete(m->o.shoot, &res_node, NULL, a->name, NULL, gone_ok, j);
    return;
  case J_DRAIN: {
    json_t *patch = json_pack("{s:{s:b}}", "spec", "unschedulable", true);
    j->kc = kube_patch(m->o.shoot, &res_node, NULL, a->name, KUBE_PATCH_MERGE, patch, cordoned, j);
    json_decref(patch);
    return;
  }
  case J_DEV_CREATE:
  case J_DEV_DELETE: {
    struct metal_creds_req *cr =
        metal_creds_get(m->o.creds, jsonx_str(a->params, "credentialsSecretRef.namespace"),
                        jsonx_str(a->params, "credentialsSecretRef.name"), with_client, j);
    if (cr)
      j->cr = cr;
    return;
  }
  }
}

struct exec_machine *exec_machine_new(const struct exec_machine_opts *o) {
  struct exec_machine *m = xcalloc(1, sizeof(*m));
  m->o = *o;
  return m;
}

void exec_machine_register(struct exec_machine *m, struct executor *x) {
  const char *kinds[] = {"machine.token.ensure", "machine.token.delete", "machine.node.patch",
                         "machine.node.delete",  "machine.drain",        "metal.device.create",
                         "metal.device.delete"};
  for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
    executor_handle(x, kinds[i], start, m);
}

void exec_machine_free(struct exec_machine *m) {
  if (!m)
    return;
  struct job *j;
  while ((j = exec_inflight_pop(&m->jobs))) {
    if (j->cr)
      metal_creds_cancel(m->o.creds, j->cr);
    if (j->op)
      metal_op_cancel(j->op);
    if (j->kc)
      kube_cancel(m->o.shoot, j->kc);
    for (size_t i = 0; i < j->npods; i++)
      if (j->pods && j->pods[i])
        kube_cancel(m->o.shoot, j->pods[i]);
    job_free(j);
  }
  free(m);
}
