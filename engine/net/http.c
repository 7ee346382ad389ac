/*
 * http.c - libcurl multi interface on a libev loop.
 *
 * The shape follows curl's evhiperfifo example: curl tells us which sockets to
 * watch (CURLMOPT_SOCKETFUNCTION) and when to time out (CURLMOPT_TIMERFUNCTION);
 * libev tells curl when a socket is ready (curl_multi_socket_action). Finished
 * transfers are collected from curl_multi_info_read() after every action.
 */
#include "engine/base/common.h"
#include "engine/net/http.h"
#include "engine/base/buf.h"
#include "engine/base/xalloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define HTTP_MAX_HEADER_BYTES (256u * 1024)

struct http_client {
  struct ev_loop *loop;
  CURLM *multi;
  ev_timer timer;
  char *user_agent;
  struct http_call *calls; /* doubly linked list of calls in flight */
  size_t ncalls;
  int still_running;
  bool in_action; /* inside curl_multi_socket_action(): curl may not be re-entered */
  bool dirty;     /* calls were submitted or canceled during an action */
};

struct http_call {
  struct http_client *client;
  struct http_call *prev, *next;
  CURL *easy;
  struct curl_slist *headers;
  char *body;
  struct buf resp_body;
  size_t resp_header_bytes; /* size of the current response's header block */
  http_chunk_fn on_chunk;
  http_done_fn on_done;
  void *ud;
  bool canceled; /* http_cancel() was called */
  bool stopped;  /* on_chunk asked to stop */
  bool in_chunk; /* inside on_chunk */
  bool body_overflow;
  bool added; /* handed to curl_multi_add_handle() */
  char errbuf[CURL_ERROR_SIZE];
};

struct sock_watch {
  ev_io io;
  struct http_client *client;
};

static bool curl_ready;
/* One share for the whole process (the process is single-threaded, so no lock callbacks): DNS
 * answers and TLS sessions are reused across every client, so a second client to the same host
 * resumes its TLS session instead of a full handshake. */
static CURLSH *share;
static http_observe_fn observer;
static void *observer_ud;

void http_set_observer(http_observe_fn fn, void *ud) {
  observer = fn;
  observer_ud = ud;
}

static void curl_global_once(void) {
  if (!curl_ready) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    share = curl_share_init();
    if (share) {
      curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
      curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
    curl_ready = true;
  }
}

static void call_unlink(struct http_call *call) {
  struct http_client *c = call->client;
  if (call->prev)
    call->prev->next = call->next;
  else
    c->calls = call->next;
  if (call->next)
    call->next->prev = call->prev;
  c->ncalls--;
}

static void call_free(struct http_call *call) {
  if (call->easy) {
    if (call->added)
      curl_multi_remove_handle(call->client->multi, call->easy);
    curl_easy_cleanup(call->easy);
  }
  curl_slist_free_all(call->headers);
  if (call->body) {
    explicit_bzero(call->body, strlen(call->body));
    free(call->body);
  }
  buf_release(&call->resp_body);
  free(call);
}

static long parse_retry_after(const char *v) {
  if (!v)
    return -1;
  while (*v == ' ')
    v++;
  char *end;
  long long secs = strtoll(v, &end, 10); /* LLONG_MAX on overflow, saturated below */
  if (end != v && (*end == '\0' || *end == '\r' || *end == ' '))
    return retry_wait_ms(secs);
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  if (strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm)) {
    time_t when = timegm(&tm);
    time_t now = time(NULL);
    return when > now ? retry_wait_ms((long long)(when - now)) : 0;
  }
  return -1;
}

/* A header of the final response (after redirects and 100 Continue), by libcurl's header API
 * (curl_easy_header, libcurl >= 7.83): case-insensitive, first occurrence, without surrounding
 * whitespace. The value lives until the handle is cleaned up, i.e. through on_done. */
static const char *header_lookup(CURL *easy, const char *name) {
  struct curl_header *h = NULL;
  if (!easy || curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h)
    return NULL;
  return h->value;
}

