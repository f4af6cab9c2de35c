/* The API's objects as JSON: field names and types as SPEC 4 lists them, nulls, escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "case_file.h"
#include "sequin/render.h"
#include "sequin/source.h"

static const sq_message message = {
    .key = "orders.us.cus_a.order_1",
    .stream_id = "3f1e0c1a-0000-4000-8000-000000000001",
    .data = "{\"product\": \"Shoes\"}\n\x01",
    .data_len = 22,
    .data_hash = "ab12",
    .seq = 42,
    .inserted_at = "2026-11-24T10:00:00.000001Z",
    .updated_at = "2026-11-24T10:00:01.000002Z",
};

#define MESSAGE_JSON                                                                               \
    "{\"key\":\"orders.us.cus_a.order_1\",\"stream_id\":\"3f1e0c1a-0000-4000-8000-000000000001\"," \
    "\"data\":\"{\\\"product\\\": \\\"Shoes\\\"}\\n\\u0001\",\"data_hash\":\"ab12\",\"seq\":42,"   \
    "\"inserted_at\":\"2026-11-24T10:00:00.000001Z\","                                             \
    "\"updated_at\":\"2026-11-24T10:00:01.000002Z\"}"

/* Runs `write` on a fresh writer and compares the text. */
#define EXPECT_JSON(call, want)                                                                    \
    do {                                                                                           \
        sq_buf out = {0};                                                                          \
        sq_json_writer w;                                                                          \
        sq_json_writer_init(&w, &out);                                                             \
        assert_int_equal(call, 0);                                                                 \
        assert_int_equal(sq_json_writer_finish(&w), 0);                                            \
        assert_string_equal(out.data, want);                                                       \
        sq_buf_free(&out);                                                                         \
    } while (0)

static void test_message(void **state)
{
    (void)state;
    EXPECT_JSON(sq_render_message(&w, &message), MESSAGE_JSON);
}

static void test_stream(void **state)
{
    (void)state;
    sq_stream st = {.id = "s-id",
                    .num = 1,
                    .name = "default",
                    .message_count = 3,
                    .consumer_count = 1,
                    .storage_size = 8192,
                    .inserted_at = "2026-11-24T10:00:00.000000Z",
                    .updated_at = "2026-11-24T10:00:00.000000Z"};
    EXPECT_JSON(sq_render_stream(&w, &st),
                "{\"id\":\"s-id\",\"name\":\"default\",\"stats\":{\"message_count\":3,"
                "\"consumer_count\":1,\"storage_size\":8192},"
                "\"inserted_at\":\"2026-11-24T10:00:00.000000Z\","
                "\"updated_at\":\"2026-11-24T10:00:00.000000Z\"}");
}

