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
