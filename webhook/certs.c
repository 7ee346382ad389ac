/*
 * certs.c - CA and serving certificates with GnuTLS (x509 API).
 */
#include "engine/base/common.h"
#include "certs.h"

#include "engine/base/xalloc.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <stdlib.h>
#include <string.h>

static gnutls_datum_t datum(const char *s) {
  gnutls_datum_t d = {(unsigned char *)s, (unsigned)strlen(s)};
  return d;
}

static char *export_crt(gnutls_x509_crt_t crt) {
  gnutls_datum_t d = {0};
  if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d) < 0)
    return NULL;
  char *s = xstrndup((const char *)d.data, d.size);
  gnutls_free(d.data);
  return s;
}

static char *export_key(gnutls_x509_privkey_t key) {
  gnutls_datum_t d = {0};
  if (gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &d) < 0)
    return NULL;
  char *s = xstrndup((const char *)d.data, d.size);
  gnutls_memset(d.data, 0, d.size);
  gnutls_free(d.data);
  return s;
}

/* Fill the common parts of a new certificate. */
static int base_cert(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *cn,
                     int64_t now_ms, int64_t validity_s) {
  unsigned char serial[16];
  int r = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
  serial[0] &= 0x7f; /* positive */
  serial[0] |= 0x01; /* and without a leading zero byte */
  time_t now = (time_t)(now_ms / 1000);
  if (r >= 0)
    r = gnutls_x509_crt_set_version(crt, 3);
  if (r >= 0)
    r = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
  /* Back-date by an hour against clock skew between the apiserver and us. */
  if (r >= 0)
    r = gnutls_x509_crt_set_activation_time(crt, now - 3600);
  if (r >= 0)
    r = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)validity_s);
  if (r >= 0)
    r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                      (unsigned)strlen(cn));
  if (r >= 0)
    r = gnutls_x509_crt_set_key(crt, key);
  unsigned char kid[64];
  size_t kl = sizeof(kid);
  if (r >= 0)
    r = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, kid, &kl);
  if (r >= 0)
    r = gnutls_x509_crt_set_subject_key_id(crt, kid, kl);
  return r;
}

