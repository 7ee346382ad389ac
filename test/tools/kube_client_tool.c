/*
 * kube_client_tool.c - single client operations for integration tests (synchronous API).
 *
 *   kube_client_tool COMMAND --kubeconfig PATH [options]
 *
 *   get      --plural P [--group G --version V] [--namespace NS] --name N
 *            prints {"err","status","message","retryAfterMs","object"}; --max-retries N
 *            bounds the client's retries of 429/5xx (0: the first answer is the result)
 *   list     --plural P ... [--namespace NS] [--page-size N]   prints {"err","count","rv"}
 *   conflict-update --namespace NS --name N
 *            ConfigMap N: read it, change it behind our back (a merge patch setting
 *            data.other), then kube_update_retry() from the stale copy setting
 *            data.counter = counter + 1. Prints {"err","attempts","object"}.
 *   event    --namespace NS --name N --reason R --message M [--times K]
 *            records the same event about ConfigMap N K times, waits until written.
 *            --secret S registers S as a secret first (the message must not show it).
 *            --expire-after J: after the first J are written, delete the Events of N
 *            (as the API server does when they expire), then record the rest.
 *   write    --namespace NS --name N    create, update, patch (merge, json, status-less),
 *            delete with preconditions on a ConfigMap; prints each step's result.
 *   status   --namespace NS --name N    an Infrastructure: create it, merge-patch its /status,
 *            PUT its /status from the object read back; prints each step's result.
 *   heartbeat --namespace NS --name EXTENSION [--times K]
 *            runs the Gardener heartbeat with a 1 s interval until it renewed K times.
 *   burst    --namespace NS --name N --times K [--max-inflight M] [--cancel C]
 *            K GETs of ConfigMap N at once with at most M on the wire (default: the
 *            client's own; 0 = no bound); the first C are canceled right away. Prints
 *            {"ok","failed","canceled","most_on_wire","slot_waits"}.
 * Exit status 0 when every call succeeded (get may be told --expect-error=CODE).
 */
#include "engine/base/common.h"
#include "engine/base/cli.h"
#include "engine/base/jsonx.h"
#include "engine/kube/client.h"
#include "test/lib/kube_sync.h"
#include "engine/kube/events.h"
#include "engine/kube/kubeconfig.h"
#include "engine/kube/lease.h"
#include "engine/base/log.h"
#include "engine/base/xalloc.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kubeconfig, *group = "", *version = "v1", *plural = "configmaps",
                               *kind = "ConfigMap", *ns, *name, *reason = "Reconciled",
                               *message = "reconciled", *expect_error, *secret;
static long page_size, times = 1, max_retries = -1, max_inflight = -1, cancel_count,
                       expire_after = -1;

static void print_result(const char *step, enum eng_err rc, const struct eng_error *err,
                         json_t *obj) {
  json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:I}", "step", step, "err", eng_err_name(rc),
                        "status", err->http_status, "message", err->msg, "retryAfterMs",
                        (json_int_t)(rc == ENG_OK ? -1 : err->retry_after_ms));
  if (obj)
    json_object_set(o, "object", obj);
  char *s = json_dumps(o, JSON_COMPACT);
  printf("%s\n", s);
  fflush(stdout);
  free(s);
  json_decref(o);
}

static int cmd_get(struct kube_client *c, const struct kube_resource *r) {
  json_t *obj = NULL;
  struct eng_error err;
  enum eng_err rc = kube_get_sync(c, r, ns, name, &obj, &err);
  print_result("get", rc, &err, obj);
  json_decref(obj);
  if (expect_error)
    return strcmp(eng_err_name(rc), expect_error) == 0 ? 0 : 1;
  return rc == ENG_OK ? 0 : 1;
}

static int cmd_list(struct kube_client *c, const struct kube_resource *r) {
  json_t *list = NULL;
  struct eng_error err;
  struct kube_list_opts o = {.limit = page_size};
  enum eng_err rc = kube_list_sync(c, r, ns, &o, &list, &err);
  json_t *out = json_pack("{s:s, s:I, s:s, s:s}", "err", eng_err_name(rc), "count",
                          (json_int_t)json_array_size(json_object_get(list, "items")), "rv",
                          jsonx_str(list, "metadata.resourceVersion")
                              ? jsonx_str(list, "metadata.resourceVersion")
                              : "",
                          "message", err.msg);
  char *s = json_dumps(out, JSON_COMPACT);
  printf("%s\n", s);
  free(s);
  json_decref(out);
  json_decref(list);
  return rc == ENG_OK ? 0 : 1;
}

