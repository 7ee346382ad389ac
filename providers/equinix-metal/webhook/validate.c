/*
 * validate.c - strict decoding and validation of the Equinix Metal provider
 * configs inside Shoots and CloudProfiles. See validate.h for the rules.
 */
#include "engine/base/common.h"
#include "validate.h"

#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool validate_applies(const struct admission_request *req) {
  if (strcmp(req->group, "core.gardener.cloud"))
    return false;
  if (strcmp(req->kind, "Shoot") && strcmp(req->kind, "CloudProfile"))
    return false;
  const json_t *obj = req->object;
  const char *type = !strcmp(req->kind, "Shoot")
                         ? json_string_value(json_object_get(
                               json_object_get(json_object_get(obj, "spec"), "provider"), "type"))
                         : json_string_value(json_object_get(json_object_get(obj, "spec"), "type"));
  return type && !strcmp(type, VALIDATE_PROVIDER_TYPE);
}

bool validate_is_uuid(const char *s) {
  static const int groups[] = {8, 4, 4, 4, 12};
  for (size_t g = 0; g < ARRAY_SIZE(groups); g++) {
    for (int i = 0; i < groups[g]; i++, s++) {
      char c = *s;
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
        return false;
    }
    if (g + 1 < ARRAY_SIZE(groups) && *s++ != '-')
      return false;
  }
  return *s == '\0';
}

/* The object must be a JSON object with our apiVersion and this kind, and only the allowed fields.
 */
static bool check_object(const json_t *cfg, const char *path, const char *kind,
                         const char *const *fields, struct fielderr_list *errs) {
  if (!json_is_object(cfg)) {
    fielderr_add(errs, FIELDERR_INVALID, path, cfg, "must be an object of kind %s", kind);
    return false;
  }
  bool ok = true;
  json_t *av = json_object_get(cfg, "apiVersion");
  json_t *k = json_object_get(cfg, "kind");
  char *p;
  if (!av) {
    p = fielderr_child(path, "apiVersion");
    fielderr_add(errs, FIELDERR_REQUIRED, p, NULL, "must be %s", VALIDATE_API_VERSION);
    free(p);
    ok = false;
  } else if (!json_is_string(av) || strcmp(json_string_value(av), VALIDATE_API_VERSION)) {
    p = fielderr_child(path, "apiVersion");
    static const char *const sup[] = {VALIDATE_API_VERSION};
    fielderr_add_unsupported(errs, p, av, sup, 1);
    free(p);
    ok = false;
  }
  if (!k) {
    p = fielderr_child(path, "kind");
    fielderr_add(errs, FIELDERR_REQUIRED, p, NULL, "must be %s", kind);
    free(p);
    ok = false;
  } else if (!json_is_string(k) || strcmp(json_string_value(k), kind)) {
    p = fielderr_child(path, "kind");
    const char *sup[] = {kind};
    fielderr_add_unsupported(errs, p, k, sup, 1);
    free(p);
    ok = false;
  }
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)cfg, key, v) {
    if (!strcmp(key, "apiVersion") || !strcmp(key, "kind"))
      continue;
    bool known = false;
    for (const char *const *f = fields; f && *f; f++)
      known = known || !strcmp(*f, key);
    if (!known) {
      p = fielderr_child(path, key);
      fielderr_add(errs, FIELDERR_FORBIDDEN, p, NULL, "unknown field in %s", kind);
      free(p);
      ok = false;
    }
  }
  return ok;
}

void validate_typemeta_only(const json_t *cfg, const char *path, const char *kind,
                            struct fielderr_list *errs) {
  check_object(cfg, path, kind, NULL, errs);
}

