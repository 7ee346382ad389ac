/*
 * b64.h - standard base64 (RFC 4648, with padding), by GnuTLS
 * (gnutls_base64_encode2/decode2). The wrapper only hands out memory of our
 * allocator, NUL-terminated, so callers free() it like any other string.
 */
#ifndef EQXM_B64_H
#define EQXM_B64_H

#include "engine/base/common.h"
#include "engine/base/err.h"

/* Encode; caller frees the NUL-terminated result. */
char *b64_encode(const void *data, size_t len);
/* Decode, strictly: padding to a multiple of 4 is required ("Zg" and "Zg=" are
 * invalid), nothing may follow the padding, and the unused bits of the last
 * character must be zero ("Zh==" is invalid), every byte is of the standard
 * alphabet (no URL-safe "-_"). Line breaks, tabs and spaces are skipped. ENG_INVALID on bad input.
 * *out is NUL-terminated for convenience (not counted in *outlen); caller frees. */
enum eng_err b64_decode(const char *in, size_t inlen, unsigned char **out,
                        size_t *outlen) WARN_UNUSED;

#endif
