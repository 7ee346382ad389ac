/*
 * metal-tool.c - drive the Equinix Metal client from integration tests. Every
 * subcommand prints JSON lines on stdout: a result line
 *   {"op":"ensure","ok":true,"adopted":false,"requests":3,"device":{...summary...}}
 * or an error line
 *   {"op":"get","ok":false,"code":"ENG_NOTFOUND","gardener_code":null,"retryable":false,
 *    "ambiguous":false,"http_status":404,"retry_after_ms":-1,"message":"..."}
 * and `poll` prints one {"event":{...}} line per journaled event and a
 * {"tick":{"polls":N,"unchanged":U}} line after every poll (U: devices left unparsed as
 * unchanged so far). With --also-ns a second shoot's poller joins the same client (one
 * listing of the project, split by tag) after --also-after polls of the first. Exit 0 on success, 1
 * on failure, 2 on usage errors. The API token comes from METAL_TOKEN (or --token).
 */
#include "engine/base/common.h"
#include "engine/base/cli.h"
#include "engine/base/jsonx.h"
#include "engine/base/log.h"
#include "providers/equinix-metal/api/metal_client.h"
#include "engine/base/xalloc.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *o_url, *o_ca, *o_project, *o_token, *o_key, *o_hostname, *o_metro, *o_plan,
    *o_os, *o_ipxe, *o_userdata, *o_reservation, *o_label, *o_pubkey, *o_types, *o_ns, *o_log,
    *o_also_ns;
static long o_rate, o_burst, o_per_page, o_max_pages, o_timeout_ms, o_retry_base_ms, o_settle_ms,
    o_max_retries, o_rl_retries, o_pause_ms, o_count, o_fast_ms, o_slow_ms, o_set_every_ms, o_polls,
    o_inflight, o_also_after;
static struct cli_list o_tags, o_ssh_keys;

static const struct cli_opt opts[] = {
    {"url", CLI_STRING, &o_url, "URL", "API base URL", "METAL_URL"},
    {"ca", CLI_STRING, &o_ca, "PATH", "CA bundle of the API", "METAL_CA"},
    {"project", CLI_STRING, &o_project, "UUID", "project id", "METAL_PROJECT"},
    {"token", CLI_STRING, &o_token, "TOKEN", "API token (prefer the environment)", "METAL_TOKEN"},
    {"rate", CLI_INT, &o_rate, "N", "client requests per second", NULL},
    {"burst", CLI_INT, &o_burst, "N", "client token bucket size", NULL},
    {"per-page", CLI_INT, &o_per_page, "N", "page size of listings", NULL},
    {"max-pages", CLI_INT, &o_max_pages, "N", "page cap of listings", NULL},
    {"timeout-ms", CLI_INT, &o_timeout_ms, "MS", "timeout of one request", NULL},
    {"retry-base-ms", CLI_INT, &o_retry_base_ms, "MS", "first retry backoff", NULL},
    {"settle-ms", CLI_INT, &o_settle_ms, "MS", "wait before the lookup after an ambiguous create",
     NULL},
    {"max-retries", CLI_INT, &o_max_retries, "N", "retries of GET/DELETE (-1 = none)", NULL},
    {"ratelimit-retries", CLI_INT, &o_rl_retries, "N", "retries after a 429 (-1 = none)", NULL},
    {"pause-ms", CLI_INT, &o_pause_ms, "MS", "pause after a 429 without Retry-After", NULL},
    {"inflight", CLI_INT, &o_inflight, "N", "concurrent requests", NULL},
    {"tag", CLI_LIST, &o_tags, "TAG", "list: filter tag; create/ensure: extra tags", NULL},
    {"key", CLI_STRING, &o_key, "KEY", "idempotency key", NULL},
    {"hostname", CLI_STRING, &o_hostname, "NAME", "device hostname", NULL},
    {"metro", CLI_STRING, &o_metro, "CODE", "metro", NULL},
    {"plan", CLI_STRING, &o_plan, "SLUG", "plan", NULL},
    {"os", CLI_STRING, &o_os, "SLUG", "operating system", NULL},
    {"ipxe", CLI_STRING, &o_ipxe, "URL", "iPXE script URL", NULL},
    {"userdata", CLI_STRING, &o_userdata, "TEXT", "user data", NULL},
    {"reservation", CLI_STRING, &o_reservation, "ID", "hardware reservation", NULL},
    {"ssh-key", CLI_LIST, &o_ssh_keys, "ID", "project SSH key ids", NULL},
    {"label", CLI_STRING, &o_label, "LABEL", "SSH key label", NULL},
    {"public-key", CLI_STRING, &o_pubkey, "KEY", "SSH public key", NULL},
    {"types", CLI_STRING, &o_types, "LIST", "IP reservation types", NULL},
    {"count", CLI_INT, &o_count, "N", "gets: concurrent requests", NULL},
    {"ns", CLI_STRING, &o_ns, "NAMESPACE", "poll: shoot namespace", NULL},
    {"fast-ms", CLI_INT, &o_fast_ms, "MS", "poll: fast interval", NULL},
    {"slow-ms", CLI_INT, &o_slow_ms, "MS", "poll: slow interval", NULL},
    {"set-every-ms", CLI_INT, &o_set_every_ms, "MS", "poll: device-set marker period", NULL},
    {"polls", CLI_INT, &o_polls, "N", "poll: stop after N polls (default: at end of stdin)", NULL},
    {"also-ns", CLI_STRING, &o_also_ns, "NAMESPACE", "poll: a second shoot on the same client",
     NULL},
    {"also-after", CLI_INT, &o_also_after, "N", "poll: the second shoot joins after N polls", NULL},
    {"log-level", CLI_STRING, &o_log, "LEVEL", "debug, info, warn, error", NULL},
    {0},
};

