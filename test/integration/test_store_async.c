/* The store's calls without waiting, driven by the test's own poll(2) loop: begin returns at
 * once, connections do not hold each other up, results equal the synchronous calls', LISTEN,
 * and a connection whose backend dies is seen dead and reconnects. */
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "pg_fixture.h"
#include "sequin/buf.h"
#include "sequin/store.h"

#define WAIT_MS 10000
#define VICTIM "sequin_async_victim"

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

/*
 * One poll(2) loop over `n` stores: polls each, waits for their sockets, and returns the index
 * of the first store in `watch` (a bit per index) whose poll says something else than SQ_AGAIN,
 * with that in `*rc`. The others move on meanwhile. Fails the test after WAIT_MS.
 */
static size_t wait_any(sq_store *const *all, size_t n, unsigned watch, int *rc, bool *saw_write)
{
    long long deadline = now_ms() + WAIT_MS;
    for (;;) {
        struct pollfd p[4];
        assert_true(n <= 4);
        for (size_t i = 0; i < n; i++) {
            bool want_write;
            int got = sq_store_poll(all[i], &want_write);
            if ((watch >> i & 1) && got != SQ_AGAIN) {
                *rc = got;
                return i;
            }
            if ((watch >> i & 1) && want_write && saw_write != NULL)
                *saw_write = true;
            p[i] = (struct pollfd){sq_store_socket(all[i]), POLLIN | (want_write ? POLLOUT : 0), 0};
        }
        long long left = deadline - now_ms();
        if (left <= 0)
            fail_msg("no store call was over after %d ms", WAIT_MS);
        assert_true(poll(p, n, (int)left) >= 0);
    }
}

/* Drives the call in flight on `s` to its end: what its poll said last. */
static int drive(sq_store *s)
{
    int rc;
    wait_any(&s, 1, 1, &rc, NULL);
    return rc;
}

/* Asserts that a begin succeeded and drives its call until its finish is due. */
static void run(sq_store *s, int begun, const char *err)
{
    if (begun != SQ_OK)
        fail_msg("begin: %s", err);
    assert_int_equal(drive(s), SQ_OK);
}

/* Connects `s` again without waiting; named `app` (for pg_stat_activity) when not NULL. */
static void reconnect(sq_store *s, const char *app)
{
    char err[512];
    if (app != NULL)
        setenv("PGAPPNAME", app, 1); /* libpq reads it when the connection starts */
    int begun = sq_store_begin_reconnect(s, err, sizeof err);
    unsetenv("PGAPPNAME");
    run(s, begun, err);
    if (sq_store_finish(s, err, sizeof err) != SQ_OK)
        fail_msg("reconnect: %s", err);
    assert_false(sq_store_dead(s));
}

/* A store opened without waiting: sq_store_new, then a reconnect. */
static sq_store *open_named(const char *app)
{
    sq_store *s;
    char err[512];
    assert_int_equal(sq_store_new(pgt_url(), &s, err, sizeof err), SQ_OK);
    assert_true(sq_store_dead(s));
    reconnect(s, app);
    return s;
}

static sq_store *open_async(void)
{
    return open_named(NULL);
}

static void upsert1(struct fixture *f, const char *key, const char *data)
{
    sq_message_in m = {key, strlen(key), data, strlen(data)};
    long long published;
    if (sq_store_upsert(f->store, f->stream, &m, 1, &published, f->err, sizeof f->err) != SQ_OK)
        fail_msg("upsert %s: %s", key, f->err);
}

static sq_consumer make_consumer(struct fixture *f, const char *name, const char *filter)
{
    sq_consumer_settings set = {30000, 1000, 3};
    sq_consumer c;
    if (sq_store_consumer_create(f->store, f->stream, name, filter, &set, false, &c, &f->arena,
                                 f->err, sizeof f->err) != SQ_OK)
        fail_msg("consumer %s: %s", name, f->err);
    return c;
}

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

/* The next notification `s` gets (its socket is waited for); fails after WAIT_MS. */
static int next_notify(sq_store *s)
{
    int stream, rc;
    long long deadline = now_ms() + WAIT_MS;
    while (sq_store_next_notify(s, &stream) != SQ_OK) {
        struct pollfd p = {sq_store_socket(s), POLLIN, 0};
        long long left = deadline - now_ms();
        if (left <= 0)
            fail_msg("no notification after %d ms", WAIT_MS);
        assert_true(poll(&p, 1, (int)left) >= 0);
        bool want_write;
        rc = sq_store_poll(s, &want_write);
        assert_int_equal(rc, SQ_AGAIN);
    }
    return stream;
}

