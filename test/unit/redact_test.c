/*
 * redact_test.c - the redaction rules of redact.h, one by one, and the planted
 * token that must not survive anywhere in a document.
 */
#include "engine/base/common.h"
#include "engine/base/redact.h"
#include "engine/base/b64.h"
#include "engine/base/jsonx.h"
#include "engine/base/sha256.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"

#include <stdlib.h>
#include <string.h>

#define TOKEN "tok-3f9a1c7e5b2d4068a1b2c3d4e5f60718"

static json_t *parse(const char *s) {
  json_t *v = json_loads(s, 0, NULL);
  if (!v) {
    printf("# bad test JSON: %s\n", s);
    abort();
  }
  return v;
}

/* The redacted text; the sharing variant (the journal's) must give the very same text. */
static char *redacted_text(const char *in, enum redact_hint hint) {
  json_t *v = parse(in);
  char *before = jsonx_canonical(v);
  json_t *r = redact_copy(v, hint);
  char *s = jsonx_canonical(r);
  json_t *sh = redact_shared_keyed(v, hint, NULL);
  char *s2 = jsonx_canonical(sh);
  if (strcmp(s, s2) != 0)
    TAP_FAIL("redact_shared_keyed() gave %s, redact_copy() %s", s2, s);
  json_decref(sh);
  char *after = jsonx_canonical(v);
  if (strcmp(before, after) != 0) /* neither variant changes its input */
    TAP_FAIL("the input changed: %s became %s", before, after);
  free(before);
  free(after);
  free(s2);
  json_decref(v);
  json_decref(r);
  return s;
}

/* Sharing: untouched subtrees are the input's own, only the path to a redaction is new. */
static void test_shared_copy(void) {
  json_t *v = parse("{\"big\":{\"a\":[1,2,{\"b\":\"plain\"}],\"c\":\"text\"},"
                    "\"cfg\":{\"x\":1,\"password\":\"hunter2\"}}");
  json_t *r = redact_shared_keyed(v, REDACT_HINT_NONE, NULL);
  ASSERT(json_object_get(r, "big") == json_object_get(v, "big"));
  ASSERT(r != v);
  ASSERT(json_object_get(r, "cfg") != json_object_get(v, "cfg"));
  ASSERT_STR_EQ("hunter2", jsonx_str(v, "cfg.password"));
  ASSERT(strcmp(jsonx_str(r, "cfg.password"), "hunter2") != 0);
  json_decref(r);
  /* Nothing to redact: the document itself. */
  json_t *clean = parse("{\"kind\":\"ConfigMap\",\"data\":{\"k\":\"v\"}}");
  r = redact_shared_keyed(clean, REDACT_HINT_NONE, NULL);
  ASSERT(r == clean);
  json_decref(r);
  json_decref(clean);
  json_decref(v);
}

static void digest_of(const char *s, char out[REDACT_DIGEST_LEN + 1]) {
  redact_digest(s, strlen(s), out);
}

static void test_secret_data_digest_of_decoded_bytes(void) {
  char *b64 = b64_encode(TOKEN, strlen(TOKEN));
  char in[512];
  snprintf(in, sizeof(in),
           "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"cloudprovider\"},"
           "\"type\":\"Opaque\",\"data\":{\"apiToken\":\"%s\",\"projectID\":\"cHJvamVjdA==\"},"
           "\"stringData\":{\"extra\":\"%s\"}}",
           b64, TOKEN);
  char *out = redacted_text(in, REDACT_HINT_NONE);
  char want[REDACT_DIGEST_LEN + 1], want_p[REDACT_DIGEST_LEN + 1];
  digest_of(TOKEN, want);
  digest_of("project", want_p);
  ASSERT_NOT_CONTAINS(out, TOKEN);
  ASSERT_NOT_CONTAINS(out, b64);
  json_t *o = parse(out);
  /* data is digested after base64 decoding, stringData as is: same content, same digest. */
  ASSERT_STR_EQ(want, jsonx_str(o, "data.apiToken"));
  ASSERT_STR_EQ(want_p, jsonx_str(o, "data.projectID"));
  ASSERT_STR_EQ(want, jsonx_str(o, "stringData.extra"));
  ASSERT_STR_EQ("cloudprovider", jsonx_str(o, "metadata.name"));
  ASSERT_STR_EQ("Opaque", jsonx_str(o, "type"));
  json_decref(o);
  free(out);
  free(b64);
}

static void test_secret_last_applied_annotation(void) {
  char in[1024];
  snprintf(in, sizeof(in),
           "{\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\",\"annotations\":{"
           "\"kubectl.kubernetes.io/"
           "last-applied-configuration\":\"{\\\"data\\\":{\\\"t\\\":\\\"%s\\\"}}\","
           "\"other\":\"keep\"}},\"data\":{}}",
           TOKEN);
  char *out = redacted_text(in, REDACT_HINT_NONE);
  ASSERT_NOT_CONTAINS(out, TOKEN);
  ASSERT_CONTAINS(out, "\"other\":\"keep\"");
  ASSERT_CONTAINS(out, "\"kubectl.kubernetes.io/last-applied-configuration\":\"sha256:");
  free(out);
}

