/*
 * httpd_pair.c - test tool: the one HTTP server (engine/net/httpd.h) on two ports with the same
 * options, one plain TCP and one TLS (tls.crt/tls.key of --cert-dir), so that a test can send both
 * the same bytes and compare the answers.
 *
 *   httpd_pair --cert-dir DIR [--max-conns N] [--read-timeout S] [--idle-timeout S]
 *              [--max-body BYTES]
 *
 * Routes on both: GET /hello (synchronous, "hi\n"), POST /post (asynchronous, answers
 * "<body length>\n"). Prints "plain <port>" and "tls <port>" on stdout, then serves until stdin
 * closes or SIGTERM. Exit 0 after a clean stop, 1 when it cannot start, 2 for bad options.
 */
#include "engine/base/common.h"
#include "engine/base/cli.h"
#include "engine/base/log.h"
#include "engine/base/xalloc.h"
#include "engine/net/httpd.h"
#include "engine/net/tls.h"

#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static enum eng_err hello(void *ud, const struct httpd_request *req, struct httpd_response *resp) {
  (void)ud;
  (void)req;
  return buf_appends(&resp->body, "hi\n");
}

static void post(void *ud, struct httpd_exchange *x) {
  (void)ud;
  const struct httpreq *r = httpd_request_of(x);
  if (strcmp(r->method, "POST")) {
    httpd_respond(x, 405, NULL, "use POST\n", 9, "Allow: POST\r\n");
    return;
  }
  size_t len;
  (void)httpd_body(x, &len);
  char text[32];
  int n = snprintf(text, sizeof(text), "%zu\n", len);
  httpd_respond(x, 200, NULL, text, (size_t)n, NULL);
}

static void on_stop(struct ev_loop *loop, ev_io *w, int revents) {
  (void)revents;
  char b[64];
  if (read(w->fd, b, sizeof(b)) <= 0)
    ev_break(loop, EVBREAK_ALL);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents) {
  (void)w;
  (void)revents;
  ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv) {
  xalloc_init();
  log_setup(LOG_WARN, LOG_FORMAT_TEXT, 2);
  const char *cert_dir = NULL, *read_timeout = "10", *idle_timeout = "90";
  long max_conns = 0, max_body = 0;
  const struct cli_opt opts[] = {
      {"cert-dir", CLI_STRING, &cert_dir, "DIR", "tls.crt and tls.key for the TLS port", NULL},
      {"max-conns", CLI_INT, &max_conns, "N", "connection cap of each port", NULL},
      {"read-timeout", CLI_STRING, &read_timeout, "SECONDS", "read timeout", NULL},
      {"idle-timeout", CLI_STRING, &idle_timeout, "SECONDS", "keep-alive idle timeout", NULL},
      {"max-body", CLI_INT, &max_body, "BYTES", "request body cap", NULL},
      {0}};
  const struct cli_spec spec = {.prog = "httpd_pair",
                                .usage = "--cert-dir DIR [options]",
                                .description = "The HTTP server on a plain and a TLS port.",
                                .opts = opts,
                                .min_pos = 0,
                                .max_pos = 0};
  char **pos = xcalloc((size_t)argc + 1, sizeof(*pos));
  int npos = 0;
  int prc = cli_parse(&spec, argc - 1, argv + 1, &npos, pos);
  free(pos);
  if (prc)
    return prc == CLI_HELP ? 0 : 2;
  if (!cert_dir)
    return cli_usage_error(&spec, "--cert-dir is required");
  struct ev_loop *loop = ev_default_loop(0);
  struct eng_error err = {0};
  struct tls_server *tls = NULL;
  if (tls_server_new(loop, cert_dir, &tls, &err) != ENG_OK) {
    fprintf(stderr, "httpd_pair: %s\n", err.msg);
    return 1;
  }
  struct httpd_options o = {.read_timeout = strtod(read_timeout, NULL),
                            .idle_timeout = strtod(idle_timeout, NULL),
                            .max_conns = (size_t)max_conns,
                            .max_body = (size_t)max_body};
  struct httpd_addr a;
  if (httpd_addr_host_port("127.0.0.1", 0, &a, &err) != ENG_OK)
    return 1;
  struct httpd *plain = httpd_new(loop, "--plain", &a, &o, &err);
  o.tls = true;
  o.tls_server = tls;
  struct httpd *secure = plain ? httpd_new(loop, "--tls", &a, &o, &err) : NULL;
  if (!plain || !secure) {
    fprintf(stderr, "httpd_pair: %s\n", err.msg);
    httpd_free(plain);
    tls_server_free(tls);
    return 1;
  }
  struct httpd *both[] = {plain, secure};
  for (size_t i = 0; i < ARRAY_SIZE(both); i++) {
    httpd_route(both[i], "/hello", hello, NULL);
    httpd_route_async(both[i], "/post", post, NULL);
  }
  printf("plain %d\ntls %d\n", httpd_port(plain), httpd_port(secure));
  fflush(stdout);
  ev_io stop;
  ev_io_init(&stop, on_stop, 0, EV_READ);
  ev_io_start(loop, &stop);
  ev_signal term;
  ev_signal_init(&term, on_signal, SIGTERM);
  ev_signal_start(loop, &term);
  ev_run(loop, 0);
  ev_io_stop(loop, &stop);
  ev_signal_stop(loop, &term);
  httpd_free(plain);
  httpd_free(secure);
  tls_server_free(tls);
  ev_loop_destroy(loop);
  return 0;
}
