/*
 * kubeconfig.c - kubeconfig (libyaml) and in-cluster configuration.
 *
 * A kubeconfig file is loaded into a jansson tree first (scalars as strings, empty and
 * "null"/"~" plain scalars as null), then the context, cluster and user are looked up by
 * name across every file given (the first file that defines a name wins, as clientcmd
 * merges KUBECONFIG lists). Each error names the file and the field.
 */
#include "engine/base/common.h"
#include "engine/kube/kubeconfig.h"
#include "engine/base/b64.h"
#include "engine/base/buf.h"
#include "engine/net/http.h"
#include "engine/base/log.h"
#include "engine/base/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define YAML_MAX_DEPTH 64
#define YAML_MAX_NODES 200000

void kube_config_init(struct kube_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  for (size_t i = 0; i < ARRAY_SIZE(cfg->fds); i++)
    cfg->fds[i] = -1;
}

void kube_config_free(struct kube_config *cfg) {
  free(cfg->server);
  free(cfg->ca_path);
  free(cfg->client_cert_path);
  free(cfg->client_key_path);
  xfree_secret(cfg->token);
  free(cfg->token_file);
  free(cfg->namespace);
  free(cfg->context);
  free(cfg->source);
  free(cfg->warning);
  for (size_t i = 0; i < ARRAY_SIZE(cfg->fds); i++)
    if (cfg->fds[i] >= 0)
      close(cfg->fds[i]);
  kube_config_init(cfg);
}

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

/* A memfd path of src re-created on a dup of its descriptor, or a plain copy. */
static char *copy_path(const char *path, int src_fd, int *dst_fd) {
  *dst_fd = -1;
  if (!path)
    return NULL;
  if (src_fd >= 0) {
    int f = fcntl(src_fd, F_DUPFD_CLOEXEC, 0);
    if (f >= 0) {
      *dst_fd = f;
      return xasprintf("/proc/self/fd/%d", f);
    }
  }
  return xstrdup(path);
}

void kube_config_copy(struct kube_config *dst, const struct kube_config *src) {
  kube_config_init(dst);
  dst->server = dup_or_null(src->server);
  dst->ca_path = copy_path(src->ca_path, src->fds[0], &dst->fds[0]);
  dst->client_cert_path = copy_path(src->client_cert_path, src->fds[1], &dst->fds[1]);
  dst->client_key_path = copy_path(src->client_key_path, src->fds[2], &dst->fds[2]);
  dst->insecure = src->insecure;
  dst->token = dup_or_null(src->token);
  dst->token_file = dup_or_null(src->token_file);
  dst->namespace = dup_or_null(src->namespace);
  dst->context = dup_or_null(src->context);
  dst->source = dup_or_null(src->source);
  dst->warning = dup_or_null(src->warning);
}

/* ---- YAML to JSON ------------------------------------------------------------------------ */

struct yconv {
  yaml_document_t *doc;
  size_t nodes;
  bool too_big;
};

static json_t *ynode(struct yconv *y, yaml_node_t *n, int depth) {
  if (!n || depth > YAML_MAX_DEPTH || ++y->nodes > YAML_MAX_NODES) {
    y->too_big = true;
    return NULL;
  }
  switch (n->type) {
  case YAML_SCALAR_NODE: {
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        (len == 0 || (len == 1 && v[0] == '~') || (len == 4 && !strncasecmp(v, "null", 4))))
      return json_null();
    return json_stringn_nocheck(v, len);
  }
  case YAML_SEQUENCE_NODE: {
    json_t *a = json_array();
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
      json_t *v = ynode(y, yaml_document_get_node(y->doc, *it), depth + 1);
      if (!v) {
        json_decref(a);
        return NULL;
      }
      json_array_append_new(a, v);
    }
    return a;
  }
  case YAML_MAPPING_NODE: {
    json_t *o = json_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
      yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
      if (!k || k->type != YAML_SCALAR_NODE)
        continue; /* complex keys never occur in kubeconfigs */
      char *key = xstrndup((const char *)k->data.scalar.value, k->data.scalar.length);
      json_t *v = ynode(y, yaml_document_get_node(y->doc, p->value), depth + 1);
      if (!v) {
        free(key);
        json_decref(o);
        return NULL;
      }
      json_object_set_new(o, key, v);
      free(key);
    }
    return o;
  }
  default:
    return json_null();
  }
}

