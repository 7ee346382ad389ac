/*
 * httpsrv.c - HTTPS server connections on libev; see httpsrv.h for the life of a
 * connection. All state changes go through conn_step(), which runs until the
 * connection has to wait for the socket, the handler or a timer.
 */
#include "engine/base/common.h"
#include "httpsrv.h"

#include "engine/base/buf.h"
#include "engine/base/log.h"
#include "engine/kube/status.h"
#include "tls.h"
#include "engine/base/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 16384

enum conn_state {
  C_PEEK,      /* waiting for the first byte: TLS or plain HTTP? */
  C_HANDSHAKE, /* TLS handshake */
  C_READ,      /* reading a request */
  C_HANDLE,    /* the handler has the request */
  C_WRITE,     /* writing the response */
  C_LINGER,    /* plain-HTTP refusal sent; draining until the peer closes */
};

struct httpsrv_exchange {
  struct conn *conn;
  httpsrv_abort_fn abort_fn;
  void *abort_ud;
};

struct conn {
  struct httpsrv *srv;
  struct conn *prev, *next;
  int fd;
  char peer[64];
  enum conn_state state;
  struct wh_tls_session *tls;
  ev_io io;
  ev_timer timer;
  char *in;
  size_t in_len, in_cap;
  struct httpreq req;
  bool request_started;
  bool eof; /* the peer closed its side */
  char *out;
  size_t out_len, out_off;
  bool close_after;
  struct httpsrv_exchange ex;
};

struct httpsrv {
  struct ev_loop *loop;
  struct httpsrv_opts o;
  httpsrv_handler_fn handler;
  void *ud;
  int lfd;
  int port;
  ev_io lio;
  bool paused;
  unsigned nconns;
  size_t buffered; /* request bytes held by all connections, capped by max_buffered */
  struct conn *conns;
};

static void conn_step(struct conn *c);

/* ---- helpers ------------------------------------------------------------------------------- */

static void set_io(struct conn *c, int events) {
  struct ev_loop *loop = c->srv->loop;
  if (ev_is_active(&c->io) && c->io.events == events)
    return;
  ev_io_stop(loop, &c->io);
  if (events) {
    ev_io_set(&c->io, c->fd, events);
    ev_io_start(loop, &c->io);
  }
}

static void set_timer(struct conn *c, double seconds) {
  ev_timer_stop(c->srv->loop, &c->timer);
  ev_timer_set(&c->timer, seconds, 0.);
  ev_timer_start(c->srv->loop, &c->timer);
}

static void conn_close(struct conn *c) {
  struct httpsrv *s = c->srv;
  if (c->state == C_HANDLE && c->ex.conn) {
    httpsrv_abort_fn fn = c->ex.abort_fn;
    void *ud = c->ex.abort_ud;
    c->ex.conn = NULL;
    if (fn)
      fn(ud);
  }
  ev_io_stop(s->loop, &c->io);
  ev_timer_stop(s->loop, &c->timer);
  if (c->tls)
    wh_tls_session_free(c->tls);
  close(c->fd);
  s->buffered -= c->in_cap;
  free(c->in);
  free(c->out);
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  free(c);
  s->nconns--;
  if (s->paused && s->nconns < s->o.max_conns) {
    s->paused = false;
    ev_io_start(s->loop, &s->lio);
  }
}

/* Queue a response (bytes copied) and switch to writing. */
static void queue_response(struct conn *c, int status, const char *ctype, const char *body,
                           size_t len, const char *extra) {
  bool close_it = c->close_after || !c->req.keep_alive || c->eof;
  c->close_after = close_it;
  struct buf b;
  buf_init(&b, SIZE_MAX);
  if (buf_printf(&b,
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: "
                 "%zu\r\nX-Content-Type-Options: nosniff\r\n"
                 "Cache-Control: no-store\r\n%s%s\r\n",
                 status, httpreq_status_text(status), ctype ? ctype : "text/plain; charset=utf-8",
                 len, close_it ? "Connection: close\r\n" : "", extra ? extra : "") ||
      buf_append(&b, body, len)) {
  }
  free(c->out);
  c->out = buf_take(&b, &c->out_len);
  c->out_off = 0;
  c->state = C_WRITE;
  set_timer(c, c->srv->o.read_timeout);
  set_io(c, EV_WRITE); /* written from the loop, never from inside the caller */
}

static void respond_error(struct conn *c, int status, const char *reason) {
  char *body = kube_status_json(status, reason);
  c->close_after = true;
  queue_response(c, status, "application/json", body, strlen(body), NULL);
  free(body);
}

/* ---- the state machine --------------------------------------------------------------------- */

