/*
 * worker_objects.c - the MachineClasses, class Secrets and MachineDeployments of
 * a Worker (pure), with the rules of the Go original's machines.go and of
 * Gardener's generic Worker actuator (names, pool hash, replicas, strategy,
 * labels, machine configuration, cluster-autoscaler annotations).
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/controllers/worker_int.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_LABEL "worker.gardener.cloud/pool"

static const char *str_or(const json_t *j, const char *path, const char *dflt) {
  const char *s = jsonx_str(j, path);
  return s ? s : dflt;
}

void worker_pools_free(struct worker_pools *wp) {
  for (size_t i = 0; i < wp->n; i++) {
    struct worker_pool *p = &wp->v[i];
    free(p->deployment_name);
    free(p->class_name);
    json_decref(p->secret_params);
    json_decref(p->class_params);
    json_decref(p->deployment);
  }
  free(wp->v);
  json_decref(wp->provider_status);
  json_decref(wp->status_deployments);
  memset(wp, 0, sizeof(*wp));
}

/* ---- provider configs ----------------------------------------------------------------------- */

/* A strict WorkerConfig {apiVersion, kind, reservationIDs[], reservedDevicesOnly}. */
static enum eng_err check_worker_config(const json_t *pc, size_t idx, struct eng_error *err) {
  if (!pc || json_is_null(pc))
    return ENG_OK;
  if (!json_is_object(pc))
    return eng_error_set(err, ENG_CONFIG,
                         "spec.pools[%zu].providerConfig: Invalid value: must be a WorkerConfig "
                         "object",
                         idx);
  const char *av = jsonx_str(pc, "apiVersion"), *kind = jsonx_str(pc, "kind");
  if (!av || strcmp(av, METAL_PROVIDER_API_VERSION) != 0)
    return eng_error_set(err, ENG_CONFIG,
                         "spec.pools[%zu].providerConfig.apiVersion: Unsupported value: \"%s\": "
                         "supported values: \"%s\"",
                         idx, av ? av : "", METAL_PROVIDER_API_VERSION);
  if (!kind || strcmp(kind, "WorkerConfig") != 0)
    return eng_error_set(err, ENG_CONFIG,
                         "spec.pools[%zu].providerConfig.kind: Unsupported value: \"%s\": "
                         "supported values: \"WorkerConfig\"",
                         idx, kind ? kind : "");
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)pc, k, v) {
    if (!strcmp(k, "apiVersion") || !strcmp(k, "kind"))
      continue;
    if (!strcmp(k, "reservationIDs")) {
      if (json_is_null(v))
        continue;
      bool ok = json_is_array(v);
      size_t i;
      json_t *e;
      json_array_foreach(v, i, e) ok = ok && json_is_string(e);
      if (!ok)
        return eng_error_set(err, ENG_CONFIG,
                             "spec.pools[%zu].providerConfig.reservationIDs: Invalid value: must "
                             "be a list of hardware reservation IDs (strings)",
                             idx);
      continue;
    }
    if (!strcmp(k, "reservedDevicesOnly")) {
      if (!json_is_boolean(v) && !json_is_null(v))
        return eng_error_set(err, ENG_CONFIG,
                             "spec.pools[%zu].providerConfig.reservedDevicesOnly: Invalid value: "
                             "must be true or false",
                             idx);
      continue;
    }
    return eng_error_set(
        err, ENG_CONFIG,
        "spec.pools[%zu].providerConfig.%s: Forbidden: unknown field (WorkerConfig "
        "has reservationIDs and reservedDevicesOnly)",
        idx, k);
  }
  return ENG_OK;
}

/* The CloudProfileConfig of the Cluster's CloudProfile, checked strictly; NULL when none. */
static enum eng_err cloud_profile_config(const json_t *cluster, const json_t **out,
                                         struct eng_error *err) {
  *out = NULL;
  const json_t *pc = jsonx_path(cluster, "spec.cloudProfile.spec.providerConfig");
  const char *cp = str_or(cluster, "spec.cloudProfile.metadata.name", "");
  if (!pc || json_is_null(pc))
    return ENG_OK;
  if (!json_is_object(pc))
    return eng_error_set(err, ENG_CONFIG,
                         "could not decode providerConfig of cloudProfile for '%s': not an object",
                         cp);
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)pc, k, v) {
    if (strcmp(k, "apiVersion") && strcmp(k, "kind") && strcmp(k, "machineImages"))
      return eng_error_set(err, ENG_CONFIG,
                           "could not decode providerConfig of cloudProfile for '%s': "
                           "machineImages is the only field of a CloudProfileConfig, not \"%s\"",
                           cp, k);
  }
  const json_t *imgs = json_object_get(pc, "machineImages");
  if (imgs && !json_is_array(imgs))
    return eng_error_set(err, ENG_CONFIG,
                         "could not decode providerConfig of cloudProfile for '%s': machineImages "
                         "must be a list",
                         cp);
  *out = pc;
  return ENG_OK;
}