/* Parse the first YAML document of data into JSON. */
static json_t *yaml_to_json(const char *data, size_t len, const char *name, struct eng_error *err) {
  yaml_parser_t p;
  yaml_document_t doc;
  if (!yaml_parser_initialize(&p)) {
    eng_error_set(err, ENG_INTERNAL, "cannot initialise the YAML parser");
    return NULL;
  }
  yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
  if (!yaml_parser_load(&p, &doc)) {
    eng_error_set(err, ENG_CONFIG, "kubeconfig %s is not valid YAML: %s at line %zu, column %zu",
                  name, p.problem ? p.problem : "parse error", p.problem_mark.line + 1,
                  p.problem_mark.column + 1);
    yaml_parser_delete(&p);
    return NULL;
  }
  json_t *out = NULL;
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (!root) {
    eng_error_set(err, ENG_CONFIG, "kubeconfig %s is empty", name);
  } else {
    struct yconv y = {.doc = &doc};
    out = ynode(&y, root, 0);
    if (!out)
      eng_error_set(err, ENG_CONFIG,
                    "kubeconfig %s is nested too deeply or too large (more than %d levels or %d "
                    "nodes)",
                    name, YAML_MAX_DEPTH, YAML_MAX_NODES);
  }
  yaml_document_delete(&doc);
  yaml_parser_delete(&p);
  return out;
}

/* ---- lookups across files ------------------------------------------------------------------ */

struct kfile {
  json_t *root;   /* the file's top-level mapping */
  char *name;     /* path for messages */
  char *base_dir; /* for relative paths */
};

struct kset {
  struct kfile *files;
  size_t n;
  const char *name; /* message name of the whole set (the path list) */
};

static void kset_free(struct kset *s) {
  for (size_t i = 0; i < s->n; i++) {
    json_decref(s->files[i].root);
    free(s->files[i].name);
    free(s->files[i].base_dir);
  }
  free(s->files);
}

/* Check the shape of one named list (clusters/users/contexts) of a file. */
static enum eng_err check_list(const struct kfile *f, const char *list, const char *field,
                               struct eng_error *err) {
  json_t *a = json_object_get(f->root, list);
  if (!a || json_is_null(a))
    return ENG_OK;
  if (!json_is_array(a))
    return eng_error_set(err, ENG_CONFIG, "kubeconfig %s: %s is not a list", f->name, list);
  size_t i;
  json_t *e;
  json_array_foreach(a, i, e) {
    if (!json_is_object(e))
      return eng_error_set(err, ENG_CONFIG, "kubeconfig %s: entry %zu of %s is not a mapping",
                           f->name, i + 1, list);
    json_t *nm = json_object_get(e, "name");
    if (!json_is_string(nm) || !json_string_length(nm))
      return eng_error_set(err, ENG_CONFIG, "kubeconfig %s: entry %zu of %s has no name", f->name,
                           i + 1, list);
    json_t *body = json_object_get(e, field);
    if (body && !json_is_null(body) && !json_is_object(body))
      return eng_error_set(err, ENG_CONFIG,
                           "kubeconfig %s: %s \"%s\" has a %s that is not a mapping", f->name, list,
                           json_string_value(nm), field);
  }
  return ENG_OK;
}

/* The body (e.g. the "cluster" mapping) of the first entry named name; *file gets its file. */
static json_t *kset_find(const struct kset *s, const char *list, const char *field,
                         const char *name, const struct kfile **file) {
  for (size_t f = 0; f < s->n; f++) {
    json_t *a = json_object_get(s->files[f].root, list);
    size_t i;
    json_t *e;
    if (!json_is_array(a))
      continue;
    json_array_foreach(a, i, e) {
      const char *nm = json_string_value(json_object_get(e, "name"));
      if (nm && !strcmp(nm, name)) {
        *file = &s->files[f];
        json_t *body = json_object_get(e, field);
        static json_t *empty;
        if (!json_is_object(body)) {
          /* An entry without a body behaves like an empty one. */
          if (!empty)
            empty = json_object();
          return empty;
        }
        return body;
      }
    }
  }
  return NULL;
}

