/* The API's inputs: each body and query parameter rule of SPEC 3-4, with the status (400 or
 * 422) and, for 422, the field a client is told about. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sequin/api_input.h"

static sq_http_slice S(const char *s)
{
    return (sq_http_slice){s, strlen(s)};
}

/* A body and what must come of it: 0 (accepted), or the status with (for 422) the field. */
struct body_case {
    const char *body;
    int status;
    const char *field;
};

/* Checks an outcome: 0, or the status with (for 422) the field. */
static void expect(int rc, const sq_api_problem *p, int status, const char *field,
                   const char *input)
{
    if (status == 0) {
        if (rc != 0)
            fail_msg("%s: refused (%d %s)", input, p->status, p->summary);
        return;
    }
    if (rc == 0)
        fail_msg("%s: accepted, expected %d", input, status);
    if (p->status != status)
        fail_msg("%s: %d (%s), expected %d", input, p->status, p->summary, status);
    assert_non_null(p->summary);
    if (field != NULL)
        assert_string_equal(p->field, field);
}

static void test_upsert(void **state)
{
    (void)state;
    static const struct body_case cases[] = {
        {"{\"messages\":[{\"key\":\"orders.us.cus_a.order_1\",\"data\":\"{\\\"p\\\": 1}\"}]}", 0,
         NULL},
        {"{\"messages\":[{\"data\":\"x\",\"key\":\"a\"},{\"key\":\"b.c\",\"data\":\"\"}]}", 0,
         NULL},
        {"", 400, NULL},
        {"{", 400, NULL},
        {"[]", 400, NULL},
        {"{\"messages\":{}}", 400, NULL},
        {"{\"messages\":[]}", 422, "messages"},
        {"{\"messages\":[1]}", 400, NULL},
        {"{\"messages\":[{\"key\":\"a\"}]}", 400, NULL},
        {"{\"messages\":[{\"key\":\"a\",\"data\":5}]}", 400, NULL},
        {"{\"messages\":[{\"key\":\"a..b\",\"data\":\"x\"}]}", 400, NULL},
        {"{\"messages\":[{\"key\":\"a.*\",\"data\":\"x\"}]}", 400, NULL},
        {"{\"messages\":[{\"key\":\"a\",\"data\":\"x\",\"extra\":1}]}", 400, NULL},
        {"{\"messages\":[{\"key\":\"a\",\"data\":\"x\"}],\"stream\":\"s\"}", 400, NULL},
        {"{\"messages\":[{\"key\":\"a\",\"key\":\"b\",\"data\":\"x\"}]}", 400, NULL},
        {"{\"messages\":[{\"key\":\"a\",\"data\":\"0123456789ABCDEFG\"}]}", 422,
         "messages[0].data"},
        {"{\"messages\":[{\"key\":\"a\",\"data\":\"x\"},{\"key\":\"b\",\"data\":\"\\u0000\"}]}",
         422, "messages[1].data"},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(cases); i++) {
        sq_arena a = {0};
        sq_message_in *msgs = NULL;
        size_t n = 0;
        sq_api_problem p = {0};
        int rc = sq_api_parse_upsert(cases[i].body, strlen(cases[i].body), 16, &a, &msgs, &n, &p);
        expect(rc, &p, cases[i].status, cases[i].field, cases[i].body);
        sq_arena_free(&a);
    }
    /* What comes out: unescaped data, lengths, order. */
    sq_arena a = {0};
    sq_message_in *msgs;
    size_t n;
    sq_api_problem p;
    const char *body = "{\"messages\":[{\"key\":\"k.1\",\"data\":\"caf\\u00e9 \\\"x\\\"\"},"
                       "{\"key\":\"k.2\",\"data\":\"\"}]}";
    assert_int_equal(sq_api_parse_upsert(body, strlen(body), 1024, &a, &msgs, &n, &p), 0);
    assert_int_equal(n, 2);
    assert_string_equal(msgs[0].key, "k.1");
    assert_int_equal(msgs[0].key_len, 3);
    assert_string_equal(msgs[0].data, "caf\xc3\xa9 \"x\"");
    assert_int_equal(msgs[0].data_len, 9);
    assert_int_equal(msgs[1].data_len, 0);
    sq_arena_free(&a);
}

