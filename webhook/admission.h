/*
 * admission.h - AdmissionReview (admission.k8s.io/v1 and v1beta1) decoding and
 * response encoding (pure, no I/O).
 *
 * A review is checked before anything looks at the object inside: the document
 * must be a JSON object with apiVersion admission.k8s.io/v1 or v1beta1, kind
 * AdmissionReview, a request with a non-empty uid, a kind {group, version, kind},
 * an operation CREATE/UPDATE/DELETE/CONNECT, and object/oldObject that are JSON
 * objects when present. Responses echo the apiVersion and kind that were received
 * (the apiserver insists on that) and the request uid.
 */
#ifndef EQXM_ADMISSION_H
#define EQXM_ADMISSION_H

#include "engine/base/common.h"
#include "engine/base/err.h"

#include <jansson.h>

#define ADMISSION_V1      "admission.k8s.io/v1"
#define ADMISSION_V1BETA1 "admission.k8s.io/v1beta1"
#define ADMISSION_MAX_UID 256

struct admission_request {
  json_t *review;          /* the whole document (owned) */
  const char *api_version; /* ADMISSION_V1 or ADMISSION_V1BETA1 (borrowed from review) */
  const char *uid;
  const char *group;    /* request.kind.group ("" for the core group) */
  const char *version;  /* request.kind.version */
  const char *kind;     /* request.kind.kind */
  const char *resource; /* request.resource.resource, "" when absent */
  const char *sub_resource;
  const char *name;      /* "" when absent (generateName on CREATE) */
  const char *ns;        /* "" for cluster-scoped objects */
  const char *operation; /* CREATE | UPDATE | DELETE | CONNECT */
  bool dry_run;
  json_t *object;     /* borrowed; NULL when absent or null (DELETE) */
  json_t *old_object; /* borrowed; NULL when absent or null (CREATE) */
};

/*
 * Decode len bytes of an AdmissionReview into *req (release with
 * admission_request_release(), also after a failure). ENG_INVALID with an
 * operator-readable message when the document is not a well-formed review.
 */
enum eng_err admission_decode(const char *body, size_t len, struct admission_request *req,
                              struct eng_error *err) WARN_UNUSED;
void admission_request_release(struct admission_request *req);

/*
 * Response bodies (NUL-terminated JSON the caller frees). allow: allowed=true,
 * with patchType JSONPatch and the base64 patch when patch is a non-empty array
 * (NULL or [] means no patch). deny: allowed=false with status {code, reason,
 * message}; reason is derived from code (403 Forbidden, 400 BadRequest, 500
 * InternalError ...). warnings (optional) is a JSON array of strings.
 */
char *admission_response_allow(const struct admission_request *req, const json_t *patch,
                               const json_t *warnings);
char *admission_response_deny(const struct admission_request *req, int code, const char *message);

#endif
