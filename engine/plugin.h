/*
 * plugin.h - a part of the process that the `run` command starts next to the
 * controllers without knowing it (the admission webhook server is one): it
 * contributes command-line options, checks them, starts on the loop with the
 * seed's API client, adds health checks, and stops. The composition root
 * (main.c) hands the plugins to `run`, so providers and the webhook never
 * include each other.
 */
#ifndef EQXM_PLUGIN_H
#define EQXM_PLUGIN_H

#include "engine/base/common.h"
#include "engine/base/cli.h"
#include "engine/base/err.h"

struct ev_loop;
struct kube_config;
struct health;
struct executor;

struct run_plugin {
  const char *name;
  /* Options of this plugin (terminated by {0}); they must stay valid. */
  const struct cli_opt *(*options)(void *self);
  /* After parsing: check and complete the options. ENG_USAGE with a sentence. */
  enum eng_err (*check)(void *self, struct eng_error *err);
  /* True when the user switched the plugin off (e.g. every webhook disabled). */
  bool (*disabled)(void *self);
  /* Start on loop. seed: the seed's API configuration (the plugin makes its own client from it);
   * config_file: run's --config-file ("" = none). */
  enum eng_err (*start)(void *self, struct ev_loop *loop, const struct kube_config *seed,
                        const char *config_file, struct health *health, struct eng_error *err);
  /* Stop and free what start made; safe when start was not called or failed. */
  void (*stop)(void *self);
  void *self;
  /* Optional: after a successful start, register the handlers of the action kinds the plugin
   * carries out (e.g. the webhook server's "webhook.shoot-webhooks"); NULL when it has none. */
  void (*register_actions)(void *self, struct executor *x);
};

#endif
