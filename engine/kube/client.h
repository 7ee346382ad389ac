/*
 * client.h - asynchronous Kubernetes API client on engine/net/http.h (libcurl multi on
 * libev). Typed resources, JSON in and out, Status objects translated into
 * enum eng_err and a sentence, list paging, watch streams, 429 Retry-After and
 * conflict-retry handled here so callers do not repeat them.
 *
 * Contract of every asynchronous call: it always returns a handle and never runs
 * its callback before returning; the callback runs exactly once, on the client's
 * loop, unless the call is canceled with kube_cancel() (then it never runs).
 * Everything a struct kube_result points to is valid only during the callback
 * (json_incref() the body to keep it). Objects passed in (const json_t *) are
 * serialised at once; the caller keeps ownership.
 *
 * Requests carry "Authorization: Bearer" from the config's token or token file
 * (re-read every minute and after a 401, as projected service-account tokens
 * rotate) or a client certificate. 429 (and 5xx with Retry-After) responses are
 * retried after the server's Retry-After, up to 10 times (client-go's rule);
 * only then does the caller see ENG_RATELIMIT.
 *
 * Error mapping (kube_result.err): 2xx ENG_OK; 401 UNAUTHENTICATED; 403 FORBIDDEN;
 * 404 NOTFOUND; 409 EXISTS (reason AlreadyExists) or CONFLICT; 410 GONE; 422 and
 * 400 INVALID; 413 TOOLARGE; 429 RATELIMIT (retry_after_ms set); 5xx and transport
 * failures UNAVAILABLE (TIMEOUT when the request timed out).
 *
 * Synchronous wrappers (kube_*_sync, test/lib/kube_sync.h, test-only) run the client's loop until
 * the call ends; use them from commands and tests, never from inside a callback of that loop.
 * kube_client_new(NULL, ...) gives a client with its own private loop for that.
 */
#ifndef EQXM_KUBE_CLIENT_H
#define EQXM_KUBE_CLIENT_H

#include "engine/base/common.h"
#include "engine/base/err.h"
#include "engine/kube/kubeconfig.h"

#include <jansson.h>

struct ev_loop;
struct http_client;
struct kube_client;
struct kube_call;

/* ---- resources ------------------------------------------------------------------------ */

struct kube_resource {
  const char *group;   /* "" for the core group */
  const char *version; /* "v1", "v1alpha1" */
  const char *plural;  /* "leases" */
  const char *kind;    /* "Lease" */
  bool namespaced;
};

/* Well-known resources. */
extern const struct kube_resource kube_res_namespace;
extern const struct kube_resource kube_res_secret;
extern const struct kube_resource kube_res_configmap;
extern const struct kube_resource kube_res_service;
extern const struct kube_resource kube_res_event;
extern const struct kube_resource kube_res_lease;
extern const struct kube_resource kube_res_deployment;
extern const struct kube_resource kube_res_statefulset;
extern const struct kube_resource kube_res_mutating_webhook_configuration;
extern const struct kube_resource kube_res_gardener_cluster;
extern const struct kube_resource kube_res_gardener_infrastructure;
extern const struct kube_resource kube_res_gardener_controlplane;
extern const struct kube_resource kube_res_gardener_worker;
extern const struct kube_resource kube_res_gardener_operatingsystemconfig;

/*
 * URL path of a collection, an object or a subresource:
 * "/api/v1/namespaces/NS/secrets/NAME", "/apis/G/V/PLURAL" (all namespaces or cluster-scoped).
 * ns is ignored for cluster-scoped resources and may be NULL/"" (all namespaces); name and
 * sub may be NULL. Segments are percent-escaped. Caller frees.
 */
char *kube_resource_path(const struct kube_resource *r, const char *ns, const char *name,
                         const char *sub);
/* "G/V" or "V" for the core group. out must hold 128 bytes. */
void kube_resource_api_version(const struct kube_resource *r, char out[128]);
/* "G/Kind" ("/Secret" for the core group), the journal's group_kind. out: 192 bytes. */
void kube_resource_group_kind(const struct kube_resource *r, char out[192]);
/* "plural.group" or "plural" (as in apiserver messages), out: 192 bytes. */
void kube_resource_name(const struct kube_resource *r, char out[192]);

/* ---- client --------------------------------------------------------------------------- */

/*
 * New client on loop (NULL = a private loop owned by the client, for the _sync calls).
 * The configuration is copied. user_agent NULL = "<program>/<version>".
 */
struct kube_client *kube_client_new(struct ev_loop *loop, const struct kube_config *cfg,
                                    const char *user_agent);
