/*
 * yamlconv.h - YAML <-> JSON tree conversion (libyaml <-> jansson).
 *
 * Kubernetes tooling treats YAML as a spelling of JSON (sigs.k8s.io/yaml): a YAML
 * document is read into the same tree a JSON parser would build, and a tree is
 * written back as YAML. This module does exactly that and nothing more, so that
 * configuration files (component configs, kubelet configs, resource-manager
 * configs) can be handled with the JSON helpers of jsonx.h.
 *
 * Reading follows the YAML 1.1 resolution rules of the Go YAML library Kubernetes
 * uses: plain scalars null/~/"" are null; true/false/yes/no/on/off (and their
 * capitalised forms) are booleans; decimal, 0x hexadecimal, 0o and leading-zero
 * octal and 0b binary integers are integers; decimal floats are reals; anything
 * quoted or tagged !!str is a string. Anchors, aliases and "<<" merge keys are
 * supported, with caps on depth and on the number of expanded nodes (so alias
 * bombs fail cleanly). Duplicate mapping keys are rejected.
 *
 * Writing produces block-style YAML with keys sorted bytewise, strings quoted
 * only where a plain scalar would be read back as something else, and multi-line
 * strings as literal blocks. parse(emit(v)) == v for every tree of JSON values.
 */
#ifndef EQXM_YAMLCONV_H
#define EQXM_YAMLCONV_H

#include "engine/base/common.h"
#include "engine/base/err.h"

#include <jansson.h>

/* Limits on what a document may expand to. */
#define YAMLCONV_MAX_DEPTH 100
#define YAMLCONV_MAX_NODES 1000000

/*
 * Parse len bytes holding one YAML document into a new JSON tree (caller owns the
 * reference). An empty document (or only comments) gives json null. More than one
 * document is an error. On failure returns NULL and sets err to ENG_INVALID with
 * "<what>: <problem> at line L, column C" (what names the input, e.g.
 * "configuration file /etc/x/config.yaml"). Pure: no I/O.
 */
json_t *yamlconv_parse(const char *data, size_t len, const char *what, struct eng_error *err);

/*
 * Write v as one YAML document (no "---" marker, ending in a newline) into a new
 * NUL-terminated string the caller frees. *len (optional) gets its length.
 * Returns NULL only when libyaml refuses the tree (then err says why).
 */
char *yamlconv_emit(const json_t *v, size_t *len, struct eng_error *err);

#endif
