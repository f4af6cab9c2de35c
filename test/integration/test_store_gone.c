/* A stream or consumer deleted while a caller still holds its number or id (a server's cache
 * of names): every call that names it answers SQ_STORE_NOT_FOUND, never an empty success. */
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
#include "sequin/store.h"

/* Asserts that `rc` is SQ_STORE_NOT_FOUND, naming the call that was not. */
static void gone(int rc, const struct fixture *f, const char *call)
{
    if (rc != SQ_STORE_NOT_FOUND)
        fail_msg("%s after the delete: %d (%s), not SQ_STORE_NOT_FOUND", call, rc, f->err);
}

/* A consumer with a lease and a dead message, deleted: the calls on its leases by id, its
 * receive and its peek are all "not found". Each was a success doing nothing before. */
static void test_calls_on_a_deleted_consumer(void **state)
{
    struct fixture *f = *state;
    char id[37], peer[37];
    sq_delivery d[2];
    sq_consumer_message *list = NULL;
    size_t n = 0;
    long long count = 0;

    pgt_consumer(f, f->stream, "doomed", "a.>", (sq_consumer_settings){30000, 10000, 1, {0}}, id);
    pgt_consumer(f, f->stream, "peer", "a.>", PGT_DEFAULTS, peer);
    pgt_upsert(f, f->stream, "a.1", "x");
    pgt_upsert(f, f->stream, "a.2", "y");
    assert_int_equal(pgt_receive(f, id, 2, d), 2);
    /* Before the delete every call is fine, and a nack with max_deliver 1 makes one dead. */
    pgt_nack(f, id, d[0].ack_id, 0);
    assert_int_equal(pgt_peek(f, id, NULL, NULL, 10, &list), 2);

    char deleted[37];
    assert_int_equal(sq_store_consumer_delete(f->store, f->stream, "doomed", false, deleted, f->err,
                                              sizeof f->err),
                     SQ_OK);
    assert_string_equal(deleted, id);

    const char *ack_id = d[1].ack_id;
    gone(sq_store_ack(f->store, id, &ack_id, 1, f->err, sizeof f->err), f, "ack");
    gone(sq_store_nack(f->store, id, &ack_id, 1, 0, f->err, sizeof f->err), f, "nack");
    gone(sq_store_extend(f->store, id, &ack_id, 1, f->err, sizeof f->err), f, "extend");
    gone(sq_store_redrive(f->store, id, NULL, 0, &count, f->err, sizeof f->err), f, "redrive");
    int got = 0;
    gone(sq_store_receive(f->store, id, 1, d, &got, &f->arena, f->err, sizeof f->err), f,
         "receive");
    gone(sq_store_consumer_messages(f->store, id, NULL, NULL, 10, &list, &n, &f->arena, f->err,
                                    sizeof f->err),
         f, "peek");

    /* The other consumer of the stream is untouched: an empty peek of an existing consumer
     * is still an empty success. */
    assert_int_equal(pgt_peek(f, peer, "dead", NULL, 10, &list), 0);
}

/* A stream with messages and a consumer, deleted: listing its messages or consumers and
 * upserting into it are "not found"; an empty existing stream still lists nothing. */
static void test_calls_on_a_deleted_stream(void **state)
{
    struct fixture *f = *state;
    char cid[37], id[37];
    sq_message *msgs = NULL;
    sq_consumer *cons = NULL;
    size_t n = 0;
    sq_message_query all = {NULL, false, 100}, some = {"a.>", true, 100};

    sq_stream st = pgt_stream(f, "doomed");
    pgt_upsert(f, st.num, "a.1", "x");
    pgt_consumer(f, st.num, "c", "a.>", PGT_DEFAULTS, cid);
    assert_int_equal(
        sq_store_message_list(f->store, st.num, &all, &msgs, &n, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    assert_int_equal(n, 1);

    assert_int_equal(sq_store_stream_delete(f->store, "doomed", id, f->err, sizeof f->err), SQ_OK);

    gone(sq_store_message_list(f->store, st.num, &all, &msgs, &n, &f->arena, f->err, sizeof f->err),
         f, "message list");
    gone(
        sq_store_message_list(f->store, st.num, &some, &msgs, &n, &f->arena, f->err, sizeof f->err),
        f, "message list by key range");
    gone(sq_store_consumer_list(f->store, st.num, &cons, &n, &f->arena, f->err, sizeof f->err), f,
         "consumer list");
    sq_message_in m = {"a.2", 3, "y", 1};
    long long published = 0;
    gone(sq_store_upsert(f->store, st.num, &m, 1, &published, f->err, sizeof f->err), f, "upsert");

    /* The default stream exists and is empty: empty lists, not "not found". */
    assert_int_equal(sq_store_message_list(f->store, f->stream, &some, &msgs, &n, &f->arena, f->err,
                                           sizeof f->err),
                     SQ_OK);
    assert_int_equal(n, 0);
    assert_int_equal(
        sq_store_consumer_list(f->store, f->stream, &cons, &n, &f->arena, f->err, sizeof f->err),
        SQ_OK);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PGT_STORE_TEST(test_calls_on_a_deleted_consumer),
        PGT_STORE_TEST(test_calls_on_a_deleted_stream),
    };
    return cmocka_run_group_tests_name("store_gone", tests, NULL, NULL);
}
