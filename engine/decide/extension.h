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
  char *kind;     /* action kind, e.g. "metal.sshkey.ensure", or EXT_WAIT_KIND */
  json_t *params; /* owned */
  char *reason;   /* sentence for replay/audit */
  json_t *target; /* NULL = the extension object; else {"groupKind","namespace","name"} (owned) */
};

/*
 * A step of this kind is no action: the operation waits at it until the
 * actuator's wait() says the condition holds (re-evaluated on every event of a
 * related object in the namespace), fails at once when wait() reports a severe
 * error, and fails with "<params.timeoutMessage>: <last message>" (retryable)
 * when params.timeoutMs (default 5 min) pass first.
 */
#define EXT_WAIT_KIND "ext.wait"

struct ext_step_list {
  struct ext_step *v;
  size_t n, cap;
};

/* Append a step (params are stolen). */
void ext_steps_add_own(struct ext_step_list *l, const char *name, const char *kind, json_t *params,
                       const char *reason);
/* Append a step whose action targets another object (group_kind "G/Kind", ns, name). */
void ext_steps_add_to_own(struct ext_step_list *l, const char *name, const char *kind,
                          const char *group_kind, const char *ns, const char *obj_name,
                          json_t *params, const char *reason);
void ext_steps_clear(struct ext_step_list *l);

/* What plan_with() and wait() see. */
struct ext_plan_in {
  enum gardener_op op;
  bool force;
  const json_t *obj;     /* the object when the operation started (wait: as last observed) */
  const json_t *cluster; /* the Cluster object or NULL */
  const json_t *related; /* {"<group/Kind>": {"<name>": object}} of the object's namespace */
  int64_t now_ms;        /* recorded time of the event being folded */
  const json_t *config;  /* the controller's engine.start configuration ({} when none) */
};

enum ext_wait_result { EXT_WAIT_DONE, EXT_WAIT_PENDING, EXT_WAIT_FAILED };

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
  /* Optional: used instead of plan() when set; also sees the related objects and the time. */
  enum eng_err (*plan_with)(const struct ext_plan_in *in, struct ext_step_list *steps,
                            struct eng_error *err);
  /* Optional: judges an EXT_WAIT_KIND step with its params; *message (caller frees) says
   * what is awaited (PENDING) or what failed (FAILED). */
  enum ext_wait_result (*wait)(const struct ext_plan_in *in, const json_t *params, char **message);
  /*
   * Optional: called each time a provider step is about to run (first attempt and retries), with
   * the outputs of the steps before it ({"<step name>": output}) and a copy of the step's params
   * that it may complete, e.g. with a value an earlier step found. Returning false skips the step
   * (it has nothing to do). Pure like the others: what it reads is in the journal.
   */
  bool (*prepare)(const struct ext_plan_in *in, const char *step, const json_t *outputs,
                  json_t *params);
};

struct ext_controller {
  const char *controller; /* "infrastructure": names the reducer, metrics, flags */
  const char *group;      /* "extensions.gardener.cloud" */
  const char *kind;       /* "Infrastructure" */
  const char *plural;     /* "infrastructures" */
  const char *finalizer;  /* "extensions.gardener.cloud/infrastructure" */
  const char *type;       /* spec.type this controller handles */
  const struct ext_actuator *actuator;
  /* NULL, or a NULL-terminated list of "G/Kind" whose objects are kept per namespace for
   * plan_with()/wait() (metadata.managedFields dropped). After an engine.start, objects not
   * seen again by the time of their kind's first complete list ("kube.relisted") are forgotten. */
  const char *const *related;
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
