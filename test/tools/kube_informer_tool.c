/*
 * kube_informer_tool.c - runs one informer against an API server, for integration tests.
 *
 *   kube_informer_tool --kubeconfig PATH --plural configmaps [--group G] [--version V]
 *                      [--kind K] [--cluster-scoped] [--namespace NS] [--page-size N]
 *                      [--watch-timeout S] [--second-plural P --second-kind K
 *                      [--second-group G] [--second-cluster-scoped]] [--metadata-only]
 *
 * With --second-plural a second informer (all namespaces) runs on the same client and loop;
 * "second" in the dump is its cache (uid -> rv).
 *
 * Commands on stdin, one per line:
 *   dump   print one JSON line: {"synced","last_rv","count","cache":{uid:rv},
 *          "journal":{uid:rv},"journal_events","relisted","stats":{...}}
 *          "cache" is the informer's cache; "journal" is rebuilt from the jevents the
 *          informer emitted (added/modified set uid->rv, deleted removes), so the test checks
 *          both against the server. "shape" lists the top-level and metadata keys found in
 *          the cached objects ("metadata.<key>").
 *   quit   stop, free everything and exit 0 (LeakSanitizer checks the shutdown).
 */
#include "engine/base/common.h"
#include "engine/base/cli.h"
#include "engine/base/jsonx.h"
#include "engine/kube/informer.h"
#include "engine/kube/kubeconfig.h"
#include "engine/base/log.h"
#include "engine/base/xalloc.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tool {
  struct kube_informer *inf;
  struct kube_informer *second;
  json_t *journal; /* uid -> rv from jevents */
  uint64_t journal_events, relisted;
  uint64_t adds, updates, deletes, synced_calls;
  char line[4096];
  size_t line_len;
  struct ev_loop *loop;
  bool quit;
};

static void sink(void *ud, const struct jevent *ev) {
  struct tool *t = ud;
  t->journal_events++;
  if (strcmp(ev->source, JEV_SOURCE_KUBE) != 0)
    return;
  if (!strcmp(ev->type, "kube.added") || !strcmp(ev->type, "kube.modified"))
    json_object_set_new(t->journal, ev->uid, json_string(ev->resource_version));
  else if (!strcmp(ev->type, "kube.deleted"))
    json_object_del(t->journal, ev->uid);
  else if (!strcmp(ev->type, "kube.relisted"))
    t->relisted++;
}

static void on_add(void *ud, const json_t *obj) {
  (void)obj;
  ((struct tool *)ud)->adds++;
}
static void on_update(void *ud, const json_t *o, const json_t *n) {
  (void)o;
  (void)n;
  ((struct tool *)ud)->updates++;
}
static void on_delete(void *ud, const json_t *obj) {
  (void)obj;
  ((struct tool *)ud)->deletes++;
}
static void on_synced(void *ud) { ((struct tool *)ud)->synced_calls++; }

static bool add_to_map(void *ud, const json_t *obj) {
  json_t *m = ud;
  const char *uid = jsonx_str(obj, "metadata.uid");
  const char *rv = jsonx_str(obj, "metadata.resourceVersion");
  json_object_set_new(m, uid ? uid : "", json_string(rv ? rv : ""));
  return true;
}

static bool add_shape(void *ud, const json_t *obj) {
  json_t *shape = ud;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)obj, k, v) json_object_set_new(shape, k, json_true());
  json_object_foreach(json_object_get(obj, "metadata"), k, v) {
    char key[128];
    snprintf(key, sizeof(key), "metadata.%s", k);
    json_object_set_new(shape, key, json_true());
  }
  return true;
}

static void dump(struct tool *t) {
  json_t *cache = json_object(), *shape = json_object();
  kube_informer_foreach(t->inf, add_to_map, cache);
  kube_informer_foreach(t->inf, add_shape, shape);
  struct kube_informer_stats st;
  kube_informer_get_stats(t->inf, &st);
  json_t *out = json_pack(
      "{s:b, s:s, s:I, s:o, s:O, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, "
      "s:I, s:I}}",
      "synced", kube_informer_has_synced(t->inf), "last_rv", kube_informer_last_rv(t->inf), "count",
      (json_int_t)kube_informer_len(t->inf), "cache", cache, "journal", t->journal,
      "journal_events", (json_int_t)t->journal_events, "relisted", (json_int_t)t->relisted, "stats",
      "lists", (json_int_t)st.lists, "list_errors", (json_int_t)st.list_errors, "watches",
      (json_int_t)st.watches, "watch_errors", (json_int_t)st.watch_errors, "expired",
      (json_int_t)st.expired, "events", (json_int_t)st.events, "bookmarks",
      (json_int_t)st.bookmarks, "handlers", "add", (json_int_t)t->adds, "update",
      (json_int_t)t->updates, "delete", (json_int_t)t->deletes, "synced",
      (json_int_t)t->synced_calls);
  json_object_set_new(out, "shape", shape);
  if (t->second) {
    json_t *m = json_object();
    kube_informer_foreach(t->second, add_to_map, m);
    json_object_set_new(out, "second", m);
    json_object_set_new(out, "second_synced", json_boolean(kube_informer_has_synced(t->second)));
  }
  char *s = json_dumps(out, JSON_COMPACT);
  printf("%s\n", s);
  fflush(stdout);
  free(s);
  json_decref(out);
}

