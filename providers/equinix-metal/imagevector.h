/*
 * imagevector.h - the image vector: which image each deployed component runs.
 *
 * The file (providers/equinix-metal/imagevector/images.yaml in the repository) lists
 * {images: [{name, repository, tag}]}; the file named by the environment variable
 * IMAGEVECTOR_OVERWRITE, when set, replaces entries by name and adds new ones, as in
 * the Go original. The result goes into the ControlPlane controller's engine.start
 * configuration, so replay sees the images the live run used.
 */
#ifndef EQXM_METAL_IMAGEVECTOR_H
#define EQXM_METAL_IMAGEVECTOR_H

#include "engine/base/common.h"
#include "engine/base/err.h"

#include <jansson.h>

#define IMAGEVECTOR_DEFAULT_PATH "/etc/gardener-extension-provider-equinix-metal/images.yaml"

/*
 * {"<name>": "<repository>:<tag>"} (or "<repository>@<digest>" for a sha256 tag) from
 * path, then IMAGEVECTOR_OVERWRITE. A missing path with missing_ok gives {} (the
 * controllers' built-in defaults apply). ENG_CONFIG naming the file and entry otherwise.
 */
json_t *imagevector_load(const char *path, bool missing_ok, struct eng_error *err);

#endif