/* Runs `sql` on a connection of its own and returns the first value as a number. */
static long long admin_value(const char *sql)
{
    PGconn *c = pgt_connect();
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    long long v = PQntuples(r) > 0 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    PQfinish(c);
    return v;
}

/* ---- begin returns at once; one connection does not wait for another --------------------- */

static void test_begin_does_not_wait(void **state)
{
    struct fixture *f = *state;
    char err[512];
    upsert1(f, "job.1", "a");
    upsert1(f, "job.2", "b");
    sq_consumer c = make_consumer(f, "jobs", "job.*");
    sq_store *a = open_async(), *b = open_async(), *both[2] = {a, b};

    /* B's upsert waits for a lock a test connection holds; its begin does not. */
    PGconn *locker = lock_stream(f->stream);
    sq_message_in m = {"job.3", 5, "c", 1};
    long long t0 = now_ms();
    assert_int_equal(sq_store_begin_upsert(b, f->stream, &m, 1, err, sizeof err), SQ_OK);
    assert_true(now_ms() - t0 < 1000);
    bool want_write;
    assert_int_equal(sq_store_poll(b, &want_write), SQ_AGAIN);
    assert_true(sq_store_busy(b));

    /* A receives meanwhile, in the same loop: B's upsert is still waiting when A is done. */
    assert_int_equal(sq_store_begin_receive(a, c.id, 10, err, sizeof err), SQ_OK);
    int rc;
    assert_int_equal(wait_any(both, 2, 1, &rc, NULL), 0);
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
    run(a, sq_store_begin_stream_num(a, "default", err, sizeof err), err);
    sq_stream st;
    assert_int_equal(sq_store_finish_stream_get(a, &st, &f->arena, err, sizeof err), SQ_ERR);
    assert_non_null(strstr(err, "the call is stream_num"));
    int num = -1;
    assert_int_equal(sq_store_finish_stream_num(a, &num, err, sizeof err), SQ_OK);
    assert_int_equal(num, f->stream);
    assert_int_equal(sq_store_poll(b, &want_write), SQ_AGAIN);

    pgt_exec(locker, "ROLLBACK");
    assert_int_equal(wait_any(both, 2, 2, &rc, NULL), 1);
    assert_int_equal(rc, SQ_OK);
    assert_int_equal(sq_store_finish_upsert(b, &published, err, sizeof err), SQ_OK);
    assert_int_equal(published, 1);
    assert_false(sq_store_busy(b));
    run(a, sq_store_begin_receive(a, c.id, 10, err, sizeof err), err);
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
    char err[512], keys[BATCH][16];
    sq_consumer c = make_consumer(f, "mix", "mix.*");
    sq_store *a = open_async(), *b = open_async(), *both[2] = {a, b};
    static bool seen[ROUNDS * BATCH];
    memset(seen, 0, sizeof seen);
    int round = 0, received = 0, both_busy = 0;
    const char *ids[100];
    sq_delivery d[100]; /* the ack ids of the last receive, until they are acked */
    int pending_acks = 0;

    while (received < ROUNDS * BATCH) {
        if (!sq_store_busy(a) && round < ROUNDS) {
            sq_message_in batch[BATCH];
            for (int i = 0; i < BATCH; i++) {
                int len = snprintf(keys[i], sizeof keys[i], "mix.%03d", round * BATCH + i);
                batch[i] = (sq_message_in){keys[i], (size_t)len, "v", 1};
            }
            assert_int_equal(sq_store_begin_upsert(a, f->stream, batch, BATCH, err, sizeof err),
                             SQ_OK);
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
        size_t who = wait_any(both, 2, (sq_store_busy(a) ? 1u : 0u) | 2u, &rc, NULL);
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
    static char keys[N][16], data[SIZE];
    static sq_message_in batch[N];
    memset(data, 'x', sizeof data);
    for (int i = 0; i < N; i++) {
        int len = snprintf(keys[i], sizeof keys[i], "big.%05d", i);
        batch[i] = (sq_message_in){keys[i], (size_t)len, data, SIZE};
    }
    sq_store *a = open_named("sequin_async_big");
    pid_t backend = (pid_t)admin_value("SELECT pid FROM pg_stat_activity "
                                       " WHERE application_name = 'sequin_async_big'");
    assert_true(backend > 0);

    assert_int_equal(kill(backend, SIGSTOP), 0);
    long long t0 = now_ms();
    int begun = sq_store_begin_upsert(a, f->stream, batch, N, err, sizeof err);
    long long took = now_ms() - t0;
    bool want_write = false;
    int polled = sq_store_poll(a, &want_write);
    assert_int_equal(kill(backend, SIGCONT), 0); /* before any assertion can fail */
    assert_int_equal(begun, SQ_OK);
    assert_true(took < 1000);
    assert_int_equal(polled, SQ_AGAIN);
    assert_true(want_write);

    int rc;
    wait_any(&a, 1, 1, &rc, NULL);
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
}

/* ---- every call gives what the synchronous one gives ------------------------------------- */

static void same_stream(const sq_stream *x, const sq_stream *y)
{
    assert_string_equal(x->id, y->id);
    assert_int_equal(x->num, y->num);
    assert_string_equal(x->name, y->name);
    assert_int_equal(x->message_count, y->message_count);
    assert_int_equal(x->consumer_count, y->consumer_count);
    assert_int_equal(x->storage_size, y->storage_size);
    assert_string_equal(x->inserted_at, y->inserted_at);
    assert_string_equal(x->updated_at, y->updated_at);
}

static void same_message(const sq_message *x, const sq_message *y)
{
    assert_string_equal(x->key, y->key);
    assert_string_equal(x->stream_id, y->stream_id);
    assert_int_equal(x->data_len, y->data_len);
    assert_memory_equal(x->data, y->data, x->data_len);
    assert_string_equal(x->data_hash, y->data_hash);
    assert_int_equal(x->seq, y->seq);
    assert_string_equal(x->inserted_at, y->inserted_at);
    assert_string_equal(x->updated_at, y->updated_at);
}

/* Two consumers alike but for id, name and timestamps (or one consumer read twice). */
static void alike_consumers(const sq_consumer *x, const sq_consumer *y)
{
    assert_string_equal(x->stream_id, y->stream_id);
    assert_int_equal(x->stream_num, y->stream_num);
    assert_string_equal(x->filter, y->filter);
    assert_memory_equal(&x->settings, &y->settings, sizeof x->settings);
    assert_int_equal(x->deliver_new, y->deliver_new);
    assert_int_equal(x->managed_by_config, y->managed_by_config);
    assert_int_equal(x->available, y->available);
    assert_int_equal(x->delivered, y->delivered);
    assert_int_equal(x->dead, y->dead);
}

static void same_consumer(const sq_consumer *x, const sq_consumer *y)
{
    alike_consumers(x, y);
    assert_string_equal(x->id, y->id);
    assert_string_equal(x->name, y->name);
    assert_string_equal(x->inserted_at, y->inserted_at);
    assert_string_equal(x->updated_at, y->updated_at);
}

static void test_streams_as_sync(void **state)
{
    struct fixture *f = *state;
    sq_store *a = open_async();
    char err[512];
    int num;
    sq_stream x, y, *xs, *ys;
    size_t nx, ny;
    char id[37];
    upsert1(f, "s.1", "a");

    run(a, sq_store_begin_stream_num(a, "default", err, sizeof err), err);
    assert_int_equal(sq_store_finish_stream_num(a, &num, err, sizeof err), SQ_OK);
    assert_int_equal(num, f->stream);
    run(a, sq_store_begin_stream_num(a, "nope", err, sizeof err), err);
    assert_int_equal(sq_store_finish_stream_num(a, &num, err, sizeof err), SQ_STORE_NOT_FOUND);
    assert_int_equal(sq_store_stream_num(f->store, "nope", &num, f->err, sizeof f->err),
                     SQ_STORE_NOT_FOUND);
    assert_string_equal(err, f->err);

    /* create: the stream with its stats, then the same conflict */
    run(a, sq_store_begin_stream_create(a, "orders", err, sizeof err), err);
    assert_int_equal(sq_store_finish_stream_create(a, &x, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_stream_get(f->store, "orders", &y, &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    same_stream(&x, &y);
    sq_stream orders = x;
    run(a, sq_store_begin_stream_create(a, "orders", err, sizeof err), err);
    assert_int_equal(sq_store_finish_stream_create(a, &x, &f->arena, err, sizeof err),
                     SQ_STORE_CONFLICT);
    assert_int_equal(
        sq_store_stream_create(f->store, "orders", &y, &f->arena, f->err, sizeof f->err),
        SQ_STORE_CONFLICT);
    assert_string_equal(err, f->err);

    run(a, sq_store_begin_stream_get(a, "default", err, sizeof err), err);
    assert_int_equal(sq_store_finish_stream_get(a, &x, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_stream_get(f->store, "default", &y, &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    same_stream(&x, &y);
    assert_int_equal(x.message_count, 1);

    run(a, sq_store_begin_stream_list(a, err, sizeof err), err);
    assert_int_equal(sq_store_finish_stream_list(a, &xs, &nx, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_stream_list(f->store, &ys, &ny, &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(nx, 2);
    assert_int_equal(nx, ny);
    for (size_t i = 0; i < nx; i++)
        same_stream(&xs[i], &ys[i]);

    run(a, sq_store_begin_stream_delete(a, "orders", err, sizeof err), err);
    assert_int_equal(sq_store_finish_stream_delete(a, id, err, sizeof err), SQ_OK);
    assert_string_equal(id, orders.id);
    run(a, sq_store_begin_stream_delete(a, "orders", err, sizeof err), err);
    assert_int_equal(sq_store_finish_stream_delete(a, id, err, sizeof err), SQ_STORE_NOT_FOUND);
    assert_int_equal(sq_store_stream_delete(f->store, "orders", id, f->err, sizeof f->err),
                     SQ_STORE_NOT_FOUND);
    assert_string_equal(err, f->err);
    sq_store_close(a);
}

static void test_messages_as_sync(void **state)
{
    struct fixture *f = *state;
    sq_store *a = open_async();
    char err[512];
    upsert1(f, "orders.us.1", "v1");
    upsert1(f, "orders.eu.2", "v2");
    upsert1(f, "orders.us.3", "v3");
    upsert1(f, "other.1", "v4");
    make_consumer(f, "us", "orders.us.>");

    /* upsert: the same count, and the same refusal of an empty batch */
    sq_message_in two[2] = {{"orders.us.1", 11, "v1", 2}, {"orders.us.4", 11, "v5", 2}};
    long long published;
    run(a, sq_store_begin_upsert(a, f->stream, two, 2, err, sizeof err), err);
    assert_int_equal(sq_store_finish_upsert(a, &published, err, sizeof err), SQ_OK);
    assert_int_equal(published, 1); /* orders.us.1 is unchanged */
    assert_int_equal(sq_store_begin_upsert(a, f->stream, two, 0, err, sizeof err), SQ_ERR);
    assert_int_equal(
        sq_store_upsert(f->store, f->stream, two, 0, &published, f->err, sizeof f->err), SQ_ERR);
    assert_string_equal(err, f->err);
    assert_false(sq_store_busy(a));

    const sq_message_query queries[] = {
        {NULL, false, 100}, {NULL, true, 2}, {"orders.us.>", false, 100}, {"*.1", true, 100}};
    for (size_t q = 0; q < SQ_ARRAY_LEN(queries); q++) {
        sq_message *x, *y;
        size_t nx, ny;
        run(a, sq_store_begin_message_list(a, f->stream, &queries[q], err, sizeof err), err);
        assert_int_equal(sq_store_finish_message_list(a, &x, &nx, &f->arena, err, sizeof err),
                         SQ_OK);
        assert_int_equal(sq_store_message_list(f->store, f->stream, &queries[q], &y, &ny, &f->arena,
                                               f->err, sizeof f->err),
                         SQ_OK);
        assert_true(nx > 0);
        assert_int_equal(nx, ny);
        for (size_t i = 0; i < nx; i++)
            same_message(&x[i], &y[i]);
    }

    sq_message x, y;
    run(a, sq_store_begin_message_get(a, f->stream, "orders.eu.2", err, sizeof err), err);
    assert_int_equal(sq_store_finish_message_get(a, &x, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_message_get(f->store, f->stream, "orders.eu.2", &y, &f->arena, f->err,
                                          sizeof f->err),
                     SQ_OK);
    same_message(&x, &y);
    run(a, sq_store_begin_message_get(a, f->stream, "orders.no", err, sizeof err), err);
    assert_int_equal(sq_store_finish_message_get(a, &x, &f->arena, err, sizeof err),
                     SQ_STORE_NOT_FOUND);
    assert_int_equal(sq_store_message_get(f->store, f->stream, "orders.no", &y, &f->arena, f->err,
                                          sizeof f->err),
                     SQ_STORE_NOT_FOUND);
    assert_string_equal(err, f->err);

    /* info: two statements in one call */
    sq_consumer_pair *px, *py;
    size_t nx, ny;
    run(a, sq_store_begin_message_info(a, f->stream, "orders.us.3", err, sizeof err), err);
    assert_int_equal(sq_store_finish_message_info(a, &x, &px, &nx, &f->arena, err, sizeof err),
                     SQ_OK);
    assert_int_equal(sq_store_message_info(f->store, f->stream, "orders.us.3", &y, &py, &ny,
                                           &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    same_message(&x, &y);
    assert_int_equal(nx, 1);
    assert_int_equal(nx, ny);
    assert_string_equal(px[0].consumer_name, py[0].consumer_name);
    assert_string_equal(px[0].info.state, py[0].info.state);
    run(a, sq_store_begin_message_info(a, f->stream, "orders.no", err, sizeof err), err);
    assert_int_equal(sq_store_finish_message_info(a, &x, &px, &nx, &f->arena, err, sizeof err),
                     SQ_STORE_NOT_FOUND);
    assert_int_equal(sq_store_message_info(f->store, f->stream, "orders.no", &y, &py, &ny,
                                           &f->arena, f->err, sizeof f->err),
                     SQ_STORE_NOT_FOUND);
    assert_string_equal(err, f->err);

    int deleted = -1;
    run(a, sq_store_begin_message_delete(a, f->stream, "other.1", err, sizeof err), err);
    assert_int_equal(sq_store_finish_message_delete(a, &deleted, err, sizeof err), SQ_OK);
    assert_int_equal(deleted, 1);
    run(a, sq_store_begin_message_delete(a, f->stream, "other.1", err, sizeof err), err);
    assert_int_equal(sq_store_finish_message_delete(a, &deleted, err, sizeof err), SQ_OK);
    assert_int_equal(deleted, 0);

    run(a, sq_store_begin_notify(a, f->stream, err, sizeof err), err);
    assert_int_equal(sq_store_finish(a, err, sizeof err), SQ_OK);
    sq_store_close(a);
}

static void test_consumers_as_sync(void **state)
{
    struct fixture *f = *state;
    sq_store *a = open_async();
    char err[512], id[37];
    for (int i = 1; i <= 4; i++) {
        char key[16];
        snprintf(key, sizeof key, "t.%d", i);
        upsert1(f, key, key);
    }
    sq_consumer_settings set = {30000, 1000, 3};
    sq_consumer x, y, *xs, *ys;
    size_t nx, ny;

    /* create: twins, one each way; then the same conflict */
    run(a,
        sq_store_begin_consumer_create(a, f->stream, "twin_a", "t.*", &set, false, err, sizeof err),
        err);
    assert_int_equal(sq_store_finish_consumer_create(a, &x, &f->arena, err, sizeof err), SQ_OK);
    y = make_consumer(f, "twin_b", "t.*");
    alike_consumers(&x, &y);
    assert_string_equal(x.name, "twin_a");
    run(a,
        sq_store_begin_consumer_create(a, f->stream, "twin_b", "t.*", &set, false, err, sizeof err),
        err);
    assert_int_equal(sq_store_finish_consumer_create(a, &x, &f->arena, err, sizeof err),
                     SQ_STORE_CONFLICT);
    assert_int_equal(sq_store_consumer_create(f->store, f->stream, "twin_b", "t.*", &set, false, &y,
                                              &f->arena, f->err, sizeof f->err),
                     SQ_STORE_CONFLICT);
    assert_string_equal(err, f->err);

    /* receive on one twin without waiting, on the other waiting: the same messages */
    sq_delivery dx[3], dy[3];
    int cx, cy;
    run(a, sq_store_begin_receive(a, "twin_a", 3, err, sizeof err), err); /* not an id */
    assert_int_equal(sq_store_finish_receive(a, dx, &cx, &f->arena, err, sizeof err), SQ_ERR);
    assert_int_equal(
        sq_store_receive(f->store, "twin_a", 3, dy, &cy, &f->arena, f->err, sizeof f->err), SQ_ERR);
    assert_string_equal(err, f->err);
    sq_consumer ta, tb;
    assert_int_equal(
        sq_store_consumer_get(f->store, f->stream, "twin_a", &ta, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    assert_int_equal(
        sq_store_consumer_get(f->store, f->stream, "twin_b", &tb, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    run(a, sq_store_begin_receive(a, ta.id, 3, err, sizeof err), err);
    assert_int_equal(sq_store_finish_receive(a, dx, &cx, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(
        sq_store_receive(f->store, tb.id, 3, dy, &cy, &f->arena, f->err, sizeof f->err), SQ_OK);
    assert_int_equal(cx, 3);
    assert_int_equal(cx, cy);
    for (int i = 0; i < cx; i++) {
        same_message(&dx[i].message, &dy[i].message);
        assert_int_equal(dx[i].deliver_count, dy[i].deliver_count);
    }

    /* get and list, with the stats the receives changed */
    run(a, sq_store_begin_consumer_get(a, f->stream, "twin_a", err, sizeof err), err);
    assert_int_equal(sq_store_finish_consumer_get(a, &x, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(
        sq_store_consumer_get(f->store, f->stream, ta.id, &y, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    same_consumer(&x, &y);
    assert_int_equal(x.delivered, 3);
    run(a, sq_store_begin_consumer_get(a, f->stream, "nope", err, sizeof err), err);
    assert_int_equal(sq_store_finish_consumer_get(a, &x, &f->arena, err, sizeof err),
                     SQ_STORE_NOT_FOUND);
    assert_int_equal(
        sq_store_consumer_get(f->store, f->stream, "nope", &y, &f->arena, f->err, sizeof f->err),
        SQ_STORE_NOT_FOUND);
    assert_string_equal(err, f->err);
    run(a, sq_store_begin_consumer_list(a, f->stream, err, sizeof err), err);
    assert_int_equal(sq_store_finish_consumer_list(a, &xs, &nx, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(
        sq_store_consumer_list(f->store, f->stream, &ys, &ny, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    assert_int_equal(nx, 2);
    assert_int_equal(nx, ny);
    for (size_t i = 0; i < nx; i++)
        same_consumer(&xs[i], &ys[i]);

    /* peek */
    sq_consumer_message *mx, *my;
    run(a, sq_store_begin_consumer_messages(a, ta.id, NULL, "t.>", 10, err, sizeof err), err);
    assert_int_equal(sq_store_finish_consumer_messages(a, &mx, &nx, &f->arena, err, sizeof err),
                     SQ_OK);
    assert_int_equal(sq_store_consumer_messages(f->store, tb.id, NULL, "t.>", 10, &my, &ny,
                                                &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(nx, 4);
    assert_int_equal(nx, ny);
    for (size_t i = 0; i < nx; i++) {
        same_message(&mx[i].message, &my[i].message);
        assert_string_equal(mx[i].info.state, my[i].info.state);
    }

    /* ack, nack, extend, redrive: the twins end alike */
    const char *ix[3] = {dx[0].ack_id, dx[1].ack_id, dx[2].ack_id};
    const char *iy[3] = {dy[0].ack_id, dy[1].ack_id, dy[2].ack_id};
    long long rx, ry;
    run(a, sq_store_begin_ack(a, ta.id, ix, 1, err, sizeof err), err);
    assert_int_equal(sq_store_finish(a, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_ack(f->store, tb.id, iy, 1, f->err, sizeof f->err), SQ_OK);
    run(a, sq_store_begin_extend(a, ta.id, ix + 1, 1, err, sizeof err), err);
    assert_int_equal(sq_store_finish(a, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_extend(f->store, tb.id, iy + 1, 1, f->err, sizeof f->err), SQ_OK);
    run(a, sq_store_begin_nack(a, ta.id, ix + 2, 1, 60000, err, sizeof err), err);
    assert_int_equal(sq_store_finish(a, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_nack(f->store, tb.id, iy + 2, 1, 60000, f->err, sizeof f->err),
                     SQ_OK);
    run(a, sq_store_begin_redrive(a, ta.id, NULL, 0, err, sizeof err), err);
    assert_int_equal(sq_store_finish_redrive(a, &rx, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_redrive(f->store, tb.id, NULL, 0, &ry, f->err, sizeof f->err), SQ_OK);
    assert_int_equal(rx, ry);
    const char *bad = "not-a-uuid";
    assert_int_equal(sq_store_begin_ack(a, ta.id, &bad, 1, err, sizeof err), SQ_ERR);
    assert_int_equal(sq_store_ack(f->store, ta.id, &bad, 1, f->err, sizeof f->err), SQ_ERR);
    assert_string_equal(err, f->err);
    assert_int_equal(
        sq_store_consumer_get(f->store, f->stream, ta.id, &x, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    assert_int_equal(
        sq_store_consumer_get(f->store, f->stream, tb.id, &y, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    alike_consumers(&x, &y);
    assert_int_equal(x.available + x.delivered, 3); /* one of four acked */

    /* edit: three statements in one call, and the config file's refusal */
    sq_consumer_settings change = {1500, -1, 0};
    run(a, sq_store_begin_consumer_edit(a, f->stream, "twin_a", &change, false, err, sizeof err),
        err);
    assert_int_equal(sq_store_finish_consumer_edit(a, &x, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(x.settings.ack_wait_ms, 1500);
    assert_int_equal(x.settings.max_deliver, 0);
    assert_int_equal(sq_store_consumer_edit(f->store, f->stream, "twin_b", &change, false, &y,
                                            &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    alike_consumers(&x, &y);
    PGconn *conn = pgt_connect();
    pgt_exec(conn, "UPDATE sequin.consumers SET managed_by = 'config'");
    PQfinish(conn);
    run(a, sq_store_begin_consumer_edit(a, f->stream, "twin_a", &change, false, err, sizeof err),
        err);
    assert_int_equal(sq_store_finish_consumer_edit(a, &x, &f->arena, err, sizeof err),
                     SQ_STORE_CONFLICT);
    assert_int_equal(sq_store_consumer_edit(f->store, f->stream, "twin_a", &change, false, &y,
                                            &f->arena, f->err, sizeof f->err),
                     SQ_STORE_CONFLICT);
    assert_string_equal(err, f->err);
    run(a, sq_store_begin_consumer_delete(a, f->stream, "twin_a", false, err, sizeof err), err);
    assert_int_equal(sq_store_finish_consumer_delete(a, id, err, sizeof err), SQ_STORE_CONFLICT);
    assert_string_equal(err, f->err);

    run(a, sq_store_begin_consumer_delete(a, f->stream, "twin_a", true, err, sizeof err), err);
    assert_int_equal(sq_store_finish_consumer_delete(a, id, err, sizeof err), SQ_OK);
    assert_string_equal(id, ta.id);
    run(a, sq_store_begin_consumer_delete(a, f->stream, "twin_a", true, err, sizeof err), err);
    assert_int_equal(sq_store_finish_consumer_delete(a, id, err, sizeof err), SQ_STORE_NOT_FOUND);
    assert_int_equal(
        sq_store_consumer_delete(f->store, f->stream, "twin_a", true, id, f->err, sizeof f->err),
        SQ_STORE_NOT_FOUND);
    assert_string_equal(err, f->err);
    run(a, sq_store_begin_consumer_edit(a, f->stream, "twin_a", &change, true, err, sizeof err),
        err);
    assert_int_equal(sq_store_finish_consumer_edit(a, &x, &f->arena, err, sizeof err),
                     SQ_STORE_NOT_FOUND);
    sq_store_close(a);
}

/* ---- LISTEN, and a connection that dies -------------------------------------------------- */

static void test_listen_gets_notify(void **state)
{
    struct fixture *f = *state;
    char err[512];
    sq_store *l = open_async(), *a = open_async();
    run(l, sq_store_begin_listen(l, err, sizeof err), err);
    assert_int_equal(sq_store_finish(l, err, sizeof err), SQ_OK);
    int stream;
    assert_int_equal(sq_store_next_notify(l, &stream), SQ_AGAIN);

    assert_int_equal(sq_store_notify(f->store, f->stream, f->err, sizeof f->err), SQ_OK);
    assert_int_equal(next_notify(l), f->stream);
    run(a, sq_store_begin_notify(a, 77, err, sizeof err), err);
    assert_int_equal(sq_store_finish(a, err, sizeof err), SQ_OK);
    assert_int_equal(next_notify(l), 77);
    assert_int_equal(sq_store_next_notify(l, &stream), SQ_AGAIN);

    /* Notifications read during a call wait for next_notify too. */
    assert_int_equal(sq_store_notify(f->store, 5, f->err, sizeof f->err), SQ_OK);
    usleep(200000); /* an idle backend passes it on at once */
    run(l, sq_store_begin_stream_list(l, err, sizeof err), err);
    assert_int_equal(sq_store_finish(l, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_next_notify(l, &stream), SQ_OK);
    assert_int_equal(stream, 5);
    sq_store_close(l);
    sq_store_close(a);
}

/* Kills the backend of every connection named VICTIM; returns how many. */
static long long kill_victims(void)
{
    return admin_value("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                       " WHERE application_name = '" VICTIM "'");
}

static void test_dead_connection_reconnects(void **state)
{
    struct fixture *f = *state;
    char err[512];
    upsert1(f, "r.1", "a");
    upsert1(f, "r.2", "b");
    sq_consumer c = make_consumer(f, "rc", "r.*");
    sq_store *k = open_named(VICTIM);
    run(k, sq_store_begin_listen(k, err, sizeof err), err);
    assert_int_equal(sq_store_finish(k, err, sizeof err), SQ_OK);

    /* Idle when its backend goes: the socket turns readable and poll says so. */
    assert_int_equal(kill_victims(), 1);
    int rc;
    wait_any(&k, 1, 1, &rc, NULL);
    assert_int_equal(rc, SQ_ERR);
    assert_true(sq_store_dead(k));
    assert_int_equal(sq_store_begin_receive(k, c.id, 1, err, sizeof err), SQ_ERR);
    assert_non_null(strstr(err, "down"));
    sq_delivery d[2];
    int n;
    assert_int_equal(sq_store_receive(k, c.id, 1, d, &n, &f->arena, err, sizeof err), SQ_ERR);

    /* Reconnect without waiting: prepared again, listening again. */
    reconnect(k, VICTIM);
    run(k, sq_store_begin_receive(k, c.id, 1, err, sizeof err), err);
    assert_int_equal(sq_store_finish_receive(k, d, &n, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].message.key, "r.1");
    assert_int_equal(sq_store_notify(f->store, f->stream, f->err, sizeof f->err), SQ_OK);
    assert_int_equal(next_notify(k), f->stream);

    /* Dying in the middle of a call: the call fails, the store is dead, and comes back. */
    PGconn *locker = lock_stream(f->stream);
    sq_message_in m = {"r.3", 3, "c", 1};
    assert_int_equal(sq_store_begin_upsert(k, f->stream, &m, 1, err, sizeof err), SQ_OK);
    for (int i = 0; i < 500 && admin_value("SELECT count(*) FROM pg_stat_activity "
                                           " WHERE application_name = '" VICTIM "' "
                                           "   AND wait_event_type = 'Lock'") == 0;
         i++)
        usleep(10000);
    assert_int_equal(kill_victims(), 1);
    assert_int_equal(drive(k), SQ_ERR);
    assert_true(sq_store_dead(k));
    long long published;
    assert_int_equal(sq_store_finish_upsert(k, &published, err, sizeof err), SQ_ERR);
    assert_non_null(strstr(err, "upsert"));
    assert_false(sq_store_busy(k));
    pgt_exec(locker, "ROLLBACK");
    PQfinish(locker);

    reconnect(k, NULL);
    assert_int_equal(sq_store_upsert(k, f->stream, &m, 1, &published, err, sizeof err), SQ_OK);
    assert_int_equal(published, 1);
    sq_store_close(k);
}

/* A reconnect is also how a caller gives up on a call: the call in flight is dropped. */
static void test_reconnect_drops_a_stuck_call(void **state)
{
    struct fixture *f = *state;
    char err[512];
    sq_store *k = open_async();
    PGconn *locker = lock_stream(f->stream);
    sq_message_in m = {"stuck.1", 7, "c", 1};
    assert_int_equal(sq_store_begin_upsert(k, f->stream, &m, 1, err, sizeof err), SQ_OK);
    bool want_write;
    assert_int_equal(sq_store_poll(k, &want_write), SQ_AGAIN);
    reconnect(k, NULL);
    int num;
    run(k, sq_store_begin_stream_num(k, "default", err, sizeof err), err);
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
        assert_int_equal(drive(s), SQ_ERR);
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
    alarm(120); /* a watchdog: every wait here is bounded, this bounds the whole */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_begin_does_not_wait, pgt_store_setup,
                                        pgt_store_teardown),
        cmocka_unit_test_setup_teardown(test_upserts_and_receives_interleaved, pgt_store_setup,
                                        pgt_store_teardown),
        cmocka_unit_test_setup_teardown(test_big_upsert_waits_for_writing, pgt_store_setup,
                                        pgt_store_teardown),
        cmocka_unit_test_setup_teardown(test_streams_as_sync, pgt_store_setup, pgt_store_teardown),
        cmocka_unit_test_setup_teardown(test_messages_as_sync, pgt_store_setup, pgt_store_teardown),
        cmocka_unit_test_setup_teardown(test_consumers_as_sync, pgt_store_setup,
                                        pgt_store_teardown),
        cmocka_unit_test_setup_teardown(test_listen_gets_notify, pgt_store_setup,
                                        pgt_store_teardown),
        cmocka_unit_test_setup_teardown(test_dead_connection_reconnects, pgt_store_setup,
                                        pgt_store_teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_drops_a_stuck_call, pgt_store_setup,
                                        pgt_store_teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_that_fails, NULL, NULL),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
