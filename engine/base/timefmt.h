/*
 * timefmt.h - RFC 3339 formatting and parsing of UTC timestamps, pure (no clock).
 */
#ifndef EQXM_TIMEFMT_H
#define EQXM_TIMEFMT_H

#include "engine/base/common.h"
#include "engine/base/err.h"

#define TIMEFMT_LEN 40

/* "2026-11-23T10:00:00Z" (Kubernetes metav1.Time). */
void timefmt_rfc3339(int64_t ms, char out[TIMEFMT_LEN]);
/* "2026-11-23T10:00:00.123Z" (log and journal display). */
void timefmt_rfc3339_ms(int64_t ms, char out[TIMEFMT_LEN]);
/* "2026-11-23T10:00:00.123000Z" (Kubernetes metav1.MicroTime, used by Leases). */
void timefmt_micro(int64_t ms, char out[TIMEFMT_LEN]);
/* Parse RFC 3339 with optional fraction and Z or ±hh:mm offset into ms since the epoch. */
enum eng_err timefmt_parse(const char *s, int64_t *ms) WARN_UNUSED;

#endif