/* ---- fields --------------------------------------------------------------------------------- */

/* A string field; NULL when absent or null; error when another type. */
static enum eng_err str_field(const json_t *o, const char *key, const char **out, const char *fname,
                              const char *what, const char *who, struct eng_error *err) {
  json_t *v = json_object_get(o, key);
  *out = NULL;
  if (!v || json_is_null(v))
    return ENG_OK;
  if (!json_is_string(v))
    return eng_error_set(err, ENG_CONFIG, "kubeconfig %s: %s \"%s\" has a %s that is not a string",
                         fname, what, who, key);
  *out = json_string_value(v);
  if (!**out)
    *out = NULL;
  return ENG_OK;
}

static enum eng_err bool_field(const json_t *o, const char *key, bool *out, const char *fname,
                               const char *what, const char *who, struct eng_error *err) {
  const char *s;
  enum eng_err rc = str_field(o, key, &s, fname, what, who, err);
  if (rc)
    return rc;
  *out = false;
  if (!s)
    return ENG_OK;
  static const char *const yes[] = {"true", "yes", "on", "y"};
  static const char *const no[] = {"false", "no", "off", "n"};
  for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
    if (!strcasecmp(s, yes[i])) {
      *out = true;
      return ENG_OK;
    }
    if (!strcasecmp(s, no[i]))
      return ENG_OK;
  }
  return eng_error_set(err, ENG_CONFIG,
                       "kubeconfig %s: %s \"%s\" has %s \"%s\", which is neither true nor false",
                       fname, what, who, key, s);
}

/* Absolute path of p relative to base (a copy). */
static char *resolve(const char *base, const char *p) {
  if (p[0] == '/' || !base || !*base)
    return xstrdup(p);
  return xasprintf("%s/%s", base, p);
}

static enum eng_err check_readable(const char *path, const char *fname, const char *what,
                                   const char *who, const char *field, struct eng_error *err) {
  int f = open(path, O_RDONLY | O_CLOEXEC);
  if (f < 0)
    return eng_error_set(err, ENG_CONFIG,
                         "kubeconfig %s: %s \"%s\" has %s %s, which cannot be read: %s", fname,
                         what, who, field, path, strerror(errno));
  struct stat st;
  bool dir = fstat(f, &st) == 0 && S_ISDIR(st.st_mode);
  close(f);
  if (dir)
    return eng_error_set(err, ENG_CONFIG,
                         "kubeconfig %s: %s \"%s\" has %s %s, which is a directory", fname, what,
                         who, field, path);
  return ENG_OK;
}

/*
 * One TLS file from "<field>" (a path) or "<field>-data" (base64 PEM; wins like in client-go).
 * On success *path is a new string (or NULL when neither is set) and *fd the memfd or -1.
 */
static enum eng_err tls_material(const json_t *o, const char *field, const struct kfile *f,
                                 const char *what, const char *who, char **path, int *fd,
                                 struct eng_error *err) {
  *path = NULL;
  *fd = -1;
  char dfield[64];
  snprintf(dfield, sizeof(dfield), "%s-data", field);
  const char *data, *file;
  enum eng_err rc = str_field(o, dfield, &data, f->name, what, who, err);
  if (!rc)
    rc = str_field(o, field, &file, f->name, what, who, err);
  if (rc)
    return rc;
  if (data) {
    unsigned char *pem = NULL;
    size_t len = 0;
    if (b64_decode(data, strlen(data), &pem, &len) != ENG_OK || len == 0) {
      free(pem);
      return eng_error_set(err, ENG_CONFIG,
                           "kubeconfig %s: %s \"%s\" has %s that is not valid base64", f->name,
                           what, who, dfield);
    }
    if (!memmem(pem, len, "-----BEGIN", 10)) {
      explicit_bzero(pem, len);
      free(pem);
      return eng_error_set(err, ENG_CONFIG,
                           "kubeconfig %s: %s \"%s\" has %s that does not decode to PEM (no "
                           "\"-----BEGIN\" line)",
                           f->name, what, who, dfield);
    }
    char p[64];
    rc = http_pem_path((const char *)pem, len, p, fd, err);
    explicit_bzero(pem, len);
    free(pem);
    if (rc)
      return eng_error_prefix(err, "kubeconfig %s: %s \"%s\" %s", f->name, what, who, dfield);
    *path = xstrdup(p);
    return ENG_OK;
  }
  if (file) {
    char *abs = resolve(f->base_dir, file);
    rc = check_readable(abs, f->name, what, who, field, err);
    if (rc) {
      free(abs);
      return rc;
    }
    *path = abs;
  }
  return ENG_OK;
}