/* {id?, ipxeScriptUrl?} of image name/version: the CloudProfileConfig, then the Worker status. */
static json_t *find_image(const json_t *cpc, const json_t *worker, const char *name,
                          const char *version) {
  size_t i, j;
  json_t *im, *ver;
  json_array_foreach(json_object_get(cpc, "machineImages"), i, im) {
    if (strcmp(str_or(im, "name", ""), name) != 0)
      continue;
    json_array_foreach(json_object_get(im, "versions"), j, ver) {
      if (strcmp(str_or(ver, "version", ""), version) != 0)
        continue;
      json_t *r = json_object();
      const char *id = jsonx_str(ver, "id"), *ipxe = jsonx_str(ver, "ipxeScriptUrl");
      if (id && *id)
        json_object_set_new(r, "id", json_string(id));
      if (ipxe && *ipxe)
        json_object_set_new(r, "ipxeScriptUrl", json_string(ipxe));
      return r;
    }
  }
  json_array_foreach(jsonx_path(worker, "status.providerStatus.machineImages"), i, im) {
    if (strcmp(str_or(im, "name", ""), name) != 0 || strcmp(str_or(im, "version", ""), version))
      continue;
    json_t *r = json_object();
    const char *id = jsonx_str(im, "id"), *ipxe = jsonx_str(im, "ipxeScriptUrl");
    if (id && *id)
      json_object_set_new(r, "id", json_string(id));
    if (ipxe && *ipxe)
      json_object_set_new(r, "ipxeScriptUrl", json_string(ipxe));
    return r;
  }
  return NULL;
}

static void append_image(json_t *list, const char *name, const char *version, const json_t *img) {
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    if (!strcmp(str_or(e, "name", ""), name) && !strcmp(str_or(e, "version", ""), version))
      return;
  }
  json_t *m = json_object();
  json_object_set_new(m, "name", json_string(name));
  json_object_set_new(m, "version", json_string(version));
  if (jsonx_str(img, "id"))
    json_object_set_new(m, "id", json_string(jsonx_str(img, "id")));
  if (jsonx_str(img, "ipxeScriptUrl"))
    json_object_set_new(m, "ipxeScriptUrl", json_string(jsonx_str(img, "ipxeScriptUrl")));
  json_array_append_new(list, m);
}

/* ---- pieces of the objects --------------------------------------------------------------------
 */

/* capacity {cpu, gpu, memory} of the pool: pool.nodeTemplate, else the CloudProfile's type. */
static json_t *capacity_of(const json_t *pool, const json_t *cluster, const char *machine_type) {
  const json_t *cap = jsonx_path(pool, "nodeTemplate.capacity");
  json_t *out = json_object();
  if (json_is_object(cap)) {
    json_object_update(out, (json_t *)cap);
  } else {
    size_t i;
    json_t *mt;
    json_array_foreach(jsonx_path(cluster, "spec.cloudProfile.spec.machineTypes"), i, mt) {
      if (strcmp(str_or(mt, "name", ""), machine_type) != 0)
        continue;
      static const char *const keys[] = {"cpu", "gpu", "memory"};
      for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
        json_t *v = json_object_get(mt, keys[k]);
        if (v)
          json_object_set(out, keys[k], v);
      }
      break;
    }
  }
  if (!json_object_get(out, "cpu") || !json_object_get(out, "memory")) {
    json_decref(out);
    return NULL;
  }
  if (!json_object_get(out, "gpu"))
    json_object_set_new(out, "gpu", json_string("0"));
  return out;
}

static json_t *ref(const char *ns, const char *name) {
  json_t *r = json_object();
  json_object_set_new(r, "name", json_string(name));
  json_object_set_new(r, "namespace", json_string(ns));
  return r;
}

