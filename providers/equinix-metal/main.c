/*
 * main.c - composition root of gardener-extension-provider-equinix-metal.
 *
 * The one place that knows every part: it dispatches to subcommands, which wire
 * the engine, the Equinix Metal provider and the webhook together.
 */
#include "engine/base/common.h"
#include "engine/cmd/cmd_audit.h"
#include "engine/cmd/cmd_journal.h"
#include "engine/cmd/cmd_replay.h"
#include "providers/equinix-metal/commands.h"
#include "providers/equinix-metal/controllers/registry.h"
#include "providers/equinix-metal/machine_controller.h"
#include "providers/equinix-metal/run.h"
#include "providers/equinix-metal/webhook/registry.h"
#include "webhook/cmd.h"
#include "webhook/run_plugin.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <string.h>

/* The parts `run` starts next to the controllers (see engine/plugin.h). */
static const struct run_plugin *plugins(size_t *n) {
  *n = 1;
  return webhook_run_plugin(metal_webhooks());
}

static int cmd_run(int argc, char **argv) {
  size_t n;
  const struct run_plugin *p = plugins(&n);
  return metal_run(argc, argv, p, n);
}

static int cmd_replay(int argc, char **argv) {
  size_t n;
  const struct reducer *const *r = metal_reducers(&n);
  return cmd_replay_main(argc, argv, r, n);
}

static int cmd_webhook_metal(int argc, char **argv) {
  return cmd_webhook(metal_webhooks(), argc, argv);
}

static const struct command commands[] = {
    {"run", "run the extension controller (and its webhooks) in a seed", cmd_run},
    {"machine-controller", "run the machine controller (MCM provider sidecar) for one shoot",
     metal_machine_controller},
    {"replay", "fold a journal offline and show every decision and its reason", cmd_replay},
    {"audit", "query the reconcile history in a journal: operations, actions, errors", cmd_audit},
    {"journal", "inspect a journal file: verify, export, stats", cmd_journal},
    {"webhook", "serve the admission webhooks (mutation, validation, registration)",
     cmd_webhook_metal},
    {NULL, NULL, NULL},
};

static void usage(FILE *out) {
  fprintf(out, "Usage: " PROG_NAME " [--help] [--version] COMMAND [ARGS]\n"
               "\n"
               "Gardener extension for Equinix Metal: an event-sourced reconciliation engine that\n"
               "journals what it observes and does in a local SQLite file.\n"
               "\n"
               "Commands:\n");
  for (const struct command *c = commands; c->name; c++)
    fprintf(out, "  %-18s %s\n", c->name, c->summary);
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
  fprintf(stderr,
          PROG_NAME ": unknown command '%s'.\nRun '" PROG_NAME
                    " --help' for the list of commands.\n",
          cmd);
  return EXIT_USAGE;
}
