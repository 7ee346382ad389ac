/*
 * cmd_replay.c - `replay JOURNAL`: the timeline of a journal as the reducers saw
 * it, with every action they decided and why, optionally for one object, and
 * the determinism check (--check).
 */
#include "engine/base/common.h"
#include "engine/cmd/cmd_replay.h"
#include "engine/base/cli.h"
#include "engine/cmd/cmd_journal.h"
#include "engine/journal/journal.h"
#include "engine/base/jsonx.h"
#include "engine/base/progress.h"
#include "engine/cmd/replay.h"
#include "engine/cmd/replay_explain.h"
#include "engine/base/timefmt.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD PROG_NAME " replay"

struct filter {
  char *kind; /* "" = any */
  char *ns;
  char *name;
};

struct show {
  struct filter f;
  bool json;
  int64_t shown;
};

/* Parse KIND/NS/NAME, NS/NAME or KIND/NAME (cluster-scoped is not needed here). */
static bool parse_object(const char *s, struct filter *f) {
  const char *a = strchr(s, '/');
  if (!a)
    return false;
  const char *b = strchr(a + 1, '/');
  if (b) {
    f->kind = xstrndup(s, (size_t)(a - s));
    f->ns = xstrndup(a + 1, (size_t)(b - a - 1));
    f->name = xstrdup(b + 1);
  } else {
    f->kind = xstrdup("");
    f->ns = xstrndup(s, (size_t)(a - s));
    f->name = xstrdup(a + 1);
  }
  return *f->ns && *f->name && !strchr(f->name, '/');
}

static const char *kind_of(const char *group_kind) {
  const char *s = strrchr(group_kind ? group_kind : "", '/');
  return s ? s + 1 : (group_kind ? group_kind : "");
}

static bool matches(const struct filter *f, const char *group_kind, const char *ns,
                    const char *name) {
  if (!f->name)
    return true;
  if (*f->kind && strcasecmp(f->kind, kind_of(group_kind)) != 0)
    return false;
  /* The Cluster of the object's namespace is context worth seeing. */
  if (!strcmp(kind_of(group_kind), "Cluster") && name && !strcmp(name, f->ns))
    return true;
  return ns && name && !strcmp(ns, f->ns) && !strcmp(name, f->name);
}

/* One line of context for an event. Caller frees. */
static char *summary(const struct journal_row *r) {
  const json_t *p = r->payload;
  if (!strncmp(r->type, "kube.", 5) && strcmp(r->type, "kube.relisted") != 0) {
    const char *op;
    json_t *ann = jsonx_path(p, "metadata.annotations");
    json_t *opv = json_object_get(ann, "gardener.cloud/operation");
    op = json_is_string(opv) ? json_string_value(opv) : NULL;
    const char *del = jsonx_str(p, "metadata.deletionTimestamp");
    const char *lo = jsonx_str(p, "status.lastOperation.state");
    const char *lt = jsonx_str(p, "status.lastOperation.type");
    return xasprintf("generation=%" JSON_INTEGER_FORMAT "%s%s%s%s%s%s%s",
                     jsonx_int(p, "metadata.generation", 0), op ? " operation=" : "", op ? op : "",
                     del ? " deleting" : "", lo ? " lastOperation=" : "", lt ? lt : "",
                     lo ? "/" : "", lo ? lo : "");
  }
  if (!strcmp(r->type, "executor.result")) {
    if (jsonx_bool(p, "ok", false))
      return xasprintf("%s ok (%" JSON_INTEGER_FORMAT " ms)%s", jsonx_str(p, "actionId") ?: "",
                       jsonx_int(p, "durationMs", 0),
                       jsonx_bool(p, "resolving", false) ? " [resolved after restart]" : "");
    json_t *codes = jsonx_path(p, "error.gardenerCodes");
    char *cs = codes && json_array_size(codes) ? jsonx_canonical(codes) : NULL;
    char *s = xasprintf("%s FAILED %s: %s%s%s", jsonx_str(p, "actionId") ?: "",
                        jsonx_str(p, "error.code") ?: "", jsonx_str(p, "error.message") ?: "",
                        cs ? " codes=" : "", cs ? cs : "");
    free(cs);
    return s;
  }
  if (!strcmp(r->type, "executor.intent"))
    return xasprintf("%s attempt %" JSON_INTEGER_FORMAT " epoch %" JSON_INTEGER_FORMAT "%s",
                     jsonx_str(p, "actionId") ?: "", jsonx_int(p, "attempt", 0),
                     jsonx_int(p, "epoch", 0),
                     jsonx_bool(p, "resolving", false) ? " (resolving an earlier attempt)" : "");
  if (!strcmp(r->type, "clock.timer"))
    return xasprintf("%s fired", jsonx_str(p, "actionId") ?: "");
  if (!strcmp(r->type, "engine.start"))
    return xasprintf("process started%s%s", jsonx_str(p, "version") ? ", version " : "",
                     jsonx_str(p, "version") ?: "");
  if (!strcmp(r->type, "engine.stop"))
    return xasprintf("process stopped: %s", jsonx_str(p, "reason") ?: "");
  if (!strcmp(r->type, "metal.device"))
    return xasprintf("device %s %s", jsonx_str(p, "hostname") ?: "", jsonx_str(p, "state") ?: "");
  return xstrdup("");
}