static json_t *fill(const char *ns, const char *secret, const char *key, const char *path,
                    bool decode, const char *not_found, const char *missing) {
  json_t *f = json_object();
  json_object_set_new(f, "secretRef", ref(ns, secret));
  json_object_set_new(f, "key", json_string(key));
  json_object_set_new(f, "path", json_string(path));
  json_object_set_new(f, "decode", json_boolean(decode));
  json_object_set_new(f, "notFound", json_string(not_found));
  json_object_set_new(f, "missing", json_string(missing));
  return f;
}

/* Duration-ish values of the Worker are strings already; numbers are printed like Go. */
static json_t *as_string(const json_t *v) {
  if (json_is_string(v))
    return json_string(json_string_value(v));
  if (json_is_integer(v)) {
    char b[32];
    snprintf(b, sizeof(b), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return json_string(b);
  }
  if (json_is_real(v)) {
    char b[64];
    snprintf(b, sizeof(b), "%g", json_real_value(v));
    return json_string(b);
  }
  return NULL;
}

static json_t *autoscaler_annotations(const json_t *pool) {
  static const char *const map[][2] = {
      {"scaleDownUtilizationThreshold",
       "autoscaler.gardener.cloud/scale-down-utilization-threshold"},
      {"scaleDownGpuUtilizationThreshold",
       "autoscaler.gardener.cloud/scale-down-gpu-utilization-threshold"},
      {"scaleDownUnneededTime", "autoscaler.gardener.cloud/scale-down-unneeded-time"},
      {"scaleDownUnreadyTime", "autoscaler.gardener.cloud/scale-down-unready-time"},
      {"maxNodeProvisionTime", "autoscaler.gardener.cloud/max-node-provision-time"},
  };
  const json_t *ca = json_object_get(pool, "clusterAutoscaler");
  json_t *out = json_object();
  for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
    json_t *v = as_string(json_object_get(ca, map[i][0]));
    if (v)
      json_object_set_new(out, map[i][1], v);
  }
  return out;
}

/* ReadMachineConfiguration: pool.machineControllerManager into the Machine template spec. */
static void machine_configuration(const json_t *pool, json_t *spec) {
  const json_t *m = json_object_get(pool, "machineControllerManager");
  if (!json_is_object(m))
    return;
  static const char *const map[][2] = {
      {"machineDrainTimeout", "drainTimeout"},
      {"machineHealthTimeout", "healthTimeout"},
      {"machineCreationTimeout", "creationTimeout"},
      {"inPlaceUpdateTimeout", "inPlaceUpdateTimeout"},
      {"machinePreserveTimeout", "machinePreserveTimeout"},
  };
  for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
    json_t *v = as_string(json_object_get(m, map[i][0]));
    if (v)
      json_object_set_new(spec, map[i][1], v);
  }
  json_t *v = json_object_get(m, "maxEvictRetries");
  if (json_is_integer(v))
    json_object_set(spec, "maxEvictRetries", v);
  v = json_object_get(m, "disableHealthTimeout");
  if (json_is_boolean(v))
    json_object_set(spec, "disableHealthTimeout", v);
  v = json_object_get(m, "nodeConditions");
  if (json_is_array(v) && json_array_size(v) > 0) {
    size_t len = 1, i;
    json_t *c;
    json_array_foreach(v, i, c) len += strlen(json_is_string(c) ? json_string_value(c) : "") + 1;
    char *joined = xcalloc(1, len);
    size_t o = 0;
    json_array_foreach(v, i, c) {
      if (i)
        joined[o++] = ',';
      const char *cs = json_is_string(c) ? json_string_value(c) : "";
      size_t cl = strlen(cs);
      memcpy(joined + o, cs, cl);
      o += cl;
    }
    json_object_set_new(spec, "nodeConditions", json_string(joined));
    free(joined);
  }
}

/*
 * spec.replicas of a pool's MachineDeployment (Gardener's deployMachineDeployments):
 * hibernated 0; without cluster-autoscaler the minimum; a new deployment the restored
 * state's replicas or the minimum; a shoot waking up (every deployment at 0) the
 * minimum; otherwise the live value clamped to [minimum, maximum].
 */
