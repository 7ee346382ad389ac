/*
 * worker.c - the Worker actuator (pure): from a Worker, its Cluster and the
 * machine objects of its namespace, the steps of each operation; and the wait
 * conditions of those steps. The objects themselves are built in
 * worker_objects.c.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/controllers/worker.h"
#include "engine/base/jsonx.h"
#include "engine/base/sha256.h"
#include "engine/base/timefmt.h"
#include "engine/base/xalloc.h"
#include "providers/equinix-metal/controllers/worker_int.h"
#include "providers/equinix-metal/controllers/infrastructure.h"

#include <stdlib.h>
#include <string.h>

void metal_worker_pool_hash(const char *const *items, size_t n, char out[6]) {
  struct sha256_ctx c;
  sha256_begin(&c);
  for (size_t i = 0; i < n; i++) {
    char hex[SHA256_HEX_LEN + 1];
    sha256_hex(items[i], strlen(items[i]), hex);
    sha256_update(&c, hex, strlen(hex));
  }
  uint8_t d[SHA256_LEN];
  sha256_end(&c, d);
  char hex[SHA256_HEX_LEN + 1];
  hex_encode(d, SHA256_LEN, hex);
  memcpy(out, hex, 5);
  out[5] = '\0';
}

static const char *str_or(const json_t *j, const char *path, const char *dflt) {
  const char *s = jsonx_str(j, path);
  return s ? s : dflt;
}

/* ---- steps ------------------------------------------------------------------------------ */

static void add_delete(struct ext_step_list *steps, const char *step, const char *gk,
                       const char *ns, const char *name, const char *reason) {
  ext_steps_add_to_own(steps, step, "kube.delete", gk, ns, name, json_object(), reason);
}

static void add_force_deletion_marks(const struct ext_plan_in *in, const char *ns,
                                     struct ext_step_list *steps, const char *why) {
  const char *name;
  json_t *m;
  json_object_foreach(json_object_get(in->related, MCM_GK_MACHINE), name, m) {
    const char *v = jsonx_str(jsonx_path(m, "metadata.labels"), "force-deletion");
    if (v && !strcmp(v, "True"))
      continue;
    if (jsonx_str(m, "metadata.deletionTimestamp"))
      continue;
    json_t *labels = json_object();
    json_object_set_new(labels, "force-deletion", json_string("True"));
    json_t *md = json_object();
    json_object_set_new(md, "labels", labels);
    json_t *patch = json_object();
    json_object_set_new(patch, "metadata", md);
    json_t *p = json_object();
    json_object_set_new(p, "patch", patch);
    char *step = xasprintf("mark-force-deletion-%s", name);
    char *reason = xasprintf("label Machine %s force-deletion=True (%s)", name, why);
    ext_steps_add_to_own(steps, step, "kube.patch", MCM_GK_MACHINE, ns, name, p, reason);
    free(step);
    free(reason);
  }
}

static bool in_array(const json_t *arr, const char *s) {
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) {
    if (json_is_string(v) && !strcmp(json_string_value(v), s))
      return true;
  }
  return false;
}

static json_t *wait_params(const char *check, const char *timeout_message) {
  json_t *p = json_object();
  json_object_set_new(p, "check", json_string(check));
  json_object_set_new(p, "timeoutMessage", json_string(timeout_message));
  return p;
}

#define STEP_NODE_NETWORK     "node-network"
#define STEP_NODES_CIDR       "infrastructure-nodes-cidr"
#define STEP_VPN_NODE_NETWORK "vpn-seed-server-node-network"
#define VPN_SEED_SERVER       "vpn-seed-server"

