/*
 * httpd.c - the HTTP/1.1 server (see httpd.h): listener, connection state
 * machine over a transport (plain TCP or TLS), routes.
 *
 * All state changes of a connection go through conn_step(), which runs until
 * the connection has to wait for the socket, a handler or a timer:
 *   PEEK (TLS ports: TLS or plain HTTP?) -> HANDSHAKE (TLS) -> READ (one request,
 *   parsed by httpreq) -> HANDLE (the route's handler) -> WRITE -> READ again
 *   (keep-alive) or LINGER (close_notify, half-close, discard input, close).
 * One timer per connection enforces the deadline of the current phase.
 */
#include "engine/base/common.h"
#include "engine/net/httpd.h"

#include "engine/base/log.h"
#include "engine/base/xalloc.h"
#include "engine/net/tls.h"

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

#define READ_CHUNK     16384
#define LINGER_MAX     (64u * 1024)
#define LINGER_TIMEOUT 2.0
#define ACCEPT_PAUSE   0.5
#define TEXT_PLAIN     "text/plain; charset=utf-8"

struct route {
  char *path;
  httpd_handler_fn fn; /* synchronous, or */
  httpd_async_fn afn;  /* asynchronous */
  void *ud;
};

enum conn_state {
  C_PEEK,      /* TLS port, waiting for the first byte: TLS or plain HTTP? */
  C_HANDSHAKE, /* transport handshake */
  C_READ,      /* reading a request */
  C_HANDLE,    /* a handler has the request */
  C_WRITE,     /* writing the response */
  C_LINGER,    /* the last answer is out: discarding input until the client closes */
};

/* Result of a transport step. */
enum tio { T_DONE, T_WANT_READ, T_WANT_WRITE, T_EOF, T_ERROR };

struct conn;

/* What differs between plain TCP and TLS; everything else is shared. */
struct transport {
  const char *name;
  enum tio (*handshake)(struct conn *c, const char **msg);
  enum tio (*read)(struct conn *c, char *buf, size_t cap, size_t *n, const char **msg);
  enum tio (*write)(struct conn *c, const char *buf, size_t len, size_t *n, const char **msg);
  void (*bye)(struct conn *c); /* before the half-close of a connection that ends cleanly */
};

struct httpd_exchange {
  struct conn *conn;
  httpd_abort_fn abort_fn;
  void *abort_ud;
};

struct conn {
  struct httpd *srv;
  struct conn *prev, *next;
  int fd;
  char peer[64];
  enum conn_state state;
  const struct transport *tr;
  struct tls_session *tls;
  bool slot;    /* holds one of the max_conns slots */
  bool refused; /* accepted beyond the cap: every request is answered 503 */
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
  size_t lingered;
  struct httpd_exchange ex;
};

struct httpd {
  struct ev_loop *loop;
  int fd;
  int port;
  ev_io accept_w;
  ev_timer accept_pause; /* out of descriptors: accept again a little later */
  ev_timer overload;     /* at the cap: how long clients may wait for a slot */
  bool accepting;        /* accept_w is started */
  bool overloaded;       /* overload_wait passed without a free slot: refuse beyond the cap */
  char *flag;
  char *addr_text;
  struct httpd_options o;
  struct tls_server *tls;
  struct route *routes;
  size_t nroutes;
  struct conn *conns;
  size_t nconns;   /* every open connection */
  size_t nslots;   /* connections holding a slot (at most max_conns) */
  size_t nrefused; /* connections accepted beyond the cap */
  size_t max_refused;
  size_t buffered; /* request bytes held by all connections */
};

static void conn_step(struct conn *c);
static void listener_update(struct httpd *s);

/* ---- transports ---------------------------------------------------------------------------- */

static enum tio tcp_handshake(struct conn *c, const char **msg) {
  (void)c;
  (void)msg;
  return T_DONE;
}

static enum tio tcp_read(struct conn *c, char *buf, size_t cap, size_t *n, const char **msg) {
  for (;;) {
    ssize_t r = recv(c->fd, buf, cap, 0);
    if (r > 0) {
      *n = (size_t)r;
      return T_DONE;
    }
    if (r == 0)
      return T_EOF;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return T_WANT_READ;
    *msg = strerror(errno);
    return T_ERROR;
  }
}

