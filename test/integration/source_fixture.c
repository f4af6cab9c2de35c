/* The shared pieces of the postgres source's tests (source_fixture.h has the contracts). */
#include "source_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api_client.h"
#include "pg_fixture.h"
#include "sequin/common.h"
#include "sequin/json.h"
#include "sequind_harness.h"

/* The consumer's leases run out soon, so a delivery whose ack was lost to a fault comes again
 * within the wait of a check. */
#define ACK_WAIT_MS 2000
#define CALL_MS 20000 /* a call to the server that takes longer counts as failed */
#define BATCH 200     /* messages per receive: their answer fits api_conn's buffer */

PGconn *sfx_connect(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect to %s: %s", url, PQerrorMessage(c));
    return c;
}

/* A connection to `url`, or NULL when the database cannot be reached now. */
static PGconn *try_connect(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) == CONNECTION_OK)
        return c;
    PQfinish(c);
    return NULL;
}

void sfx_drop_slot(const char *url)
{
    PGconn *c = sfx_connect(url);
    int64_t deadline = now_ms() + EVENT_MS;
    /* The walsender of a process killed a moment ago may not have noticed yet. */
    while (pgt_long_on(c,
                       "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" SFX_SLOT
                       "' AND active",
                       0, NULL) > 0) {
        if (now_ms() > deadline)
            fail_msg("the slot is still streamed %d ms after the servers stopped", EVENT_MS);
        sleep_ms(20);
    }
    pgt_exec(c, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = '" SFX_SLOT "'");
    PQfinish(c);
}

void sfx_fresh(const char *url)
{
    sfx_drop_slot(url);
    PGconn *c = sfx_connect(url);
    pgt_exec(c, "SET client_min_messages = warning");
    pgt_exec(c, "DROP TABLE IF EXISTS public.orders; DROP PUBLICATION IF EXISTS " SFX_PUB);
    pgt_exec(c, "CREATE TABLE public.orders (id int PRIMARY KEY, status text NOT NULL, "
                "total numeric, paid boolean, meta jsonb)");
    PQfinish(c);
}

void sfx_fill(const char *url, int n)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "INSERT INTO public.orders SELECT i, 'old', 1, false, NULL "
             "FROM generate_series(1, %d) i",
             n);
    PGconn *c = sfx_connect(url);
    pgt_exec(c, sql);
    PQfinish(c);
}

void sfx_clear_store(void)
{
    PGconn *c = pgt_connect();
    pgt_exec(c, "DELETE FROM sequin.sources; DELETE FROM sequin.consumers; "
                "DELETE FROM sequin.messages");
    PQfinish(c);
}

