/*
 * log.h - structured logging, the only writer of diagnostics to stderr.
 *
 * Lines are JSON objects ({"level","ts","msg", fields...}, like the Go original's
 * zap logger) or human text ("2026-11-23T10:00:00.000Z INFO msg key=value").
 * Fields are string key/value pairs ending with NULL:
 *
 *   log_info("reconciled infrastructure", "namespace", ns, "name", name, NULL);
 *
 * Defence in depth for credentials: every string registered with
 * log_register_secret() is replaced by "[REDACTED]" in every line before it is
 * written, and log_scrub() applies the same to any text that leaves the process
 * (status messages, Kubernetes events).
 */
#ifndef EQXM_LOG_H
#define EQXM_LOG_H

#include "engine/base/common.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };
enum log_format { LOG_FORMAT_JSON = 0, LOG_FORMAT_TEXT };

/* Defaults: info, json, fd 2. */
void log_setup(enum log_level min, enum log_format fmt, int fd);
/* Parse "debug|info|warn|error" and "json|text"; 0 on success, -1 if unknown. */
int log_parse_level(const char *s, enum log_level *out);
int log_parse_format(const char *s, enum log_format *out);
bool log_enabled(enum log_level lvl);

#if defined(__GNUC__)
#define LOG_SENTINEL __attribute__((sentinel))
#else
#define LOG_SENTINEL
#endif

void log_kv(enum log_level lvl, const char *msg, ...) LOG_SENTINEL;
#define log_debug(...) log_kv(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_kv(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_kv(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_kv(LOG_ERROR, __VA_ARGS__)

/* Remember a credential so that no log line or scrubbed text ever shows it.
 * Strings shorter than 4 bytes are ignored (they would mask ordinary text). */
void log_register_secret(const char *secret);
void log_forget_secret(const char *secret);
void log_forget_all_secrets(void);
/* Copy of text with every registered secret replaced by "[REDACTED]"; caller frees. */
char *log_scrub(const char *text);
/* Whether text contains a registered secret (one pass over text, however many are registered). */
bool log_has_secret(const char *text);

#endif
