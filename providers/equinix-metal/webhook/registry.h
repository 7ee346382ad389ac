/*
 * registry.h - the webhooks this extension serves, as the table the admission
 * framework dispatches through (webhook/definition.h): name (the
 * --disable-webhooks switch), path, which cluster's apiserver calls it, the
 * object types it is registered for and the functions that decide. main.c hands
 * metal_webhooks() to the `webhook` command and to the server embedded in `run`.
 */
#ifndef EQXM_METAL_WEBHOOK_REGISTRY_H
#define EQXM_METAL_WEBHOOK_REGISTRY_H

#include "engine/base/common.h"
#include "webhook/definition.h"

#define WH_EXTENSION_NAME "gardener-extension-provider-equinix-metal"
#define WH_PROVIDER_TYPE  "equinixmetal"
#define WH_NAME_SUFFIX    ".equinix-metal.extensions.gardener.cloud"

/* The extension's webhooks, their names and configuration loader. */
const struct wh_set *metal_webhooks(void);

#endif
