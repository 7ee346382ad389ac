/*
 * http_sync.h - a synchronous HTTP fetch for tests and test tools only.
 */
#ifndef EQXM_TEST_HTTP_SYNC_H
#define EQXM_TEST_HTTP_SYNC_H

#include "engine/net/http.h"

/*
 * Synchronous convenience for commands and tests: runs a private loop until the
 * call ends. On return *status, *body (caller frees, NUL-terminated) and
 * *retry_after_ms describe the response; the return value is the transport
 * result (ENG_OK when any HTTP response arrived).
 */
enum eng_err http_fetch_sync(const struct http_request *req, long *status, char **body,
                             size_t *body_len, struct eng_error *err) WARN_UNUSED;

#endif
