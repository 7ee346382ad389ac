/*
 * httpreq.h - a strict, size-capped HTTP/1.1 request parser (pure, no I/O), the
 * one parser of the HTTP server (httpd.h) for every port and transport.
 *
 * The server faces whatever reaches its ports, so the parser accepts only what
 * API servers, Prometheus, probes and curl send and refuses the rest with a status:
 *   - request line "METHOD SP origin-form SP HTTP/1.x", CRLF only: a bare LF is
 *     refused (400), as a bare CR is; HTTP/1.0 is served as 1.0, a later 1.x as
 *     1.1, another major version gets 505;
 *   - header lines "name: value", token names, no control characters, no obsolete
 *     line folding, at most HTTPREQ_MAX_HEADERS of them within max_header_bytes;
 *   - bodies only with Content-Length (repeated values must agree); any
 *     Transfer-Encoding is refused (411 for chunked, 501 otherwise), which also
 *     rules out request smuggling through CL/TE disagreement;
 *   - Host is required for HTTP/1.1; "Expect: 100-continue" is recognised.
 * Keep-alive follows HTTP/1.1 (persistent unless "Connection: close") and
 * HTTP/1.0 (closed unless "Connection: keep-alive").
 *
 * The parser is stateless: call httpreq_parse() on the bytes received so far. It
 * reports INCOMPLETE (read more; once the headers are known, total_len says how
 * many bytes the whole request needs), DONE (a request occupies the first
 * total_len bytes) or ERROR (answer status and close).
 */
#ifndef EQXM_NET_HTTPREQ_H
#define EQXM_NET_HTTPREQ_H

#include "engine/base/common.h"

#define HTTPREQ_MAX_HEADERS 64
#define HTTPREQ_MAX_TARGET  2048

struct httpreq_limits {
  size_t max_header_bytes; /* request line + headers + blank line */
  size_t max_body;         /* Content-Length cap */
};

enum httpreq_result { HTTPREQ_INCOMPLETE = 0, HTTPREQ_DONE, HTTPREQ_ERROR };

struct httpreq {
  char method[16];
  char target[HTTPREQ_MAX_TARGET + 1]; /* as sent, including any query */
  char path[HTTPREQ_MAX_TARGET + 1];   /* target without the query */
  int minor_version;                   /* 1 for HTTP/1.1, 0 for HTTP/1.0 */
  bool keep_alive;
  bool expect_continue;
  bool headers_done;      /* the header section was parsed (also on INCOMPLETE) */
  char content_type[128]; /* "" when absent; truncated values are refused */
  size_t content_length;
  size_t header_len; /* bytes of the header section, including the blank line */
  size_t total_len;  /* header_len + content_length, once headers_done */
  const char *body;  /* points into the input; valid for DONE only */
  /* On ERROR: the status to answer and a sentence for the body. */
  int status;
  const char *reason;
};

/* Parse the first request in data[0..len). Fills *req; see the header comment. */
enum httpreq_result httpreq_parse(const char *data, size_t len, const struct httpreq_limits *lim,
                                  struct httpreq *req);

/*
 * Percent-decode [s, e) into out (at most outsz - 1 bytes, then cut; always
 * NUL-terminated when outsz > 0); with plus, '+' becomes a space. Returns
 * false for a malformed escape or an encoded NUL (out then holds the part
 * decoded so far).
 */
bool httpreq_pct_decode(const char *s, const char *e, char *out, size_t outsz, bool plus);

/* "Bad Request" for 400 and so on; "Error" for codes it does not know. */
const char *httpreq_status_text(int status);

#endif
