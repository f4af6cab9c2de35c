/* Migrations against a real PostgreSQL: fresh, idempotent, concurrent nodes, a newer database
 * refused, a failing migration leaving nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
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
#include "sequin/store.h"

/* The first column of the first row of `sql`, as a number (-1 for NULL). */
static long query_long(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    long v = PQgetisnull(r, 0, 0) ? -1 : strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static int fresh(void **state)
{
    PGconn *c = pgt_connect();
    PGresult *r = PQexec(c, "DROP SCHEMA IF EXISTS sequin CASCADE");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    *state = c;
    return 0;
}

static int finish(void **state)
{
    PQfinish(*state);
    return 0;
}

static void test_fresh_then_up_to_date(void **state)
{
    PGconn *c = *state;
    char err[512] = "";
    size_t n = 0;
    const sq_migration *list = sq_store_migrations(&n);
    assert_true(n >= 1);

    int applied = sq_store_migrate(c, list, n, err, sizeof err);
    if (applied < 0)
        fail_msg("migrate: %s", err);
    assert_int_equal(applied, (int)n);
    assert_int_equal(query_long(c, "SELECT max(version) FROM sequin.schema_migrations"), (long)n);
    assert_int_equal(query_long(c, "SELECT count(*) FROM sequin.schema_migrations"), (long)n);
    /* SPEC 3: a stream named default exists from first start. */
    assert_int_equal(query_long(c, "SELECT count(*) FROM sequin.streams WHERE name = 'default'"),
                     1);

    /* Again: nothing to do, nothing changed, the connection is left idle. */
    assert_int_equal(sq_store_migrate(c, list, n, err, sizeof err), 0);
    assert_int_equal(query_long(c, "SELECT count(*) FROM sequin.schema_migrations"), (long)n);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
}

/* Three migrations; the first one is slow, to keep the race window wide open. */
static const sq_migration slow_list[] = {
    {1, "slow", "SELECT pg_sleep(0.3); CREATE TABLE sequin.t1 (x int);"},
    {2, "second", "CREATE TABLE sequin.t2 (x int);"},
    {3, "third", "INSERT INTO sequin.t1 VALUES (1);"},
};

static void test_concurrent_nodes(void **state)
{
    (void)state;
    enum {
        NODES = 6
    };
    pid_t pids[NODES];
    for (int i = 0; i < NODES; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            /* A node: its own connection, opened after fork. Exit status = applied count. */
            PGconn *c = PQconnectdb(getenv("SEQUIN_TEST_DATABASE_URL"));
            char err[512];
            int applied = PQstatus(c) == CONNECTION_OK
                              ? sq_store_migrate(c, slow_list, 3, err, sizeof err)
                              : -1;
            if (applied < 0)
                fprintf(stderr, "node %d: %s\n", i, applied < 0 ? err : "");
            PQfinish(c);
            _exit(applied < 0 ? 100 : applied);
        }
    }
    int total = 0, winners = 0;
    for (int i = 0; i < NODES; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        int applied = WEXITSTATUS(status);
        assert_int_not_equal(applied, 100); /* no node failed */
        total += applied;
        winners += applied > 0;
    }
    /* One node did all the work; the others waited on the lock and found nothing to do. */
    assert_int_equal(total, 3);
    assert_int_equal(winners, 1);
    PGconn *c = pgt_connect();
    assert_int_equal(query_long(c, "SELECT count(*) FROM sequin.schema_migrations"), 3);
    assert_int_equal(query_long(c, "SELECT count(*) FROM sequin.t1"), 1);
    PQfinish(c);
}

static void test_newer_database_refused(void **state)
{
    PGconn *c = *state;
    char err[512] = "";
    assert_int_equal(sq_store_migrate(c, slow_list, 2, err, sizeof err), 2);
    /* A newer sequind migrated this database further than this binary knows. */
    PGresult *r = PQexec(c, "INSERT INTO sequin.schema_migrations VALUES (3, 'from the future')");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);

    assert_int_equal(sq_store_migrate(c, slow_list, 2, err, sizeof err), SQ_ERR);
    assert_non_null(strstr(err, "version 3, newer than this sequind knows (2)"));
    assert_non_null(strstr(err, "upgrade sequind"));
    assert_int_equal(query_long(c, "SELECT count(*) FROM sequin.schema_migrations"), 3);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
}

static void test_failing_migration_leaves_nothing(void **state)
{
    PGconn *c = *state;
    char err[512] = "";
    static const sq_migration broken[] = {
        {1, "fine", "CREATE TABLE sequin.kept_only_if_all_pass (x int);"},
        {2, "broken", "CREATE TABLE sequin.half (x int); SELECT 1 / 0;"},
    };
    assert_int_equal(sq_store_migrate(c, broken, 2, err, sizeof err), SQ_ERR);
    assert_non_null(strstr(err, "migration 2 (broken) failed"));
    assert_non_null(strstr(err, "division by zero"));
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    /* One transaction: the first migration is gone too, and so is the bookkeeping table. */
    assert_int_equal(query_long(c, "SELECT count(*) FROM pg_namespace WHERE nspname = 'sequin'"),
                     0);
    /* And a correct list still applies afterwards. */
    assert_int_equal(sq_store_migrate(c, broken, 1, err, sizeof err), 1);
}

static void test_malformed_list(void **state)
{
    PGconn *c = *state;
    char err[512] = "";
    static const sq_migration gap[] = {
        {1, "one", "SELECT 1"},
        {3, "three", "SELECT 1"},
    };
    assert_int_equal(sq_store_migrate(c, gap, 2, err, sizeof err), SQ_ERR);
    assert_non_null(strstr(err, "malformed: entry 2 has version 3"));
    assert_int_equal(query_long(c, "SELECT count(*) FROM pg_namespace WHERE nspname = 'sequin'"),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_then_up_to_date, fresh, finish),
        cmocka_unit_test_setup_teardown(test_concurrent_nodes, fresh, finish),
        cmocka_unit_test_setup_teardown(test_newer_database_refused, fresh, finish),
        cmocka_unit_test_setup_teardown(test_failing_migration_leaves_nothing, fresh, finish),
        cmocka_unit_test_setup_teardown(test_malformed_list, fresh, finish),
    };
    return cmocka_run_group_tests_name("store_migrate", tests, NULL, NULL);
}
