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
#include <pthread.h>

#include "api_client.h"
#include "pg_fixture.h"
#include "sequin/common.h"
#include "sequin/json.h"
#include "sequind_harness.h"

#define SLOT "sequin_test_slot"
#define PUB "sequin_test_pub"

static int setup(void **state)
{
    pgt_drop_slot(SLOT);
    PGconn *c = pgt_connect();
    pgt_exec(c, "DROP TABLE IF EXISTS public.orders; DROP PUBLICATION IF EXISTS " PUB);
    pgt_exec(c, "CREATE TABLE public.orders (id int PRIMARY KEY, status text NOT NULL, "
                "total numeric, paid boolean, meta jsonb)");
    PQfinish(c);
    *state = api_serve(NULL);
    return 0;
}

static int teardown(void **state)
{
    int rc = teardown_server(state);
    pgt_drop_slot(SLOT);
    /* The next test starts from an empty stream and declares its own source. */
    PGconn *c = pgt_connect();
    pgt_exec(c, "DELETE FROM sequin.sources; DELETE FROM sequin.consumers; "
                "DELETE FROM sequin.messages");
    PQfinish(c);
    return rc;
}

/* Declares source mydb over the store's own database (the same cluster case), as the config
 * file and the API will: a row of sequin.sources the sources process picks up within a second. */