static enum eng_err read_small_file(const char *path, char **out, struct eng_error *err) {
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return eng_error_set(err, ENG_CONFIG, "%s", strerror(errno));
  struct buf b;
  buf_init(&b, BUF_MAX_SMALL);
  char chunk[8192];
  size_t n;
  enum eng_err rc = ENG_OK;
  while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
    if (buf_append(&b, chunk, n) != ENG_OK) {
      rc = eng_error_set(err, ENG_CONFIG, "it is larger than %u bytes", BUF_MAX_SMALL);
      break;
    }
  }
  if (!rc && ferror(fp))
    rc = eng_error_set(err, ENG_CONFIG, "%s", strerror(errno));
  fclose(fp);
  if (rc) {
    buf_release(&b);
    return rc;
  }
  if (!b.data && buf_append(&b, "", 0) != ENG_OK) {
    buf_release(&b);
    return eng_error_set(err, ENG_INTERNAL, "cannot allocate");
  }
  *out = buf_take(&b, NULL);
  return ENG_OK;
}

/* Strip surrounding whitespace in place. */
static char *trim(char *s) {
  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
    s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
    s[--n] = '\0';
  return s;
}

/* Fill cfg from the set: context -> cluster -> user. */
static enum eng_err kset_resolve(const struct kset *s, const char *ctx_override,
                                 struct kube_config *cfg, struct eng_error *err) {
  enum eng_err rc;
  for (size_t i = 0; i < s->n; i++) {
    if ((rc = check_list(&s->files[i], "clusters", "cluster", err)) ||
        (rc = check_list(&s->files[i], "users", "user", err)) ||
        (rc = check_list(&s->files[i], "contexts", "context", err)))
      return rc;
  }
  const char *ctx_name = ctx_override && *ctx_override ? ctx_override : NULL;
  if (!ctx_name) {
    for (size_t i = 0; i < s->n && !ctx_name; i++) {
      json_t *cc = json_object_get(s->files[i].root, "current-context");
      if (cc && !json_is_null(cc) && !json_is_string(cc))
        return eng_error_set(err, ENG_CONFIG, "kubeconfig %s: current-context is not a string",
                             s->files[i].name);
      if (json_is_string(cc) && json_string_length(cc))
        ctx_name = json_string_value(cc);
    }
  }
  if (!ctx_name)
    return eng_error_set(err, ENG_CONFIG,
                         "kubeconfig %s: no current-context is set; choose a context with "
                         "\"kubectl config use-context NAME\"",
                         s->name);
  const struct kfile *cf = NULL;
  json_t *ctx = kset_find(s, "contexts", "context", ctx_name, &cf);
  if (!ctx)
    return eng_error_set(
        err, ENG_CONFIG, "kubeconfig %s: %s \"%s\" names a context that is not defined in contexts",
        s->name, ctx_override && *ctx_override ? "the requested context" : "current-context",
        ctx_name);
  const char *cluster_name, *user_name, *ns;
  if ((rc = str_field(ctx, "cluster", &cluster_name, cf->name, "context", ctx_name, err)) ||
      (rc = str_field(ctx, "user", &user_name, cf->name, "context", ctx_name, err)) ||
      (rc = str_field(ctx, "namespace", &ns, cf->name, "context", ctx_name, err)))
    return rc;
  if (!cluster_name)
    return eng_error_set(err, ENG_CONFIG, "kubeconfig %s: context \"%s\" names no cluster",
                         cf->name, ctx_name);
  const struct kfile *clf = NULL;
  json_t *cl = kset_find(s, "clusters", "cluster", cluster_name, &clf);
  if (!cl)
    return eng_error_set(err, ENG_CONFIG,
                         "kubeconfig %s: context \"%s\" names cluster \"%s\", which is not defined "
                         "in clusters",
                         cf->name, ctx_name, cluster_name);
  /* Cluster. */
  const char *server;
  if ((rc = str_field(cl, "server", &server, clf->name, "cluster", cluster_name, err)))
    return rc;
  if (!server)
    return eng_error_set(err, ENG_CONFIG, "kubeconfig %s: cluster \"%s\" has no server URL",
                         clf->name, cluster_name);
  if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
    return eng_error_set(err, ENG_CONFIG,
                         "kubeconfig %s: cluster \"%s\" has server \"%s\", which is not an "
                         "https:// or http:// URL",
                         clf->name, cluster_name, server);
  const char *host = strstr(server, "://") + 3;
  if (!*host || *host == '/')
    return eng_error_set(err, ENG_CONFIG,
                         "kubeconfig %s: cluster \"%s\" has server \"%s\", which names no host",
                         clf->name, cluster_name, server);
  if (strpbrk(server, " \t\r\n?#"))
    return eng_error_set(
        err, ENG_CONFIG,
        "kubeconfig %s: cluster \"%s\" has server \"%s\", which contains spaces, a "
        "query or a fragment",
        clf->name, cluster_name, server);
  cfg->server = xstrdup(server);
  size_t sl = strlen(cfg->server);
  while (sl > 0 && cfg->server[sl - 1] == '/')
    cfg->server[--sl] = '\0';
  if ((rc = bool_field(cl, "insecure-skip-tls-verify", &cfg->insecure, clf->name, "cluster",
                       cluster_name, err)))
    return rc;
  if ((rc = tls_material(cl, "certificate-authority", clf, "cluster", cluster_name, &cfg->ca_path,
                         &cfg->fds[0], err)))
    return rc;
  if (cfg->insecure && cfg->ca_path)
    return eng_error_set(
        err, ENG_CONFIG,
        "kubeconfig %s: cluster \"%s\" sets insecure-skip-tls-verify together with "
        "a certificate authority; remove one of them",
        clf->name, cluster_name);
  const char *tsn;
  if ((rc = str_field(cl, "tls-server-name", &tsn, clf->name, "cluster", cluster_name, err)))
    return rc;
  if (tsn)
    cfg->warning = xasprintf("kubeconfig %s: cluster \"%s\" sets tls-server-name, which is not "
                             "supported and ignored: the server certificate must match the host "
                             "of the server URL",
                             clf->name, cluster_name);
  /* User (optional: a context without a user talks anonymously). */
  if (user_name) {
    const struct kfile *uf = NULL;
    json_t *u = kset_find(s, "users", "user", user_name, &uf);
    if (!u)
      return eng_error_set(err, ENG_CONFIG,
                           "kubeconfig %s: context \"%s\" names user \"%s\", which is not defined "
                           "in users",
                           cf->name, ctx_name, user_name);
    static const char *const unsupported[] = {"exec", "auth-provider", "username", "password"};
    for (size_t i = 0; i < ARRAY_SIZE(unsupported); i++) {
      json_t *v = json_object_get(u, unsupported[i]);
      if (v && !json_is_null(v))
        return eng_error_set(err, ENG_CONFIG,
                             "kubeconfig %s: user \"%s\" authenticates with %s, which is not "
                             "supported; use token, tokenFile or a client certificate and key",
                             uf->name, user_name, unsupported[i]);
    }
    const char *token, *token_file;
    if ((rc = str_field(u, "token", &token, uf->name, "user", user_name, err)) ||
        (rc = str_field(u, "tokenFile", &token_file, uf->name, "user", user_name, err)))
      return rc;
    if (token) {
      cfg->token = xstrdup(token);
      log_register_secret(cfg->token);
    }
    if (token_file) {
      cfg->token_file = resolve(uf->base_dir, token_file);
      if ((rc = check_readable(cfg->token_file, uf->name, "user", user_name, "tokenFile", err)))
        return rc;
    }
    if ((rc = tls_material(u, "client-certificate", uf, "user", user_name, &cfg->client_cert_path,
                           &cfg->fds[1], err)) ||
        (rc = tls_material(u, "client-key", uf, "user", user_name, &cfg->client_key_path,
                           &cfg->fds[2], err)))
      return rc;
    if (!!cfg->client_cert_path != !!cfg->client_key_path)
      return eng_error_set(err, ENG_CONFIG,
                           "kubeconfig %s: user \"%s\" has a client %s but no client %s; both are "
                           "needed",
                           uf->name, user_name, cfg->client_cert_path ? "certificate" : "key",
                           cfg->client_cert_path ? "key" : "certificate");
  }
  cfg->namespace = xstrdup(ns ? ns : "default");
  cfg->context = xstrdup(ctx_name);
  return ENG_OK;
}

