/* The postgres source under failures (issue 14; docs/sources.md, "Guarantees"). While a writer
 * changes the table: kill -9 of the sources process and of the master, a dropped replication
 * connection, a restart of the PostgreSQL that holds both the table and the stream, of the one
 * that holds the table, of the one that holds the stream, a crash of the one that holds the
 * table (its slot goes back, and sends again what the stream has); two nodes on one source, the
 * one that streams killed; a backfill cut by a kill. After each fault the source streams again,
 * the stream equals the table, and a consumer has seen every row at its last version and never
 * an older version after a newer one. What each took is printed.
 *
 * It restarts PostgreSQL and streams a table of a second cluster: test/run-test gives it two
 * clusters of its own (SEQUIN_TEST_PGDATA the store's, SEQUIN_TEST_SOURCE_PGDATA and
 * SEQUIN_TEST_SOURCE_DATABASE_URL the other's). */
#include <setjmp.h>
#include <signal.h>
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

#include "api_client.h"
#include "pg_fixture.h"
#include "sequin/common.h"
#include "sequind_harness.h"
#include "source_fixture.h"

enum {
    ROWS = 2000,           /* rows of the table in the fault tests */
    WRITE_MS = 700,        /* the writer writes this long before a fault and after it */
    BACK_MS = 30000,       /* a fault's bound: the source streams again within this */
    EQUAL_MS = 30000,      /* and the stream equals the table this long after the writes */
    TAKEOVER_MS = 10000,   /* a standby node streams within this once the first has died */
    BACKFILL_ROWS = 60000, /* four pages of backfill: 1,000, then up to 20,000 each */
};

/* The source database in the other cluster. */
static const char *other_cluster(void)
{
    const char *url = getenv("SEQUIN_TEST_SOURCE_DATABASE_URL");
    if (url == NULL || *url == '\0' || getenv("SEQUIN_TEST_SOURCE_PGDATA") == NULL)
        fail_msg("SEQUIN_TEST_SOURCE_DATABASE_URL is not set: the test needs a second cluster "
                 "of its own (run it through test/run-test)");
    return url;
}

static int teardown(void **state)
{
    sfx_stop_writers();
    int rc = teardown_server(state);
    sfx_drop_slot(db_url());
    sfx_drop_slot(other_cluster());
    sfx_clear_store();
    return rc;
}

/* A server, the table of `url` with `rows` rows streamed into it (backfilled), and a consumer
 * that has seen them all. Static in each test, as its writer must be (sfx_writer_start). */
struct rig {
    struct server *s;
    const char *url;
    struct sfx_writer w;
    struct sfx_seen seen;
};

static void rig_start(struct rig *r, void **state, const char *url)
{
    memset(r, 0, sizeof *r);
    r->url = url;
    sfx_fresh(url);
    sfx_fill(url, ROWS);
    r->s = *state = api_serve(NULL);
    sfx_consumer(r->s->port);
    sfx_seen_init(&r->seen, 2 * ROWS + 1);
    sfx_add_source(url, "basic", true);
    sfx_wait_streaming(url, 0, BACK_MS);
    sfx_wait_equal(r->s->port, &r->seen, url, EQUAL_MS);
}

/* The sources process of `s`. */
static pid_t sources_of(const struct server *s)
{
    pid_t kids[MAX_PIDS];
    if (children_of_kind(s->pid, "sources", kids, MAX_PIDS) != 1)
        fail_msg("the master %ld runs no sources process", (long)s->pid);
    return kids[0];
}

/* ---- the faults: each returns once it is over (a killed master replaced, a PostgreSQL up) ---- */

static void kill_sources(struct rig *r)
{
    assert_int_equal(kill(sources_of(r->s), SIGKILL), 0);
}

static void kill_master(struct rig *r)
{
    char err[256];
    if (kill_master_and_restart(r->s, err, sizeof err) < 0)
        fail_msg("%s", err);
}

/* The replication connection ends under the source: its walsender terminated. */
static void drop_replication(struct rig *r)
{
    PGconn *c = sfx_connect(r->url);
    char *ok = pgt_value_on(c,
                            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                            "WHERE slot_name = '" SFX_SLOT "' AND active",
                            0, NULL);
    assert_string_equal(ok, "t");
    free(ok);
    PQfinish(c);
}

