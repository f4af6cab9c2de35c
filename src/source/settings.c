/* A postgres source's settings: read from their JSON (as the store keeps them and the API takes
 * them), checked, and written back in one canonical form. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sequin/json.h"
#include "sequin/source.h"
#include "sequin/text.h"

/* The rules' key format words are indexed by sq_key_format. */
_Static_assert(SQ_KEY_BASIC == 0 && SQ_KEY_WITH_OPERATION == 1,
               "sq_source_rules_key_formats[] is indexed by sq_key_format");

/* A string member `name` of object `obj` into the arena; `dflt` when absent. */
static int get_string(const sq_json *doc, int obj, const char *name, const char *dflt, sq_arena *a,
                      const char **out, char *err, size_t errlen)
{
    int v = -1;
    if (sq_json_lookup(doc, obj, name, &v) != SQ_OK)
        return sq_fail(err, errlen, "settings: \"%s\" is given twice", name);
    if (v < 0) {
        if (!dflt)
            return sq_fail(err, errlen, "settings: \"%s\" is required", name);
        *out = dflt;
        return SQ_OK;
    }
    if (sq_json_type_of(doc, v) != SQ_JSON_STRING ||
        sq_json_get_str_arena(doc, v, a, out, NULL) != SQ_OK)
        return sq_fail(err, errlen, "settings: \"%s\" must be a string", name);
    return SQ_OK;
}

static int get_tables(const sq_json *doc, int obj, sq_source_def *def, char *err, size_t errlen)
{
    int v = -1;
    if (sq_json_lookup(doc, obj, "tables", &v) != SQ_OK)
        return sq_fail(err, errlen, "settings: \"tables\" is given twice");
    if (v < 0)
        return SQ_OK; /* a publication that exists says which tables */
    int n = sq_json_count(doc, v);
    if (sq_json_type_of(doc, v) != SQ_JSON_ARRAY || n < 0)
        return sq_fail(err, errlen, "settings: \"tables\" must be a list of table names");
    if (n > SQ_SOURCE_TABLES_MAX)
        return sq_fail(err, errlen, "settings: at most %d tables", SQ_SOURCE_TABLES_MAX);
    def->tables = sq_arena_calloc(&def->arena, (size_t)n + 1, sizeof *def->tables);
    if (!def->tables)
        return sq_fail(err, errlen, "out of memory");
    for (int t = sq_json_first(doc, v); t >= 0; t = sq_json_next(doc, t)) {
        const char *s, *name;
        size_t len;
        if (sq_json_type_of(doc, t) != SQ_JSON_STRING ||
            sq_json_get_str_arena(doc, t, &def->arena, &s, &len) != SQ_OK)
            return sq_fail(err, errlen, "settings: \"tables\" must be a list of table names");
        const char *why =
            sq_source_rules_table(s, len, def->tables, def->ntables, &def->arena, &name);
        if (why)
            return sq_fail(err, errlen, "settings: table \"%s\" %s", name ? name : s, why);
        def->tables[def->ntables++] = name;
    }
    return SQ_OK;
}

int sq_source_settings_read(const char *json, size_t len, sq_source_def *def, char *err,
                            size_t errlen)
{
    static const char *const known[] = {"url",    "slot",       "publication",
                                        "tables", "key_format", "backfill"};
    sq_json doc = {0};
    const char *key_format;
    int rc = SQ_ERR;

    if (sq_source_rules_settings_parse(&doc, json, len, 4, known, SQ_ARRAY_LEN(known), err,
                                       errlen) != SQ_OK)
        goto done;
    if (get_string(&doc, 0, "url", NULL, &def->arena, &def->url, err, errlen) != SQ_OK ||
        get_string(&doc, 0, "slot", SQ_SOURCE_DEFAULT_SLOT, &def->arena, &def->slot, err, errlen) ||
        get_string(&doc, 0, "publication", SQ_SOURCE_DEFAULT_PUBLICATION, &def->arena,
                   &def->publication, err, errlen) ||
        get_string(&doc, 0, "key_format", SQ_SOURCE_DEFAULT_KEY_FORMAT, &def->arena, &key_format,
                   err, errlen) ||
        get_tables(&doc, 0, def, err, errlen) != SQ_OK)
        goto done;
    const char *why;
    if ((why = sq_source_rules_url(def->url, strlen(def->url))) != NULL) {
        sq_fail(err, errlen, "settings: \"url\" %s", why);
        goto done;
    }
    if ((why = sq_source_rules_slot(def->slot, strlen(def->slot))) != NULL) {
        sq_fail(err, errlen, "settings: slot \"%s\" %s", def->slot, why);
        goto done;
    }
    if ((why = sq_source_rules_publication(def->publication, strlen(def->publication))) != NULL) {
        sq_fail(err, errlen, "settings: publication \"%s\" %s", def->publication, why);
        goto done;
    }
    int f = 0;
    while (sq_source_rules_key_formats[f] && strcmp(key_format, sq_source_rules_key_formats[f]))
        f++;
    if (!sq_source_rules_key_formats[f]) {
        sq_fail(err, errlen, "settings: key_format is basic or with_operation, not \"%s\"",
                key_format);
        goto done;
    }
    def->key_format = (sq_key_format)f;
    int b = -1;
    if (sq_json_lookup(&doc, 0, "backfill", &b) == SQ_OK && b >= 0 &&
        sq_json_get_bool(&doc, b, &def->backfill) != SQ_OK) {
        sq_fail(err, errlen, "settings: backfill is true or false");
        goto done;
    }
    rc = SQ_OK;
done:
    sq_json_free(&doc);
    return rc;
}

