/*
 * infra.h - the Infrastructure controller of the Equinix Metal provider.
 *
 * Replaces the Terraform pod of the Go original: the only infrastructure an
 * equinixmetal shoot needs is one project SSH key named
 * "<shoot-namespace>-ssh-publickey", whose id goes to
 * status.providerStatus.sshKeyID (InfrastructureStatus) for the workers.
 *
 * Action kinds it plans (carried out by providers/equinix-metal/actions_*.c):
 *   metal.sshkey.ensure  {secretRef, label, publicKey, knownID?}  → {id, fingerprint}
 *   metal.sshkey.delete  {secretRef, label, id?, force}           → {deleted: bool}
 */
#ifndef EQXM_METAL_INFRA_H
#define EQXM_METAL_INFRA_H

#include "engine/decide/extension.h"

#define METAL_PROVIDER_API_VERSION "equinixmetal.provider.extensions.gardener.cloud/v1alpha1"
#define METAL_EXTENSION_TYPE       "equinixmetal"

extern const struct ext_controller metal_infra_controller;

/* "<namespace>-ssh-publickey": the label of the shoot's project SSH key. Caller frees. */
char *metal_infra_ssh_key_label(const char *shoot_namespace);

/* nodesCIDR "a,b,a" -> "a,b": sorted and unique, as the Go original's ParseJoinedNetwork and
 * JoinedNetworksCidr make it. Caller frees. */
char *metal_joined_networks(const char *cidrs);

#endif
