/* The API as the real sequind serves it, over plain sockets against a throwaway PostgreSQL:
 * streams and messages end to end, errors, keep-alive and pipelining. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "sequin/buf.h"
#include "sequin/common.h"

#include "api_client.h"
#include "pg_fixture.h"
#include "sequind_harness.h"

/* ---- the server ---------------------------------------------------------------------------- */

static void send_str(api_conn *c, const char *data)
{
    api_send_raw(c, data, strlen(data));
}

/* Starts a server and waits until its workers' database pools are connected. */
static int setup_server(void **state)
{
    *state = api_serve("streams:\n  - name: default\n");
    return 0;
}

/* ---- the tests ------------------------------------------------------------------------------ */

#define ORDERS                                                                                     \
    "{\"messages\":["                                                                              \
    "{\"key\":\"orders.us.cus_a.order_1\",\"data\":\"{\\\"product\\\": \\\"Shoes\\\"}\"},"         \
    "{\"key\":\"orders.us.cus_a.order_2\",\"data\":\"{\\\"product\\\": \\\"Hat\\\"}\"},"           \
    "{\"key\":\"orders.eu.cus_b.order_3\",\"data\":\"{\\\"product\\\": \\\"Scarf\\\"}\"},"         \
    "{\"key\":\"orders.us.cus_c.order_4\",\"data\":\"{\\\"product\\\": \\\"Socks\\\"}\"}]}"

static void test_messages(void **state)
{
    struct server *s = *state;
    static const api_case upserts[] = {
        {"POST", "/api/streams/default/messages", ORDERS, 200, "{\"data\":{\"published\":4}}"},
        /* The same batch again changes nothing. */
        {"POST", "/api/streams/default/messages", ORDERS, 200, "{\"data\":{\"published\":0}}"},
        {"POST", "/api/streams/default/messages",
         "{\"messages\":[{\"key\":\"orders.us.cus_a.order_2\","
         "\"data\":\"{\\\"product\\\": \\\"Hat\\\", \\\"status\\\": \\\"paid\\\"}\"}]}",
         200, "{\"data\":{\"published\":1}}"},
        {"GET", "/api/streams/default/messages/orders.us.cus_a.order_1", NULL, 200,
         "\"data\":\"{\\\"product\\\": \\\"Shoes\\\"}\""},
        {"GET", "/api/streams/default/messages/orders%2Eus.cus_a.order_2", NULL, 200,
         "\\\"status\\\": \\\"paid\\\""},
    };
    api_expect_each(s->port, upserts, SQ_ARRAY_LEN(upserts));

    api_resp r =
        api_call(s->port, "GET", "/api/streams/default/messages?key_pattern=orders.us.%3E", NULL);
    assert_int_equal(r.status, 200);
    char *o1 = strstr(r.body, "order_1"), *o4 = strstr(r.body, "order_4"),
         *o2 = strstr(r.body, "order_2");
    if (o1 == NULL || o2 == NULL || o4 == NULL || !(o1 < o4 && o4 < o2) ||
        strstr(r.body, "order_3") != NULL || strncmp(r.body, "{\"data\":[", 9) != 0)
        fail_msg("the US orders in seq order: %s", r.body);
    api_resp_free(&r);
    r = api_call(s->port, "GET", "/api/streams/default/messages?sort=seq_desc&limit=1", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "order_2"));
    assert_null(strstr(r.body, "order_4"));
    api_resp_free(&r);

    static const api_case deletes[] = {
        {"DELETE", "/api/streams/default/messages/orders.eu.cus_b.order_3", NULL, 200,
         "{\"deleted\":true}"},
        {"GET", "/api/streams/default/messages/orders.eu.cus_b.order_3", NULL, 404,
         "{\"summary\":\"message not found\"}"},
        {"DELETE", "/api/streams/default/messages/orders.eu.cus_b.order_3", NULL, 404,
         "\"summary\""},
        {"GET", "/api/streams/nope/messages", NULL, 404, "{\"summary\":\"stream not found\"}"},
        {"POST", "/api/streams/nope/messages", ORDERS, 404, "stream not found"},
    };
    api_expect_each(s->port, deletes, SQ_ARRAY_LEN(deletes));
}

