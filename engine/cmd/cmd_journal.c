/*
 * cmd_journal.c - `journal verify|export|stats`: operator tools for a journal
 * file, always read-only.
 */
#include "engine/base/common.h"
#include "engine/cmd/cmd_journal.h"
#include "engine/base/cli.h"
#include "engine/base/progress.h"
#include "engine/base/clock.h"
#include "engine/journal/journal.h"
#include "engine/base/jsonx.h"
#include "engine/base/sha256.h"
#include "engine/base/timefmt.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMD PROG_NAME " journal"

static void top_usage(FILE *out) {
  fprintf(out, "Usage: " CMD " COMMAND [options] JOURNAL\n"
               "\n"
               "Inspect a journal file (the SQLite database where the controller records every\n"
               "event it observes and every action it takes). Every command opens the journal\n"
               "read-only and can run while the controller writes it.\n"
               "\n"
               "Commands:\n"
               "  verify     recompute the hash chain and check the file; names the first bad seq\n"
               "  export     print events as canonical JSON lines, filtered by seq, type, object\n"
               "  stats      counts by source and type, seq and time range, sizes, snapshots\n"
               "  backup     write a consistent single-file copy of a (live) journal\n"
               "\n"
               "Run '" CMD " COMMAND --help' for the options of a command.\n"
               "Exit codes: 0 success, 1 failure (including a broken chain), 2 usage error.\n");
}

int cmd_journal_open_ro(const char *prog, const char *path, struct journal **j) {
  struct journal_options opt = {.read_only = true};
  struct eng_error err;
  eng_error_clear(&err);
  if (journal_open(path, &opt, j, &err) != ENG_OK) {
    fprintf(stderr, "%s: %s\n", prog, err.msg);
    return EXIT_FAIL;
  }
  if (journal_may_lack_wal(*j))
    fprintf(stderr,
            "%s: note: journal %s is in WAL mode but has no %s-wal file beside it, and its newest "
            "event is not a clean stop: if it was copied from a running controller, the newest "
            "events are missing (they were in the -wal file). Take copies with '" PROG_NAME
            " journal backup' instead.\n",
            prog, path, path);
  return EXIT_OK;
}

static int open_ro(const char *path, struct journal **j) {
  return cmd_journal_open_ro(CMD, path, j);
}

/* Parse the options and the spec->max_pos arguments into paths[] (NULL when not given): -1 to go
 * on, else the exit code. */
static int parse_args(const struct cli_spec *spec, int argc, char **argv, char **paths) {
  char **pos = xcalloc((size_t)argc + 1, sizeof(*pos));
  int npos = 0;
  int rc = cli_parse(spec, argc, argv, &npos, pos);
  for (int i = 0; i < spec->max_pos; i++)
    paths[i] = i < npos ? pos[i] : NULL;
  free(pos);
  if (rc)
    return rc == CLI_HELP ? EXIT_OK : EXIT_USAGE;
  return -1;
}

/* parse_args() for the one JOURNAL argument, then open it read-only: -1 to go on (*j is open),
 * else the exit code. */
static int begin(const struct cli_spec *spec, int argc, char **argv, char **path,
                 struct journal **j) {
  int rc = parse_args(spec, argc, argv, path);
  if (rc >= 0)
    return rc;
  *j = NULL;
  return open_ro(*path, j) ? EXIT_FAIL : -1;
}

/* ", "-separated "KEY N" of every member of m (integers), or "none". */
static void print_counts(const char *label, json_t *m) {
  printf("  %-13s", label);
  const char *k;
  json_t *v;
  bool first = true;
  json_object_foreach(m, k, v) {
    printf("%s%s %" JSON_INTEGER_FORMAT, first ? "" : ", ", k, json_integer_value(v));
    first = false;
  }
  printf("%s\n", first ? "none" : "");
}

/* ---- verify ------------------------------------------------------------------------------ */

