/*
 * extension.h - a Gardener extension controller as data: the generic reconciler
 * (engine/decide/extension.c) drives the Gardener contract — operation
 * annotation, finalizer, lastOperation/lastError, observedGeneration,
 * Create/Reconcile/Delete/ForceDelete/Migrate/Restore — and asks the provider's
 * actuator only for the provider steps of an operation and for the status fields
 * that result from them. Both actuator functions are pure.
 */
#ifndef EQXM_EXTENSION_H
#define EQXM_EXTENSION_H

#include "engine/base/common.h"
#include "engine/base/err.h"
#include "engine/decide/gardener.h"
#include "engine/decide/reduce.h"

#include <jansson.h>

/* One provider step: a single action kind with its parameters. */
struct ext_step {
  char *name;     /* unique within the operation, e.g. "ensure-ssh-key" */
  char *kind;     /* action kind, e.g. "metal.sshkey.ensure" */
  json_t *params; /* owned */
  char *reason;   /* sentence for replay/audit */
};

struct ext_step_list {
  struct ext_step *v;
  size_t n, cap;
};

/* Append a step (params are stolen). */
void ext_steps_add_own(struct ext_step_list *l, const char *name, const char *kind, json_t *params,
                       const char *reason);
void ext_steps_clear(struct ext_step_list *l);

struct ext_actuator {
  /*
   * The provider steps of operation op on obj (the object when the operation
   * starts; cluster is the Cluster object or NULL). force is set for ForceDelete.
   * A provider config that does not validate returns ENG_CONFIG (or ENG_INVALID)
   * with a message naming the field: the operation then ends with
   * ERR_CONFIGURATION_PROBLEM and is not retried.
   */
  enum eng_err (*plan)(enum gardener_op op, bool force, const json_t *obj, const json_t *cluster,
                       struct ext_step_list *steps, struct eng_error *err);
  /*
   * Status fields written with the Succeeded lastOperation (e.g. providerStatus,
   * state), from the outputs of the provider steps ({"<step name>": output}).
   * Add them to *status.
   */
  void (*success_status)(enum gardener_op op, const json_t *obj, const json_t *outputs,
                         json_t *status);
};

struct ext_controller {
  const char *controller; /* "infrastructure": names the reducer, metrics, flags */
  const char *group;      /* "extensions.gardener.cloud" */
  const char *kind;       /* "Infrastructure" */
  const char *plural;     /* "infrastructures" */
  const char *finalizer;  /* "extensions.gardener.cloud/infrastructure" */
  const char *type;       /* spec.type this controller handles */
  const struct ext_actuator *actuator;
};

/* The reducer that runs ctl (ctl must outlive it). */
void ext_controller_reducer(const struct ext_controller *ctl, struct reducer *out);

/*
 * Payload of an "engine.start" event understood by extension reducers:
 * {"controllers": {"<controller>": {"ignoreOperationAnnotation": bool,
 *  "extensionClass": "<class>"}}}. Every start marks all objects unseen, so
 * their next observation is judged by the first-sight predicate (this is how
 * unfinished operations are picked up after a restart).
 */

#endif