static enum tio tcp_write(struct conn *c, const char *buf, size_t len, size_t *n,
                          const char **msg) {
  for (;;) {
    ssize_t w = send(c->fd, buf, len, MSG_NOSIGNAL);
    if (w >= 0) {
      *n = (size_t)w;
      return T_DONE;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return T_WANT_WRITE;
    *msg = strerror(errno);
    return T_ERROR;
  }
}

static void tcp_bye(struct conn *c) { (void)c; }

static const struct transport transport_tcp = {"tcp", tcp_handshake, tcp_read, tcp_write, tcp_bye};

static enum tio tls_map(enum tls_io r) {
  switch (r) {
  case TLS_DONE:
    return T_DONE;
  case TLS_WANT_READ:
    return T_WANT_READ;
  case TLS_WANT_WRITE:
    return T_WANT_WRITE;
  case TLS_EOF:
    return T_EOF;
  default:
    return T_ERROR;
  }
}

static enum tio tls_handshake_(struct conn *c, const char **msg) {
  return tls_map(tls_session_handshake(c->tls, msg));
}

static enum tio tls_read_(struct conn *c, char *buf, size_t cap, size_t *n, const char **msg) {
  return tls_map(tls_session_read(c->tls, buf, cap, n, msg));
}

static enum tio tls_write_(struct conn *c, const char *buf, size_t len, size_t *n,
                           const char **msg) {
  return tls_map(tls_session_write(c->tls, buf, len, n, msg));
}

static void tls_bye_(struct conn *c) { tls_session_bye(c->tls); }

static const struct transport transport_tls = {"tls", tls_handshake_, tls_read_, tls_write_,
                                               tls_bye_};

/* ---- connections --------------------------------------------------------------------------- */

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

/* The connection gives back its slot (or its place beyond the cap). */
static void release_slot(struct conn *c) {
  struct httpd *s = c->srv;
  if (c->slot) {
    c->slot = false;
    s->nslots--;
  } else if (c->refused) {
    c->refused = false;
    s->nrefused--;
  }
  listener_update(s);
}

static void conn_free(struct conn *c) {
  struct httpd *s = c->srv;
  if (c->state == C_HANDLE && c->ex.conn) {
    httpd_abort_fn fn = c->ex.abort_fn;
    void *ud = c->ex.abort_ud;
    c->ex.conn = NULL;
    if (fn)
      fn(ud);
  }
  ev_io_stop(s->loop, &c->io);
  ev_timer_stop(s->loop, &c->timer);
  if (c->tls)
    tls_session_free(c->tls);
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
  s->nconns--;
  release_slot(c);
  free(c);
}

static bool is_head(const struct conn *c) { return !strcmp(c->req.method, "HEAD"); }

/* Queue a response (bytes copied) and switch to writing; it is written from the loop. */
static void queue_response(struct conn *c, int status, const char *ctype, const char *body,
                           size_t len, const char *extra) {
  bool close_it = c->close_after || !c->req.keep_alive || c->eof;
  c->close_after = close_it;
  c->ex.conn = NULL;
  char date[64];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  struct buf b;
  buf_init(&b, len + 1024 + (extra ? strlen(extra) : 0) + (ctype ? strlen(ctype) : 0));
  enum eng_err rc =
      buf_printf(&b,
                 "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n%s%s\r\n",
                 status, httpreq_status_text(status), date, ctype ? ctype : TEXT_PLAIN, len,
                 extra ? extra : "", close_it ? "Connection: close\r\n" : "");
  if (rc == ENG_OK && len && !is_head(c))
    rc = buf_append(&b, body, len);
  (void)rc; /* the cap above fits head and body */
  free(c->out);
  c->out = buf_take(&b, &c->out_len);
  c->out_off = 0;
  c->state = C_WRITE;
  set_timer(c, c->srv->o.read_timeout);
  set_io(c, EV_WRITE);
}

static void respond_error(struct conn *c, int status, const char *reason, const char *extra) {
  const char *ctype = TEXT_PLAIN;
  char *body = c->srv->o.error_body ? c->srv->o.error_body(status, reason, &ctype)
                                    : xasprintf("%s\n", reason);
  c->close_after = true;
  queue_response(c, status, ctype, body, strlen(body), extra);
  free(body);
}

static void start_linger(struct conn *c) {
  c->tr->bye(c);
  shutdown(c->fd, SHUT_WR);
  release_slot(c);
  c->state = C_LINGER;
  c->lingered = 0;
  set_timer(c, LINGER_TIMEOUT);
  set_io(c, EV_READ);
}

/* A TLS port got plain HTTP: say so in clear text and close. */
static void start_plain_refusal(struct conn *c) {
  static const char msg[] =
      "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";
  char drain[4096];
  while (recv(c->fd, drain, sizeof(drain), MSG_DONTWAIT) > 0) {
  }
  ssize_t w = send(c->fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)w;
  c->tr = &transport_tcp; /* nothing to say in TLS */
  start_linger(c);
}

static void step_peek(struct conn *c) {
  unsigned char b;
  ssize_t r = recv(c->fd, &b, 1, MSG_PEEK);
  if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    conn_free(c);
    return;
  }
  if (r < 0) {
    set_io(c, EV_READ);
    return;
  }
  if (b == 0x16) { /* a TLS handshake record */
    c->tls = c->srv->tls ? tls_session_new(c->srv->tls, c->fd) : NULL;
    if (!c->tls) {
      conn_free(c);
      return;
    }
    c->state = C_HANDSHAKE;
    conn_step(c);
    return;
  }
  if ((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z')) {
    log_debug("plain HTTP on a TLS port refused", "peer", c->peer, NULL);
    start_plain_refusal(c);
    return;
  }
  conn_free(c);
}

static void step_handshake(struct conn *c) {
  const char *msg = "";
  switch (c->tr->handshake(c, &msg)) {
  case T_DONE:
    if (c->tls)
      log_debug("TLS handshake done", "peer", c->peer, "version", tls_session_version(c->tls),
                NULL);
    c->state = C_READ;
    c->request_started = false;
    set_timer(c, c->srv->o.read_timeout); /* the first request must begin in time */
    conn_step(c);
    return;
  case T_WANT_READ:
    set_io(c, EV_READ);
    return;
  case T_WANT_WRITE:
    set_io(c, EV_WRITE);
    return;
  default:
    log_debug("handshake failed", "peer", c->peer, "transport", c->tr->name, "error", msg, NULL);
    conn_free(c);
    return;
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
    if (match && (!best || rl > best_len)) {
      best = r;
      best_len = rl;
    }
  }
  return best;
}

static void run_sync(struct conn *c, const struct route *r, const char *path, const char *query) {
  struct httpd *s = c->srv;
  if (strcmp(c->req.method, "GET") && !is_head(c)) {
    static const char text[] = "method not allowed: this endpoint serves GET and HEAD only\n";
    queue_response(c, 405, TEXT_PLAIN, text, sizeof(text) - 1, "Allow: GET, HEAD\r\n");
    return;
  }
  struct httpd_request req = {
      .method = c->req.method, .path = path, .query = query, .route = r->path};
  struct httpd_response resp = {.status = 200, .content_type = TEXT_PLAIN};
  buf_init(&resp.body, s->o.max_response);
  enum eng_err rc = r->fn(r->ud, &req, &resp);
  if (rc || resp.status < 100 || resp.status > 599 || !resp.content_type) {
    char st_text[64];
    snprintf(st_text, sizeof(st_text), "%d", resp.status);
    log_warn("an HTTP endpoint handler failed", "path", r->path, "error",
             rc ? eng_strerror(rc) : "invalid status", "status", st_text, NULL);
    static const char text[] = "internal server error\n";
    queue_response(c, 500, TEXT_PLAIN, text, sizeof(text) - 1, NULL);
  } else {
    queue_response(c, resp.status, resp.content_type, resp.body.data ? resp.body.data : "",
                   resp.body.len, NULL);
  }
  buf_release(&resp.body);
}

static void dispatch(struct conn *c) {
  struct httpd *s = c->srv;
  c->state = C_HANDLE;
  set_io(c, 0);
  set_timer(c, s->o.handler_timeout);
  c->ex = (struct httpd_exchange){.conn = c};
  if (c->refused) {
    respond_error(c, 503, "the server is at its connection limit; retry later",
                  "Retry-After: 1\r\n");
    return;
  }
  char path[HTTPREQ_MAX_TARGET + 1];
  if (!httpreq_pct_decode(c->req.path, c->req.path + strlen(c->req.path), path, sizeof(path),
                          false)) {
    respond_error(c, 400, "the path contains an invalid percent escape", NULL);
    return;
  }
  const char *q = strchr(c->req.target, '?');
  const struct route *r = find_route(s, path);
  if (!r) {
    static const char text[] = "404 page not found\n";
    queue_response(c, 404, TEXT_PLAIN, text, sizeof(text) - 1, NULL);
    return;
  }
  if (r->afn)
    r->afn(r->ud, &c->ex);
  else
    run_sync(c, r, path, q ? q + 1 : "");
}

/* Parse what has arrived; true when the connection moved on (dispatch or error). */
static bool try_parse(struct conn *c) {
  /* Empty lines before a request line are skipped (RFC 9112 §2.2). */
  size_t skip = 0;
  while (c->in_len - skip >= 2 && c->in[skip] == '\r' && c->in[skip + 1] == '\n')
    skip += 2;
  if (skip) {
    memmove(c->in, c->in + skip, c->in_len - skip);
    c->in_len -= skip;
    c->in[c->in_len] = '\0';
  }
  if (c->in_len == 0 || (c->in_len == 1 && c->in[0] == '\r'))
    return false;
  struct httpreq_limits lim = {HTTPD_MAX_HEADER_BYTES, c->srv->o.max_body};
  if (c->req.headers_done && c->in_len < c->req.total_len)
    return false; /* still waiting for the body */
  switch (httpreq_parse(c->in, c->in_len, &lim, &c->req)) {
  case HTTPREQ_DONE:
    dispatch(c);
    return true;
  case HTTPREQ_ERROR:
    log_debug("malformed request refused", "peer", c->peer, "reason", c->req.reason, NULL);
    respond_error(c, c->req.status, c->req.reason, NULL);
    return true;
  default:
    return false;
  }
}

static void step_read(struct conn *c) {
  struct httpd *s = c->srv;
  size_t cap_total = HTTPD_MAX_HEADER_BYTES + s->o.max_body;
  for (;;) {
    if (c->in_len > 0 && try_parse(c))
      return;
    if (c->eof) {
      conn_free(c);
      return;
    }
    if (c->in_cap - c->in_len < READ_CHUNK && c->in_cap < cap_total) {
      size_t want = c->in_cap ? 2 * c->in_cap : READ_CHUNK;
      if (want > cap_total)
        want = cap_total;
      /* All connections together hold at most max_buffered bytes of requests. */
      if (s->buffered - c->in_cap + want > s->o.max_buffered) {
        log_warn("the HTTP server's request memory is exhausted; refusing a request", "peer",
                 c->peer, NULL);
        respond_error(c, 503, "the server is busy; retry later", "Retry-After: 1\r\n");
        return;
      }
      c->in = xrealloc(c->in, want + 1);
      s->buffered += want - c->in_cap;
      c->in_cap = want;
    }
    if (c->in_len >= c->in_cap) {
      /* The parser refuses oversize first; this is only a safety net. */
      respond_error(c, 413, "the request is larger than the server accepts", NULL);
      return;
    }
    size_t n = 0;
    const char *msg = "";
    switch (c->tr->read(c, c->in + c->in_len, c->in_cap - c->in_len, &n, &msg)) {
    case T_DONE:
      if (!c->request_started) {
        c->request_started = true;
        set_timer(c, s->o.read_timeout);
      }
      c->in_len += n;
      c->in[c->in_len] = '\0';
      continue;
    case T_WANT_READ:
      set_io(c, EV_READ);
      return;
    case T_WANT_WRITE:
      set_io(c, EV_WRITE);
      return;
    case T_EOF:
      if (c->in_len == 0 || !c->request_started) {
        conn_free(c);
        return;
      }
      c->eof = true;
      continue;
    default:
      log_debug("read failed", "peer", c->peer, "transport", c->tr->name, "error", msg, NULL);
      conn_free(c);
      return;
    }
  }
}

static void step_write(struct conn *c) {
  while (c->out_off < c->out_len) {
    size_t n = 0;
    const char *msg = "";
    switch (c->tr->write(c, c->out + c->out_off, c->out_len - c->out_off, &n, &msg)) {
    case T_DONE:
      c->out_off += n;
      continue;
    case T_WANT_READ:
      set_io(c, EV_READ);
      return;
    case T_WANT_WRITE:
      set_io(c, EV_WRITE);
      return;
    default:
      log_debug("write failed", "peer", c->peer, "transport", c->tr->name, "error", msg, NULL);
      conn_free(c);
      return;
    }
  }
  free(c->out);
  c->out = NULL;
  c->out_len = c->out_off = 0;
  if (c->close_after) {
    start_linger(c);
    return;
  }
  /* Keep-alive: drop the request, keep what was pipelined behind it. */
  size_t used = c->req.total_len;
  if (used > c->in_len)
    used = c->in_len;
  memmove(c->in, c->in + used, c->in_len - used);
  c->in_len -= used;
  if (c->in)
    c->in[c->in_len] = '\0';
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
    if (r > 0 && (c->lingered += (size_t)r) <= LINGER_MAX)
      continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      set_io(c, EV_READ);
      return;
    }
    conn_free(c); /* the client closed too, or keeps sending: done either way */
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
    httpd_abort_fn fn = c->ex.abort_fn;
    void *ud = c->ex.abort_ud;
    c->ex.conn = NULL;
    if (fn)
      fn(ud);
    log_error("an HTTP request timed out in its handler", "peer", c->peer, "path", c->req.path,
              NULL);
    respond_error(c, 503, "the request could not be answered in time", NULL);
    return;
  }
  log_debug("connection deadline passed", "peer", c->peer, NULL);
  conn_free(c); /* silent, trickling, not reading its answer, or the linger is over */
}

