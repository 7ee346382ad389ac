/*
 * exec_nodenet.c - the metal.node-network executor action (see exec_nodenet.h).
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/act/exec_nodenet.h"
#include "engine/act/exec_inflight.h"
#include "engine/base/b64.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"
#include "engine/kube/kubeconfig.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "providers/equinix-metal/controllers/infrastructure.h"
#include "providers/equinix-metal/controllers/worker.h"
#include "providers/equinix-metal/metal_creds.h"

#include <ev.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const struct kube_resource res_node = {"", "v1", "nodes", "Node", false};

struct exec_nodenet {
  struct ev_loop *loop;
  struct kube_client *seed;
  struct metal_creds *creds;
  struct exec_inflight_list jobs;
  /* Shoot clients of finished jobs: freed from the loop, never inside their own callbacks. */
  struct kube_client **dead;
  size_t ndead;
  ev_timer reap;
};

struct njob {
  struct exec_nodenet *x;
  struct exec_inflight fl;
  struct action a;
  bool count;                /* shoot.nodes.count: only count the Nodes */
  size_t secret_i;           /* the kubeconfig Secret being read */
  struct kube_client *shoot; /* NULL until the kubeconfig is read */
  struct kube_call *kc;      /* the call in flight ... */
  struct kube_client *kc_on; /* ... and its client */
  struct metal_creds_req *cr;
  struct metal_client *mc;
  struct metal_op *op;
  json_t *nodes; /* the shoot's Nodes (list items) */
  size_t next;   /* the Node being looked at */
  char *cidrs;   /* the node networks seen, joined by ","; NULL when none */
  int annotated;
};

char *metal_device_id_from_provider_id(const char *pid) {
  if (!pid)
    return xstrdup("");
  const char *sep = strstr(pid, "://");
  if (!sep)
    return xstrdup(pid);
  if (strstr(sep + 3, "://"))
    return NULL;
  size_t sl = (size_t)(sep - pid);
  if ((sl == 12 && !strncmp(pid, "equinixmetal", 12)) || (sl == 6 && !strncmp(pid, "packet", 6)))
    return xstrdup(sep + 3);
  return xstrdup("");
}

/* ---- bookkeeping ---------------------------------------------------------------------------- */

static void reap_cb(EV_P_ ev_timer *w, int revents) {
  (void)revents;
  struct exec_nodenet *x = w->data;
  ev_timer_stop(EV_A_ w);
  for (size_t i = 0; i < x->ndead; i++)
    kube_client_free(x->dead[i]);
  free(x->dead);
  x->dead = NULL;
  x->ndead = 0;
}

static void job_free(struct njob *j) {
  struct exec_nodenet *x = j->x;
  if (j->shoot) {
    x->dead = xrealloc(x->dead, (x->ndead + 1) * sizeof(*x->dead));
    x->dead[x->ndead++] = j->shoot;
    if (!ev_is_active(&x->reap)) {
      ev_timer_set(&x->reap, 0., 0.);
      ev_timer_start(x->loop, &x->reap);
    }
  }
  action_release(&j->a);
  json_decref(j->nodes);
  free(j->cidrs);
  free(j);
}

static void fail(struct njob *j, enum eng_err code, bool retryable, const char *fmt, ...)
    PRINTF_LIKE(4, 5);
static void fail(struct njob *j, enum eng_err code, bool retryable, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  exec_inflight_vfail(&j->fl, code, retryable, fmt, ap);
  va_end(ap);
  job_free(j);
}

static const char *ns_of(const struct njob *j) { return j->a.ns ? j->a.ns : ""; }

/* ---- 3. the Infrastructure, and the outcome ------------------------------------------------ */

/* Add a node network to the list ("a,b"; metal_joined_networks() sorts and dedups it). */
static void add_cidr(struct njob *j, const char *cidr) {
  char *old = j->cidrs;
  j->cidrs = old ? xasprintf("%s,%s", old, cidr) : xstrdup(cidr);
  free(old);
}

