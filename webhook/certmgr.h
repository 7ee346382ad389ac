/*
 * certmgr.h - where the webhook's serving certificate comes from.
 *
 * With a namespace and API access (the normal, in-cluster case) the CA and the
 * serving certificate live in the Secret "<service_name>-webhook-certs" of that namespace
 * (keys ca.crt, ca.key, ca-bundle.crt, tls.crt, tls.key), so that every replica
 * and every restart serves the same certificate. A missing or unusable Secret is
 * (re)generated; a CA or serving certificate within 30 days or 20% of its
 * lifetime of expiry is renewed (a new CA is bundled with the previous one while
 * that is still valid, so the apiserver trusts both during the switch); a serving
 * certificate that does not cover the required names is re-issued. Races between
 * replicas are settled by the apiserver (AlreadyExists / Conflict: start over).
 * The check repeats every check_interval.
 *
 * Without a namespace or API access, tls.crt/tls.key already in the certificate
 * directory are used as they are (ca.crt next to them, when present, is the CA
 * bundle); when they are missing a CA (10 years) and a serving certificate are
 * generated once and written there (the Go original's "unmanaged" mode).
 *
 * Either way the serving pair ends up in <cert_dir>/tls.crt and tls.key (written
 * atomically, mode 0600), where the TLS layer loads and watches it.
 */
#ifndef EQXM_WEBHOOK_CERTMGR_H
#define EQXM_WEBHOOK_CERTMGR_H

#include "engine/base/common.h"
#include "engine/base/err.h"

struct ev_loop;
struct kube_client;
struct wh_certmgr;

struct wh_certmgr_opts {
  const char *cert_dir;
  const char *mode; /* url | service | url-service: decides the names in the certificate */
  const char *url;  /* url mode: host[:port] */
  const char *ns;   /* namespace of the Secret and of the Service names; NULL/"" = local mode */
  const char *service_name; /* the extension's Service (certificate names, Secret name) */
  struct kube_client *kube; /* NULL = local mode */
  double check_interval;    /* seconds; 0 = 3600 */
};

/*
 * Called when the serving certificate is in place: the first time, and again
 * whenever the CA bundle changed (changed = true). ca_bundle may be NULL (local
 * certificates without a ca.crt).
 */
typedef void (*wh_certmgr_ready_fn)(void *ud, const char *ca_bundle, bool changed);

/*
 * Start. Local mode finishes synchronously (ready runs before this returns, or
 * ENG_CONFIG/ENG_IO is returned); Secret mode works from the loop and retries
 * failures with backoff (1 s doubling to 60 s), logging each one.
 */
enum eng_err wh_certmgr_start(struct ev_loop *loop, const struct wh_certmgr_opts *o,
                              wh_certmgr_ready_fn ready, void *ud, struct wh_certmgr **out,
                              struct eng_error *err) WARN_UNUSED;
void wh_certmgr_free(struct wh_certmgr *m);
/* The current CA bundle (PEM) or NULL. */
const char *wh_certmgr_ca_bundle(const struct wh_certmgr *m);

/* The DNS names and IPs the serving certificate must cover (exposed for tests). Caller frees each
 * and the arrays. */
void wh_certmgr_names(const struct wh_certmgr_opts *o, char ***dns, size_t *ndns, char ***ips,
                      size_t *nips);

#endif
