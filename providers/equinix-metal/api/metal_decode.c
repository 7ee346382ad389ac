/*
 * metal_decode.c - API objects into structs, copies, and the device summary the
 * poller journals.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/api/metal_decode.h"
#include "engine/base/xalloc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Optional string member: "" when absent or null; an error when of another type. */
static enum eng_err opt_str(const json_t *o, const char *key, char **out, const char *obj,
                            struct eng_error *err) {
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v)) {
    *out = xstrdup("");
    return ENG_OK;
  }
  if (!json_is_string(v)) {
    *out = xstrdup("");
    return eng_error_set(err, ENG_PROTOCOL, "%s: field '%s' is not a string", obj, key);
  }
  *out = xstrdup(json_string_value(v));
  return ENG_OK;
}

/* Lenient string: "" unless a string. */
static char *soft_str(const json_t *v) {
  return xstrdup(json_is_string(v) ? json_string_value(v) : "");
}

/* A related object given as {"code"/"slug": ...}, a plain string, or {"href"}: its name or "". */
static char *related_name(const json_t *o, const char *key, const char *field) {
  json_t *v = json_object_get(o, key);
  if (json_is_string(v))
    return xstrdup(json_string_value(v));
  if (json_is_object(v))
    return soft_str(json_object_get(v, field));
  return xstrdup("");
}

static enum eng_err str_array(const json_t *o, const char *key, char ***out, size_t *n,
                              const char *obj, struct eng_error *err) {
  *out = NULL;
  *n = 0;
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v))
    return ENG_OK;
  if (!json_is_array(v))
    return eng_error_set(err, ENG_PROTOCOL, "%s: field '%s' is not a list of strings", obj, key);
  size_t cnt = json_array_size(v);
  char **arr = xcalloc(cnt ? cnt : 1, sizeof(*arr));
  for (size_t i = 0; i < cnt; i++) {
    json_t *e = json_array_get(v, i);
    if (!json_is_string(e)) {
      for (size_t k = 0; k < i; k++)
        free(arr[k]);
      free(arr);
      return eng_error_set(err, ENG_PROTOCOL, "%s: field '%s' is not a list of strings", obj, key);
    }
    arr[i] = xstrdup(json_string_value(e));
  }
  *out = arr;
  *n = cnt;
  return ENG_OK;
}

static void free_strs(char **a, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(a[i]);
  free(a);
}

static int soft_int(const json_t *v, int dflt) {
  if (json_is_integer(v)) {
    json_int_t x = json_integer_value(v);
    if (x >= -1000000 && x <= 1000000)
      return (int)x;
  }
  return dflt;
}

static void ip_decode(const json_t *v, struct metal_ip *ip) {
  ip->id = soft_str(json_object_get(v, "id"));
  ip->address = soft_str(json_object_get(v, "address"));
  ip->network = soft_str(json_object_get(v, "network"));
  ip->gateway = soft_str(json_object_get(v, "gateway"));
  ip->address_family = soft_int(json_object_get(v, "address_family"), 0);
  ip->cidr = soft_int(json_object_get(v, "cidr"), -1);
  ip->public_ip = json_is_true(json_object_get(v, "public"));
  ip->management = json_is_true(json_object_get(v, "management"));
  json_t *pb = json_object_get(v, "parent_block");
  ip->parent_network = soft_str(json_is_object(pb) ? json_object_get(pb, "network") : NULL);
  ip->parent_cidr = soft_int(json_is_object(pb) ? json_object_get(pb, "cidr") : NULL, -1);
}

static void ip_clear(struct metal_ip *ip) {
  free(ip->id);
  free(ip->address);
  free(ip->network);
  free(ip->gateway);
  free(ip->parent_network);
}

/* The id of v, an object of a response that messages call what ("a device"), and in obj its name
 * for messages ("device <id>"); NULL (err set) when v is not an object or has no id. */
static const char *object_id(const json_t *v, const char *what, char obj[128],
                             struct eng_error *err) {
  if (!json_is_object(v)) {
    eng_error_set(err, ENG_PROTOCOL, "%s in the response is not a JSON object", what);
    return NULL;
  }
  const char *id = json_string_value(json_object_get(v, "id"));
  if (!id || !*id) {
    eng_error_set(err, ENG_PROTOCOL, "%s in the response has no id", what);
    return NULL;
  }
  snprintf(obj, 128, "%s %.80s", strchr(what, ' ') + 1, id);
  return id;
}

