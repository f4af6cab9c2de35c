/* The real sequind binary against a throwaway PostgreSQL: options, start and READY=1, the
 * interim worker's answers, respawn, reload, graceful and immediate stops. (The systemd unit
 * is checked by test/packaging/verify-unit.) */
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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "sequin/sha256.h"

#include "sequind_harness.h"

/* ---- helpers -------------------------------------------------------------------------------- */

/* One run of sequind with `args`, `input` on stdin, to completion (at most EVENT_MS). */
struct run {
    int status; /* exit status, or 128 + signal */
    char *out, *err;
};

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

static struct run run_sequind(const char *const *args, const char *input)
{
    char dir[] = "/tmp/sqtest-run.XXXXXX", in[64], out[64], err[64];
    const char *argv[16] = {sequind()};
    struct run r = {0};
    int status = 0;

    if (mkdtemp(dir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    snprintf(in, sizeof in, "%s/in", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    write_file(in, input != NULL ? input : "");
    for (size_t i = 0; args[i] != NULL && i + 2 < sizeof argv / sizeof argv[0]; i++)
        argv[i + 1] = args[i];
    pid_t pid = fork();
    if (pid == 0) {
        int i0 = open(in, O_RDONLY), o = open(out, O_WRONLY | O_CREAT, 0600),
            e = open(err, O_WRONLY | O_CREAT, 0600);
        dup2(i0, 0);
        dup2(o, 1);
        dup2(e, 2);
        unsetenv("NOTIFY_SOCKET");
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (!wait_exit(pid, EVENT_MS, &status)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("sequind %s did not finish in %d ms", args[0], EVENT_MS);
    }
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = read_file(out);
    r.err = read_file(err);
    unlink(in);
    unlink(out);
    unlink(err);
    rmdir(dir);
    return r;
}

/* How many descriptors process `pid` has open. */
static size_t count_fds(pid_t pid)
{
    char path[64];
    size_t n = 0;
    struct dirent *e;

    snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        fail_msg("opendir %s: %s", path, strerror(errno));
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static bool pid_in(pid_t pid, const pid_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (list[i] == pid)
            return true;
    }
    return false;
}

/* Waits until the master has `want` workers, none of them in `gone` (n_gone entries). */
static size_t wait_workers(const struct server *s, size_t want, const pid_t *gone, size_t n_gone,
                           pid_t *out)
{
    int64_t end = now_ms() + EVENT_MS;
    for (;;) {
        size_t n = workers_of(s->pid, out, MAX_PIDS), fresh = 0;
        for (size_t i = 0; i < n; i++)
            fresh += !pid_in(out[i], gone, n_gone);
        if (n == want && fresh == want)
            return n;
        if (now_ms() > end)
            fail_msg("expected %zu new workers, found %zu workers (%zu new) after %d ms", want, n,
                     fresh, EVENT_MS);
        sleep_ms(20);
    }
}

/* Sends `request` to the server and reads the whole response (the server closes after it:
 * requests that could keep the connection open say "Connection: close").
 * Returns the status code; the response goes to `resp`. */
static int http(const struct server *s, const char *request, char *resp, size_t size)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = EVENT_MS / 1000};
    size_t len = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0), status = -1;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        fail_msg("connect to port %d: %s", s->port, strerror(errno));
    if (send(fd, request, strlen(request), MSG_NOSIGNAL) != (ssize_t)strlen(request))
        fail_msg("send: %s", strerror(errno));
    for (;;) {
        ssize_t n = recv(fd, resp + len, size - 1 - len, 0);
        if (n < 0)
            fail_msg("recv: %s", strerror(errno));
        if (n == 0 || (len += (size_t)n) == size - 1)
            break;
    }
    close(fd);
    resp[len] = '\0';
    if (sscanf(resp, "HTTP/1.1 %d ", &status) != 1)
        fail_msg("not an HTTP response: \"%s\"", resp);
    return status;
}

static int get(const struct server *s, const char *path, char *resp, size_t size)
{
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
             path);
    return http(s, req, resp, size);
}

