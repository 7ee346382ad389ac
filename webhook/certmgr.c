/*
 * certmgr.c - serving certificate lifecycle: Secret or local files, renewal.
 */
#include "engine/base/common.h"
#include "certmgr.h"

#include "engine/base/b64.h"
#include "certs.h"
#include "engine/base/clock.h"
#include "engine/kube/client.h"
#include "engine/base/log.h"
#include "engine/base/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pems {
  char *ca_crt, *ca_key, *bundle, *tls_crt, *tls_key;
};

struct wh_certmgr {
  struct ev_loop *loop;
  char *cert_dir, *mode, *url, *ns;
  char *name, *secret_name; /* the Service name; "<name>-webhook-certs" */
  struct kube_client *kube;
  double interval;
  wh_certmgr_ready_fn ready;
  void *ud;
  struct kube_call *call;
  ev_timer timer;
  double backoff;
  char *bundle;
  bool installed_once;
  struct pems pending; /* what is being written to the Secret */
};

static void pems_release(struct pems *p) {
  free(p->ca_crt);
  xfree_secret(p->ca_key);
  free(p->bundle);
  free(p->tls_crt);
  xfree_secret(p->tls_key);
  memset(p, 0, sizeof(*p));
}

/* ---- names --------------------------------------------------------------------------------- */

static void push(char ***arr, size_t *n, char *s) {
  *arr = xrealloc(*arr, (*n + 1) * sizeof(**arr));
  (*arr)[(*n)++] = s;
}

void wh_certmgr_names(const struct wh_certmgr_opts *o, char ***dns, size_t *ndns, char ***ips,
                      size_t *nips) {
  *dns = NULL;
  *ips = NULL;
  *ndns = *nips = 0;
  const char *svc = o->service_name && *o->service_name ? o->service_name : "webhook";
  push(dns, ndns, xstrdup(svc));
  if (o->ns && *o->ns) {
    push(dns, ndns, xasprintf("%s.%s", svc, o->ns));
    push(dns, ndns, xasprintf("%s.%s.svc", svc, o->ns));
    push(dns, ndns, xasprintf("%s.%s.svc.cluster.local", svc, o->ns));
  }
  if (o->url && *o->url) {
    /* host[:port], [v6]:port or a bare v6 address */
    char *host = xstrdup(o->url);
    char *slash = strchr(host, '/');
    if (slash)
      *slash = '\0';
    if (host[0] == '[') {
      char *close = strchr(host, ']');
      if (close)
        *close = '\0';
      memmove(host, host + 1, strlen(host));
    } else if (strchr(host, ':') == strrchr(host, ':') && strchr(host, ':')) {
      *strchr(host, ':') = '\0';
    }
    unsigned char raw[16];
    if (inet_pton(AF_INET, host, raw) == 1 || inet_pton(AF_INET6, host, raw) == 1)
      push(ips, nips, host);
    else if (*host)
      push(dns, ndns, host);
    else
      free(host);
  }
}

static void free_names(char **a, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(a[i]);
  free(a);
}

/* ---- files --------------------------------------------------------------------------------- */

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = xmalloc((1u << 20) + 1);
  size_t n = fread(buf, 1, 1u << 20, f);
  fclose(f);
  buf[n] = '\0';
  return buf;
}

/* Write data to dir/name atomically with mode 0600, unless the file already holds it. */
static enum eng_err write_atomic(const char *dir, const char *name, const char *data,
                                 struct eng_error *err) {
  char *path = xasprintf("%s/%s", dir, name);
  char *cur = read_file(path);
  bool same = cur && !strcmp(cur, data);
  xfree_secret(cur);
  if (same) {
    free(path);
    return ENG_OK;
  }
  char *tmp = xasprintf("%s/.%s.tmp", dir, name);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  enum eng_err rc = ENG_OK;
  if (fd < 0) {
    rc = eng_error_set(err, ENG_IO, "cannot write %s: %s", tmp, strerror(errno));
  } else {
    size_t len = strlen(data), off = 0;
    while (off < len) {
      ssize_t w = write(fd, data + off, len - off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0) {
        rc = eng_error_set(err, ENG_IO, "cannot write %s: %s", tmp, strerror(errno));
        break;
      }
      off += (size_t)w;
    }
    if (rc == ENG_OK && fsync(fd) != 0)
      rc = eng_error_set(err, ENG_IO, "cannot write %s: %s", tmp, strerror(errno));
    close(fd);
    if (rc == ENG_OK && rename(tmp, path) != 0)
      rc = eng_error_set(err, ENG_IO, "cannot replace %s: %s", path, strerror(errno));
    if (rc != ENG_OK)
      unlink(tmp);
  }
  free(tmp);
  free(path);
  return rc;
}