static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) {
    char cwd[4096];
    return xstrdup(getcwd(cwd, sizeof(cwd)) ? cwd : ".");
  }
  if (slash == path)
    return xstrdup("/");
  return xstrndup(path, (size_t)(slash - path));
}

/* Parse one document into the set. */
static enum eng_err kset_add(struct kset *s, const char *yaml, size_t len, const char *name,
                             const char *base_dir, struct eng_error *err) {
  json_t *root = yaml_to_json(yaml, len, name, err);
  if (!root)
    return err ? err->code : ENG_CONFIG;
  if (json_is_null(root)) {
    json_decref(root);
    return eng_error_set(err, ENG_CONFIG, "kubeconfig %s is empty", name);
  }
  if (!json_is_object(root)) {
    json_decref(root);
    return eng_error_set(err, ENG_CONFIG,
                         "kubeconfig %s: the top level is not a mapping (expected apiVersion, "
                         "kind, clusters, users, contexts, current-context)",
                         name);
  }
  const char *kind = json_string_value(json_object_get(root, "kind"));
  if (kind && strcmp(kind, "Config") != 0) {
    eng_error_set(err, ENG_CONFIG, "kubeconfig %s has kind \"%s\"; a kubeconfig has kind Config",
                  name, kind);
    json_decref(root);
    return ENG_CONFIG;
  }
  s->files = xrealloc(s->files, (s->n + 1) * sizeof(*s->files));
  s->files[s->n].root = root;
  s->files[s->n].name = xstrdup(name);
  s->files[s->n].base_dir = base_dir ? xstrdup(base_dir) : NULL;
  s->n++;
  return ENG_OK;
}

