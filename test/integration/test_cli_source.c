/* `sequin source postgres add|ls|info|rm` with the built sequin against the real sequind and a
 * real table of the test database: added with flags (no terminal) and by answering its
 * questions on a pseudo-terminal; info shows the source streaming, the table's backfill done
 * and the last commit; the table's rows and changes reach the stream; rm removes it. And
 * `sequin source webhook add|ls|info|rm`. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
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
#include "sequin/buf.h"
#include "sequind_harness.h"

extern char **environ;

/* Slots are the cluster's, and tests of other programs may run beside this one in it: names
 * of this program's own. */
#define SLOT "sequin_cli_slot"
#define TERM_SLOT "sequin_cli_term"
#define PUB "sequin_cli_pub"
/* How long a source may take to start streaming and finish a backfill of a few rows. */
#define STREAMING_MS 30000

static char home[64];

/* The slots go before the test database can be dropped. */
static void drop_slots(void)
{
    pgt_drop_slot(SLOT);
    pgt_drop_slot(TERM_SLOT);
}

static int setup(void **state)
{
    drop_slots();
    PGconn *c = pgt_connect();
    pgt_exec(c, "DROP TABLE IF EXISTS public.cli_orders; DROP PUBLICATION IF EXISTS " PUB);
    pgt_exec(c, "CREATE TABLE public.cli_orders (id int PRIMARY KEY, status text NOT NULL)");
    pgt_exec(c, "INSERT INTO public.cli_orders SELECT i, 'old' FROM generate_series(1, 3) i");
    PQfinish(c);
    struct server *s = api_serve(NULL);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", s->port);
    setenv("SEQUIN_URL", url, 1);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    int rc = teardown_server(state);
    drop_slots();
    PGconn *c = pgt_connect();
    pgt_exec(c, "DELETE FROM sequin.sources; DELETE FROM sequin.messages; "
                "DROP PUBLICATION IF EXISTS " PUB);
    PQfinish(c);
    return rc;
}

/* ---- sequin, off a terminal and on one -------------------------------------------------- */

typedef struct ran {
    int status;
    char *out, *err;
} ran;

static void ran_free(ran *r)
{
    free(r->out);
    free(r->err);
}

static void sequin_path(char *out, size_t size)
{
    snprintf(out, size, "%s/sequin", builddir());
}

/* Runs sequin with `args` (NULL-terminated, after argv[0]), stdin on /dev/null. */
static ran run_args(const char *const *args)
{
    char bin[512], out_path[128], err_path[128];
    const char *argv[32] = {"sequin"};
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int st;
    sequin_path(bin, sizeof bin);
    for (size_t i = 0; args[i] != NULL; i++) {
        assert_true(i + 2 < SQ_ARRAY_LEN(argv));
        argv[i + 1] = args[i];
    }
    snprintf(out_path, sizeof out_path, "%s/stdout", home);
    snprintf(err_path, sizeof err_path, "%s/stderr", home);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int rc = posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        fail_msg("spawn %s: %s", bin, strerror(rc));
    if (!wait_exit(pid, EVENT_MS, &st)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("sequin %s %s did not end", args[0], args[1]);
    }
    return (ran){.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                 .out = read_file(out_path),
                 .err = read_file(err_path)};
}

#define RUN(...) run_args((const char *const[]){__VA_ARGS__, NULL})
/* One step: the command (a parenthesised list of its words) and what expect() wants of it. */
#define RUN_EXPECT(words, ...)                                                                     \
    do {                                                                                           \
        ran ran_ = RUN words;                                                                      \
        expect(&ran_, __VA_ARGS__);                                                                \
        ran_free(&ran_);                                                                           \
    } while (0)

/* Asserts a run's exit status and that its stdout holds each string that follows (NULL ends
 * them), showing all it printed otherwise. */
static void expect(const ran *r, int status, ...)
{
    va_list ap;
    bool ok = r->status == status;
    va_start(ap, status);
    for (const char *s = va_arg(ap, const char *); s != NULL && ok; s = va_arg(ap, const char *))
        ok = strstr(r->out, s) != NULL;
    va_end(ap);
    if (!ok)
        fail_msg("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", r->status, status, r->out, r->err);
}

/* `sequin source postgres info NAME` until it shows no `absent` (NULL: anything goes) and
 * holds every string that follows (NULL ends them): the source's node reports every second.
 * Returns what it printed then (free it). */