/* Does entry i of arr have the id of an earlier entry (a page boundary moved while the pages were
 * read)? */
static bool repeats_id(const json_t *arr, size_t i) {
  const char *id = json_string_value(json_object_get(json_array_get(arr, i), "id"));
  for (size_t k = 0; id && k < i; k++) {
    const char *other = json_string_value(json_object_get(json_array_get(arr, k), "id"));
    if (other && !strcmp(other, id))
      return true;
  }
  return false;
}

/* One kind of object in a list response. */
struct list_kind {
  const char *what; /* "devices", in messages */
  size_t size;      /* of one item */
  enum eng_err (*decode)(const json_t *v, void *item, struct eng_error *err);
  void (*clear)(void *item);
  bool skip_repeated; /* leave out entries whose id an earlier entry had (repeats_id) */
};

/* Decode the array arr into *items_out (*n_out of them): NULL and 0 on error. */
static enum eng_err list_decode(const json_t *arr, const struct list_kind *k, void **items_out,
                                size_t *n_out, struct eng_error *err) {
  *items_out = NULL;
  *n_out = 0;
  if (!json_is_array(arr))
    return eng_error_set(err, ENG_PROTOCOL, "the list of %s is not a JSON array", k->what);
  size_t cnt = json_array_size(arr), n = 0;
  char *items = xcalloc(cnt ? cnt : 1, k->size);
  for (size_t i = 0; i < cnt; i++) {
    if (k->skip_repeated && repeats_id(arr, i))
      continue;
    enum eng_err rc = k->decode(json_array_get(arr, i), items + n * k->size, err);
    if (rc) {
      for (size_t c = 0; c < n; c++)
        k->clear(items + c * k->size);
      free(items);
      return rc;
    }
    n++;
  }
  *items_out = items;
  *n_out = n;
  return ENG_OK;
}

void metal_device_clear(struct metal_device *d) {
  if (!d)
    return;
  free(d->id);
  free(d->hostname);
  free(d->state);
  free(d->metro);
  free(d->plan);
  free(d->operating_system);
  free(d->billing_cycle);
  free(d->created_at);
  free(d->hardware_reservation_id);
  free(d->ipxe_script_url);
  free_strs(d->tags, d->ntags);
  for (size_t i = 0; i < d->nips; i++)
    ip_clear(&d->ips[i]);
  free(d->ips);
  json_decref(d->raw);
  memset(d, 0, sizeof(*d));
}

enum eng_err metal_device_decode(const json_t *v, struct metal_device *out, struct eng_error *err) {
  memset(out, 0, sizeof(*out));
  char obj[128];
  const char *id = object_id(v, "a device", obj, err);
  if (!id)
    return ENG_PROTOCOL;
  struct metal_device d;
  memset(&d, 0, sizeof(d));
  d.id = xstrdup(id);
  enum eng_err rc = ENG_OK;
  json_t *st = json_object_get(v, "state");
  if (!json_is_string(st)) {
    rc = eng_error_set(err, ENG_PROTOCOL, "%s: field 'state' is missing or not a string", obj);
    goto fail;
  }
  d.state = xstrdup(json_string_value(st));
  if ((rc = opt_str(v, "hostname", &d.hostname, obj, err)))
    goto fail;
  if ((rc = str_array(v, "tags", &d.tags, &d.ntags, obj, err)))
    goto fail;
  d.metro = related_name(v, "metro", "code");
  d.plan = related_name(v, "plan", "slug");
  d.operating_system = related_name(v, "operating_system", "slug");
  d.billing_cycle = soft_str(json_object_get(v, "billing_cycle"));
  d.created_at = soft_str(json_object_get(v, "created_at"));
  d.ipxe_script_url = soft_str(json_object_get(v, "ipxe_script_url"));
  d.hardware_reservation_id = related_name(v, "hardware_reservation", "id");
  d.locked = json_is_true(json_object_get(v, "locked"));
  json_t *pp = json_object_get(v, "provisioning_percentage");
  d.provisioning_percentage = json_is_number(pp) ? json_number_value(pp) : -1;
  if (!isfinite(d.provisioning_percentage))
    d.provisioning_percentage = -1;
  json_t *ips = json_object_get(v, "ip_addresses");
  if (ips && !json_is_null(ips)) {
    if (!json_is_array(ips)) {
      rc = eng_error_set(err, ENG_PROTOCOL, "%s: field 'ip_addresses' is not a list", obj);
      goto fail;
    }
    size_t n = json_array_size(ips);
    d.ips = xcalloc(n ? n : 1, sizeof(*d.ips));
    for (size_t i = 0; i < n; i++) {
      json_t *e = json_array_get(ips, i);
      if (!json_is_object(e)) {
        rc = eng_error_set(err, ENG_PROTOCOL, "%s: an entry of 'ip_addresses' is not an object",
                           obj);
        goto fail;
      }
      ip_decode(e, &d.ips[d.nips++]);
    }
  }
  d.raw = json_incref((json_t *)v);
  *out = d;
  return ENG_OK;
fail:
  metal_device_clear(&d);
  return rc;
}

