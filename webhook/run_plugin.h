/*
 * run_plugin.h - the webhook server as a `run` plugin (engine/plugin.h): `run` gets
 * the webhook flags and starts the server next to the controllers.
 */
#ifndef EQXM_WEBHOOK_RUN_PLUGIN_H
#define EQXM_WEBHOOK_RUN_PLUGIN_H

#include "engine/plugin.h"

struct wh_set;

/* The plugin serving the webhooks of set (one per process; its state is static). */
const struct run_plugin *webhook_run_plugin(const struct wh_set *set);

#endif
