/* `sequin observe` driven in a real terminal: tmux (on a socket of its own, so a user's tmux is
 * never touched) runs the built sequin against the real sequind, the test types with
 * send-keys and reads the screen with capture-pane. Every wait polls the screen with a bound;
 * none is a fixed sleep. Without tmux the whole program is one TAP skip. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
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
#include "sequind_harness.h"

/* How long the screen may take to show something: the view refreshes every 500 ms. */
#define SCREEN_MS 10000
#define COLS "100"
#define ROWS "30"

static char tmux_socket[64];
static char config_home[64];
static char tmux_conf[128];

/* ---- tmux ---------------------------------------------------------------------------------- */

/* Copies the strings of `ap` up to its NULL (at most `max`) to `out`; returns how many. */
static size_t collect(va_list ap, const char **out, size_t max)
{
    size_t n = 0;
    for (const char *a = va_arg(ap, const char *); a != NULL && n < max;
         a = va_arg(ap, const char *))
        out[n++] = a;
    return n;
}

/* Runs tmux on the test's socket with the arguments after `status` (NULL-terminated) and
 * returns its standard output (free it); *status gets its exit status. */
static char *tmux_run(int *status, ...)
{
    const char *argv[32] = {"tmux", "-L", tmux_socket, "-f", tmux_conf};
    int fds[2];
    va_list ap;
    va_start(ap, status);
    argv[5 + collect(ap, argv + 5, 26)] = NULL;
    va_end(ap);
    if (pipe(fds) != 0)
        fail_msg("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execvp("tmux", (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)n, m);
    fclose(m);
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return out;
}

#define TMUX_OK(...)                                                                               \
    do {                                                                                           \
        int st_;                                                                                   \
        free(tmux_run(&st_, __VA_ARGS__, (const char *)NULL));                                     \
        if (st_ != 0)                                                                              \
            fail_msg("tmux %s failed (exit %d)", #__VA_ARGS__, st_);                               \
    } while (0)

static char *screen(void)
{
    int st;
    char *text = tmux_run(&st, "capture-pane", "-p", "-t", "obs", (const char *)NULL);
    if (st != 0)
        fail_msg("tmux capture-pane failed (exit %d)", st);
    return text;
}

static void keys(const char *literal)
{
    TMUX_OK("send-keys", "-t", "obs", "-l", literal);
}

static void key(const char *name)
{
    TMUX_OK("send-keys", "-t", "obs", name);
}

/* `f`, then `filter` typed over whatever the line held, then Enter. */
static void type_filter(const char *filter)
{
    key("f");
    key("C-u");
    keys(filter);
    key("Enter");
}

/* Waits until the screen holds every string of the NULL-terminated list (`present`) or none
 * of them; returns the screen then (free it), fails with the last screen after SCREEN_MS. */
static char *wait_screen(bool present, ...)
{
    const char *want[16];
    va_list ap;
    va_start(ap, present);
    size_t n = collect(ap, want, 16);
    va_end(ap);
    int64_t end = now_ms() + SCREEN_MS;
    for (;;) {
        char *text = screen();
        size_t ok = 0;
        for (size_t i = 0; i < n; i++)
            ok += (strstr(text, want[i]) != NULL) == present;
        if (ok == n)
            return text;
        if (now_ms() > end) {
            print_message("screen:\n%s\n", text);
            free(text);
            fail_msg("the screen did not %s \"%s\"%s within %d ms", present ? "show" : "lose",
                     want[0], n > 1 ? " (and the rest)" : "", SCREEN_MS);
        }
        free(text);
        sleep_ms(50);
    }
}

#define SHOWS(...) free(wait_screen(true, __VA_ARGS__, (const char *)NULL))
#define LOSES(...) free(wait_screen(false, __VA_ARGS__, (const char *)NULL))

/* Line `n` (from 0) of `text`, into `out`. */
static const char *line_of(const char *text, int n, char *out, size_t size)
{
    for (; n > 0 && text != NULL; n--) {
        text = strchr(text, '\n');
        text = text != NULL ? text + 1 : NULL;
    }
    if (text == NULL)
        fail_msg("the screen has no line %d", n);
    size_t len = strcspn(text, "\n");
    snprintf(out, size, "%.*s", (int)len, text);
    return out;
}

/* The line number of the first line containing `needle`, or -1. */
static int row_of(const char *text, const char *needle)
{
    const char *at = strstr(text, needle);
    if (at == NULL)
        return -1;
    int row = 0;
    for (const char *p = text; p < at; p++)
        row += *p == '\n';
    return row;
}

/*
 * Starts sequin observe on `stream` in a new tmux session of COLS x ROWS. The pane's shell
 * records the terminal's settings first and says, once sequin exits, its status and whether
 * the settings are back, then keeps the pane open for the test to read. (Its trap lets it
 * live through a Ctrl-C meant for sequin, as an interactive shell would.)
 */
static void start_observe(const struct server *s, const char *stream)
{
    char cmd[2048], bin[1024];
    snprintf(bin, sizeof bin, "%s/sequin", builddir());
    if (access(bin, X_OK) != 0)
        fail_msg("%s is not built", bin);
    snprintf(cmd, sizeof cmd,
             "trap : INT; before=$(stty -g); SEQUIN_URL=http://127.0.0.1:%d '%s' observe --stream "
             "%s; rc=$?; "
             "if [ \"$(stty -g)\" = \"$before\" ]; then t=restored; else t=changed; fi; "
             "echo \"observe exited $rc, terminal $t\"; exec sleep 600",
             s->port, bin, stream);
    /* The previous test's kill-server returns before that server has let go of the socket,
     * and a new session started meanwhile finds it dying: try again for a while. */
    int st = -1;
    for (int i = 0; i < 50 && st != 0; i++) {
        if (i > 0)
            sleep_ms(100);
        free(tmux_run(&st, "new-session", "-d", "-s", "obs", "-x", COLS, "-y", ROWS, cmd,
                      (const char *)NULL));
    }
    if (st != 0)
        fail_msg("tmux new-session failed (exit %d)", st);
}

/* The pid of sequin, the child of the pane's shell. */
static pid_t observe_pid(void)
{
    int st;
    char *out =
        tmux_run(&st, "display-message", "-p", "-t", "obs", "#{pane_pid}", (const char *)NULL);
    pid_t shell = (pid_t)strtol(out, NULL, 10), kids[MAX_PIDS];
    free(out);
    if (st != 0 || shell <= 0 || children_of(shell, kids, MAX_PIDS) != 1)
        fail_msg("cannot find sequin under the pane's shell");
    return kids[0];
}

/* ---- the server ---------------------------------------------------------------------------- */

/* A stream of its own for each test (they share the database), with the guide's orders. */
static void guide_stream(const struct server *s, const char *stream)
{
    api_make_stream(s->port, stream);
    api_upsert1(s->port, stream, "orders.us.cus_a.order_1", "Shoes");
    api_upsert1(s->port, stream, "orders.eu.cus_b.order_2", "Pants");
    api_upsert1(s->port, stream, "orders.us.cus_c.order_3", "Hats");
    api_upsert1(s->port, stream, "orders.us.cus_a.order_4", "Shirts");
}

static int setup(void **state)
{
    struct server *s = started(false, NULL);
    *state = s;
    api_wait_ready(s);
    return 0;
}

static int teardown(void **state)
{
    int st;
    free(tmux_run(&st, "kill-server", (const char *)NULL));
    return teardown_server(state);
}

/* The teardown of a test with sources: their slots go before the test database can be dropped
 * (slots are the cluster's: this program's are its own). */
static int teardown_sources(void **state)
{
    int rc = teardown(state);
    pgt_drop_slot("sequin_obs_slot");
    pgt_drop_slot("sequin_obs_broken");
    return rc;
}

/* ---- the tests ----------------------------------------------------------------------------- */

/* Messages newest first and live; the filter narrows, a bad one shows the server's reason;
 * q exits 0 and gives the terminal back as it was. */
static void test_messages_and_filter(void **state)
{
    struct server *s = *state;
    char l[256];
    guide_stream(s, "obs_filter");
    start_observe(s, "obs_filter");
    char *text = wait_screen(true, "orders.us.cus_a.order_4", "orders.us.cus_a.order_1",
                             "stream obs_filter  filter >", (const char *)NULL);
    assert_string_equal(line_of(text, 1, l, sizeof l), "SEQ  KEY                      UPDATED  "
                                                       "            DATA");
    int r4 = row_of(text, "order_4"), r3 = row_of(text, "order_3"), r2 = row_of(text, "order_2"),
        r1 = row_of(text, "order_1");
    if (!(r4 == 2 && r3 == 3 && r2 == 4 && r1 == 5))
        fail_msg("not newest first (rows %d %d %d %d):\n%s", r4, r3, r2, r1, text);
    assert_non_null(strstr(line_of(text, 2, l, sizeof l), "Shirts"));
    free(text);

    /* An upsert elsewhere shows up on its own, on top. */
    api_upsert1(s->port, "obs_filter", "orders.eu.cus_b.order_2", "Socks");
    text = wait_screen(true, "Socks", (const char *)NULL);
    assert_int_equal(row_of(text, "orders.eu.cus_b.order_2"), 2);
    assert_null(strstr(text, "Pants"));
    free(text);

    /* The guide's three filters. */
    key("f");
    text = wait_screen(true, "filter:", (const char *)NULL); /* capture-pane trims the space */
    assert_int_equal(row_of(text, "filter:"), 29);           /* typing, in the status line */
    free(text);
    keys("orders.us.>");
    key("Enter");
    text = wait_screen(true, "filter orders.us.>", (const char *)NULL);
    assert_null(strstr(text, "orders.eu.cus_b.order_2"));
    assert_int_equal(row_of(text, "orders.us.cus_a.order_4"), 2);
    assert_int_equal(row_of(text, "orders.us.cus_c.order_3"), 3);
    assert_int_equal(row_of(text, "orders.us.cus_a.order_1"), 4);
    free(text);
    type_filter("orders.*.cus_a.*");
    text = wait_screen(true, "filter orders.*.cus_a.*", (const char *)NULL);
    assert_null(strstr(text, "order_2"));
    assert_null(strstr(text, "order_3"));
    assert_int_equal(row_of(text, "orders.us.cus_a.order_4"), 2);
    assert_int_equal(row_of(text, "orders.us.cus_a.order_1"), 3);
    free(text);

    /* A filter the server refuses: its reason in the status line, the last good one kept. */
    type_filter("orders.ab*");
    text = wait_screen(true, "filter \"orders.ab*\" refused: key_pattern is not a valid filter",
                       (const char *)NULL);
    assert_int_equal(row_of(text, "refused"), 29);
    assert_non_null(strstr(text, "filter orders.*.cus_a.*"));
    assert_int_equal(row_of(text, "orders.us.cus_a.order_4"), 2);
    free(text);

    type_filter(">");
    SHOWS("orders.eu.cus_b.order_2", "orders.us.cus_c.order_3", "stream obs_filter  filter >");

    key("q");
    text = wait_screen(true, "observe exited 0, terminal restored", (const char *)NULL);
    assert_null(strstr(text, "Messages  Consumers")); /* the view's screen is gone */
    free(text);
}

/* The Consumers tab, one consumer's details (leased and next), and back to the messages. */
static void test_consumers_and_details(void **state)
{
    struct server *s = *state;
    char l[256];
    guide_stream(s, "obs_consumers");
    api_expect(s->port, "POST", "/api/streams/obs_consumers/consumers",
               "{\"name\":\"us_orders\",\"filter_key_pattern\":\"orders.us.>\"}", 200,
               "\"us_orders\"");
    api_expect(s->port, "POST", "/api/streams/obs_consumers/consumers",
               "{\"name\":\"eu_orders\",\"filter_key_pattern\":\"orders.eu.>\","
               "\"ack_wait_ms\":1500}",
               200, "\"eu_orders\"");
    /* Lease the first two US orders (order_1 and order_3, in seq order). */
    char *got =
        api_expect_body(s->port, "POST", "/api/streams/obs_consumers/consumers/us_orders/receive",
                        "{\"batch_size\":2,\"wait_for\":5000}", 200, "ack_id");
    assert_int_equal(count_of(got, "ack_id"), 2);
    free(got);

    start_observe(s, "obs_consumers");
    SHOWS("orders.us.cus_a.order_4");
    key("c");
    char *text = wait_screen(true, "NAME", "us_orders", "2 consumers", (const char *)NULL);
    assert_string_equal(line_of(text, 1, l, sizeof l),
                        "NAME       FILTER       AVAILABLE  LEASED  DEAD  ACK_WAIT");
    int eu = row_of(text, "eu_orders"), us = row_of(text, "us_orders");
    assert_true(eu >= 2 && us >= 2);
    assert_string_equal(line_of(text, us, l, sizeof l),
                        "us_orders  orders.us.>  1          2       0     30s");
    assert_string_equal(line_of(text, eu, l, sizeof l),
                        "eu_orders  orders.eu.>  1          0       0     1500ms");
    free(text);

    /* The first row is selected; move to us_orders and open it. */
    for (int i = 2; i < us; i++)
        key("Down");
    key("Enter");
    text = wait_screen(true, "Consumers > us_orders", "LEASED (2)", "NEXT (1 shown)",
                       (const char *)NULL);
    assert_non_null(strstr(line_of(text, 1, l, sizeof l),
                           "us_orders  filter orders.us.>  available 1  leased 2  dead 0  "
                           "ack-wait 30s"));
    int leased = row_of(text, "LEASED (2)"), next = row_of(text, "NEXT (1 shown)");
    assert_int_equal(leased, 2);
    assert_int_equal(row_of(text, "orders.us.cus_a.order_1"), leased + 2);
    assert_int_equal(row_of(text, "orders.us.cus_c.order_3"), leased + 3);
    assert_int_equal(row_of(text, "orders.us.cus_a.order_4"), next + 2);
    assert_true(next > leased + 3);
    free(text);

    /* m: the messages again. */
    key("m");
    text = wait_screen(true, "SEQ  KEY", "orders.eu.cus_b.order_2", (const char *)NULL);
    assert_null(strstr(text, "LEASED"));
    free(text);
    /* c and Enter again (the selection stayed), then Esc back to the list. */
    key("c");
    SHOWS("2 consumers");
    key("Enter");
    SHOWS("Consumers > us_orders");
    key("Escape");
    LOSES("Consumers > us_orders");
    SHOWS("2 consumers");
    key("q");
    SHOWS("observe exited 0, terminal restored");
}

/* The Sources tab: a source over a table of the test database streams, its backfilled rows
 * counted, no error; one over a table that does not exist is in error and says why. */
static void test_sources(void **state)
{
    struct server *s = *state;
    char body[1024], l[256];
    PGconn *c = pgt_connect();
    pgt_exec(c, "CREATE TABLE public.obs_orders (id int PRIMARY KEY, status text NOT NULL); "
                "INSERT INTO public.obs_orders VALUES (1, 'new'), (2, 'new')");
    PQfinish(c);
    api_format(body, sizeof body,
               "{\"name\":\"obsdb\",\"stream\":\"default\",\"postgres\":{\"url\":\"%s\","
               "\"slot\":\"sequin_obs_slot\",\"publication\":\"sequin_obs_pub\","
               "\"tables\":[\"public.obs_orders\"]},\"backfill\":true}",
               db_url());
    api_expect(s->port, "POST", "/api/sources", body, 200, "\"obsdb\"");
    api_format(body, sizeof body,
               "{\"name\":\"broken\",\"stream\":\"default\",\"postgres\":{\"url\":\"%s\","
               "\"slot\":\"sequin_obs_broken\",\"publication\":\"sequin_obs_broken\","
               "\"tables\":[\"public.no_such_table\"]}}",
               db_url());
    api_expect(s->port, "POST", "/api/sources", body, 200, "\"broken\"");

    start_observe(s, "default");
    SHOWS(" Messages  Consumers  Sources");
    key("s");
    char *text = wait_screen(true, "2 sources", "streaming", "error", (const char *)NULL);
    /* The headings, then a row for each. */
    assert_int_equal(row_of(text, "NAME    STATE      LAG_BYTES  LAG_SECONDS  ROWS  ERROR"), 1);
    int ok = row_of(text, "obsdb "), bad = row_of(text, "broken ");
    assert_true(ok >= 2 && bad >= 2 && ok != bad);
    /* Streaming, no error; its lag a number of bytes and of seconds. */
    line_of(text, ok, l, sizeof l);
    long bytes, rows;
    double seconds;
    char error[64];
    if (sscanf(l, "obsdb streaming %ld %lfs %ld %63s", &bytes, &seconds, &rows, error) != 4 ||
        strcmp(error, "-") != 0)
        fail_msg("the source's row: %s", l);
    /* In error, saying which table. */
    line_of(text, bad, l, sizeof l);
    if (strncmp(l, "broken  error ", 14) != 0 || strstr(l, "no_such_table") == NULL)
        fail_msg("the broken source's row: %s", l);
    free(text);
    /* The backfilled rows are in the stream, under the Messages tab (Tab goes round). */
    key("Tab");
    SHOWS("obsdb.public.obs_orders.2", "newest first");
    key("q");
    SHOWS("observe exited 0, terminal restored");
}

/* Resizes down to a tiny terminal and back, a sequind restart ("disconnected", then data
 * again), and signals: TERM and Ctrl-C end the view with the terminal restored. */
static void test_resize_restart_signals(void **state)
{
    struct server *s = *state;
    char l[256];
    guide_stream(s, "obs_live");
    start_observe(s, "obs_live");
    SHOWS("orders.us.cus_a.order_4");

    TMUX_OK("resize-window", "-t", "obs", "-x", "40", "-y", "10");
    LOSES("orders.us.cus_a.order_4"); /* cut to fit 40 columns */
    char *text = wait_screen(true, "orders.us.cus_a.", "newest first", (const char *)NULL);
    assert_int_equal(row_of(text, "newest first"), 9);
    assert_int_equal(row_of(text, "SEQ  KEY"), 1);
    free(text);
    TMUX_OK("resize-window", "-t", "obs", "-x", "20", "-y", "5");
    text = wait_screen(true, " Messages  Consumer", (const char *)NULL); /* cut */
    assert_int_equal(row_of(text, "SEQ  KEY"), 1);
    free(text);
    TMUX_OK("resize-window", "-t", "obs", "-x", "15", "-y", "4");
    SHOWS("terminal too");
    TMUX_OK("resize-window", "-t", "obs", "-x", "12", "-y", "2");
    LOSES("terminal too");
    SHOWS("terminal to");
    TMUX_OK("resize-window", "-t", "obs", "-x", COLS, "-y", ROWS);
    SHOWS("orders.us.cus_a.order_4", "f filter  c consumers  s sources  q quit");

    /* The server goes away and comes back on the same port. */
    int st;
    kill(s->pid, SIGTERM);
    if (!wait_exit(s->pid, EVENT_MS, &st))
        fail_msg("sequind did not stop on TERM");
    s->pid = 0;
    text = wait_screen(true, "disconnected: cannot reach http://127.0.0.1:", "; retrying",
                       (const char *)NULL);
    assert_int_equal(row_of(text, "disconnected"), 29);
    assert_non_null(strstr(text, "orders.us.cus_a.order_4")); /* the last rows stay */
    free(text);
    spawn_server(s);
    if (!wait_notify(s, "READY=1", START_MS))
        fail_msg("sequind did not start again");
    api_upsert1(s->port, "obs_live", "orders.us.cus_d.order_5", "Boots");
    text =
        wait_screen(true, "orders.us.cus_d.order_5", "newest first, updated", (const char *)NULL);
    assert_null(strstr(text, "disconnected"));
    assert_int_equal(row_of(text, "orders.us.cus_d.order_5"), 2);
    free(text);

    /* TERM: the view ends, the terminal is restored, the status says which signal. */
    kill(observe_pid(), SIGTERM);
    text = wait_screen(true, "observe exited 143, terminal restored", (const char *)NULL);
    assert_string_equal(line_of(text, 0, l, sizeof l), "observe exited 143, terminal restored");
    free(text);

    /* Ctrl-C, in the middle of typing a filter. */
    TMUX_OK("kill-session", "-t", "obs");
    start_observe(s, "obs_live");
    SHOWS("orders.us.cus_d.order_5");
    key("f");
    keys("orders.");
    SHOWS("filter: orders.");
    key("C-c");
    SHOWS("observe exited 130, terminal restored");
}

int main(void)
{
    /* The whole program is one skip when tmux is missing: cmocka would count a skipped case as
     * a failure in TAP. */
    if (system("command -v tmux >/dev/null 2>&1") != 0) {
        printf("1..0 # SKIP tmux is not installed (Debian package: tmux)\n");
        return 0;
    }
    snprintf(tmux_socket, sizeof tmux_socket, "sqtest-observe-%ld", (long)getpid());
    snprintf(config_home, sizeof config_home, "/tmp/sqtest-observe.XXXXXX");
    if (mkdtemp(config_home) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    /* No status bar, so the pane is the whole window. */
    snprintf(tmux_conf, sizeof tmux_conf, "%s/tmux.conf", config_home);
    FILE *conf = fopen(tmux_conf, "w");
    if (conf == NULL) {
        perror(tmux_conf);
        return 1;
    }
    fputs("set -g status off\nset -g default-terminal screen\n", conf);
    fclose(conf);
    /* The tmux server takes the environment of its first client, this process: no contexts
     * of the user's, no token, no outer tmux, a terminal type every system knows. */
    setenv("XDG_CONFIG_HOME", config_home, 1);
    setenv("TMUX_TMPDIR", config_home, 1); /* its socket too, removed with the rest */
    setenv("SHELL", "/bin/sh", 1);
    setenv("LC_ALL", "C.UTF-8", 1);
    unsetenv("SEQUIN_TOKEN");
    unsetenv("SEQUIN_URL");
    unsetenv("TMUX");
    setenv("TERM", "screen", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_messages_and_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consumers_and_details, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resize_restart_signals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sources, setup, teardown_sources),
    };
    int rc = cmocka_run_group_tests_name("observe", tests, NULL, NULL);
    char sockets[128], socket[256];
    snprintf(sockets, sizeof sockets, "%s/tmux-%ld", config_home, (long)getuid());
    snprintf(socket, sizeof socket, "%s/%s", sockets, tmux_socket);
    unlink(socket); /* the server leaves it behind */
    rmdir(sockets);
    unlink(tmux_conf);
    rmdir(config_home);
    return rc;
}