static int cmp_device(const void *a, const void *b) {
  return strcmp(((const struct metal_device *)a)->id, ((const struct metal_device *)b)->id);
}

void metal_device_list_clear(struct metal_device_list *l) {
  if (!l)
    return;
  for (size_t i = 0; i < l->n; i++)
    metal_device_clear(&l->items[i]);
  free(l->items);
  l->items = NULL;
  l->n = 0;
}

static enum eng_err device_item(const json_t *v, void *item, struct eng_error *err) {
  return metal_device_decode(v, item, err);
}
static void device_item_clear(void *item) { metal_device_clear(item); }
static const struct list_kind device_kind = {"devices", sizeof(struct metal_device), device_item,
                                             device_item_clear, false};

enum eng_err metal_device_list_decode(const json_t *arr, struct metal_device_list *out,
                                      struct eng_error *err) {
  memset(out, 0, sizeof(*out));
  void *items;
  enum eng_err rc = list_decode(arr, &device_kind, &items, &out->n, err);
  out->items = items;
  if (rc)
    return rc;
  if (out->n > 1)
    qsort(out->items, out->n, sizeof(*out->items), cmp_device);
  /* A device that moved between pages while they were read appears twice: keep the first. */
  size_t w = 0;
  for (size_t i = 0; i < out->n; i++) {
    if (w > 0 && strcmp(out->items[w - 1].id, out->items[i].id) == 0) {
      metal_device_clear(&out->items[i]);
      continue;
    }
    if (w != i)
      out->items[w] = out->items[i];
    w++;
  }
  out->n = w;
  return ENG_OK;
}

void metal_sshkey_clear(struct metal_sshkey *k) {
  if (!k)
    return;
  free(k->id);
  free(k->label);
  free(k->key);
  free(k->fingerprint);
  free(k->created_at);
  free_strs(k->tags, k->ntags);
  json_decref(k->raw);
  memset(k, 0, sizeof(*k));
}

enum eng_err metal_sshkey_decode(const json_t *v, struct metal_sshkey *out, struct eng_error *err) {
  memset(out, 0, sizeof(*out));
  char obj[128];
  const char *id = object_id(v, "an SSH key", obj, err);
  if (!id)
    return ENG_PROTOCOL;
  struct metal_sshkey k;
  memset(&k, 0, sizeof(k));
  k.id = xstrdup(id);
  enum eng_err rc;
  if ((rc = opt_str(v, "label", &k.label, obj, err)) ||
      (rc = opt_str(v, "key", &k.key, obj, err)) ||
      (rc = str_array(v, "tags", &k.tags, &k.ntags, obj, err))) {
    metal_sshkey_clear(&k);
    return rc;
  }
  k.fingerprint = soft_str(json_object_get(v, "fingerprint"));
  k.created_at = soft_str(json_object_get(v, "created_at"));
  k.raw = json_incref((json_t *)v);
  *out = k;
  return ENG_OK;
}

static enum eng_err sshkey_item(const json_t *v, void *item, struct eng_error *err) {
  return metal_sshkey_decode(v, item, err);
}
static void sshkey_item_clear(void *item) { metal_sshkey_clear(item); }
static const struct list_kind sshkey_kind = {"SSH keys", sizeof(struct metal_sshkey), sshkey_item,
                                             sshkey_item_clear, true};

enum eng_err metal_sshkey_list_decode(const json_t *arr, struct metal_sshkey_list *out,
                                      struct eng_error *err) {
  memset(out, 0, sizeof(*out));
  void *items;
  enum eng_err rc = list_decode(arr, &sshkey_kind, &items, &out->n, err);
  out->items = items;
  return rc;
}

void metal_ipres_clear(struct metal_ip_reservation *r) {
  if (!r)
    return;
  free(r->id);
  free(r->address);
  free(r->network);
  free(r->gateway);
  free(r->type);
  free(r->state);
  free(r->metro);
  free(r->parent_network);
  free_strs(r->tags, r->ntags);
  json_decref(r->raw);
  memset(r, 0, sizeof(*r));
}

