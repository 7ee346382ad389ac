/*
 * health.c - liveness and readiness checks and their HTTP endpoints, with the
 * output format of controller-runtime's healthz package.
 */
#include "engine/base/common.h"
#include "engine/obs/health.h"
#include "engine/net/httpd.h"
#include "engine/base/log.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct check {
  char name[HEALTH_NAME_MAX];
  health_check_fn fn;
  void *ud;
  bool failing; /* last result, to log transitions only */
};

struct checklist {
  struct check *v;
  size_t n;
};

struct health {
  struct checklist lists[2];
};

static const char *const kind_names[] = {"healthz", "readyz"};

struct health *health_new(void) {
  return xcalloc(1, sizeof(struct health));
}

void health_free(struct health *h) {
  if (!h)
    return;
  for (size_t k = 0; k < ARRAY_SIZE(h->lists); k++)
    free(h->lists[k].v);
  free(h);
}

static bool valid_name(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n >= HEALTH_NAME_MAX)
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
          *s == '-'))
      return false;
  return true;
}

static struct check *find(struct checklist *l, const char *name) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i].name, name) == 0)
      return &l->v[i];
  return NULL;
}

static int cmp_check(const void *a, const void *b) {
  return strcmp(((const struct check *)a)->name, ((const struct check *)b)->name);
}

enum eng_err health_add_check(struct health *h, enum health_kind kind, const char *name,
                              health_check_fn fn, void *ud, struct eng_error *err) {
  if (!h || (unsigned)kind > HEALTH_READYZ || !fn)
    return eng_error_set(err, ENG_INVALID, "cannot add a health check: missing arguments");
  if (!valid_name(name))
    return eng_error_set(err, ENG_INVALID,
                         "cannot add %s check \"%s\": a check name is 1 to %d characters of "
                         "a-z, 0-9, '.', '_' and '-'",
                         kind_names[kind], name ? name : "", HEALTH_NAME_MAX - 1);
  struct checklist *l = &h->lists[kind];
  if (find(l, name))
    return eng_error_set(err, ENG_EXISTS, "cannot add %s check \"%s\": it has already been added",
                         kind_names[kind], name);
  l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
  struct check *c = &l->v[l->n++];
  memset(c, 0, sizeof(*c));
  snprintf(c->name, sizeof(c->name), "%s", name);
  c->fn = fn;
  c->ud = ud;
  /* Sorted, so that the verbose output is in name order. */
  qsort(l->v, l->n, sizeof(*l->v), cmp_check);
  return ENG_OK;
}

bool health_remove_check(struct health *h, enum health_kind kind, const char *name) {
  if (!h || (unsigned)kind > HEALTH_READYZ || !name)
    return false;
  struct checklist *l = &h->lists[kind];
  struct check *c = find(l, name);
  if (!c)
    return false;
  size_t i = (size_t)(c - l->v);
  memmove(l->v + i, l->v + i + 1, (l->n - i - 1) * sizeof(*l->v));
  l->n--;
  return true;
}

/* Run one check, logging when it starts or stops failing. */
static bool run_check(enum health_kind kind, struct check *c, struct eng_error *e) {
  eng_error_clear(e);
  enum eng_err rc = c->fn(c->ud, e);
  if (rc && !e->msg[0])
    snprintf(e->msg, sizeof(e->msg), "%s", eng_strerror(rc));
  if (rc && !c->failing) {
    char *msg = log_scrub(e->msg);
    log_warn(kind == HEALTH_READYZ ? "readiness check failed" : "liveness check failed", "check",
             c->name, "error", msg, NULL);
    free(msg);
  } else if (!rc && c->failing) {
    log_info(kind == HEALTH_READYZ ? "readiness check passes again" : "liveness check passes again",
             "check", c->name, NULL);
  }
  c->failing = rc != ENG_OK;
  return rc == ENG_OK;
}

#define APPEND(...)                                                                                \
  do {                                                                                             \
    if (buf_printf(out, __VA_ARGS__))                                                              \
      return 500;                                                                                  \
  } while (0)

static int serve_one(struct health *h, enum health_kind kind, const char *name, struct buf *out) {
  struct checklist *l = &h->lists[kind];
  if (l->n == 0 && strcmp(name, "ping") == 0) {
    APPEND("ok");
    return 200;
  }
  struct check *c = find(l, name);
  if (!c) {
    APPEND("404 page not found\n");
    return 404;
  }
  struct eng_error e;
  if (run_check(kind, c, &e)) {
    APPEND("ok");
    return 200;
  }
  char *msg = log_scrub(e.msg);
  (void)!buf_printf(out, "internal server error: %s\n", msg);
  free(msg);
  return 500;
}

