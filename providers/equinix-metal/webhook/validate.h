/*
 * validate.h - admission validation of Shoots and CloudProfiles of type
 * equinixmetal (core.gardener.cloud/v1beta1), pure (no I/O).
 *
 * The provider configs of §4.1 are decoded strictly: each must be a JSON object
 * with apiVersion equinixmetal.provider.extensions.gardener.cloud/v1alpha1, the
 * expected kind and no unknown fields, and its fields must have their types.
 * Then:
 *   CloudProfile: spec.providerConfig (CloudProfileConfig) is required; it lists
 *     at least one machine image, each with a name and at least one version; each
 *     version has a version and an id (OS slug) or an ipxeScriptUrl (http/https);
 *     names and versions are unique; every version in spec.machineImages has a
 *     mapping in the providerConfig.
 *   Shoot: infrastructureConfig and controlPlaneConfig (both TypeMeta only) and
 *     each worker's WorkerConfig decode; reservationIDs are UUIDs without
 *     duplicates; the region, each worker's machine type and zones exist in the
 *     CloudProfile; each worker's machine image name/version has a mapping in the
 *     CloudProfile's providerConfig.
 * Errors use Kubernetes field paths (fielderr.h). Warnings (strings appended to a
 * JSON array) point out accepted but surprising input.
 */
#ifndef EQXM_VALIDATE_H
#define EQXM_VALIDATE_H

#include "engine/base/common.h"
#include "webhook/admission.h"
#include "webhook/fielderr.h"

#include <jansson.h>

#define VALIDATE_PROVIDER_TYPE "equinixmetal"
#define VALIDATE_API_VERSION   "equinixmetal.provider.extensions.gardener.cloud/v1alpha1"

/* The webhook handles only core.gardener.cloud Shoots and CloudProfiles of our type. */
bool validate_applies(const struct admission_request *req);

/*
 * The CloudProfile a Shoot uses: spec.cloudProfile {kind, name} or the older
 * spec.cloudProfileName. *kind is "CloudProfile" or "NamespacedCloudProfile".
 * False when the Shoot names none.
 */
bool validate_shoot_cloudprofile(const json_t *shoot, const char **kind, const char **name);

/* cp_spec: CloudProfile.spec (or a NamespacedCloudProfile's status.cloudProfileSpec). */
void validate_shoot(const json_t *shoot, const json_t *cp_spec, const char *cp_name,
                    struct fielderr_list *errs, json_t *warnings);
void validate_cloudprofile(const json_t *cloudprofile, struct fielderr_list *errs,
                           json_t *warnings);

/* Strict checks of one provider config at path (exposed for tests). */
void validate_cloudprofile_config(const json_t *cfg, const char *path, struct fielderr_list *errs,
                                  json_t *warnings);
void validate_worker_config(const json_t *cfg, const char *path, struct fielderr_list *errs);
void validate_typemeta_only(const json_t *cfg, const char *path, const char *kind,
                            struct fielderr_list *errs);

/* RFC 4122 textual form, any version: 8-4-4-4-12 hex digits. */
bool validate_is_uuid(const char *s);

#endif
