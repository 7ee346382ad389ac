/*
 * health_test.c - liveness and readiness checks and the controller-runtime
 * output format of /healthz and /readyz, without HTTP (httpd_test.c serves
 * them over a socket).
 */
#include "engine/base/common.h"
#include "engine/obs/health.h"
#include "engine/base/log.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"

#include <stdlib.h>
#include <string.h>

struct fake {
  enum eng_err rc;
  int calls;
  const char *msg;
};

static enum eng_err fake_check(void *ud, struct eng_error *err) {
  struct fake *f = ud;
  f->calls++;
  if (f->rc)
    return eng_error_set(err, f->rc, "%s", f->msg ? f->msg : "");
  return ENG_OK;
}

/* Serve kind/subpath?query; returns the status, *body the text (caller frees). */
static int serve(struct health *h, enum health_kind kind, const char *sub, const char *query,
                 char **body) {
  struct buf b;
  buf_init(&b, BUF_MAX_SMALL);
  int st = health_serve(h, kind, sub, query, &b);
  *body = buf_take(&b, NULL);
  return st;
}

static void test_no_checks_is_ping(void) {
  struct health *h = health_new();
  char *body;
  ASSERT_EQ(200, serve(h, HEALTH_HEALTHZ, "", "", &body));
  ASSERT_STR_EQ("ok", body);
  free(body);
  ASSERT_EQ(200, serve(h, HEALTH_HEALTHZ, "/", "verbose", &body));
  ASSERT_STR_EQ("[+]ping ok\nhealthz check passed\n", body);
  free(body);
  ASSERT_EQ(200, serve(h, HEALTH_READYZ, "/ping", "", &body));
  ASSERT_STR_EQ("ok", body);
  free(body);
  ASSERT_EQ(404, serve(h, HEALTH_READYZ, "/journal", "", &body));
  free(body);
  health_free(h);
}

static void test_aggregate(void) {
  struct health *h = health_new();
  struct fake journal = {0}, informers = {0}, live = {0};
  struct eng_error err;
  ASSERT_EQ(ENG_OK, health_add_check(h, HEALTH_READYZ, "journal", fake_check, &journal, &err));
  ASSERT_EQ(ENG_OK,
            health_add_check(h, HEALTH_READYZ, "informer-sync", fake_check, &informers, &err));
  ASSERT_EQ(ENG_OK, health_add_check(h, HEALTH_HEALTHZ, "loop", fake_check, &live, &err));
  char *body;
  ASSERT_EQ(200, serve(h, HEALTH_READYZ, "", "", &body));
  ASSERT_STR_EQ("ok", body);
  free(body);
  ASSERT_EQ(1, journal.calls);
  ASSERT_EQ(0, live.calls); /* readiness does not run liveness checks */
  /* Verbose lists the checks in name order. */
  ASSERT_EQ(200, serve(h, HEALTH_READYZ, "", "verbose=1", &body));
  ASSERT_STR_EQ("[+]informer-sync ok\n[+]journal ok\nreadyz check passed\n", body);
  free(body);
  /* One failing check: 500, always verbose, the reason withheld. */
  informers.rc = ENG_UNAVAILABLE;
  informers.msg = "secrets not listed yet";
  ASSERT_EQ(500, serve(h, HEALTH_READYZ, "", "", &body));
  ASSERT_STR_EQ("[-]informer-sync failed: reason withheld\n[+]journal ok\nreadyz check failed\n",
                body);
  ASSERT_NOT_CONTAINS(body, "secrets not listed");
  free(body);
  /* The single check shows its reason. */
  ASSERT_EQ(500, serve(h, HEALTH_READYZ, "/informer-sync", "", &body));
  ASSERT_STR_EQ("internal server error: secrets not listed yet\n", body);
  free(body);
  ASSERT_EQ(200, serve(h, HEALTH_READYZ, "/journal/", "", &body)); /* trailing slash cleaned */
  ASSERT_STR_EQ("ok", body);
  free(body);
  ASSERT_EQ(404, serve(h, HEALTH_READYZ, "/journal/x", "", &body));
  free(body);
  ASSERT_EQ(404, serve(h, HEALTH_READYZ, "/ping", "", &body)); /* ping only without checks */
  free(body);
  /* Excluding the failing check makes the aggregate pass; unknown excludes are warned about. */
  int before = informers.calls;
  ASSERT_EQ(200, serve(h, HEALTH_READYZ, "", "exclude=informer-sync&exclude=nope&verbose", &body));
  ASSERT_STR_EQ("[+]informer-sync excluded: ok\n[+]journal ok\n"
                "warn: some health checks cannot be excluded: no matches for \"nope\"\n"
                "readyz check passed\n",
                body);
  free(body);
  ASSERT_EQ(before, informers.calls); /* an excluded check does not run */
  ASSERT_EQ(200, serve(h, HEALTH_READYZ, "", "exclude=informer-sync", &body));
  ASSERT_STR_EQ("ok", body);
  free(body);
  /* Liveness is separate. */
  ASSERT_EQ(200, serve(h, HEALTH_HEALTHZ, "", "verbose", &body));
  ASSERT_STR_EQ("[+]loop ok\nhealthz check passed\n", body);
  free(body);
  /* Removing the failing check. */
  ASSERT(health_remove_check(h, HEALTH_READYZ, "informer-sync"));
  ASSERT(!health_remove_check(h, HEALTH_READYZ, "informer-sync"));
  ASSERT(!health_remove_check(h, HEALTH_HEALTHZ, "journal"));
  ASSERT_EQ(200, serve(h, HEALTH_READYZ, "", "", &body));
  free(body);
  health_free(h);
}