int sq_source_settings_write(const sq_source_def *def, sq_buf *out)
{
    sq_json_writer w;
    sq_json_writer_init(&w, out);
    int rc = sq_json_write_begin_object(&w) || sq_json_write_key(&w, "url") ||
             sq_json_write_string(&w, def->url) || sq_json_write_key(&w, "slot") ||
             sq_json_write_string(&w, def->slot) || sq_json_write_key(&w, "publication") ||
             sq_json_write_string(&w, def->publication) || sq_json_write_key(&w, "tables") ||
             sq_json_write_begin_array(&w);
    for (size_t i = 0; rc == SQ_OK && i < def->ntables; i++)
        rc = sq_json_write_string(&w, def->tables[i]);
    if (rc == SQ_OK)
        rc = sq_json_write_end_array(&w) || sq_json_write_key(&w, "key_format") ||
             sq_json_write_string(&w, sq_source_rules_key_formats[def->key_format]) ||
             sq_json_write_key(&w, "backfill") || sq_json_write_bool(&w, def->backfill) ||
             sq_json_write_end_object(&w) || sq_json_writer_finish(&w);
    return rc ? SQ_ERR : SQ_OK;
}

void sq_source_def_free(sq_source_def *def)
{
    sq_arena_free(&def->arena);
    memset(def, 0, sizeof *def);
}

/* ---- the URL as shown: its password hidden -------------------------------------------------- */

#define MASK "****"
#define SPACE " \t\n\v\f\r"

static int put(sq_buf *out, const char *from, const char *to)
{
    return sq_buf_append(out, from, (size_t)(to - from));
}

/* Whether the query's parameter name [key, end) is "password", percent-decoded as libpq
 * decodes it. */
static bool is_password_param(const char *key, const char *end)
{
    static const char want[] = "password";
    size_t got = 0;
    for (const char *p = key; p < end; p++, got++) {
        int ch = (unsigned char)*p;
        if (ch == '%' && end - p > 2 && sq_hex_digit((unsigned char)p[1]) >= 0 &&
            sq_hex_digit((unsigned char)p[2]) >= 0) {
            ch = sq_hex_digit((unsigned char)p[1]) << 4 | sq_hex_digit((unsigned char)p[2]);
            p += 2;
        }
        if (got == sizeof want - 1 || ch != want[got])
            return false;
    }
    return got == sizeof want - 1;
}

/* postgres[ql]://[user[:password]@]host[,...][/db][?param=value&...]: libpq's user info ends
 * at the first '@' before a '/'. */
static int redact_uri(const char *url, sq_buf *out)
{
    const char *auth = strstr(url, "://") + 3, *at = auth + strcspn(auth, "@/");
    const char *colon = *at == '@' ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    const char *from = url;
    int rc = 0;
    if (colon) {
        rc |= put(out, url, colon + 1) | sq_buf_puts(out, MASK);
        from = at;
    }
    const char *q = strchr(*at == '@' ? at : auth, '?');
    if (!q)
        return rc | sq_buf_puts(out, from) ? SQ_ERR : SQ_OK;
    rc |= put(out, from, q + 1);
    for (const char *param = q + 1; *param;) {
        const char *end = param + strcspn(param, "&"),
                   *eq = memchr(param, '=', (size_t)(end - param));
        if (eq && is_password_param(param, eq))
            rc |= put(out, param, eq + 1) | sq_buf_puts(out, MASK);
        else
            rc |= put(out, param, end);
        param = end + (*end == '&');
        if (*end == '&')
            rc |= sq_buf_putc(out, '&');
    }
    return rc ? SQ_ERR : SQ_OK;
}

/* Where a key=value value that starts at `p` ends, read as libpq reads it: quoted or up to a
 * space, a backslash escaping the next character. */
static const char *value_end(const char *p)
{
    bool quoted = *p == '\'';
    for (p += quoted; *p; p++) {
        if (*p == '\\' && p[1])
            p++;
        else if (quoted ? *p == '\'' : strchr(SPACE, *p) != NULL)
            return p + quoted;
    }
    return p;
}

/* keyword = value ...: the value of `password` hidden, and all that follows a `password`
 * without its '=', which may be one. */
static int redact_keywords(const char *url, sq_buf *out)
{
    int rc = 0;
    for (const char *p = url; *p && rc == 0;) {
        const char *start = p, *key = p + strspn(p, SPACE),
                   *key_end = key + strcspn(key, "=" SPACE);
        bool password = key_end - key == 8 && memcmp(key, "password", 8) == 0;
        p = key_end + strspn(key_end, SPACE);
        if (*p != '=')
            return put(out, start, p) | sq_buf_puts(out, password && *p ? MASK : p) ? SQ_ERR
                                                                                    : SQ_OK;
        p++;
        p += strspn(p, SPACE);
        const char *end = value_end(p);
        rc |= put(out, start, p) | (password ? sq_buf_puts(out, MASK) : put(out, p, end));
        p = end;
    }
    return rc ? SQ_ERR : SQ_OK;
}

int sq_source_url_redact(const char *url, sq_buf *out)
{
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
        return redact_uri(url, out);
    return redact_keywords(url, out);
}
