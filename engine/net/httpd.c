/*
 * httpd.c - plain HTTP/1.1 server for the metrics and health endpoints.
 *
 * Each connection goes through three states: READ (collect one request head,
 * at most HTTPD_MAX_HEADER_BYTES), WRITE (send the response built in one
 * buffer) and, when the connection ends after the response, DRAIN (half-close
 * and discard what the client still sends, so that closing with unread bytes
 * does not reset the connection before the client has read the answer). One
 * timer per connection enforces an absolute deadline for each phase.
 */
#include "engine/base/common.h"
#include "engine/net/httpd.h"
#include "engine/net/httpd_parse.h"
#include "engine/base/log.h"
#include "engine/base/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTPD_DRAIN_MAX     (64u * 1024)
#define HTTPD_DRAIN_TIMEOUT 2.0
#define HTTPD_ACCEPT_PAUSE  0.5

struct route {
  char *path;
  httpd_handler_fn fn;
  void *ud;
};

enum conn_state { CONN_READ, CONN_WRITE, CONN_DRAIN };

struct conn {
  struct httpd *srv;
  struct conn *prev, *next;
  int fd;
  enum conn_state state;
  ev_io io;
  ev_timer timer;
  char in[HTTPD_MAX_HEADER_BYTES];
  size_t inlen;
  struct buf out;
  size_t outpos;
  bool close_after;
  size_t drained;
};

struct httpd {
  struct ev_loop *loop;
  int fd;
  int port;
  ev_io accept_w;
  ev_timer accept_pause;
  char *flag;
  char *addr_text;
  double read_timeout;
  size_t max_conns;
  size_t max_response;
  struct route *routes;
  size_t nroutes;
  struct conn *conns;
  size_t nconns;
};

/* ---- address parsing --------------------------------------------------------------------- */

static enum eng_err addr_error(struct eng_error *err, const char *flag, const char *value,
                               const char *why) {
  return eng_error_set(err, ENG_USAGE,
                       "%s \"%s\" is not a valid listen address: %s (use a form like \":8080\", "
                       "\"127.0.0.1:8080\" or \"[::1]:8080\", or \"0\" to disable the endpoint)",
                       flag, value, why);
}

enum eng_err httpd_addr_parse(const char *flag, const char *value, const char *empty_default,
                              struct httpd_addr *out, struct eng_error *err) {
  memset(out, 0, sizeof(*out));
  if (!flag)
    flag = "the bind address";
  if (!value || !*value) {
    if (!empty_default) {
      out->disabled = true;
      return ENG_OK;
    }
    value = empty_default;
  }
  snprintf(out->text, sizeof(out->text), "%s", value);
  if (strlen(value) >= sizeof(out->text))
    return addr_error(err, flag, out->text, "it is too long");
  if (strcmp(value, "0") == 0) {
    out->disabled = true;
    return ENG_OK;
  }
  const char *host, *host_end, *port;
  if (value[0] == '[') {
    host = value + 1;
    host_end = strchr(host, ']');
    if (!host_end)
      return addr_error(err, flag, value, "a '[' has no matching ']'");
    if (host_end[1] == '\0')
      return addr_error(err, flag, value, "the port is missing");
    if (host_end[1] != ':')
      return addr_error(err, flag, value, "a ':' and the port must follow the ']'");
    port = host_end + 2;
  } else {
    const char *colon = strrchr(value, ':');
    if (!colon)
      return addr_error(err, flag, value, "the port is missing");
    host = value;
    host_end = colon;
    port = colon + 1;
    if (memchr(host, ':', (size_t)(host_end - host)))
      return addr_error(err, flag, value,
                        "too many colons (write IPv6 addresses in brackets, as in \"[::1]:8080\")");
  }
  for (const char *p = host; p < host_end; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '[' || c == ']' || c <= ' ' || c >= 0x7f || c == '/')
      return addr_error(err, flag, value, "the host contains an invalid character");
  }
  long pn = 0;
  for (const char *p = port; *p; p++) {
    if (*p < '0' || *p > '9' || pn > 65535)
      return addr_error(err, flag, value, "the port must be a number from 0 to 65535");
    pn = pn * 10 + (*p - '0');
  }
  if (pn > 65535)
    return addr_error(err, flag, value, "the port must be a number from 0 to 65535");
  size_t hl = (size_t)(host_end - host);
  if (hl >= sizeof(out->host))
    return addr_error(err, flag, value, "the host name is too long");
  memcpy(out->host, host, hl);
  out->host[hl] = '\0';
  out->port = (int)pn; /* an empty port means 0, as in Go */
  return ENG_OK;
}

