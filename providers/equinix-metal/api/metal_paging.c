/*
 * metal_paging.c - the end-of-listing decision (see metal_paging.h).
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/api/metal_paging.h"

enum metal_page_step metal_page_next(const json_t *meta, unsigned page, size_t items,
                                     size_t new_items, unsigned per_page, unsigned max_pages,
                                     const char *what, struct eng_error *err) {
  if (!what)
    what = "listing";
  if (items == 0)
    return METAL_PAGE_DONE;
  bool more = false, decided = false;
  if (json_is_object(meta)) {
    json_t *cur = json_object_get(meta, "current_page");
    if (json_is_integer(cur) && json_integer_value(cur) != (json_int_t)page) {
      eng_error_set(err, ENG_PROTOCOL,
                    "%s failed: the API returned page %" JSON_INTEGER_FORMAT
                    " when page %u was asked, so the listing cannot be trusted to be complete. "
                    "The request will be retried.",
                    what, json_integer_value(cur), page);
      return METAL_PAGE_ERROR;
    }
    json_t *last = json_object_get(meta, "last_page");
    json_t *next = json_object_get(meta, "next");
    json_t *total = json_object_get(meta, "total");
    if (json_is_integer(last)) {
      more = (json_int_t)page < json_integer_value(last);
      decided = true;
    } else if (next) {
      const char *href =
          json_is_object(next) ? json_string_value(json_object_get(next, "href")) : NULL;
      more = href && *href;
      decided = json_is_null(next) || json_is_object(next);
    }
    if (!decided && json_is_integer(total)) {
      more = (json_int_t)page * (json_int_t)per_page < json_integer_value(total);
      decided = true;
    }
  }
  if (!decided)
    /* A page longer than asked for means the server ignores paging and sent everything (the
     * SSH key list does): asking for page 2 would only fetch it all again. */
    more = items == per_page && new_items > 0;
  if (!more)
    return METAL_PAGE_DONE;
  if (page >= max_pages) {
    eng_error_set(
        err, ENG_PROTOCOL,
        "%s failed: the API still announced more results after %u pages of %u; the listing "
        "was stopped there so that it cannot run forever. If the project really holds that "
        "many objects, raise the page limit.",
        what, page, per_page);
    return METAL_PAGE_ERROR;
  }
  return METAL_PAGE_NEXT;
}
