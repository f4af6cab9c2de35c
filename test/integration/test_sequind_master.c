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

/* Every wait in this file is bounded by one of these. */
#define START_MS 20000 /* READY=1 after a start (migrations included) */
#define EVENT_MS 10000 /* a respawn, a reload, a stop */
#define MAX_PIDS 16

/* ---- helpers -------------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *db_url(void)
{
    const char *u = getenv("SEQUIN_TEST_DATABASE_URL");
    if (u == NULL || *u == '\0')
        fail_msg("SEQUIN_TEST_DATABASE_URL is not set: run through test/with-postgres");
    return u;
}

/* The build directory: $SQ_BUILDDIR (make check), else three levels above this binary. */
static const char *builddir(void)
{
    static char dir[PATH_MAX];
    const char *env = getenv("SQ_BUILDDIR");

    if (env != NULL && *env != '\0')
        return env;
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0)
        fail_msg("cannot find the build directory: set SQ_BUILDDIR");
    dir[n] = '\0';
    for (int i = 0; i < 3; i++) {
        char *slash = strrchr(dir, '/');
        if (slash == NULL)
            fail_msg("cannot find the build directory: set SQ_BUILDDIR");
        *slash = '\0';
    }
    return dir;
}

static const char *sequind(void)
{
    static char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/sequind", builddir());
    if (access(path, X_OK) != 0)
        fail_msg("%s is not built", path);
    return path;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fail_msg("cannot write %s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

/* The whole file in a malloc'd string ("" if it does not exist). */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *data = NULL;
    size_t len = 0;
    if (f == NULL)
        return strdup("");
    FILE *m = open_memstream(&data, &len);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, m);
    fclose(m);
    fclose(f);
    return data;
}

/* Waits up to `ms` for `pid` to end; true with its wait status in *status. */
static bool wait_exit(pid_t pid, int ms, int *status)
{
    int64_t end = now_ms() + ms;
    do {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return true;
        if (r < 0)
            fail_msg("waitpid(%ld): %s", (long)pid, strerror(errno));
        sleep_ms(10);
    } while (now_ms() < end);
    return false;
}

