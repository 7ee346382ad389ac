/*
 * device_watch.c - device pollers per shoot.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/observe/device_watch.h"
#include "engine/base/log.h"
#include "engine/obs/metrics.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "providers/equinix-metal/metal_creds.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

struct shoot {
  struct device_watch *w;
  char *ns;
  struct metal_client *mc; /* pinned while the poller uses it */
  struct metal_poller *poller;
  struct metal_creds_req *cr;
  char *last_error; /* logged once per distinct reason */
  struct shoot *next;
};

struct device_watch {
  struct metal_creds *creds;
  struct jevent_sink sink;
  struct device_watch_opts o;
  struct shoot *shoots;
};

static bool polls_deferred(void *ud, double *v) {
  (void)ud;
  *v = (double)metal_polls_deferred();
  return true;
}

static bool items_skipped(void *ud, double *v) {
  (void)ud;
  *v = (double)metal_list_items_skipped();
  return true;
}

enum eng_err device_watch_metrics(struct metrics_registry *reg, struct eng_error *err) {
  struct metrics_metric *m = metrics_counter_new(
      reg, "eqxm_metal_polls_deferred_total",
      "Device poll rounds put off because the project's requests were queued behind its rate "
      "limit.",
      NULL, err);
  if (!m)
    return err ? err->code : ENG_INVALID;
  enum eng_err rc = metrics_set_fn(m, polls_deferred, NULL);
  if (rc != ENG_OK)
    return rc;
  m = metrics_counter_new(reg, "eqxm_metal_poll_devices_unchanged_total",
                          "Devices of poll listings left unparsed because their JSON was byte for "
                          "byte the one already seen.",
                          NULL, err);
  if (!m)
    return err ? err->code : ENG_INVALID;
  return metrics_set_fn(m, items_skipped, NULL);
}

struct device_watch *device_watch_new(struct metal_creds *creds, struct jevent_sink sink,
                                      const struct device_watch_opts *o) {
  struct device_watch *w = xcalloc(1, sizeof(*w));
  w->creds = creds;
  w->sink = sink;
  if (o)
    w->o = *o;
  return w;
}

static struct shoot *find(struct device_watch *w, const char *ns) {
  for (struct shoot *s = w->shoots; s; s = s->next)
    if (strcmp(s->ns, ns) == 0)
      return s;
  return NULL;
}

static void stop_poller(struct shoot *s) {
  metal_poller_free(s->poller);
  s->poller = NULL;
  if (s->mc)
    metal_creds_unpin(s->w->creds, s->mc);
  s->mc = NULL;
}

static void resolved(void *ud, const struct metal_creds_result *r) {
  struct shoot *s = ud;
  s->cr = NULL;
  if (!r->mc) {
    if (!s->last_error || strcmp(s->last_error, r->err->msg) != 0) {
      log_warn("not watching the devices of this shoot: its credentials cannot be used",
               "namespace", s->ns, "error", r->err->msg, NULL);
      free(s->last_error);
      s->last_error = xstrdup(r->err->msg);
    }
    stop_poller(s);
    return;
  }
  free(s->last_error);
  s->last_error = NULL;
  if (s->poller && s->mc == r->mc)
    return; /* same credentials: keep polling */
  stop_poller(s);
  struct metal_poller_opts po = {0};
  po.ns = s->ns;
  po.fast_ms = s->w->o.fast_ms;
  po.slow_ms = s->w->o.slow_ms;
  struct eng_error err;
  s->poller = metal_poller_new(r->mc, &po, &s->w->sink, &err);
  if (!s->poller) {
    log_warn("cannot watch the devices of this shoot", "namespace", s->ns, "error", err.msg, NULL);
    return;
  }
  s->mc = r->mc;
  metal_creds_pin(s->w->creds, s->mc);
  log_debug("watching the devices of a shoot", "namespace", s->ns, NULL);
}

void device_watch_shoot(struct device_watch *w, const char *ns, const char *secret_ns,
                        const char *secret_name) {
  struct shoot *s = find(w, ns);
  if (!s) {
    s = xcalloc(1, sizeof(*s));
    s->w = w;
    s->ns = xstrdup(ns);
    s->next = w->shoots;
    w->shoots = s;
  }
  if (s->cr)
    return; /* a lookup is under way */
  struct metal_creds_req *cr = metal_creds_get(w->creds, secret_ns, secret_name, resolved, s);
  if (cr)
    s->cr = cr;
}

static void shoot_free(struct shoot *s) {
  if (s->cr)
    metal_creds_cancel(s->w->creds, s->cr);
  stop_poller(s);
  free(s->last_error);
  free(s->ns);
  free(s);
}

void device_watch_forget(struct device_watch *w, const char *ns) {
  for (struct shoot **pp = &w->shoots; *pp; pp = &(*pp)->next) {
    if (strcmp((*pp)->ns, ns) == 0) {
      struct shoot *s = *pp;
      *pp = s->next;
      shoot_free(s);
      return;
    }
  }
}

size_t device_watch_count(const struct device_watch *w) {
  size_t n = 0;
  for (const struct shoot *s = w->shoots; s; s = s->next)
    n += s->poller != NULL;
  return n;
}

void device_watch_free(struct device_watch *w) {
  if (!w)
    return;
  while (w->shoots) {
    struct shoot *s = w->shoots;
    w->shoots = s->next;
    shoot_free(s);
  }
  free(w);
}