static void test_stream_and_consumer(void **state)
{
    (void)state;
    sq_arena a = {0};
    sq_api_problem p;
    const char *name;
    static const struct body_case streams[] = {
        {"{\"name\":\"orders_2\"}", 0, NULL},
        {"{\"name\":\"a-b\"}", 422, "name"},
        {"{\"name\":\"\"}", 422, "name"},
        {"{\"nom\":\"x\"}", 400, NULL},
        {"{}", 400, NULL},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(streams); i++) {
        int rc = sq_api_parse_stream(streams[i].body, strlen(streams[i].body), &a, &name, &p);
        expect(rc, &p, streams[i].status, streams[i].field, streams[i].body);
    }

    static const struct body_case creates[] = {
        {"{\"name\":\"us_orders\",\"filter_key_pattern\":\"orders.us.>\"}", 0, NULL},
        {"{\"name\":\"c\",\"filter_key_pattern\":\">\",\"ack_wait_ms\":500,\"max_ack_pending\":1,"
         "\"max_deliver\":null,\"deliver_policy\":\"new\"}",
         0, NULL},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"orders.*\",\"ack_wait_ms\":499}", 422,
         "ack_wait_ms"},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"ack_wait_ms\":3600001}", 422,
         "ack_wait_ms"},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"max_ack_pending\":0}", 422,
         "max_ack_pending"},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"max_deliver\":1001}", 422, "max_deliver"},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"max_deliver\":\"5\"}", 400, NULL},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"ack_wait_ms\":1.5}", 400, NULL},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"deliver_policy\":\"last\"}", 422,
         "deliver_policy"},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"orders.ab*\"}", 400, NULL},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"orders.>.x\"}", 400, NULL},
        {"{\"name\":\"c c\",\"filter_key_pattern\":\"o\"}", 422, "name"},
        {"{\"filter_key_pattern\":\"o\"}", 400, NULL},
        {"{\"name\":\"c\",\"filter\":\"o\"}", 400, NULL},
        /* kinds (issue 15): the original SDK's "kind": "pull", and push consumers */
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"kind\":\"pull\"}", 0, NULL},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"kind\":\"pushy\"}", 422, "kind"},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"kind\":\"push\"}", 400, NULL},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"http_endpoint\":{\"url\":\"http://a/\"}}",
         400, NULL},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"kind\":\"pull\",\"max_waiting\":3}", 400,
         NULL},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"kind\":\"push\",\"http_endpoint\":{}}",
         400, NULL},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"kind\":\"push\",\"http_endpoint\":"
         "{\"url\":\"ftp://a/\"}}",
         422, "http_endpoint.url"},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"kind\":\"push\",\"http_endpoint\":"
         "{\"url\":\"http://a b/\"}}",
         422, "http_endpoint.url"},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"kind\":\"push\",\"http_endpoint\":"
         "{\"url\":\"http://a/\",\"headers\":{\"X-A\":\"1\\r\\nX-B: 2\"}}}",
         422, "http_endpoint.headers"},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"kind\":\"push\",\"http_endpoint\":"
         "{\"url\":\"http://a/\",\"headers\":{\"X-A\":1}}}",
         400, NULL},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"kind\":\"push\",\"http_endpoint\":"
         "{\"url\":\"http://a/\",\"secret\":\"x\"}}",
         400, NULL},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"kind\":\"push\",\"http_endpoint\":"
         "{\"url\":\"http://a/\"},\"max_ack_pending\":5,\"max_waiting\":6}",
         422, "max_waiting"},
        {"{\"name\":\"c\",\"filter_key_pattern\":\"o\",\"kind\":\"push\",\"http_endpoint\":"
         "{\"url\":\"http://a/\"},\"backoff_base_ms\":400000}",
         422, "backoff_base_ms"},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(creates); i++) {
        sq_api_consumer c;
        int rc = sq_api_parse_consumer_create(creates[i].body, strlen(creates[i].body), &a, &c, &p);
        expect(rc, &p, creates[i].status, creates[i].field, creates[i].body);
    }
    sq_api_consumer c;
    const char *body = "{\"name\":\"c\",\"filter_key_pattern\":\"a.>\",\"max_deliver\":5}";
    assert_int_equal(sq_api_parse_consumer_create(body, strlen(body), &a, &c, &p), 0);
    assert_int_equal(c.settings.ack_wait_ms, 30000);
    assert_int_equal(c.settings.max_ack_pending, 10000);
    assert_int_equal(c.settings.max_deliver, 5);
    assert_false(c.deliver_new);
    assert_null(c.settings.push.http_endpoint);
    body = "{\"name\":\"c\",\"filter_key_pattern\":\"a.>\",\"kind\":\"push\",\"max_ack_pending\":"
           "8,\"http_endpoint\":{\"url\":\"https://h.example:8443/in?x=1\",\"headers\":"
           "{\"Authorization\":\"Bearer t\"},\"signing_secret\":null}}";
    assert_int_equal(sq_api_parse_consumer_create(body, strlen(body), &a, &c, &p), 0);
    assert_string_equal(c.settings.push.http_endpoint,
                        "{\"url\":\"https://h.example:8443/in?x=1\",\"headers\":"
                        "{\"Authorization\":\"Bearer t\"}}");
    assert_int_equal(c.settings.push.max_waiting, 8); /* the default 20, at most max_ack_pending */
    assert_int_equal(c.settings.push.backoff_base_ms, 1000);
    assert_int_equal(c.settings.push.backoff_max_ms, 300000);

    sq_consumer_settings ch;
    body = "{\"ack_wait_ms\":1000,\"max_deliver\":null}";
    assert_int_equal(sq_api_parse_consumer_edit(body, strlen(body), &a, &ch, &p), 0);
    assert_int_equal(ch.ack_wait_ms, 1000);
    assert_int_equal(ch.max_ack_pending, -1);
    assert_int_equal(ch.max_deliver, 0);
    body = "{\"kind\":\"push\"}";
    expect(sq_api_parse_consumer_edit(body, strlen(body), &a, &ch, &p), &p, 422, "kind", body);
    body = "{\"http_endpoint\":{\"headers\":null,\"signing_secret\":\"k3y\"},\"max_waiting\":4}";
    assert_int_equal(sq_api_parse_consumer_edit(body, strlen(body), &a, &ch, &p), 0);
    assert_string_equal(ch.push.http_endpoint, "{\"headers\":null,\"signing_secret\":\"k3y\"}");
    assert_int_equal(ch.push.max_waiting, 4);
    assert_int_equal(ch.push.backoff_base_ms, 0);
    assert_int_equal(ch.ack_wait_ms, -1);
    body = "{\"http_endpoint\":{\"url\":null}}";
    expect(sq_api_parse_consumer_edit(body, strlen(body), &a, &ch, &p), &p, 400, NULL, body);
    body = "{\"filter_key_pattern\":\"x\"}";
    expect(sq_api_parse_consumer_edit(body, strlen(body), &a, &ch, &p), &p, 422,
           "filter_key_pattern", body);
    body = "{\"ack_wait_ms\":10}";
    expect(sq_api_parse_consumer_edit(body, strlen(body), &a, &ch, &p), &p, 422, "ack_wait_ms",
           body);
    sq_arena_free(&a);
}