/* ---- query strings ----------------------------------------------------------------------- */

bool httpd_query_next(const char **cursor, char *key, size_t keysz, char *val, size_t valsz) {
  const char *p = *cursor;
  if (!p)
    return false;
  while (*p == '&' || *p == ';')
    p++;
  if (!*p) {
    *cursor = p;
    return false;
  }
  const char *end = p + strcspn(p, "&;");
  const char *eq = memchr(p, '=', (size_t)(end - p));
  if (!httpd_parse_pct_decode(p, eq ? eq : end, key, keysz, true) && keysz)
    key[0] = '\0';
  if (eq) {
    if (!httpd_parse_pct_decode(eq + 1, end, val, valsz, true) && valsz)
      val[0] = '\0';
  } else if (valsz) {
    val[0] = '\0';
  }
  *cursor = end;
  return true;
}

bool httpd_query_has(const char *query, const char *key) {
  char k[128], v[8];
  const char *cur = query;
  while (httpd_query_next(&cur, k, sizeof(k), v, sizeof(v)))
    if (strcmp(k, key) == 0)
      return true;
  return false;
}

/* ---- responses --------------------------------------------------------------------------- */

static const char *reason_phrase(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 503:
    return "Service Unavailable";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
  }
}

/* Build the whole response (head and, unless head_only, body) in c->out. */
static void build_response(struct conn *c, int status, const char *ctype, const char *body,
                           size_t blen, bool head_only) {
  char date[64];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  buf_reset(&c->out);
  c->outpos = 0;
  enum eng_err rc = buf_printf(
      &c->out,
      "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
      "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n%s%s\r\n",
      status, reason_phrase(status), date, ctype, blen, status == 405 ? "Allow: GET, HEAD\r\n" : "",
      c->close_after ? "Connection: close\r\n" : "");
  if (!rc && !head_only && blen)
    rc = buf_append(&c->out, body, blen);
  if (rc) {
    /* Only a body over the cap gets here: the handler's buffer has the same cap. */
    buf_reset(&c->out);
    c->close_after = true;
    (void)!buf_appends(&c->out, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                                "Connection: close\r\n\r\n");
  }
}

static void error_response(struct conn *c, int status, const char *text, bool head_only) {
  build_response(c, status, "text/plain; charset=utf-8", text, strlen(text), head_only);
}

/* ---- connections ------------------------------------------------------------------------- */

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

static void conn_close(struct conn *c) {
  struct httpd *s = c->srv;
  ev_io_stop(s->loop, &c->io);
  ev_timer_stop(s->loop, &c->timer);
  close(c->fd);
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  s->nconns--;
  buf_release(&c->out);
  free(c);
}

static void conn_watch(struct conn *c, int events, double timeout) {
  struct ev_loop *loop = c->srv->loop;
  ev_io_stop(loop, &c->io);
  ev_io_set(&c->io, c->fd, events);
  ev_io_start(loop, &c->io);
  if (timeout > 0) {
    ev_timer_stop(loop, &c->timer);
    ev_timer_set(&c->timer, timeout, 0.);
    ev_timer_start(loop, &c->timer);
  }
}

/* The handler of the longest route matching path, or NULL. */
static const struct route *find_route(const struct httpd *s, const char *path) {
  const struct route *best = NULL;
  size_t best_len = 0;
  for (size_t i = 0; i < s->nroutes; i++) {
    const struct route *r = &s->routes[i];
    size_t rl = strlen(r->path);
    bool match = strcmp(r->path, path) == 0 ||
                 (rl && r->path[rl - 1] == '/' && strncmp(r->path, path, rl) == 0);
    if (match && rl > best_len) {
      best = r;
      best_len = rl;
    }
  }
  return best;
}