void sfx_add_source(const char *url, const char *key_format, bool backfill)
{
    char settings[1024];
    snprintf(settings, sizeof settings,
             "{\"url\":\"%s\",\"slot\":\"" SFX_SLOT "\",\"publication\":\"" SFX_PUB "\","
             "\"tables\":[\"public.orders\"],\"key_format\":\"%s\",\"backfill\":%s}",
             url, key_format, backfill ? "true" : "false");
    const char *params[1] = {settings};
    PGconn *c = pgt_connect();
    PGresult *r = PQexecParams(c,
                               "INSERT INTO sequin.sources (name, kind, stream, settings) "
                               "SELECT 'mydb', 'postgres', num, $1::jsonb FROM sequin.streams "
                               " WHERE name = 'default'",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("declaring the source: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

void sfx_consumer(int port)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"name\":\"" SFX_CONSUMER "\",\"filter_key_pattern\":\"mydb.public.orders.>\","
             "\"ack_wait_ms\":%d}",
             ACK_WAIT_MS);
    api_expect(port, "POST", "/api/streams/default/consumers", body, 200, NULL);
}

int sfx_active_pid(const char *url)
{
    PGconn *c = try_connect(url);
    if (!c)
        return -1;
    /* A walsender's pid: while the slot is being made, the backend that makes it holds it
     * active too, and a change committed before it is ready is not the slot's. */
    PGresult *r = PQexec(c, "SELECT coalesce(max(s.active_pid), 0) FROM pg_replication_slots s "
                            "JOIN pg_stat_replication w ON w.pid = s.active_pid "
                            "WHERE s.slot_name = '" SFX_SLOT "' AND s.active");
    int pid = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return pid;
}

/* What the source last reported, for the reader of a failure (malloc'd). */
static char *report_of(void)
{
    PGconn *c = try_connect(pgt_url());
    if (!c)
        return strdup("(the store cannot be reached)");
    char *v = pgt_value_on(c,
                           "SELECT coalesce(string_agg(state || ' ' || coalesce(error, '') || "
                           "' on ' || coalesce(node, '?') || ', applied ' || "
                           "coalesce(last_commit_lsn::text, '-'), '; '), 'no report') "
                           "FROM sequin.source_status",
                           0, NULL);
    PQfinish(c);
    return v;
}

int sfx_wait_streaming(const char *url, int not_pid, int ms)
{
    int64_t deadline = now_ms() + ms;
    for (;;) {
        int pid = sfx_active_pid(url);
        if (pid > 0 && pid != not_pid)
            return pid;
        if (now_ms() > deadline)
            fail_msg("the source did not stream again within %d ms: %s", ms, report_of());
        sleep_ms(20);
    }
}

/* The table's rows as one JSON array (malloc'd), or NULL when its database cannot be reached. */
static char *table_rows(const char *url)
{
    PGconn *c = try_connect(url);
    if (!c)
        return NULL;
    PGresult *r = PQexec(c, "SELECT coalesce(jsonb_agg(to_jsonb(o)), '[]')::text "
                            "FROM public.orders o");
    char *rows = PQresultStatus(r) == PGRES_TUPLES_OK ? strdup(PQgetvalue(r, 0, 0)) : NULL;
    PQclear(r);
    PQfinish(c);
    return rows;
}

/* The checker's join of the table's rows ($1, a JSON array) with the stream's messages of the
 * table; `what` selects from it (a count, or examples). The comparison is of jsonb values, so
 * a number's spelling (12.50, 12.5) does not matter. */
#define DIFFERENCES(what)                                                                          \
    "WITH t AS (SELECT r, r->>'id' AS id FROM jsonb_array_elements($1::jsonb) r), "                \
    "m AS (SELECT key, data::jsonb AS d FROM sequin.messages "                                     \
    "       WHERE key LIKE 'mydb.public.orders.%' AND NOT (data::jsonb->>'deleted')::boolean) "    \
    "SELECT " what " FROM t FULL JOIN m ON m.key = 'mydb.public.orders.' || t.id "                 \
    " WHERE t.id IS NULL OR m.key IS NULL OR m.d->'data' <> t.r"

/* The first column of `sql` on the store with the table's rows of `url` as $1 (malloc'd), or
 * NULL when either database cannot be reached. */
static char *compare(const char *url, const char *sql)
{
    char *rows = table_rows(url);
    PGconn *c = rows ? try_connect(pgt_url()) : NULL;
    char *v = NULL;
    if (c) {
        const char *params[1] = {rows};
        PGresult *r = PQexecParams(c, sql, 1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_TUPLES_OK)
            v = strdup(PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "");
        PQclear(r);
    }
    PQfinish(c);
    free(rows);
    return v;
}

long long sfx_mismatches(const char *url)
{
    char *v = compare(url, DIFFERENCES("count(*)"));
    long long n = v ? strtoll(v, NULL, 10) : -1;
    free(v);
    return n;
}

/* ---- the writer ---------------------------------------------------------------------------- */

static void *write_loop(void *arg)
{
    struct sfx_writer *w = arg;
    PGconn *c = PQconnectdb(w->url);
    while (!atomic_load(&w->stop)) {
        if (PQstatus(c) != CONNECTION_OK) {
            /* PostgreSQL restarting: again in a moment. */
            w->failures++;
            sleep_ms(50);
            PQreset(c);
            continue;
        }
        char sql[256];
        int id = (int)(rand_r(&w->seed) % (unsigned)w->rows) + 1;
        long i = w->changes + w->failures;
        if (i % 10 == 9) {
            snprintf(sql, sizeof sql, "DELETE FROM public.orders WHERE id = %d", id);
        } else if (i % 10 == 8 && w->fresh < 2 * w->rows) {
            /* A fresh id is used once, even when its insert's outcome is unknown. */
            snprintf(sql, sizeof sql, "INSERT INTO public.orders VALUES (%d, 'w', 1, false, NULL)",
                     ++w->fresh);
            w->inserts++;
        } else {
            snprintf(sql, sizeof sql,
                     "UPDATE public.orders SET total = total + 1, status = 'u' WHERE id = %d", id);
        }
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) == PGRES_COMMAND_OK)
            w->changes++;
        else
            w->failures++;
        PQclear(r);
        /* Paced, so that the machine's two cores leave the source room to keep up. */
        sleep_ms(1);
    }
    PQfinish(c);
    return NULL;
}

