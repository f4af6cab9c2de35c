/* Consumers through the real sequind: the seed guide's flow over HTTP, every consumer route
 * and its errors, long polls (woken by upserts, by the clock, across two nodes), auth on
 * every route, and two nodes sharing one database without sharing a lease. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "api_client.h"
#include "sequin/common.h"
#include "sequind_harness.h"

/* ---- the guide ------------------------------------------------------------------------------ */

/* The seed guide over HTTP: four orders, order_2 updated, a consumer of the US orders, four
 * receives giving the three US orders in seq order and then none, and redelivery once the
 * ack wait has passed. */
static void test_guide_flow(void **state)
{
    struct server *s = *state;
    int port = s->port;
    char ack[5][64], key[128];

    api_make_stream(port, "guide");
    api_upsert1(port, "guide", "orders.us.cus_a.order_1", "{\\\"product\\\": \\\"Shoes\\\"}");
    api_upsert1(port, "guide", "orders.us.cus_a.order_2", "{\\\"product\\\": \\\"Hat\\\"}");
    api_upsert1(port, "guide", "orders.eu.cus_b.order_3", "{\\\"product\\\": \\\"Scarf\\\"}");
    api_upsert1(port, "guide", "orders.us.cus_c.order_4", "{\\\"product\\\": \\\"Socks\\\"}");
    api_upsert1(port, "guide", "orders.us.cus_a.order_2",
                "{\\\"product\\\": \\\"Hat\\\", \\\"status\\\": \\\"paid\\\"}");

    char *c = api_expect_body(port, "POST", "/api/streams/guide/consumers",
                              "{\"name\":\"us_orders\",\"filter_key_pattern\":\"orders.us.>\","
                              "\"ack_wait_ms\":1000}",
                              200, "\"name\":\"us_orders\"");
    assert_non_null(strstr(c, "\"filter_key_pattern\":\"orders.us.>\""));
    assert_non_null(strstr(c, "\"managed_by\":\"api\""));
    assert_non_null(strstr(c, "\"available\":3"));
    free(c);

    const char *want[] = {"orders.us.cus_a.order_1", "orders.us.cus_c.order_4",
                          "orders.us.cus_a.order_2"};
    for (int i = 0; i < 3; i++) {
        char *got = api_receive(port, "guide", "us_orders", 1, 0);
        if (count_of(got, "\"ack_id\"") != 1 ||
            strcmp(json_str(got, "key", key, sizeof key), want[i]) != 0)
            fail_msg("receive %d: wanted %s, got %s", i + 1, want[i], got);
        json_str(got, "ack_id", ack[i], sizeof ack[i]);
        if (i == 2)
            assert_non_null(strstr(got, "paid")); /* the newest data of order_2 */
        free(got);
    }
    char *none = api_receive(port, "guide", "us_orders", 1, 0);
    assert_string_equal(none, "{\"data\":[]}");
    free(none);

    /* Leased: the consumer's messages say so, and so does the message's consumer_info. */
    char *leased = api_expect_body(
        port, "GET", "/api/streams/guide/consumers/us_orders/messages?state=delivered", NULL, 200,
        "{\"data\":[");
    assert_int_equal(count_of(leased, "\"state\":\"delivered\""), 3);
    free(leased);
    api_expect(port, "GET", "/api/streams/guide/messages/orders.us.cus_a.order_1/consumer_info",
               NULL, 200, "\"consumer_name\":\"us_orders\"");

    /* Ack the first; the other two come back once the ack wait (1 s) has passed. */
    api_settle(port, "guide", "us_orders", "ack", ack[0]);
    api_settle(port, "guide", "us_orders", "ack", ack[0]); /* acking twice is fine */
    usleep(1200 * 1000);
    char *again = api_receive(port, "guide", "us_orders", 10, 0);
    if (count_of(again, "\"ack_id\"") != 2 || strstr(again, "order_1") != NULL ||
        strstr(again, "order_4") == NULL || strstr(again, "order_2") == NULL)
        fail_msg("redelivery after the ack wait: %s", again);
    free(again);
}

