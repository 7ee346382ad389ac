/*
 * yamlconv.c - YAML <-> JSON tree conversion on libyaml's event API.
 *
 * The event API (not the document API) is used for reading because only the
 * events say whether a scalar was plain or quoted and whether its tag was
 * explicit, which decides between "true" the string and true the boolean.
 */
#include "engine/base/common.h"
#include "engine/base/yamlconv.h"

#include "engine/base/buf.h"
#include "engine/base/xalloc.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define TAG_PREFIX "tag:yaml.org,2002:"

/* ---- reading ------------------------------------------------------------------------------- */

struct frame {
  json_t *node;      /* object or array being filled */
  char *anchor;      /* anchor of this collection, registered when it ends */
  char *key;         /* mapping: pending key, NULL when a key is expected */
  bool key_is_merge; /* mapping: the pending key is the "<<" merge key */
  json_t *merges;    /* mapping: array of objects to merge in at the end, or NULL */
  size_t line, col;  /* where the collection started, for messages */
};

struct anchor {
  char *name;
  json_t *value;
};

struct reader {
  const char *what;
  struct eng_error *err;
  struct frame stack[YAMLCONV_MAX_DEPTH];
  size_t depth;
  struct anchor *anchors;
  size_t nanchors, capanchors;
  size_t nodes;
  json_t *root;
  bool have_root;
  bool failed;
};

static void rd_fail(struct reader *r, const yaml_mark_t *m, const char *fmt, ...) PRINTF_LIKE(3, 4);

static void rd_fail(struct reader *r, const yaml_mark_t *m, const char *fmt, ...) {
  if (r->failed)
    return;
  r->failed = true;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (m)
    eng_error_set(r->err, ENG_INVALID, "%s: %s at line %zu, column %zu", r->what, msg,
                  (size_t)m->line + 1, (size_t)m->column + 1);
  else
    eng_error_set(r->err, ENG_INVALID, "%s: %s", r->what, msg);
}

/* Count the nodes of a tree (used to charge alias expansions against the cap). */
static size_t count_nodes(const json_t *v, size_t limit) {
  size_t n = 1;
  if (json_is_object(v)) {
    const char *k;
    json_t *c;
    json_object_foreach((json_t *)v, k, c) {
      n += count_nodes(c, limit);
      if (n > limit)
        return n;
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *c;
    json_array_foreach(v, i, c) {
      n += count_nodes(c, limit);
      if (n > limit)
        return n;
    }
  }
  return n;
}

static bool all_digits(const char *s, size_t n, int base) {
  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool ok = (base == 2 && (c == '0' || c == '1')) || (base == 8 && c >= '0' && c <= '7') ||
              (base == 10 && c >= '0' && c <= '9') ||
              (base == 16 &&
               ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
    if (!ok)
      return false;
  }
  return true;
}

/*
 * Integer per YAML 1.1 as the Go library reads it: optional sign, then 0b/0o/0x
 * prefixed or leading-zero octal or decimal digits; underscores are ignored.
 * Returns 1 and *out on success, 0 if s is not an integer, -1 if it is one but
 * out of range (*is_big set for a decimal that fits a double).
 */
static int parse_int(const char *s, size_t n, json_int_t *out, double *big, bool *is_big) {
  char tmp[128];
  size_t m = 0;
  *is_big = false;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '_')
      continue;
    if (m + 1 >= sizeof(tmp))
      return 0;
    tmp[m++] = s[i];
  }
  tmp[m] = '\0';
  if (m == 0 || (n > 0 && s[0] == '_'))
    return 0;
  size_t i = 0;
  bool neg = false;
  if (tmp[0] == '+' || tmp[0] == '-') {
    neg = tmp[0] == '-';
    i = 1;
  }
  int base = 10;
  const char *digits = tmp + i;
  size_t nd = m - i;
  if (nd > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16, digits += 2, nd -= 2;
  } else if (nd > 2 && digits[0] == '0' && (digits[1] == 'o' || digits[1] == 'O')) {
    base = 8, digits += 2, nd -= 2;
  } else if (nd > 2 && digits[0] == '0' && (digits[1] == 'b' || digits[1] == 'B')) {
    base = 2, digits += 2, nd -= 2;
  } else if (nd > 1 && digits[0] == '0') {
    base = 8, digits += 1, nd -= 1;
  }
  if (!all_digits(digits, nd, base))
    return 0;
  errno = 0;
  unsigned long long u = strtoull(digits, NULL, base);
  if (errno == ERANGE || u > (unsigned long long)INT64_MAX + (neg ? 1u : 0u)) {
    if (base == 10) {
      *big = strtod(tmp, NULL);
      *is_big = true;
    }
    return -1;
  }
  if (neg)
    *out = u == (unsigned long long)INT64_MAX + 1u ? INT64_MIN : -(json_int_t)u;
  else
    *out = (json_int_t)u;
  return 1;
}