static void start_plain_refusal(struct conn *c) {
  static const char msg[] =
      "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";
  char drain[4096];
  while (recv(c->fd, drain, sizeof(drain), MSG_DONTWAIT) > 0) {
  }
  ssize_t w = send(c->fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)w;
  shutdown(c->fd, SHUT_WR);
  c->state = C_LINGER;
  set_timer(c, 1.0);
  set_io(c, EV_READ);
}

static void step_peek(struct conn *c) {
  unsigned char b;
  ssize_t r = recv(c->fd, &b, 1, MSG_PEEK);
  if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    conn_close(c);
    return;
  }
  if (r < 0) {
    set_io(c, EV_READ);
    return;
  }
  if (b == 0x16) { /* TLS handshake record */
    c->tls = c->srv->o.tls ? wh_tls_session_new(c->srv->o.tls, c->fd) : NULL;
    if (!c->tls) {
      conn_close(c);
      return;
    }
    c->state = C_HANDSHAKE;
    conn_step(c);
    return;
  }
  if ((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z')) {
    log_debug("plain HTTP on the HTTPS port refused", "peer", c->peer, NULL);
    start_plain_refusal(c);
    return;
  }
  conn_close(c);
}

static void step_handshake(struct conn *c) {
  const char *msg = "";
  switch (wh_tls_handshake(c->tls, &msg)) {
  case WH_TLS_DONE:
    log_debug("TLS handshake done", "peer", c->peer, "version", wh_tls_version(c->tls), NULL);
    c->state = C_READ;
    c->request_started = false;
    set_timer(c, c->srv->o.idle_timeout);
    conn_step(c);
    return;
  case WH_TLS_WANT_READ:
    set_io(c, EV_READ);
    return;
  case WH_TLS_WANT_WRITE:
    set_io(c, EV_WRITE);
    return;
  default:
    log_debug("TLS handshake failed", "peer", c->peer, "error", msg, NULL);
    conn_close(c);
    return;
  }
}

static void dispatch(struct conn *c) {
  c->state = C_HANDLE;
  set_io(c, 0);
  set_timer(c, c->srv->o.handler_timeout);
  c->ex.conn = c;
  c->ex.abort_fn = NULL;
  c->ex.abort_ud = NULL;
  c->srv->handler(c->srv->ud, &c->ex);
}

/* Parse what has arrived; true when the connection moved on (dispatch or error). */
static bool try_parse(struct conn *c) {
  struct httpreq_limits lim = {c->srv->o.max_header, c->srv->o.max_body};
  if (c->req.headers_done && c->in_len < c->req.total_len)
    return false; /* still waiting for the body */
  switch (httpreq_parse(c->in, c->in_len, &lim, &c->req)) {
  case HTTPREQ_DONE:
    dispatch(c);
    return true;
  case HTTPREQ_ERROR:
    log_debug("malformed request refused", "peer", c->peer, "reason", c->req.reason, NULL);
    respond_error(c, c->req.status, c->req.reason);
    return true;
  default:
    return false;
  }
}

static void step_read(struct conn *c) {
  size_t cap_total = c->srv->o.max_header + c->srv->o.max_body;
  for (;;) {
    if (c->in_len > 0 && try_parse(c))
      return;
    if (c->eof) {
      conn_close(c);
      return;
    }
    if (c->in_cap - c->in_len < READ_CHUNK && c->in_cap < cap_total) {
      size_t want = c->in_cap ? 2 * c->in_cap : 2 * READ_CHUNK;
      if (want > cap_total)
        want = cap_total;
      /* All connections together may hold at most max_buffered bytes of requests. */
      if (c->srv->buffered - c->in_cap + want > c->srv->o.max_buffered) {
        log_warn("webhook server request memory is exhausted; refusing a request", "peer", c->peer,
                 NULL);
        respond_error(c, 503, "the webhook server is busy; retry");
        return;
      }
      c->in = xrealloc(c->in, want + 1);
      c->srv->buffered += want - c->in_cap;
      c->in_cap = want;
    }
    if (c->in_len >= c->in_cap) {
      /* Cannot happen with a consistent parser (it refuses oversize first); be safe. */
      respond_error(c, 413, "the request is larger than the server accepts");
      return;
    }
    size_t n = 0;
    const char *msg = "";
    switch (wh_tls_read(c->tls, c->in + c->in_len, c->in_cap - c->in_len, &n, &msg)) {
    case WH_TLS_DONE:
      if (!c->request_started) {
        c->request_started = true;
        set_timer(c, c->srv->o.read_timeout);
      }
      c->in_len += n;
      c->in[c->in_len] = '\0';
      continue;
    case WH_TLS_WANT_READ:
      set_io(c, EV_READ);
      return;
    case WH_TLS_WANT_WRITE:
      set_io(c, EV_WRITE);
      return;
    case WH_TLS_EOF:
      if (c->in_len == 0 || !c->request_started) {
        conn_close(c);
        return;
      }
      c->eof = true;
      continue;
    default:
      log_debug("TLS read failed", "peer", c->peer, "error", msg, NULL);
      conn_close(c);
      return;
    }
  }
}