/* A source to create: its name and stream as a stream's name, its settings as the config
 * file's, stored in their one canonical form. */
static void test_source(void **state)
{
    (void)state;
    sq_arena a = {0};
    sq_api_problem p;
    sq_api_source src;
#define PG(members) "\"postgres\":{" members "}"
    static const struct body_case creates[] = {
        {"{\"name\":\"mydb\",\"stream\":\"default\"," PG("\"url\":\"postgres://db/app\"") "}", 0,
         NULL},
        {"{\"name\":\"mydb\",\"stream\":\"2dd165dc-21c9-45ef-a055-20a4c8a2e456\","
         "\"postgres\":{\"url\":\"u\",\"slot\":\"s\",\"publication\":\"P\","
         "\"tables\":[\"t\",\"s.t\"]},\"key_format\":\"with_operation\",\"backfill\":true}",
         0, NULL},
        {"{\"name\":\"my db\",\"stream\":\"default\"," PG("\"url\":\"u\"") "}", 422, "name"},
        {"{\"name\":\"mydb\",\"stream\":\"a.b\"," PG("\"url\":\"u\"") "}", 422, "stream"},
        {"{\"name\":\"mydb\",\"stream\":1," PG("\"url\":\"u\"") "}", 400, NULL},
        {"{\"name\":\"mydb\"," PG("\"url\":\"u\"") "}", 400, NULL},
        {"{\"name\":\"mydb\",\"stream\":\"default\"}", 400, NULL},
        {"{\"name\":\"mydb\",\"stream\":\"default\",\"postgres\":\"postgres://db\"}", 400, NULL},
        {"{\"name\":\"mydb\",\"stream\":\"default\"," PG("") "}", 400, NULL},
        {"{\"name\":\"mydb\",\"stream\":\"default\"," PG("\"url\":\"\"") "}", 400, NULL},
        {"{\"name\":\"mydb\",\"stream\":\"default\"," PG("\"url\":\"u\",\"slot\":\"S\"") "}", 400,
         NULL},
        {"{\"name\":\"mydb\",\"stream\":\"default\"," PG(
             "\"url\":\"u\",\"tables\":[\"a.b.c\"]") "}",
         400, NULL},
        {"{\"name\":\"mydb\",\"stream\":\"default\"," PG("\"url\":\"u\",\"tables\":\"t\"") "}", 400,
         NULL},
        {"{\"name\":\"mydb\",\"stream\":\"default\"," PG("\"url\":\"u\",\"url\":\"v\"") "}", 400,
         NULL},
        {"{\"name\":\"mydb\",\"stream\":\"default\"," PG("\"url\":\"u\",\"backfill\":true") "}",
         400, NULL},
        {"{\"name\":\"mydb\",\"stream\":\"default\"," PG("\"url\":\"u\"") ",\"key_format\":1}", 400,
         NULL},
        {"{\"name\":\"mydb\",\"stream\":\"default\"," PG("\"url\":\"u\"") ",\"backfill\":\"y\"}",
         400, NULL},
        {"{\"name\":\"mydb\",\"stream\":\"default\"," PG("\"url\":\"u\"") ",\"kind\":\"x\"}", 400,
         NULL},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(creates); i++) {
        int rc = sq_api_parse_source_create(creates[i].body, strlen(creates[i].body), &a, &src, &p);
        expect(rc, &p, creates[i].status, creates[i].field, creates[i].body);
    }
    /* Stored as the settings module writes them: defaults in, a table with its schema. */
    const char *body = "{\"backfill\":true,\"stream\":\"default\",\"name\":\"mydb\"," PG(
        "\"tables\":[\"orders\"],\"url\":\"postgres://u:pw@db/app\"") "}";
    assert_int_equal(sq_api_parse_source_create(body, strlen(body), &a, &src, &p), 0);
    assert_string_equal(src.name, "mydb");
    assert_string_equal(src.stream, "default");
    assert_string_equal(src.kind, "postgres");
    assert_string_equal(src.settings,
                        "{\"url\":\"postgres://u:pw@db/app\",\"slot\":\"sequin_slot\","
                        "\"publication\":\"sequin_pub\",\"tables\":[\"public.orders\"],"
                        "\"key_format\":\"basic\",\"backfill\":true}");
    /* A refusal of the settings names the setting. */
    body = "{\"name\":\"mydb\",\"stream\":\"default\"," PG("\"url\":\"u\",\"slot\":\"Bad\"") "}";
    assert_int_not_equal(sq_api_parse_source_create(body, strlen(body), &a, &src, &p), 0);
    assert_non_null(strstr(p.summary, "slot \"Bad\""));
#undef PG
    sq_arena_free(&a);
}

