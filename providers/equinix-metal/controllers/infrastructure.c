/*
 * reduce_infra.c - the Infrastructure actuator (pure): validates the provider
 * configuration, plans the SSH key steps of each operation and builds the
 * status fields that result from them.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/controllers/infrastructure.h"
#include "engine/base/b64.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

char *metal_infra_ssh_key_label(const char *shoot_namespace) {
  return xasprintf("%s-ssh-publickey", shoot_namespace);
}

/* InfrastructureConfig has only TypeMeta: anything else is a mistake worth reporting. */
static enum eng_err check_provider_config(const json_t *obj, struct eng_error *err) {
  json_t *pc = jsonx_path(obj, "spec.providerConfig");
  if (!pc || json_is_null(pc))
    return ENG_OK;
  if (!json_is_object(pc))
    return eng_error_set(
        err, ENG_CONFIG,
        "spec.providerConfig: Invalid value: must be an InfrastructureConfig object");
  const char *av = jsonx_str(pc, "apiVersion");
  const char *kind = jsonx_str(pc, "kind");
  if (!av || strcmp(av, METAL_PROVIDER_API_VERSION) != 0)
    return eng_error_set(
        err, ENG_CONFIG,
        "spec.providerConfig.apiVersion: Unsupported value: \"%s\": supported values: \"%s\"",
        av ? av : "", METAL_PROVIDER_API_VERSION);
  if (!kind || strcmp(kind, "InfrastructureConfig") != 0)
    return eng_error_set(err, ENG_CONFIG,
                         "spec.providerConfig.kind: Unsupported value: \"%s\": supported values: "
                         "\"InfrastructureConfig\"",
                         kind ? kind : "");
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)pc, k, v) {
    if (strcmp(k, "apiVersion") != 0 && strcmp(k, "kind") != 0)
      return eng_error_set(
          err, ENG_CONFIG,
          "spec.providerConfig.%s: Forbidden: unknown field (InfrastructureConfig has no fields)",
          k);
  }
  return ENG_OK;
}

static bool looks_like_ssh_key(const char *s) {
  static const char *const prefixes[] = {"ssh-rsa ",
                                         "ssh-ed25519 ",
                                         "ssh-dss ",
                                         "ecdsa-sha2-nistp256 ",
                                         "ecdsa-sha2-nistp384 ",
                                         "ecdsa-sha2-nistp521 ",
                                         "sk-ssh-ed25519@openssh.com ",
                                         "sk-ecdsa-sha2-nistp256@openssh.com "};
  for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
    if (strncmp(s, prefixes[i], strlen(prefixes[i])) == 0)
      return true;
  return false;
}

/* spec.sshPublicKey is []byte (base64 in JSON); returns the decoded, trimmed key. */
static enum eng_err decode_public_key(const json_t *obj, char **out, struct eng_error *err) {
  const char *b = jsonx_str(obj, "spec.sshPublicKey");
  if (!b || !*b)
    return eng_error_set(err, ENG_CONFIG,
                         "spec.sshPublicKey: Required value: the shoot's SSH public key is needed "
                         "for the project SSH key");
  unsigned char *raw;
  size_t len;
  if (b64_decode(b, strlen(b), &raw, &len) != ENG_OK)
    return eng_error_set(err, ENG_CONFIG, "spec.sshPublicKey: Invalid value: not valid base64");
  while (len > 0 && (raw[len - 1] == '\n' || raw[len - 1] == '\r' || raw[len - 1] == ' '))
    raw[--len] = '\0';
  if (memchr(raw, '\0', len) || !looks_like_ssh_key((char *)raw)) {
    free(raw);
    return eng_error_set(err, ENG_CONFIG,
                         "spec.sshPublicKey: Invalid value: not an OpenSSH public key (expected "
                         "\"ssh-ed25519 AAAA...\" or similar)");
  }
  *out = (char *)raw;
  return ENG_OK;
}

static json_t *secret_ref(const json_t *obj) {
  json_t *r = json_object();
  const char *ns = jsonx_str(obj, "spec.secretRef.namespace");
  json_object_set_new(r, "namespace",
                      json_string(ns && *ns ? ns : jsonx_str(obj, "metadata.namespace")));
  json_object_set_new(r, "name", json_string(jsonx_str(obj, "spec.secretRef.name")));
  return r;
}

/* The SSH key id we already know from status, if any. */
static const char *known_key_id(const json_t *obj) {
  const char *id = jsonx_str(obj, "status.providerStatus.sshKeyID");
  if (!id || !*id)
    id = jsonx_str(obj, "status.state.sshKeyID");
  return id && *id ? id : NULL;
}