static int cmd_verify(int argc, char **argv) {
  bool show_progress = false;
  const struct cli_opt opts[] = {{"progress", CLI_BOOL, &show_progress, NULL,
                                  "report progress on stderr even when it is not a terminal", NULL},
                                 {0}};
  const struct cli_spec spec = {
      .prog = CMD " verify",
      .usage = "[options] JOURNAL",
      .description =
          "Recompute the SHA-256 hash chain of every event from the retention anchor to the\n"
          "head, check the snapshots against it and run SQLite's quick_check. Prints\n"
          "'journal JOURNAL: N events, seq A..B, hash chain intact' and exits 0, or names the\n"
          "first bad seq and exits 1.",
      .opts = opts,
      .min_pos = 1,
      .max_pos = 1};
  char *path;
  struct journal *j;
  int rc = begin(&spec, argc, argv, &path, &j);
  if (rc >= 0)
    return rc;
  struct progress pr;
  progress_init(&pr, show_progress, "verified");
  struct journal_verify_result res;
  struct eng_error err;
  eng_error_clear(&err);
  enum eng_err e = journal_verify(j, progress_show, &pr, &res, &err);
  progress_done(&pr, res.events, show_progress);
  int status = EXIT_OK;
  if (e == ENG_OK) {
    if (res.events)
      printf("journal %s: %" PRId64 " events, seq %" PRId64 "..%" PRId64 ", hash chain intact",
             path, res.events, res.first_seq, res.last_seq);
    else
      printf("journal %s: 0 events, hash chain intact", path);
    if (res.anchor_seq > 0)
      printf(" (anchored at seq %" PRId64 ", the newest event removed by retention)",
             res.anchor_seq);
    printf("\n");
  } else if (e == ENG_CORRUPT) {
    printf("%s\n", err.msg);
    status = EXIT_FAIL;
  } else {
    fprintf(stderr, CMD " verify: %s\n", err.msg);
    status = EXIT_FAIL;
  }
  journal_close(j);
  return status;
}

/* ---- export ------------------------------------------------------------------------------ */

/* One event as a canonical JSON object line. */
static char *row_line(const struct journal_row *r) {
  char ts[TIMEFMT_LEN], hex[2 * SHA256_LEN + 1];
  timefmt_rfc3339_ms(r->recorded_ms, ts);
  hex_encode(r->hash, SHA256_LEN, hex);
  json_t *o = json_object();
  json_object_set_new(o, "seq", json_integer(r->seq));
  json_object_set_new(o, "recorded_ms", json_integer(r->recorded_ms));
  json_object_set_new(o, "recorded", json_string(ts));
  const struct {
    const char *k, *v;
  } strs[] = {{"source", r->source},
              {"type", r->type},
              {"group_kind", r->group_kind},
              {"namespace", r->ns},
              {"name", r->name},
              {"uid", r->uid},
              {"resource_version", r->resource_version},
              {"correlation_id", r->correlation_id},
              {"hash", hex}};
  for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
    json_t *s = json_string(strs[i].v);
    json_object_set_new(o, strs[i].k, s ? s : json_string("\xef\xbf\xbd"));
  }
  json_object_set(o, "payload", r->payload);
  char *line = jsonx_canonical(o);
  json_decref(o);
  return line;
}

/* KIND/NS/NAME: the name after the last '/', the namespace before it (may be
 * empty), the rest is the kind, with or without its group. */
static bool parse_object(char *spec, struct journal_filter *f) {
  char *name = strrchr(spec, '/');
  if (!name || name == spec)
    return false;
  *name++ = '\0';
  char *ns = strrchr(spec, '/');
  if (!ns || ns == spec || !*name)
    return false;
  *ns++ = '\0';
  f->ns = ns;
  f->name = name;
  if (strchr(spec, '/'))
    f->group_kind = spec;
  else
    f->kind = spec;
  return true;
}