void validate_worker_config(const json_t *cfg, const char *path, struct fielderr_list *errs) {
  static const char *const fields[] = {"reservationIDs", "reservedDevicesOnly", NULL};
  check_object(cfg, path, "WorkerConfig", fields, errs);
  if (!json_is_object(cfg))
    return;
  json_t *ids = json_object_get(cfg, "reservationIDs");
  if (ids && !json_is_null(ids)) {
    char *p = fielderr_child(path, "reservationIDs");
    if (!json_is_array(ids)) {
      fielderr_add(errs, FIELDERR_INVALID, p, ids, "must be a list of hardware reservation IDs");
    } else {
      size_t i;
      json_t *id;
      json_array_foreach(ids, i, id) {
        char *ip = fielderr_index(p, i);
        if (!json_is_string(id) || !validate_is_uuid(json_string_value(id))) {
          fielderr_add(errs, FIELDERR_INVALID, ip, id, "must be a UUID");
        } else {
          for (size_t j = 0; j < i; j++) {
            const char *prev = json_string_value(json_array_get(ids, j));
            if (prev && !strcasecmp(prev, json_string_value(id))) {
              fielderr_add(errs, FIELDERR_DUPLICATE, ip, id, NULL);
              break;
            }
          }
        }
        free(ip);
      }
    }
    free(p);
  }
  json_t *rdo = json_object_get(cfg, "reservedDevicesOnly");
  if (rdo && !json_is_null(rdo) && !json_is_boolean(rdo)) {
    char *p = fielderr_child(path, "reservedDevicesOnly");
    fielderr_add(errs, FIELDERR_INVALID, p, rdo, "must be true or false");
    free(p);
  }
}

static bool is_http_url(const char *s) {
  const char *rest = !strncmp(s, "https://", 8) ? s + 8 : !strncmp(s, "http://", 7) ? s + 7 : NULL;
  if (!rest || !*rest || *rest == '/')
    return false;
  for (const char *c = s; *c; c++)
    if ((unsigned char)*c <= 0x20 || *c == 0x7f)
      return false;
  return true;
}

/* A string member that must be present and non-empty; returns it or NULL after recording the error.
 */
static const char *required_string(const json_t *obj, const char *key, const char *path,
                                   const char *detail, struct fielderr_list *errs) {
  json_t *v = json_object_get(obj, key);
  char *p = fielderr_child(path, key);
  const char *s = NULL;
  if (v && !json_is_null(v) && !json_is_string(v))
    fielderr_add(errs, FIELDERR_INVALID, p, v, "must be a string");
  else if (!json_is_string(v) || !*json_string_value(v))
    fielderr_add(errs, FIELDERR_REQUIRED, p, NULL, "%s", detail);
  else
    s = json_string_value(v);
  free(p);
  return s;
}

