/* The reconcile of declared consumers (SPEC 5) against a real PostgreSQL: created, updated,
 * unchanged, released, adopted; refusals that change nothing; reconciles of nodes starting
 * together. And of declared sources (SPEC 8): created, updated, unchanged, adopted, deleted, and
 * a stream that does not exist refused. */
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

/* A declaration with the file's defaults but for what the test names. */
static sq_declared_consumer decl(const char *stream, const char *name, const char *filter)
{
    return (sq_declared_consumer){stream, name, filter, {30000, 10000, 0, {0}}, false};
}

/* Creates stream "orders" and upserts `key` into the default stream, for a backlog; then fills
 * `d` with a file of three consumers, each a name and a filter in `named`: the first two of the
 * default stream, the third of "orders". Returns "orders". */
static sq_stream two_streams(struct fixture *f, const char *key, const char *const named[3][2],
                             sq_declared_consumer d[3])
{
    sq_stream orders = pgt_stream(f, "orders");
    pgt_upsert(f, f->stream, key, "x");
    for (int i = 0; i < 3; i++)
        d[i] = decl(i < 2 ? "default" : "orders", named[i][0], named[i][1]);
    return orders;
}

/* Asserts that `c` is `action` on a consumer whose settings were `was` (all -1: it did not
 * exist). */
static void assert_change(const sq_reconcile_change *c, sq_reconcile_action action,
                          sq_consumer_settings was)
{
    assert_int_equal(c->action, action);
    assert_int_equal(c->before.ack_wait_ms, was.ack_wait_ms);
    assert_int_equal(c->before.max_ack_pending, was.max_ack_pending);
    assert_int_equal(c->before.max_deliver, was.max_deliver);
}

/* Reconciles and expects success; the changes stay in the fixture's arena. */
static size_t reconcile(struct fixture *f, const sq_declared_consumer *d, size_t n,
                        sq_reconcile_change **out)
{
    size_t count = 0;
    long refused = 99;
    int rc =
        sq_store_reconcile(f->store, d, n, out, &count, &refused, &f->arena, f->err, sizeof f->err);
    if (rc != SQ_OK)
        fail_msg("reconcile: %d %s", rc, f->err);
    assert_int_equal(refused, -1);
    return count;
}

/* Reconciles and expects refusal `want` of declaration `at`; returns the message. */
static const char *refused(struct fixture *f, const sq_declared_consumer *d, size_t n, int want,
                           long at)
{
    sq_reconcile_change *out = NULL;
    size_t count = 0;
    long where = 99;
    int rc =
        sq_store_reconcile(f->store, d, n, &out, &count, &where, &f->arena, f->err, sizeof f->err);
    if (rc != want)
        fail_msg("reconcile gave %d, not %d: %s", rc, want, f->err);
    assert_int_equal(where, at);
    return f->err;
}

/* The change for consumer `name` in `changes`, failing the test if there is none. */
static const sq_reconcile_change *change_of(const sq_reconcile_change *changes, size_t n,
                                            const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(changes[i].name, name) == 0)
            return &changes[i];
    }
    fail_msg("no change for consumer %s", name);
    return NULL;
}

static bool exists(struct fixture *f, const char *name)
{
    sq_consumer c;
    int rc = sq_store_consumer_get(f->store, f->stream, name, &c, &f->arena, f->err, sizeof f->err);
    assert_true(rc == SQ_OK || rc == SQ_STORE_NOT_FOUND);
    return rc == SQ_OK;
}

static void assert_sql(const char *sql, const char *want)
{
    char *got = pgt_value(sql, 0, NULL);
    if (strcmp(got, want) != 0)
        fail_msg("%s gave \"%s\", not \"%s\"", sql, got, want);
    free(got);
}

/* Every consumer as "stream/name:managed_by:filter:ack_wait:max_ack_pending:max_deliver:policy"
 * in one string, to compare a whole state before and after. */
#define STATE_SQL                                                                                  \
    "SELECT coalesce(string_agg(s.name || '/' || c.name || ':' || c.managed_by || ':' || "         \
    "c.filter || ':' || c.ack_wait_ms || ':' || c.max_ack_pending || ':' || "                      \
    "coalesce(c.max_deliver, 0) || ':' || c.deliver_policy, ' ' ORDER BY s.name, c.name), '') "    \
    "FROM sequin.consumers c JOIN sequin.streams s ON s.num = c.stream"