/* A port that was free a moment ago (the kernel's choice for port 0). */
static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        fail_msg("free port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

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

/* ---- a running server ----------------------------------------------------------------------- */

struct server {
    pid_t pid;
    int port;
    int notify_fd;
    bool abstract_notify;
    int nofile; /* RLIMIT_NOFILE for sequind, or 0 to inherit the test's */
    char dir[64];
    char config[128];
    char log[128];
    char notify[128];
};

static void write_config(struct server *s, const char *extra)
{
    char text[4096];
    snprintf(text, sizeof text,
             "listen: 127.0.0.1:%d\n"
             "workers: 2\n"
             "shutdown_timeout_ms: 5000\n"
             "database:\n"
             "  url: \"%s\"\n"
             "%s",
             s->port, db_url(), extra != NULL ? extra : "");
    write_file(s->config, text);
}

static bool log_has(const struct server *s, const char *needle)
{
    char *text = read_file(s->log);
    bool found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

static void wait_log(const struct server *s, const char *needle)
{
    int64_t end = now_ms() + EVENT_MS;
    while (!log_has(s, needle)) {
        if (now_ms() > end) {
            char *text = read_file(s->log);
            print_message("log:\n%s\n", text);
            free(text);
            fail_msg("the log did not say \"%s\" within %d ms", needle, EVENT_MS);
        }
        sleep_ms(20);
    }
}

/* Waits for a notification datagram holding the line `line`; false after `ms`. */
static bool wait_notify(const struct server *s, const char *line, int ms)
{
    int64_t end = now_ms() + ms;
    size_t len = strlen(line);

    for (;;) {
        struct pollfd p = {.fd = s->notify_fd, .events = POLLIN};
        int left = (int)(end - now_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return false;
        char buf[4096];
        ssize_t n = recv(s->notify_fd, buf, sizeof buf - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        for (const char *at = buf; (at = strstr(at, line)) != NULL; at += len) {
            if ((at == buf || at[-1] == '\n') && (at[len] == '\0' || at[len] == '\n'))
                return true;
        }
    }
}

/* The children of `parent` (from /proc), sorted; returns how many. */
static size_t children_of(pid_t parent, pid_t *out, size_t max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    size_t n = 0;

    if (d == NULL)
        fail_msg("opendir /proc: %s", strerror(errno));
    while ((e = readdir(d)) != NULL && n < max) {
        char path[300], buf[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0)
            continue;
        buf[len] = '\0';
        /* "pid (comm) state ppid ...": comm may hold spaces, so start after the last ')'. */
        char *rp = strrchr(buf, ')');
        char state;
        long ppid;
        if (rp == NULL || sscanf(rp + 1, " %c %ld", &state, &ppid) != 2)
            continue;
        if (ppid == (long)parent && state != 'Z')
            out[n++] = (pid_t)strtol(e->d_name, NULL, 10);
    }
    closedir(d);
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
            pid_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    }
    return n;
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
        size_t n = children_of(s->pid, out, MAX_PIDS), fresh = 0;
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

/* Forks sequind on the server's config with its stdout and stderr going to the log. */
static void spawn_server(struct server *s)
{
    const char *bin = sequind();

    s->pid = fork();
    if (s->pid == 0) {
        int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("NOTIFY_SOCKET", s->notify, 1);
        if (s->nofile > 0) {
            struct rlimit lim = {.rlim_cur = (rlim_t)s->nofile, .rlim_max = (rlim_t)s->nofile};
            setrlimit(RLIMIT_NOFILE, &lim);
        }
        execl(bin, bin, "-c", s->config, "--foreground", (char *)NULL);
        _exit(127);
    }
    if (s->pid < 0)
        fail_msg("fork: %s", strerror(errno));
}

static struct server *new_server(bool abstract_notify)
{
    struct server *s = calloc(1, sizeof *s);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    socklen_t alen;

    snprintf(s->dir, sizeof s->dir, "/tmp/sqtest-master.XXXXXX");
    if (mkdtemp(s->dir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    snprintf(s->config, sizeof s->config, "%s/sequin.yaml", s->dir);
    snprintf(s->log, sizeof s->log, "%s/sequind.log", s->dir);
    s->port = free_port();
    s->abstract_notify = abstract_notify;
    if (abstract_notify) {
        snprintf(s->notify, sizeof s->notify, "@sqtest-notify-%ld-%d", (long)getpid(), s->port);
        memcpy(a.sun_path, s->notify, strlen(s->notify));
        a.sun_path[0] = '\0';
        alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(s->notify));
    } else {
        snprintf(s->notify, sizeof s->notify, "%s/notify", s->dir);
        memcpy(a.sun_path, s->notify, strlen(s->notify) + 1);
        alen = sizeof a;
    }
    s->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s->notify_fd < 0 || bind(s->notify_fd, (struct sockaddr *)&a, alen) != 0)
        fail_msg("notify socket %s: %s", s->notify, strerror(errno));
    write_config(s, NULL);
    return s;
}

/* Starts a server and waits for READY=1. */
static struct server *started(bool abstract_notify, const char *extra)
{
    struct server *s = new_server(abstract_notify);
    write_config(s, extra);
    spawn_server(s);
    if (!wait_notify(s, "READY=1", START_MS)) {
        char *text = read_file(s->log);
        print_message("log:\n%s\n", text);
        free(text);
        fail_msg("no READY=1 within %d ms", START_MS);
    }
    return s;
}

static int setup_server(void **state)
{
    *state = started(false, NULL);
    return 0;
}

/* Kills whatever is left, checks the log for sanitizer reports, removes the files. */
static int teardown_server(void **state)
{
    struct server *s = *state;
    bool sanitizer;

    if (s == NULL)
        return 0;
    if (s->pid > 0) {
        pid_t kids[MAX_PIDS];
        size_t n = children_of(s->pid, kids, MAX_PIDS);
        for (size_t i = 0; i < n; i++)
            kill(kids[i], SIGKILL);
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    sanitizer = log_has(s, "Sanitizer") || log_has(s, "runtime error:");
    if (sanitizer) {
        char *text = read_file(s->log);
        print_message("log:\n%s\n", text);
        free(text);
    }
    close(s->notify_fd);
    unlink(s->notify);
    unlink(s->config);
    unlink(s->log);
    rmdir(s->dir);
    free(s);
    *state = NULL;
    return sanitizer ? -1 : 0;
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
    char where[256];

    *state = s;
    write_file(s->config, "listen: 127.0.0.1:7376\nworkers: many\n");
    spawn_server(s);
    assert_true(wait_exit(s->pid, EVENT_MS, &status));
    s->pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 78);
    snprintf(where, sizeof where, "%s:2:10:", s->config);
    assert_true(log_has(s, where));
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

    /* Routes not served yet answer 503; the served ones are in test_sequind_api. */
    assert_int_equal(get(s, "/api/streams/orders/consumers", resp, sizeof resp), 503);
    assert_non_null(strstr(resp, "\r\nRetry-After: 1\r\n"));
    assert_non_null(strstr(resp, "\r\nConnection: close\r\n"));
    assert_non_null(strstr(resp, "{\"summary\":\"not served yet\"}"));
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
    assert_true(log_has(s, "no consumers declared"));
}

static void test_ready_on_an_abstract_socket(void **state)
{
    struct server *s = started(true, NULL);
    *state = s;
    assert_healthy(s);
}

static void test_declared_consumers_are_reported(void **state)
{
    struct server *s = started(false, "streams:\n  - name: default\n    consumers:\n"
                                      "      - {name: a, filter: \"x.>\"}\n"
                                      "      - {name: b, filter: \"y.>\"}\n");
    *state = s;
    assert_true(log_has(s, "2 consumers declared"));
    assert_true(log_has(s, "not implemented yet"));
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
        n = children_of(s->pid, after, MAX_PIDS);
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
    char where[256];

    assert_int_equal(wait_workers(s, 2, NULL, 0, before), 2);
    write_file(s->config, "listen: 127.0.0.1:7376\nworkers: many\n");
    assert_int_equal(kill(s->pid, SIGHUP), 0);
    assert_true(wait_notify(s, "RELOADING=1", EVENT_MS));
    assert_true(wait_notify(s, "READY=1", EVENT_MS));
    snprintf(where, sizeof where,
             "reload refused, the running configuration stays: %s:2:10:", s->config);
    wait_log(s, where);
    assert_int_equal(children_of(s->pid, after, MAX_PIDS), 2);
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
    assert_int_equal(kill(s->pid, SIGHUP), 0);
    assert_true(wait_notify(s, "RELOADING=1", EVENT_MS));
    assert_true(wait_notify(s, "READY=1", EVENT_MS));
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_hash_token),
        cmocka_unit_test_teardown(test_check_config, teardown_server),
        cmocka_unit_test_teardown(test_start_refuses_a_broken_config, teardown_server),
        cmocka_unit_test_teardown(test_start_without_database_fails, teardown_server),
        cmocka_unit_test_teardown(test_ready_and_interim_answers, teardown_server),
        cmocka_unit_test_teardown(test_ready_on_an_abstract_socket, teardown_server),
        cmocka_unit_test_teardown(test_declared_consumers_are_reported, teardown_server),
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
    };
    return cmocka_run_group_tests_name("sequind_master", tests, NULL, NULL);
}