const char *http_response_header(const struct http_response *resp, const char *name) {
  if (!resp->call)
    return NULL;
  return header_lookup(resp->call->easy, name);
}

static enum eng_err map_curl(CURLcode cc) {
  switch (cc) {
  case CURLE_OK:
    return ENG_OK;
  case CURLE_OPERATION_TIMEDOUT:
    return ENG_TIMEOUT;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return ENG_UNAVAILABLE;
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CIPHER:
    return ENG_PROTOCOL;
  case CURLE_WRITE_ERROR:
  case CURLE_ABORTED_BY_CALLBACK:
    return ENG_CANCELED;
  case CURLE_FILESIZE_EXCEEDED:
    return ENG_TOOLARGE;
  default:
    return ENG_IO;
  }
}

static void finish_call(struct http_client *c, struct http_call *call, CURLcode cc) {
  struct http_response resp;
  memset(&resp, 0, sizeof(resp));
  resp.call = call;
  long status = 0;
  curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
  resp.status = status;
  resp.err = map_curl(cc);
  if (call->stopped)
    resp.err = ENG_CANCELED;
  if (call->body_overflow)
    resp.err = ENG_TOOLARGE;
  if (resp.err == ENG_OK)
    resp.errmsg = "";
  else if (call->body_overflow)
    resp.errmsg = "the response body is larger than the limit";
  else if (call->stopped)
    resp.errmsg = "stopped by the receiver";
  else
    resp.errmsg = call->errbuf[0] ? call->errbuf : curl_easy_strerror(cc);
  resp.body = call->resp_body.data ? call->resp_body.data : "";
  resp.body_len = call->resp_body.len;
  char *ct = NULL;
  curl_easy_getinfo(call->easy, CURLINFO_CONTENT_TYPE, &ct);
  resp.content_type = ct ? ct : "";
  resp.retry_after_ms = parse_retry_after(header_lookup(call->easy, "Retry-After"));
  double t = 0;
  curl_easy_getinfo(call->easy, CURLINFO_TOTAL_TIME, &t);
  resp.elapsed_s = t;
  call_unlink(call);
  if (observer && !call->canceled) {
    char *url = NULL, *method = NULL;
    curl_easy_getinfo(call->easy, CURLINFO_EFFECTIVE_URL, &url);
    curl_easy_getinfo(call->easy, CURLINFO_EFFECTIVE_METHOD, &method);
    char path[512];
    snprintf(path, sizeof(path), "%s", url ? url : "");
    char *q = strchr(path, '?');
    if (q)
      *q = '\0';
    observer(observer_ud, method ? method : "GET", path, resp.status, resp.err, t);
  }
  if (!call->canceled && call->on_done)
    call->on_done(call->ud, &resp);
  call_free(call);
  (void)c;
}

/*
 * Work deferred while curl was running: calls submitted from a write callback
 * are added now, calls canceled during an action are freed now.
 */
static void settle(struct http_client *c) {
  while (c->dirty) {
    c->dirty = false;
    struct http_call *call = c->calls, *next;
    for (; call; call = next) {
      next = call->next;
      if (call->canceled) {
        call_unlink(call);
        call_free(call);
      } else if (!call->added) {
        call->added = true;
        if (curl_multi_add_handle(c->multi, call->easy) != CURLM_OK) {
          call->added = false;
          call_unlink(call);
          struct http_response resp;
          memset(&resp, 0, sizeof(resp));
          resp.err = ENG_INTERNAL;
          resp.errmsg = "libcurl refused the request";
          resp.body = "";
          resp.content_type = "";
          resp.retry_after_ms = -1;
          if (call->on_done)
            call->on_done(call->ud, &resp);
          call_free(call);
        }
      }
    }
  }
}

static void check_multi_info(struct http_client *c) {
  CURLMsg *msg;
  int left;
  settle(c);
  while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    struct http_call *call = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&call);
    CURLcode cc = msg->data.result;
    if (call)
      finish_call(c, call, cc);
    settle(c);
  }
}

