/*
 * tls.c - GnuTLS serving credentials with reload, and non-blocking server sessions.
 */
#include "engine/base/common.h"
#include "engine/net/tls.h"

#include "engine/base/log.h"
#include "engine/base/xalloc.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PEM_MAX (1u << 20)

/* Reference-counted credentials: sessions keep the pair they started with. */
struct tls_creds {
  gnutls_certificate_credentials_t cred;
  unsigned refs;
};

struct tls_server {
  struct ev_loop *loop;
  char *cert_path, *key_path;
  gnutls_priority_t prio;
  struct tls_creds *cur;
  unsigned generation;
  ev_stat w_cert, w_key;
  ev_timer w_poll;     /* periodic check: symlink swaps and missed events */
  ev_timer w_debounce; /* reload shortly after a change, when both files are written */
  struct stat st_cert, st_key;
  bool last_failed;
};

struct tls_session {
  gnutls_session_t s;
  struct tls_creds *creds;
};

static void creds_unref(struct tls_creds *c) {
  if (c && --c->refs == 0) {
    gnutls_certificate_free_credentials(c->cred);
    free(c);
  }
}

/* Read a whole small file; ENG_IO/ENG_TOOLARGE with a sentence. */
static enum eng_err read_small(const char *path, gnutls_datum_t *out, struct eng_error *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return eng_error_set(err, ENG_CONFIG, "cannot open %s: %s", path, strerror(errno));
  size_t cap = 4096, len = 0;
  unsigned char *buf = xmalloc(cap);
  for (;;) {
    if (len == cap) {
      if (cap >= PEM_MAX) {
        close(fd);
        free(buf);
        return eng_error_set(err, ENG_CONFIG, "%s is larger than %u bytes; is it a PEM file?", path,
                             PEM_MAX);
      }
      cap *= 2;
      buf = xrealloc(buf, cap);
    }
    ssize_t r = read(fd, buf + len, cap - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      free(buf);
      return eng_error_set(err, ENG_CONFIG, "cannot read %s: %s", path, strerror(e));
    }
    if (r == 0)
      break;
    len += (size_t)r;
  }
  close(fd);
  out->data = buf;
  out->size = (unsigned)len;
  return ENG_OK;
}

