/* The store's message and consumer semantics (SPEC 3) against a real PostgreSQL: the guide's
 * flow, upsert rules, a change under a lease, a late-committing lower seq, concurrent
 * receivers, acks among many leases and the plans they use, deletes, and a consumer created
 * while upserts run. (test_store_leases: what the clock does to leases.) */
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
#include "sequin/store.h"

/* The getting-started guide: four orders, order_2 changes, a US consumer, four receives. */
static void test_guide_flow(void **state)
{
    struct fixture *f = *state;
    sq_delivery d[4];
    char us[37];

    static const struct {
        const char *key, *data;
        long long published;
    } upserts[] = {
        {"orders.us.cus_a.order_1", "{\"product\": \"Shoes\"}", 1},
        {"orders.eu.cus_b.order_2", "{\"product\": \"Pants\"}", 1},
        {"orders.us.cus_c.order_3", "{\"product\": \"Shoes\"}", 1},
        {"orders.us.cus_a.order_4", "{\"product\": \"Shirts\"}", 1},
        {"orders.eu.cus_b.order_2", "{\"product\": \"Socks\"}", 1},
        /* Unchanged data is a no-op: nothing published. */
        {"orders.eu.cus_b.order_2", "{\"product\": \"Socks\"}", 0},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(upserts); i++) {
        long long published = pgt_upsert(f, f->stream, upserts[i].key, upserts[i].data);
        if (published != upserts[i].published)
            fail_msg("upsert %zu of %s: published %lld, not %lld", i + 1, upserts[i].key, published,
                     upserts[i].published);
    }

    pgt_consumer(f, f->stream, "us_orders", "orders.us.>", PGT_DEFAULTS, us);
    const char *expect[] = {"orders.us.cus_a.order_1", "orders.us.cus_c.order_3",
                            "orders.us.cus_a.order_4"};
    long long last_seq = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pgt_receive(f, us, 1, d), 1);
        assert_string_equal(d[0].message.key, expect[i]);
        assert_true(d[0].message.seq > last_seq); /* seq order */
        assert_int_equal(d[0].deliver_count, 1);
        last_seq = d[0].message.seq;
    }
    assert_int_equal(pgt_receive(f, us, 1, d), 0); /* "No messages available." */
    assert_int_equal(pgt_receive(f, us, 4, d), 0);
}

static void test_batch_rules(void **state)
{
    struct fixture *f = *state;
    /* A key named twice keeps its last occurrence, and counts once. */
    sq_message_in batch[3] = {
        {"k.one", 5, "first", 5},
        {"k.two", 5, "x", 1},
        {"k.one", 5, "last", 4},
    };
    long long published = 0;
    assert_int_equal(
        sq_store_upsert(f->store, f->stream, batch, 3, &published, f->err, sizeof f->err), SQ_OK);
    assert_int_equal(published, 2);
    char id[37];
    pgt_consumer(f, f->stream, "all", ">", PGT_DEFAULTS, id);
    sq_delivery d[4];
    assert_int_equal(pgt_receive(f, id, 4, d), 2);
    /* The data of k.one is the last one: upserting "last" again publishes nothing. */
    assert_int_equal(pgt_upsert(f, f->stream, "k.one", "last"), 0);
    assert_int_equal(pgt_upsert(f, f->stream, "k.one", "first"), 1);

    /* The worker's SHA-256 is PostgreSQL's: the stored digests match sha256(data). */
    char *digests = pgt_value("SELECT count(*) FILTER (WHERE data_hash = sha256(convert_to(data, "
                              "'UTF8'))) || ' of ' || count(*) FROM sequin.messages",
                              0, NULL);
    assert_string_equal(digests, "2 of 2");
    free(digests);

    /* Empty and oversized batches are refused before reaching the database. */
    assert_int_equal(
        sq_store_upsert(f->store, f->stream, batch, 0, &published, f->err, sizeof f->err), SQ_ERR);
    assert_non_null(strstr(f->err, "1..10000"));
}

