/*
 * worker_int.h - shared by worker.c (steps, waiting) and worker_objects.c (the
 * MachineClasses, class Secrets and MachineDeployments of a Worker). Pure.
 */
#ifndef EQXM_METAL_WORKER_INT_H
#define EQXM_METAL_WORKER_INT_H

#include "engine/base/common.h"
#include "engine/decide/extension.h"
#include "providers/equinix-metal/controllers/infrastructure.h"
#include "providers/equinix-metal/controllers/worker.h"

#include <jansson.h>

/* Everything one pool needs written. Strings point into the Worker object or are owned. */
struct worker_pool {
  const char *pool;
  const char *machine_type;
  const char *userdata_secret, *userdata_key;
  char *deployment_name; /* "<technical ID>-<pool>" */
  char *class_name;      /* "<deployment>-<hash>"; also the class Secret's name */
  int minimum, maximum, replicas;
  json_t *secret_params; /* kube.secret.from params of the class Secret */
  json_t *class_params;  /* kube.secret.from params of the MachineClass */
  json_t *deployment;    /* the MachineDeployment to apply */
};

struct worker_pools {
  struct worker_pool *v;
  size_t n;
  bool hibernated;
  json_t *provider_status;    /* WorkerStatus {apiVersion, kind, machineImages} */
  json_t *status_deployments; /* status.machineDeployments */
};

/*
 * Validate the Worker (pools, provider configs, CloudProfileConfig, machine images,
 * node-agent secret names) and build every pool's objects. ENG_CONFIG with a message
 * naming the field when something does not validate (nothing to free then).
 */
enum eng_err worker_build(const struct ext_plan_in *in, struct worker_pools *out,
                          struct eng_error *err);
void worker_pools_free(struct worker_pools *wp);

#endif
