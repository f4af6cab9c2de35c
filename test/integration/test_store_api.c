/* The store's read and management side against a real PostgreSQL: streams, sources as the API
 * shows them, listing messages by filter, consumers' settings and stats, max_ack_pending, peek,
 * per-message consumer info and the notify that wakes long polls. */
#include <poll.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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
#include "sequin/sha256.h"
#include "sequin/store.h"

static bool matches(const char *pattern, const char *text)
{
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec(&re, text, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

#define ISO_UTC "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$"

static void test_streams(void **state)
{
    struct fixture *f = *state;
    sq_stream st, got;
    sq_stream *list;
    size_t n;
    char id[37];

    assert_int_equal(sq_store_stream_list(f->store, &list, &n, &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].name, "default");

    assert_int_equal(
        sq_store_stream_create(f->store, "orders", &st, &f->arena, f->err, sizeof f->err), SQ_OK);
    assert_string_equal(st.name, "orders");
    assert_int_equal(strlen(st.id), 36);
    assert_int_equal(st.message_count, 0);
    assert_true(matches(ISO_UTC, st.inserted_at));
    assert_int_equal(
        sq_store_stream_create(f->store, "orders", &got, &f->arena, f->err, sizeof f->err),
        SQ_STORE_CONFLICT);
    assert_non_null(strstr(f->err, "exists"));

    pgt_upserts(f, st.num, "a.1", "x", "a.2", "y", "a.3", "z", NULL);
    pgt_make_consumer(f, st.num, "c1", "a.>", PGT_DEFAULTS, false);

    /* By name and by id, with stats. */
    assert_int_equal(sq_store_stream_get(f->store, st.id, &got, &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_string_equal(got.name, "orders");
    assert_int_equal(got.message_count, 3);
    assert_int_equal(got.consumer_count, 1);
    assert_true(got.storage_size > 0);
    assert_int_equal(
        sq_store_stream_get(f->store, "orders", &got, &f->arena, f->err, sizeof f->err), SQ_OK);
    assert_string_equal(got.id, st.id);

    assert_int_equal(sq_store_stream_list(f->store, &list, &n, &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "default");
    assert_string_equal(list[1].name, "orders");

    /* Deleting takes the messages and consumers with it. */
    assert_int_equal(sq_store_stream_delete(f->store, "orders", id, f->err, sizeof f->err), SQ_OK);
    assert_string_equal(id, st.id);
    assert_int_equal(
        sq_store_stream_get(f->store, "orders", &got, &f->arena, f->err, sizeof f->err),
        SQ_STORE_NOT_FOUND);
    sq_message m;
    assert_int_equal(
        sq_store_message_get(f->store, st.num, "a.1", &m, &f->arena, f->err, sizeof f->err),
        SQ_STORE_NOT_FOUND);
    assert_int_equal(sq_store_stream_delete(f->store, st.id, id, f->err, sizeof f->err),
                     SQ_STORE_NOT_FOUND);
    /* An upsert into a stream that is gone is "not found" and stores nothing. */
    sq_message_in late = {"a.9", 3, "x", 1};
    long long published;
    assert_int_equal(sq_store_upsert(f->store, st.num, &late, 1, &published, f->err, sizeof f->err),
                     SQ_STORE_NOT_FOUND);
    assert_non_null(strstr(f->err, "no stream"));
}

/* Sources as the API shows them: created (a name taken, a stream that does not exist), got by
 * name or id, listed, with the report of the process running each and its backfills; deleted
 * unless the config file declares them. */
static void test_sources(void **state)
{
    struct fixture *f = *state;
    static const char settings[] = "{\"url\": \"postgres://u:pw@db/app\", \"tables\": []}";
    sq_source src, got, *list;
    sq_source_row *rows;
    size_t n;
    char id[37];

    assert_int_equal(sq_store_source_create(f->store, "mydb", "postgres", "default", settings, &src,
                                            &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(strlen(src.id), 36);
    assert_string_equal(src.name, "mydb");
    assert_string_equal(src.kind, "postgres");
    assert_string_equal(src.stream, "default");
    assert_string_equal(src.settings, settings); /* jsonb's text of it */
    assert_false(src.managed_by_config);
    assert_true(matches(ISO_UTC, src.inserted_at));
    /* Before any report: no status, no backfill. */
    assert_false(src.has_status);
    assert_null(src.state);
    assert_null(src.reported_at);
    assert_true(src.lag_bytes == -1 && src.lag_seconds == -1 && src.rows_streamed == -1);
    assert_int_equal(src.n_backfills, 0);

    assert_int_equal(sq_store_source_create(f->store, "mydb", "postgres", "default", settings, &got,
                                            &f->arena, f->err, sizeof f->err),
                     SQ_STORE_CONFLICT);
    assert_non_null(strstr(f->err, "exists"));
    assert_int_equal(sq_store_source_create(f->store, "other", "postgres", "nowhere", settings,
                                            &got, &f->arena, f->err, sizeof f->err),
                     SQ_STORE_NOT_FOUND);
    sq_stream st;
    assert_int_equal(
        sq_store_stream_get(f->store, "default", &st, &f->arena, f->err, sizeof f->err), SQ_OK);
    assert_int_equal(sq_store_source_create(f->store, "by_id", "postgres", st.id, settings, &got,
                                            &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_string_equal(got.stream, "default");

    /* The process running it reports; a backfill begins. */
    assert_int_equal(sq_store_source_list(f->store, &rows, &n, &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rows[1].name, "mydb");
    sq_source_report r = {.source = rows[1].num,
                          .state = "streaming",
                          .received_lsn = 0x16B3780,
                          .applied_lsn = 0x16B3748,
                          .last_commit_time_us = 1,
                          .lag_bytes = 0,
                          .rows = 1042,
                          .errors = 2,
                          .attempts = 3};
    assert_int_equal(sq_store_source_report(f->store, &r, f->err, sizeof f->err), SQ_OK);
    assert_int_equal(
        sq_store_backfill_add(f->store, rows[1].num, "public.orders", f->err, sizeof f->err),
        SQ_OK);
    const char *key[1] = {"10"};
    assert_int_equal(sq_store_backfill_progress(f->store, rows[1].num, "public.orders", key, 1, 10,
                                                true, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(
        sq_store_backfill_add(f->store, rows[1].num, "public.a\"b", f->err, sizeof f->err), SQ_OK);
    assert_int_equal(sq_store_source_get(f->store, src.id, &got, &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_string_equal(got.name, "mydb");
    assert_true(got.has_status);
    assert_string_equal(got.state, "streaming");
    assert_null(got.error);
    assert_non_null(got.node);
    assert_string_equal(got.received_lsn, "0/16B3780");
    assert_string_equal(got.last_commit_lsn, "0/16B3748");
    assert_string_equal(got.last_commit_at, "2000-01-01T00:00:00.000001Z");
    assert_true(matches(ISO_UTC, got.reported_at));
    assert_true(got.lag_bytes == 0 && got.lag_seconds == 0);
    assert_true(got.rows_streamed == 1042 && got.errors == 2 && got.attempts == 3);
    assert_int_equal(got.n_backfills, 2);
    assert_string_equal(got.backfills[0].table, "public.a\"b");
    assert_true(got.backfills[0].rows_done == 0 && !got.backfills[0].done);
    assert_string_equal(got.backfills[1].table, "public.orders");
    assert_true(got.backfills[1].rows_done == 10 && got.backfills[1].done);
    assert_null(got.backfills[1].last_key);

    /* WAL ahead of the slot: the lag in seconds is the time since the last commit. */
    r.lag_bytes = 56;
    r.error = "a wrong URL";
    assert_int_equal(sq_store_source_report(f->store, &r, f->err, sizeof f->err), SQ_OK);
    assert_int_equal(sq_store_source_get(f->store, "mydb", &got, &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_true(got.lag_bytes == 56 && got.lag_seconds > 8e8); /* since 2000 */
    assert_string_equal(got.error, "a wrong URL");
    r.lag_bytes = -1;
    assert_int_equal(sq_store_source_report(f->store, &r, f->err, sizeof f->err), SQ_OK);
    assert_int_equal(sq_store_source_get(f->store, "mydb", &got, &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_true(got.lag_bytes == -1 && got.lag_seconds == 0);

    assert_int_equal(sq_store_source_objects(f->store, &list, &n, &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "by_id");
    assert_false(list[0].has_status);
    assert_string_equal(list[1].name, "mydb");
    assert_int_equal(list[1].n_backfills, 2);

    /* Deletes: what the config file declares stays. */
    PGconn *c = pgt_connect();
    pgt_exec(c, "UPDATE sequin.sources SET managed_by = 'config' WHERE name = 'by_id'");
    PQfinish(c);
    assert_int_equal(sq_store_source_delete(f->store, "by_id", id, f->err, sizeof f->err),
                     SQ_STORE_CONFLICT);
    assert_non_null(strstr(f->err, "source \"by_id\" is declared in the config file"));
    assert_int_equal(sq_store_source_delete(f->store, src.id, id, f->err, sizeof f->err), SQ_OK);
    assert_string_equal(id, src.id);
    assert_int_equal(sq_store_source_get(f->store, "mydb", &got, &f->arena, f->err, sizeof f->err),
                     SQ_STORE_NOT_FOUND);
    assert_int_equal(sq_store_source_delete(f->store, "mydb", id, f->err, sizeof f->err),
                     SQ_STORE_NOT_FOUND);
    assert_int_equal(pgt_long("SELECT count(*) FROM sequin.source_status", 0, NULL), 0);
    assert_int_equal(pgt_long("SELECT count(*) FROM sequin.source_backfills", 0, NULL), 0);
    assert_int_equal(sq_store_source_objects(f->store, &list, &n, &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(n, 1);
}

/* Lists `filter` (NULL: all) and checks the keys come out as `expect`, NULL-terminated. */
static void expect_list(struct fixture *f, const char *filter, bool newest_first, int limit,
                        const char *const *expect)
{
    sq_message_query q = {filter, newest_first, limit};
    sq_message *list;
    size_t n, want = 0;
    assert_int_equal(
        sq_store_message_list(f->store, f->stream, &q, &list, &n, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    while (expect[want] != NULL)
        want++;
    if (n != want)
        fail_msg("filter %s: %zu messages, expected %zu", filter ? filter : "(none)", n, want);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(list[i].key, expect[i]);
}

static void test_message_list_and_get(void **state)
{
    struct fixture *f = *state;
    const char *all[] = {"orders.us.cus_a.order_1",
                         "orders.eu.cus_b.order_2",
                         "orders.us.cus_c.order_3",
                         "orders.us.cus_a.order_4",
                         "ordersx.us",
                         "other.x",
                         NULL};
    const char *data[] = {"{\"product\": \"Shoes\"}",
                          "{\"product\": \"Pants\"}",
                          "{\"product\": \"Shoes\"}",
                          "{\"product\": \"Shirts\"}",
                          "-",
                          "-"};
    for (int i = 0; all[i] != NULL; i++)
        pgt_upsert(f, f->stream, all[i], data[i]);

    expect_list(f, NULL, false, 100, all);
    expect_list(f, ">", false, 100, all);
    const char *newest[] = {"other.x", "ordersx.us", "orders.us.cus_a.order_4", NULL};
    expect_list(f, NULL, true, 3, newest);
    const char *us[] = {"orders.us.cus_a.order_1", "orders.us.cus_c.order_3",
                        "orders.us.cus_a.order_4", NULL};
    expect_list(f, "orders.us.>", false, 100, us);
    const char *cus_a[] = {"orders.us.cus_a.order_4", "orders.us.cus_a.order_1", NULL};
    expect_list(f, "orders.*.cus_a.*", true, 100, cus_a);
    const char *literal[] = {"other.x", NULL};
    expect_list(f, "other.x", false, 100, literal);
    const char *none[] = {NULL};
    expect_list(f, "orders.*", false, 100, none); /* token counts differ */
    const char *first_wild[] = {"ordersx.us", NULL};
    expect_list(f, "*.us", false, 100, first_wild);

    /* One message: data, its SHA-256, timestamps in the API's form. */
    sq_message m, later;
    assert_int_equal(sq_store_message_get(f->store, f->stream, "orders.eu.cus_b.order_2", &m,
                                          &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_string_equal(m.data, "{\"product\": \"Pants\"}");
    assert_int_equal(m.data_len, strlen(m.data));
    char hex[SQ_SHA256_LEN * 2 + 1];
    unsigned char digest[SQ_SHA256_LEN];
    sq_sha256(m.data, m.data_len, digest);
    sq_sha256_hex(digest, hex);
    assert_string_equal(m.data_hash, hex);
    assert_true(matches(ISO_UTC, m.inserted_at));
    assert_true(matches(ISO_UTC, m.updated_at));
    assert_int_equal(strlen(m.stream_id), 36);

    /* A change keeps inserted_at, moves updated_at and seq. */
    usleep(2000);
    pgt_upsert(f, f->stream, "orders.eu.cus_b.order_2", "{\"product\": \"Socks\"}");
    assert_int_equal(sq_store_message_get(f->store, f->stream, "orders.eu.cus_b.order_2", &later,
                                          &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_string_equal(later.inserted_at, m.inserted_at);
    assert_true(strcmp(later.updated_at, m.updated_at) > 0);
    assert_true(later.seq > m.seq);

    assert_int_equal(sq_store_message_get(f->store, f->stream, "orders.none", &m, &f->arena, f->err,
                                          sizeof f->err),
                     SQ_STORE_NOT_FOUND);
}

static void test_consumer_settings_and_stats(void **state)
{
    struct fixture *f = *state;
    pgt_upserts(f, f->stream, "job.1", "a", "job.2", "b", "other.1", "c", NULL);

    sq_consumer c = pgt_make_consumer(f, f->stream, "workers", "job.>",
                                      (sq_consumer_settings){30000, 100, 5, {0}}, false);
    assert_string_equal(c.name, "workers");
    assert_string_equal(c.filter, "job.>");
    assert_int_equal(c.settings.ack_wait_ms, 30000);
    assert_int_equal(c.settings.max_ack_pending, 100);
    assert_int_equal(c.settings.max_deliver, 5);
    assert_false(c.deliver_new);
    assert_false(c.managed_by_config);
    assert_true(matches(ISO_UTC, c.inserted_at));
    /* The backlog counts as available before any receive has read it. */
    assert_int_equal(c.available, 2);
    assert_int_equal(c.delivered, 0);
    assert_true(c.oldest_available_age_s >= 0);

    sq_consumer dup;
    sq_consumer_settings set = {30000, 10, 0, {0}};
    assert_int_equal(sq_store_consumer_create(f->store, f->stream, "workers", "x.>", &set, false,
                                              &dup, &f->arena, f->err, sizeof f->err),
                     SQ_STORE_CONFLICT);

    sq_delivery d[4];
    assert_int_equal(pgt_receive(f, c.id, 1, d), 1);
    sq_consumer by_id = pgt_consumer_get(f, f->stream, c.id);
    assert_string_equal(by_id.name, "workers");
    assert_int_equal(by_id.available, 1);
    assert_int_equal(by_id.delivered, 1);
    assert_int_equal(by_id.dead, 0);

    /* Only the settings named change; max_deliver 0 lifts the limit. */
    sq_consumer_settings change = {-1, -1, 0, {0}};
    sq_consumer edited;
    change.ack_wait_ms = 1500;
    assert_int_equal(sq_store_consumer_edit(f->store, f->stream, "workers", &change, false, &edited,
                                            &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(edited.settings.ack_wait_ms, 1500);
    assert_int_equal(edited.settings.max_ack_pending, 100);
    assert_int_equal(edited.settings.max_deliver, 0);
    assert_true(strcmp(edited.updated_at, c.updated_at) >= 0);

    pgt_make_consumer(f, f->stream, "another", "other.>", (sq_consumer_settings){30000, 10, 0, {0}},
                      false);
    sq_consumer *list;
    size_t n;
    assert_int_equal(
        sq_store_consumer_list(f->store, f->stream, &list, &n, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "another");
    assert_int_equal(list[0].available, 1);
    assert_string_equal(list[1].name, "workers");

    /* A consumer the config file declares is not the API's to change. */
    PGconn *conn = pgt_connect();
    pgt_exec(conn, "UPDATE sequin.consumers SET managed_by = 'config' WHERE name = 'another'");
    PQfinish(conn);
    char id[37];
    assert_int_equal(sq_store_consumer_edit(f->store, f->stream, "another", &change, false, &edited,
                                            &f->arena, f->err, sizeof f->err),
                     SQ_STORE_CONFLICT);
    assert_non_null(strstr(f->err, "config"));
    assert_int_equal(
        sq_store_consumer_delete(f->store, f->stream, "another", false, id, f->err, sizeof f->err),
        SQ_STORE_CONFLICT);
    assert_int_equal(sq_store_consumer_edit(f->store, f->stream, "another", &change, true, &edited,
                                            &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(edited.settings.ack_wait_ms, 1500);

    assert_int_equal(
        sq_store_consumer_delete(f->store, f->stream, "workers", false, id, f->err, sizeof f->err),
        SQ_OK);
    assert_string_equal(id, c.id);
    /* its delivery rows went with it */
    const char *cid[] = {c.id};
    assert_int_equal(pgt_long("SELECT count(*) FROM sequin.deliveries WHERE consumer = $1", 1, cid),
                     0);
    assert_int_equal(sq_store_consumer_get(f->store, f->stream, "workers", &edited, &f->arena,
                                           f->err, sizeof f->err),
                     SQ_STORE_NOT_FOUND);
    assert_int_equal(sq_store_consumer_edit(f->store, f->stream, "workers", &change, false, &edited,
                                            &f->arena, f->err, sizeof f->err),
                     SQ_STORE_NOT_FOUND);
}

static void test_max_ack_pending(void **state)
{
    struct fixture *f = *state;
    char key[32];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "w.%d", i);
        pgt_upsert(f, f->stream, key, "x");
    }
    sq_consumer c = pgt_make_consumer(f, f->stream, "narrow", "w.*",
                                      (sq_consumer_settings){30000, 3, 0, {0}}, false);
    sq_delivery d[10];
    assert_int_equal(pgt_receive(f, c.id, 10, d), 3);
    assert_int_equal(pgt_receive(f, c.id, 10, d), 0); /* the window is full */
    pgt_ack(f, c.id, d[0].ack_id);
    assert_int_equal(pgt_receive(f, c.id, 10, d), 1);
    assert_string_equal(d[0].message.key, "w.3");
}

/* A process of test_max_ack_pending_concurrent: 30 receives of up to 3 from consumer `arg`,
 * never acking. */
static int receive_never_ack(int p, void *arg)
{
    const char *cid = arg;
    sq_store *s;
    char err[256];
    sq_arena a = {0};
    sq_delivery d[3];
    int got;
    (void)p;
    if (sq_store_open(pgt_url(), &s, err, sizeof err) != SQ_OK)
        return 2;
    for (int round = 0; round < 30; round++)
        if (sq_store_receive(s, cid, 3, d, &got, &a, err, sizeof err) != SQ_OK)
            return 3;
    sq_store_close(s);
    sq_arena_free(&a);
    return 0;
}

/* Several processes receiving at once, never acking: together they hold at most the window. */
static void test_max_ack_pending_concurrent(void **state)
{
    struct fixture *f = *state;
    sq_message_in *batch = pgt_batch("p.", 3, 0, 200, "x");
    long long published;
    assert_int_equal(
        sq_store_upsert(f->store, f->stream, batch, 200, &published, f->err, sizeof f->err), SQ_OK);
    free(batch);
    sq_consumer c = pgt_make_consumer(f, f->stream, "window", "p.*",
                                      (sq_consumer_settings){30000, 7, 0, {0}}, false);

    enum {
        PROCS = 4
    };
    pid_t kids[PROCS];
    pgt_fork(PROCS, receive_never_ack, c.id, kids);
    for (int p = 0; p < PROCS; p++)
        assert_int_equal(pgt_exit_status(kids[p]), 0);
    sq_consumer now = pgt_consumer_get(f, f->stream, "window");
    assert_int_equal(now.delivered, 7);
}

static void test_peek_by_state(void **state)
{
    struct fixture *f = *state;
    pgt_upserts(f, f->stream, "job.1", "a", "job.2", "b", "job.3", "c", "job.4", "d", "else.1", "e",
                NULL);
    sq_consumer c = pgt_make_consumer(f, f->stream, "jobs", "job.>",
                                      (sq_consumer_settings){30000, 100, 1, {0}}, false);
    sq_consumer_message *m;

    /* Nothing read yet: the backlog is available, without ack ids. */
    assert_int_equal(pgt_peek(f, c.id, NULL, NULL, 100, &m), 4);
    assert_string_equal(m[0].message.key, "job.1");
    assert_string_equal(m[0].info.state, "available");
    assert_null(m[0].info.ack_id);
    assert_string_equal(m[3].message.data, "d");

    sq_delivery d[2];
    assert_int_equal(pgt_receive(f, c.id, 2, d), 2);
    assert_int_equal(pgt_peek(f, c.id, "delivered", NULL, 100, &m), 2);
    assert_string_equal(m[0].info.state, "delivered");
    assert_string_equal(m[0].info.ack_id, d[0].ack_id);
    assert_int_equal(m[0].info.deliver_count, 1);
    assert_true(matches(ISO_UTC, m[0].info.not_visible_until));
    assert_true(matches(ISO_UTC, m[0].info.last_delivered_at));

    /* Changed under its lease: still held, newer data pending. */
    pgt_upsert(f, f->stream, "job.1", "a2");
    assert_int_equal(pgt_peek(f, c.id, "delivered", NULL, 100, &m), 2);
    assert_string_equal(m[0].message.key, "job.2");
    assert_string_equal(m[1].message.key, "job.1");
    assert_string_equal(m[1].info.state, "pending_redelivery");
    assert_string_equal(m[1].message.data, "a2");

    /* A nack past max_deliver (1) makes it dead. */
    pgt_nack(f, c.id, d[1].ack_id, 0);
    assert_int_equal(pgt_peek(f, c.id, "dead", NULL, 100, &m), 1);
    assert_string_equal(m[0].message.key, "job.2");
    assert_string_equal(m[0].info.state, "dead");

    assert_int_equal(pgt_peek(f, c.id, "available", NULL, 100, &m), 2);
    assert_string_equal(m[0].message.key, "job.3");
    assert_string_equal(m[1].message.key, "job.4");
    assert_int_equal(pgt_peek(f, c.id, "available", "job.4", 100, &m), 1);
    assert_int_equal(pgt_peek(f, c.id, NULL, NULL, 2, &m), 2);
}

static void test_message_info(void **state)
{
    struct fixture *f = *state;
    pgt_upsert(f, f->stream, "orders.us.1", "v1");
    const sq_consumer_settings set = {30000, 100, 0, {0}};
    sq_consumer all = pgt_make_consumer(f, f->stream, "all_orders", "orders.>", set, false);
    pgt_make_consumer(f, f->stream, "us_orders", "orders.us.>", set, false);
    pgt_make_consumer(f, f->stream, "eu_orders", "orders.eu.>", set, false);
    pgt_make_consumer(f, f->stream, "later", "orders.>", set, true); /* deliver_policy new */

    sq_message m;
    sq_consumer_pair *p;
    size_t n;
    assert_int_equal(sq_store_message_info(f->store, f->stream, "orders.us.1", &m, &p, &n,
                                           &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_string_equal(m.data, "v1");
    assert_int_equal(n, 2); /* eu does not match; "later" began after the message */
    assert_string_equal(p[0].consumer_name, "all_orders");
    assert_string_equal(p[0].info.state, "available");
    assert_null(p[0].info.ack_id);
    assert_string_equal(p[1].consumer_name, "us_orders");

    sq_delivery d[1];
    assert_int_equal(pgt_receive(f, all.id, 1, d), 1);
    assert_int_equal(sq_store_message_info(f->store, f->stream, "orders.us.1", &m, &p, &n,
                                           &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_string_equal(p[0].info.state, "delivered");
    assert_string_equal(p[0].info.ack_id, d[0].ack_id);
    assert_int_equal(p[0].info.deliver_count, 1);
    pgt_ack(f, all.id, d[0].ack_id);
    assert_int_equal(sq_store_message_info(f->store, f->stream, "orders.us.1", &m, &p, &n,
                                           &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_string_equal(p[0].info.state, "acked");
    assert_string_equal(p[1].info.state, "available");

    /* A change makes it due again everywhere, including for the consumer that began later. */
    pgt_upsert(f, f->stream, "orders.us.1", "v2");
    assert_int_equal(sq_store_message_info(f->store, f->stream, "orders.us.1", &m, &p, &n,
                                           &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(n, 3);
    assert_string_equal(p[0].info.state, "available");
    assert_string_equal(p[1].consumer_name, "later");

    assert_int_equal(sq_store_message_info(f->store, f->stream, "orders.none", &m, &p, &n,
                                           &f->arena, f->err, sizeof f->err),
                     SQ_STORE_NOT_FOUND);
}

static void test_receive_returns_the_message(void **state)
{
    struct fixture *f = *state;
    pgt_upsert(f, f->stream, "doc.1", "{\"v\": 1}");
    sq_consumer c = pgt_make_consumer(f, f->stream, "docs", "doc.*",
                                      (sq_consumer_settings){30000, 100, 0, {0}}, false);
    sq_delivery d[1];
    assert_int_equal(pgt_receive(f, c.id, 1, d), 1);
    sq_stream st;
    assert_int_equal(
        sq_store_stream_get(f->store, "default", &st, &f->arena, f->err, sizeof f->err), SQ_OK);
    assert_string_equal(d[0].message.stream_id, st.id);
    assert_string_equal(d[0].message.data, "{\"v\": 1}");
    char hex[SQ_SHA256_LEN * 2 + 1];
    unsigned char digest[SQ_SHA256_LEN];
    sq_sha256("{\"v\": 1}", 8, digest);
    sq_sha256_hex(digest, hex);
    assert_string_equal(d[0].message.data_hash, hex);
    assert_true(matches(ISO_UTC, d[0].message.updated_at));
}

/* A delivery row whose message is gone (a fill racing a delete) must not block the queue. */
static void test_orphan_row_does_not_block(void **state)
{
    struct fixture *f = *state;
    pgt_upserts(f, f->stream, "o.1", "a", "o.2", "b", "o.3", "c", NULL);
    sq_consumer c = pgt_make_consumer(f, f->stream, "orph", "o.*",
                                      (sq_consumer_settings){30000, 100, 0, {0}}, false);
    sq_delivery d[1];
    assert_int_equal(pgt_receive(f, c.id, 1, d), 1); /* the fill materialised all three */
    PGconn *conn = pgt_connect();
    pgt_exec(conn, "DELETE FROM sequin.messages WHERE key = 'o.2'");
    assert_int_equal(pgt_receive(f, c.id, 1, d), 1);
    assert_string_equal(d[0].message.key, "o.3");
    assert_int_equal(
        pgt_long_on(conn, "SELECT count(*) FROM sequin.deliveries WHERE key = 'o.2'", 0, NULL), 0);
    PQfinish(conn);
}

static void test_notify_reaches_listeners(void **state)
{
    struct fixture *f = *state;
    PGconn *listener = pgt_connect();
    pgt_exec(listener, "LISTEN sequin_stream");
    assert_int_equal(sq_store_notify(f->store, f->stream, f->err, sizeof f->err), SQ_OK);
    PGnotify *note = NULL;
    for (long long deadline = pgt_now_ms() + PGT_WAIT_MS; note == NULL;) {
        assert_int_equal(PQconsumeInput(listener), 1);
        note = PQnotifies(listener);
        struct pollfd p = {PQsocket(listener), POLLIN, 0};
        long long left = deadline - pgt_now_ms();
        if (note == NULL && (left <= 0 || poll(&p, 1, (int)left) <= 0))
            fail_msg("no notification in %d ms", PGT_WAIT_MS);
    }
    assert_string_equal(note->relname, "sequin_stream");
    assert_int_equal(atoi(note->extra), f->stream);
    PQfreemem(note);
    PQfinish(listener);
}

static long long next_visible(struct fixture *f, const char *cid)
{
    long long ms = -2;
    if (sq_store_next_visible(f->store, cid, &ms, f->err, sizeof f->err) != SQ_OK)
        fail_msg("next_visible: %s", f->err);
    return ms;
}

/* Asserts that `ms` is what is left of a wait of `total` ms that the database began after
 * `since` (pgt_now_ms before the call that began it). */
static void assert_left(long long ms, int total, long long since)
{
    long long least = total - (pgt_now_ms() - since) - PGT_CLOCK_SLACK_MS;
    assert_in_range(ms, least > 0 ? least : 0, total);
}

/* The long poll's timer: how long until a lease runs out or a nack's delay ends. */
static void test_next_visible(void **state)
{
    struct fixture *f = *state;
    sq_consumer c = pgt_make_consumer(f, f->stream, "timer", "orders.>", PGT_DEFAULTS, false);
    sq_delivery d[2];

    assert_int_equal(next_visible(f, c.id), -1); /* nothing at all */
    /* a receive for a consumer that does not exist is "not found", not an empty answer */
    sq_delivery none[1];
    int count = -1;
    assert_int_equal(sq_store_receive(f->store, "00000000-0000-0000-0000-000000000009", 1, none,
                                      &count, &f->arena, f->err, sizeof f->err),
                     SQ_STORE_NOT_FOUND);
    pgt_upserts(f, f->stream, "orders.a", "1", "orders.b", "2", NULL);
    /* Messages no fill has scanned: look at once, no news will come for them. Here while
     * another receive fills (it holds the consumer row): this receive's fill skips the
     * consumer and finds nothing; parking until news would wait out the whole wait_for. */
    assert_int_equal(next_visible(f, c.id), 0);
    PGconn *filler = pgt_connect();
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT 1 FROM sequin.consumers WHERE id = '%s' FOR UPDATE", c.id);
    pgt_exec(filler, "BEGIN");
    pgt_exec(filler, sql);
    assert_int_equal(pgt_receive(f, c.id, 2, d), 0);
    assert_int_equal(next_visible(f, c.id), 0);
    pgt_exec(filler, "ROLLBACK");
    /* That filler's rows appear after this receive looked: deliverable now, look at once. */
    snprintf(sql, sizeof sql, "SELECT sequin.fill('%s', 500)", c.id);
    pgt_exec(filler, sql);
    assert_int_equal(next_visible(f, c.id), 0);
    PQfinish(filler);
    long long received = pgt_now_ms();
    assert_int_equal(pgt_receive(f, c.id, 2, d), 2);
    assert_left(next_visible(f, c.id), 30000, received); /* two leases of 30 s */
    long long nacked = pgt_now_ms();
    pgt_nack(f, c.id, d[0].ack_id, 5000);
    assert_left(next_visible(f, c.id), 5000, nacked); /* the nack's delay ends first */
    pgt_ack(f, c.id, d[1].ack_id);
    assert_left(next_visible(f, c.id), 5000, nacked);
    pgt_nack(f, c.id, d[0].ack_id, 0);
    /* a nack of a message that is not leased is ignored: the delay still holds */
    assert_left(next_visible(f, c.id), 5000, nacked);
}

/* A consumer at its max_ack_pending waits for a lease's end, however much is there to take:
 * "look again at once" would only spin. */
static void test_next_visible_without_room(void **state)
{
    struct fixture *f = *state;
    sq_consumer c = pgt_make_consumer(f, f->stream, "full", "full.>",
                                      (sq_consumer_settings){30000, 1, 0, {0}}, false);
    sq_delivery d[1];

    pgt_upserts(f, f->stream, "full.a", "1", "full.b", "2", NULL);
    long long received = pgt_now_ms();
    assert_int_equal(pgt_receive(f, c.id, 1, d), 1);
    assert_int_equal(pgt_receive(f, c.id, 1, d), 0); /* no room: full.b waits */
    pgt_upserts(f, f->stream, "full.c", "3", NULL);  /* and unscanned messages too */
    assert_left(next_visible(f, c.id), 30000, received);
}

enum {
    RACERS = 4,
    RACE_KEYS = 50
};

/* What the processes of test_racing_new_keys are given: the stream and the pipe's write end. */
struct race {
    int stream, out;
};

/* A process of test_racing_new_keys: upserts the same RACE_KEYS keys as the others, in an order
 * of its own, and writes how many it published to the pipe. */
static int upsert_racing(int p, void *arg)
{
    const struct race *race = arg;
    sq_store *s;
    char err[256], keys[RACE_KEYS][16];
    sq_message_in batch[RACE_KEYS];
    long long published = 0;
    if (sq_store_open(pgt_url(), &s, err, sizeof err) != SQ_OK)
        return 2;
    for (int i = 0; i < RACE_KEYS; i++) {
        int n = snprintf(keys[i], sizeof keys[i], "race.%02d", (i * 7 + p) % RACE_KEYS);
        batch[i] = (sq_message_in){keys[i], (size_t)n, "same", 4};
    }
    if (sq_store_upsert(s, race->stream, batch, RACE_KEYS, &published, err, sizeof err) != SQ_OK)
        return 3;
    if (write(race->out, &published, sizeof published) != sizeof published)
        return 4;
    sq_store_close(s);
    return 0;
}

/* Upserts racing on the same new keys: the plain insert of one waits for the other and falls
 * back to the general path; no error, and each key is published once. */
static void test_racing_new_keys(void **state)
{
    struct fixture *f = *state;
    int out[2];
    pid_t kids[RACERS];
    assert_int_equal(pipe(out), 0);
    pgt_fork(RACERS, upsert_racing, &(struct race){f->stream, out[1]}, kids);
    long long total = 0;
    for (int p = 0; p < RACERS; p++) {
        long long one;
        assert_int_equal(pgt_exit_status(kids[p]), 0);
        assert_int_equal(read(out[0], &one, sizeof one), sizeof one);
        total += one;
    }
    assert_int_equal(total, RACE_KEYS);
    close(out[0]);
    close(out[1]);
}

/* A statement PostgreSQL picks as the victim of a deadlock is sent again, and the call
 * succeeds: here an upsert waits for another transaction's uncommitted insert of the same
 * key while that transaction waits for the stream row the upsert holds key-share locked. */
static void test_deadlock_victim_runs_again(void **state)
{
    struct fixture *f = *state;
    PGconn *t = PQconnectdb(pgt_url()), *watch = PQconnectdb(pgt_url());
    assert_int_equal(PQstatus(t), CONNECTION_OK);
    assert_int_equal(PQstatus(watch), CONNECTION_OK);
    char q[256];
    /* PostgreSQL's victim is the backend whose deadlock check finds the cycle, and each
     * waiting backend checks once, deadlock_timeout after it began to wait. The upsert
     * checks 5 s after it waits (set below), by when this session waits too however
     * loaded the machine; this session checks only after a minute. */
    pgt_exec(t, "SET deadlock_timeout = '60s'");
    pgt_exec(t, "BEGIN");
    snprintf(q, sizeof q,
             "INSERT INTO sequin.messages (stream, key, seq, data, data_hash) "
             "VALUES (%d, 'dl.k', nextval('sequin.seq'), 'from the other', '\\x00')",
             f->stream);
    pgt_exec(t, q);

    int out[2];
    assert_int_equal(pipe(out), 0);
    pid_t kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        sq_store *s;
        char err[256];
        long long published = -1;
        sq_message_in m = {"dl.k", 4, "from the store", 14};
        setenv("PGOPTIONS", "-c deadlock_timeout=5s", 1);
        if (sq_store_open(pgt_url(), &s, err, sizeof err) != SQ_OK)
            _exit(2);
        if (sq_store_upsert(s, f->stream, &m, 1, &published, err, sizeof err) != SQ_OK) {
            fprintf(stderr, "upsert: %s\n", err);
            _exit(3);
        }
        if (write(out[1], &published, sizeof published) != sizeof published)
            _exit(4);
        sq_store_close(s);
        _exit(0);
    }
    /* once the upsert waits for the insert above, wait for the stream row it holds */
    assert_true(pgt_wait_blocked_by(watch, PQbackendPID(t)));
    snprintf(q, sizeof q, "SELECT 1 FROM sequin.streams WHERE num = %d FOR UPDATE", f->stream);
    pgt_exec(t, q); /* PostgreSQL ends the cycle by failing the upsert's statement */
    pgt_exec(t, "COMMIT");

    long long published = -1;
    assert_int_equal(pgt_exit_status(kid), 0);
    assert_int_equal(read(out[0], &published, sizeof published), sizeof published);
    assert_int_equal(published, 1); /* it ran again after the other commit: an update */
    char *data =
        pgt_value_on(watch, "SELECT data FROM sequin.messages WHERE key = 'dl.k'", 0, NULL);
    assert_string_equal(data, "from the store");
    free(data);
    close(out[0]);
    close(out[1]);
    PQfinish(t);
    PQfinish(watch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PGT_STORE_TEST(test_streams),
        PGT_STORE_TEST(test_sources),
        PGT_STORE_TEST(test_message_list_and_get),
        PGT_STORE_TEST(test_consumer_settings_and_stats),
        PGT_STORE_TEST(test_max_ack_pending),
        PGT_STORE_TEST(test_max_ack_pending_concurrent),
        PGT_STORE_TEST(test_peek_by_state),
        PGT_STORE_TEST(test_message_info),
        PGT_STORE_TEST(test_receive_returns_the_message),
        PGT_STORE_TEST(test_orphan_row_does_not_block),
        PGT_STORE_TEST(test_racing_new_keys),
        PGT_STORE_TEST(test_deadlock_victim_runs_again),
        PGT_STORE_TEST(test_next_visible),
        PGT_STORE_TEST(test_next_visible_without_room),
        PGT_STORE_TEST(test_notify_reaches_listeners),
    };
    return cmocka_run_group_tests_name("store_api", tests, NULL, NULL);
}