static const struct cli_spec spec = {
    .prog = "metal-tool",
    .usage =
        "[options] get ID | list | find | create | ensure | delete ID | gets ID | sshkey-ensure | "
        "sshkey-list | sshkey-get ID | sshkey-delete ID | ip-list | poll",
    .description = "Drive the Equinix Metal client and print JSON lines (a test helper).",
    .opts = opts,
    .min_pos = 1,
    .max_pos = 2,
};

static const char *op_name;

static void print_line(json_t *o) {
  char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
  printf("%s\n", s);
  fflush(stdout);
  free(s);
  json_decref(o);
}

static int print_error(const struct metal_result *r) {
  const char *gc = metal_gardener_code(r->err);
  json_t *o = json_pack("{s:s,s:b,s:s,s:o,s:b,s:b,s:i,s:I,s:s,s:i}", "op", op_name, "ok", 0, "code",
                        eng_err_name(r->code), "gardener_code", gc ? json_string(gc) : json_null(),
                        "retryable", metal_retryable(r->err), "ambiguous", metal_ambiguous(r->err),
                        "http_status", r->err->http_status, "retry_after_ms",
                        (json_int_t)r->err->retry_after_ms, "message", r->err->msg, "requests",
                        (int)r->requests);
  print_line(o);
  return EXIT_FAIL;
}

static json_t *device_json(const struct metal_device *d) { return metal_device_summary(d); }

static json_t *sshkey_json(const struct metal_sshkey *k) {
  return json_pack("{s:s,s:s,s:s,s:s}", "id", k->id, "label", k->label, "key", k->key,
                   "fingerprint", k->fingerprint);
}

static int rc = EXIT_OK;
static bool done;

static void result_cb(void *ud, const struct metal_result *r) {
  (void)ud;
  done = true;
  if (r->code != ENG_OK) {
    rc = print_error(r);
    return;
  }
  json_t *o = json_pack("{s:s,s:b,s:i}", "op", op_name, "ok", 1, "requests", (int)r->requests);
  if (r->device)
    json_object_set_new(o, "device", device_json(r->device));
  if (r->devices) {
    json_t *arr = json_array(), *ids = json_array();
    for (size_t i = 0; i < r->devices->n; i++) {
      json_array_append_new(arr, device_json(&r->devices->items[i]));
      json_array_append_new(ids, json_string(r->devices->items[i].id));
    }
    json_object_set_new(o, "devices", arr);
    json_object_set_new(o, "ids", ids);
    json_object_set_new(o, "count", json_integer((json_int_t)r->devices->n));
    json_object_set_new(o, "pages", json_integer(r->devices->pages));
  }
  if (r->sshkey)
    json_object_set_new(o, "sshkey", sshkey_json(r->sshkey));
  if (r->sshkeys) {
    json_t *arr = json_array();
    for (size_t i = 0; i < r->sshkeys->n; i++)
      json_array_append_new(arr, sshkey_json(&r->sshkeys->items[i]));
    json_object_set_new(o, "sshkeys", arr);
    json_object_set_new(o, "count", json_integer((json_int_t)r->sshkeys->n));
  }
  if (r->ips) {
    json_t *arr = json_array();
    for (size_t i = 0; i < r->ips->n; i++) {
      const struct metal_ip_reservation *x = &r->ips->items[i];
      json_array_append_new(arr,
                            json_pack("{s:s,s:s,s:s,s:i,s:s,s:i}", "id", x->id, "type", x->type,
                                      "network", x->network, "cidr", x->cidr, "parent_network",
                                      x->parent_network, "parent_cidr", x->parent_cidr));
    }
    json_object_set_new(o, "ips", arr);
    json_object_set_new(o, "count", json_integer((json_int_t)r->ips->n));
    json_object_set_new(o, "pages", json_integer(r->ips->pages));
  }
  json_object_set_new(o, "adopted", json_boolean(r->adopted));
  json_object_set_new(o, "gone", json_boolean(r->gone));
  json_object_set_new(o, "key_differs", json_boolean(r->key_differs));
  json_object_set_new(o, "duplicates", json_integer((json_int_t)r->duplicates));
  print_line(o);
}

