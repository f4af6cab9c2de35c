/* What the integration tests share: the throwaway database test/with-postgres gives them. */
#ifndef SEQUIN_TEST_PG_FIXTURE_H
#define SEQUIN_TEST_PG_FIXTURE_H

#include <stdlib.h>
#include <string.h>

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

/* The first column of the first row of `sql` with `n` text parameters, in a malloc'd string
 * ("" when there is no row); fails the test if PostgreSQL refuses it. */
static inline char *pgt_value(const char *sql, int n, const char *const *params)
{
    PGconn *c = pgt_connect();
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    char *v = strdup(PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
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
    size_t n = 0;
    const sq_migration *list = sq_store_migrations(&n);
    if (sq_store_migrate(c, list, n, err, sizeof err) < 0)
        fail_msg("migrate: %s", err);
    PQfinish(c);
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

#endif