void validate_cloudprofile_config(const json_t *cfg, const char *path, struct fielderr_list *errs,
                                  json_t *warnings) {
  static const char *const fields[] = {"machineImages", NULL};
  check_object(cfg, path, "CloudProfileConfig", fields, errs);
  if (!json_is_object(cfg))
    return;
  json_t *imgs = json_object_get(cfg, "machineImages");
  char *ip = fielderr_child(path, "machineImages");
  if (imgs && !json_is_null(imgs) && !json_is_array(imgs)) {
    fielderr_add(errs, FIELDERR_INVALID, ip, imgs, "must be a list of machine images");
    free(ip);
    return;
  }
  if (json_array_size(imgs) == 0)
    fielderr_add(errs, FIELDERR_REQUIRED, ip, NULL, "must provide at least one machine image");
  size_t i;
  json_t *img;
  json_array_foreach(imgs, i, img) {
    char *p = fielderr_index(ip, i);
    static const char *const img_fields[] = {"name", "versions", NULL};
    if (!json_is_object(img)) {
      fielderr_add(errs, FIELDERR_INVALID, p, img, "must be a machine image {name, versions}");
      free(p);
      continue;
    }
    const char *key;
    json_t *v;
    json_object_foreach(img, key, v) {
      if (strcmp(key, img_fields[0]) && strcmp(key, img_fields[1])) {
        char *fp = fielderr_child(p, key);
        fielderr_add(errs, FIELDERR_FORBIDDEN, fp, NULL, "unknown field in MachineImages");
        free(fp);
      }
    }
    const char *name = required_string(img, "name", p, "must provide a name", errs);
    if (name) {
      for (size_t j = 0; j < i; j++) {
        const char *other = json_string_value(json_object_get(json_array_get(imgs, j), "name"));
        if (other && !strcmp(other, name)) {
          char *np = fielderr_child(p, "name");
          fielderr_add(errs, FIELDERR_DUPLICATE, np, json_object_get(img, "name"), NULL);
          free(np);
          break;
        }
      }
    }
    json_t *vers = json_object_get(img, "versions");
    char *vp = fielderr_child(p, "versions");
    if (vers && !json_is_null(vers) && !json_is_array(vers)) {
      fielderr_add(errs, FIELDERR_INVALID, vp, vers, "must be a list of versions");
    } else if (json_array_size(vers) == 0) {
      fielderr_add(errs, FIELDERR_REQUIRED, vp, NULL,
                   "must provide at least one version for machine image \"%s\"", name ? name : "");
    }
    size_t j;
    json_t *ver;
    json_array_foreach(json_is_array(vers) ? vers : NULL, j, ver) {
      char *jp = fielderr_index(vp, j);
      if (!json_is_object(ver)) {
        fielderr_add(errs, FIELDERR_INVALID, jp, ver,
                     "must be a machine image version {version, id, ipxeScriptUrl}");
        free(jp);
        continue;
      }
      json_object_foreach(ver, key, v) {
        if (strcmp(key, "version") && strcmp(key, "id") && strcmp(key, "ipxeScriptUrl")) {
          char *fp = fielderr_child(jp, key);
          fielderr_add(errs, FIELDERR_FORBIDDEN, fp, NULL, "unknown field in MachineImageVersion");
          free(fp);
        }
      }
      const char *version = required_string(ver, "version", jp, "must provide a version", errs);
      if (version) {
        for (size_t m = 0; m < j; m++) {
          const char *other =
              json_string_value(json_object_get(json_array_get(vers, m), "version"));
          if (other && !strcmp(other, version)) {
            char *fp = fielderr_child(jp, "version");
            fielderr_add(errs, FIELDERR_DUPLICATE, fp, json_object_get(ver, "version"), NULL);
            free(fp);
            break;
          }
        }
      }
      json_t *id = json_object_get(ver, "id");
      json_t *url = json_object_get(ver, "ipxeScriptUrl");
      bool has_id = false, has_url = false;
      if (id && !json_is_null(id)) {
        char *fp = fielderr_child(jp, "id");
        if (!json_is_string(id))
          fielderr_add(errs, FIELDERR_INVALID, fp, id, "must be a string");
        else
          has_id = *json_string_value(id) != '\0';
        free(fp);
      }
      if (url && !json_is_null(url)) {
        char *fp = fielderr_child(jp, "ipxeScriptUrl");
        if (!json_is_string(url) ||
            (*json_string_value(url) && !is_http_url(json_string_value(url))))
          fielderr_add(errs, FIELDERR_INVALID, fp, url, "must be an http or https URL");
        else
          has_url = *json_string_value(url) != '\0';
        free(fp);
      }
      if (!has_id && !has_url && (!id || json_is_string(id)) && (!url || json_is_string(url)))
        fielderr_add(errs, FIELDERR_REQUIRED, jp, NULL, "must provide an id or an ipxeScriptUrl");
      if (has_id && has_url && warnings) {
        char *w = xasprintf(
            "%s: both id and ipxeScriptUrl are set; machines boot from the iPXE script", jp);
        json_array_append_new(warnings, json_string(w));
        free(w);
      }
      free(jp);
    }
    free(vp);
    free(p);
  }
  free(ip);
}