static void test_secret_in_reason_is_scrubbed(void) {
  struct health *h = health_new();
  struct fake f = {.rc = ENG_UNAUTHENTICATED, .msg = "token s3cr3t-t0ken rejected"};
  log_register_secret("s3cr3t-t0ken");
  ASSERT_EQ(ENG_OK, health_add_check(h, HEALTH_READYZ, "api", fake_check, &f, NULL));
  char *body;
  ASSERT_EQ(500, serve(h, HEALTH_READYZ, "/api", "", &body));
  ASSERT_NOT_CONTAINS(body, "s3cr3t-t0ken");
  ASSERT_CONTAINS(body, "[REDACTED]");
  free(body);
  log_forget_all_secrets();
  /* A failure without a message still says something. */
  f.msg = NULL;
  ASSERT_EQ(500, serve(h, HEALTH_READYZ, "/api", "", &body));
  ASSERT_STR_EQ("internal server error: not authenticated\n", body);
  free(body);
  health_free(h);
}

static void test_bad_registrations(void) {
  struct health *h = health_new();
  struct fake f = {0};
  struct eng_error err;
  ASSERT_EQ(ENG_OK, health_add_check(h, HEALTH_READYZ, "journal", fake_check, &f, &err));
  ASSERT_EQ(ENG_EXISTS, health_add_check(h, HEALTH_READYZ, "journal", fake_check, &f, &err));
  ASSERT_CONTAINS(err.msg, "journal");
  /* The same name on the other endpoint is fine. */
  ASSERT_EQ(ENG_OK, health_add_check(h, HEALTH_HEALTHZ, "journal", fake_check, &f, &err));
  const char *bad[] = {"",    "Journal",
                       "a/b", "a b",
                       "x?y", "a-very-long-name-that-goes-on-and-on-and-on-past-sixty-three-chars"};
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    ASSERT_EQ(ENG_INVALID, health_add_check(h, HEALTH_READYZ, bad[i], fake_check, &f, &err));
  }
  ASSERT_EQ(ENG_INVALID, health_add_check(h, HEALTH_READYZ, NULL, fake_check, &f, &err));
  ASSERT_EQ(ENG_INVALID, health_add_check(h, HEALTH_READYZ, "ok", NULL, &f, &err));
  ASSERT_EQ(ENG_INVALID, health_add_check(NULL, HEALTH_READYZ, "ok", fake_check, &f, &err));
  health_free(h);
  health_free(NULL);
}

static void test_many_checks_sorted(void) {
  struct health *h = health_new();
  struct fake f = {0};
  const char *names[] = {"zeta", "alpha", "mid", "beta"};
  for (size_t i = 0; i < ARRAY_SIZE(names); i++)
    ASSERT_EQ(ENG_OK, health_add_check(h, HEALTH_HEALTHZ, names[i], fake_check, &f, NULL));
  char *body;
  ASSERT_EQ(200, serve(h, HEALTH_HEALTHZ, "", "verbose", &body));
  ASSERT_STR_EQ("[+]alpha ok\n[+]beta ok\n[+]mid ok\n[+]zeta ok\nhealthz check passed\n", body);
  free(body);
  health_free(h);
}

int main(void) {
  xalloc_init();
  log_setup(LOG_OFF, LOG_FORMAT_TEXT, 2); /* failing checks are logged; expected here */
  TEST(test_no_checks_is_ping);
  TEST(test_aggregate);
  TEST(test_secret_in_reason_is_scrubbed);
  TEST(test_bad_registrations);
  TEST(test_many_checks_sorted);
  return tap_done();
}