/* ---- gets: many concurrent reads, for the rate tests ---- */

static long gets_left, gets_ok;
static json_t *gets_errors;

static void gets_cb(void *ud, const struct metal_result *r) {
  (void)ud;
  gets_left--;
  if (r->code == ENG_OK)
    gets_ok++;
  else
    json_array_append_new(gets_errors, json_string(eng_err_name(r->code)));
}

/* ---- poll ---- */

static void sink_fn(void *ud, const struct jevent *ev) {
  (void)ud;
  json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:O}", "source", ev->source, "type", ev->type,
                        "group_kind", ev->group_kind, "ns", ev->ns, "name", ev->name, "uid",
                        ev->uid, "payload", ev->payload ? ev->payload : json_null());
  print_line(json_pack("{s:o}", "event", e));
}

struct poll_state {
  struct metal_poller *p, *also;
  struct metal_client *c;
  uint64_t last;
  bool stop;
  ev_io in;
  ev_timer tick;
};

/* A poller for shoot ns with the command's intervals, printing its events; NULL (said) on error. */
static struct metal_poller *start_poller(struct metal_client *c, const char *ns) {
  struct metal_poller_opts po = {.ns = ns,
                                 .fast_ms = o_fast_ms,
                                 .slow_ms = o_slow_ms,
                                 .error_ms = o_slow_ms,
                                 .set_every_ms = o_set_every_ms};
  struct jevent_sink sink = {sink_fn, NULL};
  struct eng_error err;
  struct metal_poller *p = metal_poller_new(c, &po, &sink, &err);
  if (!p)
    fprintf(stderr, "metal-tool: %s\n", err.msg);
  return p;
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct poll_state *ps = w->data;
  uint64_t n = metal_poller_polls(ps->p);
  if (n != ps->last) {
    ps->last = n;
    print_line(json_pack("{s:{s:I,s:I}}", "tick", "polls", (json_int_t)n, "unchanged",
                         (json_int_t)metal_list_items_skipped()));
    if (o_also_ns && !ps->also && n >= (uint64_t)o_also_after)
      ps->also = start_poller(ps->c, o_also_ns);
    if (o_polls > 0 && n >= (uint64_t)o_polls)
      ps->stop = true;
  }
}

static void stdin_cb(struct ev_loop *loop, ev_io *w, int revents) {
  (void)revents;
  struct poll_state *ps = w->data;
  char buf[256];
  ssize_t n = read(w->fd, buf, sizeof(buf));
  if (n <= 0) {
    ev_io_stop(loop, w);
    ps->stop = true;
    return;
  }
  if (memchr(buf, 'k', (size_t)n)) /* "kick" */
    metal_poller_kick(ps->p);
}

static int run_poll(struct ev_loop *loop, struct metal_client *c) {
  if (!o_ns)
    return cli_usage_error(&spec, "poll needs --ns.");
  struct poll_state ps;
  memset(&ps, 0, sizeof(ps));
  ps.c = c;
  ps.p = start_poller(c, o_ns);
  if (!ps.p)
    return EXIT_FAIL;
  ev_timer_init(&ps.tick, tick_cb, 0.005, 0.005);
  ps.tick.data = &ps;
  ev_timer_start(loop, &ps.tick);
  if (o_polls <= 0) {
    ev_io_init(&ps.in, stdin_cb, 0, EV_READ);
    ps.in.data = &ps;
    ev_io_start(loop, &ps.in);
  }
  while (!ps.stop)
    ev_run(loop, EVRUN_ONCE);
  ev_timer_stop(loop, &ps.tick);
  ev_io_stop(loop, &ps.in);
  print_line(json_pack("{s:s,s:b,s:I}", "op", "poll", "ok", 1, "polls",
                       (json_int_t)metal_poller_polls(ps.p)));
  metal_poller_free(ps.also);
  metal_poller_free(ps.p);
  return EXIT_OK;
}