static void test_consumer(void **state)
{
    (void)state;
    sq_consumer c = {.id = "c-id",
                     .name = "us_orders",
                     .stream_id = "s-id",
                     .stream_num = 1,
                     .filter = "orders.us.>",
                     .settings = {30000, 10000, 0, {0}},
                     .deliver_new = false,
                     .managed_by_config = true,
                     .available = 2,
                     .delivered = 1,
                     .dead = 0,
                     .oldest_available_age_s = 1.5,
                     .inserted_at = "t1",
                     .updated_at = "t2"};
    const char *want = "{\"id\":\"c-id\",\"name\":\"us_orders\",\"stream_id\":\"s-id\","
                       "\"filter_key_pattern\":\"orders.us.>\",\"ack_wait_ms\":30000,"
                       "\"max_ack_pending\":10000,\"max_deliver\":null,"
                       "\"deliver_policy\":\"all\",\"managed_by\":\"config\",\"kind\":\"pull\","
                       "\"stats\":{\"available\":2,\"delivered\":1,\"dead\":0},"
                       "\"inserted_at\":\"t1\",\"updated_at\":\"t2\"}";
    EXPECT_JSON(sq_render_consumer(&w, &c), want);
    c.settings.max_deliver = 5;
    c.deliver_new = true;
    c.managed_by_config = false;
    sq_buf out = {0};
    sq_json_writer w;
    sq_json_writer_init(&w, &out);
    assert_int_equal(sq_render_consumer(&w, &c), 0);
    assert_non_null(strstr(out.data, "\"max_deliver\":5,\"deliver_policy\":\"new\","
                                     "\"managed_by\":\"api\""));
    sq_buf_free(&out);

    /* A push consumer: its endpoint with every header value and the secret hidden. */
    static const char *headers[] = {"Authorization: Bearer t0k", "X-Team: a"};
    c.push = true;
    c.endpoint = (sq_push_endpoint){"https://h.example/in", headers, 2, "s3cret"};
    c.settings.push = (sq_push_settings){NULL, 20, 1000, 300000};
    sq_json_writer_init(&w, &out);
    assert_int_equal(sq_render_consumer(&w, &c), 0);
    assert_non_null(strstr(out.data, "\"kind\":\"push\",\"http_endpoint\":{\"url\":"
                                     "\"https://h.example/in\",\"headers\":{\"Authorization\":"
                                     "\"***\",\"X-Team\":\"***\"},\"signing_secret\":\"***\"},"
                                     "\"max_waiting\":20,\"backoff_base_ms\":1000,"
                                     "\"backoff_max_ms\":300000,\"stats\""));
    assert_null(strstr(out.data, "s3cret"));
    assert_null(strstr(out.data, "t0k"));
    sq_buf_free(&out);
    c.endpoint = (sq_push_endpoint){"http://a/", NULL, 0, NULL};
    sq_json_writer_init(&w, &out);
    assert_int_equal(sq_render_consumer(&w, &c), 0);
    assert_non_null(strstr(out.data, "{\"url\":\"http://a/\",\"headers\":{},"
                                     "\"signing_secret\":null}"));
    sq_buf_free(&out);
}

static void test_delivery_and_info(void **state)
{
    (void)state;
    sq_delivery d = {.ack_id = "a-id", .deliver_count = 1, .message = message};
    EXPECT_JSON(sq_render_delivery(&w, &d), "{\"ack_id\":\"a-id\",\"message\":" MESSAGE_JSON "}");

    sq_consumer_message cm = {.message = message, .info = {NULL, "available", 0, NULL, NULL}};
    EXPECT_JSON(sq_render_consumer_message(&w, &cm),
                "{\"message\":" MESSAGE_JSON ",\"info\":{\"ack_id\":null,\"state\":\"available\","
                "\"deliver_count\":0,\"last_delivered_at\":null,\"not_visible_until\":null}}");

    sq_consumer_pair p = {"c-id", "us_orders", {"a-id", "delivered", 2, "t1", "t2"}};
    EXPECT_JSON(sq_render_consumer_pair(&w, &p),
                "{\"consumer_id\":\"c-id\",\"consumer_name\":\"us_orders\",\"ack_id\":\"a-id\","
                "\"state\":\"delivered\",\"deliver_count\":2,\"last_delivered_at\":\"t1\","
                "\"not_visible_until\":\"t2\"}");
}

static void test_error(void **state)
{
    (void)state;
    sq_buf out = {0};
    assert_int_equal(sq_render_error(&out, "no consumer \"x\"", NULL, NULL), 0);
    assert_string_equal(out.data, "{\"summary\":\"no consumer \\\"x\\\"\"}");
    sq_buf_reset(&out);
    assert_int_equal(
        sq_render_error(&out, "invalid consumer", "ack_wait_ms", "must be between 500 and 3600000"),
        0);
    assert_string_equal(out.data, "{\"summary\":\"invalid consumer\",\"validation_errors\":"
                                  "{\"ack_wait_ms\":[\"must be between 500 and 3600000\"]}}");
    sq_buf_free(&out);
}

/* A source as docs/api.md shows it: the settings with the password hidden, its last report,
 * its backfills. */
