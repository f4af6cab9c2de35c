/* The real sequind and the consumers its config file declares (SPEC 5): created at start,
 * updated, refused and released on SIGHUP, and a start refused with status 78. The state is
 * checked in the database, as an operator with psql would. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "pg_fixture.h"
#include "sequind_harness.h"

/* One consumer as "managed_by filter ack_wait_ms max_ack_pending max_deliver deliver_policy",
 * or "" when there is none. */
static char *consumer_row(const char *stream, const char *name)
{
    const char *params[2] = {stream, name};
    return pgt_value(
        "SELECT c.managed_by || ' ' || c.filter || ' ' || c.ack_wait_ms || ' ' || "
        "       c.max_ack_pending || ' ' || coalesce(c.max_deliver, 0) || ' ' || c.deliver_policy "
        "  FROM sequin.consumers c JOIN sequin.streams s ON s.num = c.stream "
        " WHERE s.name = $1 AND c.name = $2",
        2, params);
}

static void assert_consumer(const char *stream, const char *name, const char *want)
{
    char *got = consumer_row(stream, name);
    if (strcmp(got, want) != 0)
        fail_msg("consumer %s/%s is \"%s\", not \"%s\"", stream, name, got, want);
    free(got);
}

/* GET /healthz answers 200. */
static void assert_healthy(const struct server *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = EVENT_MS / 1000};
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char resp[512];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("connect to port %d: %s", s->port, strerror(errno));
    assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    ssize_t n = recv(fd, resp, sizeof resp - 1, 0);
    close(fd);
    assert_true(n > 0);
    resp[n] = '\0';
    if (strncmp(resp, "HTTP/1.1 200 ", 13) != 0)
        fail_msg("GET /healthz: %s", resp);
}

/* Waits until the master has only its two current workers (the retired ones are gone) and
 * returns how many, with their pids in `out`. */
static size_t wait_settled(const struct server *s, pid_t *out)
{
    int64_t end = now_ms() + EVENT_MS;
    size_t n;
    while ((n = workers_of(s->pid, out, MAX_PIDS)) != 2 && now_ms() < end)
        sleep_ms(20);
    assert_int_equal(n, 2);
    return n;
}

/* Rewrites the file with `extra` after the harness's lines, sends SIGHUP and waits for the
 * reload to end (READY=1). */
static void reload_with(struct server *s, const char *extra)
{
    write_config(s, extra);
    reload(s);
}

/* The harness writes five lines before the text a test gives: that text starts on line 6. */
static const char declared_v1[] =
    "streams:\n"                /* line 6 */
    "  - name: default\n"       /* 7 */
    "    consumers:\n"          /* 8 */
    "      - name: us_orders\n" /* 9 */
    "        filter: \"orders.us.>\"\n"
    "        max_deliver: 5\n"
    "  - name: audit\n" /* 12 */
    "    consumers:\n"
    "      - {name: everything, filter: \">\", deliver_policy: new}\n";

