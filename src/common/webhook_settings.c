/* A webhook source's settings as JSON (docs/sources.md, "Webhook source"): read, checked and
 * written in one canonical form, for the API, the config file and the route alike. */
#include "sequin/webhook.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "sequin/json.h"

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
