/* The API's routes matched: the table of routes.c, path segment by segment. */
#include <string.h>

#include "sequin/router.h"

enum {
    MAX_SEGMENTS = 8
};

/* Splits "/a/b/c" into its segments; false for more than MAX_SEGMENTS, an empty segment
 * ("//", a trailing '/') or a path that does not start with '/'. */
static bool split(sq_http_slice path, sq_http_slice *seg, size_t *n)
{
    if (path.len == 0 || path.p[0] != '/')
        return false;
    *n = 0;
    size_t start = 1;
    for (size_t i = 1; i <= path.len; i++) {
        if (i < path.len && path.p[i] != '/')
            continue;
        if (i == start || *n == MAX_SEGMENTS)
            return false;
        seg[(*n)++] = (sq_http_slice){path.p + start, i - start};
        start = i + 1;
    }
    return true;
}

static bool slice_is(sq_http_slice s, const char *lit, size_t len)
{
    return s.len == len && memcmp(s.p, lit, len) == 0;
}

/* Matches the segments against a pattern, filling the captures of `m`. */
static bool match_pattern(const char *pattern, const sq_http_slice *seg, size_t n,
                          sq_route_match *m)
{
    const char *p = pattern + 1;
    size_t i = 0;
    for (; *p != '\0'; i++) {
        const char *end = strchr(p, '/');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (i == n)
            return false;
        if (p[0] == ':') {
            sq_http_slice name = {p, len};
            sq_http_slice *cap = slice_is(name, ":s", 2)     ? &m->stream
                                 : slice_is(name, ":c", 2)   ? &m->consumer
                                 : slice_is(name, ":src", 4) ? &m->source
                                                             : &m->key;
            *cap = seg[i];
        } else if (!slice_is(seg[i], p, len)) {
            return false;
        }
        p += len + (end != NULL);
    }
    return i == n;
}

int sq_router_match(sq_http_slice method, sq_http_slice path, sq_route_match *m, const char **allow)
{
    sq_http_slice seg[MAX_SEGMENTS];
    size_t n = 0;
    *allow = NULL;
    if (!split(path, seg, &n))
        return 404;
    const char *first_allowed = NULL;
    for (size_t r = 0; r < sq_routes_count; r++) {
        sq_route_match cand = {0};
        if (!match_pattern(sq_routes[r].pattern, seg, n, &cand))
            continue;
        if (slice_is(method, sq_routes[r].method, strlen(sq_routes[r].method))) {
            cand.desc = &sq_routes[r];
            *m = cand;
            return SQ_OK;
        }
        if (first_allowed == NULL)
            first_allowed = sq_routes[r].pattern;
    }
    if (first_allowed == NULL)
        return 404;
    /* The Allow header: every method of the matching pattern, in table order. */
    static char methods[64];
    methods[0] = '\0';
    for (size_t r = 0; r < sq_routes_count; r++) {
        if (strcmp(sq_routes[r].pattern, first_allowed) != 0)
            continue;
        if (methods[0] != '\0')
            strcat(methods, ", ");
        strcat(methods, sq_routes[r].method);
    }
    *allow = methods;
    return 405;
}
