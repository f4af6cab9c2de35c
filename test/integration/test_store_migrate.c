/* Migrations against a real PostgreSQL: fresh, idempotent, concurrent nodes, a newer database
 * refused, a failing migration leaving nothing behind; function files applied when they
 * change; a database upgraded from any older schema identical to a fresh one. */
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
#include "sequin/buf.h"
#include "sequin/store.h"

static int fresh(void **state)
{
    PGconn *c = pgt_connect();
    pgt_exec(c, "DROP SCHEMA IF EXISTS sequin CASCADE");
    *state = c;
    return 0;
}

static int finish(void **state)
{
    PQfinish(*state);
    return 0;
}

/* A test that starts without the sequin schema, with a connection of its own in *state. */
#define MIGRATE_TEST(test) cmocka_unit_test_setup_teardown(test, fresh, finish)

/* A schema of migrations alone. */
static sq_schema only(const sq_migration *list, size_t n)
{
    return (sq_schema){list, n, NULL, 0};
}

static int migrate_list(const sq_migration *list, size_t n, char *err, size_t errlen)
{
    sq_schema schema = only(list, n);
    return sq_store_migrate(pgt_url(), &schema, NULL, err, errlen);
}

static void test_fresh_then_up_to_date(void **state)
{
    PGconn *c = *state;
    char err[512] = "";
    const sq_schema *schema = sq_store_schema();
    long n = (long)schema->n_migrations;
    int functions = -1;
    assert_true(n >= 1);

    int applied = sq_store_migrate(pgt_url(), schema, &functions, err, sizeof err);
    if (applied < 0)
        fail_msg("migrate: %s", err);
    assert_int_equal(applied, n);
    assert_int_equal(functions, (int)schema->n_functions);
    assert_int_equal(pgt_long_on(c, "SELECT max(version) FROM sequin.schema_migrations", 0, NULL),
                     (long)n);
    assert_int_equal(pgt_long_on(c, "SELECT count(*) FROM sequin.schema_migrations", 0, NULL),
                     (long)n);
    /* SPEC 3: a stream named default exists from first start. */
    assert_int_equal(
        pgt_long_on(c, "SELECT count(*) FROM sequin.streams WHERE name = 'default'", 0, NULL), 1);

    assert_int_equal(pgt_long_on(c, "SELECT count(*) FROM sequin.schema_functions", 0, NULL),
                     (long)schema->n_functions);

    /* Again: nothing to do, nothing changed. */
    assert_int_equal(sq_store_migrate(pgt_url(), schema, &functions, err, sizeof err), 0);
    assert_int_equal(functions, 0);
    assert_int_equal(pgt_long_on(c, "SELECT count(*) FROM sequin.schema_migrations", 0, NULL),
                     (long)n);
}

/* Three migrations; the first one is slow, to keep the race window wide open. */
static const sq_migration slow_list[] = {
    {1, "slow", "SELECT pg_sleep(0.3); CREATE TABLE sequin.t1 (x int);"},
    {2, "second", "CREATE TABLE sequin.t2 (x int);"},
    {3, "third", "INSERT INTO sequin.t1 VALUES (1);"},
};

/* A node of test_concurrent_nodes: its own connection, opened after fork. Its exit status is
 * how many migrations it applied, 100 when it failed. */
static int migrating_node(int i, void *arg)
{
    char err[512];
    int applied = migrate_list(slow_list, 3, err, sizeof err);
    (void)arg;
    if (applied < 0)
        fprintf(stderr, "node %d: %s\n", i, err);
    return applied < 0 ? 100 : applied;
}

static void test_concurrent_nodes(void **state)
{
    (void)state;
    enum {
        NODES = 6
    };
    pid_t pids[NODES];
    pgt_fork(NODES, migrating_node, NULL, pids);
    int total = 0, winners = 0;
    for (int i = 0; i < NODES; i++) {
        int applied = pgt_exit_status(pids[i]);
        assert_int_not_equal(applied, 100); /* no node failed */
        total += applied;
        winners += applied > 0;
    }
    /* One node did all the work; the others waited on the lock and found nothing to do. */
    assert_int_equal(total, 3);
    assert_int_equal(winners, 1);
    PGconn *c = pgt_connect();
    assert_int_equal(pgt_long_on(c, "SELECT count(*) FROM sequin.schema_migrations", 0, NULL), 3);
    assert_int_equal(pgt_long_on(c, "SELECT count(*) FROM sequin.t1", 0, NULL), 1);
    PQfinish(c);
}

static void test_newer_database_refused(void **state)
{
    PGconn *c = *state;
    char err[512] = "";
    assert_int_equal(migrate_list(slow_list, 2, err, sizeof err), 2);
    /* A newer sequind migrated this database further than this binary knows. */
    pgt_exec(c, "INSERT INTO sequin.schema_migrations VALUES (3, 'from the future')");

    assert_int_equal(migrate_list(slow_list, 2, err, sizeof err), SQ_ERR);
    assert_non_null(strstr(err, "version 3, newer than this sequind knows (2)"));
    assert_non_null(strstr(err, "upgrade sequind"));
    assert_int_equal(pgt_long_on(c, "SELECT count(*) FROM sequin.schema_migrations", 0, NULL), 3);
}