static char *wait_info(const char *name, const char *absent, ...)
{
    int64_t deadline = now_ms() + STREAMING_MS;
    for (;;) {
        va_list ap;
        ran r = RUN("source", "postgres", "info", name);
        bool ok = r.status == 0 && (absent == NULL || strstr(r.out, absent) == NULL);
        va_start(ap, absent);
        for (const char *s = va_arg(ap, const char *); s != NULL && ok;
             s = va_arg(ap, const char *))
            ok = strstr(r.out, s) != NULL;
        va_end(ap);
        if (ok) {
            free(r.err);
            return r.out;
        }
        if (now_ms() > deadline)
            fail_msg("info %s never showed what it should; the last:\n%s%s", name, r.out, r.err);
        ran_free(&r);
        sleep_ms(200);
    }
}

/* A sequin on a pseudo-terminal of its own (stdin, stdout and stderr), so that it asks. */
typedef struct term {
    pid_t pid;
    int fd; /* the terminal's other end: what sequin prints comes out, what the test types in */
    sq_buf seen;
} term;

static term start_on_terminal(const char *const *args)
{
    char bin[512];
    const char *argv[16] = {"sequin"};
    term t = {0};
    sequin_path(bin, sizeof bin);
    for (size_t i = 0; args[i] != NULL; i++)
        argv[i + 1] = args[i];
    t.fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (t.fd < 0 || grantpt(t.fd) != 0 || unlockpt(t.fd) != 0)
        fail_msg("a pseudo-terminal: %s", strerror(errno));
    const char *name = ptsname(t.fd);
    t.pid = fork();
    if (t.pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (t.pid == 0) {
        setsid(); /* the terminal becomes the controlling one of a session of its own */
        int fd = open(name, O_RDWR);
        if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    return t;
}

/* Reads what sequin prints until `text` shows after what was seen before; fails after
 * EVENT_MS. The end of its output (sequin exited) ends the wait too. */
static void wait_for(term *t, const char *text)
{
    size_t from = t->seen.len;
    int64_t deadline = now_ms() + EVENT_MS;
    while (t->seen.len == from || strstr(t->seen.data + from, text) == NULL) {
        struct pollfd p = {.fd = t->fd, .events = POLLIN};
        int left = (int)(deadline - now_ms());
        char chunk[4096];
        if (left <= 0 || poll(&p, 1, left) <= 0)
            fail_msg("no \"%s\" on the terminal; it shows:\n%s", text,
                     t->seen.data != NULL ? t->seen.data : "");
        ssize_t n = read(t->fd, chunk, sizeof chunk);
        if (n <= 0) /* EIO: every process holding the terminal has exited */
            fail_msg("sequin exited before \"%s\"; the terminal shows:\n%s", text,
                     t->seen.data != NULL ? t->seen.data : "");
        assert_int_equal(sq_buf_append(&t->seen, chunk, (size_t)n), SQ_OK);
    }
}

/* Waits for the question `prompt`, then types `answer` and Enter. */
static void answer(term *t, const char *prompt, const char *answer)
{
    wait_for(t, prompt);
    char line[512];
    snprintf(line, sizeof line, "%s\r", answer);
    assert_int_equal(write(t->fd, line, strlen(line)), (ssize_t)strlen(line));
}

/* Reads the rest of what sequin prints and returns its exit status. */
static int finish(term *t)
{
    char chunk[4096];
    int st;
    ssize_t n;
    struct pollfd p = {.fd = t->fd, .events = POLLIN};
    while (poll(&p, 1, EVENT_MS) > 0 && (n = read(t->fd, chunk, sizeof chunk)) > 0)
        assert_int_equal(sq_buf_append(&t->seen, chunk, (size_t)n), SQ_OK);
    if (!wait_exit(t->pid, EVENT_MS, &st)) {
        kill(t->pid, SIGKILL);
        waitpid(t->pid, NULL, 0);
        fail_msg("sequin did not exit; the terminal shows:\n%s", t->seen.data);
    }
    close(t->fd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- the tests ------------------------------------------------------------------------------ */

/* Waits until the stream holds a message of `key`. */
static void wait_message(int port, const char *key)
{
    char target[256];
    snprintf(target, sizeof target, "/api/streams/default/messages/%s", key);
    int64_t deadline = now_ms() + STREAMING_MS;
    while (api_try_status(port, "GET", target, NULL) != 200) {
        if (now_ms() > deadline)
            fail_msg("no message %s in the stream", key);
        sleep_ms(100);
    }
}

/* Added with flags, off a terminal; ls, info (streaming, the backfill done, the last commit),
 * --as-curl, rm. */
static void test_add_with_flags(void **state)
{
    struct server *s = *state;
    /* Off a terminal nothing is asked: what is missing is a usage error, and nothing is sent. */
    ran r = RUN("source", "postgres", "add", "mydb", "--table", "public.cli_orders");
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "needs --url URL"));
    ran_free(&r);

    RUN_EXPECT(("source", "postgres", "add", "mydb", "--url", db_url(), "--slot", SLOT,
                "--publication", PUB, "--table", "public.cli_orders", "--backfill"),
               0, "name:              mydb\n", "kind:              postgres\n",
               "stream:            default\n", "slot:              " SLOT "\n",
               "tables:            public.cli_orders\n", "backfill:          true\n",
               "managed_by:        api\n", NULL);

    /* The three rows the table held are backfilled, then changes stream. */
    free(wait_info("mydb", NULL, "state:             streaming\n",
                   "backfill_progress: public.cli_orders: 3 rows, done\n", NULL));
    wait_message(s->port, "mydb.public.cli_orders.3");
    PGconn *c = pgt_connect();
    pgt_exec(c, "INSERT INTO public.cli_orders VALUES (4, 'new')");
    PQfinish(c);
    wait_message(s->port, "mydb.public.cli_orders.4");
    /* The insert's commit is the last one in the stream, once the next report says so; the
     * lag is a number of bytes and of seconds. */
    char *info = wait_info("mydb", "last_commit_lsn:   -\n", "error:             -\n", NULL);
    char lsn[64] = "";
    const char *at = strstr(info, "last_commit_lsn:   ");
    assert_non_null(at);
    assert_int_equal(sscanf(at + 19, "%63[0-9A-F/]", lsn), 1);
    assert_non_null(strchr(lsn, '/'));
    for (const char *line = info; *line != '\0'; line = strchr(line, '\n') + 1) {
        double v;
        char tail;
        if (strncmp(line, "lag_bytes:", 10) == 0 || strncmp(line, "lag_seconds:", 12) == 0 ||
            strncmp(line, "rows_streamed:", 14) == 0)
            if (sscanf(strchr(line, ':') + 1, "%lf%c", &v, &tail) != 2 || tail != '\n' || v < 0)
                fail_msg("not a number: %.*s", (int)strcspn(line, "\n"), line);
    }
    assert_null(strstr(info, "last_commit_at:    -\n"));
    free(info);

    RUN_EXPECT(("source", "postgres", "ls"), 0,
               "NAME  STREAM   STATE      LAG_BYTES  LAG_SECONDS  ROWS\n",
               "mydb  default  streaming  ", NULL);
    RUN_EXPECT(("source", "postgres", "rm", "mydb", "--as-curl"), 0, "curl -X 'DELETE' ",
               "/api/sources/mydb'\n", NULL);
    RUN_EXPECT(("source", "postgres", "rm", "mydb"), 0, "Deleted source mydb.\n", NULL);
    RUN_EXPECT(("source", "postgres", "ls"), 0, "No sources.\n", NULL);
    r = RUN("source", "postgres", "info", "mydb");
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "error: "));
    ran_free(&r);
}

