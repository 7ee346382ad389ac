/*
 * httpd.h - a tiny plain-HTTP/1.1 server on a libev loop, for the metrics and
 * health endpoints (not a general web server).
 *
 * Only GET and HEAD are served (405 otherwise); requests carry no body. The
 * request line and headers are parsed strictly and capped at
 * HTTPD_MAX_HEADER_BYTES (431 beyond). Connections are kept alive for HTTP/1.1
 * clients that do not ask to close; each connection has an absolute deadline
 * per request (read_timeout) and the server holds at most max_conns
 * connections (more are answered 503 and closed). Handlers run on the loop's
 * thread and must not block; they fill a capped body buffer and a content type.
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

struct ev_loop;
struct httpd;

#define HTTPD_MAX_HEADER_BYTES     (8u * 1024)
#define HTTPD_MAX_HEADERS          64
#define HTTPD_DEFAULT_READ_TIMEOUT 10.0
#define HTTPD_DEFAULT_MAX_CONNS    64
#define HTTPD_HOST_MAX             256

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
 * A route handler. Returns ENG_OK with resp filled; any other code turns the
 * response into a 500 (the body is discarded). It runs on the loop, must not
 * block, and must not free the server it was called from.
 */
typedef enum eng_err (*httpd_handler_fn)(void *ud, const struct httpd_request *req,
                                         struct httpd_response *resp);

struct httpd_options {
  double read_timeout; /* seconds for one request to arrive and its response to leave; 0 = 10 */
  size_t max_conns;    /* 0 = HTTPD_DEFAULT_MAX_CONNS */
  size_t max_response; /* body cap; 0 = BUF_MAX_HTTP_BODY */
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
/* Close the listener and every connection. NULL is allowed. */
void httpd_free(struct httpd *s);
/* The port the server listens on (the chosen one for port 0). */
int httpd_port(const struct httpd *s);
/* Connections currently open. */
size_t httpd_conn_count(const struct httpd *s);

/*
 * Route path to fn. A path ending in '/' also matches everything below it
 * ("/healthz/" matches "/healthz/journal"); otherwise the match is exact. The
 * longest matching route wins. Re-routing a path replaces its handler.
 */
void httpd_route(struct httpd *s, const char *path, httpd_handler_fn fn, void *ud);

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
