/*
 * registry.c - the provider's controllers as reducers.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/controllers/registry.h"
#include "engine/decide/extension.h"
#include "providers/equinix-metal/controllers/controlplane.h"
#include "providers/equinix-metal/controllers/cp_health.h"
#include "providers/equinix-metal/controllers/infrastructure.h"
#include "providers/equinix-metal/controllers/machine.h"
#include "providers/equinix-metal/controllers/worker.h"

static struct reducer infra_reducer, worker_reducer, controlplane_reducer;
static const struct reducer *reducers[] = {&infra_reducer,           &worker_reducer,
                                           &metal_machine_reducer,   &controlplane_reducer,
                                           &metal_cp_health_reducer, &metal_worker_health_reducer};

const struct reducer *const *metal_reducers(size_t *n) {
  if (!infra_reducer.name)
    ext_controller_reducer(&metal_infra_controller, &infra_reducer);
  if (!worker_reducer.name)
    ext_controller_reducer(&metal_worker_controller, &worker_reducer);
  if (!controlplane_reducer.name)
    ext_controller_reducer(&metal_controlplane_controller, &controlplane_reducer);
  *n = ARRAY_SIZE(reducers);
  return reducers;
}
