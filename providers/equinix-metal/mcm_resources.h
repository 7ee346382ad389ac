/*
 * mcm_resources.h - the machine-controller-manager kinds (machine.sapcloud.io/v1alpha1)
 * as Kubernetes client resources, for informers and executor writes.
 */
#ifndef EQXM_MCM_RESOURCES_H
#define EQXM_MCM_RESOURCES_H

#include "engine/kube/client.h"

extern const struct kube_resource mcm_res_machine_deployment;
extern const struct kube_resource mcm_res_machine_set;
extern const struct kube_resource mcm_res_machine_class;
extern const struct kube_resource mcm_res_machine;

/* resources.gardener.cloud/v1alpha1 ManagedResource (the ControlPlane controller's). */
extern const struct kube_resource metal_res_managed_resource;

#endif
