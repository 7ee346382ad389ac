/*
 * metal_int.h - what the files of the Equinix Metal client share: the operation
 * object, the request pipeline and the paginated listing. Not for other modules.
 *
 * An operation (struct metal_op) is one user-visible call. It sends one request
 * at a time with metal_op_send(); the pipeline queues it behind the client's
 * token bucket, retries what may be retried (429 after the pause; GET/DELETE on
 * 5xx, timeouts and resets, with backoff) and then hands the outcome to the
 * operation's step function, which either sends the next request or ends the
 * operation with metal_op_finish().
 */
#ifndef EQXM_METAL_INT_H
#define EQXM_METAL_INT_H

#include "engine/base/common.h"
#include "engine/base/err.h"
#include "providers/equinix-metal/api/metal_bucket.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "providers/equinix-metal/api/metal_errors.h"

#include <ev.h>
#include <jansson.h>

/* Outcome of one request after the pipeline's retries. */
struct metal_resp {
  enum eng_err code; /* ENG_OK for a 2xx answer; otherwise op->err holds the detail */
  long status;       /* HTTP status, 0 without an answer */
  json_t *json;      /* parsed 2xx body, NULL when empty (204); borrowed */
};

typedef void (*metal_step_fn)(struct metal_op *op, const struct metal_resp *r);
typedef void (*metal_then_fn)(struct metal_op *op);

struct metal_client {
  struct ev_loop *loop;
  struct http_client *http;
  bool own_http;
  char *base; /* base URL without trailing '/' */
  char *project;
  char *auth_hdr; /* "X-Auth-Token: <token>": a secret */
  char *ca_path;
  double rate, burst;
  long timeout_ms, connect_timeout_ms;
  unsigned per_page, max_pages, max_inflight;
  int max_retries, max_rl_retries, max_create_attempts;
  long retry_base_ms, retry_max_ms, rl_pause_ms, max_pause_ms, settle_ms;
  struct metal_bucket bucket;
  ev_timer wake; /* fires when the bucket has a token for the queue head */
  /* One FIFO per priority (enum metal_priority); dispatch takes from the most urgent. */
  struct metal_op *qhead[METAL_PRIORITIES], *qtail[METAL_PRIORITIES];
  size_t nqueued[METAL_PRIORITIES];
  unsigned inflight_bg; /* background requests in flight */
  void *poll_group;     /* the device poll group of this client (observe/metal_poller.c) */
  unsigned inflight;
  struct metal_op *ops; /* every live operation */
  size_t nops;
  uint64_t requests;
};

struct metal_item_digest {
  char *id;
  uint8_t digest[METAL_ITEM_DIGEST_LEN];
};

struct metal_op {
  struct metal_client *c;
  struct metal_op *prev, *next; /* c->ops */
  struct metal_op *qnext;       /* c->qhead queue */
  bool queued;
  int prio;  /* enum metal_priority, or -1: by method (GET = READ, others MUTATE) */
  int qprio; /* the queue op is in while queued; the class of its request in flight */
  metal_done_fn cb;
  void *ud;
  bool in_cb;
  char *what;              /* operator description of the operation */
  char *plan, *metro, *os; /* error context of device creation */

  /* the request in progress */
  char *method, *path, *body;
  bool idempotent;
  unsigned attempts;    /* retries after 5xx/timeouts so far */
  unsigned ratelimited; /* retries after 429 so far */
  metal_step_fn step;
  struct http_call *call;
  ev_timer timer; /* backoff, settle waits, deferred completion */
  metal_then_fn timer_fn;

