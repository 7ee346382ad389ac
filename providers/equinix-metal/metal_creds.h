/*
 * metal_creds.h - Equinix Metal clients for the credentials in Secrets.
 *
 * A shoot names its credentials Secret (spec.secretRef: keys apiToken and
 * projectID). This cache reads the Secret from the watch cache (or with a GET),
 * and hands out one struct metal_client per credentials set, so that every
 * caller using the same project shares one token bucket. Tokens live only in
 * memory; the cache is keyed by a SHA-256 digest of token and project. Every
 * client sends through one HTTP client of the cache (one libcurl multi, one
 * pool of at most 16 connections, TLS sessions and DNS shared process-wide), so
 * a credentials set costs a few hundred bytes, not a connection pool.
 *
 * A client that a long-lived user (a device poller) holds is pinned and never
 * evicted; idle unpinned clients are evicted beyond MAX_CLIENTS (rotated
 * credentials leave old ones behind).
 */
#ifndef EQXM_METAL_CREDS_H
#define EQXM_METAL_CREDS_H

#include "engine/base/common.h"
#include "engine/base/err.h"

struct ev_loop;
struct kube_client;
struct kube_informer;
struct metal_client;
struct metal_creds;
struct metal_creds_req;

struct metal_creds_opts {
  const char *base_url; /* NULL = the public API */
  const char *ca_path;  /* NULL = system trust store */
  double rate, burst;   /* per credentials set; 0 = client defaults */
  long timeout_ms;      /* one HTTP request; 0 = client default */
  long settle_ms;       /* wait before confirming an ambiguous create; 0 = client default */
  unsigned per_page;    /* page size of lists; 0 = client default (100) */
};

/* The Metal API flags of the controller commands (run, machine-controller). */
struct metal_creds_flags {
  const char *url; /* --metal-api-url */
  const char *ca;  /* --metal-ca-file; "" = system trust store */
  long rps, burst; /* --metal-requests-per-second, --metal-request-burst */
};
/* Their defaults: the public API, the system trust store, 10 requests/s, burst 20. */
void metal_creds_flags_init(struct metal_creds_flags *f);
/* Their values in *o (the other fields of *o are left as they are). */
void metal_creds_flags_apply(const struct metal_creds_flags *f, struct metal_creds_opts *o);
/* Their struct cli_opt rows (engine/base/cli.h; METAL_DEFAULT_BASE_URL from api/metal_client.h). */
// clang-format off
#define METAL_CREDS_CLI_OPTS(f)                                                                    \
  {"metal-api-url", CLI_STRING, &(f)->url, "URL",                                                  \
   "Equinix Metal API base URL (default " METAL_DEFAULT_BASE_URL ")", NULL},                       \
  {"metal-ca-file", CLI_STRING, &(f)->ca, "PATH",                                                  \
   "PEM CA bundle for the Metal API (private endpoints, tests)", NULL},                            \
  {"metal-requests-per-second", CLI_INT, &(f)->rps, "N",                                           \
   "Metal API request rate per project (default 10)", NULL},                                       \
  {"metal-request-burst", CLI_INT, &(f)->burst, "N",                                               \
   "Metal API request burst per project (default 20)", NULL}
// clang-format on

struct metal_creds_result {
  struct metal_client *mc;     /* NULL on error */
  const struct eng_error *err; /* a sentence naming the Secret; code ENG_OK on success */
  const char *gardener_code;   /* e.g. ERR_CONFIGURATION_PROBLEM for a missing key, or NULL */
  bool retryable;              /* a missing Secret may appear; a missing key needs a fix */
};

typedef void (*metal_creds_fn)(void *ud, const struct metal_creds_result *r);

/* secrets may be NULL (every Secret is then read with a GET). Strings are copied. */
struct metal_creds *metal_creds_new(struct ev_loop *loop, struct kube_client *kube,
                                    struct kube_informer *secrets,
                                    const struct metal_creds_opts *o);
/* Frees every client (cancelling their operations): free their users first. */
void metal_creds_free(struct metal_creds *c);

/*
 * The client for the Secret ns/name. fn runs exactly once: before this returns
 * when the Secret is in the watch cache (the result is then NULL), or later
 * after a GET, unless metal_creds_cancel() runs first.
 */
struct metal_creds_req *metal_creds_get(struct metal_creds *c, const char *ns, const char *name,
                                        metal_creds_fn fn, void *ud);
void metal_creds_cancel(struct metal_creds *c, struct metal_creds_req *req);

void metal_creds_pin(struct metal_creds *c, struct metal_client *mc);
void metal_creds_unpin(struct metal_creds *c, struct metal_client *mc);

/* HTTP requests sent to the Metal API by every client so far. */
uint64_t metal_creds_requests(const struct metal_creds *c);

#endif
