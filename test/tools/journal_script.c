/*
 * journal_script.c - writes a journal from a script of events, with chosen
 * recorded times, for golden timelines and the audit/replay tests:
 *
 *   journal_script PATH < events.jsonl
 *
 * Each input line is one JSON object: "t" (seconds after 2026-11-24T00:00:00Z,
 * the event's recorded time; never decreasing), "source", "type", "group_kind",
 * "namespace", "name", "uid", "resource_version", "correlation_id" (absent =
 * "") and "payload" (an object). Lines that are empty or start with '#' are
 * skipped. Prints "durable N"; exit 1 naming the line on bad input.
 */
#include "engine/base/common.h"
#include "engine/base/jsonx.h"
#include "engine/base/xalloc.h"
#include "engine/journal/journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE_MS 1795478400000LL /* 2026-11-24T00:00:00Z */

static int64_t now_value = BASE_MS;
static int64_t script_now(void) { return now_value; }

int main(int argc, char **argv) {
  xalloc_init();
  if (argc != 2) {
    fprintf(stderr, "usage: journal_script PATH < events.jsonl\n");
    return 2;
  }
  struct journal_options o = {.sync = JOURNAL_SYNC_OFF, .now_ms = script_now};
  struct journal *j = NULL;
  struct eng_error err;
  eng_error_clear(&err);
  if (journal_open(argv[1], &o, &j, &err)) {
    fprintf(stderr, "journal_script: %s\n", err.msg);
    return 1;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  long lineno = 0;
  int status = 0;
  while (!status && (n = getline(&line, &cap, stdin)) > 0) {
    lineno++;
    if (n <= 1 || line[0] == '#')
      continue;
    json_error_t je;
    json_t *ev = json_loads(line, 0, &je);
    if (!json_is_object(ev)) {
      fprintf(stderr, "journal_script: line %ld is not a JSON object: %s\n", lineno, je.text);
      json_decref(ev);
      status = 1;
      break;
    }
    json_t *t = json_object_get(ev, "t");
    if (json_is_number(t))
      now_value = BASE_MS + (int64_t)(json_number_value(t) * 1000.0 + 0.5);
#define S(k) (jsonx_str(ev, k) ?: "")
    struct jevent e = {.source = S("source"),
                       .type = S("type"),
                       .group_kind = S("group_kind"),
                       .ns = S("namespace"),
                       .name = S("name"),
                       .uid = S("uid"),
                       .resource_version = S("resource_version"),
                       .correlation_id = S("correlation_id"),
                       .payload = json_object_get(ev, "payload")};
#undef S
    if (journal_append(j, &e, &err) < 0) {
      fprintf(stderr, "journal_script: line %ld: %s\n", lineno, err.msg);
      status = 1;
    }
    json_decref(ev);
  }
  free(line);
  if (!status && journal_commit(j, &err)) {
    fprintf(stderr, "journal_script: %s\n", err.msg);
    status = 1;
  }
  if (!status)
    printf("durable %" PRId64 "\n", journal_durable_seq(j));
  journal_close(j);
  return status;
}
