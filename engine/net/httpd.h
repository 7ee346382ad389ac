/*
 * httpd.h - the one HTTP/1.1 server of the process, on a libev loop: it serves
 * the metrics and health endpoints over plain TCP and the HTTPS endpoints of
 * the process (admission) over TLS. The transport (plain TCP, or TLS with reloadable credentials
 * from tls.h) is an option; everything above it is the same code for every port:
 *
 * Parsing (httpreq.h): CRLF line ends only (a bare LF or CR is 400); a header
 *   section of at most HTTPD_MAX_HEADER_BYTES with at most HTTPREQ_MAX_HEADERS
 *   fields (431 beyond); a target of at most HTTPREQ_MAX_TARGET bytes (414);
 *   bodies only with Content-Length, at most max_body (413, refused from the
 *   headers before the body is sent); Transfer-Encoding 411 (chunked) or 501;
 *   HTTP/1.1 needs Host; another HTTP major version 505. Empty lines (CRLF)
 *   before a request line are skipped. Every refusal is answered with
 *   "Connection: close", after which the server stops reading requests, sends
 *   its TLS close_notify, half-closes and discards what the client still sends
 *   (at most 64 KiB, 2 s), so that the client reads the answer.
 * Keep-alive: HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with
 *   "Connection: keep-alive". Pipelined requests are answered in order.
 * Deadlines: a new connection has read_timeout for its TLS handshake and again
 *   for the first byte of its first request; once a request has started it
 *   must arrive completely within read_timeout (trickling bytes does not extend
 *   it), and each response must be taken by the client within read_timeout;
 *   a kept-alive connection waits idle_timeout for its next request. A missed
 *   deadline closes the connection without an answer (as Go's net/http does).
 *   An asynchronous handler has handler_timeout to answer (then 503).
 * Overload: at max_conns open connections the server stops accepting, so new
 *   clients wait in the kernel's listen queue and take the next free slot. If
 *   no slot frees within overload_wait, waiting clients are accepted beyond the
 *   cap only to be answered "503 Service Unavailable" with "Retry-After: 1"
 *   (after their handshake and request head, parsed as above; at most
 *   max_conns / 4 + 4 such connections at once, then the queue waits again).
 *   All connections together buffer at most max_buffered request bytes; a
 *   request that would need more gets 503 too.
 * On a TLS port, a first byte that is not a TLS handshake but looks like a
 * plain HTTP request is answered in clear text "400 Client sent an HTTP request
 * to an HTTPS server." and closed; anything else is closed.
 *
 * Handlers run on the loop. A synchronous route (httpd_route) serves GET and
 * HEAD (405 with "Allow: GET, HEAD" otherwise) and fills a capped body; an
 * asynchronous route (httpd_route_async) gets an exchange that stays valid until
 * httpd_respond() (it may answer later, after asynchronous work), or until the
 * connection must end first (handler_timeout, shutdown): then the abort callback
 * set with httpd_on_abort() runs and the exchange is gone. Responses to HEAD
 * carry the headers of the GET answer without its body.
 *
 * Addresses are given like Go's net.Listen and controller-runtime flags:
 * ":8080" (every interface, IPv6 and IPv4), "127.0.0.1:8080", "[::1]:8080",
 * "localhost:8080", ":0" (the kernel picks a free port; httpd_port() tells
 * which). "0" disables the endpoint; an empty value means the flag's default
 * (see httpd_addr_parse()).
 */
#ifndef EQXM_HTTPD_H
#define EQXM_HTTPD_H

#include "engine/base/common.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"
#include "engine/net/httpreq.h"

struct ev_loop;
struct httpd;
struct httpd_exchange;
struct tls_server;

#define HTTPD_MAX_HEADER_BYTES        (16u * 1024)
#define HTTPD_MAX_HEADERS             HTTPREQ_MAX_HEADERS
#define HTTPD_DEFAULT_READ_TIMEOUT    10.0
#define HTTPD_DEFAULT_IDLE_TIMEOUT    90.0
#define HTTPD_DEFAULT_HANDLER_TIMEOUT 30.0
#define HTTPD_DEFAULT_OVERLOAD_WAIT   1.0
#define HTTPD_DEFAULT_MAX_CONNS       64
#define HTTPD_DEFAULT_MAX_BODY        (64u * 1024)
#define HTTPD_DEFAULT_MAX_BUFFERED    (256u * 1024 * 1024)
#define HTTPD_HOST_MAX                256

/* A parsed listen address. */
struct httpd_addr {
  bool disabled;                  /* "0", or empty without a default */
  char host[HTTPD_HOST_MAX];      /* "" = every interface; IPv6 without brackets */
  int port;                       /* 0 = pick a free port */
  char text[HTTPD_HOST_MAX + 16]; /* the address as given, for messages */
};

/*
 * Parse the value of a bind-address flag. flag names it in messages
 * ("--metrics-bind-address"). An empty or NULL value takes empty_default
 * (controller-runtime turns an empty metrics address into ":8080" and an empty
 * health probe address into "disabled"; pass NULL for the latter). "0"
 * disables the endpoint. Fails with ENG_USAGE and a sentence naming the flag
 * and the value. Does not resolve host names.
 */
enum eng_err httpd_addr_parse(const char *flag, const char *value, const char *empty_default,
                              struct httpd_addr *out, struct eng_error *err) WARN_UNUSED;