struct mutation {
  int calls;
};

static enum kube_mutate bump_counter(void *ud, json_t *obj, struct eng_error *err) {
  (void)err;
  struct mutation *m = ud;
  m->calls++;
  json_t *data = json_object_get(obj, "data");
  if (!json_is_object(data)) {
    data = json_object();
    json_object_set_new(obj, "data", data);
  }
  const char *cur = json_string_value(json_object_get(data, "counter"));
  long n = cur ? strtol(cur, NULL, 10) : 0;
  char buf[32];
  snprintf(buf, sizeof(buf), "%ld", n + 1);
  json_object_set_new(data, "counter", json_string(buf));
  return KUBE_MUTATE_WRITE;
}

static int cmd_conflict_update(struct kube_client *c, const struct kube_resource *r) {
  json_t *stale = NULL;
  struct eng_error err;
  enum eng_err rc = kube_get_sync(c, r, ns, name, &stale, &err);
  if (rc) {
    print_result("get", rc, &err, NULL);
    return 1;
  }
  /* Someone else changes the object: our copy is now stale. */
  json_t *patch = json_pack("{s:{s:s}}", "data", "other", "changed-meanwhile");
  json_t *after = NULL;
  rc = kube_patch_sync(c, r, ns, name, KUBE_PATCH_MERGE, patch, &after, &err);
  json_decref(patch);
  json_decref(after);
  if (rc) {
    print_result("patch", rc, &err, NULL);
    json_decref(stale);
    return 1;
  }
  struct mutation m = {0};
  json_t *out = NULL;
  rc = kube_update_retry_sync(c, r, ns, name, stale, false, bump_counter, &m, 0, &out, &err);
  json_t *o = json_pack("{s:s, s:i, s:s}", "err", eng_err_name(rc), "mutations", m.calls, "message",
                        err.msg);
  if (out)
    json_object_set(o, "object", out);
  char *s = json_dumps(o, JSON_COMPACT);
  printf("%s\n", s);
  free(s);
  json_decref(o);
  json_decref(out);
  json_decref(stale);
  return rc == ENG_OK ? 0 : 1;
}

static int cmd_event(struct kube_client *c, const struct kube_resource *r) {
  json_t *obj = NULL;
  struct eng_error err;
  enum eng_err rc = kube_get_sync(c, r, ns, name, &obj, &err);
  if (rc) {
    print_result("get", rc, &err, NULL);
    return 1;
  }
  if (secret)
    log_register_secret(secret);
  struct kube_recorder *rec = kube_recorder_new(c, "kube-client-tool", "test-host");
  for (long i = 0; i < times; i++) {
    if (i == expire_after) {
      while (kube_recorder_pending(rec) > 0)
        ev_run(kube_client_loop(c), EVRUN_ONCE);
      json_t *list = NULL;
      struct kube_list_opts lo = {0};
      if (kube_list_sync(c, &kube_res_event, ns, &lo, &list, &err) == ENG_OK) {
        size_t k;
        json_t *ev;
        json_array_foreach(json_object_get(list, "items"), k, ev) {
          const char *inv = jsonx_str(ev, "involvedObject.name");
          if (inv && strcmp(inv, name) == 0 &&
              kube_delete_sync(c, &kube_res_event, ns, jsonx_str(ev, "metadata.name"), NULL, NULL,
                               &err) != ENG_OK)
            print_result("delete", ENG_IO, &err, NULL);
        }
      }
      json_decref(list);
    }
    kube_recorder_event(rec, obj, KUBE_EVENT_NORMAL, reason, "%s", message);
    /* Let the write start, like events recorded at different moments of a reconcile. */
    for (int k = 0; k < 3; k++)
      ev_run(kube_client_loop(c), EVRUN_NOWAIT);
  }
  while (kube_recorder_pending(rec) > 0)
    ev_run(kube_client_loop(c), EVRUN_ONCE);
  kube_recorder_free(rec);
  json_decref(obj);
  printf("{\"err\":\"ENG_OK\"}\n");
  return 0;
}