static enum eng_err infra_plan(enum gardener_op op, bool force, const json_t *obj,
                               const json_t *cluster, struct ext_step_list *steps,
                               struct eng_error *err) {
  (void)cluster;
  const char *ns = jsonx_str(obj, "metadata.namespace");
  const char *secret = jsonx_str(obj, "spec.secretRef.name");
  if (op != GOP_MIGRATE && (!secret || !*secret))
    return eng_error_set(err, ENG_CONFIG,
                         "spec.secretRef.name: Required value: the Secret with apiToken and "
                         "projectID must be named");
  char *label = metal_infra_ssh_key_label(ns ? ns : "");
  enum eng_err rc = ENG_OK;
  switch (op) {
  case GOP_CREATE:
  case GOP_RECONCILE:
  case GOP_RESTORE: {
    rc = check_provider_config(obj, err);
    if (rc)
      break;
    char *key = NULL;
    rc = decode_public_key(obj, &key, err);
    if (rc)
      break;
    json_t *p = json_object();
    json_object_set_new(p, "secretRef", secret_ref(obj));
    json_object_set_new(p, "label", json_string(label));
    json_object_set_new(p, "publicKey", json_string(key));
    const char *known = known_key_id(obj);
    if (known)
      json_object_set_new(p, "knownID", json_string(known));
    char *reason = xasprintf("ensure the project SSH key %s exists with the shoot's public key%s",
                             label, op == GOP_RESTORE ? " (restored from status.state)" : "");
    ext_steps_add_own(steps, "ensure-ssh-key", "metal.sshkey.ensure", p, reason);
    free(reason);
    free(key);
    break;
  }
  case GOP_DELETE: {
    json_t *p = json_object();
    json_object_set_new(p, "secretRef", secret_ref(obj));
    json_object_set_new(p, "label", json_string(label));
    const char *known = known_key_id(obj);
    if (known)
      json_object_set_new(p, "id", json_string(known));
    json_object_set_new(p, "force", json_boolean(force));
    char *reason = xasprintf("%sdelete the project SSH key %s%s", force ? "force deletion: " : "",
                             label, known ? "" : " (looked up by label)");
    ext_steps_add_own(steps, "delete-ssh-key", "metal.sshkey.delete", p, reason);
    free(reason);
    break;
  }
  case GOP_MIGRATE:
    /* The key stays in Equinix Metal; status.state carries its id to the next seed. */
    break;
  case GOP_NONE:
    break;
  }
  free(label);
  return rc;
}

static json_t *infra_status(const char *id) {
  json_t *ps = json_object();
  json_object_set_new(ps, "apiVersion", json_string(METAL_PROVIDER_API_VERSION));
  json_object_set_new(ps, "kind", json_string("InfrastructureStatus"));
  json_object_set_new(ps, "sshKeyID", json_string(id ? id : ""));
  return ps;
}

static json_t *infra_state(const char *id, const char *label) {
  json_t *st = json_object();
  json_object_set_new(st, "apiVersion", json_string(METAL_PROVIDER_API_VERSION));
  json_object_set_new(st, "kind", json_string("InfrastructureState"));
  json_object_set_new(st, "sshKeyID", json_string(id ? id : ""));
  json_object_set_new(st, "sshKeyLabel", json_string(label ? label : ""));
  return st;
}

static void infra_success_status(enum gardener_op op, const json_t *obj, const json_t *outputs,
                                 json_t *status) {
  const char *ns = jsonx_str(obj, "metadata.namespace");
  char *label = metal_infra_ssh_key_label(ns ? ns : "");
  if (op == GOP_CREATE || op == GOP_RECONCILE || op == GOP_RESTORE) {
    const char *id = jsonx_str(outputs, "ensure-ssh-key.id");
    json_object_set_new(status, "providerStatus", infra_status(id));
    json_object_set_new(status, "state", infra_state(id, label));
  } else if (op == GOP_MIGRATE) {
    const char *id = known_key_id(obj);
    json_object_set_new(status, "state", infra_state(id, label));
  }
  free(label);
}

static const struct ext_actuator infra_actuator = {infra_plan, infra_success_status};

const struct ext_controller metal_infra_controller = {"infrastructure",
                                                      "extensions.gardener.cloud",
                                                      "Infrastructure",
                                                      "infrastructures",
                                                      "extensions.gardener.cloud/infrastructure",
                                                      METAL_EXTENSION_TYPE,
                                                      &infra_actuator};

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *metal_joined_networks(const char *cidrs) {
  char *copy = xstrdup(cidrs);
  size_t n = 1;
  for (const char *p = copy; *p; p++)
    n += *p == ',';
  char **parts = xmalloc(n * sizeof(*parts));
  size_t k = 0;
  char *save = copy;
  for (;;) {
    char *comma = strchr(save, ',');
    if (comma)
      *comma = '\0';
    parts[k++] = save;
    if (!comma)
      break;
    save = comma + 1;
  }
  qsort(parts, k, sizeof(*parts), cmp_str);
  size_t len = 1;
  for (size_t i = 0; i < k; i++)
    len += strlen(parts[i]) + 1;
  char *out = xmalloc(len);
  size_t o = 0;
  for (size_t i = 0; i < k; i++) {
    if (i > 0 && !strcmp(parts[i], parts[i - 1]))
      continue;
    if (o)
      out[o++] = ',';
    size_t pl = strlen(parts[i]);
    memcpy(out + o, parts[i], pl);
    o += pl;
  }
  out[o] = '\0';
  free(parts);
  free(copy);
  return out;
}
