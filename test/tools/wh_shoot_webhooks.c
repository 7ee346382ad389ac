/*
 * wh_shoot_webhooks.c - test tool: call webhook_shoot_webhooks_reconcile() (what the ControlPlane
 * controller calls) once against an apiserver and print the resulting ManagedResource as JSON.
 *
 *   wh_shoot_webhooks KUBECONFIG NAMESPACE MODE WEBHOOK_NAMESPACE [create|update]
 *
 * The shoot webhook configuration is built like the server builds it (mode url-service/service/url,
 * service port 443, CA bundle "test-ca"). Exit 0 on success, 1 with the error on stderr.
 */
#include "engine/base/common.h"
#include "engine/kube/client.h"
#include "engine/kube/kubeconfig.h"
#include "providers/equinix-metal/webhook/registry.h"
#include "webhook/registration.h"
#include "webhook/server.h"
#include "engine/base/xalloc.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int result = -1;

static void done(void *ud, enum eng_err rc, const json_t *obj, const struct eng_error *err) {
  struct ev_loop *loop = ud;
  if (rc == ENG_OK) {
    char *s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    printf("%s\n", s);
    free(s);
    result = 0;
  } else {
    fprintf(stderr, "wh_shoot_webhooks: %s\n", err && err->msg[0] ? err->msg : eng_strerror(rc));
    result = 1;
  }
  ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv) {
  xalloc_init();
  if (argc != 6) {
    fprintf(stderr,
            "usage: wh_shoot_webhooks KUBECONFIG NAMESPACE MODE WEBHOOK_NAMESPACE create|update\n");
    return 2;
  }
  struct kube_config cfg;
  struct eng_error err = {0};
  if (kube_config_load(argv[1], NULL, &cfg, &err) != ENG_OK) {
    fprintf(stderr, "wh_shoot_webhooks: %s\n", err.msg);
    kube_config_free(&cfg);
    return 1;
  }
  struct ev_loop *loop = ev_loop_new(0);
  struct kube_client *c = kube_client_new(loop, &cfg, NULL);
  kube_config_free(&cfg);
  bool enabled[8] = {true, true, true, true, true, true, true, true};
  struct registration_params p = {.set = metal_webhooks(),
                                  .mode = argv[3],
                                  .url = "127.0.0.1:8443",
                                  .ns = argv[4],
                                  .service_port = 443,
                                  .ca_bundle = "test-ca",
                                  .enabled = enabled};
  json_t *shoot = registration_build(WH_TARGET_SHOOT, &p);
  struct wh_shoot_hooks *h = webhook_shoot_webhooks_reconcile(
      metal_webhooks(), c, argv[2], shoot, !strcmp(argv[5], "create"), done, loop);
  (void)h;
  json_decref(shoot);
  ev_run(loop, 0);
  kube_client_free(c);
  ev_loop_destroy(loop);
  return result < 0 ? 1 : result;
}
