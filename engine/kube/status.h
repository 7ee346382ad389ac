/*
 * status.h - metav1.Status bodies for answers that are not admission reviews.
 *
 * Every error a server of ours answers outside an AdmissionReview (webhook paths, HTTP-level
 * refusals) is a Kubernetes Status object, so kube-apiserver and kubectl show its message:
 * {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":...,
 *  "reason":<metav1.StatusReason>,"code":<HTTP status>}.
 */
#ifndef EQXM_KUBE_STATUS_H
#define EQXM_KUBE_STATUS_H

/* The metav1.StatusReason for an HTTP status: 400 BadRequest, 404 NotFound, 405
 * MethodNotAllowed, 413 RequestEntityTooLarge, 415 UnsupportedMediaType, 429 TooManyRequests,
 * 503 ServiceUnavailable, ...; other 4xx BadRequest, other 5xx InternalError. */
const char *kube_status_reason(int code);

/* The Status JSON (compact) for code and message; caller frees. */
char *kube_status_json(int code, const char *message);

#endif
