/*
 * cmd.h - `webhook serve`: run only the admission webhook server (with its
 * certificate management and registration) until SIGTERM or SIGINT.
 */
#ifndef EQXM_WEBHOOK_CMD_H
#define EQXM_WEBHOOK_CMD_H

struct wh_set;

/* The `webhook` command serving the webhooks of set (the provider's table, definition.h). */
int cmd_webhook(const struct wh_set *set, int argc, char **argv);

#endif
