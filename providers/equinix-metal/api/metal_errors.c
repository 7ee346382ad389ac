/*
 * metal_errors.c - Equinix Metal error bodies, classification into engine and
 * Gardener codes, and operator sentences. No I/O: the caller passes the clock.
 */
#include "engine/base/common.h"
#include "engine/decide/gardener.h"
#include "providers/equinix-metal/api/metal_errors.h"
#include "engine/base/buf.h"
#include "engine/base/log.h"
#include "engine/base/xalloc.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Error bodies larger than this are not parsed as JSON, only quoted. */
#define METAL_ERR_PARSE_MAX (1024u * 1024)

/* Append s[0..n) to b as one line: control characters become spaces, runs of spaces collapse. */
static void append_line(struct buf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n && b->len < 4 * METAL_ERR_SNIPPET; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch < 0x20 || ch == 0x7f)
      ch = ' ';
    if (ch == ' ' && (b->len == 0 || b->data[b->len - 1] == ' '))
      continue;
    if (buf_append(b, &ch, 1))
      return;
  }
}

/* Cut b to METAL_ERR_SNIPPET bytes on a UTF-8 boundary, trim, and mark the cut. */
static char *finish_snippet(struct buf *b) {
  while (b->len && b->data[b->len - 1] == ' ')
    b->data[--b->len] = '\0';
  if (b->len > METAL_ERR_SNIPPET) {
    size_t n = METAL_ERR_SNIPPET;
    while (n > 0 && ((unsigned char)b->data[n] & 0xC0) == 0x80)
      n--;
    b->len = n;
    b->data[n] = '\0';
    while (b->len && b->data[b->len - 1] == ' ')
      b->data[--b->len] = '\0';
    if (buf_appends(b, "...")) {
      /* cannot happen: the buffer was longer a moment ago */
    }
  }
  char *s = buf_take(b, NULL);
  return s ? s : xstrdup("");
}

/* Text of a non-JSON body: tags dropped (HTML from proxies), a few entities decoded. */
static char *snippet_of(const char *body, size_t len) {
  struct buf b;
  buf_init(&b, 8 * METAL_ERR_SNIPPET);
  bool in_tag = false;
  for (size_t i = 0; i < len && b.len < 4 * METAL_ERR_SNIPPET; i++) {
    char ch = body[i];
    if (in_tag) {
      if (ch == '>') {
        in_tag = false;
        append_line(&b, " ", 1);
      }
      continue;
    }
    if (ch == '<' && i + 1 < len &&
        (isalpha((unsigned char)body[i + 1]) || body[i + 1] == '/' || body[i + 1] == '!' ||
         body[i + 1] == '?')) {
      in_tag = true;
      continue;
    }
    if (ch == '&') {
      static const struct {
        const char *ent, *rep;
      } ents[] = {{"&amp;", "&"},   {"&lt;", "<"},  {"&gt;", ">"},
                  {"&quot;", "\""}, {"&#39;", "'"}, {"&nbsp;", " "}};
      bool done = false;
      for (size_t k = 0; k < ARRAY_SIZE(ents) && !done; k++) {
        size_t el = strlen(ents[k].ent);
        if (i + el <= len && memcmp(body + i, ents[k].ent, el) == 0) {
          append_line(&b, ents[k].rep, strlen(ents[k].rep));
          i += el - 1;
          done = true;
        }
      }
      if (done)
        continue;
    }
    append_line(&b, &ch, 1);
  }
  return finish_snippet(&b);
}

char *metal_error_text(const char *body, size_t len) {
  if (!body || len == 0)
    return xstrdup("");
  json_t *v = NULL;
  if (len <= METAL_ERR_PARSE_MAX) {
    json_error_t jerr;
    v = json_loadb(body, len, 0, &jerr);
  }
  if (json_is_object(v)) {
    struct buf b;
    buf_init(&b, 8 * METAL_ERR_SNIPPET);
    const char *one = json_string_value(json_object_get(v, "error"));
    if (one && *one)
      append_line(&b, one, strlen(one));
    json_t *many = json_object_get(v, "errors");
    if (json_is_array(many)) {
      size_t i;
      json_t *e;
      json_array_foreach(many, i, e) {
        const char *s = json_string_value(e);
        if (!s && json_is_object(e))
          s = json_string_value(json_object_get(e, "message"));
        if (!s || !*s)
          continue;
        if (b.len && buf_appends(&b, "; "))
          break;
        append_line(&b, s, strlen(s));
      }
    }
    if (b.len == 0) {
      const char *m = json_string_value(json_object_get(v, "message"));
      if (m)
        append_line(&b, m, strlen(m));
    }
    json_decref(v);
    if (b.len)
      return finish_snippet(&b);
    buf_release(&b);
    return snippet_of(body, len);
  }
  json_decref(v);
  return snippet_of(body, len);
}

static bool has(const char *lower, const char *needle) { return strstr(lower, needle) != NULL; }