static void test_create_update_unchanged(void **state)
{
    struct fixture *f = *state;
    sq_reconcile_change *ch;

    sq_declared_consumer d[3];
    sq_stream orders =
        two_streams(f, "job.1",
                    (const char *const[][2]){
                        {"all_jobs", "job.>"}, {"new_jobs", "job.>"}, {"us", "orders.us.>"}},
                    d);
    d[1].deliver_new = true;
    d[1].settings = (sq_consumer_settings){1000, 50, 5, {0}};

    size_t n = reconcile(f, d, 3, &ch);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_change(&ch[i], SQ_RECONCILE_CREATED, (sq_consumer_settings){-1, -1, -1, {0}});
        assert_int_equal(ch[i].declared, (long)i);
        assert_string_equal(ch[i].name, d[i].name);
        assert_string_equal(ch[i].stream, d[i].stream);
    }
    assert_string_equal(sq_reconcile_action_name(ch[0].action), "created");

    sq_consumer all = pgt_consumer_get(f, f->stream, "all_jobs");
    sq_consumer fresh = pgt_consumer_get(f, f->stream, "new_jobs");
    sq_consumer us = pgt_consumer_get(f, orders.num, "us");
    assert_string_equal(all.id, ch[0].id);
    assert_true(all.managed_by_config);
    assert_true(fresh.managed_by_config);
    assert_true(us.managed_by_config);
    assert_false(all.deliver_new);
    assert_true(fresh.deliver_new);
    assert_string_equal(fresh.filter, "job.>");
    assert_int_equal(fresh.settings.ack_wait_ms, 1000);
    assert_int_equal(fresh.settings.max_ack_pending, 50);
    assert_int_equal(fresh.settings.max_deliver, 5);
    /* Created as the API creates: "all" has the backlog, "new" only what comes after. */
    pgt_upsert(f, f->stream, "job.2", "after");
    sq_delivery got[4];
    assert_int_equal(pgt_receive(f, all.id, 4, got), 2);
    assert_int_equal(pgt_receive(f, fresh.id, 4, got), 1);
    assert_string_equal(got[0].message.key, "job.2");

    /* The same file again: nothing to do. */
    n = reconcile(f, d, 3, &ch);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ch[i].action, SQ_RECONCILE_UNCHANGED);

    /* New numeric settings: updated, with what they were. */
    d[1].settings = (sq_consumer_settings){2000, 60, 0, {0}};
    n = reconcile(f, d, 3, &ch);
    assert_int_equal(n, 3);
    assert_int_equal(ch[0].action, SQ_RECONCILE_UNCHANGED);
    assert_change(&ch[1], SQ_RECONCILE_UPDATED, (sq_consumer_settings){1000, 50, 5, {0}});
    assert_int_equal(ch[2].action, SQ_RECONCILE_UNCHANGED);
    sq_consumer updated = pgt_consumer_get(f, f->stream, "new_jobs");
    assert_string_equal(updated.id, fresh.id);
    assert_int_equal(updated.settings.ack_wait_ms, 2000);
    assert_int_equal(updated.settings.max_ack_pending, 60);
    assert_int_equal(updated.settings.max_deliver, 0);
    assert_true(updated.managed_by_config);
    /* Its delivery state is its own still: the message it holds is not delivered again. */
    assert_int_equal(updated.delivered, 1);
}