static void add_node_network_steps(const struct ext_plan_in *in, const char *ns,
                                   struct ext_step_list *steps) {
  /* The Infrastructure of the shoot is named like its Worker (both after the shoot). */
  const char *infra = str_or(in->obj, "metadata.name", "");
  json_t *p = json_pack("{s:{s:s,s:s},s:[s,s],s:s}", "secretRef", "namespace",
                        str_or(in->obj, "spec.secretRef.namespace", ns), "name",
                        str_or(in->obj, "spec.secretRef.name", ""), "kubeconfigSecrets",
                        "gardener-internal", "gardener", "infrastructure", infra);
  ext_steps_add_own(steps, STEP_NODE_NETWORK, "metal.node-network", p,
                    "annotate the shoot's Nodes with their private network "
                    "(" METAL_ANNOTATION_NETWORK_PRIVATE ") and collect the node networks");
  char *reason =
      xasprintf("report the node networks as status.nodesCIDR of Infrastructure %s", infra);
  ext_steps_add_to_own(steps, STEP_NODES_CIDR, "kube.status",
                       "extensions.gardener.cloud/Infrastructure", ns, infra, json_object(),
                       reason);
  free(reason);
  json_t *e = json_pack("{s:s,s:{s:s,s:s},s:[s]}", "container", VPN_SEED_SERVER, "env", "name",
                        "NODE_NETWORK", "value", "", "fallbackKinds", "apps/StatefulSet");
  ext_steps_add_to_own(steps, STEP_VPN_NODE_NETWORK, "kube.env.ensure", "apps/Deployment", ns,
                       VPN_SEED_SERVER, e,
                       "set NODE_NETWORK of the vpn-seed-server (Deployment, or StatefulSet when "
                       "highly available) to the node networks");
}

/*
 * One object of status.state to restore: the MachineSet or Machine as gardenlet stored it (name,
 * labels, annotations, spec) in the Worker's namespace, created unless it exists.
 */
static enum eng_err add_restore_object(const char *ns, const char *md, const char *list, size_t i,
                                       const json_t *o, json_t *seen, struct ext_step_list *steps,
                                       struct eng_error *err) {
  bool set = !strcmp(list, "machineSets");
  const char *name = jsonx_str(o, "metadata.name");
  const json_t *labels = jsonx_path(o, "metadata.labels"),
               *annotations = jsonx_path(o, "metadata.annotations"),
               *spec = json_object_get(o, "spec");
  if (!json_is_object(o) || !name || !*name || (labels && !json_is_object(labels)) ||
      (annotations && !json_is_object(annotations)) || (spec && !json_is_object(spec)))
    return eng_error_set(err, ENG_CONFIG,
                         "status.state.machineDeployments[%s].%s[%zu]: Invalid value: must be a "
                         "%s with metadata.name and object labels, annotations and spec",
                         md, list, i, set ? "MachineSet" : "Machine");
  char *step = xasprintf("restore-%s-%s", set ? "machine-set" : "machine", name);
  if (json_object_get(seen, step)) { /* listed twice: one create is enough */
    free(step);
    return ENG_OK;
  }
  json_object_set_new(seen, step, json_true());
  json_t *meta = json_pack("{s:s,s:s}", "name", name, "namespace", ns);
  if (labels)
    json_object_set(meta, "labels", (json_t *)labels);
  if (annotations)
    json_object_set(meta, "annotations", (json_t *)annotations);
  json_t *obj = json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", MCM_API_VERSION, "kind",
                          set ? "MachineSet" : "Machine", "metadata", meta, "spec",
                          spec ? json_deep_copy(spec) : json_object());
  char *reason = xasprintf("restore the %s %s of MachineDeployment %s from status.state",
                           set ? "MachineSet" : "Machine", name, md);
  ext_steps_add_to_own(steps, step, "kube.create", set ? MCM_GK_MACHINE_SET : MCM_GK_MACHINE, ns,
                       name, json_pack("{s:o}", "object", obj), reason);
  free(reason);
  free(step);
  return ENG_OK;
}

/*
 * Restore (Gardener's restoreMachineSetsAndMachines): before the reconcile, the MachineSets and
 * then the Machines of status.state.machineDeployments, by deployment name, so that the machine
 * controller finds the Machines bound to their devices (spec.providerID) instead of creating new
 * ones; the MachineDeployments then take their replicas from the state.
 */
