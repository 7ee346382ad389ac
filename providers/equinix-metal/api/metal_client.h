/*
 * metal_client.h - asynchronous Equinix Metal API client on the engine's libev loop.
 *
 * One struct metal_client per credentials set (API token + project UUID). All
 * operations are asynchronous: they queue HTTP requests behind a client-wide
 * token bucket (requests per second + burst), send them through engine/net/http.h
 * (libcurl multi on libev, never blocking), and report exactly once through a
 * completion callback:
 *
 *   static void on_dev(void *ud, const struct metal_result *r) {
 *     if (r->code) { report(r->err->msg, metal_gardener_code(r->err)); return; }
 *     use(r->device->id, r->device->state);
 *   }
 *   metal_device_get(client, "9c1e...", on_dev, ctx);
 *
 * Contract (every operation below):
 *  - The call never fails synchronously and never returns NULL. Invalid
 *    arguments are reported through the callback, on a later loop iteration.
 *  - The callback runs exactly once, from the loop, unless metal_op_cancel()
 *    or metal_client_free() ran first (then it never runs).
 *  - The struct metal_result and everything it points to are borrowed for the
 *    duration of the callback. Keep data with metal_device_dup(),
 *    metal_sshkey_dup(), json_incref(), or by copying strings.
 *  - The callback may start new operations on the same client and may cancel
 *    other operations; it must not free the client.
 *  - String arguments are copied; the caller may free them after the call.
 *
 * Errors are struct eng_error with an operator sentence naming the operation and
 * the object, the HTTP status (http_status) and a server-requested wait
 * (retry_after_ms). metal_gardener_code() maps them to Gardener error codes and
 * metal_retryable() says whether the same call may succeed later unchanged
 * (see metal_errors.h and docs/metal-client.md).
 *
 * Lists always read every page (meta.last_page / meta.next), capped by
 * max_pages, which ends with an ENG_PROTOCOL error instead of looping forever.
 *
 * The API token never appears in logs, errors or results: it is registered with
 * log_register_secret() and only ever sent as the X-Auth-Token header.
 */
#ifndef EQXM_METAL_CLIENT_H
#define EQXM_METAL_CLIENT_H

#include "engine/base/common.h"
#include "engine/base/err.h"
#include "engine/journal/event.h"
#include "providers/equinix-metal/api/metal_errors.h"
#include "providers/equinix-metal/api/metal_idempotency.h"

#include <jansson.h>
#include <stdint.h>

struct ev_loop;
struct http_client;
struct metal_client;
struct metal_op;

#define METAL_DEFAULT_BASE_URL "https://api.equinix.com/metal/v1"
#define METAL_USER_AGENT       "gardener-extension-provider-equinix-metal/" EQXM_VERSION
/* Bytes of a listing item's digest (the start of the SHA-256 of its JSON text). */
#define METAL_ITEM_DIGEST_LEN 16

/* ---- client handle ------------------------------------------------------------------------ */

/*
 * Options of a client. Zero (or NULL) selects the default named in the comment,
 * so `struct metal_client_opts o = {.token = t, .project_id = p};` is complete.
 */
struct metal_client_opts {
  const char *base_url;      /* default METAL_DEFAULT_BASE_URL; http:// only for tests */
  const char *ca_path;       /* PEM bundle for private endpoints and tests; NULL = system store */
  const char *token;         /* API token (required); copied, registered as a log secret */
  const char *project_id;    /* project UUID (required) */
  double rate;               /* requests per second for this client, default 10 */
  double burst;              /* token bucket size, default 20 */
  long timeout_ms;           /* one HTTP request, default 60000 */
  long connect_timeout_ms;   /* default 10000 */
  unsigned per_page;         /* page size of paginated lists, default 100 (API max 1000) */
  unsigned max_pages;        /* a list longer than this fails with ENG_PROTOCOL, default 1000 */
  int max_retries;           /* retries of GET/DELETE on 5xx, timeouts, connection errors;
                                default 3, negative = none */
  int max_ratelimit_retries; /* retries of any request after a 429 (each after the pause);
                                default 5, negative = none */
  long retry_base_ms;        /* first backoff of those retries (doubles each time), default 500 */
  long retry_max_ms;         /* longest backoff, default 30000 */
  long ratelimit_pause_ms;   /* pause after a 429 without Retry-After or X-RateLimit-Reset,
                                default 5000 */
  long max_pause_ms;         /* cap on any server-requested pause, default 300000 */
  unsigned max_inflight;     /* concurrent HTTP requests of this client, default 8 */
  long settle_ms;            /* wait after an ambiguous create before the confirming lookup,
                                default 2000 */
  int max_create_attempts;   /* POSTs one ensure may make (each after a lookup confirmed
                                absence), default 2 */
  struct http_client *http;  /* shared HTTP client on the same loop (borrowed); NULL = own */
};

