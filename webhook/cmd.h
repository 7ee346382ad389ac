/*
 * cmd.h - `webhook serve`: run only the admission webhook server (with its
 * certificate management and registration) until SIGTERM or SIGINT.
 */
#ifndef EQXM_WEBHOOK_CMD_H
#define EQXM_WEBHOOK_CMD_H

int cmd_webhook(int argc, char **argv);

#endif
