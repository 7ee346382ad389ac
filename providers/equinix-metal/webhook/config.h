/*
 * config.h - the parts of the ControllerConfiguration (--config-file, YAML,
 * equinixmetal.provider.extensions.config.gardener.cloud/v1alpha1) the webhooks
 * use: etcd.storage.className and etcd.storage.capacity for etcd-main.
 */
#ifndef EQXM_WEBHOOK_CONFIG_H
#define EQXM_WEBHOOK_CONFIG_H

#include "engine/base/common.h"
#include "engine/base/err.h"

#define WH_CONFIG_API_VERSION "equinixmetal.provider.extensions.config.gardener.cloud/v1alpha1"

struct wh_config {
  char *etcd_class;    /* NULL = not set (the default gardener.cloud-fast applies) */
  char *etcd_capacity; /* NULL = not set (25Gi) */
};

/*
 * Read the file. An empty file is an empty configuration (as in the Go loader).
 * ENG_CONFIG with a sentence naming the file and the field on any problem.
 */
enum eng_err wh_config_load(const char *path, struct wh_config *cfg,
                            struct eng_error *err) WARN_UNUSED;
/* Same from memory (name is used in messages). */
enum eng_err wh_config_parse(const char *data, size_t len, const char *name, struct wh_config *cfg,
                             struct eng_error *err) WARN_UNUSED;
void wh_config_release(struct wh_config *cfg);

/* Kubernetes quantity syntax ("25Gi", "500M", "1.5Ti", "10e3"). */
bool wh_quantity_valid(const char *s);

#endif