static enum eng_err add_restore_steps(const struct ext_plan_in *in, const char *ns,
                                      struct ext_step_list *steps, struct eng_error *err) {
  const json_t *mds = jsonx_path(in->obj, "status.state.machineDeployments");
  if (!mds || json_is_null(mds))
    return ENG_OK;
  if (!json_is_object(mds))
    return eng_error_set(err, ENG_CONFIG,
                         "status.state.machineDeployments: Invalid value: must be an object of "
                         "machine deployment states");
  size_t n, k;
  const char **names = jsonx_sorted_keys(mds, &n);
  json_t *seen = json_object();
  enum eng_err rc = ENG_OK;
  static const char *const lists[] = {"machineSets", "machines"};
  for (size_t l = 0; l < ARRAY_SIZE(lists) && rc == ENG_OK; l++) {
    for (k = 0; k < n && rc == ENG_OK; k++) {
      const json_t *arr = json_object_get(json_object_get(mds, names[k]), lists[l]);
      if (arr && !json_is_null(arr) && !json_is_array(arr)) {
        rc = eng_error_set(err, ENG_CONFIG,
                           "status.state.machineDeployments[%s].%s: Invalid value: must be a list",
                           names[k], lists[l]);
        break;
      }
      size_t i;
      json_t *o;
      json_array_foreach(arr, i, o) {
        rc = add_restore_object(ns, names[k], lists[l], i, o, seen, steps, err);
        if (rc)
          break;
      }
    }
  }
  json_decref(seen);
  free(names);
  return rc;
}

/* The node networks found by the node-network step, to the Infrastructure and vpn-seed-server:
 * nothing to do when no Node has one, and no status write when Infrastructure has them. */
static bool worker_prepare(const struct ext_plan_in *in, const char *step, const json_t *outputs,
                           json_t *params) {
  (void)in;
  bool cidr_step = !strcmp(step, STEP_NODES_CIDR), vpn_step = !strcmp(step, STEP_VPN_NODE_NETWORK);
  if (!cidr_step && !vpn_step)
    return true;
  const json_t *nn = json_object_get(outputs, STEP_NODE_NETWORK);
  const char *cidr = jsonx_str(nn, "nodesCIDR");
  if (!cidr || !*cidr)
    return false;
  if (vpn_step) {
    json_object_set_new(json_object_get(params, "env"), "value", json_string(cidr));
    return true;
  }
  if (!jsonx_bool(nn, "infrastructureFound", true))
    return false;
  const char *cur = jsonx_str(nn, "infrastructureNodesCIDR");
  if (cur) {
    char *norm = metal_joined_networks(cur);
    bool same = !strcmp(norm, cidr);
    free(norm);
    if (same)
      return false;
  }
  json_object_set_new(params, "patch", json_pack("{s:{s:s}}", "status", "nodesCIDR", cidr));
  return true;
}