static void restart(const char *pgdata, const char *mode)
{
    char err[256];
    if (restart_postgres_at(pgdata, mode, err, sizeof err) < 0)
        fail_msg("%s", err);
}

static void restart_store_pg(struct rig *r)
{
    (void)r;
    restart(getenv("SEQUIN_TEST_PGDATA"), "fast");
}

static void restart_source_pg(struct rig *r)
{
    (void)r;
    restart(getenv("SEQUIN_TEST_SOURCE_PGDATA"), "fast");
}

/* The source's PostgreSQL crashes and recovers: its slot's confirmed position goes back to
 * what its last checkpoint saved, so the slot sends again transactions the stream has. (The
 * store's is not crashed: the test clusters run with synchronous_commit=off, under which a
 * crash loses commits PostgreSQL has acknowledged.) */
static void crash_source_pg(struct rig *r)
{
    (void)r;
    restart(getenv("SEQUIN_TEST_SOURCE_PGDATA"), "immediate");
}

struct fault {
    const char *name;
    void (*inject)(struct rig *r);
};

/* Drains the consumer for `ms`. */
static void drain_for(struct rig *r, int ms)
{
    int64_t until = now_ms() + ms;
    while (now_ms() < until)
        sfx_drain(r->s->port, &r->seen, 100);
}

/* The table of `url` streamed, then each fault in turn while the writer writes: the source
 * streams again (a walsender other than the one before), and once the writer stops the stream
 * equals the table and the consumer has seen it all. */
static void run_faults(void **state, const char *url, const struct fault *faults, size_t n)
{
    static struct rig rig;
    struct rig *r = &rig;
    rig_start(r, state, url);
    for (size_t i = 0; i < n; i++) {
        sfx_writer_start(&r->w, r->url, ROWS);
        drain_for(r, WRITE_MS);
        int before = sfx_active_pid(r->url);
        assert_true(before > 0);
        int64_t start = now_ms();
        faults[i].inject(r);
        int64_t over = now_ms() - start;
        sfx_wait_streaming(r->url, before, BACK_MS);
        int64_t back = now_ms() - start;
        drain_for(r, WRITE_MS);
        long changes = r->w.changes;
        sfx_writer_stop(&r->w);
        int64_t equal = sfx_wait_equal(r->s->port, &r->seen, r->url, EQUAL_MS);
        sfx_check_seen(&r->seen, r->url);
        print_message("%-32s over in %5lld ms, streaming again after %5lld ms, the stream equal "
                      "to the table %5lld ms after the writes (%ld changes so far)\n",
                      faults[i].name, (long long)over, (long long)back, (long long)equal, changes);
    }
    assert_true(r->w.changes > 100);
    /* The source says it streams, without an error. */
    assert_int_equal(pgt_long("SELECT count(*) FROM sequin.source_status WHERE state = "
                              "'streaming' AND error IS NULL",
                              0, NULL),
                     1);
    sfx_seen_free(&r->seen);
}

/* The table and the stream in one cluster: a fault of PostgreSQL cuts both. */
static void test_faults_one_cluster(void **state)
{
    static const struct fault faults[] = {
        {"kill -9 of the sources process", kill_sources},
        {"walsender terminated", drop_replication},
        {"kill -9 of the master", kill_master},
        {"PostgreSQL restarted", restart_store_pg},
    };
    run_faults(state, db_url(), faults, SQ_ARRAY_LEN(faults));
}

/* The table in another cluster than the stream: each restarts on its own, and the table's
 * crashes. */
static void test_faults_two_clusters(void **state)
{
    static const struct fault faults[] = {
        {"walsender terminated", drop_replication},
        {"source's PostgreSQL restarted", restart_source_pg},
        {"stream's PostgreSQL restarted", restart_store_pg},
        {"kill -9 of the sources process", kill_sources},
        {"source's PostgreSQL crashed", crash_source_pg},
    };
    run_faults(state, other_cluster(), faults, SQ_ARRAY_LEN(faults));
}