static void test_declared_consumers_through_reloads(void **state)
{
    pid_t before[MAX_PIDS], after[MAX_PIDS];

    pgt_fresh_schema();
    struct server *s = started(false, declared_v1);
    *state = s;

    /* Start: created, the config's, with the declared settings and the defaults. */
    assert_consumer("default", "us_orders", "config orders.us.> 30000 10000 5 all");
    assert_consumer("audit", "everything", "config > 30000 10000 0 new");
    assert_true(log_hasf(
        s, "consumer \"us_orders\" of stream \"default\" created, as declared at %s:9", s->config));
    assert_true(log_hasf(
        s, "consumer \"everything\" of stream \"audit\" created, as declared at %s:14", s->config));

    /* SIGHUP with new settings: updated, and the log says what changed. */
    reload_with(s, "streams:\n"
                   "  - name: default\n"
                   "    consumers:\n"
                   "      - name: us_orders\n"
                   "        filter: \"orders.us.>\"\n"
                   "        ack_wait_ms: 1000\n"
                   "        max_deliver: none\n"
                   "  - name: audit\n"
                   "    consumers:\n"
                   "      - {name: everything, filter: \">\", deliver_policy: new}\n");
    wait_logf(s,
              "consumer \"us_orders\" of stream \"default\" updated, as declared at %s:9: "
              "ack_wait_ms 30000 -> 1000, max_deliver 5 -> none",
              s->config);
    assert_consumer("default", "us_orders", "config orders.us.> 1000 10000 0 all");
    wait_log(s, "generation 2 started");

    /* SIGHUP with a changed filter (and another setting): refused whole, the log says to use
     * a new name, the running configuration and its workers stay. */
    size_t n_before = wait_settled(s, before);
    reload_with(s, "streams:\n"
                   "  - name: default\n"
                   "    consumers:\n"
                   "      - name: us_orders\n"
                   "        filter: \"orders.eu.>\"\n"
                   "        ack_wait_ms: 2000\n"
                   "  - name: audit\n"
                   "    consumers:\n"
                   "      - {name: everything, filter: \">\", deliver_policy: new, "
                   "ack_wait_ms: 700}\n");
    wait_logf(s,
              "reload refused, the running configuration stays: %s:9:9: consumer \"us_orders\" "
              "of stream \"default\": the filter cannot change (was \"orders.us.>\", now "
              "\"orders.eu.>\"); declare a consumer with a new name instead",
              s->config);
    assert_consumer("default", "us_orders", "config orders.us.> 1000 10000 0 all");
    assert_consumer("audit", "everything", "config > 30000 10000 0 new");
    assert_false(log_has(s, "generation 3 started"));
    assert_int_equal(workers_of(s->pid, after, MAX_PIDS), n_before);
    assert_memory_equal(before, after, n_before * sizeof(pid_t));
    assert_healthy(s);

    /* SIGHUP with us_orders gone from the file: kept, released to the API, and said so. */
    reload_with(s, "streams:\n"
                   "  - name: audit\n"
                   "    consumers:\n"
                   "      - {name: everything, filter: \">\", deliver_policy: new}\n");
    wait_logf(s,
              "consumer \"us_orders\" of stream \"default\" is no longer declared in %s: it is "
              "kept with its messages and is now managed_by \"api\"",
              s->config);
    assert_consumer("default", "us_orders", "api orders.us.> 1000 10000 0 all");
    assert_consumer("audit", "everything", "config > 30000 10000 0 new");
    wait_log(s, "generation 3 started");
    assert_healthy(s);
}

static void test_start_refused_on_a_filter_change(void **state)
{
    struct server *s = new_server(false);

    *state = s;
    pgt_fresh_schema();
    /* The database has us_orders from an earlier start, with another filter. */
    sq_store *store;
    sq_arena arena = {0};
    sq_reconcile_change *ch;
    size_t n;
    long at;
    char err[512];
    sq_declared_consumer d = {"default", "us_orders", "orders.us.*", {30000, 10000, 0, {0}}, false};
    assert_int_equal(sq_store_open(db_url(), &store, err, sizeof err), SQ_OK);
    assert_int_equal(sq_store_reconcile(store, &d, 1, &ch, &n, &at, &arena, err, sizeof err),
                     SQ_OK);
    sq_store_close(store);
    sq_arena_free(&arena);

    start_refused(s, declared_v1);
    assert_true(
        log_hasf(s,
                 "%s:9:9: consumer \"us_orders\" of stream \"default\": the filter cannot change "
                 "(was \"orders.us.*\", now \"orders.us.>\"); declare a consumer with a new name "
                 "instead",
                 s->config));
    /* Nothing of the file was applied: the other declared consumer was not created either. */
    assert_consumer("default", "us_orders", "config orders.us.* 30000 10000 0 all");
    assert_consumer("audit", "everything", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_declared_consumers_through_reloads, teardown_server),
        cmocka_unit_test_teardown(test_start_refused_on_a_filter_change, teardown_server),
    };
    return cmocka_run_group_tests_name("sequind_reconcile", tests, NULL, NULL);
}
