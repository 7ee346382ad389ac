/*
 * metal_idempotency.c - idempotency tags and cluster tags (see metal_idempotency.h).
 */
#include "engine/base/common.h"
#include "providers/equinix-metal/api/metal_idempotency.h"
#include "engine/base/sha256.h"
#include "engine/base/xalloc.h"

#include <string.h>

static bool key_plain(const char *key, size_t n) {
  if (strncmp(key, METAL_IDEM_HASH_PREFIX, strlen(METAL_IDEM_HASH_PREFIX)) == 0)
    return false;
  if (strlen(METAL_IDEM_TAG_PREFIX) + n > METAL_TAG_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    char ch = key[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-' || ch == ':' || ch == '/';
    if (!ok)
      return false;
  }
  return true;
}

bool metal_idem_tag(const char *key, char out[METAL_TAG_MAX + 1]) {
  out[0] = '\0';
  if (!key || !*key)
    return false;
  size_t n = strlen(key);
  size_t pl = strlen(METAL_IDEM_TAG_PREFIX);
  memcpy(out, METAL_IDEM_TAG_PREFIX, pl);
  if (key_plain(key, n)) {
    memcpy(out + pl, key, n);
    out[pl + n] = '\0';
    return true;
  }
  /* Long or unusual keys: a prefix of their SHA-256 keeps the tag under the API's limit and
   * free of characters that tag filters or searches might treat specially. */
  char hex[SHA256_HEX_LEN + 1];
  sha256_hex(key, n, hex);
  size_t hp = strlen(METAL_IDEM_HASH_PREFIX);
  memcpy(out + pl, METAL_IDEM_HASH_PREFIX, hp);
  memcpy(out + pl + hp, hex, METAL_IDEM_HASH_HEX);
  out[pl + hp + METAL_IDEM_HASH_HEX] = '\0';
  return true;
}

bool metal_idem_is_tag(const char *tag) {
  return tag && strncmp(tag, METAL_IDEM_TAG_PREFIX, strlen(METAL_IDEM_TAG_PREFIX)) == 0;
}

char *metal_cluster_tag(const char *ns) {
  return xasprintf(METAL_CLUSTER_TAG_PREFIX "%s", ns ? ns : "");
}
