/*
 * httpreq.c - strict HTTP/1.1 request parsing; see httpreq.h for what is accepted.
 */
#include "engine/base/common.h"
#include "engine/net/httpreq.h"

#include <string.h>
#include <strings.h>

static bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return true;
  return strchr("!#$%&'*+-.^_`|~", c) != NULL && c != '\0';
}

static enum httpreq_result fail(struct httpreq *req, int status, const char *reason) {
  req->status = status;
  req->reason = reason;
  return HTTPREQ_ERROR;
}

/* Find "\r\n\r\n" within the first max bytes; returns the offset after it or 0. */
static size_t find_header_end(const char *d, size_t len) {
  for (size_t i = 3; i < len; i++)
    if (d[i] == '\n' && d[i - 1] == '\r' && d[i - 2] == '\n' && d[i - 3] == '\r')
      return i + 1;
  return 0;
}

/* Case-insensitive match of a comma-separated token list member. */
static bool list_has(const char *v, size_t n, const char *tok) {
  size_t tl = strlen(tok);
  size_t i = 0;
  while (i < n) {
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
      i++;
    size_t s = i;
    while (i < n && v[i] != ',')
      i++;
    size_t e = i;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
      e--;
    if (e - s == tl && !strncasecmp(v + s, tok, tl))
      return true;
  }
  return false;
}