/* Cancels every call still running (their callbacks do not run), then frees. NULL is allowed. */
void kube_client_free(struct kube_client *c);
struct ev_loop *kube_client_loop(const struct kube_client *c);
/* The configuration's default namespace ("default" when it names none). */
const char *kube_client_namespace(const struct kube_client *c);
const char *kube_client_server(const struct kube_client *c);
/* Timeout of ordinary (non-watch) requests; default 30 s. */
void kube_client_set_timeout(struct kube_client *c, long ms);
/* Maximum automatic retries of 429 / Retry-After responses (default 10; 0 = none). */
void kube_client_set_max_retries(struct kube_client *c, int n);
/*
 * Client-side rate limit of every request (watches, list pages and retries included), like
 * client-go's QPS/Burst: a token bucket of burst tokens refilled at qps per second; requests
 * beyond it wait, in order, until their token is due. qps <= 0 = no limit (the default of this
 * client; `run` sets --kube-api-qps / --kube-api-burst, default 100 / 130 as the Go original).
 */
void kube_client_set_rate_limit(struct kube_client *c, double qps, double burst);
/* Requests that had to wait for a token so far. */
uint64_t kube_client_throttled(const struct kube_client *c);
/* Calls in flight (including those waiting for a retry). */
size_t kube_client_inflight(const struct kube_client *c);
/*
 * At most n requests other than watches on the wire at once (default 32; 0 = no bound). Each is
 * an HTTP/1.1 connection with its own TLS session; requests beyond the bound wait, in order,
 * after the rate limit, and do not hold a connection while they wait.
 */
void kube_client_set_max_inflight(struct kube_client *c, size_t n);
/* Requests that waited for a free slot so far, and requests on the wire now. */
uint64_t kube_client_slot_waits(const struct kube_client *c);
size_t kube_client_requests_on_wire(const struct kube_client *c);

/* ---- results -------------------------------------------------------------------------- */

struct kube_result {
  enum eng_err err;       /* ENG_OK for a 2xx response, otherwise as mapped above */
  long status;            /* HTTP status; 0 when no response arrived */
  json_t *body;           /* parsed body (the object, the list, or a Status); NULL if none */
  const char *reason;     /* Status reason ("Conflict", "AlreadyExists", "Expired"), or "" */
  const char *message;    /* Status message or the transport error, or "" */
  long retry_after_ms;    /* Retry-After header or details.retryAfterSeconds; -1 if none */
  int attempts;           /* HTTP requests made for this call (retries included) */
  struct eng_error error; /* code = err; msg is a sentence naming verb, object and cause */
};

typedef void (*kube_done_fn)(void *ud, const struct kube_result *res);

/* Stop a call; its callback will not run. Safe from any callback; NULL is allowed. */
void kube_cancel(struct kube_client *c, struct kube_call *call);

/* ---- reads ---------------------------------------------------------------------------- */

/*
 * A page of a list as it arrives: its items (borrowed for the call). first: this is the first
 * page of the list, or of the list started again after its continue token expired (what the
 * pages before said may be out of date). The callback may cancel the call.
 */
typedef void (*kube_list_page_fn)(void *ud, const json_t *items, bool first);

struct kube_list_opts {
  const char *label_selector;         /* NULL = none */
  const char *field_selector;         /* NULL = none */
  const char *resource_version;       /* NULL = most recent (quorum), "0" = any */
  const char *resource_version_match; /* NULL, "NotOlderThan", "Exact" */
  long limit;                         /* page size; 0 = 500; < 0 = no paging */
  /* Set: each page goes to on_page and is not kept; the result's items are then empty, so
   * a large list is never in memory at once. */
  kube_list_page_fn on_page;
  void *page_ud;
};

struct kube_call *kube_get(struct kube_client *c, const struct kube_resource *r, const char *ns,
                           const char *name, kube_done_fn done, void *ud);

/*
 * List all pages. The result body is one list object {"apiVersion","kind":"<Kind>List",
 * "metadata":{"resourceVersion"},"items":[...]} with the items of every page, and the
 * resourceVersion of the consistent snapshot. A continue token that expired (410) restarts
 * the list from the beginning once, without resourceVersion (client-go's pager).
 */
struct kube_call *kube_list(struct kube_client *c, const struct kube_resource *r, const char *ns,
                            const struct kube_list_opts *opts, kube_done_fn done, void *ud);

/* ---- watch ---------------------------------------------------------------------------- */

enum kube_event_type {
  KUBE_EVENT_ADDED,
  KUBE_EVENT_MODIFIED,
  KUBE_EVENT_DELETED,
  KUBE_EVENT_BOOKMARK,
  KUBE_EVENT_ERROR
};

struct kube_watch_event {
  enum kube_event_type type;
  json_t *object;               /* borrowed; incref to keep */
  const char *resource_version; /* object.metadata.resourceVersion, "" when absent */
};

/* Return 0 to continue, nonzero to stop the watch (done then gets ENG_CANCELED). */
typedef int (*kube_watch_fn)(void *ud, const struct kube_watch_event *ev);

struct kube_watch_opts {
  const char *label_selector;
  const char *field_selector;
  const char *resource_version; /* start after this RV; NULL/"" = state + changes */
  bool allow_bookmarks;
  long timeout_seconds;   /* server-side timeoutSeconds; 0 = not sent */
  size_t max_event_bytes; /* cap of one event; 0 = BUF_MAX_WATCH_EVENT (16 MiB) */
};

