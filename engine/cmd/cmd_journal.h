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

struct journal;
/* Open path read-only for a command named prog; on failure print "prog: <sentence>" on stderr and
 * return EXIT_FAIL, else EXIT_OK. Shared by journal, replay and audit. */
int cmd_journal_open_ro(const char *prog, const char *path, struct journal **j);

#endif
