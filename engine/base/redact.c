/*
 * redact.c - credential removal from JSON documents (rules in redact.h).
 */
#include "engine/base/common.h"
#include "engine/base/redact.h"
#include "engine/base/b64.h"
#include "engine/base/sha256.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

/* Normalised (lower case, no '-', '_' or '.') names of rule 2 and rule 3. */
static const char *const credential_keys[] = {
    "apitoken",        "alternateapitoken",
    "token",           "accesstoken",
    "refreshtoken",    "idtoken",
    "bearertoken",     "authtoken",
    "xauthtoken",      "sessiontoken",
    "password",        "passwd",
    "passphrase",      "secretkey",
    "secretaccesskey", "clientsecret",
    "apikey",          "privatekey",
    "clientkey",       "clientkeydata",
    "authorization",   "proxyauthorization",
    "cookie",          "setcookie",
};
static const char *const content_keys[] = {"userdata", "kubeconfig"};

/* Header names whose "Name: value" lines lose their value (rule 4). */
static const char *const header_names[] = {"authorization", "proxy-authorization", "x-auth-token",
                                           "cookie"};

void redact_digest(const void *data, size_t len, char out[REDACT_DIGEST_LEN + 1]) {
  size_t p = sizeof(REDACT_DIGEST_PREFIX) - 1;
  memcpy(out, REDACT_DIGEST_PREFIX, p);
  sha256_hex(data, len, out + p);
}

/* Lower-case key without '-', '_' and '.' into out; false when it does not fit
 * (no listed name is that long). */
