/*
 * metal_sync.c - synchronous wrappers for tests: start the
 * operation, run the client's loop until its callback ran, hand out copies.
 */
#include "engine/base/common.h"
#include "test/lib/metal_sync.h"
#include "providers/equinix-metal/api/metal_decode.h"
#include "engine/base/xalloc.h"

#include <ev.h>
#include <stdlib.h>
#include <string.h>

struct sync {
  bool done;
  enum eng_err code;
  struct eng_error *err;
  struct metal_device *device;
  struct metal_device_list *devices;
  struct metal_sshkey *sshkey;
  struct metal_sshkey_list *sshkeys;
  struct metal_ip_list *ips;
  bool adopted, gone;
};

static struct metal_sshkey_list *sshkeys_dup(const struct metal_sshkey_list *l) {
  struct metal_sshkey_list *c = xcalloc(1, sizeof(*c));
  c->items = xcalloc(l->n ? l->n : 1, sizeof(*c->items));
  for (size_t i = 0; i < l->n; i++) {
    struct metal_sshkey *k = metal_sshkey_dup(&l->items[i]);
    if (k) {
      c->items[c->n++] = *k;
      free(k);
    }
  }
  c->pages = l->pages;
  return c;
}

static struct metal_ip_list *ips_dup(const struct metal_ip_list *l) {
  struct metal_ip_list *c = xcalloc(1, sizeof(*c));
  c->items = xcalloc(l->n ? l->n : 1, sizeof(*c->items));
  for (size_t i = 0; i < l->n; i++) {
    if (metal_ipres_decode(l->items[i].raw, &c->items[c->n], NULL) == ENG_OK)
      c->n++;
  }
  c->pages = l->pages;
  return c;
}

static void sync_cb(void *ud, const struct metal_result *r) {
  struct sync *s = ud;
  s->done = true;
  s->code = r->code;
  if (s->err)
    *s->err = *r->err;
  if (r->device)
    s->device = metal_device_dup(r->device);
  if (r->devices)
    s->devices = metal_device_list_dup(r->devices);
  if (r->sshkey)
    s->sshkey = metal_sshkey_dup(r->sshkey);
  if (r->sshkeys)
    s->sshkeys = sshkeys_dup(r->sshkeys);
  if (r->ips)
    s->ips = ips_dup(r->ips);
  s->adopted = r->adopted;
  s->gone = r->gone;
}

static void run(struct metal_client *c, struct sync *s) {
  while (!s->done)
    ev_run(metal_client_loop(c), EVRUN_ONCE);
}

static void init(struct sync *s, struct eng_error *err) {
  memset(s, 0, sizeof(*s));
  s->err = err;
  eng_error_clear(err);
}

enum eng_err metal_device_get_sync(struct metal_client *c, const char *id,
                                   struct metal_device **out, struct eng_error *err) {
  struct sync s;
  init(&s, err);
  metal_device_get(c, id, sync_cb, &s);
  run(c, &s);
  if (out)
    *out = s.device;
  else
    metal_device_free(s.device);
  return s.code;
}

enum eng_err metal_device_list_sync(struct metal_client *c, const char *tag,
                                    struct metal_device_list **out, struct eng_error *err) {
  struct sync s;
  init(&s, err);
  metal_device_list(c, tag, sync_cb, &s);
  run(c, &s);
  if (out)
    *out = s.devices;
  else
    metal_device_list_free(s.devices);
  return s.code;
}

enum eng_err metal_device_find_sync(struct metal_client *c, const char *key,
                                    struct metal_device_list **out, struct eng_error *err) {
  struct sync s;
  init(&s, err);
  metal_device_find(c, key, sync_cb, &s);
  run(c, &s);
  if (out)
    *out = s.devices;
  else
    metal_device_list_free(s.devices);
  return s.code;
}

enum eng_err metal_device_create_sync(struct metal_client *c, const struct metal_device_spec *spec,
                                      struct metal_device **out, struct eng_error *err) {
  struct sync s;
  init(&s, err);
  metal_device_create(c, spec, sync_cb, &s);
  run(c, &s);
  if (out)
    *out = s.device;
  else
    metal_device_free(s.device);
  return s.code;
}

enum eng_err metal_device_ensure_sync(struct metal_client *c, const struct metal_device_spec *spec,
                                      struct metal_device **out, bool *adopted,
                                      struct eng_error *err) {
  struct sync s;
  init(&s, err);
  metal_device_ensure(c, spec, sync_cb, &s);
  run(c, &s);
  if (out)
    *out = s.device;
  else
    metal_device_free(s.device);
  if (adopted)
    *adopted = s.adopted;
  return s.code;
}

enum eng_err metal_device_delete_sync(struct metal_client *c, const char *id, bool *gone,
                                      struct eng_error *err) {
  struct sync s;
  init(&s, err);
  metal_device_delete(c, id, sync_cb, &s);
  run(c, &s);
  if (gone)
    *gone = s.gone;
  return s.code;
}

enum eng_err metal_sshkey_ensure_sync(struct metal_client *c, const char *label, const char *key,
                                      struct metal_sshkey **out, bool *adopted,
                                      struct eng_error *err) {
  struct sync s;
  init(&s, err);
  metal_sshkey_ensure(c, label, key, sync_cb, &s);
  run(c, &s);
  if (out)
    *out = s.sshkey;
  else
    metal_sshkey_free(s.sshkey);
  if (adopted)
    *adopted = s.adopted;
  return s.code;
}

enum eng_err metal_sshkey_list_sync(struct metal_client *c, struct metal_sshkey_list **out,
                                    struct eng_error *err) {
  struct sync s;
  init(&s, err);
  metal_sshkey_list(c, sync_cb, &s);
  run(c, &s);
  if (out)
    *out = s.sshkeys;
  else
    metal_sshkey_list_free(s.sshkeys);
  return s.code;
}

enum eng_err metal_sshkey_delete_sync(struct metal_client *c, const char *id, bool *gone,
                                      struct eng_error *err) {
  struct sync s;
  init(&s, err);
  metal_sshkey_delete(c, id, sync_cb, &s);
  run(c, &s);
  if (gone)
    *gone = s.gone;
  return s.code;
}

enum eng_err metal_ip_list_sync(struct metal_client *c, const char *types,
                                struct metal_ip_list **out, struct eng_error *err) {
  struct sync s;
  init(&s, err);
  metal_ip_list(c, types, sync_cb, &s);
  run(c, &s);
  if (out)
    *out = s.ips;
  else
    metal_ip_list_free(s.ips);
  return s.code;
}
