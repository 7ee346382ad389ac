/*
 * metal_devices.c - device operations: get, list (every page), find by
 * idempotency key, create, ensure (find-or-create that never re-POSTs before a
 * lookup), delete.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "engine/base/log.h"
#include "providers/equinix-metal/api/metal_decode.h"
#include "providers/equinix-metal/api/metal_int.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEVICE_INCLUDE "include=ip_addresses.parent_block"

static bool empty(const char *s) { return !s || !*s; }

static void fail_decode(struct metal_op *op, long status, const struct eng_error *derr) {
  char *why = xasprintf("an unusable object (%s)", derr->msg);
  metal_op_bad_reply(op, status, why);
  free(why);
}

/* ---- get ---- */

static void get_step(struct metal_op *op, const struct metal_resp *r) {
  if (r->code == ENG_OK) {
    struct eng_error derr;
    if (metal_device_decode(r->json, &op->device, &derr))
      fail_decode(op, r->status, &derr);
    else
      op->res.device = &op->device;
  }
  metal_op_finish(op);
}

struct metal_op *metal_device_get(struct metal_client *c, const char *id, metal_done_fn cb,
                                  void *ud) {
  return metal_op_on_id(c, "reading", "device", "GET", "/devices", id, "?" DEVICE_INCLUDE, get_step,
                        cb, ud);
}

/* ---- list and find ---- */

static char *list_path(struct metal_client *c, const char *tag) {
  char *ep = metal_esc(metal_client_project(c));
  char *path;
  if (tag) {
    char *et = metal_esc(tag);
    path = xasprintf("/projects/%s/devices?tag=%s&" DEVICE_INCLUDE, ep, et);
    free(et);
  } else {
    path = xasprintf("/projects/%s/devices?" DEVICE_INCLUDE, ep);
  }
  free(ep);
  return path;
}

static bool has_tag(const struct metal_device *d, const char *tag) {
  for (size_t i = 0; i < d->ntags; i++)
    if (strcmp(d->tags[i], tag) == 0)
      return true;
  return false;
}

/* Decode op->list_items into op->devices, keeping only devices that carry tag (when given): a
 * server whose tag filter matches loosely must not make us adopt another object. */
static enum eng_err decode_listing(struct metal_op *op, const char *tag) {
  struct eng_error derr;
  if (metal_device_list_decode(op->list_items, &op->devices, &derr)) {
    fail_decode(op, 200, &derr);
    return op->err.code;
  }
  if (tag) {
    size_t w = 0;
    for (size_t i = 0; i < op->devices.n; i++) {
      if (!has_tag(&op->devices.items[i], tag)) {
        metal_device_clear(&op->devices.items[i]);
        continue;
      }
      if (w != i)
        op->devices.items[w] = op->devices.items[i];
      w++;
    }
    op->devices.n = w;
  }
  op->devices.pages = op->list_page;
  return ENG_OK;
}

static void list_done(struct metal_op *op) {
  if (op->err.code == ENG_OK && decode_listing(op, op->tag[0] ? op->tag : NULL) == ENG_OK)
    op->res.devices = &op->devices;
  metal_op_finish(op);
}

struct metal_op *metal_device_list(struct metal_client *c, const char *tag, metal_done_fn cb,
                                   void *ud) {
  char *what =
      tag ? xasprintf("listing the devices tagged %s in project %s", tag, metal_client_project(c))
          : xasprintf("listing the devices of project %s", metal_client_project(c));
  struct metal_op *op = metal_op_new(c, what, cb, ud);
  free(what);
  if (tag && strlen(tag) < sizeof(op->tag))
    snprintf(op->tag, sizeof(op->tag), "%s", tag);
  char *path = list_path(c, tag);
  metal_op_list(op, path, "devices", list_done);
  free(path);
  return op;
}

static void paged_page(struct metal_op *op) {
  if (decode_listing(op, op->tag[0] ? op->tag : NULL) != ENG_OK)
    return;
  for (size_t i = 0; i < op->devices.n && op->nlist_digests; i++) {
    struct metal_device *d = &op->devices.items[i];
    const uint8_t *dg = metal_list_digest_of(op, d->id);
    if (dg) {
      memcpy(d->item_digest, dg, METAL_ITEM_DIGEST_LEN);
      d->has_item_digest = true;
    }
  }
  if (op->device_page_cb && op->devices.n > 0) {
    op->in_cb = true;
    op->device_page_cb(op->ud, &op->devices);
    op->in_cb = false;
  }
  metal_device_list_clear(&op->devices);
}

static void paged_done(struct metal_op *op) {
  if (op->err.code == ENG_OK) {
    op->devices.pages = op->list_page;
    op->res.devices = &op->devices;
  }
  metal_op_finish(op);
}

