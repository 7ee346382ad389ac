/*
 * replay_explain.c - `replay --explain --object KIND/NS/NAME`: why the object
 * is in its state, in sentences, from what the journal recorded about it: its
 * observed states (a device's states, a Machine's phases, an extension
 * object's lastOperation) with how long each lasted, the decisions about it
 * (engine.action: who and why, at which seq), failed and interrupted attempts,
 * restarts, and the changes of Secrets in its namespace that a decision came
 * after (a new credential the object waited for).
 */
#include "engine/base/common.h"
#include "engine/cmd/replay_explain.h"
#include "engine/base/jsonx.h"
#include "engine/base/timefmt.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *kind_of(const char *gk) {
  const char *s = strrchr(gk ? gk : "", '/');
  return s ? s + 1 : (gk ? gk : "");
}

static void dur(int64_t ms, char *out, size_t n) {
  if (ms < 0)
    ms = 0;
  if (ms < 60000)
    snprintf(out, n, "%.1f s", (double)ms / 1000.0);
  else if (ms < 3600000)
    snprintf(out, n, "%" PRId64 " min %" PRId64 " s", ms / 60000, ms / 1000 % 60);
  else
    snprintf(out, n, "%" PRId64 " h %" PRId64 " min", ms / 3600000, ms / 60000 % 60);
}

struct ex {
  const char *kind, *ns, *name;
  struct track {
    char state[128]; /* current observed state */
    int64_t ms, seq;
  } obj, dev;      /* the object itself, and its device */
  char *subject;   /* "device X" / "Machine ns/x" */
  json_t *secrets; /* pending Secret changes: array of {seq, ms, name} not yet followed */
  bool any;
  int64_t last_ms;
  json_t *open; /* actionId -> intent seq */
};

static bool is_ours(const struct ex *x, const struct journal_row *r, bool *as_device) {
  *as_device = false;
  if (strcmp(r->ns, x->ns) != 0)
    return false;
  if (!strcmp(r->type, "metal.device")) {
    const char *host = jsonx_str(r->payload, "hostname") ?: r->name;
    bool m = !strcmp(host, x->name) || !strcmp(r->uid, x->name);
    *as_device = m;
    return m && (!*x->kind || !strcasecmp(x->kind, "Device") || !strcasecmp(x->kind, "Machine"));
  }
  if (*x->kind && strcasecmp(x->kind, kind_of(r->group_kind)) != 0)
    return false;
  return !strcmp(r->name, x->name);
}

static void say(struct ex *x, const struct journal_row *r, const char *fmt, const char *a,
                const char *b) {
  char t[TIMEFMT_LEN];
  timefmt_rfc3339_ms(r->recorded_ms, t);
  printf("- %s (seq %" PRId64 "): ", t, r->seq);
  printf(fmt, a ? a : "", b ? b : "");
  printf("\n");
  x->any = true;
}

static void new_state(struct ex *x, struct track *tr, const struct journal_row *r, const char *what,
                      const char *state) {
  if (!strcmp(tr->state, state))
    return;
  char *s;
  if (tr->state[0]) {
    char d[64];
    dur(r->recorded_ms - tr->ms, d, sizeof(d));
    s = xasprintf("%s was %s for %s (since seq %" PRId64 "), then became %s", what, tr->state, d,
                  tr->seq, state);
  } else {
    s = xasprintf("%s was first seen %s", what, state);
    if (tr == &x->obj)
      json_array_clear(x->secrets); /* only changes after the object appeared count */
  }
  say(x, r, "%s.", s, NULL);
  free(s);
  snprintf(tr->state, sizeof(tr->state), "%s", state);
  tr->ms = r->recorded_ms;
  tr->seq = r->seq;
}