static int new_key(gnutls_x509_privkey_t *key) {
  int r = gnutls_x509_privkey_init(key);
  if (r >= 0)
    r = gnutls_x509_privkey_generate(*key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
  return r;
}

enum eng_err certs_make_ca(const char *common_name, int64_t now_ms, int64_t validity_s, char **crt,
                           char **key, struct eng_error *err) {
  gnutls_x509_privkey_t k = NULL;
  gnutls_x509_crt_t c = NULL;
  int r = new_key(&k);
  if (r >= 0)
    r = gnutls_x509_crt_init(&c);
  if (r >= 0)
    r = base_cert(c, k, common_name, now_ms, validity_s);
  if (r >= 0)
    r = gnutls_x509_crt_set_basic_constraints(c, 1, -1);
  if (r >= 0)
    r = gnutls_x509_crt_set_key_usage(c, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN |
                                             GNUTLS_KEY_DIGITAL_SIGNATURE);
  if (r >= 0)
    r = gnutls_x509_crt_sign2(c, c, k, GNUTLS_DIG_SHA256, 0);
  char *cs = NULL, *ks = NULL;
  if (r >= 0) {
    cs = export_crt(c);
    ks = export_key(k);
  }
  if (c)
    gnutls_x509_crt_deinit(c);
  if (k)
    gnutls_x509_privkey_deinit(k);
  if (r < 0 || !cs || !ks) {
    free(cs);
    xfree_secret(ks);
    return eng_error_set(err, ENG_INTERNAL, "cannot create the webhook CA certificate: %s",
                         r < 0 ? gnutls_strerror(r) : "export failed");
  }
  *crt = cs;
  *key = ks;
  return ENG_OK;
}

static int import_pair(const char *crt_pem, const char *key_pem, gnutls_x509_crt_t *crt,
                       gnutls_x509_privkey_t *key) {
  gnutls_datum_t dc = datum(crt_pem), dk = datum(key_pem);
  int r = gnutls_x509_crt_init(crt);
  if (r >= 0)
    r = gnutls_x509_crt_import(*crt, &dc, GNUTLS_X509_FMT_PEM);
  if (r >= 0)
    r = gnutls_x509_privkey_init(key);
  if (r >= 0)
    r = gnutls_x509_privkey_import(*key, &dk, GNUTLS_X509_FMT_PEM);
  return r;
}

enum eng_err certs_make_server(const char *ca_crt, const char *ca_key, const char *common_name,
                               const char *const *dns, size_t ndns, const char *const *ips,
                               size_t nips, int64_t now_ms, int64_t validity_s, char **crt,
                               char **key, struct eng_error *err) {
  gnutls_x509_crt_t ca = NULL, c = NULL;
  gnutls_x509_privkey_t cak = NULL, k = NULL;
  int r = import_pair(ca_crt, ca_key, &ca, &cak);
  if (r < 0) {
    if (ca)
      gnutls_x509_crt_deinit(ca);
    if (cak)
      gnutls_x509_privkey_deinit(cak);
    return eng_error_set(err, ENG_INVALID, "the webhook CA cannot be read: %s", gnutls_strerror(r));
  }
  r = new_key(&k);
  if (r >= 0)
    r = gnutls_x509_crt_init(&c);
  if (r >= 0)
    r = base_cert(c, k, common_name, now_ms, validity_s);
  if (r >= 0)
    r = gnutls_x509_crt_set_basic_constraints(c, 0, -1);
  if (r >= 0)
    r = gnutls_x509_crt_set_key_usage(c,
                                      GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_ENCIPHERMENT);
  if (r >= 0)
    r = gnutls_x509_crt_set_key_purpose_oid(c, GNUTLS_KP_TLS_WWW_SERVER, 0);
  for (size_t i = 0; r >= 0 && i < ndns; i++)
    r = gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_DNSNAME, dns[i],
                                             (unsigned)strlen(dns[i]), GNUTLS_FSAN_APPEND);
  for (size_t i = 0; r >= 0 && i < nips; i++) {
    unsigned char raw[16];
    unsigned len = 0;
    if (inet_pton(AF_INET, ips[i], raw) == 1)
      len = 4;
    else if (inet_pton(AF_INET6, ips[i], raw) == 1)
      len = 16;
    if (len)
      r = gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_IPADDRESS, raw, len,
                                               GNUTLS_FSAN_APPEND);
  }
  unsigned char aki[64];
  size_t al = sizeof(aki);
  if (r >= 0 && gnutls_x509_crt_get_subject_key_id(ca, aki, &al, NULL) >= 0)
    r = gnutls_x509_crt_set_authority_key_id(c, aki, al);
  if (r >= 0)
    r = gnutls_x509_crt_sign2(c, ca, cak, GNUTLS_DIG_SHA256, 0);
  char *cs = NULL, *ks = NULL;
  if (r >= 0) {
    cs = export_crt(c);
    ks = export_key(k);
  }
  if (c)
    gnutls_x509_crt_deinit(c);
  if (k)
    gnutls_x509_privkey_deinit(k);
  gnutls_x509_crt_deinit(ca);
  gnutls_x509_privkey_deinit(cak);
  if (r < 0 || !cs || !ks) {
    free(cs);
    xfree_secret(ks);
    return eng_error_set(err, ENG_INTERNAL, "cannot create the webhook serving certificate: %s",
                         r < 0 ? gnutls_strerror(r) : "export failed");
  }
  *crt = cs;
  *key = ks;
  return ENG_OK;
}

enum eng_err certs_validity(const char *crt_pem, int64_t *not_before_ms, int64_t *not_after_ms,
                            struct eng_error *err) {
  gnutls_x509_crt_t c = NULL;
  gnutls_datum_t d = datum(crt_pem);
  int r = gnutls_x509_crt_init(&c);
  if (r >= 0)
    r = gnutls_x509_crt_import(c, &d, GNUTLS_X509_FMT_PEM);
  if (r < 0) {
    if (c)
      gnutls_x509_crt_deinit(c);
    return eng_error_set(err, ENG_INVALID, "not a PEM certificate: %s", gnutls_strerror(r));
  }
  time_t nb = gnutls_x509_crt_get_activation_time(c), na = gnutls_x509_crt_get_expiration_time(c);
  gnutls_x509_crt_deinit(c);
  if (nb == (time_t)-1 || na == (time_t)-1)
    return eng_error_set(err, ENG_INVALID, "the certificate has no readable validity period");
  *not_before_ms = (int64_t)nb * 1000;
  *not_after_ms = (int64_t)na * 1000;
  return ENG_OK;
}

