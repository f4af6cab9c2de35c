/* The handlers against a real PostgreSQL, without HTTP: a request's calls in order, and the
 * worker's cache of names, which saves the resolving call while it is right and resolves
 * again, once, when a call finds the stream or consumer it names gone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pg_fixture.h"
#include "sequin/handlers.h"
#include "sequin/name_cache.h"
#include "sequin/router.h"

struct env {
    struct fixture *f;
    sq_handler_env env;
    sq_arena arena;
    sq_buf body;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof *e);
    pgt_store_setup((void **)&e->f);
    /* A minute: nothing in these tests expires by the clock. */
    e->env = (sq_handler_env){.cache = sq_name_cache_new(60000), .max_message_bytes = 1 << 20};
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    sq_name_cache_free(e->env.cache);
    sq_arena_free(&e->arena);
    sq_buf_free(&e->body);
    void *f = e->f;
    pgt_store_teardown(&f);
    free(e);
    return 0;
}

/* The outcome of one request: its status, its body, and how many store calls it took. */
struct outcome {
    int status;
    int calls;
    char consumer_id[37];
};

/* Runs `method` `path` (with `body`) to its answer the way a worker does, each call waited
 * for on the fixture's connection. */
static struct outcome run(struct env *e, const char *method, const char *path, const char *body)
{
    struct outcome o = {0};
    sq_route_match m;
    const char *allow = NULL, *json = NULL;
    sq_api_problem p;
    sq_handler h;
    char err[256];
    sq_store *s = e->f->store;

    sq_arena_reset(&e->arena);
    if (sq_router_match((sq_http_slice){method, strlen(method)},
                        (sq_http_slice){path, strlen(path)}, &m, &allow) != SQ_OK)
        fail_msg("no route for %s %s", method, path);
    sq_request_in in = {.body = body, .body_len = body != NULL ? strlen(body) : 0, .now_ms = 1};
    if (sq_handler_start(&h, &m, &in, &e->env, &e->arena, &json, &p) != 0)
        fail_msg("%s %s refused: %s", method, path, p.summary);
    for (;;) {
        if (sq_handler_begin(&h, s, err, sizeof err) != SQ_OK)
            fail_msg("begin: %s", err);
        o.calls++;
        assert_int_not_equal(pgt_async_drive(s), SQ_AGAIN); /* over within PGT_WAIT_MS */
        int next = sq_handler_finish(&h, s, 1, &e->body, &o.status, err, sizeof err);
        if (next == SQ_HANDLER_REPLY)
            break;
        assert_int_equal(next, SQ_HANDLER_NEXT);
    }
    memcpy(o.consumer_id, h.consumer_id, sizeof o.consumer_id);
    return o;
}

static const char *body_of(const struct env *e)
{
    return e->body.len > 0 ? e->body.data : "";
}

/* A stream's listing: resolved once, then from the cache; deleted, the cached number's
 * call finds it gone and the name is resolved again (404); made again, the new one. */
static void test_stream_names(void **state)
{
    struct env *e = *state;
    struct fixture *f = e->f;
    sq_stream st;
    char id[37];
    const char *list = "/api/streams/s/messages";

    pgt_stream(f, "s");
    struct outcome o = run(e, "GET", list, NULL);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.calls, 2); /* resolve, list */
    o = run(e, "GET", list, NULL);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.calls, 1); /* the cache */

    assert_int_equal(sq_store_stream_delete(f->store, "s", id, f->err, sizeof f->err), SQ_OK);
    o = run(e, "GET", list, NULL);
    assert_int_equal(o.status, 404);
    assert_non_null(strstr(body_of(e), "stream not found"));
    assert_int_equal(o.calls, 2); /* the cached number's list, then the name */

    st = pgt_stream(f, "s");
    pgt_upsert(f, st.num, "k.1", "x");
    o = run(e, "GET", list, NULL);
    assert_int_equal(o.status, 200);
    assert_non_null(strstr(body_of(e), "\"k.1\""));
    assert_int_equal(o.calls, 2); /* nothing cached since the 404: resolve, list */
}

/* A consumer deleted and made again under its name while its id is cached: the ack through
 * the old id finds it gone, the name resolves to the new consumer, and the ack goes there. */
static void test_consumer_made_again(void **state)
{
    struct env *e = *state;
    struct fixture *f = e->f;
    char first[37], second[37], deleted[37];
    const char *ack = "/api/streams/default/consumers/c/ack";
    const char *ids = "{\"ack_ids\":[\"6f1c1a52-0c8e-4d55-9a5e-1d2b3c4d5e6f\"]}";

    pgt_consumer(f, f->stream, "c", "a.>", PGT_DEFAULTS, first);
    struct outcome o = run(e, "POST", ack, ids);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.calls, 2);
    assert_string_equal(o.consumer_id, first);

    assert_int_equal(
        sq_store_consumer_delete(f->store, f->stream, "c", false, deleted, f->err, sizeof f->err),
        SQ_OK);
    pgt_consumer(f, f->stream, "c", "a.>", PGT_DEFAULTS, second);
    assert_string_not_equal(first, second);
    o = run(e, "POST", ack, ids);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.calls, 3); /* the old id's ack, the name, the new id's ack */
    assert_string_equal(o.consumer_id, second);
    o = run(e, "POST", ack, ids);
    assert_int_equal(o.calls, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stream_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consumer_made_again, setup, teardown),
    };
    return cmocka_run_group_tests_name("handlers", tests, NULL, NULL);
}