static void add_source(const char *key_format, bool backfill)
{
    char settings[1024];
    snprintf(settings, sizeof settings,
             "{\"url\":\"%s\",\"slot\":\"" SLOT "\",\"publication\":\"" PUB "\","
             "\"tables\":[\"public.orders\"],\"key_format\":\"%s\",\"backfill\":%s}",
             db_url(), key_format, backfill ? "true" : "false");
    const char *params[1] = {settings};
    PGconn *c = pgt_connect();
    PGresult *r = PQexecParams(c,
                               "INSERT INTO sequin.sources (name, kind, stream, settings) "
                               "SELECT 'mydb', 'postgres', num, $1::jsonb FROM sequin.streams "
                               " WHERE name = 'default'",
                               1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(c);
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
                           "r.pid = s.active_pid WHERE s.slot_name = '" SLOT "'",
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
    api_expect(s->port, "POST", "/api/streams/default/consumers",
               "{\"name\":\"orders\",\"filter_key_pattern\":\"mydb.public.orders.>\"}", 200, NULL);
    pgt_wait_streaming();

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

    /* The slot's confirmed position never runs ahead of the stream's: the store's position
     * is the commit of the delete, and the slot's is at most where that commit ends. */
    deadline = now_ms() + 15000;
    while (pgt_long("SELECT count(*) FROM pg_replication_slots s, sequin.sources src WHERE "
                    "s.slot_name = '" SLOT "' AND s.confirmed_flush_lsn > src.applied_lsn",
                    0, NULL) != 1 &&
           now_ms() < deadline)
        sleep_ms(100);
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
    pgt_wait_streaming();
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

/* Rows of the table that the stream does not hold as they are, and messages of the stream
 * for rows the table does not hold: the checker of "the stream equals the table". */
#define MISMATCHES                                                                                 \
    "SELECT count(*) FROM public.orders o FULL JOIN (SELECT * FROM sequin.messages "               \
    "  WHERE key LIKE 'mydb.public.orders.%' AND NOT (data::jsonb->>'deleted')::boolean) m "       \
    "  ON m.key = 'mydb.public.orders.' || o.id "                                                  \
    " WHERE o.id IS NULL OR m.key IS NULL OR (m.data::jsonb)->'data' <> to_jsonb(o)"

struct writer {
    volatile bool stop;
    long updates;
};

/* Updates, inserts and deletes in small transactions until told to stop: every update raises
 * the row's version `total`, so a consumer can tell an older version from a newer one. A
 * deleted row is never inserted again (inserts take fresh ids), so a version never restarts. */
static void *write_loop(void *arg)
{
    struct writer *w = arg;
    PGconn *c = pgt_connect();
    unsigned seed = 7;
    int fresh = 20000;
    for (long i = 0; !w->stop; i++) {
        char sql[256];
        int id = (int)(rand_r(&seed) % 20000) + 1;
        if (i % 10 == 9)
            snprintf(sql, sizeof sql, "DELETE FROM public.orders WHERE id = %d", id);
        else if (i % 10 == 8 && fresh < 40000)
            snprintf(sql, sizeof sql, "INSERT INTO public.orders VALUES (%d, 'w', 1, false, NULL)",
                     ++fresh);
        else
            snprintf(sql, sizeof sql,
                     "UPDATE public.orders SET total = total + 1, status = 'u' WHERE id = %d", id);
        pgt_exec(c, sql);
        w->updates++;
    }
    PQfinish(c);
    return NULL;
}

/* Receives and acks everything consumer `name` has (batches of up to 200), checking that no
 * row's version goes back: `seen[id]` is the last total seen (-1 none, -2 deleted). */
static int drain(int port, const char *name, long *seen, size_t nseen, int wait_ms)
{
    int got = 0;
    for (;;) {
        char *body = api_receive(port, "default", name, 200, wait_ms);
        sq_json doc = {0};
        int data = -1;
        assert_int_equal(sq_json_parse(&doc, body, strlen(body), 0, NULL), 0);
        assert_int_equal(sq_json_lookup(&doc, 0, "data", &data), 0);
        int n = sq_json_count(&doc, data);
        char acks[40000] = "{\"ack_ids\":[";
        for (int d = sq_json_first(&doc, data); d >= 0; d = sq_json_next(&doc, d)) {
            int ack = -1, msg = -1, text = -1;
            sq_buf ack_id = {0}, payload = {0};
            assert_int_equal(sq_json_lookup(&doc, d, "ack_id", &ack), 0);
            assert_int_equal(sq_json_lookup(&doc, d, "message", &msg), 0);
            assert_int_equal(sq_json_lookup(&doc, msg, "data", &text), 0);
            assert_int_equal(sq_json_get_str(&doc, ack, &ack_id), 0);
            assert_int_equal(sq_json_get_str(&doc, text, &payload), 0);
            sq_json row = {0};
            int deleted = -1, values = -1, id = -1, total = -1;
            assert_int_equal(sq_json_parse(&row, payload.data, payload.len, 0, NULL), 0);
            assert_int_equal(sq_json_lookup(&row, 0, "deleted", &deleted), 0);
            assert_int_equal(sq_json_lookup(&row, 0, "data", &values), 0);
            assert_int_equal(sq_json_lookup(&row, values, "id", &id), 0);
            int64_t key;
            assert_int_equal(sq_json_get_int64(&row, id, &key), 0);
            assert_true(key > 0 && (size_t)key < nseen);
            bool gone = false;
            assert_int_equal(sq_json_get_bool(&row, deleted, &gone), 0);
            if (gone) {
                seen[key] = -2;
            } else {
                assert_int_equal(sq_json_lookup(&row, values, "total", &total), 0);
                int64_t v;
                assert_int_equal(sq_json_get_int64(&row, total, &v), 0);
                /* A row deleted and inserted again starts over at 1. */
                if (seen[key] >= 0 && v < seen[key])
                    fail_msg("row %lld went back from version %ld to %lld", (long long)key,
                             seen[key], (long long)v);
                seen[key] = (long)v;
            }
            size_t len = strlen(acks);
            snprintf(acks + len, sizeof acks - len, "%s\"%s\"",
                     d == sq_json_first(&doc, data) ? "" : ",", ack_id.data);
            sq_json_free(&row);
            sq_buf_free(&ack_id);
            sq_buf_free(&payload);
        }
        sq_json_free(&doc);
        free(body);
        if (n <= 0)
            return got;
        got += n;
        strcat(acks, "]}");
        api_expect(port, "POST", "/api/streams/default/consumers/all/ack", acks, 200, NULL);
        wait_ms = 0;
    }
}

/* Backfill racing with writes: 20,000 rows are there before the source, a writer updates,
 * inserts and deletes while the pages are read; a consumer never sees a row's version go back,
 * and once the writer stops the stream equals the table row by row. */
static void test_backfill_races_with_writes(void **state)
{
    struct server *s = *state;
    PGconn *c = pgt_connect();
    pgt_exec(c, "INSERT INTO public.orders SELECT i, 'old', 1, false, NULL "
                "FROM generate_series(1, 20000) i");
    api_expect(s->port, "POST", "/api/streams/default/consumers",
               "{\"name\":\"all\",\"filter_key_pattern\":\"mydb.public.orders.>\"}", 200, NULL);
    struct writer w = {0};
    pthread_t t;
    pthread_create(&t, NULL, write_loop, &w);
    add_source("basic", true);
    size_t nseen = 40001;
    long *seen = malloc(nseen * sizeof *seen);
    for (size_t i = 0; i < nseen; i++)
        seen[i] = -1;
    int64_t until = now_ms() + 4000;
    while (now_ms() < until)
        drain(s->port, "all", seen, nseen, 200);
    w.stop = true;
    pthread_join(t, NULL);
    assert_true(w.updates > 100);

    int64_t deadline = now_ms() + 60000;
    long long bad;
    while ((bad = pgt_long(MISMATCHES, 0, NULL)) != 0 && now_ms() < deadline) {
        drain(s->port, "all", seen, nseen, 100);
        sleep_ms(100);
    }
    if (bad != 0) {
        char *st = pgt_value("SELECT string_agg(table_name || ' ' || rows_done || ' ' || done, "
                             "'; ') FROM sequin.source_backfills",
                             0, NULL);
        fail_msg("%lld rows differ between the table and the stream (backfill: %s)", bad, st);
    }
    assert_int_equal(pgt_long("SELECT count(*) FROM sequin.source_backfills WHERE done", 0, NULL),
                     1);
    drain(s->port, "all", seen, nseen, 500);
    /* The consumer saw every row the table holds, at its last version. */
    PGresult *r = PQexec(c, "SELECT id, total FROM public.orders");
    for (int i = 0; i < PQntuples(r); i++) {
        long id = atol(PQgetvalue(r, i, 0)), total = atol(PQgetvalue(r, i, 1));
        if (seen[id] != total)
            fail_msg("row %ld: the consumer's last version is %ld, the table's %ld", id, seen[id],
                     total);
    }
    PQclear(r);
    free(seen);
    PQfinish(c);
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