/* ---- every consumer route and its errors ---------------------------------------------------- */

static void test_consumer_routes(void **state)
{
    struct server *s = *state;
    int port = s->port;
    char id[64], stream_id[64], target[256], ack_id[64];

    api_make_stream(port, "crud");
    api_upsert1(port, "crud", "a.1", "one");
    api_upsert1(port, "crud", "b.1", "two");

    /* create: the defaults */
    char *c = api_expect_body(port, "POST", "/api/streams/crud/consumers",
                              "{\"name\":\"all_a\",\"filter_key_pattern\":\"a.>\"}", 200,
                              "\"ack_wait_ms\":30000");
    assert_non_null(strstr(c, "\"max_ack_pending\":10000"));
    assert_non_null(strstr(c, "\"max_deliver\":null"));
    assert_non_null(strstr(c, "\"deliver_policy\":\"all\""));
    json_str(c, "id", id, sizeof id);
    json_str(c, "stream_id", stream_id, sizeof stream_id);
    free(c);
    api_format(target, sizeof target, "/api/streams/%s/consumers/%s", stream_id, id);
    const api_case crud[] = {
        /* create: conflicts, bad input */
        {"POST", "/api/streams/crud/consumers",
         "{\"name\":\"all_a\",\"filter_key_pattern\":\"a.>\"}", 409, "{\"summary\":"},
        {"POST", "/api/streams/crud/consumers", "{\"name\":\"x\",\"filter_key_pattern\":\"a..b\"}",
         400, "{\"summary\":"},
        {"POST", "/api/streams/crud/consumers",
         "{\"name\":\"x\",\"filter_key_pattern\":\"a.>\",\"ack_wait_ms\":1}", 422,
         "\"validation_errors\":{\"ack_wait_ms\""},
        {"POST", "/api/streams/crud/consumers", "{\"name\":", 400, "{\"summary\":"},
        {"POST", "/api/streams/nope/consumers", "{\"name\":\"x\",\"filter_key_pattern\":\"a.>\"}",
         404, "stream not found"},
        /* get by name and by id, with the stream by id too; list */
        {"GET", "/api/streams/crud/consumers/all_a", NULL, 200, "\"name\":\"all_a\""},
        {"GET", target, NULL, 200, "\"name\":\"all_a\""},
        {"GET", "/api/streams/crud/consumers", NULL, 200, "{\"data\":[{"},
        {"GET", "/api/streams/crud/consumers/nope", NULL, 404, "consumer not found"},
        {"GET", "/api/streams/nope/consumers/all_a", NULL, 404, "stream not found"},
        {"GET", "/api/streams/nope/consumers", NULL, 404, "stream not found"},
        /* edit: PATCH and PUT change only what they name; the filter cannot change */
        {"PATCH", "/api/streams/crud/consumers/all_a", "{\"ack_wait_ms\":5000}", 200,
         "\"ack_wait_ms\":5000"},
        {"PUT", "/api/streams/crud/consumers/all_a", "{\"max_deliver\":3}", 200,
         "\"max_deliver\":3"},
        {"GET", "/api/streams/crud/consumers/all_a", NULL, 200, "\"ack_wait_ms\":5000"},
        {"PATCH", "/api/streams/crud/consumers/all_a", "{\"filter_key_pattern\":\"b.>\"}", 422,
         "filter_key_pattern"},
        {"PATCH", "/api/streams/crud/consumers/all_a", "{\"max_ack_pending\":0}", 422,
         "max_ack_pending"},
        {"PATCH", "/api/streams/crud/consumers/nope", "{\"ack_wait_ms\":5000}", 404,
         "consumer not found"},
    };
    api_expect_each(port, crud, SQ_ARRAY_LEN(crud));

    /* receive by GET with query parameters; nack, extend, messages, redrive */
    c = api_expect_body(port, "GET", "/api/streams/crud/consumers/all_a/receive?batch_size=5", NULL,
                        200, "\"key\":\"a.1\"");
    json_str(c, "ack_id", ack_id, sizeof ack_id);
    assert_null(strstr(c, "b.1"));
    free(c);
    api_settle(port, "crud", "all_a", "extend", ack_id);
    api_settle(port, "crud", "all_a", "nack", ack_id);
    for (int i = 0; i < 2; i++) { /* two more deliveries: max_deliver 3 reached */
        c = api_receive(port, "crud", "all_a", 1, 0);
        json_str(c, "ack_id", ack_id, sizeof ack_id);
        free(c);
        api_settle(port, "crud", "all_a", "nack", ack_id);
    }
    static const api_case settled[] = {
        {"GET", "/api/streams/crud/consumers/all_a/messages?state=dead", NULL, 200,
         "\"state\":\"dead\""},
        {"POST", "/api/streams/crud/consumers/all_a/redrive", "{}", 200, "{\"redriven\":1}"},
        {"GET", "/api/streams/crud/consumers/all_a/messages", NULL, 200, "\"state\":\"available\""},
        {"GET", "/api/streams/crud/consumers/all_a/messages?state=nope", NULL, 400,
         "{\"summary\":"},
        /* ack ids: malformed is 400, unknown is fine */
        {"POST", "/api/streams/crud/consumers/all_a/ack", "{\"ack_ids\":[\"not-a-uuid\"]}", 400,
         "{\"summary\":"},
        {"POST", "/api/streams/crud/consumers/all_a/ack",
         "{\"ack_ids\":[\"00000000-0000-0000-0000-000000000000\"]}", 200, "success"},
        {"POST", "/api/streams/crud/consumers/all_a/nack",
         "{\"ack_ids\":[\"00000000-0000-0000-0000-000000000000\"],\"delay_ms\":-1}", 422,
         "delay_ms"},
        {"POST", "/api/streams/crud/consumers/nope/ack",
         "{\"ack_ids\":[\"00000000-0000-0000-0000-000000000000\"]}", 404, "consumer not found"},
        {"GET", "/api/streams/crud/consumers/all_a/receive?batch_size=0", NULL, 400,
         "{\"summary\":"},
        {"POST", "/api/streams/crud/consumers/all_a/receive", "{\"wait_for\":60001}", 422,
         "wait_for"},
        {"GET", "/api/streams/crud/messages/nope.x/consumer_info", NULL, 404, "message not found"},
        /* delete, then it is gone everywhere */
        {"DELETE", "/api/streams/crud/consumers/all_a", NULL, 200, "\"deleted\":true"},
        {"DELETE", "/api/streams/crud/consumers/all_a", NULL, 404, "consumer not found"},
        {"POST", "/api/streams/crud/consumers/all_a/receive", "{}", 404, "consumer not found"},
    };
    api_expect_each(port, settled, SQ_ARRAY_LEN(settled));

    /* Names resolved a moment ago (each worker keeps them for a second) never lead a request
     * to a consumer or stream that was deleted and made again: */
    for (int round = 0; round < 4; round++) {
        api_expect(port, "POST", "/api/streams/crud/consumers",
                   "{\"name\":\"again\",\"filter_key_pattern\":\"a.>\"}", 200, NULL);
        c = api_receive(port, "crud", "again", 10, 0); /* the new consumer's backlog */
        assert_non_null(strstr(c, "\"key\":\"a.1\""));
        free(c);
        api_expect(port, "DELETE", "/api/streams/crud/consumers/again", NULL, 200, NULL);
    }
    for (int round = 0; round < 4; round++) {
        api_make_stream(port, "again");
        api_expect(port, "POST", "/api/streams/again/consumers",
                   "{\"name\":\"c\",\"filter_key_pattern\":\">\"}", 200, "\"name\":\"c\"");
        api_upsert1(port, "again", "x.1", "one");
        api_expect(port, "GET", "/api/streams/again/messages/x.1", NULL, 200, "\"key\":\"x.1\"");
        api_expect(port, "DELETE", "/api/streams/again", NULL, 200, NULL);
    }
}