static bool normalise_key(const char *key, char *out, size_t outsz) {
  size_t n = 0;
  for (const char *p = key; *p; p++) {
    char c = *p;
    if (c == '-' || c == '_' || c == '.')
      continue;
    if (n + 1 >= outsz)
      return false;
    out[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  out[n] = '\0';
  return true;
}

static bool in_list(const char *norm, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (list[i][0] == norm[0] && strcmp(norm, list[i]) == 0)
      return true;
  return false;
}

bool redact_is_credential_key(const char *key) {
  char norm[32];
  return normalise_key(key, norm, sizeof(norm)) &&
         in_list(norm, credential_keys, ARRAY_SIZE(credential_keys));
}

enum redact_hint redact_hint_for_kind(const char *group_kind) {
  if (!group_kind)
    return REDACT_HINT_NONE;
  if (!strcmp(group_kind, "Secret") || !strcmp(group_kind, "/Secret") ||
      !strcmp(group_kind, "v1/Secret") || !strcmp(group_kind, "core/Secret"))
    return REDACT_HINT_SECRET;
  return REDACT_HINT_NONE;
}

/* Is s already one of our digests? Then it is kept, so redaction is
 * idempotent (a reducer state holding digests survives a snapshot). A base64
 * value can never look like this (':' is not in its alphabet). */
static bool is_digest(const char *s, size_t len) {
  size_t pl = sizeof(REDACT_DIGEST_PREFIX) - 1;
  if (len == REDACT_KEYED_DIGEST_LEN &&
      memcmp(s, REDACT_KEYED_PREFIX, sizeof(REDACT_KEYED_PREFIX) - 1) == 0)
    pl = sizeof(REDACT_KEYED_PREFIX) - 1;
  else if (len != REDACT_DIGEST_LEN || memcmp(s, REDACT_DIGEST_PREFIX, pl) != 0)
    return false;
  for (size_t i = pl; i < len; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

static json_t *digest_string(const struct redact_key *k, const char *s, size_t len) {
  if (is_digest(s, len))
    return json_stringn(s, len);
  if (k && k->len) {
    char d[REDACT_KEYED_DIGEST_LEN + 1];
    redact_keyed_digest(k, s, len, d);
    return json_string(d);
  }
  char d[REDACT_DIGEST_LEN + 1];
  redact_digest(s, len, d);
  return json_string(d);
}

/* Rule 4: the prefix length to keep and the text to put after it, or 0 when
 * the string carries no credential. */
static size_t string_rule(const char *s, size_t len, const char **tail) {
  static const char *const schemes[] = {"Bearer ", "Basic "};
  for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
    size_t sl = strlen(schemes[i]);
    if (len > sl && strncasecmp(s, schemes[i], sl) == 0) {
      *tail = REDACTED;
      return sl;
    }
  }
  for (size_t i = 0; i < ARRAY_SIZE(header_names); i++) {
    size_t hl = strlen(header_names[i]);
    if (len > hl && strncasecmp(s, header_names[i], hl) == 0 && s[hl] == ':') {
      *tail = ": " REDACTED;
      return hl;
    }
  }
  return 0;
}

/* Rule 4 on one string value: a copy, redacted when it carries credentials. */
static json_t *copy_string(const json_t *v) {
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  const char *tail = NULL;
  size_t keep = string_rule(s, len, &tail);
  if (keep) {
    char out[64];
    snprintf(out, sizeof(out), "%.*s%s", (int)keep, s, tail);
    return json_string(out);
  }
  return json_stringn(s, len);
}

static json_t *copy_any(const struct redact_key *k, const json_t *v, enum redact_hint hint,
                        int depth, bool share);
static bool needed(const json_t *v, enum redact_hint hint, int depth);

/* Does an object without "kind" look like a Secret (list items, typed clients)? */
static bool looks_like_secret(const json_t *o) {
  if (json_object_get(o, "kind"))
    return false;
  json_t *data = json_object_get(o, "data");
  json_t *sdata = json_object_get(o, "stringData");
  return json_is_object(json_object_get(o, "metadata")) &&
         json_is_string(json_object_get(o, "type")) &&
         (json_is_object(data) || json_is_object(sdata));
}

static bool is_secret_object(const json_t *o, enum redact_hint hint) {
  const char *kind = json_string_value(json_object_get(o, "kind"));
  if (kind)
    return strcmp(kind, "Secret") == 0;
  return hint == REDACT_HINT_SECRET || looks_like_secret(o);
}

/* data (base64 values) or stringData (raw values) of a Secret: every value digested. */
static json_t *digest_map(const struct redact_key *key, const json_t *m, bool base64) {
  if (!json_is_object(m))
    return json_string(REDACTED);
  json_t *out = json_object();
  const char *k;
  size_t klen;
  json_t *val;
  json_object_keylen_foreach((json_t *)m, k, klen, val) {
    if (!json_is_string(val)) {
      json_object_setn_new(out, k, klen, json_is_null(val) ? json_null() : json_string(REDACTED));
      continue;
    }
    const char *s = json_string_value(val);
    size_t len = json_string_length(val);
    if (len == sizeof(REDACTED) - 1 && memcmp(s, REDACTED, len) == 0) {
      json_object_setn_new(out, k, klen, json_string(REDACTED)); /* from an earlier pass */
      continue;
    }
    unsigned char *dec = NULL;
    size_t declen = 0;
    if (base64 && !is_digest(s, len) && b64_decode(s, len, &dec, &declen) == ENG_OK) {
      json_object_setn_new(out, k, klen, digest_string(key, (const char *)dec, declen));
      explicit_bzero(dec, declen);
      free(dec);
    } else {
      json_object_setn_new(out, k, klen, digest_string(key, s, len));
    }
  }
  return out;
}

/* Secret metadata: the last-applied annotation repeats the data in clear. */
static json_t *copy_secret_metadata(const struct redact_key *k, const json_t *md, int depth) {
  /* A real copy (never shared): its annotations are changed below. */
  json_t *out = copy_any(k, md, REDACT_HINT_NONE, depth + 1, false);
  json_t *ann = json_object_get(out, "annotations");
  json_t *la = json_object_get(ann, LAST_APPLIED);
  if (la) {
    if (json_is_string(la)) /* digest_string keeps an existing digest */
      json_object_set_new(ann, LAST_APPLIED,
                          digest_string(k, json_string_value(la), json_string_length(la)));
    else
      json_object_set_new(ann, LAST_APPLIED, json_string(REDACTED));
  }
  return out;
}

/* How an object is treated as a whole. */
struct obj_ctx {
  bool secret;    /* rule 1 applies to its members */
  bool pass_hint; /* a Secret list or wrapper: items/object are Secrets */
};

static struct obj_ctx object_ctx(const json_t *o, enum redact_hint hint) {
  struct obj_ctx c = {is_secret_object(o, hint), false};
  const char *kind = json_string_value(json_object_get(o, "kind"));
  bool secret_list = kind && strcmp(kind, "SecretList") == 0;
  /* A watch event or list wrapper passes a Secret hint on to its object/items. */
  bool wrapper =
      !kind && hint == REDACT_HINT_SECRET &&
      (json_is_object(json_object_get(o, "object")) || json_is_array(json_object_get(o, "items")));
  if (wrapper)
    c.secret = false;
  c.pass_hint = secret_list || wrapper;
  return c;
}

enum member_rule {
  M_WALK,        /* copy, walking inside */
  M_WALK_SECRET, /* copy, walking inside with the Secret hint */
  M_DIGEST_DATA, /* Secret data: digest of decoded values */
  M_DIGEST_RAW,  /* Secret stringData: digest of values */
  M_SECRET_META, /* Secret metadata: last-applied digested */
  M_REDACT,      /* rule 2 */
  M_DIGEST,      /* rule 3 */
};

/* The one place deciding what happens to member k of an object (both the copy
 * and redact_needed() follow it, so they cannot disagree). */
static enum member_rule member_rule(const char *k, const json_t *val, struct obj_ctx c) {
  if (c.secret && strcmp(k, "data") == 0)
    return M_DIGEST_DATA;
  if (c.secret && strcmp(k, "stringData") == 0)
    return M_DIGEST_RAW;
  if (c.secret && strcmp(k, "metadata") == 0 && json_is_object(val))
    return M_SECRET_META;
  /* Only non-empty strings and numbers can be credentials: the key is looked at (normalised
   * once) for those alone, not for every member of every object. */
  bool str = json_is_string(val) && json_string_length(val) > 0;
  if (str || json_is_number(val)) {
    char norm[32];
    if (normalise_key(k, norm, sizeof(norm))) {
      if (in_list(norm, credential_keys, ARRAY_SIZE(credential_keys)))
        return M_REDACT;
      if (str && in_list(norm, content_keys, ARRAY_SIZE(content_keys)))
        return M_DIGEST;
    }
  }
  if (c.pass_hint && (strcmp(k, "items") == 0 || strcmp(k, "object") == 0))
    return M_WALK_SECRET;
  return M_WALK;
}

static json_t *copy_object(const struct redact_key *rk, const json_t *o, enum redact_hint hint,
                           int depth, bool share) {
  struct obj_ctx ctx = object_ctx(o, hint);
  json_t *out = json_object();
  const char *k;
  size_t klen;
  json_t *val;
  /* Keys may hold NUL bytes (jansson 2.14): copy them with their length. */
  json_object_keylen_foreach((json_t *)o, k, klen, val) {
    json_t *c;
    switch (member_rule(k, val, ctx)) {
    case M_DIGEST_DATA:
      c = digest_map(rk, val, true);
      break;
    case M_DIGEST_RAW:
      c = digest_map(rk, val, false);
      break;
    case M_SECRET_META:
      c = copy_secret_metadata(rk, val, depth);
      break;
    case M_REDACT:
      c = json_string(REDACTED);
      break;
    case M_DIGEST:
      c = digest_string(rk, json_string_value(val), json_string_length(val));
      break;
    case M_WALK_SECRET:
      c = copy_any(rk, val, REDACT_HINT_SECRET, depth + 1, share);
      break;
    default:
      c = copy_any(rk, val, REDACT_HINT_NONE, depth + 1, share);
    }
    json_object_setn_new(out, k, klen, c);
  }
  return out;
}

/* The walk. depth guards the C stack against hostile nesting: jansson's parser
 * stops at 2048 levels, but documents built in memory have no such limit. */
static json_t *copy_any(const struct redact_key *k, const json_t *v, enum redact_hint hint,
                        int depth, bool share) {
  if (depth > 4096)
    return json_string(REDACTED);
  /* Sharing: a subtree redaction would leave as it is is referenced, not copied. */
  if (share && !needed(v, hint, depth))
    return json_incref((json_t *)v);
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return copy_object(k, v, hint, depth, share);
  case JSON_ARRAY: {
    json_t *out = json_array();
    size_t i;
    json_t *e;
    /* Inside a hinted array (list items) each element is a Secret. */
    json_array_foreach((json_t *)v, i, e)
        json_array_append_new(out, copy_any(k, e, hint, depth + 1, share));
    return out;
  }
  case JSON_STRING:
    return copy_string(v);
  default:
    return json_deep_copy(v);
  }
}

/* Would redact_copy() change anything? Same walk, no allocation. */
static bool needed(const json_t *v, enum redact_hint hint, int depth) {
  if (depth > 4096)
    return true;
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    struct obj_ctx ctx = object_ctx(v, hint);
    if (ctx.secret)
      return true;
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)v, k, val) {
      enum member_rule r = member_rule(k, val, ctx);
      if (r != M_WALK && r != M_WALK_SECRET)
        return true;
      if (needed(val, r == M_WALK_SECRET ? REDACT_HINT_SECRET : REDACT_HINT_NONE, depth + 1))
        return true;
    }
    return false;
  }
  case JSON_ARRAY: {
    size_t i;
    json_t *e;
    json_array_foreach((json_t *)v, i, e) if (needed(e, hint, depth + 1)) return true;
    return false;
  }
  case JSON_STRING: {
    const char *tail;
    return string_rule(json_string_value(v), json_string_length(v), &tail) != 0;
  }
  default:
    return false;
  }
}

bool redact_needed(const json_t *v, enum redact_hint hint) { return v && needed(v, hint, 0); }

json_t *redact_copy(const json_t *v, enum redact_hint hint) {
  return redact_copy_keyed(v, hint, NULL);
}

json_t *redact_copy_keyed(const json_t *v, enum redact_hint hint, const struct redact_key *key) {
  if (!v)
    return NULL;
  return copy_any(key, v, hint, 0, false);
}

json_t *redact_shared_keyed(const json_t *v, enum redact_hint hint, const struct redact_key *key) {
  if (!v)
    return NULL;
  return copy_any(key, v, hint, 0, true);
}

void redact_keyed_digest(const struct redact_key *k, const void *data, size_t len,
                         char out[REDACT_KEYED_DIGEST_LEN + 1]) {
  size_t p = sizeof(REDACT_KEYED_PREFIX) - 1;
  memcpy(out, REDACT_KEYED_PREFIX, p);
  uint8_t mac[SHA256_LEN];
  hmac_sha256(k->bytes, k->len, data, len, mac);
  hex_encode(mac, SHA256_LEN, out + p);
}