static void test_streams(void **state)
{
    struct server *s = *state;

    api_expect(s->port, "POST", "/api/streams", "{\"name\":\"books\"}", 200, "\"name\":\"books\"");
    api_expect(s->port, "POST", "/api/streams", "{\"name\":\"books\"}", 409, "\"summary\"");
    api_resp r = api_call(s->port, "GET", "/api/streams/books", NULL);
    assert_int_equal(r.status, 200);
    assert_ptr_equal(strstr(r.body, "{\"id\":\""), r.body);
    char id[37];
    memcpy(id, r.body + 7, 36);
    id[36] = '\0';
    api_resp_free(&r);
    char by_id[128], messages_by_id[128];
    api_format(by_id, sizeof by_id, "/api/streams/%s", id);
    api_format(messages_by_id, sizeof messages_by_id, "/api/streams/%s/messages", id);
    const api_case cases[] = {
        {"GET", by_id, NULL, 200, "\"name\":\"books\""},
        /* A stream named by its id in a message route. */
        {"POST", messages_by_id, "{\"messages\":[{\"key\":\"a.b\",\"data\":\"x\"}]}", 200,
         "{\"data\":{\"published\":1}}"},
        {"GET", "/api/streams", NULL, 200, "\"name\":\"books\""},
        {"DELETE", "/api/streams/books", NULL, 200, "\"deleted\":true"},
        {"GET", "/api/streams/books", NULL, 404, "{\"summary\":\"stream not found\"}"},
        {"DELETE", "/api/streams/books", NULL, 404, "\"summary\""},
    };
    api_expect_each(s->port, cases, SQ_ARRAY_LEN(cases));
}

static void test_errors(void **state)
{
    struct server *s = *state;
    static const api_case refused[] = {
        {"POST", "/api/streams", "{\"name\":", 400, "{\"summary\":"},
        {"POST", "/api/streams", "{\"name\":\"no spaces\"}", 422, "validation_errors"},
        {"POST", "/api/streams/default/messages",
         "{\"messages\":[{\"key\":\"bad..key\",\"data\":\"x\"}]}", 400, "{\"summary\":"},
        {"GET", "/api/streams/default/messages/bad..key", NULL, 400, "{\"summary\":"},
        {"GET", "/api/streams/default/messages?limit=0", NULL, 400, "{\"summary\":"},
        {"GET", "/api/nothing", NULL, 404, "{\"summary\":"},
        {"GET", "/api/streams/default/consumers/nope", NULL, 404,
         "{\"summary\":\"consumer not found\"}"},
    };
    api_expect_each(s->port, refused, SQ_ARRAY_LEN(refused));
    api_resp r = api_call(s->port, "PUT", "/api/streams", "{}");
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.head, "\r\nAllow: GET, POST\r\n"));
    assert_non_null(strstr(r.body, "{\"summary\":"));
    api_resp_free(&r);
}