static enum eng_err plan_reconcile(const struct ext_plan_in *in, struct ext_step_list *steps,
                                   struct eng_error *err) {
  const char *ns = str_or(in->obj, "metadata.namespace", "");
  struct worker_pools wp;
  enum eng_err rc = worker_build(in, &wp, err);
  if (rc)
    return rc;
  /* 0. Restore: the MachineSets and Machines of status.state. */
  if (in->op == GOP_RESTORE && (rc = add_restore_steps(in, ns, steps, err)) != ENG_OK) {
    worker_pools_free(&wp);
    return rc;
  }

  /* 1. MachineClasses and their Secrets. */
  for (size_t i = 0; i < wp.n; i++) {
    struct worker_pool *p = &wp.v[i];
    char *step = xasprintf("class-secret-%s", p->pool);
    char *reason = xasprintf("apply the class Secret %s with the user data of worker pool %s "
                             "(Secret %s, key %s)",
                             p->class_name, p->pool, p->userdata_secret, p->userdata_key);
    ext_steps_add_to_own(steps, step, "kube.secret.from", "/Secret", ns, p->class_name,
                         json_incref(p->secret_params), reason);
    free(step);
    free(reason);
    step = xasprintf("machine-class-%s", p->pool);
    reason = xasprintf("apply the MachineClass %s of worker pool %s (%s in %s)", p->class_name,
                       p->pool, p->machine_type, str_or(in->obj, "spec.region", ""));
    ext_steps_add_to_own(steps, step, "kube.secret.from", MCM_GK_MACHINE_CLASS, ns, p->class_name,
                         json_incref(p->class_params), reason);
    free(step);
    free(reason);
  }
  /* 2. The machine images in use, so that images removed from the CloudProfile still work. */
  {
    json_t *status = json_object();
    json_object_set(status, "providerStatus", wp.provider_status);
    json_t *patch = json_object();
    json_object_set_new(patch, "status", status);
    json_t *p = json_object();
    json_object_set_new(p, "patch", patch);
    ext_steps_add_own(steps, "status-machine-images", "kube.status", p,
                      "report status.providerStatus.machineImages (WorkerStatus)");
  }
  /* 3. Hibernation: every machine goes without draining. */
  if (wp.hibernated)
    add_force_deletion_marks(in, ns, steps, "the shoot is hibernated");
  /* 4. MachineDeployments. */
  for (size_t i = 0; i < wp.n; i++) {
    struct worker_pool *p = &wp.v[i];
    char *step = xasprintf("machine-deployment-%s", p->pool);
    char *reason = xasprintf("apply the MachineDeployment %s of worker pool %s with %d "
                             "replica(s) (minimum %d, maximum %d%s) and class %s",
                             p->deployment_name, p->pool, p->replicas, p->minimum, p->maximum,
                             wp.hibernated ? ", hibernated" : "", p->class_name);
    json_t *params = json_object();
    json_object_set(params, "object", p->deployment);
    ext_steps_add_to_own(steps, step, "kube.apply", MCM_GK_MACHINE_DEPLOYMENT, ns,
                         p->deployment_name, params, reason);
    free(step);
    free(reason);
  }
  /* 5. status.machineDeployments before waiting, so that gardenlet can configure the
   *    cluster-autoscaler early. */
  {
    json_t *status = json_object();
    json_object_set(status, "machineDeployments", wp.status_deployments);
    char ts[TIMEFMT_LEN];
    timefmt_rfc3339(in->now_ms, ts);
    json_object_set_new(status, "machineDeploymentsLastUpdateTime", json_string(ts));
    json_t *patch = json_object();
    json_object_set_new(patch, "status", status);
    json_t *p = json_object();
    json_object_set_new(p, "patch", patch);
    ext_steps_add_own(steps, "status-machine-deployments", "kube.status", p,
                      "report status.machineDeployments and machineDeploymentsLastUpdateTime");
  }
  /* 6. Wait until the MachineDeployments are available (or, hibernated, empty). */
  {
    json_t *wp_ = wait_params("machineDeploymentsReady",
                              "failed while waiting for all machine deployments to be ready");
    json_t *names = json_array();
    for (size_t i = 0; i < wp.n; i++)
      json_array_append_new(names, json_string(wp.v[i].deployment_name));
    json_object_set_new(wp_, "machineDeployments", names);
    json_object_set_new(wp_, "hibernated", json_boolean(wp.hibernated));
    ext_steps_add_own(steps, "wait-machine-deployments", EXT_WAIT_KIND, wp_,
                      wp.hibernated ? "all machines have been hibernated"
                                    : "the machine deployments are available");
  }
  /* 7. Clean up: MachineDeployments, then MachineClasses, then class Secrets no longer wanted. */
  json_t *wanted_md = json_array(), *wanted_class = json_array();
  for (size_t i = 0; i < wp.n; i++) {
    json_array_append_new(wanted_md, json_string(wp.v[i].deployment_name));
    json_array_append_new(wanted_class, json_string(wp.v[i].class_name));
  }
  json_t *unwanted = json_array();
  const char *name;
  json_t *o;
  json_object_foreach(json_object_get(in->related, MCM_GK_MACHINE_DEPLOYMENT), name, o) {
    if (in_array(wanted_md, name))
      continue;
    char *step = xasprintf("delete-machine-deployment-%s", name);
    char *reason = xasprintf("delete the MachineDeployment %s: no worker pool wants it", name);
    add_delete(steps, step, MCM_GK_MACHINE_DEPLOYMENT, ns, name, reason);
    json_array_append_new(unwanted, json_string(name));
    free(step);
    free(reason);
  }
  json_object_foreach(json_object_get(in->related, MCM_GK_MACHINE_CLASS), name, o) {
    if (in_array(wanted_class, name))
      continue;
    char *step = xasprintf("delete-machine-class-%s", name);
    char *reason = xasprintf("delete the MachineClass %s: no machine deployment uses it", name);
    add_delete(steps, step, MCM_GK_MACHINE_CLASS, ns, name, reason);
    free(step);
    free(reason);
    step = xasprintf("delete-class-secret-%s", name);
    reason = xasprintf("delete the class Secret %s: no machine deployment uses it", name);
    add_delete(steps, step, "/Secret", ns, name, reason);
    free(step);
    free(reason);
  }
  if (json_array_size(unwanted) > 0) {
    json_t *w = wait_params("machineDeploymentsGone", "failed while waiting for unwanted machine "
                                                      "deployments to be deleted");
    json_object_set(w, "machineDeployments", unwanted);
    ext_steps_add_own(steps, "wait-unwanted-machine-deployments", EXT_WAIT_KIND, w,
                      "the unwanted machine deployments are gone");
  }
  json_decref(unwanted);
  json_decref(wanted_md);
  json_decref(wanted_class);
  /* 8. Post-reconcile (the Go original's PostReconcileHook): the shoot's Nodes learn their private
   *    network, then Infrastructure status.nodesCIDR and vpn-seed-server's NODE_NETWORK the node
   *    networks. Not while hibernated: there are no machines, and the shoot's kube-apiserver may
   *    be down. */
  if (!wp.hibernated)
    add_node_network_steps(in, ns, steps);
  worker_pools_free(&wp);
  return ENG_OK;
}

