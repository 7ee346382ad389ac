/*
 * metal_bench.c - CPU cost of one poll of the Equinix Metal device poller on a
 * 250-device listing: JSON parsing, decoding into structs, the stable summary
 * and its canonical encoding (what change detection compares). Baseline, in the
 * same run: parsing the same bytes with jansson alone. Prints both rates and
 * the ratio (poll work / parse only).
 */
#include "engine/base/common.h"
#include "engine/base/clock.h"
#include "engine/base/jsonx.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "providers/equinix-metal/api/metal_decode.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NDEV 250

static char *listing(void) {
  json_t *arr = json_array();
  for (int i = 0; i < NDEV; i++) {
    char id[64], host[64], a4[32], p4[32];
    snprintf(id, sizeof(id), "8f0c1d2e-0000-4000-8000-%012d", i);
    snprintf(host, sizeof(host), "shoot--bench--c-worker-%03d", i);
    snprintf(a4, sizeof(a4), "147.75.%d.%d", i / 100, (2 * i) % 256 + 1);
    snprintf(p4, sizeof(p4), "10.64.%d.%d", i / 64, (2 * i) % 128 + 1);
    json_t *d =
        json_pack("{s:s,s:s,s:s,s:[s,s,s],s:{s:s,s:s},s:{s:s,s:s},s:{s:s},s:s,s:s,s:s,s:b,s:s,"
                  "s:[{s:s,s:i,s:i,s:b,s:b,s:{s:s,s:i}},{s:s,s:i,s:i,s:b,s:b,s:{s:s,s:i}}]}",
                  "id", id, "hostname", host, "state", "active", "tags",
                  "kubernetes.io/cluster/shoot--bench--c", "kubernetes.io/role/node",
                  "gardener.cloud/idempotency-key=bench", "metro", "code", "ny", "name", "New York",
                  "plan", "slug", "c3.small.x86", "name", "c3.small", "operating_system", "slug",
                  "flatcar_stable", "billing_cycle", "hourly", "created_at", "2026-01-01T00:00:00Z",
                  "updated_at", "2026-01-01T00:10:00Z", "locked", 0, "userdata",
                  "#cloud-config\nbench: true\n", "ip_addresses", "address", a4, "address_family",
                  4, "cidr", 31, "public", 1, "management", 1, "parent_block", "network",
                  "147.75.0.0", "cidr", 18, "address", p4, "address_family", 4, "cidr", 31,
                  "public", 0, "management", 1, "parent_block", "network", "10.64.0.0", "cidr", 25);
    json_array_append_new(arr, d);
  }
  json_t *o =
      json_pack("{s:o,s:{s:i,s:i}}", "devices", arr, "meta", "current_page", 1, "last_page", 1);
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return s;
}

static double run(const char *body, bool full, int iters) {
  size_t len = strlen(body);
  int64_t t0 = clock_mono_ms();
  size_t sink = 0;
  for (int i = 0; i < iters; i++) {
    json_t *v = json_loadb(body, len, 0, NULL);
    if (full) {
      struct metal_device_list l;
      if (metal_device_list_decode(json_object_get(v, "devices"), &l, NULL))
        abort();
      for (size_t k = 0; k < l.n; k++) {
        json_t *s = metal_device_summary(&l.items[k]);
        char *c = jsonx_canonical(s);
        sink += strlen(c);
        free(c);
        json_decref(s);
      }
      metal_device_list_clear(&l);
    }
    sink += json_array_size(json_object_get(v, "devices"));
    json_decref(v);
  }
  int64_t ms = clock_mono_ms() - t0;
  if (sink == 0)
    abort();
  return ms > 0 ? iters * 1000.0 / (double)ms : 0;
}

int main(void) {
  xalloc_init();
  char *body = listing();
  run(body, true, 5); /* warm up */
  double base = run(body, false, 200);
  double poll = run(body, true, 200);
  printf("metal poll of %d devices (%zu bytes): %.1f listings/s; jansson parse only: %.1f/s; "
         "ratio poll/parse = %.2f (time of one poll = %.2f x parsing)\n",
         NDEV, strlen(body), poll, base, base > 0 ? poll / base : 0, poll > 0 ? base / poll : 0);
  free(body);
  return 0;
}
