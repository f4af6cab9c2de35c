/* The postgres source against a real PostgreSQL: a table's inserts, updates and deletes reach
 * the stream as keyed messages a consumer receives, nothing of a rolled-back transaction does,
 * a transaction arrives whole, and the slot is confirmed only up to what the stream has. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "api_client.h"
#include "pg_fixture.h"
#include "sequin/common.h"
#include "sequin/json.h"
#include "sequind_harness.h"
#include "source_fixture.h"

/* The source database is the store's own here (the same cluster case); test_source_faults has
 * the case of two clusters. */
static int setup(void **state)
{
    sfx_fresh(db_url());
    *state = api_serve(NULL);
    return 0;
}

static int teardown(void **state)
{
    sfx_stop_writers();
    int rc = teardown_server(state);
    /* The source's slot must go before the test database can be dropped; the next test starts
     * from an empty stream and declares its own source. */
    sfx_drop_slot(db_url());
    sfx_clear_store();
    return rc;
}

/* Declares source mydb over the store's own database and waits until it streams, so changes
 * made from now on are its. */
static void add_source(const char *key_format, bool backfill)
{
    sfx_add_source(db_url(), key_format, backfill);
    sfx_wait_streaming(db_url(), 0, 20000);
}

/* Receives one message of consumer `name` (long polls up to 10 s), acks it, and returns the
 * message from its key on (free it); NULL when none came. */
static char *receive_one(int port, const char *name)
{
    char target[256];
    snprintf(target, sizeof target, "/api/streams/default/consumers/%s/receive", name);
    api_resp r = api_call(port, "POST", target, "{\"batch_size\":1,\"wait_for\":10000}");
    assert_int_equal(r.status, 200);
    char *ack = strstr(r.body, "\"ack_id\":\"");
    char *data = strstr(r.body, "\"key\":\"");
    char *out = NULL;
    if (ack && data) {
        /* From the key on: the key, then the data (a JSON string holding the source's
         * object). */
        out = strdup(data);
        char body[128];
        snprintf(body, sizeof body, "{\"ack_ids\":[\"%.36s\"]}", ack + 10);
        snprintf(target, sizeof target, "/api/streams/default/consumers/%s/ack", name);
        api_resp a = api_call(port, "POST", target, body);
        assert_int_equal(a.status, 200);
        api_resp_free(&a);
    }
    api_resp_free(&r);
    return out;
}

/* `text` (a received message) holds `needle`, or the test fails showing both. */
static void assert_has(const char *text, const char *needle)
{
    if (text && strstr(text, needle))
        return;
    /* What the stream and the source's report hold, for the reader of a failure. */
    char *stream = pgt_value("SELECT coalesce(string_agg(key || ' ' || data, E'\\n' ORDER BY seq), "
                             "'(none)') FROM sequin.messages",
                             0, NULL);
    char *report = pgt_value("SELECT coalesce(string_agg(state || ' ' || coalesce(error, ''), "
                             "'; '), '(none)') FROM sequin.source_status",
                             0, NULL);
    char *slot = pgt_value("SELECT coalesce(string_agg(format('active %s pid %s restart %s "
                           "confirmed %s; sent %s flushed %s state %s; wal now %s', s.active, "
                           "s.active_pid, s.restart_lsn, s.confirmed_flush_lsn, r.sent_lsn, "
                           "r.flush_lsn, r.state, pg_current_wal_lsn()), '; '), '(no slot)') "
                           "FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON "
                           "r.pid = s.active_pid WHERE s.slot_name = '" SFX_SLOT "'",
                           0, NULL);
    fprintf(stderr, "the stream holds:\n%s\nthe source reports: %s\nthe slot: %s\n", stream, report,
            slot);
    free(stream);
    free(report);
    free(slot);
    fail_msg("expected %s in %s", needle, text ? text : "(no message)");
}