/* Migrates with `list` on the fresh database `c`, expects a refusal, and that nothing is
 * left: not even the schema with its bookkeeping table. The refusal goes to `err`. */
static void refused_leaving_nothing(PGconn *c, const sq_migration *list, size_t n, char *err,
                                    size_t errlen)
{
    assert_int_equal(migrate_list(list, n, err, errlen), SQ_ERR);
    assert_int_equal(
        pgt_long_on(c, "SELECT count(*) FROM pg_namespace WHERE nspname = 'sequin'", 0, NULL), 0);
}

/* Lists refused whole, each leaving nothing behind; and a correct list still applies after. */
static void test_refused_lists_leave_nothing(void **state)
{
    char err[512] = "";
    static const sq_migration broken[] = {
        {1, "fine", "CREATE TABLE sequin.kept_only_if_all_pass (x int);"},
        {2, "broken", "CREATE TABLE sequin.half (x int); SELECT 1 / 0;"},
    };
    static const sq_migration gap[] = {
        {1, "one", "SELECT 1"},
        {3, "three", "SELECT 1"},
    };
    static const struct {
        const char *what;
        const sq_migration *list;
        const char *said[2]; /* what the refusal says (NULL: no more) */
    } cases[] = {
        /* One transaction: the first migration is gone too. */
        {"a failing migration", broken, {"migration 2 (broken) failed", "division by zero"}},
        {"a gap in the versions", gap, {"malformed: entry 2 has version 3", NULL}},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(cases); i++) {
        refused_leaving_nothing(*state, cases[i].list, 2, err, sizeof err);
        for (size_t j = 0; j < SQ_ARRAY_LEN(cases[i].said) && cases[i].said[j] != NULL; j++)
            if (strstr(err, cases[i].said[j]) == NULL)
                fail_msg("%s: the refusal \"%s\" does not say \"%s\"", cases[i].what, err,
                         cases[i].said[j]);
    }
    assert_int_equal(migrate_list(broken, 1, err, sizeof err), 1);
}

/* Function files: applied when their text changes, all of them after a migration, forgotten
 * when the schema drops them, and a failing one leaves nothing behind. */
static void test_function_files(void **state)
{
    PGconn *c = *state;
    char err[512] = "";
    int functions = -1;
    static const sq_migration one[] = {
        {1, "table", "CREATE TABLE sequin.t (x int);"},
        {2, "more", "ALTER TABLE sequin.t ADD COLUMN y int;"},
    };
    sq_function files[] = {
        {"f1", "CREATE OR REPLACE FUNCTION sequin.f1() RETURNS int LANGUAGE sql AS 'SELECT 1';"},
        {"f2", "CREATE OR REPLACE FUNCTION sequin.f2() RETURNS int LANGUAGE sql AS 'SELECT 2';"},
    };
    sq_schema schema = {one, 1, files, 2};

    assert_int_equal(sq_store_migrate(pgt_url(), &schema, &functions, err, sizeof err), 1);
    assert_int_equal(functions, 2);
    assert_int_equal(sq_store_migrate(pgt_url(), &schema, &functions, err, sizeof err), 0);
    assert_int_equal(functions, 0);

    /* f2 changes: it alone is applied again. */
    files[1].sql = "CREATE OR REPLACE FUNCTION sequin.f2() RETURNS int LANGUAGE sql AS 'SELECT 3';";
    if (sq_store_migrate(pgt_url(), &schema, &functions, err, sizeof err) != 0)
        fail_msg("migrate: %s", err);
    assert_int_equal(functions, 1);
    assert_int_equal(pgt_long_on(c, "SELECT sequin.f2()", 0, NULL), 3);

    /* A migration runs: every file is applied after it, whatever it may have dropped. */
    schema.n_migrations = 2;
    assert_int_equal(sq_store_migrate(pgt_url(), &schema, &functions, err, sizeof err), 1);
    assert_int_equal(functions, 2);

    /* A file that fails takes the whole run with it. */
    files[0].sql = "CREATE OR REPLACE FUNCTION sequin.f1() RETURNS int LANGUAGE sql AS 'SELEC';";
    assert_int_equal(sq_store_migrate(pgt_url(), &schema, &functions, err, sizeof err), SQ_ERR);
    assert_non_null(strstr(err, "function file f1.sql failed"));
    assert_int_equal(pgt_long_on(c, "SELECT sequin.f1()", 0, NULL), 1);

    /* A file the schema no longer has is forgotten (and applied afresh if it comes back). */
    schema.functions = &files[1];
    schema.n_functions = 1;
    assert_int_equal(sq_store_migrate(pgt_url(), &schema, &functions, err, sizeof err), 0);
    assert_int_equal(pgt_long_on(c, "SELECT count(*) FROM sequin.schema_functions", 0, NULL), 1);
}

/* ---- a database upgraded from an older schema is the same as a fresh one ------------------ */

