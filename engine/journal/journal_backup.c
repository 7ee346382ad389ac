/*
 * journal_backup.c - a consistent single-file copy of a journal, live or not.
 *
 * SQLite's online backup API copies every page of one read transaction of the
 * source (the main file and whatever of the -wal that transaction sees), so the
 * copy is exactly the journal as of one commit, even while the controller keeps
 * appending (in WAL mode the reader never blocks the writer). The copy is
 * written under a temporary name in the destination directory, switched to
 * rollback-journal mode (so it is one file, with no -wal or -shm, that can be
 * read on read-only media), made durable and only then renamed to its name.
 */
#include "engine/base/common.h"
#include "engine/journal/journal_int.h"
#include "engine/base/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static enum eng_err fsync_path(const char *path, int flags, struct eng_error *err) {
  int fd = open(path, flags | O_CLOEXEC);
  if (fd < 0)
    return eng_error_set(err, ENG_IO, "journal backup %s: cannot open it to sync: %s", path,
                         strerror(errno));
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  if (rc != 0 && e != EINVAL) /* some file systems cannot sync a directory */
    return eng_error_set(err, e == ENOSPC ? ENG_NOSPACE : ENG_IO,
                         "journal backup %s: cannot make it durable: %s", path, strerror(e));
  return ENG_OK;
}

enum eng_err journal_backup(struct journal *j, const char *dst, struct journal_backup_result *res,
                            struct eng_error *err) {
  memset(res, 0, sizeof(*res));
  if (!dst || !*dst)
    return eng_error_set(err, ENG_USAGE, "no destination was given for the backup");
  struct stat st;
  if (stat(dst, &st) == 0)
    return eng_error_set(err, ENG_EXISTS,
                         "journal backup: %s already exists; choose a new file name (a backup "
                         "never overwrites a file)",
                         dst);
  char dbuf[4096];
  snprintf(dbuf, sizeof(dbuf), "%s", dst);
  const char *dir = dirname(dbuf);
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return eng_error_set(err, ENG_NOTFOUND,
                         "journal backup: the directory %s of %s does not exist; create it first",
                         dir, dst);
  sqlite3 *src = NULL;
  enum eng_err e = journal_reader_db(j, &src, err);
  if (e)
    return e;
  char *tmp = xasprintf("%s.partial-%d", dst, (int)getpid());
  sqlite3 *out = NULL;
  int rc = sqlite3_open_v2(tmp, &out,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc == SQLITE_OK) {
    chmod(tmp, 0600); /* like the journal: for the controller and its operators only */
    sqlite3_extended_result_codes(out, 1);
    sqlite3_backup *b = sqlite3_backup_init(out, "main", src, "main");
    if (!b) {
      rc = sqlite3_errcode(out);
    } else {
      /* All pages in one step: one read transaction, so one consistent state,
       * and no restart when the controller commits meanwhile. */
      rc = sqlite3_backup_step(b, -1);
      int frc = sqlite3_backup_finish(b);
      if (rc == SQLITE_DONE)
        rc = frc;
    }
  }
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(out, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    e = journal_sql_error_path(dst, out, rc, "writing the backup", err);
    sqlite3_close(out);
    unlink(tmp);
    char *side = xasprintf("%s-journal", tmp);
    unlink(side);
    free(side);
    free(tmp);
    return e;
  }
  sqlite3_close(out);
  e = fsync_path(tmp, O_RDONLY, err);
  if (!e && rename(tmp, dst) != 0)
    e = eng_error_set(err, ENG_IO, "journal backup: cannot rename %s to %s: %s", tmp, dst,
                      strerror(errno));
  if (!e)
    e = fsync_path(dir, O_RDONLY | O_DIRECTORY, err);
  if (e) {
    unlink(tmp);
    free(tmp);
    return e;
  }
  free(tmp);
  if (stat(dst, &st) == 0)
    res->bytes = (int64_t)st.st_size;
  return ENG_OK;
}
