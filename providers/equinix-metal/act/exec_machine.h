/*
 * exec_machine.h - executor handlers of the machine controller
 * (providers/equinix-metal/controllers/machine.h lists the kinds and params):
 *
 *   machine.token.ensure / machine.token.delete   bootstrap token Secrets in the shoot
 *   machine.node.patch / machine.node.delete      Nodes of the shoot
 *   machine.drain                                 cordon, then evict (or, forced, delete)
 *                                                 the node's pods; one pass per attempt
 *   metal.device.create / metal.device.delete     Equinix Metal devices
 *
 * Secrets stay here: the token secret is generated at call time (never in a
 * reducer), the class Secret's userData is read from the seed's watch cache when
 * the device is created, and both are substituted into the userdata sent to the
 * Metal API. Outcomes carry only ids, states and digests.
 */
#ifndef EQXM_EXEC_MACHINE_H
#define EQXM_EXEC_MACHINE_H

#include "engine/base/common.h"
#include "engine/act/executor.h"

struct kube_client;
struct kube_informer;
struct metal_creds;
struct exec_machine;

struct exec_machine_opts {
  struct kube_client *seed;           /* class Secrets when not in the cache */
  struct kube_informer *seed_secrets; /* watch cache of the namespace's Secrets (may be NULL) */
  struct kube_client *shoot;          /* the target cluster */
  struct metal_creds *creds;          /* Metal clients per credentials Secret */
};

struct exec_machine *exec_machine_new(const struct exec_machine_opts *o);
void exec_machine_register(struct exec_machine *m, struct executor *x);
/* Cancels calls in flight. Free before the clients. */
void exec_machine_free(struct exec_machine *m);

/* Substitute <<BOOTSTRAP_TOKEN>> and <<MACHINE_NAME>> (or their URL-escaped forms) as MCM
 * does; caller frees. Exposed for the unit test. */
char *exec_machine_userdata(const char *tmpl, const char *token, const char *machine);

#endif
