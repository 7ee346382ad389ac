/*
 * b64.c - base64 by GnuTLS, into our allocator's memory.
 */
#include "engine/base/common.h"
#include "engine/base/b64.h"
#include "engine/base/xalloc.h"

#include <gnutls/gnutls.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Copy GnuTLS's result into our memory (NUL-terminated), wiping and freeing GnuTLS's copy: decoded
 * data is often a secret. */
static unsigned char *take(gnutls_datum_t *d) {
  unsigned char *o = xmalloc((size_t)d->size + 1);
  if (d->size)
    memcpy(o, d->data, d->size);
  o[d->size] = '\0';
  if (d->data) {
    gnutls_memset(d->data, 0, d->size);
    gnutls_free(d->data);
  }
  d->data = NULL;
  return o;
}

char *b64_encode(const void *data, size_t len) {
  if (len == 0)
    return xstrdup("");
  /* 4/3 of UINT_MAX must still fit GnuTLS's unsigned sizes. */
  if (len > UINT_MAX / 4 * 3 - 3)
    xalloc_oom();
  gnutls_datum_t in = {(unsigned char *)data, (unsigned)len}, out = {NULL, 0};
  if (gnutls_base64_encode2(&in, &out) != GNUTLS_E_SUCCESS)
    xalloc_oom(); /* the only failure of encoding is memory */
  return (char *)take(&out);
}

/* GnuTLS's decoder is made for PEM bodies: it stops silently at the first '-' (the start of an
 * "-----END" line), so "Zm9v-anything" would decode to "foo". Refuse every byte outside the
 * alphabet, the padding and the whitespace it skips before handing the text over. */
static bool alphabet_only(const char *in, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)in[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
          c == '/' || c == '=' || c == ' ' || c == '\t' || c == '\r' || c == '\n'))
      return false;
  }
  return true;
}

enum eng_err b64_decode(const char *in, size_t inlen, unsigned char **out, size_t *outlen) {
  *out = NULL;
  *outlen = 0;
  if (inlen > UINT_MAX || !alphabet_only(in, inlen))
    return ENG_INVALID;
  gnutls_datum_t d = {(unsigned char *)in, (unsigned)inlen}, res = {NULL, 0};
  int rc = gnutls_base64_decode2(&d, &res);
  if (rc != GNUTLS_E_SUCCESS) {
    if (res.data)
      gnutls_free(res.data);
    if (rc == GNUTLS_E_MEMORY_ERROR)
      xalloc_oom();
    return ENG_INVALID;
  }
  *outlen = res.size;
  *out = take(&res);
  return ENG_OK;
}
