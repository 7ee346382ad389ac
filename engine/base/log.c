/*
 * log.c - structured JSON/text logging with secret scrubbing.
 */
#include "engine/base/common.h"
#include "engine/base/log.h"
#include "engine/base/buf.h"
#include "engine/base/clock.h"
#include "engine/base/timefmt.h"
#include "engine/base/xalloc.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static enum log_format format = LOG_FORMAT_JSON;
static int out_fd = 2;

static pthread_mutex_t secrets_mu = PTHREAD_MUTEX_INITIALIZER;
static char **secrets;
static size_t nsecrets;
/* The secret prefix index of contains_secret_locked(). */
static uint64_t *prefix_index;
static size_t nprefix;
static size_t prefix_for = (size_t)-1; /* nsecrets the index was built for; -1 = stale */

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(enum log_level min, enum log_format fmt, int fd) {
  min_level = min;
  format = fmt;
  out_fd = fd;
}

int log_parse_level(const char *s, enum log_level *out) {
  for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
    if (strcasecmp(s, level_names[i]) == 0) {
      *out = (enum log_level)i;
      return 0;
    }
  }
  if (strcasecmp(s, "warning") == 0) {
    *out = LOG_WARN;
    return 0;
  }
  return -1;
}

int log_parse_format(const char *s, enum log_format *out) {
  if (strcmp(s, "json") == 0)
    *out = LOG_FORMAT_JSON;
  else if (strcmp(s, "text") == 0)
    *out = LOG_FORMAT_TEXT;
  else
    return -1;
  return 0;
}

bool log_enabled(enum log_level lvl) { return lvl >= min_level && lvl < LOG_OFF; }

void log_register_secret(const char *secret) {
  if (!secret || strlen(secret) < 4)
    return;
  pthread_mutex_lock(&secrets_mu);
  for (size_t i = 0; i < nsecrets; i++) {
    if (strcmp(secrets[i], secret) == 0) {
      pthread_mutex_unlock(&secrets_mu);
      return;
    }
  }
  secrets = xrealloc(secrets, (nsecrets + 1) * sizeof(*secrets));
  secrets[nsecrets++] = xstrdup(secret);
  prefix_for = (size_t)-1;
  pthread_mutex_unlock(&secrets_mu);
}

void log_forget_secret(const char *secret) {
  if (!secret)
    return;
  pthread_mutex_lock(&secrets_mu);
  for (size_t i = 0; i < nsecrets; i++) {
    if (strcmp(secrets[i], secret) == 0) {
      xfree_secret(secrets[i]);
      secrets[i] = secrets[--nsecrets];
      prefix_for = (size_t)-1;
      break;
    }
  }
  pthread_mutex_unlock(&secrets_mu);
}

void log_forget_all_secrets(void) {
  pthread_mutex_lock(&secrets_mu);
  for (size_t i = 0; i < nsecrets; i++)
    xfree_secret(secrets[i]);
  free(secrets);
  secrets = NULL;
  nsecrets = 0;
  free(prefix_index);
  prefix_index = NULL;
  nprefix = 0;
  prefix_for = (size_t)-1;
  pthread_mutex_unlock(&secrets_mu);
}

/*
 * Does text contain a registered secret? One pass over text whatever the number of secrets
 * (at 1,000 credentials sets, a strstr() per secret over every journaled payload dominated the
 * controller's CPU): the first 8 bytes of every secret of at least 8 bytes sit in a sorted index,
 * each 8-byte window of text is looked up there, and a hit is confirmed with memcmp. Shorter
 * secrets are searched with strstr(). Caller holds secrets_mu.
 */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static bool contains_secret_locked(const char *text) {
  if (nsecrets == 0)
    return false;
  if (prefix_for != nsecrets) {
    free(prefix_index);
    prefix_index = xcalloc(nsecrets, sizeof(*prefix_index));
    nprefix = 0;
    for (size_t i = 0; i < nsecrets; i++)
      if (strlen(secrets[i]) >= 8)
        memcpy(&prefix_index[nprefix++], secrets[i], 8);
    qsort(prefix_index, nprefix, sizeof(*prefix_index), cmp_u64);
    prefix_for = nsecrets;
  }
  for (size_t i = 0; i < nsecrets; i++)
    if (strlen(secrets[i]) < 8 && strstr(text, secrets[i]))
      return true;
  size_t len = strlen(text);
  for (size_t p = 0; nprefix && p + 8 <= len; p++) {
    uint64_t w;
    memcpy(&w, text + p, 8);
    if (!bsearch(&w, prefix_index, nprefix, sizeof(w), cmp_u64))
      continue;
    for (size_t i = 0; i < nsecrets; i++) {
      size_t sl = strlen(secrets[i]);
      if (sl >= 8 && sl <= len - p && memcmp(text + p, secrets[i], sl) == 0)
        return true;
    }
  }
  return false;
}

