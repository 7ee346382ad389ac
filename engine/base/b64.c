/*
 * b64.c - base64 encode/decode.
 */
#include "engine/base/common.h"
#include "engine/base/b64.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>

static const char enc_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *b64_encode(const void *data, size_t len) {
  const unsigned char *in = data;
  size_t olen = 4 * ((len + 2) / 3);
  char *out = xmalloc(olen + 1);
  size_t o = 0, i = 0;
  for (; i + 2 < len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = enc_tab[v >> 18];
    out[o++] = enc_tab[(v >> 12) & 63];
    out[o++] = enc_tab[(v >> 6) & 63];
    out[o++] = enc_tab[v & 63];
  }
  if (i < len) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
    out[o++] = enc_tab[v >> 18];
    out[o++] = enc_tab[(v >> 12) & 63];
    out[o++] = i + 1 < len ? enc_tab[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
  return out;
}

static int dec_val(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

enum eng_err b64_decode(const char *in, size_t inlen, unsigned char **out, size_t *outlen) {
  unsigned char *o = xmalloc(inlen / 4 * 3 + 4);
  size_t n = 0;
  uint32_t acc = 0;
  int bits = 0, pad = 0;
  for (size_t i = 0; i < inlen; i++) {
    unsigned char c = (unsigned char)in[i];
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
      continue;
    if (c == '=') {
      pad++;
      continue;
    }
    int v = dec_val(c);
    if (v < 0 || pad) {
      free(o);
      return ENG_INVALID;
    }
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      o[n++] = (unsigned char)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  if (pad > 2 || bits >= 6) {
    free(o);
    return ENG_INVALID;
  }
  o[n] = '\0';
  *out = o;
  *outlen = n;
  return ENG_OK;
}
