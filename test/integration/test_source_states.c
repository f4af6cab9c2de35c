/* The postgres source given bad input and odd data, against real PostgreSQL servers: a wrong
 * URL, a role without REPLICATION or SELECT, wal_level replica, a slot another client streams, a
 * table without a key, a publication of the store's own tables, a key too long: each puts its
 * source in state error with a sentence saying why, while the server answers HTTP and a healthy
 * source of the same sequind goes on streaming; tables altered or dropped while streaming,
 * partitioned ones, keys that move or come from a replica identity index; and every type,
 * composite key and unchanged TOASTed value reaching the stream exactly. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "api_client.h"
#include "pg_fixture.h"
#include "sequin/json.h"
#include "sequind_harness.h"

/* How long a source may take to reach a state or a change to reach the stream: a failing
 * source retries after 0.5 s doubling, so a few attempts fit with room for a loaded machine. */
#define WAIT_MS 30000

/* Slots and roles belong to the cluster, which other test programs share: their names start
 * with the test database's, which is unique. */
static char dbname[64];
static char hostport[64]; /* "127.0.0.1:5432" of the test cluster */
static int good_rows;     /* rows inserted into public.good by this test */
static pid_t sources;     /* the server's sources process when the test began */

/* `out` is the test database's name followed by "_" and `what`. */
static void named(char *out, size_t size, const char *what)
{
    api_format(out, size, "%s_%s", dbname, what);
}

/* The URL of database `db` on the test cluster as role `role`. */
static void url_as(char *out, size_t size, const char *role, const char *db)
{
    api_format(out, size, "postgresql://%s@%s/%s", role, hostport, db);
}

/* `text` with each backtick made a double quote: the expected JSON below reads better so. */
static char *bq(const char *text)
{
    char *out = strdup(text);
    for (char *p = out; *p; p++)
        if (*p == '`')
            *p = '"';
    return out;
}

/* ---- sources and their reports ------------------------------------------------------------- */

/* Declares a source as the config file and the API will: a row of sequin.sources, which the
 * sources process picks up within a second. `tables` is a JSON array, or NULL for all the
 * tables of a publication that exists. */
static void add_source(const char *name, const char *url, const char *slot, const char *pub,
                       const char *tables, const char *key_format, bool backfill)
{
    char settings[2048];
    api_format(settings, sizeof settings,
               "{\"url\":\"%s\",\"slot\":\"%s\",\"publication\":\"%s\",%s%s%s"
               "\"key_format\":\"%s\",\"backfill\":%s}",
               url, slot, pub, tables ? "\"tables\":" : "", tables ? tables : "", tables ? "," : "",
               key_format, backfill ? "true" : "false");
    const char *params[2] = {name, settings};
    free(pgt_value("INSERT INTO sequin.sources (name, kind, stream, settings) "
                   "SELECT $1, 'postgres', num, $2::jsonb FROM sequin.streams "
                   " WHERE name = 'default' RETURNING name",
                   2, params));
}

/* add_source over the test database as its owner, with slot and publication named after
 * `what` (the slot made unique in the cluster, the publication `what`_pub). */
static void declare(const char *name, const char *what, const char *tables, const char *key_format,
                    bool backfill)
{
    char url[256], slot[96], pub[96];
    url_as(url, sizeof url, "sequin", dbname);
    named(slot, sizeof slot, what);
    api_format(pub, sizeof pub, "%s_pub", what);
    add_source(name, url, slot, pub, tables, key_format, backfill);
}

/* How many messages source mydb has put in the stream. */
static long long mydb_messages(void)
{
    return pgt_long("SELECT count(*) FROM sequin.messages WHERE key LIKE 'mydb.%'", 0, NULL);
}

/* What source `name` last reported: "state" or "state: error"; "" before its first report. */
static char *status_of(const char *name)
{
    const char *params[1] = {name};
    return pgt_value("SELECT st.state || coalesce(': ' || st.error, '') "
                     "  FROM sequin.source_status st JOIN sequin.sources s ON s.id = st.source "
                     " WHERE s.name = $1",
                     1, params);
}

/* What the stream and every source's report hold, for the reader of a failure. */
static void print_state(void)
{
    /* Long runs of hex digits (the large values) shortened, so the rest shows. */
    char *stream = pgt_value("SELECT coalesce(string_agg(key || ' ' || left(regexp_replace(data, "
                             "'[0-9a-f]{64,}', '<hex>', 'g'), 600), E'\\n' ORDER BY seq), "
                             "'(none)') FROM sequin.messages",
                             0, NULL);
    char *report = pgt_value("SELECT coalesce(string_agg(s.name || ' ' || st.state || ' ' || "
                             "coalesce(st.error, ''), E'\\n'), '(none)') "
                             "  FROM sequin.source_status st JOIN sequin.sources s "
                             "    ON s.id = st.source",
                             0, NULL);
    fprintf(stderr, "the stream holds:\n%s\nthe sources report:\n%s\n", stream, report);
    free(stream);
    free(report);
}

/* Waits until source `name` reports exactly `want` ("streaming", "error: why"). */
static void wait_status(const char *name, const char *want)
{
    int64_t deadline = now_ms() + WAIT_MS;
    char *got = status_of(name);
    while (strcmp(got, want) != 0) {
        if (now_ms() > deadline) {
            print_state();
            fail_msg("source %s reports\n  \"%s\", not\n  \"%s\"", name, got, want);
        }
        free(got);
        sleep_ms(100);
        got = status_of(name);
    }
    free(got);
}

/* Source `name` is in state error for `why`, in its report and in the server's log (which
 * writes a line break, a tab and a backslash as \n, \t and \\ to keep each entry one line). */
static void wait_error(const struct server *s, const char *name, const char *why)
{
    char want[1024], line[1024];
    api_format(want, sizeof want, "error: %s", why);
    wait_status(name, want);
    size_t n = 0;
    for (const char *p = why; *p && n + 2 < sizeof line; p++) {
        const char *esc = *p == '\n' ? "\\n" : *p == '\t' ? "\\t" : *p == '\\' ? "\\\\" : NULL;
        if (esc) {
            memcpy(line + n, esc, 2);
            n += 2;
        } else {
            line[n++] = *p;
        }
    }
    line[n] = '\0';
    wait_logf(s, "source %s: %s (again in ", name, line);
}

/* The sources process of server `s` (the master names it sequind-sources). */
static pid_t sources_pid(const struct server *s)
{
    pid_t kids[MAX_PIDS];
    size_t n = children_of(s->pid, kids, MAX_PIDS);
    for (size_t i = 0; i < n; i++) {
        char path[64], comm[64] = "";
        snprintf(path, sizeof path, "/proc/%ld/comm", (long)kids[i]);
        FILE *f = fopen(path, "r");
        if (f && fgets(comm, sizeof comm, f) && strcmp(comm, "sequind-sources\n") == 0) {
            fclose(f);
            return kids[i];
        }
        if (f)
            fclose(f);
    }
    fail_msg("server %d has no sources process", s->port);
    return 0;
}

/* ---- messages ------------------------------------------------------------------------------ */

/* Runs `sql` on a connection of its own. */
static void exec1(const char *sql)
{
    PGconn *c = pgt_connect();
    pgt_exec(c, sql);
    PQfinish(c);
}

/* The data of message `key` (malloc'd; "" when the stream has none). */
static char *message_data(const char *key)
{
    const char *params[1] = {key};
    return pgt_value("SELECT data FROM sequin.messages WHERE key = $1", 1, params);
}

/* Whether the metadata part of a message, `meta` (from ',"metadata":' on), names source,
 * schema and table as given and carries a commit LSN (null for a backfill's read) and an
 * RFC 3339 UTC time. */
