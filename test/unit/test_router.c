/* The route table: every route of SPEC 4, its captures, 404 and 405 with Allow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sequin/router.h"

static sq_http_slice S(const char *s)
{
    return (sq_http_slice){s, strlen(s)};
}

/* The captures put back into the pattern in their places give the path again when each went
 * where its ":s", ":c" or ":key" stands (still percent-encoded). */
static void expect_captures(const sq_route_match *m, const char *path)
{
    char back[256];
    size_t n = 0;
    for (const char *p = m->desc->pattern; *p != '\0';) {
        sq_http_slice cap = {NULL, 0};
        if (*p == ':') {
            cap = p[1] == 's' ? m->stream : p[1] == 'c' ? m->consumer : m->key;
            while (*p != '\0' && *p != '/')
                p++;
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
    assert_int_equal(m->stream.p != NULL, strstr(pattern, ":s") != NULL);
    assert_int_equal(m->consumer.p != NULL, strstr(pattern, ":c") != NULL);
    assert_int_equal(m->key.p != NULL, strstr(pattern, ":key") != NULL);
}

/* Each request and what it finds: the pattern of the row that takes it (whose method is the
 * request's), or the Allow header of a 405. */
static const struct {
    const char *method, *path;
    int status; /* 0: matched */
    const char *want;
} cases[] = {
    {"GET", "/healthz", 0, "/healthz"},
    {"GET", "/readyz", 0, "/readyz"},
    {"GET", "/metrics", 0, "/metrics"},
    {"GET", "/api/streams", 0, "/api/streams"},
    {"POST", "/api/streams", 0, "/api/streams"},
    {"GET", "/api/streams/default", 0, "/api/streams/:s"},
    {"DELETE", "/api/streams/s1", 0, "/api/streams/:s"},
    {"POST", "/api/streams/default/messages", 0, "/api/streams/:s/messages"},
    {"GET", "/api/streams/default/messages", 0, "/api/streams/:s/messages"},
    {"GET", "/api/streams/default/messages/orders.us.cus_a.order_1", 0,
     "/api/streams/:s/messages/:key"},
    /* a key with a '/' arrives encoded and stays one segment */
    {"DELETE", "/api/streams/default/messages/a%2Fb.c", 0, "/api/streams/:s/messages/:key"},
    {"GET", "/api/streams/default/messages/k.1/consumer_info", 0,
     "/api/streams/:s/messages/:key/consumer_info"},
    /* a key named like a route word is still a key */
    {"GET", "/api/streams/default/messages/consumer_info", 0, "/api/streams/:s/messages/:key"},
    {"GET", "/api/streams/default/consumers", 0, "/api/streams/:s/consumers"},
    {"POST", "/api/streams/default/consumers", 0, "/api/streams/:s/consumers"},
    {"GET", "/api/streams/default/consumers/us_orders", 0, "/api/streams/:s/consumers/:c"},
    {"PATCH", "/api/streams/default/consumers/us_orders", 0, "/api/streams/:s/consumers/:c"},
    {"PUT", "/api/streams/default/consumers/us_orders", 0, "/api/streams/:s/consumers/:c"},
    {"DELETE", "/api/streams/default/consumers/us_orders", 0, "/api/streams/:s/consumers/:c"},
    {"GET", "/api/streams/default/consumers/c/receive", 0, "/api/streams/:s/consumers/:c/receive"},
    {"POST", "/api/streams/default/consumers/c/receive", 0, "/api/streams/:s/consumers/:c/receive"},
    {"POST", "/api/streams/default/consumers/c/ack", 0, "/api/streams/:s/consumers/:c/ack"},
    {"POST", "/api/streams/default/consumers/c/nack", 0, "/api/streams/:s/consumers/:c/nack"},
    {"POST", "/api/streams/default/consumers/c/extend", 0, "/api/streams/:s/consumers/:c/extend"},
    {"POST", "/api/streams/default/consumers/c/redrive", 0, "/api/streams/:s/consumers/:c/redrive"},
    {"GET", "/api/streams/default/consumers/c/messages", 0,
     "/api/streams/:s/consumers/:c/messages"},
    /* 405 names what the path takes */
    {"POST", "/healthz", 405, "GET"},
    {"PUT", "/api/streams", 405, "GET, POST"},
    {"POST", "/api/streams/default/consumers/c", 405, "GET, PATCH, PUT, DELETE"},
    {"GET", "/api/streams/default/consumers/c/ack", 405, "POST"},
    {"get", "/api/streams", 405, "GET, POST"}, /* methods are exact */
    /* 404 */
    {"GET", "/", 404, NULL},
    {"GET", "/api", 404, NULL},
    {"GET", "/api/streams/", 404, NULL},
    {"GET", "/api//streams", 404, NULL},
    {"GET", "/api/streams/default/consumers/c/unknown", 404, NULL},
    {"GET", "/api/streams/a/b/c/d/e/f/g/h/i", 404, NULL},
    {"GET", "/healthzz", 404, NULL},
    {"GET", "", 404, NULL},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sq_route_match m;
        const char *allow = NULL;
        int rc = sq_router_match(S(cases[i].method), S(cases[i].path), &m, &allow);
        if (rc != cases[i].status)
            fail_msg("%s %s: %d, expected %d", cases[i].method, cases[i].path, rc, cases[i].status);
        if (rc == 405)
            assert_string_equal(allow, cases[i].want);
        if (rc != 0)
            continue;
        assert_string_equal(m.desc->pattern, cases[i].want);
        assert_string_equal(m.desc->method, cases[i].method);
        expect_captures(&m, cases[i].path);
    }
}

/* Every row of the table has a case above that reaches it (so no row is shadowed by one
 * before it, and a new route comes with its case). */
static void test_every_row_has_a_case(void **state)
{
    (void)state;
    for (size_t r = 0; r < sq_routes_count; r++) {
        size_t i = 0;
        while (i < sizeof cases / sizeof cases[0] &&
               !(cases[i].status == 0 && strcmp(cases[i].method, sq_routes[r].method) == 0 &&
                 strcmp(cases[i].want, sq_routes[r].pattern) == 0))
            i++;
        if (i == sizeof cases / sizeof cases[0])
            fail_msg("%s %s has no case in test_router", sq_routes[r].method, sq_routes[r].pattern);
        sq_route_match m;
        const char *allow = NULL;
        assert_int_equal(sq_router_match(S(cases[i].method), S(cases[i].path), &m, &allow), 0);
        if (m.desc != &sq_routes[r])
            fail_msg("%s %s: an earlier row takes its requests", sq_routes[r].method,
                     sq_routes[r].pattern);
        assert_non_null(sq_routes[r].ops);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_every_row_has_a_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
