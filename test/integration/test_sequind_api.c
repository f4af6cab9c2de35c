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

#include "sequind_harness.h"

/* ---- talking to the server ------------------------------------------------------------------ */

static int connect_to(const struct server *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = EVENT_MS / 1000};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("connect to port %d: %s", s->port, strerror(errno));
    return fd;
}

static void send_all(int fd, const char *data)
{
    size_t len = strlen(data);
    if (send(fd, data, len, MSG_NOSIGNAL) != (ssize_t)len)
        fail_msg("send: %s", strerror(errno));
}

/* A response read from a connection that stays open. */
struct resp {
    int status;
    char head[2048]; /* NUL-terminated, with its empty line */
    char *body;      /* NUL-terminated; free it */
    size_t body_len;
};

/* Bytes read past the previous response on the same connection (pipelining). */
static char pending[65536];
static size_t pending_len;

static void read_more(int fd)
{
    if (pending_len == sizeof pending)
        fail_msg("response too large");
    ssize_t n = recv(fd, pending + pending_len, sizeof pending - pending_len, 0);
    if (n <= 0)
        fail_msg("recv: %s", n == 0 ? "connection closed" : strerror(errno));
    pending_len += (size_t)n;
}

/* Reads one response (head, then Content-Length bytes of body). */
static struct resp read_response(int fd)
{
    struct resp r = {0};
    char *end;

    for (;;) {
        end = memmem(pending, pending_len, "\r\n\r\n", 4);
        if (end != NULL)
            break;
        read_more(fd);
    }
    size_t head_len = (size_t)(end - pending) + 4;
    assert_true(head_len < sizeof r.head);
    memcpy(r.head, pending, head_len);
    r.head[head_len] = '\0';
    if (sscanf(r.head, "HTTP/1.1 %d ", &r.status) != 1)
        fail_msg("not an HTTP response: \"%s\"", r.head);
    const char *cl = strstr(r.head, "\r\nContent-Length: ");
    assert_non_null(cl);
    r.body_len = strtoul(cl + 18, NULL, 10);
    while (pending_len < head_len + r.body_len)
        read_more(fd);
    r.body = malloc(r.body_len + 1);
    memcpy(r.body, pending + head_len, r.body_len);
    r.body[r.body_len] = '\0';
    memmove(pending, pending + head_len + r.body_len, pending_len - head_len - r.body_len);
    pending_len -= head_len + r.body_len;
    return r;
}

