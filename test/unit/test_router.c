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

static void expect_slice(sq_http_slice got, const char *want)
{
    if (want == NULL) {
        assert_int_equal(got.len, 0);
        return;
    }
    assert_int_equal(got.len, strlen(want));
    assert_memory_equal(got.p, want, got.len);
}

static const struct {
    const char *method, *path;
    int status; /* 0: matched */
    sq_route route;
    const char *stream, *consumer, *key, *allow;
} cases[] = {
    {"GET", "/healthz", 0, SQ_ROUTE_HEALTHZ, NULL, NULL, NULL, NULL},
    {"GET", "/readyz", 0, SQ_ROUTE_READYZ, NULL, NULL, NULL, NULL},
    {"GET", "/metrics", 0, SQ_ROUTE_METRICS, NULL, NULL, NULL, NULL},
    {"GET", "/api/streams", 0, SQ_ROUTE_STREAM_LIST, NULL, NULL, NULL, NULL},
    {"POST", "/api/streams", 0, SQ_ROUTE_STREAM_CREATE, NULL, NULL, NULL, NULL},
    {"GET", "/api/streams/default", 0, SQ_ROUTE_STREAM_GET, "default", NULL, NULL, NULL},
    {"DELETE", "/api/streams/s1", 0, SQ_ROUTE_STREAM_DELETE, "s1", NULL, NULL, NULL},
    {"POST", "/api/streams/default/messages", 0, SQ_ROUTE_MESSAGE_UPSERT, "default", NULL, NULL,
     NULL},
    {"GET", "/api/streams/default/messages", 0, SQ_ROUTE_MESSAGE_LIST, "default", NULL, NULL, NULL},
    {"GET", "/api/streams/default/messages/orders.us.cus_a.order_1", 0, SQ_ROUTE_MESSAGE_GET,
     "default", NULL, "orders.us.cus_a.order_1", NULL},
    /* a key with a '/' arrives encoded and stays one segment */
    {"DELETE", "/api/streams/default/messages/a%2Fb.c", 0, SQ_ROUTE_MESSAGE_DELETE, "default", NULL,
     "a%2Fb.c", NULL},
    {"GET", "/api/streams/default/messages/k.1/consumer_info", 0, SQ_ROUTE_MESSAGE_CONSUMER_INFO,
     "default", NULL, "k.1", NULL},
    /* a key named like a route word is still a key */
    {"GET", "/api/streams/default/messages/consumer_info", 0, SQ_ROUTE_MESSAGE_GET, "default", NULL,
     "consumer_info", NULL},
    {"GET", "/api/streams/default/consumers", 0, SQ_ROUTE_CONSUMER_LIST, "default", NULL, NULL,
     NULL},
    {"POST", "/api/streams/default/consumers", 0, SQ_ROUTE_CONSUMER_CREATE, "default", NULL, NULL,
     NULL},
    {"GET", "/api/streams/default/consumers/us_orders", 0, SQ_ROUTE_CONSUMER_GET, "default",
     "us_orders", NULL, NULL},
    {"PATCH", "/api/streams/default/consumers/us_orders", 0, SQ_ROUTE_CONSUMER_EDIT, "default",
     "us_orders", NULL, NULL},
    {"PUT", "/api/streams/default/consumers/us_orders", 0, SQ_ROUTE_CONSUMER_EDIT, "default",
     "us_orders", NULL, NULL},
    {"DELETE", "/api/streams/default/consumers/us_orders", 0, SQ_ROUTE_CONSUMER_DELETE, "default",
     "us_orders", NULL, NULL},
    {"GET", "/api/streams/default/consumers/c/receive", 0, SQ_ROUTE_RECEIVE, "default", "c", NULL,
     NULL},
    {"POST", "/api/streams/default/consumers/c/receive", 0, SQ_ROUTE_RECEIVE, "default", "c", NULL,
     NULL},
    {"POST", "/api/streams/default/consumers/c/ack", 0, SQ_ROUTE_ACK, "default", "c", NULL, NULL},
    {"POST", "/api/streams/default/consumers/c/nack", 0, SQ_ROUTE_NACK, "default", "c", NULL, NULL},
    {"POST", "/api/streams/default/consumers/c/extend", 0, SQ_ROUTE_EXTEND, "default", "c", NULL,
     NULL},
    {"POST", "/api/streams/default/consumers/c/redrive", 0, SQ_ROUTE_REDRIVE, "default", "c", NULL,
     NULL},
    {"GET", "/api/streams/default/consumers/c/messages", 0, SQ_ROUTE_CONSUMER_MESSAGES, "default",
     "c", NULL, NULL},
    /* 405 names what the path takes */
    {"POST", "/healthz", 405, 0, NULL, NULL, NULL, "GET"},
    {"PUT", "/api/streams", 405, 0, NULL, NULL, NULL, "GET, POST"},
    {"POST", "/api/streams/default/consumers/c", 405, 0, NULL, NULL, NULL,
     "GET, PATCH, PUT, DELETE"},
    {"GET", "/api/streams/default/consumers/c/ack", 405, 0, NULL, NULL, NULL, "POST"},
    {"get", "/api/streams", 405, 0, NULL, NULL, NULL, "GET, POST"}, /* methods are exact */
    /* 404 */
    {"GET", "/", 404, 0, NULL, NULL, NULL, NULL},
    {"GET", "/api", 404, 0, NULL, NULL, NULL, NULL},
    {"GET", "/api/streams/", 404, 0, NULL, NULL, NULL, NULL},
    {"GET", "/api//streams", 404, 0, NULL, NULL, NULL, NULL},
    {"GET", "/api/streams/default/consumers/c/unknown", 404, 0, NULL, NULL, NULL, NULL},
    {"GET", "/api/streams/a/b/c/d/e/f/g/h/i", 404, 0, NULL, NULL, NULL, NULL},
    {"GET", "/healthzz", 404, 0, NULL, NULL, NULL, NULL},
    {"GET", "", 404, 0, NULL, NULL, NULL, NULL},
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
        if (rc == 405) {
            assert_string_equal(allow, cases[i].allow);
            continue;
        }
        if (rc != 0)
            continue;
        assert_int_equal(m.route, cases[i].route);
        assert_string_equal(m.name, sq_route_name(m.route));
        expect_slice(m.stream, cases[i].stream);
        expect_slice(m.consumer, cases[i].consumer);
        expect_slice(m.key, cases[i].key);
    }
}

/* Every route is reachable from the table (a route left out of it would never match). */
static void test_every_route_has_a_pattern(void **state)
{
    (void)state;
    for (int r = 0; r < SQ_ROUTE_COUNT; r++)
        assert_string_not_equal(sq_route_name((sq_route)r), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_every_route_has_a_pattern),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
