/* The shared harness of the sequind tests (see sequind_harness.h). */
#include "sequind_harness.h"

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

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

const char *db_url(void)
{
    const char *u = getenv("SEQUIN_TEST_DATABASE_URL");
    if (u == NULL || *u == '\0')
        fail_msg("SEQUIN_TEST_DATABASE_URL is not set: run through test/with-postgres");
    return u;
}

/* The build directory: $SQ_BUILDDIR (make check), else three levels above this binary. */
const char *builddir(void)
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

const char *sequind(void)
{
    static char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/sequind", builddir());
    if (access(path, X_OK) != 0)
        fail_msg("%s is not built", path);
    return path;
}

void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fail_msg("cannot write %s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

/* The whole file in a malloc'd string ("" if it does not exist). */
char *read_file(const char *path)
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
bool wait_exit(pid_t pid, int ms, int *status)
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

/* The kernel's choice for port 0. */
static int kernel_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        fail_msg("free port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

/* A port nobody listened on a moment ago, from 10000 up to the kernel's ephemeral ports
 * (net.ipv4.ip_local_port_range) or 20000, where test/with-postgres's clusters begin. Not the
 * kernel's choice for port 0: that is an ephemeral port, which the kernel may give to any
 * outgoing connection on the machine (a test's client, libpq, a suite running beside this one)
 * before sequind binds it, and sequind then cannot listen ("Address already in use"). */
int free_port(void)
{
    static unsigned seed;
    int low = 32768, high = 60999, top;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

    if (f != NULL) {
        if (fscanf(f, "%d %d", &low, &high) != 2)
            low = 32768;
        fclose(f);
    }
    top = low < 20000 ? low : 20000;
    if (seed == 0)
        seed = (unsigned)getpid() ^ (unsigned)now_us();
    for (int i = 0; i < 1000 && top - 10000 >= 1000; i++) {
        int port = 10000 + (int)((unsigned)rand_r(&seed) % (unsigned)(top - 10000)), one = 1;
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            fail_msg("free port: %s", strerror(errno));
        /* As sequind binds: a connection of an earlier test in TIME_WAIT does not hold it. */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        bool taken = bind(fd, (struct sockaddr *)&a, sizeof a) != 0;
        close(fd);
        if (!taken)
            return port;
    }
    return kernel_port(); /* no room below the ephemeral ports on this machine */
}

void write_config(struct server *s, const char *extra)
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

bool log_has(const struct server *s, const char *needle)
{
    char *text = read_file(s->log);
    bool found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

void wait_log(const struct server *s, const char *needle)
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

/* log_has, after wait_log when `wait`, for what vsnprintf makes of `fmt` and `ap`. */
static bool look_for(const struct server *s, bool wait, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static bool look_for(const struct server *s, bool wait, const char *fmt, va_list ap)
{
    char needle[1024];
    int n = vsnprintf(needle, sizeof needle, fmt, ap);
    if (n < 0 || (size_t)n >= sizeof needle)
        fail_msg("a log line longer than %zu bytes: %s", sizeof needle, fmt);
    if (wait)
        wait_log(s, needle);
    return log_has(s, needle);
}

bool log_hasf(const struct server *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool found = look_for(s, false, fmt, ap);
    va_end(ap);
    return found;
}

void wait_logf(const struct server *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    look_for(s, true, fmt, ap);
    va_end(ap);
}

void reload(const struct server *s)
{
    assert_int_equal(kill(s->pid, SIGHUP), 0);
    assert_true(wait_notify(s, "RELOADING=1", EVENT_MS));
    assert_true(wait_notify(s, "READY=1", EVENT_MS));
}

/* Waits for a notification datagram holding the line `line`; false after `ms`. */
bool wait_notify(const struct server *s, const char *line, int ms)
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

/* The children of `parent` (from /proc) named `comm` (NULL: any), sorted; how many. */
static size_t kids_of(pid_t parent, const char *comm, pid_t *out, size_t max)
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
        char *lp = strchr(buf, '(');
        bool named = comm == NULL || (lp != NULL && (size_t)(rp - lp - 1) == strlen(comm) &&
                                      strncmp(lp + 1, comm, strlen(comm)) == 0);
        if (ppid == (long)parent && state != 'Z' && named)
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

size_t children_of(pid_t parent, pid_t *out, size_t max)
{
    return kids_of(parent, NULL, out, max);
}

size_t workers_of(pid_t parent, pid_t *out, size_t max)
{
    return kids_of(parent, "sequind-worker", out, max);
}

/* Forks sequind on the server's config with its stdout and stderr going to the log. */
void spawn_server(struct server *s)
{
    const char *bin = sequind();
    pid_t parent = getpid();

    s->pid = fork();
    if (s->pid == 0) {
        /* A test program that dies without its teardown (an abort, a crash, SIGKILL) takes its
         * master with it, and the master's workers follow (sequind gives them SIGTERM the same
         * way). The check closes the race with a parent gone before the prctl. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(127);
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

/* ---- what this program started ----------------------------------------------------------- */

/* Every server not torn down yet. A failed assertion leaves the test function at once, so a
 * server the test meant to stop itself, or one whose start failed before the test held it,
 * is only found here: the teardown of the test stops it, and so does the end of the program. */
static struct server *live[MAX_SERVERS];
static pid_t live_owner; /* a forked child inherits the list, but not the servers */

static void stop_all_at_exit(void);

static void remember(struct server *s)
{
    if (live_owner != getpid()) {
        memset(live, 0, sizeof live);
        live_owner = getpid();
        atexit(stop_all_at_exit);
    }
    for (size_t i = 0; i < MAX_SERVERS; i++) {
        if (live[i] == NULL) {
            live[i] = s;
            return;
        }
    }
    fail_msg("more than %d servers at once", MAX_SERVERS);
}

static void forget(const struct server *s)
{
    for (size_t i = 0; i < MAX_SERVERS; i++) {
        if (live[i] == s)
            live[i] = NULL;
    }
}

/* Kills the server's processes, frees it and removes its files; false when its log holds a
 * sanitizer report (printed). The master is killed only while it is still this process's
 * unreaped child: a pid the test reaped already may be another process's by now. */
static bool stop_server(struct server *s)
{
    if (s->pid > 0 && waitpid(s->pid, NULL, WNOHANG) == 0) {
        pid_t kids[MAX_PIDS];
        size_t n = children_of(s->pid, kids, MAX_PIDS);
        for (size_t i = 0; i < n; i++)
            kill(kids[i], SIGKILL);
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    forget(s);
    bool sanitizer = log_has(s, "Sanitizer") || log_has(s, "runtime error:");
    if (sanitizer) {
        char *text = read_file(s->log);
        print_message("log of the server on port %d:\n%s\n", s->port, text);
        free(text);
    }
    if (s->notify_fd >= 0)
        close(s->notify_fd);
    unlink(s->notify);
    unlink(s->config);
    unlink(s->log);
    rmdir(s->dir);
    free(s);
    return !sanitizer;
}

static void stop_all_at_exit(void)
{
    if (live_owner != getpid())
        return;
    for (size_t i = 0; i < MAX_SERVERS; i++) {
        if (live[i] != NULL)
            (void)stop_server(live[i]);
    }
}

struct server *new_server(bool abstract_notify)
{
    struct server *s = calloc(1, sizeof *s);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    socklen_t alen;

    s->notify_fd = -1;
    snprintf(s->dir, sizeof s->dir, "/tmp/sqtest-master.XXXXXX");
    if (mkdtemp(s->dir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    remember(s);
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

/* Starts a server and waits for READY=1. A port that another process took between free_port()
 * and sequind's bind is traded for another, a few times. */
struct server *started(bool abstract_notify, const char *extra)
{
    struct server *s = new_server(abstract_notify);
    int status = 0;

    for (int attempt = 1;; attempt++) {
        int64_t end = now_ms() + START_MS;
        bool exited = false;
        write_config(s, extra);
        spawn_server(s);
        while (!exited && now_ms() < end) {
            if (wait_notify(s, "READY=1", 50))
                return s;
            exited = waitpid(s->pid, &status, WNOHANG) == s->pid;
        }
        if (exited) {
            s->pid = 0;
            if (attempt < 5 && log_has(s, "Address already in use")) {
                unlink(s->log); /* the log of the server that runs, alone */
                s->port = free_port();
                continue;
            }
        }
        char *text = read_file(s->log);
        print_message("log:\n%s\n", text);
        free(text);
        if (exited)
            fail_msg("sequind ended (wait status %#x) without READY=1", status);
        fail_msg("no READY=1 within %d ms", START_MS);
    }
}

void start_refused(struct server *s, const char *extra)
{
    int status = 0;

    write_config(s, extra);
    spawn_server(s);
    assert_true(wait_exit(s->pid, START_MS, &status));
    s->pid = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 78);
    assert_false(wait_notify(s, "READY=1", 0));
}

/* Stops every server the program started and has not torn down (the one in *state among them),
 * checks their logs for sanitizer reports, removes their files. */
int teardown_server(void **state)
{
    bool clean = true;

    *state = NULL;
    if (live_owner != getpid())
        return 0;
    for (size_t i = 0; i < MAX_SERVERS; i++) {
        if (live[i] != NULL)
            clean = stop_server(live[i]) && clean;
    }
    return clean ? 0 : -1;
}