/* The writers running, for sfx_stop_writers. */
static struct sfx_writer *running[4];

void sfx_writer_start(struct sfx_writer *w, const char *url, int rows)
{
    size_t i = 0;
    while (i < SQ_ARRAY_LEN(running) && running[i] != NULL)
        i++;
    if (i == SQ_ARRAY_LEN(running))
        fail_msg("more than %zu writers at once", SQ_ARRAY_LEN(running));
    if (w->url == NULL) {
        w->fresh = rows;
        w->seed = 7;
    }
    w->url = url;
    w->rows = rows;
    atomic_store(&w->stop, false);
    if (pthread_create(&w->thread, NULL, write_loop, w) != 0)
        fail_msg("cannot start the writer");
    running[i] = w;
}

void sfx_writer_stop(struct sfx_writer *w)
{
    for (size_t i = 0; i < SQ_ARRAY_LEN(running); i++) {
        if (running[i] == w) {
            running[i] = NULL;
            atomic_store(&w->stop, true);
            pthread_join(w->thread, NULL);
        }
    }
}

void sfx_stop_writers(void)
{
    for (size_t i = 0; i < SQ_ARRAY_LEN(running); i++) {
        if (running[i] != NULL)
            sfx_writer_stop(running[i]);
    }
}

/* ---- the consumer ---------------------------------------------------------------------------- */

void sfx_seen_init(struct sfx_seen *seen, size_t n)
{
    seen->version = malloc(n * sizeof *seen->version);
    assert_non_null(seen->version);
    for (size_t i = 0; i < n; i++)
        seen->version[i] = -1;
    seen->n = n;
    seen->received = 0;
}

void sfx_seen_free(struct sfx_seen *seen)
{
    free(seen->version);
    seen->version = NULL;
}

/* One received message's row (the source's object in its data): the version goes to `seen`,
 * which fails the test when it goes back. */
static void note_row(struct sfx_seen *seen, const sq_json *doc, int msg)
{
    int text = -1, deleted = -1, values = -1, id = -1, total = -1;
    sq_buf payload = {0};
    sq_json row = {0};
    int64_t key, v = -2;
    bool gone = false;

    assert_int_equal(sq_json_lookup(doc, msg, "data", &text), 0);
    assert_int_equal(sq_json_get_str(doc, text, &payload), 0);
    assert_int_equal(sq_json_parse(&row, payload.data, payload.len, 0, NULL), 0);
    assert_int_equal(sq_json_lookup(&row, 0, "deleted", &deleted), 0);
    assert_int_equal(sq_json_lookup(&row, 0, "data", &values), 0);
    assert_int_equal(sq_json_lookup(&row, values, "id", &id), 0);
    assert_int_equal(sq_json_get_int64(&row, id, &key), 0);
    assert_true(key > 0 && (size_t)key < seen->n);
    assert_int_equal(sq_json_get_bool(&row, deleted, &gone), 0);
    if (!gone) {
        assert_int_equal(sq_json_lookup(&row, values, "total", &total), 0);
        assert_int_equal(sq_json_get_int64(&row, total, &v), 0);
    }
    long was = seen->version[key];
    /* Ids are never used again once deleted, so a row after its deletion is an old version. */
    if (was == -2 && !gone)
        fail_msg("row %lld came back at version %lld after its deletion", (long long)key,
                 (long long)v);
    if (was >= 0 && !gone && v < was)
        fail_msg("row %lld went back from version %ld to %lld", (long long)key, was, (long long)v);
    seen->version[key] = (long)v;
    seen->received++;
    sq_json_free(&row);
    sq_buf_free(&payload);
}

