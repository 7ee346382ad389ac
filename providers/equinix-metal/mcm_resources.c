/*
 * mcm_resources.c - machine.sapcloud.io/v1alpha1 resources.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/mcm_resources.h"

const struct kube_resource mcm_res_machine_deployment = {
    "machine.sapcloud.io", "v1alpha1", "machinedeployments", "MachineDeployment", true};
const struct kube_resource mcm_res_machine_set = {"machine.sapcloud.io", "v1alpha1", "machinesets",
                                                  "MachineSet", true};
const struct kube_resource mcm_res_machine_class = {"machine.sapcloud.io", "v1alpha1",
                                                    "machineclasses", "MachineClass", true};
const struct kube_resource mcm_res_machine = {"machine.sapcloud.io", "v1alpha1", "machines",
                                              "Machine", true};
const struct kube_resource metal_res_managed_resource = {
    "resources.gardener.cloud", "v1alpha1", "managedresources", "ManagedResource", true};
