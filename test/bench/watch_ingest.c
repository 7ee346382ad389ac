/*
 * watch_ingest.c - benchmark: ingest of 100,000 watch events (decode + redact + journal
 * append/commit), against a baseline that only reads the same bytes, in the same run.
 *
 * The stream is generated in memory first: a realistic mix of Secrets (with data, which
 * the journal redacts), extension objects (Infrastructure-like, with status) and
 * ConfigMaps, one JSON event per line, fed in 16 KiB chunks like a socket would.
 *
 *   baseline      copy each chunk and count the newlines (memcpy + memchr)
 *   decode        kube_watchdec on the chunks, typed event extraction
 *   decode+redact the same plus redact_copy() of each object (what the journal does first)
 *   ingest        decode, then journal_append() of each event (redaction, canonical JSON,
 *                 hash chain) and journal_commit() every 1024 events, synchronous=NORMAL
 *
 * Prints events/s for each stage and its ratio to the baseline. EQXM_BENCH_EVENTS
 * overrides the count.
 */
#include "engine/base/common.h"
#include "engine/base/buf.h"
#include "engine/journal/event.h"
#include "engine/journal/journal.h"
#include "engine/base/jsonx.h"
#include "engine/kube/watchdec.h"
#include "engine/base/redact.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK        16384
#define COMMIT_EVERY 1024

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *generate(size_t n, size_t *len) {
  struct buf b;
  buf_init(&b, (size_t)1 << 31);
  for (size_t i = 0; i < n; i++) {
    const char *type = i % 7 == 0 ? "ADDED" : (i % 13 == 0 ? "DELETED" : "MODIFIED");
    enum eng_err rc;
    switch (i % 3) {
    case 0:
      rc = buf_printf(
          &b,
          "{\"type\":\"%s\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Secret\","
          "\"metadata\":{\"name\":\"cloudprovider-%zu\",\"namespace\":\"shoot--p--s%zu\","
          "\"uid\":\"5f0c%08zx-0000-4000-8000-000000000000\",\"resourceVersion\":\"%zu\","
          "\"labels\":{\"gardener.cloud/purpose\":\"cloudprovider\"}},\"type\":\"Opaque\","
          "\"data\":{\"apiToken\":\"c2VjcmV0LXRva2VuLSV6dS1hYmNkZWZnaGlqa2xtbm9w\","
          "\"projectID\":\"MTIzNDU2NzgtMTIzNC0xMjM0LTEyMzQtMTIzNDU2Nzg5MDEy\"}}}\n",
          type, i, i % 50, i, i + 1000);
      break;
    case 1:
      rc = buf_printf(
          &b,
          "{\"type\":\"%s\",\"object\":{\"apiVersion\":\"extensions.gardener.cloud/v1alpha1\","
          "\"kind\":\"Infrastructure\",\"metadata\":{\"name\":\"infra-%zu\",\"namespace\":"
          "\"shoot--p--s%zu\",\"uid\":\"6a1d%08zx-0000-4000-8000-000000000000\","
          "\"resourceVersion\":\"%zu\",\"generation\":%zu,\"finalizers\":"
          "[\"extensions.gardener.cloud/infrastructure\"],\"annotations\":{\"gardener.cloud/"
          "operation\":\"reconcile\",\"gardener.cloud/"
          "timestamp\":\"2026-11-23T10:00:00.123456Z\"}},"
          "\"spec\":{\"type\":\"equinixmetal\",\"region\":\"da\",\"secretRef\":{\"name\":"
          "\"cloudprovider\",\"namespace\":\"shoot--p--s%zu\"},\"providerConfig\":{\"apiVersion\":"
          "\"equinixmetal.provider.extensions.gardener.cloud/v1alpha1\",\"kind\":"
          "\"InfrastructureConfig\"},\"sshPublicKey\":\"c3NoLXJzYSBBQUFBQjNOemFDMXljMkVBQUFBREFRQUJ"
          "BQUFCQVFEaGVsbG8gdXNlckBob3N0Cg==\"},\"status\":{\"observedGeneration\":%zu,"
          "\"lastOperation\":{\"type\":\"Reconcile\",\"state\":\"Succeeded\",\"progress\":100,"
          "\"description\":\"The infrastructure is reconciled \\\"ok\\\"\",\"lastUpdateTime\":"
          "\"2026-11-23T10:00:00Z\"},\"providerStatus\":{\"sshKeyID\":\"%08zx\"}}}}\n",
          type, i, i % 50, i, i + 1000, i % 5 + 1, i % 50, i % 5 + 1, i);
      break;
    default:
      rc = buf_printf(&b,
                      "{\"type\":\"%s\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
                      "\"metadata\":{\"name\":\"cm-%zu\",\"namespace\":\"garden\",\"uid\":"
                      "\"7b2e%08zx-0000-4000-8000-000000000000\",\"resourceVersion\":\"%zu\"},"
                      "\"data\":{\"config.yaml\":\"apiVersion: v1\\nkind: Config\\nvalue: %zu\\n\","
                      "\"unicode\":\"\\u00e9t\\u00e9 \xe2\x9c\x93\"}}}\n",
                      type, i, i, i + 1000, i);
      break;
    }
    if (rc)
      abort();
  }
  return buf_take(&b, len);
}

struct stage {
  const char *name;
  int mode; /* 0 decode, 1 decode+redact, 2 ingest */
  struct journal *j;
  size_t events;
  size_t since_commit;
  bool failed;
};