/*
 * Create a client on loop. Fails (NULL, err set to ENG_CONFIG) when the token or
 * project is empty or the base URL is not http(s). The token is trimmed of
 * surrounding whitespace, like the Go original.
 */
struct metal_client *metal_client_new(struct ev_loop *loop, const struct metal_client_opts *opts,
                                      struct eng_error *err) WARN_UNUSED;
/* Cancel every operation still running (their callbacks never run) and free. NULL is allowed. */
void metal_client_free(struct metal_client *c);
struct ev_loop *metal_client_loop(const struct metal_client *c);
const char *metal_client_project(const struct metal_client *c);
/* HTTP requests sent so far (each retry counts), and operations still running. */
uint64_t metal_client_requests(const struct metal_client *c);
size_t metal_client_pending(const struct metal_client *c);

/*
 * Request priorities within one client (one project's rate limit). Queued requests are sent
 * most urgent first: mutations (POST, DELETE, PUT) before reads (GET) before background reads
 * (device polls), each in FIFO order. Background requests never hold more than half of the
 * client's in-flight slots, so a mutation always finds one soon. An operation's priority is
 * METAL_PRIO_MUTATE or METAL_PRIO_READ by the method of each request unless set.
 */
enum metal_priority { METAL_PRIO_MUTATE = 0, METAL_PRIO_READ = 1, METAL_PRIO_BACKGROUND = 2 };
#define METAL_PRIORITIES 3
/* Every later request of op (and its request now queued, if any) goes at prio. */
void metal_op_set_priority(struct metal_op *op, enum metal_priority prio);
/* Requests waiting for a token or slot at priority prio or more urgent. */
size_t metal_client_queued(const struct metal_client *c, enum metal_priority prio);
/* True while the client is paused after a 429 answer. */
bool metal_client_paused(const struct metal_client *c);
/* The configured requests per second of this client. */
double metal_client_rate(const struct metal_client *c);

/* Stop an operation: its callback never runs. NULL and finished operations must not be passed,
 * except from inside the operation's own callback, where it is a no-op. */
void metal_op_cancel(struct metal_op *op);

/* ---- decoded objects ---------------------------------------------------------------------- */

struct metal_ip {
  char *id; /* "" when absent */
  char *address;
  char *network;
  char *gateway;
  int address_family; /* 4 or 6, 0 when absent */
  int cidr;           /* -1 when absent */
  bool public_ip;
  bool management;
  char *parent_network; /* parent_block.network, "" when not included */
  int parent_cidr;      /* parent_block.cidr, -1 when not included */
};

struct metal_device {
  char *id;
  char *hostname;         /* "" when absent */
  char *state;            /* queued, provisioning, active, failed, ... */
  char *metro;            /* metro code, "" when absent */
  char *plan;             /* plan slug */
  char *operating_system; /* OS slug */
  char *billing_cycle;
  char *created_at;              /* RFC 3339 as received */
  char *hardware_reservation_id; /* "" when none */
  char *ipxe_script_url;         /* "" when none */
  char **tags;
  size_t ntags;
  struct metal_ip *ips;
  size_t nips;
  double provisioning_percentage; /* -1 when absent */
  bool locked;
  /* From a paged listing with a skip function: the digest of the item's JSON text. */
  bool has_item_digest;
  uint8_t item_digest[METAL_ITEM_DIGEST_LEN];
  /* The object as received (owned). It may hold userdata, customdata and root_password:
   * never log or journal it; journal metal_device_summary() instead. */
  json_t *raw;
};

