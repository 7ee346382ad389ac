/*
 * metal_paging.h - when does a paginated Equinix Metal listing end? Pure.
 *
 * The Go machine driver read only the first page of GET /projects/{id}/devices
 * and so lost sight of devices (and leaked them). Every listing of this client
 * reads page 1, 2, ... until metal_page_next() says DONE:
 *
 *  1. an empty page ends the listing;
 *  2. with a "meta" object: a "current_page" other than the page asked for is an
 *     error (the server ignores "page"); "last_page" decides (more while
 *     page < last_page); without it a non-null "next" means more; without both,
 *     "total" decides (more while page * per_page < total);
 *  3. without usable meta (non-paginated lists such as SSH keys): more only when
 *     the page was exactly full (items == per_page) and brought ids not seen
 *     before; a longer page means the server ignored per_page and sent all;
 *  4. a listing that still wants more after max_pages pages fails with
 *     ENG_PROTOCOL instead of looping forever.
 */
#ifndef EQXM_METAL_PAGING_H
#define EQXM_METAL_PAGING_H

#include "engine/base/common.h"
#include "engine/base/err.h"

#include <jansson.h>

enum metal_page_step { METAL_PAGE_DONE = 0, METAL_PAGE_NEXT, METAL_PAGE_ERROR };

/*
 * After page `page` (1-based) that held `items` entries, `new_items` of them not
 * seen on earlier pages, asked with per_page: DONE, NEXT, or ERROR with err set
 * (ENG_PROTOCOL, the sentence starts with `what`, e.g. "listing devices of
 * project P"). meta is the response's "meta" member or NULL.
 */
enum metal_page_step metal_page_next(const json_t *meta, unsigned page, size_t items,
                                     size_t new_items, unsigned per_page, unsigned max_pages,
                                     const char *what, struct eng_error *err);

#endif
