/*
 * exec_secret_from.c - the kube.secret.from executor action: server-side apply of
 * an object with values read from Secrets at call time (see exec_secret_from.h).
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/act/exec_secret_from.h"
#include "engine/act/exec_inflight.h"
#include "engine/act/exec_kube.h"
#include "engine/base/b64.h"
#include "engine/base/jsonx.h"
#include "engine/base/sha256.h"
#include "engine/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

struct exec_secret_from {
  struct kube_client *c;
  const struct kube_resource *const *res;
  size_t nres;
  struct exec_inflight_list jobs;
};

struct sjob {
  struct exec_secret_from *x;
  struct exec_inflight fl;
  const struct kube_resource *target;
  char *ns, *name;
  json_t *obj;   /* the object being completed (holds secret values once filled) */
  json_t *fills; /* params.fill */
  size_t next;
  json_t *digests;
  struct kube_call *kc;
};

static const struct kube_resource *resource_of(const struct exec_secret_from *x, const char *gk) {
  for (size_t i = 0; i < x->nres; i++) {
    char g[192];
    kube_resource_group_kind(x->res[i], g);
    if (!strcmp(g, gk))
      return x->res[i];
  }
  return NULL;
}

/* Overwrite the filled-in values before the object is freed. */
static void scrub(json_t *obj, const json_t *fills, size_t n) {
  for (size_t i = 0; i < n && i < json_array_size(fills); i++) {
    json_t *v = jsonx_path(obj, jsonx_str(json_array_get(fills, i), "path"));
    if (json_is_string(v)) {
      size_t len = json_string_length(v);
      char *zeros = xcalloc(1, len + 1);
      memset(zeros, '0', len);
      json_string_set(v, zeros);
      free(zeros);
    }
  }
}

/* Free a job that has reported its outcome (or was cancelled). */
static void job_free(struct sjob *j) {
  scrub(j->obj, j->fills, j->next);
  json_decref(j->obj);
  json_decref(j->fills);
  json_decref(j->digests);
  free(j->ns);
  free(j->name);
  free(j);
}

static void fail(struct sjob *j, enum eng_err code, bool retryable, const char *fmt, ...)
    PRINTF_LIKE(4, 5);
static void fail(struct sjob *j, enum eng_err code, bool retryable, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  exec_inflight_vfail(&j->fl, code, retryable, fmt, ap);
  va_end(ap);
  job_free(j);
}

/* Set obj at the dotted path to value (objects created on the way). */
static void set_path(json_t *obj, const char *path, json_t *value_own) {
  char *p = xstrdup(path);
  json_t *cur = obj;
  char *save = NULL;
  char *seg = strtok_r(p, ".", &save);
  while (seg) {
    char *nxt = strtok_r(NULL, ".", &save);
    if (!nxt) {
      json_object_set_new(cur, seg, value_own);
      break;
    }
    json_t *child = json_object_get(cur, seg);
    if (!json_is_object(child)) {
      child = json_object();
      json_object_set_new(cur, seg, child);
    }
    cur = child;
    seg = nxt;
  }
  free(p);
}

static void applied(void *ud, const struct kube_result *res) {
  struct sjob *j = ud;
  j->kc = NULL;
  if (res->err != ENG_OK) {
    exec_inflight_kube_fail(&j->fl, res);
    job_free(j);
    return;
  }
  json_t *out = exec_kube_apply_output(res->body);
  json_object_set(out, "digests", j->digests);
  exec_inflight_ok(&j->fl, out);
  job_free(j);
  json_decref(out);
}

static void next_step(struct sjob *j);