static void test_watch_event_and_lists(void) {
  char *b64 = b64_encode(TOKEN, strlen(TOKEN));
  char in[1024];
  /* A watch event wrapping a Secret with kind. */
  snprintf(in, sizeof(in),
           "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Secret\",\"metadata\":{\"name\":\"a\"},"
           "\"data\":{\"k\":\"%s\"}}}",
           b64);
  char *out = redacted_text(in, REDACT_HINT_NONE);
  ASSERT_NOT_CONTAINS(out, b64);
  ASSERT_CONTAINS(out, "\"type\":\"ADDED\"");
  free(out);
  /* A SecretList: items carry no kind. */
  snprintf(in, sizeof(in),
           "{\"kind\":\"SecretList\",\"items\":[{\"metadata\":{\"name\":\"a\"},\"data\":{\"k\":"
           "\"%s\"}}]}",
           b64);
  out = redacted_text(in, REDACT_HINT_NONE);
  ASSERT_NOT_CONTAINS(out, b64);
  free(out);
  /* A watch event of a typed client (no kind) with the caller's hint. */
  snprintf(in, sizeof(in),
           "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\"},\"data\":{\"k\":"
           "\"%s\"}}}",
           b64);
  out = redacted_text(in, REDACT_HINT_SECRET);
  ASSERT_NOT_CONTAINS(out, b64);
  ASSERT_CONTAINS(out, "\"type\":\"MODIFIED\"");
  free(out);
  /* Without hint and without kind, the Secret shape (metadata, data, type) is enough. */
  snprintf(
      in, sizeof(in),
      "{\"items\":[{\"metadata\":{\"name\":\"a\"},\"type\":\"Opaque\",\"data\":{\"k\":\"%s\"}}]}",
      b64);
  out = redacted_text(in, REDACT_HINT_NONE);
  ASSERT_NOT_CONTAINS(out, b64);
  free(out);
  free(b64);
}

static void test_configmap_data_is_kept(void) {
  char *out = redacted_text("{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},"
                            "\"data\":{\"config\":\"plain\"}}",
                            REDACT_HINT_NONE);
  ASSERT_CONTAINS(out, "\"config\":\"plain\"");
  free(out);
}

static void test_credential_keys_anywhere(void) {
  char in[1024];
  snprintf(in, sizeof(in),
           "{\"request\":{\"headers\":{\"Authorization\":\"Bearer %s\",\"X-Auth-Token\":\"%s\","
           "\"Accept\":\"application/json\"}},\"spec\":{\"apiToken\":\"%s\",\"PASSWORD\":\"%s\","
           "\"client-key-data\":\"%s\",\"token\":\"\",\"bearer_token\":12345},"
           "\"kubelet\":{\"authorization\":{\"mode\":\"Webhook\"}}}",
           TOKEN, TOKEN, TOKEN, TOKEN, TOKEN);
  char *out = redacted_text(in, REDACT_HINT_NONE);
  ASSERT_NOT_CONTAINS(out, TOKEN);
  ASSERT_NOT_CONTAINS(out, "12345");
  json_t *o = parse(out);
  ASSERT_STR_EQ(REDACTED, jsonx_str(o, "request.headers.Authorization"));
  ASSERT_STR_EQ(REDACTED, jsonx_str(o, "request.headers.X-Auth-Token"));
  ASSERT_STR_EQ("application/json", jsonx_str(o, "request.headers.Accept"));
  ASSERT_STR_EQ(REDACTED, jsonx_str(o, "spec.apiToken"));
  ASSERT_STR_EQ(REDACTED, jsonx_str(o, "spec.PASSWORD"));
  ASSERT_STR_EQ(REDACTED, jsonx_str(o, "spec.client-key-data"));
  ASSERT_STR_EQ(REDACTED, jsonx_str(o, "spec.bearer_token"));
  /* Empty values say "absent" and stay; structured values are walked, not hidden. */
  ASSERT_STR_EQ("", jsonx_str(o, "spec.token"));
  ASSERT_STR_EQ("Webhook", jsonx_str(o, "kubelet.authorization.mode"));
  json_decref(o);
  free(out);
  ASSERT(redact_is_credential_key("ApiToken"));
  ASSERT(redact_is_credential_key("x_auth_token"));
  ASSERT(!redact_is_credential_key("tokens"));
  ASSERT(!redact_is_credential_key("secretRef"));
}

