/*
 * main.c - composition root of gardener-extension-provider-equinix-metal.
 *
 * The one place that knows every part: it dispatches to subcommands, which wire
 * the engine, the Equinix Metal provider and the webhook together.
 */
#include "common.h"
#include "cmd_journal.h"
#include "providers/equinix-metal/commands.h"
#include "webhook/cmd.h"
#include "xalloc.h"

#include <stdio.h>
#include <string.h>

static const struct command commands[] = {
    {"journal", "inspect a journal file: verify, export, stats", cmd_journal},
    {"webhook", "serve the admission webhooks (mutation, validation, registration)", cmd_webhook},
    {NULL, NULL, NULL},
};

static void usage(FILE *out) {
  fprintf(out,
          "Usage: " PROG_NAME " [--help] [--version] COMMAND [ARGS]\n"
          "\n"
          "Gardener extension for Equinix Metal: an event-sourced reconciliation engine that\n"
          "journals what it observes and does in a local SQLite file.\n"
          "\n"
          "Commands:\n");
  for (const struct command *c = commands; c->name; c++)
    fprintf(out, "  %-10s %s\n", c->name, c->summary);
  fprintf(out, "\nRun '" PROG_NAME " COMMAND --help' for the options of a command.\n");
}

int main(int argc, char **argv) {
  xalloc_init();
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    usage(stdout);
    return EXIT_OK;
  }
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
    printf("%s %s\n", PROG_NAME, EQXM_VERSION);
    return EXIT_OK;
  }
  for (const struct command *c = commands; c->name; c++) {
    if (!strcmp(c->name, cmd))
      return c->run(argc - 2, argv + 2);
  }
  fprintf(stderr, PROG_NAME ": unknown command '%s'.\nRun '" PROG_NAME " --help' for the list of commands.\n", cmd);
  return EXIT_USAGE;
}