static void run_action(struct http_client *c, curl_socket_t fd, int action) {
  c->in_action = true;
  curl_multi_socket_action(c->multi, fd, action, &c->still_running);
  c->in_action = false;
  check_multi_info(c);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct http_client *c = w->data;
  run_action(c, CURL_SOCKET_TIMEOUT, 0);
}

static int multi_timer_cb(CURLM *multi, long timeout_ms, void *userp) {
  (void)multi;
  struct http_client *c = userp;
  ev_timer_stop(c->loop, &c->timer);
  if (timeout_ms >= 0) {
    /* 0 means "as soon as possible": a tiny positive delay keeps it on the loop. */
    ev_timer_set(&c->timer, timeout_ms / 1000.0, 0.);
    ev_timer_start(c->loop, &c->timer);
  }
  return 0;
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents) {
  (void)loop;
  struct sock_watch *sw = (struct sock_watch *)w;
  struct http_client *c = sw->client;
  int action =
      (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
  run_action(c, w->fd, action);
  if (c->still_running <= 0 && c->ncalls == 0)
    ev_timer_stop(c->loop, &c->timer);
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
  (void)e;
  struct http_client *c = userp;
  struct sock_watch *sw = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (sw) {
      ev_io_stop(c->loop, &sw->io);
      free(sw);
      curl_multi_assign(c->multi, s, NULL);
    }
    return 0;
  }
  int kind = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
  if (!sw) {
    sw = xcalloc(1, sizeof(*sw));
    sw->client = c;
    curl_multi_assign(c->multi, s, sw);
  } else {
    ev_io_stop(c->loop, &sw->io);
  }
  ev_io_init(&sw->io, io_cb, s, kind);
  ev_io_start(c->loop, &sw->io);
  return 0;
}

struct http_client *http_client_new(struct ev_loop *loop, const char *user_agent) {
  curl_global_once();
  struct http_client *c = xcalloc(1, sizeof(*c));
  c->loop = loop;
  c->multi = curl_multi_init();
  if (!c->multi)
    abort();
  c->user_agent = xstrdup(user_agent ? user_agent : PROG_NAME "/" EQXM_VERSION);
  ev_timer_init(&c->timer, timer_cb, 0., 0.);
  c->timer.data = c;
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  return c;
}

void http_client_set_limits(struct http_client *c, long max_host_connections, long max_idle) {
  if (max_host_connections > 0)
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host_connections);
  if (max_idle > 0)
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, max_idle);
}

void http_client_free(struct http_client *c) {
  if (!c)
    return;
  while (c->calls) {
    struct http_call *call = c->calls;
    call_unlink(call);
    call_free(call);
  }
  ev_timer_stop(c->loop, &c->timer);
  curl_multi_cleanup(c->multi);
  free(c->user_agent);
  free(c);
}

size_t http_client_inflight(const struct http_client *c) { return c->ncalls; }

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct http_call *call = ud;
  size_t n = size * nmemb;
  if (call->canceled)
    return 0;
  long status = 0;
  curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
  if (call->on_chunk && status >= 200 && status < 300) {
    call->in_chunk = true;
    int stop = call->on_chunk(call->ud, ptr, n, status);
    call->in_chunk = false;
    if (call->canceled)
      return 0;
    if (stop) {
      call->stopped = true;
      return 0;
    }
    return n;
  }
  if (buf_append(&call->resp_body, ptr, n)) {
    call->body_overflow = true;
    return 0;
  }
  return n;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct http_call *call = ud;
  size_t n = size * nmemb;
  /* Only the size is kept here (libcurl keeps the headers, see header_lookup): a header block
   * over HTTP_MAX_HEADER_BYTES ends the call. A status line starts a new block. */
  if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
    call->resp_header_bytes = 0;
    return n;
  }
  if (n > HTTP_MAX_HEADER_BYTES - call->resp_header_bytes)
    return 0;
  call->resp_header_bytes += n;
  return n;
}