/*
 * Open a watch. ADDED/MODIFIED/DELETED/BOOKMARK events go to on_event as they are decoded.
 * The call ends (done) on: the server closing the stream (ENG_OK), an ERROR event (err
 * mapped from its Status, e.g. ENG_GONE for 410 Expired/Gone; status 200, body = Status),
 * a non-2xx response (mapped as usual), an event over the cap (ENG_TOOLARGE), bytes that
 * are not a JSON event stream (ENG_PROTOCOL), or on_event asking to stop (ENG_CANCELED).
 */
struct kube_call *kube_watch(struct kube_client *c, const struct kube_resource *r, const char *ns,
                             const struct kube_watch_opts *opts, kube_watch_fn on_event,
                             kube_done_fn done, void *ud);

const char *kube_event_type_name(enum kube_event_type t); /* "ADDED" ... */

/* ---- writes --------------------------------------------------------------------------- */

enum kube_patch_type {
  KUBE_PATCH_MERGE,        /* application/merge-patch+json on the object */
  KUBE_PATCH_JSON,         /* application/json-patch+json (RFC 6902 array) on the object */
  KUBE_PATCH_STATUS_MERGE, /* merge patch on the /status subresource */
  KUBE_PATCH_STATUS_JSON   /* JSON patch on the /status subresource */
};

struct kube_delete_opts {
  const char *uid;              /* precondition, or NULL */
  const char *resource_version; /* precondition, or NULL */
  const char *propagation;      /* "Background" | "Foreground" | "Orphan" | NULL */
};

/* POST to the collection; the name comes from obj.metadata.name (or generateName). */
struct kube_call *kube_create(struct kube_client *c, const struct kube_resource *r, const char *ns,
                              const json_t *obj, kube_done_fn done, void *ud);
/* PUT the whole object; obj.metadata.resourceVersion makes it conditional (409 on mismatch).
 * name NULL = obj.metadata.name. */
struct kube_call *kube_update(struct kube_client *c, const struct kube_resource *r, const char *ns,
                              const char *name, const json_t *obj, kube_done_fn done, void *ud);
/* PUT to the /status subresource. */
struct kube_call *kube_update_status(struct kube_client *c, const struct kube_resource *r,
                                     const char *ns, const char *name, const json_t *obj,
                                     kube_done_fn done, void *ud);
struct kube_call *kube_patch(struct kube_client *c, const struct kube_resource *r, const char *ns,
                             const char *name, enum kube_patch_type type, const json_t *patch,
                             kube_done_fn done, void *ud);
/* Server-side apply: PATCH application/apply-patch+yaml with obj (the fields this manager owns),
 * ?fieldManager=field_manager[&force=true]. Creates the object when it does not exist. */
struct kube_call *kube_apply(struct kube_client *c, const struct kube_resource *r, const char *ns,
                             const char *name, const json_t *obj, const char *field_manager,
                             bool force, kube_done_fn done, void *ud);
struct kube_call *kube_delete(struct kube_client *c, const struct kube_resource *r, const char *ns,
                              const char *name, const struct kube_delete_opts *opts,
                              kube_done_fn done, void *ud);

/*
 * Conflict-retry helper (client-go retry.RetryOnConflict around get-mutate-update).
 * Starting from cached (a possibly stale copy, e.g. from an informer; NULL = GET first),
 * call mutate on a private copy and PUT it (to /status when status is true). On 409
 * Conflict: GET the latest object, mutate again, PUT again, at most max_attempts PUTs in all
 * (0 = 5). done receives the final PUT's result (or the GET's, or mutate's failure).
 */
enum kube_mutate {
  KUBE_MUTATE_WRITE, /* obj was changed: write it */
  KUBE_MUTATE_SKIP,  /* nothing to do: done gets ENG_OK with the current object, no write */
  KUBE_MUTATE_FAIL   /* give up: done gets err->code and err->msg */
};
typedef enum kube_mutate (*kube_mutate_fn)(void *ud, json_t *obj, struct eng_error *err);

struct kube_call *kube_update_retry(struct kube_client *c, const struct kube_resource *r,
                                    const char *ns, const char *name, const json_t *cached,
                                    bool status, kube_mutate_fn mutate, void *mutate_ud,
                                    int max_attempts, kube_done_fn done, void *ud);

/* ---- low level ------------------------------------------------------------------------ */

struct kube_request {
  const char *method;       /* "GET", "POST", ... */
  const char *path;         /* "/api/v1/..." (no query) */
  const char *query;        /* "a=b&c=d" already escaped, or NULL */
  const char *content_type; /* for the body; NULL = application/json */
  const json_t *body;       /* NULL = no body */
  const char *what;         /* for messages: "update lease kube-system/x"; NULL = method + path */
};
struct kube_call *kube_request(struct kube_client *c, const struct kube_request *req,
                               kube_done_fn done, void *ud);

/* Map an HTTP status (and Status reason) to enum eng_err, as described above. */
enum eng_err kube_map_status(long status, const char *reason);

#endif
