/*
 * httpd_parse.h - the request-head parser of the metrics and health server
 * (engine/net/httpd.c), separate so that it can be tested and fuzzed alone. Pure:
 * no I/O, no allocation.
 */
#ifndef EQXM_HTTPD_PARSE_H
#define EQXM_HTTPD_PARSE_H

#include "engine/base/common.h"

/* What the server needs from a request head. */
struct httpd_parse_head {
  char method[16]; /* a token, e.g. "GET" */
  char *target;    /* points into the parsed text: "/path?query" (origin form only) */
  int minor;       /* 0 for HTTP/1.0, 1 for HTTP/1.1 and later 1.x */
  bool has_host;
  bool conn_close; /* "Connection: close" */
  bool has_body;   /* Content-Length > 0 or Transfer-Encoding: the server will not read it */
};

/*
 * Length of the request head at the start of buf[0..len) through its empty
 * line (LF LF or LF CR LF), or 0 when the head is not complete yet.
 */
size_t httpd_parse_head_length(const char *buf, size_t len);

/*
 * Parse a request head in place: hdr is NUL-terminated text whose lines end in
 * LF or CRLF, the final empty line included. Returns 0 on success, or the HTTP
 * status to answer with (400, 431 for too many header lines, 505 for another
 * HTTP major version); for a 400, *why names the problem in a few words.
 * out->target points into hdr.
 */
int httpd_parse_head(char *hdr, struct httpd_parse_head *out, const char **why);

/*
 * Percent-decode [s, e) into out (at most outsz - 1 bytes, then cut; always
 * NUL-terminated when outsz > 0); with plus, '+' becomes a space. Returns
 * false for a malformed escape or an encoded NUL (out then holds the part
 * decoded so far).
 */
bool httpd_parse_pct_decode(const char *s, const char *e, char *out, size_t outsz, bool plus);

#endif