static void got_infra(void *ud, const struct kube_result *res) {
  struct njob *j = ud;
  j->kc = NULL;
  const char *infra = jsonx_str(j->a.params, "infrastructure");
  /* No Infrastructure (Gardener always makes one; a bare test seed may not): nothing to report
   * the node networks to, which is no reason to fail the Worker. */
  bool found = res->err == ENG_OK;
  if (res->err != ENG_OK && res->err != ENG_NOTFOUND) {
    fail(j, res->err, true, "failed to get %s infrastructure: %s", infra, res->error.msg);
    return;
  }
  char *cidr = metal_joined_networks(j->cidrs ? j->cidrs : "");
  const char *cur = found ? jsonx_str(res->body, "status.nodesCIDR") : NULL;
  json_t *out = json_pack("{s:s,s:I,s:i,s:b,s:o}", "nodesCIDR", cidr, "nodes",
                          (json_int_t)json_array_size(j->nodes), "annotated", j->annotated,
                          "infrastructureFound", found, "infrastructureNodesCIDR",
                          cur ? json_string(cur) : json_null());
  free(cidr);
  exec_inflight_ok(&j->fl, out);
  json_decref(out);
  job_free(j);
}

static void read_infra(struct njob *j) {
  j->kc_on = j->x->seed;
  j->kc = kube_get(j->x->seed, &kube_res_gardener_infrastructure, ns_of(j),
                   jsonx_str(j->a.params, "infrastructure"), got_infra, j);
}

/* ---- 2. the Nodes ---------------------------------------------------------------------------- */

static void next_node(struct njob *j);

static const char *node_name(const json_t *n) {
  const char *s = jsonx_str(n, "metadata.name");
  return s ? s : "";
}

static void patched(void *ud, const struct kube_result *res) {
  struct njob *j = ud;
  j->kc = NULL;
  const json_t *n = json_array_get(j->nodes, j->next);
  if (res->err != ENG_OK) {
    fail(j, res->err, true, "unable to patch node %s with private network cidr: %s", node_name(n),
         res->error.msg);
    return;
  }
  j->annotated++;
  j->next++;
  next_node(j);
}

static void got_device(void *ud, const struct metal_result *r) {
  struct njob *j = ud;
  j->op = NULL;
  const json_t *n = json_array_get(j->nodes, j->next);
  if (r->code != ENG_OK) {
    fail(j, r->code, true, "error getting private network from Equinix Metal API for %s: %s",
         node_name(n), r->err->msg);
    return;
  }
  const struct metal_ip *ip = NULL;
  for (size_t i = 0; i < r->device->nips && !ip; i++) {
    const struct metal_ip *p = &r->device->ips[i];
    if (!p->public_ip && p->management && p->address_family == 4)
      ip = p;
  }
  if (!ip) { /* no private network: nothing to annotate */
    j->next++;
    next_node(j);
    return;
  }
  if (!ip->parent_network || !*ip->parent_network || ip->parent_cidr <= 0) {
    fail(j, ENG_PROTOCOL, true,
         "error getting private network from Equinix Metal API for %s: no network information "
         "provided for private address %s",
         node_name(n), ip->address ? ip->address : "");
    return;
  }
  char *cidr = xasprintf("%s/%d", ip->parent_network, ip->parent_cidr);
  add_cidr(j, cidr);
  json_t *patch =
      json_pack("{s:{s:{s:s}}}", "metadata", "annotations", METAL_ANNOTATION_NETWORK_PRIVATE, cidr);
  free(cidr);
  j->kc_on = j->shoot;
  j->kc = kube_patch(j->shoot, &res_node, NULL, node_name(n), KUBE_PATCH_MERGE, patch, patched, j);
  json_decref(patch);
}

static void read_device(struct njob *j) {
  const json_t *n = json_array_get(j->nodes, j->next);
  char *id = metal_device_id_from_provider_id(jsonx_str(n, "spec.providerID"));
  j->op = metal_device_get(j->mc, id, got_device, j);
  free(id);
}

static void with_client(void *ud, const struct metal_creds_result *r) {
  struct njob *j = ud;
  j->cr = NULL;
  if (!r->mc) {
    struct eng_error err = *r->err;
    exec_inflight_fail(&j->fl, &err, r->gardener_code, r->retryable);
    job_free(j);
    return;
  }
  j->mc = r->mc;
  read_device(j);
}