/* Decimal float: [-+]?(digits[.digits*]|.digits)([eE][-+]?digits)?, underscores ignored. */
static bool parse_float(const char *s, size_t n, double *out) {
  char tmp[128];
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '_')
      continue;
    if (m + 1 >= sizeof(tmp))
      return false;
    tmp[m++] = s[i];
  }
  tmp[m] = '\0';
  size_t i = 0;
  if (tmp[i] == '+' || tmp[i] == '-')
    i++;
  size_t intd = 0, fracd = 0;
  while (tmp[i] >= '0' && tmp[i] <= '9')
    i++, intd++;
  if (tmp[i] == '.') {
    i++;
    while (tmp[i] >= '0' && tmp[i] <= '9')
      i++, fracd++;
  }
  if (intd + fracd == 0)
    return false;
  if (tmp[i] == 'e' || tmp[i] == 'E') {
    i++;
    if (tmp[i] == '+' || tmp[i] == '-')
      i++;
    size_t ed = 0;
    while (tmp[i] >= '0' && tmp[i] <= '9')
      i++, ed++;
    if (ed == 0)
      return false;
  }
  if (i != m)
    return false;
  char *end;
  errno = 0;
  double d = strtod(tmp, &end);
  if (!isfinite(d))
    return false;
  *out = d;
  return true;
}

static bool is_one_of(const char *s, size_t n, const char *const *words) {
  for (; *words; words++)
    if (strlen(*words) == n && memcmp(*words, s, n) == 0)
      return true;
  return false;
}

static const char *const null_words[] = {"~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                         "True", "TRUE", "on",  "On",  "ON",  NULL};
static const char *const false_words[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                          "False", "FALSE", "off", "Off", "OFF", NULL};

/* What a plain scalar means: 0 string, 1 null, 2 bool, 3 int, 4 float. */
static int plain_kind(const char *s, size_t n) {
  if (n == 0 || is_one_of(s, n, null_words))
    return 1;
  if (is_one_of(s, n, true_words) || is_one_of(s, n, false_words))
    return 2;
  json_int_t iv;
  double dv;
  bool big;
  int r = parse_int(s, n, &iv, &dv, &big);
  if (r == 1 || (r == -1 && big))
    return 3;
  if (parse_float(s, n, &dv))
    return 4;
  return 0;
}

/* Build the JSON value of a scalar event. NULL with r->failed set on error. */
static json_t *scalar_value(struct reader *r, const yaml_event_t *ev) {
  const char *s = (const char *)ev->data.scalar.value;
  size_t n = ev->data.scalar.length;
  const char *tag = (const char *)ev->data.scalar.tag;
  bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
  const char *want = NULL; /* forced type from an explicit tag */
  if (tag && strcmp(tag, "!") != 0) {
    if (!strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)))
      want = tag + strlen(TAG_PREFIX);
    else if (!plain)
      want = "str";
  } else if (!plain || tag) {
    want = "str";
  }
  json_t *v = NULL;
  if (want && (!strcmp(want, "str") || !strcmp(want, "binary") || !strcmp(want, "timestamp"))) {
    v = json_stringn(s, n);
  } else {
    int kind = plain_kind(s, n);
    if (want && !strcmp(want, "null")) {
      if (kind != 1)
        return rd_fail(r, &ev->start_mark, "\"%.*s\" is tagged !!null but is not null",
                       (int)(n > 60 ? 60 : n), s),
               NULL;
    } else if (want && !strcmp(want, "bool")) {
      if (kind != 2)
        return rd_fail(r, &ev->start_mark, "\"%.*s\" is tagged !!bool but is not a boolean",
                       (int)(n > 60 ? 60 : n), s),
               NULL;
    } else if (want && !strcmp(want, "int")) {
      if (kind != 3)
        return rd_fail(r, &ev->start_mark, "\"%.*s\" is tagged !!int but is not an integer",
                       (int)(n > 60 ? 60 : n), s),
               NULL;
    } else if (want && !strcmp(want, "float")) {
      if (kind != 3 && kind != 4)
        return rd_fail(r, &ev->start_mark, "\"%.*s\" is tagged !!float but is not a number",
                       (int)(n > 60 ? 60 : n), s),
               NULL;
      kind = 4;
    }
    switch (kind) {
    case 1:
      v = json_null();
      break;
    case 2:
      v = json_boolean(is_one_of(s, n, true_words));
      break;
    case 3: {
      json_int_t iv;
      double dv = 0;
      bool big;
      int pr = parse_int(s, n, &iv, &dv, &big);
      v = pr == 1 ? json_integer(iv) : json_real(dv);
      break;
    }
    case 4: {
      double dv = 0;
      json_int_t iv;
      bool big;
      if (!parse_float(s, n, &dv)) {
        int pr = parse_int(s, n, &iv, &dv, &big);
        if (pr == 1)
          dv = (double)iv;
      }
      v = json_real(dv);
      break;
    }
    default:
      v = json_stringn(s, n);
    }
  }
  if (!v)
    rd_fail(r, &ev->start_mark, "a scalar is not valid UTF-8");
  return v;
}

