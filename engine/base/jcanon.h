/*
 * jcanon.h - a fast writer of canonical JSON into a capped buffer.
 *
 * The output is byte-for-byte what jsonx_canonical() produces (compact, keys
 * sorted by their bytes with a shorter key first on a tie, UTF-8 as is; '"',
 * '\\' and control characters escaped as jansson does: \b \f \n \r \t and
 * \u00XX in upper-case hex; reals with 17 significant digits), so either can
 * be used where the other is documented; test/unit/jcanon_test.c holds them to
 * that. It exists because the journal writes every payload and every row
 * through it and jansson's general-purpose dumper costs several times more
 * per byte (it decodes every code point and checks every container for
 * reference loops).
 */
#ifndef EQXM_JCANON_H
#define EQXM_JCANON_H

#include "engine/base/common.h"
#include "engine/base/buf.h"
#include "engine/base/err.h"

#include <jansson.h>

#define JCANON_MAX_DEPTH 2048

/* Append the canonical form of v to b. ENG_INVALID when v cannot be encoded
 * (NULL, a string that is not UTF-8, nesting deeper than JCANON_MAX_DEPTH),
 * ENG_TOOLARGE past b's cap; on failure b keeps its previous content. */
enum eng_err jcanon_append(struct buf *b, const json_t *v) WARN_UNUSED;

/*
 * The canonical form of v in parts: flush runs with the text so far whenever it has reached
 * part_bytes at a boundary between two values (never inside a string), and once at the end
 * with the rest; the parts, concatenated, are what jcanon_append() writes. A part may exceed
 * part_bytes by one value. An error of flush ends the stream with it; parts already flushed
 * stay flushed (the caller undoes them), and so on for the errors of jcanon_append().
 */
struct jcanon_sink {
  size_t part_bytes;
  enum eng_err (*flush)(void *ud, const char *text, size_t len);
  void *ud;
};
enum eng_err jcanon_stream(const json_t *v, const struct jcanon_sink *sink) WARN_UNUSED;

/* Append len bytes as one canonical JSON string (quotes included). */
enum eng_err jcanon_append_string(struct buf *b, const char *s, size_t len) WARN_UNUSED;

#endif
