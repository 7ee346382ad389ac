/*
 * events.c - core/v1 Event recorder with count de-duplication (client-go EventCorrelator's
 * dedup step).
 *
 * The recorder remembers, per event key (involved object + type + reason + message), the
 * Event it created and its count, in an LRU of KUBE_RECORDER_CACHE entries. An entry keeps the
 * key's fields in one string and rebuilds the Event from them when it must be created (first,
 * or again after it expired on the server): at 1,000 shoots the Event objects it used to keep
 * were 3 MB of the controller's heap. One write per
 * key is in flight at a time: events recorded meanwhile only raise the count, and the write
 * that follows carries the latest count (so a PATCH never races the CREATE it depends on).
 */
#include "engine/base/common.h"
#include "engine/kube/events.h"
#include "engine/base/clock.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "engine/base/sha256.h"
#include "engine/base/timefmt.h"
#include "engine/base/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KUBE_RECORDER_CACHE 4096
/* The fields of an event key, in this order, separated by KEY_SEP. */
#define KEY_SEP    '\x1f'
#define KEY_FIELDS 10
/* An index key: the start of the SHA-256 of the event key, in hex. */
#define DIGEST_HEX 32

struct rec_entry {
  char *key; /* component, host, apiVersion, kind, ns, name, uid, type, reason, message */
  char digest[DIGEST_HEX + 1];
  char *name;            /* the Event object's; NULL until created */
  json_int_t count;      /* occurrences recorded */
  json_int_t count_sent; /* count the server has */
  char first_ts[TIMEFMT_LEN];
  char last_ts[TIMEFMT_LEN];
  uint64_t tick; /* LRU */
  struct rec_write *inflight;
};

struct rec_write {
  struct kube_recorder *r;
  struct rec_write *prev, *next;
  struct kube_call *call;
  char digest[DIGEST_HEX + 1];
  bool create;
};

struct kube_recorder {
  struct kube_client *c;
  char *component, *host;
  json_t *index; /* digest -> integer slot */
  struct rec_entry *slots;
  size_t nslots, cap;
  uint64_t tick;
  struct rec_write *writes;
  size_t nwrites;
};

static const char *or_empty(const char *s) { return s ? s : ""; }

struct kube_recorder *kube_recorder_new(struct kube_client *c, const char *component,
                                        const char *host) {
  struct kube_recorder *r = xcalloc(1, sizeof(*r));
  r->c = c;
  r->component = xstrdup(component && *component ? component : PROG_NAME);
  char hn[256] = "";
  if (!host) {
    if (gethostname(hn, sizeof(hn) - 1) != 0)
      hn[0] = '\0';
    hn[sizeof(hn) - 1] = '\0';
    host = hn;
  }
  r->host = xstrdup(host);
  r->index = json_object();
  return r;
}

static void entry_clear(struct rec_entry *e) {
  free(e->key);
  free(e->name);
  memset(e, 0, sizeof(*e));
}

static void key_digest(const char *key, char out[DIGEST_HEX + 1]) {
  uint8_t d[SHA256_LEN];
  sha256(key, strlen(key), d);
  hex_encode(d, DIGEST_HEX / 2, out);
  out[DIGEST_HEX] = '\0';
}

/* The fields of e->key, pointing into tmp (a copy the caller frees). */
static char *key_fields(const struct rec_entry *e, const char *f[KEY_FIELDS]) {
  char *tmp = xstrdup(e->key);
  char *p = tmp;
  for (int i = 0; i < KEY_FIELDS; i++) {
    f[i] = p;
    char *sep = i < KEY_FIELDS - 1 ? strchr(p, KEY_SEP) : NULL;
    if (sep) {
      *sep = '\0';
      p = sep + 1;
    } else {
      p += strlen(p);
    }
  }
  return tmp;
}

static void write_free(struct kube_recorder *r, struct rec_write *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    r->writes = w->next;
  if (w->next)
    w->next->prev = w->prev;
  r->nwrites--;
  free(w);
}

void kube_recorder_free(struct kube_recorder *r) {
  if (!r)
    return;
  while (r->writes) {
    struct rec_write *w = r->writes;
    kube_cancel(r->c, w->call);
    write_free(r, w);
  }
  for (size_t i = 0; i < r->nslots; i++)
    entry_clear(&r->slots[i]);
  free(r->slots);
  json_decref(r->index);
  free(r->component);
  free(r->host);
  free(r);
}