struct metal_device_list {
  struct metal_device *items; /* sorted by id, no duplicates */
  size_t n;
  unsigned pages; /* pages read */
};

struct metal_sshkey {
  char *id;
  char *label;
  char *key; /* public key */
  char *fingerprint;
  char *created_at;
  char **tags;
  size_t ntags;
  json_t *raw;
};

struct metal_sshkey_list {
  struct metal_sshkey *items;
  size_t n;
  unsigned pages;
};

struct metal_ip_reservation {
  char *id;
  char *address;
  char *network;
  char *gateway;
  char *type;  /* public_ipv4, private_ipv4, public_ipv6, global_ipv4, vrf */
  char *state; /* "" when absent */
  char *metro; /* metro code, "" when absent */
  int address_family;
  int cidr;
  bool public_ip;
  bool management;
  char *parent_network; /* "" when not included */
  int parent_cidr;      /* -1 when not included */
  char **tags;
  size_t ntags;
  json_t *raw;
};

struct metal_ip_list {
  struct metal_ip_reservation *items;
  size_t n;
  unsigned pages;
};

/* Deep copies owned by the caller, and their destructors (NULL allowed). */
struct metal_device *metal_device_dup(const struct metal_device *d);
void metal_device_free(struct metal_device *d);
struct metal_device_list *metal_device_list_dup(const struct metal_device_list *l);
void metal_device_list_free(struct metal_device_list *l);
struct metal_sshkey *metal_sshkey_dup(const struct metal_sshkey *k);
void metal_sshkey_free(struct metal_sshkey *k);
void metal_sshkey_list_free(struct metal_sshkey_list *l);
void metal_ip_list_free(struct metal_ip_list *l);

/*
 * The stable summary of a device, as journaled by the poller: id, hostname,
 * state, tags (sorted), metro, plan, operating_system, billing_cycle,
 * hardware_reservation_id, locked, created_at, ips (sorted by address, each with
 * address, address_family, cidr, public, management and parent_block
 * {network,cidr} when known) and, while provisioning, provisioning_percentage
 * rounded down to a multiple of 10. No userdata, no timestamps that move on
 * their own (updated_at). New reference.
 */
json_t *metal_device_summary(const struct metal_device *d);
/* True for queued, provisioning, deprovisioning, reinstalling, powering_on, powering_off. */
bool metal_state_transitional(const char *state);

/* ---- results ------------------------------------------------------------------------------ */

struct metal_result {
  enum eng_err code;                       /* ENG_OK or the error class */
  const struct eng_error *err;             /* never NULL; code ENG_OK and "" on success */
  const struct metal_device *device;       /* device get, create, ensure */
  const struct metal_device_list *devices; /* device list, find */
  const struct metal_sshkey *sshkey;       /* sshkey get, create, ensure */
  const struct metal_sshkey_list *sshkeys; /* sshkey list */
  const struct metal_ip_list *ips;         /* ip list */
  bool adopted;      /* ensure: an object created earlier with this key was found and adopted */
  bool gone;         /* delete: the object did not exist (HTTP 404), which counts as success */
  bool key_differs;  /* sshkey ensure: the adopted key has the label but another public key */
  size_t duplicates; /* ensure: more than one object carried the key; the oldest was adopted */
  unsigned requests; /* HTTP requests this operation sent (retries included) */
};

typedef void (*metal_done_fn)(void *ud, const struct metal_result *res);

/* ---- devices ------------------------------------------------------------------------------ */

struct metal_device_spec {
  const char *idempotency_key;  /* required for ensure; becomes the tag metal_idem_tag(key) */
  const char *hostname;         /* required (not unique in Equinix Metal) */
  const char *metro;            /* required, metro code */
  const char *plan;             /* required, plan slug */
  const char *operating_system; /* OS slug; NULL with ipxe_script_url set = "custom_ipxe" */
  const char *ipxe_script_url;  /* NULL = none */
  bool always_pxe;
  const char *userdata;    /* NULL = none; never logged */
  const char *const *tags; /* extra tags (cluster, role), ntags entries */
  size_t ntags;
  const char *const *project_ssh_keys; /* project SSH key UUIDs, nkeys entries */
  size_t nkeys;
  const char *billing_cycle;           /* default "hourly" */
  const char *hardware_reservation_id; /* UUID or "next-available"; NULL = on demand */
  const char *description;             /* NULL = none */
};