/* SPEC 3: changed while leased -> pending (nobody gets it); ack -> the newer data is due. */
static void test_changed_while_leased(void **state)
{
    struct fixture *f = *state;
    sq_delivery d[4];
    char id[37];
    pgt_lease_one(f, "doc.1", "v1", "c", "doc.*", PGT_DEFAULTS, id, d);
    long long first_seq = d[0].message.seq;
    char first_ack[37];
    memcpy(first_ack, d[0].ack_id, 37);

    assert_int_equal(pgt_upsert(f, f->stream, "doc.1", "v2"), 1);
    assert_int_equal(pgt_receive(f, id, 4, d), 0); /* still leased: per-key order */

    pgt_ack(f, id, first_ack);
    assert_int_equal(pgt_receive(f, id, 4, d), 1);
    assert_string_equal(d[0].message.key, "doc.1");
    assert_true(d[0].message.seq > first_seq); /* the newest data */
    pgt_ack(f, id, d[0].ack_id);
    assert_int_equal(pgt_receive(f, id, 4, d), 0);

    /* Changed after the ack: delivered again. Unchanged: never. */
    assert_int_equal(pgt_upsert(f, f->stream, "doc.1", "v2"), 0);
    assert_int_equal(pgt_receive(f, id, 4, d), 0);
    assert_int_equal(pgt_upsert(f, f->stream, "doc.1", "v3"), 1);
    assert_int_equal(pgt_receive(f, id, 4, d), 1);
    /* Acking twice, or an unknown id, is a silent no-op. */
    pgt_ack(f, id, d[0].ack_id);
    pgt_ack(f, id, d[0].ack_id);
    pgt_ack(f, id, "00000000-0000-0000-0000-000000000000");
    assert_int_equal(pgt_receive(f, id, 4, d), 0);
}

/*
 * Seq order is not commit order: a transaction takes a lower seq and commits after another
 * one's higher seq has been received. The consumer must still get it (no cursor skips it).
 */
static void test_late_commit_not_skipped(void **state)
{
    struct fixture *f = *state;
    sq_delivery d[8];
    char id[37];
    pgt_consumer(f, f->stream, "watch", "late.>", PGT_DEFAULTS, id);

    PGconn *slow = pgt_connect();
    pgt_exec(slow, "BEGIN");
    pgt_exec(slow,
             "SELECT sequin.upsert(1, ARRAY['late.low'], ARRAY['x'], ARRAY[sha256('x')], NULL)");

    /* Higher seqs commit first and are received, many times, moving whatever can move. */
    char key[32];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "late.high_%d", i);
        pgt_upsert(f, f->stream, key, "y");
        assert_int_equal(pgt_receive(f, id, 8, d), 1);
        assert_string_equal(d[0].message.key, key);
        pgt_ack(f, id, d[0].ack_id);
    }
    assert_int_equal(pgt_receive(f, id, 8, d), 0);

    pgt_exec(slow, "COMMIT");
    PQfinish(slow);
    assert_int_equal(pgt_receive(f, id, 8, d), 1);
    assert_string_equal(d[0].message.key, "late.low");
}

enum {
    CONCURRENT_MESSAGES = 2000,
    RECEIVERS = 4
};

/* What the receivers of test_concurrent_receivers share: the consumer and the file they write
 * to. */
struct receivers {
    const char *cid;
    int fd;
};

