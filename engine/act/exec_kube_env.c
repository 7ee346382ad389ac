/*
 * exec_kube_env.c - the kube.env.ensure executor action (see exec_kube_env.h).
 */
#include "engine/base/common.h"
#include "engine/act/exec_kube_env.h"
#include "engine/act/exec_inflight.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

static const struct kube_resource *const workloads[] = {&kube_res_deployment,
                                                        &kube_res_statefulset};

struct exec_kube_env {
  struct kube_client *c;
  struct exec_inflight_list jobs;
};

struct ejob {
  struct exec_kube_env *k;
  struct exec_inflight fl;
  struct action a;
  const struct kube_resource *r; /* the kind being tried */
  size_t fallback;               /* the next fallback kind to try */
  bool found, changed;           /* the container was found; its env was changed */
  struct kube_call *kc;
};

static const struct kube_resource *workload(const char *gk) {
  for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++) {
    char g[192];
    kube_resource_group_kind(workloads[i], g);
    if (gk && !strcmp(g, gk))
      return workloads[i];
  }
  return NULL;
}

static void job_end(struct ejob *j, const struct kube_result *res) {
  if (res) {
    exec_inflight_kube_fail(&j->fl, res);
  } else {
    json_t *out =
        json_pack("{s:b,s:o,s:b}", "found", j->found, "kind",
                  j->found ? json_string(j->r->kind) : json_null(), "changed", j->changed);
    exec_inflight_ok(&j->fl, out);
    json_decref(out);
  }
  action_release(&j->a);
  free(j);
}

static enum kube_mutate mutate(void *ud, json_t *obj, struct eng_error *err) {
  (void)err;
  struct ejob *j = ud;
  const char *want = jsonx_str(j->a.params, "container");
  const char *name = jsonx_str(j->a.params, "env.name");
  const char *value = jsonx_str(j->a.params, "env.value");
  j->found = j->changed = false;
  size_t i;
  json_t *c;
  json_array_foreach(jsonx_path(obj, "spec.template.spec.containers"), i, c) {
    const char *cn = jsonx_str(c, "name");
    if (!cn || strcmp(cn, want) != 0)
      continue;
    j->found = true;
    json_t *env = json_object_get(c, "env");
    if (!json_is_array(env)) {
      env = json_array();
      json_object_set_new(c, "env", env);
    }
    size_t k;
    json_t *e;
    json_array_foreach(env, k, e) {
      const char *en = jsonx_str(e, "name");
      if (!en || strcmp(en, name) != 0)
        continue;
      const char *ev = jsonx_str(e, "value");
      if (ev && !strcmp(ev, value) && !json_object_get(e, "valueFrom"))
        return KUBE_MUTATE_SKIP;
      json_object_del(e, "valueFrom");
      json_object_set_new(e, "value", json_string(value));
      j->changed = true;
      return KUBE_MUTATE_WRITE;
    }
    json_array_append_new(env, json_pack("{s:s,s:s}", "name", name, "value", value));
    j->changed = true;
    return KUBE_MUTATE_WRITE;
  }
  return KUBE_MUTATE_SKIP; /* no such container: nothing to do */
}

static void try_kind(struct ejob *j);

static void updated(void *ud, const struct kube_result *res) {
  struct ejob *j = ud;
  j->kc = NULL;
  if (res->err == ENG_NOTFOUND) {
    const json_t *fb = json_object_get(j->a.params, "fallbackKinds");
    const struct kube_resource *next = NULL;
    while (!next && j->fallback < json_array_size(fb))
      next = workload(json_string_value(json_array_get(fb, j->fallback++)));
    if (next) {
      j->r = next;
      try_kind(j);
      return;
    }
    j->found = j->changed = false;
    job_end(j, NULL);
    return;
  }
  job_end(j, res->err == ENG_OK ? NULL : res);
}

static void try_kind(struct ejob *j) {
  j->kc =
      kube_update_retry(j->k->c, j->r, j->a.ns, j->a.name, NULL, false, mutate, j, 0, updated, j);
}

static void start(void *ud, struct exec_call *call, const struct action *a, bool resolving) {
  (void)resolving; /* an ensure reads before it writes */
  struct exec_kube_env *k = ud;
  const struct kube_resource *r = workload(a->group_kind);
  if (!r || !a->name || !*a->name || !jsonx_str(a->params, "container") ||
      !jsonx_str(a->params, "env.name") || !jsonx_str(a->params, "env.value")) {
    struct eng_error err;
    eng_error_set(&err, ENG_INTERNAL,
                  "cannot set an environment variable of %s %s/%s: the action needs a Deployment "
                  "or StatefulSet target, container, env.name and env.value",
                  a->group_kind ? a->group_kind : "", a->ns ? a->ns : "", a->name ? a->name : "");
    executor_fail(call, &err, NULL, false);
    return;
  }
  struct ejob *j = xcalloc(1, sizeof(*j));
  j->k = k;
  j->r = r;
  exec_inflight_link(&k->jobs, &j->fl, call, j);
  action_copy(&j->a, a);
  try_kind(j);
}

struct exec_kube_env *exec_kube_env_new(struct kube_client *c) {
  struct exec_kube_env *k = xcalloc(1, sizeof(*k));
  k->c = c;
  return k;
}

void exec_kube_env_register(struct exec_kube_env *k, struct executor *x) {
  executor_handle(x, "kube.env.ensure", start, k);
}

void exec_kube_env_free(struct exec_kube_env *k) {
  if (!k)
    return;
  struct ejob *j;
  while ((j = exec_inflight_pop(&k->jobs))) {
    kube_cancel(k->c, j->kc);
    action_release(&j->a);
    free(j);
  }
  free(k);
}
