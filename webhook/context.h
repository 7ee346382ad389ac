/*
 * context.h - what a mutation or validation needs to know beyond the admitted
 * object, fetched asynchronously through the kube client and cached briefly.
 *
 *   Cluster        extensions.gardener.cloud/v1alpha1 clusters/<namespace> (seed)
 *   Infrastructure the shoot's Infrastructure <cluster.spec.shoot.metadata.name> (seed)
 *   cloudprovider  the sha256 checksum of Secret <namespace>/cloudprovider (seed);
 *                  only the checksum is kept, never the Secret's data
 *   CloudProfile   core.gardener.cloud/v1beta1 cloudprofiles/<name>, or a
 *                  NamespacedCloudProfile's status.cloudProfileSpec (garden)
 *
 * Entries live for ttl_ms (found or not found); concurrent requests for the same
 * entry share one API call. Errors other than "not found" are not cached.
 * A failed lookup ends the fetch with a denial message in the Go original's
 * words ("failed to get <shoot> infrastructure: ...").
 */
#ifndef EQXM_WEBHOOK_CONTEXT_H
#define EQXM_WEBHOOK_CONTEXT_H

#include "engine/base/common.h"
#include "definition.h"

#include <jansson.h>

struct kube_client;
struct wh_ctx_cache;
struct wh_fetch;

struct wh_fetched {
  const json_t *cluster; /* borrowed, valid during the callback */
  const json_t *infrastructure;
  const json_t *cloudprofile_spec;
  const char *cloudprovider_checksum;
  bool failed; /* the fetch failed; deny with message */
  const char *message;
};

typedef void (*wh_fetch_done_fn)(void *ud, const struct wh_fetched *f);

struct wh_ctx_cache *wh_ctx_cache_new(struct kube_client *seed, struct kube_client *garden,
                                      long ttl_ms);
/* Cancel every API call; pending fetches must have been canceled before. */
void wh_ctx_cache_free(struct wh_ctx_cache *c);

/*
 * Fetch what needs asks for (WH_NEED_* bits, definition.h). ns is the
 * admitted object's namespace; cp_kind/cp_name/cp_ns name the CloudProfile for
 * WH_NEED_CLOUDPROFILE. done runs exactly once from the loop unless canceled.
 */
struct wh_fetch *wh_fetch_start(struct wh_ctx_cache *c, unsigned needs, const char *ns,
                                const char *cp_kind, const char *cp_name, wh_fetch_done_fn done,
                                void *ud);
void wh_fetch_cancel(struct wh_fetch *f);

#endif