static void test_keep_alive_and_pipelining(void **state)
{
    struct server *s = *state;
    static api_conn conn;
    api_resp r;

    api_open(&conn, s->port, EVENT_MS);
    /* Two requests in one send: both answered, in order. */
    send_str(&conn, "POST /api/streams/default/messages HTTP/1.1\r\nHost: x\r\n"
                    "Content-Length: 44\r\n\r\n"
                    "{\"messages\":[{\"key\":\"pipe.a\",\"data\":\"1\"}]}  "
                    "GET /api/streams/default/messages/pipe.a HTTP/1.1\r\nHost: x\r\n\r\n");
    r = api_read(&conn);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"data\":{\"published\":1}}");
    assert_null(strstr(r.head, "Connection: close"));
    api_resp_free(&r);
    r = api_read(&conn);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"key\":\"pipe.a\""));
    api_resp_free(&r);
    /* The same connection again, with a chunked body. */
    send_str(&conn, "POST /api/streams/default/messages HTTP/1.1\r\nHost: x\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n"
                    "f\r\n{\"messages\":[{\"\r\n1b\r\nkey\":\"pipe.b\",");
    usleep(50000); /* the rest of the body in a later read */
    send_str(&conn, "\"data\":\"2\"}]}\r\n0\r\n\r\n");
    r = api_read(&conn);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"data\":{\"published\":1}}");
    api_resp_free(&r);
    /* RFC 9112: an absolute-form target is routed by its path (the Host header, which
     * disagrees, ignored); empty lines before a request, pipelined or in a read of their
     * own, are skipped. */
    send_str(&conn, "GET http://localhost:1/api/streams/default HTTP/1.1\r\nHost: elsewhere\r\n"
                    "\r\n\r\n"
                    "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    r = api_read(&conn);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"name\":\"default\""));
    api_resp_free(&r);
    r = api_read(&conn);
    assert_int_equal(r.status, 200);
    api_resp_free(&r);
    send_str(&conn, "\r\n\r\n");
    usleep(50000); /* the request in a later read than its empty lines */
    send_str(&conn, "GET HTTPS://sequin/healthz?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    r = api_read(&conn);
    assert_int_equal(r.status, 200);
    api_resp_free(&r);
    /* A broken request closes the connection after its answer. */
    send_str(&conn, "GET /healthz HTTP/1.1\r\n\r\n");
    r = api_read(&conn);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.head, "\r\nConnection: close\r\n"));
    api_resp_free(&r);
    char c;
    assert_int_equal(recv(conn.fd, &c, 1, 0), 0);
    api_close(&conn);
}

/* PostgreSQL dropping the worker's connections: requests answer 503 with Retry-After (never
 * hang), and the pool reconnects by itself. */
static void test_database_connections_dropped(void **state)
{
    struct server *s = *state;
    PGconn *pg = PQconnectdb(db_url());

    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PGresult *res = PQexec(pg, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_true(atoi(PQgetvalue(res, 0, 0)) > 0);
    PQclear(res);
    PQfinish(pg);

    int64_t end = now_ms() + EVENT_MS;
    int ok = 0;
    while (ok < 10 && now_ms() < end) {
        api_resp r = api_call(s->port, "GET", "/api/streams", NULL);
        if (r.status == 200) {
            ok++;
        } else {
            if (r.status != 503 || strstr(r.head, "\r\nRetry-After: 1\r\n") == NULL)
                fail_msg("GET /api/streams: %d %s", r.status, r.body);
            ok = 0;
        }
        api_resp_free(&r);
    }
    assert_int_equal(ok, 10);
    /* The outage is in the log once per connection, in the log's own format: what PostgreSQL
     * said on the way (a FATAL for each killed backend) goes through the log too, never to
     * stderr as bare libpq lines. */
    wait_log(s, "database connection lost");
    wait_log(s, "database connection back");
    char *text = read_file(s->log);
    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, "FATAL:", 6) == 0 || strncmp(line, "NOTICE:", 7) == 0)
            fail_msg("a line outside the log's format: %.80s", line);
        const char *nl = strchr(line, '\n');
        line = nl != NULL ? nl + 1 : NULL;
    }
    free(text);
}

/* With auth.tokens configured, /api routes need "Authorization: Bearer TOKEN"; /healthz and
 * /readyz do not. The digest below is SHA-256("test"). */
static void test_bearer_tokens(void **state)
{
    struct server *s =
        started(false, "auth:\n  tokens:\n    - name: ci\n      sha256: "
                       "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n");
    static api_conn conn;
    api_resp r;

    *state = s;
    api_wait_ready(s);
    api_expect(s->port, "GET", "/healthz", NULL, 200, "{\"status\":\"ok\"}");
    r = api_call(s->port, "GET", "/api/streams", NULL);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.head, "\r\nWWW-Authenticate: Bearer\r\n"));
    assert_non_null(strstr(r.body, "{\"summary\":"));
    api_resp_free(&r);
    api_open(&conn, s->port, EVENT_MS);
    send_str(&conn, "GET /api/streams HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n\r\n"
                    "GET /api/streams HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test\r\n\r\n");
    r = api_read(&conn);
    assert_int_equal(r.status, 401);
    api_resp_free(&r);
    r = api_read(&conn);
    assert_int_equal(r.status, 200);
    assert_ptr_equal(strstr(r.body, "{\"data\":["), r.body);
    api_resp_free(&r);
    api_close(&conn);
}