static json_t *find_anchor(struct reader *r, const char *name) {
  for (size_t i = r->nanchors; i-- > 0;)
    if (!strcmp(r->anchors[i].name, name))
      return r->anchors[i].value;
  return NULL;
}

static void add_anchor(struct reader *r, const char *name, json_t *v) {
  if (r->nanchors == r->capanchors) {
    r->capanchors = r->capanchors ? 2 * r->capanchors : 8;
    r->anchors = xrealloc(r->anchors, r->capanchors * sizeof(*r->anchors));
  }
  r->anchors[r->nanchors].name = xstrdup(name);
  r->anchors[r->nanchors].value = json_incref(v);
  r->nanchors++;
}

/* Merge the objects collected under "<<" into obj: explicit keys win, earlier sources win. */
static void apply_merges(json_t *obj, json_t *merges) {
  size_t i;
  json_t *src;
  json_array_foreach(merges, i, src) {
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v) {
      if (!json_object_get(obj, k))
        json_object_set(obj, k, v);
    }
  }
}

/* Attach a finished value (owned) to the enclosing collection, or make it the root. */
static void attach(struct reader *r, json_t *v, const yaml_event_t *ev) {
  if (r->failed) {
    json_decref(v);
    return;
  }
  if (r->depth == 0) {
    r->root = v;
    r->have_root = true;
    return;
  }
  struct frame *f = &r->stack[r->depth - 1];
  if (json_is_array(f->node)) {
    json_array_append_new(f->node, v);
    return;
  }
  if (!f->key) {
    /* v is a key. */
    if (json_is_string(v)) {
      f->key = xstrndup(json_string_value(v), json_string_length(v));
      f->key_is_merge = false;
    } else if (json_is_integer(v) || json_is_real(v) || json_is_boolean(v) || json_is_null(v)) {
      /* Non-string scalar keys become the text of their value, as sigs.k8s.io/yaml does. */
      f->key = json_is_integer(v) ? xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v))
               : json_is_real(v)  ? xasprintf("%.17g", json_real_value(v))
               : json_is_null(v)  ? xstrdup("null")
                                  : xstrdup(json_is_true(v) ? "true" : "false");
      f->key_is_merge = false;
    } else {
      rd_fail(r, &ev->start_mark, "a mapping key must be a scalar");
    }
    json_decref(v);
    return;
  }
  if (f->key_is_merge) {
    if (!f->merges)
      f->merges = json_array();
    if (json_is_object(v)) {
      json_array_append(f->merges, v);
    } else if (json_is_array(v)) {
      size_t i;
      json_t *m;
      json_array_foreach(v, i, m) {
        if (!json_is_object(m)) {
          rd_fail(r, &ev->start_mark, "a \"<<\" merge list must hold only mappings");
          break;
        }
        json_array_append(f->merges, m);
      }
    } else {
      rd_fail(r, &ev->start_mark,
              "the value of a \"<<\" merge key must be a mapping or a list of mappings");
    }
    json_decref(v);
  } else if (json_object_get(f->node, f->key)) {
    rd_fail(r, &ev->start_mark, "duplicate mapping key \"%s\"", f->key);
    json_decref(v);
  } else {
    json_object_set_new(f->node, f->key, v);
  }
  free(f->key);
  f->key = NULL;
  f->key_is_merge = false;
}

static void push(struct reader *r, json_t *node, const char *anchor, const yaml_event_t *ev) {
  if (r->depth >= YAMLCONV_MAX_DEPTH) {
    rd_fail(r, &ev->start_mark, "nesting is deeper than %d levels", YAMLCONV_MAX_DEPTH);
    json_decref(node);
    return;
  }
  struct frame *f = &r->stack[r->depth++];
  memset(f, 0, sizeof(*f));
  f->node = node;
  f->anchor = anchor ? xstrdup(anchor) : NULL;
  f->line = ev->start_mark.line;
  f->col = ev->start_mark.column;
}

