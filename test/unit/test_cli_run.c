/* The built sequin binary end to end against a tiny HTTP server in this process: what it
 * sends (method, path, body, token), what it prints, its exit statuses, contexts on disk. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sequin/buf.h"

/* ---- the server: one request per connection, answers from a queue ----------------------- */

#define MAX_EXCHANGES 8

typedef struct canned {
    int status;
    const char *body;
} canned;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static canned answers[MAX_EXCHANGES];
static int nanswers, served;
static char *seen[MAX_EXCHANGES]; /* "METHOD PATH\nBODY" */
static char *seen_auth[MAX_EXCHANGES];
static int port;
static char url[64];
static char config_dir[64];

static void serve_one(int fd)
{
    sq_buf in = {0};
    char chunk[4096];
    ssize_t n;
    char *end = NULL;
    while ((end = in.data != NULL ? strstr(in.data, "\r\n\r\n") : NULL) == NULL &&
           (n = read(fd, chunk, sizeof chunk)) > 0)
        if (sq_buf_append(&in, chunk, (size_t)n) != SQ_OK)
            abort();
    if (end == NULL)
        goto done;
    size_t head = (size_t)(end - in.data) + 4, clen = 0;
    char *auth = NULL;
    for (char *line = strstr(in.data, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            clen = strtoul(line + 15, NULL, 10);
        if (strncasecmp(line, "Authorization: ", 15) == 0)
            auth = strndup(line + 15, (size_t)(strstr(line, "\r\n") - line - 15));
    }
    while (in.len < head + clen && (n = read(fd, chunk, sizeof chunk)) > 0)
        if (sq_buf_append(&in, chunk, (size_t)n) != SQ_OK)
            abort();
    /* "GET /path HTTP/1.1": keep the method and the path. */
    char *sp = strchr(strchr(in.data, ' ') + 1, ' ');
    sq_buf rec = {0};
    if (sq_buf_printf(&rec, "%.*s\n%.*s", (int)(sp - in.data), in.data, (int)clen,
                      in.data + head) != SQ_OK)
        abort();
    pthread_mutex_lock(&lock);
    int i = served++;
    canned a = i < nanswers ? answers[i] : (canned){500, "{\"summary\":\"unexpected request\"}"};
    if (i < MAX_EXCHANGES) {
        seen[i] = sq_buf_steal(&rec, NULL);
        seen_auth[i] = auth;
        auth = NULL;
    }
    pthread_mutex_unlock(&lock);
    sq_buf out = {0};
    if (sq_buf_printf(&out,
                      "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n%s",
                      a.status, strlen(a.body), a.body) != SQ_OK ||
        write(fd, out.data, out.len) != (ssize_t)out.len)
        abort();
    sq_buf_free(&out);
    sq_buf_free(&rec);
    free(auth);
done:
    sq_buf_free(&in);
}

static void *server(void *arg)
{
    int lfd = *(int *)arg;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        serve_one(fd);
        close(fd);
    }
    return NULL;
}

/* Resets the queue: the next requests get `a`. */
static void expect(const canned *a, int n)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MAX_EXCHANGES; i++) {
        free(seen[i]);
        free(seen_auth[i]);
        seen[i] = seen_auth[i] = NULL;
    }
    if (n > 0)
        memcpy(answers, a, (size_t)n * sizeof *a);
    nanswers = n;
    served = 0;
    pthread_mutex_unlock(&lock);
}

static int nserved(void)
{
    pthread_mutex_lock(&lock);
    int n = served;
    pthread_mutex_unlock(&lock);
    return n;
}

