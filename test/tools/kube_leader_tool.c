/*
 * kube_leader_tool.c - a leader-election candidate for integration tests.
 *
 *   kube_leader_tool --kubeconfig PATH --namespace NS [--name LEASE] --identity ID
 *                    [--lease-ms N] [--renew-ms N] [--retry-ms N] [--release-on-cancel]
 *
 * Prints one line per happening on stdout (flushed), times in clock_mono_ms (shared by
 * every process of the machine, so a test can compare them across processes):
 *   started epoch=E mono=T deadline=D
 *   act epoch=E mono=T deadline=D     every 50 ms while kube_leader_may_act() (a fenced
 *                                     "side effect" of an executor)
 *   stopped mono=T
 *   released mono=T                   after SIGTERM/SIGINT, then exit 0
 */
#include "engine/base/common.h"
#include "engine/base/cli.h"
#include "engine/base/clock.h"
#include "engine/kube/kubeconfig.h"
#include "engine/kube/lease.h"
#include "engine/base/log.h"
#include "engine/base/xalloc.h"

#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tool {
  struct kube_leader *l;
  struct ev_loop *loop;
  ev_timer act;
  bool done;
};

static void on_started(void *ud, int64_t epoch) {
  struct tool *t = ud;
  printf("started epoch=%" PRId64 " mono=%" PRId64 " deadline=%" PRId64 "\n", epoch,
         clock_mono_ms(), kube_leader_deadline_ms(t->l));
  fflush(stdout);
}

static void on_stopped(void *ud) {
  (void)ud;
  printf("stopped mono=%" PRId64 "\n", clock_mono_ms());
  fflush(stdout);
}

static void act_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct tool *t = w->data;
  /* The executor's check right before a side effect. */
  if (kube_leader_may_act(t->l)) {
    int64_t now = clock_mono_ms();
    printf("act epoch=%" PRId64 " mono=%" PRId64 " deadline=%" PRId64 "\n", kube_leader_epoch(t->l),
           now, kube_leader_deadline_ms(t->l));
    fflush(stdout);
  }
}

static void released(void *ud) {
  struct tool *t = ud;
  printf("released mono=%" PRId64 "\n", clock_mono_ms());
  fflush(stdout);
  t->done = true;
  ev_break(t->loop, EVBREAK_ALL);
}

static void sig_cb(struct ev_loop *loop, ev_signal *w, int revents) {
  (void)loop;
  (void)revents;
  struct tool *t = w->data;
  ev_timer_stop(t->loop, &t->act);
  kube_leader_release(t->l, released, t);
}

int main(int argc, char **argv) {
  xalloc_init();
  log_setup(LOG_WARN, LOG_FORMAT_TEXT, 2);
  const char *kubeconfig = NULL, *ns = NULL, *name = NULL, *identity = NULL;
  long lease_ms = 0, renew_ms = 0, retry_ms = 0;
  bool release = false;
  const struct cli_opt opts[] = {
      {"kubeconfig", CLI_STRING, &kubeconfig, "PATH", "kubeconfig file", NULL},
      {"namespace", CLI_STRING, &ns, "NS", "namespace of the Lease", NULL},
      {"name", CLI_STRING, &name, "NAME", "Lease name", NULL},
      {"identity", CLI_STRING, &identity, "ID", "holder identity", NULL},
      {"lease-ms", CLI_INT, &lease_ms, "MS", "lease duration", NULL},
      {"renew-ms", CLI_INT, &renew_ms, "MS", "renew deadline", NULL},
      {"retry-ms", CLI_INT, &retry_ms, "MS", "retry period", NULL},
      {"release-on-cancel", CLI_BOOL, &release, NULL, "release the lease on SIGTERM", NULL},
      {0}};
  const struct cli_spec spec = {
      "kube_leader_tool", "[options]", "A leader-election candidate.", opts, 0, 0};
  int npos;
  char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
  int rc = cli_parse(&spec, argc - 1, argv + 1, &npos, pos);
  free(pos);
  if (rc == CLI_HELP)
    return 0;
  if (rc != CLI_OK)
    return 2;
  struct kube_config cfg;
  struct eng_error err;
  if (kube_config_load(kubeconfig, NULL, &cfg, &err) != ENG_OK) {
    fprintf(stderr, "kube_leader_tool: %s\n", err.msg);
    return 1;
  }
  struct tool t;
  memset(&t, 0, sizeof(t));
  t.loop = ev_loop_new(EVFLAG_AUTO);
  struct kube_client *c = kube_client_new(t.loop, &cfg, "kube-leader-tool/1");
  kube_client_set_timeout(c, 2000);
  kube_config_free(&cfg);
  struct kube_leader_opts o = {
      .ns = ns,
      .name = name,
      .identity = identity,
      .lease_duration_ms = lease_ms,
      .renew_deadline_ms = renew_ms,
      .retry_period_ms = retry_ms,
      .release_on_cancel = release,
      .on_started = on_started,
      .on_stopped = on_stopped,
      .ud = &t,
  };
  t.l = kube_leader_new(c, &o, &err);
  if (!t.l) {
    fprintf(stderr, "kube_leader_tool: %s\n", err.msg);
    kube_client_free(c);
    ev_loop_destroy(t.loop);
    return 1;
  }
  ev_signal sterm, sint;
  ev_signal_init(&sterm, sig_cb, SIGTERM);
  ev_signal_init(&sint, sig_cb, SIGINT);
  sterm.data = sint.data = &t;
  ev_signal_start(t.loop, &sterm);
  ev_signal_start(t.loop, &sint);
  ev_timer_init(&t.act, act_cb, 0.05, 0.05);
  t.act.data = &t;
  ev_timer_start(t.loop, &t.act);
  kube_leader_start(t.l);
  while (!t.done)
    ev_run(t.loop, 0);
  ev_signal_stop(t.loop, &sterm);
  ev_signal_stop(t.loop, &sint);
  ev_timer_stop(t.loop, &t.act);
  kube_leader_free(t.l);
  kube_client_free(c);
  ev_loop_destroy(t.loop);
  log_forget_all_secrets();
  return 0;
}