/* ---- long polls ----------------------------------------------------------------------------- */

struct delayed_upsert {
    int port;
    const char *stream, *key;
    int after_ms;
    int64_t sent_ms; /* when the upsert's 200 arrived */
};

static void *upsert_later(void *arg)
{
    struct delayed_upsert *d = arg;
    usleep((useconds_t)d->after_ms * 1000);
    char target[128], body[256];
    snprintf(target, sizeof target, "/api/streams/%s/messages", d->stream);
    snprintf(body, sizeof body, "{\"messages\":[{\"key\":\"%s\",\"data\":\"x\"}]}", d->key);
    api_resp r = api_call(d->port, "POST", target, body);
    d->sent_ms = now_ms();
    api_resp_free(&r);
    return NULL;
}

/* A receive with wait_for on `rport`, woken by an upsert on `uport`: the time from the
 * upsert's answer to the receive's, in ms. */
static int64_t wake_latency(int rport, int uport, const char *stream, const char *consumer,
                            const char *key)
{
    struct delayed_upsert d = {uport, stream, key, 300, 0};
    pthread_t t;
    pthread_create(&t, NULL, upsert_later, &d);
    int64_t start = now_ms();
    char *got = api_receive(rport, stream, consumer, 1, 10000);
    int64_t done = now_ms();
    pthread_join(t, NULL);
    if (strstr(got, key) == NULL)
        fail_msg("the long poll got %s, not %s", got, key);
    char ack[64];
    api_settle(rport, stream, consumer, "ack", json_str(got, "ack_id", ack, sizeof ack));
    free(got);
    if (done - start < 250)
        fail_msg("the long poll answered after %lld ms, before the upsert",
                 (long long)(done - start));
    return done > d.sent_ms ? done - d.sent_ms : 0;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The median of five wakes is within 50 ms of the upsert's answer (the machine is shared:
 * one slow wake is noise, five are not), and no wake is anywhere near a polling interval. */
