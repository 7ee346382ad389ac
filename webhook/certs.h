/*
 * certs.h - the webhook's own certificate authority and serving certificate,
 * made and checked with GnuTLS. Keys are ECDSA P-256, signatures SHA-256, PEM
 * encoded (certificates "CERTIFICATE", keys "EC PRIVATE KEY").
 *
 * Times are passed in (ms since the epoch) so callers and tests decide what "now"
 * is. Renewal rule: a certificate is renewed when less than CERTS_RENEW_MIN_S
 * (30 days) or less than 20% of its lifetime remain, or when it is not valid yet.
 */
#ifndef EQXM_CERTS_H
#define EQXM_CERTS_H

#include "engine/base/common.h"
#include "engine/base/err.h"

#define CERTS_CA_VALIDITY_S     (10LL * 365 * 24 * 3600)
#define CERTS_SERVER_VALIDITY_S (365LL * 24 * 3600)
#define CERTS_RENEW_MIN_S       (30LL * 24 * 3600)

/* A new self-signed CA. *crt and *key are PEM strings the caller frees (the key with xfree_secret).
 */
enum eng_err certs_make_ca(const char *common_name, int64_t now_ms, int64_t validity_s, char **crt,
                           char **key, struct eng_error *err) WARN_UNUSED;

/*
 * A new server certificate signed by the CA (ca_crt/ca_key PEM), for the given DNS
 * names and IP addresses (textual IPv4/IPv6), with extended key usage serverAuth.
 */
enum eng_err certs_make_server(const char *ca_crt, const char *ca_key, const char *common_name,
                               const char *const *dns, size_t ndns, const char *const *ips,
                               size_t nips, int64_t now_ms, int64_t validity_s, char **crt,
                               char **key, struct eng_error *err) WARN_UNUSED;

/* Validity of the first certificate in a PEM text. */
enum eng_err certs_validity(const char *crt_pem, int64_t *not_before_ms, int64_t *not_after_ms,
                            struct eng_error *err) WARN_UNUSED;

/* The renewal rule above. */
bool certs_needs_renewal(int64_t not_before_ms, int64_t not_after_ms, int64_t now_ms);

/*
 * Check a serving pair: the key belongs to the certificate, the certificate is
 * signed by ca_crt (a PEM bundle: any certificate in it), and it covers every DNS
 * name and IP given. ENG_INVALID with the first problem found.
 */
enum eng_err certs_check_server(const char *crt, const char *key, const char *ca_bundle,
                                const char *const *dns, size_t ndns, const char *const *ips,
                                size_t nips, struct eng_error *err) WARN_UNUSED;
/* The CA key belongs to the CA certificate and the certificate is a CA. */
enum eng_err certs_check_ca(const char *ca_crt, const char *ca_key,
                            struct eng_error *err) WARN_UNUSED;

#endif