static int cmd_heartbeat(struct kube_client *c) {
  struct kube_heartbeat *h = kube_heartbeat_new(c, ns, name, 1);
  kube_heartbeat_start(h);
  while (kube_heartbeat_renewals(h) < (uint64_t)times)
    ev_run(kube_client_loop(c), EVRUN_ONCE);
  printf("{\"err\":\"ENG_OK\",\"renewals\":%" PRIu64 "}\n", kube_heartbeat_renewals(h));
  kube_heartbeat_free(h);
  return 0;
}

static int step(const char *what, enum eng_err rc, struct eng_error *err, json_t *obj,
                enum eng_err want) {
  print_result(what, rc, err, obj);
  json_decref(obj);
  return rc == want ? 0 : 1;
}

static int cmd_status(struct kube_client *c) {
  const struct kube_resource *r = &kube_res_gardener_infrastructure;
  struct eng_error err;
  enum eng_err rc;
  int bad = 0;
  json_t *infra = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:{s:s, s:s}}}", "apiVersion",
                            "extensions.gardener.cloud/v1alpha1", "kind", "Infrastructure",
                            "metadata", "name", name, "namespace", ns, "spec", "type", "test",
                            "region", "ny", "secretRef", "name", "cloudprovider", "namespace", ns);
  json_t *obj = NULL;
  rc = kube_create_sync(c, r, ns, infra, &obj, &err);
  bad |= step("create", rc, &err, json_incref(obj), ENG_OK);
  json_t *sp =
      json_pack("{s:{s:I, s:{s:s, s:s, s:i, s:s, s:s}}}", "status", "observedGeneration",
                (json_int_t)1, "lastOperation", "type", "Create", "state", "Processing", "progress",
                1, "description", "starting", "lastUpdateTime", "2026-11-23T10:00:00Z");
  json_t *after = NULL;
  rc = kube_patch_sync(c, r, ns, name, KUBE_PATCH_STATUS_MERGE, sp, &after, &err);
  bad |= step("status-merge-patch", rc, &err, json_incref(after), ENG_OK);
  json_t *upd = json_deep_copy(after ? after : obj);
  json_t *lo = json_object_get(json_object_get(upd, "status"), "lastOperation");
  if (lo) {
    json_object_set_new(lo, "state", json_string("Succeeded"));
    json_object_set_new(lo, "progress", json_integer(100));
  }
  rc = kube_update_status_sync(c, r, ns, name, upd, NULL, &err);
  bad |= step("status-update", rc, &err, NULL, ENG_OK);
  json_t *fin = NULL;
  rc = kube_get_sync(c, r, ns, name, &fin, &err);
  bad |= step("get", rc, &err, json_incref(fin), ENG_OK);
  json_decref(fin);
  json_decref(upd);
  json_decref(after);
  json_decref(sp);
  json_decref(obj);
  json_decref(infra);
  return bad;
}

