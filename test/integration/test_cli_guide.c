/* The getting-started guide (SPEC's seed), every command as written and in the guide's order:
 * each line runs under /bin/sh with the built sequin first on PATH, against the real sequind on
 * the test database, and after each step the test checks through the API what the guide's prose
 * says happens. The line --as-curl prints is run by sh with the real curl; the consumer's edited
 * ack wait is watched taking effect on a lease. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "api_client.h"
#include "pg_fixture.h"
#include "sequin/buf.h"
#include "sequin/json.h"
#include "sequind_harness.h"

/* One line's bound: the CLI gives up after 10 s to connect plus 60 s per request. */
#define LINE_MS 75000
/* The ack wait the test sets with the guide's `consumer edit` tip (SPEC: 500..3600000). */
#define EDITED_ACK_WAIT_MS 2000

/* The user's home of the test: HOME and XDG_CONFIG_HOME point here, so that no context of the
 * person running the tests is read or written. */
static char home[64];

/* ---- running a line of the guide ----------------------------------------------------------- */

typedef struct ran {
    int status; /* exit status; -1 when a signal ended the shell */
    char *out;
    char *err;
} ran;

static void ran_free(ran *r)
{
    free(r->out);
    free(r->err);
}

/* Runs `line` as `/bin/sh -c line` with stdin on /dev/null (no terminal: nothing may prompt)
 * and stdout and stderr kept apart. */
static ran sh(const char *line)
{
    char out_path[128], err_path[128];
    int st;
    snprintf(out_path, sizeof out_path, "%s/stdout", home);
    snprintf(err_path, sizeof err_path, "%s/stderr", home);
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0); /* so that a hung line is killed with what it started */
        int in = open("/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(126);
        execl("/bin/sh", "sh", "-c", line, (char *)NULL);
        _exit(127);
    }
    if (!wait_exit(pid, LINE_MS, &st)) {
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("`%s` did not end within %d ms", line, LINE_MS);
    }
    ran r = {.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1,
             .out = read_file(out_path),
             .err = read_file(err_path)};
    return r;
}

/* Runs a line that must succeed silently on stderr (a sanitizer's report lands there too);
 * returns its standard output (free it). */
static char *run_ok(const char *line)
{
    ran r = sh(line);
    if (r.status != 0 || r.err[0] != '\0')
        fail_msg("`%s`: exit %d\nstdout:\n%s\nstderr:\n%s", line, r.status, r.out, r.err);
    free(r.err);
    return r.out;
}

/* Runs a line and asserts its whole standard output. */
static void run_expect(const char *line, const char *want)
{
    char *out = run_ok(line);
    if (strcmp(out, want) != 0)
        fail_msg("`%s` printed\n%s\ninstead of\n%s", line, out, want);
    free(out);
}

/* ---- reading the API's answers -------------------------------------------------------------- */

/* The value at `path` ("stats.available", "data.0.info.ack_id": members and array
 * indexes, dot-separated) of JSON text `json`, unescaped if it is a string, else as written
 * ("null", "30000"); free it. Fails the test when there is no such value. */
static char *jget(const char *json, const char *path)
{
    sq_json doc = {0};
    sq_json_error jerr;
    sq_buf out = {0};
    char seg[128];
    int tok = 0;

    if (sq_json_parse(&doc, json, strlen(json), 0, &jerr) != 0)
        fail_msg("not JSON (%s): %s", jerr.text, json);
    for (const char *p = path; tok >= 0 && *p != '\0';) {
        size_t n = strcspn(p, ".");
        assert_true(n < sizeof seg);
        memcpy(seg, p, n);
        seg[n] = '\0';
        p += n + (p[n] == '.');
        if (sq_json_type_of(&doc, tok) == SQ_JSON_ARRAY) {
            int i = atoi(seg);
            for (tok = sq_json_first(&doc, tok); tok >= 0 && i > 0; i--)
                tok = sq_json_next(&doc, tok);
        } else if (sq_json_lookup(&doc, tok, seg, &tok) != 0) {
            tok = -1;
        }
    }
    if (tok < 0)
        fail_msg("no %s in %s", path, json);
    if (sq_json_type_of(&doc, tok) == SQ_JSON_STRING) {
        assert_int_equal(sq_json_get_str(&doc, tok, &out), 0);
    } else {
        const char *raw;
        size_t len;
        assert_int_equal(sq_json_raw(&doc, tok, &raw, &len), 0);
        assert_int_equal(sq_buf_append(&out, raw, len), 0);
    }
    sq_json_free(&doc);
    return out.data;
}