/* A receiver process: receives in batches of 10 until empty, writes each key to the file. */
static int receiver(int i, void *arg)
{
    const struct receivers *r = arg;
    sq_store *s;
    char err[512];
    sq_arena a = {0};
    sq_delivery d[10];
    (void)i;
    if (sq_store_open(pgt_url(), &s, err, sizeof err) != SQ_OK)
        return 2;
    for (int empty = 0; empty < 3;) {
        int n = 0;
        if (sq_store_receive(s, r->cid, 10, d, &n, &a, err, sizeof err) != SQ_OK)
            return 3;
        empty = n == 0 ? empty + 1 : 0;
        for (int k = 0; k < n; k++) {
            char line[300];
            int len = snprintf(line, sizeof line, "%s\n", d[k].message.key);
            if (write(r->fd, line, (size_t)len) != len)
                return 4;
        }
        sq_arena_reset(&a);
    }
    sq_arena_free(&a);
    sq_store_close(s);
    return 0;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* N processes on one consumer never hold the same message at once (leases do not expire). */
static void test_concurrent_receivers(void **state)
{
    struct fixture *f = *state;
    sq_message_in *batch = pgt_batch("work.", 5, 0, CONCURRENT_MESSAGES, "payload");
    char id[37];
    pgt_consumer(f, f->stream, "pool", "work.*", (sq_consumer_settings){60000, 10000, 0, {0}}, id);
    long long published = 0;
    assert_int_equal(sq_store_upsert(f->store, f->stream, batch, CONCURRENT_MESSAGES, &published,
                                     f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(published, CONCURRENT_MESSAGES);

    char path[] = "/tmp/sequin-receivers-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    pid_t pids[RECEIVERS];
    pgt_fork(RECEIVERS, receiver, &(struct receivers){id, fd}, pids);
    for (int i = 0; i < RECEIVERS; i++)
        assert_int_equal(pgt_exit_status(pids[i]), 0);
    close(fd);

    /* Every message exactly once across all receivers. */
    FILE *in = fopen(path, "r");
    static char got[CONCURRENT_MESSAGES + 100][32];
    static char *sorted[CONCURRENT_MESSAGES + 100];
    int n = 0;
    while (n < CONCURRENT_MESSAGES + 100 && fgets(got[n], sizeof got[n], in) != NULL) {
        got[n][strcspn(got[n], "\n")] = '\0';
        sorted[n] = got[n];
        n++;
    }
    fclose(in);
    unlink(path);
    assert_int_equal(n, CONCURRENT_MESSAGES);
    qsort(sorted, (size_t)n, sizeof sorted[0], cmp_str);
    for (int i = 0; i < n; i++)
        assert_string_equal(sorted[i], batch[i].key);
    free(batch);
}

/* The ack ids of `n` deliveries as a PostgreSQL array literal. */
static void ack_id_array(const sq_delivery *d, int n, char *out, size_t len)
{
    size_t used = (size_t)snprintf(out, len, "{");
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? "," : "", d[i].ack_id);
    snprintf(out + used, len - used, "}");
}

/* How often this transaction has scanned the named index of the deliveries. */
static long xact_index_scans(PGconn *c, const char *index)
{
    const char *params[1] = {index};
    return (long)pgt_long_on(c, "SELECT pg_stat_get_xact_numscans(('sequin.' || $1)::regclass)", 1,
                             params);
}

/*
 * An ack, nack or extend finds its leases by ack id, however many leases the consumer holds
 * and whatever the statistics say: with statistics taken before the consumer held any lease,
 * the planner used to read every lease of the consumer through the index of leased rows for
 * each ack. Counted by pg_stat_get_xact_numscans, inside the calling transaction.
 */
static void test_ack_among_many_leases(void **state)
{
    struct fixture *f = *state;
    static sq_delivery many[1000];
    sq_delivery d[10];
    char id[37], sql[2048], ids[10 * 40 + 3];
    pgt_consumer(f, f->stream, "many", "many.>", PGT_DEFAULTS, id);
    snprintf(
        sql, sizeof sql,
        "SELECT sequin.upsert(%d, array_agg('many.' || i), array_agg('x'::text), "
        "                     array_agg(sha256('x'::bytea)), NULL) FROM generate_series(1, 2000) i",
        f->stream);
    PGconn *c = pgt_connect();
    pgt_exec(c, sql);
    snprintf(sql, sizeof sql, "SELECT sequin.fill('%s', 2000)", id);
    pgt_exec(c, sql);
    pgt_exec(c, "ANALYZE sequin.deliveries"); /* 2,000 rows, none leased */
    assert_int_equal(pgt_receive(f, id, 1000, many), 1000);

    struct {
        const char *fn, *more_args;
        int still_leased; /* after the call, of the 1,010 leases */
    } ops[] = {{"ack", "", 1000}, {"nack", ", 60000", 1000}, {"extend", "", 1010}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        assert_int_equal(pgt_receive(f, id, 10, d), 10);
        ack_id_array(d, 10, ids, sizeof ids);
        pgt_exec(c, "BEGIN");
        snprintf(sql, sizeof sql, "SELECT sequin.%s('%s', '%s'%s)", ops[i].fn, id, ids,
                 ops[i].more_args);
        pgt_exec(c, sql);
        long leased_scans = xact_index_scans(c, "deliveries_leased");
        long ack_id_scans = xact_index_scans(c, "deliveries_ack_id_key");
        pgt_exec(c, "COMMIT");
        if (leased_scans != 0 || ack_id_scans < 1)
            fail_msg("%s: %ld scans of the leased rows' index, %ld of the ack ids'", ops[i].fn,
                     leased_scans, ack_id_scans);
        const char *cid[] = {id};
        assert_int_equal(
            pgt_long("SELECT count(*) FROM sequin.deliveries WHERE consumer = $1 AND state = 1", 1,
                     cid),
            ops[i].still_leased);
    }
    PQfinish(c);
}

/*
 * PL/pgSQL keeps a connection's plans, made for the tables as they were at its first calls. A
 * connection that received and acked while the deliveries table was nearly empty must not
 * go on reading the whole table once it has grown: receive, ack and the consumer's stats
 * take no sequential scan of it or of the messages (counted inside the transaction, as
 * above).
 */
static void test_plans_made_on_a_small_table(void **state)
{
    struct fixture *f = *state;
    char small[37], big[37], sql[512];
    pgt_consumer(f, f->stream, "small", "small.>", PGT_DEFAULTS, small);
    pgt_consumer(f, f->stream, "big", "big.>", PGT_DEFAULTS, big);
    PGconn *c = pgt_connect();
    snprintf(
        sql, sizeof sql,
        "SELECT sequin.upsert(%d, array_agg('small.' || i), array_agg('x'::text), "
        "                     array_agg(sha256('x'::bytea)), NULL) FROM generate_series(1, 20) i",
        f->stream);
    pgt_exec(c, sql);
    pgt_exec(c, "ANALYZE sequin.deliveries");
    /* More calls than PostgreSQL's five custom plans before it settles on one. */
    for (int i = 0; i < 8; i++) {
        snprintf(sql, sizeof sql,
                 "SELECT sequin.ack('%s', ARRAY(SELECT ack_id FROM sequin.receive('%s', 1)))",
                 small, small);
        pgt_exec(c, sql);
        snprintf(sql, sizeof sql, "SELECT * FROM sequin.consumer_stats('%s')", small);
        pgt_exec(c, sql);
    }
    snprintf(sql, sizeof sql,
             "SELECT sequin.upsert(%d, array_agg('big.' || i), array_agg('x'::text), "
             "                     array_agg(sha256('x'::bytea)), NULL) FROM generate_series(1, "
             "20000) i",
             f->stream);
    pgt_exec(c, sql);
    snprintf(sql, sizeof sql, "SELECT sequin.fill('%s', 20000)", big);
    pgt_exec(c, sql); /* 20,000 delivery rows more, not analyzed */

    pgt_exec(c, "BEGIN");
    snprintf(sql, sizeof sql,
             "SELECT sequin.ack('%s', ARRAY(SELECT ack_id FROM sequin.receive('%s', 1)))", small,
             small);
    pgt_exec(c, sql);
    snprintf(sql, sizeof sql, "SELECT * FROM sequin.consumer_stats('%s')", small);
    pgt_exec(c, sql);
    char *seq_scans = pgt_value_on(c,
                                   "SELECT pg_stat_get_xact_numscans('sequin.deliveries'::regclass)"
                                   "     + pg_stat_get_xact_numscans('sequin.messages'::regclass)",
                                   0, NULL);
    char *leased = pgt_value_on(c,
                                "SELECT count(*) FROM sequin.deliveries WHERE key LIKE 'small.%' "
                                "   AND state = 1",
                                0, NULL);
    pgt_exec(c, "COMMIT");
    PQfinish(c);
    assert_string_equal(seq_scans, "0");
    assert_string_equal(leased, "0"); /* each receive's lease was acked */
    free(seq_scans);
    free(leased);
}

static void test_delete_message(void **state)
{
    struct fixture *f = *state;
    sq_delivery d[4];
    char id[37];
    pgt_lease_one(f, "del.1", "x", "holder", "del.*", PGT_DEFAULTS, id, d);
    int deleted = -1;
    assert_int_equal(
        sq_store_message_delete(f->store, f->stream, "del.1", &deleted, f->err, sizeof f->err),
        SQ_OK);
    assert_int_equal(deleted, 1);
    pgt_ack(f, id, d[0].ack_id); /* the lease ended with the message: a no-op, not an error */
    assert_int_equal(pgt_receive(f, id, 4, d), 0);
    assert_int_equal(
        sq_store_message_delete(f->store, f->stream, "del.1", &deleted, f->err, sizeof f->err),
        SQ_OK);
    assert_int_equal(deleted, 0);
    /* Upserted again: a new message, delivered again. */
    assert_int_equal(pgt_upsert(f, f->stream, "del.1", "x"), 1);
    assert_int_equal(pgt_receive(f, id, 4, d), 1);
}

/*
 * A consumer created while upserts are running gets every matching message exactly once,
 * with its last data, and creating it does not wait for the writers (nor they for it).
 * deliver_policy "new" gets only what comes after it.
 */
static void test_consumer_created_during_upserts(void **state)
{
    struct fixture *f = *state;
    enum {
        KEYS = 300,
        ROUNDS = 4
    };
    int go[2], done[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(done), 0);
    pid_t writer = fork();
    if (writer == 0) {
        /* Four rounds over the same 300 keys, 10 per batch; round r writes "r". */
        sq_store *s;
        char err[512];
        if (sq_store_open(pgt_url(), &s, err, sizeof err) != SQ_OK)
            _exit(2);
        for (int r = 0; r < ROUNDS; r++) {
            for (int i = 0; i < KEYS; i += 10) {
                sq_message_in b[10];
                char keys[10][32], data[10][8];
                for (int j = 0; j < 10; j++) {
                    int kl = snprintf(keys[j], sizeof keys[j], "race.%03d", i + j);
                    int dl = snprintf(data[j], sizeof data[j], "%d", r);
                    b[j] = (sq_message_in){keys[j], (size_t)kl, data[j], (size_t)dl};
                }
                long long published;
                if (sq_store_upsert(s, 1, b, 10, &published, err, sizeof err) != SQ_OK)
                    _exit(3);
                if (r == 1 && i == 150 && write(go[1], "x", 1) != 1)
                    _exit(4);
                /* Rounds 2 and 3 must come after the consumers exist (the assertions on
                 * "new" depend on it), even if this process outruns the test's. */
                char created;
                if (r == 2 && i == 0 && read(done[0], &created, 1) != 1)
                    _exit(5);
            }
        }
        sq_store_close(s);
        _exit(0);
    }
    char c;
    assert_int_equal(read(go[0], &c, 1), 1); /* the writer is halfway through round 1 */
    const sq_consumer_settings set = {60000, 10000, 0, {0}};
    char all[37];
    pgt_consumer(f, f->stream, "late_all", "race.*", set, all);
    sq_consumer fresh = pgt_make_consumer(f, f->stream, "late_new", "race.*", set, true);
    assert_int_equal(write(done[1], "x", 1), 1);
    /* "all", received and acked while the writer goes on: each (key, seq) is delivered at
     * most once (so nothing comes again after its ack), and every key's final version is. */
    static long long seen[KEYS][ROUNDS + 1];
    memset(seen, 0, sizeof seen);
    sq_delivery d[100];
    PGconn *c2 = pgt_connect();
    int writer_done = 0;
    for (int empty = 0; !writer_done || empty < 3;) {
        if (!writer_done) {
            int status = 0;
            pid_t w = waitpid(writer, &status, WNOHANG);
            if (w == writer) {
                assert_true(WIFEXITED(status));
                assert_int_equal(WEXITSTATUS(status), 0);
                writer_done = 1;
            }
        }
        int n = pgt_receive(f, all, 100, d);
        empty = n == 0 ? empty + 1 : 0;
        for (int i = 0; i < n; i++) {
            int k = atoi(d[i].message.key + 5);
            assert_true(k >= 0 && k < KEYS);
            for (int v = 0; v <= ROUNDS; v++) {
                if (seen[k][v] == d[i].message.seq)
                    fail_msg("%s seq %lld delivered twice", d[i].message.key, d[i].message.seq);
                if (seen[k][v] == 0) {
                    seen[k][v] = d[i].message.seq;
                    break;
                }
            }
            pgt_ack(f, all, d[i].ack_id);
        }
        sq_arena_reset(&f->arena);
    }
    /* Now that the writer is done, which versions are final? */
    for (int k = 0; k < KEYS; k++) {
        char key[16];
        const char *params[] = {key};
        snprintf(key, sizeof key, "race.%03d", k);
        long long final_seq =
            pgt_long_on(c2, "SELECT seq FROM sequin.messages WHERE key = $1", 1, params);
        int delivered = 0;
        for (int v = 0; v <= ROUNDS; v++)
            delivered |= seen[k][v] == final_seq;
        if (!delivered)
            fail_msg("key race.%03d: its final version (seq %lld) was never delivered", k,
                     final_seq);
    }
    PQfinish(c2);

    /* "new", received only now: every key changed after its creation (all of them did, in
     * rounds 2 and 3), so each arrives exactly once, with its final version. */
    int got = 0;
    for (int empty = 0; empty < 3;) {
        int n = pgt_receive(f, fresh.id, 100, d);
        empty = n == 0 ? empty + 1 : 0;
        got += n;
        for (int i = 0; i < n; i++)
            pgt_ack(f, fresh.id, d[i].ack_id);
        sq_arena_reset(&f->arena);
    }
    assert_int_equal(got, KEYS);
    close(go[0]);
    close(go[1]);
    close(done[0]);
    close(done[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PGT_STORE_TEST(test_guide_flow),
        PGT_STORE_TEST(test_batch_rules),
        PGT_STORE_TEST(test_changed_while_leased),
        PGT_STORE_TEST(test_late_commit_not_skipped),
        PGT_STORE_TEST(test_concurrent_receivers),
        PGT_STORE_TEST(test_ack_among_many_leases),
        PGT_STORE_TEST(test_plans_made_on_a_small_table),
        PGT_STORE_TEST(test_delete_message),
        PGT_STORE_TEST(test_consumer_created_during_upserts),
    };
    return cmocka_run_group_tests_name("store_messages", tests, NULL, NULL);
}