static int cmd_write(struct kube_client *c, const struct kube_resource *r) {
  struct eng_error err;
  enum eng_err rc;
  json_t *obj = NULL;
  int bad = 0;
  json_t *cm = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind",
                         "ConfigMap", "metadata", "name", name, "namespace", ns, "data", "a", "1");
  rc = kube_create_sync(c, r, ns, cm, &obj, &err);
  bad |= step("create", rc, &err, json_incref(obj), ENG_OK);
  rc = kube_create_sync(c, r, ns, cm, NULL, &err);
  bad |= step("create-again", rc, &err, NULL, ENG_EXISTS);
  /* Update with the resourceVersion just read, then again with the stale one. */
  json_t *upd = json_deep_copy(obj);
  json_object_set_new(json_object_get(upd, "data"), "a", json_string("2"));
  json_t *upd2 = NULL;
  rc = kube_update_sync(c, r, ns, name, upd, &upd2, &err);
  bad |= step("update", rc, &err, json_incref(upd2), ENG_OK);
  rc = kube_update_sync(c, r, ns, name, upd, NULL, &err);
  bad |= step("update-stale", rc, &err, NULL, ENG_CONFLICT);
  json_t *mp = json_pack("{s:{s:s}}", "data", "b", "merged");
  rc = kube_patch_sync(c, r, ns, name, KUBE_PATCH_MERGE, mp, NULL, &err);
  bad |= step("merge-patch", rc, &err, NULL, ENG_OK);
  json_t *jp = json_pack("[{s:s, s:s, s:s}]", "op", "add", "path", "/data/c", "value", "json");
  json_t *patched = NULL;
  rc = kube_patch_sync(c, r, ns, name, KUBE_PATCH_JSON, jp, &patched, &err);
  bad |= step("json-patch", rc, &err, json_incref(patched), ENG_OK);
  json_t *jbad = json_pack("[{s:s, s:s, s:s}]", "op", "test", "path", "/data/c", "value", "nope");
  rc = kube_patch_sync(c, r, ns, name, KUBE_PATCH_JSON, jbad, NULL, &err);
  bad |= step("json-patch-test-fails", rc, &err, NULL, ENG_INVALID);
  struct kube_delete_opts pre = {.uid = "00000000-0000-0000-0000-000000000000"};
  rc = kube_delete_sync(c, r, ns, name, &pre, NULL, &err);
  bad |= step("delete-wrong-uid", rc, &err, NULL, ENG_CONFLICT);
  struct kube_delete_opts good = {.uid = jsonx_str(patched, "metadata.uid"),
                                  .resource_version =
                                      jsonx_str(patched, "metadata.resourceVersion"),
                                  .propagation = "Background"};
  rc = kube_delete_sync(c, r, ns, name, &good, NULL, &err);
  bad |= step("delete", rc, &err, NULL, ENG_OK);
  rc = kube_get_sync(c, r, ns, name, NULL, &err);
  bad |= step("get-deleted", rc, &err, NULL, ENG_NOTFOUND);
  json_decref(cm);
  json_decref(obj);
  json_decref(upd);
  json_decref(upd2);
  json_decref(mp);
  json_decref(jp);
  json_decref(jbad);
  json_decref(patched);
  return bad;
}

struct burst {
  struct kube_client *c;
  long pending, ok, failed;
  size_t most_on_wire;
};

static void burst_done(void *ud, const struct kube_result *res) {
  struct burst *b = ud;
  b->pending--;
  if (res->err == ENG_OK)
    b->ok++;
  else
    b->failed++;
  if (b->pending == 0)
    ev_break(kube_client_loop(b->c), EVBREAK_ALL);
}

static void burst_watch(struct ev_loop *loop, ev_prepare *w, int revents) {
  (void)loop;
  (void)revents;
  struct burst *b = w->data;
  size_t n = kube_client_requests_on_wire(b->c);
  if (n > b->most_on_wire)
    b->most_on_wire = n;
}

