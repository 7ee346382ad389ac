/*
 * tls.h - the HTTP server's TLS transport (httpd.h): serving credentials from a certificate
 * directory (tls.crt, tls.key in PEM), reloaded when the files change, and
 * non-blocking GnuTLS server sessions restricted to TLS 1.2 and 1.3.
 *
 * Reload: an ev_stat watcher per file (inotify where libev has it, polling every
 * second otherwise) plus a periodic check of size/mtime/inode. A change loads both
 * files again; when the pair loads and matches, new connections get it, and
 * connections already open keep the credentials they started with (credentials
 * are reference counted). A pair that fails to load (half written, key not
 * matching) is logged and ignored until the next change; the old pair stays.
 *
 * Whoever writes the files (a certificate manager, cert-manager, a mounted Secret)
 * needs no hook: the watchers notice the change.
 */
#ifndef EQXM_NET_TLS_H
#define EQXM_NET_TLS_H

#include "engine/base/common.h"
#include "engine/base/err.h"

#include <sys/types.h>

struct ev_loop;
struct tls_server;
struct tls_session;

/* GnuTLS priority string: TLS 1.3 and 1.2 only, the library's NORMAL ciphers. */
#define TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE"

/*
 * Load cert_dir/tls.crt and cert_dir/tls.key and watch them. Fails (ENG_CONFIG, a
 * sentence naming the files) when they cannot be loaded now.
 */
enum eng_err tls_server_new(struct ev_loop *loop, const char *cert_dir, struct tls_server **out,
                            struct eng_error *err) WARN_UNUSED;
void tls_server_free(struct tls_server *t);
/* Load the files again now (also what the watchers do). ENG_OK when the new pair is in use. */
enum eng_err tls_server_reload(struct tls_server *t, struct eng_error *err) WARN_UNUSED;
/* How many times a new pair was taken into use (tests and logs). */
unsigned tls_server_generation(const struct tls_server *t);

/* Result of a non-blocking step. */
enum tls_io {
  TLS_DONE = 0,   /* finished (n bytes for read/write) */
  TLS_WANT_READ,  /* call again when the socket is readable */
  TLS_WANT_WRITE, /* call again when the socket is writable */
  TLS_EOF,        /* the peer closed the connection cleanly */
  TLS_ERROR       /* fatal; *msg says why */
};

/* A server session on a connected, non-blocking socket, with the current credentials. */
struct tls_session *tls_session_new(struct tls_server *t, int fd);
void tls_session_free(struct tls_session *s);
enum tls_io tls_session_handshake(struct tls_session *s, const char **msg);
/* Read up to cap bytes into buf; *n = bytes read when DONE. */
enum tls_io tls_session_read(struct tls_session *s, char *buf, size_t cap, size_t *n,
                             const char **msg);
/* Bytes GnuTLS has already decrypted and buffered (readable without the socket). */
size_t tls_session_pending(struct tls_session *s);
/* Write len bytes from buf; *n = bytes taken when DONE. After WANT_*, call again with the same
 * arguments. */
enum tls_io tls_session_write(struct tls_session *s, const char *buf, size_t len, size_t *n,
                              const char **msg);
/* Send close_notify (best effort, never blocks). */
void tls_session_bye(struct tls_session *s);
/* "TLS1.3" etc. of an established session. */
const char *tls_session_version(struct tls_session *s);

#endif