/* Answer the request whose head is in hdr; fills c->out and c->close_after. */
static void handle_request(struct conn *c, char *hdr) {
  struct httpd *s = c->srv;
  struct httpd_parse_head pq;
  const char *why = "";
  int st = httpd_parse_head(hdr, &pq, &why);
  bool head_only = st == 0 && strcmp(pq.method, "HEAD") == 0;
  c->close_after = st != 0 || pq.conn_close || pq.minor == 0 || pq.has_body;
  if (st == 431) {
    error_response(c, 431, "request header fields too large\n", false);
    return;
  }
  if (st == 505) {
    error_response(c, 505, "only HTTP/1.0 and HTTP/1.1 are supported\n", false);
    return;
  }
  if (st) {
    char text[256];
    snprintf(text, sizeof(text), "bad request: %s\n", why);
    error_response(c, 400, text, false);
    return;
  }
  if (strcmp(pq.method, "GET") != 0 && !head_only) {
    error_response(c, 405, "method not allowed: this endpoint serves GET and HEAD only\n", false);
    return;
  }
  char *q = strchr(pq.target, '?');
  const char *query = "";
  if (q) {
    *q = '\0';
    query = q + 1;
  }
  char path[HTTPD_MAX_HEADER_BYTES];
  if (!httpd_parse_pct_decode(pq.target, pq.target + strlen(pq.target), path, sizeof(path),
                              false)) {
    c->close_after = true;
    error_response(c, 400, "bad request: the path contains an invalid percent escape\n", false);
    return;
  }
  const struct route *r = find_route(s, path);
  if (!r) {
    error_response(c, 404, "404 page not found\n", head_only);
    return;
  }
  struct httpd_request req = {.method = pq.method, .path = path, .query = query, .route = r->path};
  struct httpd_response resp = {.status = 200, .content_type = "text/plain; charset=utf-8"};
  buf_init(&resp.body, s->max_response);
  enum eng_err rc = r->fn(r->ud, &req, &resp);
  if (rc || resp.status < 100 || resp.status > 599 || !resp.content_type) {
    char st_text[64];
    snprintf(st_text, sizeof(st_text), "%d", resp.status);
    log_warn("a metrics or health endpoint handler failed", "path", r->path, "error",
             rc ? eng_strerror(rc) : "invalid status", "status", st_text, NULL);
    error_response(c, 500, "internal server error\n", head_only);
  } else {
    build_response(c, resp.status, resp.content_type, resp.body.data ? resp.body.data : "",
                   resp.body.len, head_only);
  }
  buf_release(&resp.body);
}

/* Send what is left of c->out. Returns 1 when all is sent, 0 to wait, -1 when the conn is gone. */
static int conn_flush(struct conn *c) {
  while (c->outpos < c->out.len) {
    ssize_t w = send(c->fd, c->out.data + c->outpos, c->out.len - c->outpos, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      conn_close(c);
      return -1;
    }
    c->outpos += (size_t)w;
  }
  return 1;
}

/* Skip empty lines before a request line (RFC 9112 §2.2). */
static void skip_leading_newlines(struct conn *c) {
  size_t i = 0;
  while (i < c->inlen && (c->in[i] == '\r' || c->in[i] == '\n'))
    i++;
  if (i) {
    memmove(c->in, c->in + i, c->inlen - i);
    c->inlen -= i;
  }
}

static void conn_start_drain(struct conn *c) {
  c->state = CONN_DRAIN;
  shutdown(c->fd, SHUT_WR);
  conn_watch(c, EV_READ, HTTPD_DRAIN_TIMEOUT);
}

/*
 * Serve every complete request buffered in c->in, one after the other, while
 * their responses can be written at once. Leaves the connection waiting for
 * input, for the socket to drain, or closed.
 */
static void conn_advance(struct conn *c) {
  for (;;) {
    if (c->state == CONN_READ) {
      skip_leading_newlines(c);
      size_t hl = httpd_parse_head_length(c->in, c->inlen);
      if (!hl) {
        if (c->inlen < sizeof(c->in))
          return; /* wait for more */
        c->close_after = true;
        error_response(c, 431, "request header fields too large\n", false);
        c->inlen = 0;
      } else {
        char hdr[HTTPD_MAX_HEADER_BYTES + 1];
        memcpy(hdr, c->in, hl);
        hdr[hl] = '\0';
        memmove(c->in, c->in + hl, c->inlen - hl);
        c->inlen -= hl;
        if (memchr(hdr, '\0', hl)) {
          c->close_after = true;
          error_response(c, 400, "bad request: the request head contains a NUL byte\n", false);
        } else {
          handle_request(c, hdr);
        }
      }
      c->state = CONN_WRITE;
      conn_watch(c, EV_WRITE, c->srv->read_timeout);
    }
    if (c->state != CONN_WRITE)
      return;
    int fl = conn_flush(c);
    if (fl <= 0)
      return;
    if (c->close_after) {
      conn_start_drain(c);
      return;
    }
    buf_reset(&c->out);
    c->outpos = 0;
    c->state = CONN_READ;
    conn_watch(c, EV_READ, c->srv->read_timeout);
  }
}

