/* The push delivery engine (src/push/pusher.c) against a real store and the test endpoint:
 * every message delivered and acked, signed; failures (statuses, a reset, Retry-After) retried
 * on the backoff's schedule, checked by the endpoint's timestamps; a request past its lease
 * given up as a timeout; a poison message dead at max_deliver and delivered once redriven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "endpoint.h"
#include "pg_fixture.h"
#include "sequin/push.h"
#include "sequin/sha256.h"

#define WAIT_MS 20000

/* The key a request's body names ("key":"..."), malloc'd. */
static char *key_of(const ep_request *r)
{
    const char *k = strstr(r->body, "\"key\":\"");
    assert_non_null(k);
    k += 7;
    const char *end = strchr(k, '"');
    assert_non_null(end);
    char *out = strndup(k, (size_t)(end - k));
    assert_non_null(out);
    return out;
}

/* How many requests so far named `key`; their times, in order, into `at` (room for `max`;
 * NULL: only the count). */
static int times_of(endpoint *e, const char *key, int64_t *at, int max)
{
    int n = 0;
    for (size_t i = 0; i < ep_count(e) && (!at || n < max); i++) {
        ep_request r = ep_get(e, i);
        char *k = key_of(&r);
        if (strcmp(k, key) == 0 && at)
            at[n] = r.at_ms;
        n += strcmp(k, key) == 0;
        free(k);
        ep_request_free(&r);
    }
    return n;
}

/* Runs rounds until `done` holds (bounded). */
static void run_until(sq_pusher *p, struct fixture *f, bool (*done)(void *), void *ctx)
{
    long long deadline = pgt_now_ms() + WAIT_MS;
    while (!done(ctx)) {
        if (pgt_now_ms() > deadline)
            fail_msg("the pusher did not get there within %d ms", WAIT_MS);
        if (sq_pusher_round(p, 20, f->err, sizeof f->err) != 0)
            fail_msg("pusher: %s", f->err);
    }
}

struct settled {
    struct fixture *f;
    const char *cid;
    long long dead;
};

/* Nothing is available or delivered any more (and `dead` are dead). */
static bool all_settled(void *ctx)
{
    struct settled *s = ctx;
    sq_consumer c = pgt_consumer_get(s->f, s->f->stream, s->cid);
    return c.available == 0 && c.delivered == 0 && c.dead == s->dead;
}

static sq_push_target target(const struct fixture *f, const char *cid, int port, const char *secret,
                             sq_push_backoff backoff)
{
    static char url[64];
    static const char *headers[] = {"Authorization: Bearer endpoint-token"};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", port);
    sq_push_target t = {.consumer = "pusher",
                        .stream = "default",
                        .stream_num = f->stream,
                        .url = url,
                        .headers = headers,
                        .nheaders = 1,
                        .signing_secret = secret,
                        .max_waiting = 8,
                        .ack_wait_ms = 5000,
                        .backoff = backoff};
    snprintf(t.consumer_id, sizeof t.consumer_id, "%s", cid);
    return t;
}

/* 50 messages, every one delivered once and acked; each request carries the endpoint's
 * headers and a signature that verifies over "<t>.<body>". */
static void test_delivers_and_signs(void **state)
{
    struct fixture *f = *state;
    char cid[37], key[32], data[32];
    pgt_consumer(f, f->stream, "pusher", ">", (sq_consumer_settings){5000, 100, 0, {0}}, cid);
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "k.%d", i);
        snprintf(data, sizeof data, "{\"n\":%d}", i);
        pgt_upsert(f, f->stream, key, data);
    }
    endpoint e;
    ep_start(&e, NULL, NULL);
    sq_pusher *p;
    assert_int_equal(sq_pusher_new(f->store, &p, f->err, sizeof f->err), 0);
    sq_push_target t = target(f, cid, e.port, "s3cret", (sq_push_backoff){100, 1000, NULL, 0});
    assert_int_equal(sq_pusher_set(p, &t, 1, f->err, sizeof f->err), 0);
    struct settled s = {f, cid, 0};
    run_until(p, f, all_settled, &s);

    assert_int_equal(ep_count(&e), 50);
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "k.%d", i);
        assert_int_equal(times_of(&e, key, NULL, 0), 1);
    }
    ep_request r = ep_get(&e, 0);
    char *auth = ep_header(&r, "Authorization"), *sig = ep_header(&r, "Sequin-Signature");
    assert_string_equal(auth, "Bearer endpoint-token");
    assert_non_null(sig);
    long long ts;
    char hex[65];
    assert_int_equal(sscanf(sig, "t=%lld,v1=%64s", &ts, hex), 2);
    char signed_text[512];
    int n = snprintf(signed_text, sizeof signed_text, "%lld.%s", ts, r.body);
    unsigned char mac[SQ_SHA256_LEN];
    char want[65];
    sq_hmac_sha256("s3cret", 6, signed_text, (size_t)n, mac);
    sq_sha256_hex(mac, want);
    assert_string_equal(hex, want);
    assert_non_null(strstr(r.body, "\"stream\":\"default\",\"consumer\":\"pusher\","
                                   "\"deliver_count\":1}"));
    free(auth);
    free(sig);
    ep_request_free(&r);
    sq_push_stats st;
    assert_true(sq_pusher_stats(p, cid, &st));
    assert_int_equal(st.pushed, 50);
    assert_int_equal(st.retries, 0);
    assert_int_equal(st.in_flight, 0);
    sq_pusher_free(p);
    ep_stop(&e);
}

