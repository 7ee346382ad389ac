/*
 * b64.h - standard base64 (RFC 4648, with padding), pure.
 */
#ifndef EQXM_B64_H
#define EQXM_B64_H

#include "engine/base/common.h"
#include "engine/base/err.h"

/* Encode; caller frees the NUL-terminated result. */
char *b64_encode(const void *data, size_t len);
/* Decode; whitespace is skipped. Returns ENG_INVALID on bad input. *out is
 * NUL-terminated for convenience (not counted in *outlen); caller frees. */
enum eng_err b64_decode(const char *in, size_t inlen, unsigned char **out,
                        size_t *outlen) WARN_UNUSED;

#endif
