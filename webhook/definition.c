/*
 * definition.c - lookups in a provider's webhook table.
 */
#include "engine/base/common.h"
#include "definition.h"

#include "engine/base/xalloc.h"

#include <string.h>

const struct wh_def *wh_set_by_path(const struct wh_set *set, const char *path) {
  for (size_t i = 0; i < set->ndefs; i++)
    if (!strcmp(set->defs[i].path, path))
      return &set->defs[i];
  return NULL;
}

const struct wh_def *wh_set_by_name(const struct wh_set *set, const char *name) {
  for (size_t i = 0; i < set->ndefs; i++)
    if (!strcmp(set->defs[i].name, name))
      return &set->defs[i];
  return NULL;
}

bool wh_def_has_kind(const struct wh_def *d, const char *group, const char *version,
                     const char *kind) {
  for (size_t i = 0; i < d->ntypes; i++)
    if (!strcmp(d->types[i].group, group) && !strcmp(d->types[i].version, version) &&
        !strcmp(d->types[i].kind, kind))
      return true;
  return false;
}

char *wh_set_names(const struct wh_set *set) {
  size_t n = 1;
  for (size_t i = 0; i < set->ndefs; i++)
    n += strlen(set->defs[i].name) + 2;
  char *out = xmalloc(n), *p = out;
  for (size_t i = 0; i < set->ndefs; i++) {
    size_t l = strlen(set->defs[i].name);
    if (i) {
      memcpy(p, ", ", 2);
      p += 2;
    }
    memcpy(p, set->defs[i].name, l);
    p += l;
  }
  *p = '\0';
  return out;
}