static void expect_prompt_wakes(int rport, int uport, const char *stream, const char *consumer)
{
    static int round; /* keys never repeat: an upsert of unchanged data is not news */
    int64_t lat[5];
    round++;
    for (int i = 0; i < 5; i++) {
        char key[64];
        snprintf(key, sizeof key, "wake.r%d_%d", round, i);
        lat[i] = wake_latency(rport, uport, stream, consumer, key);
        char *ack = api_receive(rport, stream, consumer, 1, 0); /* nothing else pending */
        assert_string_equal(ack, "{\"data\":[]}");
        free(ack);
    }
    qsort(lat, 5, sizeof lat[0], cmp64);
    print_message("long poll wake after the upsert: %lld .. %lld ms (median %lld)\n",
                  (long long)lat[0], (long long)lat[4], (long long)lat[2]);
    assert_true(lat[2] <= 50);
    assert_true(lat[4] <= 1000);
}

static void test_long_poll(void **state)
{
    struct server *s = *state;
    int port = s->port;

    api_make_stream(port, "poll");
    api_expect(port, "POST", "/api/streams/poll/consumers",
               "{\"name\":\"w\",\"filter_key_pattern\":\"wake.>\",\"ack_wait_ms\":1000}", 200,
               NULL);
    /* Nothing comes: the wait runs out with an empty answer, not before. */
    int64_t start = now_ms();
    char *got = api_receive(port, "poll", "w", 1, 400);
    assert_string_equal(got, "{\"data\":[]}");
    free(got);
    assert_true(now_ms() - start >= 390);

    /* An upsert wakes it, and an upsert of a key the filter does not match does not. */
    expect_prompt_wakes(port, port, "poll", "w");
    struct delayed_upsert other = {port, "poll", "other.k", 100, 0};
    pthread_t ot;
    pthread_create(&ot, NULL, upsert_later, &other);
    start = now_ms();
    got = api_receive(port, "poll", "w", 1, 600); /* the other key arrives 100 ms into the wait */
    pthread_join(ot, NULL);
    assert_string_equal(got, "{\"data\":[]}");
    free(got);
    assert_true(other.sent_ms > start && now_ms() - start >= 590);

    /* The clock: a lease that runs out (ack wait 1 s) wakes the waiter with the message. */
    api_upsert1(port, "poll", "wake.lease", "x");
    got = api_receive(port, "poll", "w", 1, 0);
    assert_non_null(strstr(got, "wake.lease"));
    free(got);
    start = now_ms();
    got = api_receive(port, "poll", "w", 1, 5000);
    int64_t took = now_ms() - start;
    if (strstr(got, "wake.lease") == NULL)
        fail_msg("after the lease ran out: %s", got);
    free(got);
    print_message("redelivered by the lease timer after %lld ms\n", (long long)took);
    assert_true(took >= 500 && took < 3000);
}

