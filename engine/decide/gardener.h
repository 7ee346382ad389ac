/*
 * gardener.h - the Gardener extension contract, as pure functions over objects.
 *
 * Mirrors gardener/gardener's extensions library (v1.128): operation types
 * (ComputeOperationType), the operation annotation, predicates, migration
 * skipping, failed-shoot skipping, force deletion, lastOperation/lastError
 * shapes and their exact description strings, and error codes.
 */
#ifndef EQXM_GARDENER_H
#define EQXM_GARDENER_H

#include "engine/base/common.h"
#include "engine/base/err.h"

#include <jansson.h>

#define GARDENER_ANNOTATION_OPERATION      "gardener.cloud/operation"
#define GARDENER_ANNOTATION_FORCE_DELETION "confirmation.gardener.cloud/force-deletion"
#define GARDENER_OP_RECONCILE              "reconcile"
#define GARDENER_OP_RESTORE                "restore"
#define GARDENER_OP_MIGRATE                "migrate"
#define GARDENER_OP_WAIT_FOR_STATE         "wait-for-state"

enum gardener_op { GOP_NONE = 0, GOP_CREATE, GOP_RECONCILE, GOP_DELETE, GOP_MIGRATE, GOP_RESTORE };

/* "Create", "Reconcile", "Delete", "Migrate", "Restore"; "" for GOP_NONE. */
const char *gardener_op_name(enum gardener_op op);
enum gardener_op gardener_op_parse(const char *s);

/* Value of the gardener.cloud/operation annotation, or NULL. Borrowed. */
const char *gardener_operation_annotation(const json_t *obj);
/* ComputeOperationType: migrate annotation, deletionTimestamp, restore annotation,
 * no lastOperation → Create, unfinished Create/Migrate/Restore repeated, else Reconcile. */
enum gardener_op gardener_compute_op_type(const json_t *obj);
/* lastOperation is a Succeeded Migrate. */
bool gardener_is_migrated(const json_t *obj);
/* ShouldSkipOperation: a migrated object is left alone except by Migrate/Restore. */
bool gardener_should_skip(enum gardener_op op, const json_t *obj);

/* The extension predicates (extensions/pkg/predicate/default.go). */
bool gardener_admit_first_sight(const json_t *obj, bool ignore_operation_annotation);
bool gardener_admit_update(const json_t *old_obj, const json_t *new_obj,
                           bool ignore_operation_annotation);

bool gardener_has_finalizer(const json_t *obj, const char *finalizer);
bool gardener_being_deleted(const json_t *obj);
/* Go's strconv.ParseBool. */
bool gardener_parse_bool(const char *s, bool *out);

/* Cluster (extensions.gardener.cloud Cluster) facts. NULL cluster → false. */
bool gardener_cluster_shoot_failed(const json_t *cluster);
bool gardener_cluster_force_delete(const json_t *cluster);
bool gardener_cluster_hibernated(const json_t *cluster);
/*
 * The part of a Cluster the extension reducers keep (a new object sharing its values with cluster,
 * which must not change; caller owns it): its name and
 * annotations; of the shoot its name, namespace, uid, annotations, labels, the whole spec and of
 * its status technicalID, uid, isHibernated and lastOperation; of the cloud profile its name,
 * type, providerConfig, machineTypes and regions; of the seed its name and provider. A real
 * Cluster also carries every machine image and Kubernetes version of the cloud profile and the
 * seed's and shoot's full status: tens of kB per shoot that no reducer reads (and that every
 * snapshot would encode once per extension controller).
 */
json_t *gardener_cluster_summary(const json_t *cluster);

enum gardener_phase { GPH_START, GPH_ERROR, GPH_SUCCESS, GPH_CONFIG_ERROR };
/* The exact lastOperation.description strings of the Go original for kind
 * ("Infrastructure", "ControlPlane", "Worker"), operation and phase. */
const char *gardener_description(const char *kind, enum gardener_op op, enum gardener_phase ph);

/* {"type","state","progress","description","lastUpdateTime"} (new reference). */
json_t *gardener_last_operation(enum gardener_op op, const char *state, int progress,
                                const char *description, int64_t time_ms);
/* "<description>: <message>" with the first character upper-cased
 * (FormatLastErrDescription); caller frees. */
char *gardener_error_description(const char *description, const char *message);

/* The one error-class → Gardener code table (every API client uses it): ENG_UNAUTHENTICATED
 * ERR_INFRA_UNAUTHENTICATED, FORBIDDEN ERR_INFRA_UNAUTHORIZED, RATELIMIT
 * ERR_INFRA_RATE_LIMITS_EXCEEDED, DEPLETED ERR_INFRA_RESOURCES_DEPLETED, QUOTA
 * ERR_INFRA_QUOTA_EXCEEDED, CONFIG and INVALID ERR_CONFIGURATION_PROBLEM, UNAVAILABLE, TIMEOUT,
 * PROTOCOL and IO ERR_RETRYABLE_INFRA_DEPENDENCIES; NULL for the rest. Retrying is decided by
 * eng_err_retryable() alone, and agrees with gardener_code_non_retryable() (metal_test). */
const char *gardener_error_code(enum eng_err e);
/* Codes after which Gardener (and we) stop retrying until something changes. */
bool gardener_code_non_retryable(const char *code);

/* The entry of obj's status.conditions with that type, or NULL. */
const json_t *gardener_condition(const json_t *obj, const char *type);

/* A condition a workload health check wants (Gardener's pkg/utils/kubernetes/health). */
struct gardener_cond_want {
  const char *type;
  const char *status; /* "True" or "False" */
  bool required;      /* missing: "condition \"<type>\" is missing"; else a missing one is fine */
};

enum gardener_cond_style {
  GARDENER_COND_INVALID_STATUS, /* apps: condition "T" has invalid status S (expected W) due to R: M
                                 */
  GARDENER_COND_MESSAGE_REASON  /* MCM: M (R), M without leading and trailing dots */
};

/*
 * Gardener's CheckDeployment / CheckMachineDeployment: NULL when obj's controller observed its
 * metadata.generation and each wanted condition of status.conditions is as wanted, else why
 * (caller frees): "observed generation outdated (o/g)", a missing required condition, or the
 * first condition in another status, worded by style.
 */
char *gardener_workload_problem(const json_t *obj, const struct gardener_cond_want *want, size_t n,
                                enum gardener_cond_style style);

#endif
