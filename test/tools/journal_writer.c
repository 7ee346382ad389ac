/*
 * journal_writer.c - writes a journal for the integration tests of the
 * `journal` command: a mix of sources, types and objects, optional planted
 * credentials, snapshots, retention, and a simulated crash.
 *
 *   journal_writer PATH [--count N] [--batch B] [--sleep-ms MS] [--plant-token TOKEN]
 *                       [--snapshot-at SEQ] [--retain-to-snapshot] [--crash]
 *
 * Prints "durable N" (the newest durable seq) on success; exit 1 with the
 * journal's message on failure.
 */
#include "engine/base/common.h"
#include "engine/base/b64.h"
#include "engine/base/cli.h"
#include "engine/base/clock.h"
#include "engine/journal/journal.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static json_t *secret_payload(const char *token) {
  char *b64 = b64_encode(token, strlen(token));
  char la[512];
  snprintf(la, sizeof(la),
           "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"stringData\":{\"apiToken\":\"%s\"}}",
           token);
  json_t *secret = json_pack(
      "{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:s,s:{s:s,s:s},s:{s:s}}", "apiVersion", "v1", "kind", "Secret",
      "metadata", "name", "cloudprovider", "namespace", "shoot--dev--a", "annotations",
      "kubectl.kubernetes.io/last-applied-configuration", la, "type", "Opaque", "data", "apiToken",
      b64, "projectID", "cHJvamVjdA==", "stringData", "apiToken", token);
  free(b64);
  return json_pack("{s:s,s:o}", "type", "MODIFIED", "object", secret);
}

static json_t *call_payload(const char *token) {
  char bearer[256];
  snprintf(bearer, sizeof(bearer), "Bearer %s", token);
  return json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s}}", "method", "POST", "path", "/projects/p/devices",
                   "headers", "Authorization", bearer, "X-Auth-Token", token, "credentials",
                   "apiToken", token);
}

int main(int argc, char **argv) {
  xalloc_init();
  long count = 100, batch = 100, sleep_ms = 0, snapshot_at = 0;
  const char *token = NULL;
  bool retain = false, crash = false;
  const struct cli_opt opts[] = {
      {"count", CLI_INT, &count, "N", "events to append", NULL},
      {"batch", CLI_INT, &batch, "B", "events per commit", NULL},
      {"sleep-ms", CLI_INT, &sleep_ms, "MS", "pause after each commit", NULL},
      {"plant-token", CLI_STRING, &token, "TOKEN", "put TOKEN into Secrets and API calls", NULL},
      {"snapshot-at", CLI_INT, &snapshot_at, "SEQ", "store snapshot 'test' at SEQ", NULL},
      {"retain-to-snapshot", CLI_BOOL, &retain, NULL, "apply retention (everything is old)", NULL},
      {"crash", CLI_BOOL, &crash, NULL, "exit without closing after the last commit", NULL},
      {0}};
  const struct cli_spec spec = {.prog = "journal_writer",
                                .usage = "[options] PATH",
                                .opts = opts,
                                .min_pos = 1,
                                .max_pos = 1};
  char **pos = xcalloc((size_t)argc + 1, sizeof(*pos));
  int npos = 0;
  int rc = cli_parse(&spec, argc - 1, argv + 1, &npos, pos);
  const char *path = pos[0];
  free(pos);
  if (rc)
    return rc == CLI_HELP ? 0 : 2;
  struct journal_options o = {.sync = JOURNAL_SYNC_NORMAL, .batch_max = (size_t)batch + 1};
  struct journal *j = NULL;
  struct eng_error err;
  eng_error_clear(&err);
  if (journal_open(path, &o, &j, &err)) {
    fprintf(stderr, "journal_writer: %s\n", err.msg);
    return 1;
  }
  static const char *const kinds[] = {"extensions.gardener.cloud/Infrastructure",
                                      "extensions.gardener.cloud/Worker", "metal/Device"};
  int status = 0;
  for (long i = 1; i <= count && !status; i++) {
    char name[32], uid[48], rv[24], corr[32];
    snprintf(name, sizeof(name), "obj-%ld", i % 4);
    snprintf(uid, sizeof(uid), "uid-%ld", i % 4);
    snprintf(rv, sizeof(rv), "%ld", 5000 + i);
    snprintf(corr, sizeof(corr), "reconcile-%ld", i / 10);
    struct jevent ev = {.ns = "shoot--dev--a",
                        .name = name,
                        .uid = uid,
                        .resource_version = rv,
                        .correlation_id = corr};
    json_t *payload;
    if (token && i % 5 == 0) {
      ev.source = "kube";
      ev.type = "kube.modified";
      ev.group_kind = "/Secret";
      ev.name = "cloudprovider";
      payload = secret_payload(token);
    } else if (token && i % 5 == 1) {
      ev.source = "executor";
      ev.type = "executor.intent";
      ev.group_kind = "metal/Device";
      payload = call_payload(token);
    } else {
      ev.source = i % 2 ? "kube" : "metal";
      ev.type = i % 2 ? "kube.modified" : "metal.device";
      ev.group_kind = kinds[i % 3];
      payload = json_pack("{s:i,s:{s:s,s:i}}", "i", (int)i, "status", "state", "active", "n",
                          (int)(i * 7));
    }
    ev.payload = payload;
    if (journal_append(j, &ev, &err) < 0)
      status = 1;
    json_decref(payload);
    if (!status && (i % batch == 0 || i == count)) {
      if (journal_commit(j, &err))
        status = 1;
      if (sleep_ms > 0) {
        struct timespec ts = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
      }
    }
  }
  if (!status && snapshot_at > 0) {
    json_t *st = json_pack("{s:I}", "folded_up_to", (json_int_t)snapshot_at);
    if (journal_snapshot_put(j, "test", snapshot_at, st, &err))
      status = 1;
    json_decref(st);
  }
  if (!status && retain) {
    struct journal_retention pol = {.max_age_ms = 1};
    struct journal_retention_result res;
    if (journal_retain(j, &pol, clock_now_ms() + 60000, &res, &err))
      status = 1;
  }
  if (status) {
    fprintf(stderr, "journal_writer: %s\n", err.msg);
    journal_close(j);
    return 1;
  }
  printf("durable %" PRId64 "\n", journal_durable_seq(j));
  fflush(stdout);
  if (crash)
    _exit(0); /* no close, no checkpoint: the WAL holds the committed events */
  journal_close(j);
  return 0;
}
