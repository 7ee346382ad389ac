/*
 * http.h - asynchronous HTTP(S) client: libcurl's multi interface driven by a
 * libev loop. No blocking calls, no threads; many concurrent requests and
 * long-lived streams (Kubernetes watches) on one loop, with keep-alive.
 *
 * Contract (libuv style): http_submit() either fails and returns NULL, and then
 * no callback ever runs, or returns a call whose on_done runs exactly once,
 * unless the caller cancels it first with http_cancel() (then on_done never
 * runs). The struct http_response passed to on_done and everything it points to
 * are valid only during the callback.
 *
 * Credentials are headers like any other; this module never logs headers or
 * bodies. TLS comes from libcurl's GnuTLS build.
 */
#ifndef EQXM_HTTP_H
#define EQXM_HTTP_H

#include "engine/base/common.h"
#include "engine/base/err.h"

struct ev_loop;
struct http_client;
struct http_call;

/* TLS settings; paths, not PEM blobs (see http_pem_path() for in-memory PEM). */
struct http_tls {
  const char *ca_path;          /* PEM bundle to verify the server, replacing the system trust
                                   store; NULL = system trust store */
  const char *client_cert_path; /* PEM client certificate, or NULL */
  const char *client_key_path;  /* PEM client key, or NULL */
  bool insecure;                /* skip server certificate verification */
};

struct http_response {
  enum eng_err err;   /* ENG_OK when an HTTP response arrived, whatever its status */
  const char *errmsg; /* transport failure in words ("" when err == ENG_OK) */
  long status;        /* HTTP status, 0 without a response */
  const char *body;   /* buffered body (NUL-terminated); for streaming calls only non-2xx */
  size_t body_len;
  const char *content_type; /* "" when absent */
  long retry_after_ms;      /* parsed Retry-After header (seconds or HTTP-date), -1 when absent */
  double elapsed_s;         /* total time of the call */
  const struct http_call *call;
};

/* Stream callback: return 0 to continue, nonzero to stop (on_done then gets ENG_CANCELED). */
typedef int (*http_chunk_fn)(void *ud, const char *data, size_t len, long status);
typedef void (*http_done_fn)(void *ud, const struct http_response *resp);

struct http_request {
  const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE" */
  const char *url;
  const char *const *headers; /* "Name: value" strings, NULL-terminated; copied */
  const char *body;           /* copied */
  size_t body_len;
  long timeout_ms;            /* whole call; 0 = unlimited (watch streams) */
  long connect_timeout_ms;    /* 0 = 10 s */
  long idle_timeout_ms;       /* abort when no byte arrives for this long; 0 = off */
  size_t max_body;            /* cap for a buffered body; 0 = BUF_MAX_HTTP_BODY */
  const struct http_tls *tls; /* NULL = defaults */
  bool fresh_connect;         /* never on a reused connection: libcurl silently sends a request
                                 again when a reused connection dies before any answer, which a
                                 non-idempotent call (POST) must not risk */
  http_chunk_fn on_chunk;     /* when set, 2xx body bytes stream here and are not buffered */
  http_done_fn on_done;       /* required */
  void *ud;
};

struct http_client *http_client_new(struct ev_loop *loop, const char *user_agent);
/*
 * Bound the connections of this client: at most max_host_connections at once to one host (more
 * calls wait inside libcurl, in submission order) and at most max_idle kept open for reuse.
 * 0 keeps libcurl's default (unlimited; an idle cache of 4 per call in flight). Each TLS
 * connection holds its own copy of the trust store (libcurl 7.88 with GnuTLS: about 3.7 MiB for
 * the system store, a few KiB for a one-CA bundle), so a client shared by many users should
 * bound both.
 */
void http_client_set_limits(struct http_client *c, long max_host_connections, long max_idle);
/* Cancels every call still running (their on_done does not run). */
void http_client_free(struct http_client *c);

struct http_call *http_submit(struct http_client *c, const struct http_request *req) WARN_UNUSED;
/* Stop a call; its on_done will not run. Safe inside that call's on_chunk. */
void http_cancel(struct http_client *c, struct http_call *call);
/* Response header of a finished call (case-insensitive name), NULL if absent. Only valid in
 * on_done. */
const char *http_response_header(const struct http_response *resp, const char *name);
/* Calls in flight. */
size_t http_client_inflight(const struct http_client *c);

/*
 * Make in-memory PEM usable where libcurl wants a path: the bytes go to an
 * anonymous memory file (memfd, never on disk) and *path becomes
 * "/proc/self/fd/N". Close *fd when the path is no longer needed.
 */
enum eng_err http_pem_path(const char *pem, size_t len, char path[64], int *fd,
                           struct eng_error *err) WARN_UNUSED;

/*
 * A process-wide observer of finished calls (for metrics): method, URL (no
 * query string; never headers or bodies), HTTP status, transport result and
 * duration. NULL removes it. Runs on the loop, before the call's on_done.
 */
typedef void (*http_observe_fn)(void *ud, const char *method, const char *url, long status,
                                enum eng_err result, double seconds);
void http_set_observer(http_observe_fn fn, void *ud);

/* Percent-encode s for use in a URL query value or path segment; caller frees. */
char *http_escape(const char *s);

#endif