enum eng_err metal_ipres_decode(const json_t *v, struct metal_ip_reservation *out,
                                struct eng_error *err) {
  memset(out, 0, sizeof(*out));
  char obj[128];
  const char *id = object_id(v, "an IP reservation", obj, err);
  if (!id)
    return ENG_PROTOCOL;
  struct metal_ip_reservation r;
  memset(&r, 0, sizeof(r));
  r.id = xstrdup(id);
  enum eng_err rc = str_array(v, "tags", &r.tags, &r.ntags, obj, err);
  if (rc) {
    metal_ipres_clear(&r);
    return rc;
  }
  struct metal_ip ip; /* the fields a reservation shares with a device's address */
  ip_decode(v, &ip);
  free(ip.id);
  r.address = ip.address;
  r.network = ip.network;
  r.gateway = ip.gateway;
  r.address_family = ip.address_family;
  r.cidr = ip.cidr;
  r.public_ip = ip.public_ip;
  r.management = ip.management;
  r.parent_network = ip.parent_network;
  r.parent_cidr = ip.parent_cidr;
  r.type = soft_str(json_object_get(v, "type"));
  r.state = soft_str(json_object_get(v, "state"));
  r.metro = related_name(v, "metro", "code");
  r.raw = json_incref((json_t *)v);
  *out = r;
  return ENG_OK;
}

static enum eng_err ipres_item(const json_t *v, void *item, struct eng_error *err) {
  return metal_ipres_decode(v, item, err);
}
static void ipres_item_clear(void *item) { metal_ipres_clear(item); }
static const struct list_kind ipres_kind = {"IP reservations", sizeof(struct metal_ip_reservation),
                                            ipres_item, ipres_item_clear, true};

enum eng_err metal_ip_list_decode(const json_t *arr, struct metal_ip_list *out,
                                  struct eng_error *err) {
  memset(out, 0, sizeof(*out));
  void *items;
  enum eng_err rc = list_decode(arr, &ipres_kind, &items, &out->n, err);
  out->items = items;
  return rc;
}

/* ---- copies and destructors ---- */

struct metal_device *metal_device_dup(const struct metal_device *d) {
  if (!d)
    return NULL;
  struct metal_device *c = xcalloc(1, sizeof(*c));
  /* raw was accepted by the decoder once, so decoding it again cannot fail. */
  if (metal_device_decode(d->raw, c, NULL)) {
    free(c);
    return NULL;
  }
  return c;
}

void metal_device_free(struct metal_device *d) {
  if (!d)
    return;
  metal_device_clear(d);
  free(d);
}

struct metal_device_list *metal_device_list_dup(const struct metal_device_list *l) {
  if (!l)
    return NULL;
  struct metal_device_list *c = xcalloc(1, sizeof(*c));
  c->items = xcalloc(l->n ? l->n : 1, sizeof(*c->items));
  for (size_t i = 0; i < l->n; i++) {
    if (metal_device_decode(l->items[i].raw, &c->items[c->n], NULL) == ENG_OK)
      c->n++;
  }
  c->pages = l->pages;
  return c;
}

void metal_device_list_free(struct metal_device_list *l) {
  if (!l)
    return;
  metal_device_list_clear(l);
  free(l);
}

struct metal_sshkey *metal_sshkey_dup(const struct metal_sshkey *k) {
  if (!k)
    return NULL;
  struct metal_sshkey *c = xcalloc(1, sizeof(*c));
  if (metal_sshkey_decode(k->raw, c, NULL)) {
    free(c);
    return NULL;
  }
  return c;
}

void metal_sshkey_free(struct metal_sshkey *k) {
  if (!k)
    return;
  metal_sshkey_clear(k);
  free(k);
}

void metal_sshkey_list_free_items(struct metal_sshkey_list *l) {
  for (size_t i = 0; i < l->n; i++)
    metal_sshkey_clear(&l->items[i]);
  free(l->items);
  l->items = NULL;
  l->n = 0;
}

void metal_sshkey_list_free(struct metal_sshkey_list *l) {
  if (!l)
    return;
  metal_sshkey_list_free_items(l);
  free(l);
}

void metal_ip_list_free(struct metal_ip_list *l) {
  if (!l)
    return;
  for (size_t i = 0; i < l->n; i++)
    metal_ipres_clear(&l->items[i]);
  free(l->items);
  free(l);
}

