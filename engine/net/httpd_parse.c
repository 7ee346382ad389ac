/*
 * httpd_parse.c - strict parsing of HTTP/1.x request heads (RFC 9112 subset:
 * origin-form targets, no folded lines, no bare CR, token header names).
 */
#include "engine/base/common.h"
#include "engine/net/httpd_parse.h"
#include "engine/net/httpd.h"

#include <string.h>
#include <strings.h>

size_t httpd_parse_head_length(const char *buf, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (buf[i] != '\n')
      continue;
    if (i + 1 < len && buf[i + 1] == '\n')
      return i + 2;
    if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
      return i + 3;
  }
  return 0;
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

bool httpd_parse_pct_decode(const char *s, const char *e, char *out, size_t outsz, bool plus) {
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

static bool is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool has_token(const char *list, const char *tok) {
  size_t tl = strlen(tok);
  const char *p = list;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    const char *e = p + strcspn(p, ",");
    const char *t = e;
    while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
      t--;
    if ((size_t)(t - p) == tl && strncasecmp(p, tok, tl) == 0)
      return true;
    p = e;
  }
  return false;
}

int httpd_parse_head(char *hdr, struct httpd_parse_head *pq, const char **why) {
  memset(pq, 0, sizeof(*pq));
  char *line = hdr;
  int nheaders = 0;
  long long clen = -1;
  for (int lineno = 0;; lineno++) {
    char *nl = strchr(line, '\n');
    if (!nl) {
      *why = "the request head is incomplete";
      return 400;
    }
    *nl = '\0';
    if (nl > line && nl[-1] == '\r')
      nl[-1] = '\0';
    if (strchr(line, '\r')) {
      *why = "a line contains a bare carriage return";
      return 400;
    }
    char *next = nl + 1;
    if (lineno == 0) {
      char *sp1 = strchr(line, ' ');
      char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
      if (!sp1 || !sp2 || strchr(sp2 + 1, ' ')) {
        *why = "the request line must be \"METHOD /path HTTP/1.1\"";
        return 400;
      }
      *sp1 = *sp2 = '\0';
      size_t ml = strlen(line);
      if (ml == 0 || ml >= sizeof(pq->method)) {
        *why = "the method is missing or too long";
        return 400;
      }
      for (char *p = line; *p; p++)
        if (!is_tchar((unsigned char)*p)) {
          *why = "the method contains an invalid character";
          return 400;
        }
      memcpy(pq->method, line, ml + 1);
      pq->target = sp1 + 1;
      if (pq->target[0] != '/') {
        *why = "the request target must be a path starting with '/'";
        return 400;
      }
      for (char *p = pq->target; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
          *why = "the request target contains an invalid character";
          return 400;
        }
      const char *ver = sp2 + 1;
      if (strncmp(ver, "HTTP/", 5) != 0 || ver[5] < '0' || ver[5] > '9' || ver[6] != '.' ||
          ver[7] < '0' || ver[7] > '9' || ver[8] != '\0') {
        *why = "the protocol must be HTTP/1.0 or HTTP/1.1";
        return 400;
      }
      if (ver[5] != '1')
        return 505;
      pq->minor = ver[7] == '0' ? 0 : 1; /* a later HTTP/1.x is served as 1.1 */
      line = next;
      continue;
    }
    if (*line == '\0')
      break; /* end of the head */
    if (++nheaders > HTTPD_MAX_HEADERS)
      return 431;
    if (*line == ' ' || *line == '\t') {
      *why = "folded header lines are not allowed";
      return 400;
    }
    char *colon = line;
    while (*colon && is_tchar((unsigned char)*colon))
      colon++;
    if (*colon != ':' || colon == line) {
      *why = "a header line must be \"Name: value\"";
      return 400;
    }
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
      v++;
    char *ve = v + strlen(v);
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
      *--ve = '\0';
    for (char *p = v; *p; p++) {
      unsigned char ch = (unsigned char)*p;
      if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
        *why = "a header value contains a control character";
        return 400;
      }
    }
    if (strcasecmp(line, "Host") == 0) {
      if (pq->has_host) {
        *why = "more than one Host header";
        return 400;
      }
      pq->has_host = true;
    } else if (strcasecmp(line, "Content-Length") == 0) {
      long long n = 0;
      if (!*v || strlen(v) > 18) {
        *why = "invalid Content-Length";
        return 400;
      }
      for (char *p = v; *p; p++) {
        if (*p < '0' || *p > '9') {
          *why = "invalid Content-Length";
          return 400;
        }
        n = n * 10 + (*p - '0');
      }
      if (clen >= 0 && clen != n) {
        *why = "conflicting Content-Length headers";
        return 400;
      }
      clen = n;
      if (n > 0)
        pq->has_body = true;
    } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
      pq->has_body = true;
    } else if (strcasecmp(line, "Connection") == 0) {
      if (has_token(v, "close"))
        pq->conn_close = true;
    }
    line = next;
  }
  if (pq->minor >= 1 && !pq->has_host) {
    *why = "HTTP/1.1 requests need a Host header";
    return 400;
  }
  return 0;
}
