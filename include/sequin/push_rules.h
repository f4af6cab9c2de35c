/* The rules of a push consumer's settings (issue 15, docs/api.md "Push consumers"), in one
 * place for their three readers: the API's bodies, the config file's `consumers:` and the
 * CLI's --header, so that all of them accept exactly the same endpoints. */
#ifndef SEQUIN_PUSH_RULES_H
#define SEQUIN_PUSH_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "sequin/common.h"
#include "sequin/json.h"

/* The bounds: a URL and a header as long as any receiver takes, a handful of headers. */
#define SQ_PUSH_URL_MAX 2048
#define SQ_PUSH_HEADERS_MAX 32
#define SQ_PUSH_HEADER_NAME_MAX 128
#define SQ_PUSH_HEADER_VALUE_MAX 4096
#define SQ_PUSH_SECRET_MAX 256

/* The delivery settings' defaults and ranges. max_waiting is also never above the consumer's
 * max_ack_pending. */
#define SQ_PUSH_DEFAULT_MAX_WAITING 20
#define SQ_PUSH_MAX_WAITING_MAX 1000
#define SQ_PUSH_DEFAULT_BACKOFF_BASE_MS 1000
#define SQ_PUSH_DEFAULT_BACKOFF_MAX_MS 300000
#define SQ_PUSH_BACKOFF_MIN_MS 100
#define SQ_PUSH_BACKOFF_MAX_MS 86400000

/* The kinds' words, NULL-terminated, indexed by sq_consumer_kind: "pull", "push". */
extern const char *const sq_push_rules_kinds[];

/*
 * Each checks one value, `len` bytes at `s`, and returns NULL when it is valid, or else the
 * rule it breaks as a static phrase that follows the setting's name in a message:
 *   url     http:// or https://, a host (with an optional :port, 1..65535), no user:password@
 *           (it would be shown: use a header), printable ASCII without spaces, at most
 *           SQ_PUSH_URL_MAX bytes;
 *   secret  1..SQ_PUSH_SECRET_MAX bytes of printable ASCII (it is a header's input).
 */
const char *sq_push_rules_url(const char *s, size_t len);
const char *sq_push_rules_secret(const char *s, size_t len);

/*
 * Checks one header: the name an HTTP token (RFC 9110: letters, digits, !#$%&'*+-.^_`|~), at
 * most SQ_PUSH_HEADER_NAME_MAX bytes, and none of the headers the pusher writes itself
 * (Host, Content-Length, Content-Type, Transfer-Encoding, Connection); the value at most
 * SQ_PUSH_HEADER_VALUE_MAX bytes without CR, LF, NUL or other control characters but tab.
 * NULL when valid, else the rule broken ("header name ..."), a static phrase.
 */
const char *sq_push_rules_header(const char *name, size_t name_len, const char *value,
                                 size_t value_len);

/*
 * Splits a header line "Name: value" (the CLI's --header, the store's form) at its first colon,
 * the value's surrounding blanks dropped, and checks it as sq_push_rules_header does: NULL with
 * the name's length in `*name_len` and the value in `*value`/`*value_len` (inside `line`), or
 * the rule broken.
 */
const char *sq_push_rules_split_header(const char *line, size_t len, size_t *name_len,
                                       const char **value, size_t *value_len);

/*
 * Writes an http_endpoint as the store keeps it: {"url", "headers": {name: value, ...},
 * "signing_secret"}, headers and the secret only when there are some. `headers` are `n` valid
 * "Name: value" lines (sq_push_rules_split_header), `secret` NULL or valid. 0, or -1 when
 * the writer fails (out of memory) or a header line is not valid.
 */
SQ_WUR int sq_push_rules_write_endpoint(sq_json_writer *w, const char *url,
                                        const char *const *headers, size_t n, const char *secret);

#endif