static void assert_healthy(const struct server *s)
{
    char resp[2048];
    assert_int_equal(get(s, "/healthz", resp, sizeof resp), 200);
    assert_non_null(strstr(resp, "\r\n\r\n{\"status\":\"ok\"}"));
}

static int setup_server(void **state)
{
    *state = started(false, NULL);
    return 0;
}

/* ---- the command line ---------------------------------------------------------------------- */

static void test_version(void **state)
{
    (void)state;
    struct run r = run_sequind((const char *[]){"--version", NULL}, NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "sequind " PACKAGE_VERSION "\n");
    run_free(&r);
}

static void test_usage_errors(void **state)
{
    (void)state;
    struct run r = run_sequind((const char *[]){"--no-such-option", NULL}, NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "usage: sequind"));
    assert_string_equal(r.out, "");
    run_free(&r);

    r = run_sequind((const char *[]){"-c", "/nonexistent", "extra", NULL}, NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "unexpected argument \"extra\""));
    run_free(&r);

    r = run_sequind((const char *[]){"--help", NULL}, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "--check-config"));
    run_free(&r);
}

static void test_hash_token(void **state)
{
    (void)state;
    unsigned char digest[SQ_SHA256_LEN];
    char expect[2 * SQ_SHA256_LEN + 2];
    sq_sha256("s3cr3t-t0ken", 12, digest);
    sq_sha256_hex(digest, expect);
    strcat(expect, "\n");

    struct run r = run_sequind((const char *[]){"--hash-token", NULL}, "s3cr3t-t0ken\n");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, expect);
    run_free(&r);

    /* No newline at the end, or a CRLF: the same token. */
    r = run_sequind((const char *[]){"--hash-token", NULL}, "s3cr3t-t0ken");
    assert_string_equal(r.out, expect);
    run_free(&r);
    r = run_sequind((const char *[]){"--hash-token", NULL}, "s3cr3t-t0ken\r\n");
    assert_string_equal(r.out, expect);
    run_free(&r);

    /* Only the first line counts. */
    r = run_sequind((const char *[]){"--hash-token", NULL}, "s3cr3t-t0ken\nsecond line\n");
    assert_string_equal(r.out, expect);
    run_free(&r);

    const char *refused[] = {"", "\n", "two words\n"};
    for (size_t i = 0; i < 3; i++) {
        r = run_sequind((const char *[]){"--hash-token", NULL}, refused[i]);
        assert_int_equal(r.status, 1);
        assert_string_equal(r.out, "");
        assert_non_null(strstr(r.err, "--hash-token"));
        run_free(&r);
    }
}

static void test_check_config(void **state)
{
    static const struct {
        const char *yaml; /* NULL: the fixture's own valid file */
        int status;
        const char *said; /* what stderr says after "FILE", or NULL for a valid file */
    } cases[] = {
        {NULL, 0, NULL},
        {"listen: 127.0.0.1:7376\nworkers: many\n", 78, ":2:10: \"workers\" must be"},
        /* Not loopback and no tokens: refused, unless a token or allow_anonymous. */
        {"listen: 0.0.0.0:7376\n", 78,
         ":1:9: listen address \"0.0.0.0:7376\" is not a loopback address and auth.tokens is "
         "empty: add a token (sequind --hash-token) or set auth.allow_anonymous: true"},
        {"listen: \"[::]:7376\"\n", 78, ":1:9: listen address \"[::]:7376\" is not a loopback"},
        {"listen: example.com:7376\n", 78, ":1:9: listen address \"example.com:7376\""},
        {"listen: [\"localhost:7376\", \"[::1]:7377\", \"127.0.0.2:7378\"]\n", 0, NULL},
        {"listen: 0.0.0.0:7376\nauth:\n  allow_anonymous: true\n", 0, NULL},
        {"listen: 0.0.0.0:7376\nauth:\n  tokens:\n    - name: ci\n      sha256: "
         "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n",
         0, NULL},
    };
    struct server *s = new_server(false);
    char said[512];

    *state = s;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].yaml != NULL)
            write_file(s->config, cases[i].yaml);
        struct run r = run_sequind((const char *[]){"-c", s->config, "--check-config", NULL}, NULL);
        if (r.status != cases[i].status)
            fail_msg("case %zu: status %d, stderr: %s", i, r.status, r.err);
        if (cases[i].said == NULL) {
            assert_non_null(strstr(r.out, "the configuration is valid"));
        } else {
            snprintf(said, sizeof said, "%s%s", s->config, cases[i].said);
            if (strstr(r.err, said) != r.err)
                fail_msg("case %zu: stderr is \"%s\", not \"%s...\"", i, r.err, said);
        }
        run_free(&r);
    }

    struct run r = run_sequind(
        (const char *[]){"-c", "/nonexistent/sequin.yaml", "--check-config", NULL}, NULL);
    assert_int_equal(r.status, 78);
    assert_non_null(strstr(r.err, "/nonexistent/sequin.yaml: cannot open the file"));
    run_free(&r);
}