bool certs_needs_renewal(int64_t not_before_ms, int64_t not_after_ms, int64_t now_ms) {
  if (now_ms < not_before_ms || now_ms >= not_after_ms)
    return true;
  int64_t remaining = not_after_ms - now_ms;
  int64_t lifetime = not_after_ms - not_before_ms;
  return remaining < CERTS_RENEW_MIN_S * 1000 || remaining * 5 < lifetime;
}

static bool key_matches(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key) {
  unsigned char a[64], b[64];
  size_t al = sizeof(a), bl = sizeof(b);
  if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, a, &al) < 0 ||
      gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, b, &bl) < 0)
    return false;
  return al == bl && !memcmp(a, b, al);
}

enum eng_err certs_check_ca(const char *ca_crt, const char *ca_key, struct eng_error *err) {
  gnutls_x509_crt_t c = NULL;
  gnutls_x509_privkey_t k = NULL;
  enum eng_err rc = ENG_OK;
  int r = import_pair(ca_crt, ca_key, &c, &k);
  unsigned ca = 0;
  if (r < 0)
    rc = eng_error_set(err, ENG_INVALID, "the CA certificate or key cannot be read: %s",
                       gnutls_strerror(r));
  else if (!key_matches(c, k))
    rc = eng_error_set(err, ENG_INVALID, "the CA key does not belong to the CA certificate");
  else if (gnutls_x509_crt_get_basic_constraints(c, NULL, &ca, NULL) < 0 || !ca)
    rc = eng_error_set(err, ENG_INVALID, "the CA certificate is not a CA");
  if (c)
    gnutls_x509_crt_deinit(c);
  if (k)
    gnutls_x509_privkey_deinit(k);
  return rc;
}

enum eng_err certs_check_server(const char *crt, const char *key, const char *ca_bundle,
                                const char *const *dns, size_t ndns, const char *const *ips,
                                size_t nips, struct eng_error *err) {
  gnutls_x509_crt_t c = NULL;
  gnutls_x509_privkey_t k = NULL;
  gnutls_x509_crt_t *cas = NULL;
  unsigned ncas = 0;
  enum eng_err rc = ENG_OK;
  int r = import_pair(crt, key, &c, &k);
  if (r < 0) {
    rc = eng_error_set(err, ENG_INVALID, "the serving certificate or key cannot be read: %s",
                       gnutls_strerror(r));
    goto out;
  }
  if (!key_matches(c, k)) {
    rc = eng_error_set(err, ENG_INVALID,
                       "the serving key does not belong to the serving certificate");
    goto out;
  }
  gnutls_datum_t db = datum(ca_bundle);
  r = gnutls_x509_crt_list_import2(&cas, &ncas, &db, GNUTLS_X509_FMT_PEM, 0);
  if (r < 0 || ncas == 0) {
    rc = eng_error_set(err, ENG_INVALID, "the CA bundle cannot be read: %s",
                       r < 0 ? gnutls_strerror(r) : "empty");
    goto out;
  }
  unsigned status = 0;
  r = gnutls_x509_crt_verify(c, cas, ncas, GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &status);
  if (r < 0 || status != 0) {
    rc = eng_error_set(err, ENG_INVALID, "the serving certificate is not signed by the webhook CA");
    goto out;
  }
  for (size_t i = 0; i < ndns; i++) {
    if (!gnutls_x509_crt_check_hostname2(c, dns[i], GNUTLS_VERIFY_DO_NOT_ALLOW_WILDCARDS)) {
      rc = eng_error_set(err, ENG_INVALID, "the serving certificate does not cover the name %s",
                         dns[i]);
      goto out;
    }
  }
  for (size_t i = 0; i < nips; i++) {
    unsigned char raw[16];
    unsigned len = inet_pton(AF_INET, ips[i], raw) == 1    ? 4
                   : inet_pton(AF_INET6, ips[i], raw) == 1 ? 16
                                                           : 0;
    if (!len || !gnutls_x509_crt_check_ip(c, raw, len, 0)) {
      rc = eng_error_set(err, ENG_INVALID, "the serving certificate does not cover the address %s",
                         ips[i]);
      goto out;
    }
  }
out:
  for (unsigned i = 0; i < ncas; i++)
    gnutls_x509_crt_deinit(cas[i]);
  gnutls_free(cas);
  if (c)
    gnutls_x509_crt_deinit(c);
  if (k)
    gnutls_x509_privkey_deinit(k);
  return rc;
}