static void stdin_cb(struct ev_loop *loop, ev_io *w, int revents) {
  (void)revents;
  struct tool *t = w->data;
  char buf[1024];
  ssize_t n = read(w->fd, buf, sizeof(buf));
  if (n <= 0) {
    t->quit = true;
    ev_break(loop, EVBREAK_ALL);
    return;
  }
  for (ssize_t i = 0; i < n; i++) {
    if (buf[i] != '\n') {
      if (t->line_len < sizeof(t->line) - 1)
        t->line[t->line_len++] = buf[i];
      continue;
    }
    t->line[t->line_len] = '\0';
    t->line_len = 0;
    if (!strcmp(t->line, "dump")) {
      dump(t);
    } else if (!strcmp(t->line, "quit")) {
      t->quit = true;
      ev_break(loop, EVBREAK_ALL);
      return;
    } else if (t->line[0]) {
      fprintf(stderr, "kube_informer_tool: unknown command \"%s\"\n", t->line);
    }
  }
}

int main(int argc, char **argv) {
  xalloc_init();
  log_setup(LOG_WARN, LOG_FORMAT_TEXT, 2);
  const char *kubeconfig = NULL, *group = "", *version = "v1", *plural = NULL, *kind = "Object",
             *ns = NULL;
  bool cluster_scoped = false, second_cluster_scoped = false, metadata_only = false;
  const char *second_plural = NULL, *second_kind = "Object", *second_group = "";
  long page_size = 0, watch_timeout = 0, backoff_max = 0;
  const struct cli_opt opts[] = {
      {"kubeconfig", CLI_STRING, &kubeconfig, "PATH", "kubeconfig file", NULL},
      {"group", CLI_STRING, &group, "GROUP", "API group (\"\" = core)", NULL},
      {"version", CLI_STRING, &version, "VERSION", "API version", NULL},
      {"plural", CLI_STRING, &plural, "PLURAL", "resource plural", NULL},
      {"kind", CLI_STRING, &kind, "KIND", "kind", NULL},
      {"cluster-scoped", CLI_BOOL, &cluster_scoped, NULL, "the resource is cluster-scoped", NULL},
      {"namespace", CLI_STRING, &ns, "NS", "watch one namespace", NULL},
      {"page-size", CLI_INT, &page_size, "N", "list page size", NULL},
      {"watch-timeout", CLI_INT, &watch_timeout, "S", "watch timeoutSeconds", NULL},
      {"backoff-max-ms", CLI_INT, &backoff_max, "MS", "cap of the retry backoff", NULL},
      {"second-plural", CLI_STRING, &second_plural, "PLURAL", "a second informer's resource", NULL},
      {"second-kind", CLI_STRING, &second_kind, "KIND", "its kind", NULL},
      {"second-group", CLI_STRING, &second_group, "GROUP", "its group", NULL},
      {"second-cluster-scoped", CLI_BOOL, &second_cluster_scoped, NULL, "it is cluster-scoped",
       NULL},
      {"metadata-only", CLI_BOOL, &metadata_only, NULL, "cache only each object's identity", NULL},
      {0}};
  const struct cli_spec spec = {
      "kube_informer_tool", "[options]", "Run one informer; commands on stdin.", opts, 0, 0};
  int npos;
  char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
  int rc = cli_parse(&spec, argc - 1, argv + 1, &npos, pos);
  free(pos);
  if (rc == CLI_HELP)
    return 0;
  if (rc != CLI_OK)
    return 2;
  if (!plural)
    return cli_usage_error(&spec, "--plural is required");
  struct kube_config cfg;
  struct eng_error err;
  if (kube_config_load(kubeconfig, NULL, &cfg, &err) != ENG_OK) {
    fprintf(stderr, "kube_informer_tool: %s\n", err.msg);
    return 1;
  }
  struct kube_resource res = {group, version, plural, kind, !cluster_scoped};
  struct tool t;
  memset(&t, 0, sizeof(t));
  t.loop = ev_loop_new(EVFLAG_AUTO);
  t.journal = json_object();
  struct kube_client *c = kube_client_new(t.loop, &cfg, "kube-informer-tool/1");
  kube_config_free(&cfg);
  struct kube_informer_opts o = {
      .res = &res,
      .ns = ns,
      .page_size = page_size,
      .watch_timeout_s = watch_timeout,
      .backoff_initial_ms = backoff_max > 0 && backoff_max < 800 ? backoff_max : 0,
      .backoff_max_ms = backoff_max,
      .handlers = {on_add, on_update, on_delete, on_synced},
      .ud = &t,
      .sink = {sink, &t},
      .cache_metadata_only = metadata_only,
  };
  t.inf = kube_informer_new(c, &o);
  kube_informer_start(t.inf);
  struct kube_resource res2 = {second_group, "v1", second_plural ? second_plural : "", second_kind,
                               !second_cluster_scoped};
  if (second_plural) {
    struct kube_informer_opts o2 = {.res = &res2};
    t.second = kube_informer_new(c, &o2);
    kube_informer_start(t.second);
  }
  ev_io in;
  ev_io_init(&in, stdin_cb, 0, EV_READ);
  in.data = &t;
  ev_io_start(t.loop, &in);
  while (!t.quit)
    ev_run(t.loop, 0);
  ev_io_stop(t.loop, &in);
  kube_informer_free(t.inf);
  kube_informer_free(t.second);
  kube_client_free(c);
  json_decref(t.journal);
  ev_loop_destroy(t.loop);
  log_forget_all_secrets();
  return 0;
}
