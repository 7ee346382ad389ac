/*
 * cmd_journal.h - the `journal` command: verify, export and stats of a journal
 * file. Every subcommand opens the journal read-only, so it is safe to run
 * next to a controller that is writing it.
 */
#ifndef EQXM_CMD_JOURNAL_H
#define EQXM_CMD_JOURNAL_H

/* argv[0] is the subcommand ("verify", "export", "stats"); returns EXIT_OK,
 * EXIT_FAIL or EXIT_USAGE. */
int cmd_journal(int argc, char **argv);

#endif