bool log_has_secret(const char *text) {
  if (!text)
    return false;
  pthread_mutex_lock(&secrets_mu);
  bool hit = contains_secret_locked(text);
  pthread_mutex_unlock(&secrets_mu);
  return hit;
}

char *log_scrub(const char *text) {
  if (!text)
    return NULL;
  pthread_mutex_lock(&secrets_mu);
  char *cur = xstrdup(text);
  if (!contains_secret_locked(text)) {
    pthread_mutex_unlock(&secrets_mu);
    return cur;
  }
  for (size_t i = 0; i < nsecrets; i++) {
    const char *s = secrets[i];
    size_t sl = strlen(s);
    if (!strstr(cur, s))
      continue;
    struct buf b;
    buf_init(&b, BUF_MAX_DERIVED);
    const char *p = cur, *hit;
    while ((hit = strstr(p, s)) != NULL) {
      if (buf_append(&b, p, (size_t)(hit - p)) || buf_appends(&b, "[REDACTED]"))
        break;
      p = hit + sl;
    }
    if (buf_appends(&b, p)) {
      /* a line of more than BUF_MAX_DERIVED bytes: keep what fits */
    }
    free(cur);
    cur = buf_take(&b, NULL);
  }
  pthread_mutex_unlock(&secrets_mu);
  return cur;
}

static void json_escape(struct buf *b, const char *s) {
  static const char hex[] = "0123456789abcdef";
  enum eng_err rc = buf_append(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
    switch (*p) {
    case '"':
      rc = buf_appends(b, "\\\"");
      break;
    case '\\':
      rc = buf_appends(b, "\\\\");
      break;
    case '\n':
      rc = buf_appends(b, "\\n");
      break;
    case '\r':
      rc = buf_appends(b, "\\r");
      break;
    case '\t':
      rc = buf_appends(b, "\\t");
      break;
    default:
      if (*p < 0x20) {
        char u[7] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], 0};
        rc = buf_appends(b, u);
      } else {
        rc = buf_append(b, p, 1);
      }
    }
  }
  if (!rc)
    rc = buf_append(b, "\"", 1);
  (void)rc;
}

static void text_value(struct buf *b, const char *s) {
  bool quote = *s == '\0' || strpbrk(s, " \t\n\"=") != NULL;
  if (quote)
    json_escape(b, s);
  else if (buf_appends(b, s)) {
    /* over the line cap: the line is cut */
  }
}

void log_kv(enum log_level lvl, const char *msg, ...) {
  if (!log_enabled(lvl))
    return;
  char tbuf[TIMEFMT_LEN];
  timefmt_rfc3339_ms(clock_now_ms(), tbuf);

  struct buf b;
  buf_init(&b, 256 * 1024);
  enum eng_err rc = ENG_OK;
  va_list ap;
  va_start(ap, msg);
  if (format == LOG_FORMAT_JSON) {
    rc = buf_printf(&b, "{\"level\":\"%s\",\"ts\":\"%s\",\"msg\":", level_names[lvl], tbuf);
    json_escape(&b, msg);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
      const char *v = va_arg(ap, const char *);
      rc = buf_append(&b, ",", 1);
      json_escape(&b, k);
      rc = buf_append(&b, ":", 1);
      json_escape(&b, v ? v : "");
    }
    rc = buf_appends(&b, "}\n");
  } else {
    char lvlu[8];
    size_t i = 0;
    for (; level_names[lvl][i] && i < sizeof(lvlu) - 1; i++)
      lvlu[i] = (char)(level_names[lvl][i] - 'a' + 'A');
    lvlu[i] = 0;
    rc = buf_printf(&b, "%s %-5s %s", tbuf, lvlu, msg);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
      const char *v = va_arg(ap, const char *);
      rc = buf_printf(&b, " %s=", k);
      text_value(&b, v ? v : "");
    }
    rc = buf_appends(&b, "\n");
  }
  va_end(ap);
  (void)rc;
  if (!b.data)
    return;
  char *clean = log_scrub(b.data);
  size_t n = strlen(clean);
  const char *p = clean;
  while (n > 0) {
    ssize_t w = write(out_fd, p, n);
    if (w <= 0)
      break;
    p += w;
    n -= (size_t)w;
  }
  free(clean);
  buf_release(&b);
}