/* ---- starting -------------------------------------------------------------------------------- */

static void test_start_refuses_a_broken_config(void **state)
{
    struct server *s = new_server(false);
    int status = 0;

    *state = s;
    write_file(s->config, "listen: 127.0.0.1:7376\nworkers: many\n");
    spawn_server(s);
    assert_true(wait_exit(s->pid, EVENT_MS, &status));
    s->pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 78);
    assert_true(log_hasf(s, "%s:2:10:", s->config));
}

static void test_start_without_database_fails(void **state)
{
    struct server *s = new_server(false);
    char extra[256];
    int status = 0;

    *state = s;
    /* A port nobody listens on: the connection is refused at once. */
    snprintf(extra, sizeof extra, "listen: 127.0.0.1:%d\ndatabase:\n  url: \"%s\"\n", s->port,
             "postgresql://sequin@127.0.0.1:1/none?connect_timeout=5");
    write_file(s->config, extra);
    spawn_server(s);
    assert_true(wait_exit(s->pid, EVENT_MS, &status));
    s->pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_true(log_has(s, "cannot connect to PostgreSQL"));
    assert_false(wait_notify(s, "READY=1", 0));
}

static void test_ready_and_interim_answers(void **state)
{
    struct server *s = started(false, "streams:\n  - name: default\n  - name: orders\n");
    char resp[2048];

    *state = s;
    assert_healthy(s);
    assert_int_equal(http(s, "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", resp,
                          sizeof resp),
                     200);
    assert_null(strstr(resp, "{\"status\""));
    assert_int_equal(get(s, "/healthz?verbose=1", resp, sizeof resp), 200);

    /* The declared stream exists (the API itself is in test_sequind_api and _consumers). */
    assert_int_equal(get(s, "/api/streams/orders/consumers", resp, sizeof resp), 200);
    assert_non_null(strstr(resp, "\r\nConnection: close\r\n"));
    assert_non_null(strstr(resp, "{\"data\":[]}"));
    assert_int_equal(http(s,
                          "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                          "Connection: close\r\n\r\nhello",
                          resp, sizeof resp),
                     405);
    assert_int_equal(http(s, "BROKEN\r\n\r\n", resp, sizeof resp), 400);
    /* The head goes through http.c, with its limits and its sentences. */
    assert_int_equal(http(s, "GET /healthz HTTP/1.1\r\n\r\n", resp, sizeof resp), 400);
    assert_non_null(strstr(resp, "{\"summary\":\"an HTTP/1.1 request must have a Host header\"}"));
    char *long_line = malloc(10000);
    snprintf(long_line, 10000, "GET /%09000d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    assert_int_equal(http(s, long_line, resp, sizeof resp), 414);
    free(long_line);

    /* The master migrated the schema and created the declared streams. */
    PGconn *c = PQconnectdb(db_url());
    PGresult *r = PQexec(c, "SELECT string_agg(name, ',' ORDER BY name) FROM sequin.streams");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "default,orders");
    PQclear(r);
    PQfinish(c);
    assert_true(log_has(s, "0 created, 0 updated, 0 unchanged, 0 adopted"));
}

