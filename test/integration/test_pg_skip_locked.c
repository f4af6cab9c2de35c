/* Proves the test harness gives us a real PostgreSQL, and the property the whole design leans
 * on: FOR UPDATE SKIP LOCKED claims from two connections never take the same row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "pg_fixture.h"

/* Claims up to `limit` rows in the connection's open transaction; returns how many, ids out. */
static int claim(PGconn *c, int limit, int *ids)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT id FROM jobs ORDER BY id LIMIT %d FOR UPDATE SKIP LOCKED",
             limit);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("claim: %s", PQerrorMessage(c));
    int n = PQntuples(r);
    for (int i = 0; i < n; i++)
        ids[i] = atoi(PQgetvalue(r, i, 0));
    PQclear(r);
    return n;
}

static int setup(void **state)
{
    PGconn **conns = calloc(2, sizeof *conns);
    conns[0] = pgt_connect();
    conns[1] = pgt_connect();
    pgt_exec(conns[0], "CREATE TABLE jobs (id int PRIMARY KEY)");
    pgt_exec(conns[0], "INSERT INTO jobs SELECT generate_series(1, 10)");
    *state = conns;
    return 0;
}

static int teardown(void **state)
{
    PGconn **conns = *state;
    PQfinish(conns[0]);
    PQfinish(conns[1]);
    free(conns);
    return 0;
}

static void test_server_is_real(void **state)
{
    PGconn **conns = *state;
    assert_true(PQserverVersion(conns[0]) >= 150000);
    assert_int_equal(pgt_long_on(conns[0], "SELECT count(*) FROM jobs", 0, NULL), 10);
}

static void test_two_claims_take_different_rows(void **state)
{
    PGconn **conns = *state;
    int a[10], b[10];
    pgt_exec(conns[0], "BEGIN");
    pgt_exec(conns[1], "BEGIN");
    assert_int_equal(claim(conns[0], 3, a), 3);
    assert_int_equal(claim(conns[1], 3, b), 3);
    /* Oldest first for the first claimer; the second skips exactly those. */
    assert_int_equal(a[0], 1);
    assert_int_equal(a[2], 3);
    assert_int_equal(b[0], 4);
    assert_int_equal(b[2], 6);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            assert_int_not_equal(a[i], b[j]);

    /* A claim that asks for more than is left gets only the unlocked rest. */
    int rest[10];
    pgt_exec(conns[1], "SAVEPOINT s");
    assert_int_equal(claim(conns[1], 10, rest), 7); /* its own 3 again, plus 4 unlocked */
    pgt_exec(conns[1], "ROLLBACK TO SAVEPOINT s");

    /* The first claimer finishes its rows; the second gives its back. */
    pgt_exec(conns[0], "DELETE FROM jobs WHERE id IN (1, 2, 3)");
    pgt_exec(conns[0], "COMMIT");
    pgt_exec(conns[1], "ROLLBACK");

    /* Deleted rows are gone, released ones are claimable again. */
    pgt_exec(conns[1], "BEGIN");
    assert_int_equal(claim(conns[1], 10, b), 7);
    assert_int_equal(b[0], 4);
    pgt_exec(conns[1], "COMMIT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_is_real),
        cmocka_unit_test(test_two_claims_take_different_rows),
    };
    return cmocka_run_group_tests_name("pg_skip_locked", tests, setup, teardown);
}