struct metal_op *metal_device_list_paged(struct metal_client *c, const char *tag,
                                         metal_device_page_fn on_page, metal_done_fn cb, void *ud) {
  char *what =
      tag ? xasprintf("listing the devices tagged %s in project %s", tag, metal_client_project(c))
          : xasprintf("listing the devices of project %s", metal_client_project(c));
  struct metal_op *op = metal_op_new(c, what, cb, ud);
  free(what);
  op->device_page_cb = on_page;
  if (tag && strlen(tag) < sizeof(op->tag))
    snprintf(op->tag, sizeof(op->tag), "%s", tag);
  char *path = list_path(c, tag);
  metal_op_list_paged(op, path, "devices", paged_page, paged_done);
  free(path);
  return op;
}

struct metal_op *metal_device_find(struct metal_client *c, const char *key, metal_done_fn cb,
                                   void *ud) {
  char *what =
      xasprintf("looking up the device with idempotency key %s", empty(key) ? "(none)" : key);
  struct metal_op *op = metal_op_new(c, what, cb, ud);
  free(what);
  if (!metal_idem_tag(key, op->tag)) {
    eng_error_set(&op->err, ENG_INVALID, "%s failed: the idempotency key is empty", op->what);
    metal_op_finish_later(op);
    return op;
  }
  char *path = list_path(c, op->tag);
  metal_op_list(op, path, "devices", list_done);
  free(path);
  return op;
}

/* ---- create ---- */

static json_t *str_list(const char *const *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++)
    if (v[i] && *v[i])
      json_array_append_new(a, json_string(v[i]));
  return a;
}

/* Validate spec and build the request body; NULL with op->err set when spec is unusable. */
static json_t *create_body(struct metal_op *op, const struct metal_device_spec *s, bool need_key) {
  const char *missing = NULL;
  if (empty(s->hostname))
    missing = "a hostname";
  else if (empty(s->metro))
    missing = "a metro";
  else if (empty(s->plan))
    missing = "a plan";
  else if (empty(s->operating_system) && empty(s->ipxe_script_url))
    missing = "an operating system or an iPXE script URL";
  else if (need_key && empty(s->idempotency_key))
    missing = "an idempotency key";
  if (missing) {
    eng_error_set(&op->err, ENG_INVALID, "%s failed: the request has no %s", op->what, missing);
    return NULL;
  }
  json_t *b = json_object();
  json_object_set_new(b, "hostname", json_string(s->hostname));
  json_object_set_new(b, "metro", json_string(s->metro));
  json_object_set_new(b, "plan", json_string(s->plan));
  json_object_set_new(
      b, "operating_system",
      json_string(empty(s->operating_system) ? "custom_ipxe" : s->operating_system));
  json_object_set_new(b, "billing_cycle",
                      json_string(empty(s->billing_cycle) ? "hourly" : s->billing_cycle));
  if (!empty(s->ipxe_script_url))
    json_object_set_new(b, "ipxe_script_url", json_string(s->ipxe_script_url));
  if (s->always_pxe)
    json_object_set_new(b, "always_pxe", json_true());
  if (!empty(s->userdata))
    json_object_set_new(b, "userdata", json_string(s->userdata));
  if (!empty(s->description))
    json_object_set_new(b, "description", json_string(s->description));
  if (!empty(s->hardware_reservation_id))
    json_object_set_new(b, "hardware_reservation_id", json_string(s->hardware_reservation_id));
  if (s->nkeys)
    json_object_set_new(b, "project_ssh_keys", str_list(s->project_ssh_keys, s->nkeys));
  json_t *tags = str_list(s->tags, s->ntags);
  if (!empty(s->idempotency_key) && metal_idem_tag(s->idempotency_key, op->tag))
    json_array_append_new(tags, json_string(op->tag));
  json_object_set_new(b, "tags", tags);
  return b;
}

static void set_create_ctx(struct metal_op *op, const struct metal_device_spec *s) {
  op->plan = s->plan ? xstrdup(s->plan) : NULL;
  op->metro = s->metro ? xstrdup(s->metro) : NULL;
  op->os =
      xstrdup(!empty(s->operating_system) ? s->operating_system
                                          : (!empty(s->ipxe_script_url) ? "custom_ipxe" : "-"));
}

static char *create_what(const struct metal_device_spec *s) {
  return xasprintf("creating device %s in metro %s",
                   empty(s->hostname) ? "(no hostname)" : s->hostname,
                   empty(s->metro) ? "(none)" : s->metro);
}

static void create_step(struct metal_op *op, const struct metal_resp *r) {
  if (r->code == ENG_OK) {
    struct eng_error derr;
    if (metal_device_decode(r->json, &op->device, &derr))
      fail_decode(op, r->status, &derr);
    else
      op->res.device = &op->device;
  }
  metal_op_finish(op);
}

static char *create_path(struct metal_client *c) {
  char *ep = metal_esc(metal_client_project(c));
  char *path = xasprintf("/projects/%s/devices?" DEVICE_INCLUDE, ep);
  free(ep);
  return path;
}

