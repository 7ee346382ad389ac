/*
 * httpreq_fuzz.c - libFuzzer target for the HTTP/1.1 request parser. Invariants:
 * no crash; a DONE request lies within the input and its body within the request;
 * every prefix of an accepted request is INCOMPLETE or already an ERROR (never a
 * different request); errors carry a 4xx/5xx status and a reason; percent-decoding
 * of the path stays within its buffer and is NUL-terminated.
 */
#include "engine/base/common.h"
#include "engine/net/httpreq.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const struct httpreq_limits lim = {2048, 4096};
  struct httpreq r;
  enum httpreq_result res = httpreq_parse((const char *)data, size, &lim, &r);
  if (res == HTTPREQ_ERROR && (r.status < 400 || r.status > 599 || !r.reason))
    abort();
  if (res == HTTPREQ_DONE) {
    if (r.total_len > size || r.header_len > r.total_len ||
        r.body != (const char *)data + r.header_len ||
        r.content_length != r.total_len - r.header_len || r.path[0] != '/')
      abort();
    char path[64];
    (void)httpreq_pct_decode(r.path, r.path + strlen(r.path), path, sizeof(path), true);
    if (strlen(path) >= sizeof(path))
      abort();
    size_t total = r.total_len;
    for (size_t n = 0; n < total; n += 1 + n / 8) {
      struct httpreq p;
      enum httpreq_result pr = httpreq_parse((const char *)data, n, &lim, &p);
      if (pr == HTTPREQ_DONE)
        abort();
    }
  }
  return 0;
}