static void step_write(struct conn *c) {
  while (c->out_off < c->out_len) {
    size_t n = 0;
    const char *msg = "";
    switch (wh_tls_write(c->tls, c->out + c->out_off, c->out_len - c->out_off, &n, &msg)) {
    case WH_TLS_DONE:
      c->out_off += n;
      continue;
    case WH_TLS_WANT_READ:
      set_io(c, EV_READ);
      return;
    case WH_TLS_WANT_WRITE:
      set_io(c, EV_WRITE);
      return;
    default:
      log_debug("TLS write failed", "peer", c->peer, "error", msg, NULL);
      conn_close(c);
      return;
    }
  }
  free(c->out);
  c->out = NULL;
  c->out_len = c->out_off = 0;
  if (c->close_after) {
    wh_tls_bye(c->tls);
    conn_close(c);
    return;
  }
  /* Keep-alive: drop the request, keep what was pipelined behind it. */
  size_t used = c->req.total_len;
  if (used > c->in_len)
    used = c->in_len;
  memmove(c->in, c->in + used, c->in_len - used);
  c->in_len -= used;
  memset(&c->req, 0, sizeof(c->req));
  c->state = C_READ;
  c->request_started = c->in_len > 0;
  set_timer(c, c->request_started ? c->srv->o.read_timeout : c->srv->o.idle_timeout);
  conn_step(c);
}

static void step_linger(struct conn *c) {
  char drain[4096];
  for (;;) {
    ssize_t r = recv(c->fd, drain, sizeof(drain), MSG_DONTWAIT);
    if (r > 0)
      continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      set_io(c, EV_READ);
      return;
    }
    conn_close(c);
    return;
  }
}

static void conn_step(struct conn *c) {
  switch (c->state) {
  case C_PEEK:
    step_peek(c);
    break;
  case C_HANDSHAKE:
    step_handshake(c);
    break;
  case C_READ:
    step_read(c);
    break;
  case C_WRITE:
    step_write(c);
    break;
  case C_LINGER:
    step_linger(c);
    break;
  case C_HANDLE:
    break;
  }
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents) {
  (void)loop;
  (void)revents;
  conn_step(w->data);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct conn *c = w->data;
  if (c->state == C_HANDLE) {
    /* The handler did not answer in time: tell it, then answer for it. */
    httpsrv_abort_fn fn = c->ex.abort_fn;
    void *ud = c->ex.abort_ud;
    c->ex.conn = NULL;
    if (fn)
      fn(ud);
    log_error("webhook request timed out in its handler", "peer", c->peer, "path", c->req.path,
              NULL);
    respond_error(c, 503, "the webhook could not answer in time");
    return;
  }
  log_debug("connection deadline passed", "peer", c->peer, NULL);
  conn_close(c);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents) {
  (void)revents;
  struct httpsrv *s = w->data;
  for (;;) {
    if (s->nconns >= s->o.max_conns) {
      if (!s->paused) {
        s->paused = true;
        ev_io_stop(loop, &s->lio);
        log_warn("webhook server is at its connection limit; new connections wait", NULL);
      }
      return;
    }
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    int fd = accept4(s->lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        log_warn("accept failed", "error", strerror(errno), NULL);
      return;
    }
    struct conn *c = xcalloc(1, sizeof(*c));
    c->srv = s;
    c->fd = fd;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa.ss_family == AF_INET) {
      struct sockaddr_in *in = (struct sockaddr_in *)&sa;
      inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
      port = ntohs(in->sin_port);
    } else if (sa.ss_family == AF_INET6) {
      struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sa;
      inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
      port = ntohs(in6->sin6_port);
    }
    snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
    ev_io_init(&c->io, on_io, fd, EV_READ);
    c->io.data = c;
    ev_timer_init(&c->timer, on_timer, s->o.read_timeout, 0.);
    c->timer.data = c;
    c->state = C_PEEK;
    c->next = s->conns;
    if (s->conns)
      s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    ev_timer_start(loop, &c->timer);
    ev_io_start(loop, &c->io);
  }
}

