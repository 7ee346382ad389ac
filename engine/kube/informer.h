/*
 * informer.h - list+watch of one resource into a local cache, following client-go's
 * Reflector (docs/kubernetes-client.md, "Watch and relist"):
 *
 *   LIST (resourceVersion "0", pages handled as they arrive) -> update the cache, then drop
 *   what the complete list lacked -> WATCH from the list's RV with
 *   bookmarks and a random 5-10 min timeout -> apply events, remember the last RV ->
 *   on EOF re-watch from the last RV; on 410 Expired/Gone (HTTP 410 or an ERROR event in a
 *   200 stream) relist with RV = last RV; if that list is itself 410, relist with RV "".
 *   Failures back off 800 ms doubling to 30 s with jitter (reset after 2 min healthy);
 *   429 waits at least the server's Retry-After.
 *
 * The cache is keyed by namespace/name and holds the objects as received (unredacted:
 * the executor reads credentials from it). Lookups are borrowed: valid until control
 * returns to the loop. Handlers run on the loop, after the cache was updated.
 *
 * Journal: every observation becomes one struct jevent on the sink (source "kube"):
 *   kube.added / kube.modified / kube.deleted  payload = the object, resource_version = its RV
 *   kube.relisted   after each complete list; resource_version = the list's RV, payload =
 *                   {"resource","namespace","count","added","modified","deleted","initial"}
 * A relist emits added/modified/deleted only for what changed against the cache (objects
 * gone from the list are reported deleted with their last known state). Bookmarks are
 * not journaled unless journal_bookmarks is set (they carry no object; the next event's
 * RV supersedes them).
 */
#ifndef EQXM_KUBE_INFORMER_H
#define EQXM_KUBE_INFORMER_H

#include "engine/base/common.h"
#include "engine/base/err.h"
#include "engine/journal/event.h"
#include "engine/kube/backoff.h"
#include "engine/kube/client.h"

#include <jansson.h>

struct kube_informer;

struct kube_informer_handlers {
  void (*on_add)(void *ud, const json_t *obj);
  void (*on_update)(void *ud, const json_t *old_obj, const json_t *new_obj);
  void (*on_delete)(void *ud, const json_t *last_obj); /* last known state */
  void (*on_synced)(void *ud);                         /* after every complete list */
};

struct kube_informer_opts {
  const struct kube_resource *res; /* required; must outlive the informer */
  const char *ns;                  /* NULL/"" = all namespaces (or cluster-scoped) */
  const char *label_selector;      /* NULL = none */
  const char *field_selector;      /* NULL = none */
  long page_size;                  /* list page size; 0 = 100 (pages are handled one at a time) */
  long watch_timeout_s;            /* 0 = random in [300, 600] like client-go */
  size_t max_event_bytes;          /* 0 = BUF_MAX_WATCH_EVENT */
  struct kube_informer_handlers handlers;
  void *ud;
  struct jevent_sink sink; /* fn NULL = no journaling */
  bool journal_bookmarks;
  /* Cache only {apiVersion, kind, metadata {name, namespace, uid, resourceVersion}} of each
   * object: for informers that journal and notify but whose cache nobody reads (relists still
   * find additions, changes and deletions). Handlers get the whole new object; the old one of
   * on_update and the last one of a relist's on_delete (and its kube.deleted event) are then
   * that summary. kube_informer_get()/foreach() see summaries. */
  bool cache_metadata_only;
  kube_backoff_rand_fn rand_fn; /* NULL = default; for backoff jitter and watch timeouts */
  void *rand_ud;
  long backoff_initial_ms; /* 0 = 800 */
  long backoff_max_ms;     /* 0 = 30000 */
};

struct kube_informer_stats {
  uint64_t lists; /* complete lists */
  uint64_t list_errors;
  uint64_t watches;      /* watch requests started */
  uint64_t watch_errors; /* watches that ended in an error other than 410 */
  uint64_t expired;      /* 410 Expired/Gone seen (HTTP or ERROR event) */
  uint64_t events;       /* ADDED/MODIFIED/DELETED applied */
  uint64_t bookmarks;
};

/* The options are copied (strings too). The informer does nothing until started. */
struct kube_informer *kube_informer_new(struct kube_client *c, const struct kube_informer_opts *o);
void kube_informer_start(struct kube_informer *inf);
/* Cancel the running list/watch and timers; the cache stays readable. Idempotent. */
void kube_informer_stop(struct kube_informer *inf);
/* Stop and free everything. NULL is allowed. Not from inside one of its own handlers. */
void kube_informer_free(struct kube_informer *inf);

/* True once the first list was applied. */
bool kube_informer_has_synced(const struct kube_informer *inf);
/* Borrowed object or NULL. ns ignored ("" used) for cluster-scoped resources. */
const json_t *kube_informer_get(const struct kube_informer *inf, const char *ns, const char *name);
size_t kube_informer_len(const struct kube_informer *inf);
/* Visit every cached object; return false from fn to stop early. Do not modify the cache. */
typedef bool (*kube_informer_each_fn)(void *ud, const json_t *obj);
void kube_informer_foreach(const struct kube_informer *inf, kube_informer_each_fn fn, void *ud);
/* The last resourceVersion seen (list, event or bookmark); "" before the first list. */
const char *kube_informer_last_rv(const struct kube_informer *inf);
void kube_informer_get_stats(const struct kube_informer *inf, struct kube_informer_stats *out);
const struct kube_resource *kube_informer_resource(const struct kube_informer *inf);

#endif
