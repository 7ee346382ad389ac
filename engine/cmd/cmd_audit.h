/*
 * cmd_audit.h - the `audit` command: queries on the reconcile history kept in
 * a journal (operations, action attempts, errors). Read-only.
 */
#ifndef EQXM_CMD_AUDIT_H
#define EQXM_CMD_AUDIT_H

int cmd_audit(int argc, char **argv);

#endif
