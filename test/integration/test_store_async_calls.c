/* The store's calls without waiting give what the synchronous ones give: the same objects,
 * the same refusals with the same words, for streams, messages and consumers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "pg_fixture.h"
#include "sequin/buf.h"
#include "sequin/store.h"

static void same_stream(const sq_stream *x, const sq_stream *y)
{
    assert_string_equal(x->id, y->id);
    assert_int_equal(x->num, y->num);
    assert_string_equal(x->name, y->name);
    assert_int_equal(x->message_count, y->message_count);
    assert_int_equal(x->consumer_count, y->consumer_count);
    assert_int_equal(x->storage_size, y->storage_size);
    assert_string_equal(x->inserted_at, y->inserted_at);
    assert_string_equal(x->updated_at, y->updated_at);
}

static void same_message(const sq_message *x, const sq_message *y)
{
    assert_string_equal(x->key, y->key);
    assert_string_equal(x->stream_id, y->stream_id);
    assert_int_equal(x->data_len, y->data_len);
    assert_memory_equal(x->data, y->data, x->data_len);
    assert_string_equal(x->data_hash, y->data_hash);
    assert_int_equal(x->seq, y->seq);
    assert_string_equal(x->inserted_at, y->inserted_at);
    assert_string_equal(x->updated_at, y->updated_at);
}

/* Two consumers alike but for id, name and timestamps (or one consumer read twice). */
static void alike_consumers(const sq_consumer *x, const sq_consumer *y)
{
    assert_string_equal(x->stream_id, y->stream_id);
    assert_int_equal(x->stream_num, y->stream_num);
    assert_string_equal(x->filter, y->filter);
    assert_memory_equal(&x->settings, &y->settings, sizeof x->settings);
    assert_int_equal(x->deliver_new, y->deliver_new);
    assert_int_equal(x->managed_by_config, y->managed_by_config);
    assert_int_equal(x->available, y->available);
    assert_int_equal(x->delivered, y->delivered);
    assert_int_equal(x->dead, y->dead);
}

static void same_consumer(const sq_consumer *x, const sq_consumer *y)
{
    alike_consumers(x, y);
    assert_string_equal(x->id, y->id);
    assert_string_equal(x->name, y->name);
    assert_string_equal(x->inserted_at, y->inserted_at);
    assert_string_equal(x->updated_at, y->updated_at);
}