static int cmd_export(int argc, char **argv) {
  long from = 0, to = 0;
  const char *type = NULL, *type_prefix = NULL, *source = NULL, *object = NULL, *uid = NULL,
             *corr = NULL, *format = "jsonl";
  bool show_progress = false;
  const struct cli_opt opts[] = {
      {"from-seq", CLI_INT, &from, "N", "first seq to export (inclusive)", NULL},
      {"to-seq", CLI_INT, &to, "N", "last seq to export (inclusive)", NULL},
      {"type", CLI_STRING, &type, "TYPE", "only events of this type (e.g. executor.intent)", NULL},
      {"type-prefix", CLI_STRING, &type_prefix, "PREFIX", "only types starting with PREFIX (kube.)",
       NULL},
      {"source", CLI_STRING, &source, "SOURCE", "only kube, metal, executor, engine or clock",
       NULL},
      {"object", CLI_STRING, &object, "KIND/NS/NAME",
       "only events of this object; KIND may carry its group", NULL},
      {"uid", CLI_STRING, &uid, "UID", "only events of the object with this uid", NULL},
      {"correlation-id", CLI_STRING, &corr, "ID", "only events of this reconcile", NULL},
      {"format", CLI_STRING, &format, "FORMAT", "output format: jsonl (the only one)", NULL},
      {"progress", CLI_BOOL, &show_progress, NULL, "report progress on stderr even when not a tty",
       NULL},
      {0}};
  const struct cli_spec spec = {
      .prog = CMD " export",
      .usage = "[options] JOURNAL",
      .description =
          "Print the events of JOURNAL in seq order to stdout, one canonical JSON object per\n"
          "line (keys sorted): seq, recorded_ms, recorded, source, type, group_kind, namespace,\n"
          "name, uid, resource_version, correlation_id, payload, hash. Credentials were\n"
          "redacted before the events were stored.",
      .opts = opts,
      .min_pos = 1,
      .max_pos = 1};
  char *path = NULL;
  int rc = parse_args(&spec, argc, argv, &path);
  if (rc >= 0)
    return rc;
  if (strcmp(format, "jsonl") != 0)
    return cli_usage_error(&spec, "unknown --format '%s' (supported: jsonl).", format);
  if (from < 0 || to < 0 || (to && from > to))
    return cli_usage_error(&spec, "--from-seq and --to-seq must be positive with from <= to.");
  struct journal_filter f = {.from_seq = from,
                             .to_seq = to,
                             .type = type,
                             .type_prefix = type_prefix,
                             .source = source,
                             .uid = uid,
                             .correlation_id = corr};
  char *objbuf = object ? xstrdup(object) : NULL;
  if (objbuf && !parse_object(objbuf, &f)) {
    free(objbuf);
    return cli_usage_error(&spec,
                           "--object must be KIND/NAMESPACE/NAME (NAMESPACE may be empty), not "
                           "'%s'.",
                           object);
  }
  struct journal *j = NULL;
  if (open_ro(path, &j)) {
    free(objbuf);
    return EXIT_FAIL;
  }
  struct eng_error err;
  eng_error_clear(&err);
  struct journal_iter *it = NULL;
  int status = EXIT_OK;
  if (journal_iter_open(j, &f, &it, &err) != ENG_OK) {
    fprintf(stderr, CMD " export: %s\n", err.msg);
    status = EXIT_FAIL;
  }
  struct progress pr;
  progress_init(&pr, show_progress, "exported");
  int64_t n = 0, total = journal_durable_seq(j);
  const struct journal_row *r;
  int got = 0;
  while (it && (got = journal_iter_next(it, &r, &err)) == 1) {
    char *line = row_line(r);
    fputs(line, stdout);
    fputc('\n', stdout);
    free(line);
    n++;
    progress_show(&pr, r->seq, total);
  }
  if (it && got < 0) {
    fprintf(stderr, CMD " export: %s\n", err.msg);
    status = EXIT_FAIL;
  }
  journal_iter_free(it);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, CMD " export: writing to stdout failed\n");
    status = EXIT_FAIL;
  }
  progress_done(&pr, n, show_progress);
  journal_close(j);
  free(objbuf);
  return status;
}