static enum eng_err ensure_dir(const char *dir, struct eng_error *err) {
  struct stat st;
  if (stat(dir, &st) == 0)
    return S_ISDIR(st.st_mode) ? ENG_OK
                               : eng_error_set(err, ENG_CONFIG, "%s is not a directory", dir);
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return eng_error_set(err, ENG_CONFIG, "cannot create the certificate directory %s: %s", dir,
                         strerror(errno));
  return ENG_OK;
}

/* Key first: a reader that sees the new certificate also finds the new key. */
static enum eng_err write_serving(const char *dir, const struct pems *p, struct eng_error *err) {
  enum eng_err rc = ensure_dir(dir, err);
  if (rc == ENG_OK)
    rc = write_atomic(dir, "tls.key", p->tls_key, err);
  if (rc == ENG_OK)
    rc = write_atomic(dir, "tls.crt", p->tls_crt, err);
  if (rc == ENG_OK && p->bundle)
    rc = write_atomic(dir, "ca.crt", p->bundle, err);
  return rc;
}

/* ---- deciding what to (re)generate --------------------------------------------------------- */

static enum eng_err new_server(struct wh_certmgr *m, struct pems *p, int64_t now,
                               struct eng_error *err) {
  struct wh_certmgr_opts o = {.mode = m->mode, .url = m->url, .ns = m->ns, .service_name = m->name};
  char **dns, **ips;
  size_t nd, ni;
  wh_certmgr_names(&o, &dns, &nd, &ips, &ni);
  free(p->tls_crt);
  xfree_secret(p->tls_key);
  p->tls_crt = p->tls_key = NULL;
  enum eng_err rc = certs_make_server(p->ca_crt, p->ca_key, m->name, (const char *const *)dns, nd,
                                      (const char *const *)ips, ni, now, CERTS_SERVER_VALIDITY_S,
                                      &p->tls_crt, &p->tls_key, err);
  free_names(dns, nd);
  free_names(ips, ni);
  return rc;
}

static bool cert_fresh(const char *pem, int64_t now) {
  int64_t nb, na;
  return pem && certs_validity(pem, &nb, &na, NULL) == ENG_OK && !certs_needs_renewal(nb, na, now);
}

/*
 * Bring p to a usable, fresh state; *changed when anything was (re)generated.
 * what (for the log) names the reason.
 */
static enum eng_err settle(struct wh_certmgr *m, struct pems *p, bool *changed, const char **what,
                           struct eng_error *err) {
  int64_t now = clock_now_ms();
  *changed = false;
  *what = NULL;
  bool ca_ok = p->ca_crt && p->ca_key && certs_check_ca(p->ca_crt, p->ca_key, NULL) == ENG_OK;
  if (!ca_ok || !cert_fresh(p->ca_crt, now)) {
    *what =
        ca_ok ? "the webhook CA is close to expiry; issuing a new CA" : "creating the webhook CA";
    char *old = ca_ok && p->ca_crt ? xstrdup(p->ca_crt) : NULL;
    free(p->ca_crt);
    xfree_secret(p->ca_key);
    p->ca_crt = p->ca_key = NULL;
    char *ca_name = xasprintf("%s-ca", m->name);
    enum eng_err rc = certs_make_ca(ca_name, now, CERTS_CA_VALIDITY_S, &p->ca_crt, &p->ca_key, err);
    free(ca_name);
    if (rc != ENG_OK) {
      free(old);
      return rc;
    }
    int64_t nb, na;
    free(p->bundle);
    /* The previous CA stays trusted while it is valid, so the switch never breaks admission. */
    if (old && certs_validity(old, &nb, &na, NULL) == ENG_OK && na > now)
      p->bundle = xasprintf("%s%s", p->ca_crt, old);
    else
      p->bundle = xstrdup(p->ca_crt);
    free(old);
    *changed = true;
    return new_server(m, p, now, err);
  }
  if (!p->bundle || !strstr(p->bundle, p->ca_crt)) {
    free(p->bundle);
    p->bundle = xstrdup(p->ca_crt);
    *changed = true;
  }
  struct wh_certmgr_opts o = {.mode = m->mode, .url = m->url, .ns = m->ns, .service_name = m->name};
  char **dns, **ips;
  size_t nd, ni;
  wh_certmgr_names(&o, &dns, &nd, &ips, &ni);
  struct eng_error why;
  bool ok = p->tls_crt && p->tls_key &&
            certs_check_server(p->tls_crt, p->tls_key, p->ca_crt, (const char *const *)dns, nd,
                               (const char *const *)ips, ni, &why) == ENG_OK;
  free_names(dns, nd);
  free_names(ips, ni);
  if (!ok || !cert_fresh(p->tls_crt, now)) {
    *what = ok ? "the webhook serving certificate is close to expiry; renewing it"
               : "issuing the webhook serving certificate";
    *changed = true;
    return new_server(m, p, now, err);
  }
  return ENG_OK;
}