struct http_call *http_submit(struct http_client *c, const struct http_request *req) {
  if (!req->url || !req->on_done)
    return NULL;
  struct http_call *call = xcalloc(1, sizeof(*call));
  call->client = c;
  call->on_chunk = req->on_chunk;
  call->on_done = req->on_done;
  call->ud = req->ud;
  buf_init(&call->resp_body, req->max_body ? req->max_body : BUF_MAX_HTTP_BODY);
  call->easy = curl_easy_init();
  if (!call->easy) {
    free(call);
    return NULL;
  }
  CURL *e = call->easy;
  const char *method = req->method ? req->method : "GET";
  curl_easy_setopt(e, CURLOPT_URL, req->url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)call);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  if (share)
    curl_easy_setopt(e, CURLOPT_SHARE, share);
  if (req->fresh_connect)
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 10000L);
  if (req->timeout_ms > 0)
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms);
  if (req->idle_timeout_ms > 0) {
    long secs = (req->idle_timeout_ms + 999) / 1000;
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, secs);
  }
  if (strcmp(method, "GET") == 0) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else if (strcmp(method, "HEAD") == 0) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  }
  if (req->body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
      strcmp(method, "PATCH") == 0) {
    call->body = xmalloc(req->body_len + 1);
    if (req->body_len)
      memcpy(call->body, req->body, req->body_len);
    call->body[req->body_len] = '\0';
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
  }
  /* No "Expect: 100-continue" round trip for bodies. */
  call->headers = curl_slist_append(call->headers, "Expect:");
  for (const char *const *h = req->headers; h && *h; h++)
    call->headers = curl_slist_append(call->headers, *h);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->headers);
  if (req->tls) {
    if (req->tls->ca_path) {
      /* The given bundle replaces the system store (as client-go does with a kubeconfig CA).
       * Without this, libcurl's GnuTLS build also parses every file of its default CA
       * directory into each new connection: about 3.7 MiB of certificates per connection. */
      curl_easy_setopt(e, CURLOPT_CAINFO, req->tls->ca_path);
      curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    }
    if (req->tls->client_cert_path)
      curl_easy_setopt(e, CURLOPT_SSLCERT, req->tls->client_cert_path);
    if (req->tls->client_key_path)
      curl_easy_setopt(e, CURLOPT_SSLKEY, req->tls->client_key_path);
    if (req->tls->insecure) {
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
  }
  call->next = c->calls;
  if (c->calls)
    c->calls->prev = call;
  c->calls = call;
  c->ncalls++;
  if (c->in_action) {
    /* Called from a callback of another transfer: curl may not be re-entered. */
    c->dirty = true;
    return call;
  }
  call->added = true;
  if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
    call->added = false;
    call_unlink(call);
    call_free(call);
    return NULL;
  }
  return call;
}

void http_cancel(struct http_client *c, struct http_call *call) {
  if (!call || call->canceled)
    return;
  call->canceled = true;
  if (call->in_chunk) {
    /* write_cb returns 0 after on_chunk; the transfer ends and finish_call frees it quietly. */
    return;
  }
  if (c->in_action) {
    c->dirty = true; /* freed by settle() once curl returns */
    return;
  }
  call_unlink(call);
  call_free(call);
}

enum eng_err http_pem_path(const char *pem, size_t len, char path[64], int *fd,
                           struct eng_error *err) {
  int f = memfd_create("eqxm-pem", MFD_CLOEXEC);
  if (f < 0)
    return eng_error_set(err, ENG_IO, "cannot create an in-memory file for TLS material: %s",
                         strerror(errno));
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(f, pem + off, len - off);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      close(f);
      return eng_error_set(err, ENG_IO, "cannot write TLS material to memory: %s", strerror(errno));
    }
    off += (size_t)w;
  }
  snprintf(path, 64, "/proc/self/fd/%d", f);
  *fd = f;
  return ENG_OK;
}

char *http_escape(const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = strlen(s);
  char *out = xmalloc(3 * n + 1);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
        ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out[o++] = (char)ch;
    } else {
      out[o++] = '%';
      out[o++] = hex[ch >> 4];
      out[o++] = hex[ch & 15];
    }
  }
  out[o] = '\0';
  return out;
}
