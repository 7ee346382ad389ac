/*
 * kube_parsers_fuzz.c - libFuzzer target for the Kubernetes client's input parsers: the watch
 * stream decoder and the kubeconfig loader. Invariants: no crash, no leak; the decoder gives
 * the same values whether the input arrives in one chunk or cut at a data-derived point.
 */
#include "engine/base/common.h"
#include "engine/base/jsonx.h"
#include "engine/kube/kubeconfig.h"
#include "engine/kube/watchdec.h"
#include "engine/base/log.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct hashes {
  uint64_t n;
  uint64_t h;
};

static int take(void *ud, json_t *v) {
  struct hashes *hs = ud;
  char *s = jsonx_canonical(v);
  for (const char *p = s; *p; p++)
    hs->h = hs->h * 1099511628211ull ^ (unsigned char)*p;
  hs->n++;
  free(s);
  return 0;
}

static enum eng_err decode(const char *d, size_t n, size_t cut, struct hashes *out) {
  struct kube_watchdec dec;
  kube_watchdec_init(&dec, 4096);
  struct eng_error err;
  enum eng_err rc = kube_watchdec_feed(&dec, d, cut, take, out, &err);
  if (rc == ENG_OK)
    rc = kube_watchdec_feed(&dec, d + cut, n - cut, take, out, &err);
  kube_watchdec_release(&dec);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int init;
  if (!init) {
    xalloc_init();
    init = 1;
  }
  const char *d = (const char *)data;
  struct hashes whole = {0, 14695981039346656037ull}, split = whole;
  size_t cut = size ? data[0] % (size + 1) : 0;
  enum eng_err a = decode(d, size, size, &whole);
  enum eng_err b = decode(d, size, cut, &split);
  if (a == ENG_OK && (b != ENG_OK || whole.n != split.n || whole.h != split.h))
    abort();
  struct kube_config cfg;
  struct eng_error err;
  if (kube_config_parse(d, size, "fuzz", "/nonexistent", NULL, &cfg, &err) == ENG_OK) {
    if (!cfg.server || !cfg.namespace || !cfg.context)
      abort();
  }
  kube_config_free(&cfg);
  log_forget_all_secrets(); /* tokens of parsed configs are registered; do not accumulate */
  return 0;
}