static void test_ready_on_an_abstract_socket(void **state)
{
    struct server *s = started(true, NULL);
    *state = s;
    assert_healthy(s);
}

/* ---- supervision ---------------------------------------------------------------------------- */

static void test_killed_worker_is_respawned(void **state)
{
    struct server *s = *state;
    pid_t before[MAX_PIDS], after[MAX_PIDS];

    assert_int_equal(wait_workers(s, 2, NULL, 0, before), 2);
    assert_int_equal(kill(before[0], SIGKILL), 0);
    /* The survivor and one new worker. */
    int64_t end = now_ms() + EVENT_MS;
    size_t n;
    do {
        sleep_ms(20);
        n = workers_of(s->pid, after, MAX_PIDS);
    } while ((n != 2 || pid_in(before[0], after, n)) && now_ms() < end);
    assert_int_equal(n, 2);
    assert_false(pid_in(before[0], after, n));
    assert_true(pid_in(before[1], after, n));
    assert_healthy(s);
    wait_log(s, "was killed by signal 9");
    wait_log(s, "respawning in 100 ms");
}

static void test_reload_with_a_broken_file_keeps_serving(void **state)
{
    struct server *s = *state;
    pid_t before[MAX_PIDS], after[MAX_PIDS];

    assert_int_equal(wait_workers(s, 2, NULL, 0, before), 2);
    write_file(s->config, "listen: 127.0.0.1:7376\nworkers: many\n");
    reload(s);
    wait_logf(s, "reload refused, the running configuration stays: %s:2:10:", s->config);
    assert_int_equal(workers_of(s->pid, after, MAX_PIDS), 2);
    assert_memory_equal(before, after, 2 * sizeof(pid_t));
    assert_healthy(s);
}

static void test_reload_starts_new_workers(void **state)
{
    struct server *s = *state;
    pid_t before[MAX_PIDS], after[MAX_PIDS];
    char text[1024];

    assert_int_equal(wait_workers(s, 2, NULL, 0, before), 2);
    /* listen and workers need a restart: the reload logs that and keeps the running values,
     * so the new workers still serve the old port, two of them. */
    snprintf(text, sizeof text,
             "listen: 127.0.0.1:%d\nworkers: 3\nshutdown_timeout_ms: 4000\n"
             "database:\n  url: \"%s\"\nlog:\n  level: debug\n",
             free_port(), db_url());
    write_file(s->config, text);
    reload(s);
    assert_int_equal(wait_workers(s, 2, before, 2, after), 2);
    wait_log(s, "\"listen\" changed, which needs a restart");
    wait_log(s, "\"workers\" changed, which needs a restart");
    wait_log(s, "generation 2 started with 2 workers");
    wait_log(s, "of generation 1 exited with status 0");
    assert_healthy(s);
}

static void test_worker_backs_off_on_emfile(void **state)
{
    struct server *s = new_server(false);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fds[64];

    *state = s;
    /* A worker has about 8 descriptors of its own: 24 leaves room for some 16 connections. */
    s->nofile = 24;
    spawn_server(s);
    assert_true(wait_notify(s, "READY=1", START_MS));
    a.sin_port = htons((uint16_t)s->port);
    for (size_t i = 0; i < 64; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&a, sizeof a), 0);
    }
    wait_log(s, "accept: Too many open files; not accepting for 100 ms");
    for (size_t i = 0; i < 64; i++)
        close(fds[i]);
    /* The workers see those connections end, and accept again after the pause. */
    assert_healthy(s);
}

/* Sends `sig` to the master, waits up to `ms` for it to end and for its two workers to be
 * gone; returns the master's wait status. */
