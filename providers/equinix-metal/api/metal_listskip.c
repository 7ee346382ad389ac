/*
 * metal_listskip.c - leave unchanged items out of a paged listing's parse
 * (metal_op_set_list_skip() in metal_client.h).
 *
 * A poll of a project with thousands of devices is mostly the same bytes as the last one, and
 * parsing them was most of a steady-state poll's CPU. Before a page is parsed its item array is
 * scanned (engine/base/jsonscan.h); each item's text is digested and offered to the op's skip
 * function with its id; the page is then parsed with the refused items only, spliced back into
 * the same envelope, so everything that is parsed is still checked in full. A page the scanner
 * cannot vouch for is parsed whole, as before.
 */
#include "engine/base/common.h"
#include "engine/base/jsonscan.h"
#include "engine/base/sha256.h"
#include "engine/base/xalloc.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "providers/equinix-metal/api/metal_int.h"

#include <stdlib.h>
#include <string.h>

#define ID_MAX 128

static uint64_t skipped_total;

uint64_t metal_list_items_skipped(void) { return skipped_total; }

void metal_op_set_list_skip(struct metal_op *op, metal_list_skip_fn skip, void *ud) {
  if (!op || !op->list_page_fn)
    return; /* a whole listing keeps every item, so none may be left out */
  op->list_skip = skip;
  op->list_skip_ud = ud;
}

void metal_list_page_reset(struct metal_op *op) {
  for (size_t i = 0; i < op->nlist_skipped; i++)
    free(op->list_skipped[i]);
  free(op->list_skipped);
  op->list_skipped = NULL;
  op->nlist_skipped = 0;
  for (size_t i = 0; i < op->nlist_digests; i++)
    free(op->list_digests[i].id);
  free(op->list_digests);
  op->list_digests = NULL;
  op->nlist_digests = 0;
}

const uint8_t *metal_list_digest_of(const struct metal_op *op, const char *id) {
  for (size_t i = 0; i < op->nlist_digests; i++)
    if (strcmp(op->list_digests[i].id, id) == 0)
      return op->list_digests[i].digest;
  return NULL;
}

/* The item's id when it is a plain string of a sane length, copied into out. */
static bool item_id(const char *item, size_t len, char out[ID_MAX]) {
  struct jspan v;
  const char *s;
  size_t n;
  if (!jsonscan_member(item, len, "id", &v) || !jsonscan_plain_string(item, v, &s, &n) || n == 0 ||
      n >= ID_MAX || memchr(s, '\0', n))
    return false;
  memcpy(out, s, n);
  out[n] = '\0';
  return true;
}

char *metal_list_prefilter(struct metal_op *op, const char *body, size_t len, size_t *out_len) {
  metal_list_page_reset(op);
  if (!op->list_skip || !op->list_key)
    return NULL;
  struct jspan arr;
  struct jspan *items = NULL;
  size_t n = 0;
  if (!jsonscan_member(body, len, op->list_key, &arr) || !jsonscan_elements(body, arr, &items, &n))
    return NULL;
  size_t nkept = 0; /* items is compacted to the kept ones as it goes */
  op->list_digests = xcalloc(n ? n : 1, sizeof(*op->list_digests));
  for (size_t i = 0; i < n; i++) {
    const char *item = body + items[i].off;
    size_t ilen = items[i].len;
    char id[ID_MAX];
    if (item_id(item, ilen, id)) {
      uint8_t full[SHA256_LEN];
      sha256(item, ilen, full);
      if (op->list_skip(op->list_skip_ud, id, item, ilen, full)) {
        op->list_skipped =
            xrealloc(op->list_skipped, (op->nlist_skipped + 1) * sizeof(*op->list_skipped));
        op->list_skipped[op->nlist_skipped++] = xstrdup(id);
        skipped_total++;
        continue;
      }
      struct metal_item_digest *d = &op->list_digests[op->nlist_digests++];
      d->id = xstrdup(id);
      memcpy(d->digest, full, METAL_ITEM_DIGEST_LEN);
    }
    items[nkept++] = items[i];
  }
  /* Nothing left out: parse the page as it came (the digests are kept). */
  char *out = op->nlist_skipped ? jsonscan_splice(body, len, arr, items, nkept, out_len) : NULL;
  free(items);
  return out;
}