static enum eng_err plan_delete(const struct ext_plan_in *in, struct ext_step_list *steps) {
  const char *ns = str_or(in->obj, "metadata.namespace", "");
  add_force_deletion_marks(in, ns, steps, "the Worker is being deleted");
  const char *name;
  json_t *o;
  json_object_foreach(json_object_get(in->related, MCM_GK_MACHINE_DEPLOYMENT), name, o) {
    char *step = xasprintf("delete-machine-deployment-%s", name);
    char *reason = xasprintf("delete the MachineDeployment %s (the Worker is being deleted)", name);
    add_delete(steps, step, MCM_GK_MACHINE_DEPLOYMENT, ns, name, reason);
    free(step);
    free(reason);
  }
  json_object_foreach(json_object_get(in->related, MCM_GK_MACHINE_CLASS), name, o) {
    char *step = xasprintf("delete-machine-class-%s", name);
    char *reason = xasprintf("delete the MachineClass %s (the Worker is being deleted)", name);
    add_delete(steps, step, MCM_GK_MACHINE_CLASS, ns, name, reason);
    free(step);
    free(reason);
    step = xasprintf("delete-class-secret-%s", name);
    reason = xasprintf("delete the class Secret %s (the Worker is being deleted)", name);
    add_delete(steps, step, "/Secret", ns, name, reason);
    free(step);
    free(reason);
  }
  ext_steps_add_own(steps, "wait-machine-resources-deleted", EXT_WAIT_KIND,
                    wait_params("machineResourcesDeleted",
                                "failed while waiting for all machine resources to be deleted"),
                    "all machines, machine deployments and machine classes are gone");
  return ENG_OK;
}

static enum eng_err worker_plan(const struct ext_plan_in *in, struct ext_step_list *steps,
                                struct eng_error *err) {
  switch (in->op) {
  case GOP_CREATE:
  case GOP_RECONCILE:
  case GOP_RESTORE:
    return plan_reconcile(in, steps, err);
  case GOP_DELETE:
    /* Gardener's generic actuator does nothing on ForceDelete of a Worker. */
    return in->force ? ENG_OK : plan_delete(in, steps);
  case GOP_MIGRATE:
  case GOP_NONE:
    break;
  }
  return ENG_OK;
}

/* ---- waiting ------------------------------------------------------------------------------ */

static bool cond_is(const json_t *obj, const char *type, const char *status) {
  const json_t *c = gardener_condition(obj, type);
  const char *s = jsonx_str(c, "status");
  return s && !strcmp(s, status);
}

