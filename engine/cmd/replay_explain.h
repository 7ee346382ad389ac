/*
 * replay_explain.h - the sentences of `replay --explain` (replay_explain.c).
 */
#ifndef EQXM_REPLAY_EXPLAIN_H
#define EQXM_REPLAY_EXPLAIN_H

#include "engine/journal/journal.h"

/* Print on stdout why the object (kind may be "" = any; for a device, the
 * hostname or id as name) is in its state; 0 ok, 1 when the journal could not
 * be read (message on stderr). */
int replay_explain(struct journal *j, const char *kind, const char *ns, const char *name);

#endif