/* One request on a new connection with Connection: close; `body` may be NULL. */
static struct resp call(const struct server *s, const char *method, const char *target,
                        const char *body)
{
    char req[16384];
    int fd = connect_to(s);

    snprintf(req, sizeof req,
             "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             method, target, body != NULL ? strlen(body) : 0, body != NULL ? body : "");
    pending_len = 0;
    send_all(fd, req);
    struct resp r = read_response(fd);
    close(fd);
    pending_len = 0;
    return r;
}

static void resp_free(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

static void expect(const struct server *s, const char *method, const char *target, const char *body,
                   int status, const char *needle)
{
    struct resp r = call(s, method, target, body);
    if (r.status != status || (needle != NULL && strstr(r.body, needle) == NULL))
        fail_msg("%s %s: %d %s, wanted %d with %s", method, target, r.status, r.body, status,
                 needle != NULL ? needle : "(anything)");
    assert_non_null(strstr(r.head, "\r\nContent-Type: application/json\r\n"));
    resp_free(&r);
}

/* Starts a server and waits until its workers' database pools are connected. */
static int setup_server(void **state)
{
    struct server *s = started(false, "streams:\n  - name: default\n");
    int64_t end = now_ms() + START_MS;
    int status = 0;

    *state = s;
    while (now_ms() < end) {
        struct resp r = call(s, "GET", "/readyz", NULL);
        status = r.status;
        resp_free(&r);
        if (status == 200)
            return 0;
        usleep(20000);
    }
    char *text = read_file(s->log);
    print_message("log:\n%s\n", text);
    free(text);
    fail_msg("/readyz did not answer 200 within %d ms", START_MS);
    return -1;
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

    expect(s, "GET", "/readyz", NULL, 200, "{\"status\":\"ok\"}");
    expect(s, "POST", "/api/streams/default/messages", ORDERS, 200, "{\"data\":{\"published\":4}}");
    /* The same batch again changes nothing. */
    expect(s, "POST", "/api/streams/default/messages", ORDERS, 200, "{\"data\":{\"published\":0}}");
    expect(s, "POST", "/api/streams/default/messages",
           "{\"messages\":[{\"key\":\"orders.us.cus_a.order_2\","
           "\"data\":\"{\\\"product\\\": \\\"Hat\\\", \\\"status\\\": \\\"paid\\\"}\"}]}",
           200, "{\"data\":{\"published\":1}}");
    expect(s, "GET", "/api/streams/default/messages/orders.us.cus_a.order_1", NULL, 200,
           "\"data\":\"{\\\"product\\\": \\\"Shoes\\\"}\"");
    expect(s, "GET", "/api/streams/default/messages/orders%2Eus.cus_a.order_2", NULL, 200,
           "\\\"status\\\": \\\"paid\\\"");

    struct resp r = call(s, "GET", "/api/streams/default/messages?key_pattern=orders.us.%3E", NULL);
    assert_int_equal(r.status, 200);
    char *o1 = strstr(r.body, "order_1"), *o4 = strstr(r.body, "order_4"),
         *o2 = strstr(r.body, "order_2");
    if (o1 == NULL || o2 == NULL || o4 == NULL || !(o1 < o4 && o4 < o2) ||
        strstr(r.body, "order_3") != NULL || strncmp(r.body, "{\"data\":[", 9) != 0)
        fail_msg("the US orders in seq order: %s", r.body);
    resp_free(&r);
    r = call(s, "GET", "/api/streams/default/messages?sort=seq_desc&limit=1", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "order_2"));
    assert_null(strstr(r.body, "order_4"));
    resp_free(&r);

    expect(s, "DELETE", "/api/streams/default/messages/orders.eu.cus_b.order_3", NULL, 200,
           "{\"data\":{\"deleted\":true}}");
    expect(s, "GET", "/api/streams/default/messages/orders.eu.cus_b.order_3", NULL, 404,
           "{\"summary\":\"message not found\"}");
    expect(s, "DELETE", "/api/streams/default/messages/orders.eu.cus_b.order_3", NULL, 404,
           "\"summary\"");
    expect(s, "GET", "/api/streams/nope/messages", NULL, 404, "{\"summary\":\"stream not found\"}");
    expect(s, "POST", "/api/streams/nope/messages", ORDERS, 404, "stream not found");
}

static void test_streams(void **state)
{
    struct server *s = *state;

    expect(s, "POST", "/api/streams", "{\"name\":\"books\"}", 200, "\"name\":\"books\"");
    expect(s, "POST", "/api/streams", "{\"name\":\"books\"}", 409, "\"summary\"");
    struct resp r = call(s, "GET", "/api/streams/books", NULL);
    assert_int_equal(r.status, 200);
    assert_ptr_equal(strstr(r.body, "{\"data\":{\"id\":\""), r.body);
    char id[37];
    memcpy(id, r.body + 15, 36);
    id[36] = '\0';
    resp_free(&r);
    char path[128];
    snprintf(path, sizeof path, "/api/streams/%s", id);
    expect(s, "GET", path, NULL, 200, "\"name\":\"books\"");
    /* A stream named by its id in a message route. */
    snprintf(path, sizeof path, "/api/streams/%s/messages", id);
    expect(s, "POST", path, "{\"messages\":[{\"key\":\"a.b\",\"data\":\"x\"}]}", 200,
           "{\"data\":{\"published\":1}}");
    expect(s, "GET", "/api/streams", NULL, 200, "\"name\":\"books\"");
    expect(s, "DELETE", "/api/streams/books", NULL, 200, "\"deleted\":true");
    expect(s, "GET", "/api/streams/books", NULL, 404, "{\"summary\":\"stream not found\"}");
    expect(s, "DELETE", "/api/streams/books", NULL, 404, "\"summary\"");
}

static void test_errors(void **state)
{
    struct server *s = *state;

    expect(s, "POST", "/api/streams", "{\"name\":", 400, "{\"summary\":");
    expect(s, "POST", "/api/streams", "{\"name\":\"no spaces\"}", 422, "validation_errors");
    expect(s, "POST", "/api/streams/default/messages",
           "{\"messages\":[{\"key\":\"bad..key\",\"data\":\"x\"}]}", 400, "{\"summary\":");
    expect(s, "GET", "/api/streams/default/messages/bad..key", NULL, 400, "{\"summary\":");
    expect(s, "GET", "/api/streams/default/messages?limit=0", NULL, 400, "{\"summary\":");
    expect(s, "GET", "/api/nothing", NULL, 404, "{\"summary\":");
    struct resp r = call(s, "PUT", "/api/streams", "{}");
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.head, "\r\nAllow: GET, POST\r\n"));
    assert_non_null(strstr(r.body, "{\"summary\":"));
    resp_free(&r);
    expect(s, "GET", "/api/streams/default/consumers", NULL, 503, "not served yet");
}