/* GET /devices/{id}?include=ip_addresses.parent_block. 404 gives ENG_NOTFOUND. */
struct metal_op *metal_device_get(struct metal_client *c, const char *id, metal_done_fn cb,
                                  void *ud);
/* Every device of the project carrying tag (NULL = all), every page. Result: devices. */
struct metal_op *metal_device_list(struct metal_client *c, const char *tag, metal_done_fn cb,
                                   void *ud);
/*
 * The same listing, handed over page by page so that a large project is never held in memory
 * at once: on_page runs after each page with that page's devices (decoded, tag-checked, sorted
 * by id, not seen on earlier pages; borrowed for the call; it must not cancel the operation),
 * then cb runs once with result.devices empty (n = 0) and its pages count, or with the error
 * that ended the listing (pages already handed over remain valid observations).
 */
typedef void (*metal_device_page_fn)(void *ud, const struct metal_device_list *page);
struct metal_op *metal_device_list_paged(struct metal_client *c, const char *tag,
                                         metal_device_page_fn on_page, metal_done_fn cb, void *ud);
/*
 * Leave unchanged items out of a paged listing's parse (most of a poll, and most of its cost).
 * Before a page is parsed, skip runs for each item whose "id" is a plain string, with the id,
 * the item's JSON text and the digest of that text; true leaves the item out: the caller has
 * seen these very bytes before (it is told nothing more of the item, so it marks it seen
 * itself). Devices of the pages that are parsed carry their item_digest for the next round.
 * Items left out still count for the listing's paging and de-duplication.
 */
typedef bool (*metal_list_skip_fn)(void *ud, const char *id, const char *item, size_t len,
                                   const uint8_t digest[METAL_ITEM_DIGEST_LEN]);
void metal_op_set_list_skip(struct metal_op *op, metal_list_skip_fn skip, void *ud);
/* Items left out as unchanged over the process (a metric). */
uint64_t metal_list_items_skipped(void);
/* The devices carrying the idempotency tag of key (every page, exact match). Result: devices. */
struct metal_op *metal_device_find(struct metal_client *c, const char *key, metal_done_fn cb,
                                   void *ud);
/*
 * One POST /projects/{id}/devices, no lookup. With spec->idempotency_key the
 * key's tag is added. An ambiguous failure (timeout, reset, 5xx, unreadable
 * reply) may have created the device: prefer metal_device_ensure().
 */
struct metal_op *metal_device_create(struct metal_client *c, const struct metal_device_spec *spec,
                                     metal_done_fn cb, void *ud);
/*
 * Find-or-create by idempotency key: list devices tagged metal_idem_tag(key)
 * (all pages); adopt the oldest match (result.adopted, result.duplicates);
 * otherwise POST. After an ambiguous POST failure it waits settle_ms, looks up
 * again, adopts what it finds, and POSTs again only when that lookup confirmed
 * absence (at most max_create_attempts POSTs). Never POSTs without a preceding
 * successful lookup.
 */
struct metal_op *metal_device_ensure(struct metal_client *c, const struct metal_device_spec *spec,
                                     metal_done_fn cb, void *ud);
/* DELETE /devices/{id}; 404 is success with result.gone. */
struct metal_op *metal_device_delete(struct metal_client *c, const char *id, metal_done_fn cb,
                                     void *ud);

/* ---- project SSH keys --------------------------------------------------------------------- */

/* POST /projects/{id}/ssh-keys {label, key}. */
struct metal_op *metal_sshkey_create(struct metal_client *c, const char *label, const char *key,
                                     metal_done_fn cb, void *ud);
/* Every project SSH key (every page when the server paginates). Result: sshkeys. */
struct metal_op *metal_sshkey_list(struct metal_client *c, metal_done_fn cb, void *ud);
/* The project SSH keys the API's search (?query=label) finds: every key labelled label, maybe
 * others whose label, key or fingerprint contains it (callers compare the label). Result: sshkeys.
 */
