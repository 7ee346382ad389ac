/*
 * admission_fuzz.c - libFuzzer target for the AdmissionReview decoder and everything
 * that runs on a decoded review: every webhook's mutation (with a fixed context)
 * and the validation. Invariants: no crash, no leak; a mutation's JSON patch applied
 * to the admitted object gives exactly the mutated object; responses are JSON.
 */
#include "engine/base/common.h"
#include "engine/base/jsonx.h"
#include "webhook/admission.h"
#include "webhook/fielderr.h"
#include "webhook/jsonpatch.h"
#include "providers/equinix-metal/webhook/registry.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char cluster_json[] =
    "{\"spec\":{\"shoot\":{\"metadata\":{\"name\":\"s\"},\"spec\":{\"provider\":{\"workers\":[{"
    "\"name\":\"w\","
    "\"machine\":{\"image\":{\"name\":\"flatcar\"}},\"volume\":{\"size\":\"1Gi\"}}]}}}}}";
static const char infra_json[] = "{\"status\":{\"nodesCIDR\":\"10.0.0.0/16,10.1.0.0/16\"}}";
static const char profile_json[] =
    "{\"regions\":[{\"name\":\"ny\",\"zones\":[{\"name\":\"ny5\"}]}],\"machineTypes\":[{\"name\":"
    "\"c3.small\"}],"
    "\"providerConfig\":{\"apiVersion\":\"equinixmetal.provider.extensions.gardener.cloud/"
    "v1alpha1\",\"kind\":"
    "\"CloudProfileConfig\",\"machineImages\":[{\"name\":\"flatcar\",\"versions\":[{\"version\":"
    "\"1\",\"id\":\"f\"}]}]}}";

static void check_mutation(const struct wh_def *d, const struct admission_request *req,
                           const struct wh_context *ctx) {
  json_t *copy = json_deep_copy(req->object);
  struct eng_error err;
  if (d->mutate(copy, req, ctx, &err) == ENG_OK) {
    json_t *patch = jsonpatch_diff(req->object, copy);
    json_t *doc = json_deep_copy(req->object);
    if (jsonpatch_apply(&doc, patch, &err) != ENG_OK || !json_equal(doc, copy))
      abort();
    char *resp = admission_response_allow(req, patch, NULL);
    if (!resp)
      abort();
    free(resp);
    json_decref(doc);
    json_decref(patch);
  } else {
    char *resp = admission_response_deny(req, 403, err.msg);
    free(resp);
  }
  json_decref(copy);
}

/* Every webhook of the table, the way the server calls it (needs, then mutate or validate). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static json_t *cluster, *infra, *profile;
  static void *config;
  const struct wh_set *set = metal_webhooks();
  if (!cluster) {
    xalloc_init();
    struct eng_error e;
    cluster = jsonx_parse(cluster_json, strlen(cluster_json), "c", &e);
    infra = jsonx_parse(infra_json, strlen(infra_json), "i", &e);
    profile = jsonx_parse(profile_json, strlen(profile_json), "p", &e);
    if (set->config_load(NULL, &config, &e) != ENG_OK)
      abort();
  }
  const struct wh_context ctx = {.cluster = cluster,
                                 .infrastructure = infra,
                                 .cloudprovider_checksum = "0123",
                                 .cloudprofile_spec = profile,
                                 .config = config};
  struct admission_request req;
  struct eng_error err;
  if (admission_decode((const char *)data, size, &req, &err) == ENG_OK && req.object) {
    for (size_t i = 0; i < set->ndefs; i++) {
      const struct wh_def *d = &set->defs[i];
      if (!wh_def_has_kind(d, req.group, req.version, req.kind))
        continue;
      struct wh_needs needs = {0};
      if (d->needs)
        d->needs(&req, &needs);
      if (needs.allow || needs.deny)
        continue;
      if (d->validating) {
        struct fielderr_list l = {0};
        json_t *w = json_array();
        d->validate(&req, &ctx, &l, w);
        char *m = fielderr_message(&l);
        free(m);
        fielderr_release(&l);
        json_decref(w);
      } else {
        check_mutation(d, &req, &ctx);
      }
    }
  }
  admission_request_release(&req);
  return 0;
}
