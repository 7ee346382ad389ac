/*
 * sha256.c - SHA-256 through GnuTLS.
 */
#include "engine/base/common.h"
#include "engine/base/sha256.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>

void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]) {
  if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, out) < 0)
    abort(); /* only fails when the algorithm is missing from the library */
}

void hex_encode(const uint8_t *in, size_t len, char *out) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = hex[in[i] >> 4];
    out[2 * i + 1] = hex[in[i] & 15];
  }
  out[2 * len] = '\0';
}

void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]) {
  uint8_t d[SHA256_LEN];
  sha256(data, len, d);
  hex_encode(d, SHA256_LEN, out);
}

void sha256_begin(struct sha256_ctx *c) {
  gnutls_hash_hd_t h;
  if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
    abort();
  c->h = h;
}

void sha256_update(struct sha256_ctx *c, const void *data, size_t len) {
  if (len && gnutls_hash((gnutls_hash_hd_t)c->h, data, len) < 0)
    abort();
}

void sha256_end(struct sha256_ctx *c, uint8_t out[SHA256_LEN]) {
  gnutls_hash_deinit((gnutls_hash_hd_t)c->h, out);
  c->h = NULL;
}

void hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                 uint8_t out[SHA256_LEN]) {
  if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, keylen, data, len, out) < 0)
    abort(); /* GnuTLS cannot compute SHA-256: nothing sensible to do */
}
