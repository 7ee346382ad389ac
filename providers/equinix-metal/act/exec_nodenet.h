/*
 * exec_nodenet.h - the "metal.node-network" executor action: the Worker's
 * post-reconcile work against the shoot (the Go original's PostReconcileHook).
 *
 *   metal.node-network {secretRef {namespace, name}, kubeconfigSecrets [name...],
 *                       infrastructure}
 *     1. Read the shoot's kubeconfig from the first Secret of kubeconfigSecrets
 *        (key "kubeconfig", in the action's namespace) that exists, and talk to the
 *        shoot's kube-apiserver with it.
 *     2. List the shoot's Nodes. For each Node without the annotation
 *        metal.equinix.com/network-4-private whose spec.providerID names an Equinix
 *        Metal device ("equinixmetal://<id>", "packet://<id>" or a bare id): read the
 *        device (Metal credentials from secretRef), take its first private IPv4
 *        management address and annotate the Node with the parent block
 *        "<network>/<cidr>".
 *     3. Read Infrastructure <infrastructure> in the namespace.
 *     Outcome {nodesCIDR: the node networks sorted and joined by ",", or "" when no
 *     node has one; nodes: n; annotated: n; infrastructureFound: bool (a missing
 *     Infrastructure is no error); infrastructureNodesCIDR: its status.nodesCIDR or null}.
 * Retryable errors use the Go original's texts
 *     ("failed to get shoot nodes: ...", "error getting private network from Equinix
 *     Metal API for <node>: ...", "unable to patch node <node> with private network
 *     cidr: ...", "failed to get <name> infrastructure: ...").
 *
 *   shoot.nodes.count {kubeconfigSecrets [name...]}
 *     Steps 1 and 2 without annotating: counts the shoot's Nodes as Gardener's worker
 *     health check (NodesChecker) does. Outcome {nodes: all; registered: those without
 *     node.machine.sapcloud.io/not-managed-by-mcm=1; ready: registered, schedulable and
 *     Ready=True; notManagedByMCM: n}. A failed list is "unable to check nodes. Failed to
 *     list shoot nodes: ..."; a missing kubeconfig Secret keeps step 1's text.
 *
 * The kubeconfig is read at call time and never journaled; the shoot client lives
 * for one call.
 */
#ifndef EQXM_EXEC_NODENET_H
#define EQXM_EXEC_NODENET_H

#include "engine/base/common.h"
#include "engine/act/executor.h"
#include "engine/kube/client.h"

struct exec_nodenet;
struct metal_creds;

/* seed: the seed's client (Secrets, Infrastructure); creds: Metal clients by Secret. */
struct exec_nodenet *exec_nodenet_new(struct ev_loop *loop, struct kube_client *seed,
                                      struct metal_creds *creds);
void exec_nodenet_register(struct exec_nodenet *x, struct executor *ex);
/* Cancels calls in flight (their outcomes never arrive). */
void exec_nodenet_free(struct exec_nodenet *x);

/*
 * The device id in a Node's spec.providerID: "equinixmetal://<id>", "packet://<id>" or a
 * bare "<id>". Another scheme gives "" (not ours); more than one "://" gives NULL (an error).
 * Caller frees.
 */
char *metal_device_id_from_provider_id(const char *provider_id);

#endif
