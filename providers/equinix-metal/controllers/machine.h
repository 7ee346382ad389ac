/*
 * machine.h - the machine controller: MCM's provider sidecar for Equinix Metal
 * as one pure reducer (docs/machine-controller.md).
 *
 * It folds the Machines, MachineClasses and Secrets of one shoot namespace of
 * the seed, the Nodes of the shoot and the devices of the shoot's Equinix Metal
 * project into one state document, and plans, per Machine, the next steps of
 * MCM's lifecycle (finalizer, bootstrap token, device, providerID and `node`
 * label, Pending, Running, Unknown, Failed; on deletion Terminating, drain,
 * device deletion, Node and token deletion, finalizer removal). Devices of the
 * cluster that no Machine claims are deleted after a grace period.
 *
 * The reducer is inert unless engine.start carries controllers.machine (so
 * journals of `run` replay unchanged). Action kinds it plans:
 *   kube.patch / kube.status   on Machines, MachineClasses, Secrets (seed)
 *   machine.token.ensure       {machine, tokenID, expirySeconds, authExtraGroups} (shoot Secret)
 *   machine.token.delete       {}                                  (shoot Secret)
 *   machine.node.patch         {patch}                             (shoot Node)
 *   machine.node.delete        {}                                  (shoot Node)
 *   machine.drain              {force, evictOnly?}                 (shoot Node)
 *       → {done, pods, evicted, blocked, deleted}
 *   metal.device.create        {machine, hostname, key, classSecretRef, credentialsSecretRef,
 *                               tokenSecret, metro, plan, operatingSystem, ipxeScriptUrl,
 *                               billingCycle, tags, sshKeys, reservationIDs, reservedDevicesOnly}
 *       → {id, metro, state, adopted, duplicates, userDataDigest}
 *   metal.device.delete        {id?, key?, credentialsSecretRef, reason} → {deleted, gone}
 * A Machine whose spec.providerID already names a device (one the Worker restored after a
 * migration) gets no token and no create.
 */
#ifndef EQXM_METAL_MACHINE_H
#define EQXM_METAL_MACHINE_H

#include "engine/decide/reduce.h"

#define MCM_GROUP            "machine.sapcloud.io"
#define MCM_FINALIZER        "machine.sapcloud.io/machine-controller-manager"
#define MCM_SECRET_FINALIZER "machine.sapcloud.io/machine-controller"
#define MCM_CRITICAL_TAINT   "node.gardener.cloud/critical-components-not-ready"
#define MCM_NODE_MACHINE     "node.gardener.cloud/machine-name"
#define MCM_PROVIDER_PREFIX  "equinixmetal://"
#define MACHINE_CONTROLLER   "machine"

extern const struct reducer metal_machine_reducer;

/* "bootstrap-token-<id>" of a Machine name, as MCM derives it; out >= 32 bytes. */
void machine_token_id(const char *machine, char out[7]);
/* A Go duration ("20m", "1h30m", "500ms", "10m0s") in ms; false when malformed. */
bool machine_parse_duration(const char *s, int64_t *ms);

#endif
