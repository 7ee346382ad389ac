/*
 * httpd_parse_fuzz.c - libFuzzer target for what the metrics and health
 * server reads from the network: request heads (httpd_parse_head), percent
 * escapes, query strings, and bind addresses. Invariants checked: no crash,
 * a parsed head has a token method and an origin-form target inside the
 * input, a head length never exceeds the input, decoding never overruns.
 */
#include "engine/base/common.h"
#include "engine/net/httpd.h"
#include "engine/net/httpd_parse.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int init;
  if (!init) {
    xalloc_init();
    init = 1;
  }
  if (size > 2 * HTTPD_MAX_HEADER_BYTES)
    return 0;
  const char *in = (const char *)data;
  size_t hl = httpd_parse_head_length(in, size);
  if (hl > size)
    abort();
  char *head = xmalloc(size + 1);
  memcpy(head, in, size);
  head[size] = '\0';
  if (hl && !memchr(head, '\0', hl)) {
    head[hl] = '\0';
    struct httpd_parse_head h;
    const char *why = NULL;
    int st = httpd_parse_head(head, &h, &why);
    if (st == 0) {
      if (!h.method[0] || !h.target || h.target[0] != '/' || h.target < head ||
          h.target >= head + hl || (h.minor != 0 && h.minor != 1))
        abort();
      char path[64];
      (void)httpd_parse_pct_decode(h.target, h.target + strlen(h.target), path, sizeof(path),
                                   false);
      if (strlen(path) >= sizeof(path))
        abort();
    } else if (st != 400 && st != 431 && st != 505) {
      abort();
    } else if (st == 400 && !why) {
      abort();
    }
  }
  /* The same bytes as a query string and as a bind address. */
  memcpy(head, in, size);
  head[size] = '\0';
  const char *cur = head;
  char k[16], v[16];
  int n = 0;
  while (httpd_query_next(&cur, k, sizeof(k), v, sizeof(v)))
    if (strlen(k) >= sizeof(k) || strlen(v) >= sizeof(v) || ++n > (int)size + 1)
      abort();
  struct httpd_addr a;
  struct eng_error err;
  if (httpd_addr_parse("--fuzz", head, NULL, &a, &err) == ENG_OK && !a.disabled &&
      (a.port < 0 || a.port > 65535 || strlen(a.host) >= sizeof(a.host)))
    abort();
  free(head);
  return 0;
}
