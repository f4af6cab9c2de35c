/* The webhook source (SPEC 8, docs/sources.md "Webhook source"): a webhook's settings, the check
 * of a request's shared secret and signature, and the key and data of the message its body
 * becomes. Pure functions over a request's parts (the settings in src/common/webhook_settings.c,
 * which the config loader uses too; the rest in src/server/webhook.c); the route
 * (src/server/api_webhook.c) does the store calls. */
#ifndef SEQUIN_WEBHOOK_H
#define SEQUIN_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "sequin/buf.h"
#include "sequin/common.h"
#include "sequin/http.h"
#include "sequin/sha256.h"

/* The headers the secret and the signature come in when the settings name none. */
#define SQ_WEBHOOK_DEFAULT_SECRET_HEADER "Authorization"
#define SQ_WEBHOOK_DEFAULT_HMAC_HEADER "X-Hub-Signature-256"

/*
 * A webhook's settings. NULL for a setting not set; the header names are set whenever their
 * secret is. Strings in `arena` (or, for one built by hand, wherever the caller keeps them);
 * release with sq_webhook_def_free.
 */
typedef struct sq_webhook_def {
    const char *key_field;     /* the body's top-level JSON member the key's token comes from */
    const char *key_header;    /* or the header it comes from (never both) */
    const char *secret;        /* a shared secret the sender sends as it is */
    const char *secret_header; /* in this header ("Authorization": as "Bearer <secret>") */
    const char *hmac_secret;   /* the key of the HMAC-SHA256 of the body the sender sends */
    const char *hmac_header;   /* in this header, as hex or "sha256=<hex>" */
    sq_arena arena;
} sq_webhook_def;

/*
 * Reads a webhook's settings JSON ({"key_field", "key_header", "secret", "secret_header",
 * "hmac_secret", "hmac_header"}, every member optional, strings; null is the same as absent)
 * into `def`. Refused: another member, a non-string, key_field with key_header, an empty or
 * over-long value, a header name that is not an HTTP token, a header given without its secret.
 * 0, or -1 with a sentence in `err` naming the setting.
 */
SQ_WUR int sq_webhook_settings_read(const char *json, size_t len, sq_webhook_def *def, char *err,
                                    size_t errlen);

/* Writes settings as sq_webhook_settings_read reads them, in one canonical form (the members
 * set, in the order above, the header names in their defaults when a secret is set): equal
 * settings are equal text. 0, or -1 out of memory. */
SQ_WUR int sq_webhook_settings_write(const sq_webhook_def *def, sq_buf *out);

void sq_webhook_def_free(sq_webhook_def *def);

/* Whether the webhook checks anything itself (a secret or a signature). One that does not is
 * open when the server has no API tokens and wants one of them when it has (the route's rule,
 * docs/sources.md). */
bool sq_webhook_has_auth(const sq_webhook_def *def);

/* The first of the `n` headers named `name` (compared case-insensitively), or NULL. */
const sq_http_header *sq_webhook_header(const sq_http_header *headers, size_t n, const char *name);

/*
 * Reads a signature header's value (`len` bytes): 64 hex digits of either case, after an
 * optional "sha256=" (GitHub's form, any case), spaces around ignored. 0 with the digest in
 * `digest`, or -1 when the value is not one.
 */
SQ_WUR int sq_webhook_signature_parse(const char *value, size_t len,
                                      unsigned char digest[SQ_SHA256_LEN]);

/*
 * Checks a request against the webhook's secret and signature (both when both are set), the
 * `n` `headers` (names compared case-insensitively, the first of a name counts) and the body.
 * Secrets and digests are compared in constant time. NULL when the request passes, or else why
 * not as a static sentence for a 401's summary (which never says what the secret is).
 */
const char *sq_webhook_authorize(const sq_webhook_def *def, const sq_http_header *headers, size_t n,
                                 const char *body, size_t len);

/*
 * The key of the message a body becomes, appended to `key`: "<name>.<token>" where the token
 * is the body's SHA-256 in lower-case hex, or the value of key_field (a JSON string's text or
 * a number's as written; the body must then be a JSON object) or of key_header, escaped as
 * sq_change_token_escape escapes a postgres source's key tokens. 0, or -1 with `*why` a
 * sentence for a 400 (no such field, not a string or number, a key over the key rules' limit)
 * or "out of memory".
 */
SQ_WUR int sq_webhook_key(const sq_webhook_def *def, const char *name,
                          const sq_http_header *headers, size_t n, const char *body, size_t len,
                          sq_buf *key, const char **why);

/*
 * Whether a body can be a message's data as it is: UTF-8 (RFC 3629) without NUL, at most
 * `max` bytes. NULL when it can, or else why not; `*too_large` says whether the size was the
 * reason (a 413 rather than a 400).
 */
const char *sq_webhook_data_check(const char *body, size_t len, size_t max, bool *too_large);

#endif