static int replicas_of(const struct ext_plan_in *in, const char *md_name, int min, int max,
                       bool hibernated, bool ca_used) {
  const json_t *mds = json_object_get(in->related, MCM_GK_MACHINE_DEPLOYMENT);
  const json_t *existing = json_object_get(mds, md_name);
  if (hibernated)
    return 0;
  if (!ca_used)
    return min;
  if (!existing) {
    json_t *st = jsonx_path(in->obj, "status.state.machineDeployments");
    json_t *r = jsonx_path(json_object_get(st, md_name), "replicas");
    if (json_is_integer(r))
      return (int)json_integer_value(r);
    return min;
  }
  bool all_zero = true;
  const char *k;
  json_t *o;
  json_object_foreach((json_t *)mds, k, o) {
    if (jsonx_int(o, "spec.replicas", 0) != 0)
      all_zero = false;
  }
  if (all_zero)
    return min;
  int live = (int)jsonx_int(existing, "spec.replicas", min);
  if (live < min)
    return min;
  if (live > max)
    return max;
  return live;
}

static json_t *int_or_string(const json_t *v, const char *dflt) {
  if (json_is_integer(v) || json_is_string(v))
    return json_deep_copy(v);
  return json_string(dflt);
}

/* ---- one pool ------------------------------------------------------------------------------ */

