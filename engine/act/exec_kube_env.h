/*
 * exec_kube_env.h - the "kube.env.ensure" executor action: one environment variable
 * of one container of a live workload, set or appended only when it differs.
 *
 *   kube.env.ensure {container, env {name, value}, fallbackKinds ["apps/StatefulSet"...]}
 *     Target: a Deployment or StatefulSet (group_kind "apps/Deployment" or
 *     "apps/StatefulSet", ns, name). When the target does not exist, each fallback
 *     kind of the same name is tried in turn. In spec.template.spec.containers, the
 *     container named `container` gets env[name] = value (appended when absent) by a
 *     conflict-retried update; nothing is written when it already has that value.
 *     Outcome {found: bool, kind: "<Kind>" | null, changed: bool}; found false (no
 *     such workload, or no such container) is no error: the caller's admission
 *     webhook sets the variable when the workload is created.
 */
#ifndef EQXM_EXEC_KUBE_ENV_H
#define EQXM_EXEC_KUBE_ENV_H

#include "engine/base/common.h"
#include "engine/act/executor.h"
#include "engine/kube/client.h"

struct exec_kube_env;

struct exec_kube_env *exec_kube_env_new(struct kube_client *c);
void exec_kube_env_register(struct exec_kube_env *k, struct executor *x);
/* Cancels calls in flight (their outcomes never arrive). */
void exec_kube_env_free(struct exec_kube_env *k);

#endif