static void row(struct ex *x, const struct journal_row *r) {
  const json_t *p = r->payload;
  x->last_ms = r->recorded_ms;
  if (!strcmp(r->type, "engine.start")) {
    const char *id;
    json_t *v;
    json_object_foreach(x->open, id, v) {
      char *s = xasprintf(
          "the controller restarted while attempt %s was running (intent seq %" JSON_INTEGER_FORMAT
          "); the new process resumes it",
          id, json_integer_value(v));
      say(x, r, "%s.", s, NULL);
      free(s);
    }
    json_object_clear(x->open);
    return;
  }
  if (!strncmp(r->type, "kube.", 5) && !strcmp(kind_of(r->group_kind), "Secret") &&
      !strcmp(r->ns, x->ns)) {
    json_array_append_new(x->secrets,
                          json_pack("{s:I,s:s}", "seq", (json_int_t)r->seq, "name", r->name));
    return;
  }
  bool dev = false;
  if (!is_ours(x, r, &dev))
    return;
  if (dev) {
    char *what = xasprintf("device %s (%s)", jsonx_str(p, "hostname") ?: r->name,
                           jsonx_str(p, "id") ?: r->uid);
    new_state(x, &x->dev, r, what, jsonx_str(p, "state") ?: "?");
    free(what);
  } else if (!strncmp(r->type, "kube.", 5) && strcmp(r->type, "kube.relisted") != 0) {
    const char *ph = jsonx_str(p, "status.currentStatus.phase");
    const char *lt = jsonx_str(p, "status.lastOperation.type");
    const char *ls = jsonx_str(p, "status.lastOperation.state");
    char st[128];
    if (!strcmp(r->type, "kube.deleted"))
      snprintf(st, sizeof(st), "deleted");
    else if (ph && *ph)
      snprintf(st, sizeof(st), "in phase %s", ph);
    else if (ls)
      snprintf(st, sizeof(st), "%s %s", lt ? lt : "", ls);
    else
      snprintf(st, sizeof(st), "without a lastOperation");
    char *what = xasprintf("%s %s/%s", kind_of(r->group_kind), r->ns, r->name);
    new_state(x, &x->obj, r, what, st);
    free(what);
  } else if (!strcmp(r->type, "engine.action")) {
    json_t *a = json_object_get(p, "action");
    if (!strcmp(jsonx_str(a, "kind") ?: "", "timer"))
      return;
    size_t ns = json_array_size(x->secrets);
    if (ns) {
      json_t *last = json_array_get(x->secrets, ns - 1);
      char *s = xasprintf("the Secret %s/%s changed at seq %" JSON_INTEGER_FORMAT
                          " (its data digests are new) before this decision",
                          x->ns, jsonx_str(last, "name"), jsonx_int(last, "seq", 0));
      say(x, r, "%s.", s, NULL);
      free(s);
      json_array_clear(x->secrets);
    }
    char *by =
        xasprintf("%s decided %s", jsonx_str(a, "controller") ?: "?", jsonx_str(a, "kind") ?: "?");
    say(x, r, "%s: %s.", by, jsonx_str(a, "reason") ?: "");
    free(by);
  } else if (!strcmp(r->type, "executor.intent")) {
    json_object_set_new(x->open, jsonx_str(p, "actionId") ?: "", json_integer(r->seq));
  } else if (!strcmp(r->type, "executor.result")) {
    json_object_del(x->open, jsonx_str(p, "actionId") ?: "");
    if (!jsonx_bool(p, "ok", false)) {
      json_t *codes = jsonx_path(p, "error.gardenerCodes");
      const char *code = json_string_value(json_array_get(codes, 0));
      char *s = xasprintf("attempt %" JSON_INTEGER_FORMAT " of %s failed%s%s%s",
                          jsonx_int(p, "attempt", 0), jsonx_str(p, "kind") ?: "",
                          code ? " with " : "", code ? code : "", "");
      say(x, r, "%s: %s.", s, jsonx_str(p, "error.message") ?: "");
      free(s);
    }
  }
}

int replay_explain(struct journal *j, const char *kind, const char *ns, const char *name) {
  struct ex x = {.kind = kind ? kind : "", .ns = ns, .name = name};
  x.secrets = json_array();
  x.open = json_object();
  struct journal_filter f = {0};
  struct journal_iter *it = NULL;
  struct eng_error err;
  eng_error_clear(&err);
  printf("Why %s%s%s/%s is where it is:\n", x.kind, *x.kind ? " " : "", ns, name);
  int rc = 0;
  if (journal_iter_open(j, &f, &it, &err) != ENG_OK) {
    fprintf(stderr, "%s\n", err.msg);
    rc = 1;
  }
  const struct journal_row *r;
  int got = 0;
  while (it && (got = journal_iter_next(it, &r, &err)) == 1)
    row(&x, r);
  if (it && got < 0) {
    fprintf(stderr, "%s\n", err.msg);
    rc = 1;
  }
  journal_iter_free(it);
  if (!x.any)
    printf("- nothing in the journal is about this object (check the kind, namespace and name).\n");
  struct track *now[] = {&x.obj, &x.dev};
  for (size_t i = 0; i < 2; i++) {
    if (!now[i]->state[0])
      continue;
    char d[64];
    dur(x.last_ms - now[i]->ms, d, sizeof(d));
    printf("Now%s: %s, for %s at the end of the journal (since seq %" PRId64 ").\n",
           i ? " (its device)" : "", now[i]->state, d, now[i]->seq);
  }
  json_decref(x.secrets);
  json_decref(x.open);
  return rc;
}
