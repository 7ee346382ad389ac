/*
 * registration.c - MutatingWebhookConfiguration / ValidatingWebhookConfiguration
 * and the shoot webhooks ManagedResource, as JSON.
 */
#include "engine/base/common.h"
#include "registration.h"

#include "engine/base/b64.h"
#include "engine/base/sha256.h"
#include "engine/base/xalloc.h"
#include "engine/base/yamlconv.h"

#include <stdlib.h>
#include <string.h>

json_t *registration_client_config(const char *path, const char *mode,
                                   const struct registration_params *p) {
  json_t *cc = json_object();
  if (!strcmp(mode, WH_MODE_URL)) {
    char *u = xasprintf("https://%s%s", p->url ? p->url : "", path);
    json_object_set_new(cc, "url", json_string(u));
    free(u);
  } else if (!strcmp(mode, WH_MODE_URL_SERVICE)) {
    char *u = xasprintf("https://%s.%s:%ld%s", p->set->extension_name, p->ns ? p->ns : "",
                        p->service_port, path);
    json_object_set_new(cc, "url", json_string(u));
    free(u);
  } else {
    json_t *svc = json_object();
    json_object_set_new(svc, "namespace", json_string(p->ns ? p->ns : ""));
    json_object_set_new(svc, "name", json_string(p->set->extension_name));
    json_object_set_new(svc, "path", json_string(path));
    json_object_set_new(svc, "port", json_integer(p->service_port));
    json_object_set_new(cc, "service", svc);
  }
  if (p->ca_bundle && *p->ca_bundle) {
    char *b = b64_encode(p->ca_bundle, strlen(p->ca_bundle));
    json_object_set_new(cc, "caBundle", json_string(b));
    free(b);
  }
  return cc;
}

static json_t *selector_in(const char *key, const char *value) {
  json_t *expr = json_object();
  json_object_set_new(expr, "key", json_string(key));
  json_object_set_new(expr, "operator", json_string("In"));
  json_object_set_new(expr, "values", json_pack("[s]", value));
  json_t *sel = json_object();
  json_object_set_new(sel, "matchExpressions", json_pack("[o]", expr));
  return sel;
}

static json_t *build_webhook(const struct wh_def *d, const char *mode,
                             const struct registration_params *p) {
  json_t *w = json_object();
  char *name = xasprintf("%s%s", d->name, p->set->name_suffix);
  json_object_set_new(w, "name", json_string(name));
  free(name);
  json_object_set_new(w, "admissionReviewVersions", json_pack("[ss]", "v1", "v1beta1"));
  json_object_set_new(w, "clientConfig", registration_client_config(d->path, mode, p));
  json_object_set_new(w, "failurePolicy", json_string(d->failure_policy));
  json_object_set_new(w, "matchPolicy", json_string("Exact"));
  json_object_set_new(w, "sideEffects", json_string("None"));
  json_object_set_new(w, "timeoutSeconds", json_integer(10));
  if (d->ns_selector_key)
    json_object_set_new(w, "namespaceSelector",
                        selector_in(d->ns_selector_key, d->ns_selector_value));
  if (d->obj_selector_key) {
    json_t *ml = json_object();
    json_object_set_new(ml, d->obj_selector_key, json_string(d->obj_selector_value));
    json_object_set_new(w, "objectSelector", json_pack("{s:o}", "matchLabels", ml));
  }
  json_t *rules = json_array();
  for (size_t i = 0; i < d->ntypes; i++) {
    const struct wh_type *t = &d->types[i];
    json_array_append_new(rules, json_pack("{s:[ss],s:[s],s:[s],s:[s]}", "operations", "CREATE",
                                           "UPDATE", "apiGroups", t->group, "apiVersions",
                                           t->version, "resources", t->resource));
  }
  json_object_set_new(w, "rules", rules);
  return w;
}

char *registration_config_name(const struct wh_set *set, enum wh_target target) {
  return xasprintf("%s%s", set->extension_name,
                   target == WH_TARGET_SEED    ? ""
                   : target == WH_TARGET_SHOOT ? "-shoot"
                                               : "-admission");
}

