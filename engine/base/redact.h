/*
 * redact.h - remove credentials from any JSON document before it is stored.
 *
 * Pure (jansson only): no I/O, no clock, no global state, so reducers, the
 * journal, the logger's callers and tests can all use it. The rules, in the
 * order they apply while walking a document (docs/journal.md, "Redaction"):
 *
 *  1. Kubernetes Secrets. An object is treated as a Secret when its "kind" is
 *     "Secret", when it is an item of a "SecretList", when the caller says so
 *     (REDACT_HINT_SECRET, for the top-level object or the "object" of a watch
 *     event), or when it has no "kind" but looks like one (a "metadata" object,
 *     a "data" or "stringData" object and a string "type"). In a Secret:
 *       - every value of "data" becomes "sha256:<hex>", the SHA-256 of the
 *         base64-DECODED bytes (a value that is not valid base64 is digested as
 *         the string it is);
 *       - every value of "stringData" becomes "sha256:<hex>" of its bytes, so
 *         the same content gives the same digest through data or stringData;
 *       - the annotation kubectl.kubernetes.io/last-applied-configuration
 *         (which repeats the data in clear) becomes "sha256:<hex>" of its text.
 *  2. Credential keys, anywhere. A key whose name, compared case-insensitively
 *     with '-', '_' and '.' removed, is one of apiToken, alternateApiToken,
 *     token, accessToken, refreshToken, idToken, bearerToken, authToken,
 *     x-auth-token, sessionToken, password, passwd, passphrase, secretKey,
 *     secretAccessKey, clientSecret, apiKey, privateKey, clientKey,
 *     client-key-data, authorization, proxy-authorization, cookie, set-cookie
 *     has its value replaced by "[redacted]" when that value is a non-empty
 *     string or a number. Objects and arrays under such a key are walked (a
 *     kubelet "authorization": {"mode": ...} is configuration, not a secret);
 *     empty strings, null and booleans stay (they say "absent", not what).
 *  3. Content keys, anywhere: userData, user_data and kubeconfig hold
 *     bootstrap tokens or client keys inside free text, so a string value
 *     becomes "sha256:<hex>" of its bytes (changes stay visible to reducers).
 *  4. Strings, anywhere: a value starting with "Bearer " or "Basic " (any
 *     case) keeps only the scheme ("Bearer [redacted]"); a value that is an
 *     HTTP header line for Authorization, Proxy-Authorization, X-Auth-Token or
 *     Cookie keeps only the header name ("Authorization: [redacted]").
 *
 * A value that already is a digest ("sha256:" and 64 lower-case hex digits) is
 * kept, so redacting twice changes nothing (snapshots of reducer state that
 * holds digests stay as they were).
 *
 * redact_copy() digests with plain SHA-256, which identifies content but does
 * not hide a guessable value; the journal uses redact_copy_keyed() with its
 * per-journal key, so digests in a journal are HMAC-SHA256 (docs/journal.md).
 */
#ifndef EQXM_REDACT_H
#define EQXM_REDACT_H

#include "engine/base/common.h"

#include <jansson.h>

#define REDACTED             "[redacted]"
#define REDACT_DIGEST_PREFIX "sha256:"

enum redact_hint {
  REDACT_HINT_NONE = 0,
  /* The document is a Secret, or a watch event ({"type","object"}) or list whose
   * object/items are Secrets, even when "kind" is missing. */
  REDACT_HINT_SECRET,
};

/* A redacted deep copy of v (NULL gives NULL); the caller owns the result. */
json_t *redact_copy(const json_t *v, enum redact_hint hint);

/* A digest key: with one, rules 1 and 3 write "hmac-sha256:<hex>", the
 * HMAC-SHA256 under the key, instead of the plain SHA-256, so a guessed
 * low-entropy value cannot be confirmed without the key (docs/journal.md). */
#define REDACT_KEYED_PREFIX     "hmac-sha256:"
#define REDACT_KEYED_DIGEST_LEN (sizeof(REDACT_KEYED_PREFIX) - 1 + 64)
struct redact_key {
  uint8_t bytes[32];
  size_t len; /* 0: no key, plain SHA-256 */
};
json_t *redact_copy_keyed(const json_t *v, enum redact_hint hint, const struct redact_key *key);
/*
 * The same document as redact_copy_keyed(), but every subtree redaction leaves unchanged is the
 * original (referenced, not copied): only the paths to what is redacted are new. For encoding at
 * once (the journal's canonical text): read-only, and v must not change while it is held.
 * Redacting the whole reducer state for a snapshot no longer copies all of it.
 */
json_t *redact_shared_keyed(const json_t *v, enum redact_hint hint, const struct redact_key *key);
void redact_keyed_digest(const struct redact_key *k, const void *data, size_t len,
                         char out[REDACT_KEYED_DIGEST_LEN + 1]);

/* Would redact_copy(v, hint) differ from v? Walks without allocating, so a
 * caller can skip the copy for the (usual) document without credentials. */
bool redact_needed(const json_t *v, enum redact_hint hint);

/* True when rule 2 applies to a key with this name. */
bool redact_is_credential_key(const char *key);

/* "sha256:<64 hex>" of len bytes into out (72 bytes with the NUL). */
#define REDACT_DIGEST_LEN (sizeof(REDACT_DIGEST_PREFIX) - 1 + 64)
void redact_digest(const void *data, size_t len, char out[REDACT_DIGEST_LEN + 1]);

/* Convenience for callers who know the Kubernetes kind: the hint for
 * group_kind "/Secret", "v1/Secret" or "Secret" is REDACT_HINT_SECRET. */
enum redact_hint redact_hint_for_kind(const char *group_kind);

#endif
