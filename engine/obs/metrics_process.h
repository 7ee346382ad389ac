/*
 * metrics_process.h - the standard process metrics Prometheus users expect
 * (the same names and meaning as the Go client's process collector), read
 * from /proc/self at scrape time:
 *
 *   process_cpu_seconds_total       counter  user + system CPU time
 *   process_resident_memory_bytes   gauge    resident set size
 *   process_virtual_memory_bytes    gauge    virtual memory size
 *   process_start_time_seconds      gauge    start time, seconds since the Unix epoch
 *   process_open_fds                gauge    open file descriptors
 *   process_max_fds                 gauge    soft limit on open file descriptors
 *
 * A value that cannot be read (no /proc) is left out of the scrape.
 */
#ifndef EQXM_METRICS_PROCESS_H
#define EQXM_METRICS_PROCESS_H

#include "engine/base/common.h"
#include "engine/base/err.h"

struct metrics_registry;

/* Add the process metrics to r. Fails only when a name is already taken. */
enum eng_err metrics_process_register(struct metrics_registry *r,
                                      struct eng_error *err) WARN_UNUSED;

/* The fields of /proc/<pid>/stat the collector uses. */
struct metrics_proc_stat {
  uint64_t utime_ticks;
  uint64_t stime_ticks;
  uint64_t starttime_ticks; /* since boot */
  uint64_t vsize_bytes;
  uint64_t rss_pages;
};

/* Parse the text of /proc/<pid>/stat (the command name may hold spaces and parentheses).
 * ENG_CORRUPT when a field is missing or not a number. */
enum eng_err metrics_proc_parse_stat(const char *text, struct metrics_proc_stat *out) WARN_UNUSED;
/* The "btime" (boot time, seconds since the epoch) of the text of /proc/stat. */
enum eng_err metrics_proc_parse_btime(const char *text, uint64_t *btime) WARN_UNUSED;

#endif