static bool metadata_ok(const char *meta, const char *source, const char *schema, const char *table)
{
    char head[512];
    api_format(head, sizeof head,
               ",\"metadata\":{\"source\":\"%s\",\"schema\":\"%s\",\"table\":\"%s\","
               "\"commit_lsn\":",
               source, schema, table);
    if (strncmp(meta, head, strlen(head)) != 0)
        return false;
    unsigned hi, lo;
    int y, mo, d, h, mi, sec, us, used = 0;
    const char *p = meta + strlen(head);
    if (strncmp(p, "null,", 5) == 0)
        p += 4, hi = lo = 0; /* sscanf goes on from the comma */
    else if (sscanf(p, "\"%X/%X\"%n", &hi, &lo, &used) == 2 && used > 0)
        p += used;
    else
        return false;
    used = 0;
    if (sscanf(p, ",\"commit_timestamp\":\"%4d-%2d-%2dT%2d:%2d:%2d.%6dZ\"}}%n", &y, &mo, &d, &h,
               &mi, &sec, &us, &used) != 7)
        return false;
    return used > 0 && p[used] == '\0';
}

/*
 * Waits until the stream's message `key` is `want` from its start to its "deleted" flag
 * (backticks stand for double quotes), followed by the metadata of the key's source and of
 * `table` ("schema.table"); the whole is valid JSON. Fails showing what the stream holds.
 */
static void expect_message(const char *key, const char *table, const char *want_bq)
{
    char source[64], schema[64];
    const char *dot = strchr(table, '.');
    api_format(source, sizeof source, "%.*s", (int)strcspn(key, "."), key);
    api_format(schema, sizeof schema, "%.*s", (int)(dot - table), table);
    char *want = bq(want_bq);
    int64_t deadline = now_ms() + WAIT_MS;
    char *data = NULL;
    for (;;) {
        free(data);
        data = message_data(key);
        const char *meta = NULL;
        for (const char *p = data; (p = strstr(p, ",\"metadata\":{")) != NULL; p++)
            meta = p; /* the last: a value may hold the same text */
        if (meta && (size_t)(meta - data) == strlen(want) &&
            strncmp(data, want, strlen(want)) == 0) {
            if (!metadata_ok(meta, source, schema, dot + 1))
                fail_msg("message %s has the wrong metadata: %s", key, meta);
            if (sq_json_validate(data, strlen(data), 0, NULL) != SQ_OK)
                fail_msg("message %s is not valid JSON: %s", key, data);
            break;
        }
        if (now_ms() > deadline) {
            print_state();
            fail_msg("message %s is\n  %s\nnot\n  %s", key, *data ? data : "(none)", want);
        }
        sleep_ms(100);
    }
    free(data);
    free(want);
}

/* A change to make, and a message it must leave in the stream (expect_message's `key`, `table`
 * and `want`); a step without `sql` waits for another message of the change before it. */
typedef struct step {
    const char *sql;
    const char *key, *table, *want;
} step;

static void run_steps(const step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (steps[i].sql)
            exec1(steps[i].sql);
        expect_message(steps[i].key, steps[i].table, steps[i].want);
    }
}
#define RUN_STEPS(steps) run_steps(steps, sizeof steps / sizeof steps[0])

/* Runs `ddl`, declares source mydb (as declare does) and waits until it streams. */
static void stream_mydb(const char *ddl, const char *what, const char *tables,
                        const char *key_format, bool backfill)
{
    exec1(ddl);
    declare("mydb", what, tables, key_format, backfill);
    wait_status("mydb", "streaming");
}

/* Waits until `sql` (a count) gives `want`, or fails naming `what`. */
static void wait_count(const char *sql, long long want, const char *what)
{
    int64_t deadline = now_ms() + WAIT_MS;
    long long got;
    while ((got = pgt_long(sql, 0, NULL)) != want) {
        if (now_ms() > deadline) {
            print_state();
            fail_msg("%s: %lld, not %lld", what, got, want);
        }
        sleep_ms(100);
    }
}

/* ---- the healthy source, and the server around the sick ones ------------------------------ */

/* Server `s` answers HTTP, its sources process is the one it was (nothing crashed it), and
 * source "good" streams: a row inserted into public.good reaches the stream. */
static void assert_others_fine(const struct server *s)
{
    api_resp r = api_call(s->port, "GET", "/readyz", NULL);
    assert_int_equal(r.status, 200);
    api_resp_free(&r);
    api_expect(s->port, "GET", "/api/streams", NULL, 200, "\"default\"");

    char sql[256], key[64];
    good_rows++;
    api_format(sql, sizeof sql, "INSERT INTO public.good VALUES (%d)", good_rows);
    exec1(sql);
    api_format(key, sizeof key, "good.public.good.%d", good_rows);
    char want[128];
    api_format(want, sizeof want,
               "{`action`:`insert`,`data`:{`id`:%d},`changes`:null,`deleted`:false", good_rows);
    expect_message(key, "public.good", want);
    wait_status("good", "streaming");

    assert_int_equal(sources_pid(s), sources);
    if (log_has(s, "respawning"))
        fail_msg("a child of the server died: see its log %s", s->log);
}

/* A server with source "good" streaming table public.good; the test's own tables come next. */
static int setup(void **state)
{
    good_rows = 0;
    exec1("CREATE TABLE public.good (id int PRIMARY KEY)");
    struct server *s = api_serve(NULL);
    *state = s;
    declare("good", "good", "[\"public.good\"]", "basic", false);
    wait_status("good", "streaming");
    sources = sources_pid(s);
    return 0;
}

/* Drops every slot of the test database once nothing streams it (a walsender outlives its
 * client for a moment). */
static void drop_slots(void)
{
    int64_t deadline = now_ms() + WAIT_MS;
    const char *sql = "SELECT count(*) FROM pg_replication_slots WHERE database = "
                      "current_database()";
    while (pgt_long(sql, 0, NULL) > 0 && now_ms() < deadline) {
        PGconn *c = pgt_connect();
        PQclear(PQexec(c, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                          "WHERE database = current_database() AND NOT active"));
        PQfinish(c);
        sleep_ms(100);
    }
}

static int teardown(void **state)
{
    int rc = teardown_server(state);
    drop_slots();
    PGconn *c = pgt_connect();
    pgt_exec(c, "SET client_min_messages = warning");
    pgt_exec(c, "DELETE FROM sequin.sources; DELETE FROM sequin.consumers; "
                "DELETE FROM sequin.messages");
    /* Everything a test made in the database, and the roles it made in the cluster. */
    pgt_exec(c, "DO $$ DECLARE r record; BEGIN "
                "FOR r IN SELECT pubname FROM pg_publication LOOP "
                "  EXECUTE format('DROP PUBLICATION %I', r.pubname); END LOOP; "
                "FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE current_database() "
                "    || '\\_%' LOOP "
                "  EXECUTE format('DROP OWNED BY %I; DROP ROLE %I', r.rolname, r.rolname); "
                "END LOOP; END $$");
    pgt_exec(c, "DROP SCHEMA IF EXISTS \"Odd Schema\" CASCADE; DROP SCHEMA public CASCADE; "
                "CREATE SCHEMA public; GRANT USAGE ON SCHEMA public TO PUBLIC");
    PQfinish(c);
    return rc;
}

/* ---- a cluster of the test's own, for what the shared one cannot be ------------------------ */

struct cluster {
    char dir[128];
    char bindir[256];
    int port;
    bool running;
};
static struct cluster own;

/* Runs PostgreSQL's program `prog` with `args` as the cluster's owner (the "postgres" user when
 * the test runs as root, since initdb refuses root), its output to `dir`/cmd.log. */