/* ---- summary ---- */

bool metal_state_transitional(const char *state) {
  static const char *const t[] = {"queued",       "provisioning", "deprovisioning",
                                  "reinstalling", "powering_on",  "powering_off"};
  if (!state)
    return false;
  for (size_t i = 0; i < ARRAY_SIZE(t); i++)
    if (strcmp(state, t[i]) == 0)
      return true;
  return false;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_ip(const void *a, const void *b) {
  const struct metal_ip *x = *(const struct metal_ip *const *)a,
                        *y = *(const struct metal_ip *const *)b;
  int c = strcmp(x->address, y->address);
  return c ? c : x->cidr - y->cidr;
}

json_t *metal_device_summary(const struct metal_device *d) {
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(d->id));
  json_object_set_new(o, "hostname", json_string(d->hostname ? d->hostname : ""));
  json_object_set_new(o, "state", json_string(d->state ? d->state : ""));
  json_object_set_new(o, "metro", json_string(d->metro ? d->metro : ""));
  json_object_set_new(o, "plan", json_string(d->plan ? d->plan : ""));
  json_object_set_new(o, "operating_system",
                      json_string(d->operating_system ? d->operating_system : ""));
  json_object_set_new(o, "billing_cycle", json_string(d->billing_cycle ? d->billing_cycle : ""));
  json_object_set_new(o, "created_at", json_string(d->created_at ? d->created_at : ""));
  json_object_set_new(o, "locked", json_boolean(d->locked));
  if (d->hardware_reservation_id && *d->hardware_reservation_id)
    json_object_set_new(o, "hardware_reservation_id", json_string(d->hardware_reservation_id));
  const char **tags = xcalloc(d->ntags ? d->ntags : 1, sizeof(*tags));
  for (size_t i = 0; i < d->ntags; i++)
    tags[i] = d->tags[i];
  if (d->ntags > 1)
    qsort(tags, d->ntags, sizeof(*tags), cmp_str);
  json_t *ta = json_array();
  for (size_t i = 0; i < d->ntags; i++)
    json_array_append_new(ta, json_string(tags[i]));
  free(tags);
  json_object_set_new(o, "tags", ta);
  const struct metal_ip **ips = xcalloc(d->nips ? d->nips : 1, sizeof(*ips));
  for (size_t i = 0; i < d->nips; i++)
    ips[i] = &d->ips[i];
  if (d->nips > 1)
    qsort(ips, d->nips, sizeof(*ips), cmp_ip);
  json_t *ia = json_array();
  for (size_t i = 0; i < d->nips; i++) {
    json_t *e = json_object();
    json_object_set_new(e, "address", json_string(ips[i]->address));
    json_object_set_new(e, "address_family", json_integer(ips[i]->address_family));
    json_object_set_new(e, "cidr", json_integer(ips[i]->cidr));
    json_object_set_new(e, "public", json_boolean(ips[i]->public_ip));
    json_object_set_new(e, "management", json_boolean(ips[i]->management));
    if (ips[i]->parent_network && *ips[i]->parent_network) {
      json_t *pb = json_object();
      json_object_set_new(pb, "network", json_string(ips[i]->parent_network));
      json_object_set_new(pb, "cidr", json_integer(ips[i]->parent_cidr));
      json_object_set_new(e, "parent_block", pb);
    }
    json_array_append_new(ia, e);
  }
  free(ips);
  json_object_set_new(o, "ips", ia);
  /* Progress only while provisioning, in steps of 10, so that a device creeping through 37, 38,
   * 39 % is not journaled on every poll. */
  if (d->state && strcmp(d->state, "provisioning") == 0 && d->provisioning_percentage >= 0) {
    double p = d->provisioning_percentage > 100 ? 100 : d->provisioning_percentage;
    json_object_set_new(o, "provisioning_percentage",
                        json_integer((json_int_t)(floor(p / 10) * 10)));
  }
  return o;
}

bool metal_sshkey_same(const char *a, const char *b) {
  if (!a || !b)
    return false;
  /* Compare the first two whitespace-separated fields: key type and base64 body. */
  for (int field = 0; field < 2; field++) {
    while (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r')
      a++;
    while (*b == ' ' || *b == '\t' || *b == '\n' || *b == '\r')
      b++;
    size_t la = strcspn(a, " \t\r\n"), lb = strcspn(b, " \t\r\n");
    if (la != lb || memcmp(a, b, la) != 0)
      return false;
    a += la;
    b += lb;
  }
  return true;
}