/* k.1 fails twice with 500, k.2's first connection is reset, k.3 gets 503 with Retry-After: 1
 * once; the rest succeed at once. */
static ep_answer flaky(void *ctx, const ep_request *r, size_t n)
{
    (void)ctx, (void)n;
    static int k1, k2, k3;
    if (strstr(r->body, "\"key\":\"k.1\"") && k1++ < 2)
        return (ep_answer){500, 0, NULL};
    if (strstr(r->body, "\"key\":\"k.2\"") && k2++ < 1)
        return (ep_answer){0, 0, NULL};
    if (strstr(r->body, "\"key\":\"k.3\"") && k3++ < 1)
        return (ep_answer){503, 0, "1"};
    return (ep_answer){200, 0, NULL};
}

static void test_retries_follow_the_backoff(void **state)
{
    struct fixture *f = *state;
    char cid[37];
    pgt_consumer(f, f->stream, "pusher", ">", (sq_consumer_settings){5000, 100, 0, {0}}, cid);
    pgt_upserts(f, f->stream, "k.0", "a", "k.1", "b", "k.2", "c", "k.3", "d", NULL);
    endpoint e;
    ep_start(&e, flaky, NULL);
    sq_pusher *p;
    assert_int_equal(sq_pusher_new(f->store, &p, f->err, sizeof f->err), 0);
    static const int waits[] = {300, 600};
    sq_push_target t = target(f, cid, e.port, NULL, (sq_push_backoff){0, 0, waits, 2});
    assert_int_equal(sq_pusher_set(p, &t, 1, f->err, sizeof f->err), 0);
    struct settled s = {f, cid, 0};
    run_until(p, f, all_settled, &s);

    int64_t at[8];
    assert_int_equal(times_of(&e, "k.0", at, 8), 1);
    assert_int_equal(times_of(&e, "k.1", at, 8), 3);
    assert_true(at[1] - at[0] >= 300 - PGT_CLOCK_SLACK_MS);
    assert_true(at[2] - at[1] >= 600 - PGT_CLOCK_SLACK_MS);
    /* libcurl may send a request again by itself on a fresh connection when a reused one is
     * reset before any answer; either way the delivery ends in one that succeeded. */
    int k2 = times_of(&e, "k.2", at, 8);
    assert_true(k2 == 2 || k2 == 3);
    assert_int_equal(times_of(&e, "k.3", at, 8), 2);
    assert_true(at[1] - at[0] >= 1000 - PGT_CLOCK_SLACK_MS); /* Retry-After, not the 300 */

    sq_push_stats st;
    assert_true(sq_pusher_stats(p, cid, &st));
    assert_int_equal(st.pushed, 4);
    /* Two 500s and a 503; the reset counts as one (unless libcurl's own resend hid it), and as
     * a reset, not as something else. */
    assert_int_equal(st.failed[SQ_PUSH_STATUS], 3);
    assert_true(st.failed[SQ_PUSH_RESET] <= 1);
    assert_int_equal(st.failed[SQ_PUSH_OTHER] + st.failed[SQ_PUSH_TIMEOUT], 0);
    assert_int_equal(st.retries, 3 + st.failed[SQ_PUSH_RESET]);
    assert_true(st.last_error[0] != '\0');
    sq_pusher_free(p);
    ep_stop(&e);
}