/* ---- listener ------------------------------------------------------------------------------ */

/* Accept when there is room: a free slot, or (after overload_wait) a place to refuse from. */
static void listener_update(struct httpd *s) {
  if (s->fd < 0 || ev_is_active(&s->accept_pause))
    return;
  bool want;
  if (s->nslots < s->o.max_conns) {
    s->overloaded = false;
    ev_timer_stop(s->loop, &s->overload);
    want = true;
  } else if (s->overloaded) {
    want = s->nrefused < s->max_refused;
  } else {
    want = !ev_is_active(&s->overload); /* notice the first client that has to wait */
  }
  if (want && !s->accepting)
    ev_io_start(s->loop, &s->accept_w);
  else if (!want && s->accepting)
    ev_io_stop(s->loop, &s->accept_w);
  s->accepting = want;
}

static void on_overload(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct httpd *s = w->data;
  s->overloaded = true;
  log_warn("an HTTP endpoint is at its connection limit; clients that cannot wait are answered "
           "503",
           "flag", s->flag, "address", s->addr_text, NULL);
  listener_update(s);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents) {
  (void)revents;
  struct httpd *s = w->data;
  for (;;) {
    bool refuse = false;
    if (s->nslots >= s->o.max_conns) {
      if (!s->overloaded) {
        if (!ev_is_active(&s->overload)) {
          ev_timer_set(&s->overload, s->o.overload_wait, 0.);
          ev_timer_start(loop, &s->overload);
        }
        listener_update(s);
        return;
      }
      if (s->nrefused >= s->max_refused) {
        listener_update(s);
        return;
      }
      refuse = true;
    }
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    int fd = accept4(s->fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        /* Out of descriptors: pause instead of spinning on a listener that stays readable. */
        log_warn("cannot accept a connection on an HTTP endpoint; pausing accepts briefly", "flag",
                 s->flag, "address", s->addr_text, "error", strerror(errno), NULL);
        ev_io_stop(loop, &s->accept_w);
        s->accepting = false;
        ev_timer_set(&s->accept_pause, ACCEPT_PAUSE, 0.);
        ev_timer_start(loop, &s->accept_pause);
      }
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
    c->tr = s->o.tls ? &transport_tls : &transport_tcp;
    c->state = s->o.tls ? C_PEEK : C_HANDSHAKE;
    if (refuse) {
      c->refused = true;
      s->nrefused++;
    } else {
      c->slot = true;
      s->nslots++;
    }
    ev_io_init(&c->io, on_io, fd, EV_READ);
    c->io.data = c;
    ev_timer_init(&c->timer, on_timer, s->o.read_timeout, 0.);
    c->timer.data = c;
    c->next = s->conns;
    if (s->conns)
      s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    ev_timer_start(loop, &c->timer);
    ev_io_start(loop, &c->io);
  }
}