static void test_refusals_change_nothing(void **state)
{
    struct fixture *f = *state;
    sq_reconcile_change *ch;

    sq_declared_consumer d[3] = {
        decl("default", "a", "a.>"),
        decl("default", "b", "b.>"),
        decl("default", "c", "c.*"),
    };
    reconcile(f, d, 2, &ch);
    char *before = pgt_value(STATE_SQL, 0, NULL);

    /* a's settings change, c is new, and b's filter changes: all of it is refused. */
    d[0].settings.ack_wait_ms = 9999;
    d[1].filter = "b.*.x";
    const char *why = refused(f, d, 3, SQ_STORE_CONFLICT, 1);
    assert_string_equal(why, "consumer \"b\" of stream \"default\": the filter cannot change (was "
                             "\"b.>\", now \"b.*.x\"); declare a consumer with a new name instead");
    assert_sql(STATE_SQL, before);
    assert_false(exists(f, "c"));

    /* deliver_policy only decides where a new consumer starts: refused the same way. */
    d[1].filter = "b.>";
    d[1].deliver_new = true;
    why = refused(f, d, 3, SQ_STORE_CONFLICT, 1);
    assert_string_equal(why, "consumer \"b\" of stream \"default\": the deliver_policy cannot "
                             "change (was \"all\", now \"new\"); declare a consumer with a new "
                             "name instead");
    assert_sql(STATE_SQL, before);

    /* A stream that does not exist (deleted since the master created it). */
    d[1].deliver_new = false;
    d[2].stream = "gone";
    why = refused(f, d, 3, SQ_STORE_NOT_FOUND, 2);
    assert_string_equal(why, "consumer \"c\" is declared in stream \"gone\", which does not exist");
    assert_sql(STATE_SQL, before);

    /* Fixed, the same file goes through. */
    d[2].stream = "default";
    assert_int_equal(reconcile(f, d, 3, &ch), 3);
    assert_int_equal(ch[0].action, SQ_RECONCILE_UPDATED);
    assert_int_equal(ch[1].action, SQ_RECONCILE_UNCHANGED);
    assert_int_equal(ch[2].action, SQ_RECONCILE_CREATED);
    free(before);
}

static void test_release(void **state)
{
    struct fixture *f = *state;
    sq_reconcile_change *ch;

    sq_declared_consumer d[3];
    sq_stream orders = two_streams(
        f, "b.1", (const char *const[][2]){{"a", "a.>"}, {"b", "b.>"}, {"o", "o.>"}}, d);
    reconcile(f, d, 3, &ch);
    sq_delivery got[2];
    assert_int_equal(pgt_receive(f, ch[1].id, 2, got), 1);
    /* An API consumer is none of the reconcile's business. */
    pgt_make_consumer(f, f->stream, "mine", "m.>", PGT_DEFAULTS, false);

    /* b removed from the file, and the whole stream "orders" with o. */
    size_t n = reconcile(f, d, 1, &ch);
    assert_int_equal(n, 3);
    assert_int_equal(ch[0].action, SQ_RECONCILE_UNCHANGED);
    assert_int_equal(ch[1].action, SQ_RECONCILE_RELEASED);
    assert_string_equal(ch[1].stream, "default");
    assert_string_equal(ch[1].name, "b");
    assert_int_equal(ch[1].declared, -1);
    assert_int_equal(ch[1].before.ack_wait_ms, 30000);
    assert_int_equal(ch[2].action, SQ_RECONCILE_RELEASED);
    assert_string_equal(ch[2].stream, "orders");
    assert_string_equal(ch[2].name, "o");

    sq_consumer b = pgt_consumer_get(f, f->stream, "b");
    assert_false(b.managed_by_config);
    assert_int_equal(b.delivered, 1); /* its messages matter: kept as they were */
    assert_false(pgt_consumer_get(f, orders.num, "o").managed_by_config);
    assert_false(pgt_consumer_get(f, f->stream, "mine").managed_by_config);

    /* Released, it is the API's: edits and deletes are allowed again. */
    sq_consumer_settings change = {-1, 77, -1, {0}};
    sq_consumer edited;
    assert_int_equal(sq_store_consumer_edit(f->store, f->stream, "b", &change, false, &edited,
                                            &f->arena, f->err, sizeof f->err),
                     SQ_OK);
    assert_int_equal(sq_store_consumer_edit(f->store, f->stream, "a", &change, false, &edited,
                                            &f->arena, f->err, sizeof f->err),
                     SQ_STORE_CONFLICT);

    /* Declared again later, it is adopted back with the declared settings. */
    n = reconcile(f, d, 2, &ch);
    assert_int_equal(n, 2); /* o, released before, is the API's: not released again */
    assert_int_equal(ch[1].action, SQ_RECONCILE_ADOPTED);
    assert_int_equal(ch[1].before.max_ack_pending, 77);
    assert_int_equal(pgt_consumer_get(f, f->stream, "b").settings.max_ack_pending, 10000);
    assert_true(pgt_consumer_get(f, f->stream, "b").managed_by_config);

    /* An empty file releases every declared consumer. */
    n = reconcile(f, NULL, 0, &ch);
    assert_int_equal(n, 2);
    assert_int_equal(ch[0].action, SQ_RECONCILE_RELEASED);
    assert_int_equal(ch[1].action, SQ_RECONCILE_RELEASED);
    assert_sql("SELECT count(*) FROM sequin.consumers WHERE managed_by = 'config'", "0");
    assert_sql("SELECT count(*) FROM sequin.consumers", "4");
}