/* Gardener's CheckMachineDeployment: observed, Available, Progressing (when present), not
 * ReplicaFailure and not Frozen. */
static bool md_healthy(const json_t *md) {
  if (jsonx_int(md, "status.observedGeneration", 0) < jsonx_int(md, "metadata.generation", 0))
    return false;
  if (!cond_is(md, "Available", "True"))
    return false;
  if (gardener_condition(md, "Progressing") && !cond_is(md, "Progressing", "True"))
    return false;
  if (cond_is(md, "ReplicaFailure", "True") || cond_is(md, "Frozen", "True"))
    return false;
  return true;
}

/* "machine(s) failed: 1 error occurred: "<m>": <description>" (go multierror style). */
static char *failed_machines_message(const json_t *mds, const json_t *names) {
  struct {
    char **v;
    size_t n;
  } items = {0};
  size_t i;
  json_t *nm;
  json_array_foreach(names, i, nm) {
    const json_t *md = json_object_get(mds, json_string_value(nm));
    size_t j;
    json_t *fm;
    json_array_foreach(jsonx_path(md, "status.failedMachines"), j, fm) {
      items.v = xrealloc(items.v, (items.n + 1) * sizeof(*items.v));
      items.v[items.n++] = xasprintf("\"%s\": %s", str_or(fm, "name", ""),
                                     str_or(fm, "lastOperation.description", ""));
    }
  }
  if (items.n == 0)
    return NULL;
  char *out;
  if (items.n == 1) {
    out = xasprintf("machine(s) failed: 1 error occurred: %s", items.v[0]);
  } else {
    size_t len = 64;
    for (size_t k = 0; k < items.n; k++)
      len += strlen(items.v[k]) + 2;
    char *joined = xcalloc(1, len);
    size_t o = 0;
    for (size_t k = 0; k < items.n; k++) {
      if (k) {
        memcpy(joined + o, ", ", 2);
        o += 2;
      }
      size_t il = strlen(items.v[k]);
      memcpy(joined + o, items.v[k], il);
      o += il;
    }
    out = xasprintf("machine(s) failed: %zu errors occurred: [%s]", items.n, joined);
    free(joined);
  }
  for (size_t k = 0; k < items.n; k++)
    free(items.v[k]);
  free(items.v);
  return out;
}

static enum ext_wait_result wait_ready(const struct ext_plan_in *in, const json_t *params,
                                       char **msg) {
  const json_t *mds = json_object_get(in->related, MCM_GK_MACHINE_DEPLOYMENT);
  const json_t *names = json_object_get(params, "machineDeployments");
  char *failed = failed_machines_message(mds, names);
  if (failed) {
    *msg = failed;
    return EXT_WAIT_FAILED;
  }
  json_int_t desired = 0, replicas = 0, updated = 0, available = 0, unavailable = 0;
  size_t healthy = 0, total = json_array_size(names);
  size_t i;
  json_t *nm;
  json_array_foreach(names, i, nm) {
    const json_t *md = json_object_get(mds, json_string_value(nm));
    desired += jsonx_int(md, "spec.replicas", 0);
    replicas += jsonx_int(md, "status.replicas", 0);
    updated += jsonx_int(md, "status.updatedReplicas", 0);
    available += jsonx_int(md, "status.availableReplicas", 0);
    unavailable += jsonx_int(md, "status.unavailableReplicas", 0);
    if (md && md_healthy(md))
      healthy++;
  }
  if (jsonx_bool(params, "hibernated", false)) {
    if (replicas == 0)
      return EXT_WAIT_DONE;
    *msg = xasprintf("Waiting until all machines have been hibernated (%" JSON_INTEGER_FORMAT
                     " still awake)...",
                     replicas);
    return EXT_WAIT_PENDING;
  }
  if (updated == replicas && healthy == total && unavailable == 0 && replicas == desired)
    return EXT_WAIT_DONE;
  if (updated >= desired && replicas > desired) {
    *msg = xasprintf("Waiting until all old machines are drained and terminated. Waiting for "
                     "%" JSON_INTEGER_FORMAT " machine(s)...",
                     replicas - desired);
    return EXT_WAIT_PENDING;
  }
  *msg = xasprintf("Waiting until machines are available (%" JSON_INTEGER_FORMAT
                   "/%" JSON_INTEGER_FORMAT " desired machine(s) available, %" JSON_INTEGER_FORMAT
                   "/%" JSON_INTEGER_FORMAT " machine(s) updated, %" JSON_INTEGER_FORMAT
                   " machine(s) pending, 0 preserved failed machine(s), %zu/%zu "
                   "machinedeployments available)...",
                   available, desired, updated, desired, unavailable, healthy, total);
  return EXT_WAIT_PENDING;
}