struct metal_op *metal_sshkey_find(struct metal_client *c, const char *label, metal_done_fn cb,
                                   void *ud);
struct metal_op *metal_sshkey_get(struct metal_client *c, const char *id, metal_done_fn cb,
                                  void *ud);
/* DELETE /ssh-keys/{id}; 404 is success with result.gone. */
struct metal_op *metal_sshkey_delete(struct metal_client *c, const char *id, metal_done_fn cb,
                                     void *ud);
/*
 * Find-or-create by label (the label is the idempotency key): find the project's
 * keys by label (?query=), adopt the oldest with exactly this label (result.key_differs when its
 * public key is another one), else create; ambiguous failures are resolved by a
 * lookup like metal_device_ensure().
 */
struct metal_op *metal_sshkey_ensure(struct metal_client *c, const char *label, const char *key,
                                     metal_done_fn cb, void *ud);

/* ---- IP reservations ---------------------------------------------------------------------- */

/* GET /projects/{id}/ips?include=parent_block[&types=...], every page. types: comma-separated
 * (public_ipv4,private_ipv4,...) or NULL for all. Result: ips. */
struct metal_op *metal_ip_list(struct metal_client *c, const char *types, metal_done_fn cb,
                               void *ud);

/* ---- device poller ------------------------------------------------------------------------ */

struct metal_poller;

struct metal_poller_opts {
  const char *ns;    /* shoot namespace (required); devices tagged kubernetes.io/cluster/<ns> */
  long fast_ms;      /* interval while any device is transitional, default 10000 */
  long slow_ms;      /* interval while all are stable, default 60000 */
  long error_ms;     /* interval after a failed listing without Retry-After, default slow_ms */
  long set_every_ms; /* a metal.device-set marker at least this often, default 600000 */
};

/*
 * Observe the devices of one shoot. The pollers of one client form a group that
 * lists the project once per round (at METAL_PRIO_BACKGROUND, every page; with
 * the shoot's tag filter when the group has one member) and hands each poller
 * the devices carrying its cluster tag; the round's interval is the shortest any
 * member asks for, but at least the time the round's requests take at half the
 * client's rate. A round is deferred, 1 s doubling up to slow_ms, while the client
 * has mutations or reads queued or is paused after a 429 (metal_polls_deferred()).
 * The first poll starts on the next loop iteration (or right after the group's
 * round in progress). Each poll lists every page; for every device whose summary
 * (metal_device_summary) differs from the last one handed over, it emits
 *   {source "metal", type "metal.device", ns, name = hostname, uid = device id,
 *    payload = summary}
 * A device missing from a complete listing is confirmed with GET /devices/{id}
 * (listings can skip a device while others are deleted) and then reported with
 * payload {"id", "hostname", "state": "gone", "reason": "not-found" | "deleted" |
 * "untagged"}. A marker
 *   {type "metal.device-set", ns, payload {"devices": [{"id","state"}...] sorted by id,
 *    "complete": true}}
 * is emitted after the first poll, whenever the set of ids changes, and at least
 * every set_every_ms. A failed listing emits {type "metal.poll-error", payload
 * {"code","gardener_code","message","http_status"}} once per change of error
 * code, and nothing is concluded from it. sink is copied; it must outlive the poller.
 */
struct metal_poller *metal_poller_new(struct metal_client *c, const struct metal_poller_opts *opts,
                                      const struct jevent_sink *sink,
                                      struct eng_error *err) WARN_UNUSED;
/* Poll as soon as possible (e.g. after creating a device); a poll in progress is not repeated. */
void metal_poller_kick(struct metal_poller *p);
/* Stop and free (a listing in flight is canceled). NULL is allowed. Must be freed before its
 * client. */
void metal_poller_free(struct metal_poller *p);
/* Completed polls (successful or not), for tests and metrics. */
uint64_t metal_poller_polls(const struct metal_poller *p);
/* Poll rounds deferred so far in this process, because their client had mutations or reads
 * queued or was paused after a 429 (eqxm_metal_polls_deferred_total). */
uint64_t metal_polls_deferred(void);

#endif
