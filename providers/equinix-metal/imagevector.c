/*
 * imagevector.c - reads the image vector and its IMAGEVECTOR_OVERWRITE file.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/imagevector.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"
#include "engine/base/yamlconv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMAGEVECTOR_MAX_BYTES (1024 * 1024)

static enum eng_err read_all(const char *path, char **out, size_t *len, struct eng_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return eng_error_set(err, errno == ENOENT ? ENG_NOTFOUND : ENG_IO,
                         "cannot read the image vector %s: %s", path, strerror(errno));
  char *buf = xmalloc(IMAGEVECTOR_MAX_BYTES + 1);
  size_t n = fread(buf, 1, IMAGEVECTOR_MAX_BYTES + 1, f);
  bool bad = ferror(f);
  fclose(f);
  if (bad || n > IMAGEVECTOR_MAX_BYTES) {
    free(buf);
    return eng_error_set(err, ENG_CONFIG, "cannot read the image vector %s: %s", path,
                         bad ? "read error" : "larger than 1 MiB");
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return ENG_OK;
}

/* Add the entries of file path to images. */
static enum eng_err merge_file(const char *path, json_t *images, struct eng_error *err) {
  char *data = NULL;
  size_t len = 0;
  enum eng_err rc = read_all(path, &data, &len, err);
  if (rc)
    return rc;
  json_t *doc = yamlconv_parse(data, len, path, err);
  free(data);
  if (!doc)
    return ENG_CONFIG;
  json_t *list = json_object_get(doc, "images");
  if (!json_is_array(list)) {
    json_decref(doc);
    return eng_error_set(err, ENG_CONFIG,
                         "the image vector %s has no 'images' list; fix the file and restart",
                         path);
  }
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    const char *name = jsonx_str(e, "name"), *repo = jsonx_str(e, "repository");
    const char *tag = jsonx_str(e, "tag");
    if (!name || !*name || !repo || !*repo) {
      json_decref(doc);
      return eng_error_set(err, ENG_CONFIG,
                           "the image vector %s: images[%zu] needs a name and a repository", path,
                           i);
    }
    char *ref = !tag || !*tag                 ? xstrdup(repo)
                : !strncmp(tag, "sha256:", 7) ? xasprintf("%s@%s", repo, tag)
                                              : xasprintf("%s:%s", repo, tag);
    json_object_set_new(images, name, json_string(ref));
    free(ref);
  }
  json_decref(doc);
  return ENG_OK;
}

json_t *imagevector_load(const char *path, bool missing_ok, struct eng_error *err) {
  json_t *images = json_object();
  enum eng_err rc = merge_file(path, images, err);
  if (rc == ENG_NOTFOUND && missing_ok) {
    eng_error_clear(err);
    rc = ENG_OK;
  }
  const char *ow = getenv("IMAGEVECTOR_OVERWRITE");
  if (rc == ENG_OK && ow && *ow)
    rc = merge_file(ow, images, err);
  if (rc) {
    json_decref(images);
    return NULL;
  }
  return images;
}
