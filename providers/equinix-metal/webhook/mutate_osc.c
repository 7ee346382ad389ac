/*
 * mutate_osc.c - OperatingSystemConfig mutations of the /controlplane webhook.
 *
 * purpose "reconcile" (Gardener's generic mutator + the Go ensurer):
 *   - kubelet.service: ExecStart gets --cloud-provider=external, and
 *     --root-dir=/var/lib/containerd when a worker pool has a volume; the unit is
 *     re-serialized the way go-systemd does it (sdunit.c);
 *   - /var/lib/kubelet/config/kubelet (inline, plain or b64 YAML
 *     KubeletConfiguration): enableControllerAttachDetach: true;
 *   - file /opt/bin/bgp-peer.sh and unit bgp-peer-route.service (routes to the
 *     Equinix Metal BGP peers through the private gateway).
 * purpose "provision": when a worker pool has a volume and all pools use flatcar,
 *   the LVM units and script that put the local disks under /var/lib/containerd.
 */
#include "engine/base/common.h"
#include "mutate.h"

#include "engine/base/b64.h"
#include "engine/base/buf.h"
#include "webhook/kobj.h"
#include "webhook/sdunit.h"
#include "engine/base/xalloc.h"
#include "engine/base/yamlconv.h"

#include <stdlib.h>
#include <string.h>

#define KUBELET_UNIT        "kubelet.service"
#define KUBELET_CONFIG_PATH "/var/lib/kubelet/config/kubelet"
#define BGP_UNIT            "bgp-peer-route.service"
#define BGP_SCRIPT_PATH     "/opt/bin/bgp-peer.sh"
#define LVM_UNIT            "lvm-setup.service"
#define LVM_MOUNT_UNIT      "var-lib-containerd.mount"
#define LVM_SCRIPT_PATH     "/opt/bin/lvm.sh"

static const char bgp_unit_content[] = "[Unit]\n"
                                       "Description=Routes to BGP peers\n"
                                       "After=network.target\n"
                                       "Wants=network.target\n"
                                       "[Install]\n"
                                       "WantedBy=kubelet.service\n"
                                       "[Service]\n"
                                       "Type=oneshot\n"
                                       "RemainAfterExit=yes\n"
                                       "ExecStart=" BGP_SCRIPT_PATH "\n";

/* The BGP peers 169.254.255.1/.2 are reached through the gateway of the private IPv4 network. */
static const char bgp_script[] =
    "#!/bin/sh\n"
    "# get my private IP\n"
    "GATEWAY=\"$(curl https://metadata.platformequinix.com/metadata | jq -r '.network.addresses[] "
    "| "
    "select( .address_family == 4 and .public == false ) | .gateway')\"\n"
    "ip route add 169.254.255.1 via ${GATEWAY} dev bond0\n"
    "ip route add 169.254.255.2 via ${GATEWAY} dev bond0\n";

static const char lvm_unit_content[] =
    "[Unit]\n"
    "Description=LVM volume of all unused local disks for containerd\n"
    "DefaultDependencies=no\n"
    "Before=local-fs-pre.target\n"
    "[Service]\n"
    "Type=oneshot\n"
    "Restart=on-failure\n"
    "RemainAfterExit=yes\n"
    "ExecStart=" LVM_SCRIPT_PATH "\n"
    "[Install]\n"
    "WantedBy=multi-user.target\n";

static const char lvm_mount_content[] =
    "[Unit]\n"
    "Description=Mount the containerd LVM volume at /var/lib/containerd\n"
    "After=" LVM_UNIT "\n"
    "Before=containerd.service\n"
    "[Mount]\n"
    "What=/dev/vg-containerd/vol_containerd\n"
    "Where=/var/lib/containerd\n"
    "Type=ext4\n"
    "Options=defaults\n"
    "[Install]\n"
    "WantedBy=local-fs.target\n";

/* Idempotent, unlike the Go original's script: a reboot finds the volume and does nothing. */
static const char lvm_script[] =
    "#!/bin/bash\n"
    "# Collect every unused local disk into the LVM volume mounted at /var/lib/containerd.\n"
    "set -euo pipefail\n"
    "vg=vg-containerd\n"
    "lv=vol_containerd\n"
    "if [ -e \"/dev/$vg/$lv\" ]; then\n"
    "  exit 0\n"
    "fi\n"
    "disks=\"\"\n"
    "for disk in $(lsblk -dn -o NAME,TYPE | awk '$2 == \"disk\" {print \"/dev/\" $1}'); do\n"
    "  # Disks in use (the OS disk) refuse pvcreate and are skipped.\n"
    "  if pvcreate -y \"$disk\" >/dev/null 2>&1; then\n"
    "    disks=\"$disks $disk\"\n"
    "  fi\n"
    "done\n"
    "if [ -z \"$disks\" ]; then\n"
    "  echo \"lvm.sh: no unused local disk found\" >&2\n"
    "  exit 1\n"
    "fi\n"
    "vgcreate \"$vg\" $disks\n"
    "lvcreate -n \"$lv\" -l 100%FREE \"$vg\"\n"
    "mkfs.ext4 \"/dev/$vg/$lv\"\n";