/* The first request of k.1 is answered only after 1.5 s, past the 500 ms lease. */
static ep_answer late(void *ctx, const ep_request *r, size_t n)
{
    (void)ctx, (void)n;
    static int k1;
    if (strstr(r->body, "\"key\":\"k.1\"") && k1++ < 1)
        return (ep_answer){200, 1500, NULL};
    return (ep_answer){200, 0, NULL};
}

/* An endpoint that does not answer within ack_wait_ms: the request is given up as a timeout
 * and the message delivered again, not acked by the late answer. */
static void test_timeout_is_a_failure(void **state)
{
    struct fixture *f = *state;
    char cid[37];
    pgt_consumer(f, f->stream, "pusher", ">", (sq_consumer_settings){500, 100, 0, {0}}, cid);
    pgt_upserts(f, f->stream, "k.0", "a", "k.1", "b", NULL);
    endpoint e;
    ep_start(&e, late, NULL);
    sq_pusher *p;
    assert_int_equal(sq_pusher_new(f->store, &p, f->err, sizeof f->err), 0);
    static const int waits[] = {100};
    sq_push_target t = target(f, cid, e.port, NULL, (sq_push_backoff){0, 0, waits, 1});
    t.ack_wait_ms = 500;
    assert_int_equal(sq_pusher_set(p, &t, 1, f->err, sizeof f->err), 0);
    struct settled s = {f, cid, 0};
    run_until(p, f, all_settled, &s);
    assert_int_equal(times_of(&e, "k.0", NULL, 0), 1);
    assert_int_equal(times_of(&e, "k.1", NULL, 0), 2);
    sq_push_stats st;
    assert_true(sq_pusher_stats(p, cid, &st));
    if (st.failed[SQ_PUSH_TIMEOUT] != 1 || st.pushed != 2)
        fail_msg("timeouts %lld (status %lld, reset %lld, other %lld), pushed %lld; last: %s",
                 st.failed[SQ_PUSH_TIMEOUT], st.failed[SQ_PUSH_STATUS], st.failed[SQ_PUSH_RESET],
                 st.failed[SQ_PUSH_OTHER], st.pushed, st.last_error);
    sq_pusher_free(p);
    ep_stop(&e);
}

/* Always 500 for the poison key until `cured`. */
static ep_answer poison(void *ctx, const ep_request *r, size_t n)
{
    (void)n;
    const bool *cured = ctx;
    return (ep_answer){strstr(r->body, "\"key\":\"p\"") && !*cured ? 500 : 200, 0, NULL};
}

static void test_poison_dies_and_is_redriven(void **state)
{
    struct fixture *f = *state;
    char cid[37];
    pgt_consumer(f, f->stream, "pusher", ">", (sq_consumer_settings){5000, 100, 3, {0}}, cid);
    pgt_upserts(f, f->stream, "ok", "1", "p", "2", NULL);
    static bool cured;
    cured = false;
    endpoint e;
    ep_start(&e, poison, &cured);
    sq_pusher *p;
    assert_int_equal(sq_pusher_new(f->store, &p, f->err, sizeof f->err), 0);
    static const int waits[] = {50};
    sq_push_target t = target(f, cid, e.port, NULL, (sq_push_backoff){0, 0, waits, 1});
    assert_int_equal(sq_pusher_set(p, &t, 1, f->err, sizeof f->err), 0);
    struct settled s = {f, cid, 1};
    run_until(p, f, all_settled, &s);
    assert_int_equal(times_of(&e, "p", NULL, 0), 3);
    assert_int_equal(times_of(&e, "ok", NULL, 0), 1);

    pthread_mutex_lock(&e.lock);
    cured = true;
    pthread_mutex_unlock(&e.lock);
    long long redriven = 0;
    assert_int_equal(sq_store_redrive(f->store, cid, NULL, 0, &redriven, f->err, sizeof f->err), 0);
    assert_int_equal(redriven, 1);
    s.dead = 0;
    run_until(p, f, all_settled, &s);
    assert_int_equal(times_of(&e, "p", NULL, 0), 4);
    sq_pusher_free(p);
    ep_stop(&e);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        PGT_STORE_TEST(test_delivers_and_signs),
        PGT_STORE_TEST(test_retries_follow_the_backoff),
        PGT_STORE_TEST(test_poison_dies_and_is_redriven),
        PGT_STORE_TEST(test_timeout_is_a_failure),
    };
    int rc = cmocka_run_group_tests_name("push_engine", tests, pgt_watchdog, NULL);
    curl_global_cleanup();
    return rc;
}
