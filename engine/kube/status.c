/*
 * status.c - metav1.Status bodies (see status.h).
 */
#include "engine/kube/status.h"
#include "engine/base/xalloc.h"

#include <jansson.h>
#include <stddef.h>

const char *kube_status_reason(int code) {
  switch (code) {
  case 400:
    return "BadRequest";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "NotFound";
  case 405:
    return "MethodNotAllowed";
  case 406:
    return "NotAcceptable";
  case 409:
    return "Conflict";
  case 410:
    return "Gone";
  case 413:
    return "RequestEntityTooLarge";
  case 415:
    return "UnsupportedMediaType";
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

char *kube_status_json(int code, const char *message) {
  json_t *st = json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion", "v1",
                         "metadata", "status", "Failure", "message", message ? message : "",
                         "reason", kube_status_reason(code), "code", code);
  char *body = st ? json_dumps(st, JSON_COMPACT) : NULL;
  json_decref(st);
  if (!body) /* only a message that is not UTF-8: keep the Status valid without it */
    body = xasprintf("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                     "\"status\":\"Failure\",\"reason\":\"%s\",\"code\":%d}",
                     kube_status_reason(code), code);
  return body;
}
