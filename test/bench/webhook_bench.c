/*
 * webhook_bench.c (bench) - the in-process cost of one admission: decode the
 * AdmissionReview, mutate a copy, diff, encode the response with its base64
 * patch, against a baseline that only parses the same review and serialises the
 * same response shape without mutating (what any JSON webhook must do). Reviews:
 * the golden OperatingSystemConfig (kubelet unit, kubelet config YAML, files and
 * units) and kube-apiserver cases. Five rounds, alternating; the best rate of each
 * side is reported with the ratio. Target: the full pipeline at least a fifth of
 * the baseline rate (it does several times the work: a deep copy, unit and YAML
 * round trips, a diff and base64).
 */
#include "engine/base/common.h"
#include "engine/base/clock.h"
#include "engine/base/jsonx.h"
#include "webhook/admission.h"
#include "webhook/jsonpatch.h"
#include "providers/equinix-metal/webhook/mutate.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS 5

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "bench webhook: cannot open %s\n", path);
    exit(1);
  }
  char *buf = xmalloc(1 << 20);
  *len = fread(buf, 1, (1 << 20) - 1, f);
  buf[*len] = 0;
  fclose(f);
  return buf;
}

static const char cluster_json[] =
    "{\"spec\":{\"shoot\":{\"metadata\":{\"name\":\"bar\"},\"spec\":{\"provider\":{\"workers\":[{"
    "\"name\":\"w\","
    "\"machine\":{\"image\":{\"name\":\"flatcar\"}},\"volume\":{\"size\":\"50Gi\"}}]}}}}}";

static double run(const char *body, size_t len, int n, bool full, json_t *cluster) {
  int64_t t0 = clock_mono_ms();
  for (int i = 0; i < n; i++) {
    struct admission_request r;
    struct eng_error err;
    if (admission_decode(body, len, &r, &err) != ENG_OK) {
      fprintf(stderr, "bench webhook: %s\n", err.msg);
      exit(1);
    }
    char *resp;
    if (full) {
      struct mutate_ctx ctx = {.cluster = cluster, .cloudprovider_checksum = "0123456789abcdef"};
      json_t *copy = json_deep_copy(r.object);
      if (mutate_controlplane(copy, &r, &ctx, &err) != ENG_OK) {
        fprintf(stderr, "bench webhook: %s\n", err.msg);
        exit(1);
      }
      json_t *patch = jsonpatch_diff(r.object, copy);
      resp = admission_response_allow(&r, patch, NULL);
      json_decref(patch);
      json_decref(copy);
    } else {
      resp = admission_response_allow(&r, NULL, NULL);
    }
    free(resp);
    admission_request_release(&r);
  }
  int64_t ms = clock_mono_ms() - t0;
  return n * 1000.0 / (double)(ms > 0 ? ms : 1);
}

int main(void) {
  xalloc_init();
  const char *root = getenv("EQXM_ROOT") ? getenv("EQXM_ROOT") : ".";
  const char *cases[] = {"controlplane-osc-reconcile", "controlplane-kube-apiserver"};
  int scale = getenv("EQXM_BENCH_SCALE") ? (int)strtol(getenv("EQXM_BENCH_SCALE"), NULL, 10) : 1;
  struct eng_error err;
  json_t *cluster = jsonx_parse(cluster_json, strlen(cluster_json), "cluster", &err);
  int rc = 0;
  for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/test/webhook/%s/review.json", root, cases[c]);
    size_t len;
    char *body = slurp(path, &len);
    int n = 3000 * (scale > 0 ? scale : 1);
    double best_full = 0, best_base = 0;
    for (int round = 0; round < ROUNDS; round++) {
      double b = run(body, len, n, false, cluster);
      double f = run(body, len, n, true, cluster);
      if (b > best_base)
        best_base = b;
      if (f > best_full)
        best_full = f;
    }
    double ratio = best_full / best_base;
    printf(
        "webhook %-28s review %6zu B: admission %8.0f/s, parse+encode baseline %8.0f/s, ratio %.2f "
        "(target >= 0.20)%s\n",
        cases[c], len, best_full, best_base, ratio, ratio >= 0.20 ? "" : "  BELOW TARGET");
    if (ratio < 0.20)
      rc = 1;
    free(body);
  }
  json_decref(cluster);
  return rc;
}
