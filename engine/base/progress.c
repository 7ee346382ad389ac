/*
 * progress.c - progress lines on stderr for long commands.
 */
#include "engine/base/common.h"
#include "engine/base/progress.h"
#include "engine/base/clock.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void progress_init(struct progress *p, bool forced, const char *what) {
  memset(p, 0, sizeof(*p));
  p->tty = isatty(2);
  p->enabled = forced || p->tty;
  p->what = what;
  p->start_ms = p->last_ms = clock_mono_ms();
}

/* Shown after a second of work on a terminal (or always with --progress), at
 * most once a second. */
void progress_show(void *ud, int64_t done, int64_t total) {
  struct progress *p = ud;
  if (!p->enabled)
    return;
  int64_t now = clock_mono_ms();
  if (now - p->start_ms < 1000 || now - p->last_ms < 1000)
    return;
  p->last_ms = now;
  p->printed = true;
  if (total > 0)
    fprintf(stderr, "%s%s %" PRId64 " of %" PRId64 " events (%d%%)%s", p->tty ? "\r" : "", p->what,
            done, total, (int)(done * 100 / (total ? total : 1)), p->tty ? "" : "\n");
  else
    fprintf(stderr, "%s%s %" PRId64 " events%s", p->tty ? "\r" : "", p->what, done,
            p->tty ? "" : "\n");
}

void progress_done(struct progress *p, int64_t done, bool forced) {
  if (p->printed || forced) {
    fprintf(stderr, "%s%s %" PRId64 " events in %.1f s\n", p->tty && p->printed ? "\r" : "",
            p->what, done, (double)(clock_mono_ms() - p->start_ms) / 1000.0);
  }
}