static int on_value(void *ud, json_t *v) {
  struct stage *s = ud;
  const char *type = json_string_value(json_object_get(v, "type"));
  json_t *obj = json_object_get(v, "object");
  if (!type || !json_is_object(obj)) {
    s->failed = true;
    return 1;
  }
  s->events++;
  if (s->mode == 1) {
    json_t *r = redact_copy(obj, REDACT_HINT_NONE);
    json_decref(r);
  } else if (s->mode == 2) {
    char gk[192];
    const char *api = jsonx_str(obj, "apiVersion");
    const char *slash = api ? strchr(api, '/') : NULL;
    snprintf(gk, sizeof(gk), "%.*s/%s", slash ? (int)(slash - api) : 0, slash ? api : "",
             jsonx_str(obj, "kind") ? jsonx_str(obj, "kind") : "");
    const char *t = !strcmp(type, "ADDED")     ? "kube.added"
                    : !strcmp(type, "DELETED") ? "kube.deleted"
                                               : "kube.modified";
    struct jevent ev = {
        .source = JEV_SOURCE_KUBE,
        .type = t,
        .group_kind = gk,
        .ns = jsonx_str(obj, "metadata.namespace"),
        .name = jsonx_str(obj, "metadata.name"),
        .uid = jsonx_str(obj, "metadata.uid"),
        .resource_version = jsonx_str(obj, "metadata.resourceVersion"),
        .correlation_id = "",
        .payload = obj,
    };
    struct eng_error err;
    if (journal_append(s->j, &ev, &err) < 0) {
      fprintf(stderr, "watch_ingest: journal_append failed: %s\n", err.msg);
      s->failed = true;
      return 1;
    }
    if (++s->since_commit >= COMMIT_EVERY) {
      s->since_commit = 0;
      if (journal_commit(s->j, &err) != ENG_OK) {
        fprintf(stderr, "watch_ingest: journal_commit failed: %s\n", err.msg);
        s->failed = true;
        return 1;
      }
    }
  }
  return 0;
}

static double run_stage(struct stage *s, const char *stream, size_t len) {
  struct kube_watchdec d;
  kube_watchdec_init(&d, 0);
  struct eng_error err;
  double t0 = now_s();
  for (size_t off = 0; off < len && !s->failed; off += CHUNK) {
    size_t n = len - off < CHUNK ? len - off : CHUNK;
    if (kube_watchdec_feed(&d, stream + off, n, on_value, s, &err) != ENG_OK) {
      fprintf(stderr, "watch_ingest: decode failed: %s\n", err.msg);
      s->failed = true;
    }
  }
  if (s->mode == 2 && !s->failed && journal_commit(s->j, &err) != ENG_OK) {
    fprintf(stderr, "watch_ingest: journal_commit failed: %s\n", err.msg);
    s->failed = true;
  }
  double t = now_s() - t0;
  kube_watchdec_release(&d);
  return t;
}

int main(void) {
  xalloc_init();
  size_t n = 100000;
  const char *env = getenv("EQXM_BENCH_EVENTS");
  if (env && strtol(env, NULL, 10) > 0)
    n = (size_t)strtol(env, NULL, 10);
  size_t len;
  char *stream = generate(n, &len);
  printf("watch_ingest: %zu events, %.1f MiB stream, %d-byte chunks\n", n, (double)len / 1048576.0,
         CHUNK);

  /* Baseline: read the same bytes (copy each chunk, count event boundaries). */
  char *chunk = xmalloc(CHUNK);
  size_t lines = 0;
  double t0 = now_s();
  for (int rep = 0; rep < 5; rep++) {
    lines = 0;
    for (size_t off = 0; off < len; off += CHUNK) {
      size_t k = len - off < CHUNK ? len - off : CHUNK;
      memcpy(chunk, stream + off, k);
      for (const char *p = chunk, *end = chunk + k; (p = memchr(p, '\n', (size_t)(end - p))); p++)
        lines++;
    }
  }
  double t_base = (now_s() - t0) / 5;
  free(chunk);
  if (lines != n) {
    fprintf(stderr, "watch_ingest: baseline counted %zu events, expected %zu\n", lines, n);
    return 1;
  }
  double base_rate = (double)n / t_base;
  printf("  %-34s %12.0f events/s  (%.3f s)\n", "baseline (memcpy + newline scan)", base_rate,
         t_base);

  char dir[] = "/tmp/watch-ingest-XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  char *path = xasprintf("%s/journal.db", dir);
  struct journal_options jo = {.sync = JOURNAL_SYNC_NORMAL};
  struct journal *j = NULL;
  struct eng_error err;
  if (journal_open(path, &jo, &j, &err) != ENG_OK) {
    fprintf(stderr, "watch_ingest: %s\n", err.msg);
    return 1;
  }
  struct stage stages[] = {
      {.name = "decode", .mode = 0},
      {.name = "decode + redact", .mode = 1},
      {.name = "ingest (decode+redact+journal)", .mode = 2, .j = j},
  };
  int rc = 0;
  for (size_t i = 0; i < ARRAY_SIZE(stages); i++) {
    double t = run_stage(&stages[i], stream, len);
    if (stages[i].failed || stages[i].events != n) {
      fprintf(stderr, "watch_ingest: stage %s decoded %zu of %zu events\n", stages[i].name,
              stages[i].events, n);
      rc = 1;
      break;
    }
    double rate = (double)n / t;
    printf("  %-34s %12.0f events/s  (%.3f s)  ratio to baseline 1:%.1f\n", stages[i].name, rate, t,
           base_rate / rate);
  }
  if (rc == 0 && journal_durable_seq(j) != (int64_t)n) {
    fprintf(stderr, "watch_ingest: journal holds %" PRId64 " events, expected %zu\n",
            journal_durable_seq(j), n);
    rc = 1;
  }
  journal_close(j);
  char *cmd = xasprintf("rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "watch_ingest: could not remove %s\n", dir);
  free(cmd);
  free(path);
  free(stream);
  return rc;
}