static void test_keep_alive_and_pipelining(void **state)
{
    struct server *s = *state;
    int fd = connect_to(s);
    struct resp r;

    pending_len = 0;
    /* Two requests in one send: both answered, in order. */
    send_all(fd, "POST /api/streams/default/messages HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: 44\r\n\r\n"
                 "{\"messages\":[{\"key\":\"pipe.a\",\"data\":\"1\"}]}  "
                 "GET /api/streams/default/messages/pipe.a HTTP/1.1\r\nHost: x\r\n\r\n");
    r = read_response(fd);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"data\":{\"published\":1}}");
    assert_null(strstr(r.head, "Connection: close"));
    resp_free(&r);
    r = read_response(fd);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"key\":\"pipe.a\""));
    resp_free(&r);
    /* The same connection again, with a chunked body. */
    send_all(fd, "POST /api/streams/default/messages HTTP/1.1\r\nHost: x\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n"
                 "f\r\n{\"messages\":[{\"\r\n1b\r\nkey\":\"pipe.b\",");
    usleep(50000); /* the rest of the body in a later read */
    send_all(fd, "\"data\":\"2\"}]}\r\n0\r\n\r\n");
    r = read_response(fd);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"data\":{\"published\":1}}");
    resp_free(&r);
    send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    r = read_response(fd);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    /* A broken request closes the connection after its answer. */
    send_all(fd, "GET /healthz HTTP/1.1\r\n\r\n");
    r = read_response(fd);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.head, "\r\nConnection: close\r\n"));
    resp_free(&r);
    char c;
    assert_int_equal(recv(fd, &c, 1, 0), 0);
    close(fd);
    pending_len = 0;
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
        struct resp r = call(s, "GET", "/api/streams", NULL);
        if (r.status == 200) {
            ok++;
        } else {
            if (r.status != 503 || strstr(r.head, "\r\nRetry-After: 1\r\n") == NULL)
                fail_msg("GET /api/streams: %d %s", r.status, r.body);
            ok = 0;
        }
        resp_free(&r);
    }
    assert_int_equal(ok, 10);
}

/* With auth.tokens configured, /api routes need "Authorization: Bearer TOKEN"; /healthz and
 * /readyz do not. The digest below is SHA-256("test"). */
static void test_bearer_tokens(void **state)
{
    struct server *s =
        started(false, "auth:\n  tokens:\n    - name: ci\n      sha256: "
                       "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n");
    int fd;
    struct resp r;

    *state = s;
    int64_t end = now_ms() + START_MS;
    do {
        r = call(s, "GET", "/readyz", NULL);
        resp_free(&r);
    } while (r.status != 200 && now_ms() < end);
    assert_int_equal(r.status, 200);
    expect(s, "GET", "/healthz", NULL, 200, "{\"status\":\"ok\"}");
    r = call(s, "GET", "/api/streams", NULL);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.head, "\r\nWWW-Authenticate: Bearer\r\n"));
    assert_non_null(strstr(r.body, "{\"summary\":"));
    resp_free(&r);
    fd = connect_to(s);
    pending_len = 0;
    send_all(fd, "GET /api/streams HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n\r\n"
                 "GET /api/streams HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test\r\n\r\n");
    r = read_response(fd);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    r = read_response(fd);
    assert_int_equal(r.status, 200);
    assert_ptr_equal(strstr(r.body, "{\"data\":["), r.body);
    resp_free(&r);
    close(fd);
    pending_len = 0;
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
    };
    return cmocka_run_group_tests_name("sequind_api", tests, NULL, NULL);
}