static void test_ack_ids(void **state)
{
    (void)state;
    sq_arena a = {0};
    sq_api_problem p;
    const char **ids;
    size_t n;
    int delay = -1;
    const char *ok = "{\"ack_ids\":[\"3f1e0c1a-0000-4000-8000-00000000000A\"]}";
    assert_int_equal(sq_api_parse_ack_ids(ok, strlen(ok), false, NULL, &a, &ids, &n, &p), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], "3f1e0c1a-0000-4000-8000-00000000000A");
    const char *nack = "{\"ack_ids\":[\"3f1e0c1a-0000-4000-8000-000000000001\"],\"delay_ms\":2500}";
    assert_int_equal(sq_api_parse_ack_ids(nack, strlen(nack), false, &delay, &a, &ids, &n, &p), 0);
    assert_int_equal(delay, 2500);
    /* delay_ms is nack's only */
    expect(sq_api_parse_ack_ids(nack, strlen(nack), false, NULL, &a, &ids, &n, &p), &p, 400, NULL,
           nack);
    assert_int_equal(sq_api_parse_ack_ids("{}", 2, true, NULL, &a, &ids, &n, &p), 0);
    assert_int_equal(n, 0);
    static const char *const bad_bodies[] = {
        "{}",
        "{\"ack_ids\":[]}",
        "{\"ack_ids\":[\"not-a-uuid\"]}",
        "{\"ack_ids\":[\"3f1e0c1a00004000800000000000000001\"]}",
        "{\"ack_ids\":[\"3f1e0c1a-0000-4000-8000-00000000000g\"]}",
        "{\"ack_ids\":[1]}",
        "{\"ack_ids\":\"3f1e0c1a-0000-4000-8000-000000000001\"}",
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(bad_bodies); i++) {
        int rc = sq_api_parse_ack_ids(bad_bodies[i], strlen(bad_bodies[i]), false, NULL, &a, &ids,
                                      &n, &p);
        expect(rc, &p, i == 1 ? 422 : 400, NULL, bad_bodies[i]);
    }
    sq_arena_free(&a);
}

