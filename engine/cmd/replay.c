/*
 * replay.c - offline fold of a journal and the determinism check.
 */
#include "engine/base/common.h"
#include "engine/cmd/replay.h"
#include "engine/base/jsonx.h"
#include "engine/base/redact.h"
#include "engine/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNAPSHOT_NAME "decider"

static void key_of(char *buf, size_t n, int64_t seq) { snprintf(buf, n, "%" PRId64, seq); }

/* Add action JSON text under by[cause][id]. */
static void put(json_t *by, int64_t cause, const char *id, const char *canon) {
  char k[32];
  key_of(k, sizeof(k), cause);
  json_t *set = json_object_get(by, k);
  if (!set) {
    set = json_object();
    json_object_set_new(by, k, set);
  }
  json_object_set_new(set, id, json_string(canon));
}

static void describe(struct replay_report *r, int64_t cause, const char *what) {
  r->mismatches++;
  if (r->first_mismatch_seq == 0 || cause < r->first_mismatch_seq) {
    r->first_mismatch_seq = cause;
    snprintf(r->first_mismatch, sizeof(r->first_mismatch), "event %" PRId64 ": %s", cause, what);
  }
}

/* Compare recomputed and recorded actions cause by cause. */
static void compare(json_t *recomputed, json_t *recorded, int64_t from, struct replay_report *r) {
  const char *k;
  json_t *set;
  json_object_foreach(recorded, k, set) {
    int64_t cause = strtoll(k, NULL, 10);
    if (cause < from) {
      r->unchecked += (int64_t)json_object_size(set);
      continue;
    }
    r->recorded += (int64_t)json_object_size(set);
    json_t *mine = json_object_get(recomputed, k);
    const char *id;
    json_t *text;
    json_object_foreach(set, id, text) {
      json_t *m = json_object_get(mine, id);
      char what[1900];
      if (!m) {
        snprintf(what, sizeof(what), "the journal records action %s, which replay does not produce",
                 id);
        describe(r, cause, what);
      } else if (strcmp(json_string_value(m), json_string_value(text)) != 0) {
        snprintf(what, sizeof(what), "action %s differs: recorded %.700s, replayed %.700s", id,
                 json_string_value(text), json_string_value(m));
        describe(r, cause, what);
      }
    }
  }
  json_object_foreach(recomputed, k, set) {
    json_t *theirs = json_object_get(recorded, k);
    const char *id;
    json_t *text;
    json_object_foreach(set, id, text) {
      if (!json_object_get(theirs, id)) {
        char what[1900];
        snprintf(what, sizeof(what), "replay produces action %s, which the journal does not record",
                 id);
        describe(r, strtoll(k, NULL, 10), what);
      }
    }
  }
}

enum eng_err replay_run(struct journal *j, const struct reducer *const *reducers, size_t n,
                        const struct replay_opts *o, struct replay_report *out,
                        struct eng_error *err) {
  memset(out, 0, sizeof(*out));
  struct decider *d = decider_new(reducers, n);
  int64_t oldest = 0;
  enum eng_err rc = journal_oldest_seq(j, &oldest, err);
  if (rc) {
    decider_free(d);
    return rc;
  }
  int64_t from = 1;
  if (oldest > 1) {
    /* The beginning was removed by retention: start from the snapshot it kept. */
    int64_t sseq = 0;
    json_t *snap = NULL;
    rc = journal_snapshot_latest(j, SNAPSHOT_NAME, oldest > 1 ? oldest - 1 : 0, &sseq, &snap, err);
    if (rc == ENG_NOTFOUND) {
      rc = journal_snapshot_latest(j, SNAPSHOT_NAME, 0, &sseq, &snap, err);
    }
    if (rc) {
      decider_free(d);
      return eng_error_prefix(
          err,
          "journal %s starts at event %" PRId64
          " (older events were removed by retention) and has no usable snapshot",
          journal_path(j), oldest);
    }
    rc = decider_restore(d, snap, err);
    json_decref(snap);
    if (rc) {
      decider_free(d);
      return rc;
    }
    from = sseq + 1;
  }
  out->from_seq = from;
  struct journal_filter f = {0};
  f.from_seq = from;
  f.to_seq = o->until_seq;
  struct journal_iter *it;
  rc = journal_iter_open(j, &f, &it, err);
  if (rc) {
    decider_free(d);
    return rc;
  }
  json_t *recomputed = json_object(), *recorded = json_object();
  const struct journal_row *row;
  int r;
  int64_t total = journal_durable_seq(j) - from + 1;
  while ((r = journal_iter_next(it, &row, err)) == 1) {
    out->events++;
    struct replay_step step = {row, false, NULL, NULL, d};
    struct action_list added = {0}, removed = {0};
    if (decider_is_input(row->type)) {
      struct reduce_event ev = {row->seq,
                                row->recorded_ms,
                                row->source,
                                row->type,
                                row->group_kind,
                                row->ns,
                                row->name,
                                row->uid,
                                row->resource_version,
                                row->correlation_id,
                                row->payload};
      decider_feed(d, &ev, &added, &removed);
      out->inputs++;
      out->actions += (int64_t)added.n;
      if (o->check) {
        for (size_t i = 0; i < added.n; i++) {
          /* Compared as the journal stores it: the engine.action payload redacted by the
           * action's target kind (a Secret's data only as digests). */
          json_t *p = json_object();
          json_object_set_new(p, "causeSeq", json_integer(row->seq));
          json_object_set_new(p, "action", action_to_json(&added.v[i]));
          enum redact_hint hint = redact_hint_for_kind(added.v[i].group_kind);
          json_t *red = redact_needed(p, hint) ? redact_copy(p, hint) : json_incref(p);
          char *canon = jsonx_canonical(json_object_get(red, "action"));
          put(recomputed, row->seq, added.v[i].id, canon);
          free(canon);
          json_decref(red);
          json_decref(p);
        }
      }
      step.input = true;
      step.added = &added;
      step.removed = &removed;
    } else if (o->check && !strcmp(row->type, "engine.action")) {
      json_t *aj = json_object_get(row->payload, "action");
      const char *id = jsonx_str(aj, "id");
      if (aj && id) {
        char *canon = jsonx_canonical(aj);
        put(recorded, jsonx_int(row->payload, "causeSeq", 0), id, canon);
        free(canon);
      }
    }
    if (o->on_step)
      o->on_step(o->ud, &step);
    action_list_clear(&added);
    action_list_clear(&removed);
    if (o->progress && out->events % 10000 == 0)
      o->progress(o->progress_ud, out->events, total);
  }
  journal_iter_free(it);
  if (r < 0) {
    json_decref(recomputed);
    json_decref(recorded);
    decider_free(d);
    return err->code;
  }
  if (o->check)
    compare(recomputed, recorded, from, out);
  if (o->keep_state)
    out->snapshot = decider_snapshot(d);
  json_decref(recomputed);
  json_decref(recorded);
  decider_free(d);
  return ENG_OK;
}
