/*
 * controlplane.h - the ControlPlane controller of the Equinix Metal provider
 * (pure actuator), as Gardener's generic ControlPlane actuator drives the Go
 * original's charts, delivered the v1.135+ way:
 *
 *   Secret shoot-access-cloud-controller-manager (token-requestor, SA
 * kube-system/cloud-controller-manager) ManagedResource extension-controlplane-seed (class seed):
 * the cloud-controller-manager Deployment, Service, PodDisruptionBudget, VPA, ServiceMonitor,
 * PrometheusRule ManagedResource extension-controlplane-shoot: CCM RBAC, MetalLB (ConfigMap mode)
 *   ManagedResource extension-controlplane-storageclasses: empty (Gardener expects it)
 * each ManagedResource with an immutable Secret "<name>-<8 hex of its data>".
 *
 * Images come from the engine.start configuration of the controller
 * ({"images": {"cloud-controller-manager": "repo:tag", ...}}), which run reads
 * from the image vector file.
 *
 * Action kinds it plans: kube.apply, kube.delete, ext.wait with params.check
 * "managedResourcesGone" ({names: [...]}).
 */
#ifndef EQXM_METAL_CONTROLPLANE_H
#define EQXM_METAL_CONTROLPLANE_H

#include "engine/decide/extension.h"

#define MR_GK             "resources.gardener.cloud/ManagedResource"
#define CP_MR_SEED        "extension-controlplane-seed"
#define CP_MR_SHOOT       "extension-controlplane-shoot"
#define CP_MR_STORAGE     "extension-controlplane-storageclasses"
#define CP_MR_WEBHOOKS    "extension-controlplane-shoot-webhooks"
#define CP_ACCESS_SECRET  "shoot-access-cloud-controller-manager"
#define CP_CCM_DEPLOYMENT "cloud-controller-manager"

extern const struct ext_controller metal_controlplane_controller;

#endif