static enum eng_err finish(struct kset *s, const char *ctx, const char *source,
                           struct kube_config *cfg, struct eng_error *err) {
  kube_config_init(cfg);
  enum eng_err rc = kset_resolve(s, ctx, cfg, err);
  if (rc) {
    kube_config_free(cfg);
    return rc;
  }
  cfg->source = xasprintf("kubeconfig %s", source);
  return ENG_OK;
}

enum eng_err kube_config_parse(const char *yaml, size_t len, const char *name, const char *base_dir,
                               const char *context, struct kube_config *cfg,
                               struct eng_error *err) {
  kube_config_init(cfg);
  struct kset s = {.name = name};
  char *bd = base_dir ? NULL : dir_of("x");
  enum eng_err rc = kset_add(&s, yaml, len, name, base_dir ? base_dir : bd, err);
  free(bd);
  if (!rc)
    rc = finish(&s, context, name, cfg, err);
  kset_free(&s);
  return rc;
}

enum eng_err kube_config_load_file(const char *paths, const char *context, struct kube_config *cfg,
                                   struct eng_error *err) {
  kube_config_init(cfg);
  if (!paths || !*paths)
    return eng_error_set(err, ENG_CONFIG, "no kubeconfig path given");
  bool list = strchr(paths, ':') != NULL;
  struct kset s = {.name = paths};
  char *copy = xstrdup(paths), *save = NULL;
  enum eng_err rc = ENG_OK;
  for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
    if (!*p)
      continue;
    char *data = NULL;
    if (list && access(p, F_OK) != 0)
      continue; /* clientcmd skips missing files of a KUBECONFIG list */
    struct eng_error ferr;
    eng_error_clear(&ferr);
    if (read_small_file(p, &data, &ferr)) {
      rc = eng_error_set(err, ENG_CONFIG, "kubeconfig %s cannot be read: %s", p, ferr.msg);
      break;
    }
    char *dir = dir_of(p);
    rc = kset_add(&s, data, strlen(data), p, dir, err);
    free(dir);
    xfree_secret(data);
    if (rc)
      break;
  }
  free(copy);
  if (!rc && s.n == 0)
    rc = eng_error_set(err, ENG_CONFIG, "none of the kubeconfig files %s exists", paths);
  if (!rc)
    rc = finish(&s, context, paths, cfg, err);
  kset_free(&s);
  return rc;
}

