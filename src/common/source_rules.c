/* The rules of a postgres source's settings, shared by the settings JSON reader and the config
 * file's loader: the names PostgreSQL takes for a slot, a publication and a table, and the key
 * formats. */
#include "sequin/source_rules.h"

#include <stdbool.h>
#include <string.h>

#define IDENT_MAX 63 /* PostgreSQL's identifiers: NAMEDATALEN - 1 */

const char *const sq_source_rules_key_formats[] = {"basic", "with_operation", NULL};

/* [a-zA-Z0-9_]{1,63}; upper case refused for a slot (PostgreSQL refuses it in a slot name). */
static bool ident_ok(const char *s, size_t n, bool lower_only)
{
    if (n == 0 || n > IDENT_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                  (!lower_only && ch >= 'A' && ch <= 'Z');
        if (!ok)
            return false;
    }
    return true;
}

const char *sq_source_rules_url(const char *s, size_t len)
{
    (void)s;
    return len == 0 ? "must not be empty" : NULL;
}

const char *sq_source_rules_slot(const char *s, size_t len)
{
    return ident_ok(s, len, true) ? NULL : "is not [a-z0-9_]+ (at most 63 characters)";
}

const char *sq_source_rules_publication(const char *s, size_t len)
{
    return ident_ok(s, len, false) ? NULL : "is not [a-zA-Z0-9_]+ (at most 63 characters)";
}

const char *sq_source_rules_table(const char *s, size_t len, const char *const *tables,
                                  size_t count, sq_arena *arena, const char **canonical)
{
    const char *dot = memchr(s, '.', len);
    size_t schema = dot != NULL ? (size_t)(dot - s) : 0;

    *canonical = NULL;
    if (dot == NULL ? !ident_ok(s, len, false)
                    : !ident_ok(s, schema, false) || !ident_ok(dot + 1, len - schema - 1, false))
        return "is not schema.table with each part [a-zA-Z0-9_]+ (at most 63 characters)";
    *canonical = sq_arena_printf(arena, "%s%.*s", dot != NULL ? "" : "public.", (int)len, s);
    if (*canonical == NULL)
        return "cannot be stored: out of memory";
    for (size_t i = 0; i < count; i++) {
        if (strcmp(tables[i], *canonical) == 0)
            return "is listed twice";
    }
    return NULL;
}

int sq_source_rules_settings_parse(sq_json *doc, const char *json, size_t len, int depth,
                                   const char *const *known, size_t n, char *err, size_t errlen)
{
    sq_json_error jerr;
    if (sq_json_parse(doc, json, len, depth, &jerr) != SQ_OK)
        return sq_fail(err, errlen, "settings: not JSON: %s at offset %zu", jerr.what, jerr.offset);
    if (sq_json_type_of(doc, 0) != SQ_JSON_OBJECT)
        return sq_fail(err, errlen, "settings: must be an object");
    for (int k = sq_json_first(doc, 0); k >= 0; k = sq_json_next(doc, k)) {
        size_t i = 0;
        while (i < n && sq_json_str_equals(doc, k, known[i], strlen(known[i])) != 1)
            i++;
        if (i == n) {
            const char *raw;
            size_t rn;
            if (sq_json_raw(doc, k, &raw, &rn) != SQ_OK)
                raw = "?", rn = 1;
            return sq_fail(err, errlen, "settings: unknown setting %.*s", (int)rn, raw);
        }
    }
    return SQ_OK;
}