/* ---- Secret mode --------------------------------------------------------------------------- */

static void sync_secret(struct wh_certmgr *m);

static void schedule(struct wh_certmgr *m, double after) {
  ev_timer_stop(m->loop, &m->timer);
  ev_timer_set(&m->timer, after, 0.);
  ev_timer_start(m->loop, &m->timer);
}

static void retry_later(struct wh_certmgr *m, const char *msg) {
  log_error("cannot set up the webhook serving certificate; retrying", "secret", m->secret_name,
            "namespace", m->ns, "error", msg, NULL);
  schedule(m, m->backoff);
  m->backoff = m->backoff * 2 > 60 ? 60 : m->backoff * 2;
}

static void install(struct wh_certmgr *m, const struct pems *p) {
  struct eng_error err;
  if (write_serving(m->cert_dir, p, &err) != ENG_OK) {
    retry_later(m, err.msg);
    return;
  }
  bool changed = !m->bundle || !p->bundle || strcmp(m->bundle, p->bundle);
  free(m->bundle);
  m->bundle = p->bundle ? xstrdup(p->bundle) : NULL;
  m->backoff = 1;
  schedule(m, m->interval);
  bool first = !m->installed_once;
  m->installed_once = true;
  if (first || changed)
    m->ready(m->ud, m->bundle, changed && !first);
}

static char *data_pem(const json_t *data, const char *key) {
  const char *v = json_string_value(json_object_get(data, key));
  if (!v)
    return NULL;
  unsigned char *raw;
  size_t rl;
  if (b64_decode(v, strlen(v), &raw, &rl) != ENG_OK)
    return NULL;
  return (char *)raw;
}

static void set_pem(json_t *data, const char *key, const char *pem) {
  char *b = b64_encode(pem, strlen(pem));
  json_object_set_new(data, key, json_string(b));
  xfree_secret(b);
}

static json_t *secret_data(const struct pems *p) {
  json_t *d = json_object();
  set_pem(d, "ca.crt", p->ca_crt);
  set_pem(d, "ca.key", p->ca_key);
  set_pem(d, "ca-bundle.crt", p->bundle);
  set_pem(d, "tls.crt", p->tls_crt);
  set_pem(d, "tls.key", p->tls_key);
  return d;
}

static void on_written(void *ud, const struct kube_result *res) {
  struct wh_certmgr *m = ud;
  m->call = NULL;
  if (res->err == ENG_EXISTS || res->err == ENG_CONFLICT) {
    /* Another replica wrote first: take what it wrote. */
    pems_release(&m->pending);
    sync_secret(m);
    return;
  }
  if (res->err != ENG_OK) {
    pems_release(&m->pending);
    retry_later(m, res->error.msg);
    return;
  }
  struct pems p = m->pending;
  memset(&m->pending, 0, sizeof(m->pending));
  install(m, &p);
  pems_release(&p);
}

static void on_secret(void *ud, const struct kube_result *res) {
  struct wh_certmgr *m = ud;
  m->call = NULL;
  if (res->err != ENG_OK && res->err != ENG_NOTFOUND) {
    retry_later(m, res->error.msg);
    return;
  }
  struct pems p = {0};
  json_t *data = res->err == ENG_OK ? json_object_get(res->body, "data") : NULL;
  if (data) {
    p.ca_crt = data_pem(data, "ca.crt");
    p.ca_key = data_pem(data, "ca.key");
    p.bundle = data_pem(data, "ca-bundle.crt");
    p.tls_crt = data_pem(data, "tls.crt");
    p.tls_key = data_pem(data, "tls.key");
  }
  bool changed;
  const char *what;
  struct eng_error err;
  if (settle(m, &p, &changed, &what, &err) != ENG_OK) {
    pems_release(&p);
    retry_later(m, err.msg);
    return;
  }
  if (!changed && res->err == ENG_OK) {
    install(m, &p);
    pems_release(&p);
    return;
  }
  log_info(what ? what : "updating the webhook certificate Secret", "secret", m->secret_name,
           "namespace", m->ns, NULL);
  json_t *obj;
  if (res->err == ENG_OK) {
    obj = json_deep_copy(res->body);
    json_object_set_new(obj, "data", secret_data(&p));
    m->call = kube_update(m->kube, &kube_res_secret, m->ns, m->secret_name, obj, on_written, m);
  } else {
    obj = json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s,s:s}},s:s}", "apiVersion", "v1", "kind", "Secret",
                    "metadata", "name", m->secret_name, "namespace", m->ns, "labels",
                    "app.kubernetes.io/name", m->name, "app.kubernetes.io/component",
                    "webhook-certificates", "type", "Opaque");
    json_object_set_new(obj, "data", secret_data(&p));
    m->call = kube_create(m->kube, &kube_res_secret, m->ns, obj, on_written, m);
  }
  json_decref(obj);
  m->pending = p;
}

