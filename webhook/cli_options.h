/*
 * cli_options.h - the webhook server's command-line options, shared by
 * `webhook serve` and the `run` command (which embeds the server as a plugin).
 */
#ifndef EQXM_WEBHOOK_CLI_OPTIONS_H
#define EQXM_WEBHOOK_CLI_OPTIONS_H

#include "engine/base/common.h"
#include "engine/base/cli.h"
#include "engine/base/err.h"
#include "server.h"

struct ev_loop;
struct kube_client;
struct kube_config;

struct webhook_cli {
  struct webhook_options o;
  long server_port;
  const char *read_timeout, *idle_timeout, *cert_interval, *cache_ttl;
  const char *garden_kubeconfig;
  char *disable_help;
  struct cli_opt opts[32]; /* terminated by {0}: ours, then the provider's (set->options) */
};

/* Defaults of the Go original and the option table pointing into w, for the webhooks of set. */
void webhook_cli_init(struct webhook_cli *w, const struct wh_set *set);
/* Convert the parsed strings into w->o and check the combination; ENG_USAGE with a sentence. */
enum eng_err webhook_cli_finish(struct webhook_cli *w, struct eng_error *err) WARN_UNUSED;
void webhook_cli_release(struct webhook_cli *w);

/* An API client tuned for admission (requests give up well before the 10 s admission deadline).
 * cfg NULL: load from path (NULL = the usual precedence). NULL with err set on failure. */
struct kube_client *webhook_kube_client(struct ev_loop *loop, const struct kube_config *cfg,
                                        const char *path, const char *what, struct eng_error *err);

#endif
