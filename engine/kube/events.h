/*
 * events.h - core/v1 Event recorder with client-go's de-duplication.
 *
 * An event names the object it is about (involvedObject from the object's apiVersion,
 * kind, namespace, name, uid, resourceVersion), a type (Normal | Warning), a reason and
 * a message. A second event with the same involved object, type, reason and message
 * (within the recorder's memory, LRU 4096 keys like client-go) PATCHes the existing
 * Event's count and lastTimestamp instead of creating a new one; if that Event is gone
 * (404) a new one is created. New Events are named "<object name>.<hex unix nanoseconds>"
 * in the object's namespace ("default" for cluster-scoped objects).
 *
 * Messages pass through log_scrub() (no registered secret leaves the process) and are
 * cut to 1024 bytes. Recording is asynchronous and best-effort: failures are logged,
 * never returned (events are informational, a reconcile never waits for them).
 */
#ifndef EQXM_KUBE_EVENTS_H
#define EQXM_KUBE_EVENTS_H

#include "engine/base/common.h"
#include "engine/kube/client.h"

#include <jansson.h>

#define KUBE_EVENT_NORMAL  "Normal"
#define KUBE_EVENT_WARNING "Warning"

/* Gardener's reasons (gardener extensions/pkg/controller). Any other string may be used too. */
#define KUBE_REASON_RECONCILING                  "Reconciling"
#define KUBE_REASON_RECONCILED                   "Reconciled"
#define KUBE_REASON_RECONCILE_ERROR              "ReconcileError"
#define KUBE_REASON_DELETING                     "Deleting"
#define KUBE_REASON_DELETED                      "Deleted"
#define KUBE_REASON_DELETE_ERROR                 "DeleteError"
#define KUBE_REASON_PREPARE_MIGRATION            "PrepareMigration"
#define KUBE_REASON_MIGRATION_PREPARED           "MigrationPrepared"
#define KUBE_REASON_MIGRATION_PREPARATION_FAILED "MigrationPreparationFailed"
#define KUBE_REASON_RESTORING                    "Restoring"
#define KUBE_REASON_RESTORED                     "Restored"
#define KUBE_REASON_RESTORE_ERROR                "RestoreError"

#define KUBE_EVENT_MESSAGE_MAX 1024

struct kube_recorder;

/* component: source.component and reportingComponent; host: source.host (NULL = hostname). */
struct kube_recorder *kube_recorder_new(struct kube_client *c, const char *component,
                                        const char *host);
/* Cancels writes still in flight. NULL is allowed. */
void kube_recorder_free(struct kube_recorder *r);

/* Record an event about obj (an object with apiVersion, kind and metadata). */
void kube_recorder_event(struct kube_recorder *r, const json_t *obj, const char *type,
                         const char *reason, const char *fmt, ...) PRINTF_LIKE(5, 6);
/* Same, with the involved object given field by field (uid/rv may be NULL). */
void kube_recorder_event_ref(struct kube_recorder *r, const char *api_version, const char *kind,
                             const char *ns, const char *name, const char *uid, const char *type,
                             const char *reason, const char *message);

/* Writes still in flight (for shutdown: run the loop until 0, with a time limit). */
size_t kube_recorder_pending(const struct kube_recorder *r);

#endif
