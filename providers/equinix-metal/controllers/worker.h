/*
 * worker.h - the Worker controller of the Equinix Metal provider (pure actuator).
 *
 * Like the Go original (and Gardener's generic Worker actuator), it writes, per
 * pool of Worker.spec.pools, a machine.sapcloud.io MachineClass and its class
 * Secret (userData) named "<deployment>-<pool hash>", and a MachineDeployment
 * named "<technical ID>-<pool>"; publishes status.providerStatus (WorkerStatus
 * with the machine images) and status.machineDeployments; waits until the
 * MachineDeployments are available; removes what is no longer wanted; and on
 * deletion marks the Machines for forced deletion, deletes everything and waits
 * until the machine objects are gone. The machine controller (MCM provider
 * sidecar) turns the Machines into devices.
 *
 * Action kinds it plans:
 *   kube.secret.from  {object, fill: [{secretRef, key, path, decode, notFound, missing}]}
 *       apply object with the named Secret keys filled in when called (the class
 *       Secret's data.userData; the MachineClass's providerSpec.projectID)
 *       → {resourceVersion, uid, generation, digests: {path: "sha256:..."}}
 *   kube.apply, kube.delete, kube.patch, kube.status  (engine/act/exec_kube.h)
 *   kube.create       restore: the MachineSets and Machines of status.state, unless they exist
 *   ext.wait          (engine/decide/extension.h) with params.check one of
 *       "machineDeploymentsReady", "machineDeploymentsGone", "machineResourcesDeleted"
 *   metal.node-network {secretRef, kubeconfigSecrets, infrastructure}  (act/exec_nodenet.h)
 *       annotate the shoot's Nodes with their private network → {nodesCIDR, nodes, annotated,
 *       infrastructureNodesCIDR}; its nodesCIDR then goes to the Infrastructure (kube.status on
 *       /status, only when it differs) and to vpn-seed-server's NODE_NETWORK
 *   kube.env.ensure   {container, env {name, value}, fallbackKinds}  (engine/act/exec_kube_env.h)
 */
#ifndef EQXM_METAL_WORKER_H
#define EQXM_METAL_WORKER_H

#include "engine/decide/extension.h"

#define MCM_GK_MACHINE_DEPLOYMENT "machine.sapcloud.io/MachineDeployment"
#define MCM_GK_MACHINE_CLASS      "machine.sapcloud.io/MachineClass"
#define MCM_GK_MACHINE            "machine.sapcloud.io/Machine"
#define MCM_GK_MACHINE_SET        "machine.sapcloud.io/MachineSet"
#define MCM_API_VERSION           "machine.sapcloud.io/v1alpha1"
#define MCM_PROVIDER_NAME         "EquinixMetal"

/* How shoot.nodes.count's error starts when it ran but the shoot's Node list failed (Gardener's
 * NodesChecker text); the health check tells that from a missing shoot client by it. */
#define METAL_NODES_CHECK_FAILED "unable to check nodes."

/* The Node annotation with the node's private network "<network>/<cidr>" (the CCM's too). */
#define METAL_ANNOTATION_NETWORK_PRIVATE "metal.equinix.com/network-4-private"

extern const struct ext_controller metal_worker_controller;
/*
 * The health check "worker-health" (worker_health.c): condition EveryNodeReady every sync
 * period, after action shoot.nodes.count {kubeconfigSecrets} (act/exec_nodenet.h).
 */
extern const struct reducer metal_worker_health_reducer;

/*
 * Gardener's worker pool hash for rolling pools (WorkerPoolHash with the
 * node-agent secret name and no additional data): the first 5 hex digits of
 * SHA-256 over the concatenated lower-case hex SHA-256 of each item. out: 6 bytes.
 */
void metal_worker_pool_hash(const char *const *items, size_t n, char out[6]);

#endif
