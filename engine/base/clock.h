/*
 * clock.h - the process clocks. Reducers never include this file: time reaches
 * them only as journal events (hack/check-deps.sh enforces it).
 */
#ifndef EQXM_CLOCK_H
#define EQXM_CLOCK_H

#include "engine/base/common.h"

int64_t clock_now_ms(void);  /* UTC wall clock, ms since the epoch */
int64_t clock_mono_ms(void); /* monotonic, ms; for timeouts and rates */

#endif