static void test_strings_with_credentials(void) {
  char in[512];
  snprintf(in, sizeof(in),
           "{\"headers\":[\"Authorization: Bearer %s\",\"x-auth-token: %s\",\"Accept: */*\"],"
           "\"note\":\"bearer %s\",\"basic\":\"Basic %s\"}",
           TOKEN, TOKEN, TOKEN, TOKEN);
  char *out = redacted_text(in, REDACT_HINT_NONE);
  ASSERT_NOT_CONTAINS(out, TOKEN);
  ASSERT_CONTAINS(out, "\"Authorization: [redacted]\"");
  ASSERT_CONTAINS(out, "\"x-auth-token: [redacted]\"");
  ASSERT_CONTAINS(out, "\"Accept: */*\"");
  ASSERT_CONTAINS(out, "\"bearer [redacted]\"");
  free(out);
}

static void test_userdata_digested(void) {
  char in[512];
  snprintf(in, sizeof(in), "{\"userdata\":\"#cloud-config\\ntoken: %s\\n\",\"hostname\":\"w1\"}",
           TOKEN);
  char *out = redacted_text(in, REDACT_HINT_NONE);
  ASSERT_NOT_CONTAINS(out, TOKEN);
  ASSERT_CONTAINS(out, "\"userdata\":\"sha256:");
  ASSERT_CONTAINS(out, "\"hostname\":\"w1\"");
  free(out);
}

static void test_input_untouched_and_types_kept(void) {
  json_t *v = parse("{\"kind\":\"Secret\",\"data\":{\"a\":\"YQ==\"},\"n\":1.5,\"b\":true,"
                    "\"z\":null,\"arr\":[1,\"x\"]}");
  char *before = jsonx_canonical(v);
  json_t *r = redact_copy(v, REDACT_HINT_NONE);
  char *after = jsonx_canonical(v);
  ASSERT_STR_EQ(before, after);
  ASSERT(json_is_real(json_object_get(r, "n")));
  ASSERT(json_is_true(json_object_get(r, "b")));
  ASSERT(json_is_null(json_object_get(r, "z")));
  ASSERT_EQ(2, json_array_size(json_object_get(r, "arr")));
  ASSERT(redact_copy(NULL, REDACT_HINT_NONE) == NULL);
  free(before);
  free(after);
  json_decref(v);
  json_decref(r);
}

static void test_hint_for_kind(void) {
  ASSERT_EQ(REDACT_HINT_SECRET, redact_hint_for_kind("/Secret"));
  ASSERT_EQ(REDACT_HINT_SECRET, redact_hint_for_kind("v1/Secret"));
  ASSERT_EQ(REDACT_HINT_NONE, redact_hint_for_kind("extensions.gardener.cloud/Infrastructure"));
  ASSERT_EQ(REDACT_HINT_NONE, redact_hint_for_kind(NULL));
}

static void test_keyed_digests(void) {
  json_t *v = json_pack("{s:s,s:{s:s},s:s,s:{s:s}}", "kind", "Secret", "metadata", "name", "s",
                        "type", "Opaque", "data", "password", "aHVudGVyMg==");
  struct redact_key k1 = {.len = 32}, k2 = {.len = 32};
  memset(k1.bytes, 1, 32);
  memset(k2.bytes, 2, 32);
  json_t *a = redact_copy_keyed(v, REDACT_HINT_NONE, &k1);
  json_t *b = redact_copy_keyed(v, REDACT_HINT_NONE, &k1);
  json_t *c = redact_copy_keyed(v, REDACT_HINT_NONE, &k2);
  const char *da = json_string_value(json_object_get(json_object_get(a, "data"), "password"));
  const char *db = json_string_value(json_object_get(json_object_get(b, "data"), "password"));
  const char *dc = json_string_value(json_object_get(json_object_get(c, "data"), "password"));
  char plain[REDACT_DIGEST_LEN + 1];
  redact_digest("hunter2", 7, plain);
  ASSERT(da && !strncmp(da, REDACT_KEYED_PREFIX, strlen(REDACT_KEYED_PREFIX)));
  ASSERT(strlen(da) == REDACT_KEYED_DIGEST_LEN);
  ASSERT_STR_EQ(da, db);                 /* deterministic under one key */
  ASSERT(strcmp(da, dc) != 0);           /* another key, another digest */
  ASSERT(strstr(da, plain + 7) == NULL); /* not the plain SHA-256 of the guessable value */
  json_t *again = redact_copy_keyed(a, REDACT_HINT_NONE, &k2); /* idempotent, whatever the key */
  ASSERT_STR_EQ(da, json_string_value(json_object_get(json_object_get(again, "data"), "password")));
  json_decref(again);
  json_decref(a);
  json_decref(b);
  json_decref(c);
  json_decref(v);
}

int main(void) {
  xalloc_init();
  TEST(test_secret_data_digest_of_decoded_bytes);
  TEST(test_secret_last_applied_annotation);
  TEST(test_watch_event_and_lists);
  TEST(test_configmap_data_is_kept);
  TEST(test_credential_keys_anywhere);
  TEST(test_strings_with_credentials);
  TEST(test_userdata_digested);
  TEST(test_input_untouched_and_types_kept);
  TEST(test_hint_for_kind);
  TEST(test_keyed_digests);
  TEST(test_shared_copy);
  return tap_done();
}