/* ---- public -------------------------------------------------------------------------------- */

static int listen_on(const char *host, int port, int *bound_port, struct eng_error *err) {
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  hints.ai_family = AF_UNSPEC;
  char portstr[16];
  snprintf(portstr, sizeof(portstr), "%d", port);
  bool any = !host || !*host;
  int gr = getaddrinfo(any ? NULL : host, portstr, &hints, &res);
  if (gr != 0) {
    eng_error_set(err, ENG_CONFIG, "cannot resolve the webhook server host \"%s\": %s",
                  any ? "" : host, gai_strerror(gr));
    return -1;
  }
  int fd = -1, last_errno = 0;
  /* For "all addresses" prefer a dual-stack IPv6 socket, then IPv4. */
  for (int pass = 0; pass < 2 && fd < 0; pass++) {
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
      if (any && ((pass == 0) != (a->ai_family == AF_INET6)))
        continue;
      if (!any && pass == 1)
        break;
      int s = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
      if (s < 0) {
        last_errno = errno;
        continue;
      }
      int one = 1, zero = 0;
      setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (a->ai_family == AF_INET6 && any)
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
      if (bind(s, a->ai_addr, a->ai_addrlen) == 0 && listen(s, 511) == 0) {
        fd = s;
        break;
      }
      last_errno = errno;
      close(s);
    }
  }
  freeaddrinfo(res);
  if (fd < 0) {
    eng_error_set(err, ENG_IO, "cannot listen on %s:%d for the webhook server: %s",
                  any ? "*" : host, port, strerror(last_errno));
    return -1;
  }
  struct sockaddr_storage sa;
  socklen_t sl = sizeof(sa);
  getsockname(fd, (struct sockaddr *)&sa, &sl);
  *bound_port = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&sa)->sin_port);
  return fd;
}

enum eng_err httpsrv_start(struct ev_loop *loop, const struct httpsrv_opts *opts,
                           httpsrv_handler_fn handler, void *ud, struct httpsrv **out,
                           struct eng_error *err) {
  struct httpsrv *s = xcalloc(1, sizeof(*s));
  s->loop = loop;
  s->o = *opts;
  if (!s->o.max_header)
    s->o.max_header = 16 * 1024;
  if (!s->o.max_body)
    s->o.max_body = 8 * 1024 * 1024;
  if (s->o.read_timeout <= 0)
    s->o.read_timeout = 10;
  if (s->o.idle_timeout <= 0)
    s->o.idle_timeout = 90;
  if (s->o.handler_timeout <= 0)
    s->o.handler_timeout = 30;
  if (!s->o.max_conns)
    s->o.max_conns = 1024;
  if (!s->o.max_buffered)
    s->o.max_buffered = 256u * 1024 * 1024;
  s->handler = handler;
  s->ud = ud;
  s->lfd = listen_on(opts->host, opts->port, &s->port, err);
  if (s->lfd < 0) {
    free(s);
    return err ? err->code : ENG_IO;
  }
  ev_io_init(&s->lio, on_accept, s->lfd, EV_READ);
  s->lio.data = s;
  ev_io_start(loop, &s->lio);
  *out = s;
  return ENG_OK;
}

void httpsrv_free(struct httpsrv *s) {
  if (!s)
    return;
  ev_io_stop(s->loop, &s->lio);
  close(s->lfd);
  s->paused = false;
  s->o.max_conns = 0; /* no listener restart while closing */
  while (s->conns)
    conn_close(s->conns);
  free(s);
}

void httpsrv_set_tls(struct httpsrv *s, struct wh_tls *tls) { s->o.tls = tls; }

int httpsrv_port(const struct httpsrv *s) { return s->port; }

unsigned httpsrv_connections(const struct httpsrv *s) { return s->nconns; }

const struct httpreq *httpsrv_request(const struct httpsrv_exchange *x) { return &x->conn->req; }

const char *httpsrv_body(const struct httpsrv_exchange *x, size_t *len) {
  *len = x->conn->req.content_length;
  return x->conn->req.body;
}

const char *httpsrv_peer(const struct httpsrv_exchange *x) { return x->conn->peer; }

void httpsrv_on_abort(struct httpsrv_exchange *x, httpsrv_abort_fn fn, void *ud) {
  x->abort_fn = fn;
  x->abort_ud = ud;
}

void httpsrv_respond(struct httpsrv_exchange *x, int status, const char *content_type,
                     const char *body, size_t len, const char *extra_headers) {
  struct conn *c = x->conn;
  if (!c)
    return;
  x->conn = NULL;
  queue_response(c, status, content_type, body, len, extra_headers);
}
