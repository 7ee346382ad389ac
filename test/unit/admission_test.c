/*
 * admission_test.c - AdmissionReview decoding (every refusal names its problem) and
 * response encoding (apiVersion echoed, uid echoed, patch base64, deny status).
 */
#include "engine/base/common.h"
#include "engine/base/b64.h"
#include "engine/base/jsonx.h"
#include "webhook/admission.h"
#include "engine/base/xalloc.h"

#include "test/tap.h"

#include <stdlib.h>
#include <string.h>

static const char *good = "{\"apiVersion\":\"admission.k8s.io/"
                          "v1beta1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"abc-1\","
                          "\"kind\":{\"group\":\"apps\",\"version\":\"v1\",\"kind\":\"Deployment\"}"
                          ",\"resource\":{\"group\":\"apps\","
                          "\"version\":\"v1\",\"resource\":\"deployments\"},\"name\":\"kube-"
                          "apiserver\",\"namespace\":\"shoot--p--s\","
                          "\"operation\":\"UPDATE\",\"dryRun\":true,\"object\":{\"metadata\":{"
                          "\"name\":\"kube-apiserver\"}},"
                          "\"oldObject\":null}}";

static void test_decode_good(void) {
  struct admission_request r;
  struct eng_error err;
  ASSERT_EQ(ENG_OK, admission_decode(good, strlen(good), &r, &err));
  ASSERT_STR_EQ(ADMISSION_V1BETA1, r.api_version);
  ASSERT_STR_EQ("abc-1", r.uid);
  ASSERT_STR_EQ("apps", r.group);
  ASSERT_STR_EQ("Deployment", r.kind);
  ASSERT_STR_EQ("deployments", r.resource);
  ASSERT_STR_EQ("shoot--p--s", r.ns);
  ASSERT_STR_EQ("UPDATE", r.operation);
  ASSERT(r.dry_run);
  ASSERT(r.object && !r.old_object);
  admission_request_release(&r);
}

static void refuse(const char *body, const char *needle) {
  struct admission_request r;
  struct eng_error err;
  eng_error_clear(&err);
  enum eng_err rc = admission_decode(body, strlen(body), &r, &err);
  if (rc != ENG_INVALID || !strstr(err.msg, needle))
    TAP_FAIL("%s: expected a refusal mentioning \"%s\", got %d \"%s\"", body, needle, rc, err.msg);
  admission_request_release(&r);
}

static void test_decode_refusals(void) {
  refuse("not json", "not valid JSON");
  refuse("[]", "JSON object");
  refuse("{\"apiVersion\":\"v1\",\"kind\":\"AdmissionReview\"}", "apiVersion \"v1\"");
  refuse("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"Pod\"}", "kind \"Pod\"");
  refuse("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}", "no request");
  refuse("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{}}",
         "no uid");
  refuse("{\"apiVersion\":\"admission.k8s.io/"
         "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\"}}",
         "request.kind");
  refuse("{\"apiVersion\":\"admission.k8s.io/"
         "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\","
         "\"kind\":{\"version\":\"v1\",\"kind\":\"Pod\"},\"operation\":\"PATCH\"}}",
         "operation \"PATCH\"");
  refuse("{\"apiVersion\":\"admission.k8s.io/"
         "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\","
         "\"kind\":{\"version\":\"v1\",\"kind\":\"Pod\"},\"operation\":\"CREATE\",\"object\":[1]}}",
         "request.object");
  refuse(
      "{\"apiVersion\":\"admission.k8s.io/"
      "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\","
      "\"kind\":{\"version\":\"v1\",\"kind\":\"Pod\"},\"operation\":\"CREATE\",\"namespace\":7}}",
      "must be strings");
  refuse("{\"apiVersion\":\"admission.k8s.io/"
         "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\\u0000x\","
         "\"kind\":{\"version\":\"v1\",\"kind\":\"Pod\"},\"operation\":\"CREATE\"}}",
         "uid is malformed");
}

static void test_responses(void) {
  struct admission_request r;
  struct eng_error err;
  ASSERT_EQ(ENG_OK, admission_decode(good, strlen(good), &r, &err));
  const char *pj = "[{\"op\":\"add\",\"path\":\"/a\",\"value\":1}]";
  json_t *patch = jsonx_parse(pj, strlen(pj), "patch", &err);
  char *s = admission_response_allow(&r, patch, NULL);
  json_t *doc = jsonx_parse(s, strlen(s), "response", &err);
  ASSERT_STR_EQ(ADMISSION_V1BETA1, jsonx_str(doc, "apiVersion"));
  ASSERT_STR_EQ("AdmissionReview", jsonx_str(doc, "kind"));
  ASSERT_STR_EQ("abc-1", jsonx_str(doc, "response.uid"));
  ASSERT(jsonx_bool(doc, "response.allowed", false));
  ASSERT_STR_EQ("JSONPatch", jsonx_str(doc, "response.patchType"));
  const char *b = jsonx_str(doc, "response.patch");
  unsigned char *dec;
  size_t dl;
  ASSERT_EQ(ENG_OK, b64_decode(b, strlen(b), &dec, &dl));
  ASSERT_STR_EQ("[{\"op\":\"add\",\"path\":\"/a\",\"value\":1}]", (char *)dec);
  free(dec);
  free(s);
  json_decref(doc);
  /* No patch when nothing changed: neither patch nor patchType. */
  json_t *empty = json_array();
  s = admission_response_allow(&r, empty, NULL);
  ASSERT_NOT_CONTAINS(s, "patch");
  free(s);
  json_decref(empty);
  json_decref(patch);
  s = admission_response_deny(&r, 403, "multiple operatingsystems used");
  doc = jsonx_parse(s, strlen(s), "response", &err);
  ASSERT(!jsonx_bool(doc, "response.allowed", true));
  ASSERT_EQ(403, jsonx_int(doc, "response.status.code", 0));
  ASSERT_STR_EQ("Forbidden", jsonx_str(doc, "response.status.reason"));
  ASSERT_STR_EQ("multiple operatingsystems used", jsonx_str(doc, "response.status.message"));
  ASSERT(!jsonx_path(doc, "response.patch"));
  json_decref(doc);
  free(s);
  admission_request_release(&r);
}

int main(void) {
  xalloc_init();
  TEST(test_decode_good);
  TEST(test_decode_refusals);
  TEST(test_responses);
  return tap_done();
}