/* The address of a host ("" or NULL = every interface) and a port (0 = any free one). ENG_USAGE
 * when the host does not fit. */
enum eng_err httpd_addr_host_port(const char *host, int port, struct httpd_addr *out,
                                  struct eng_error *err) WARN_UNUSED;

struct httpd_request {
  const char *method; /* "GET" or "HEAD" */
  const char *path;   /* percent-decoded path, e.g. "/healthz/journal" */
  const char *query;  /* raw query string without '?', "" when none */
  const char *route;  /* the route that matched, e.g. "/healthz/" */
};

struct httpd_response {
  int status;               /* 200 unless the handler sets it */
  const char *content_type; /* static string; "text/plain; charset=utf-8" by default */
  struct buf body;          /* capped at the server's max_response; sent without it for HEAD */
};

/*
 * A synchronous route handler. Returns ENG_OK with resp filled; any other code
 * turns the response into a 500 (the body is discarded). It runs on the loop,
 * must not block, and must not free the server it was called from.
 */
typedef enum eng_err (*httpd_handler_fn)(void *ud, const struct httpd_request *req,
                                         struct httpd_response *resp);
/* An asynchronous route handler: answer x with httpd_respond(), now or later. */
typedef void (*httpd_async_fn)(void *ud, struct httpd_exchange *x);
typedef void (*httpd_abort_fn)(void *ud);
/* The body of the server's own refusals (parse errors, 503 ...): a new string (freed by the
 * server) and its content type (static). The default is reason and a newline, as text. */
typedef char *(*httpd_error_body_fn)(int status, const char *reason, const char **content_type);

struct httpd_options {
  bool tls; /* the TLS transport; credentials from tls_server or httpd_set_tls() */
  struct tls_server *tls_server; /* borrowed, must outlive the server; NULL = not yet (until
                                    then new connections are closed at once) */
  double read_timeout;           /* seconds; 0 = HTTPD_DEFAULT_READ_TIMEOUT (see the header) */
  double idle_timeout;           /* seconds between requests; 0 = HTTPD_DEFAULT_IDLE_TIMEOUT */
  double handler_timeout;        /* seconds an asynchronous handler may take; 0 = 30 */
  double overload_wait;          /* seconds clients may wait for a free slot before 503; 0 = 1 */
  size_t max_conns;              /* 0 = HTTPD_DEFAULT_MAX_CONNS */
  size_t max_body;               /* request body cap (413 beyond); 0 = HTTPD_DEFAULT_MAX_BODY */
  size_t max_response;           /* body cap of synchronous handlers; 0 = BUF_MAX_HTTP_BODY */
  size_t max_buffered; /* request bytes of all connections; 0 = HTTPD_DEFAULT_MAX_BUFFERED */
  httpd_error_body_fn error_body; /* NULL = plain text */
};

/*
 * Listen on addr (which must not be disabled) and serve on loop. flag names
 * the address in error messages. Returns NULL and fills err (ENG_BUSY when the
 * address is in use, ENG_FORBIDDEN for a privileged port, ENG_CONFIG for a
 * host that cannot be resolved or is not local, ENG_IO otherwise). Host names
 * are resolved here (blocking), once.
 */
struct httpd *httpd_new(struct ev_loop *loop, const char *flag, const struct httpd_addr *addr,
                        const struct httpd_options *opts, struct eng_error *err);
/* Close the listener and every connection (aborting pending exchanges). NULL is allowed. */
void httpd_free(struct httpd *s);
/* The TLS credentials of a server started with opts.tls (new connections use them). */
void httpd_set_tls(struct httpd *s, struct tls_server *tls);
/* The port the server listens on (the chosen one for port 0). */
int httpd_port(const struct httpd *s);
/* Connections currently open. */
size_t httpd_conn_count(const struct httpd *s);

/*
 * Route path to fn. A path ending in '/' also matches everything below it
 * ("/healthz/" matches "/healthz/journal", "/" matches every path); otherwise
 * the match is exact. The longest matching route wins; no route is 404.
 * Re-routing a path replaces its handler.
 */
void httpd_route(struct httpd *s, const char *path, httpd_handler_fn fn, void *ud);
void httpd_route_async(struct httpd *s, const char *path, httpd_async_fn fn, void *ud);

/* The request of an exchange (valid until httpd_respond); path is the target without query. */
const struct httpreq *httpd_request_of(const struct httpd_exchange *x);
const char *httpd_body(const struct httpd_exchange *x, size_t *len);
/* "address:port" of the client. */
const char *httpd_peer(const struct httpd_exchange *x);
/*
 * Answer the exchange: status, Content-Type and body (copied); extra_headers are
 * complete "Name: value\r\n" lines or NULL. The exchange is invalid afterwards.
 * Never frees the connection synchronously, so it is safe anywhere.
 */
void httpd_respond(struct httpd_exchange *x, int status, const char *content_type, const char *body,
                   size_t len, const char *extra_headers);
void httpd_on_abort(struct httpd_exchange *x, httpd_abort_fn fn, void *ud);

/*
 * Iterate over the parameters of a query string: *cursor starts at the query
 * and advances past one "key=value" pair per call; key and value are
 * percent-decoded ('+' is a space) and cut to their buffer size. Returns false
 * when no pair is left.
 */
bool httpd_query_next(const char **cursor, char *key, size_t keysz, char *val, size_t valsz);
/* Whether the query has parameter key (with or without a value). */
bool httpd_query_has(const char *query, const char *key);

#endif
