/*
 * admission.c - AdmissionReview decode/encode.
 */
#include "engine/base/common.h"
#include "admission.h"

#include "engine/base/b64.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

/* An optional string member: "" when absent, error when present with another type. */
static bool opt_string(const json_t *obj, const char *key, const char **out) {
  json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) {
    *out = "";
    return true;
  }
  if (!json_is_string(v))
    return false;
  *out = json_string_value(v);
  return true;
}

enum eng_err admission_decode(const char *body, size_t len, struct admission_request *req,
                              struct eng_error *err) {
  memset(req, 0, sizeof(*req));
  req->review = jsonx_parse(body, len, "AdmissionReview body", err);
  if (!req->review)
    return ENG_INVALID;
  json_t *r = req->review;
  if (!json_is_object(r))
    return eng_error_set(err, ENG_INVALID, "AdmissionReview body must be a JSON object");
  const char *av = json_string_value(json_object_get(r, "apiVersion"));
  const char *kind = json_string_value(json_object_get(r, "kind"));
  if (!av || (strcmp(av, ADMISSION_V1) && strcmp(av, ADMISSION_V1BETA1)))
    return eng_error_set(
        err, ENG_INVALID,
        "AdmissionReview has apiVersion \"%s\"; this webhook understands " ADMISSION_V1
        " and " ADMISSION_V1BETA1,
        av ? av : "");
  if (!kind || strcmp(kind, "AdmissionReview"))
    return eng_error_set(err, ENG_INVALID,
                         "the request body has kind \"%s\"; expected AdmissionReview",
                         kind ? kind : "");
  req->api_version = av;
  json_t *rq = json_object_get(r, "request");
  if (!json_is_object(rq))
    return eng_error_set(err, ENG_INVALID, "AdmissionReview has no request object");
  const char *uid = json_string_value(json_object_get(rq, "uid"));
  if (!uid || !*uid)
    return eng_error_set(err, ENG_INVALID, "AdmissionReview request has no uid");
  if (strlen(uid) > ADMISSION_MAX_UID ||
      strlen(uid) != json_string_length(json_object_get(rq, "uid")))
    return eng_error_set(err, ENG_INVALID, "AdmissionReview request uid is malformed");
  req->uid = uid;
  json_t *k = json_object_get(rq, "kind");
  if (!json_is_object(k) || !opt_string(k, "group", &req->group) ||
      !(req->version = json_string_value(json_object_get(k, "version"))) ||
      !(req->kind = json_string_value(json_object_get(k, "kind"))) || !*req->kind)
    return eng_error_set(err, ENG_INVALID,
                         "AdmissionReview request.kind must be {group, version, kind}");
  json_t *res = json_object_get(rq, "resource");
  if (res && !json_is_null(res)) {
    if (!json_is_object(res) || !opt_string(res, "resource", &req->resource))
      return eng_error_set(err, ENG_INVALID,
                           "AdmissionReview request.resource must be {group, version, resource}");
  } else {
    req->resource = "";
  }
  if (!opt_string(rq, "subResource", &req->sub_resource) || !opt_string(rq, "name", &req->name) ||
      !opt_string(rq, "namespace", &req->ns))
    return eng_error_set(err, ENG_INVALID,
                         "AdmissionReview request name, namespace and subResource must be strings");
  const char *op = json_string_value(json_object_get(rq, "operation"));
  if (!op || (strcmp(op, "CREATE") && strcmp(op, "UPDATE") && strcmp(op, "DELETE") &&
              strcmp(op, "CONNECT")))
    return eng_error_set(
        err, ENG_INVALID,
        "AdmissionReview request.operation \"%s\" is not CREATE, UPDATE, DELETE or CONNECT",
        op ? op : "");
  req->operation = op;
  json_t *dry = json_object_get(rq, "dryRun");
  if (dry && !json_is_null(dry) && !json_is_boolean(dry))
    return eng_error_set(err, ENG_INVALID, "AdmissionReview request.dryRun must be a boolean");
  req->dry_run = json_is_true(dry);
  json_t *obj = json_object_get(rq, "object");
  json_t *old = json_object_get(rq, "oldObject");
  if (obj && !json_is_null(obj) && !json_is_object(obj))
    return eng_error_set(err, ENG_INVALID, "AdmissionReview request.object must be a JSON object");
  if (old && !json_is_null(old) && !json_is_object(old))
    return eng_error_set(err, ENG_INVALID,
                         "AdmissionReview request.oldObject must be a JSON object");
  req->object = json_is_object(obj) ? obj : NULL;
  req->old_object = json_is_object(old) ? old : NULL;
  return ENG_OK;
}

void admission_request_release(struct admission_request *req) {
  if (!req)
    return;
  json_decref(req->review);
  memset(req, 0, sizeof(*req));
}

static json_t *response_shell(const struct admission_request *req, json_t **resp) {
  json_t *doc = json_object();
  json_object_set_new(doc, "apiVersion",
                      json_string(req->api_version ? req->api_version : ADMISSION_V1));
  json_object_set_new(doc, "kind", json_string("AdmissionReview"));
  *resp = json_object();
  json_object_set_new(*resp, "uid", json_string(req->uid ? req->uid : ""));
  json_object_set(doc, "response", *resp);
  json_decref(*resp);
  return doc;
}

static char *dump(json_t *doc) {
  char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(doc);
  return s;
}

char *admission_response_allow(const struct admission_request *req, const json_t *patch,
                               const json_t *warnings) {
  json_t *resp;
  json_t *doc = response_shell(req, &resp);
  json_object_set_new(resp, "allowed", json_true());
  if (patch && json_array_size(patch) > 0) {
    char *p = json_dumps(patch, JSON_COMPACT);
    char *b = b64_encode(p, strlen(p));
    json_object_set_new(resp, "patchType", json_string("JSONPatch"));
    json_object_set_new(resp, "patch", json_string(b));
    free(b);
    free(p);
  }
  if (warnings && json_array_size(warnings) > 0)
    json_object_set_new(resp, "warnings", json_deep_copy(warnings));
  return dump(doc);
}

static const char *reason_for(int code) {
  switch (code) {
  case 400:
    return "BadRequest";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "NotFound";
  case 409:
    return "Conflict";
  case 422:
    return "Invalid";
  case 429:
    return "TooManyRequests";
  case 503:
    return "ServiceUnavailable";
  case 504:
    return "Timeout";
  default:
    return code >= 500 ? "InternalError" : "BadRequest";
  }
}

char *admission_response_deny(const struct admission_request *req, int code, const char *message) {
  json_t *resp;
  json_t *doc = response_shell(req, &resp);
  json_object_set_new(resp, "allowed", json_false());
  json_t *st = json_object();
  json_object_set_new(st, "code", json_integer(code));
  json_object_set_new(st, "reason", json_string(reason_for(code)));
  json_t *msg = json_string(message ? message : "");
  json_object_set_new(st, "message", msg ? msg : json_string("(message not valid UTF-8)"));
  json_object_set_new(resp, "status", st);
  return dump(doc);
}