static void got_secret(void *ud, const struct kube_result *res) {
  struct sjob *j = ud;
  j->kc = NULL;
  json_t *f = json_array_get(j->fills, j->next);
  const char *nf = jsonx_str(f, "notFound");
  const char *missing = jsonx_str(f, "missing");
  const char *key = jsonx_str(f, "key");
  if (res->err != ENG_OK) {
    fail(j, res->err, true, "%s: %s", nf ? nf : "cannot read the Secret", res->error.msg);
    return;
  }
  json_t *data = json_object_get(res->body, "data");
  const char *v = json_is_object(data) ? jsonx_str(data, key) : NULL;
  if (!json_is_object(data) || json_object_size(data) == 0) {
    fail(j, ENG_CONFIG, true, "%s: secret does not contain any data", nf ? nf : "");
    return;
  }
  if (!v || !*v) {
    fail(j, ENG_CONFIG, true, "%s", missing ? missing : "the Secret lacks the key");
    return;
  }
  unsigned char *raw = NULL;
  size_t len = 0;
  if (b64_decode(v, strlen(v), &raw, &len) != ENG_OK) {
    fail(j, ENG_CONFIG, true, "%s: the value of key %s is not base64", nf ? nf : "", key);
    return;
  }
  char hex[SHA256_HEX_LEN + 1];
  sha256_hex(raw, len, hex);
  char *digest = xasprintf("sha256:%s", hex);
  json_object_set_new(j->digests, jsonx_str(f, "path"), json_string(digest));
  free(digest);
  if (jsonx_bool(f, "decode", false)) {
    /* Trimmed like the Go original's credentials (strings.TrimSpace). */
    while (len > 0 && (raw[len - 1] == '\n' || raw[len - 1] == '\r' || raw[len - 1] == ' '))
      raw[--len] = '\0';
    json_t *s = json_stringn((const char *)raw, len);
    if (!s) {
      xfree_secret((char *)raw);
      fail(j, ENG_CONFIG, true, "%s: the value of key %s is not UTF-8 text", nf ? nf : "", key);
      return;
    }
    set_path(j->obj, jsonx_str(f, "path"), s);
  } else {
    set_path(j->obj, jsonx_str(f, "path"), json_string(v));
  }
  xfree_secret((char *)raw);
  j->next++;
  next_step(j);
}

static void next_step(struct sjob *j) {
  json_t *f = json_array_get(j->fills, j->next);
  if (!f) {
    j->kc = kube_apply(j->x->c, j->target, j->ns, j->name, j->obj, EXEC_KUBE_FIELD_MANAGER, true,
                       applied, j);
    return;
  }
  j->kc = kube_get(j->x->c, &kube_res_secret, jsonx_str(f, "secretRef.namespace"),
                   jsonx_str(f, "secretRef.name"), got_secret, j);
}

static void start(void *ud, struct exec_call *call, const struct action *a, bool resolving) {
  (void)resolving; /* an apply is idempotent: a resolved attempt runs again */
  struct exec_secret_from *x = ud;
  struct sjob *j = xcalloc(1, sizeof(*j));
  j->x = x;
  exec_inflight_link(&x->jobs, &j->fl, call, j);
  j->digests = json_object();
  j->ns = xstrdup(a->ns ? a->ns : "");
  j->name = xstrdup(a->name ? a->name : "");
  json_t *obj = json_object_get(a->params, "object");
  json_t *fills = json_object_get(a->params, "fill");
  j->obj = json_is_object(obj) ? json_deep_copy(obj) : json_object();
  j->fills = json_is_array(fills) ? json_incref(fills) : json_array();
  j->target = resource_of(x, a->group_kind ? a->group_kind : "");
  if (!j->target) {
    fail(j, ENG_INTERNAL, false,
         "cannot apply %s %s/%s: this kind is not registered with the "
         "executor",
         a->group_kind, j->ns, j->name);
    return;
  }
  const char *n = jsonx_str(j->obj, "metadata.name");
  if (!json_is_object(obj) || !n || strcmp(n, j->name) != 0) {
    fail(j, ENG_INTERNAL, false,
         "cannot apply %s %s/%s: the action's object must be named like its target", a->group_kind,
         j->ns, j->name);
    return;
  }
  size_t i;
  json_t *f;
  json_array_foreach(j->fills, i, f) {
    if (!jsonx_str(f, "secretRef.name") || !jsonx_str(f, "key") || !jsonx_str(f, "path")) {
      fail(j, ENG_INTERNAL, false,
           "cannot apply %s %s/%s: fill entry %zu needs secretRef.name, key and path",
           a->group_kind, j->ns, j->name, i);
      return;
    }
  }
  next_step(j);
}

struct exec_secret_from *exec_secret_from_new(struct kube_client *c,
                                              const struct kube_resource *const *res, size_t nres) {
  struct exec_secret_from *x = xcalloc(1, sizeof(*x));
  x->c = c;
  x->res = res;
  x->nres = nres;
  return x;
}

void exec_secret_from_register(struct exec_secret_from *x, struct executor *ex) {
  executor_handle(ex, "kube.secret.from", start, x);
}

void exec_secret_from_free(struct exec_secret_from *x) {
  if (!x)
    return;
  struct sjob *j;
  while ((j = exec_inflight_pop(&x->jobs))) {
    kube_cancel(x->c, j->kc);
    job_free(j);
  }
  free(x);
}
