/* The route table: every route of SPEC 4, its captures, 404 and 405 with Allow (the requests
 * of cases/router.txt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "case_file.h"
#include "sequin/router.h"

static sq_http_slice S(const char *s)
{
    return (sq_http_slice){s, strlen(s)};
}

/* Whether the pattern has the parameter `name` as a whole segment. */
static bool names(const char *pattern, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(pattern, name); p != NULL; p = strstr(p + 1, name))
        if (p[-1] == '/' && (p[n] == '/' || p[n] == '\0'))
            return true;
    return false;
}

/* The captures put back into the pattern in their places give the path again when each went
 * where its ":s", ":c", ":key" or ":src" stands (still percent-encoded). */
static void expect_captures(const sq_route_match *m, const char *path)
{
    char back[256];
    size_t n = 0;
    for (const char *p = m->desc->pattern; *p != '\0';) {
        sq_http_slice cap = {NULL, 0};
        if (*p == ':') {
            size_t len = strcspn(p, "/");
            cap = len == 2 && p[1] == 's'   ? m->stream
                  : len == 2 && p[1] == 'c' ? m->consumer
                  : len == 4 && p[1] == 'k' ? m->key
                                            : m->source;
            p += len;
        } else {
            cap = (sq_http_slice){p++, 1};
        }
        assert_true(cap.len > 0 && n + cap.len < sizeof back);
        memcpy(back + n, cap.p, cap.len);
        n += cap.len;
    }
    back[n] = '\0';
    assert_string_equal(back, path);
    /* and nothing captured that the pattern does not name */
    const char *pattern = m->desc->pattern;
    assert_int_equal(m->stream.p != NULL, names(pattern, ":s"));
    assert_int_equal(m->consumer.p != NULL, names(pattern, ":c"));
    assert_int_equal(m->key.p != NULL, names(pattern, ":key"));
    assert_int_equal(m->source.p != NULL, names(pattern, ":src"));
}

/* A request of cases/router.txt and what it finds: the pattern of the row that takes it (whose
 * method is the request's), or the Allow header of a 405. */
struct route_case {
    const char *where;
    const char *method, *path;
    int status; /* 0: matched */
    const char *want;
};

static struct route_case route_case_of(const case_row *r)
{
    case_words(r, 3, 4);
    struct route_case c = {r->where, r->w[0].p, r->w[1].p, 0, r->w[2].p};
    if (c.want[0] != '/') {
        c.status = (int)case_long(r, 2);
        c.want = r->n == 4 ? r->w[3].p : NULL;
    }
    if ((c.status == 405) != (r->n == 4))
        fail_msg("%s: a 405 row (alone) ends with the Allow header", r->where);
    return c;
}

/* A row's request finds what the row says. */
static bool check_route(const case_row *r, void *ctx)
{
    (void)ctx;
    const struct route_case c = route_case_of(r);
    sq_route_match m;
    const char *allow = NULL;
    int rc = sq_router_match(S(c.method), S(c.path), &m, &allow);
    if (rc != c.status)
        fail_msg("%s: %s %s: %d, expected %d", c.where, c.method, c.path, rc, c.status);
    if (rc == 405)
        assert_string_equal(allow, c.want);
    if (rc != 0)
        return true;
    assert_string_equal(m.desc->pattern, c.want);
    assert_string_equal(m.desc->method, c.method);
    expect_captures(&m, c.path);
    return true;
}

static void test_table(void **state)
{
    (void)state;
    assert_true(case_file_each("router.txt", NULL, 0, check_route, NULL) >= 39);
}

/* Every row of the table has a case that reaches it (so no row is shadowed by one before it,
 * and a new route comes with its case). */
static void test_every_row_has_a_case(void **state)
{
    (void)state;
    case_file f;
    case_file_load(&f, "router.txt");
    for (size_t r = 0; r < sq_routes_count; r++) {
        struct route_case c = {0};
        size_t i = 0;
        for (; i < f.n; i++) {
            c = route_case_of(&f.rows[i]);
            if (c.status == 0 && strcmp(c.method, sq_routes[r].method) == 0 &&
                strcmp(c.want, sq_routes[r].pattern) == 0)
                break;
        }
        if (i == f.n)
            fail_msg("%s %s has no case in cases/router.txt", sq_routes[r].method,
                     sq_routes[r].pattern);
        sq_route_match m;
        const char *allow = NULL;
        assert_int_equal(sq_router_match(S(c.method), S(c.path), &m, &allow), 0);
        if (m.desc != &sq_routes[r])
            fail_msg("%s %s: an earlier row takes its requests", sq_routes[r].method,
                     sq_routes[r].pattern);
        assert_non_null(sq_routes[r].ops);
    }
    case_file_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_every_row_has_a_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