static void test_receive_params(void **state)
{
    (void)state;
    sq_api_receive r;
    sq_api_problem p;
    assert_int_equal(sq_api_parse_receive_query(S(""), &r, &p), 0);
    assert_int_equal(r.batch_size, 1);
    assert_int_equal(r.wait_for_ms, 0);
    assert_int_equal(sq_api_parse_receive_query(S("batch_size=10&wait_for=60000"), &r, &p), 0);
    assert_int_equal(r.batch_size, 10);
    assert_int_equal(r.wait_for_ms, 60000);
    static const char *const bad_queries[] = {
        "batch_size=0",   "batch_size=1001", "batch_size=", "batch_size=1x",
        "wait_for=60001", "wait_for=-1",     "size=1"};
    for (size_t i = 0; i < SQ_ARRAY_LEN(bad_queries); i++)
        expect(sq_api_parse_receive_query(S(bad_queries[i]), &r, &p), &p, 400, NULL,
               bad_queries[i]);
    assert_int_equal(sq_api_parse_receive_body("", 0, &r, &p), 0);
    const char *body = "{\"batch_size\":5,\"wait_for\":100}";
    assert_int_equal(sq_api_parse_receive_body(body, strlen(body), &r, &p), 0);
    assert_int_equal(r.batch_size, 5);
    body = "{\"batch_size\":5000}";
    expect(sq_api_parse_receive_body(body, strlen(body), &r, &p), &p, 422, "batch_size", body);
}

static void test_listing(void **state)
{
    (void)state;
    sq_arena a = {0};
    sq_api_listing l;
    sq_api_problem p;
    assert_int_equal(sq_api_parse_listing(S(""), false, &a, &l, &p), 0);
    assert_int_equal(l.limit, 100);
    assert_false(l.newest_first);
    assert_null(l.key_pattern);
    assert_int_equal(sq_api_parse_listing(S("limit=5&sort=seq_desc&key_pattern=orders.%2A.cus_a.>"),
                                          false, &a, &l, &p),
                     0);
    assert_int_equal(l.limit, 5);
    assert_true(l.newest_first);
    assert_string_equal(l.key_pattern, "orders.*.cus_a.>");
    assert_int_equal(sq_api_parse_listing(S("state=dead"), true, &a, &l, &p), 0);
    assert_string_equal(l.state, "dead");
    static const char *const bad_queries[] = {"limit=0",
                                              "limit=10001",
                                              "sort=seq",
                                              "key_pattern=a..b",
                                              "key_pattern=%zz",
                                              "key_pattern=a.b*",
                                              "state=dead" /* not for stream listings */,
                                              "color=red"};
    for (size_t i = 0; i < SQ_ARRAY_LEN(bad_queries); i++)
        expect(sq_api_parse_listing(S(bad_queries[i]), false, &a, &l, &p), &p, 400, NULL,
               bad_queries[i]);
    expect(sq_api_parse_listing(S("sort=seq_asc"), true, &a, &l, &p), &p, 400, NULL, "sort");
    expect(sq_api_parse_listing(S("state=acked"), true, &a, &l, &p), &p, 400, NULL, "state");
    sq_arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upsert),  cmocka_unit_test(test_stream_and_consumer),
        cmocka_unit_test(test_ack_ids), cmocka_unit_test(test_receive_params),
        cmocka_unit_test(test_listing), cmocka_unit_test(test_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