  /* paginated listing in progress */
  char *list_path;
  const char *list_key;
  unsigned list_page;
  json_t *list_items; /* array of the objects read so far (new ids only) */
  json_t *list_seen;  /* object used as a set of ids */
  metal_then_fn list_done;
  metal_then_fn list_page_fn;          /* set: runs after each page, then list_items is emptied */
  metal_device_page_fn device_page_cb; /* metal_device_list_paged() */
  metal_list_skip_fn list_skip;        /* paged listings only: see metal_op_set_list_skip() */
  void *list_skip_ud;
  /* the page being handled: ids of the items left out, digests of the items kept */
  char **list_skipped;
  size_t nlist_skipped;
  struct metal_item_digest *list_digests;
  size_t nlist_digests;

  /* outcome */
  struct eng_error err;
  struct metal_result res;
  struct eng_error saved_err; /* ensure: the ambiguous create failure being settled */

  /* storage the result points into */
  struct metal_device device;
  struct metal_device_list devices;
  struct metal_sshkey sshkey;
  struct metal_sshkey_list sshkeys;
  struct metal_ip_list ips;

  /* ensure */
  char tag[METAL_TAG_MAX + 1];
  char *label, *pubkey;
  json_t *create_body;
  int creates;
};

/* New operation linked into c; what is copied. */
struct metal_op *metal_op_new(struct metal_client *c, const char *what, metal_done_fn cb, void *ud);
/* Send a request for op: path relative to the base URL ("/devices/x?include=..."), body stolen
 * (NULL = none). idempotent allows the pipeline's retries on 5xx, timeouts and resets. */
void metal_op_send(struct metal_op *op, const char *method, const char *path, json_t *body,
                   bool idempotent, metal_step_fn step);
/* Read every page of a list at path (which may carry a query); key names the array member
 * ("devices"). Afterwards then() runs with op->list_items set, or op->err set on failure. */
void metal_op_list(struct metal_op *op, const char *path, const char *key, metal_then_fn then);
/* Like metal_op_list(), but page_fn runs after each page with op->list_items holding that page's
 * new objects, which are dropped afterwards; page_fn may set op->err to end the listing. */
void metal_op_list_paged(struct metal_op *op, const char *path, const char *key,
                         metal_then_fn page_fn, metal_then_fn then);
/* metal_listskip.c: the page body with the items op's skip function left out (caller frees;
 * *out_len set), or NULL to parse the body as it came. Records the page's skipped ids and kept
 * digests in op until the next page or metal_list_page_reset(). */
char *metal_list_prefilter(struct metal_op *op, const char *body, size_t len, size_t *out_len);
void metal_list_page_reset(struct metal_op *op);
/* The digest of the kept item id of the current page, or NULL. */
const uint8_t *metal_list_digest_of(const struct metal_op *op, const char *id);
/* Run fn after ms on the loop (0 = next iteration). */
void metal_op_after(struct metal_op *op, long ms, metal_then_fn fn);
/* Deliver op->res with op->err (ENG_OK or an error) to the callback, then free op. */
void metal_op_finish(struct metal_op *op);
/* Finish on the next loop iteration (for errors found before anything was sent). */
void metal_op_finish_later(struct metal_op *op);
/* op->err = "<what> failed: the API answered HTTP <status> with <why>" (ENG_PROTOCOL). */
void metal_op_bad_reply(struct metal_op *op, long status, const char *why);
void metal_op_ctx(const struct metal_op *op, struct metal_err_ctx *ctx);
/* Percent-encoded copy of s for a path segment or query value; caller frees. */
char *metal_esc(const char *s);

/*
 * One request on one object: an operation named "<verb> <noun> <id>" sending
 * METHOD <collection>/<escaped id><suffix> (suffix: "" or "?query"). An empty id
 * finishes it with ENG_INVALID "... failed: no <noun> id was given".
 */
struct metal_op *metal_op_on_id(struct metal_client *c, const char *verb, const char *noun,
                                const char *method, const char *collection, const char *id,
                                const char *suffix, metal_step_fn step, metal_done_fn cb, void *ud);
/* The step of every DELETE: 404 means already gone (result.gone), which is success. */
void metal_delete_step(struct metal_op *op, const struct metal_resp *r);

#endif