static enum eng_err build_pool(const struct ext_plan_in *in, const json_t *pool, size_t idx,
                               const json_t *cpc, const char *technical_id, bool hibernated,
                               bool ca_used, json_t *images, struct worker_pool *p,
                               struct eng_error *err) {
  const json_t *w = in->obj;
  const char *ns = str_or(w, "metadata.namespace", "");
  const char *region = str_or(w, "spec.region", "");
  p->pool = jsonx_str(pool, "name");
  p->machine_type = jsonx_str(pool, "machineType");
  if (!p->pool || !*p->pool)
    return eng_error_set(err, ENG_CONFIG, "spec.pools[%zu].name: Required value", idx);
  if (!p->machine_type || !*p->machine_type)
    return eng_error_set(err, ENG_CONFIG, "spec.pools[%zu].machineType: Required value", idx);
  json_t *jmin = json_object_get(pool, "minimum"), *jmax = json_object_get(pool, "maximum");
  if (!json_is_integer(jmin) || !json_is_integer(jmax) || json_integer_value(jmin) < 0 ||
      json_integer_value(jmax) < json_integer_value(jmin))
    return eng_error_set(err, ENG_CONFIG,
                         "spec.pools[%zu].maximum: Invalid value: minimum and maximum must be "
                         "integers with 0 <= minimum <= maximum",
                         idx);
  p->minimum = (int)json_integer_value(jmin);
  p->maximum = (int)json_integer_value(jmax);
  p->userdata_secret = jsonx_str(pool, "userDataSecretRef.name");
  p->userdata_key = jsonx_str(pool, "userDataSecretRef.key");
  if (!p->userdata_secret || !*p->userdata_secret || !p->userdata_key || !*p->userdata_key)
    return eng_error_set(err, ENG_CONFIG,
                         "spec.pools[%zu].userDataSecretRef: Required value: name and key of the "
                         "Secret with the pool's user data",
                         idx);
  const json_t *pc = json_object_get(pool, "providerConfig");
  enum eng_err rc = check_worker_config(pc, idx, err);
  if (rc)
    return eng_error_prefix(err, "could not decode provider config: ");
  const char *strategy = str_or(pool, "updateStrategy", "AutoRollingUpdate");
  if (strcmp(strategy, "AutoRollingUpdate") != 0)
    return eng_error_set(err, ENG_CONFIG,
                         "spec.pools[%zu].updateStrategy: Unsupported value: \"%s\": supported "
                         "values: \"AutoRollingUpdate\" (in-place updates are not supported by "
                         "Equinix Metal)",
                         idx, strategy);
  const char *agent = jsonx_str(pool, "nodeAgentSecretName");
  if (!agent || !*agent)
    return eng_error_set(err, ENG_CONFIG, "missing node-agent secret name for worker pool %s",
                         p->pool);
  const char *img_name = str_or(pool, "machineImage.name", "");
  const char *img_version = str_or(pool, "machineImage.version", "");
  json_t *img = find_image(cpc, w, img_name, img_version);
  if (!img)
    return eng_error_set(err, ENG_CONFIG,
                         "could not find machine image for %s/%s neither in cloud profile nor in "
                         "worker status",
                         img_name, img_version);
  append_image(images, img_name, img_version, img);

  char hash[6];
  const char *items[1] = {agent};
  metal_worker_pool_hash(items, 1, hash);
  p->deployment_name = xasprintf("%s-%s", technical_id, p->pool);
  p->class_name = xasprintf("%s-%s", p->deployment_name, hash);

  /* The class Secret: userData from the pool's user data Secret, filled in at call time. */
  {
    json_t *labels = json_object();
    json_object_set_new(labels, "gardener.cloud/purpose", json_string("machineclass"));
    json_t *md = json_object();
    json_object_set_new(md, "name", json_string(p->class_name));
    json_object_set_new(md, "namespace", json_string(ns));
    json_object_set_new(md, "labels", labels);
    json_t *sec = json_object();
    json_object_set_new(sec, "apiVersion", json_string("v1"));
    json_object_set_new(sec, "kind", json_string("Secret"));
    json_object_set_new(sec, "metadata", md);
    json_object_set_new(sec, "type", json_string("Opaque"));
    char *nf = xasprintf("failed fetching user data secret %s referenced in worker pool %s",
                         p->userdata_secret, p->pool);
    char *miss = xasprintf("user data secret %s for worker pool %s has no %s field or it's empty",
                           p->userdata_secret, p->pool, p->userdata_key);
    json_t *fills = json_array();
    json_array_append_new(
        fills, fill(ns, p->userdata_secret, p->userdata_key, "data.userData", false, nf, miss));
    free(nf);
    free(miss);
    p->secret_params = json_object();
    json_object_set_new(p->secret_params, "object", sec);
    json_object_set_new(p->secret_params, "fill", fills);
  }

  /* The MachineClass (providerSpec as the Go original's chart, projectID filled in). */
  {
    json_t *ps = json_object();
    const char *id = jsonx_str(img, "id"), *ipxe = jsonx_str(img, "ipxeScriptUrl");
    if (id)
      json_object_set_new(ps, "OS", json_string(id));
    if (ipxe)
      json_object_set_new(ps, "ipxeScriptUrl", json_string(ipxe));
    json_object_set_new(ps, "billingCycle", json_string("hourly"));
    json_object_set_new(ps, "machineType", json_string(p->machine_type));
    json_object_set_new(ps, "metro", json_string(region));
    const json_t *zones = json_object_get(pool, "zones");
    if (json_is_array(zones) && json_array_size(zones) > 0)
      json_object_set(ps, "facilities", (json_t *)zones);
    const json_t *rids = json_object_get(pc, "reservationIDs");
    if (json_is_array(rids) && json_array_size(rids) > 0)
      json_object_set(ps, "reservationIDs", (json_t *)rids);
    if (jsonx_bool(pc, "reservedDevicesOnly", false))
      json_object_set_new(ps, "reservedDevicesOnly", json_true());
    json_t *keys = json_array();
    const char *ssh = jsonx_str(w, "spec.infrastructureProviderStatus.sshKeyID");
    if (ssh && *ssh)
      json_array_append_new(keys, json_string(ssh));
    json_object_set_new(ps, "sshKeys", keys);
    json_t *tags = json_array();
    char *ctag = xasprintf("kubernetes.io/cluster/%s", ns);
    json_array_append_new(tags, json_string(ctag));
    free(ctag);
    json_array_append_new(tags, json_string("kubernetes.io/role/node"));
    json_object_set_new(ps, "tags", tags);

    json_t *md = json_object();
    json_object_set_new(md, "name", json_string(p->class_name));
    json_object_set_new(md, "namespace", json_string(ns));
    json_t *mc = json_object();
    json_object_set_new(mc, "apiVersion", json_string(MCM_API_VERSION));
    json_object_set_new(mc, "kind", json_string("MachineClass"));
    json_object_set_new(mc, "metadata", md);
    json_object_set_new(mc, "provider", json_string(MCM_PROVIDER_NAME));
    json_object_set_new(mc, "providerSpec", ps);
    json_object_set_new(mc, "secretRef", ref(ns, p->class_name));
    const char *sns = jsonx_str(w, "spec.secretRef.namespace");
    const char *sname = str_or(w, "spec.secretRef.name", "");
    json_object_set_new(mc, "credentialsSecretRef", ref(sns && *sns ? sns : ns, sname));
    json_t *cap = capacity_of(pool, in->cluster, p->machine_type);
    if (cap) {
      json_t *nt = json_object();
      json_object_set_new(nt, "capacity", cap);
      json_object_set_new(nt, "instanceType", json_string(p->machine_type));
      json_object_set_new(nt, "region", json_string(region));
      json_t *z0 = json_array_get(zones, 0);
      json_object_set_new(nt, "zone",
                          json_string(json_is_string(z0) ? json_string_value(z0) : region));
      json_object_set_new(nt, "architecture", json_string(str_or(pool, "architecture", "amd64")));
      json_object_set_new(mc, "nodeTemplate", nt);
    }
    json_t *fills = json_array();
    json_array_append_new(fills,
                          fill(sns && *sns ? sns : ns, sname, "projectID", "providerSpec.projectID",
                               true, "could not get credentials from secret",
                               "missing \"projectID\" field in secret"));
    p->class_params = json_object();
    json_object_set_new(p->class_params, "object", mc);
    json_object_set_new(p->class_params, "fill", fills);
  }
  json_decref(img);

  /* The MachineDeployment. */
  {
    p->replicas = replicas_of(in, p->deployment_name, p->minimum, p->maximum, hibernated, ca_used);
    const json_t *existing = json_object_get(
        json_object_get(in->related, MCM_GK_MACHINE_DEPLOYMENT), p->deployment_name);
    json_t *labels = json_object();
    json_object_set_new(labels, POOL_LABEL, json_string(p->pool));
    json_t *md = json_object();
    json_object_set_new(md, "name", json_string(p->deployment_name));
    json_object_set_new(md, "namespace", json_string(ns));
    json_object_set_new(md, "labels", labels);
    json_t *ann = autoscaler_annotations(pool);
    if (json_object_size(ann) > 0)
      json_object_set_new(md, "annotations", ann);
    else
      json_decref(ann);

    json_t *sel_labels = json_object();
    json_object_set_new(sel_labels, "name", json_string(p->deployment_name));
    json_t *selector = json_object();
    json_object_set_new(selector, "matchLabels", sel_labels);

    json_t *ru = json_object();
    json_object_set_new(ru, "maxSurge", int_or_string(json_object_get(pool, "maxSurge"), "1"));
    json_object_set_new(ru, "maxUnavailable",
                        int_or_string(json_object_get(pool, "maxUnavailable"), "0"));
    json_t *strat = json_object();
    json_object_set_new(strat, "type", json_string("RollingUpdate"));
    json_object_set_new(strat, "rollingUpdate", ru);

    json_t *tmd = json_object();
    json_t *tlabels = json_object();
    json_object_set_new(tlabels, "name", json_string(p->deployment_name));
    json_object_set_new(tmd, "labels", tlabels);
    /* Annotations others put on the template (rollout-workers) are kept. */
    json_t *tann = jsonx_path(existing, "spec.template.metadata.annotations");
    if (json_is_object(tann) && json_object_size(tann) > 0)
      json_object_set_new(tmd, "annotations", json_deep_copy(tann));

    json_t *class = json_object();
    json_object_set_new(class, "kind", json_string("MachineClass"));
    json_object_set_new(class, "name", json_string(p->class_name));
    json_t *nlabels = json_object();
    const json_t *pl = json_object_get(pool, "labels");
    if (json_is_object(pl))
      json_object_update(nlabels, (json_t *)pl);
    json_object_set_new(nlabels, POOL_LABEL, json_string(p->pool));
    json_t *nmd = json_object();
    json_object_set_new(nmd, "labels", nlabels);
    const json_t *pa = json_object_get(pool, "annotations");
    if (json_is_object(pa) && json_object_size(pa) > 0)
      json_object_set(nmd, "annotations", (json_t *)pa);
    json_t *nt = json_object();
    json_object_set_new(nt, "metadata", nmd);
    const json_t *taints = json_object_get(pool, "taints");
    if (json_is_array(taints) && json_array_size(taints) > 0) {
      json_t *nspec = json_object();
      json_object_set(nspec, "taints", (json_t *)taints);
      json_object_set_new(nt, "spec", nspec);
    }
    json_t *tspec = json_object();
    json_object_set_new(tspec, "class", class);
    json_object_set_new(tspec, "nodeTemplate", nt);
    machine_configuration(pool, tspec);
    json_t *tmpl = json_object();
    json_object_set_new(tmpl, "metadata", tmd);
    json_object_set_new(tmpl, "spec", tspec);

    json_t *spec = json_object();
    json_object_set_new(spec, "replicas", json_integer(p->replicas));
    json_object_set_new(spec, "minReadySeconds", json_integer(500));
    json_object_set_new(spec, "revisionHistoryLimit", json_integer(0));
    json_object_set_new(spec, "strategy", strat);
    json_object_set_new(spec, "selector", selector);
    json_object_set_new(spec, "template", tmpl);
    json_t *apm = jsonx_path(pool, "machineControllerManager.autoPreserveFailedMachineMax");
    if (json_is_integer(apm))
      json_object_set(spec, "autoPreserveFailedMachineMax", apm);

    p->deployment = json_object();
    json_object_set_new(p->deployment, "apiVersion", json_string(MCM_API_VERSION));
    json_object_set_new(p->deployment, "kind", json_string("MachineDeployment"));
    json_object_set_new(p->deployment, "metadata", md);
    json_object_set_new(p->deployment, "spec", spec);
  }
  return ENG_OK;
}

