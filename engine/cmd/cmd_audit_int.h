/*
 * cmd_audit_int.h - what the files of the `audit` command share: the common
 * options, the walk over the journal and the table, JSON and CSV output.
 */
#ifndef EQXM_CMD_AUDIT_INT_H
#define EQXM_CMD_AUDIT_INT_H

#include "engine/base/common.h"
#include "engine/base/cli.h"
#include "engine/journal/journal.h"

#include <jansson.h>

enum audit_out { AUDIT_TABLE, AUDIT_JSON, AUDIT_CSV };

/* The options every query has, and their parsed form. */
struct audit_query {
  const char *object, *shoot, *since, *format, *output;
  bool show_progress;
  /* query-specific options, parsed by the query's own cli_opt entries */
  const char *kind, *state;
  bool failed;
  /* parsed */
  char *ns, *name, *okind;
  int64_t since_ms;
  enum audit_out out;
};

/* The common cli_opt entries (object, shoot, since, output, format, progress). */
#define AUDIT_COMMON_OPTS(q)                                                                         \
  {"object", CLI_STRING, &(q).object, "[KIND/]NS/NAME", "only this object", NULL},                   \
      {"shoot",                                                                                      \
       CLI_STRING,                                                                                   \
       &(q).shoot,                                                                                   \
       "NAMESPACE",                                                                                  \
       "only objects of this shoot (its seed namespace, shoot--PROJECT--NAME)",                      \
       NULL},                                                                                        \
      {"since", CLI_STRING, &(q).since, "TIME", "only what happened at or after TIME (RFC 3339)",    \
       NULL},                                                                                        \
      {"output",                                                                                     \
       CLI_STRING,                                                                                   \
       &(q).output,                                                                                  \
       "table|json|csv",                                                                             \
       "an aligned table (default), JSON lines, or CSV with a header row",                           \
       NULL},                                                                                        \
      {"format", CLI_STRING, &(q).format, "text|json", "the same as --output (text = table)", NULL}, \
  {                                                                                                  \
    "progress", CLI_BOOL, &(q).show_progress, NULL, "report progress on stderr", NULL                \
  }

/* Parse argv with spec and open the journal read-only: -1 to go on (*j is
 * open), else the exit code (q is released then). */
int audit_begin(const struct cli_spec *spec, struct audit_query *q, int argc, char **argv,
                struct journal **j);
void audit_query_free(struct audit_query *q);

const char *audit_kind_of(const char *group_kind);
/* Does the object (group_kind, ns, name) pass --object and --shoot? */
bool audit_object_matches(const struct audit_query *q, const char *gk, const char *ns,
                          const char *name);

/* Walk every event of the journal in seq order whose type passes want()
 * (NULL = all), calling fn; progress on stderr. EXIT_OK or EXIT_FAIL (message
 * printed). */
typedef void (*audit_row_fn)(void *ud, const struct journal_row *r);
int audit_walk(struct journal *j, struct audit_query *q, bool (*want)(const char *type),
               audit_row_fn fn, void *ud);

/* Output. A column shows the member `key` of each row object. */
enum audit_col_type {
  COL_STR,
  COL_INT,
  COL_TIME, /* integer ms since the epoch, shown in RFC 3339; 0 = "-" */
  COL_DUR,  /* integer ms, shown as 1.2s, 4m05s, 2h03m */
};
struct audit_col {
  const char *title;
  const char *key;
  enum audit_col_type type;
};
/* Print rows (an array of objects) as q->out says: a table whose columns are as
 * wide as their longest cell, JSON lines (every member of each row, canonical),
 * or CSV (the columns, RFC 4180 quoting). empty is printed instead of a table
 * without rows. */
void audit_print(const struct audit_query *q, const struct audit_col *cols, size_t ncols,
                 json_t *rows, const char *empty);
void audit_fmt_dur(int64_t ms, char *out, size_t n);

/* The queries in other files. */
int audit_cmd_devices(int argc, char **argv);
int audit_cmd_machines(int argc, char **argv);
int audit_cmd_sql(int argc, char **argv);

#define AUDIT_CMD PROG_NAME " audit"

#endif
