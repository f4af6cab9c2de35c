/* The source routes against a real sequind and its sources process (docs/api.md): a source
 * created over the API streams the test database's own table, its object shows the URL without
 * its password and, once the process reports, its state and backfill; the refusals (a name
 * taken, bad settings, no such stream, a source the config file declares); /metrics shows each
 * source's series; a delete stops the source. */
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
#include "sequind_harness.h"

/* A slot of its own: slots are the cluster's, which other test programs share. */
#define SLOT "sequin_api_slot"
#define PUB "sequin_api_pub"
#define PASSWORD "n0t-shown"

/* The test database as a source database: a table of three rows, no slot, no publication. */
static int setup(void **state)
{
    pgt_drop_slot(SLOT);
    PGconn *c = pgt_connect();
    pgt_exec(c, "DROP TABLE IF EXISTS public.orders; DROP PUBLICATION IF EXISTS " PUB "; "
                "CREATE TABLE public.orders (id int PRIMARY KEY, status text NOT NULL); "
                "INSERT INTO public.orders SELECT i, 'old' FROM generate_series(1, 3) i");
    PQfinish(c);
    *state = api_serve(NULL);
    return 0;
}

/* The slot goes with the server, or the test database could not be dropped. */
static int teardown(void **state)
{
    int rc = teardown_server(state);
    pgt_drop_slot(SLOT);
    free(pgt_value("DELETE FROM sequin.sources RETURNING 1", 0, NULL));
    return rc;
}

/* The test database's URL with a password in its user info (trust authentication ignores
 * it): what the API must never show. */
static void url_with_password(char *out, size_t size)
{
    const char *url = db_url(), *auth = strstr(url, "://");
    assert_non_null(auth);
    auth += 3;
    const char *at = strchr(auth, '@');
    assert_true(at != NULL && memchr(auth, ':', (size_t)(at - auth)) == NULL);
    api_format(out, size, "%.*s:" PASSWORD "%s", (int)(at - url), url, at);
}

/* GETs `target` until its body holds `needle` (within EVENT_MS); the body (free it). */
static char *wait_body(int port, const char *target, const char *needle)
{
    int64_t deadline = now_ms() + EVENT_MS;
    for (;;) {
        api_resp r = api_call(port, "GET", target, NULL);
        if (r.status == 200 && strstr(r.body, needle) != NULL)
            return r.body;
        if (now_ms() > deadline)
            fail_msg("GET %s: %d %s, never with %s", target, r.status, r.body, needle);
        api_resp_free(&r);
        sleep_ms(100);
    }
}