/* Asserts that the value at `path` of `json` is `want`. */
static void jexpect(const char *json, const char *path, const char *want)
{
    char *got = jget(json, path);
    if (strcmp(got, want) != 0)
        fail_msg("%s is %s, not %s, in %s", path, got, want, json);
    free(got);
}

static char *api_get(int port, const char *target)
{
    return api_expect_body(port, "GET", target, NULL, 200, NULL);
}

static char *message(int port, const char *key)
{
    char target[256];
    snprintf(target, sizeof target, "/api/streams/default/messages/%s", key);
    return api_get(port, target);
}

static int64_t jint(const char *json, const char *path)
{
    char *v = jget(json, path);
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*v == '\0' || *end != '\0')
        fail_msg("%s is %s, not an integer", path, v);
    free(v);
    return n;
}

/* Microseconds since the epoch of an API timestamp ("2024-05-01T12:00:00.123456Z"). */
static int64_t usec_of(const char *json, const char *path)
{
    char *ts = jget(json, path);
    struct tm tm = {0};
    int usec, used = 0;
    if (sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%6d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &usec, &used) != 7 ||
        used != 26 || strcmp(ts + used, "Z") != 0)
        fail_msg("%s is %s, not ISO 8601 UTC with microseconds", path, ts);
    free(ts);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000000 + usec;
}

/* ---- what `consumer receive` prints --------------------------------------------------------- */

/* The value of the line "NAME:   value" of a block, into `out`; fails when absent. */
static const char *block_value(const char *block, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    for (const char *l = block; *l != '\0'; l = strchr(l, '\n') + 1) {
        const char *end = strchr(l, '\n');
        if (end == NULL)
            fail_msg("unterminated line in\n%s", block);
        if (strncmp(l, name, n) == 0 && l[n] == ':') {
            const char *v = l + n + 1;
            while (*v == ' ')
                v++;
            if ((size_t)(end - v) >= size)
                fail_msg("%s too long in\n%s", name, block);
            memcpy(out, v, (size_t)(end - v));
            out[end - v] = '\0';
            return out;
        }
    }
    fail_msg("no %s line in\n%s", name, block);
    return NULL;
}

/* Checks that `text` is the block of one received message (key, seq, data, ack_id and nothing
 * else, as docs/cli.md says), with the key and data the API holds for `key` now; the ack id
 * goes to `ack_id`. Returns the text after the block. */
static const char *expect_delivery(int port, const char *text, const char *key, char *ack_id,
                                   size_t size)
{
    static const char *const names[] = {"key", "seq", "data", "ack_id"};
    char v[512];
    char *m = message(port, key);
    char *data = jget(m, "data");
    char *seq = jget(m, "seq");
    const char *at = text;

    for (size_t i = 0; i < SQ_ARRAY_LEN(names); i++) {
        if (strncmp(at, names[i], strlen(names[i])) != 0 || at[strlen(names[i])] != ':')
            fail_msg("wanted the %s line of %s, got\n%s", names[i], key, text);
        at = strchr(at, '\n') + 1;
    }
    assert_string_equal(block_value(text, "key", v, sizeof v), key);
    assert_string_equal(block_value(text, "seq", v, sizeof v), seq);
    assert_string_equal(block_value(text, "data", v, sizeof v), data);
    block_value(text, "ack_id", ack_id, size);
    assert_int_equal(strlen(ack_id), 36); /* a UUID */
    free(seq);
    free(data);
    free(m);
    return at;
}

