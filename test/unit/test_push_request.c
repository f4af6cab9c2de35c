/* A push delivery's request and the reading of its answer: the body a receiver parses, the
 * signature it checks (against Python's hmac module), the backoff's bounds and Retry-After. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sequin/push.h"

static void test_body(void **state)
{
    (void)state;
    const char *data = "{\"a\":\"x\\\"y\"}\nline";
    sq_delivery d = {
        .ack_id = "5f0c1a52-7e1b-4b8e-9d3a-0b6f5a0e2c11",
        .deliver_count = 2,
        .message = {
            .key = "mydb.public.orders.7", .data = data, .data_len = strlen(data), .seq = 42}};
    sq_buf out = {0};
    assert_int_equal(sq_push_body(&out, &d, "default", "pusher"), 0);
    assert_string_equal(
        out.data, "{\"key\":\"mydb.public.orders.7\",\"data\":\"{\\\"a\\\":\\\"x\\\\\\\"y\\\"}"
                  "\\nline\",\"seq\":42,\"stream\":\"default\",\"consumer\":\"pusher\","
                  "\"deliver_count\":2}");
    sq_buf_free(&out);
}

static void test_signature(void **state)
{
    (void)state;
    char sig[SQ_PUSH_SIGNATURE_MAX];
    const char *body = "{\"key\":\"a.b\"}";
    sq_push_signature("whsec_test", 1700000000, body, strlen(body), sig);
    /* python3: hmac.new(b'whsec_test', b'1700000000.' + body, hashlib.sha256).hexdigest() */
    assert_string_equal(sig, "t=1700000000,v1="
                             "60ae073b80c9a04c2ba6e6fc4d6baaaedd6ec588dc09d4ff60f5cd9a33ed002a");
}

/* Doubling waits stay in the upper half of the doubled wait and never pass the cap; a list is
 * taken as it is, its last wait repeating. */
static void test_backoff(void **state)
{
    (void)state;
    sq_push_backoff b = {.base_ms = 1000, .max_ms = 60000};
    uint64_t rng = 88172645463325252ull;
    for (int n = 1; n <= 20; n++) {
        long long full = 1000LL << (n - 1 < 6 ? n - 1 : 6);
        if (full > 60000)
            full = 60000;
        for (int i = 0; i < 200; i++) {
            long long w = sq_push_backoff_ms(&b, n, &rng);
            assert_true(w >= full / 2 && w <= full);
        }
    }
    const int list[] = {0, 250, 5000};
    sq_push_backoff l = {.list_ms = list, .nlist = 3};
    assert_int_equal(sq_push_backoff_ms(&l, 1, &rng), 0);
    assert_int_equal(sq_push_backoff_ms(&l, 2, &rng), 250);
    assert_int_equal(sq_push_backoff_ms(&l, 3, &rng), 5000);
    assert_int_equal(sq_push_backoff_ms(&l, 9, &rng), 5000);
}

static void test_retry_after(void **state)
{
    (void)state;
    const int64_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
    const struct {
        const char *value;
        int rc;
        long long ms;
    } cases[] = {
        {"120", 0, 120000},
        {" 0 ", 0, 0},
        {"99999999999999999999", 0, 86400000},
        {"Sun, 06 Nov 1994 08:49:37 GMT", 0, 0},
        {"Sun, 06 Nov 1994 08:50:07 GMT", 0, 30000},
        {"Sat, 05 Nov 1994 08:49:37 GMT", 0, 0},
        {"", -1, 0},
        {"-5", -1, 0},
        {"1.5", -1, 0},
        {"soon", -1, 0},
        {"Sun, 06 Nov 1994 08:49:37 UTC", -1, 0},
        {"Sun, 06 Foo 1994 08:49:37 GMT", -1, 0},
        {"Sun, 06 Nov 1994 08:49:37 GMT trailing", -1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long long ms = -7;
        int rc = sq_push_retry_after(cases[i].value, strlen(cases[i].value), now, &ms);
        if (rc != cases[i].rc || (rc == 0 && ms != cases[i].ms))
            fail_msg("Retry-After \"%s\": rc %d ms %lld, not rc %d ms %lld", cases[i].value, rc, ms,
                     cases[i].rc, cases[i].ms);
    }
}

static void test_statuses(void **state)
{
    (void)state;
    assert_true(sq_push_status_acks(200) && sq_push_status_acks(204) && sq_push_status_acks(299));
    assert_false(sq_push_status_acks(199) || sq_push_status_acks(300) || sq_push_status_acks(0));
    assert_true(sq_push_status_honours_retry_after(429) && sq_push_status_honours_retry_after(503));
    assert_false(sq_push_status_honours_retry_after(500));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body),     cmocka_unit_test(test_signature),
        cmocka_unit_test(test_backoff),  cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_statuses),
    };
    return cmocka_run_group_tests_name("push_request", tests, NULL, NULL);
}