int sfx_drain(int port, struct sfx_seen *seen, int wait_ms)
{
    const char *receive = "/api/streams/default/consumers/" SFX_CONSUMER "/receive";
    const char *ack = "/api/streams/default/consumers/" SFX_CONSUMER "/ack";
    api_conn *conn = malloc(sizeof *conn);
    char *acks = malloc(BATCH * 48 + 32);
    int got = 0;

    assert_non_null(conn);
    assert_non_null(acks);
    conn->fd = -1;
    for (;;) {
        char body[64];
        api_resp r;
        snprintf(body, sizeof body, "{\"batch_size\":%d,\"wait_for\":%d}", BATCH, wait_ms);
        if (api_try_call(conn, port, CALL_MS, "POST", receive, body, &r) != 200) {
            api_resp_free(&r);
            break; /* the server is away: what was received and not acked comes again */
        }
        sq_json doc = {0};
        int data = -1;
        assert_int_equal(sq_json_parse(&doc, r.body, r.body_len, 0, NULL), 0);
        assert_int_equal(sq_json_lookup(&doc, 0, "data", &data), 0);
        int n = sq_json_count(&doc, data);
        size_t len = (size_t)sprintf(acks, "{\"ack_ids\":[");
        for (int d = sq_json_first(&doc, data); d >= 0; d = sq_json_next(&doc, d)) {
            int id = -1, msg = -1;
            sq_buf ack_id = {0};
            assert_int_equal(sq_json_lookup(&doc, d, "ack_id", &id), 0);
            assert_int_equal(sq_json_lookup(&doc, d, "message", &msg), 0);
            assert_int_equal(sq_json_get_str(&doc, id, &ack_id), 0);
            note_row(seen, &doc, msg);
            len += (size_t)sprintf(acks + len, "%s\"%s\"",
                                   d == sq_json_first(&doc, data) ? "" : ",", ack_id.data);
            sq_buf_free(&ack_id);
        }
        sq_json_free(&doc);
        api_resp_free(&r);
        if (n <= 0)
            break;
        got += n;
        strcpy(acks + len, "]}");
        if (api_try_call(conn, port, CALL_MS, "POST", ack, acks, &r) != 200) {
            api_resp_free(&r);
            break;
        }
        api_resp_free(&r);
        wait_ms = 0;
    }
    api_close(conn);
    free(conn);
    free(acks);
    return got;
}

/* Whether consumer SFX_CONSUMER has nothing available nor delivered and not acked; what the
 * server said goes to `last`. */
static bool settled(int port, char *last, size_t size)
{
    api_conn *conn = malloc(sizeof *conn);
    api_resp r;
    bool done = false;

    assert_non_null(conn);
    conn->fd = -1;
    if (api_try_call(conn, port, CALL_MS, "GET", "/api/streams/default/consumers/" SFX_CONSUMER,
                     NULL, &r) == 200) {
        snprintf(last, size, "%s", r.body);
        done = strstr(r.body, "\"available\":0,") != NULL &&
               strstr(r.body, "\"delivered\":0,") != NULL;
    }
    api_resp_free(&r);
    api_close(conn);
    free(conn);
    return done;
}

int64_t sfx_wait_equal(int port, struct sfx_seen *seen, const char *url, int ms)
{
    int64_t start = now_ms(), deadline = start + ms, equal_ms = -1;
    long long bad = -1;
    char last[1024] = "";

    while (now_ms() < deadline) {
        if (equal_ms < 0 && (bad = sfx_mismatches(url)) == 0)
            equal_ms = now_ms() - start;
        if (sfx_drain(port, seen, 100) == 0 && equal_ms >= 0 && settled(port, last, sizeof last))
            return equal_ms;
        sleep_ms(20);
    }
    if (equal_ms >= 0)
        fail_msg("the stream equals the table, but the consumer still has messages %d ms later: "
                 "%s",
                 ms, last);
    char *examples = compare(url, DIFFERENCES("string_agg(coalesce(t.r::text, '-') || ' / ' || "
                                              "coalesce(m.key || ' ' || (m.d->'data')::text, "
                                              "'-'), E'\\n')"));
    char *report = report_of();
    print_message("table / stream, where they differ:\n%.4000s\n", examples ? examples : "?");
    fail_msg("%lld rows differ between the table and the stream %d ms after the writes; the "
             "source reports: %s",
             bad, ms, report);
    return -1;
}

void sfx_check_seen(const struct sfx_seen *seen, const char *url)
{
    PGconn *c = sfx_connect(url);
    PGresult *r = PQexec(c, "SELECT id, total FROM public.orders");
    bool *there = calloc(seen->n, sizeof *there);

    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_non_null(there);
    for (int i = 0; i < PQntuples(r); i++) {
        long id = atol(PQgetvalue(r, i, 0)), total = atol(PQgetvalue(r, i, 1));
        assert_true(id > 0 && (size_t)id < seen->n);
        there[id] = true;
        if (seen->version[id] != total)
            fail_msg("row %ld: the consumer's last version is %ld, the table's %ld", id,
                     seen->version[id], total);
    }
    for (size_t id = 1; id < seen->n; id++) {
        if (!there[id] && seen->version[id] >= 0)
            fail_msg("row %zu is gone from the table, but the consumer last saw it at version %ld",
                     id, seen->version[id]);
    }
    free(there);
    PQclear(r);
    PQfinish(c);
}