static int setup(void **state)
{
    (void)state;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    static int fd;
    pthread_t t;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    port = ntohs(sa.sin_port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    fd = lfd;
    if (pthread_create(&t, NULL, server, &fd) != 0 || pthread_detach(t) != 0)
        return -1;
    strcpy(config_dir, "/tmp/sq_cli_run.XXXXXX");
    return mkdtemp(config_dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", config_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- running the binary ---------------------------------------------------------------- */

typedef struct run_result {
    int status;
    sq_buf out, err;
} run_result;

static void slurp_fd(int fd, sq_buf *b)
{
    char chunk[4096];
    ssize_t n;
    lseek(fd, 0, SEEK_SET);
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        assert_int_equal(sq_buf_append(b, chunk, (size_t)n), SQ_OK);
    if (b->data == NULL)
        assert_int_equal(sq_buf_puts(b, ""), SQ_OK);
    close(fd);
}

/* Runs sequin with `argv` (NULL-terminated) against the test server; `token` sets
 * SEQUIN_TOKEN when not NULL. stdin is /dev/null, so consumer add never prompts. */
static run_result run(const char *token, const char *const *argv)
{
    const char *dir = getenv("SQ_BUILDDIR");
    char bin[4096];
    snprintf(bin, sizeof bin, "%s/sequin", dir != NULL ? dir : ".");
    FILE *o = tmpfile(), *e = tmpfile();
    assert_non_null(o);
    assert_non_null(e);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *args[32] = {"sequin"};
        for (int i = 0; argv[i] != NULL && i < 30; i++)
            args[i + 1] = argv[i];
        setenv("SEQUIN_URL", url, 1);
        setenv("XDG_CONFIG_HOME", config_dir, 1);
        if (token != NULL)
            setenv("SEQUIN_TOKEN", token, 1);
        else
            unsetenv("SEQUIN_TOKEN");
        FILE *null = freopen("/dev/null", "r", stdin);
        (void)null;
        dup2(fileno(o), 1);
        dup2(fileno(e), 2);
        execv(bin, (char *const *)args);
        _exit(127);
    }
    run_result r = {0};
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    slurp_fd(dup(fileno(o)), &r.out);
    slurp_fd(dup(fileno(e)), &r.err);
    fclose(o);
    fclose(e);
    return r;
}

static void run_free(run_result *r)
{
    sq_buf_free(&r->out);
    sq_buf_free(&r->err);
}

#define RUN(token, ...) run(token, (const char *const[]){__VA_ARGS__, NULL})

static const char one_delivery[] =
    "{\"data\":[{\"ack_id\":\"8d1c7a52-3d0e-4a55-9f6e-0d9f5c3b7a11\",\"message\":{\"key\":"
    "\"orders.us.cus_a.order_1\",\"stream_id\":\"s\",\"data\":\"{\\\"product\\\": "
    "\\\"Shoes\\\"}\",\"data_hash\":\"h\",\"seq\":1,\"inserted_at\":\"t\",\"updated_at\":\"t\"}}]}";

static void test_receive_prints_and_acks(void **state)
{
    (void)state;
    const canned a[] = {{200, one_delivery}, {200, "{\"success\":true}"}};
    expect(a, 2);
    run_result r = RUN(NULL, "consumer", "receive", "us_orders");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out.data, "key:    orders.us.cus_a.order_1\nseq:    1\n"
                                    "data:   {\"product\": \"Shoes\"}\n"
                                    "ack_id: 8d1c7a52-3d0e-4a55-9f6e-0d9f5c3b7a11\n");
    assert_int_equal(nserved(), 2);
    assert_string_equal(seen[0], "POST /api/streams/default/consumers/us_orders/receive\n"
                                 "{\"batch_size\":1}");
    assert_string_equal(seen[1], "POST /api/streams/default/consumers/us_orders/ack\n"
                                 "{\"ack_ids\":[\"8d1c7a52-3d0e-4a55-9f6e-0d9f5c3b7a11\"]}");
    assert_null(seen_auth[0]);
    run_free(&r);
}

static void test_receive_no_ack(void **state)
{
    (void)state;
    const canned a[] = {{200, one_delivery}};
    expect(a, 1);
    run_result r = RUN(NULL, "consumer", "receive", "us_orders", "--no-ack");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out.data, "orders.us.cus_a.order_1"));
    assert_int_equal(nserved(), 1);
    run_free(&r);
}

static void test_receive_nothing(void **state)
{
    (void)state;
    const canned a[] = {{200, "{\"data\":[]}"}};
    expect(a, 1);
    run_result r = RUN(NULL, "consumer", "receive", "us_orders");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out.data, "No messages available.\n");
    assert_string_equal(r.err.data, "");
    assert_int_equal(nserved(), 1); /* nothing to ack */
    run_free(&r);
}

static void test_failed_ack_is_an_error(void **state)
{
    (void)state;
    const canned a[] = {{200, one_delivery}, {400, "{\"summary\":\"malformed ack id\"}"}};
    expect(a, 2);
    run_result r = RUN(NULL, "consumer", "receive", "us_orders");
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err.data, "error: malformed ack id\n");
    run_free(&r);
}

