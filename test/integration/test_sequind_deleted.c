/* A stream or consumer deleted through one node: once the delete was answered, the other
 * node answers 404 for it at once, even on a worker that has just resolved its name (each
 * worker keeps resolved names for a second). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api_client.h"
#include "sequin/common.h"
#include "sequind_harness.h"

static int setup(void **state)
{
    struct server **pair = calloc(2, sizeof *pair);
    for (int i = 0; i < 2; i++)
        pair[i] = api_serve(NULL);
    *state = pair;
    return 0;
}

/* Stops both nodes (teardown_server stops every server the program started), failing on a
 * sanitizer report in either log. */
static int teardown(void **state)
{
    struct server **pair = *state;
    void *one = pair[0];
    int rc = teardown_server(&one);
    free(pair);
    return rc;
}

/* One request on `c`, a keep-alive connection to node b, so that it reaches the worker that
 * served the requests before it on `c` (and remembers the names they resolved). */
static int status_on(api_conn *c, int port, const char *method, const char *target,
                     const char *body)
{
    api_resp r;
    int status = api_try_call(c, port, 10000, method, target, body, &r);
    if (status < 0)
        fail_msg("%s %s: no answer", method, target);
    api_resp_free(&r);
    return status;
}

/* A request of the tests below. */
struct request {
    const char *method, *target, *body;
};

/* Makes a stream or consumer through node a (`make`), asks `ask` on a new keep-alive connection
 * to b (200: the name is resolved there now), deletes it through a (DELETE `doomed`), and asks
 * `ask` again on that connection: 404. */
static void ask_around_a_delete(struct server **pair, struct request make, const char *doomed,
                                struct request ask)
{
    int a = pair[0]->port, b = pair[1]->port;
    api_conn c = {.fd = -1};
    api_expect(a, make.method, make.target, make.body, 200, NULL);
    assert_int_equal(status_on(&c, b, ask.method, ask.target, ask.body), 200);
    api_expect(a, "DELETE", doomed, NULL, 200, "\"deleted\":true");
    int status = status_on(&c, b, ask.method, ask.target, ask.body);
    if (status != 404)
        fail_msg("%s %s after the delete: %d", ask.method, ask.target, status);
    api_close(&c);
}

/* Each route that names the stream by its number (a listing, the consumers, an upsert) is
 * asked on a connection to b right after it resolved the name there, then asked again right
 * after a delete through a: 404, where a stale number gave 200 and an empty list. */
static void test_stream_deleted_elsewhere(void **state)
{
    static const struct request routes[] = {
        {"GET", "/api/streams/doomed/messages", NULL},
        {"GET", "/api/streams/doomed/messages?key_pattern=a.%3E", NULL},
        {"GET", "/api/streams/doomed/consumers", NULL},
        {"POST", "/api/streams/doomed/messages",
         "{\"messages\":[{\"key\":\"a.1\",\"data\":\"x\"}]}"},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(routes); i++)
        ask_around_a_delete(*state,
                            (struct request){"POST", "/api/streams", "{\"name\":\"doomed\"}"},
                            "/api/streams/doomed", routes[i]);
}

/* The same for the routes of a consumer's messages, by its id, after the consumer is
 * deleted through a. */
static void test_consumer_deleted_elsewhere(void **state)
{
    static const struct request routes[] = {
        /* each target below the consumer's path */
        {"GET", "receive", NULL},
        {"GET", "messages", NULL},
        {"POST", "ack", "{\"ack_ids\":[\"6f1c1a52-0c8e-4d55-9a5e-1d2b3c4d5e6f\"]}"},
        {"POST", "nack", "{\"ack_ids\":[\"6f1c1a52-0c8e-4d55-9a5e-1d2b3c4d5e6f\"]}"},
        {"POST", "extend", "{\"ack_ids\":[\"6f1c1a52-0c8e-4d55-9a5e-1d2b3c4d5e6f\"]}"},
        {"POST", "redrive", "{}"},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(routes); i++) {
        char target[128];
        snprintf(target, sizeof target, "/api/streams/default/consumers/doomed/%s",
                 routes[i].target);
        ask_around_a_delete(
            *state,
            (struct request){"POST", "/api/streams/default/consumers",
                             "{\"name\":\"doomed\",\"filter_key_pattern\":\"a.>\"}"},
            "/api/streams/default/consumers/doomed",
            (struct request){routes[i].method, target, routes[i].body});
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_deleted_elsewhere),
        cmocka_unit_test(test_consumer_deleted_elsewhere),
    };
    return cmocka_run_group_tests_name("sequind_deleted", tests, setup, teardown);
}