static int cmd_burst(struct kube_client *c, const struct kube_resource *r) {
  if (max_inflight >= 0)
    kube_client_set_max_inflight(c, (size_t)max_inflight);
  struct burst b = {.c = c};
  struct kube_call **calls = xcalloc((size_t)(times > 0 ? times : 1), sizeof(*calls));
  for (long i = 0; i < times; i++) {
    calls[i] = kube_get(c, r, ns, name, burst_done, &b);
    b.pending++;
    size_t n = kube_client_requests_on_wire(c);
    if (n > b.most_on_wire)
      b.most_on_wire = n;
  }
  long canceled = 0;
  for (long i = 0; i < cancel_count && i < times; i++) {
    kube_cancel(c, calls[i]);
    b.pending--;
    canceled++;
  }
  ev_prepare prep;
  ev_prepare_init(&prep, burst_watch);
  prep.data = &b;
  ev_prepare_start(kube_client_loop(c), &prep);
  if (b.pending > 0)
    ev_run(kube_client_loop(c), 0);
  ev_prepare_stop(kube_client_loop(c), &prep);
  free(calls);
  printf("{\"ok\":%ld,\"failed\":%ld,\"canceled\":%ld,\"most_on_wire\":%zu,\"slot_waits\":%llu}\n",
         b.ok, b.failed, canceled, b.most_on_wire, (unsigned long long)kube_client_slot_waits(c));
  return b.failed == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  xalloc_init();
  log_setup(LOG_WARN, LOG_FORMAT_TEXT, 2);
  if (argc < 2) {
    fprintf(stderr,
            "usage: kube_client_tool get|list|conflict-update|event|write|status|heartbeat|burst "
            "[options]\n");
    return 2;
  }
  const char *cmd = argv[1];
  const struct cli_opt opts[] = {
      {"kubeconfig", CLI_STRING, &kubeconfig, "PATH", "kubeconfig file", NULL},
      {"group", CLI_STRING, &group, "GROUP", "API group", NULL},
      {"version", CLI_STRING, &version, "VERSION", "API version", NULL},
      {"plural", CLI_STRING, &plural, "PLURAL", "resource plural", NULL},
      {"kind", CLI_STRING, &kind, "KIND", "kind", NULL},
      {"namespace", CLI_STRING, &ns, "NS", "namespace", NULL},
      {"name", CLI_STRING, &name, "NAME", "object name", NULL},
      {"page-size", CLI_INT, &page_size, "N", "list page size", NULL},
      {"reason", CLI_STRING, &reason, "R", "event reason", NULL},
      {"message", CLI_STRING, &message, "M", "event message", NULL},
      {"times", CLI_INT, &times, "K", "how often to record the event", NULL},
      {"expect-error", CLI_STRING, &expect_error, "ENG_X", "get: the error expected", NULL},
      {"secret", CLI_STRING, &secret, "S", "event: register S as a secret", NULL},
      {"max-retries", CLI_INT, &max_retries, "N",
       "retries of 429/5xx answers (default: the client's own)", NULL},
      {"max-inflight", CLI_INT, &max_inflight, "M",
       "burst: requests on the wire at once (default: the client's own; 0 = no bound)", NULL},
      {"cancel", CLI_INT, &cancel_count, "C", "burst: cancel the first C calls at once", NULL},
      {"expire-after", CLI_INT, &expire_after, "J",
       "event: delete the object's Events after J were written", NULL},
      {0}};
  const struct cli_spec spec = {"kube_client_tool", "COMMAND [options]", NULL, opts, 0, 0};
  int npos;
  char **pos = xcalloc((size_t)argc + 1, sizeof(char *));
  int rc = cli_parse(&spec, argc - 2, argv + 2, &npos, pos);
  free(pos);
  if (rc == CLI_HELP)
    return 0;
  if (rc != CLI_OK)
    return 2;
  struct kube_config cfg;
  struct eng_error err;
  if (kube_config_load(kubeconfig, NULL, &cfg, &err) != ENG_OK) {
    fprintf(stderr, "kube_client_tool: %s\n", err.msg);
    return 1;
  }
  struct kube_client *c = kube_client_new(NULL, &cfg, "kube-client-tool/1");
  kube_config_free(&cfg);
  if (max_retries >= 0)
    kube_client_set_max_retries(c, (int)max_retries);
  struct kube_resource r = {group, version, plural, kind, true};
  int status;
  if (!strcmp(cmd, "get"))
    status = cmd_get(c, &r);
  else if (!strcmp(cmd, "list"))
    status = cmd_list(c, &r);
  else if (!strcmp(cmd, "conflict-update"))
    status = cmd_conflict_update(c, &r);
  else if (!strcmp(cmd, "event"))
    status = cmd_event(c, &r);
  else if (!strcmp(cmd, "write"))
    status = cmd_write(c, &r);
  else if (!strcmp(cmd, "status"))
    status = cmd_status(c);
  else if (!strcmp(cmd, "heartbeat"))
    status = cmd_heartbeat(c);
  else if (!strcmp(cmd, "burst"))
    status = cmd_burst(c, &r);
  else {
    fprintf(stderr, "kube_client_tool: unknown command %s\n", cmd);
    status = 2;
  }
  kube_client_free(c);
  log_forget_all_secrets();
  return status;
}