static void test_streams_as_sync(void **state)
{
    struct fixture *f = *state;
    sq_store *a = pgt_async_open(NULL);
    char err[512];
    int num;
    sq_stream x, y, *xs, *ys;
    size_t nx, ny;
    char id[37];
    pgt_upsert(f, f->stream, "s.1", "a");

    pgt_async_run(a, sq_store_begin_stream_num(a, "default", err, sizeof err), err);
    assert_int_equal(sq_store_finish_stream_num(a, &num, err, sizeof err), SQ_OK);
    assert_int_equal(num, f->stream);
    pgt_async_run(a, sq_store_begin_stream_num(a, "nope", err, sizeof err), err);
    assert_int_equal(sq_store_finish_stream_num(a, &num, err, sizeof err), SQ_STORE_NOT_FOUND);
    assert_int_equal(sq_store_stream_num(f->store, "nope", &num, f->err, sizeof f->err),
                     SQ_STORE_NOT_FOUND);
    assert_string_equal(err, f->err);

    /* create: the stream with its stats, then the same conflict */
    pgt_async_run(a, sq_store_begin_stream_create(a, "orders", err, sizeof err), err);
    assert_int_equal(sq_store_finish_stream_create(a, &x, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_stream_get(f->store, "orders", &y, &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    same_stream(&x, &y);
    sq_stream orders = x;
    pgt_async_run(a, sq_store_begin_stream_create(a, "orders", err, sizeof err), err);
    assert_int_equal(sq_store_finish_stream_create(a, &x, &f->arena, err, sizeof err),
                     SQ_STORE_CONFLICT);
    assert_int_equal(
        sq_store_stream_create(f->store, "orders", &y, &f->arena, f->err, sizeof f->err),
        SQ_STORE_CONFLICT);
    assert_string_equal(err, f->err);

    pgt_async_run(a, sq_store_begin_stream_get(a, "default", err, sizeof err), err);
    assert_int_equal(sq_store_finish_stream_get(a, &x, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_stream_get(f->store, "default", &y, &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    same_stream(&x, &y);
    assert_int_equal(x.message_count, 1);

    pgt_async_run(a, sq_store_begin_stream_list(a, err, sizeof err), err);
    assert_int_equal(sq_store_finish_stream_list(a, &xs, &nx, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_stream_list(f->store, &ys, &ny, &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(nx, 2);
    assert_int_equal(nx, ny);
    for (size_t i = 0; i < nx; i++)
        same_stream(&xs[i], &ys[i]);

    pgt_async_run(a, sq_store_begin_stream_delete(a, "orders", err, sizeof err), err);
    assert_int_equal(sq_store_finish_stream_delete(a, id, err, sizeof err), SQ_OK);
    assert_string_equal(id, orders.id);
    pgt_async_run(a, sq_store_begin_stream_delete(a, "orders", err, sizeof err), err);
    assert_int_equal(sq_store_finish_stream_delete(a, id, err, sizeof err), SQ_STORE_NOT_FOUND);
    assert_int_equal(sq_store_stream_delete(f->store, "orders", id, f->err, sizeof f->err),
                     SQ_STORE_NOT_FOUND);
    assert_string_equal(err, f->err);
    sq_store_close(a);
}

static void test_messages_as_sync(void **state)
{
    struct fixture *f = *state;
    sq_store *a = pgt_async_open(NULL);
    char err[512];
    pgt_upserts(f, f->stream, "orders.us.1", "v1", "orders.eu.2", "v2", "orders.us.3", "v3",
                "other.1", "v4", NULL);
    pgt_make_consumer(f, f->stream, "us", "orders.us.>", PGT_DEFAULTS, false);

    /* upsert: the same count, and the same refusal of an empty batch */
    sq_message_in two[2] = {{"orders.us.1", 11, "v1", 2}, {"orders.us.4", 11, "v5", 2}};
    long long published;
    pgt_async_run(a, sq_store_begin_upsert(a, f->stream, two, 2, err, sizeof err), err);
    assert_int_equal(sq_store_finish_upsert(a, &published, err, sizeof err), SQ_OK);
    assert_int_equal(published, 1); /* orders.us.1 is unchanged */
    assert_int_equal(sq_store_begin_upsert(a, f->stream, two, 0, err, sizeof err), SQ_ERR);
    assert_int_equal(
        sq_store_upsert(f->store, f->stream, two, 0, &published, f->err, sizeof f->err), SQ_ERR);
    assert_string_equal(err, f->err);
    assert_false(sq_store_busy(a));

    const sq_message_query queries[] = {
        {NULL, false, 100}, {NULL, true, 2}, {"orders.us.>", false, 100}, {"*.1", true, 100}};
    for (size_t q = 0; q < SQ_ARRAY_LEN(queries); q++) {
        sq_message *x, *y;
        size_t nx, ny;
        pgt_async_run(a, sq_store_begin_message_list(a, f->stream, &queries[q], err, sizeof err),
                      err);
        assert_int_equal(sq_store_finish_message_list(a, &x, &nx, &f->arena, err, sizeof err),
                         SQ_OK);
        assert_int_equal(sq_store_message_list(f->store, f->stream, &queries[q], &y, &ny, &f->arena,
                                               f->err, sizeof f->err),
                         SQ_OK);
        assert_true(nx > 0);
        assert_int_equal(nx, ny);
        for (size_t i = 0; i < nx; i++)
            same_message(&x[i], &y[i]);
    }

    sq_message x, y;
    pgt_async_run(a, sq_store_begin_message_get(a, f->stream, "orders.eu.2", err, sizeof err), err);
    assert_int_equal(sq_store_finish_message_get(a, &x, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_message_get(f->store, f->stream, "orders.eu.2", &y, &f->arena, f->err,
                                          sizeof f->err),
                     SQ_OK);
    same_message(&x, &y);
    pgt_async_run(a, sq_store_begin_message_get(a, f->stream, "orders.no", err, sizeof err), err);
    assert_int_equal(sq_store_finish_message_get(a, &x, &f->arena, err, sizeof err),
                     SQ_STORE_NOT_FOUND);
    assert_int_equal(sq_store_message_get(f->store, f->stream, "orders.no", &y, &f->arena, f->err,
                                          sizeof f->err),
                     SQ_STORE_NOT_FOUND);
    assert_string_equal(err, f->err);

    /* info: two statements in one call */
    sq_consumer_pair *px, *py;
    size_t nx, ny;
    pgt_async_run(a, sq_store_begin_message_info(a, f->stream, "orders.us.3", err, sizeof err),
                  err);
    assert_int_equal(sq_store_finish_message_info(a, &x, &px, &nx, &f->arena, err, sizeof err),
                     SQ_OK);
    assert_int_equal(sq_store_message_info(f->store, f->stream, "orders.us.3", &y, &py, &ny,
                                           &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    same_message(&x, &y);
    assert_int_equal(nx, 1);
    assert_int_equal(nx, ny);
    assert_string_equal(px[0].consumer_name, py[0].consumer_name);
    assert_string_equal(px[0].info.state, py[0].info.state);
    pgt_async_run(a, sq_store_begin_message_info(a, f->stream, "orders.no", err, sizeof err), err);
    assert_int_equal(sq_store_finish_message_info(a, &x, &px, &nx, &f->arena, err, sizeof err),
                     SQ_STORE_NOT_FOUND);
    assert_int_equal(sq_store_message_info(f->store, f->stream, "orders.no", &y, &py, &ny,
                                           &f->arena, f->err, sizeof f->err),
                     SQ_STORE_NOT_FOUND);
    assert_string_equal(err, f->err);

    int deleted = -1;
    pgt_async_run(a, sq_store_begin_message_delete(a, f->stream, "other.1", err, sizeof err), err);
    assert_int_equal(sq_store_finish_message_delete(a, &deleted, err, sizeof err), SQ_OK);
    assert_int_equal(deleted, 1);
    pgt_async_run(a, sq_store_begin_message_delete(a, f->stream, "other.1", err, sizeof err), err);
    assert_int_equal(sq_store_finish_message_delete(a, &deleted, err, sizeof err), SQ_OK);
    assert_int_equal(deleted, 0);

    pgt_async_run(a, sq_store_begin_notify(a, f->stream, err, sizeof err), err);
    assert_int_equal(sq_store_finish(a, err, sizeof err), SQ_OK);
    sq_store_close(a);
}

static void test_consumers_as_sync(void **state)
{
    struct fixture *f = *state;
    sq_store *a = pgt_async_open(NULL);
    char err[512], id[37];
    for (int i = 1; i <= 4; i++) {
        char key[16];
        snprintf(key, sizeof key, "t.%d", i);
        pgt_upsert(f, f->stream, key, key);
    }
    sq_consumer_settings set = {30000, 1000, 3, {0}};
    sq_consumer x, y, *xs, *ys;
    size_t nx, ny;

    /* create: twins, one each way; then the same conflict */
    pgt_async_run(
        a,
        sq_store_begin_consumer_create(a, f->stream, "twin_a", "t.*", &set, false, err, sizeof err),
        err);
    assert_int_equal(sq_store_finish_consumer_create(a, &x, &f->arena, err, sizeof err), SQ_OK);
    y = pgt_make_consumer(f, f->stream, "twin_b", "t.*", set, false);
    alike_consumers(&x, &y);
    assert_string_equal(x.name, "twin_a");
    pgt_async_run(
        a,
        sq_store_begin_consumer_create(a, f->stream, "twin_b", "t.*", &set, false, err, sizeof err),
        err);
    assert_int_equal(sq_store_finish_consumer_create(a, &x, &f->arena, err, sizeof err),
                     SQ_STORE_CONFLICT);
    assert_int_equal(sq_store_consumer_create(f->store, f->stream, "twin_b", "t.*", &set, false, &y,
                                              &f->arena, f->err, sizeof f->err),
                     SQ_STORE_CONFLICT);
    assert_string_equal(err, f->err);

    /* receive on one twin without waiting, on the other waiting: the same messages */
    sq_delivery dx[3], dy[3];
    int cx, cy;
    pgt_async_run(a, sq_store_begin_receive(a, "twin_a", 3, err, sizeof err), err); /* not an id */
    assert_int_equal(sq_store_finish_receive(a, dx, &cx, &f->arena, err, sizeof err), SQ_ERR);
    assert_int_equal(
        sq_store_receive(f->store, "twin_a", 3, dy, &cy, &f->arena, f->err, sizeof f->err), SQ_ERR);
    assert_string_equal(err, f->err);
    sq_consumer ta, tb;
    assert_int_equal(
        sq_store_consumer_get(f->store, f->stream, "twin_a", &ta, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    assert_int_equal(
        sq_store_consumer_get(f->store, f->stream, "twin_b", &tb, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    pgt_async_run(a, sq_store_begin_receive(a, ta.id, 3, err, sizeof err), err);
    assert_int_equal(sq_store_finish_receive(a, dx, &cx, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(
        sq_store_receive(f->store, tb.id, 3, dy, &cy, &f->arena, f->err, sizeof f->err), SQ_OK);
    assert_int_equal(cx, 3);
    assert_int_equal(cx, cy);
    for (int i = 0; i < cx; i++) {
        same_message(&dx[i].message, &dy[i].message);
        assert_int_equal(dx[i].deliver_count, dy[i].deliver_count);
    }

    /* get and list, with the stats the receives changed */
    pgt_async_run(a, sq_store_begin_consumer_get(a, f->stream, "twin_a", err, sizeof err), err);
    assert_int_equal(sq_store_finish_consumer_get(a, &x, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(
        sq_store_consumer_get(f->store, f->stream, ta.id, &y, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    same_consumer(&x, &y);
    assert_int_equal(x.delivered, 3);
    pgt_async_run(a, sq_store_begin_consumer_get(a, f->stream, "nope", err, sizeof err), err);
    assert_int_equal(sq_store_finish_consumer_get(a, &x, &f->arena, err, sizeof err),
                     SQ_STORE_NOT_FOUND);
    assert_int_equal(
        sq_store_consumer_get(f->store, f->stream, "nope", &y, &f->arena, f->err, sizeof f->err),
        SQ_STORE_NOT_FOUND);
    assert_string_equal(err, f->err);
    pgt_async_run(a, sq_store_begin_consumer_list(a, f->stream, err, sizeof err), err);
    assert_int_equal(sq_store_finish_consumer_list(a, &xs, &nx, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(
        sq_store_consumer_list(f->store, f->stream, &ys, &ny, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    assert_int_equal(nx, 2);
    assert_int_equal(nx, ny);
    for (size_t i = 0; i < nx; i++)
        same_consumer(&xs[i], &ys[i]);

    /* peek */
    sq_consumer_message *mx, *my;
    pgt_async_run(a, sq_store_begin_consumer_messages(a, ta.id, NULL, "t.>", 10, err, sizeof err),
                  err);
    assert_int_equal(sq_store_finish_consumer_messages(a, &mx, &nx, &f->arena, err, sizeof err),
                     SQ_OK);
    assert_int_equal(sq_store_consumer_messages(f->store, tb.id, NULL, "t.>", 10, &my, &ny,
                                                &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(nx, 4);
    assert_int_equal(nx, ny);
    for (size_t i = 0; i < nx; i++) {
        same_message(&mx[i].message, &my[i].message);
        assert_string_equal(mx[i].info.state, my[i].info.state);
    }

    /* ack, nack, extend, redrive: the twins end alike */
    const char *ix[3] = {dx[0].ack_id, dx[1].ack_id, dx[2].ack_id};
    const char *iy[3] = {dy[0].ack_id, dy[1].ack_id, dy[2].ack_id};
    long long rx, ry;
    pgt_async_run(a, sq_store_begin_ack(a, ta.id, ix, 1, err, sizeof err), err);
    assert_int_equal(sq_store_finish(a, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_ack(f->store, tb.id, iy, 1, f->err, sizeof f->err), SQ_OK);
    pgt_async_run(a, sq_store_begin_extend(a, ta.id, ix + 1, 1, err, sizeof err), err);
    assert_int_equal(sq_store_finish(a, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_extend(f->store, tb.id, iy + 1, 1, f->err, sizeof f->err), SQ_OK);
    pgt_async_run(a, sq_store_begin_nack(a, ta.id, ix + 2, 1, 60000, err, sizeof err), err);
    assert_int_equal(sq_store_finish(a, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_nack(f->store, tb.id, iy + 2, 1, 60000, f->err, sizeof f->err),
                     SQ_OK);
    pgt_async_run(a, sq_store_begin_redrive(a, ta.id, NULL, 0, err, sizeof err), err);
    assert_int_equal(sq_store_finish_redrive(a, &rx, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_redrive(f->store, tb.id, NULL, 0, &ry, f->err, sizeof f->err), SQ_OK);
    assert_int_equal(rx, ry);
    const char *bad = "not-a-uuid";
    assert_int_equal(sq_store_begin_ack(a, ta.id, &bad, 1, err, sizeof err), SQ_ERR);
    assert_int_equal(sq_store_ack(f->store, ta.id, &bad, 1, f->err, sizeof f->err), SQ_ERR);
    assert_string_equal(err, f->err);
    assert_int_equal(
        sq_store_consumer_get(f->store, f->stream, ta.id, &x, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    assert_int_equal(
        sq_store_consumer_get(f->store, f->stream, tb.id, &y, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    alike_consumers(&x, &y);
    assert_int_equal(x.available + x.delivered, 3); /* one of four acked */

    /* edit: three statements in one call, and the config file's refusal */
    sq_consumer_settings change = {1500, -1, 0, {0}};
    pgt_async_run(
        a, sq_store_begin_consumer_edit(a, f->stream, "twin_a", &change, false, err, sizeof err),
        err);
    assert_int_equal(sq_store_finish_consumer_edit(a, &x, &f->arena, err, sizeof err), SQ_OK);
    assert_int_equal(x.settings.ack_wait_ms, 1500);
    assert_int_equal(x.settings.max_deliver, 0);
    assert_int_equal(sq_store_consumer_edit(f->store, f->stream, "twin_b", &change, false, &y,
                                            &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    alike_consumers(&x, &y);
    PGconn *conn = pgt_connect();
    pgt_exec(conn, "UPDATE sequin.consumers SET managed_by = 'config'");
    PQfinish(conn);
    pgt_async_run(
        a, sq_store_begin_consumer_edit(a, f->stream, "twin_a", &change, false, err, sizeof err),
        err);
    assert_int_equal(sq_store_finish_consumer_edit(a, &x, &f->arena, err, sizeof err),
                     SQ_STORE_CONFLICT);
    assert_int_equal(sq_store_consumer_edit(f->store, f->stream, "twin_a", &change, false, &y,
                                            &f->arena, f->err, sizeof f->err),
                     SQ_STORE_CONFLICT);
    assert_string_equal(err, f->err);
    pgt_async_run(a, sq_store_begin_consumer_delete(a, f->stream, "twin_a", false, err, sizeof err),
                  err);
    assert_int_equal(sq_store_finish_consumer_delete(a, id, err, sizeof err), SQ_STORE_CONFLICT);
    assert_string_equal(err, f->err);

    pgt_async_run(a, sq_store_begin_consumer_delete(a, f->stream, "twin_a", true, err, sizeof err),
                  err);
    assert_int_equal(sq_store_finish_consumer_delete(a, id, err, sizeof err), SQ_OK);
    assert_string_equal(id, ta.id);
    pgt_async_run(a, sq_store_begin_consumer_delete(a, f->stream, "twin_a", true, err, sizeof err),
                  err);
    assert_int_equal(sq_store_finish_consumer_delete(a, id, err, sizeof err), SQ_STORE_NOT_FOUND);
    assert_int_equal(
        sq_store_consumer_delete(f->store, f->stream, "twin_a", true, id, f->err, sizeof f->err),
        SQ_STORE_NOT_FOUND);
    assert_string_equal(err, f->err);
    pgt_async_run(
        a, sq_store_begin_consumer_edit(a, f->stream, "twin_a", &change, true, err, sizeof err),
        err);
    assert_int_equal(sq_store_finish_consumer_edit(a, &x, &f->arena, err, sizeof err),
                     SQ_STORE_NOT_FOUND);
    sq_store_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PGT_STORE_TEST(test_streams_as_sync),
        PGT_STORE_TEST(test_messages_as_sync),
        PGT_STORE_TEST(test_consumers_as_sync),
    };
    return cmocka_run_group_tests_name("store_async_calls", tests, pgt_watchdog, NULL);
}