static void on_step(void *ud, const struct replay_step *s) {
  struct show *sh = ud;
  const struct journal_row *r = s->row;
  if (!strcmp(r->type, "engine.action") || !strcmp(r->type, "engine.cancel"))
    return; /* shown as the actions of their cause */
  bool any_action = false;
  for (size_t i = 0; s->added && i < s->added->n; i++)
    any_action |=
        matches(&sh->f, s->added->v[i].group_kind, s->added->v[i].ns, s->added->v[i].name);
  if (!matches(&sh->f, r->group_kind, r->ns, r->name) && !any_action)
    return;
  sh->shown++;
  char t[TIMEFMT_LEN];
  timefmt_rfc3339_ms(r->recorded_ms, t);
  char *sum = summary(r);
  if (sh->json) {
    json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "seq", (json_int_t)r->seq, "time", t,
                          "source", r->source, "type", r->type, "groupKind", r->group_kind,
                          "namespace", r->ns, "name", r->name, "summary", sum);
    json_t *acts = json_array();
    for (size_t i = 0; s->added && i < s->added->n; i++)
      json_array_append_new(acts, action_to_json(&s->added->v[i]));
    json_object_set_new(o, "actions", acts);
    json_t *canc = json_array();
    for (size_t i = 0; s->removed && i < s->removed->n; i++)
      json_array_append_new(canc, json_string(s->removed->v[i].id));
    json_object_set_new(o, "canceled", canc);
    char *line = jsonx_canonical(o);
    printf("%s\n", line);
    free(line);
    json_decref(o);
  } else {
    printf("#%-7" PRId64 " %s %-16s %s %s%s%s %s\n", r->seq, t, r->type, kind_of(r->group_kind),
           r->ns, *r->ns ? "/" : "", r->name, sum);
    for (size_t i = 0; s->added && i < s->added->n; i++)
      printf("           + %s [%s] %s\n", s->added->v[i].id, s->added->v[i].kind,
             s->added->v[i].reason);
    for (size_t i = 0; s->removed && i < s->removed->n; i++)
      printf("           - %s no longer desired\n", s->removed->v[i].id);
  }
  free(sum);
}