/* ---- two nodes ------------------------------------------------------------------------------ */

enum {
    SHARED_N = 200,    /* messages the two nodes share */
    SHARED_MS = 60000, /* for all of them to be received and acked, however loaded the machine */
};

/* What the two receivers of test_two_nodes share. Neither goes past its first message until
 * both hold one, so that each node holds leases while the other does: left alone, one node may
 * take all of them before the other's first look. They stop when both together have acked
 * every message, not after empty answers (which once stopped one with nothing on a loaded
 * machine, while a receive that met the other node's fill waited out its wait_for: the store
 * now looks again then, sequin.next_visible). */
struct share {
    atomic_int holding; /* receivers holding their first lease */
    atomic_int acked;   /* messages acked, by both */
    atomic_bool failed;
    int64_t deadline_ms;
};

struct receiver {
    struct share *share;
    int port;
    const char *stream;
    int got;
    char (*keys)[32];
    char error[512]; /* a thread must not fail the test: cmocka's jump is the main thread's */
};

static bool receiver_failed(struct receiver *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    atomic_store(&r->share->failed, true);
    return false;
}

/* Waits until the other receiver holds its first lease too; false (with r->error) if it never
 * does. */
static bool both_hold(struct receiver *r)
{
    struct share *sh = r->share;
    atomic_fetch_add(&sh->holding, 1);
    while (atomic_load(&sh->holding) < 2 && !atomic_load(&sh->failed) && now_ms() < sh->deadline_ms)
        sleep_ms(5);
    if (atomic_load(&sh->holding) < 2)
        return receiver_failed(r, "the other node received nothing while this one held a lease");
    return true;
}

/* Receives and acks one message at a time until the two receivers have acked SHARED_N. */
static bool receive_shared(struct receiver *r, api_conn *c)
{
    struct share *sh = r->share;
    char receive_at[256], ack_at[256], body[128], ack[64], key[32];
    api_resp resp;

    snprintf(receive_at, sizeof receive_at, "/api/streams/%s/consumers/shared/receive", r->stream);
    snprintf(ack_at, sizeof ack_at, "/api/streams/%s/consumers/shared/ack", r->stream);
    while (atomic_load(&sh->acked) < SHARED_N && !atomic_load(&sh->failed)) {
        if (now_ms() > sh->deadline_ms)
            return receiver_failed(r, "%d of %d acked after %d ms", atomic_load(&sh->acked),
                                   SHARED_N, SHARED_MS);
        int status = api_try_call(c, r->port, EVENT_MS, "POST", receive_at,
                                  "{\"batch_size\":1,\"wait_for\":200}", &resp);
        if (status != 200) {
            receiver_failed(r, "receive: %d %s", status, resp.body != NULL ? resp.body : "");
            api_resp_free(&resp);
            return false;
        }
        if (strstr(resp.body, "\"ack_id\"") == NULL) {
            api_resp_free(&resp);
            continue;
        }
        if (strstr(resp.body, "\"key\":\"") == NULL) {
            receiver_failed(r, "a message without a key: %s", resp.body);
            api_resp_free(&resp);
            return false;
        }
        json_str(resp.body, "ack_id", ack, sizeof ack);
        json_str(resp.body, "key", key, sizeof key);
        api_resp_free(&resp);
        if (r->got == 0 && !both_hold(r))
            return false;
        snprintf(body, sizeof body, "{\"ack_ids\":[\"%s\"]}", ack);
        status = api_try_call(c, r->port, EVENT_MS, "POST", ack_at, body, &resp);
        api_resp_free(&resp);
        if (status != 200)
            return receiver_failed(r, "ack of %s: %d", key, status);
        if (r->got == SHARED_N)
            return receiver_failed(r, "more than %d messages received", SHARED_N);
        snprintf(r->keys[r->got++], 32, "%s", key);
        atomic_fetch_add(&sh->acked, 1);
    }
    return true;
}

