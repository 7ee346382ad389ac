/*
 * lease.h - leader election and the Gardener heartbeat, both on coordination.k8s.io/v1 Leases.
 *
 * Leader election follows client-go's LeaderElector (docs/kubernetes-client.md):
 * every retry period (with jitter factor 1.2 while not leading) try to acquire or renew;
 * another holder's lease counts as expired only when leaseDurationSeconds passed since
 * *this process observed* the record change (local monotonic clock, immune to clock skew);
 * a leader that could not renew within the renew deadline stops leading.
 *
 * Fencing: leadership is certain only until kube_leader_deadline_ms(), the monotonic time
 * (clock_mono_ms) of the start of the last successful acquire/renew request plus the
 * renew deadline. Since the renew deadline is shorter than the lease duration and others
 * measure the duration from when they saw that renewal (which is later), no other process
 * can become leader before this deadline. An executor checks kube_leader_may_act() right
 * before every side effect and refuses afterwards. kube_leader_epoch() is the Lease's
 * leaseTransitions at acquisition: strictly increasing across leaders, so two leaders
 * never share an epoch; put it in intents to order them.
 */
#ifndef EQXM_KUBE_LEASE_H
#define EQXM_KUBE_LEASE_H

#include "engine/base/common.h"
#include "engine/base/err.h"
#include "engine/journal/event.h"
#include "engine/kube/client.h"

/* The leader Lease is named by the caller: gardener's convention is "<extension>-leader-election"
 * (kube_leader_lease_name() builds it); the provider's composition root passes its own. */
#define KUBE_HEARTBEAT_LEASE "gardener-extension-heartbeat"

struct kube_leader;

struct kube_leader_opts {
  const char *ns;         /* required: the Lease's namespace */
  const char *name;       /* required: the Lease's name, e.g. "<extension>-leader-election" */
  const char *identity;   /* NULL = "<hostname>_<random uuid>" */
  long lease_duration_ms; /* 0 = 15000 */
  long renew_deadline_ms; /* 0 = 10000 */
  long retry_period_ms;   /* 0 = 2000 */
  bool release_on_cancel; /* kube_leader_release() gives the lease up (ReleaseOnCancel) */
  /* Called when this process becomes leader; epoch = leaseTransitions at acquisition. */
  void (*on_started)(void *ud, int64_t epoch);
  /* Called when leadership is lost or released. Controllers normally exit here. */
  void (*on_stopped)(void *ud);
  /* Called when the observed holder changes (may be this process, or "" when released). */
  void (*on_new_leader)(void *ud, const char *identity);
  void *ud;
  struct jevent_sink sink;     /* engine.leader.started / engine.leader.stopped; fn NULL = none */
  double (*rand_fn)(void *ud); /* jitter source; NULL = default */
  void *rand_ud;
};

/* "<extension>-leader-election" (controller-runtime's LeaderElectionNameID); caller frees. */
char *kube_leader_lease_name(const char *extension);

/* Validates durations like client-go (lease > renew deadline > 1.2 x retry period, all > 0):
 * NULL and err set on invalid options. Copies the options. */
struct kube_leader *kube_leader_new(struct kube_client *c, const struct kube_leader_opts *o,
                                    struct eng_error *err);
void kube_leader_start(struct kube_leader *l);
/*
 * Graceful shutdown: stop renewing; if leading and release_on_cancel, PUT the lease with an
 * empty holder and leaseDurationSeconds 1 so a successor takes over at once. done (may be
 * NULL) runs when that is finished (or at once, asynchronously, when nothing had to be done).
 * on_stopped runs before done if this process was leading.
 */
void kube_leader_release(struct kube_leader *l, void (*done)(void *ud), void *ud);
/* Stop everything (no release) and free. NULL is allowed. */
void kube_leader_free(struct kube_leader *l);

bool kube_leader_is_leader(const struct kube_leader *l);
/* leaseTransitions at acquisition, -1 when not leading. */
int64_t kube_leader_epoch(const struct kube_leader *l);
/* Monotonic ms (clock_mono_ms) until which leadership is certain; 0 when not leading. */
int64_t kube_leader_deadline_ms(const struct kube_leader *l);
/* is_leader && clock_mono_ms() < deadline. */
bool kube_leader_may_act(const struct kube_leader *l);
const char *kube_leader_identity(const struct kube_leader *l);
/* Last observed holder ("" if none / unknown). */
const char *kube_leader_holder(const struct kube_leader *l);

/* ---- Gardener heartbeat (gardener-extension-heartbeat) ------------------------------------ */

struct kube_heartbeat;

/*
 * Renew Lease KUBE_HEARTBEAT_LEASE in ns every renew_interval_s (0 = 30): holderIdentity =
 * extension_name, leaseDurationSeconds = renew interval, renewTime = now; created when
 * missing. Failures are logged and retried at the next interval.
 */
struct kube_heartbeat *kube_heartbeat_new(struct kube_client *c, const char *ns,
                                          const char *extension_name, long renew_interval_s);
void kube_heartbeat_start(struct kube_heartbeat *h);
void kube_heartbeat_free(struct kube_heartbeat *h);
/* Successful renewals so far. */
uint64_t kube_heartbeat_renewals(const struct kube_heartbeat *h);

#endif
