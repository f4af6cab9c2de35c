/* The store's calls without waiting, driven by the test's own poll(2) loop: begin returns at
 * once, connections do not hold each other up, LISTEN, and a connection whose backend dies is
 * seen dead and reconnects. (test_store_async_calls: each call's results are the synchronous
 * call's.) */
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "pg_fixture.h"
#include "sequin/buf.h"
#include "sequin/store.h"

#define VICTIM "sequin_async_victim"

/* Holds the lock every upsert into `stream` takes first, until the transaction ends. */
static PGconn *lock_stream(int stream)
{
    PGconn *c = pgt_connect();
    char sql[128];
    pgt_exec(c, "BEGIN");
    snprintf(sql, sizeof sql, "SELECT 1 FROM sequin.streams WHERE num = %d FOR UPDATE", stream);
    pgt_exec(c, sql);
    return c;
}

/* The next notification `s` gets (its socket is waited for); fails after PGT_WAIT_MS. */
static int next_notify(sq_store *s)
{
    int stream, rc;
    long long deadline = pgt_now_ms() + PGT_WAIT_MS;
    while (sq_store_next_notify(s, &stream) != SQ_OK) {
        struct pollfd p = {sq_store_socket(s), POLLIN, 0};
        long long left = deadline - pgt_now_ms();
        if (left <= 0)
            fail_msg("no notification after %d ms", PGT_WAIT_MS);
        assert_true(poll(&p, 1, (int)left) >= 0);
        bool want_write;
        rc = sq_store_poll(s, &want_write);
        assert_int_equal(rc, SQ_AGAIN);
    }
    return stream;
}

/* ---- begin returns at once; one connection does not wait for another --------------------- */