/* What sequin.source_status.node says of the sources process `pid` (sq_store_source_report). */
static void node_name(pid_t pid, char *out, size_t size)
{
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(out, size, "%s:%ld", host, (long)pid);
}

/* The backends of the store that hold the source's lock. */
static long long lock_holders(void)
{
    return pgt_long("SELECT count(*) FROM pg_locks l, sequin.sources s "
                    " WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.objid = s.num "
                    "   AND l.granted AND l.database = (SELECT oid FROM pg_database "
                    "                                    WHERE datname = current_database())",
                    0, NULL);
}

/* Two nodes on one store and one source: while both run, one holds the lock and streams and
 * the other never tries the slot; when the first dies at once (kill -9 of its master and
 * children, as a lost machine), the second streams within seconds, and nothing is lost. */
static void test_two_nodes_one_streams(void **state)
{
    static struct rig r;
    rig_start(&r, state, other_cluster());
    struct server *a = r.s;
    int walsender = sfx_active_pid(r.url);
    struct server *b = api_serve(NULL);
    char node_a[128], node_b[128];
    node_name(sources_of(a), node_a, sizeof node_a);
    node_name(sources_of(b), node_b, sizeof node_b);
    const char *params[1] = {node_a};

    sfx_writer_start(&r.w, r.url, ROWS);
    int64_t until = now_ms() + 2000;
    while (now_ms() < until) {
        sfx_drain(b->port, &r.seen, 100);
        long long holders = lock_holders();
        int pid = sfx_active_pid(r.url);
        char *status = pgt_value("SELECT node || ' ' || state || ' ' || coalesce(error, '') "
                                 "FROM sequin.source_status",
                                 0, NULL);
        if (holders != 1 || pid != walsender || strncmp(status, node_a, strlen(node_a)) != 0 ||
            status[strlen(node_a)] != ' ')
            fail_msg("with two nodes up, %lld backends hold the source's lock, walsender %d "
                     "streams the slot (%d did), and the source reports \"%s\" (node %s should)",
                     holders, pid, walsender, status, node_a);
        free(status);
    }
    assert_true(log_has(a, "streaming slot"));
    assert_false(log_has(b, "streaming slot"));

    pid_t kids[MAX_PIDS];
    size_t n = children_of(a->pid, kids, MAX_PIDS);
    int64_t start = now_ms();
    for (size_t i = 0; i < n; i++)
        kill(kids[i], SIGKILL);
    assert_int_equal(kill(a->pid, SIGKILL), 0);
    assert_int_equal(waitpid(a->pid, NULL, 0), a->pid);
    a->pid = 0;

    params[0] = node_b;
    while (pgt_long("SELECT count(*) FROM sequin.source_status WHERE node = $1 AND state = "
                    "'streaming'",
                    1, params) != 1 ||
           sfx_active_pid(r.url) <= 0 || sfx_active_pid(r.url) == walsender) {
        if (now_ms() - start > TAKEOVER_MS)
            fail_msg("the second node did not stream within %d ms of the first one's death",
                     TAKEOVER_MS);
        sleep_ms(20);
    }
    int64_t takeover = now_ms() - start;
    assert_int_equal(lock_holders(), 1);
    r.s = b;
    drain_for(&r, WRITE_MS);
    sfx_writer_stop(&r.w);
    int64_t equal = sfx_wait_equal(b->port, &r.seen, r.url, EQUAL_MS);
    sfx_check_seen(&r.seen, r.url);
    print_message("the second node streamed %lld ms after the first one's kill; the stream "
                  "equal to the table %lld ms after the writes (%ld changes)\n",
                  (long long)takeover, (long long)equal, r.w.changes);
    sfx_seen_free(&r.seen);
}

/* The backfill's progress: rows done, whether done, the last key put in (0: none). */
struct progress {
    long long rows, last_key;
    bool done;
};

