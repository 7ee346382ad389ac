/*
 * exec_metal.h - executor handlers for Equinix Metal actions:
 *
 *   metal.sshkey.ensure {secretRef, label, publicKey, knownID?}
 *       → {id, fingerprint, adopted, replaced}
 *   metal.sshkey.delete {secretRef, label, id?, force}
 *       → {deleted, skipped?}
 *
 * Credentials (apiToken, projectID) are read from the Secret named by
 * secretRef, from the watch cache when it holds it and by a GET otherwise; they
 * stay in memory only. One Metal client per credentials set is kept (they carry
 * the rate limiter), so all actions of a project share one token bucket.
 *
 * Idempotency: the SSH key's label ("<shoot-namespace>-ssh-publickey") is its
 * key in Equinix Metal; ensure looks it up before creating, so resolving an
 * attempt interrupted by a crash adopts the key it may have created.
 */
#ifndef EQXM_EXEC_METAL_H
#define EQXM_EXEC_METAL_H

#include "common.h"
#include "executor.h"
#include "kube/client.h"
#include "kube/informer.h"

struct ev_loop;
struct exec_metal;

struct exec_metal_opts {
  const char *base_url; /* NULL = the public API */
  const char *ca_path;  /* NULL = system trust store */
  double rate, burst;   /* per credentials set; 0 = client defaults */
  long timeout_ms;      /* one HTTP request; 0 = client default */
  long settle_ms;       /* wait before confirming an ambiguous create; 0 = client default */
};

/* secrets may be NULL (then every Secret is read with a GET). */
struct exec_metal *exec_metal_new(struct ev_loop *loop, struct kube_client *kube,
                                  struct kube_informer *secrets, const struct exec_metal_opts *o);
void exec_metal_register(struct exec_metal *m, struct executor *x);
/* Cancels operations in flight (their outcomes never arrive) and frees the clients. */
void exec_metal_free(struct exec_metal *m);
/* HTTP requests sent to the Metal API so far. */
uint64_t exec_metal_requests(const struct exec_metal *m);

#endif
