/* What the integration tests share: the throwaway database test/with-postgres gives them, and
 * for the tests of the store a store on a fresh schema with the calls most of them make. */
#ifndef SEQUIN_TEST_PG_FIXTURE_H
#define SEQUIN_TEST_PG_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "sequin/store.h"

/* ---- the database: inline, so that any test with libpq may use it (the sequind tests do) ---- */

/* The test database's URL; fails the test when not run through test/with-postgres. */
static inline const char *pgt_url(void)
{
    const char *u = getenv("SEQUIN_TEST_DATABASE_URL");
    if (u == NULL || *u == '\0')
        fail_msg("SEQUIN_TEST_DATABASE_URL is not set: run through test/with-postgres");
    return u;
}

static inline PGconn *pgt_connect(void)
{
    PGconn *c = PQconnectdb(pgt_url());
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    return c;
}

/* Runs `sql` and fails the test if PostgreSQL refuses it. */
static inline void pgt_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* Waits up to 10 s for some backend to wait on a lock that the backend `holder_pid` holds;
 * false if none comes to. Each look clears PostgreSQL's snapshot of pg_stat_activity, which
 * it otherwise keeps for the rest of a transaction, so `watch` may be inside one (it may even
 * be the holder). Matching on the waiter's query text would not do: a pipelining client's
 * backend shows its previous statement. */
static inline bool pgt_wait_blocked_by(PGconn *watch, int holder_pid)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE %d = ANY (pg_blocking_pids(pid))",
             holder_pid);
    for (int i = 0; i < 2000; i++) {
        pgt_exec(watch, "SELECT pg_stat_clear_snapshot()");
        PGresult *r = PQexec(watch, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            fail_msg("%s: %s", sql, PQerrorMessage(watch));
        bool blocked = atoi(PQgetvalue(r, 0, 0)) > 0;
        PQclear(r);
        if (blocked)
            return true;
        usleep(5000);
    }
    return false;
}

/* The first column of the first row of `sql` with `n` text parameters, in a malloc'd string
 * ("" when there is no row); fails the test if PostgreSQL refuses it. */
