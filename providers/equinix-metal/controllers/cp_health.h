/*
 * cp_health.h - the ControlPlane health check (condition ControlPlaneHealthy from
 * the seed Deployment cloud-controller-manager), a pure reducer. See cp_health.c.
 *
 * engine.start configuration: {"controllers": {"healthcheck": {"syncPeriodMs": n}}}
 * (default 30000). Actions: "timer" (every sync period per ControlPlane) and
 * "kube.status" {patch: {status: {conditions}}} when the condition changes.
 */
#ifndef EQXM_METAL_CP_HEALTH_H
#define EQXM_METAL_CP_HEALTH_H

#include "engine/decide/reduce.h"

#define CP_HEALTH_CONTROLLER "healthcheck"

extern const struct reducer metal_cp_health_reducer;

#endif
