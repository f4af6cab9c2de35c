/* The webhook source's requests: the check of a request's secret and signature, and the key
 * and data of the message a body becomes (its settings: src/common/webhook_settings.c). */
#include "sequin/webhook.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sequin/change.h"
#include "sequin/json.h"
#include "sequin/keys.h"
#include "sequin/text.h"

/* ---- a request's secret and signature ------------------------------------------------------ */

const sq_http_header *sq_webhook_header(const sq_http_header *h, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++) {
        if (h[i].name.len == len && strncasecmp(h[i].name.p, name, len) == 0)
            return &h[i];
    }
    return NULL;
}

int sq_webhook_signature_parse(const char *value, size_t len, unsigned char digest[SQ_SHA256_LEN])
{
    while (len > 0 && (*value == ' ' || *value == '\t'))
        value++, len--;
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    if (len >= 7 && strncasecmp(value, "sha256=", 7) == 0)
        value += 7, len -= 7;
    if (len != 2 * SQ_SHA256_LEN)
        return SQ_ERR;
    for (size_t i = 0; i < SQ_SHA256_LEN; i++) {
        int hi = sq_hex_digit((unsigned char)value[2 * i]),
            lo = sq_hex_digit((unsigned char)value[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return SQ_ERR;
        digest[i] = (unsigned char)(hi << 4 | lo);
    }
    return SQ_OK;
}

/* Whether the shared secret came: the header's value is the secret ("Bearer <secret>" in an
 * Authorization header). Both sides are hashed first, so the comparison takes the same time
 * whatever the lengths and wherever they differ. */
static bool secret_ok(const sq_webhook_def *def, const sq_http_header *h, size_t n)
{
    const sq_http_header *got = sq_webhook_header(h, n, def->secret_header);
    if (got == NULL)
        return false;
    const char *v = got->value.p;
    size_t len = got->value.len;
    if (strcasecmp(def->secret_header, "Authorization") == 0) {
        if (len < 7 || strncasecmp(v, "Bearer ", 7) != 0)
            return false;
        v += 7, len -= 7;
        while (len > 0 && *v == ' ')
            v++, len--;
    }
    unsigned char want[SQ_SHA256_LEN], have[SQ_SHA256_LEN];
    sq_sha256(def->secret, strlen(def->secret), want);
    sq_sha256(v, len, have);
    return sq_digest_equal(want, have, SQ_SHA256_LEN);
}

const char *sq_webhook_authorize(const sq_webhook_def *def, const sq_http_header *headers, size_t n,
                                 const char *body, size_t len)
{
    if (def->secret != NULL && !secret_ok(def, headers, n))
        return "the webhook's secret is missing or wrong";
    if (def->hmac_secret != NULL) {
        const sq_http_header *sig = sq_webhook_header(headers, n, def->hmac_header);
        unsigned char got[SQ_SHA256_LEN], want[SQ_SHA256_LEN];
        if (sig == NULL)
            return "the webhook's signature header is missing";
        if (sq_webhook_signature_parse(sig->value.p, sig->value.len, got) != SQ_OK)
            return "the webhook's signature is not 64 hex digits (or sha256=<hex>)";
        sq_hmac_sha256(def->hmac_secret, strlen(def->hmac_secret), body, len, want);
        if (!sq_digest_equal(got, want, SQ_SHA256_LEN))
            return "the webhook's signature does not match the body";
    }
    return NULL;
}

/* ---- the message ---------------------------------------------------------------------------- */

/* The key field's value as a token's bytes: a string's text, a number's JSON text. */
static int field_value(const char *field, const char *body, size_t len, sq_buf *value,
                       const char **why)
{
    sq_json doc = {0};
    int v = -1, rc = SQ_ERR;
    if (sq_json_parse(&doc, body, len, 64, NULL) != SQ_OK ||
        sq_json_type_of(&doc, 0) != SQ_JSON_OBJECT) {
        *why = "the webhook takes its key from a field of the body, which must be a JSON object";
        goto done;
    }
    if (sq_json_lookup(&doc, 0, field, &v) != SQ_OK) {
        *why = "the body names the key field twice";
        goto done;
    }
    if (v < 0) {
        *why = "the body has no key field";
        goto done;
    }
    const char *raw;
    size_t n;
    if (sq_json_type_of(&doc, v) == SQ_JSON_STRING) {
        if (sq_json_get_str(&doc, v, value) != SQ_OK) {
            *why = "out of memory";
            goto done;
        }
    } else if (sq_json_type_of(&doc, v) == SQ_JSON_NUMBER && sq_json_raw(&doc, v, &raw, &n) == 0) {
        if (sq_buf_append(value, raw, n) != SQ_OK) {
            *why = "out of memory";
            goto done;
        }
    } else {
        *why = "the body's key field must be a string or a number";
        goto done;
    }
    rc = SQ_OK;
done:
    sq_json_free(&doc);
    return rc;
}

int sq_webhook_key(const sq_webhook_def *def, const char *name, const sq_http_header *headers,
                   size_t n, const char *body, size_t len, sq_buf *key, const char **why)
{
    sq_buf value = {0};
    int rc = SQ_ERR;
    size_t start = key->len;

    if (def->key_field != NULL) {
        if (field_value(def->key_field, body, len, &value, why) != SQ_OK)
            goto done;
    } else if (def->key_header != NULL) {
        const sq_http_header *h = sq_webhook_header(headers, n, def->key_header);
        if (h == NULL) {
            *why = "the request has no key header";
            goto done;
        }
        if (sq_buf_append(&value, h->value.p, h->value.len) != SQ_OK) {
            *why = "out of memory";
            goto done;
        }
    }
    if (sq_buf_puts(key, name) != SQ_OK || sq_buf_putc(key, '.') != SQ_OK) {
        *why = "out of memory";
        goto done;
    }
    if (def->key_field == NULL && def->key_header == NULL) {
        unsigned char digest[SQ_SHA256_LEN];
        char hex[2 * SQ_SHA256_LEN + 1];
        sq_sha256(body, len, digest);
        sq_sha256_hex(digest, hex);
        if (sq_buf_puts(key, hex) != SQ_OK) {
            *why = "out of memory";
            goto done;
        }
    } else if (sq_change_token_escape(key, value.data ? value.data : "", value.len) != SQ_OK) {
        *why = "out of memory";
        goto done;
    }
    if (sq_key_validate(key->data + start, key->len - start, why) != SQ_OK)
        goto done;
    rc = SQ_OK;
done:
    sq_buf_free(&value);
    return rc;
}

const char *sq_webhook_data_check(const char *body, size_t len, size_t max, bool *too_large)
{
    *too_large = len > max;
    if (*too_large)
        return "the body is larger than limits.max_message_bytes";
    for (size_t i = 0; i < len;) {
        size_t k = sq_utf8_seq_len((const unsigned char *)body + i, len - i);
        if (k == 0)
            return "the body is not UTF-8 text (a message's data is a UTF-8 string)";
        if (body[i] == '\0')
            return "the body holds a NUL byte (a message's data has none)";
        i += k;
    }
    return NULL;
}