int main(int argc, char **argv) {
  xalloc_init();
  log_setup(LOG_INFO, LOG_FORMAT_JSON, 2);
  char **pos = xcalloc((size_t)argc + 1, sizeof(*pos));
  int npos = 0;
  int prc = cli_parse(&spec, argc - 1, argv + 1, &npos, pos);
  if (prc != CLI_OK) {
    free(pos);
    cli_list_free(&o_tags);
    cli_list_free(&o_ssh_keys);
    return prc == CLI_HELP ? EXIT_OK : EXIT_USAGE;
  }
  if (o_log) {
    enum log_level lvl;
    if (log_parse_level(o_log, &lvl) == 0)
      log_setup(lvl, LOG_FORMAT_JSON, 2);
  }
  op_name = pos[0];
  const char *arg = npos > 1 ? pos[1] : NULL;
  struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
  struct metal_client_opts mo = {
      .base_url = o_url,
      .ca_path = o_ca,
      .token = o_token,
      .project_id = o_project,
      .rate = (double)o_rate,
      .burst = (double)o_burst,
      .per_page = (unsigned)(o_per_page > 0 ? o_per_page : 0),
      .max_pages = (unsigned)(o_max_pages > 0 ? o_max_pages : 0),
      .timeout_ms = o_timeout_ms,
      .retry_base_ms = o_retry_base_ms,
      .settle_ms = o_settle_ms,
      .max_retries = (int)o_max_retries,
      .max_ratelimit_retries = (int)o_rl_retries,
      .ratelimit_pause_ms = o_pause_ms,
      .max_inflight = (unsigned)(o_inflight > 0 ? o_inflight : 0),
  };
  struct eng_error err;
  struct metal_client *c = metal_client_new(loop, &mo, &err);
  if (!c) {
    fprintf(stderr, "metal-tool: %s\n", err.msg);
    ev_loop_destroy(loop);
    free(pos);
    cli_list_free(&o_tags);
    cli_list_free(&o_ssh_keys);
    return EXIT_FAIL;
  }
  struct metal_device_spec ds = {
      .idempotency_key = o_key,
      .hostname = o_hostname,
      .metro = o_metro,
      .plan = o_plan,
      .operating_system = o_os,
      .ipxe_script_url = o_ipxe,
      .userdata = o_userdata,
      .tags = (const char *const *)o_tags.items,
      .ntags = o_tags.n,
      .project_ssh_keys = (const char *const *)o_ssh_keys.items,
      .nkeys = o_ssh_keys.n,
      .hardware_reservation_id = o_reservation,
  };
  bool started = true;
  if (!strcmp(op_name, "get") && arg)
    metal_device_get(c, arg, result_cb, NULL);
  else if (!strcmp(op_name, "list"))
    metal_device_list(c, o_tags.n ? o_tags.items[0] : NULL, result_cb, NULL);
  else if (!strcmp(op_name, "find"))
    metal_device_find(c, o_key, result_cb, NULL);
  else if (!strcmp(op_name, "create"))
    metal_device_create(c, &ds, result_cb, NULL);
  else if (!strcmp(op_name, "ensure"))
    metal_device_ensure(c, &ds, result_cb, NULL);
  else if (!strcmp(op_name, "delete") && arg)
    metal_device_delete(c, arg, result_cb, NULL);
  else if (!strcmp(op_name, "sshkey-ensure"))
    metal_sshkey_ensure(c, o_label, o_pubkey, result_cb, NULL);
  else if (!strcmp(op_name, "sshkey-create"))
    metal_sshkey_create(c, o_label, o_pubkey, result_cb, NULL);
  else if (!strcmp(op_name, "sshkey-list"))
    metal_sshkey_list(c, result_cb, NULL);
  else if (!strcmp(op_name, "sshkey-get") && arg)
    metal_sshkey_get(c, arg, result_cb, NULL);
  else if (!strcmp(op_name, "sshkey-delete") && arg)
    metal_sshkey_delete(c, arg, result_cb, NULL);
  else if (!strcmp(op_name, "ip-list"))
    metal_ip_list(c, o_types, result_cb, NULL);
  else
    started = false;
  if (started) {
    while (!done)
      ev_run(loop, EVRUN_ONCE);
  } else if (!strcmp(op_name, "gets") && arg) {
    long n = o_count > 0 ? o_count : 1;
    gets_left = n;
    gets_errors = json_array();
    for (long i = 0; i < n; i++)
      metal_device_get(c, arg, gets_cb, NULL);
    while (gets_left > 0)
      ev_run(loop, EVRUN_ONCE);
    print_line(json_pack("{s:s,s:b,s:i,s:i,s:o,s:I}", "op", "gets", "ok", gets_ok == n, "count",
                         (int)n, "succeeded", (int)gets_ok, "errors", gets_errors, "requests",
                         (json_int_t)metal_client_requests(c)));
    rc = gets_ok == n ? EXIT_OK : EXIT_FAIL;
  } else if (!strcmp(op_name, "poll")) {
    rc = run_poll(loop, c);
  } else {
    rc = cli_usage_error(&spec, "unknown command '%s' or missing argument.", op_name);
  }
  metal_client_free(c);
  ev_loop_destroy(loop);
  free(pos);
  cli_list_free(&o_tags);
  cli_list_free(&o_ssh_keys);
  log_forget_all_secrets();
  return rc;
}
