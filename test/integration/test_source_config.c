/* A source declared in the config file (SPEC 8) run by the real sequind over the test database:
 * created at start (managed_by "config") and streaming a table's insert into its stream,
 * restarted with the new settings a SIGHUP gives it, deleted when a SIGHUP no longer declares it
 * (its slot stays), and refused, at its line and column, when its stream does not exist. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "pg_fixture.h"
#include "sequind_harness.h"

/* Slots belong to the cluster, which other test programs share: this one's own names. */
#define SLOT "sequin_cfg_slot"
#define PUB "sequin_cfg_pub"

static int setup(void **state)
{
    (void)state;
    pgt_drop_slot(SLOT);
    PGconn *c = pgt_connect();
    pgt_exec(c, "SET client_min_messages = warning");
    pgt_exec(c, "DROP TABLE IF EXISTS public.items; DROP PUBLICATION IF EXISTS " PUB);
    pgt_exec(c, "CREATE TABLE public.items (id int PRIMARY KEY, name text NOT NULL)");
    PQfinish(c);
    pgt_fresh_schema();
    return 0;
}

static int teardown(void **state)
{
    int rc = teardown_server(state);
    pgt_drop_slot(SLOT);
    return rc;
}

/* The source's declaration (from line 6 of the file the harness writes: its mapping starts at
 * line 7, column 5), with `more` lines of its own after `tables`. */
static const char *declared(char *buf, size_t size, const char *more)
{
    snprintf(buf, size,
             "sources:\n"          /* line 6 */
             "  - name: cfgdb\n"   /* 7 */
             "    postgres:\n"     /* 8 */
             "      url: \"%s\"\n" /* 9 */
             "      slot: " SLOT "\n"
             "      publication: " PUB "\n"
             "      tables: [items]\n"
             "%s",
             db_url(), more);
    return buf;
}

/* The source's row as "managed_by key_format", or "" when there is none. */
static char *source_row(void)
{
    return pgt_value("SELECT coalesce((SELECT managed_by || ' ' || (settings->>'key_format') "
                     "FROM sequin.sources WHERE name = 'cfgdb'), '')",
                     0, NULL);
}

static void assert_source(const char *want)
{
    char *got = source_row();
    if (strcmp(got, want) != 0)
        fail_msg("source cfgdb is \"%s\", not \"%s\"", got, want);
    free(got);
}

/* Waits until nothing streams the slot any more. */
static void wait_slot_idle(void)
{
    int64_t deadline = now_ms() + 20000;
    while (pgt_long("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" SLOT
                    "' AND active",
                    0, NULL) != 0) {
        if (now_ms() > deadline)
            fail_msg("the slot is still in use");
        sleep_ms(100);
    }
}

/* Waits up to `ms` for a message of key `key` in the stream; whether one came. */
static bool wait_message(const char *key, int ms)
{
    const char *params[1] = {key};
    int64_t deadline = now_ms() + ms;
    for (;;) {
        if (pgt_long("SELECT count(*) FROM sequin.messages WHERE key = $1", 1, params) == 1)
            return true;
        if (now_ms() > deadline)
            return false;
        sleep_ms(50);
    }
}

static void assert_message(const char *key)
{
    if (wait_message(key, 10000))
        return;
    char *keys = pgt_value("SELECT coalesce(string_agg(key, ', ' ORDER BY seq), '(none)') "
                           "FROM sequin.messages",
                           0, NULL);
    fail_msg("no message %s in the stream, which holds: %s", key, keys);
}

static void insert_item(int id)
{
    char sql[128];
    PGconn *c = pgt_connect();
    snprintf(sql, sizeof sql, "INSERT INTO public.items VALUES (%d, 'item %d')", id, id);
    pgt_exec(c, sql);
    PQfinish(c);
}

/* Rewrites the file with `extra` after the harness's lines, sends SIGHUP and waits for the
 * reload to end. */
static void reload_with_text(struct server *s, const char *extra)
{
    write_config(s, extra);
    reload(s);
}

static void test_declared_source_through_reloads(void **state)
{
    char text[2048];
    struct server *s = started(false, declared(text, sizeof text, ""));
    *state = s;

    /* Start: created, the config's, and streaming the table into the default stream. */
    assert_true(log_hasf(s,
                         "source \"cfgdb\" created, as declared at %s:7 (stream \"default\", "
                         "slot \"" SLOT "\", publication \"" PUB "\")",
                         s->config));
    assert_source("config basic");
    pgt_wait_streaming();
    insert_item(1);
    assert_message("cfgdb.public.items.1");

    /* A stream that does not exist: the reload is refused, naming the source at its place, and
     * the source streams on as it was. */
    reload_with_text(s, declared(text, sizeof text, "    stream: nowhere\n"));
    wait_logf(s,
              "reload refused, the running configuration stays: %s:7:5: source \"cfgdb\" writes "
              "into stream \"nowhere\", which does not exist",
              s->config);
    assert_source("config basic");

    /* New settings: updated, and the sources process restarts it with them: what the table
     * changes from then on gets the new keys. */
    reload_with_text(s, declared(text, sizeof text, "    key_format: with_operation\n"));
    wait_logf(s,
              "source \"cfgdb\" updated, as declared at %s:7: key_format \"basic\" -> "
              "\"with_operation\"; it restarts with them",
              s->config);
    assert_source("config with_operation");
    wait_log(s, "source cfgdb: stopped");
    insert_item(2);
    assert_message("cfgdb.public.items.insert.2");
    assert_false(wait_message("cfgdb.public.items.2", 0));

    /* No longer declared: deleted, it stops streaming, and the log says how to drop the slot
     * and the publication it leaves behind. */
    reload_with_text(s, "");
    wait_logf(s,
              "source \"cfgdb\" is no longer declared in %s: deleted, it stops streaming. Its "
              "replication slot \"" SLOT "\" and publication \"" PUB "\" stay in the source "
              "database, where the slot holds WAL until it is dropped: SELECT "
              "pg_drop_replication_slot('" SLOT "'); DROP PUBLICATION " PUB ";",
              s->config);
    assert_source("");
    wait_slot_idle();
    assert_int_equal(
        pgt_long("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" SLOT "'", 0, NULL),
        1);
    insert_item(3);
    assert_false(wait_message("cfgdb.public.items.insert.3", 1500));
    /* The messages it put in the stream stay. */
    assert_true(wait_message("cfgdb.public.items.insert.2", 0));
}

static void test_start_refused_on_a_missing_stream(void **state)
{
    struct server *s = new_server(false);
    char text[2048];

    *state = s;
    start_refused(s, declared(text, sizeof text, "    stream: nowhere\n"));
    assert_true(
        log_hasf(s,
                 "%s:7:5: source \"cfgdb\" writes into stream \"nowhere\", which does not "
                 "exist: declare the stream under \"streams\", or create it through the API",
                 s->config));
    assert_source("");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_declared_source_through_reloads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_refused_on_a_missing_stream, setup, teardown),
    };
    return cmocka_run_group_tests_name("source_config", tests, NULL, NULL);
}