static void test_adoption(void **state)
{
    struct fixture *f = *state;
    sq_reconcile_change *ch;
    const sq_consumer_settings set = {5000, 20, 3, {0}};

    pgt_make_consumer(f, f->stream, "same", "s.>", set, false);
    pgt_make_consumer(f, f->stream, "other", "o.>", set, false);
    pgt_make_consumer(f, f->stream, "later", "l.>", set, true);
    char *before = pgt_value(STATE_SQL, 0, NULL);

    /* Same name, another filter: refused, since taking it over would change its filter. */
    sq_declared_consumer d[2] = {decl("default", "same", "s.>"), decl("default", "other", "x.>")};
    const char *why = refused(f, d, 2, SQ_STORE_CONFLICT, 1);
    assert_string_equal(why, "consumer \"other\" of stream \"default\" exists, created through "
                             "the API with filter \"o.>\", not \"x.>\": declare the same filter "
                             "to take it over, or a consumer with a new name");
    assert_sql(STATE_SQL, before);

    /* Same name, same filter, another deliver_policy: refused too, with the way out. */
    d[1] = decl("default", "later", "l.>");
    why = refused(f, d, 2, SQ_STORE_CONFLICT, 1);
    assert_non_null(strstr(why, "created through the API with deliver_policy \"new\", not "
                                "\"all\": declare the same deliver_policy to take it over"));
    assert_sql(STATE_SQL, before);

    /* Same filter and policy: adopted, with the declared settings. */
    d[1].deliver_new = true;
    assert_int_equal(reconcile(f, d, 2, &ch), 2);
    assert_change(&ch[0], SQ_RECONCILE_ADOPTED, set);
    assert_int_equal(ch[1].action, SQ_RECONCILE_ADOPTED);
    sq_consumer same = pgt_consumer_get(f, f->stream, "same");
    assert_true(same.managed_by_config);
    assert_int_equal(same.settings.ack_wait_ms, 30000);
    assert_int_equal(same.settings.max_deliver, 0);
    assert_true(pgt_consumer_get(f, f->stream, "later").deliver_new);
    assert_false(pgt_consumer_get(f, f->stream, "other").managed_by_config);
    free(before);
}

/* A name the API takes: the reconcile's create of the same name and the API's meet in
 * sequin.create_consumer, which answers the API's a 409 as before. */
static void test_api_create_of_a_declared_name(void **state)
{
    struct fixture *f = *state;
    sq_reconcile_change *ch;
    sq_declared_consumer d = decl("default", "x", "x.>");
    sq_consumer c;
    sq_consumer_settings set = {30000, 10, 0, {0}};

    reconcile(f, &d, 1, &ch);
    assert_int_equal(sq_store_consumer_create(f->store, f->stream, "x", "x.>", &set, false, &c,
                                              &f->arena, f->err, sizeof f->err),
                     SQ_STORE_CONFLICT);
    assert_string_equal(f->err, "a consumer named \"x\" exists");
    assert_true(pgt_consumer_get(f, f->stream, "x").managed_by_config);
}

/* Nodes starting together reconcile the same file at once: every one succeeds, each consumer is
 * created exactly once, and none is left half-applied. Several rounds, since one may happen not
 * to overlap (each round's file declares new names, so it also releases the last round's). */
#define NODES 4
#define DECLARED 30
#define ROUNDS 6

/* What the nodes of one round share: the file and the pipes to the test. */
struct round {
    const sq_declared_consumer *d;
    int ready[2], go[2], done[2];
};

/* A node of a round: connects, says so on `ready` ('f': no connection) and waits for the test
 * to close `go`; then reconciles and writes on `done` how many consumers it created. One byte
 * each, whatever happens, so the test's reads never wait for a node that died. */