size_t kube_recorder_pending(const struct kube_recorder *r) { return r->nwrites; }

static struct rec_entry *lookup(struct kube_recorder *r, const char *digest) {
  json_t *slot = json_object_get(r->index, digest);
  return slot ? &r->slots[json_integer_value(slot)] : NULL;
}

/* A free slot, evicting the least recently used entry without a write in flight. */
static struct rec_entry *new_entry(struct kube_recorder *r, const char *key, const char *digest) {
  size_t idx;
  if (r->nslots < KUBE_RECORDER_CACHE) {
    if (r->nslots == r->cap) {
      r->cap = r->cap ? 2 * r->cap : 64;
      r->slots = xrealloc(r->slots, r->cap * sizeof(*r->slots));
    }
    idx = r->nslots++;
    memset(&r->slots[idx], 0, sizeof(r->slots[idx]));
  } else {
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < r->nslots; i++) {
      if (r->slots[i].inflight)
        continue;
      if (best == SIZE_MAX || r->slots[i].tick < r->slots[best].tick)
        best = i;
    }
    if (best == SIZE_MAX)
      return NULL; /* every entry busy: drop this event */
    idx = best;
    json_object_del(r->index, r->slots[idx].digest);
    entry_clear(&r->slots[idx]);
  }
  struct rec_entry *e = &r->slots[idx];
  e->key = xstrdup(key);
  memcpy(e->digest, digest, sizeof(e->digest));
  json_object_set_new(r->index, digest, json_integer((json_int_t)idx));
  return e;
}

static void send_write(struct kube_recorder *r, struct rec_entry *e);

static void write_done(void *ud, const struct kube_result *res) {
  struct rec_write *w = ud;
  struct kube_recorder *r = w->r;
  struct rec_entry *e = lookup(r, w->digest);
  bool create = w->create;
  write_free(r, w);
  if (!e)
    return;
  e->inflight = NULL;
  if (res->err == ENG_OK) {
    if (create) {
      free(e->name);
      e->name = xstrdup(or_empty(jsonx_str(res->body, "metadata.name")));
    }
    e->count_sent = (json_int_t)jsonx_int(res->body, "count", e->count_sent);
  } else if (!create && res->err == ENG_NOTFOUND) {
    /* The Event expired on the server: create a new one. */
    free(e->name);
    e->name = NULL;
    e->count_sent = 0;
  } else {
    log_warn("could not record a Kubernetes event", "error", res->error.msg, NULL);
    if (create) {
      /* Forget it, so the next occurrence tries a fresh create. */
      json_object_del(r->index, e->digest);
      entry_clear(e);
      return;
    }
    e->count_sent = e->count; /* do not retry this increment */
  }
  if (e->count != e->count_sent)
    send_write(r, e);
}

