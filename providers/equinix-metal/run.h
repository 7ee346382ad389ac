/*
 * run.h - the `run` command: the extension controller as deployed in a seed.
 */
#ifndef EQXM_METAL_RUN_H
#define EQXM_METAL_RUN_H

#include "engine/plugin.h"

#define METAL_EXTENSION_NAME "provider-equinix-metal"

/* argv holds the arguments after "run"; plugins (the webhook server) are started too. */
int metal_run(int argc, char **argv, const struct run_plugin *plugins, size_t nplugins);

#endif