static struct progress progress(void)
{
    PGconn *c = pgt_connect();
    PGresult *res = PQexec(c, "SELECT rows_done, done, coalesce(last_key[1]::int, 0) "
                              "FROM sequin.source_backfills");
    struct progress p = {0, 0, false};
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    if (PQntuples(res) == 1)
        p = (struct progress){atoll(PQgetvalue(res, 0, 0)), atoll(PQgetvalue(res, 0, 2)),
                              PQgetvalue(res, 0, 1)[0] == 't'};
    PQclear(res);
    PQfinish(c);
    return p;
}

/* A backfill cut by kill -9 of the sources process after its first page resumes after the last
 * page it put in: its last key never goes back, it does not count a page twice, and it ends with
 * the stream equal to the table. */
static void test_backfill_resumes_after_kill(void **state)
{
    const char *url = db_url();
    static struct sfx_writer w;
    struct sfx_seen seen;

    memset(&w, 0, sizeof w);
    sfx_fresh(url);
    sfx_fill(url, BACKFILL_ROWS);
    struct server *s = *state = api_serve(NULL);
    sfx_consumer(s->port);
    sfx_seen_init(&seen, 2 * BACKFILL_ROWS + 1);
    sfx_writer_start(&w, url, BACKFILL_ROWS);
    sfx_add_source(url, "basic", true);

    struct progress p = progress(), cut = p;
    int64_t deadline = now_ms() + BACK_MS;
    while (p.rows == 0 && now_ms() < deadline) {
        sleep_ms(10);
        p = progress();
    }
    assert_true(p.rows > 0);
    if (p.done)
        fail_msg("the backfill of %d rows was over before it could be cut", BACKFILL_ROWS);
    pid_t killed = sources_of(s);
    int64_t start = now_ms();
    assert_int_equal(kill(killed, SIGKILL), 0);

    /* Watched until done: the last key only moves forward. The cut is where the killed process
     * left the backfill, read once the next one holds the source's lock: the killed one's
     * store connection is gone by then, with its last page in or not. */
    int64_t resumed = -1;
    bool have_cut = false;
    deadline = now_ms() + EQUAL_MS;
    while (!p.done || !have_cut) {
        if (now_ms() > deadline)
            fail_msg("the backfill was not done %d ms after the kill (%lld rows)", EQUAL_MS,
                     p.rows);
        struct progress next = progress();
        if (next.last_key < p.last_key)
            fail_msg("the backfill went back from key %lld to %lld", p.last_key, next.last_key);
        pid_t respawned;
        char node[128];
        if (!have_cut && children_of_kind(s->pid, "sources", &respawned, 1) == 1 &&
            respawned != killed) {
            node_name(respawned, node, sizeof node);
            const char *params[1] = {node};
            have_cut = pgt_long("SELECT count(*) FROM sequin.source_status WHERE node = $1", 1,
                                params) == 1;
            cut = next;
        } else if (have_cut && resumed < 0 && next.rows > cut.rows) {
            resumed = now_ms() - start;
        }
        p = next;
        sleep_ms(10);
    }
    if (cut.done)
        fail_msg("the backfill of %d rows was over when its process was killed", BACKFILL_ROWS);
    sfx_writer_stop(&w);
    int64_t equal = sfx_wait_equal(s->port, &seen, url, EQUAL_MS);
    sfx_check_seen(&seen, url);
    print_message("backfill cut at %lld rows (key %lld), its next page in %lld ms after the kill, "
                  "%lld rows in all; the stream equal to the table %lld ms after the writes\n",
                  cut.rows, cut.last_key, (long long)resumed, p.rows, (long long)equal);
    /* Every page counted once: a backfill started over would count the cut's rows twice. */
    if (p.rows > BACKFILL_ROWS + w.inserts)
        fail_msg("the backfill counted %lld rows of at most %ld", p.rows,
                 BACKFILL_ROWS + w.inserts);
    assert_true(resumed > 0);
    sfx_seen_free(&seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_faults_one_cluster, teardown),
        cmocka_unit_test_teardown(test_faults_two_clusters, teardown),
        cmocka_unit_test_teardown(test_two_nodes_one_streams, teardown),
        cmocka_unit_test_teardown(test_backfill_resumes_after_kill, teardown),
    };
    return cmocka_run_group_tests_name("source_faults", tests, NULL, NULL);
}