static const char *sa_dir(void) {
  const char *d = getenv(KUBE_SA_DIR_ENV);
  return d && *d ? d : KUBE_SA_DIR_DEFAULT;
}

enum eng_err kube_config_in_cluster(struct kube_config *cfg, struct eng_error *err) {
  kube_config_init(cfg);
  const char *host = getenv("KUBERNETES_SERVICE_HOST");
  const char *port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port)
    return eng_error_set(err, ENG_NOTFOUND,
                         "not running in a cluster: KUBERNETES_SERVICE_HOST and "
                         "KUBERNETES_SERVICE_PORT must both be set");
  const char *dir = sa_dir();
  char *token = xasprintf("%s/token", dir);
  char *ca = xasprintf("%s/ca.crt", dir);
  char *nsf = xasprintf("%s/namespace", dir);
  enum eng_err rc = ENG_OK;
  if (access(token, R_OK) != 0) {
    rc = eng_error_set(err, ENG_CONFIG,
                       "in-cluster configuration: the service account token %s cannot be read: %s; "
                       "check that the pod mounts a service account token",
                       token, strerror(errno));
  } else if (access(ca, R_OK) != 0) {
    rc = eng_error_set(err, ENG_CONFIG,
                       "in-cluster configuration: the CA bundle %s cannot be read: %s", ca,
                       strerror(errno));
  }
  if (rc) {
    free(token);
    free(ca);
    free(nsf);
    return rc;
  }
  if (strchr(host, ':'))
    cfg->server = xasprintf("https://[%s]:%s", host, port);
  else
    cfg->server = xasprintf("https://%s:%s", host, port);
  cfg->token_file = token;
  cfg->ca_path = ca;
  char *ns = NULL;
  if (read_small_file(nsf, &ns, NULL) == ENG_OK && *trim(ns))
    cfg->namespace = xstrdup(trim(ns));
  else
    cfg->namespace = xstrdup("default");
  free(ns);
  free(nsf);
  cfg->context = xstrdup("in-cluster");
  cfg->source = xstrdup("in-cluster configuration");
  return ENG_OK;
}

enum eng_err kube_config_load(const char *explicit_path, const char *context,
                              struct kube_config *cfg, struct eng_error *err) {
  kube_config_init(cfg);
  if (explicit_path && *explicit_path)
    return kube_config_load_file(explicit_path, context, cfg, err);
  const char *env = getenv("KUBECONFIG");
  if (env && *env)
    return kube_config_load_file(env, context, cfg, err);
  enum eng_err rc = kube_config_in_cluster(cfg, err);
  if (rc != ENG_NOTFOUND)
    return rc;
  const char *home = getenv("HOME");
  if (home && *home) {
    char *p = xasprintf("%s/.kube/config", home);
    if (access(p, F_OK) == 0) {
      rc = kube_config_load_file(p, context, cfg, err);
      free(p);
      return rc;
    }
    free(p);
  }
  return eng_error_set(err, ENG_CONFIG,
                       "no Kubernetes configuration found: pass --kubeconfig, set KUBECONFIG, run "
                       "in a pod with a service account, or create ~/.kube/config");
}