static void accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  listener_update(w->data);
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
  if (opts)
    s->o = *opts;
  if (!(s->o.read_timeout > 0))
    s->o.read_timeout = HTTPD_DEFAULT_READ_TIMEOUT;
  if (!(s->o.idle_timeout > 0))
    s->o.idle_timeout = HTTPD_DEFAULT_IDLE_TIMEOUT;
  if (!(s->o.handler_timeout > 0))
    s->o.handler_timeout = HTTPD_DEFAULT_HANDLER_TIMEOUT;
  if (!(s->o.overload_wait > 0))
    s->o.overload_wait = HTTPD_DEFAULT_OVERLOAD_WAIT;
  if (!s->o.max_conns)
    s->o.max_conns = HTTPD_DEFAULT_MAX_CONNS;
  if (!s->o.max_body)
    s->o.max_body = HTTPD_DEFAULT_MAX_BODY;
  if (!s->o.max_response)
    s->o.max_response = BUF_MAX_HTTP_BODY;
  if (!s->o.max_buffered)
    s->o.max_buffered = HTTPD_DEFAULT_MAX_BUFFERED;
  s->tls = s->o.tls_server;
  s->max_refused = s->o.max_conns / 4 + 4;
  ev_io_init(&s->accept_w, accept_cb, fd, EV_READ);
  s->accept_w.data = s;
  ev_timer_init(&s->accept_pause, accept_pause_cb, ACCEPT_PAUSE, 0.);
  s->accept_pause.data = s;
  ev_timer_init(&s->overload, on_overload, s->o.overload_wait, 0.);
  s->overload.data = s;
  listener_update(s);
  return s;
}