/* The leases the consumer holds now (the API's delivered messages), as JSON (free it), after
 * checking there are `n` of them. */
static char *leases(int port, int n)
{
    char *body = api_get(port, "/api/streams/default/consumers/us_orders/messages?state=delivered");
    if (count_of(body, "\"state\":\"delivered\"") != n)
        fail_msg("wanted %d leased messages: %s", n, body);
    return body;
}

/* Checks that the lease of `key` (one of `held`, the API's delivered messages) has the ack id
 * the CLI printed, is its `count`th delivery, and runs `ack_wait_ms` from its delivery. */
static void expect_lease(const char *held, const char *key, const char *ack_id, int count,
                         int ack_wait_ms)
{
    char path[64];
    for (int i = 0;; i++) {
        snprintf(path, sizeof path, "data.%d.message.key", i);
        char *k = jget(held, path);
        bool found = strcmp(k, key) == 0;
        free(k);
        if (!found)
            continue;
        snprintf(path, sizeof path, "data.%d.info.ack_id", i);
        jexpect(held, path, ack_id);
        snprintf(path, sizeof path, "data.%d.info.deliver_count", i);
        assert_int_equal(jint(held, path), count);
        snprintf(path, sizeof path, "data.%d.info.last_delivered_at", i);
        int64_t from = usec_of(held, path);
        snprintf(path, sizeof path, "data.%d.info.not_visible_until", i);
        int64_t until = usec_of(held, path);
        if (until - from != (int64_t)ack_wait_ms * 1000)
            fail_msg("%s is leased for %lld us, not %d ms: %s", key, (long long)(until - from),
                     ack_wait_ms, held);
        return;
    }
}

/* Skips the header the guide's `echo "\nCommand N output:"` prints. /bin/sh's echo turns the
 * "\n" into a newline (dash, and any XSI shell); an echo that prints it as is (bash's builtin)
 * would be accepted too: the guide is the same either way. */
static const char *after_header(const char *out, int n)
{
    char header[64];
    const char *at = out;
    snprintf(header, sizeof header, "Command %d output:\n", n);
    if (n > 1) {
        if (at[0] == '\n')
            at += 1;
        else if (at[0] == '\\' && at[1] == 'n')
            at += 2;
        else
            fail_msg("no empty line before command %d's output:\n%s", n, out);
    }
    if (strncmp(at, header, strlen(header)) != 0)
        fail_msg("no \"%s\" header:\n%s", header, out);
    return at + strlen(header);
}

/* ---- the server and the user's environment --------------------------------------------------- */

/* Starts sequind and gives the guide's shell the built sequin first on PATH, the server's URL
 * in SEQUIN_URL (the guide's Docker setup listens on the default port; the test's server on a
 * free one), and a home of its own. */
