/*
 * sdunit.h - systemd unit files and command lines as Gardener's OSC mutator sees
 * them (pure, no I/O).
 *
 * The Go original deserializes the kubelet.service unit with go-systemd's unit
 * package, edits the [Service] ExecStart option and serializes it again; to give
 * the same bytes we follow that package's rules: comments (# ;) and blank lines
 * are dropped, text before the first section is ignored, option names and values
 * are trimmed, a value continues on the next line while a line ends in "\"
 * (keeping the backslash and newline in the value), lines of 2048 bytes or more
 * are refused. Serialization groups options by section in first-seen order:
 * "[Section]\n", "Name=Value\n" per option, a blank line between sections.
 *
 * Command lines follow Gardener's webhook utilities: split on runs of whitespace
 * and backslashes; joined as "argv0 arg1 \<newline>    arg2 ..." (the first n+1
 * elements by spaces, the rest by the separator).
 */
#ifndef EQXM_SDUNIT_H
#define EQXM_SDUNIT_H

#include "engine/base/common.h"
#include "engine/base/err.h"

#define SDUNIT_LINE_MAX 2048

struct sdunit_option {
  char *section;
  char *name;
  char *value;
};

struct sdunit {
  struct sdunit_option *opts;
  size_t n, cap;
};

/* Parse unit file text; on failure err says why (ENG_INVALID). Release with sdunit_release. */
enum eng_err sdunit_parse(const char *text, size_t len, struct sdunit *u,
                          struct eng_error *err) WARN_UNUSED;
void sdunit_release(struct sdunit *u);
/* Serialized text; caller frees. */
char *sdunit_serialize(const struct sdunit *u);
/* First option with this section and name, or NULL. */
struct sdunit_option *sdunit_find(const struct sdunit *u, const char *section, const char *name);

/* A command line split into words (Gardener DeserializeCommandLine). */
struct cmdline {
  char **argv;
  size_t argc, cap;
};
void cmdline_split(const char *s, struct cmdline *out);
void cmdline_release(struct cmdline *c);
/* EnsureStringWithPrefix on the words. */
void cmdline_ensure_prefix(struct cmdline *c, const char *prefix, const char *value);
/* SerializeCommandLine(words, n, sep); caller frees. */
char *cmdline_join(const struct cmdline *c, size_t n, const char *sep);

#endif
