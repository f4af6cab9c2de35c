/* Leases and the clock (SPEC 3) against a real PostgreSQL: a lease runs out, an expired lease
 * that another transaction holds, a receiver killed while holding leases, a nack's delay, an
 * extend, and max_deliver's dead messages and their redrive. A wait for a message to come
 * back is a bounded poll that fails only if it comes early or never; a sleep past a lease's
 * end starts once the receive that took the lease has returned, so it cannot end too soon. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "pg_fixture.h"
#include "sequin/buf.h"
#include "sequin/store.h"

/* A receive does not wait for a transaction that holds an expired lease's row (a late ack
 * of it in flight): it turns the other expired leases back and hands them out, and leaves
 * that row to its holder. The receive runs on a connection with a lock timeout, so waiting
 * fails the test instead of hanging it. */
static void test_expired_lease_held_elsewhere(void **state)
{
    struct fixture *f = *state;
    sq_delivery d[4];
    char id[37];
    pgt_upserts(f, f->stream, "held.1", "x", "held.2", "y", NULL);
    pgt_consumer(f, f->stream, "held", "held.>", (sq_consumer_settings){500, 10000, 0, {0}}, id);
    assert_int_equal(pgt_receive(f, id, 4, d), 2);
    usleep(700 * 1000); /* from after the receive: both leases are over */

    PGconn *t = pgt_connect();
    pgt_exec(t, "BEGIN");
    pgt_exec(t, "SELECT 1 FROM sequin.deliveries WHERE key = 'held.1' FOR UPDATE");
    sq_store *impatient;
    setenv("PGOPTIONS", "-c lock_timeout=3000", 1);
    int rc = sq_store_open(pgt_url(), &impatient, f->err, sizeof f->err);
    unsetenv("PGOPTIONS");
    assert_int_equal(rc, SQ_OK);
    int count = -1;
    rc = sq_store_receive(impatient, id, 4, d, &count, &f->arena, f->err, sizeof f->err);
    pgt_exec(t, "COMMIT"); /* first: the teardown would wait for the lock */
    PQfinish(t);
    sq_store_close(impatient);
    if (rc != SQ_OK)
        fail_msg("receive beside a held lease: %s", f->err);
    assert_int_equal(count, 1);
    assert_string_equal(d[0].message.key, "held.2");
    assert_int_equal(d[0].deliver_count, 2);

    assert_int_equal(pgt_receive(f, id, 4, d), 1);
    assert_string_equal(d[0].message.key, "held.1");
    assert_int_equal(d[0].deliver_count, 2);
}

/* kill -9 of a process holding leases loses nothing: they come back after ack-wait. */
static void test_killed_receiver(void **state)
{
    struct fixture *f = *state;
    char id[37];
    pgt_consumer(f, f->stream, "crashy", "crash.*", (sq_consumer_settings){500, 10000, 0, {0}}, id);
    for (int i = 0; i < 10; i++) {
        char key[32];
        snprintf(key, sizeof key, "crash.%d", i);
        pgt_upsert(f, f->stream, key, "x");
    }
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sq_store *s;
        char err[512];
        sq_arena a = {0};
        sq_delivery d[10];
        int n = 0;
        if (sq_store_open(pgt_url(), &s, err, sizeof err) != SQ_OK)
            _exit(2);
        /* The leases run from before the receive: the parent's "not before" counts from here. */
        long long leased = pgt_now_ms();
        if (sq_store_receive(s, id, 10, d, &n, &a, err, sizeof err) != SQ_OK || n != 10)
            _exit(2);
        if (write(ready[1], &leased, sizeof leased) != (ssize_t)sizeof leased)
            _exit(3);
        pause(); /* holding ten leases until killed */
        _exit(0);
    }
    long long leased = 0;
    assert_int_equal(read(ready[0], &leased, sizeof leased), (ssize_t)sizeof leased);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));

    sq_delivery d[10];
    assert_int_equal(pgt_receive_due(f, id, 10, d, leased, 500), 10); /* the leases held */
    for (int i = 0; i < 10; i++)
        assert_int_equal(d[i].deliver_count, 2);
    close(ready[0]);
    close(ready[1]);
}

