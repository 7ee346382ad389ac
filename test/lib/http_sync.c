/*
 * http_sync.c - http_fetch_sync() (see http_sync.h); test-only.
 */
#include "test/lib/http_sync.h"
#include "engine/base/xalloc.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sync_state {
  bool done;
  enum eng_err err;
  long status;
  char *body;
  size_t body_len;
  char errmsg[ENG_ERROR_MSG_MAX];
};

static void sync_done(void *ud, const struct http_response *resp) {
  struct sync_state *st = ud;
  st->done = true;
  st->err = resp->err;
  st->status = resp->status;
  st->body = xmalloc(resp->body_len + 1);
  memcpy(st->body, resp->body, resp->body_len);
  st->body[resp->body_len] = '\0';
  st->body_len = resp->body_len;
  snprintf(st->errmsg, sizeof(st->errmsg), "%s", resp->errmsg ? resp->errmsg : "");
}

enum eng_err http_fetch_sync(const struct http_request *req, long *status, char **body,
                             size_t *body_len, struct eng_error *err) {
  struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
  struct http_client *c = http_client_new(loop, NULL);
  struct sync_state st;
  memset(&st, 0, sizeof(st));
  struct http_request r = *req;
  r.on_done = sync_done;
  r.on_chunk = NULL;
  r.ud = &st;
  struct http_call *call = http_submit(c, &r);
  if (!call) {
    http_client_free(c);
    ev_loop_destroy(loop);
    return eng_error_set(err, ENG_INTERNAL, "cannot start a request to %s", req->url);
  }
  while (!st.done)
    ev_run(loop, EVRUN_ONCE);
  http_client_free(c);
  ev_loop_destroy(loop);
  if (status)
    *status = st.status;
  if (body_len)
    *body_len = st.body_len;
  if (body)
    *body = st.body;
  else
    free(st.body);
  if (st.err)
    eng_error_set(err, st.err, "request to %s failed: %s", req->url, st.errmsg);
  return st.err;
}