static int reconciling_node(int p, void *arg)
{
    struct round *r = arg;
    sq_store *s;
    sq_arena arena = {0};
    sq_reconcile_change *ch;
    size_t n = 0;
    long at;
    char err[512], byte;
    int created = 0;
    close(r->go[1]);
    bool open = sq_store_open(pgt_url(), &s, err, sizeof err) == SQ_OK;
    if (write(r->ready[1], open ? "r" : "f", 1) != 1 || !open)
        return 100;
    if (read(r->go[0], &byte, 1) != 0)
        return 101;
    if (sq_store_reconcile(s, r->d, DECLARED, &ch, &n, &at, &arena, err, sizeof err) != SQ_OK) {
        fprintf(stderr, "node %d: %s\n", p, err);
        return 102;
    }
    for (size_t i = 0; i < n; i++)
        created += ch[i].action == SQ_RECONCILE_CREATED;
    if (write(r->done[1], &(char){(char)created}, 1) != 1)
        return 103;
    sq_arena_free(&arena);
    sq_store_close(s);
    return 0;
}

/* One round: NODES processes reconcile `d` at the same moment; returns how many consumers they
 * created in all. */
static int concurrent_round(const sq_declared_consumer *d)
{
    struct round r = {.d = d};
    pid_t pids[NODES];
    char counts[NODES];
    int total = 0;

    assert_int_equal(pipe(r.ready), 0);
    assert_int_equal(pipe(r.go), 0);
    assert_int_equal(pipe(r.done), 0);
    pgt_fork(NODES, reconciling_node, &r, pids);
    close(r.go[0]);
    close(r.done[1]);
    close(r.ready[1]);
    for (int p = 0; p < NODES; p++) { /* each node is connected and about to wait */
        assert_int_equal(read(r.ready[0], counts, 1), 1);
        assert_int_equal(counts[0], 'r');
    }
    close(r.ready[0]);
    close(r.go[1]); /* every node waits for this moment */
    for (int p = 0; p < NODES; p++)
        assert_int_equal(pgt_exit_status(pids[p]), 0);
    assert_int_equal(read(r.done[0], counts, sizeof counts), NODES);
    close(r.done[0]);
    for (int p = 0; p < NODES; p++)
        total += counts[p];
    return total;
}

static void test_concurrent_reconciles(void **state)
{
    struct fixture *f = *state;
    char names[DECLARED][32], filters[DECLARED][32];
    sq_declared_consumer d[DECLARED];

    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < DECLARED; i++) {
            snprintf(names[i], sizeof names[i], "r%dc%02d", round, i);
            snprintf(filters[i], sizeof filters[i], "k%d.>", i);
            d[i] = decl("default", names[i], filters[i]);
            d[i].settings.max_ack_pending = 100 + i;
        }
        assert_int_equal(concurrent_round(d), DECLARED);
        assert_sql("SELECT count(*) FROM sequin.consumers WHERE managed_by = 'config'", "30");
        assert_sql("SELECT count(*) FROM sequin.consumers WHERE managed_by = 'config' AND "
                   "max_ack_pending = 100 + substr(name, length(name) - 1)::int",
                   "30");
    }
    assert_sql("SELECT count(*) FROM sequin.consumers", "180");
    /* And the state is one a single reconcile leaves: nothing to do. */
    sq_reconcile_change *ch;
    size_t n = reconcile(f, d, DECLARED, &ch);
    assert_int_equal(n, DECLARED);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ch[i].action, SQ_RECONCILE_UNCHANGED);
}

/* The call without waiting gives what the synchronous one gives. */
static void test_begin_finish(void **state)
{
    struct fixture *f = *state;
    sq_declared_consumer d[2] = {decl("default", "a", "a.>"), decl("default", "b", "a.>")};
    sq_reconcile_change *ch = NULL;
    size_t n = 0;
    long at = 99;

    pgt_async_run(f->store, sq_store_begin_reconcile(f->store, d, 2, f->err, sizeof f->err),
                  f->err);
    assert_int_equal(
        sq_store_finish_reconcile(f->store, &ch, &n, &at, &f->arena, f->err, sizeof f->err), SQ_OK);
    assert_int_equal(n, 2);
    assert_int_equal(at, -1);
    assert_int_equal(ch[1].action, SQ_RECONCILE_CREATED);
    assert_non_null(change_of(ch, n, "b"));

    d[1].filter = "b.>";
    pgt_async_run(f->store, sq_store_begin_reconcile(f->store, d, 2, f->err, sizeof f->err),
                  f->err);
    assert_int_equal(
        sq_store_finish_reconcile(f->store, &ch, &n, &at, &f->arena, f->err, sizeof f->err),
        SQ_STORE_CONFLICT);
    assert_int_equal(at, 1);
    assert_non_null(strstr(f->err, "the filter cannot change"));
    /* The connection is fine after a refusal. */
    assert_true(exists(f, "b"));
}