/* The value of sample `series` on the metrics page, or -1 when there is none. */
static double sample(const char *page, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = page; p != NULL; p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

/* Waits until /metrics has `series` at `min` or more; the page's value. */
static double wait_sample(int port, const char *series, double min)
{
    int64_t deadline = now_ms() + EVENT_MS;
    for (;;) {
        api_resp r = api_call(port, "GET", "/metrics", NULL);
        assert_int_equal(r.status, 200);
        double v = sample(r.body, series);
        if (v >= min) {
            api_resp_free(&r);
            return v;
        }
        if (now_ms() > deadline)
            fail_msg("/metrics never had %s >= %g:\n%s", series, min, r.body);
        api_resp_free(&r);
        sleep_ms(100);
    }
}

static void test_routes(void **state)
{
    struct server *s = *state;
    int port = s->port;
    char url[512], body[1024], id[64], target[128];

    url_with_password(url, sizeof url);
    api_format(body, sizeof body,
               "{\"name\":\"mydb\",\"stream\":\"default\",\"postgres\":{\"url\":\"%s\","
               "\"slot\":\"" SLOT "\",\"publication\":\"" PUB "\",\"tables\":[\"orders\"]},"
               "\"backfill\":true}",
               url);
    char *got = api_expect_body(port, "POST", "/api/sources", body, 200, "\"name\":\"mydb\"");
    /* The settings as stored: defaults filled in, the table with its schema, the password
     * hidden. */
    assert_non_null(strstr(got, ":****@"));
    assert_null(strstr(got, PASSWORD));
    assert_non_null(strstr(got, "\"kind\":\"postgres\",\"stream\":\"default\""));
    assert_non_null(strstr(got, "\"tables\":[\"public.orders\"]},\"key_format\":\"basic\","
                                "\"backfill\":true,\"managed_by\":\"api\""));
    json_str(got, "id", id, sizeof id);
    free(got);
    char *stored =
        pgt_value("SELECT settings->>'url' FROM sequin.sources WHERE name = 'mydb'", 0, NULL);
    assert_string_equal(stored, url);
    free(stored);

    /* The refusals. */
    static const api_case refused[] = {
        {"POST", "/api/sources",
         "{\"name\":\"mydb\",\"stream\":\"default\",\"postgres\":{\"url\":\"x\"}}", 409,
         "\"summary\":\"a source named \\\"mydb\\\" exists already\""},
        {"POST", "/api/sources",
         "{\"name\":\"other\",\"stream\":\"default\",\"postgres\":{\"url\":\"x\","
         "\"slot\":\"Bad-Slot\"}}",
         400, "slot \\\"Bad-Slot\\\""},
        {"POST", "/api/sources", "{\"name\":\"other\",\"stream\":\"default\",\"postgres\":{}}", 400,
         "\\\"url\\\" is required"},
        {"POST", "/api/sources",
         "{\"name\":\"other\",\"stream\":\"default\",\"postgres\":{\"url\":\"x\"},"
         "\"key_format\":\"odd\"}",
         400, "key_format"},
        {"POST", "/api/sources",
         "{\"name\":\"other\",\"stream\":\"default\",\"postgres\":{\"url\":\"x\","
         "\"key_format\":\"basic\"}}",
         400, "unknown member"},
        {"POST", "/api/sources",
         "{\"name\":\"other\",\"stream\":\"nowhere\",\"postgres\":{\"url\":\"x\"}}", 404,
         "\"summary\":\"stream not found\""},
        {"GET", "/api/sources/nowhere", NULL, 404, "\"summary\":\"source not found\""},
        {"DELETE", "/api/sources/nowhere", NULL, 404, "\"summary\":\"source not found\""},
    };
    api_expect_each(port, refused, SQ_ARRAY_LEN(refused));
    assert_int_equal(pgt_long("SELECT count(*) FROM sequin.sources", 0, NULL), 1);

    /* Get by name or id, and the list. */
    api_expect(port, "GET", "/api/sources/mydb", NULL, 200, id);
    api_format(target, sizeof target, "/api/sources/%s", id);
    api_expect(port, "GET", target, NULL, 200, "\"name\":\"mydb\"");
    api_expect(port, "GET", "/api/sources", NULL, 200, "{\"data\":[{\"id\":");

    /* The sources process picks it up: the table's three rows are backfilled, then it
     * streams; its report shows in the object. */
    free(wait_body(
        port, "/api/sources/mydb",
        "\"backfill_progress\":[{\"table\":\"public.orders\",\"rows\":3,\"done\":true}]"));
    got = wait_body(port, "/api/sources/mydb", "\"state\":\"streaming\"");
    assert_non_null(strstr(got, "\"error\":null,\"node\":\""));
    assert_null(strstr(got, "\"reported_at\":null"));
    free(got);
    PGconn *c = pgt_connect();
    pgt_exec(c, "INSERT INTO public.orders VALUES (4, 'new')");
    PQfinish(c);
    free(wait_body(port, "/api/sources/mydb", "\"rows_streamed\":4,"));
    assert_int_equal(pgt_long("SELECT count(*) FROM sequin.messages WHERE key LIKE "
                              "'mydb.public.orders.%'",
                              0, NULL),
                     4);

    /* /metrics: its series, read from the store. */
    assert_true(wait_sample(port, "sequin_source_rows_streamed_total{source=\"mydb\"}", 4) == 4);
    api_resp r = api_call(port, "GET", "/metrics", NULL);
    assert_true(sample(r.body, "sequin_source_up{source=\"mydb\"}") == 1);
    assert_true(sample(r.body, "sequin_source_lag_bytes{source=\"mydb\"}") >= 0);
    assert_true(sample(r.body, "sequin_source_lag_seconds{source=\"mydb\"}") >= 0);
    assert_true(sample(r.body, "sequin_source_errors_total{source=\"mydb\"}") == 0);
    assert_true(sample(r.body, "sequin_source_reconnects_total{source=\"mydb\"}") == 0);
    api_resp_free(&r);

    /* Delete: gone from the API, and the sources process stops streaming its slot. */
    got = api_expect_body(port, "DELETE", "/api/sources/mydb", NULL, 200, "\"deleted\":true");
    api_format(body, sizeof body, "{\"id\":\"%s\",\"deleted\":true}", id);
    assert_string_equal(got, body);
    free(got);
    api_expect(port, "GET", "/api/sources/mydb", NULL, 404, "source not found");
    api_expect(port, "GET", "/api/sources", NULL, 200, "{\"data\":[]}");
    int64_t deadline = now_ms() + EVENT_MS;
    while (pgt_long("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" SLOT
                    "' AND active",
                    0, NULL) != 0) {
        if (now_ms() > deadline)
            fail_msg("the deleted source still streams its slot");
        sleep_ms(100);
    }
}

/* A source the config file declares is not the API's to delete; one that cannot connect
 * reports its error, and /metrics counts its failures and its reconnects. */
static void test_declared_and_failing(void **state)
{
    struct server *s = *state;
    PGconn *c = pgt_connect();
    pgt_exec(c, "INSERT INTO sequin.sources (name, kind, stream, settings, managed_by) "
                "SELECT 'cfg', 'postgres', num, '{\"url\":\"postgres://u:" PASSWORD
                "@127.0.0.1:1/none\",\"slot\":\"sequin_slot\",\"publication\":\"sequin_pub\","
                "\"tables\":[],\"key_format\":\"basic\",\"backfill\":false}', 'config' "
                "FROM sequin.streams WHERE name = 'default'");
    PQfinish(c);
    api_expect(s->port, "DELETE", "/api/sources/cfg", NULL, 409,
               "\"summary\":\"source \\\"cfg\\\" is declared in the config file; remove it "
               "there\"");
    char *got = wait_body(s->port, "/api/sources/cfg", "\"state\":\"error\"");
    assert_non_null(strstr(got, "\"managed_by\":\"config\""));
    assert_null(strstr(got, "\"error\":null"));
    assert_null(strstr(got, PASSWORD));
    free(got);
    wait_sample(s->port, "sequin_source_errors_total{source=\"cfg\"}", 1);
    wait_sample(s->port, "sequin_source_reconnects_total{source=\"cfg\"}", 1);
    api_resp r = api_call(s->port, "GET", "/metrics", NULL);
    assert_true(sample(r.body, "sequin_source_up{source=\"cfg\"}") == 0);
    api_resp_free(&r);
    assert_int_equal(pgt_long("SELECT count(*) FROM sequin.sources WHERE name = 'cfg'", 0, NULL),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_declared_and_failing, setup, teardown),
    };
    return cmocka_run_group_tests_name("source_api", tests, NULL, NULL);
}