/* The CloudProfileConfig entry for image name/version, or NULL. */
static bool provider_has_image(const json_t *cpc, const char *name, const char *version) {
  size_t i, j;
  json_t *img, *ver;
  json_array_foreach(json_object_get(cpc, "machineImages"), i, img) {
    const char *n = json_string_value(json_object_get(img, "name"));
    if (!n || strcmp(n, name))
      continue;
    if (!version)
      return true;
    json_array_foreach(json_object_get(img, "versions"), j, ver) {
      const char *v = json_string_value(json_object_get(ver, "version"));
      if (v && !strcmp(v, version))
        return true;
    }
  }
  return false;
}

void validate_cloudprofile(const json_t *cloudprofile, struct fielderr_list *errs,
                           json_t *warnings) {
  json_t *spec = json_object_get(cloudprofile, "spec");
  json_t *cfg = json_object_get(spec, "providerConfig");
  if (!cfg || json_is_null(cfg)) {
    fielderr_add(errs, FIELDERR_REQUIRED, "spec.providerConfig", NULL,
                 "must provide a CloudProfileConfig mapping machine images to Equinix Metal "
                 "operating systems");
    return;
  }
  size_t before = errs->n;
  validate_cloudprofile_config(cfg, "spec.providerConfig", errs, warnings);
  if (errs->n != before)
    return;
  /* Every machine image version the profile offers must have a mapping. */
  size_t i, j;
  json_t *img, *ver;
  json_array_foreach(json_object_get(spec, "machineImages"), i, img) {
    const char *name = json_string_value(json_object_get(img, "name"));
    json_array_foreach(json_object_get(img, "versions"), j, ver) {
      const char *version = json_string_value(json_object_get(ver, "version"));
      if (name && version && !provider_has_image(cfg, name, version)) {
        fielderr_add(errs, FIELDERR_REQUIRED, "spec.providerConfig.machineImages", NULL,
                     "must provide an image mapping for image \"%s\" in version \"%s\"", name,
                     version);
      }
    }
  }
}

bool validate_shoot_cloudprofile(const json_t *shoot, const char **kind, const char **name) {
  json_t *spec = json_object_get(shoot, "spec");
  json_t *ref = json_object_get(spec, "cloudProfile");
  const char *n = json_string_value(json_object_get(ref, "name"));
  if (n && *n) {
    const char *k = json_string_value(json_object_get(ref, "kind"));
    *kind = k && *k ? k : "CloudProfile";
    *name = n;
    return true;
  }
  n = json_string_value(json_object_get(spec, "cloudProfileName"));
  if (n && *n) {
    *kind = "CloudProfile";
    *name = n;
    return true;
  }
  return false;
}

/* Names of the elements of an array of {name: ...} objects (borrowed), for "supported values". */
static const char **names_of(const json_t *arr, size_t *n) {
  *n = 0;
  const char **out = xmalloc((json_array_size(arr) + 1) * sizeof(*out));
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e) {
    const char *s = json_string_value(json_object_get(e, "name"));
    if (s)
      out[(*n)++] = s;
  }
  return out;
}

static bool in_names(const char *const *names, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(names[i], s))
      return true;
  return false;
}

