/*
 * timefmt.c - RFC 3339 without the C library's locale- and TZ-dependent calls.
 */
#include "engine/base/common.h"
#include "engine/base/timefmt.h"

#include <stdio.h>
#include <string.h>

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian); Howard Hinnant's algorithm. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t yy = (int64_t)yoe + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

static void split(int64_t ms, int64_t *y, unsigned *mo, unsigned *d, int *h, int *mi, int *s,
                  int *frac_ms) {
  int64_t secs = ms / 1000;
  int64_t rem = ms % 1000;
  if (rem < 0) {
    rem += 1000;
    secs -= 1;
  }
  int64_t days = secs / 86400;
  int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    days -= 1;
  }
  civil_from_days(days, y, mo, d);
  *h = (int)(sod / 3600);
  *mi = (int)(sod / 60 % 60);
  *s = (int)(sod % 60);
  *frac_ms = (int)rem;
}

void timefmt_rfc3339(int64_t ms, char out[TIMEFMT_LEN]) {
  int64_t y;
  unsigned mo, d;
  int h, mi, s, f;
  split(ms, &y, &mo, &d, &h, &mi, &s, &f);
  snprintf(out, TIMEFMT_LEN, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02dZ", y, mo, d, h, mi, s);
}

void timefmt_rfc3339_ms(int64_t ms, char out[TIMEFMT_LEN]) {
  int64_t y;
  unsigned mo, d;
  int h, mi, s, f;
  split(ms, &y, &mo, &d, &h, &mi, &s, &f);
  snprintf(out, TIMEFMT_LEN, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d.%03dZ", y, mo, d, h, mi, s, f);
}

void timefmt_micro(int64_t ms, char out[TIMEFMT_LEN]) {
  int64_t y;
  unsigned mo, d;
  int h, mi, s, f;
  split(ms, &y, &mo, &d, &h, &mi, &s, &f);
  snprintf(out, TIMEFMT_LEN, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d.%03d000Z", y, mo, d, h, mi, s,
           f);
}

static int digits(const char *p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9')
      return -1;
    v = v * 10 + (p[i] - '0');
  }
  *out = v;
  return 0;
}

enum eng_err timefmt_parse(const char *s, int64_t *ms) {
  int y, mo, d, h, mi, sec;
  if (!s || strlen(s) < 20)
    return ENG_INVALID;
  if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
      digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
      digits(s + 17, 2, &sec))
    return ENG_INVALID;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
    return ENG_INVALID;
  const char *p = s + 19;
  int frac = 0;
  if (*p == '.') {
    p++;
    int n = 0;
    while (*p >= '0' && *p <= '9') {
      if (n < 3)
        frac = frac * 10 + (*p - '0');
      n++;
      p++;
    }
    if (n == 0)
      return ENG_INVALID;
    for (; n < 3; n++)
      frac *= 10;
  }
  int64_t off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om;
    if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om))
      return ENG_INVALID;
    off = (int64_t)(oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
    p += 6;
  } else {
    return ENG_INVALID;
  }
  if (*p)
    return ENG_INVALID;
  int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - off;
  *ms = secs * 1000 + frac;
  return ENG_OK;
}