void httpd_free(struct httpd *s) {
  if (!s)
    return;
  ev_io_stop(s->loop, &s->accept_w);
  ev_timer_stop(s->loop, &s->accept_pause);
  ev_timer_stop(s->loop, &s->overload);
  close(s->fd);
  s->fd = -1; /* no listener restart while closing */
  while (s->conns)
    conn_free(s->conns); /* aborts pending exchanges */
  for (size_t i = 0; i < s->nroutes; i++)
    free(s->routes[i].path);
  free(s->routes);
  free(s->flag);
  free(s->addr_text);
  free(s);
}

void httpd_set_tls(struct httpd *s, struct tls_server *tls) {
  if (s)
    s->tls = tls;
}

int httpd_port(const struct httpd *s) { return s ? s->port : 0; }

size_t httpd_conn_count(const struct httpd *s) { return s ? s->nconns : 0; }

static void add_route(struct httpd *s, const char *path, httpd_handler_fn fn, httpd_async_fn afn,
                      void *ud) {
  if (!s || !path || (!fn && !afn))
    return;
  for (size_t i = 0; i < s->nroutes; i++) {
    if (strcmp(s->routes[i].path, path) == 0) {
      s->routes[i].fn = fn;
      s->routes[i].afn = afn;
      s->routes[i].ud = ud;
      return;
    }
  }
  s->routes = xrealloc(s->routes, (s->nroutes + 1) * sizeof(*s->routes));
  s->routes[s->nroutes++] = (struct route){.path = xstrdup(path), .fn = fn, .afn = afn, .ud = ud};
}