int cmd_replay_main(int argc, char **argv, const struct reducer *const *reducers, size_t n) {
  const char *object = NULL, *format = "text";
  long until = 0;
  bool check = false, show_state = false, quiet = false, show_progress = false, explain = false;
  const struct cli_opt opts[] = {
      {"object", CLI_STRING, &object, "[KIND/]NS/NAME", "show only this object (and its Cluster)",
       NULL},
      {"until-seq", CLI_INT, &until, "N", "stop after event N", NULL},
      {"check", CLI_BOOL, &check, NULL,
       "verify that replayed actions equal the recorded ones (exit 1 if not)", NULL},
      {"show-state", CLI_BOOL, &show_state, NULL, "print the reducer state of --object at the end",
       NULL},
      {"explain", CLI_BOOL, &explain, NULL,
       "with --object: say in sentences why the object is in its state (states and how long, "
       "decisions and their reasons, failures, restarts, Secret changes)",
       NULL},
      {"quiet", CLI_BOOL, &quiet, NULL, "no timeline, only the summary (with --check)", NULL},
      {"format", CLI_STRING, &format, "text|json", "timeline as text or JSON lines", NULL},
      {"progress", CLI_BOOL, &show_progress, NULL,
       "report progress on stderr even when it is not a terminal", NULL},
      {0}};
  const struct cli_spec spec = {
      CMD,
      "[options] JOURNAL",
      "Fold a journal through the reducers, exactly as the controller did, and print the\n"
      "timeline: each event, and the actions it made desired with the reason for each.\n"
      "The journal is opened read-only; copy it out of the pod with kubectl cp (see\n"
      "docs/debugging.md). With --check, every recomputed action is compared byte for\n"
      "byte with the action recorded at the time. Exit codes: 0 ok, 1 failure or a\n"
      "difference, 2 usage error.",
      opts,
      1,
      1};
  char **pos = xcalloc((size_t)argc + 1, sizeof(*pos));
  int npos;
  int rc = cli_parse(&spec, argc, argv, &npos, pos);
  const char *path = npos ? pos[0] : NULL;
  free(pos);
  if (rc)
    return rc == CLI_HELP ? EXIT_OK : EXIT_USAGE;
  struct show sh = {0};
  if (strcmp(format, "text") && strcmp(format, "json"))
    return cli_usage_error(&spec, "--format must be text or json, not '%s'.", format), EXIT_USAGE;
  sh.json = !strcmp(format, "json");
  if (show_state && !object)
    return cli_usage_error(&spec, "--show-state needs --object."), EXIT_USAGE;
  if (explain && !object)
    return cli_usage_error(&spec, "--explain needs --object KIND/NS/NAME."), EXIT_USAGE;
  if (object && !parse_object(object, &sh.f)) {
    free(sh.f.kind);
    free(sh.f.ns);
    free(sh.f.name);
    return cli_usage_error(
               &spec, "--object must be NAMESPACE/NAME or KIND/NAMESPACE/NAME, not '%s'.", object),
           EXIT_USAGE;
  }
  struct journal *j;
  if (cmd_journal_open_ro(CMD, path, &j) != EXIT_OK) {
    free(sh.f.kind);
    free(sh.f.ns);
    free(sh.f.name);
    return EXIT_FAIL;
  }
  if (explain) {
    int xrc = replay_explain(j, sh.f.kind, sh.f.ns, sh.f.name);
    journal_close(j);
    free(sh.f.kind);
    free(sh.f.ns);
    free(sh.f.name);
    return xrc ? EXIT_FAIL : EXIT_OK;
  }
  struct eng_error err;
  eng_error_clear(&err);
  struct progress pr;
  progress_init(&pr, show_progress, "replayed");
  struct replay_opts ro = {0};
  ro.until_seq = until;
  ro.check = check;
  ro.on_step = quiet ? NULL : on_step;
  ro.ud = &sh;
  ro.progress = progress_show;
  ro.progress_ud = &pr;
  ro.keep_state = show_state;
  struct replay_report rep;
  memset(&rep, 0, sizeof(rep));
  int status = EXIT_OK;
  if (replay_run(j, reducers, n, &ro, &rep, &err) != ENG_OK) {
    fprintf(stderr, CMD ": %s\n", err.msg);
    status = EXIT_FAIL;
  } else {
    progress_done(&pr, rep.events, show_progress);
    if (show_state) {
      /* The object's state in every reducer that knows it. */
      char *key = xasprintf("%s/%s", sh.f.ns, sh.f.name);
      json_t *states = json_object_get(rep.snapshot, "states");
      const char *rname;
      json_t *st;
      bool found = false;
      json_object_foreach(states, rname, st) {
        json_t *os = json_object_get(json_object_get(st, "objects"), key);
        if (!os)
          continue;
        found = true;
        char *text = json_dumps(os, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("state of %s in reducer %s:\n%s\n", key, rname, text);
        free(text);
      }
      if (!found)
        printf("no reducer holds state for %s at the end of the journal (deleted, or never ours)\n",
               key);
      free(key);
    }
    if (!sh.json || check)
      fprintf(sh.json ? stderr : stdout,
              "replay of %s: %" PRId64 " events (%" PRId64 " folded from seq %" PRId64 "), %" PRId64
              " actions decided\n",
              path, rep.events, rep.inputs, rep.from_seq, rep.actions);
    if (check) {
      printf("replay check: %" PRId64 " recorded actions compared, %" PRId64
             " unchecked (before seq %" PRId64 "), %" PRId64 " differences\n",
             rep.recorded, rep.unchecked, rep.from_seq, rep.mismatches);
      if (rep.mismatches) {
        printf("first difference at %s\n", rep.first_mismatch);
        printf(
            "The reducers of this binary decide differently from the ones that wrote the journal: "
            "either the binary version differs (see the engine.start events) or a reducer is not "
            "deterministic, which is a bug worth reporting with this journal.\n");
        status = EXIT_FAIL;
      }
    }
  }
  json_decref(rep.snapshot);
  journal_close(j);
  free(sh.f.kind);
  free(sh.f.ns);
  free(sh.f.name);
  return status;
}