static void *receive_loop(void *arg)
{
    struct receiver *r = arg;
    api_conn *c = malloc(sizeof *c); /* large: not on a thread's stack */
    if (c == NULL) {
        receiver_failed(r, "out of memory");
        return NULL;
    }
    c->fd = -1;
    (void)receive_shared(r, c);
    api_close(c);
    free(c);
    return NULL;
}

/* Two sequind on one database: receivers on both share the work without ever both holding a
 * message (each message is delivered once: with acks inside the 30 s ack wait, a second
 * delivery could only come from a shared lease), and a long poll on one is woken by an upsert
 * on the other. */
static void test_two_nodes(void **state)
{
    struct server *a = *state;
    struct server *b = api_serve(NULL);
    static char keys_a[SHARED_N][32], keys_b[SHARED_N][32];
    char body[64 * SHARED_N], *p = body;

    api_make_stream(a->port, "shared");
    api_expect(b->port, "POST", "/api/streams/shared/consumers",
               "{\"name\":\"shared\",\"filter_key_pattern\":\"m.*\"}", 200, NULL);
    p += sprintf(p, "{\"messages\":[");
    for (int i = 0; i < SHARED_N; i++)
        p += sprintf(p, "%s{\"key\":\"m.%d\",\"data\":\"%d\"}", i ? "," : "", i, i);
    sprintf(p, "]}");
    api_expect(a->port, "POST", "/api/streams/shared/messages", body, 200, "\"published\":200");

    struct share sh;
    atomic_init(&sh.holding, 0);
    atomic_init(&sh.acked, 0);
    atomic_init(&sh.failed, false);
    sh.deadline_ms = now_ms() + SHARED_MS;
    struct receiver ra = {&sh, a->port, "shared", 0, keys_a, ""};
    struct receiver rb = {&sh, b->port, "shared", 0, keys_b, ""};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, receive_loop, &ra);
    pthread_create(&tb, NULL, receive_loop, &rb);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    print_message("node a received %d, node b %d\n", ra.got, rb.got);
    if (ra.error[0] != '\0' || rb.error[0] != '\0')
        fail_msg("node a: %s; node b: %s", ra.error, rb.error);
    assert_int_equal(ra.got + rb.got, SHARED_N);
    assert_true(ra.got > 0 && rb.got > 0);
    int seen[SHARED_N] = {0};
    for (int i = 0; i < ra.got; i++)
        seen[atoi(keys_a[i] + 2)]++;
    for (int i = 0; i < rb.got; i++)
        seen[atoi(keys_b[i] + 2)]++;
    for (int i = 0; i < SHARED_N; i++) {
        if (seen[i] != 1)
            fail_msg("m.%d delivered %d times", i, seen[i]);
    }
    /* Nothing is left for either node, nor handed out again. */
    for (int i = 0; i < 2; i++) {
        char *got = api_receive(i == 0 ? a->port : b->port, "shared", "shared", 1, 0);
        assert_string_equal(got, "{\"data\":[]}");
        free(got);
    }

    /* A long poll on b, woken by an upsert on a (and the other way round). */
    api_expect(a->port, "POST", "/api/streams/shared/consumers",
               "{\"name\":\"w\",\"filter_key_pattern\":\"wake.>\"}", 200, NULL);
    expect_prompt_wakes(b->port, a->port, "shared", "w");
    api_expect(a->port, "POST", "/api/streams/shared/consumers",
               "{\"name\":\"w2\",\"filter_key_pattern\":\"wake.>\",\"deliver_policy\":\"new\"}",
               200, NULL);
    expect_prompt_wakes(a->port, b->port, "shared", "w2");
    /* b is stopped by the teardown, with a. */
}

/* ---- auth on every route -------------------------------------------------------------------- */

