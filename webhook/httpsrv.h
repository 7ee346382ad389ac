/*
 * httpsrv.h - an HTTPS/1.1 server on a libev loop (GnuTLS, TLS 1.2+), built for
 * admission webhooks: strict request parsing (httpreq.h), capped header and body
 * sizes, per-connection deadlines, a connection cap, keep-alive.
 *
 * Connection life:
 *   accept -> first byte: a TLS ClientHello starts the handshake; anything that
 *   looks like plain HTTP gets "400 Client sent an HTTP request to an HTTPS
 *   server." in clear text and is closed; anything else is closed.
 *   -> handshake (deadline: read_timeout) -> wait for a request (idle_timeout)
 *   -> once its first byte arrives the whole request must arrive within
 *   read_timeout (slow clients are cut off: a connection is never held open by
 *   trickling bytes) -> the handler -> the response must be taken by the client
 *   within read_timeout -> next request on the same connection, or close.
 * Malformed requests get the status httpreq chose (400, 411, 413, 431, 505 ...)
 * with "Connection: close". At max_conns open connections the server stops
 * accepting; the kernel queues new clients until a connection ends. All connections together
 * hold at most max_buffered bytes of requests; a request that would need more gets 503.
 *
 * Handlers run on the loop and may answer later (after asynchronous work): a
 * request is an exchange that stays valid until httpsrv_respond() is called. If
 * the connection must end first (handler_timeout, server shutdown), the abort
 * callback set with httpsrv_on_abort() runs and the exchange is gone.
 */
#ifndef EQXM_HTTPSRV_H
#define EQXM_HTTPSRV_H

#include "engine/base/common.h"
#include "engine/base/err.h"
#include "httpreq.h"

struct ev_loop;
struct httpsrv;
struct httpsrv_exchange;
struct wh_tls;

struct httpsrv_opts {
  const char *host; /* bind address; NULL or "" = all addresses (IPv6 and IPv4) */
  int port;         /* 0 = a free port (see httpsrv_port) */
  struct wh_tls
      *tls;          /* serving credentials (borrowed, must outlive the server); may be set later */
  size_t max_header; /* 0 = 16 KiB */
  size_t max_body;   /* 0 = 8 MiB */
  double read_timeout;    /* seconds; 0 = 10 */
  double idle_timeout;    /* seconds between requests on a kept-alive connection; 0 = 90 */
  double handler_timeout; /* seconds a handler may take; 0 = 30 */
  unsigned max_conns;     /* 0 = 1024 */
  size_t max_buffered; /* request bytes all connections may hold together; 0 = 256 MiB (then 503) */
};

typedef void (*httpsrv_handler_fn)(void *ud, struct httpsrv_exchange *x);
typedef void (*httpsrv_abort_fn)(void *ud);

/* Bind, listen and start serving on loop. ENG_IO with a sentence when the address cannot be used.
 */
enum eng_err httpsrv_start(struct ev_loop *loop, const struct httpsrv_opts *opts,
                           httpsrv_handler_fn handler, void *ud, struct httpsrv **out,
                           struct eng_error *err) WARN_UNUSED;
/* Serving credentials (the server may start listening before they exist: until then new
 * connections are closed at once). */
void httpsrv_set_tls(struct httpsrv *s, struct wh_tls *tls);
/* Close the listener and every connection (aborting pending exchanges), free everything. */
void httpsrv_free(struct httpsrv *s);
int httpsrv_port(const struct httpsrv *s);
unsigned httpsrv_connections(const struct httpsrv *s);

/* The request of an exchange (valid until httpsrv_respond). */
const struct httpreq *httpsrv_request(const struct httpsrv_exchange *x);
const char *httpsrv_body(const struct httpsrv_exchange *x, size_t *len);
const char *httpsrv_peer(const struct httpsrv_exchange *x);

/*
 * Answer the exchange: status, Content-Type and body (copied); extra_headers are
 * complete "Name: value\r\n" lines or NULL. The exchange is invalid afterwards.
 * Never frees the connection synchronously, so it is safe anywhere.
 */
void httpsrv_respond(struct httpsrv_exchange *x, int status, const char *content_type,
                     const char *body, size_t len, const char *extra_headers);
void httpsrv_on_abort(struct httpsrv_exchange *x, httpsrv_abort_fn fn, void *ud);

#endif
