/*
 * exec_metal.h - executor handlers for Equinix Metal actions:
 *
 *   metal.sshkey.ensure {secretRef, label, publicKey, knownID?}
 *       → {id, fingerprint, adopted, replaced}
 *   metal.sshkey.delete {secretRef, label, id?, force}
 *       → {deleted, skipped?}
 *
 * Credentials come from the Secret named by secretRef through metal_creds.h
 * (memory only; one client, hence one token bucket, per credentials set).
 *
 * Idempotency: the SSH key's label ("<shoot-namespace>-ssh-publickey") is its
 * key in Equinix Metal; ensure looks it up before creating, so resolving an
 * attempt interrupted by a crash adopts the key it may have created.
 */
#ifndef EQXM_EXEC_METAL_H
#define EQXM_EXEC_METAL_H

#include "engine/base/common.h"
#include "engine/act/executor.h"

struct metal_creds;
struct exec_metal;

/* creds (the shared Secret-to-client cache) must outlive the handlers. */
struct exec_metal *exec_metal_new(struct metal_creds *creds);
void exec_metal_register(struct exec_metal *m, struct executor *x);
/* Cancels operations in flight (their outcomes never arrive). Free before creds. */
void exec_metal_free(struct exec_metal *m);

#endif
