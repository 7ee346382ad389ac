/*
 * controlplane_int.h - shared by controlplane.c (steps, waiting) and
 * controlplane_manifests.c (the objects the ManagedResources carry). Pure.
 */
#ifndef EQXM_METAL_CONTROLPLANE_INT_H
#define EQXM_METAL_CONTROLPLANE_INT_H

#include "engine/base/common.h"

#include <jansson.h>

/* What the manifests depend on. Strings are borrowed. */
struct cp_values {
  const char *ns;                 /* the shoot's control plane namespace */
  const char *metro;              /* ControlPlane spec.region */
  const char *generic_kubeconfig; /* generic token kubeconfig Secret name */
  const char *credentials;        /* the cloudprovider Secret's name (spec.secretRef.name) */
  const char *checksum;           /* checksum of the credentials ("" when unknown) */
  int replicas;                   /* CCM replicas: 0 hibernated, else 1 */
  const char *img_ccm, *img_metallb_controller, *img_metallb_speaker;
};

/* The seed objects (Deployment, Service, PDB, VPA, ServiceMonitor, PrometheusRule), as an array. */
json_t *cp_seed_objects(const struct cp_values *v);
/* The shoot objects (CCM RBAC, MetalLB with RBAC and ConfigMap), as an array. */
json_t *cp_shoot_objects(const struct cp_values *v);
/* The shoot access Secret shoot-access-cloud-controller-manager (token filled by the resource
 * manager). */
json_t *cp_access_secret(const char *ns);

/*
 * The Secret carrying objects for the ManagedResource mr (data keys
 * "<kind>__<namespace>__<name>.json", lower-case kind, one canonical JSON document
 * each), immutable and named "<mr>-<first 8 hex digits of SHA-256 over its data>",
 * without its data: *manifests_out maps each data key to its object (kube.apply
 * params.manifests; the executor encodes them). And the ManagedResource referencing
 * it (class "seed" when seed_class). All new.
 */
void cp_managed_resource(const char *ns, const char *mr, bool seed_class, const json_t *objects,
                         json_t **secret_out, json_t **manifests_out, json_t **mr_out);

#endif
