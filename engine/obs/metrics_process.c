/*
 * metrics_process.c - process metrics read from /proc/self at scrape time.
 */
#include "engine/base/common.h"
#include "engine/obs/metrics_process.h"
#include "engine/obs/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Read a small /proc file into buf (NUL-terminated). */
static bool read_small(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  size_t len = 0;
  while (len + 1 < size) {
    ssize_t r = read(fd, buf + len, size - 1 - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    len += (size_t)r;
  }
  close(fd);
  buf[len] = '\0';
  return len > 0;
}

static bool next_u64(const char **p, uint64_t *out) {
  const char *s = *p;
  while (*s == ' ')
    s++;
  if (*s < '0' || *s > '9')
    return false;
  uint64_t v = 0;
  while (*s >= '0' && *s <= '9') {
    if (v > (UINT64_MAX - 9) / 10)
      return false;
    v = v * 10 + (uint64_t)(*s++ - '0');
  }
  if (*s != ' ' && *s != '\n' && *s != '\0')
    return false;
  *out = v;
  *p = s;
  return true;
}

/* Skip one space-separated field (it may be negative or a single letter). */
static bool skip_field(const char **p) {
  const char *s = *p;
  while (*s == ' ')
    s++;
  if (!*s || *s == '\n')
    return false;
  while (*s && *s != ' ' && *s != '\n')
    s++;
  *p = s;
  return true;
}

enum eng_err metrics_proc_parse_stat(const char *text, struct metrics_proc_stat *out) {
  memset(out, 0, sizeof(*out));
  /* "pid (comm) state ppid ...": comm may hold anything, so start after the last ')'. */
  const char *p = text ? strrchr(text, ')') : NULL;
  if (!p)
    return ENG_CORRUPT;
  p++;
  /* Fields after comm, numbered as in proc(5): 3 state ... 14 utime 15 stime ... 22 starttime
   * 23 vsize 24 rss. */
  for (int field = 3; field <= 24; field++) {
    uint64_t v = 0;
    bool want = field == 14 || field == 15 || field >= 22;
    if (want ? !next_u64(&p, &v) : !skip_field(&p))
      return ENG_CORRUPT;
    switch (field) {
    case 14:
      out->utime_ticks = v;
      break;
    case 15:
      out->stime_ticks = v;
      break;
    case 22:
      out->starttime_ticks = v;
      break;
    case 23:
      out->vsize_bytes = v;
      break;
    case 24:
      out->rss_pages = v;
      break;
    default:
      break;
    }
  }
  return ENG_OK;
}

enum eng_err metrics_proc_parse_btime(const char *text, uint64_t *btime) {
  for (const char *p = text; p && *p;) {
    if (strncmp(p, "btime ", 6) == 0) {
      p += 5;
      return next_u64(&p, btime) ? ENG_OK : ENG_CORRUPT;
    }
    p = strchr(p, '\n');
    if (p)
      p++;
  }
  return ENG_CORRUPT;
}

static bool self_stat(struct metrics_proc_stat *st) {
  char buf[2048];
  return read_small("/proc/self/stat", buf, sizeof(buf)) && !metrics_proc_parse_stat(buf, st);
}

static bool cpu_seconds(void *ud, double *v) {
  (void)ud;
  struct metrics_proc_stat st;
  long tck = sysconf(_SC_CLK_TCK);
  if (!self_stat(&st) || tck <= 0)
    return false;
  *v = (double)(st.utime_ticks + st.stime_ticks) / (double)tck;
  return true;
}

static bool resident_bytes(void *ud, double *v) {
  (void)ud;
  struct metrics_proc_stat st;
  long page = sysconf(_SC_PAGESIZE);
  if (!self_stat(&st) || page <= 0)
    return false;
  *v = (double)st.rss_pages * (double)page;
  return true;
}

static bool virtual_bytes(void *ud, double *v) {
  (void)ud;
  struct metrics_proc_stat st;
  if (!self_stat(&st))
    return false;
  *v = (double)st.vsize_bytes;
  return true;
}

static bool start_time(void *ud, double *v) {
  (void)ud;
  /* Constant for the life of the process: compute it once. */
  static double cached = -1;
  if (cached < 0) {
    struct metrics_proc_stat st;
    char buf[16384];
    uint64_t btime = 0;
    long tck = sysconf(_SC_CLK_TCK);
    if (!self_stat(&st) || tck <= 0 || !read_small("/proc/stat", buf, sizeof(buf)) ||
        metrics_proc_parse_btime(buf, &btime))
      return false;
    cached = (double)btime + (double)st.starttime_ticks / (double)tck;
  }
  *v = cached;
  return true;
}

static bool open_fds(void *ud, double *v) {
  (void)ud;
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return false;
  int own = dirfd(d);
  double n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    if (strtol(e->d_name, NULL, 10) == own)
      continue; /* the descriptor of this very listing */
    n++;
  }
  closedir(d);
  *v = n;
  return true;
}

