/*
 * journal_fixture.h - helpers shared by the journal unit tests: a scratch
 * directory, file bytes, and events of a known shape. Header-only (static).
 */
#ifndef EQXM_JOURNAL_FIXTURE_H
#define EQXM_JOURNAL_FIXTURE_H

#include "engine/base/common.h"
#include "engine/journal/journal.h"
#include "engine/base/xalloc.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fx_dir[512];

static UNUSED int fx_rm(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  chmod(p, 0700);
  return remove(p);
}

/* EQXM_KEEP_TMP=1 keeps the scratch directory for a post-mortem. */
static UNUSED void fx_cleanup(void) {
  if (fx_dir[0] && !getenv("EQXM_KEEP_TMP")) {
    chmod(fx_dir, 0700);
    nftw(fx_dir, fx_rm, 16, FTW_DEPTH | FTW_PHYS);
  }
}

/* A fresh scratch directory, removed at exit. */
static UNUSED void fx_setup(const char *name) {
  const char *tmp = getenv("TMPDIR");
  snprintf(fx_dir, sizeof(fx_dir), "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
  if (!mkdtemp(fx_dir)) {
    perror("mkdtemp");
    exit(1);
  }
  atexit(fx_cleanup);
}

/* "<scratch>/<name>"; caller frees. */
static char *fx_path(const char *name) { return xasprintf("%s/%s", fx_dir, name); }

/* The whole file (NULL if absent); *len its size. Caller frees. */
static char *fx_read(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    *len = 0;
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = xmalloc((size_t)n + 1);
  size_t got = fread(b, 1, (size_t)n, f);
  fclose(f);
  b[got] = 0;
  *len = got;
  return b;
}

static UNUSED void fx_write(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, len, f) != len) {
    perror(path);
    exit(1);
  }
  fclose(f);
}

static UNUSED bool fx_mem_contains(const char *hay, size_t n, const char *needle) {
  return hay && memmem(hay, n, needle, strlen(needle)) != NULL;
}

/* Does the file exist and contain needle anywhere in its bytes? */
static UNUSED bool fx_file_contains(const char *path, const char *needle) {
  size_t n;
  char *b = fx_read(path, &n);
  bool found = fx_mem_contains(b, n, needle);
  free(b);
  return found;
}

static UNUSED bool fx_same_bytes(const char *a, size_t an, const char *b, size_t bn) {
  return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* Event i of a synthetic stream: alternating objects and types. */
static UNUSED int64_t fx_append(struct journal *j, int i, struct eng_error *err) {
  char name[32], uid[40], rv[16];
  snprintf(name, sizeof(name), "obj-%d", i % 3);
  snprintf(uid, sizeof(uid), "uid-%d", i % 3);
  snprintf(rv, sizeof(rv), "%d", 1000 + i);
  json_t *payload = json_pack("{s:i,s:s,s:{s:s}}", "i", i, "zeta", "last", "spec", "name", name);
  struct jevent ev = {.source = i % 2 ? JEV_SOURCE_KUBE : "metal",
                      .type = i % 2 ? "kube.modified" : "metal.device",
                      .group_kind =
                          i % 2 ? "extensions.gardener.cloud/Infrastructure" : "metal/Device",
                      .ns = "shoot--a--b",
                      .name = name,
                      .uid = uid,
                      .resource_version = rv,
                      .correlation_id = i < 5 ? "rec-1" : "rec-2",
                      .payload = payload};
  int64_t seq = journal_append(j, &ev, err);
  json_decref(payload);
  return seq;
}

static struct journal *fx_open(const char *path, bool ro, struct eng_error *err) {
  struct journal_options opt = {.read_only = ro, .sync = JOURNAL_SYNC_NORMAL};
  struct journal *j = NULL;
  eng_error_clear(err);
  if (journal_open(path, &opt, &j, err) != ENG_OK)
    return NULL;
  return j;
}

/* A writable journal at path holding fx_append()'s events 1..n, committed; NULL on failure. */
static UNUSED struct journal *fx_open_filled(const char *path, int n, struct eng_error *err) {
  struct journal *j = fx_open(path, false, err);
  if (!j)
    return NULL;
  for (int i = 1; i <= n; i++)
    if (fx_append(j, i, err) < 0) {
      journal_close(j);
      return NULL;
    }
  if (journal_commit(j, err) != ENG_OK) {
    journal_close(j);
    return NULL;
  }
  return j;
}

/* Number of events an unfiltered iteration yields, -1 on error. */
static UNUSED int64_t fx_count(struct journal *j) {
  struct journal_iter *it = NULL;
  struct eng_error err;
  struct journal_filter f = {.raw = true};
  if (journal_iter_open(j, &f, &it, &err) != ENG_OK)
    return -1;
  int64_t n = 0;
  const struct journal_row *r;
  int rc;
  while ((rc = journal_iter_next(it, &r, &err)) == 1)
    n++;
  journal_iter_free(it);
  return rc < 0 ? -1 : n;
}

#endif