static int run_pg(const struct cluster *cl, const char *prog, const char *const *args)
{
    char bin[512], log[256];
    const char *argv[32];
    size_t n = 0;
    snprintf(bin, sizeof bin, "%s/%s", cl->bindir, prog);
    snprintf(log, sizeof log, "%s/cmd.log", cl->dir);
    if (getuid() == 0) {
        argv[n++] = "runuser";
        argv[n++] = "-u";
        argv[n++] = "postgres";
        argv[n++] = "--";
    }
    argv[n++] = bin;
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = -1;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Starts a cluster of the test's own with server options `options`. Its directory is one that
 * test/with-postgres knows (sequin-pg.* with the owner's pid in owner.pid), so a run killed
 * before its teardown leaves nothing for long: the next with-postgres stops and removes it.
 */
static void cluster_start(struct cluster *cl, const char *options)
{
    const char *bindir = getenv("SEQUIN_TEST_PG_BINDIR");
    const char *tmp = getenv("TMPDIR");
    char path[256], pg_opts[512];
    if (!bindir || !*bindir)
        fail_msg("SEQUIN_TEST_PG_BINDIR is not set: run through test/with-postgres");
    snprintf(cl->bindir, sizeof cl->bindir, "%s", bindir);
    snprintf(cl->dir, sizeof cl->dir, "%s/sequin-pg.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(cl->dir))
        fail_msg("mkdtemp: %s", strerror(errno));
    snprintf(path, sizeof path, "%s/owner.pid", cl->dir);
    char pid[32];
    snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    write_file(path, pid);
    chmod(cl->dir, 0755);
    snprintf(path, sizeof path, "%s/data", cl->dir);
    mkdir(path, 0700);
    if (getuid() == 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "chown postgres: '%s' '%s/data'", cl->dir, cl->dir);
        if (system(cmd) != 0)
            fail_msg("%s failed", cmd);
    }
    const char *initdb[] = {"-D", path,   "-U",         "sequin",    "--auth=trust",
                            "-E", "UTF8", "--locale=C", "--no-sync", NULL};
    if (run_pg(cl, "initdb", initdb) != 0)
        fail_msg("initdb failed: see %s/cmd.log", cl->dir);
    char log[256];
    snprintf(log, sizeof log, "%s/server.log", cl->dir);
    for (int attempt = 0; attempt < 5 && !cl->running; attempt++) {
        cl->port = free_port();
        snprintf(pg_opts, sizeof pg_opts,
                 "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off %s", cl->port, cl->dir,
                 options);
        const char *start[] = {"-D", path, "-w",    "-t",    "60", "-l",
                               log,  "-o", pg_opts, "start", NULL};
        cl->running = run_pg(cl, "pg_ctl", start) == 0;
    }
    if (!cl->running)
        fail_msg("the test's own PostgreSQL did not start: see %s", log);
}

/* Stops the cluster (immediate: nothing in it is worth a checkpoint) and removes it. pg_ctl
 * waits for the server's pid file to go, not for the process: a postmaster whose parent does
 * not reap it stays a zombie, which must not make the wait hang. */
static void cluster_stop(struct cluster *cl)
{
    char path[256];
    if (!cl->dir[0])
        return;
    if (cl->running) {
        snprintf(path, sizeof path, "%s/data", cl->dir);
        const char *stop[] = {"-D", path, "-m", "immediate", "-w", "-t", "60", "stop", NULL};
        if (run_pg(cl, "pg_ctl", stop) != 0)
            print_message("pg_ctl stop failed: see %s/cmd.log\n", cl->dir);
        cl->running = false;
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cl->dir);
    if (system(cmd) != 0)
        print_message("%s failed\n", cmd);
    cl->dir[0] = '\0';
}

static int teardown_own_cluster(void **state)
{
    int rc = teardown(state);
    cluster_stop(&own);
    return rc;
}

/* ---- bad input ----------------------------------------------------------------------------- */

/* URLs that reach no database: each source says why, and retries; the good one streams. */
static void test_wrong_url(void **state)
{
    struct server *s = *state;
    char refused[256], nodb[256], badport[256], why[512];
    int port = free_port();
    api_format(refused, sizeof refused, "postgresql://sequin@127.0.0.1:%d/%s", port, dbname);
    url_as(nodb, sizeof nodb, "sequin", "no_such_db");
    api_format(badport, sizeof badport, "postgresql://sequin@127.0.0.1:port/%s", dbname);
    add_source("refused", refused, "s1", "p1", "[\"public.good\"]", "basic", false);
    add_source("nodb", nodb, "s2", "p2", "[\"public.good\"]", "basic", false);
    add_source("badport", badport, "s3", "p3", "[\"public.good\"]", "basic", false);

    api_format(why, sizeof why,
               "cannot connect to the source database: connection to server at \"127.0.0.1\", "
               "port %d failed: Connection refused\n\tIs the server running on that host and "
               "accepting TCP/IP connections?",
               port);
    wait_error(s, "refused", why);
    api_format(why, sizeof why,
               "cannot connect to the source database: connection to server at \"127.0.0.1\", "
               "port %s failed: FATAL:  database \"no_such_db\" does not exist",
               strchr(hostport, ':') + 1);
    wait_error(s, "nodb", why);
    wait_error(s, "badport",
               "cannot connect to the source database: invalid integer value "
               "\"port\" for connection option \"port\"");
    assert_others_fine(s);
    /* They retry, and each attempt says why again. */
    int64_t deadline = now_ms() + WAIT_MS;
    for (;;) {
        char *log = read_file(s->log);
        int tries = count_of(log, "source nodb: cannot connect to the source database");
        free(log);
        if (tries >= 3)
            break;
        if (now_ms() > deadline)
            fail_msg("source nodb tried %d times", tries);
        sleep_ms(100);
    }
    assert_others_fine(s);
}

/* How many lines of server `s`'s log hold `needle`. */
static int log_lines_with(const struct server *s, const char *needle)
{
    FILE *f = fopen(s->log, "r");
    char line[4096];
    int n = 0;
    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* A source whose settings were written into the store by hand and cannot be read: its status
 * says why, the log says it once (not at every poll of the list), nothing else stops, and once
 * the settings are mended it streams. */
static void test_unreadable_settings(void **state)
{
    struct server *s = *state;
    char slot[96], url[256], settings[256];
    named(slot, sizeof slot, "orders");
    url_as(url, sizeof url, "sequin", dbname);
    exec1("CREATE TABLE public.orders (id int PRIMARY KEY)");
    api_format(settings, sizeof settings, "{\"slot\":\"%s\"}", slot);
    const char *params[1] = {settings};
    free(pgt_value("INSERT INTO sequin.sources (name, kind, stream, settings) "
                   "SELECT 'mydb', 'postgres', num, $1::jsonb FROM sequin.streams "
                   " WHERE name = 'default' RETURNING name",
                   1, params));
    wait_status("mydb", "error: its settings cannot be read: settings: \"url\" is required");
    wait_logf(s, "source mydb: its settings cannot be read");
    sleep_ms(2500); /* two more polls of the list */
    assert_int_equal(log_lines_with(s, "source mydb: its settings cannot be read"), 1);
    assert_others_fine(s);

    const char *url_param = url;
    free(pgt_value("UPDATE sequin.sources SET settings = settings || jsonb_build_object("
                   "'url', $1::text, 'publication', 'orders_pub', 'tables', "
                   "'[\"public.orders\"]'::jsonb) WHERE name = 'mydb' RETURNING name",
                   1, &url_param));
    wait_status("mydb", "streaming");
    exec1("INSERT INTO public.orders VALUES (1)");
    expect_message("mydb.public.orders.1", "public.orders",
                   "{`action`:`insert`,`data`:{`id`:1},`changes`:null,`deleted`:false");
    assert_others_fine(s);
}

/* After `fix` (SQL run as the owner; NULL: none), source mydb fails with `why` next, and the
 * other sources stay fine. */
static void refused_until(const struct server *s, const char *fix, const char *why)
{
    if (fix)
        exec1(fix);
    wait_error(s, "mydb", why);
    assert_others_fine(s);
}

/* A role that may not replicate, then may but cannot read the table, then cannot create the
 * publication: each refusal says what to change, and once the database is fixed the source
 * streams without a restart of anything. */
static void test_role_privileges(void **state)
{
    struct server *s = *state;
    char role[96], url[256], slot[96], sql[512], why[512];
    named(role, sizeof role, "replicator");
    named(slot, sizeof slot, "orders");
    url_as(url, sizeof url, role, dbname);
    api_format(sql, sizeof sql, "CREATE ROLE %s LOGIN", role);
    exec1(sql);
    exec1("CREATE TABLE public.orders (id int PRIMARY KEY, status text)");
    add_source("mydb", url, slot, "orders_pub", "[\"public.orders\"]", "basic", false);

    api_format(why, sizeof why,
               "role \"%s\" may not replicate: ALTER ROLE \"%s\" REPLICATION (docs/sources.md)",
               role, role);
    refused_until(s, NULL, why);

    api_format(sql, sizeof sql, "ALTER ROLE %s REPLICATION", role);
    api_format(why, sizeof why,
               "role \"%s\" may not read table public.orders: GRANT SELECT ON public.orders TO "
               "\"%s\"",
               role, role);
    refused_until(s, sql, why);

    api_format(sql, sizeof sql, "GRANT SELECT ON public.orders TO %s", role);
    api_format(why, sizeof why,
               "cannot create the publication: ERROR:  permission denied for database %s", dbname);
    refused_until(s, sql, why);

    /* The owner makes the publication: the source uses it as it is, and streams as the role. */
    exec1("CREATE PUBLICATION orders_pub FOR TABLE public.orders");
    wait_status("mydb", "streaming");
    exec1("INSERT INTO public.orders VALUES (1, 'new')");
    expect_message("mydb.public.orders.1", "public.orders",
                   "{`action`:`insert`,`data`:{`id`:1,`status`:`new`},`changes`:null,"
                   "`deleted`:false");
    const char *params[2] = {slot, role};
    assert_int_equal(pgt_long("SELECT count(*) FROM pg_replication_slots s JOIN pg_stat_activity "
                              "a ON a.pid = s.active_pid WHERE s.slot_name = $1 AND a.usename = $2",
                              2, params),
                     1);
    assert_others_fine(s);
}

/* A source database whose wal_level is replica (a cluster of the test's own). */
static void test_wal_level_replica(void **state)
{
    struct server *s = *state;
    char url[256];
    cluster_start(&own, "-c wal_level=replica");
    api_format(url, sizeof url, "postgresql://sequin@127.0.0.1:%d/postgres", own.port);
    add_source("replica", url, "sqt_replica", "replica_pub", "[\"public.t\"]", "basic", false);
    wait_error(s, "replica",
               "wal_level is replica on the source database; logical replication needs "
               "wal_level = logical (ALTER SYSTEM SET wal_level = logical, then restart it)");
    assert_others_fine(s);
}

/* A slot another client streams: the source says who holds it, and takes the slot once the
 * other client lets it go. */
static void test_slot_in_use(void **state)
{
    struct server *s = *state;
    char slot[96], sql[256], why[256];
    named(slot, sizeof slot, "held");
    exec1("CREATE TABLE public.orders (id int PRIMARY KEY, status text)");
    exec1("CREATE PUBLICATION held_pub FOR TABLE public.orders");
    api_format(sql, sizeof sql, "SELECT pg_create_logical_replication_slot('%s', 'pgoutput')",
               slot);
    exec1(sql);

    /* The other client: a replication connection streaming the slot, as pg_recvlogical. */
    const char *const keys[] = {"dbname", "replication", NULL};
    const char *const values[] = {db_url(), "database", NULL};
    PGconn *holder = PQconnectdbParams(keys, values, 1);
    assert_int_equal(PQstatus(holder), CONNECTION_OK);
    api_format(sql, sizeof sql,
               "START_REPLICATION SLOT %s LOGICAL 0/0 (proto_version '1', publication_names "
               "'held_pub')",
               slot);
    PGresult *r = PQexec(holder, sql);
    assert_int_equal(PQresultStatus(r), PGRES_COPY_BOTH);
    PQclear(r);

    declare("mydb", "held", "[\"public.orders\"]", "basic", false);
    api_format(why, sizeof why,
               "cannot start streaming the slot: ERROR:  replication slot \"%s\" is active for "
               "PID %d",
               slot, PQbackendPID(holder));
    wait_error(s, "mydb", why);
    exec1("INSERT INTO public.orders VALUES (1, 'while held')");
    assert_others_fine(s);

    /* Let go: the source takes the slot and streams what was written meanwhile. */
    PQfinish(holder);
    wait_status("mydb", "streaming");
    expect_message("mydb.public.orders.1", "public.orders",
                   "{`action`:`insert`,`data`:{`id`:1,`status`:`while held`},`changes`:null,"
                   "`deleted`:false");
    assert_others_fine(s);
}

/* A table without a primary key is refused, with or without REPLICA IDENTITY FULL; a unique
 * index made the replica identity is a key; and adding a primary key is enough to start. */
static void test_table_without_key(void **state)
{
    static const step by_index[] = {
        {"INSERT INTO public.by_index VALUES (NULL, 'a.b', 'x')", "byindex.public.by_index.a%2Eb",
         "public.by_index",
         "{`action`:`insert`,`data`:{`id`:null,`code`:`a.b`,`note`:`x`},`changes`:null,"
         "`deleted`:false"},
        {"DELETE FROM public.by_index", "byindex.public.by_index.a%2Eb", "public.by_index",
         "{`action`:`delete`,`data`:{`code`:`a.b`},`changes`:null,`deleted`:true"},
    };
    static const step keyed[] = {
        {"INSERT INTO public.nokey VALUES (5, 'keyed now')", "nokey.public.nokey.5", "public.nokey",
         "{`action`:`insert`,`data`:{`id`:5,`note`:`keyed now`},`changes`:null,`deleted`:false"},
    };
    struct server *s = *state;
    exec1("CREATE TABLE public.nokey (id int NOT NULL, note text); "
          "CREATE TABLE public.full_only (id int NOT NULL, note text); "
          "ALTER TABLE public.full_only REPLICA IDENTITY FULL; "
          "CREATE TABLE public.by_index (id int, code text NOT NULL, note text); "
          "CREATE UNIQUE INDEX by_index_code ON public.by_index (code); "
          "ALTER TABLE public.by_index REPLICA IDENTITY USING INDEX by_index_code");
    declare("nokey", "nokey", "[\"public.nokey\"]", "basic", false);
    declare("fullonly", "full", "[\"public.full_only\"]", "basic", false);
    declare("byindex", "index", "[\"public.by_index\"]", "basic", false);

    wait_error(s, "nokey",
               "table public.nokey has no primary key, so its rows have no key: add a primary "
               "key, or REPLICA IDENTITY USING INDEX with a unique index on NOT NULL columns");
    wait_error(s, "fullonly",
               "table public.full_only has no primary key, so its rows have no key: add a "
               "primary key, or REPLICA IDENTITY USING INDEX with a unique index on NOT NULL "
               "columns");
    assert_int_equal(pgt_long("SELECT count(*) FROM pg_publication WHERE pubname IN "
                              "('nokey_pub', 'full_pub')",
                              0, NULL),
                     0);
    wait_status("byindex", "streaming");
    RUN_STEPS(by_index);
    assert_others_fine(s);

    exec1("ALTER TABLE public.nokey ADD PRIMARY KEY (id)");
    wait_status("nokey", "streaming");
    RUN_STEPS(keyed);
    assert_others_fine(s);
}

/* A table with a primary key whose replica identity is another unique index: a delete's WAL
 * carries that index's columns alone, so they are the rows' key, for every action alike. */
static void test_identity_index_beside_primary_key(void **state)
{
    static const step steps[] = {
        {"INSERT INTO public.ident VALUES (1, 'one', 'a')", "mydb.public.ident.one", "public.ident",
         "{`action`:`insert`,`data`:{`id`:1,`code`:`one`,`note`:`a`},`changes`:null,"
         "`deleted`:false"},
        {"UPDATE public.ident SET note = 'b' WHERE id = 1", "mydb.public.ident.one", "public.ident",
         "{`action`:`update`,`data`:{`id`:1,`code`:`one`,`note`:`b`},`changes`:{},"
         "`deleted`:false"},
        {"DELETE FROM public.ident WHERE id = 1", "mydb.public.ident.one", "public.ident",
         "{`action`:`delete`,`data`:{`code`:`one`},`changes`:null,`deleted`:true"},
    };
    stream_mydb("CREATE TABLE public.ident (id int PRIMARY KEY, code text NOT NULL, note text); "
                "CREATE UNIQUE INDEX ident_code ON public.ident (code); "
                "ALTER TABLE public.ident REPLICA IDENTITY USING INDEX ident_code",
                "ident", "[\"public.ident\"]", "basic", false);
    RUN_STEPS(steps);
    wait_status("mydb", "streaming");
    assert_others_fine(*state);
}

/* A publication FOR ALL TABLES in the store's own database publishes the store's tables too:
 * streaming them would write each message back as a change of sequin.messages, without end.
 * It is refused, saying so; the same source with a publication of the user's tables streams. */
static void test_publication_of_the_store(void **state)
{
    static const step steps[] = {
        {"INSERT INTO public.orders VALUES (1, 'new')", "mydb.public.orders.1", "public.orders",
         "{`action`:`insert`,`data`:{`id`:1,`status`:`new`},`changes`:null,`deleted`:false"},
    };
    struct server *s = *state;
    char why[512];
    exec1("CREATE TABLE public.orders (id int PRIMARY KEY, status text); "
          "CREATE PUBLICATION all_pub FOR ALL TABLES");
    declare("mydb", "all", NULL, "basic", false);
    /* The first of the store's tables by name: which one depends on the schema's version. */
    char *first = pgt_value("SELECT 'sequin.' || min(tablename) FROM pg_tables WHERE schemaname "
                            "= 'sequin'",
                            0, NULL);
    api_format(why, sizeof why,
               "publication \"all_pub\" publishes %s, a table of Sequin's own: the source would "
               "stream its own writes back into the stream; publish the tables to stream alone "
               "(CREATE PUBLICATION ... FOR TABLE ...)",
               first);
    free(first);
    wait_error(s, "mydb", why);
    assert_others_fine(s);

    exec1("DROP PUBLICATION all_pub; CREATE PUBLICATION all_pub FOR TABLE public.orders");
    wait_status("mydb", "streaming");
    RUN_STEPS(steps);
    assert_others_fine(s);
    assert_int_equal(mydb_messages(), 1);
}

/* A partitioned table: its rows are the table's, whichever partition holds them, in the
 * backfill and in the changes alike. */
static void test_partitioned_table(void **state)
{
    static const step steps[] = {
        {NULL, "mydb.public.events.1", "public.events",
         "{`action`:`read`,`data`:{`id`:1,`note`:`before`},`changes`:null,`deleted`:false"},
        {"UPDATE public.events SET note = 'after' WHERE id = 1; "
         "INSERT INTO public.events VALUES (500, 'high')",
         "mydb.public.events.1", "public.events",
         "{`action`:`update`,`data`:{`id`:1,`note`:`after`},`changes`:{},`deleted`:false"},
        {NULL, "mydb.public.events.500", "public.events",
         "{`action`:`insert`,`data`:{`id`:500,`note`:`high`},`changes`:null,`deleted`:false"},
    };
    stream_mydb("CREATE TABLE public.events (id int PRIMARY KEY, note text) PARTITION BY RANGE "
                "(id); CREATE TABLE public.events_low PARTITION OF public.events FOR VALUES "
                "FROM (0) TO (100); CREATE TABLE public.events_high PARTITION OF public.events "
                "FOR VALUES FROM (100) TO (1000); INSERT INTO public.events VALUES (1, 'before')",
                "parts", "[\"public.events\"]", "basic", true);
    RUN_STEPS(steps);
    assert_int_equal(mydb_messages(), 2);
    assert_others_fine(*state);
}

/* A row whose key breaks a key rule (over 255 bytes) stops its source with an error naming the
 * table, since the change cannot be put in the stream and must not be dropped; the others go
 * on. */
static void test_key_too_long(void **state)
{
    stream_mydb("CREATE TABLE public.long_keys (k text PRIMARY KEY)", "long",
                "[\"public.long_keys\"]", "basic", false);
    exec1("INSERT INTO public.long_keys VALUES (repeat('k', 300))");
    /* The error shows the key's first 60 bytes. */
    char why[512], shown[61] = "mydb.public.long_keys.";
    memset(shown + strlen(shown), 'k', 60 - strlen(shown));
    shown[60] = '\0';
    api_format(why, sizeof why,
               "the key of a row of table public.long_keys breaks a key rule (a key is at most "
               "255 bytes long): %s...",
               shown);
    wait_error(*state, "mydb", why);
    assert_int_equal(mydb_messages(), 0);
    assert_others_fine(*state);
}

/* ---- tables that change while streaming ---------------------------------------------------- */

/* A column added and one dropped while streaming: the next messages have the table's new shape,
 * also inside one transaction that changes it between two rows; a column's type changed
 * changes its value's JSON; a column's name may be any text. */
static void test_columns_change(void **state)
{
    static const step steps[] = {
        {"INSERT INTO public.shape VALUES (1, 'one', 10)", "mydb.public.shape.1", "public.shape",
         "{`action`:`insert`,`data`:{`id`:1,`a`:`one`,`b`:10},`changes`:null,`deleted`:false"},
        {"ALTER TABLE public.shape ADD COLUMN c jsonb DEFAULT '{\"x\": 1}'; "
         "UPDATE public.shape SET b = 11 WHERE id = 1",
         "mydb.public.shape.1", "public.shape",
         "{`action`:`update`,`data`:{`id`:1,`a`:`one`,`b`:11,`c`:{`x`: 1}},`changes`:{},"
         "`deleted`:false"},
        {"INSERT INTO public.shape VALUES (2, 'two', 20, '[]')", "mydb.public.shape.2",
         "public.shape",
         "{`action`:`insert`,`data`:{`id`:2,`a`:`two`,`b`:20,`c`:[]},`changes`:null,"
         "`deleted`:false"},
        {"ALTER TABLE public.shape DROP COLUMN a; INSERT INTO public.shape VALUES (3, 30)",
         "mydb.public.shape.3", "public.shape",
         "{`action`:`insert`,`data`:{`id`:3,`b`:30,`c`:{`x`: 1}},`changes`:null,"
         "`deleted`:false"},
        {"DELETE FROM public.shape WHERE id = 2", "mydb.public.shape.2", "public.shape",
         "{`action`:`delete`,`data`:{`id`:2},`changes`:null,`deleted`:true"},
        /* Within one transaction: a row before the change and one after, each in its shape. */
        {"BEGIN; INSERT INTO public.shape VALUES (4, 40); "
         "ALTER TABLE public.shape ADD COLUMN d text DEFAULT 'dee', DROP COLUMN c; "
         "INSERT INTO public.shape VALUES (5, 50); COMMIT",
         "mydb.public.shape.4", "public.shape",
         "{`action`:`insert`,`data`:{`id`:4,`b`:40,`c`:{`x`: 1}},`changes`:null,"
         "`deleted`:false"},
        {NULL, "mydb.public.shape.5", "public.shape",
         "{`action`:`insert`,`data`:{`id`:5,`b`:50,`d`:`dee`},`changes`:null,`deleted`:false"},
        {"ALTER TABLE public.shape ALTER COLUMN b TYPE text, "
         "ADD COLUMN \"we\"\"ird\\ na\u00efve\" int; "
         "UPDATE public.shape SET d = 'changed' WHERE id = 3",
         "mydb.public.shape.3", "public.shape",
         "{`action`:`update`,`data`:{`id`:3,`b`:`30`,`d`:`changed`,`we\\`ird\\\\ na\u00efve`:"
         "null},`changes`:{},`deleted`:false"},
    };
    stream_mydb("CREATE TABLE public.shape (id int PRIMARY KEY, a text, b int)", "shape",
                "[\"public.shape\"]", "basic", false);
    RUN_STEPS(steps);
    wait_status("mydb", "streaming");
    assert_others_fine(*state);
}

/* Terminates the walsender that streams `slot`: the source's replication connection drops. */
static void drop_replication_connection(const char *slot)
{
    const char *params[1] = {slot};
    int64_t deadline = now_ms() + WAIT_MS;
    while (pgt_long("SELECT count(pg_terminate_backend(active_pid)) FROM pg_replication_slots "
                    "WHERE slot_name = $1 AND active",
                    1, params) != 1) {
        if (now_ms() > deadline)
            fail_msg("slot %s is not streamed", slot);
        sleep_ms(100);
    }
}

/* Source mydb streaming tables public.keep and public.doomed, and a row of doomed in the
 * stream; then `sql` and each of `steps`. */
static void doomed_steps(const char *sql, const step *steps, size_t n)
{
    static const step first[] = {
        {"INSERT INTO public.doomed VALUES (1, 'first')", "mydb.public.doomed.1", "public.doomed",
         "{`action`:`insert`,`data`:{`id`:1,`note`:`first`},`changes`:null,`deleted`:false"},
    };
    stream_mydb("CREATE TABLE public.keep (id int PRIMARY KEY); "
                "CREATE TABLE public.doomed (id int PRIMARY KEY, note text)",
                "dropped", "[\"public.keep\", \"public.doomed\"]", "basic", false);
    RUN_STEPS(first);
    exec1(sql);
    run_steps(steps, n);
    wait_status("mydb", "streaming");
}

/* A table dropped while streaming, once its changes are in the stream: the other tables go
 * on; once the source restarts, the table it still declares is missing and it says so;
 * declared without it, it streams again from where it was. */
static void test_table_dropped(void **state)
{
    static const step keep1[] = {
        {"INSERT INTO public.keep VALUES (1)", "mydb.public.keep.1", "public.keep",
         "{`action`:`insert`,`data`:{`id`:1},`changes`:null,`deleted`:false"},
    };
    static const step keep2[] = {
        {"INSERT INTO public.keep VALUES (2)", "mydb.public.keep.2", "public.keep",
         "{`action`:`insert`,`data`:{`id`:2},`changes`:null,`deleted`:false"},
    };
    struct server *s = *state;
    char slot[96];
    doomed_steps("DROP TABLE public.doomed", keep1, 1);
    assert_others_fine(s);

    /* A restart finds the declared table gone. */
    named(slot, sizeof slot, "dropped");
    drop_replication_connection(slot);
    wait_error(s, "mydb", "table public.doomed does not exist in the source database");
    assert_others_fine(s);

    exec1("UPDATE sequin.sources SET settings = jsonb_set(settings, '{tables}', "
          "'[\"public.keep\"]') WHERE name = 'mydb'");
    wait_status("mydb", "streaming");
    RUN_STEPS(keep2);
    assert_int_equal(mydb_messages(), 3);
    assert_others_fine(s);
}

/* A table dropped before the source has decoded its last changes (here in the same
 * transaction; a source that lags or restarts meets the same): those changes committed, so
 * they reach the stream, and the source's other tables go on. */
static void test_table_dropped_with_changes_pending(void **state)
{
    static const step steps[] = {
        {"INSERT INTO public.keep VALUES (1)", "mydb.public.keep.1", "public.keep",
         "{`action`:`insert`,`data`:{`id`:1},`changes`:null,`deleted`:false"},
        {NULL, "mydb.public.doomed.2", "public.doomed",
         "{`action`:`insert`,`data`:{`id`:2,`note`:`last`},`changes`:null,`deleted`:false"},
    };
    doomed_steps("BEGIN; INSERT INTO public.doomed VALUES (2, 'last'); DROP TABLE public.doomed; "
                 "COMMIT",
                 steps, 2);
    assert_others_fine(*state);
}

/* An update that changes the primary key, under basic keys: the old key's message says the
 * row is gone (its key alone), the new key's holds the row with the old key in "changes"; a
 * composite key where one column changes does the same. */
static void test_key_change(void **state)
{
    static const step steps[] = {
        {"INSERT INTO public.moves VALUES (7, 'seven')", "mydb.public.moves.7", "public.moves",
         "{`action`:`insert`,`data`:{`id`:7,`note`:`seven`},`changes`:null,`deleted`:false"},
        {"UPDATE public.moves SET id = 8, note = 'eight' WHERE id = 7", "mydb.public.moves.8",
         "public.moves",
         "{`action`:`update`,`data`:{`id`:8,`note`:`eight`},`changes`:{`id`:7},"
         "`deleted`:false"},
        {NULL, "mydb.public.moves.7", "public.moves",
         "{`action`:`delete`,`data`:{`id`:7},`changes`:null,`deleted`:true"},
        {"INSERT INTO public.pairs VALUES ('x', 1, 'n'); "
         "UPDATE public.pairs SET b = 2 WHERE a = 'x'",
         "mydb.public.pairs.x.2", "public.pairs",
         "{`action`:`update`,`data`:{`a`:`x`,`b`:2,`note`:`n`},`changes`:{`b`:1},"
         "`deleted`:false"},
        {NULL, "mydb.public.pairs.x.1", "public.pairs",
         "{`action`:`delete`,`data`:{`a`:`x`,`b`:1},`changes`:null,`deleted`:true"},
    };
    stream_mydb("CREATE TABLE public.moves (id int PRIMARY KEY, note text); "
                "CREATE TABLE public.pairs (a text, b int, note text, PRIMARY KEY (a, b))",
                "moves", "[\"public.moves\", \"public.pairs\"]", "basic", false);
    RUN_STEPS(steps);
    /* The delete of the old key comes first: a consumer sees the row leave, then arrive. */
    assert_int_equal(pgt_long("SELECT count(*) FROM sequin.messages a, sequin.messages b WHERE "
                              "a.key = 'mydb.public.moves.7' AND b.key = 'mydb.public.moves.8' "
                              "AND a.seq < b.seq",
                              0, NULL),
                     1);
    assert_others_fine(*state);
}

/* ---- values -------------------------------------------------------------------------------- */

/* Every kind of value: integers, floats and numeric as numbers (NaN and the infinities as
 * strings), booleans, json and jsonb embedded, NULL as null, everything else as its text. A
 * domain maps as its base type does (pgoutput names the domain, a backfill's query its base
 * type: both give a number for a domain over int), a domain over a domain too. */
static void test_types(void **state)
{
    stream_mydb("CREATE TYPE public.mood AS ENUM ('sad', 'très bien'); "
                "CREATE DOMAIN public.posint AS int CHECK (VALUE > 0); "
                "CREATE DOMAIN public.small AS public.posint CHECK (VALUE < 100); "
                "CREATE TYPE public.pair AS (a int, b text); "
                "CREATE TABLE public.types (id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, "
                "  num numeric, f4 float4, f8 float8, b bool, j json, jb jsonb, t text, "
                "  by bytea, ts timestamptz, ia int[], ta text[], u uuid, d public.posint, "
                "  e public.mood, c public.pair, o oid, iv interval, pt point, vc varchar(10), "
                "  ch char(3), ds public.small)",
                "types", "[\"public.types\"]", "basic", false);

    exec1("INSERT INTO public.types VALUES (1, -32768, 2147483647, -9223372036854775808, "
          "  12.50, 1.5, 0.1, true, '{\"a\": [1, 2.5e3, null], \"s\": \"x\\\"y\", \"u\": "
          "\"\\u00e9\"}', '{\"b\": 2, \"aa\": [1, {\"c\": null}]}', "
          "  E'quote \" back \\\\ nl \\n tab \\t ctl \\x01 caf\u00e9 \u2603 \U0001F600', "
          "  '\\xdeadbeef00', '2024-02-29 12:34:56.789+00', '{1,NULL,3}', "
          "  ARRAY['a b', 'c,d', '', '\"q\"', NULL], 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', "
          "  5, 'très bien', ROW(1, 'x y'), 4294967295, '1 day 02:03:04.5', '(1.5,-2)', "
          "  'abc', 'a', 7)");
    char *ts = pgt_value("SELECT '2024-02-29 12:34:56.789+00'::timestamptz::text", 0, NULL);
    char want[4096];
    /* The timestamp's text is the session's (its TimeZone): what PostgreSQL prints for it. */
    api_format(want, sizeof want,
               "{`action`:`insert`,`data`:{`id`:1,`i2`:-32768,`i4`:2147483647,"
               "`i8`:-9223372036854775808,`num`:12.50,`f4`:1.5,`f8`:0.1,`b`:true,"
               "`j`:{`a`: [1, 2.5e3, null], `s`: `x\\`y`, `u`: `\\u00e9`},"
               "`jb`:{`b`: 2, `aa`: [1, {`c`: null}]},"
               "`t`:`quote \\` back \\\\ nl \\n tab \\t ctl \\u0001 caf\u00e9 \u2603 "
               "\U0001F600`,"
               "`by`:`\\\\xdeadbeef00`,`ts`:`%s`,`ia`:`{1,NULL,3}`,"
               "`ta`:`{\\`a b\\`,\\`c,d\\`,\\`\\`,\\`\\\\\\`q\\\\\\`\\`,NULL}`,"
               "`u`:`a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11`,`d`:5,`e`:`très bien`,"
               "`c`:`(1,\\`x y\\`)`,`o`:4294967295,`iv`:`1 day 02:03:04.5`,`pt`:`(1.5,-2)`,"
               "`vc`:`abc`,`ch`:`a  `,`ds`:7},`changes`:null,`deleted`:false",
               ts);
    free(ts);
    expect_message("mydb.public.types.1", "public.types", want);

    /* The numbers JSON has no form for, the other extremes, and json's odd cases: JSON deeper
     * than a message may nest stays its text, as a string; json keeps what it was given,
     * duplicate keys and all, where jsonb keeps the last; a JSON null is null. */
    exec1("INSERT INTO public.types (id, num, f4, f8, j, jb) VALUES "
          "(2, 'NaN', 'Infinity', '-Infinity', NULL, NULL), "
          "(3, 'Infinity', 'NaN', 'NaN', NULL, NULL), "
          "(4, '-Infinity', '-Infinity', 'Infinity', NULL, NULL), "
          "(5, 123456789012345678901234567890.123456789, '-0', '-0', NULL, NULL), "
          "(6, -0.000001, 3.4028235e38, 1e-7, NULL, NULL), (7, 0, 1e-45, 1e300, NULL, NULL), "
          "(8, NULL, NULL, NULL, (repeat('[', 70) || repeat(']', 70))::json, "
          "    '{\"k\": 1, \"k\": 2}'), "
          "(9, NULL, NULL, NULL, '{\"k\": 1, \"k\": 2}', '\"just a string\"'), "
          "(10, NULL, NULL, NULL, 'null', 'null')");
    char deep[141];
    memset(deep, '[', 70);
    memset(deep + 70, ']', 70);
    deep[140] = '\0';
    const struct {
        int id;
        const char *numbers, *json;
    } odd[] = {
        {2, "`num`:`NaN`,`f4`:`Infinity`,`f8`:`-Infinity`", "`j`:null,`jb`:null"},
        {3, "`num`:`Infinity`,`f4`:`NaN`,`f8`:`NaN`", "`j`:null,`jb`:null"},
        {4, "`num`:`-Infinity`,`f4`:`-Infinity`,`f8`:`Infinity`", "`j`:null,`jb`:null"},
        {5, "`num`:123456789012345678901234567890.123456789,`f4`:-0,`f8`:-0", "`j`:null,`jb`:null"},
        {6, "`num`:-0.000001,`f4`:3.4028235e+38,`f8`:1e-07", "`j`:null,`jb`:null"},
        {7, "`num`:0,`f4`:1e-45,`f8`:1e+300", "`j`:null,`jb`:null"},
        {8, "`num`:null,`f4`:null,`f8`:null", NULL},
        {9, "`num`:null,`f4`:null,`f8`:null", "`j`:{`k`: 1, `k`: 2},`jb`:`just a string`"},
        {10, "`num`:null,`f4`:null,`f8`:null", "`j`:null,`jb`:null"},
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        char key[64], json[256];
        api_format(key, sizeof key, "mydb.public.types.%d", odd[i].id);
        api_format(json, sizeof json, "`j`:`%s`,`jb`:{`k`: 2}", deep);
        api_format(want, sizeof want,
                   "{`action`:`insert`,`data`:{`id`:%d,`i2`:null,`i4`:null,`i8`:null,%s,"
                   "`b`:null,%s,`t`:null,`by`:null,`ts`:null,`ia`:null,`ta`:null,`u`:null,"
                   "`d`:null,`e`:null,`c`:null,`o`:null,`iv`:null,`pt`:null,`vc`:null,"
                   "`ch`:null,`ds`:null},`changes`:null,`deleted`:false",
                   odd[i].id, odd[i].numbers, odd[i].json ? odd[i].json : json);
        expect_message(key, "public.types", want);
    }
    wait_status("mydb", "streaming");
    assert_others_fine(*state);
}

/* A composite primary key gives one token per column in the key's order, each escaped so that
 * a '.', a space, '*', '>', '%', an empty string or non-ASCII cannot break the key; schema and
 * table names too. */
static void test_composite_key_escaping(void **state)
{
#define ODD_TABLE "\"Odd Schema\".\"café\""
#define ODD_KEY "mydb.Odd%20Schema.caf%C3%A9."
    static const step steps[] = {
        {"INSERT INTO " ODD_TABLE " VALUES ('a.b', 1.5, 'x y', 1), ('', 0, 'é', 2), "
         "('*>%', -1, '', 3), ('plain', 'NaN', 'z', 4)",
         ODD_KEY "x%20y.a%2Eb.1%2E5", "Odd Schema.café",
         "{`action`:`insert`,`data`:{`a`:`a.b`,`b`:1.5,`c`:`x y`,`v`:1},`changes`:null,"
         "`deleted`:false"},
        {NULL, ODD_KEY "%C3%A9.%.0", "Odd Schema.café",
         "{`action`:`insert`,`data`:{`a`:``,`b`:0,`c`:`é`,`v`:2},`changes`:null,"
         "`deleted`:false"},
        {NULL, ODD_KEY "%.%2A%3E%25.-1", "Odd Schema.café",
         "{`action`:`insert`,`data`:{`a`:`*>%`,`b`:-1,`c`:``,`v`:3},`changes`:null,"
         "`deleted`:false"},
        {NULL, ODD_KEY "z.plain.NaN", "Odd Schema.café",
         "{`action`:`insert`,`data`:{`a`:`plain`,`b`:`NaN`,`c`:`z`,`v`:4},`changes`:null,"
         "`deleted`:false"},
        {"UPDATE " ODD_TABLE " SET v = 10 WHERE c = 'x y'", ODD_KEY "x%20y.a%2Eb.1%2E5",
         "Odd Schema.café",
         "{`action`:`update`,`data`:{`a`:`a.b`,`b`:1.5,`c`:`x y`,`v`:10},`changes`:{},"
         "`deleted`:false"},
        {"DELETE FROM " ODD_TABLE " WHERE a = ''", ODD_KEY "%C3%A9.%.0", "Odd Schema.café",
         "{`action`:`delete`,`data`:{`a`:``,`b`:0,`c`:`é`},`changes`:null,`deleted`:true"},
    };
    struct server *s = *state;
    /* Tables the settings cannot name are streamed through a publication made for them. */
    stream_mydb("CREATE SCHEMA \"Odd Schema\"; CREATE TABLE " ODD_TABLE
                " (a text, b numeric, c text, v int, PRIMARY KEY (c, a, b)); "
                "CREATE PUBLICATION people_pub FOR TABLE " ODD_TABLE,
                "people", NULL, "basic", false);
    RUN_STEPS(steps);
    assert_int_equal(mydb_messages(), 4);

    /* A consumer filters on the escaped tokens as they are. */
    api_expect(s->port, "POST", "/api/streams/default/consumers",
               "{\"name\":\"odd\",\"filter_key_pattern\":\"mydb.Odd%20Schema.*.%.>\"}", 200, NULL);
    char *body = api_receive(s->port, "default", "odd", 10, 1000);
    assert_int_equal(count_of(body, "\"key\":\"" ODD_KEY "%.%2A%3E%25.-1\""), 1);
    assert_int_equal(count_of(body, "\"key\":"), 1);
    free(body);
    assert_others_fine(s);
#undef ODD_TABLE
#undef ODD_KEY
}

/* The large value of row `id` of `table` in message `key` is the table's, byte for byte, and
 * the row's `n` is `n` there (the update has arrived). */
static void expect_big(const char *key, const char *table, int id, int n)
{
    char sql[512];
    api_format(sql, sizeof sql,
               "SELECT count(*) FROM sequin.messages m, %s t WHERE m.key = '%s' AND t.id = %d "
               "AND (m.data::jsonb)->'data'->>'big' = t.big AND length(t.big) > 8192 "
               "AND (m.data::jsonb)->'data'->>'n' = '%d'",
               table, key, id, n);
    char what[128];
    api_format(what, sizeof what, "message %s holding the row's large value and n = %d", key, n);
    wait_count(sql, 1, what);
}

/* md5 text of 16 kB: hex digits at random, which pglz cannot shrink enough to keep inline. */
#define BIG "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 512))"

/* Tables public.docs (default replica identity) and public.docs_full (FULL) streamed by source
 * mydb, public.docs_op by source op under with_operation keys, each with rows 1 and 2 holding
 * a large value out of line, whose messages have arrived. */
static void stream_docs(void)
{
    char sql[512];
    stream_mydb("CREATE TABLE public.docs (id int PRIMARY KEY, n int, big text); "
                "CREATE TABLE public.docs_full (id int PRIMARY KEY, n int, big text); "
                "ALTER TABLE public.docs_full REPLICA IDENTITY FULL; "
                "CREATE TABLE public.docs_op (id int PRIMARY KEY, n int, big text)",
                "docs", "[\"public.docs\", \"public.docs_full\"]", "basic", false);
    declare("op", "docs_op", "[\"public.docs_op\"]", "with_operation", false);
    wait_status("op", "streaming");
    const char *tables[] = {"public.docs", "public.docs_full", "public.docs_op"};
    for (size_t i = 0; i < 3; i++) {
        api_format(sql, sizeof sql, "INSERT INTO %s VALUES (1, 0, %s), (2, 0, %s)", tables[i], BIG,
                   BIG);
        exec1(sql);
    }
    /* Out of line: an update that leaves them alone does not carry them in its WAL. */
    assert_int_equal(pgt_long("SELECT count(*) FROM public.docs WHERE "
                              "pg_column_size(big) > 8192",
                              0, NULL),
                     2);
    expect_big("mydb.public.docs.1", "public.docs", 1, 0);
    expect_big("mydb.public.docs_full.1", "public.docs_full", 1, 0);
    expect_big("op.public.docs_op.insert.1", "public.docs_op", 1, 0);
}

/* A change of the docs tables, and the message that must then hold its row's large value with
 * n set to `n` (expect_big). */
typedef struct toast_step {
    const char *sql;
    const char *key, *table;
    int id, n;
} toast_step;

/* Streams the docs tables and makes each change in turn, its message checked; at the end no
 * message of the docs tables has lost the large value, none was logged missing, and the good
 * source streams. */
static void toast_steps(const struct server *s, const toast_step *steps, size_t n)
{
    stream_docs();
    for (size_t i = 0; i < n; i++) {
        exec1(steps[i].sql);
        expect_big(steps[i].key, steps[i].table, steps[i].id, steps[i].n);
    }
    assert_int_equal(pgt_long("SELECT count(*) FROM sequin.messages WHERE key !~ '^good' AND "
                              "NOT (data::jsonb->>'deleted')::boolean AND "
                              "(data::jsonb)->'data'->>'big' IS NULL",
                              0, NULL),
                     0);
    assert_false(log_has(s, "is not in the stream"));
    assert_others_fine(s);
}

/* A large text left alone by an update is not in the WAL: the message still has it, from the
 * stream's message under the default replica identity (the committed one, or one of the same
 * transaction), from the old row under FULL. */
static void test_unchanged_toast(void **state)
{
    static const toast_step steps[] = {
        {"UPDATE public.docs SET n = 1 WHERE id = 1", "mydb.public.docs.1", "public.docs", 1, 1},
        {"UPDATE public.docs_full SET n = 1 WHERE id = 1", "mydb.public.docs_full.1",
         "public.docs_full", 1, 1},
        /* Two updates in one transaction: the second finds the value in the first's message. */
        {"BEGIN; UPDATE public.docs SET n = 2 WHERE id = 1; "
         "UPDATE public.docs SET n = 3 WHERE id = 1; COMMIT",
         "mydb.public.docs.1", "public.docs", 1, 3},
        /* Inserted and updated in one transaction: the insert's message is in the same batch. */
        {"BEGIN; INSERT INTO public.docs VALUES (3, 0, " BIG "); "
         "UPDATE public.docs SET n = 4 WHERE id = 3; COMMIT",
         "mydb.public.docs.3", "public.docs", 3, 4},
    };
    toast_steps(*state, steps, sizeof steps / sizeof steps[0]);
    /* The message of a delete under FULL has the whole old row, the large value too. */
    exec1("DELETE FROM public.docs_full WHERE id = 1");
    wait_count("SELECT count(*) FROM sequin.messages WHERE key = 'mydb.public.docs_full.1' AND "
               "(data::jsonb->>'deleted')::boolean AND length((data::jsonb)->'data'->>'big') = "
               "16384",
               1, "the delete of docs_full.1 with its large value");
}

/* An update that moves the row to another key and leaves its large value alone: the new
 * key's message has the value (the row's message is under its old key). */
static void test_unchanged_toast_key_moves(void **state)
{
    static const toast_step steps[] = {
        {"UPDATE public.docs_full SET id = 20, n = 5 WHERE id = 2", "mydb.public.docs_full.20",
         "public.docs_full", 20, 5},
        {"UPDATE public.docs SET id = 20, n = 5 WHERE id = 2", "mydb.public.docs.20", "public.docs",
         20, 5},
        {"UPDATE public.docs_op SET id = 20, n = 5 WHERE id = 2", "op.public.docs_op.update.20",
         "public.docs_op", 20, 5},
    };
    toast_steps(*state, steps, sizeof steps / sizeof steps[0]);
}

/* Under with_operation keys the row's newest message is its insert's, then its update's: an
 * update that leaves the large value alone takes it from there. */
static void test_unchanged_toast_with_operation(void **state)
{
    static const toast_step steps[] = {
        {"UPDATE public.docs_op SET n = 6 WHERE id = 1", "op.public.docs_op.update.1",
         "public.docs_op", 1, 6},
        {"UPDATE public.docs_op SET n = 7 WHERE id = 1", "op.public.docs_op.update.1",
         "public.docs_op", 1, 7},
    };
    toast_steps(*state, steps, sizeof steps / sizeof steps[0]);
}

int main(void)
{
    /* The test database's name and the cluster's address, from its URL
     * (postgresql://user@host:port/name). */
    const char *url = getenv("SEQUIN_TEST_DATABASE_URL");
    const char *at = url ? strchr(url, '@') : NULL;
    const char *slash = at ? strchr(at, '/') : NULL;
    if (!slash) {
        fprintf(stderr, "SEQUIN_TEST_DATABASE_URL is not set: run through test/with-postgres\n");
        return 1;
    }
    snprintf(hostport, sizeof hostport, "%.*s", (int)(slash - at - 1), at + 1);
    snprintf(dbname, sizeof dbname, "%s", slash + 1);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_wrong_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_privileges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_level_replica, setup, teardown_own_cluster),
        cmocka_unit_test_setup_teardown(test_slot_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_without_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_index_beside_primary_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publication_of_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partitioned_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_columns_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_composite_key_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unchanged_toast, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unchanged_toast_key_moves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unchanged_toast_with_operation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_dropped_with_changes_pending, setup, teardown),
    };
    return cmocka_run_group_tests_name("source_states", tests, NULL, NULL);
}
