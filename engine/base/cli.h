/*
 * cli.h - declarative command-line options shared by every subcommand.
 *
 *   static const struct cli_opt opts[] = {
 *     {"journal", CLI_STRING, &journal_path, "PATH", "journal database file", NULL},
 *     {"leader-election", CLI_BOOL, &leader, NULL, "elect a leader through a Lease", NULL},
 *     {0}};
 *   int rc = cli_parse(&spec, argc, argv, &npos, pos);
 *
 * Accepted forms: --name=value, --name value, --name (bool true), --name=false.
 * --help prints the usage and makes cli_parse return CLI_HELP. Unknown options,
 * missing values and bad numbers print one sentence naming the option and how
 * to get help, and return CLI_ERROR (exit code 2).
 */
#ifndef EQXM_CLI_H
#define EQXM_CLI_H

#include "engine/base/common.h"

#include <stdio.h>

enum cli_kind { CLI_STRING, CLI_BOOL, CLI_INT, CLI_LIST };

/* A repeated or comma-separated string option. */
struct cli_list {
  char **items;
  size_t n;
};

struct cli_opt {
  const char *name; /* without the leading "--" */
  enum cli_kind kind;
  void *dest;          /* const char ** | bool * | long * | struct cli_list * */
  const char *metavar; /* "PATH"; NULL for bools */
  const char *help;    /* one line */
  const char *env;     /* environment variable giving the default, or NULL */
};

struct cli_spec {
  const char *prog;        /* "<program> journal verify" */
  const char *usage;       /* "[options] JOURNAL" */
  const char *description; /* a paragraph printed under the usage line */
  const struct cli_opt *opts;
  int min_pos, max_pos; /* allowed number of positional arguments (-1 = unlimited) */
};

#define CLI_OK    0
#define CLI_HELP  1
#define CLI_ERROR 2

/*
 * Parse argv[0..argc) (argv[0] is the first argument, not the program). Positional
 * arguments are stored in pos[] (borrowed from argv), their count in *npos;
 * pos must have room for argc entries.
 */
int cli_parse(const struct cli_spec *spec, int argc, char **argv, int *npos, char **pos);
void cli_usage(const struct cli_spec *spec, FILE *out);
void cli_list_free(struct cli_list *l);
bool cli_list_has(const struct cli_list *l, const char *item);

/* A subcommand of a command with several ("journal verify", "audit operations"). */
struct cli_subcommand {
  const char *name;
  int (*run)(int argc, char **argv); /* argv: the arguments after the subcommand */
};

/*
 * Run the subcommand named by argv[0] (subs ends with {NULL, NULL}). Without an
 * argument: usage on stderr, EXIT_USAGE. "--help", "-h" or "help": usage on
 * stdout, EXIT_OK. An unknown name: "PROG: unknown WHAT 'x' (a, b or c)." and
 * EXIT_USAGE.
 */
int cli_dispatch(const char *prog, const char *what, const struct cli_subcommand *subs,
                 void (*usage)(FILE *out), int argc, char **argv);

/* Print "PROG: message\nRun 'PROG --help' for usage." and return CLI_ERROR. */
int cli_usage_error(const struct cli_spec *spec, const char *fmt, ...) PRINTF_LIKE(2, 3);

#endif
