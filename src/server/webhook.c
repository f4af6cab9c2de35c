/* The webhook source's rules: its settings as JSON, the check of a request's secret and
 * signature, and the key and data of the message a body becomes. */
#include "sequin/webhook.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sequin/change.h"
#include "sequin/json.h"
#include "sequin/keys.h"
#include "sequin/text.h"

/* The longest value a setting takes: a secret or a name, never a document. */
#define SETTING_MAX 1024

/* The settings in their canonical order, each with where it goes in the definition and
 * whether it names a header. */
static const struct setting {
    const char *name;
    size_t offset;
    bool header;
} settings[] = {
    {"key_field", offsetof(sq_webhook_def, key_field), false},
    {"key_header", offsetof(sq_webhook_def, key_header), true},
    {"secret", offsetof(sq_webhook_def, secret), false},
    {"secret_header", offsetof(sq_webhook_def, secret_header), true},
    {"hmac_secret", offsetof(sq_webhook_def, hmac_secret), false},
    {"hmac_header", offsetof(sq_webhook_def, hmac_header), true},
};

static const char **slot(sq_webhook_def *def, const struct setting *s)
{
    return (const char **)(void *)((char *)def + s->offset);
}

/* RFC 9110's token: what a header's name is made of. */
static bool header_name_ok(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", c) != NULL) ||
            c == '\0')
            return false;
    }
    return true;
}

/* One member's value into its setting; `err` says what is wrong with it. */
static int read_setting(const sq_json *doc, int v, const struct setting *s, sq_webhook_def *def,
                        char *err, size_t errlen)
{
    const char *str;
    size_t n;
    if (sq_json_is_null(doc, v))
        return SQ_OK;
    if (sq_json_type_of(doc, v) != SQ_JSON_STRING ||
        sq_json_get_str_arena(doc, v, &def->arena, &str, &n) != SQ_OK)
        return sq_fail(err, errlen, "settings: \"%s\" must be a string", s->name);
    if (n == 0 || n > SETTING_MAX || strlen(str) != n)
        return sq_fail(err, errlen, "settings: \"%s\" must be 1 to %d bytes without NUL", s->name,
                       SETTING_MAX);
    if (s->header && !header_name_ok(str, n))
        return sq_fail(err, errlen, "settings: \"%s\" must be a header's name", s->name);
    *slot(def, s) = str;
    return SQ_OK;
}

int sq_webhook_settings_read(const char *json, size_t len, sq_webhook_def *def, char *err,
                             size_t errlen)
{
    sq_json doc = {0};
    sq_json_error jerr;
    int rc = SQ_ERR;

    if (sq_json_parse(&doc, json, len, 2, &jerr) != SQ_OK)
        return sq_fail(err, errlen, "settings: not JSON: %s at offset %zu", jerr.what, jerr.offset);
    if (sq_json_type_of(&doc, 0) != SQ_JSON_OBJECT) {
        sq_fail(err, errlen, "settings: must be an object");
        goto done;
    }
    for (int k = sq_json_first(&doc, 0); k >= 0; k = sq_json_next(&doc, k)) {
        size_t i = 0;
        while (i < SQ_ARRAY_LEN(settings) &&
               sq_json_str_equals(&doc, k, settings[i].name, strlen(settings[i].name)) != 1)
            i++;
        if (i == SQ_ARRAY_LEN(settings)) {
            const char *raw;
            size_t n;
            if (sq_json_raw(&doc, k, &raw, &n) != SQ_OK)
                raw = "?", n = 1;
            sq_fail(err, errlen, "settings: unknown setting %.*s", (int)n, raw);
            goto done;
        }
    }
    for (size_t i = 0; i < SQ_ARRAY_LEN(settings); i++) {
        int v = -1;
        if (sq_json_lookup(&doc, 0, settings[i].name, &v) != SQ_OK) {
            sq_fail(err, errlen, "settings: \"%s\" is given twice", settings[i].name);
            goto done;
        }
        if (v >= 0 && read_setting(&doc, v, &settings[i], def, err, errlen) != SQ_OK)
            goto done;
    }
    if (def->key_field && def->key_header) {
        sq_fail(err, errlen,
                "settings: the key comes from \"key_field\" or \"key_header\", "
                "not both");
        goto done;
    }
    if ((def->secret_header && !def->secret) || (def->hmac_header && !def->hmac_secret)) {
        sq_fail(err, errlen, "settings: \"%s\" needs \"%s\"",
                def->secret_header && !def->secret ? "secret_header" : "hmac_header",
                def->secret_header && !def->secret ? "secret" : "hmac_secret");
        goto done;
    }
    if (def->secret && !def->secret_header)
        def->secret_header = SQ_WEBHOOK_DEFAULT_SECRET_HEADER;
    if (def->hmac_secret && !def->hmac_header)
        def->hmac_header = SQ_WEBHOOK_DEFAULT_HMAC_HEADER;
    rc = SQ_OK;
done:
    sq_json_free(&doc);
    return rc;
}

int sq_webhook_settings_write(const sq_webhook_def *def, sq_buf *out)
{
    sq_webhook_def d = *def;
    if (d.secret && !d.secret_header)
        d.secret_header = SQ_WEBHOOK_DEFAULT_SECRET_HEADER;
    if (d.hmac_secret && !d.hmac_header)
        d.hmac_header = SQ_WEBHOOK_DEFAULT_HMAC_HEADER;
    sq_json_writer w;
    sq_json_writer_init(&w, out);
    int rc = sq_json_write_begin_object(&w);
    for (size_t i = 0; i < SQ_ARRAY_LEN(settings); i++) {
        const char *v = *slot(&d, &settings[i]);
        if (v)
            rc |= sq_json_write_key(&w, settings[i].name) | sq_json_write_string(&w, v);
    }
    rc |= sq_json_write_end_object(&w);
    return rc || sq_json_writer_finish(&w) != SQ_OK ? SQ_ERR : SQ_OK;
}

void sq_webhook_def_free(sq_webhook_def *def)
{
    sq_arena_free(&def->arena);
    memset(def, 0, sizeof *def);
}

bool sq_webhook_has_auth(const sq_webhook_def *def)
{
    return def->secret != NULL || def->hmac_secret != NULL;
}

/* ---- a request's secret and signature ------------------------------------------------------ */

static const sq_http_header *find(const sq_http_header *h, size_t n, const char *name)
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
    const sq_http_header *got = find(h, n, def->secret_header);
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
        const sq_http_header *sig = find(headers, n, def->hmac_header);
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
        const sq_http_header *h = find(headers, n, def->key_header);
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