static void test_server_errors(void **state)
{
    (void)state;
    const canned nf[] = {{404, "{\"summary\":\"no consumer named nope\"}"}};
    expect(nf, 1);
    run_result r = RUN(NULL, "consumer", "info", "nope");
    assert_int_equal(r.status, 1);
    assert_string_equal(r.out.data, "");
    assert_string_equal(r.err.data, "error: no consumer named nope\n");
    run_free(&r);

    const canned inv[] = {{422, "{\"summary\":\"invalid consumer\",\"validation_errors\":"
                                "{\"ack_wait_ms\":[\"is from 500 to 3600000\"]}}"}};
    expect(inv, 1);
    r = RUN(NULL, "consumer", "edit", "c", "--ack-wait-ms=600");
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err.data,
                        "error: invalid consumer\n  ack_wait_ms: is from 500 to 3600000\n");
    assert_string_equal(seen[0], "PATCH /api/streams/default/consumers/c\n{\"ack_wait_ms\":600}");
    run_free(&r);

    /* What today's sequind answers. */
    const canned na[] = {{503, "{\"summary\":\"the API is not served yet\"}"}};
    expect(na, 1);
    r = RUN(NULL, "stream", "ls");
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err.data, "error: the API is not served yet\n");
    run_free(&r);
}

static void test_json_output(void **state)
{
    (void)state;
    const char *body = "{\"data\":[{\"id\":\"1\",\"name\":\"default\",\"stats\":{}}]}";
    const canned a[] = {{200, body}};
    expect(a, 1);
    run_result r = RUN(NULL, "--json", "stream", "ls");
    assert_int_equal(r.status, 0);
    assert_int_equal(r.out.len, strlen(body) + 1);
    assert_memory_equal(r.out.data, body, strlen(body));
    assert_string_equal(seen[0], "GET /api/streams\n");
    run_free(&r);
}

static void test_guide_upsert_and_token(void **state)
{
    (void)state;
    const canned a[] = {{200, "{\"data\":{\"published\":1}}"}};
    expect(a, 1);
    run_result r =
        RUN("s3cret", "message", "upsert", "orders.us.cus_a.order_1", "{\"product\": \"Shoes\"}");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out.data, "Published 1 message.\n");
    assert_string_equal(seen[0], "POST /api/streams/default/messages\n"
                                 "{\"messages\":[{\"key\":\"orders.us.cus_a.order_1\",\"data\":"
                                 "\"{\\\"product\\\": \\\"Shoes\\\"}\"}]}");
    assert_string_equal(seen_auth[0], "Bearer s3cret");
    run_free(&r);
}

/* The guide's --as-curl command, pasted into /bin/sh with a curl function: the same request. */
static void test_guide_as_curl(void **state)
{
    (void)state;
    expect(NULL, 0);
    run_result r = RUN("to'k $x", "message", "upsert", "orders.us.cus_a.order_1",
                       "{\"product\": \"Shoes\", \"status\": \"new\"}", "--as-curl");
    assert_int_equal(r.status, 0);
    assert_int_equal(nserved(), 0);
    sq_buf script = {0};
    assert_int_equal(sq_buf_printf(&script,
                                   "curl() { for a in \"$@\"; do printf '[%%s]' \"$a\"; done; }\n"
                                   "%s",
                                   r.out.data),
                     SQ_OK);
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        execl("/bin/sh", "sh", "-c", script.data, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    sq_buf got = {0};
    slurp_fd(fd[0], &got);
    waitpid(pid, NULL, 0);
    char want[512];
    snprintf(want, sizeof want,
             "[-X][POST][-H][Authorization: Bearer to'k $x][-H][Content-Type: application/json]"
             "[--data-raw][{\"messages\":[{\"key\":\"orders.us.cus_a.order_1\",\"data\":"
             "\"{\\\"product\\\": \\\"Shoes\\\", \\\"status\\\": \\\"new\\\"}\"}]}]"
             "[%s/api/streams/default/messages]",
             url);
    assert_string_equal(got.data, want);
    sq_buf_free(&got);
    sq_buf_free(&script);
    run_free(&r);
}

static void test_usage_errors_exit_2(void **state)
{
    (void)state;
    static const char *const cases[][6] = {
        {"bogus"},
        {"consumer", "receive", "c", "--batch-size=abc"},
        {"consumer", "receive", "c", "--batch-size", "0"},
        {"consumer", "add", "c", "--ack-wait-ms=10", "--filter", ">"},
        {"consumer", "add", "c", "--defaults"},
        {"message", "upsert", "orders..x", "{}"},
        {"message", "ls", "--filter", "orders.ab*"},
        {"message", "get"},
        /* Off a terminal nothing is asked: a source without a URL or tables is refused. */
        {"source", "postgres", "add", "mydb", "--table=public.orders"},
        {"source", "postgres", "add", "mydb", "--url=postgres://db/app"},
        {"stream", "ls", "--nope"},
        {"observe", "--as-curl"},
        {NULL},
    };
    expect(NULL, 0);
    for (size_t i = 0; cases[i][0] != NULL; i++) {
        run_result r = run(NULL, cases[i]);
        if (r.status != 2 || strstr(r.err.data, "usage: sequin") == NULL ||
            strncmp(r.err.data, "sequin: ", 8) != 0)
            fail_msg("case %zu (%s): status %d, stderr:\n%s", i, cases[i][0], r.status, r.err.data);
        assert_string_equal(r.out.data, "");
        run_free(&r);
    }
    /* The full-screen view needs a terminal: here stdin is /dev/null and stdout a file. */
    run_result r = RUN(NULL, "observe");
    assert_int_equal(r.status, 2);
    assert_string_equal(r.err.data, "sequin: observe is a full-screen view: it needs a terminal\n");
    run_free(&r);
    assert_int_equal(nserved(), 0);
    r = RUN(NULL, "--help");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out.data, "consumer receive"));
    assert_non_null(strstr(r.out.data, "observe"));
    run_free(&r);
    r = RUN(NULL, "consumer", "receive", "--help");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out.data, "--no-ack"));
    run_free(&r);
}