/* Added by answering its questions on a terminal: a wrong answer is asked again; key format
 * with_operation, no backfill; then its changes stream with the operation in their keys. */
static void test_add_on_terminal(void **state)
{
    struct server *s = *state;
    term t = start_on_terminal((const char *const[]){"source", "postgres", "add", "termdb", NULL});
    answer(&t, "connection URL (a role with REPLICATION) [", db_url());
    answer(&t, "replication slot (used if it exists, else created) [sequin_slot]: ", "Bad_Slot");
    answer(&t, "invalid slot \"Bad_Slot\"", TERM_SLOT);
    answer(&t, "publication (used as it is if it exists, else created for the tables) [", PUB);
    answer(&t, "tables (schema.table, separated by commas) [", "cli_orders");
    answer(&t, "stream [default]: ", "");
    answer(&t, "key format (basic|with_operation) [basic]: ", "with_operation");
    answer(&t, "(yes|no) [", "no");
    assert_int_equal(finish(&t), 0);
    /* The answer is the new source, as info shows it. */
    if (strstr(t.seen.data, "name:              termdb") == NULL ||
        strstr(t.seen.data, "slot:              " TERM_SLOT) == NULL ||
        strstr(t.seen.data, "tables:            public.cli_orders") == NULL ||
        strstr(t.seen.data, "key_format:        with_operation") == NULL ||
        strstr(t.seen.data, "backfill:          false") == NULL)
        fail_msg("the terminal shows:\n%s", t.seen.data);
    sq_buf_free(&t.seen);

    free(wait_info("termdb", NULL, "state:             streaming\n", "backfill_progress: -\n",
                   NULL));
    PGconn *c = pgt_connect();
    pgt_exec(c, "UPDATE public.cli_orders SET status = 'paid' WHERE id = 2");
    PQfinish(c);
    wait_message(s->port, "termdb.public.cli_orders.update.2");
    /* No backfill: the rows the table held before are not in the stream. */
    assert_int_equal(api_try_status(s->port, "GET",
                                    "/api/streams/default/messages/termdb.public.cli_orders.read.1",
                                    NULL),
                     404);
    ran r = RUN("source", "postgres", "rm", "termdb");
    expect(&r, 0, "Deleted source termdb.\n", NULL);
    ran_free(&r);
}