void validate_shoot(const json_t *shoot, const json_t *cp_spec, const char *cp_name,
                    struct fielderr_list *errs, json_t *warnings) {
  (void)warnings;
  json_t *spec = json_object_get(shoot, "spec");
  json_t *provider = json_object_get(spec, "provider");
  json_t *infra = json_object_get(provider, "infrastructureConfig");
  if (infra && !json_is_null(infra))
    validate_typemeta_only(infra, "spec.provider.infrastructureConfig", "InfrastructureConfig",
                           errs);
  json_t *cpc = json_object_get(provider, "controlPlaneConfig");
  if (cpc && !json_is_null(cpc))
    validate_typemeta_only(cpc, "spec.provider.controlPlaneConfig", "ControlPlaneConfig", errs);

  /* The CloudProfile's own providerConfig must be sound before workers are checked against it. */
  json_t *profile_cfg = json_object_get(cp_spec, "providerConfig");
  struct fielderr_list cp_errs = {0};
  if (cp_spec)
    validate_cloudprofile_config(profile_cfg, "providerConfig", &cp_errs, NULL);
  if (cp_spec && cp_errs.n > 0) {
    char *m = fielderr_message(&cp_errs);
    json_t *nv = json_string(cp_name ? cp_name : "");
    fielderr_add(
        errs, FIELDERR_INVALID, "spec.cloudProfile.name", nv,
        "the CloudProfile has an invalid providerConfig (%s); ask the Gardener operator to fix it",
        m);
    json_decref(nv);
    free(m);
  }
  bool profile_ok = cp_spec && cp_errs.n == 0;
  fielderr_release(&cp_errs);

  size_t nregions = 0, ntypes = 0;
  const char **regions = names_of(json_object_get(cp_spec, "regions"), &nregions);
  const char **types = names_of(json_object_get(cp_spec, "machineTypes"), &ntypes);
  const char *region = json_string_value(json_object_get(spec, "region"));
  const json_t *region_obj = NULL;
  if (cp_spec) {
    if (!region || !*region) {
      fielderr_add(errs, FIELDERR_REQUIRED, "spec.region", NULL,
                   "must name an Equinix Metal metro of the CloudProfile");
    } else if (!in_names(regions, nregions, region)) {
      fielderr_add_unsupported(errs, "spec.region", json_object_get(spec, "region"), regions,
                               nregions);
    } else {
      size_t i;
      json_t *r;
      json_array_foreach(json_object_get(cp_spec, "regions"), i, r) {
        const char *n = json_string_value(json_object_get(r, "name"));
        if (n && !strcmp(n, region))
          region_obj = r;
      }
    }
  }
  size_t nzones = 0;
  const char **zones = names_of(json_object_get(region_obj, "zones"), &nzones);

  size_t i;
  json_t *w;
  json_array_foreach(json_object_get(provider, "workers"), i, w) {
    char *wp = xasprintf("spec.provider.workers[%zu]", i);
    json_t *pc = json_object_get(w, "providerConfig");
    if (pc && !json_is_null(pc)) {
      char *pp = fielderr_child(wp, "providerConfig");
      validate_worker_config(pc, pp, errs);
      free(pp);
    }
    json_t *machine = json_object_get(w, "machine");
    const char *mtype = json_string_value(json_object_get(machine, "type"));
    if (cp_spec && mtype && !in_names(types, ntypes, mtype)) {
      char *tp = xasprintf("%s.machine.type", wp);
      fielderr_add_unsupported(errs, tp, json_object_get(machine, "type"), types, ntypes);
      free(tp);
    }
    json_t *image = json_object_get(machine, "image");
    const char *iname = json_string_value(json_object_get(image, "name"));
    const char *iver = json_string_value(json_object_get(image, "version"));
    if (profile_ok && iname && !provider_has_image(profile_cfg, iname, iver)) {
      char *ipath = xasprintf("%s.machine.image", wp);
      fielderr_add(errs, FIELDERR_INVALID, ipath, image,
                   "no machine image with name \"%s\", version \"%s\" found in the providerConfig "
                   "of cloud profile "
                   "\"%s\"",
                   iname, iver ? iver : "", cp_name ? cp_name : "");
      free(ipath);
    }
    if (region_obj) {
      size_t z;
      json_t *zone;
      json_array_foreach(json_object_get(w, "zones"), z, zone) {
        const char *zn = json_string_value(zone);
        if (!zn || !in_names(zones, nzones, zn)) {
          char *zp = xasprintf("%s.zones[%zu]", wp, z);
          fielderr_add_unsupported(errs, zp, zone, zones, nzones);
          free(zp);
        }
      }
    }
    free(wp);
  }
  free(zones);
  free(regions);
  free(types);
}