/* ---- stats ------------------------------------------------------------------------------- */

static void print_time(json_t *ms, char out[TIMEFMT_LEN]) {
  if (json_is_integer(ms))
    timefmt_rfc3339_ms(json_integer_value(ms), out);
  else
    snprintf(out, TIMEFMT_LEN, "-");
}

static int cmd_stats(int argc, char **argv) {
  bool as_json = false;
  const struct cli_opt opts[] = {
      {"json", CLI_BOOL, &as_json, NULL, "print one JSON object instead of text", NULL}, {0}};
  const struct cli_spec spec = {
      .prog = CMD " stats",
      .usage = "[options] JOURNAL",
      .description =
          "Summarise JOURNAL: events by source and type, seq and time range, file sizes,\n"
          "snapshots and the retention anchor.",
      .opts = opts,
      .min_pos = 1,
      .max_pos = 1};
  char *path;
  struct journal *j;
  int rc = begin(&spec, argc, argv, &path, &j);
  if (rc >= 0)
    return rc;
  struct eng_error err;
  eng_error_clear(&err);
  json_t *s = journal_stats(j, &err);
  journal_close(j);
  if (!s) {
    fprintf(stderr, CMD " stats: %s\n", err.msg);
    return EXIT_FAIL;
  }
  if (as_json) {
    char *text = json_dumps(s, JSON_INDENT(2) | JSON_SORT_KEYS);
    printf("%s\n", text);
    free(text);
    json_decref(s);
    return EXIT_OK;
  }
  char t0[TIMEFMT_LEN], t1[TIMEFMT_LEN], tc[TIMEFMT_LEN];
  print_time(json_object_get(s, "first_recorded_ms"), t0);
  print_time(json_object_get(s, "last_recorded_ms"), t1);
  print_time(json_object_get(s, "created_ms"), tc);
  printf("journal %s\n", path);
  printf("  %-13s%s (schema version %" JSON_INTEGER_FORMAT ", created %s by %s)\n", "id",
         jsonx_str(s, "journal_id"), jsonx_int(s, "schema_version", 0), tc,
         jsonx_str(s, "created_by") ? jsonx_str(s, "created_by") : "?");
  json_int_t events = jsonx_int(s, "events", 0);
  if (events)
    printf("  %-13s%" JSON_INTEGER_FORMAT ", seq %" JSON_INTEGER_FORMAT "..%" JSON_INTEGER_FORMAT
           "\n",
           "events", events, jsonx_int(s, "first_seq", 0), jsonx_int(s, "last_seq", 0));
  else
    printf("  %-13s0\n", "events");
  printf("  %-13s%s .. %s\n", "recorded", t0, t1);
  printf("  %-13sseq %" JSON_INTEGER_FORMAT ", hash %s\n", "head", jsonx_int(s, "head_seq", 0),
         jsonx_str(s, "head_hash") ? jsonx_str(s, "head_hash") : "?");
  json_int_t anchor = jsonx_int(s, "anchor_seq", 0);
  if (anchor)
    printf("  %-13sevents up to seq %" JSON_INTEGER_FORMAT " were removed; the chain is anchored "
           "there\n",
           "retention", anchor);
  else
    printf("  %-13snothing removed yet\n", "retention");
  printf("  %-13s%" JSON_INTEGER_FORMAT " bytes (%" JSON_INTEGER_FORMAT
         " pages of %" JSON_INTEGER_FORMAT ", %" JSON_INTEGER_FORMAT
         " free); WAL %" JSON_INTEGER_FORMAT " bytes\n",
         "size", jsonx_int(s, "db_bytes", 0), jsonx_int(s, "page_count", 0),
         jsonx_int(s, "page_size", 0), jsonx_int(s, "freelist_pages", 0),
         jsonx_int(s, "wal_bytes", 0));
  print_counts("by source", json_object_get(s, "by_source"));
  print_counts("by type", json_object_get(s, "by_type"));
  json_t *snaps = json_object_get(s, "snapshots");
  printf("  %-13s", "snapshots");
  const char *k;
  json_t *v;
  bool first = true;
  json_object_foreach(snaps, k, v) {
    printf("%s%s %" JSON_INTEGER_FORMAT " (seq %" JSON_INTEGER_FORMAT "..%" JSON_INTEGER_FORMAT ")",
           first ? "" : ", ", k, jsonx_int(v, "count", 0), jsonx_int(v, "oldest_seq", 0),
           jsonx_int(v, "newest_seq", 0));
    first = false;
  }
  printf("%s\n", first ? "none" : "");
  json_decref(s);
  return EXIT_OK;
}