/* ---- declared sources ------------------------------------------------------------------- */

/* Settings as sq_source_settings_write writes them, with slot `slot` and key format `format`. */
static const char *settings_of(struct fixture *f, const char *slot, const char *format)
{
    return sq_arena_printf(&f->arena,
                           "{\"url\":\"postgres://r@db/app\",\"slot\":\"%s\","
                           "\"publication\":\"sequin_pub\",\"tables\":[\"public.orders\"],"
                           "\"key_format\":\"%s\",\"backfill\":false}",
                           slot, format);
}

static size_t reconcile_sources(struct fixture *f, const sq_declared_source *d, size_t n,
                                sq_source_change **out)
{
    size_t count = 0;
    long refused = 99;
    int rc = sq_store_reconcile_sources(f->store, d, n, out, &count, &refused, &f->arena, f->err,
                                        sizeof f->err);
    if (rc != SQ_OK)
        fail_msg("reconcile_sources: %d %s", rc, f->err);
    assert_int_equal(refused, -1);
    return count;
}

/* Every source as "name:managed_by:stream:key_format:slot". */
#define SOURCES_SQL                                                                                \
    "SELECT coalesce(string_agg(x.name || ':' || x.managed_by || ':' || s.name || ':' || "         \
    "coalesce(x.settings->>'key_format', '') || ':' || (x.settings->>'slot'), ' ' "                \
    "ORDER BY x.name), '') "                                                                       \
    "FROM sequin.sources x JOIN sequin.streams s ON s.num = x.stream"

