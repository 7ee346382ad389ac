/*
 * cli.c - option parsing for subcommands.
 */
#include "engine/base/common.h"
#include "engine/base/cli.h"
#include "engine/base/xalloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_usage_error(const struct cli_spec *spec, const char *fmt, ...) {
  fprintf(stderr, "%s: ", spec->prog);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nRun '%s --help' for usage.\n", spec->prog);
  return CLI_ERROR;
}

void cli_usage(const struct cli_spec *spec, FILE *out) {
  fprintf(out, "Usage: %s %s\n", spec->prog, spec->usage ? spec->usage : "[options]");
  if (spec->description)
    fprintf(out, "\n%s\n", spec->description);
  fprintf(out, "\nOptions:\n");
  for (const struct cli_opt *o = spec->opts; o && o->name; o++) {
    char left[96];
    if (o->kind == CLI_BOOL)
      snprintf(left, sizeof(left), "--%s[=true|false]", o->name);
    else
      snprintf(left, sizeof(left), "--%s %s", o->name, o->metavar ? o->metavar : "VALUE");
    fprintf(out, "  %-40s %s", left, o->help ? o->help : "");
    if (o->env)
      fprintf(out, " (env %s)", o->env);
    fprintf(out, "\n");
  }
  fprintf(out, "  %-40s %s\n", "--help", "show this help and exit");
}

void cli_list_free(struct cli_list *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->items[i]);
  free(l->items);
  l->items = NULL;
  l->n = 0;
}

bool cli_list_has(const struct cli_list *l, const char *item) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->items[i], item) == 0)
      return true;
  return false;
}

static void list_add_csv(struct cli_list *l, const char *v) {
  const char *p = v;
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    if (n > 0) {
      l->items = xrealloc(l->items, (l->n + 1) * sizeof(*l->items));
      l->items[l->n++] = xstrndup(p, n);
    }
    if (!comma)
      break;
    p = comma + 1;
  }
}

static int parse_bool(const char *v, bool *out) {
  if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) {
    *out = true;
    return 0;
  }
  if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no")) {
    *out = false;
    return 0;
  }
  return -1;
}

static int set_value(const struct cli_spec *spec, const struct cli_opt *o, const char *v,
                     const char *origin) {
  switch (o->kind) {
  case CLI_STRING:
    *(const char **)o->dest = v;
    return 0;
  case CLI_BOOL:
    if (parse_bool(v, (bool *)o->dest))
      return cli_usage_error(spec, "%s for --%s must be true or false, not '%s'.", origin, o->name,
                             v);
    return 0;
  case CLI_INT: {
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end)
      return cli_usage_error(spec, "%s for --%s must be a whole number, not '%s'.", origin, o->name,
                             v);
    *(long *)o->dest = n;
    return 0;
  }
  case CLI_LIST:
    list_add_csv((struct cli_list *)o->dest, v);
    return 0;
  }
  return CLI_ERROR;
}

int cli_parse(const struct cli_spec *spec, int argc, char **argv, int *npos, char **pos) {
  *npos = 0;
  /* Environment defaults first; the command line overrides them. */
  for (const struct cli_opt *o = spec->opts; o && o->name; o++) {
    if (!o->env)
      continue;
    const char *v = getenv(o->env);
    if (v && *v) {
      char origin[128];
      snprintf(origin, sizeof(origin), "the value of %s", o->env);
      int rc = set_value(spec, o, v, origin);
      if (rc)
        return rc;
    }
  }
  bool only_pos = false;
  for (int i = 0; i < argc; i++) {
    char *a = argv[i];
    if (only_pos || a[0] != '-' || a[1] == '\0') {
      pos[(*npos)++] = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_pos = true;
      continue;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      cli_usage(spec, stdout);
      return CLI_HELP;
    }
    if (a[1] != '-')
      return cli_usage_error(spec, "unknown option '%s' (options are spelled --name).", a);
    const char *name = a + 2;
    const char *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    const struct cli_opt *o = spec->opts;
    for (; o && o->name; o++)
      if (strlen(o->name) == nlen && strncmp(o->name, name, nlen) == 0)
        break;
    if (!o || !o->name)
      return cli_usage_error(spec, "unknown option '--%.*s'.", (int)nlen, name);
    const char *v;
    if (eq) {
      v = eq + 1;
    } else if (o->kind == CLI_BOOL) {
      v = "true";
    } else {
      if (i + 1 >= argc)
        return cli_usage_error(spec, "option --%s needs a value (%s).", o->name,
                               o->metavar ? o->metavar : "VALUE");
      v = argv[++i];
    }
    int rc = set_value(spec, o, v, "the value");
    if (rc)
      return rc;
  }
  if (*npos < spec->min_pos)
    return cli_usage_error(spec, "missing argument: expected %s.",
                           spec->usage ? spec->usage : "more arguments");
  if (spec->max_pos >= 0 && *npos > spec->max_pos)
    return cli_usage_error(spec, "unexpected argument '%s'.", pos[spec->max_pos]);
  return CLI_OK;
}

int cli_dispatch(const char *prog, const char *what, const struct cli_subcommand *subs,
                 void (*usage)(FILE *out), int argc, char **argv) {
  if (argc < 1) {
    usage(stderr);
    return EXIT_USAGE;
  }
  const char *name = argv[0];
  if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
    usage(stdout);
    return EXIT_OK;
  }
  size_t n = 0;
  for (const struct cli_subcommand *s = subs; s->name; s++, n++)
    if (!strcmp(s->name, name))
      return s->run(argc - 1, argv + 1);
  fprintf(stderr, "%s: unknown %s '%s' (", prog, what, name);
  for (size_t i = 0; i < n; i++)
    fprintf(stderr, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", subs[i].name);
  fprintf(stderr, ").\nRun '%s --help' for usage.\n", prog);
  return EXIT_USAGE;
}