static enum ext_wait_result wait_gone(const struct ext_plan_in *in, const json_t *params,
                                      char **msg) {
  const json_t *mds = json_object_get(in->related, MCM_GK_MACHINE_DEPLOYMENT);
  size_t i;
  json_t *nm;
  json_array_foreach(json_object_get(params, "machineDeployments"), i, nm) {
    const char *n = json_string_value(nm);
    if (n && json_object_get(mds, n)) {
      *msg = xasprintf("at least one unwanted machine deployment (%s) still exists", n);
      return EXT_WAIT_PENDING;
    }
  }
  return EXT_WAIT_DONE;
}

static enum ext_wait_result wait_deleted(const struct ext_plan_in *in, char **msg) {
  /* A failed machine of a MachineDeployment is a severe error, as in Gardener. */
  const char *name;
  json_t *o;
  json_object_foreach(json_object_get(in->related, MCM_GK_MACHINE_DEPLOYMENT), name, o) {
    json_t *fm = json_array_get(jsonx_path(o, "status.failedMachines"), 0);
    if (fm) {
      *msg = xasprintf("machine %s failed: %s", str_or(fm, "name", ""),
                       str_or(fm, "lastOperation.description", ""));
      return EXT_WAIT_FAILED;
    }
  }
  size_t machines = json_object_size(json_object_get(in->related, MCM_GK_MACHINE));
  size_t deployments = json_object_size(json_object_get(in->related, MCM_GK_MACHINE_DEPLOYMENT));
  size_t classes = json_object_size(json_object_get(in->related, MCM_GK_MACHINE_CLASS));
  if (machines + deployments + classes == 0)
    return EXT_WAIT_DONE;
  *msg = xasprintf("waiting until the following machine resources have been deleted: %zu "
                   "machine(s), %zu machine deployment(s), %zu machine class(es)",
                   machines, deployments, classes);
  return EXT_WAIT_PENDING;
}

static enum ext_wait_result worker_wait(const struct ext_plan_in *in, const json_t *params,
                                        char **msg) {
  const char *check = str_or(params, "check", "");
  if (!strcmp(check, "machineDeploymentsReady"))
    return wait_ready(in, params, msg);
  if (!strcmp(check, "machineDeploymentsGone"))
    return wait_gone(in, params, msg);
  if (!strcmp(check, "machineResourcesDeleted"))
    return wait_deleted(in, msg);
  return EXT_WAIT_DONE;
}

static enum eng_err worker_plan_plain(enum gardener_op op, bool force, const json_t *obj,
                                      const json_t *cluster, struct ext_step_list *steps,
                                      struct eng_error *err) {
  json_t *rel = json_object();
  struct ext_plan_in in = {op, force, obj, cluster, rel, 0, NULL};
  enum eng_err rc = worker_plan(&in, steps, err);
  json_decref(rel);
  return rc;
}

static const struct ext_actuator worker_actuator = {worker_plan_plain, NULL, worker_plan,
                                                    worker_wait, worker_prepare};

static const char *const worker_related[] = {MCM_GK_MACHINE_DEPLOYMENT, MCM_GK_MACHINE_CLASS,
                                             MCM_GK_MACHINE, NULL};

const struct ext_controller metal_worker_controller = {"worker",
                                                       "extensions.gardener.cloud",
                                                       "Worker",
                                                       "workers",
                                                       "extensions.gardener.cloud/worker",
                                                       METAL_EXTENSION_TYPE,
                                                       &worker_actuator,
                                                       worker_related};