static void test_sources(void **state)
{
    struct fixture *f = *state;
    sq_source_change *ch;
    pgt_stream(f, "orders");
    sq_declared_source d[2] = {
        {"a", "default", settings_of(f, "slot_a", "basic"), "postgres"},
        {"b", "orders", settings_of(f, "slot_b", "basic"), "postgres"},
    };

    /* Created, the config's; the same file again changes nothing. */
    assert_int_equal(reconcile_sources(f, d, 2, &ch), 2);
    for (long i = 0; i < 2; i++) {
        assert_int_equal(ch[i].action, SQ_RECONCILE_CREATED);
        assert_int_equal(ch[i].declared, i);
        assert_string_equal(ch[i].name, d[i].name);
        assert_null(ch[i].changes);
        assert_string_equal(ch[i].publication, "sequin_pub");
    }
    assert_string_equal(ch[1].slot, "slot_b");
    assert_sql(SOURCES_SQL, "a:config:default:basic:slot_a b:config:orders:basic:slot_b");
    char *settings =
        pgt_value("SELECT settings::text FROM sequin.sources WHERE name = 'a'", 0, NULL);
    assert_non_null(strstr(settings, "\"key_format\": \"basic\""));
    free(settings);
    char *id_a = pgt_value("SELECT id::text FROM sequin.sources WHERE name = 'a'", 0, NULL);
    assert_string_equal(ch[0].id, id_a);
    assert_int_equal(reconcile_sources(f, d, 2, &ch), 2);
    assert_int_equal(ch[0].action, SQ_RECONCILE_UNCHANGED);
    assert_int_equal(ch[1].action, SQ_RECONCILE_UNCHANGED);

    /* Other settings, another stream, another url: updated, said setting by setting (the url
     * by name alone, as it may hold a password), the same source (its id, its position). */
    d[0].settings = settings_of(f, "slot_a", "with_operation");
    d[1].stream = "default";
    d[1].settings = sq_arena_printf(&f->arena, "{\"url\":\"postgres://r:secret@db2/app\"%s",
                                    strchr(settings_of(f, "slot_b", "basic"), ','));
    assert_int_equal(reconcile_sources(f, d, 2, &ch), 2);
    assert_int_equal(ch[0].action, SQ_RECONCILE_UPDATED);
    assert_string_equal(ch[0].changes, "key_format \"basic\" -> \"with_operation\"");
    assert_string_equal(ch[0].id, id_a);
    assert_int_equal(ch[1].action, SQ_RECONCILE_UPDATED);
    assert_string_equal(ch[1].changes, "url, stream \"orders\" -> \"default\"");
    assert_sql(SOURCES_SQL, "a:config:default:with_operation:slot_a b:config:default:basic:slot_b");
    free(id_a);

    /* An API source of a declared name is adopted with the declared settings; another API
     * source is left alone; a refused file changes nothing. */
    PGconn *c = pgt_connect();
    pgt_exec(c, "INSERT INTO sequin.sources (name, kind, stream, settings) "
                "SELECT n, 'postgres', num, '{\"url\":\"x\",\"slot\":\"s\"}' "
                "  FROM sequin.streams, (VALUES ('c'), ('api')) v(n) WHERE name = 'default'");
    PQfinish(c);
    sq_declared_source d3[3] = {
        d[0], d[1], {"c", "orders", settings_of(f, "slot_c", "basic"), "postgres"}};
    char *before = pgt_value(SOURCES_SQL, 0, NULL);
    d3[1].stream = "gone";
    long at = 99;
    size_t count = 0;
    assert_int_equal(sq_store_reconcile_sources(f->store, d3, 3, &ch, &count, &at, &f->arena,
                                                f->err, sizeof f->err),
                     SQ_STORE_NOT_FOUND);
    assert_int_equal(at, 1);
    assert_string_equal(f->err, "source \"b\" writes into stream \"gone\", which does not exist: "
                                "declare the stream under \"streams\", or create it through the "
                                "API");
    assert_sql(SOURCES_SQL, before);
    free(before);
    d3[1].stream = "default";
    assert_int_equal(reconcile_sources(f, d3, 3, &ch), 3);
    assert_int_equal(ch[2].action, SQ_RECONCILE_ADOPTED);
    assert_non_null(strstr(ch[2].changes, "slot \"s\" -> \"slot_c\""));
    assert_non_null(strstr(ch[2].changes, "stream \"default\" -> \"orders\""));
    assert_sql(SOURCES_SQL, "a:config:default:with_operation:slot_a api:api:default::s "
                            "b:config:default:basic:slot_b c:config:orders:basic:slot_c");

    /* b gone from the file: deleted (with what it leaves in its database), the rest kept. */
    sq_declared_source d2[2] = {d3[0], d3[2]};
    assert_int_equal(reconcile_sources(f, d2, 2, &ch), 3);
    assert_int_equal(ch[0].action, SQ_RECONCILE_UNCHANGED);
    assert_int_equal(ch[1].action, SQ_RECONCILE_UNCHANGED);
    assert_int_equal(ch[2].action, SQ_RECONCILE_DELETED);
    assert_string_equal(sq_reconcile_action_name(ch[2].action), "deleted");
    assert_string_equal(ch[2].name, "b");
    assert_int_equal(ch[2].declared, -1);
    assert_string_equal(ch[2].slot, "slot_b");
    assert_string_equal(ch[2].publication, "sequin_pub");
    assert_sql(SOURCES_SQL, "a:config:default:with_operation:slot_a api:api:default::s "
                            "c:config:orders:basic:slot_c");

    /* None declared: every source of the file deleted, the API's kept. */
    assert_int_equal(reconcile_sources(f, NULL, 0, &ch), 2);
    assert_int_equal(ch[0].action, SQ_RECONCILE_DELETED);
    assert_int_equal(ch[1].action, SQ_RECONCILE_DELETED);
    assert_sql(SOURCES_SQL, "api:api:default::s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PGT_STORE_TEST(test_create_update_unchanged),
        PGT_STORE_TEST(test_refusals_change_nothing),
        PGT_STORE_TEST(test_release),
        PGT_STORE_TEST(test_adoption),
        PGT_STORE_TEST(test_api_create_of_a_declared_name),
        PGT_STORE_TEST(test_concurrent_reconciles),
        PGT_STORE_TEST(test_begin_finish),
        PGT_STORE_TEST(test_sources),
    };
    return cmocka_run_group_tests_name("store_reconcile", tests, NULL, NULL);
}
