/*
 * certs_test.c - CA and serving certificates: what is generated checks out,
 * tampering and name mismatches are caught, the renewal rule, and the names the
 * certificate manager puts into certificates per mode.
 */
#include "engine/base/common.h"
#include "engine/base/clock.h"
#include "webhook/certmgr.h"
#include "webhook/certs.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"

#include <stdlib.h>
#include <string.h>

#define DAY (24LL * 3600 * 1000)

static void test_make_and_check(void) {
  struct eng_error err;
  int64_t now = clock_now_ms();
  char *ca, *cak, *crt, *key;
  ASSERT_EQ(ENG_OK, certs_make_ca("test-ca", now, 3650LL * 86400, &ca, &cak, &err));
  ASSERT_CONTAINS(ca, "BEGIN CERTIFICATE");
  ASSERT_CONTAINS(cak, "PRIVATE KEY");
  ASSERT_EQ(ENG_OK, certs_check_ca(ca, cak, &err));
  const char *dns[] = {"svc", "svc.ns.svc"};
  const char *ips[] = {"127.0.0.1", "::1"};
  ASSERT_EQ(ENG_OK, certs_make_server(ca, cak, "svc", dns, 2, ips, 2, now, 365LL * 86400, &crt,
                                      &key, &err));
  ASSERT_EQ(ENG_OK, certs_check_server(crt, key, ca, dns, 2, ips, 2, &err));
  int64_t nb, na;
  ASSERT_EQ(ENG_OK, certs_validity(crt, &nb, &na, &err));
  ASSERT(nb <= now && nb >= now - 2 * 3600 * 1000);
  ASSERT(na > now + 364 * DAY && na <= now + 366 * DAY);
  ASSERT(!certs_needs_renewal(nb, na, now));
  /* A name it was not issued for, the wrong key, another CA, a server cert posing as CA. */
  const char *other[] = {"other.example"};
  ASSERT_EQ(ENG_INVALID, certs_check_server(crt, key, ca, other, 1, NULL, 0, &err));
  ASSERT_CONTAINS(err.msg, "does not cover the name other.example");
  const char *ip2[] = {"10.0.0.1"};
  ASSERT_EQ(ENG_INVALID, certs_check_server(crt, key, ca, NULL, 0, ip2, 1, &err));
  ASSERT_EQ(ENG_INVALID, certs_check_server(crt, cak, ca, dns, 1, NULL, 0, &err));
  ASSERT_CONTAINS(err.msg, "does not belong");
  char *ca2, *ca2k;
  ASSERT_EQ(ENG_OK, certs_make_ca("other-ca", now, 86400, &ca2, &ca2k, &err));
  ASSERT_EQ(ENG_INVALID, certs_check_server(crt, key, ca2, dns, 1, NULL, 0, &err));
  ASSERT_CONTAINS(err.msg, "not signed by the webhook CA");
  /* A bundle holding both CAs is accepted. */
  char *bundle = xasprintf("%s%s", ca2, ca);
  ASSERT_EQ(ENG_OK, certs_check_server(crt, key, bundle, dns, 1, NULL, 0, &err));
  ASSERT_EQ(ENG_INVALID, certs_check_ca(crt, key, &err));
  ASSERT_CONTAINS(err.msg, "not a CA");
  ASSERT_EQ(ENG_INVALID, certs_check_ca(ca, ca2k, &err));
  ASSERT_EQ(ENG_INVALID, certs_validity("garbage", &nb, &na, &err));
  free(bundle);
  free(ca2);
  xfree_secret(ca2k);
  free(ca);
  xfree_secret(cak);
  free(crt);
  xfree_secret(key);
}

static void test_renewal_rule(void) {
  int64_t now = 1000 * DAY;
  /* 365 days of life: renewed once less than 73 days (20%) remain. */
  ASSERT(!certs_needs_renewal(now - 200 * DAY, now + 165 * DAY, now));
  ASSERT(!certs_needs_renewal(now - 290 * DAY, now + 75 * DAY, now));
  ASSERT(certs_needs_renewal(now - 293 * DAY, now + 72 * DAY, now));
  /* 10 years: the 30-day floor applies first... no, 20% (2 years) comes first. */
  ASSERT(certs_needs_renewal(now - 3000 * DAY, now + 650 * DAY, now));
  ASSERT(!certs_needs_renewal(now - 2000 * DAY, now + 1650 * DAY, now));
  /* 60 days of life: the 30-day floor. */
  ASSERT(certs_needs_renewal(now - 31 * DAY, now + 29 * DAY, now));
  ASSERT(!certs_needs_renewal(now - 10 * DAY, now + 50 * DAY, now));
  /* Expired or not yet valid. */
  ASSERT(certs_needs_renewal(now - 400 * DAY, now - DAY, now));
  ASSERT(certs_needs_renewal(now + DAY, now + 400 * DAY, now));
}

static void test_names(void) {
  char **dns, **ips;
  size_t nd, ni;
  struct wh_certmgr_opts o = {.mode = "service",
                              .ns = "garden",
                              .service_name = "gardener-extension-provider-equinix-metal"};
  wh_certmgr_names(&o, &dns, &nd, &ips, &ni);
  ASSERT_EQ(4, nd);
  ASSERT_EQ(0, ni);
  ASSERT_STR_EQ("gardener-extension-provider-equinix-metal", dns[0]);
  ASSERT_STR_EQ("gardener-extension-provider-equinix-metal.garden", dns[1]);
  ASSERT_STR_EQ("gardener-extension-provider-equinix-metal.garden.svc", dns[2]);
  ASSERT_STR_EQ("gardener-extension-provider-equinix-metal.garden.svc.cluster.local", dns[3]);
  for (size_t i = 0; i < nd; i++)
    free(dns[i]);
  free(dns);
  free(ips);
  struct wh_certmgr_opts u = {.mode = "url", .url = "10.1.2.3:8443"};
  wh_certmgr_names(&u, &dns, &nd, &ips, &ni);
  ASSERT_EQ(1, nd);
  ASSERT_EQ(1, ni);
  ASSERT_STR_EQ("10.1.2.3", ips[0]);
  free(ips[0]);
  free(ips);
  free(dns[0]);
  free(dns);
  struct wh_certmgr_opts v = {.mode = "url", .url = "[::1]:8443"};
  wh_certmgr_names(&v, &dns, &nd, &ips, &ni);
  ASSERT_EQ(1, ni);
  ASSERT_STR_EQ("::1", ips[0]);
  free(ips[0]);
  free(ips);
  free(dns[0]);
  free(dns);
  struct wh_certmgr_opts h = {.mode = "url", .url = "host.docker.internal:8443"};
  wh_certmgr_names(&h, &dns, &nd, &ips, &ni);
  ASSERT_EQ(2, nd);
  ASSERT_STR_EQ("host.docker.internal", dns[1]);
  for (size_t i = 0; i < nd; i++)
    free(dns[i]);
  free(dns);
  free(ips);
}

int main(void) {
  xalloc_init();
  TEST(test_make_and_check);
  TEST(test_renewal_rule);
  TEST(test_names);
  return tap_done();
}