static inline char *pgt_value_on(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    char *v = strdup(PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return v;
}

/* The same on a connection of its own. */
static inline char *pgt_value(const char *sql, int n, const char *const *params)
{
    PGconn *c = pgt_connect();
    char *v = pgt_value_on(c, sql, n, params);
    PQfinish(c);
    return v;
}

/* pgt_value_on as a number, a count for instance: 0 when there is no row or it is NULL. */
static inline long long pgt_long_on(PGconn *c, const char *sql, int n, const char *const *params)
{
    char *v = pgt_value_on(c, sql, n, params);
    long long number = strtoll(v, NULL, 10);
    free(v);
    return number;
}

/* The same on a connection of its own. */
static inline long long pgt_long(const char *sql, int n, const char *const *params)
{
    PGconn *c = pgt_connect();
    long long number = pgt_long_on(c, sql, n, params);
    PQfinish(c);
    return number;
}

/* Drops replication slot `slot` if it exists, ending the walsender that still streams it (a
 * killed sequind's is noticed late): a source's slot outlives the source, and keeps the test
 * database from being dropped. Slots are the cluster's, which test programs share: each names
 * its own. Fails the test when the slot stays for 10 s. */
static inline void pgt_drop_slot(const char *slot)
{
    PGconn *c = pgt_connect();
    const char *params[1] = {slot};
    for (int i = 0;; i++) {
        PQclear(PQexecParams(c,
                             "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                             " WHERE slot_name = $1 AND active",
                             1, NULL, params, NULL, NULL, 0));
        PQclear(PQexecParams(c,
                             "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                             " WHERE slot_name = $1 AND NOT active",
                             1, NULL, params, NULL, NULL, 0));
        if (pgt_long_on(c, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", 1,
                        params) == 0)
            break;
        if (i == 100)
            fail_msg("slot %s stays", slot);
        usleep(100 * 1000);
    }
    PQfinish(c);
}

/* Waits up to 30 s until a source reports that it streams its slot, so that the changes made
 * from then on are its; fails the test with what the sources report otherwise. Not "the slot
 * is active": a slot being created is active already, and a change committed before the slot
 * finds its consistent point is not the slot's (other test programs' transactions in the
 * cluster can delay that point). */
static inline void pgt_wait_streaming(void)
{
    for (int i = 0; pgt_long("SELECT count(*) FROM sequin.source_status WHERE state = "
                             "'streaming'",
                             0, NULL) < 1;
         i++) {
        if (i == 300) {
            char *st = pgt_value("SELECT coalesce(string_agg(state || ': ' || "
                                 "coalesce(error, ''), '; '), 'no report') "
                                 "FROM sequin.source_status",
                                 0, NULL);
            fail_msg("no source streams: %s", st);
        }
        usleep(100 * 1000);
    }
}

/* Drops the sequin schema and migrates it afresh: every test starts from an empty store. */
static inline void pgt_fresh_schema(void)
{
    char err[512];
    PGconn *c = pgt_connect();
    pgt_exec(c, "SET client_min_messages = warning");
    pgt_exec(c, "DROP SCHEMA IF EXISTS sequin CASCADE");
    PQfinish(c);
    if (sq_store_migrate(pgt_url(), sq_store_schema(), NULL, err, sizeof err) < 0)
        fail_msg("migrate: %s", err);
}

/* ---- the store's tests: defined in pg_fixture.c, which each of their programs compiles ---- */

/* How long any wait for the store or the database may take before it fails the test: far
 * more than any of them takes on a loaded machine, so that it fails only what is stuck. */
#define PGT_WAIT_MS 30000

/* How far the test's clock (CLOCK_MONOTONIC) and the database's (the wall clock) may drift
 * apart over one wait: a check of "not before" allows this much. */
#define PGT_CLOCK_SLACK_MS 10

/* A store connection on a fresh schema, for tests of the store's C API. The calls below fail
 * the test when the store refuses, and leave what they return in `arena`. */
struct fixture {
    sq_store *store;
    int stream; /* the default stream's number */
    sq_arena arena;
    char err[512];
};

int pgt_store_setup(void **state);
int pgt_store_teardown(void **state);

/* A group setup for programs that drive their own waits: every wait is bounded, and this
 * bounds the whole program (SIGALRM after 120 s ends it). */
int pgt_watchdog(void **state);

/* A consumer's settings when none are given (SPEC 3): ack_wait_ms, max_ack_pending and no
 * max_deliver. */
#define PGT_DEFAULTS ((sq_consumer_settings){30000, 10000, 0, {0}})

/* A test that starts from a fresh store and the default stream. */
#define PGT_STORE_TEST(test)                                                                       \
    cmocka_unit_test_setup_teardown(test, pgt_store_setup, pgt_store_teardown)

/* CLOCK_MONOTONIC in milliseconds. */
long long pgt_now_ms(void);

/* Upserts one message into stream `stream`; how many were published (0 or 1). */
long long pgt_upsert(struct fixture *f, int stream, const char *key, const char *data);

/* Upserts each `key`, `data` pair that follows into `stream`, in order, one call each; NULL
 * ends the list. */
__attribute__((sentinel)) void pgt_upserts(struct fixture *f, int stream, ...);

/* Creates stream `name`. */
sq_stream pgt_stream(struct fixture *f, const char *name);

/* Creates consumer `name` of `stream` with `filter`, the given settings and deliver_policy
 * "new" when `deliver_new` ("all" otherwise). */
sq_consumer pgt_make_consumer(struct fixture *f, int stream, const char *name, const char *filter,
                              sq_consumer_settings set, bool deliver_new);

/* pgt_make_consumer with deliver_policy "all", for its id alone, which goes to `id`. */
void pgt_consumer(struct fixture *f, int stream, const char *name, const char *filter,
                  sq_consumer_settings set, char id[37]);

/* Consumer `name_or_id` of `stream`, with its stats. */
sq_consumer pgt_consumer_get(struct fixture *f, int stream, const char *name_or_id);

/* Receives up to `max` messages of consumer `cid` into `out`; how many. */
int pgt_receive(struct fixture *f, const char *cid, int max, sq_delivery *out);

/*
 * Receives from `cid` until something comes, looking every few milliseconds; how many came.
 * What comes must not come before `due_ms` after `since` (pgt_now_ms before the call that
 * made it wait: the receive that took its lease, a nack with a delay, an extend), and must
 * come within PGT_WAIT_MS after that. The database's clock sets the lease after `since`, so
 * a correct store never fails the first, however loaded the machine.
 */
int pgt_receive_due(struct fixture *f, const char *cid, int max, sq_delivery *out, long long since,
                    int due_ms);

/*
 * Upserts `key` with `data` into the default stream, creates consumer `name` of it with
 * `filter` and `set` (its id to `id`), and receives: that message alone comes, into `*d`.
 * Returns pgt_now_ms from before the receive, for pgt_receive_due.
 */
long long pgt_lease_one(struct fixture *f, const char *key, const char *data, const char *name,
                        const char *filter, sq_consumer_settings set, char id[37], sq_delivery *d);

void pgt_ack(struct fixture *f, const char *cid, const char *ack_id);
void pgt_nack(struct fixture *f, const char *cid, const char *ack_id, int delay_ms);

/* Peeks at up to `limit` unsettled messages of consumer `cid` in `state` (NULL: any) whose
 * keys match `filter` (NULL: no more than the consumer's own); how many, in `*out`. */
size_t pgt_peek(struct fixture *f, const char *cid, const char *state, const char *filter,
                int limit, sq_consumer_message **out);

/*
 * A batch of `n` messages for sq_store_upsert, all with data `data`; the key of message i is
 * `prefix` and `first + i` in at least `digits` digits ("p.", 3: "p.000", "p.001", ...), at most
 * 31 bytes. One malloc'd block with the keys: free it with free().
 */
sq_message_in *pgt_batch(const char *prefix, int digits, int first, int n, const char *data);

/* Waits for the child process `pid` and returns its exit status; fails the test if it did not
 * exit (a signal killed it). */
int pgt_exit_status(pid_t pid);

/* Forks `n` processes at once: process i runs `child(i, arg)` and exits with what it returns
 * (it must not fail a cmocka assertion: a child tells by its exit status, and opens its own
 * connections). Their pids go to `pids`, for pgt_exit_status. */
void pgt_fork(int n, int (*child)(int i, void *arg), void *arg, pid_t *pids);

/* ---- calls without waiting, driven by the test's own poll(2) loop ---- */

/* A store opened without waiting (sq_store_new, then a reconnect), named `app` in
 * pg_stat_activity when not NULL. */
sq_store *pgt_async_open(const char *app);

/* Connects `s` again without waiting; named `app` when not NULL. */
void pgt_async_reconnect(sq_store *s, const char *app);

/*
 * Polls each of the `n` stores (at most 4), waits for their sockets, and returns the index of
 * the first store in `watch` (a bit per index) whose poll says something else than SQ_AGAIN,
 * with that in `*rc`. The others move on meanwhile. Fails the test after PGT_WAIT_MS.
 */
size_t pgt_async_wait_any(sq_store *const *all, size_t n, unsigned watch, int *rc);

/* Drives the call in flight on `s` to its end: what its poll said last. */
int pgt_async_drive(sq_store *s);

/* Asserts that a begin succeeded (else fails with `err`) and drives its call until its finish
 * is due. */
void pgt_async_run(sq_store *s, int begun, const char *err);

#endif