static char *db_url(const char *name)
{
    const char *url = pgt_url();
    const char *slash = strrchr(url, '/');
    assert_non_null(slash);
    char *out = NULL;
    assert_true(asprintf(&out, "%.*s/%s", (int)(slash - url), url, name) > 0);
    return out;
}

/* Creates database `name` (dropping one left by an earlier run) and returns its URL. */
static char *new_db(PGconn *c, const char *name)
{
    char sql[160];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", name);
    pgt_exec(c, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    pgt_exec(c, sql);
    return db_url(name);
}

/* The whole output of `cmd`, malloc'd; fails the test unless it exits 0. */
static char *output_of(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    sq_buf out = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        assert_int_equal(sq_buf_append(&out, chunk, n), 0);
    assert_int_equal(sq_buf_append(&out, "", 1), 0);
    if (pclose(p) != 0)
        fail_msg("%s failed", cmd);
    return out.data;
}

/* What a schema is: pg_dump's view of it, and the definition of every function. */
static char *schema_of(const char *url)
{
    const char *bindir = getenv("SEQUIN_TEST_PG_BINDIR");
    char *cmd = NULL, *dump, *defs, *all = NULL;
    assert_true(asprintf(&cmd, "'%s/pg_dump' --schema-only --no-owner '%s'",
                         bindir != NULL ? bindir : "/usr/bin", url) > 0);
    dump = output_of(cmd);
    free(cmd);
    /* pg_dump frames its script with \restrict and \unrestrict and a key made afresh each
     * time: not part of the schema. */
    for (char *line = dump; *line != '\0';) {
        char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) + 1 : strlen(line);
        if (strncmp(line, "\\restrict ", 10) == 0 || strncmp(line, "\\unrestrict ", 12) == 0)
            memmove(line, line + len, strlen(line + len) + 1);
        else
            line += len;
    }

    PGconn *c = PQconnectdb(url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    defs = pgt_value_on(c,
                        "SELECT string_agg(pg_get_functiondef(p.oid), E'\\n' "
                        "                  ORDER BY p.oid::regprocedure::text) "
                        "  FROM pg_proc p WHERE p.pronamespace = 'sequin'::regnamespace",
                        0, NULL);
    PQfinish(c);
    assert_true(asprintf(&all, "%s\n-- functions --\n%s", dump, defs) > 0);
    free(dump);
    free(defs);
    return all;
}

/* Reports the first line where two schemas differ. */
static void assert_same_schema(const char *want, const char *got, const char *what)
{
    if (strcmp(want, got) == 0)
        return;
    size_t i = 0, line = 1;
    while (want[i] != '\0' && want[i] == got[i])
        line += want[i++] == '\n';
    fail_msg("%s differs from a fresh database at line %zu:\n  fresh: %.120s\n  %s: %.120s", what,
             line, want + i, what, got + i);
}

static void test_upgraded_equals_fresh(void **state)
{
    PGconn *c = *state;
    char err[512] = "";
    const sq_schema *full = sq_store_schema();
    size_t n = full->n_migrations;

    char *fresh_url = new_db(c, "sqtest_schema_fresh");
    if (sq_store_migrate(fresh_url, full, NULL, err, sizeof err) < 0)
        fail_msg("fresh: %s", err);
    char *fresh = schema_of(fresh_url);
    /* The comparison is worth something only if the dump holds the schema. */
    assert_non_null(strstr(fresh, "CREATE TABLE sequin.messages"));
    assert_non_null(strstr(fresh, "CREATE FUNCTION sequin.receive"));
    assert_non_null(strstr(fresh, "CREATE TRIGGER stream_deleted"));

    /* From the oldest schema, from the one before the newest migration (a binary of the last
     * release), and with every migration but no function file applied yet. */
    const size_t starts[] = {1, n - 1, n};
    for (size_t i = 0; i < SQ_ARRAY_LEN(starts); i++) {
        char name[64], what[64];
        snprintf(name, sizeof name, "sqtest_schema_from_%zu", starts[i]);
        snprintf(what, sizeof what, "upgraded from version %zu", starts[i]);
        char *url = new_db(c, name);
        sq_schema older = only(full->migrations, starts[i]);
        if (sq_store_migrate(url, &older, NULL, err, sizeof err) < 0 ||
            sq_store_migrate(url, full, NULL, err, sizeof err) < 0)
            fail_msg("%s: %s", what, err);
        char *upgraded = schema_of(url);
        assert_same_schema(fresh, upgraded, what);
        free(upgraded);
        char sql[96];
        snprintf(sql, sizeof sql, "DROP DATABASE %s", name);
        pgt_exec(c, sql);
        free(url);
    }
    free(fresh);
    pgt_exec(c, "DROP DATABASE sqtest_schema_fresh");
    free(fresh_url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        MIGRATE_TEST(test_fresh_then_up_to_date),  MIGRATE_TEST(test_concurrent_nodes),
        MIGRATE_TEST(test_newer_database_refused), MIGRATE_TEST(test_refused_lists_leave_nothing),
        MIGRATE_TEST(test_function_files),         MIGRATE_TEST(test_upgraded_equals_fresh),
    };
    return cmocka_run_group_tests_name("store_migrate", tests, NULL, NULL);
}
