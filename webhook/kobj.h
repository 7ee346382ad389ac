/*
 * kobj.h - small, pure helpers that edit Kubernetes objects held as jansson trees,
 * with the semantics of Gardener's webhook utilities (extensions/pkg/webhook):
 * "ensure" functions change an object only where it does not already conform, so
 * a conforming object gives an empty patch. Nothing here creates an empty list or
 * map that was absent unless it then puts something into it.
 */
#ifndef EQXM_KOBJ_H
#define EQXM_KOBJ_H

#include "engine/base/common.h"

#include "engine/base/err.h"

#include <jansson.h>

/* obj[key] as an object/array, created (and attached) when absent or null. Borrowed. */
json_t *kobj_object_member(json_t *obj, const char *key);
json_t *kobj_array_member(json_t *obj, const char *key);

/* The element of an array of objects whose string member key equals value, or NULL. */
json_t *kobj_find_by(const json_t *arr, const char *key, const char *value);
/* Index of that element, or -1. */
long kobj_index_by(const json_t *arr, const char *key, const char *value);

/* spec.template.spec of a Deployment/StatefulSet, NULL when absent. Borrowed. */
json_t *kobj_pod_spec(json_t *obj);
/* The container named name in podspec.containers (or initContainers), NULL if absent. */
json_t *kobj_container(json_t *podspec, const char *name);
json_t *kobj_init_container(json_t *podspec, const char *name);

/*
 * EnsureStringWithPrefix on container[field] ("command" or "args"): every item
 * starting with prefix becomes prefix+value; when none does, prefix+value is appended.
 */
void kobj_ensure_string_with_prefix(json_t *holder, const char *field, const char *prefix,
                                    const char *value);
/* EnsureStringWithPrefixContains: items with prefix contain value in their sep-list (appended if
 * missing); when no item has the prefix, prefix+value is appended. */
void kobj_ensure_string_with_prefix_contains(json_t *holder, const char *field, const char *prefix,
                                             const char *value, const char *sep);
/* EnsureNoStringWithPrefixContains: value is removed from the sep-list of every item with prefix.
 */
void kobj_ensure_no_string_with_prefix_contains(json_t *holder, const char *field,
                                                const char *prefix, const char *value,
                                                const char *sep);

/* EnsureEnvVarWithName semantics for a plain value: set the first env var named name to
 * {name, value} (dropping valueFrom), or append it. */
void kobj_ensure_env(json_t *container, const char *name, const char *value);
/* EnsureVolumeMountWithName / EnsureVolumeWithName: replace the item with item's name, or append.
 * item is copied. */
void kobj_ensure_named(json_t *holder, const char *field, const json_t *item);

/* Set metadata.annotations[key] = value on obj (a pod template or an object). */
void kobj_set_annotation(json_t *obj, const char *key, const char *value);

/* metadata.deletionTimestamp is set. */
bool kobj_deleting(const json_t *obj);

/* Name of obj (metadata.name), "" when absent. Borrowed. */
const char *kobj_name(const json_t *obj);
/*
 * Checksum of a Secret's data as Gardener's extensions library computes it (the
 * checksum/secret-cloudprovider annotation): sha256 hex of
 * json.Marshal(map[string][]byte) (keys sorted, values base64, "null" when there
 * is no data). secret is the Secret object as the apiserver returns it.
 * out must hold 65 bytes. ENG_INVALID when data is not a map of base64 strings.
 */
enum eng_err kobj_secret_checksum(const json_t *secret, char out[65],
                                  struct eng_error *err) WARN_UNUSED;

#endif
