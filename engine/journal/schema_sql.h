/*
 * schema_sql.h - the SQL files of schema/, compiled into the binary by
 * hack/embed-sql.sh, in file-name order.
 */
#ifndef EQXM_SCHEMA_SQL_H
#define EQXM_SCHEMA_SQL_H

#include <stddef.h>

struct schema_sql {
  const char *name; /* "0001_events.sql" */
  const char *text;
};

extern const struct schema_sql schema_sql_files[];
extern const size_t schema_sql_count;

#endif