static int stop_with(struct server *s, int sig, int ms)
{
    pid_t workers[MAX_PIDS];
    int status = 0;

    assert_int_equal(wait_workers(s, 2, NULL, 0, workers), 2);
    assert_int_equal(kill(s->pid, sig), 0);
    assert_true(wait_exit(s->pid, ms, &status));
    s->pid = 0;
    int64_t end = now_ms() + EVENT_MS;
    for (size_t i = 0; i < 2; i++) {
        while (kill(workers[i], 0) == 0 && now_ms() < end)
            sleep_ms(20);
        assert_int_equal(kill(workers[i], 0), -1);
    }
    return status;
}

static void test_workers_stop_when_the_master_is_killed(void **state)
{
    /* PR_SET_PDEATHSIG gives them SIGTERM: they stop gracefully (their new parent reaps). */
    int status = stop_with(*state, SIGKILL, EVENT_MS);
    assert_true(WIFSIGNALED(status));
}

/* ---- stopping ---------------------------------------------------------------------------------
 */

static void test_term_finishes_requests_then_exits_0(void **state)
{
    struct server *s = *state;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = EVENT_MS / 1000};
    pid_t workers[MAX_PIDS];
    char resp[1024];
    int status = 0;

    assert_int_equal(wait_workers(s, 2, NULL, 0, workers), 2);
    /* The workers connect their database pools after starting: wait until their descriptors
     * stop changing. */
    size_t fds_before = count_fds(workers[0]) + count_fds(workers[1]);
    for (int64_t stable_since = now_ms(), end = now_ms() + EVENT_MS;
         now_ms() - stable_since < 300 && now_ms() < end;) {
        sleep_ms(20);
        size_t fds = count_fds(workers[0]) + count_fds(workers[1]);
        if (fds != fds_before) {
            fds_before = fds;
            stable_since = now_ms();
        }
    }
    /* A request in flight: half of it sent before SIGTERM, the rest after. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    const char *first = "GET /healthz HTTP/1.1\r\n", *rest = "Host: x\r\n\r\n";
    assert_int_equal(send(fd, first, strlen(first), 0), (ssize_t)strlen(first));
    /* Once a worker holds it (one more descriptor), SIGTERM finds it in flight. */
    int64_t end = now_ms() + EVENT_MS;
    while (count_fds(workers[0]) + count_fds(workers[1]) == fds_before && now_ms() < end)
        sleep_ms(10);
    assert_int_equal(count_fds(workers[0]) + count_fds(workers[1]), fds_before + 1);

    int64_t t0 = now_ms();
    assert_int_equal(kill(s->pid, SIGTERM), 0);
    assert_true(wait_notify(s, "STOPPING=1", EVENT_MS));
    /* The worker holding the connection has stopped accepting and waits for the request. */
    wait_log(s, "stopping; open connections: 1");
    assert_int_equal(send(fd, rest, strlen(rest), 0), (ssize_t)strlen(rest));
    ssize_t n = recv(fd, resp, sizeof resp - 1, 0);
    assert_true(n > 0);
    resp[n] = '\0';
    assert_ptr_equal(strstr(resp, "HTTP/1.1 200 OK\r\n"), resp);
    close(fd);

    assert_true(wait_exit(s->pid, EVENT_MS, &status));
    s->pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(now_ms() - t0 < 5000); /* well within shutdown_timeout_ms */
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(kill(workers[i], 0), -1);
    assert_true(log_has(s, "exiting with status 0"));
}

