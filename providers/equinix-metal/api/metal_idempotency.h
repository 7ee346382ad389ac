/*
 * metal_idempotency.h - how idempotency keys and cluster membership are written
 * into Equinix Metal objects. Pure.
 *
 * The API has no idempotency header and allows duplicate hostnames, so a device
 * carries its key as a tag:
 *
 *   gardener.cloud/idempotency-key=<key>
 *
 * Tags are limited to 80 characters (reference §8). A key whose tag would be
 * longer, that starts with "sha256:", or that contains a character outside
 * [A-Za-z0-9._:/-] is replaced by "sha256:" + the first 40 hex digits of its
 * SHA-256 (160 bits), giving a 78-character tag. A key is never empty.
 * Project SSH keys carry their key as the label itself (the Go original names
 * it "<shoot namespace>-ssh-publickey").
 */
#ifndef EQXM_METAL_IDEMPOTENCY_H
#define EQXM_METAL_IDEMPOTENCY_H

#include "engine/base/common.h"

#define METAL_TAG_MAX            80
#define METAL_IDEM_TAG_PREFIX    "gardener.cloud/idempotency-key="
#define METAL_IDEM_HASH_PREFIX   "sha256:"
#define METAL_IDEM_HASH_HEX      40
#define METAL_CLUSTER_TAG_PREFIX "kubernetes.io/cluster/"

/* The tag for key into out. Returns false (out = "") for a NULL or empty key. */
bool metal_idem_tag(const char *key, char out[METAL_TAG_MAX + 1]);
/* True when tag is an idempotency tag (has the prefix). */
bool metal_idem_is_tag(const char *tag);
/* "kubernetes.io/cluster/<ns>"; caller frees. */
char *metal_cluster_tag(const char *ns);

#endif