static void send_write(struct kube_recorder *r, struct rec_entry *e) {
  struct rec_write *w = xcalloc(1, sizeof(*w));
  w->r = r;
  memcpy(w->digest, e->digest, sizeof(w->digest));
  w->next = r->writes;
  if (r->writes)
    r->writes->prev = w;
  r->writes = w;
  r->nwrites++;
  e->inflight = w;
  const char *f[KEY_FIELDS];
  char *fields = key_fields(e, f);
  const char *component = f[0], *host = f[1], *api_version = f[2], *kind = f[3], *ns = f[4],
             *obj_name = f[5], *uid = f[6], *type = f[7], *reason = f[8], *msg = f[9];
  const char *ev_ns = *ns ? ns : "default";
  if (!e->name) {
    /* "<object>.<hex unix nanoseconds>" like client-go. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long nanos =
        (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
    char *name = xasprintf("%s.%llx", obj_name, nanos);
    json_t *inv =
        json_pack("{s:s, s:s, s:s}", "apiVersion", api_version, "kind", kind, "name", obj_name);
    if (*ns)
      json_object_set_new(inv, "namespace", json_string(ns));
    if (*uid)
      json_object_set_new(inv, "uid", json_string(uid));
    json_t *ev = json_pack(
        "{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:s, s:s, s:I}",
        "apiVersion", "v1", "kind", "Event", "metadata", "namespace", ev_ns, "name", name,
        "involvedObject", inv, "reason", reason, "message", msg, "type", type, "source",
        "component", component, "host", host, "firstTimestamp", e->first_ts, "lastTimestamp",
        e->last_ts, "reportingComponent", component, "reportingInstance", host, "count",
        (json_int_t)e->count);
    w->create = true;
    w->call = kube_create(r->c, &kube_res_event, ev_ns, ev, write_done, w);
    json_decref(ev);
    free(name);
    free(fields);
    return;
  }
  json_t *patch = json_pack("{s:I, s:s}", "count", e->count, "lastTimestamp", e->last_ts);
  w->call =
      kube_patch(r->c, &kube_res_event, ev_ns, e->name, KUBE_PATCH_MERGE, patch, write_done, w);
  json_decref(patch);
  free(fields);
}

/* Cut s to at most max bytes without splitting a UTF-8 sequence. */
static void utf8_cut(char *s, size_t max) {
  size_t n = strlen(s);
  if (n <= max)
    return;
  n = max;
  while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
    n--;
  s[n] = '\0';
}

/* The event key: its fields joined by KEY_SEP. A field holding KEY_SEP (never in names, and
 * scrubbed from messages) has it replaced, so the fields split back as they were. */
static char *event_key(const struct kube_recorder *r, const char *api_version, const char *kind,
                       const char *ns, const char *name, const char *uid, const char *type,
                       const char *reason, const char *msg) {
  const char *f[KEY_FIELDS] = {r->component, r->host, or_empty(api_version), kind,
                               or_empty(ns), name,    or_empty(uid),         type,
                               reason,       msg};
  size_t len = 0;
  for (int i = 0; i < KEY_FIELDS; i++)
    len += strlen(f[i]) + 1;
  char *key = xmalloc(len);
  char *p = key;
  for (int i = 0; i < KEY_FIELDS; i++) {
    size_t n = strlen(f[i]);
    memcpy(p, f[i], n);
    for (size_t k = 0; k < n; k++)
      if (p[k] == KEY_SEP)
        p[k] = ' ';
    p += n;
    *p++ = i < KEY_FIELDS - 1 ? KEY_SEP : '\0';
  }
  return key;
}

void kube_recorder_event_ref(struct kube_recorder *r, const char *api_version, const char *kind,
                             const char *ns, const char *name, const char *uid, const char *type,
                             const char *reason, const char *message) {
  if (!name || !*name || !kind || !reason)
    return;
  char *msg = log_scrub(message ? message : "");
  utf8_cut(msg, KUBE_EVENT_MESSAGE_MAX);
  if (!type || (strcmp(type, KUBE_EVENT_NORMAL) != 0 && strcmp(type, KUBE_EVENT_WARNING) != 0))
    type = KUBE_EVENT_NORMAL;
  char *key = event_key(r, api_version, kind, ns, name, uid, type, reason, msg);
  char digest[DIGEST_HEX + 1];
  key_digest(key, digest);
  char now[TIMEFMT_LEN];
  timefmt_rfc3339(clock_now_ms(), now);
  struct rec_entry *e = lookup(r, digest);
  if (!e) {
    e = new_entry(r, key, digest);
    if (!e) {
      log_warn("dropping a Kubernetes event: too many event writes in flight", "reason", reason,
               NULL);
      free(key);
      free(msg);
      return;
    }
    snprintf(e->first_ts, sizeof(e->first_ts), "%s", now);
  }
  e->count++;
  e->tick = ++r->tick;
  snprintf(e->last_ts, sizeof(e->last_ts), "%s", now);
  if (!e->inflight)
    send_write(r, e);
  free(key);
  free(msg);
}

void kube_recorder_event(struct kube_recorder *r, const json_t *obj, const char *type,
                         const char *reason, const char *fmt, ...) {
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  kube_recorder_event_ref(r, jsonx_str(obj, "apiVersion"), jsonx_str(obj, "kind"),
                          jsonx_str(obj, "metadata.namespace"), jsonx_str(obj, "metadata.name"),
                          jsonx_str(obj, "metadata.uid"), type, reason, msg);
}
