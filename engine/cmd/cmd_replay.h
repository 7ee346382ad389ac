/*
 * cmd_replay.h - the `replay` command: fold a journal offline through the
 * reducers and show what happened and why (see docs/debugging.md).
 */
#ifndef EQXM_CMD_REPLAY_H
#define EQXM_CMD_REPLAY_H

#include "engine/decide/reduce.h"

/* argv holds the arguments after "replay"; reducers come from the provider. */
int cmd_replay_main(int argc, char **argv, const struct reducer *const *reducers, size_t n);

#endif