static void pop(struct reader *r, const yaml_event_t *ev) {
  struct frame f = r->stack[--r->depth];
  if (f.merges) {
    apply_merges(f.node, f.merges);
    json_decref(f.merges);
  }
  if (f.key && !r->failed)
    rd_fail(r, &ev->start_mark, "mapping key \"%s\" has no value", f.key);
  free(f.key);
  if (f.anchor) {
    add_anchor(r, f.anchor, f.node);
    free(f.anchor);
  }
  attach(r, f.node, ev);
}

static void reader_release(struct reader *r) {
  while (r->depth > 0) {
    struct frame *f = &r->stack[--r->depth];
    json_decref(f->node);
    json_decref(f->merges);
    free(f->key);
    free(f->anchor);
  }
  for (size_t i = 0; i < r->nanchors; i++) {
    free(r->anchors[i].name);
    json_decref(r->anchors[i].value);
  }
  free(r->anchors);
}

json_t *yamlconv_parse(const char *data, size_t len, const char *what, struct eng_error *err) {
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p)) {
    eng_error_set(err, ENG_INTERNAL, "%s: cannot initialise the YAML parser", what);
    return NULL;
  }
  yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
  struct reader r = {.what = what, .err = err};
  int docs = 0;
  bool done = false;
  while (!done && !r.failed) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&p, &ev)) {
      rd_fail(&r, &p.problem_mark, "%s%s%s", p.problem ? p.problem : "malformed YAML",
              p.context ? " " : "", p.context ? p.context : "");
      break;
    }
    switch (ev.type) {
    case YAML_STREAM_END_EVENT:
      done = true;
      break;
    case YAML_DOCUMENT_START_EVENT:
      if (++docs > 1)
        rd_fail(&r, &ev.start_mark, "expected one YAML document, found a second one");
      break;
    case YAML_SCALAR_EVENT: {
      if (++r.nodes > YAMLCONV_MAX_NODES) {
        rd_fail(&r, &ev.start_mark, "the document expands to more than %d nodes",
                YAMLCONV_MAX_NODES);
        break;
      }
      json_t *v = scalar_value(&r, &ev);
      if (!v)
        break;
      struct frame *f = r.depth ? &r.stack[r.depth - 1] : NULL;
      bool merge_key = f && json_is_object(f->node) && !f->key &&
                       ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev.data.scalar.tag &&
                       ev.data.scalar.length == 2 && !memcmp(ev.data.scalar.value, "<<", 2);
      if (ev.data.scalar.anchor)
        add_anchor(&r, (const char *)ev.data.scalar.anchor, v);
      attach(&r, v, &ev);
      if (merge_key && f->key)
        f->key_is_merge = true;
      break;
    }
    case YAML_ALIAS_EVENT: {
      json_t *target = find_anchor(&r, (const char *)ev.data.alias.anchor);
      if (!target) {
        rd_fail(&r, &ev.start_mark, "alias *%s refers to an unknown or enclosing anchor",
                ev.data.alias.anchor);
        break;
      }
      size_t n = count_nodes(target, YAMLCONV_MAX_NODES);
      r.nodes += n;
      if (r.nodes > YAMLCONV_MAX_NODES) {
        rd_fail(&r, &ev.start_mark, "the document expands to more than %d nodes (alias bomb?)",
                YAMLCONV_MAX_NODES);
        break;
      }
      /* A mapping key that is an alias to a scalar is fine; attach() handles both. */
      attach(&r, json_deep_copy(target), &ev);
      break;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
      if (++r.nodes > YAMLCONV_MAX_NODES) {
        rd_fail(&r, &ev.start_mark, "the document expands to more than %d nodes",
                YAMLCONV_MAX_NODES);
        break;
      }
      struct frame *f = r.depth ? &r.stack[r.depth - 1] : NULL;
      if (f && json_is_object(f->node) && !f->key) {
        rd_fail(&r, &ev.start_mark, "a mapping key must be a scalar");
        break;
      }
      bool seq = ev.type == YAML_SEQUENCE_START_EVENT;
      const char *anchor =
          (const char *)(seq ? ev.data.sequence_start.anchor : ev.data.mapping_start.anchor);
      push(&r, seq ? json_array() : json_object(), anchor, &ev);
      break;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      if (r.depth > 0)
        pop(&r, &ev);
      break;
    default:
      break;
    }
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&p);
  json_t *root = r.root;
  r.root = NULL;
  reader_release(&r);
  if (r.failed) {
    json_decref(root);
    return NULL;
  }
  return root ? root : json_null();
}

/* ---- writing ------------------------------------------------------------------------------- */