static void test_begin_does_not_wait(void **state)
{
    struct fixture *f = *state;
    char err[512];
    pgt_upserts(f, f->stream, "job.1", "a", "job.2", "b", NULL);
    sq_consumer c = pgt_make_consumer(f, f->stream, "jobs", "job.*", PGT_DEFAULTS, false);
    sq_store *a = pgt_async_open(NULL), *b = pgt_async_open(NULL), *both[2] = {a, b};

    /* B's upsert waits for a lock a test connection holds; its begin does not. */
    PGconn *locker = lock_stream(f->stream);
    sq_message_in m = {"job.3", 5, "c", 1};
    long long t0 = pgt_now_ms();
    assert_int_equal(sq_store_begin_upsert(b, f->stream, &m, 1, err, sizeof err), SQ_OK);
    assert_true(pgt_now_ms() - t0 < 1000);
    bool want_write;
    assert_int_equal(sq_store_poll(b, &want_write), SQ_AGAIN);
    assert_true(sq_store_busy(b));

    /* A receives meanwhile, in the same loop: B's upsert is still waiting when A is done. */
    assert_int_equal(sq_store_begin_receive(a, c.id, 10, err, sizeof err), SQ_OK);
    int rc;
    assert_int_equal(pgt_async_wait_any(both, 2, 1, &rc), 0);
    assert_int_equal(rc, SQ_OK);
    sq_delivery d[10];
    int n = -1;
    assert_int_equal(sq_store_finish_receive(a, d, &n, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(n, 2);
    assert_string_equal(d[0].message.key, "job.1");
    assert_string_equal(d[1].message.key, "job.2");
    assert_int_equal(sq_store_poll(b, &want_write), SQ_AGAIN);

    /* A call at a time: B refuses another begin and a finish that is not due, and goes on. */
    assert_int_equal(sq_store_begin_stream_list(b, err, sizeof err), SQ_ERR);
    assert_non_null(strstr(err, "busy with upsert"));
    long long published = -1;
    assert_int_equal(sq_store_finish_upsert(b, &published, err, sizeof err), SQ_ERR);
    assert_non_null(strstr(err, "no call is over"));
    assert_true(sq_store_busy(b));

    /* A finish of another call is refused too, and the right one still works. */
    pgt_async_run(a, sq_store_begin_stream_num(a, "default", err, sizeof err), err);
    sq_stream st;
    assert_int_equal(sq_store_finish_stream_get(a, &st, &f->arena, err, sizeof err), SQ_ERR);
    assert_non_null(strstr(err, "the call is stream_num"));
    int num = -1;
    assert_int_equal(sq_store_finish_stream_num(a, &num, err, sizeof err), SQ_OK);
    assert_int_equal(num, f->stream);
    assert_int_equal(sq_store_poll(b, &want_write), SQ_AGAIN);

    pgt_exec(locker, "ROLLBACK");
    assert_int_equal(pgt_async_wait_any(both, 2, 2, &rc), 1);
    assert_int_equal(rc, SQ_OK);
    assert_int_equal(sq_store_finish_upsert(b, &published, err, sizeof err), SQ_OK);
    assert_int_equal(published, 1);
    assert_false(sq_store_busy(b));
    pgt_async_run(a, sq_store_begin_receive(a, c.id, 10, err, sizeof err), err);
    assert_int_equal(sq_store_finish_receive(a, d, &n, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].message.key, "job.3");

    PQfinish(locker);
    sq_store_close(a);
    sq_store_close(b);
}

/* Two connections in one loop: A upserts batches while B receives and acks them. */
static void test_upserts_and_receives_interleaved(void **state)
{
    struct fixture *f = *state;
    enum {
        ROUNDS = 10,
        BATCH = 50
    };
    char err[512];
    sq_consumer c = pgt_make_consumer(f, f->stream, "mix", "mix.*", PGT_DEFAULTS, false);
    sq_store *a = pgt_async_open(NULL), *b = pgt_async_open(NULL), *both[2] = {a, b};
    static bool seen[ROUNDS * BATCH];
    memset(seen, 0, sizeof seen);
    int round = 0, received = 0, both_busy = 0;
    const char *ids[100];
    sq_delivery d[100]; /* the ack ids of the last receive, until they are acked */
    int pending_acks = 0;

    while (received < ROUNDS * BATCH) {
        if (!sq_store_busy(a) && round < ROUNDS) {
            /* the inputs may be freed once the begin returns (store.h) */
            sq_message_in *batch = pgt_batch("mix.", 3, round * BATCH, BATCH, "v");
            int begun = sq_store_begin_upsert(a, f->stream, batch, BATCH, err, sizeof err);
            free(batch);
            assert_int_equal(begun, SQ_OK);
            round++;
        }
        if (!sq_store_busy(b)) {
            int begun = pending_acks > 0 ? sq_store_begin_ack(b, c.id, ids, (size_t)pending_acks,
                                                              err, sizeof err)
                                         : sq_store_begin_receive(b, c.id, 100, err, sizeof err);
            assert_int_equal(begun, SQ_OK);
        }
        both_busy += sq_store_busy(a) && sq_store_busy(b);
        int rc;
        size_t who = pgt_async_wait_any(both, 2, (sq_store_busy(a) ? 1u : 0u) | 2u, &rc);
        assert_int_equal(rc, SQ_OK);
        if (who == 0) {
            long long published;
            assert_int_equal(sq_store_finish_upsert(a, &published, err, sizeof err), SQ_OK);
            assert_int_equal(published, BATCH);
        } else if (pending_acks > 0) {
            assert_int_equal(sq_store_finish(b, err, sizeof err), SQ_OK);
            pending_acks = 0;
        } else {
            int n;
            assert_int_equal(sq_store_finish_receive(b, d, &n, &f->arena, err, sizeof err), SQ_OK);
            for (int i = 0; i < n; i++) {
                int k = atoi(d[i].message.key + 4);
                assert_false(seen[k]); /* each message once */
                seen[k] = true;
                ids[i] = d[i].ack_id;
            }
            received += n;
            pending_acks = n;
        }
    }
    assert_int_equal(round, ROUNDS);
    assert_true(both_busy > 0);
    sq_consumer now;
    assert_int_equal(
        sq_store_consumer_get(f->store, f->stream, "mix", &now, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    assert_int_equal(now.available + now.delivered, pending_acks);
    sq_store_close(a);
    sq_store_close(b);
}

/* A batch of megabytes to a backend that is not reading: begin returns anyway, and poll asks
 * to wait for the socket to be writable until the backend takes the rest. */
static void test_big_upsert_waits_for_writing(void **state)
{
    struct fixture *f = *state;
    enum {
        N = 10000,
        SIZE = 1000
    };
    char err[512];
    static char data[SIZE + 1];
    memset(data, 'x', SIZE);
    sq_message_in *batch = pgt_batch("big.", 5, 0, N, data);
    sq_store *a = pgt_async_open("sequin_async_big");
    pid_t backend = (pid_t)pgt_long(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'sequin_async_big'", 0, NULL);
    assert_true(backend > 0);

    assert_int_equal(kill(backend, SIGSTOP), 0);
    long long t0 = pgt_now_ms();
    int begun = sq_store_begin_upsert(a, f->stream, batch, N, err, sizeof err);
    long long took = pgt_now_ms() - t0;
    bool want_write = false;
    int polled = sq_store_poll(a, &want_write);
    assert_int_equal(kill(backend, SIGCONT), 0); /* before any assertion can fail */
    assert_int_equal(begun, SQ_OK);
    assert_true(took < 1000);
    assert_int_equal(polled, SQ_AGAIN);
    assert_true(want_write);

    int rc;
    pgt_async_wait_any(&a, 1, 1, &rc);
    assert_int_equal(rc, SQ_OK);
    long long published;
    assert_int_equal(sq_store_finish_upsert(a, &published, err, sizeof err), SQ_OK);
    assert_int_equal(published, N);
    sq_message m;
    assert_int_equal(sq_store_message_get(f->store, f->stream, "big.09999", &m, &f->arena, f->err,
                                          sizeof f->err),
                     SQ_OK);
    assert_int_equal(m.data_len, SIZE);
    sq_store_close(a);
    free(batch);
}

/* ---- LISTEN, and a connection that dies -------------------------------------------------- */

static void test_listen_gets_notify(void **state)
{
    struct fixture *f = *state;
    char err[512];
    sq_store *l = pgt_async_open(NULL), *a = pgt_async_open(NULL);
    pgt_async_run(l, sq_store_begin_listen(l, err, sizeof err), err);
    assert_int_equal(sq_store_finish(l, err, sizeof err), SQ_OK);
    int stream;
    assert_int_equal(sq_store_next_notify(l, &stream), SQ_AGAIN);

    assert_int_equal(sq_store_notify(f->store, f->stream, f->err, sizeof f->err), SQ_OK);
    assert_int_equal(next_notify(l), f->stream);
    pgt_async_run(a, sq_store_begin_notify(a, 77, err, sizeof err), err);
    assert_int_equal(sq_store_finish(a, err, sizeof err), SQ_OK);
    assert_int_equal(next_notify(l), 77);
    assert_int_equal(sq_store_next_notify(l, &stream), SQ_AGAIN);

    /* Notifications read during a call wait for next_notify too: once this one is on the
     * socket, the call's reading of its result takes it. */
    assert_int_equal(sq_store_notify(f->store, 5, f->err, sizeof f->err), SQ_OK);
    struct pollfd readable = {sq_store_socket(l), POLLIN, 0};
    assert_int_equal(poll(&readable, 1, PGT_WAIT_MS), 1);
    pgt_async_run(l, sq_store_begin_stream_list(l, err, sizeof err), err);
    assert_int_equal(sq_store_finish(l, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_next_notify(l, &stream), SQ_OK);
    assert_int_equal(stream, 5);
    sq_store_close(l);
    sq_store_close(a);
}

/* Kills the backend of every connection named VICTIM; returns how many. */
static long long kill_victims(void)
{
    return pgt_long("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    " WHERE application_name = '" VICTIM "'",
                    0, NULL);
}

static void test_dead_connection_reconnects(void **state)
{
    struct fixture *f = *state;
    char err[512];
    pgt_upserts(f, f->stream, "r.1", "a", "r.2", "b", NULL);
    sq_consumer c = pgt_make_consumer(f, f->stream, "rc", "r.*", PGT_DEFAULTS, false);
    sq_store *k = pgt_async_open(VICTIM);
    pgt_async_run(k, sq_store_begin_listen(k, err, sizeof err), err);
    assert_int_equal(sq_store_finish(k, err, sizeof err), SQ_OK);

    /* Idle when its backend goes: the socket turns readable and poll says so. */
    assert_int_equal(kill_victims(), 1);
    int rc;
    pgt_async_wait_any(&k, 1, 1, &rc);
    assert_int_equal(rc, SQ_ERR);
    assert_true(sq_store_dead(k));
    assert_int_equal(sq_store_begin_receive(k, c.id, 1, err, sizeof err), SQ_ERR);
    assert_non_null(strstr(err, "down"));
    sq_delivery d[2];
    int n;
    assert_int_equal(sq_store_receive(k, c.id, 1, d, &n, &f->arena, err, sizeof err), SQ_ERR);

    /* Reconnect without waiting: prepared again, listening again. */
    pgt_async_reconnect(k, VICTIM);
    pgt_async_run(k, sq_store_begin_receive(k, c.id, 1, err, sizeof err), err);
    assert_int_equal(sq_store_finish_receive(k, d, &n, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].message.key, "r.1");
    assert_int_equal(sq_store_notify(f->store, f->stream, f->err, sizeof f->err), SQ_OK);
    assert_int_equal(next_notify(k), f->stream);

    /* Dying in the middle of a call: the call fails, the store is dead, and comes back. */
    PGconn *locker = lock_stream(f->stream);
    sq_message_in m = {"r.3", 3, "c", 1};
    assert_int_equal(sq_store_begin_upsert(k, f->stream, &m, 1, err, sizeof err), SQ_OK);
    assert_true(pgt_wait_blocked_by(locker, PQbackendPID(locker)));
    assert_int_equal(kill_victims(), 1);
    assert_int_equal(pgt_async_drive(k), SQ_ERR);
    assert_true(sq_store_dead(k));
    long long published;
    assert_int_equal(sq_store_finish_upsert(k, &published, err, sizeof err), SQ_ERR);
    assert_non_null(strstr(err, "upsert"));
    assert_false(sq_store_busy(k));
    pgt_exec(locker, "ROLLBACK");
    PQfinish(locker);

    pgt_async_reconnect(k, NULL);
    assert_int_equal(sq_store_upsert(k, f->stream, &m, 1, &published, err, sizeof err), SQ_OK);
    assert_int_equal(published, 1);
    sq_store_close(k);
}

/* A reconnect is also how a caller gives up on a call: the call in flight is dropped. */
static void test_reconnect_drops_a_stuck_call(void **state)
{
    struct fixture *f = *state;
    char err[512];
    sq_store *k = pgt_async_open(NULL);
    PGconn *locker = lock_stream(f->stream);
    sq_message_in m = {"stuck.1", 7, "c", 1};
    assert_int_equal(sq_store_begin_upsert(k, f->stream, &m, 1, err, sizeof err), SQ_OK);
    bool want_write;
    assert_int_equal(sq_store_poll(k, &want_write), SQ_AGAIN);
    pgt_async_reconnect(k, NULL);
    int num;
    pgt_async_run(k, sq_store_begin_stream_num(k, "default", err, sizeof err), err);
    assert_int_equal(sq_store_finish_stream_num(k, &num, err, sizeof err), SQ_OK);
    assert_int_equal(num, f->stream);
    pgt_exec(locker, "ROLLBACK");
    PQfinish(locker);
    sq_store_close(k);
}

static void test_reconnect_that_fails(void **state)
{
    (void)state;
    char err[512];
    sq_store *s;
    /* Port 1 on the loopback: refused at once. */
    assert_int_equal(
        sq_store_new("postgresql://127.0.0.1:1/x?connect_timeout=2", &s, err, sizeof err), SQ_OK);
    if (sq_store_begin_reconnect(s, err, sizeof err) == SQ_OK) {
        assert_int_equal(pgt_async_drive(s), SQ_ERR);
        assert_int_equal(sq_store_finish(s, err, sizeof err), SQ_ERR);
    }
    assert_non_null(strstr(err, "cannot connect"));
    assert_true(sq_store_dead(s));
    assert_false(sq_store_busy(s));
    assert_int_equal(sq_store_begin_stream_list(s, err, sizeof err), SQ_ERR);
    sq_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PGT_STORE_TEST(test_begin_does_not_wait),
        PGT_STORE_TEST(test_upserts_and_receives_interleaved),
        PGT_STORE_TEST(test_big_upsert_waits_for_writing),
        PGT_STORE_TEST(test_listen_gets_notify),
        PGT_STORE_TEST(test_dead_connection_reconnects),
        PGT_STORE_TEST(test_reconnect_drops_a_stuck_call),
        cmocka_unit_test(test_reconnect_that_fails),
    };
    return cmocka_run_group_tests_name("store_async", tests, pgt_watchdog, NULL);
}
