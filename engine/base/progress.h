/*
 * progress.h - progress of long operations on stderr, for commands.
 *
 * Shown after a second of work when stderr is a terminal (or always when the
 * user asked with --progress), at most once a second; a closing line tells how
 * many events took how long. Usable as a journal_progress_fn.
 */
#ifndef EQXM_PROGRESS_H
#define EQXM_PROGRESS_H

#include "engine/base/common.h"

struct progress {
  bool enabled, tty;
  const char *what;
  int64_t start_ms, last_ms;
  bool printed;
};

void progress_init(struct progress *p, bool forced, const char *what);
/* ud is a struct progress *. */
void progress_show(void *ud, int64_t done, int64_t total);
void progress_done(struct progress *p, int64_t done, bool forced);

#endif