void httpd_route(struct httpd *s, const char *path, httpd_handler_fn fn, void *ud) {
  add_route(s, path, fn, NULL, ud);
}

void httpd_route_async(struct httpd *s, const char *path, httpd_async_fn fn, void *ud) {
  add_route(s, path, NULL, fn, ud);
}

/* ---- exchanges ----------------------------------------------------------------------------- */

const struct httpreq *httpd_request_of(const struct httpd_exchange *x) { return &x->conn->req; }

const char *httpd_body(const struct httpd_exchange *x, size_t *len) {
  *len = x->conn->req.content_length;
  return x->conn->req.body;
}

const char *httpd_peer(const struct httpd_exchange *x) { return x->conn->peer; }

void httpd_on_abort(struct httpd_exchange *x, httpd_abort_fn fn, void *ud) {
  x->abort_fn = fn;
  x->abort_ud = ud;
}

void httpd_respond(struct httpd_exchange *x, int status, const char *content_type, const char *body,
                   size_t len, const char *extra_headers) {
  struct conn *c = x->conn;
  if (!c)
    return;
  x->conn = NULL;
  queue_response(c, status, content_type, body, len, extra_headers);
}

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

enum eng_err httpd_addr_host_port(const char *host, int port, struct httpd_addr *out,
                                  struct eng_error *err) {
  memset(out, 0, sizeof(*out));
  if (!host)
    host = "";
  if (strlen(host) >= sizeof(out->host))
    return eng_error_set(err, ENG_USAGE, "the host name \"%.64s...\" is too long", host);
  snprintf(out->host, sizeof(out->host), "%s", host);
  out->port = port;
  snprintf(out->text, sizeof(out->text), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
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
  if (!httpreq_pct_decode(p, eq ? eq : end, key, keysz, true) && keysz)
    key[0] = '\0';
  if (eq) {
    if (!httpreq_pct_decode(eq + 1, end, val, valsz, true) && valsz)
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