/* With a token configured, every /api route answers 401 without it (and with a wrong one),
 * and its normal answer with it; /healthz and /readyz need none. The digest is
 * SHA-256("test"). */
static void test_auth_every_route(void **state)
{
    struct server *s =
        api_serve("auth:\n  tokens:\n    - name: ci\n      sha256: "
                  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n");
    *state = s;
    static const struct {
        const char *method, *target, *body;
        int status; /* with the token */
    } routes[] = {
        {"GET", "/api/streams", NULL, 200},
        {"POST", "/api/streams", "{\"name\":\"authed\"}", 200},
        {"GET", "/api/streams/authed", NULL, 200},
        {"POST", "/api/streams/authed/messages",
         "{\"messages\":[{\"key\":\"a.b\",\"data\":\"x\"}]}", 200},
        {"GET", "/api/streams/authed/messages", NULL, 200},
        {"GET", "/api/streams/authed/messages/a.b", NULL, 200},
        {"GET", "/api/streams/authed/messages/a.b/consumer_info", NULL, 200},
        {"POST", "/api/streams/authed/consumers", "{\"name\":\"c\",\"filter_key_pattern\":\">\"}",
         200},
        {"GET", "/api/streams/authed/consumers", NULL, 200},
        {"GET", "/api/streams/authed/consumers/c", NULL, 200},
        {"PATCH", "/api/streams/authed/consumers/c", "{\"ack_wait_ms\":1000}", 200},
        {"PUT", "/api/streams/authed/consumers/c", "{\"ack_wait_ms\":2000}", 200},
        {"GET", "/api/streams/authed/consumers/c/receive", NULL, 200},
        {"POST", "/api/streams/authed/consumers/c/receive", "{}", 200},
        {"POST", "/api/streams/authed/consumers/c/ack",
         "{\"ack_ids\":[\"00000000-0000-0000-0000-000000000000\"]}", 200},
        {"POST", "/api/streams/authed/consumers/c/nack",
         "{\"ack_ids\":[\"00000000-0000-0000-0000-000000000000\"]}", 200},
        {"POST", "/api/streams/authed/consumers/c/extend",
         "{\"ack_ids\":[\"00000000-0000-0000-0000-000000000000\"]}", 200},
        {"GET", "/api/streams/authed/consumers/c/messages", NULL, 200},
        {"POST", "/api/streams/authed/consumers/c/redrive", "{}", 200},
        {"DELETE", "/api/streams/authed/consumers/c", NULL, 200},
        {"DELETE", "/api/streams/authed/messages/a.b", NULL, 200},
        {"DELETE", "/api/streams/authed", NULL, 200},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const char *tokens[] = {NULL, "wrong", "test"};
        for (int t = 0; t < 3; t++) {
            api_resp r =
                api_call_as(s->port, tokens[t], routes[i].method, routes[i].target, routes[i].body);
            int want = t < 2 ? 401 : routes[i].status;
            if (r.status != want)
                fail_msg("%s %s with token %s: %d %s, wanted %d", routes[i].method,
                         routes[i].target, tokens[t] ? tokens[t] : "(none)", r.status, r.body,
                         want);
            api_resp_free(&r);
        }
    }
    api_expect(s->port, "GET", "/healthz", NULL, 200, "ok");
    api_resp r = api_call(s->port, "GET", "/readyz", NULL); /* 503 from a worker still connecting */
    assert_true(r.status == 200 || r.status == 503);
    api_resp_free(&r);
}

/* ---- metrics and the access log ------------------------------------------------------------- */

/* The value of the sample line that starts with `series` (name and labels), or -1. */
static double sample(const char *page, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = page; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return -1;
}

/* /metrics counts what the workers did (whichever worker answers), shows each consumer's
 * gauges, and every request leaves one access-log line with its request id. */
static void test_metrics_and_access_log(void **state)
{
    struct server *s = *state;
    int port = s->port;
    char ack[64];

    api_make_stream(port, "metered");
    api_expect(port, "POST", "/api/streams/metered/consumers",
               "{\"name\":\"m\",\"filter_key_pattern\":\"k.>\"}", 200, NULL);
    api_upsert1(port, "metered", "k.1", "x");
    api_upsert1(port, "metered", "k.2", "x");
    char *got = api_receive(port, "metered", "m", 1, 0);
    api_settle(port, "metered", "m", "ack", json_str(got, "ack_id", ack, sizeof ack));
    free(got);
    got = api_receive(port, "metered", "m", 1, 0);
    free(got);

    api_resp r = api_call(port, "GET", "/metrics", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "\r\nContent-Type: text/plain; version=0.0.4"));
    assert_true(sample(r.body, "sequin_messages_upserted_total") >= 2);
    assert_true(sample(r.body, "sequin_messages_delivered_total") >= 2);
    assert_true(sample(r.body, "sequin_messages_acked_total") >= 1);
    assert_true(sample(r.body, "sequin_http_requests_total{route=\"/api/streams/:s/messages\","
                               "method=\"POST\",status=\"200\"}") >= 2);
    assert_true(sample(r.body, "sequin_consumer_messages_delivered{stream=\"metered\","
                               "consumer=\"m\"}") == 1);
    assert_true(sample(r.body, "sequin_consumer_messages_available{stream=\"metered\","
                               "consumer=\"m\"}") == 0);
    api_resp_free(&r);

    /* The client's request id is used and sent back, and logged with the route. */
    static api_conn c;
    api_open(&c, port, EVENT_MS);
    api_send(&c, "GET", "/api/streams/metered", NULL, "X-Request-Id: trace-me-42\r\n");
    r = api_read(&c);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "\r\nX-Request-Id: trace-me-42\r\n"));
    api_resp_free(&r);
    api_close(&c);
    wait_log(s, "GET /api/streams/:s 200");
    wait_log(s, "id=trace-me-42");
}