struct metal_op *metal_device_create(struct metal_client *c, const struct metal_device_spec *spec,
                                     metal_done_fn cb, void *ud) {
  char *what = create_what(spec);
  struct metal_op *op = metal_op_new(c, what, cb, ud);
  free(what);
  set_create_ctx(op, spec);
  json_t *body = create_body(op, spec, false);
  if (!body) {
    metal_op_finish_later(op);
    return op;
  }
  char *path = create_path(c);
  metal_op_send(op, "POST", path, body, false, create_step);
  free(path);
  return op;
}

/* ---- ensure ---- */

static void ensure_lookup(struct metal_op *op);

/* The device of a listing to adopt: carries the tag, is not on its way out; the oldest wins. */
static const struct metal_device *pick(const struct metal_device_list *l, size_t *candidates) {
  const struct metal_device *best = NULL;
  *candidates = 0;
  for (size_t i = 0; i < l->n; i++) {
    const struct metal_device *d = &l->items[i];
    if (strcmp(d->state, "deleted") == 0 || strcmp(d->state, "deprovisioning") == 0)
      continue;
    (*candidates)++;
    if (!best || strcmp(d->created_at, best->created_at) < 0 ||
        (strcmp(d->created_at, best->created_at) == 0 && strcmp(d->id, best->id) < 0))
      best = d;
  }
  return best;
}

/* How long to wait before the lookup that settles an ambiguous create: settle_ms, or longer when
 * the server asked for it (503 with Retry-After). */
static long settle_wait(const struct metal_op *op) {
  long ms = op->c->settle_ms, ra = op->saved_err.retry_after_ms;
  if (ra > ms)
    ms = ra > op->c->max_pause_ms ? op->c->max_pause_ms : ra;
  return ms;
}

static void ensure_create_step(struct metal_op *op, const struct metal_resp *r) {
  if (r->code == ENG_OK) {
    create_step(op, r);
    return;
  }
  if (!metal_ambiguous(&op->err)) {
    metal_op_finish(op); /* definitive: nothing was created */
    return;
  }
  /* The device may exist now. Never POST again before a lookup has confirmed its absence; give
   * the API a moment to list what it created. */
  op->saved_err = op->err;
  eng_error_clear(&op->err);
  log_warn("the outcome of a device create is unknown; looking it up before any new attempt",
           "operation", op->what, "tag", op->tag, "error", op->saved_err.msg, NULL);
  metal_op_after(op, settle_wait(op), ensure_lookup);
}

static void ensure_lookup_done(struct metal_op *op) {
  if (op->err.code == ENG_OK)
    decode_listing(op, op->tag);
  if (op->err.code != ENG_OK) {
    if (op->creates > 0) {
      /* The earlier create is still unsettled; say so, so that nobody assumes it failed. */
      eng_error_prefix(&op->err,
                       "the outcome of an earlier create request is unknown (%s) and the lookup "
                       "that would settle it failed, so the next attempt looks up again before "
                       "creating",
                       eng_strerror(op->saved_err.code));
    }
    metal_op_finish(op);
    return;
  }
  size_t candidates = 0;
  const struct metal_device *d = pick(&op->devices, &candidates);
  if (d) {
    if (candidates > 1) {
      char n[24];
      snprintf(n, sizeof(n), "%zu", candidates);
      log_warn("several devices carry the same idempotency key; adopting the oldest", "operation",
               op->what, "tag", op->tag, "count", n, "device", d->id, NULL);
    }
    metal_device_decode(d->raw, &op->device, NULL);
    metal_device_list_clear(&op->devices);
    op->res.device = &op->device;
    op->res.adopted = true;
    op->res.duplicates = candidates > 1 ? candidates - 1 : 0;
    metal_op_finish(op);
    return;
  }
  metal_device_list_clear(&op->devices);
  if (op->creates >= op->c->max_create_attempts) {
    /* Confirmed absent, but out of attempts: report the last create failure. */
    op->err = op->saved_err;
    metal_op_finish(op);
    return;
  }
  op->creates++;
  char *path = create_path(op->c);
  metal_op_send(op, "POST", path, json_incref(op->create_body), false, ensure_create_step);
  free(path);
}

static void ensure_lookup(struct metal_op *op) {
  char *path = list_path(op->c, op->tag);
  metal_op_list(op, path, "devices", ensure_lookup_done);
  free(path);
}

struct metal_op *metal_device_ensure(struct metal_client *c, const struct metal_device_spec *spec,
                                     metal_done_fn cb, void *ud) {
  char *what = create_what(spec);
  struct metal_op *op = metal_op_new(c, what, cb, ud);
  free(what);
  set_create_ctx(op, spec);
  op->create_body = create_body(op, spec, true);
  if (!op->create_body) {
    metal_op_finish_later(op);
    return op;
  }
  ensure_lookup(op);
  return op;
}

/* ---- delete ---- */

struct metal_op *metal_device_delete(struct metal_client *c, const char *id, metal_done_fn cb,
                                     void *ud) {
  return metal_op_on_id(c, "deleting", "device", "DELETE", "/devices", id, "", metal_delete_step,
                        cb, ud);
}
