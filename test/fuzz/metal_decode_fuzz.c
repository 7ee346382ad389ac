/*
 * metal_decode_fuzz.c - libFuzzer target for what the Equinix Metal client reads
 * from the network: error bodies (JSON, HTML, garbage), device, SSH key and IP
 * reservation objects and lists, and the "meta" of a listing. Invariants: no
 * crash or leak; an error text is one bounded line; a decoded device's summary
 * re-encodes canonically; the page decision is one of its three values.
 */
#include "engine/base/common.h"
#include "engine/base/jsonx.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "providers/equinix-metal/api/metal_decode.h"
#include "providers/equinix-metal/api/metal_errors.h"
#include "providers/equinix-metal/api/metal_paging.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int init;
  if (!init) {
    xalloc_init();
    init = 1;
  }
  char *text = metal_error_text((const char *)data, size);
  if (strlen(text) > METAL_ERR_SNIPPET + 3 || strchr(text, '\n'))
    abort();
  (void)metal_classify_422(text);
  free(text);
  struct eng_error err;
  struct metal_err_ctx ctx = {.what = "fuzzing", .plan = "p", .metro = "m"};
  metal_error_from_http(&err, &ctx, 422, (const char *)data, size, -1, NULL, 0);
  json_error_t jerr;
  json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY, &jerr);
  if (!v)
    return 0;
  struct metal_device d;
  if (metal_device_decode(v, &d, &err) == ENG_OK) {
    json_t *s = metal_device_summary(&d);
    char *c = jsonx_canonical(s);
    if (!c)
      abort();
    free(c);
    json_decref(s);
    metal_device_clear(&d);
  }
  json_t *arr = json_is_object(v) ? json_object_get(v, "devices") : v;
  struct metal_device_list dl;
  if (metal_device_list_decode(arr, &dl, &err) == ENG_OK)
    metal_device_list_clear(&dl);
  struct metal_sshkey_list kl;
  if (metal_sshkey_list_decode(arr, &kl, &err) == ENG_OK)
    metal_sshkey_list_free_items(&kl);
  struct metal_ip_list il;
  if (metal_ip_list_decode(arr, &il, &err) == ENG_OK) {
    for (size_t i = 0; i < il.n; i++)
      metal_ipres_clear(&il.items[i]);
    free(il.items);
  }
  json_t *meta = json_is_object(v) ? json_object_get(v, "meta") : NULL;
  enum metal_page_step st = metal_page_next(meta, 3, 5, 5, 10, 100, "fuzzing", &err);
  if (st != METAL_PAGE_DONE && st != METAL_PAGE_NEXT && st != METAL_PAGE_ERROR)
    abort();
  json_decref(v);
  return 0;
}
