/*
 * config.c - ControllerConfiguration reading (libyaml through engine/yamlconv).
 */
#include "engine/base/common.h"
#include "config.h"

#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"
#include "engine/base/yamlconv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX (1u << 20)

bool wh_quantity_valid(const char *s) {
  /* sign? digits [. digits] then a binary suffix, a decimal suffix or an exponent. */
  const char *p = s;
  if (*p == '+' || *p == '-')
    p++;
  size_t digits = 0;
  while (*p >= '0' && *p <= '9')
    p++, digits++;
  if (*p == '.') {
    p++;
    while (*p >= '0' && *p <= '9')
      p++, digits++;
  }
  if (digits == 0)
    return false;
  static const char *const suffixes[] = {"",  "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n",
                                         "u", "m",  "k",  "M",  "G",  "T",  "P",  "E"};
  for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++)
    if (!strcmp(p, suffixes[i]))
      return true;
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-')
      p++;
    if (!(*p >= '0' && *p <= '9'))
      return false;
    while (*p >= '0' && *p <= '9')
      p++;
    return *p == '\0';
  }
  return false;
}

enum eng_err wh_config_parse(const char *data, size_t len, const char *name, struct wh_config *cfg,
                             struct eng_error *err) {
  memset(cfg, 0, sizeof(*cfg));
  char *what = xasprintf("configuration file %s", name);
  json_t *doc = yamlconv_parse(data, len, what, err);
  free(what);
  if (!doc)
    return err ? (err->code = ENG_CONFIG) : ENG_CONFIG;
  enum eng_err rc = ENG_OK;
  if (json_is_null(doc)) {
    json_decref(doc);
    return ENG_OK;
  }
  if (!json_is_object(doc)) {
    json_decref(doc);
    return eng_error_set(err, ENG_CONFIG,
                         "configuration file %s must hold a ControllerConfiguration mapping", name);
  }
  const char *av = jsonx_str(doc, "apiVersion");
  const char *kind = jsonx_str(doc, "kind");
  if (av && strcmp(av, WH_CONFIG_API_VERSION))
    rc = eng_error_set(err, ENG_CONFIG,
                       "configuration file %s: apiVersion \"%s\" is not " WH_CONFIG_API_VERSION,
                       name, av);
  else if (kind && strcmp(kind, "ControllerConfiguration"))
    rc = eng_error_set(err, ENG_CONFIG,
                       "configuration file %s: kind \"%s\" is not ControllerConfiguration", name,
                       kind);
  json_t *storage = jsonx_path(doc, "etcd.storage");
  if (rc == ENG_OK && storage && !json_is_null(storage)) {
    json_t *cls = json_object_get(storage, "className");
    json_t *cap = json_object_get(storage, "capacity");
    if (!json_is_object(storage))
      rc = eng_error_set(err, ENG_CONFIG, "configuration file %s: etcd.storage must be a mapping",
                         name);
    else if (cls && !json_is_null(cls) && !json_is_string(cls))
      rc = eng_error_set(err, ENG_CONFIG,
                         "configuration file %s: etcd.storage.className must be a string", name);
    else if (cap && !json_is_null(cap) && !json_is_string(cap) && !json_is_integer(cap))
      rc = eng_error_set(
          err, ENG_CONFIG,
          "configuration file %s: etcd.storage.capacity must be a quantity such as 25Gi", name);
    if (rc == ENG_OK && json_is_string(cls))
      cfg->etcd_class = xstrdup(json_string_value(cls));
    if (rc == ENG_OK && (json_is_string(cap) || json_is_integer(cap))) {
      cfg->etcd_capacity = json_is_string(cap)
                               ? xstrdup(json_string_value(cap))
                               : xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(cap));
      if (!wh_quantity_valid(cfg->etcd_capacity))
        rc = eng_error_set(
            err, ENG_CONFIG,
            "configuration file %s: etcd.storage.capacity \"%s\" is not a quantity such as 25Gi",
            name, cfg->etcd_capacity);
    }
  }
  json_decref(doc);
  if (rc != ENG_OK)
    wh_config_release(cfg);
  return rc;
}

enum eng_err wh_config_load(const char *path, struct wh_config *cfg, struct eng_error *err) {
  memset(cfg, 0, sizeof(*cfg));
  FILE *f = fopen(path, "rb");
  if (!f)
    return eng_error_set(err, ENG_CONFIG, "cannot open the configuration file %s: %s", path,
                         strerror(errno));
  char *buf = xmalloc(CONFIG_MAX + 1);
  size_t n = fread(buf, 1, CONFIG_MAX + 1, f);
  bool bad = ferror(f);
  fclose(f);
  if (bad || n > CONFIG_MAX) {
    free(buf);
    return eng_error_set(err, ENG_CONFIG, "cannot read the configuration file %s: %s", path,
                         bad ? "read error" : "larger than 1 MiB");
  }
  enum eng_err rc = wh_config_parse(buf, n, path, cfg, err);
  free(buf);
  return rc;
}

void wh_config_release(struct wh_config *cfg) {
  free(cfg->etcd_class);
  free(cfg->etcd_capacity);
  memset(cfg, 0, sizeof(*cfg));
}
