/*
 * commands.h - the subcommands of the gardener-extension-provider-equinix-metal
 * binary. Each takes the arguments after its name and returns an exit code
 * (EXIT_OK, EXIT_FAIL, EXIT_USAGE).
 */
#ifndef EQXM_COMMANDS_H
#define EQXM_COMMANDS_H

struct command {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv);
};

#endif