static json_t *shoot_workers(const struct mutate_ctx *ctx) {
  json_t *w = json_object_get(
      json_object_get(
          json_object_get(json_object_get(json_object_get(ctx->cluster, "spec"), "shoot"), "spec"),
          "provider"),
      "workers");
  return json_is_array(w) ? w : NULL;
}

/* Some worker pool has a volume (hasVolume of the Go ensurer). */
static bool has_volume(const struct mutate_ctx *ctx) {
  size_t i;
  json_t *w;
  json_array_foreach(shoot_workers(ctx), i, w) {
    json_t *v = json_object_get(w, "volume");
    if (v && !json_is_null(v))
      return true;
  }
  return false;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The one machine image name all pools use; error naming them when there are several. */
static enum eng_err single_os(const struct mutate_ctx *ctx, const char **os,
                              struct eng_error *err) {
  json_t *workers = shoot_workers(ctx);
  size_t n = json_array_size(workers), k = 0;
  const char **names = xmalloc((n ? n : 1) * sizeof(*names));
  size_t i;
  json_t *w;
  json_array_foreach(workers, i, w) {
    const char *name = json_string_value(
        json_object_get(json_object_get(json_object_get(w, "machine"), "image"), "name"));
    if (!name)
      name = "";
    bool seen = false;
    for (size_t j = 0; j < k; j++)
      seen = seen || !strcmp(names[j], name);
    if (!seen)
      names[k++] = name;
  }
  *os = k ? names[0] : "";
  enum eng_err rc = ENG_OK;
  if (k > 1) {
    qsort(names, k, sizeof(*names), cmp_str);
    struct buf b;
    buf_init(&b, BUF_MAX_SMALL);
    for (size_t j = 0; j < k; j++)
      if (buf_printf(&b, "%s%s", j ? " " : "", names[j])) {
      }
    rc = eng_error_set(err, ENG_INVALID, "multiple operatingsystems used: [%s]; Only one allowed",
                       b.data ? b.data : "");
    buf_release(&b);
  }
  free(names);
  return rc;
}

static json_t *make_unit(const char *name, const char *content) {
  json_t *u = json_object();
  json_object_set_new(u, "name", json_string(name));
  json_object_set_new(u, "enable", json_true());
  json_object_set_new(u, "command", json_string("start"));
  json_object_set_new(u, "content", json_string(content));
  return u;
}

/* AppendUniqueUnit: add the unit unless one with its name exists. Takes ownership of unit. */
static void append_unique_unit(json_t *osc_spec, json_t *unit) {
  json_t *units = json_object_get(osc_spec, "units");
  if (kobj_find_by(units, "name", json_string_value(json_object_get(unit, "name")))) {
    json_decref(unit);
    return;
  }
  json_array_append_new(kobj_array_member(osc_spec, "units"), unit);
}

/* appendUniqueFile of the Go ensurer: drop files with the same path, append this one (mode 0755,
 * inline). */
static void append_unique_file(json_t *osc_spec, const char *path, const char *data) {
  json_t *files = kobj_array_member(osc_spec, "files");
  json_t *keep = json_array();
  size_t i;
  json_t *f;
  json_array_foreach(files, i, f) {
    const char *p = json_string_value(json_object_get(f, "path"));
    if (!p || strcmp(p, path))
      json_array_append(keep, f);
  }
  json_t *file = json_object();
  json_object_set_new(file, "path", json_string(path));
  json_object_set_new(file, "permissions", json_integer(0755));
  json_t *inl = json_object();
  json_object_set_new(inl, "encoding", json_string(""));
  json_object_set_new(inl, "data", json_string(data));
  json_t *content = json_object();
  json_object_set_new(content, "inline", inl);
  json_object_set_new(file, "content", content);
  json_array_append_new(keep, file);
  /* Keep the original array when nothing changes, so the patch stays empty. */
  if (!json_equal(files, keep))
    json_object_set_new(osc_spec, "files", keep);
  else
    json_decref(keep);
}

static enum eng_err ensure_kubelet_unit(json_t *spec, const struct mutate_ctx *ctx,
                                        struct eng_error *err) {
  json_t *unit = kobj_find_by(json_object_get(spec, "units"), "name", KUBELET_UNIT);
  json_t *content = json_object_get(unit, "content");
  if (!json_is_string(content))
    return ENG_OK;
  struct sdunit u;
  if (sdunit_parse(json_string_value(content), json_string_length(content), &u, err) != ENG_OK)
    return eng_error_prefix(err, "could not deserialize kubelet.service unit content"), ENG_INVALID;
  struct sdunit_option *exec = sdunit_find(&u, "Service", "ExecStart");
  if (exec) {
    struct cmdline cmd;
    cmdline_split(exec->value, &cmd);
    cmdline_ensure_prefix(&cmd, "--cloud-provider=", "external");
    if (has_volume(ctx))
      cmdline_ensure_prefix(&cmd, "--root-dir=", "/var/lib/containerd");
    free(exec->value);
    exec->value = cmdline_join(&cmd, 1, " \\\n    ");
    cmdline_release(&cmd);
  }
  char *text = sdunit_serialize(&u);
  sdunit_release(&u);
  if (strcmp(text, json_string_value(content)))
    json_object_set_new(unit, "content", json_string(text));
  free(text);
  return ENG_OK;
}

static enum eng_err ensure_kubelet_config(json_t *spec, struct eng_error *err) {
  json_t *file = kobj_find_by(json_object_get(spec, "files"), "path", KUBELET_CONFIG_PATH);
  json_t *inl = json_object_get(json_object_get(file, "content"), "inline");
  json_t *datav = json_object_get(inl, "data");
  if (!json_is_object(inl) || !json_is_string(datav))
    return ENG_OK;
  const char *enc = json_string_value(json_object_get(inl, "encoding"));
  if (!enc)
    enc = "";
  unsigned char *raw = NULL;
  size_t rl = 0;
  if (!strcmp(enc, "b64")) {
    if (b64_decode(json_string_value(datav), json_string_length(datav), &raw, &rl) != ENG_OK)
      return eng_error_set(
          err, ENG_INVALID,
          "could not decode kubelet configuration: could not decode data using file codec: "
          "the data of %s is not base64",
          KUBELET_CONFIG_PATH);
  } else if (!*enc) {
    raw = (unsigned char *)xstrndup(json_string_value(datav), json_string_length(datav));
    rl = json_string_length(datav);
  } else {
    return eng_error_set(
        err, ENG_INVALID,
        "could not decode kubelet configuration: could not parse file codec ID '%s'", enc);
  }
  json_t *cfg = yamlconv_parse((const char *)raw, rl, "kubelet configuration", err);
  free(raw);
  if (!cfg)
    return eng_error_prefix(err, "could not decode kubelet configuration"), ENG_INVALID;
  enum eng_err rc = ENG_OK;
  if (!json_is_object(cfg)) {
    rc = eng_error_set(err, ENG_INVALID,
                       "could not decode kubelet configuration: %s is not a YAML mapping",
                       KUBELET_CONFIG_PATH);
  } else if (!json_is_true(json_object_get(cfg, "enableControllerAttachDetach"))) {
    json_object_set_new(cfg, "enableControllerAttachDetach", json_true());
    size_t yl;
    char *y = yamlconv_emit(cfg, &yl, err);
    if (!y) {
      rc = (eng_error_prefix(err, "could not encode kubelet configuration"), ENG_INVALID);
    } else {
      char *data = *enc ? b64_encode(y, yl) : xstrndup(y, yl);
      json_object_set_new(inl, "data", json_string(data));
      free(data);
      free(y);
    }
  }
  json_decref(cfg);
  return rc;
}

static enum eng_err mutate_reconcile(json_t *spec, const struct mutate_ctx *ctx,
                                     struct eng_error *err) {
  enum eng_err rc = ensure_kubelet_unit(spec, ctx, err);
  if (rc == ENG_OK)
    rc = ensure_kubelet_config(spec, err);
  if (rc != ENG_OK)
    return rc;
  append_unique_file(spec, BGP_SCRIPT_PATH, bgp_script);
  append_unique_unit(spec, make_unit(BGP_UNIT, bgp_unit_content));
  return ENG_OK;
}

static enum eng_err mutate_provision(json_t *spec, const struct mutate_ctx *ctx,
                                     struct eng_error *err) {
  if (!has_volume(ctx))
    return ENG_OK;
  const char *os;
  if (single_os(ctx, &os, err) != ENG_OK)
    return ENG_INVALID;
  if (strcmp(os, "flatcar"))
    return ENG_OK;
  append_unique_file(spec, LVM_SCRIPT_PATH, lvm_script);
  append_unique_unit(spec, make_unit(LVM_UNIT, lvm_unit_content));
  append_unique_unit(spec, make_unit(LVM_MOUNT_UNIT, lvm_mount_content));
  return ENG_OK;
}

enum eng_err mutate_osc(json_t *osc, const struct mutate_ctx *ctx, struct eng_error *err) {
  json_t *spec = json_object_get(osc, "spec");
  const char *purpose = json_string_value(json_object_get(spec, "purpose"));
  if (!json_is_object(spec) || !purpose)
    return ENG_OK;
  if (!strcmp(purpose, "reconcile"))
    return mutate_reconcile(spec, ctx, err);
  if (!strcmp(purpose, "provision"))
    return mutate_provision(spec, ctx, err);
  return ENG_OK;
}