/* ---- consumers the config file declares ----------------------------------------------------- */

#define DECLARED                                                                                   \
    "streams:\n  - name: default\n    consumers:\n"                                                \
    "      - {name: declared_a, filter: \"decl.a.>\"}\n"

/* A declared consumer is served like any other but refuses API edits and deletes (409); a
 * reload that declares another one adds it. */
static void test_declared_consumers(void **state)
{
    struct server *s = api_serve(DECLARED);
    int port = s->port;
    *state = s;

    api_expect(port, "GET", "/api/streams/default/consumers/declared_a", NULL, 200,
               "\"managed_by\":\"config\"");
    api_expect(port, "PATCH", "/api/streams/default/consumers/declared_a", "{\"ack_wait_ms\":1000}",
               409, "config file");
    api_expect(port, "PUT", "/api/streams/default/consumers/declared_a", "{\"ack_wait_ms\":1000}",
               409, "config file");
    api_expect(port, "DELETE", "/api/streams/default/consumers/declared_a", NULL, 409,
               "config file");
    api_expect(port, "GET", "/api/streams/default/consumers/declared_a", NULL, 200,
               "\"ack_wait_ms\":30000");
    api_expect(port, "GET", "/api/streams/default/consumers/declared_b", NULL, 404,
               "consumer not found");

    write_config(s,
                 DECLARED "      - {name: declared_b, filter: \"decl.b.>\", ack_wait_ms: 2000}\n");
    reload(s);
    api_expect(port, "GET", "/api/streams/default/consumers/declared_b", NULL, 200,
               "\"ack_wait_ms\":2000");
    api_upsert1(port, "default", "decl.b.one", "x");
    char *got = api_receive(port, "default", "declared_b", 1, 0);
    assert_non_null(strstr(got, "decl.b.one"));
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        API_SERVER_TEST(test_guide_flow),
        API_SERVER_TEST(test_consumer_routes),
        API_SERVER_TEST(test_long_poll),
        API_SERVER_TEST(test_two_nodes),
        cmocka_unit_test_teardown(test_auth_every_route, teardown_server),
        API_SERVER_TEST(test_metrics_and_access_log),
        cmocka_unit_test_teardown(test_declared_consumers, teardown_server),
    };
    return cmocka_run_group_tests_name("sequind_consumers", tests, NULL, NULL);
}