/* Hostile and malformed requests against the real server: each gets its 4xx (and the
 * connection closed after it), and no worker dies for any of them. The limits are small so
 * the oversized cases stay cheap. */
static void test_hostile_requests(void **state)
{
    struct server *s = started(false, "limits:\n  max_request_line_bytes: 1024\n"
                                      "  max_header_bytes: 2048\n  max_headers: 20\n"
                                      "  max_body_bytes: 4096\n  max_message_bytes: 1024\n");
    *state = s;
    static char long_line[2100], many[4000], big_header[3000];
    snprintf(long_line, sizeof long_line, "GET /%02000d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    char *p = many + sprintf(many, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 30; i++)
        p += sprintf(p, "X-%d: y\r\n", i);
    sprintf(p, "\r\n");
    snprintf(big_header, sizeof big_header,
             "GET /healthz HTTP/1.1\r\nHost: x\r\nX: %02500d\r\n\r\n", 0);
    static const struct {
        const char *what, *raw;
        int status;
    } cases[] = {
        {"CL and TE",
         "POST /api/streams HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         400},
        {"conflicting CLs",
         "POST /api/streams HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
         "Content-Length: 2\r\n\r\nab",
         400},
        {"TE gzip", "POST /api/streams HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
         400},
        {"TE gzip, chunked",
         "POST /api/streams HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
         "0\r\n\r\n",
         501},
        {"bad chunk size",
         "POST /api/streams HTTP/1.1\r\nHost: x\r\n"
         "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
         400},
        {"obs-fold", "GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400},
        {"bare CR", "GET /healthz HTTP/1.1\r\nHost: x\rY: z\r\n\r\n", 400},
        {"control character", "GET /heal\x01thz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"HTTP/2.0", "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 400},
        {"no Host", "GET /healthz HTTP/1.1\r\n\r\n", 400},
        {"negative CL", "POST /api/streams HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
        {"body over the limit",
         "POST /api/streams/default/messages HTTP/1.1\r\nHost: x\r\n"
         "Content-Length: 999999\r\n\r\n",
         413},
        {"long request line", long_line, 414},
        {"too many headers", many, 431},
        {"header too large", big_header, 431},
        {"not JSON", "POST /api/streams HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n{x}", 400},
        {"NUL in a path parameter", "GET /api/streams/a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"bad percent", "GET /api/streams/a%zzb HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    };
    pid_t before[MAX_PIDS], after[MAX_PIDS];
    size_t n = workers_of(s->pid, before, MAX_PIDS);
    assert_true(n >= 2);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        static api_conn conn;
        api_open(&conn, s->port, EVENT_MS);
        send_str(&conn, cases[i].raw);
        api_resp r = api_read(&conn);
        if (r.status != cases[i].status || strstr(r.body, "{\"summary\":") == NULL)
            fail_msg("%s: %d %s, wanted %d", cases[i].what, r.status, r.body, cases[i].status);
        api_resp_free(&r);
        api_close(&conn);
    }
    /* Every worker is the one that was there before. */
    size_t m = workers_of(s->pid, after, MAX_PIDS);
    assert_int_equal(m, n);
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t j = 0; j < m; j++)
            found = found || before[i] == after[j];
        if (!found)
            fail_msg("worker %d died", (int)before[i]);
    }
}

/* Whether a response has begun to arrive on `c` within `ms`. */
static bool answered_within(const api_conn *c, int ms)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    return poll(&pfd, 1, ms) == 1;
}

/* The database's other backends (sequind's connections). */
static int backends(PGconn *pg)
{
    /* inside a transaction PostgreSQL keeps serving the first read of pg_stat_activity */
    pgt_exec(pg, "SELECT pg_stat_clear_snapshot()");
    PGresult *res = PQexec(pg, "SELECT count(*) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    int n = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

/* Two lanes (docs/operations.md): with the general lane's one connection stuck in a
 * transaction waiting for a lock, a large upsert still runs on the bulk lane (opened by that
 * first large upsert), and a small one waits for the general lane. One worker, so the lanes are
 * that worker's. */
static void test_bulk_lane(void **state)
{
    struct server *s = new_server(false);
    *state = s;
    char text[1024];
    snprintf(text, sizeof text,
             "listen: 127.0.0.1:%d\nworkers: 1\ndatabase:\n  url: \"%s\"\n"
             "  connections_per_worker: 1\nstreams:\n  - name: held\n  - name: bulk\n",
             s->port, db_url());
    write_file(s->config, text);
    spawn_server(s);
    assert_true(wait_notify(s, "READY=1", START_MS));
    api_wait_ready(s);

    PGconn *pg = pgt_connect();
    pgt_exec(pg, "BEGIN");
    pgt_exec(pg, "SELECT 1 FROM sequin.streams WHERE name = 'held' FOR UPDATE");

    /* a small upsert into "held" takes the general connection and waits for the lock */
    api_conn held, small, large;
    api_open(&held, s->port, 10000);
    api_send(&held, "POST", "/api/streams/held/messages",
             "{\"messages\":[{\"key\":\"a\",\"data\":\"1\"}]}", NULL);
    assert_true(pgt_wait_blocked_by(pg, PQbackendPID(pg)));

    /* the bulk lane is not open before the first large upsert */
    int before = backends(pg);

    /* 100 messages into "bulk": answered while the general connection is still stuck */
    sq_buf body = {0};
    assert_int_equal(sq_buf_puts(&body, "{\"messages\":["), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(
            sq_buf_printf(&body, "%s{\"key\":\"k.%d\",\"data\":\"d\"}", i ? "," : "", i), 0);
    assert_int_equal(sq_buf_puts(&body, "]}"), 0);
    assert_int_equal(sq_buf_putc(&body, '\0'), 0);
    api_open(&large, s->port, 5000);
    api_send(&large, "POST", "/api/streams/bulk/messages", body.data, NULL);
    api_resp r = api_read(&large);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"published\":100"));
    api_resp_free(&r);
    assert_int_equal(backends(pg), before + 1);

    /* one message is not bulk work: it waits for the general lane */
    api_open(&small, s->port, 10000);
    api_send(&small, "POST", "/api/streams/bulk/messages",
             "{\"messages\":[{\"key\":\"k.small\",\"data\":\"d\"}]}", NULL);
    assert_false(answered_within(&small, 500));
    assert_false(answered_within(&held, 0));

    pgt_exec(pg, "COMMIT");
    r = api_read(&held);
    assert_int_equal(r.status, 200);
    api_resp_free(&r);
    r = api_read(&small);
    assert_int_equal(r.status, 200);
    api_resp_free(&r);
    api_close(&held);
    api_close(&small);
    api_close(&large);
    sq_buf_free(&body);
    PQfinish(pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_messages, setup_server, teardown_server),
        cmocka_unit_test_setup_teardown(test_streams, setup_server, teardown_server),
        cmocka_unit_test_setup_teardown(test_errors, setup_server, teardown_server),
        cmocka_unit_test_setup_teardown(test_keep_alive_and_pipelining, setup_server,
                                        teardown_server),
        cmocka_unit_test_setup_teardown(test_database_connections_dropped, setup_server,
                                        teardown_server),
        cmocka_unit_test_teardown(test_bearer_tokens, teardown_server),
        cmocka_unit_test_teardown(test_hostile_requests, teardown_server),
        cmocka_unit_test_teardown(test_bulk_lane, teardown_server),
    };
    return cmocka_run_group_tests_name("sequind_api", tests, NULL, NULL);
}