static void conn_read(struct conn *c) {
  for (;;) {
    if (c->state == CONN_DRAIN) {
      char junk[4096];
      ssize_t r = recv(c->fd, junk, sizeof(junk), 0);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
      if (r <= 0 || (c->drained += (size_t)r) > HTTPD_DRAIN_MAX) {
        conn_close(c); /* the client closed too, or keeps sending: done either way */
        return;
      }
      continue;
    }
    if (c->inlen == sizeof(c->in)) {
      conn_advance(c);
      return;
    }
    ssize_t r = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        conn_close(c);
      return;
    }
    if (r == 0) {
      conn_close(c); /* the client went away; a partial request is dropped */
      return;
    }
    c->inlen += (size_t)r;
    conn_advance(c);
    return; /* the loop calls again if more is there */
  }
}

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents) {
  (void)loop;
  (void)revents;
  struct conn *c = w->data;
  if (c->state == CONN_WRITE)
    conn_advance(c);
  else
    conn_read(c);
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct conn *c = w->data;
  if (c->state == CONN_READ && c->inlen > 0) {
    /* A request started but did not finish in time: say so, then close. */
    c->close_after = true;
    c->inlen = 0;
    error_response(c, 408, "request timeout\n", false);
    c->state = CONN_WRITE;
    conn_watch(c, EV_WRITE, c->srv->read_timeout);
    conn_advance(c);
    return;
  }
  conn_close(c); /* idle, or the client does not read its answer, or the drain is over */
}

/* ---- listener ---------------------------------------------------------------------------- */

static void reject_busy(int fd) {
  static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; "
                            "charset=utf-8\r\nContent-Length: 24\r\nConnection: close\r\n\r\n"
                            "too many open connections\n";
  (void)!send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  close(fd);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents) {
  (void)revents;
  struct httpd *s = w->data;
  for (;;) {
    int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        /* Out of descriptors: pause instead of spinning on a listener that stays readable. */
        log_warn("cannot accept a connection on an HTTP endpoint; pausing accepts briefly", "flag",
                 s->flag, "address", s->addr_text, "error", strerror(errno), NULL);
        ev_io_stop(loop, &s->accept_w);
        ev_timer_set(&s->accept_pause, HTTPD_ACCEPT_PAUSE, 0.);
        ev_timer_start(loop, &s->accept_pause);
      }
      return;
    }
    if (s->nconns >= s->max_conns) {
      reject_busy(fd);
      continue;
    }
    struct conn *c = xcalloc(1, sizeof(*c));
    c->srv = s;
    c->fd = fd;
    c->state = CONN_READ;
    buf_init(&c->out, s->max_response + 1024);
    ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
    c->io.data = c;
    ev_timer_init(&c->timer, conn_timer_cb, s->read_timeout, 0.);
    c->timer.data = c;
    ev_io_start(loop, &c->io);
    ev_timer_start(loop, &c->timer);
    c->next = s->conns;
    if (s->conns)
      s->conns->prev = c;
    s->conns = c;
    s->nconns++;
  }
}

static void accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)revents;
  struct httpd *s = w->data;
  ev_io_start(loop, &s->accept_w);
}

static enum eng_err listen_error(struct eng_error *err, const char *flag, const char *addr, int e) {
  switch (e) {
  case EADDRINUSE:
    return eng_error_set(err, ENG_BUSY,
                         "cannot listen on %s \"%s\": the address is already in use by another "
                         "process or endpoint; choose another port with %s or stop the other "
                         "listener",
                         flag, addr, flag);
  case EACCES:
  case EPERM:
    return eng_error_set(err, ENG_FORBIDDEN,
                         "cannot listen on %s \"%s\": permission denied (ports below 1024 need the "
                         "CAP_NET_BIND_SERVICE capability); choose a port above 1023 with %s",
                         flag, addr, flag);
  case EADDRNOTAVAIL:
    return eng_error_set(err, ENG_CONFIG,
                         "cannot listen on %s \"%s\": no network interface of this host has that "
                         "address; use one of its addresses or \":PORT\" for every interface",
                         flag, addr);
  default:
    return eng_error_set(err, ENG_IO, "cannot listen on %s \"%s\": %s", flag, addr, strerror(e));
  }
}