/* `sequin source webhook add|ls|info|rm`: a webhook added with flags receives a POST, info
 * shows whether it has secrets and never what they are, ls lists it (and postgres ls does
 * not), rm removes it. */
static void test_webhook(void **state)
{
    struct server *s = *state;
    ran r = RUN("source", "webhook", "add", "hooks", "--key-field", "id", "--key-header", "X-Id");
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "exclude each other"));
    ran_free(&r);
    r = RUN("source", "webhook", "add", "hooks", "--hmac-header", "X-Sig");
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--hmac-header needs --hmac-secret"));
    ran_free(&r);

    r = RUN("source", "webhook", "add", "hooks", "--key-field", "id", "--secret", "t0ps3cret",
            "--secret-header", "X-Token");
    expect(&r, 0, "name:          hooks\n", "kind:          webhook\n",
           "url:           POST /api/webhook/hooks\n", "key_field:     id\n",
           "secret:        set\n", "secret_header: X-Token\n", "hmac_secret:   not set\n", NULL);
    assert_null(strstr(r.out, "t0ps3cret"));
    ran_free(&r);

    api_conn c;
    api_open(&c, s->port, 10000);
    api_send(&c, "POST", "/api/webhook/hooks", "{\"id\":\"evt_1\"}", "X-Token: t0ps3cret\r\n");
    api_resp got = api_read(&c);
    assert_int_equal(got.status, 200);
    assert_non_null(strstr(got.body, "\"key\":\"hooks.evt_1\""));
    api_resp_free(&got);
    api_close(&c);

    r = RUN("source", "webhook", "info", "hooks");
    expect(&r, 0, "secret:        set\n", NULL);
    assert_null(strstr(r.out, "t0ps3cret"));
    ran_free(&r);
    RUN_EXPECT(("source", "webhook", "ls"), 0,
               "NAME   STREAM   KEY_FIELD  KEY_HEADER  SECRET  HMAC_SECRET\n",
               "hooks  default  id         -           set     not set\n", NULL);
    RUN_EXPECT(("source", "postgres", "ls"), 0, "No sources.\n", NULL);
    RUN_EXPECT(("source", "webhook", "rm", "hooks"), 0, "Deleted source hooks.\n", NULL);
    RUN_EXPECT(("source", "webhook", "ls"), 0, "No webhook sources.\n", NULL);
    r = RUN("source", "webhook", "info", "hooks");
    assert_int_equal(r.status, 1);
    ran_free(&r);
}

static int group_setup(void **state)
{
    (void)state;
    /* A home of the test's: no context of the person running it is read. */
    snprintf(home, sizeof home, "/tmp/sequin-cli-source-XXXXXX");
    if (mkdtemp(home) == NULL)
        return -1;
    setenv("HOME", home, 1);
    setenv("XDG_CONFIG_HOME", home, 1);
    unsetenv("SEQUIN_TOKEN");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/stdout", home);
    unlink(path);
    snprintf(path, sizeof path, "%s/stderr", home);
    unlink(path);
    rmdir(home);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_with_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_on_terminal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook, setup, teardown),
    };
    return cmocka_run_group_tests_name("cli_source", tests, group_setup, group_teardown);
}