enum eng_err metal_classify_422(const char *text) {
  char *l = xstrdup(text ? text : "");
  for (char *p = l; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  enum eng_err code = ENG_CONFIG;
  static const char *const depleted[] = {
      "capacity",           "available servers", "servers available",  "no servers",
      "not enough servers", "provisionable",     "available hardware", "no hardware",
      "out of stock",       "sold out",          "insufficient",       "no available",
      "not enough hardware"};
  static const char *const quota[] = {"limit", "maximum number", "exceed", "approval", "too many"};
  if (has(l, "quota")) {
    code = ENG_QUOTA;
    goto out;
  }
  /* "There aren't available c3.small.x86 servers in any metro", "no public IPv4 addresses left" */
  if ((has(l, "available") && has(l, "server")) || has(l, " left in ")) {
    code = ENG_DEPLETED;
    goto out;
  }
  for (size_t i = 0; i < ARRAY_SIZE(depleted); i++) {
    if (has(l, depleted[i])) {
      code = ENG_DEPLETED;
      goto out;
    }
  }
  for (size_t i = 0; i < ARRAY_SIZE(quota); i++) {
    if (has(l, quota[i])) {
      code = ENG_QUOTA;
      goto out;
    }
  }
out:
  free(l);
  return code;
}

/* Set err to "<what> failed: <reason> (HTTP <status>[: <text>]). <advice>" with the secrets masked.
 */
static enum eng_err set_http(struct eng_error *err, enum eng_err code,
                             const struct metal_err_ctx *ctx, long status, const char *reason,
                             const char *text, const char *advice) {
  char *line = NULL;
  if (status > 0)
    line = xasprintf("%s failed: %s (HTTP %ld%s%s).%s%s", ctx && ctx->what ? ctx->what : "request",
                     reason, status, text && *text ? ": " : "", text ? text : "",
                     advice && *advice ? " " : "", advice ? advice : "");
  else
    line = xasprintf("%s failed: %s%s%s%s.%s%s", ctx && ctx->what ? ctx->what : "request", reason,
                     text && *text ? " (" : "", text ? text : "", text && *text ? ")" : "",
                     advice && *advice ? " " : "", advice ? advice : "");
  char *clean = log_scrub(line);
  eng_error_set(err, code, "%s", clean);
  free(clean);
  free(line);
  return code;
}

static long reset_wait_ms(const char *reset, int64_t now_ms) {
  if (!reset || !*reset)
    return -1;
  char *end;
  long long at = strtoll(reset, &end, 10);
  if (end == reset || at <= 0)
    return -1;
  while (*end == ' ')
    end++;
  if (*end)
    return -1;
  /* Clamp before multiplying: a hostile reset (9223372036854775807) must not overflow. */
  int64_t now_s = now_ms / 1000;
  if (at > now_s + RETRY_WAIT_MAX_S)
    return retry_wait_ms(RETRY_WAIT_MAX_S);
  int64_t wait = (int64_t)at * 1000 - now_ms;
  return wait < 0 ? 0 : (long)wait;
}

enum eng_err metal_error_from_http(struct eng_error *err, const struct metal_err_ctx *ctx,
                                   long status, const char *body, size_t len, long retry_after_ms,
                                   const char *ratelimit_reset, int64_t now_ms) {
  char *text = metal_error_text(body, len);
  char reason[256], advice[512];
  const char *project = ctx && ctx->project ? ctx->project : "";
  enum eng_err code;
  long retry = -1;
  advice[0] = '\0';
  if (status == 401) {
    code = ENG_UNAUTHENTICATED;
    snprintf(reason, sizeof(reason), "the Equinix Metal API did not accept the API token");
    snprintf(
        advice, sizeof(advice),
        "Check the apiToken in the cloud provider secret of the shoot: it may be mistyped, expired "
        "or revoked.");
  } else if (status == 403) {
    code = ENG_FORBIDDEN;
    snprintf(reason, sizeof(reason), "the API token is not allowed to do this");
    snprintf(
        advice, sizeof(advice),
        "Check that the apiToken in the cloud provider secret belongs to a user or project with "
        "access to project %s (projectID in the same secret).",
        *project ? project : "(unknown)");
  } else if (status == 404) {
    code = ENG_NOTFOUND;
    snprintf(reason, sizeof(reason), "it does not exist");
  } else if (status == 409) {
    code = ENG_CONFLICT;
    snprintf(reason, sizeof(reason), "the API reported a conflict");
    snprintf(advice, sizeof(advice), "The request will be retried.");
  } else if (status == 429) {
    code = ENG_RATELIMIT;
    retry = retry_after_ms >= 0 ? retry_after_ms : reset_wait_ms(ratelimit_reset, now_ms);
    snprintf(reason, sizeof(reason), "the Equinix Metal API rate limit was exceeded");
    if (retry >= 0)
      snprintf(advice, sizeof(advice), "The request will be retried after %ld.%03ld s.",
               retry / 1000, retry % 1000);
    else
      snprintf(advice, sizeof(advice), "The request will be retried later.");
  } else if (status == 422) {
    code = metal_classify_422(text);
    if (code == ENG_DEPLETED) {
      if (ctx && ctx->plan)
        snprintf(reason, sizeof(reason), "no capacity for plan %s", ctx->plan);
      else
        snprintf(reason, sizeof(reason), "no capacity");
      snprintf(
          advice, sizeof(advice),
          "Equinix Metal has no free servers of this plan in this metro; choose another plan or "
          "metro or retry later.");
    } else if (code == ENG_QUOTA) {
      snprintf(reason, sizeof(reason), "a quota or limit of project %s was reached",
               *project ? project : "(unknown)");
      snprintf(
          advice, sizeof(advice),
          "Ask Equinix Metal to raise the project's limits, or remove devices, IP reservations or "
          "keys it no longer needs.");
    } else {
      snprintf(reason, sizeof(reason), "the API rejected the request as invalid");
      char *l = xstrdup(text);
      for (char *p = l; *p; p++)
        *p = (char)tolower((unsigned char)*p);
      bool taken =
          has(l, "already been taken") || has(l, "already exists") || has(l, "already in use");
      free(l);
      if (taken)
        snprintf(
            advice, sizeof(advice),
            "Something in the project already uses what this request asks for (for an SSH key: "
            "the same public key under another label); remove that object or change the "
            "request.");
      else if (ctx && (ctx->plan || ctx->metro || ctx->os))
        snprintf(
            advice, sizeof(advice),
            "Check the machine type (plan %s), machine image (operating system %s) and region "
            "(metro %s) of the shoot against the cloud profile and the Equinix Metal catalogue.",
            ctx->plan ? ctx->plan : "-", ctx->os ? ctx->os : "-", ctx->metro ? ctx->metro : "-");
      else
        snprintf(advice, sizeof(advice), "Check the shoot settings this request was made from.");
    }
  } else if (status == 400) {
    code = ENG_INVALID;
    snprintf(reason, sizeof(reason), "the API rejected the request as malformed");
    snprintf(advice, sizeof(advice), "This is likely a bug in the extension; please report it.");
  } else if (status >= 500 && status <= 599) {
    code = ENG_UNAVAILABLE;
    retry = retry_after_ms;
    snprintf(reason, sizeof(reason), "the Equinix Metal API is unavailable or failed");
    snprintf(advice, sizeof(advice), "The request will be retried.");
  } else if (status >= 400 && status <= 499) {
    code = ENG_INVALID;
    snprintf(reason, sizeof(reason), "the API refused the request");
  } else {
    code = ENG_PROTOCOL;
    snprintf(reason, sizeof(reason), "the API answered with an unexpected status");
    snprintf(advice, sizeof(advice), "The request will be retried.");
  }
  set_http(err, code, ctx, status, reason, text, advice);
  free(text);
  if (err) {
    err->http_status = (int)status;
    err->retry_after_ms = retry;
  }
  return code;
}

enum eng_err metal_error_from_transport(struct eng_error *err, const struct metal_err_ctx *ctx,
                                        enum eng_err code, const char *detail) {
  const char *reason, *advice = "The request will be retried.";
  switch (code) {
  case ENG_TIMEOUT:
    reason = "the Equinix Metal API did not answer in time";
    break;
  case ENG_UNAVAILABLE:
    reason = "the connection to the Equinix Metal API failed or broke off";
    break;
  case ENG_PROTOCOL:
    reason = "the TLS connection to the Equinix Metal API failed";
    advice = "When a private endpoint is used, check its CA bundle; the request will be retried.";
    break;
  case ENG_TOOLARGE:
    reason = "the response was larger than the client accepts";
    advice = "";
    break;
  case ENG_CANCELED:
    reason = "the request was canceled";
    advice = "";
    break;
  default:
    code = ENG_IO;
    reason = "the request could not be sent";
    break;
  }
  return set_http(err, code, ctx, 0, reason, detail, advice);
}

enum eng_err metal_error_bad_reply(struct eng_error *err, const struct metal_err_ctx *ctx,
                                   long status, const char *why) {
  char reason[512];
  snprintf(reason, sizeof(reason), "the API answered with %s", why ? why : "an unreadable body");
  enum eng_err code =
      set_http(err, ENG_PROTOCOL, ctx, status, reason, NULL, "The request will be retried.");
  if (err)
    err->http_status = (int)status;
  return code;
}

/* The one error-class table and the one retry rule are the engine's; Metal adds nothing. */
const char *metal_gardener_code(const struct eng_error *err) {
  return err ? gardener_error_code(err->code) : NULL;
}

bool metal_retryable(const struct eng_error *err) { return err && eng_err_retryable(err->code); }

bool metal_ambiguous(const struct eng_error *err) {
  if (!err)
    return false;
  switch (err->code) {
  case ENG_UNAVAILABLE:
  case ENG_TIMEOUT:
  case ENG_PROTOCOL:
  case ENG_IO:
  case ENG_TOOLARGE:
    return true;
  default:
    return false;
  }
}