/* ---- backup ------------------------------------------------------------------------------ */

static int cmd_backup(int argc, char **argv) {
  bool no_verify = false;
  const struct cli_opt opts[] = {
      {"no-verify", CLI_BOOL, &no_verify, NULL, "do not verify the hash chain of the copy", NULL},
      {0}};
  const struct cli_spec spec = {
      .prog = CMD " backup",
      .usage = "[options] JOURNAL COPY",
      .description =
          "Write a consistent copy of JOURNAL to the new file COPY, while the controller keeps\n"
          "writing it: every event committed when the copy starts, including those still in\n"
          "the -wal file, in one self-contained file (no -wal or -shm) that every command can\n"
          "read, also from a read-only directory. Then verify the copy's hash chain. Inside a\n"
          "pod, then copy it out:\n"
          "  kubectl exec POD -- " PROG_NAME " journal backup \\\n"
          "      /var/lib/" PROG_NAME "/journal.db /tmp/journal-copy.db\n"
          "  kubectl cp POD:/tmp/journal-copy.db ./journal.db\n"
          "COPY must not exist. The digest key file (JOURNAL.key) is not copied.",
      .opts = opts,
      .min_pos = 2,
      .max_pos = 2};
  char *paths[2];
  int rc = parse_args(&spec, argc, argv, paths);
  if (rc >= 0)
    return rc;
  char *path = paths[0], *dst = paths[1];
  struct journal *j = NULL;
  if (open_ro(path, &j))
    return EXIT_FAIL;
  struct eng_error err;
  eng_error_clear(&err);
  struct journal_backup_result br;
  enum eng_err e = journal_backup(j, dst, &br, &err);
  journal_close(j);
  if (e) {
    fprintf(stderr, CMD " backup: %s\n", err.msg);
    return EXIT_FAIL;
  }
  if (no_verify) {
    printf("journal %s: copied to %s (%" PRId64 " bytes, not verified)\n", path, dst, br.bytes);
    return EXIT_OK;
  }
  struct journal *c = NULL;
  if (open_ro(dst, &c))
    return EXIT_FAIL;
  struct journal_verify_result res;
  e = journal_verify(c, NULL, NULL, &res, &err);
  journal_close(c);
  if (e) {
    fprintf(stderr, CMD " backup: the copy %s does not verify: %s\n", dst, err.msg);
    return EXIT_FAIL;
  }
  printf("journal %s: copied to %s (%" PRId64 " bytes): %" PRId64 " events, seq %" PRId64
         "..%" PRId64 ", hash chain intact\n",
         path, dst, br.bytes, res.events, res.events ? res.first_seq : 0,
         res.events ? res.last_seq : 0);
  return EXIT_OK;
}

int cmd_journal(int argc, char **argv) {
  static const struct cli_subcommand subs[] = {{"verify", cmd_verify},
                                               {"export", cmd_export},
                                               {"stats", cmd_stats},
                                               {"backup", cmd_backup},
                                               {NULL, NULL}};
  return cli_dispatch(CMD, "command", subs, top_usage, argc, argv);
}
