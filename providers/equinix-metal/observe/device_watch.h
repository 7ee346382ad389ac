/*
 * device_watch.h - one Equinix Metal device poller per shoot, so that device
 * states reach the journal as they change ("metal.device", "metal.device-set",
 * "metal.poll-error"; see metal_poller_new() in metal_client.h).
 *
 * `run` calls device_watch_shoot() for every equinixmetal Infrastructure it
 * sees (with its credentials Secret) and device_watch_forget() when one is
 * gone. A poller is (re)made when its shoot's credentials resolve to another
 * client (a rotated token); while credentials cannot be read, the shoot is not
 * polled and the reason is logged once.
 */
#ifndef EQXM_DEVICE_WATCH_H
#define EQXM_DEVICE_WATCH_H

#include "engine/base/common.h"
#include "engine/base/err.h"
#include "engine/journal/event.h"

struct metal_creds;
struct device_watch;

struct device_watch_opts {
  long fast_ms; /* while a device is in a transitional state; 0 = poller default (10 s) */
  long slow_ms; /* while all are stable; 0 = poller default (60 s) */
};

struct metrics_registry;

/* Register the device polling metrics (eqxm_metal_polls_deferred_total) in reg. */
enum eng_err device_watch_metrics(struct metrics_registry *reg, struct eng_error *err);

/* creds must outlive the watcher; sink is copied. */
struct device_watch *device_watch_new(struct metal_creds *creds, struct jevent_sink sink,
                                      const struct device_watch_opts *o);
/* Poll the devices of shoot namespace ns with the credentials in Secret secret_ns/secret_name. */
void device_watch_shoot(struct device_watch *w, const char *ns, const char *secret_ns,
                        const char *secret_name);
void device_watch_forget(struct device_watch *w, const char *ns);
size_t device_watch_count(const struct device_watch *w);
/* Stops every poller. Free before creds. */
void device_watch_free(struct device_watch *w);

#endif