enum eng_err worker_build(const struct ext_plan_in *in, struct worker_pools *out,
                          struct eng_error *err) {
  memset(out, 0, sizeof(*out));
  const json_t *w = in->obj;
  const json_t *pools = jsonx_path(w, "spec.pools");
  if (!json_is_array(pools))
    return eng_error_set(err, ENG_CONFIG, "spec.pools: Required value: a list of worker pools");
  const char *sname = jsonx_str(w, "spec.secretRef.name");
  if (!sname || !*sname)
    return eng_error_set(err, ENG_CONFIG,
                         "spec.secretRef.name: Required value: the Secret with apiToken and "
                         "projectID must be named");
  const json_t *cpc;
  enum eng_err rc = cloud_profile_config(in->cluster, &cpc, err);
  if (rc)
    return rc;
  const json_t *ips = jsonx_path(w, "spec.infrastructureProviderStatus");
  if (ips && !json_is_null(ips) && !json_is_object(ips))
    return eng_error_set(err, ENG_CONFIG,
                         "spec.infrastructureProviderStatus: Invalid value: must be an "
                         "InfrastructureStatus object");
  const char *tid = jsonx_str(in->cluster, "spec.shoot.status.technicalID");
  if (!tid || !*tid)
    tid = str_or(w, "metadata.namespace", "");
  out->hibernated = gardener_cluster_hibernated(in->cluster);
  bool ca_used = false;
  size_t i;
  json_t *pool;
  json_array_foreach(pools, i, pool) {
    if (jsonx_int(pool, "maximum", 0) > jsonx_int(pool, "minimum", 0))
      ca_used = true;
  }
  /* Restore: the deployments of status.state take the "does not exist yet" branch. */
  if (in->op == GOP_RESTORE)
    ca_used = true;
  json_t *images = json_array();
  out->v = xcalloc(json_array_size(pools) + 1, sizeof(*out->v));
  out->status_deployments = json_array();
  json_array_foreach(pools, i, pool) {
    struct worker_pool *p = &out->v[out->n++];
    rc = build_pool(in, pool, i, cpc, tid, out->hibernated, ca_used, images, p, err);
    if (rc) {
      json_decref(images);
      worker_pools_free(out);
      return rc;
    }
    for (size_t j = 0; j + 1 < out->n; j++)
      if (!strcmp(out->v[j].pool, p->pool)) {
        json_decref(images);
        eng_error_set(err, ENG_CONFIG, "spec.pools[%zu].name: Duplicate value: \"%s\"", i, p->pool);
        worker_pools_free(out);
        return ENG_CONFIG;
      }
    json_t *e = json_object();
    json_object_set_new(e, "name", json_string(p->deployment_name));
    json_object_set_new(e, "minimum", json_integer(p->minimum));
    json_object_set_new(e, "maximum", json_integer(p->maximum));
    json_t *prio = json_object_get(pool, "priority");
    if (json_is_integer(prio))
      json_object_set(e, "priority", prio);
    json_t *apm = jsonx_path(pool, "machineControllerManager.autoPreserveFailedMachineMax");
    if (json_is_integer(apm))
      json_object_set(e, "autoPreserveFailedMachineMax", apm);
    json_array_append_new(out->status_deployments, e);
  }
  out->provider_status = json_object();
  json_object_set_new(out->provider_status, "apiVersion", json_string(METAL_PROVIDER_API_VERSION));
  json_object_set_new(out->provider_status, "kind", json_string("WorkerStatus"));
  json_object_set_new(out->provider_status, "machineImages", images);
  return ENG_OK;
}
