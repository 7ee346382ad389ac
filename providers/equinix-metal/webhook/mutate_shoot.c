/*
 * mutate_shoot.c - the /shoot webhook of the Go original (pkg/webhook/shoot): in
 * the shoot's kube-system, the vpn-shoot Deployment (object selector app=vpn-shoot)
 * gets the "metabot" init container, which writes the node's private network to
 * /init-config/nodeNetwork on a shared emptyDir volume that vpn-shoot mounts too.
 */
#include "engine/base/common.h"
#include "mutate.h"

#include "webhook/kobj.h"

#include <string.h>

#define METABOT       "metabot"
#define SHARED_VOLUME "shared-init-config"
#define SHARED_PATH   "/init-config"

unsigned mutate_shoot_needs(const struct admission_request *req) {
  (void)req;
  return 0;
}

static json_t *volume_mount(void) {
  json_t *vm = json_object();
  json_object_set_new(vm, "name", json_string(SHARED_VOLUME));
  json_object_set_new(vm, "mountPath", json_string(SHARED_PATH));
  return vm;
}

enum eng_err mutate_shoot(json_t *obj, const struct admission_request *req,
                          const struct mutate_ctx *ctx, struct eng_error *err) {
  if (strcmp(req->group, "apps") || strcmp(req->kind, "Deployment"))
    return eng_error_set(err, ENG_INVALID, "wrong object type %s/%s, Kind=%s", req->group,
                         req->version, req->kind);
  if (kobj_deleting(obj))
    return ENG_OK;
  json_t *ps =
      kobj_object_member(kobj_object_member(kobj_object_member(obj, "spec"), "template"), "spec");
  if (kobj_init_container(ps, METABOT))
    return ENG_OK;
  json_t *vm = volume_mount();
  json_t *init = json_object();
  json_object_set_new(init, "name", json_string(METABOT));
  json_object_set_new(
      init, "image",
      json_string(ctx->metabot_image ? ctx->metabot_image : MUTATE_DEFAULT_METABOT_IMAGE));
  json_t *args = json_array();
  static const char *const argv[] = {
      "ip", "4", "private", "parent", "network", "--out", SHARED_PATH "/nodeNetwork"};
  for (size_t i = 0; i < ARRAY_SIZE(argv); i++)
    json_array_append_new(args, json_string(argv[i]));
  json_object_set_new(init, "args", args);
  json_t *mounts = json_array();
  json_array_append(mounts, vm);
  json_object_set_new(init, "volumeMounts", mounts);
  json_array_append_new(kobj_array_member(ps, "initContainers"), init);
  json_t *c = kobj_container(ps, "vpn-shoot");
  if (c)
    kobj_ensure_named(c, "volumeMounts", vm);
  json_decref(vm);
  json_t *vol = json_object();
  json_object_set_new(vol, "name", json_string(SHARED_VOLUME));
  json_object_set_new(vol, "emptyDir", json_object());
  kobj_ensure_named(ps, "volumes", vol);
  json_decref(vol);
  return ENG_OK;
}