enum httpreq_result httpreq_parse(const char *data, size_t len, const struct httpreq_limits *lim,
                                  struct httpreq *req) {
  memset(req, 0, sizeof(*req));
  size_t limit = len < lim->max_header_bytes ? len : lim->max_header_bytes;
  /* Refuse early what can never become a request line: no need to wait for CRLFCRLF. */
  for (size_t i = 0; i < limit && data[i] != ' '; i++) {
    if (!is_tchar((unsigned char)data[i]))
      return fail(req, 400,
                  "the request does not start with an HTTP method (is this plain HTTP or TLS?)");
    if (i >= sizeof(req->method) - 1)
      return fail(req, 501, "the request method is not supported");
  }
  size_t hend = find_header_end(data, limit);
  if (!hend) {
    if (len >= lim->max_header_bytes)
      return fail(req, 431, "the request header section is too large");
    /* A bare LF where a CRLF belongs can be refused at once. */
    for (size_t i = 0; i < limit; i++)
      if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
        return fail(req, 400, "lines must end with CRLF");
    return HTTPREQ_INCOMPLETE;
  }
  req->header_len = hend;

  /* Request line. */
  const char *p = data, *end = data + hend;
  const char *eol = memchr(p, '\r', (size_t)(end - p));
  if (!eol || eol[1] != '\n')
    return fail(req, 400, "malformed request line");
  const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
  if (!sp1 || sp1 == p)
    return fail(req, 400, "malformed request line");
  if ((size_t)(sp1 - p) >= sizeof(req->method))
    return fail(req, 501, "the request method is not supported");
  memcpy(req->method, p, (size_t)(sp1 - p));
  const char *t = sp1 + 1;
  const char *sp2 = memchr(t, ' ', (size_t)(eol - t));
  if (!sp2 || sp2 == t)
    return fail(req, 400, "malformed request line");
  size_t tlen = (size_t)(sp2 - t);
  if (tlen > HTTPREQ_MAX_TARGET)
    return fail(req, 414, "the request target is too long");
  if (t[0] != '/')
    return fail(req, 400, "the request target must be an absolute path");
  for (size_t i = 0; i < tlen; i++) {
    unsigned char c = (unsigned char)t[i];
    if (c <= 0x20 || c >= 0x7f)
      return fail(req, 400, "the request target contains invalid characters");
  }
  memcpy(req->target, t, tlen);
  const char *q = memchr(t, '?', tlen);
  size_t plen = q ? (size_t)(q - t) : tlen;
  memcpy(req->path, t, plen);
  const char *ver = sp2 + 1;
  size_t vlen = (size_t)(eol - ver);
  /* HTTP-version = "HTTP/" DIGIT "." DIGIT; a later 1.x is served as 1.1 (RFC 9110 §6.2). */
  if (vlen != 8 || memcmp(ver, "HTTP/", 5) || ver[5] < '0' || ver[5] > '9' || ver[6] != '.' ||
      ver[7] < '0' || ver[7] > '9')
    return fail(req, 400, "malformed request line");
  if (ver[5] != '1')
    return fail(req, 505, "only HTTP/1.1 and HTTP/1.0 are supported");
  req->minor_version = ver[7] == '0' ? 0 : 1;

  /* Header fields. */
  bool have_cl = false, have_host = false, conn_close = false, conn_keep = false;
  int nheaders = 0;
  p = eol + 2;
  while (p < end) {
    eol = memchr(p, '\r', (size_t)(end - p));
    if (!eol || eol + 1 >= end || eol[1] != '\n')
      return fail(req, 400, "lines must end with CRLF");
    if (eol == p)
      break; /* the blank line */
    if (++nheaders > HTTPREQ_MAX_HEADERS)
      return fail(req, 431, "too many request header fields");
    if (*p == ' ' || *p == '\t')
      return fail(req, 400, "obsolete header line folding is not accepted");
    const char *colon = p;
    while (colon < eol && *colon != ':') {
      if (!is_tchar((unsigned char)*colon))
        return fail(req, 400, "malformed header field name");
      colon++;
    }
    if (colon == eol || colon == p)
      return fail(req, 400, "malformed header field");
    size_t nlen = (size_t)(colon - p);
    const char *v = colon + 1;
    while (v < eol && (*v == ' ' || *v == '\t'))
      v++;
    const char *ve = eol;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
      ve--;
    for (const char *c = v; c < ve; c++) {
      unsigned char u = (unsigned char)*c;
      if ((u < 0x20 && u != '\t') || u == 0x7f)
        return fail(req, 400, "a header field value contains control characters");
    }
    size_t vl = (size_t)(ve - v);
#define NAME_IS(s) (nlen == sizeof(s) - 1 && !strncasecmp(p, s, nlen))
    if (NAME_IS("Content-Length")) {
      if (vl == 0 || vl > 15)
        return fail(req, 400, "invalid Content-Length");
      size_t n = 0;
      for (size_t i = 0; i < vl; i++) {
        if (v[i] < '0' || v[i] > '9')
          return fail(req, 400, "invalid Content-Length");
        n = n * 10 + (size_t)(v[i] - '0');
      }
      if (have_cl && n != req->content_length)
        return fail(req, 400, "conflicting Content-Length header fields");
      have_cl = true;
      req->content_length = n;
    } else if (NAME_IS("Transfer-Encoding")) {
      if (list_has(v, vl, "chunked"))
        return fail(req, 411, "chunked request bodies are not accepted; send a Content-Length");
      return fail(req, 501, "Transfer-Encoding is not supported");
    } else if (NAME_IS("Host")) {
      if (have_host)
        return fail(req, 400, "more than one Host header field");
      have_host = true;
    } else if (NAME_IS("Connection")) {
      if (list_has(v, vl, "close"))
        conn_close = true;
      if (list_has(v, vl, "keep-alive"))
        conn_keep = true;
    } else if (NAME_IS("Content-Type")) {
      if (vl >= sizeof(req->content_type))
        return fail(req, 400, "the Content-Type header field is too long");
      memcpy(req->content_type, v, vl);
      req->content_type[vl] = '\0';
    } else if (NAME_IS("Expect")) {
      if (vl == 12 && !strncasecmp(v, "100-continue", 12))
        req->expect_continue = true;
      else
        return fail(req, 417, "only \"Expect: 100-continue\" is understood");
    }
#undef NAME_IS
    p = eol + 2;
  }
  if (req->minor_version == 1 && !have_host)
    return fail(req, 400, "HTTP/1.1 requests need a Host header field");
  req->keep_alive = req->minor_version == 1 ? !conn_close : (conn_keep && !conn_close);
  if (!have_cl && (!strcmp(req->method, "POST") || !strcmp(req->method, "PUT") ||
                   !strcmp(req->method, "PATCH")))
    return fail(req, 411, "a request body needs a Content-Length header field");
  if (req->content_length > lim->max_body)
    return fail(req, 413, "the request body is larger than the server accepts");
  req->headers_done = true;
  req->total_len = hend + req->content_length;
  if (len < req->total_len)
    return HTTPREQ_INCOMPLETE;
  req->body = data + hend;
  return HTTPREQ_DONE;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool httpreq_pct_decode(const char *s, const char *e, char *out, size_t outsz, bool plus) {
  size_t o = 0;
  bool ok = true;
  while (s < e) {
    char c = *s++;
    if (c == '%') {
      int h = e - s >= 2 ? hexval(s[0]) : -1, l = e - s >= 2 ? hexval(s[1]) : -1;
      if (h < 0 || l < 0 || (h == 0 && l == 0)) {
        ok = false;
        break;
      }
      c = (char)(h * 16 + l);
      s += 2;
    } else if (plus && c == '+') {
      c = ' ';
    }
    if (o + 1 < outsz)
      out[o++] = c;
  }
  if (outsz)
    out[o] = '\0';
  return ok;
}

const char *httpreq_status_text(int status) {
  switch (status) {
  case 100:
    return "Continue";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 203:
    return "Non-Authoritative Information";
  case 204:
    return "No Content";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 411:
    return "Length Required";
  case 413:
    return "Content Too Large";
  case 414:
    return "URI Too Long";
  case 415:
    return "Unsupported Media Type";
  case 417:
    return "Expectation Failed";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 503:
    return "Service Unavailable";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return "Error";
  }
}