static enum eng_err load_pair(struct tls_server *t, struct tls_creds **out, struct eng_error *err) {
  gnutls_datum_t crt = {0}, key = {0};
  enum eng_err rc = read_small(t->cert_path, &crt, err);
  if (rc == ENG_OK)
    rc = read_small(t->key_path, &key, err);
  if (rc != ENG_OK) {
    free(crt.data);
    return rc;
  }
  /* Parse both first: GnuTLS 3.7 leaks inside set_x509_key_mem2 when the PEM is malformed. */
  gnutls_x509_crt_t *chain = NULL;
  unsigned nchain = 0;
  gnutls_x509_privkey_t pk = NULL;
  int pr = gnutls_x509_crt_list_import2(&chain, &nchain, &crt, GNUTLS_X509_FMT_PEM, 0);
  for (unsigned i = 0; i < nchain; i++)
    gnutls_x509_crt_deinit(chain[i]);
  gnutls_free(chain);
  if (pr >= 0 && nchain == 0)
    pr = GNUTLS_E_NO_CERTIFICATE_FOUND;
  if (pr >= 0)
    pr = gnutls_x509_privkey_init(&pk);
  if (pr >= 0)
    pr = gnutls_x509_privkey_import(pk, &key, GNUTLS_X509_FMT_PEM);
  if (pk)
    gnutls_x509_privkey_deinit(pk);
  if (pr < 0) {
    gnutls_memset(key.data, 0, key.size);
    free(key.data);
    free(crt.data);
    return eng_error_set(err, ENG_CONFIG, "cannot read the serving certificate %s or key %s: %s",
                         t->cert_path, t->key_path, gnutls_strerror(pr));
  }
  struct tls_creds *c = xcalloc(1, sizeof(*c));
  c->refs = 1;
  int gr = gnutls_certificate_allocate_credentials(&c->cred);
  if (gr >= 0)
    gr = gnutls_certificate_set_x509_key_mem2(c->cred, &crt, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
  gnutls_memset(key.data, 0, key.size);
  free(key.data);
  free(crt.data);
  if (gr < 0) {
    if (c->cred)
      gnutls_certificate_free_credentials(c->cred);
    free(c);
    return eng_error_set(err, ENG_CONFIG, "cannot use the serving certificate %s with key %s: %s",
                         t->cert_path, t->key_path, gnutls_strerror(gr));
  }
  *out = c;
  return ENG_OK;
}

unsigned tls_server_generation(const struct tls_server *t) { return t->generation; }

static bool stat_changed(const char *path, struct stat *last) {
  struct stat st;
  if (stat(path, &st) != 0)
    return false;
  bool changed = st.st_mtim.tv_sec != last->st_mtim.tv_sec ||
                 st.st_mtim.tv_nsec != last->st_mtim.tv_nsec || st.st_size != last->st_size ||
                 st.st_ino != last->st_ino || st.st_dev != last->st_dev;
  *last = st;
  return changed;
}

enum eng_err tls_server_reload(struct tls_server *t, struct eng_error *err) {
  struct tls_creds *c = NULL;
  enum eng_err rc = load_pair(t, &c, err);
  if (rc != ENG_OK)
    return rc;
  creds_unref(t->cur);
  t->cur = c;
  t->generation++;
  stat_changed(t->cert_path, &t->st_cert);
  stat_changed(t->key_path, &t->st_key);
  return ENG_OK;
}

static void on_debounce(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct tls_server *t = w->data;
  struct eng_error err;
  if (tls_server_reload(t, &err) == ENG_OK) {
    char gen[16];
    snprintf(gen, sizeof(gen), "%u", t->generation);
    log_info("loaded a new serving certificate", "cert", t->cert_path, "generation", gen, NULL);
    t->last_failed = false;
  } else {
    /* Keep serving the previous pair; a later change (or the poll) tries again. */
    log_error("the changed serving certificate cannot be used; still serving the previous one",
              "error", err.msg, NULL);
    t->last_failed = true;
  }
}

static void schedule_reload(struct tls_server *t) {
  ev_timer_stop(t->loop, &t->w_debounce);
  ev_timer_set(&t->w_debounce, 0.2, 0.);
  ev_timer_start(t->loop, &t->w_debounce);
}

static void on_stat(struct ev_loop *loop, ev_stat *w, int revents) {
  (void)loop;
  (void)revents;
  schedule_reload(w->data);
}

static void on_poll(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct tls_server *t = w->data;
  bool a = stat_changed(t->cert_path, &t->st_cert);
  bool b = stat_changed(t->key_path, &t->st_key);
  if (a || b || t->last_failed)
    schedule_reload(t);
}

enum eng_err tls_server_new(struct ev_loop *loop, const char *cert_dir, struct tls_server **out,
                            struct eng_error *err) {
  struct tls_server *t = xcalloc(1, sizeof(*t));
  t->loop = loop;
  t->cert_path = xasprintf("%s/tls.crt", cert_dir);
  t->key_path = xasprintf("%s/tls.key", cert_dir);
  const char *errpos = NULL;
  int gr = gnutls_priority_init(&t->prio, TLS_PRIORITY, &errpos);
  if (gr < 0) {
    eng_error_set(err, ENG_INTERNAL, "GnuTLS refuses the priority string at \"%s\": %s",
                  errpos ? errpos : "", gnutls_strerror(gr));
    free(t->cert_path);
    free(t->key_path);
    free(t);
    return ENG_INTERNAL;
  }
  enum eng_err rc = tls_server_reload(t, err);
  if (rc != ENG_OK) {
    eng_error_prefix(err, "serving certificate in %s", cert_dir);
    gnutls_priority_deinit(t->prio);
    free(t->cert_path);
    free(t->key_path);
    free(t);
    return rc;
  }
  if (loop) {
    ev_stat_init(&t->w_cert, on_stat, t->cert_path, 1.0);
    ev_stat_init(&t->w_key, on_stat, t->key_path, 1.0);
    t->w_cert.data = t->w_key.data = t;
    ev_stat_start(loop, &t->w_cert);
    ev_stat_start(loop, &t->w_key);
    ev_timer_init(&t->w_poll, on_poll, 2.0, 2.0);
    t->w_poll.data = t;
    ev_timer_start(loop, &t->w_poll);
    ev_timer_init(&t->w_debounce, on_debounce, 0.2, 0.);
    t->w_debounce.data = t;
  }
  *out = t;
  return ENG_OK;
}

void tls_server_free(struct tls_server *t) {
  if (!t)
    return;
  if (t->loop) {
    ev_stat_stop(t->loop, &t->w_cert);
    ev_stat_stop(t->loop, &t->w_key);
    ev_timer_stop(t->loop, &t->w_poll);
    ev_timer_stop(t->loop, &t->w_debounce);
  }
  creds_unref(t->cur);
  gnutls_priority_deinit(t->prio);
  free(t->cert_path);
  free(t->key_path);
  free(t);
}

struct tls_session *tls_session_new(struct tls_server *t, int fd) {
  struct tls_session *s = xcalloc(1, sizeof(*s));
  if (gnutls_init(&s->s, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL) < 0) {
    free(s);
    return NULL;
  }
  s->creds = t->cur;
  s->creds->refs++;
  gnutls_priority_set(s->s, t->prio);
  gnutls_credentials_set(s->s, GNUTLS_CRD_CERTIFICATE, s->creds->cred);
  gnutls_certificate_server_set_request(s->s, GNUTLS_CERT_IGNORE);
  gnutls_handshake_set_timeout(s->s, 0);
  static const gnutls_datum_t http11 = {(unsigned char *)"http/1.1", 8};
  gnutls_alpn_set_protocols(s->s, &http11, 1, 0);
  gnutls_transport_set_int(s->s, fd);
  return s;
}

void tls_session_free(struct tls_session *s) {
  if (!s)
    return;
  gnutls_deinit(s->s);
  creds_unref(s->creds);
  free(s);
}

static enum tls_io again(struct tls_session *s) {
  return gnutls_record_get_direction(s->s) ? TLS_WANT_WRITE : TLS_WANT_READ;
}

enum tls_io tls_session_handshake(struct tls_session *s, const char **msg) {
  for (;;) {
    int r = gnutls_handshake(s->s);
    if (r == GNUTLS_E_SUCCESS)
      return TLS_DONE;
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
      return again(s);
    if (!gnutls_error_is_fatal(r))
      continue;
    *msg = gnutls_strerror(r);
    /* Tell the client why (e.g. protocol_version for TLS 1.0/1.1), best effort and non-blocking. */
    gnutls_alert_send_appropriate(s->s, r);
    return TLS_ERROR;
  }
}

enum tls_io tls_session_read(struct tls_session *s, char *buf, size_t cap, size_t *n,
                             const char **msg) {
  for (;;) {
    ssize_t r = gnutls_record_recv(s->s, buf, cap);
    if (r > 0) {
      *n = (size_t)r;
      return TLS_DONE;
    }
    if (r == 0)
      return TLS_EOF;
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
      return again(s);
    if (r == GNUTLS_E_REHANDSHAKE) {
      /* Renegotiation is refused; the client may continue on the current session. */
      gnutls_alert_send(s->s, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION);
      continue;
    }
    if (!gnutls_error_is_fatal((int)r))
      continue;
    *msg = gnutls_strerror((int)r);
    return TLS_ERROR;
  }
}

size_t tls_session_pending(struct tls_session *s) { return gnutls_record_check_pending(s->s); }

enum tls_io tls_session_write(struct tls_session *s, const char *buf, size_t len, size_t *n,
                              const char **msg) {
  for (;;) {
    ssize_t r = gnutls_record_send(s->s, buf, len);
    if (r >= 0) {
      *n = (size_t)r;
      return TLS_DONE;
    }
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
      return again(s);
    if (!gnutls_error_is_fatal((int)r))
      continue;
    *msg = gnutls_strerror((int)r);
    return TLS_ERROR;
  }
}

void tls_session_bye(struct tls_session *s) { gnutls_bye(s->s, GNUTLS_SHUT_WR); }

const char *tls_session_version(struct tls_session *s) {
  const char *v = gnutls_protocol_get_name(gnutls_protocol_get_version(s->s));
  return v ? v : "unknown";
}
