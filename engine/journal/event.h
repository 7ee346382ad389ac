/*
 * event.h - one observation or decision, as handed to the journal.
 *
 * Everything the engine learns enters as a struct jevent: Kubernetes watch and
 * list events (source "kube"), cloud provider resource states (a source the provider names),
 * action intents and outcomes ("executor"), process and leadership events
 * ("engine"), timer firings ("clock"). Observers never write to the journal
 * themselves: they call a jevent_sink, which the composition root connects to
 * journal_append() (which redacts and canonicalises the payload).
 *
 * All pointers are borrowed for the duration of the call.
 */
#ifndef EQXM_EVENT_H
#define EQXM_EVENT_H

#include "engine/base/common.h"

#include <jansson.h>

#define JEV_SOURCE_KUBE     "kube"
#define JEV_SOURCE_EXECUTOR "executor"
#define JEV_SOURCE_ENGINE   "engine"
#define JEV_SOURCE_CLOCK    "clock"

struct jevent {
  const char *source;           /* JEV_SOURCE_* for the engine's own observers; a provider names
                                 * its own (e.g. a cloud poller: "metal") */
  const char *type;             /* dotted, e.g. "kube.added", "metal.device", "executor.intent" */
  const char *group_kind;       /* "extensions.gardener.cloud/Infrastructure", "/Secret", "" */
  const char *ns;               /* namespace or "" */
  const char *name;             /* object name or "" */
  const char *uid;              /* object uid or "" */
  const char *resource_version; /* Kubernetes resourceVersion or "" */
  const char *correlation_id;   /* reconcile this event belongs to, or "" */
  json_t *payload;              /* event body; NULL means {} */
};

/* Where observers hand their events. The sink must not keep the pointers. */
typedef void (*jevent_sink_fn)(void *ud, const struct jevent *ev);

struct jevent_sink {
  jevent_sink_fn fn;
  void *ud;
};

static inline void jevent_emit(const struct jevent_sink *s, const struct jevent *ev) {
  if (s && s->fn)
    s->fn(s->ud, ev);
}

#endif
