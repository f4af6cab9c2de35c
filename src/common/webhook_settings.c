/* A webhook source's settings as JSON (docs/sources.md, "Webhook source"): read, checked and
 * written in one canonical form, for the API, the config file and the route alike. */
#include "sequin/webhook.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "sequin/json.h"
#include "sequin/source_rules.h"

/* The longest value a setting takes: a secret or a name, never a document. */
#define SETTING_MAX 1024

/* The settings in their canonical order; for each, where it goes in the definition and
 * whether it names a header. */
static const char *const names[] = {"key_field",     "key_header",  "secret",
                                    "secret_header", "hmac_secret", "hmac_header"};
static const struct setting {
    size_t offset;
    bool header;
} settings[] = {
    {offsetof(sq_webhook_def, key_field), false},   {offsetof(sq_webhook_def, key_header), true},
    {offsetof(sq_webhook_def, secret), false},      {offsetof(sq_webhook_def, secret_header), true},
    {offsetof(sq_webhook_def, hmac_secret), false}, {offsetof(sq_webhook_def, hmac_header), true},
};
_Static_assert(SQ_ARRAY_LEN(names) == SQ_ARRAY_LEN(settings), "a name for each setting");

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
        return sq_fail(err, errlen, "settings: \"%s\" must be a string", names[s - settings]);
    if (n == 0 || n > SETTING_MAX || strlen(str) != n)
        return sq_fail(err, errlen, "settings: \"%s\" must be 1 to %d bytes without NUL",
                       names[s - settings], SETTING_MAX);
    if (s->header && !header_name_ok(str, n))
        return sq_fail(err, errlen, "settings: \"%s\" must be a header's name",
                       names[s - settings]);
    *slot(def, s) = str;
    return SQ_OK;
}

int sq_webhook_settings_read(const char *json, size_t len, sq_webhook_def *def, char *err,
                             size_t errlen)
{
    sq_json doc = {0};
    int rc = SQ_ERR;

    if (sq_source_rules_settings_parse(&doc, json, len, 2, names, SQ_ARRAY_LEN(names), err,
                                       errlen) != SQ_OK)
        goto done;
    for (size_t i = 0; i < SQ_ARRAY_LEN(settings); i++) {
        int v = -1;
        if (sq_json_lookup(&doc, 0, names[i], &v) != SQ_OK) {
            sq_fail(err, errlen, "settings: \"%s\" is given twice", names[i]);
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
            rc |= sq_json_write_key(&w, names[i]) | sq_json_write_string(&w, v);
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
