/*
 * machine_controller.h - the `machine-controller` command: MCM's provider
 * sidecar for Equinix Metal on the journal engine (docs/machine-controller.md).
 */
#ifndef EQXM_METAL_MACHINE_CONTROLLER_H
#define EQXM_METAL_MACHINE_CONTROLLER_H

/* argv holds the arguments after "machine-controller". */
int metal_machine_controller(int argc, char **argv);

#endif
