/*
 * sha256.h - SHA-256 (GnuTLS) for the journal hash chain, Secret digests and
 * idempotency keys.
 */
#ifndef EQXM_SHA256_H
#define EQXM_SHA256_H

#include "engine/base/common.h"

#define SHA256_LEN     32
#define SHA256_HEX_LEN 64

void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);
/* out gets 64 lower-case hex digits and a NUL. */
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]);
void hex_encode(const uint8_t *in, size_t len, char *out /* 2*len+1 */);
/* HMAC-SHA256 of data under key (GnuTLS). */
void hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                 uint8_t out[SHA256_LEN]);

/* Incremental hashing. */
struct sha256_ctx {
  void *h; /* gnutls_hash_hd_t */
};
void sha256_begin(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
void sha256_end(struct sha256_ctx *c, uint8_t out[SHA256_LEN]);

#endif