static int setup(void **state)
{
    char path[PATH_MAX * 2], url[64], config[128];
    struct server *s = started(false, NULL);
    *state = s;
    api_wait_ready(s);

    snprintf(home, sizeof home, "/tmp/sqtest-guide.XXXXXX");
    if (mkdtemp(home) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    snprintf(config, sizeof config, "%s/.config", home);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", s->port);
    snprintf(path, sizeof path, "%s:%s", builddir(),
             getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    setenv("PATH", path, 1);
    setenv("HOME", home, 1);
    setenv("XDG_CONFIG_HOME", config, 1);
    setenv("SEQUIN_URL", url, 1);
    unsetenv("SEQUIN_TOKEN");
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    if (home[0] != '\0') {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
        if (system(cmd) != 0)
            print_message("could not remove %s\n", home);
    }
    return teardown_server(state);
}

/* ---- the guide --------------------------------------------------------------------------------
 */

static void test_getting_started_guide(void **state)
{
    struct server *s = *state;
    int port = s->port;
    char want[1024], ack[3][64], ack2[3][64];

    /* The shell finds the sequin just built, and a real curl for the --as-curl step. */
    snprintf(want, sizeof want, "%s/sequin\n", builddir());
    run_expect("command -v sequin", want);
    char *curl_path = run_ok("command -v curl");
    if (curl_path[0] != '/')
        fail_msg("no curl program on PATH (`command -v curl` says \"%s\"): install curl",
                 curl_path);
    free(curl_path);

    /* Not run, with why:
     * - `brew tap sequin-io/sequin ...`, `brew install sequin`: installing the CLI; the test
     *   runs the one this tree built.
     * - `git clone ...`, `cd sequin/installation`, `docker compose up -d`: booting a server;
     *   setup() starts this tree's sequind on the test database instead. */

    /* "Upsert your first message" */
    run_expect("sequin message upsert orders.us.cus_a.order_1 '{\"product\": \"Shoes\"}'",
               "Published 1 message.\n");
    char *first = message(port, "orders.us.cus_a.order_1");
    jexpect(first, "key", "orders.us.cus_a.order_1");
    jexpect(first, "data", "{\"product\": \"Shoes\"}");

    /* "You can see what the requests look like by passing the --as-curl flag": the request is
     * printed, not sent, as the curl command docs/cli.md shows... */
    const char *as_curl = "sequin message upsert orders.us.cus_a.order_1 '{\"product\": \"Shoes\", "
                          "\"status\": \"new\"}' --as-curl";
    snprintf(want, sizeof want,
             "curl -X 'POST' -H 'Content-Type: application/json' --data-raw "
             "'{\"messages\":[{\"key\":\"orders.us.cus_a.order_1\",\"data\":\"{\\\"product\\\": "
             "\\\"Shoes\\\", \\\"status\\\": \\\"new\\\"}\"}]}' "
             "'http://127.0.0.1:%d/api/streams/default/messages'\n",
             port);
    char *curl_line = run_ok(as_curl);
    assert_string_equal(curl_line, want);
    char *unsent = message(port, "orders.us.cus_a.order_1");
    assert_string_equal(unsent, first);
    free(unsent);

    /* ...and a shell running that line with the real curl makes the upsert: the data changes,
     * the message takes a new seq and keeps its inserted_at. */
    ran c = sh(curl_line);
    if (c.status != 0 || strcmp(c.out, "{\"data\":{\"published\":1}}") != 0)
        fail_msg("the printed curl line: exit %d\nstdout:\n%s\nstderr:\n%s", c.status, c.out,
                 c.err);
    ran_free(&c);
    char *curled = message(port, "orders.us.cus_a.order_1");
    jexpect(curled, "data", "{\"product\": \"Shoes\", \"status\": \"new\"}");
    assert_true(jint(curled, "seq") > jint(first, "seq"));
    assert_true(usec_of(curled, "updated_at") > usec_of(first, "updated_at"));
    char *inserted = jget(first, "inserted_at");
    jexpect(curled, "inserted_at", inserted);
    free(inserted);
    /* The same effect as the command itself: sending it now changes nothing, as an upsert of
     * identical data is a no-op (SPEC 3). (Not a line of the guide: the check of this step.) */
    run_expect("sequin message upsert orders.us.cus_a.order_1 '{\"product\": \"Shoes\", "
               "\"status\": \"new\"}'",
               "Published 0 messages.\n");
    char *again = message(port, "orders.us.cus_a.order_1");
    assert_string_equal(again, curled);
    free(again);
    free(curled);
    free(curl_line);
    free(first);

    /* "Upsert more messages to Sequin" */
    static const char *const more[][3] = {
        {"sequin message upsert orders.eu.cus_b.order_2 '{\"product\": \"Pants\"}'",
         "orders.eu.cus_b.order_2", "{\"product\": \"Pants\"}"},
        {"sequin message upsert orders.us.cus_c.order_3 '{\"product\": \"Shoes\"}'",
         "orders.us.cus_c.order_3", "{\"product\": \"Shoes\"}"},
        {"sequin message upsert orders.us.cus_a.order_4 '{\"product\": \"Shirts\"}'",
         "orders.us.cus_a.order_4", "{\"product\": \"Shirts\"}"},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(more); i++) {
        run_expect(more[i][0], "Published 1 message.\n");
        char *m = message(port, more[i][1]);
        jexpect(m, "data", more[i][2]);
        free(m);
    }
    char *stream = api_get(port, "/api/streams/default");
    jexpect(stream, "stats.message_count", "4");
    free(stream);

    /* Not run: `sequin observe` is the full-screen view a user opens in a second terminal; it
     * needs a terminal and changes nothing. test/integration/test_observe.c drives it in tmux,
     * and the lines `orders.us.>`, `orders.*.cus_a.*`, `>` are filters typed into it there. */

    /* "Messages are always upserted. So, when cus_b changes their order: ... The message is
     * updated in the stream." */
    char *pants = message(port, "orders.eu.cus_b.order_2");
    run_expect("sequin message upsert orders.eu.cus_b.order_2 '{\"product\": \"Socks\"}'",
               "Published 1 message.\n");
    char *socks = message(port, "orders.eu.cus_b.order_2");
    jexpect(socks, "data", "{\"product\": \"Socks\"}");
    assert_true(jint(socks, "seq") > jint(pants, "seq"));
    free(socks);
    free(pants);
    stream = api_get(port, "/api/streams/default");
    jexpect(stream, "stats.message_count", "4");
    free(stream);

    /* "Add a consumer" with --defaults: the server's defaults (docs/cli.md), and the three US
     * orders waiting for it. */
    char *added = run_ok("sequin consumer add us_orders --filter=\"orders.us.>\" --defaults");
    char v[128];
    assert_string_equal(block_value(added, "name", v, sizeof v), "us_orders");
    assert_string_equal(block_value(added, "filter", v, sizeof v), "orders.us.>");
    assert_string_equal(block_value(added, "ack_wait_ms", v, sizeof v), "30000");
    free(added);
    char *consumer = api_get(port, "/api/streams/default/consumers/us_orders");
    jexpect(consumer, "filter_key_pattern", "orders.us.>");
    jexpect(consumer, "ack_wait_ms", "30000");
    jexpect(consumer, "max_ack_pending", "10000");
    jexpect(consumer, "max_deliver", "null");
    jexpect(consumer, "deliver_policy", "all");
    jexpect(consumer, "stats.available", "3");
    free(consumer);

    /* Four receives: "You will have received the three US based orders. The last receive should
     * have returned "No messages available."" The guide names no order; SPEC 3 gives seq
     * order, and order_1 (changed by the curl line) still comes before order_3 and order_4. */
    static const char *const receives[] = {
        "echo \"Command 1 output:\" && sequin consumer receive us_orders --no-ack",
        "echo \"\\nCommand 2 output:\" && sequin consumer receive us_orders --no-ack",
        "echo \"\\nCommand 3 output:\" && sequin consumer receive us_orders --no-ack",
        "echo \"\\nCommand 4 output:\" && sequin consumer receive us_orders --no-ack",
    };
    static const char *const us[] = {"orders.us.cus_a.order_1", "orders.us.cus_c.order_3",
                                     "orders.us.cus_a.order_4"};
    for (int i = 0; i < 4; i++) {
        char *out = run_ok(receives[i]);
        const char *body = after_header(out, i + 1);
        if (i < 3) {
            const char *rest = expect_delivery(port, body, us[i], ack[i], sizeof ack[i]);
            if (*rest != '\0')
                fail_msg("more than one message from `%s`:\n%s", receives[i], out);
        } else if (strcmp(body, "No messages available.\n") != 0) {
            fail_msg("the fourth receive printed\n%s", out);
        }
        free(out);
    }

    /* "The three messages are now pending for the consumer ... If the messages are not acked,
     * they will be available for re-delivery in 30 seconds (ack-wait-ms)." */
    consumer = api_get(port, "/api/streams/default/consumers/us_orders");
    jexpect(consumer, "stats.available", "0");
    jexpect(consumer, "stats.delivered", "3");
    free(consumer);
    char *held = leases(port, 3);
    for (int i = 0; i < 3; i++)
        expect_lease(held, us[i], ack[i], 1, 30000);
    free(held);

    /* The tip: `sequin consumer edit <consumer-slug> --ack-wait-ms=ACK-WAIT-MS`, filled in. */
    snprintf(want, sizeof want, "sequin consumer edit us_orders --ack-wait-ms=%d",
             EDITED_ACK_WAIT_MS);
    char *edited = run_ok(want);
    snprintf(want, sizeof want, "%d", EDITED_ACK_WAIT_MS);
    assert_string_equal(block_value(edited, "ack_wait_ms", v, sizeof v), want);
    free(edited);
    char *info = run_ok("sequin consumer info us_orders --json");
    jexpect(info, "ack_wait_ms", want);
    jexpect(info, "filter_key_pattern", "orders.us.>");
    jexpect(info, "max_ack_pending", "10000");
    free(info);
    consumer = api_get(port, "/api/streams/default/consumers/us_orders");
    jexpect(consumer, "ack_wait_ms", want);
    free(consumer);

    /* It takes effect: "This setting controls how long messages remain invisible, waiting to be
     * ack'd, after they are delivered." The three leases taken under the old setting are given
     * back with nack, received again, and now come back after EDITED_ACK_WAIT_MS, not 30 s. */
    snprintf(want, sizeof want, "sequin consumer nack us_orders %s %s %s", ack[0], ack[1], ack[2]);
    run_expect(want, "Nacked 3 messages.\n");
    int64_t leased_from = now_ms();
    char *out = run_ok("sequin consumer receive us_orders --no-ack --batch-size=3");
    const char *at = out;
    for (int i = 0; i < 3; i++) {
        at = expect_delivery(port, at, us[i], ack2[i], sizeof ack2[i]);
        if (i < 2 && *at++ != '\n')
            fail_msg("no empty line between the messages of a batch:\n%s", out);
    }
    assert_string_equal(at, "");
    free(out);
    held = leases(port, 3);
    for (int i = 0; i < 3; i++)
        expect_lease(held, us[i], ack2[i], 2, EDITED_ACK_WAIT_MS);
    free(held);
    /* A receive that ends before the new leases can run out finds nothing. */
    out = run_ok("sequin consumer receive us_orders --no-ack");
    if (now_ms() < leased_from + EDITED_ACK_WAIT_MS)
        assert_string_equal(out, "No messages available.\n");
    free(out);
    /* A long poll is given the first of them back once its lease has run out. */
    out = run_ok("sequin consumer receive us_orders --no-ack --wait=20000");
    int64_t back_after = now_ms() - leased_from;
    char ack3[64];
    if (strncmp(out, "No messages", 11) == 0)
        fail_msg("no redelivery within 20 s of a lease of %d ms", EDITED_ACK_WAIT_MS);
    assert_string_equal(expect_delivery(port, out, us[0], ack3, sizeof ack3), "");
    free(out);
    if (back_after < EDITED_ACK_WAIT_MS - 50) /* the database's clock against ours */
        fail_msg("redelivered %lld ms after the receive, before the lease of %d ms ran out",
                 (long long)back_after, EDITED_ACK_WAIT_MS);
}

/* ---- the README's "Stream your Postgres table" -------------------------------------------- */

#define README_PG "postgresql://sequin@127.0.0.1:7432/"
#define README_SLOT "sequin_slot"

/* The commands of the README section titled `title`: the lines of its first ```sh block, in a
 * NULL-terminated array (free each and the array). */
static char **readme_block(const char *title)
{
    char path[PATH_MAX];
    const char *src = getenv("SQ_SRCDIR");
    snprintf(path, sizeof path, "%s/README.md", src ? src : ".");
    char *text = read_file(path);
    char *at = strstr(text, title);
    if (!at)
        fail_msg("README.md has no section \"%s\"", title);
    at = strstr(at, "```sh\n");
    assert_non_null(at);
    at += strlen("```sh\n");
    char *end = strstr(at, "```");
    assert_non_null(end);
    char **lines = calloc(64, sizeof *lines);
    size_t n = 0;
    while (at < end && n < 63) {
        size_t len = strcspn(at, "\n");
        lines[n++] = strndup(at, len);
        at += len + 1;
    }
    free(text);
    return lines;
}

/* `line` with the README's local PostgreSQL (packaging/dev's, port 7432) replaced by the test
 * cluster: the one thing about the lines that is the reader's machine. */
static char *on_test_cluster(const char *line)
{
    const char *admin = getenv("SEQUIN_TEST_PG_ADMIN_URL"); /* .../postgres */
    char base[256];
    snprintf(base, sizeof base, "%.*s", (int)(strrchr(admin, '/') - admin + 1), admin);
    sq_buf out = {0};
    for (const char *p = line;;) {
        const char *hit = strstr(p, README_PG);
        if (!hit) {
            assert_int_equal(sq_buf_puts(&out, p), 0);
            break;
        }
        assert_int_equal(sq_buf_append(&out, p, (size_t)(hit - p)), 0);
        assert_int_equal(sq_buf_puts(&out, base), 0);
        p = hit + strlen(README_PG);
    }
    return out.data;
}

/* The README's database "shop" and the source's slot in it are the test's to remove. */
static void drop_shop(void)
{
    pgt_drop_slot(README_SLOT);
    char url[256];
    const char *admin = getenv("SEQUIN_TEST_PG_ADMIN_URL");
    snprintf(url, sizeof url, "%s", admin);
    PGconn *c = PQconnectdb(url);
    PQclear(PQexec(c, "DROP DATABASE IF EXISTS shop WITH (FORCE)"));
    PQfinish(c);
}

/* Every line of the section as written (on the test's PostgreSQL): the source streams the
 * table, and the three receives show the insert, the update and the delete of row 1. */
static void test_readme_stream_your_table(void **state)
{
    (void)state;
    drop_shop();
    char **lines = readme_block("## Stream your Postgres table");
    const char *want[][2] = {
        {"INSERT INTO orders", NULL}, {"sequin consumer receive", "\"action\":\"insert\""},
        {"UPDATE orders", NULL},      {"sequin consumer receive", "\"action\":\"update\""},
        {"DELETE FROM orders", NULL}, {"sequin consumer receive", "\"deleted\":true"},
    };
    size_t next = 0, receives = 0;
    for (char **l = lines; *l; l++) {
        char *line = on_test_cluster(*l);
        ran r = sh(line);
        if (r.status != 0)
            fail_msg("`%s`: exit %d\nstdout:\n%s\nstderr:\n%s", line, r.status, r.out, r.err);
        if (strstr(line, "sequin source postgres add") && !strstr(r.out, "is streaming"))
            fail_msg("`%s` did not say the source streams:\n%s", line, r.out);
        for (size_t i = next; i < SQ_ARRAY_LEN(want); i++) {
            if (!strstr(line, want[i][0]))
                continue;
            if (want[i][1] && !strstr(r.out, "mydb.public.orders.1"))
                fail_msg("`%s` received no message of row 1:\n%s", line, r.out);
            if (want[i][1] && !strstr(r.out, want[i][1]))
                fail_msg("`%s` printed\n%s\nwithout %s", line, r.out, want[i][1]);
            receives += want[i][1] != NULL;
            next = i + 1;
            break;
        }
        ran_free(&r);
        free(line);
        free(*l);
    }
    free(lines);
    assert_int_equal(next, SQ_ARRAY_LEN(want));
    assert_int_equal(receives, 3);
    drop_shop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_getting_started_guide, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readme_stream_your_table, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