static void next_node(struct njob *j) {
  for (; j->next < json_array_size(j->nodes); j->next++) {
    const json_t *n = json_array_get(j->nodes, j->next);
    /* Not jsonx_str(): the annotation's name has dots. */
    const char *have = json_string_value(
        json_object_get(jsonx_path(n, "metadata.annotations"), METAL_ANNOTATION_NETWORK_PRIVATE));
    if (have) {
      if (*have)
        add_cidr(j, have);
      continue;
    }
    const char *pid = jsonx_str(n, "spec.providerID");
    char *id = metal_device_id_from_provider_id(pid);
    if (!id) {
      fail(j, ENG_CONFIG, true,
           "node %s has spec.providerID %s with more than one \"://\": it names no Equinix Metal "
           "device",
           node_name(n), pid);
      return;
    }
    bool ours = *id != '\0';
    free(id);
    if (!ours)
      continue;
    if (j->mc) {
      read_device(j);
      return;
    }
    /* with_client() may run (and go on) before metal_creds_get() returns. */
    struct metal_creds_req *cr =
        metal_creds_get(j->x->creds, jsonx_str(j->a.params, "secretRef.namespace"),
                        jsonx_str(j->a.params, "secretRef.name"), with_client, j);
    if (cr)
      j->cr = cr;
    return;
  }
  read_infra(j);
}

/* ---- shoot.nodes.count ------------------------------------------------------------------------
 */

#define ANNOTATION_NOT_MANAGED_BY_MCM "node.machine.sapcloud.io/not-managed-by-mcm"

static void count_nodes(struct njob *j, const json_t *items) {
  json_int_t managed = 0, ready = 0, unmanaged = 0;
  size_t i, k;
  json_t *n, *c;
  json_array_foreach(items, i, n) {
    const char *flag = json_string_value(
        json_object_get(jsonx_path(n, "metadata.annotations"), ANNOTATION_NOT_MANAGED_BY_MCM));
    if (flag && !strcmp(flag, "1")) {
      unmanaged++;
      continue;
    }
    managed++;
    if (jsonx_bool(n, "spec.unschedulable", false))
      continue;
    json_array_foreach(jsonx_path(n, "status.conditions"), k, c) {
      const char *type = jsonx_str(c, "type"), *st = jsonx_str(c, "status");
      if (type && st && !strcmp(type, "Ready") && !strcmp(st, "True")) {
        ready++;
        break;
      }
    }
  }
  json_t *out = json_pack("{s:I,s:I,s:I,s:I}", "nodes", (json_int_t)json_array_size(items),
                          "registered", managed, "ready", ready, "notManagedByMCM", unmanaged);
  exec_inflight_ok(&j->fl, out);
  json_decref(out);
  job_free(j);
}

static int by_name(const void *a, const void *b) {
  return strcmp(node_name(*(json_t *const *)a), node_name(*(json_t *const *)b));
}

static void listed(void *ud, const struct kube_result *res) {
  struct njob *j = ud;
  j->kc = NULL;
  if (res->err != ENG_OK) {
    fail(j, res->err, true, "%s: %s",
         j->count ? METAL_NODES_CHECK_FAILED " Failed to list shoot nodes"
                  : "failed to get shoot nodes",
         res->error.msg);
    return;
  }
  if (j->count) {
    count_nodes(j, json_object_get(res->body, "items"));
    return;
  }
  /* By name, so that the same Nodes are always handled in the same order. */
  json_t *items = json_object_get(res->body, "items");
  size_t n = json_array_size(items);
  json_t **v = xcalloc(n + 1, sizeof(*v));
  for (size_t i = 0; i < n; i++)
    v[i] = json_array_get(items, i);
  qsort(v, n, sizeof(*v), by_name);
  j->nodes = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append(j->nodes, v[i]);
  free(v);
  next_node(j);
}

/* ---- 1. the shoot's kubeconfig ----------------------------------------------------------------
 */

static void read_secret(struct njob *j);