static void sync_secret(struct wh_certmgr *m) {
  m->call = kube_get(m->kube, &kube_res_secret, m->ns, m->secret_name, on_secret, m);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct wh_certmgr *m = w->data;
  if (!m->call)
    sync_secret(m);
}

/* ---- local mode ---------------------------------------------------------------------------- */

static enum eng_err start_local(struct wh_certmgr *m, struct eng_error *err) {
  char *crt_path = xasprintf("%s/tls.crt", m->cert_dir),
       *key_path = xasprintf("%s/tls.key", m->cert_dir);
  char *ca_path = xasprintf("%s/ca.crt", m->cert_dir);
  bool have = access(crt_path, R_OK) == 0 && access(key_path, R_OK) == 0;
  enum eng_err rc = ENG_OK;
  if (have) {
    m->bundle = read_file(ca_path);
    log_info("serving the webhook certificate found in the certificate directory", "dir",
             m->cert_dir, NULL);
  } else {
    struct pems p = {0};
    bool changed;
    const char *what;
    rc = settle(m, &p, &changed, &what, err);
    if (rc == ENG_OK)
      rc = write_serving(m->cert_dir, &p, err);
    if (rc == ENG_OK) {
      m->bundle = xstrdup(p.bundle);
      log_info("generated a webhook CA and serving certificate (not rotated: set "
               "--webhook-config-namespace in "
               "production)",
               "dir", m->cert_dir, NULL);
    }
    pems_release(&p);
  }
  free(crt_path);
  free(key_path);
  free(ca_path);
  if (rc == ENG_OK) {
    m->installed_once = true;
    m->ready(m->ud, m->bundle, false);
  }
  return rc;
}

enum eng_err wh_certmgr_start(struct ev_loop *loop, const struct wh_certmgr_opts *o,
                              wh_certmgr_ready_fn ready, void *ud, struct wh_certmgr **out,
                              struct eng_error *err) {
  struct wh_certmgr *m = xcalloc(1, sizeof(*m));
  m->loop = loop;
  m->cert_dir = xstrdup(o->cert_dir);
  m->mode = xstrdup(o->mode ? o->mode : "service");
  m->url = o->url ? xstrdup(o->url) : NULL;
  m->ns = o->ns && *o->ns ? xstrdup(o->ns) : NULL;
  m->name = xstrdup(o->service_name && *o->service_name ? o->service_name : "webhook");
  m->secret_name = xasprintf("%s-webhook-certs", m->name);
  m->kube = o->kube;
  m->interval = o->check_interval > 0 ? o->check_interval : 3600;
  m->ready = ready;
  m->ud = ud;
  m->backoff = 1;
  ev_timer_init(&m->timer, on_timer, 0., 0.);
  m->timer.data = m;
  *out = m;
  if (!m->ns || !m->kube) {
    enum eng_err rc = start_local(m, err);
    if (rc != ENG_OK) {
      wh_certmgr_free(m);
      *out = NULL;
    }
    return rc;
  }
  sync_secret(m);
  return ENG_OK;
}

void wh_certmgr_free(struct wh_certmgr *m) {
  if (!m)
    return;
  if (m->call)
    kube_cancel(m->kube, m->call);
  ev_timer_stop(m->loop, &m->timer);
  pems_release(&m->pending);
  free(m->bundle);
  free(m->cert_dir);
  free(m->mode);
  free(m->url);
  free(m->ns);
  free(m->name);
  free(m->secret_name);
  free(m);
}

const char *wh_certmgr_ca_bundle(const struct wh_certmgr *m) { return m ? m->bundle : NULL; }
