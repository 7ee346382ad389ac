/*
 * metal_ips.c - IP reservations of the project, every page, with parent blocks.
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "engine/base/buf.h"
#include "providers/equinix-metal/api/metal_decode.h"
#include "providers/equinix-metal/api/metal_int.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void list_done(struct metal_op *op) {
  if (op->err.code == ENG_OK) {
    struct eng_error derr;
    if (metal_ip_list_decode(op->list_items, &op->ips, &derr)) {
      char *why = xasprintf("an unusable object (%s)", derr.msg);
      metal_op_bad_reply(op, 200, why);
      free(why);
    } else {
      op->ips.pages = op->list_page;
      op->res.ips = &op->ips;
    }
  }
  metal_op_finish(op);
}

struct metal_op *metal_ip_list(struct metal_client *c, const char *types, metal_done_fn cb,
                               void *ud) {
  char *what = xasprintf("listing the IP reservations of project %s", metal_client_project(c));
  struct metal_op *op = metal_op_new(c, what, cb, ud);
  free(what);
  char *ep = metal_esc(metal_client_project(c));
  struct buf b;
  buf_init(&b, BUF_MAX_SMALL);
  enum eng_err rc = buf_printf(&b, "/projects/%s/ips?include=parent_block", ep);
  free(ep);
  /* types is an array parameter in form style: one types= per value. */
  const char *p = types ? types : "";
  while (!rc && *p) {
    size_t n = strcspn(p, ",");
    if (n > 0) {
      char *one = xstrndup(p, n);
      char *e = metal_esc(one);
      rc = buf_printf(&b, "&types=%s", e);
      free(e);
      free(one);
    }
    p += n;
    if (*p == ',')
      p++;
  }
  if (rc) {
    buf_release(&b);
    eng_error_set(&op->err, ENG_INVALID, "%s failed: the list of types is too long", op->what);
    metal_op_finish_later(op);
    return op;
  }
  metal_op_list(op, b.data, "ip_addresses", list_done);
  buf_release(&b);
  return op;
}