static void test_insert_update_delete(void **state)
{
    struct server *s = *state;
    add_source("basic", false);
    sfx_consumer(s->port);

    PGconn *c = pgt_connect();
    pgt_exec(c, "INSERT INTO public.orders VALUES (1, 'new', 12.50, false, '{\"a\":[1,2]}')");
    char *m = receive_one(s->port, "orders");
    assert_has(m, "mydb.public.orders.1");
    assert_has(m, "\\\"action\\\":\\\"insert\\\"");
    assert_has(m, "\\\"total\\\":12.50");
    assert_has(m, "\\\"paid\\\":false");
    assert_has(m, "\\\"meta\\\":{\\\"a\\\": [1, 2]}");
    assert_has(m, "\\\"table\\\":\\\"orders\\\"");
    assert_has(m, "\\\"deleted\\\":false");
    free(m);

    pgt_exec(c, "UPDATE public.orders SET status = 'paid', paid = true WHERE id = 1");
    m = receive_one(s->port, "orders");
    assert_has(m, "\\\"action\\\":\\\"update\\\"");
    assert_has(m, "\\\"status\\\":\\\"paid\\\"");
    free(m);

    /* A rolled-back transaction never reaches the stream; the next one does, whole. */
    pgt_exec(c, "BEGIN; INSERT INTO public.orders VALUES (2, 'ghost', 1, false, NULL); ROLLBACK");
    pgt_exec(c, "BEGIN; INSERT INTO public.orders VALUES (3, 'a', 1, false, NULL); "
                "INSERT INTO public.orders VALUES (4, 'b', 2, true, NULL); COMMIT");
    int64_t deadline = now_ms() + 10000;
    while (pgt_long("SELECT count(*) FROM sequin.messages WHERE key LIKE 'mydb.public.orders.%'", 0,
                    NULL) < 3 &&
           now_ms() < deadline)
        sleep_ms(50);
    assert_int_equal(pgt_long("SELECT count(*) FROM sequin.messages WHERE key IN "
                              "('mydb.public.orders.3', 'mydb.public.orders.4')",
                              0, NULL),
                     2);
    assert_int_equal(pgt_long("SELECT count(*) FROM sequin.messages WHERE key = "
                              "'mydb.public.orders.2'",
                              0, NULL),
                     0);
    /* Both arrived in one store transaction: one commit, the same xmin. */
    assert_int_equal(pgt_long("SELECT count(DISTINCT xmin::text) FROM sequin.messages WHERE key "
                              "IN ('mydb.public.orders.3', 'mydb.public.orders.4')",
                              0, NULL),
                     1);
    free(receive_one(s->port, "orders"));
    free(receive_one(s->port, "orders"));

    pgt_exec(c, "DELETE FROM public.orders WHERE id = 1");
    m = receive_one(s->port, "orders");
    assert_has(m, "mydb.public.orders.1");
    assert_has(m, "\\\"action\\\":\\\"delete\\\"");
    assert_has(m, "\\\"deleted\\\":true");
    free(m);

    /* Once the stream has the delete, the slot is told so and, the table idle, moves past it
     * (the server's keepalives are confirmed): the slot holds no WAL the stream has. */
    deadline = now_ms() + 15000;
    const char *confirmed = "SELECT count(*) FROM pg_replication_slots s, sequin.sources src "
                            "WHERE s.slot_name = '" SFX_SLOT "' AND s.confirmed_flush_lsn > "
                            "src.applied_lsn";
    while (pgt_long(confirmed, 0, NULL) != 1 && now_ms() < deadline)
        sleep_ms(100);
    assert_int_equal(pgt_long(confirmed, 0, NULL), 1);
    assert_int_equal(pgt_long("SELECT count(*) FROM sequin.source_status WHERE state = "
                              "'streaming' AND error IS NULL",
                              0, NULL),
                     1);
    PQfinish(c);
}

/* An update that changes the primary key moves the row: the old key's message says it was
 * deleted, the new key's holds the row; under with_operation the keys name the operation. */
static void test_key_change_and_with_operation(void **state)
{
    struct server *s = *state;
    add_source("with_operation", false);
    PGconn *c = pgt_connect();
    pgt_exec(c, "INSERT INTO public.orders VALUES (7, 'new', 1, false, NULL)");
    pgt_exec(c, "UPDATE public.orders SET id = 8 WHERE id = 7");
    int64_t deadline = now_ms() + 10000;
    while (pgt_long("SELECT count(*) FROM sequin.messages WHERE key LIKE 'mydb.public.orders.%'", 0,
                    NULL) < 3 &&
           now_ms() < deadline)
        sleep_ms(50);
    char *keys = pgt_value("SELECT string_agg(key || ' ' || (data::jsonb->>'deleted'), ', ' "
                           "ORDER BY key) FROM sequin.messages",
                           0, NULL);
    assert_string_equal(keys, "mydb.public.orders.delete.7 true, mydb.public.orders.insert.7 "
                              "false, mydb.public.orders.update.8 false");
    free(keys);
    (void)s;
    PQfinish(c);
}

/* Backfill racing with writes: 100,000 rows are there before the source (six pages: the first
 * of 1,000, then pages of up to 20,000 while the one before is still going in), a writer
 * updates, inserts and deletes while the pages are read; a consumer never sees a row's version
 * go back, and once the writer stops the stream equals the table row by row. */
static void test_backfill_races_with_writes(void **state)
{
    struct server *s = *state;
    static struct sfx_writer w; /* it outlives a failure here (sfx_writer_start) */
    struct sfx_seen seen;
    memset(&w, 0, sizeof w);
    sfx_fill(db_url(), 100000);
    sfx_consumer(s->port);
    sfx_seen_init(&seen, 200001);
    sfx_writer_start(&w, db_url(), 100000);
    sfx_add_source(db_url(), "basic", true);
    int64_t until = now_ms() + 4000;
    while (now_ms() < until)
        sfx_drain(s->port, &seen, 200);
    sfx_writer_stop(&w);
    assert_true(w.changes > 100);

    sfx_wait_equal(s->port, &seen, db_url(), 60000);
    assert_int_equal(pgt_long("SELECT count(*) FROM sequin.source_backfills WHERE done", 0, NULL),
                     1);
    /* The consumer saw every row the table holds, at its last version. */
    sfx_check_seen(&seen, db_url());
    sfx_seen_free(&seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_insert_update_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_change_and_with_operation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backfill_races_with_writes, setup, teardown),
    };
    return cmocka_run_group_tests_name("source_postgres", tests, NULL, NULL);
}