int health_serve(struct health *h, enum health_kind kind, const char *subpath, const char *query,
                 struct buf *out) {
  if (!h || (unsigned)kind > HEALTH_READYZ)
    return 500;
  /* Like path.Clean: collapse slashes and drop a trailing one; one level of names below. */
  char name[HEALTH_NAME_MAX + 2] = "";
  const char *p = subpath ? subpath : "";
  while (*p == '/')
    p++;
  size_t nl = strcspn(p, "/");
  const char *rest = p + nl;
  while (*rest == '/')
    rest++;
  if (*rest || nl >= sizeof(name)) {
    APPEND("404 page not found\n");
    return 404;
  }
  memcpy(name, p, nl);
  name[nl] = '\0';
  if (nl)
    return serve_one(h, kind, name, out);

  struct checklist *l = &h->lists[kind];
  bool verbose = httpd_query_has(query ? query : "", "verbose");
  /* The exclude=... values, with a flag each telling whether a check matched it. */
  char(*excl)[HEALTH_NAME_MAX + 1] = NULL;
  bool *used = NULL;
  size_t nex = 0;
  const char *cur = query ? query : "";
  char k[32], v[HEALTH_NAME_MAX + 1];
  while (httpd_query_next(&cur, k, sizeof(k), v, sizeof(v))) {
    if (strcmp(k, "exclude") != 0 || nex >= 64)
      continue;
    excl = xrealloc(excl, (nex + 1) * sizeof(*excl));
    used = xrealloc(used, (nex + 1) * sizeof(*used));
    snprintf(excl[nex], sizeof(excl[nex]), "%s", v);
    used[nex++] = false;
  }
  struct buf lines;
  buf_init(&lines, out->max);
  bool failed = false;
  enum eng_err rc = ENG_OK;
  if (l->n == 0)
    rc = buf_appends(&lines, "[+]ping ok\n");
  for (size_t i = 0; !rc && i < l->n; i++) {
    struct check *c = &l->v[i];
    bool excluded = false;
    for (size_t j = 0; j < nex; j++)
      if (strcmp(excl[j], c->name) == 0)
        excluded = used[j] = true;
    struct eng_error e;
    if (excluded)
      rc = buf_printf(&lines, "[+]%s excluded: ok\n", c->name);
    else if (run_check(kind, c, &e))
      rc = buf_printf(&lines, "[+]%s ok\n", c->name);
    else {
      failed = true;
      rc = buf_printf(&lines, "[-]%s failed: reason withheld\n", c->name);
    }
  }
  bool warned = false;
  for (size_t j = 0; !rc && j < nex; j++) {
    if (used[j])
      continue;
    rc = buf_printf(&lines, "%s\"%s\"",
                    warned ? "," : "warn: some health checks cannot be excluded: no matches for ",
                    excl[j]);
    warned = true;
  }
  if (!rc && warned)
    rc = buf_appends(&lines, "\n");
  free(excl);
  free(used);
  if (!rc) {
    if (!failed && !verbose)
      rc = buf_appends(out, "ok");
    else {
      rc = buf_append(out, lines.data ? lines.data : "", lines.len);
      if (!rc)
        rc = buf_printf(out, "%s check %s\n", kind_names[kind], failed ? "failed" : "passed");
    }
  }
  buf_release(&lines);
  if (rc)
    return 500;
  return failed ? 500 : 200;
}

static enum eng_err serve_http(void *ud, const struct httpd_request *req,
                               struct httpd_response *resp) {
  struct health *h = ud;
  bool ready = strncmp(req->route, "/readyz", 7) == 0;
  size_t skip = ready ? strlen("/readyz") : strlen("/healthz");
  resp->status = health_serve(h, ready ? HEALTH_READYZ : HEALTH_HEALTHZ, req->path + skip,
                              req->query, &resp->body);
  resp->content_type = "text/plain; charset=utf-8";
  return ENG_OK;
}

void health_mount(struct health *h, struct httpd *s) {
  httpd_route(s, "/healthz", serve_http, h);
  httpd_route(s, "/healthz/", serve_http, h);
  httpd_route(s, "/readyz", serve_http, h);
  httpd_route(s, "/readyz/", serve_http, h);
}
