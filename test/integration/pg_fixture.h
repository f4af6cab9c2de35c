/* What the integration tests share: the throwaway database test/with-postgres gives them. */
#ifndef SEQUIN_TEST_PG_FIXTURE_H
#define SEQUIN_TEST_PG_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "sequin/store.h"

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

/* Waits up to 5 s for some backend to wait on a lock that the backend `holder_pid` holds;
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
    for (int i = 0; i < 1000; i++) {
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

/* A store connection on a fresh schema, for tests of the store's C API. */
struct fixture {
    sq_store *store;
    int stream; /* the default stream's number */
    sq_arena arena;
    char err[512];
};

static inline int pgt_store_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    pgt_fresh_schema();
    if (sq_store_open(pgt_url(), &f->store, f->err, sizeof f->err) != SQ_OK)
        fail_msg("open: %s", f->err);
    if (sq_store_stream_num(f->store, "default", &f->stream, f->err, sizeof f->err) != SQ_OK)
        fail_msg("stream: %s", f->err);
    *state = f;
    return 0;
}

static inline int pgt_store_teardown(void **state)
{
    struct fixture *f = *state;
    sq_store_close(f->store);
    sq_arena_free(&f->arena);
    free(f);
    return 0;
}

/* ---- the store's calls that most tests make, failing the test when the store refuses ---- */

/* Upserts one message into stream `stream`; how many were published (0 or 1). */
static inline long long pgt_upsert(struct fixture *f, int stream, const char *key, const char *data)
{
    sq_message_in m = {key, strlen(key), data, strlen(data)};
    long long published = -1;
    if (sq_store_upsert(f->store, stream, &m, 1, &published, f->err, sizeof f->err) != SQ_OK)
        fail_msg("upsert %s: %s", key, f->err);
    return published;
}

/* Creates consumer `name` of `stream` with `filter` and the given settings (deliver_policy
 * "all"); its id goes to `id`. */
static inline void pgt_consumer(struct fixture *f, int stream, const char *name, const char *filter,
                                sq_consumer_settings set, char id[37])
{
    sq_consumer c;
    if (sq_store_consumer_create(f->store, stream, name, filter, &set, false, &c, &f->arena, f->err,
                                 sizeof f->err) != SQ_OK)
        fail_msg("consumer %s: %s", name, f->err);
    memcpy(id, c.id, 37);
}

/* Receives up to `max` messages of consumer `cid` into `out`; how many. */
static inline int pgt_receive(struct fixture *f, const char *cid, int max, sq_delivery *out)
{
    int count = -1;
    if (sq_store_receive(f->store, cid, max, out, &count, &f->arena, f->err, sizeof f->err) !=
        SQ_OK)
        fail_msg("receive: %s", f->err);
    return count;
}

#endif