static void test_quit_exits_at_once(void **state)
{
    int status = stop_with(*state, SIGQUIT, 2000);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- the harness ----------------------------------------------------------------------------- */

/* The probe is this program run again with SQ_HARNESS_PROBE=fail, =abort or =exit: its first
 * test starts a server that only a local variable holds (as a test does that stops a second
 * server itself at its end), writes its directory and the pids of the master and its workers
 * to $SQ_HARNESS_PROBE_PIDS, and then fails an assertion, aborts as a crash or a sanitizer
 * does, or (exit) returns with no teardown to stop it, and the program ends. After a failure,
 * its second test finds no server of the first still running. */
static void probe_leaves_a_server(void **state)
{
    (void)state;
    struct server *s = started(false, NULL);
    pid_t pids[MAX_PIDS + 1] = {s->pid};
    size_t n = wait_workers(s, 2, NULL, 0, pids + 1);
    FILE *f = fopen(getenv("SQ_HARNESS_PROBE_PIDS"), "w");
    assert_non_null(f);
    fprintf(f, "%s\n", s->dir); /* an aborted probe cannot remove it: its parent does */
    for (size_t i = 0; i <= n; i++)
        fprintf(f, "%ld\n", (long)pids[i]);
    fclose(f);
    if (strcmp(getenv("SQ_HARNESS_PROBE"), "abort") == 0)
        abort();
    if (strcmp(getenv("SQ_HARNESS_PROBE"), "exit") == 0)
        return;
    fail_msg("the probe fails here, with its server running");
}

static void probe_nothing_left(void **state)
{
    (void)state;
    pid_t kids[MAX_PIDS];
    assert_int_equal(children_of(getpid(), kids, MAX_PIDS), 0);
}

static int run_probe(void)
{
    if (strcmp(getenv("SQ_HARNESS_PROBE"), "exit") == 0) {
        const struct CMUnitTest alone[] = {cmocka_unit_test(probe_leaves_a_server)};
        return cmocka_run_group_tests_name("probe", alone, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(probe_leaves_a_server, teardown_server),
        cmocka_unit_test(probe_nothing_left),
    };
    return cmocka_run_group_tests_name("probe", tests, NULL, NULL);
}

/* Whether `pid` is a sequind that still runs: not gone, not a zombie (whose exe link is gone
 * with it) and not a new process that reuses the pid. */
static bool sequind_runs(pid_t pid)
{
    char link[64], exe[PATH_MAX], bin[PATH_MAX];
    snprintf(link, sizeof link, "/proc/%ld/exe", (long)pid);
    ssize_t n = readlink(link, exe, sizeof exe - 1);
    if (n <= 0 || realpath(sequind(), bin) == NULL)
        return false;
    exe[n] = '\0';
    return strcmp(exe, bin) == 0;
}

/* Removes `dir` (a /tmp/sqtest- directory) and the files in it. */
static void remove_dir(const char *dir)
{
    DIR *d = strncmp(dir, "/tmp/sqtest-", 12) == 0 ? opendir(dir) : NULL;
    struct dirent *e;
    char path[PATH_MAX];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

/* Runs the probe in `mode`; fails unless every process of its server is gone within EVENT_MS
 * of the probe's end (killing any that is not), the probe ended with `want` (a wait status),
 * and, when `files_gone`, the probe removed its server's directory itself. */
static void expect_probe_leaves_nothing(const char *mode, int want, bool files_gone)
{
    char dir[] = "/tmp/sqtest-probe.XXXXXX", pids[64], out[64];
    int status = 0;

    if (mkdtemp(dir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    snprintf(pids, sizeof pids, "%s/pids", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    pid_t probe = fork();
    if (probe == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        struct rlimit no_core = {0, 0};
        dup2(fd, 1);
        dup2(fd, 2);
        setrlimit(RLIMIT_CORE, &no_core);
        setenv("SQ_HARNESS_PROBE", mode, 1);
        setenv("SQ_HARNESS_PROBE_PIDS", pids, 1);
        execl("/proc/self/exe", "probe", (char *)NULL);
        _exit(127);
    }
    assert_true(probe > 0);
    if (!wait_exit(probe, START_MS + EVENT_MS, &status)) {
        kill(probe, SIGKILL);
        waitpid(probe, NULL, 0);
    }
    char *said = read_file(out), *listed = read_file(pids);
    char *server_dir = listed, *p = strchr(listed, '\n');
    pid_t left[MAX_PIDS + 1];
    size_t n = 0, running = 0;
    if (p != NULL)
        *p++ = '\0';
    for (char *end; p != NULL && n <= MAX_PIDS && (left[n] = (pid_t)strtol(p, &end, 10)) > 0;
         p = end)
        n++;
    int64_t deadline = now_ms() + EVENT_MS;
    for (size_t i = 0; i < n; i++) {
        while (sequind_runs(left[i]) && now_ms() < deadline)
            sleep_ms(20);
        if (sequind_runs(left[i])) {
            kill(left[i], SIGKILL); /* the probe's, so ours */
            running++;
        }
    }
    bool files_left = n > 0 && access(server_dir, F_OK) == 0;
    char left_dir[PATH_MAX];
    snprintf(left_dir, sizeof left_dir, "%s", server_dir);
    remove_dir(server_dir);
    unlink(pids);
    unlink(out);
    rmdir(dir);
    if (n < 3 || running > 0 || status != want || (files_gone && files_left)) {
        /* Its lines are TAP too: a "# " in front keeps them out of this program's count. */
        print_message("# the %s probe said:\n", mode);
        for (char *line = strtok(said, "\n"); line != NULL; line = strtok(NULL, "\n"))
            print_message("#   %s\n", line);
        free(said);
        free(listed);
        if (n < 3)
            fail_msg("the %s probe did not start a server with two workers", mode);
        if (running > 0)
            fail_msg("%zu of the %zu processes of the %s probe's server still run %d ms after it "
                     "ended",
                     running, n, mode, EVENT_MS);
        if (status != want)
            fail_msg("the %s probe ended with wait status %#x, not %#x", mode, status, want);
        fail_msg("the %s probe left its server's directory %s", mode, left_dir);
    }
    free(said);
    free(listed);
}

/* A test that fails stops the servers it started, even one it held in a local variable only;
 * a test program that aborts takes them with it; one that ends with a server no teardown
 * stopped stops it, files and all, at its exit. */
static void test_harness_leaves_no_server(void **state)
{
    (void)state;
    expect_probe_leaves_nothing("fail", 1 << 8, true); /* exit status 1: one test failed */
    expect_probe_leaves_nothing("abort", SIGABRT, false);
    expect_probe_leaves_nothing("exit", 0, true);
}

int main(void)
{
    if (getenv("SQ_HARNESS_PROBE") != NULL)
        return run_probe();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_hash_token),
        cmocka_unit_test_teardown(test_check_config, teardown_server),
        cmocka_unit_test_teardown(test_start_refuses_a_broken_config, teardown_server),
        cmocka_unit_test_teardown(test_start_without_database_fails, teardown_server),
        cmocka_unit_test_teardown(test_ready_and_interim_answers, teardown_server),
        cmocka_unit_test_teardown(test_ready_on_an_abstract_socket, teardown_server),
        cmocka_unit_test_setup_teardown(test_killed_worker_is_respawned, setup_server,
                                        teardown_server),
        cmocka_unit_test_teardown(test_worker_backs_off_on_emfile, teardown_server),
        cmocka_unit_test_setup_teardown(test_workers_stop_when_the_master_is_killed, setup_server,
                                        teardown_server),
        cmocka_unit_test_setup_teardown(test_reload_with_a_broken_file_keeps_serving, setup_server,
                                        teardown_server),
        cmocka_unit_test_setup_teardown(test_reload_starts_new_workers, setup_server,
                                        teardown_server),
        cmocka_unit_test_setup_teardown(test_term_finishes_requests_then_exits_0, setup_server,
                                        teardown_server),
        cmocka_unit_test_setup_teardown(test_quit_exits_at_once, setup_server, teardown_server),
        cmocka_unit_test(test_harness_leaves_no_server),
    };
    return cmocka_run_group_tests_name("sequind_master", tests, NULL, NULL);
}