/* Bind and listen on sa; returns the socket or -1 with errno set. */
static int open_listener(const struct sockaddr *sa, socklen_t salen, bool dual_stack) {
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (sa->sa_family == AF_INET6) {
    int v6only = dual_stack ? 0 : 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
  }
  if (bind(fd, sa, salen) != 0 || listen(fd, SOMAXCONN) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static bool is_wildcard(const char *host) {
  return !*host || !strcmp(host, "0.0.0.0") || !strcmp(host, "::");
}

struct httpd *httpd_new(struct ev_loop *loop, const char *flag, const struct httpd_addr *addr,
                        const struct httpd_options *opts, struct eng_error *err) {
  if (!flag)
    flag = "the bind address";
  if (!addr || addr->disabled) {
    eng_error_set(err, ENG_INVALID, "%s is disabled; there is nothing to listen on", flag);
    return NULL;
  }
  int fd = -1;
  if (is_wildcard(addr->host)) {
    /* Every interface, IPv6 and IPv4 on one socket as Go does; IPv4 only without IPv6. */
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)addr->port)};
    a6.sin6_addr = in6addr_any;
    fd = open_listener((struct sockaddr *)&a6, sizeof(a6), true);
    if (fd < 0 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {
      struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)addr->port)};
      a4.sin_addr.s_addr = htonl(INADDR_ANY);
      fd = open_listener((struct sockaddr *)&a4, sizeof(a4), false);
    }
  } else {
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", addr->port);
    int gai = getaddrinfo(addr->host, port, &hints, &res);
    if (gai != 0) {
      eng_error_set(err, ENG_CONFIG,
                    "cannot listen on %s \"%s\": cannot resolve host \"%s\" (%s); use an IP "
                    "address of this host or \":PORT\" for every interface",
                    flag, addr->text, addr->host, gai_strerror(gai));
      return NULL;
    }
    /* Like Go, prefer the first IPv4 address of a name ("localhost" → 127.0.0.1). */
    const struct addrinfo *pick = res;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
      if (ai->ai_family == AF_INET) {
        pick = ai;
        break;
      }
    fd = open_listener(pick->ai_addr, pick->ai_addrlen, false);
    int e = errno;
    freeaddrinfo(res);
    errno = e;
  }
  if (fd < 0) {
    listen_error(err, flag, addr->text, errno);
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  int port = addr->port;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
    port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
  struct httpd *s = xcalloc(1, sizeof(*s));
  s->loop = loop;
  s->fd = fd;
  s->port = port;
  s->flag = xstrdup(flag);
  s->addr_text = xstrdup(addr->text);
  s->read_timeout =
      opts && opts->read_timeout > 0 ? opts->read_timeout : HTTPD_DEFAULT_READ_TIMEOUT;
  s->max_conns = opts && opts->max_conns ? opts->max_conns : HTTPD_DEFAULT_MAX_CONNS;
  s->max_response = opts && opts->max_response ? opts->max_response : BUF_MAX_HTTP_BODY;
  ev_io_init(&s->accept_w, accept_cb, fd, EV_READ);
  s->accept_w.data = s;
  ev_timer_init(&s->accept_pause, accept_pause_cb, HTTPD_ACCEPT_PAUSE, 0.);
  s->accept_pause.data = s;
  ev_io_start(loop, &s->accept_w);
  return s;
}

void httpd_free(struct httpd *s) {
  if (!s)
    return;
  ev_io_stop(s->loop, &s->accept_w);
  ev_timer_stop(s->loop, &s->accept_pause);
  close(s->fd);
  s->fd = -1;
  while (s->conns)
    conn_close(s->conns);
  for (size_t i = 0; i < s->nroutes; i++)
    free(s->routes[i].path);
  free(s->routes);
  free(s->flag);
  free(s->addr_text);
  free(s);
}

int httpd_port(const struct httpd *s) { return s ? s->port : 0; }

size_t httpd_conn_count(const struct httpd *s) { return s ? s->nconns : 0; }

void httpd_route(struct httpd *s, const char *path, httpd_handler_fn fn, void *ud) {
  if (!s || !path || !fn)
    return;
  for (size_t i = 0; i < s->nroutes; i++) {
    if (strcmp(s->routes[i].path, path) == 0) {
      s->routes[i].fn = fn;
      s->routes[i].ud = ud;
      return;
    }
  }
  s->routes = xrealloc(s->routes, (s->nroutes + 1) * sizeof(*s->routes));
  s->routes[s->nroutes++] = (struct route){.path = xstrdup(path), .fn = fn, .ud = ud};
}