static void test_source(void **state)
{
    (void)state;
    sq_backfill_row progress[1] = {{.table = "public.orders", .rows_done = 1000, .done = true}};
    sq_source src = {
        .id = "src-id",
        .name = "mydb",
        .kind = "postgres",
        .stream = "default",
        .settings = "{\"url\":\"postgres://replicator:s3cret@db.internal/app\","
                    "\"slot\":\"sequin_slot\",\"publication\":\"sequin_pub\","
                    "\"tables\":[\"public.orders\"],\"key_format\":\"basic\","
                    "\"backfill\":true}",
        .has_status = true,
        .state = "streaming",
        .node = "host-a:4242",
        .last_commit_lsn = "0/16B3748",
        .last_commit_at = "t3",
        .received_lsn = "0/16B3780",
        .lag_bytes = 56,
        .lag_seconds = 0.25,
        .rows_streamed = 1042,
        .reported_at = "t4",
        .backfills = progress,
        .n_backfills = 1,
        .inserted_at = "t1",
        .updated_at = "t2",
    };
    EXPECT_JSON(sq_render_source(&w, &src),
                "{\"id\":\"src-id\",\"name\":\"mydb\",\"kind\":\"postgres\",\"stream\":\"default\","
                "\"postgres\":{\"url\":\"postgres://replicator:****@db.internal/app\","
                "\"slot\":\"sequin_slot\",\"publication\":\"sequin_pub\","
                "\"tables\":[\"public.orders\"]},\"key_format\":\"basic\",\"backfill\":true,"
                "\"managed_by\":\"api\",\"status\":{\"state\":\"streaming\",\"error\":null,"
                "\"node\":\"host-a:4242\",\"last_commit_lsn\":\"0/16B3748\","
                "\"last_commit_at\":\"t3\",\"received_lsn\":\"0/16B3780\",\"lag_bytes\":56,"
                "\"lag_seconds\":0.25,\"rows_streamed\":1042,\"reported_at\":\"t4\"},"
                "\"backfill_progress\":[{\"table\":\"public.orders\",\"rows\":1000,"
                "\"done\":true}],\"inserted_at\":\"t1\",\"updated_at\":\"t2\"}");

    /* Before its first report: the status's members are null; no backfill: an empty list.
     * Settings that do not read are never shown as they are. */
    sq_source fresh = {.id = "src-id",
                       .name = "mydb",
                       .kind = "postgres",
                       .stream = "default",
                       .settings = "{\"url\":\"postgres://u:s3cret@db/app\",\"odd\":1}",
                       .managed_by_config = true,
                       .lag_bytes = -1,
                       .lag_seconds = -1,
                       .rows_streamed = -1,
                       .inserted_at = "t1",
                       .updated_at = "t2"};
    EXPECT_JSON(sq_render_source(&w, &fresh),
                "{\"id\":\"src-id\",\"name\":\"mydb\",\"kind\":\"postgres\",\"stream\":\"default\","
                "\"postgres\":null,\"key_format\":null,\"backfill\":null,"
                "\"managed_by\":\"config\",\"status\":{\"state\":null,\"error\":null,"
                "\"node\":null,\"last_commit_lsn\":null,\"last_commit_at\":null,"
                "\"received_lsn\":null,\"lag_bytes\":null,\"lag_seconds\":null,"
                "\"rows_streamed\":null,\"reported_at\":null},\"backfill_progress\":[],"
                "\"inserted_at\":\"t1\",\"updated_at\":\"t2\"}");
}

/* A row of cases/source_url.txt: the URL shows as the row says. */
static bool check_url(const case_row *r, void *ctx)
{
    (void)ctx;
    case_words(r, 2, 2);
    sq_buf out = {0};
    assert_int_equal(sq_source_url_redact(r->w[0].p, &out), 0);
    if (out.len != r->w[1].len || (out.len > 0 && memcmp(out.data, r->w[1].p, out.len) != 0))
        fail_msg("%s: %s shows as %.*s, not %s", r->where, r->w[0].p, (int)out.len,
                 out.len ? out.data : "", r->w[1].p);
    sq_buf_free(&out);
    return true;
}

static void test_source_url(void **state)
{
    (void)state;
    assert_true(case_file_each("source_url.txt", NULL, 0, check_url, NULL) >= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message),    cmocka_unit_test(test_stream),
        cmocka_unit_test(test_consumer),   cmocka_unit_test(test_delivery_and_info),
        cmocka_unit_test(test_error),      cmocka_unit_test(test_source),
        cmocka_unit_test(test_source_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
