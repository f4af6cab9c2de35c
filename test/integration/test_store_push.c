/* Push consumers in the store (issue 15) against a real PostgreSQL: created with an endpoint
 * and the delivery settings' defaults, listed for the pushing process, edited (the endpoint
 * member by member, max_waiting lowered with max_ack_pending), refusals that fit no kind, and
 * declared in the config file (reconciled, a change of kind refused). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pg_fixture.h"
#include "sequin/push_rules.h"
#include "sequin/store.h"

#define ENDPOINT                                                                                   \
    "{\"url\":\"https://hooks.example.com/in\",\"headers\":{\"X-Team\":\"a\","                     \
    "\"Authorization\":\"Bearer t0k\"},\"signing_secret\":\"s3cret\"}"

static sq_consumer push_consumer(struct fixture *f, const char *name, sq_consumer_settings set)
{
    sq_consumer c;
    int rc = sq_store_consumer_create(f->store, f->stream, name, "orders.>", &set, false, &c,
                                      &f->arena, f->err, sizeof f->err);
    if (rc != SQ_OK)
        fail_msg("create %s: %s", name, f->err);
    return c;
}

static void edit(struct fixture *f, const char *name, sq_consumer_settings change, int want,
                 sq_consumer *out)
{
    int rc = sq_store_consumer_edit(f->store, f->stream, name, &change, false, out, &f->arena,
                                    f->err, sizeof f->err);
    if (rc != want)
        fail_msg("edit %s: %d, wanted %d: %s", name, rc, want, f->err);
}

static void test_create_list_edit(void **state)
{
    struct fixture *f = *state;
    sq_consumer_settings set = PGT_DEFAULTS;
    set.push.http_endpoint = ENDPOINT;
    sq_consumer c = push_consumer(f, "hooks", set);
    assert_true(c.push);
    assert_string_equal(c.endpoint.url, "https://hooks.example.com/in");
    assert_int_equal(c.endpoint.n_headers, 2);
    assert_string_equal(c.endpoint.headers[0], "Authorization: Bearer t0k"); /* by name */
    assert_string_equal(c.endpoint.headers[1], "X-Team: a");
    assert_string_equal(c.endpoint.signing_secret, "s3cret");
    assert_int_equal(c.settings.push.max_waiting, SQ_PUSH_DEFAULT_MAX_WAITING);
    assert_int_equal(c.settings.push.backoff_base_ms, SQ_PUSH_DEFAULT_BACKOFF_BASE_MS);
    assert_int_equal(c.settings.push.backoff_max_ms, SQ_PUSH_DEFAULT_BACKOFF_MAX_MS);

    /* A pull consumer has none of it; the listing for the pushing process skips it. */
    sq_consumer pull = pgt_make_consumer(f, f->stream, "pulled", "orders.>", PGT_DEFAULTS, false);
    assert_false(pull.push);
    assert_null(pull.endpoint.url);
    assert_int_equal(pull.endpoint.n_headers, 0);
    assert_int_equal(pull.settings.push.max_waiting, 0);
    sq_stream other = pgt_stream(f, "other");
    sq_consumer_settings small = {30000, 5, 3, {"{\"url\":\"http://127.0.0.1:9/x\"}", 0, 200, 0}};
    sq_consumer s = {0};
    assert_int_equal(sq_store_consumer_create(f->store, other.num, "tiny", ">", &small, true, &s,
                                              &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(s.settings.push.max_waiting, 5); /* the default 20, lowered */
    assert_int_equal(s.settings.push.backoff_base_ms, 200);
    assert_null(s.endpoint.headers);
    assert_null(s.endpoint.signing_secret);

    sq_consumer *list = NULL;
    size_t n = 0;
    assert_int_equal(sq_store_push_consumers(f->store, &list, &n, &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "hooks");
    assert_int_equal(list[0].stream_num, f->stream);
    assert_string_equal(list[0].filter, "orders.>");
    assert_string_equal(list[0].endpoint.signing_secret, "s3cret");
    assert_string_equal(list[1].name, "tiny");
    assert_int_equal(list[1].stream_num, other.num);
    assert_int_equal(list[1].settings.max_deliver, 3);
    assert_true(list[1].deliver_new);

    /* An edit changes the endpoint's members it names: headers as a whole, null removes. */
    sq_consumer e;
    sq_consumer_settings change = {-1, -1, -1, {0}};
    change.push.http_endpoint = "{\"headers\":{\"X-New\":\"b\"},\"signing_secret\":null}";
    change.push.max_waiting = 7;
    edit(f, "hooks", change, SQ_OK, &e);
    assert_string_equal(e.endpoint.url, "https://hooks.example.com/in");
    assert_int_equal(e.endpoint.n_headers, 1);
    assert_string_equal(e.endpoint.headers[0], "X-New: b");
    assert_null(e.endpoint.signing_secret);
    assert_int_equal(e.settings.push.max_waiting, 7);
    assert_int_equal(e.settings.max_ack_pending, 10000);

    /* A lower max_ack_pending lowers max_waiting with it; an explicit one above is refused. */
    change = (sq_consumer_settings){-1, 4, -1, {0}};
    edit(f, "hooks", change, SQ_OK, &e);
    assert_int_equal(e.settings.push.max_waiting, 4);
    change = (sq_consumer_settings){-1, -1, -1, {NULL, 5, 0, 0}};
    edit(f, "hooks", change, SQ_STORE_CONFLICT, &e);
    assert_non_null(strstr(f->err, "max_waiting above max_ack_pending"));
    change = (sq_consumer_settings){-1, -1, -1, {NULL, 0, 400000, 0}};
    edit(f, "hooks", change, SQ_STORE_CONFLICT, &e);
    assert_non_null(strstr(f->err, "backoff_base_ms above backoff_max_ms"));
    change = (sq_consumer_settings){-1, -1, -1, {NULL, 0, 400000, 500000}};
    edit(f, "hooks", change, SQ_OK, &e);
    assert_int_equal(e.settings.push.backoff_max_ms, 500000);

    /* A pull consumer takes no push setting. */
    change = (sq_consumer_settings){-1, -1, -1, {NULL, 3, 0, 0}};
    edit(f, "pulled", change, SQ_STORE_CONFLICT, &e);
    assert_non_null(strstr(f->err, "is a pull consumer"));
    change = (sq_consumer_settings){-1, -1, -1, {"{\"url\":\"http://a/\"}", 0, 0, 0}};
    edit(f, "pulled", change, SQ_STORE_CONFLICT, &e);
}

static void test_declared(void **state)
{
    struct fixture *f = *state;
    sq_declared_consumer d[2] = {
        {"default", "pushed", "a.>", {30000, 10000, 0, {ENDPOINT, 20, 1000, 300000}}, false},
        {"default", "pulled", "b.>", {30000, 10000, 0, {0}}, false},
    };
    sq_reconcile_change *ch = NULL;
    size_t n = 0;
    long refused = 0;
    assert_int_equal(
        sq_store_reconcile(f->store, d, 2, &ch, &n, &refused, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    assert_int_equal(ch[0].action, SQ_RECONCILE_CREATED);
    sq_consumer c = pgt_consumer_get(f, f->stream, "pushed");
    assert_true(c.push);
    assert_true(c.managed_by_config);
    assert_string_equal(c.endpoint.signing_secret, "s3cret");

    /* The same file again changes nothing; a new url or max_waiting is an update. */
    assert_int_equal(
        sq_store_reconcile(f->store, d, 2, &ch, &n, &refused, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    assert_int_equal(ch[0].action, SQ_RECONCILE_UNCHANGED);
    assert_int_equal(ch[1].action, SQ_RECONCILE_UNCHANGED);
    d[0].settings.push.http_endpoint = "{\"url\":\"http://other.example/\"}";
    d[0].settings.push.max_waiting = 3;
    assert_int_equal(
        sq_store_reconcile(f->store, d, 2, &ch, &n, &refused, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    assert_int_equal(ch[0].action, SQ_RECONCILE_UPDATED);
    c = pgt_consumer_get(f, f->stream, "pushed");
    assert_string_equal(c.endpoint.url, "http://other.example/");
    assert_null(c.endpoint.signing_secret);
    assert_int_equal(c.settings.push.max_waiting, 3);

    /* The kind cannot change: refused, nothing changed. */
    d[1].settings.push = (sq_push_settings){ENDPOINT, 20, 1000, 300000};
    assert_int_equal(
        sq_store_reconcile(f->store, d, 2, &ch, &n, &refused, &f->arena, f->err, sizeof f->err),
        SQ_STORE_CONFLICT);
    assert_int_equal(refused, 1);
    assert_non_null(strstr(f->err, "kind"));
    assert_false(pgt_consumer_get(f, f->stream, "pulled").push);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PGT_STORE_TEST(test_create_list_edit),
        PGT_STORE_TEST(test_declared),
    };
    return cmocka_run_group_tests_name("store_push", tests, NULL, NULL);
}