static void test_connection_refused(void **state)
{
    (void)state;
    /* A port nobody listens on: bind one, then close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    char saved[64], dead[64], want[128];
    strcpy(saved, url);
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    strcpy(url, dead);
    run_result r = RUN(NULL, "stream", "ls");
    strcpy(url, saved);
    assert_int_equal(r.status, 1);
    snprintf(want, sizeof want, "sequin: cannot reach %s: Connection refused\n", dead);
    assert_string_equal(r.err.data, want);
    run_free(&r);
}

static void test_contexts(void **state)
{
    (void)state;
    char ctx_url[80];
    snprintf(ctx_url, sizeof ctx_url, "--server-url=%s/", url);
    run_result r =
        RUN(NULL, "context", "add", "local", ctx_url, "--token", "ctx-tok", "--set-default");
    assert_int_equal(r.status, 0);
    run_free(&r);
    char path[160];
    struct stat st;
    snprintf(path, sizeof path, "%s/sequin/contexts/local", config_dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/sequin", config_dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    /* The default context wins over SEQUIN_TOKEN; its URL's trailing slash is dropped. */
    const canned a[] = {{200, "{\"data\":[]}"}};
    expect(a, 1);
    r = RUN("env-tok", "stream", "ls");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out.data, "No streams.\n");
    assert_string_equal(seen[0], "GET /api/streams\n");
    assert_string_equal(seen_auth[0], "Bearer ctx-tok");
    run_free(&r);

    r = RUN(NULL, "context", "ls");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out.data, "DEFAULT  NAME   SERVER_URL"));
    assert_non_null(strstr(r.out.data, "*        local  http://127.0.0.1:"));
    run_free(&r);

    r = RUN(NULL, "--context", "missing", "stream", "ls");
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err.data, "no context named \"missing\""));
    run_free(&r);

    r = RUN(NULL, "context", "add", "../evil", "--server-url", "http://x");
    assert_int_equal(r.status, 2);
    run_free(&r);

    r = RUN(NULL, "context", "rm", "local");
    assert_int_equal(r.status, 0);
    run_free(&r);
    expect(a, 1);
    r = RUN("env-tok", "stream", "ls");
    assert_int_equal(r.status, 0);
    assert_string_equal(seen_auth[0], "Bearer env-tok");
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_receive_prints_and_acks),
        cmocka_unit_test(test_receive_no_ack),
        cmocka_unit_test(test_receive_nothing),
        cmocka_unit_test(test_failed_ack_is_an_error),
        cmocka_unit_test(test_server_errors),
        cmocka_unit_test(test_json_output),
        cmocka_unit_test(test_guide_upsert_and_token),
        cmocka_unit_test(test_guide_as_curl),
        cmocka_unit_test(test_usage_errors_exit_2),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_contexts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