static int write_handler(void *data, unsigned char *buffer, size_t size) {
  return buf_append(data, buffer, size) == ENG_OK;
}

/* Would s, written as a plain scalar, be read back as a string equal to s? */
static bool plain_reads_as_string(const char *s, size_t n) {
  if (plain_kind(s, n) != 0)
    return false;
  if (n == 2 && !memcmp(s, "<<", 2))
    return false;
  /* Values with leading "=" or anything libyaml would reject are handled by libyaml itself. */
  return true;
}

static int emit_scalar(yaml_emitter_t *e, const char *s, size_t n, bool string) {
  yaml_event_t ev;
  yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
  int plain_implicit = 1, quoted_implicit = 1;
  if (string) {
    if (memchr(s, '\n', n))
      style = YAML_LITERAL_SCALAR_STYLE;
    else if (!plain_reads_as_string(s, n))
      style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    if (style != YAML_PLAIN_SCALAR_STYLE)
      plain_implicit = 0;
  } else {
    quoted_implicit = 0;
  }
  if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n, plain_implicit,
                                    quoted_implicit, style))
    return 0;
  return yaml_emitter_emit(e, &ev);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int emit_value(yaml_emitter_t *e, const json_t *v) {
  yaml_event_t ev;
  char num[64];
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) ||
        !yaml_emitter_emit(e, &ev))
      return 0;
    size_t n = json_object_size(v), i = 0;
    const char **keys = xmalloc((n ? n : 1) * sizeof(*keys));
    const char *k;
    json_t *c;
    json_object_foreach((json_t *)v, k, c) keys[i++] = k;
    qsort(keys, n, sizeof(*keys), cmp_str);
    int ok = 1;
    for (i = 0; i < n && ok; i++) {
      ok = emit_scalar(e, keys[i], strlen(keys[i]), true) &&
           emit_value(e, json_object_get(v, keys[i]));
    }
    free(keys);
    if (!ok)
      return 0;
    return yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev);
  }
  case JSON_ARRAY: {
    if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE) ||
        !yaml_emitter_emit(e, &ev))
      return 0;
    size_t i;
    json_t *c;
    json_array_foreach(v, i, c) {
      if (!emit_value(e, c))
        return 0;
    }
    return yaml_sequence_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev);
  }
  case JSON_STRING:
    return emit_scalar(e, json_string_value(v), json_string_length(v), true);
  case JSON_INTEGER:
    snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return emit_scalar(e, num, strlen(num), false);
  case JSON_REAL: {
    double d = json_real_value(v);
    for (int prec = 1; prec <= 17; prec++) {
      snprintf(num, sizeof(num), "%.*g", prec, d);
      if (strtod(num, NULL) == d)
        break;
    }
    size_t nl = strlen(num);
    if (!strpbrk(num, ".eEn") && nl + 2 < sizeof(num))
      memcpy(num + nl, ".0", 3);
    return emit_scalar(e, num, strlen(num), false);
  }
  case JSON_TRUE:
    return emit_scalar(e, "true", 4, false);
  case JSON_FALSE:
    return emit_scalar(e, "false", 5, false);
  case JSON_NULL:
  default:
    return emit_scalar(e, "null", 4, false);
  }
}

char *yamlconv_emit(const json_t *v, size_t *len, struct eng_error *err) {
  yaml_emitter_t e;
  if (!yaml_emitter_initialize(&e)) {
    eng_error_set(err, ENG_INTERNAL, "cannot initialise the YAML emitter");
    return NULL;
  }
  struct buf out;
  buf_init(&out, BUF_MAX_HTTP_BODY);
  yaml_emitter_set_output(&e, write_handler, &out);
  yaml_emitter_set_unicode(&e, 1);
  yaml_emitter_set_width(&e, -1);
  yaml_emitter_set_indent(&e, 2);
  yaml_event_t ev;
  int ok =
      yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) && yaml_emitter_emit(&e, &ev) &&
      yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) &&
      yaml_emitter_emit(&e, &ev) && emit_value(&e, v) &&
      yaml_document_end_event_initialize(&ev, 1) && yaml_emitter_emit(&e, &ev) &&
      yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(&e, &ev) && yaml_emitter_flush(&e);
  if (!ok) {
    eng_error_set(err, ENG_INVALID, "cannot write YAML: %s",
                  e.problem ? e.problem : "output too large");
    yaml_emitter_delete(&e);
    buf_release(&out);
    return NULL;
  }
  yaml_emitter_delete(&e);
  size_t n = 0;
  char *s = buf_take(&out, &n);
  if (!s)
    s = xstrdup("");
  if (len)
    *len = n;
  return s;
}