static bool max_fds(void *ud, double *v) {
  (void)ud;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return false;
  *v = (double)rl.rlim_cur; /* RLIM_INFINITY shows as 2^64-1, as in the Go client */
  return true;
}

/* Bytes of the C heap in use (glibc: allocated chunks plus mmapped blocks). */
static bool heap_bytes(void *ud, double *v) {
  (void)ud;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 mi = mallinfo2();
  *v = (double)mi.uordblks + (double)mi.hblkhd;
  return *v > 0; /* 0: another allocator (a sanitizer's) serves malloc, glibc cannot tell */
#else
  (void)v;
  return false;
#endif
}

/* Bytes SQLite holds (page caches, statements, schemas) over every connection of the process. */
static bool sqlite_bytes(void *ud, double *v) {
  (void)ud;
  *v = (double)sqlite3_memory_used();
  return true;
}

enum eng_err metrics_process_register(struct metrics_registry *r, struct eng_error *err) {
  struct eng_error local;
  if (!err)
    err = &local;
  static const struct {
    enum metrics_type type;
    const char *name, *help;
    metrics_value_fn fn;
  } defs[] = {
      {METRICS_COUNTER, "process_cpu_seconds_total",
       "CPU time (user and system) used by the process, in seconds.", cpu_seconds},
      {METRICS_GAUGE, "process_resident_memory_bytes",
       "Memory of the process resident in RAM, in bytes.", resident_bytes},
      {METRICS_GAUGE, "process_virtual_memory_bytes",
       "Virtual memory mapped by the process, in bytes.", virtual_bytes},
      {METRICS_GAUGE, "process_start_time_seconds",
       "When the process started, in seconds since the Unix epoch.", start_time},
      {METRICS_GAUGE, "process_open_fds", "File descriptors the process has open.", open_fds},
      {METRICS_GAUGE, "process_max_fds",
       "Limit (soft) on the file descriptors the process may open.", max_fds},
      {METRICS_GAUGE, "eqxm_heap_in_use_bytes",
       "Bytes of the C heap in use (allocated, not freed), of process_resident_memory_bytes.",
       heap_bytes},
      {METRICS_GAUGE, "eqxm_sqlite_memory_bytes",
       "Bytes SQLite holds for the journal (page caches, statements), part of the heap.",
       sqlite_bytes},
  };
  for (size_t i = 0; i < ARRAY_SIZE(defs); i++) {
    struct metrics_metric *m = defs[i].type == METRICS_COUNTER
                                   ? metrics_counter_new(r, defs[i].name, defs[i].help, NULL, err)
                                   : metrics_gauge_new(r, defs[i].name, defs[i].help, NULL, err);
    if (!m)
      return err->code;
    (void)metrics_set_fn(m, defs[i].fn, NULL);
  }
  return ENG_OK;
}