json_t *registration_build(enum wh_target target, const struct registration_params *p) {
  json_t *hooks = json_array();
  const char *mode = p->mode && *p->mode ? p->mode : WH_MODE_SERVICE;
  if (target == WH_TARGET_SHOOT && strcmp(mode, WH_MODE_URL))
    mode = WH_MODE_URL_SERVICE;
  bool validating = target == WH_TARGET_GARDEN;
  for (size_t i = 0; i < p->set->ndefs; i++) {
    if (p->set->defs[i].target != target || (p->enabled && !p->enabled[i]))
      continue;
    json_array_append_new(hooks, build_webhook(&p->set->defs[i], mode, p));
  }
  if (json_array_size(hooks) == 0) {
    json_decref(hooks);
    return NULL;
  }
  char *name = registration_config_name(p->set, target);
  json_t *md = json_object();
  json_object_set_new(md, "name", json_string(name));
  free(name);
  json_object_set_new(md, "labels", json_pack("{s:s}", WH_LABEL_EXCLUDE_REMEDIATION, "true"));
  if (target == WH_TARGET_SEED && p->owner_ns && *p->owner_ns && p->owner_ns_uid &&
      *p->owner_ns_uid) {
    json_object_set_new(md, "ownerReferences",
                        json_pack("[{s:s,s:s,s:s,s:s,s:b,s:b}]", "apiVersion", "v1", "kind",
                                  "Namespace", "name", p->owner_ns, "uid", p->owner_ns_uid,
                                  "controller", 1, "blockOwnerDeletion", 0));
  }
  json_t *cfg = json_object();
  json_object_set_new(cfg, "apiVersion", json_string("admissionregistration.k8s.io/v1"));
  json_object_set_new(
      cfg, "kind",
      json_string(validating ? "ValidatingWebhookConfiguration" : "MutatingWebhookConfiguration"));
  json_object_set_new(cfg, "metadata", md);
  json_object_set_new(cfg, "webhooks", hooks);
  return cfg;
}

json_t *registration_shoot_managed_resource(const char *ns, const json_t *shoot_config,
                                            json_t **secret_out) {
  const char *name =
      json_string_value(json_object_get(json_object_get(shoot_config, "metadata"), "name"));
  const char *kind = json_string_value(json_object_get(shoot_config, "kind"));
  char *lower_kind = xstrdup(kind ? kind : "");
  for (char *c = lower_kind; *c; c++)
    if (*c >= 'A' && *c <= 'Z')
      *c = (char)(*c - 'A' + 'a');
  char *key = xasprintf("admissionregistration.k8s.io/v1, kind=%s____%s.yaml", lower_kind,
                        name ? name : "");
  free(lower_kind);
  size_t yl = 0;
  char *yaml = yamlconv_emit(shoot_config, &yl, NULL);
  char *b64 = b64_encode(yaml ? yaml : "", yaml ? yl : 0);
  free(yaml);
  /* Name suffix: like Gardener's MakeUnique, the checksum of json.Marshal(data). */
  json_t *data = json_object();
  json_object_set_new(data, key, json_string(b64));
  char *canon = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
  char hex[SHA256_HEX_LEN + 1];
  sha256_hex(canon, strlen(canon), hex);
  free(canon);
  hex[8] = '\0';
  char *secret_name = xasprintf("%s-%s", WH_SHOOT_MR_NAME, hex);
  json_t *secret = json_object();
  json_object_set_new(secret, "apiVersion", json_string("v1"));
  json_object_set_new(secret, "kind", json_string("Secret"));
  json_object_set_new(secret, "metadata",
                      json_pack("{s:s,s:s,s:{s:s}}", "name", secret_name, "namespace", ns, "labels",
                                "resources.gardener.cloud/garbage-collectable-reference", "true"));
  json_object_set_new(secret, "type", json_string("Opaque"));
  json_object_set_new(secret, "immutable", json_true());
  json_object_set_new(secret, "data", data);
  json_t *mr = json_object();
  json_object_set_new(mr, "apiVersion", json_string("resources.gardener.cloud/v1alpha1"));
  json_object_set_new(mr, "kind", json_string("ManagedResource"));
  json_object_set_new(mr, "metadata",
                      json_pack("{s:s,s:s}", "name", WH_SHOOT_MR_NAME, "namespace", ns));
  json_object_set_new(mr, "spec", json_pack("{s:[{s:s}]}", "secretRefs", "name", secret_name));
  free(secret_name);
  free(key);
  free(b64);
  *secret_out = secret;
  return mr;
}
