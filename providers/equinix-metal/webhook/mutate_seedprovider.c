/*
 * mutate_seedprovider.c - the /seedprovider webhook of the Go original
 * (pkg/webhook/controlplaneexposure): storage of the control plane's etcds.
 *
 * etcd-main gets the storage class and capacity of the ControllerConfiguration
 * (etcd.storage.className/capacity; defaults gardener.cloud-fast and 25Gi);
 * every other etcd the ensurer sees (etcd-events, and the virtual garden's etcds)
 * gets class "" (the cluster default) and 10Gi, as in the Go original.
 */
#include "engine/base/common.h"
#include "mutate.h"

#include "webhook/kobj.h"

#include <string.h>

unsigned mutate_seedprovider_needs(const struct admission_request *req) {
  (void)req;
  return 0;
}

static bool is_etcd_name(const char *name) {
  return !strcmp(name, "etcd-main") || !strcmp(name, "etcd-events") ||
         !strcmp(name, "virtual-garden-etcd-main") || !strcmp(name, "virtual-garden-etcd-events");
}

static void set_string(json_t *obj, const char *key, const char *value) {
  const char *cur = json_string_value(json_object_get(obj, key));
  if (!cur || strcmp(cur, value))
    json_object_set_new(obj, key, json_string(value));
}

enum eng_err mutate_seedprovider(json_t *obj, const struct admission_request *req,
                                 const struct mutate_ctx *ctx, struct eng_error *err) {
  if (kobj_deleting(obj))
    return ENG_OK;
  if (!strcmp(req->group, "apps") && !strcmp(req->kind, "Deployment"))
    return ENG_OK; /* registered by the Go original, but nothing is changed */
  if (strcmp(req->group, "druid.gardener.cloud") || strcmp(req->kind, "Etcd"))
    return eng_error_set(err, ENG_INVALID, "unexpected request kind %s/%s, Kind=%s", req->group,
                         req->version, req->kind);
  const char *name = kobj_name(obj);
  if (!is_etcd_name(name))
    return ENG_OK;
  const char *cls = "", *cap = "10Gi";
  if (!strcmp(name, "etcd-main")) {
    cls = ctx->etcd_class ? ctx->etcd_class : MUTATE_DEFAULT_ETCD_CLASS;
    cap = ctx->etcd_capacity ? ctx->etcd_capacity : MUTATE_DEFAULT_ETCD_CAPACITY;
  }
  json_t *spec = kobj_object_member(obj, "spec");
  set_string(spec, "storageClass", cls);
  set_string(spec, "storageCapacity", cap);
  return ENG_OK;
}