static void got_secret(void *ud, const struct kube_result *res) {
  struct njob *j = ud;
  j->kc = NULL;
  const json_t *names = json_object_get(j->a.params, "kubeconfigSecrets");
  const char *name = json_string_value(json_array_get(names, j->secret_i));
  if (res->err == ENG_NOTFOUND && j->secret_i + 1 < json_array_size(names)) {
    j->secret_i++;
    read_secret(j);
    return;
  }
  if (res->err != ENG_OK) {
    fail(j, res->err, true,
         "could not read the shoot's kubeconfig from Secret %s/%s (gardenlet writes it once the "
         "shoot's kube-apiserver runs): %s",
         ns_of(j), name, res->error.msg);
    return;
  }
  const char *v = jsonx_str(json_object_get(res->body, "data"), "kubeconfig");
  unsigned char *raw = NULL;
  size_t len = 0;
  if (!v || !*v || b64_decode(v, strlen(v), &raw, &len) != ENG_OK) {
    fail(j, ENG_CONFIG, true,
         "Secret %s/%s has no base64 key \"kubeconfig\": the shoot's kube-apiserver cannot be "
         "reached to %s its nodes",
         ns_of(j), name, j->count ? "check" : "annotate");
    return;
  }
  struct kube_config cfg;
  kube_config_init(&cfg);
  struct eng_error err;
  char *what = xasprintf("of Secret %s/%s", ns_of(j), name);
  enum eng_err rc = kube_config_parse((const char *)raw, len, what, NULL, NULL, &cfg, &err);
  free(what);
  xfree_secret((char *)raw);
  if (rc != ENG_OK) {
    kube_config_free(&cfg);
    fail(j, ENG_CONFIG, true, "the shoot's kubeconfig cannot be used: %s", err.msg);
    return;
  }
  j->shoot = kube_client_new(j->x->loop, &cfg, NULL);
  kube_config_free(&cfg);
  kube_client_set_max_retries(j->shoot, 3);
  j->kc_on = j->shoot;
  j->kc = kube_list(j->shoot, &res_node, NULL, NULL, listed, j);
}

static void read_secret(struct njob *j) {
  const json_t *names = json_object_get(j->a.params, "kubeconfigSecrets");
  j->kc_on = j->x->seed;
  j->kc = kube_get(j->x->seed, &kube_res_secret, ns_of(j),
                   json_string_value(json_array_get(names, j->secret_i)), got_secret, j);
}

static struct njob *job_new(struct exec_nodenet *x, struct exec_call *call,
                            const struct action *a) {
  struct njob *j = xcalloc(1, sizeof(*j));
  j->x = x;
  exec_inflight_link(&x->jobs, &j->fl, call, j);
  action_copy(&j->a, a);
  return j;
}

static bool names_ok(const struct action *a) {
  const json_t *names = json_object_get(a->params, "kubeconfigSecrets");
  bool ok = json_array_size(names) > 0;
  size_t i;
  json_t *v;
  json_array_foreach(names, i, v) ok = ok && json_is_string(v);
  return ok;
}

static void start(void *ud, struct exec_call *call, const struct action *a, bool resolving) {
  (void)resolving; /* every step reads before it writes, and annotations are idempotent */
  struct njob *j = job_new(ud, call, a);
  if (!names_ok(a) || !jsonx_str(a->params, "secretRef.name") ||
      !jsonx_str(a->params, "infrastructure")) {
    fail(j, ENG_INTERNAL, false,
         "the action needs kubeconfigSecrets, secretRef.name and infrastructure");
    return;
  }
  read_secret(j);
}

static void start_count(void *ud, struct exec_call *call, const struct action *a, bool resolving) {
  (void)resolving; /* only reads */
  struct njob *j = job_new(ud, call, a);
  j->count = true;
  if (!names_ok(a)) {
    fail(j, ENG_INTERNAL, false, "the action needs kubeconfigSecrets");
    return;
  }
  read_secret(j);
}

struct exec_nodenet *exec_nodenet_new(struct ev_loop *loop, struct kube_client *seed,
                                      struct metal_creds *creds) {
  struct exec_nodenet *x = xcalloc(1, sizeof(*x));
  x->loop = loop;
  x->seed = seed;
  x->creds = creds;
  ev_timer_init(&x->reap, reap_cb, 0., 0.);
  x->reap.data = x;
  return x;
}

void exec_nodenet_register(struct exec_nodenet *x, struct executor *ex) {
  executor_handle(ex, "metal.node-network", start, x);
  executor_handle(ex, "shoot.nodes.count", start_count, x);
}

void exec_nodenet_free(struct exec_nodenet *x) {
  if (!x)
    return;
  struct njob *j;
  while ((j = exec_inflight_pop(&x->jobs))) {
    if (j->kc)
      kube_cancel(j->kc_on, j->kc);
    if (j->cr)
      metal_creds_cancel(x->creds, j->cr);
    if (j->op)
      metal_op_cancel(j->op);
    job_free(j);
  }
  ev_timer_stop(x->loop, &x->reap);
  for (size_t i = 0; i < x->ndead; i++)
    kube_client_free(x->dead[i]);
  free(x->dead);
  free(x);
}
