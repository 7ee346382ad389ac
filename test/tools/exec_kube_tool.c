/*
 * exec_kube_tool.c - runs actions through the executor's Kubernetes handlers
 * (engine/act/exec_kube.c) against a real or test kube-apiserver.
 *
 *   exec_kube_tool --kubeconfig PATH ACTIONS.json
 *
 * ACTIONS.json is an array of actions in their journal form (action_to_json). They
 * run one after another; for each, the tool prints the executor's result event as one
 * JSON line {"id","ok","output","error","retryable"}. The journal hooks keep events in
 * memory (every intent is "durable" at once). Registered kinds: ConfigMap, Secret.
 * Exit status 0 when the file was read and every action finished (ok or not).
 */
#include "engine/base/common.h"
#include "engine/act/exec_kube.h"
#include "engine/act/executor.h"
#include "engine/base/cli.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "engine/base/xalloc.h"
#include "engine/decide/action.h"
#include "engine/journal/event.h"
#include "engine/kube/client.h"
#include "engine/kube/kubeconfig.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool finished;

static int64_t j_hook(void *ud, const struct jevent *ev, bool durable, struct eng_error *err) {
  (void)ud, (void)ev, (void)durable, (void)err;
  return 1;
}

static void obs_hook(void *ud, const struct jevent *ev) {
  (void)ud;
  if (strcmp(ev->type, "executor.result") != 0)
    return;
  char *s = json_dumps(ev->payload, JSON_COMPACT | JSON_SORT_KEYS);
  printf("%s\n", s);
  fflush(stdout);
  free(s);
  finished = true;
}

static bool may_hook(void *ud, int64_t *epoch) {
  (void)ud;
  *epoch = 1;
  return true;
}

int main(int argc, char **argv) {
  xalloc_init();
  log_setup(LOG_WARN, LOG_FORMAT_TEXT, 2);
  const char *kubeconfig = NULL;
  const struct cli_opt opts[] = {
      {"kubeconfig", CLI_STRING, &kubeconfig, "PATH", "kubeconfig file", NULL}, {0}};
  const struct cli_spec spec = {
      "exec_kube_tool", "--kubeconfig PATH ACTIONS.json", NULL, opts, 1, 1};
  int npos;
  char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
  int rc = cli_parse(&spec, argc - 1, argv + 1, &npos, pos);
  if (rc != CLI_OK) {
    free(pos);
    return rc == CLI_HELP ? 0 : 2;
  }
  json_error_t jerr;
  json_t *list = json_load_file(pos[0], 0, &jerr);
  free(pos);
  struct eng_error err;
  struct kube_config cfg;
  if (!json_is_array(list) || kube_config_load(kubeconfig, NULL, &cfg, &err) != ENG_OK) {
    fprintf(stderr, "exec_kube_tool: bad actions file or kubeconfig\n");
    json_decref(list);
    return 1;
  }
  struct ev_loop *loop = ev_loop_new(0);
  struct kube_client *c = kube_client_new(loop, &cfg, "exec-kube-tool/1");
  kube_config_free(&cfg);
  static const struct kube_resource *const res[] = {&kube_res_configmap, &kube_res_secret};
  struct exec_kube *k = exec_kube_new(c, NULL, res, 2);
  struct executor_hooks h = {j_hook, obs_hook, may_hook, NULL, NULL};
  struct executor *x = executor_new(loop, &h);
  exec_kube_register(k, x);
  int status = 0;
  size_t i;
  json_t *j;
  json_array_foreach(list, i, j) {
    struct action a;
    if (action_from_json(j, &a, &err) != ENG_OK) {
      fprintf(stderr, "exec_kube_tool: action %zu: %s\n", i, err.msg);
      status = 1;
      break;
    }
    finished = false;
    executor_submit(x, &a);
    while (!finished)
      ev_run(loop, EVRUN_ONCE);
    action_release(&a);
  }
  json_decref(list);
  exec_kube_free(k);
  executor_free(x);
  kube_client_free(c);
  ev_loop_destroy(loop);
  return status;
}