static void test_nack_with_delay(void **state)
{
    struct fixture *f = *state;
    sq_delivery d[4];
    char id[37];
    pgt_lease_one(f, "n.1", "x", "nacker", "n.*", PGT_DEFAULTS, id, d);
    long long nacked = pgt_now_ms();
    pgt_nack(f, id, d[0].ack_id, 500);
    assert_int_equal(pgt_receive_due(f, id, 4, d, nacked, 500), 1); /* not before the delay */
    assert_int_equal(d[0].deliver_count, 2);
    /* Without a delay it is available at once; nacking it again is a no-op. */
    pgt_nack(f, id, d[0].ack_id, 0);
    pgt_nack(f, id, d[0].ack_id, 0);
    assert_int_equal(pgt_receive(f, id, 4, d), 1);
    assert_int_equal(d[0].deliver_count, 3);
}

/* An extend 400 ms into a lease of 600 renews it for 600 ms from then: the message is not
 * delivered again when the first lease would have ended. An extend of a lease that has run out
 * does nothing, so an attempt where the extend may have come late (a loaded machine) proves
 * nothing and is made again with a message of its own. */
static void test_extend(void **state)
{
    struct fixture *f = *state;
    sq_delivery d[4];
    char id[37], key[16], name[32];
    for (int attempt = 0;; attempt++) {
        if (attempt == 5)
            fail_msg("no extend came within its lease in %d attempts", attempt);
        snprintf(key, sizeof key, "e.%d", attempt);
        snprintf(name, sizeof name, "extender_%d", attempt);
        long long leased = pgt_lease_one(f, key, "x", name, key,
                                         (sq_consumer_settings){600, 10000, 0, {0}}, id, d);
        usleep(400 * 1000);
        long long extended = pgt_now_ms();
        const char *ack_id = d[0].ack_id;
        assert_int_equal(sq_store_extend(f->store, id, &ack_id, 1, f->err, sizeof f->err), SQ_OK);
        if (pgt_now_ms() >= leased + 600)
            continue;
        /* past the first lease, not the renewed */
        assert_int_equal(pgt_receive_due(f, id, 4, d, extended, 600), 1);
        assert_int_equal(d[0].deliver_count, 2);
        return;
    }
}

/* A lease that runs out delivers the message again; once max_deliver deliveries are spent it
 * is dead, until a redrive or new data. */
static void test_lease_expires_until_dead(void **state)
{
    struct fixture *f = *state;
    sq_delivery d[4];
    char id[37];
    long long leased = pgt_lease_one(f, "p.1", "poison", "limited", "p.*",
                                     (sq_consumer_settings){500, 10000, 2, {0}}, id, d);
    assert_int_equal(pgt_receive_due(f, id, 4, d, leased, 500), 1);
    assert_string_equal(d[0].message.key, "p.1");
    assert_int_equal(d[0].deliver_count, 2);
    usleep(600 * 1000);                            /* from after the receive: its lease is over */
    assert_int_equal(pgt_receive(f, id, 4, d), 0); /* two deliveries spent: dead */

    long long redriven = -1;
    assert_int_equal(sq_store_redrive(f->store, id, NULL, 0, &redriven, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(redriven, 1);
    assert_int_equal(pgt_receive(f, id, 4, d), 1);
    assert_int_equal(d[0].deliver_count, 1);

    /* A nack at the limit kills it too; new data brings it back with a fresh count. */
    pgt_nack(f, id, d[0].ack_id, 0);
    assert_int_equal(pgt_receive(f, id, 4, d), 1);
    pgt_nack(f, id, d[0].ack_id, 0);
    assert_int_equal(pgt_receive(f, id, 4, d), 0);
    assert_int_equal(pgt_upsert(f, f->stream, "p.1", "fixed"), 1);
    assert_int_equal(pgt_receive(f, id, 4, d), 1);
    assert_int_equal(d[0].deliver_count, 1);
    /* Redrive with nothing dead redrives nothing. */
    assert_int_equal(sq_store_redrive(f->store, id, NULL, 0, &redriven, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(redriven, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PGT_STORE_TEST(test_expired_lease_held_elsewhere),
        PGT_STORE_TEST(test_killed_receiver),
        PGT_STORE_TEST(test_nack_with_delay),
        PGT_STORE_TEST(test_extend),
        PGT_STORE_TEST(test_lease_expires_until_dead),
    };
    return cmocka_run_group_tests_name("store_leases", tests, NULL, NULL);
}
