/* Table tests of the sequin CLI's pure half: argv to the HTTP request of every command (the
 * getting-started guide's commands verbatim) and usage errors, the command lines of
 * cases/cli.txt; --as-curl quoting through a real /bin/sh, and the output of API answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "case_file.h"
#include "sequin/cli.h"

#define MAX_ARGV 16

/* A row of cases/cli.txt: "sequin ARG... -> METHOD PATH [BODY]", the request a command line
 * makes (no BODY: none), or "sequin ARG... -> error FRAGMENT", a usage error and a fragment of
 * its message. */
struct cli_case {
    const char *where;
    int argc;
    char *argv[MAX_ARGV]; /* NULL-terminated */
    bool error;
    const char *method, *path, *body; /* the request; or the fragment in `path` */
};

static struct cli_case cli_case_of(const case_row *r)
{
    struct cli_case c = {.where = r->where};
    size_t i = 1;
    if (strcmp(r->w[0].p, "sequin") != 0)
        fail_msg("%s: a row starts with the command line, \"sequin ...\"", r->where);
    for (; i < r->n && strcmp(r->w[i].p, "->") != 0; i++) {
        if (c.argc == MAX_ARGV - 1)
            fail_msg("%s: more than %d arguments", r->where, MAX_ARGV - 1);
        c.argv[c.argc++] = (char *)r->w[i].p;
    }
    c.error = i + 1 < r->n && strcmp(r->w[i + 1].p, "error") == 0;
    if (r->n - i < 3 || r->n - i > (c.error ? 3u : 4u))
        fail_msg("%s: the command line is followed by -> METHOD PATH [BODY] or -> error FRAGMENT",
                 r->where);
    c.method = r->w[i + 1].p;
    c.path = r->w[i + 2].p;
    c.body = r->n - i == 4 ? r->w[i + 3].p : NULL;
    return c;
}

/* A row's command line makes its request. */
static bool check_mapping(const case_row *r, void *ctx)
{
    (void)ctx;
    struct cli_case m = cli_case_of(r);
    if (m.error)
        return false;
    sq_cli_invocation inv;
    sq_cli_request req;
    char err[256] = "";
    int rc = sq_cli_parse(m.argc, m.argv, &inv, err, sizeof err);
    if (rc != SQ_OK)
        fail_msg("%s (%s %s): %s", m.where, m.argv[0], m.argv[1], err);
    assert_true(sq_cli_is_remote(&inv));
    rc = sq_cli_build(&inv, &req, err, sizeof err);
    if (rc != SQ_OK)
        fail_msg("%s: %s", m.where, err);
    assert_string_equal(req.method, m.method);
    assert_string_equal(req.path.data, m.path);
    if (m.body == NULL)
        assert_int_equal(req.body.len, 0);
    else
        assert_string_equal(req.body.data, m.body);
    sq_cli_request_free(&req);
    sq_cli_invocation_free(&inv);
    return true;
}

/* A row's command line is refused, with the row's fragment in the message. */
static bool check_usage_error(const case_row *r, void *ctx)
{
    (void)ctx;
    struct cli_case u = cli_case_of(r);
    if (!u.error)
        return false;
    sq_cli_invocation inv;
    sq_cli_request req = {0};
    char err[256] = "";
    int rc = sq_cli_parse(u.argc, u.argv, &inv, err, sizeof err);
    if (rc == SQ_OK) {
        assert_non_null(inv.cmd);
        rc = sq_cli_build(&inv, &req, err, sizeof err);
        sq_cli_request_free(&req);
    }
    if (rc == SQ_OK || strstr(err, u.path) == NULL)
        fail_msg("%s: expected \"%s\", got rc %d \"%s\"", u.where, u.path, rc, err);
    sq_cli_invocation_free(&inv);
    return true;
}

static void test_mappings(void **state)
{
    (void)state;
    assert_true(case_file_each("cli.txt", NULL, 0, check_mapping, NULL) >= 37);
}

static void test_usage_errors(void **state)
{
    (void)state;
    assert_true(case_file_each("cli.txt", NULL, 0, check_usage_error, NULL) >= 57);
}

/* --help and no command are not errors of the parse; the caller prints the usage. */
static void test_help(void **state)
{
    (void)state;
    const char *help[] = {"consumer", "receive", "--help", NULL};
    const char *none[] = {NULL};
    sq_cli_invocation inv;
    char err[256];
    assert_int_equal(sq_cli_parse(3, (char **)help, &inv, err, sizeof err), SQ_OK);
    assert_true(sq_cli_is(&inv, "consumer", "receive"));
    assert_non_null(inv.opt[SQ_OPT_HELP]);
    sq_cli_invocation_free(&inv);
    assert_int_equal(sq_cli_parse(0, (char **)none, &inv, err, sizeof err), SQ_OK);
    assert_null(inv.cmd);
    sq_cli_invocation_free(&inv);
}

/* observe is a command of one word, with --stream and --context; it sends nothing itself. */
static void test_observe_parse(void **state)
{
    (void)state;
    const char *argv[] = {"--context", "prod", "observe", "--stream=orders", NULL};
    sq_cli_invocation inv;
    char err[256] = "";
    assert_int_equal(sq_cli_parse(4, (char **)argv, &inv, err, sizeof err), SQ_OK);
    assert_true(sq_cli_is(&inv, "observe", ""));
    assert_false(sq_cli_is_remote(&inv));
    assert_string_equal(inv.opt[SQ_OPT_STREAM], "orders");
    assert_string_equal(inv.opt[SQ_OPT_CONTEXT], "prod");
    assert_int_equal(inv.nargs, 0);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    sq_cli_usage(out, &inv);
    fclose(out);
    assert_string_equal(text, "usage: sequin observe [--stream NAME]\n"
                              "  a live full-screen view of messages, consumers and sources (q "
                              "quits)\n");
    free(text);
    sq_cli_invocation_free(&inv);
}

static void test_build_ack(void **state)
{
    (void)state;
    const char *ids[] = {"a", "b"};
    sq_cli_request req;
    assert_int_equal(sq_cli_build_ack("my stream", "c", ids, 2, &req), SQ_OK);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.path.data, "/api/streams/my%20stream/consumers/c/ack");
    assert_string_equal(req.body.data, "{\"ack_ids\":[\"a\",\"b\"]}");
    assert_int_equal(req.output, SQ_OUT_DONE);
    assert_string_equal(req.done, "Acked 2 messages.");
    sq_cli_request_free(&req);
}

/* ---- --as-curl: what /bin/sh makes of the printed command ------------------------------- */

/* Runs `script` with /bin/sh and returns its stdout (NUL bytes kept) in `out`. */
static void run_sh(const char *script, sq_buf *out)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd[0], chunk, sizeof chunk)) > 0)
        assert_int_equal(sq_buf_append(out, chunk, (size_t)n), SQ_OK);
    close(fd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The tricky inputs: quotes of both kinds, spaces, $, backticks, newlines, a backslash at
 * the end, unicode, and a shell command that must stay text. */
static const char *const tricky[] = {
    "plain",
    "it's",
    "''",
    "'",
    "a \"double\" and 'single' quote",
    "$HOME ${HOME} $(echo no) `echo no`",
    "line one\nline two\n",
    "tab\there; echo injected & | > <",
    "back\\slash\\",
    "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\x89",
    "*glob? [x] ~user !bang #hash",
    "'; rm -rf / #",
};

static void test_as_curl_quoting(void **state)
{
    (void)state;
    for (size_t i = 0; i < SQ_ARRAY_LEN(tricky); i++) {
        const char *argv[] = {"message", "upsert", "--stream", tricky[i], "k.1", tricky[i], NULL};
        sq_cli_invocation inv;
        sq_cli_request req;
        char err[256];
        sq_buf cmd = {0}, script = {0}, got = {0}, token = {0}, url = {0};
        assert_int_equal(sq_cli_parse(6, (char **)argv, &inv, err, sizeof err), SQ_OK);
        assert_int_equal(sq_cli_build(&inv, &req, err, sizeof err), SQ_OK);
        assert_int_equal(sq_buf_printf(&token, "tok %s", tricky[i]), SQ_OK);
        assert_int_equal(sq_cli_curl_command(&cmd, &req, "http://h:1", token.data), SQ_OK);
        /* A curl function placed before the command prints each argument NUL-terminated. */
        assert_int_equal(sq_buf_printf(&script,
                                       "curl() { for a in \"$@\"; do printf '%%s\\0' \"$a\"; "
                                       "done; }\n%s\n",
                                       cmd.data),
                         SQ_OK);
        run_sh(script.data, &got);
        sq_buf auth = {0};
        assert_int_equal(sq_buf_printf(&auth, "Authorization: Bearer %s", token.data), SQ_OK);
        assert_int_equal(sq_buf_printf(&url, "http://h:1%s", req.path.data), SQ_OK);
        const char *want[] = {"-X",         "POST",        "-H",
                              auth.data,    "-H",          "Content-Type: application/json",
                              "--data-raw", req.body.data, url.data};
        size_t off = 0;
        for (size_t a = 0; a < SQ_ARRAY_LEN(want); a++) {
            size_t n = strlen(want[a]);
            if (off + n >= got.len || memcmp(got.data + off, want[a], n) != 0 ||
                got.data[off + n] != '\0')
                fail_msg("input %zu, argument %zu: want \"%s\", got \"%s\"", i, a, want[a],
                         off < got.len ? got.data + off : "(nothing)");
            off += n + 1;
        }
        assert_int_equal(off, got.len);
        sq_buf_free(&auth);
        sq_buf_free(&url);
        sq_buf_free(&token);
        sq_buf_free(&got);
        sq_buf_free(&script);
        sq_buf_free(&cmd);
        sq_cli_request_free(&req);
        sq_cli_invocation_free(&inv);
    }
}

static void test_as_curl_shape(void **state)
{
    (void)state;
    const char *argv[] = {"stream", "ls", NULL};
    sq_cli_invocation inv;
    sq_cli_request req;
    char err[256];
    sq_buf cmd = {0};
    assert_int_equal(sq_cli_parse(2, (char **)argv, &inv, err, sizeof err), SQ_OK);
    assert_int_equal(sq_cli_build(&inv, &req, err, sizeof err), SQ_OK);
    assert_int_equal(sq_cli_curl_command(&cmd, &req, "http://localhost:7376", NULL), SQ_OK);
    assert_string_equal(cmd.data, "curl -X 'GET' 'http://localhost:7376/api/streams'");
    sq_buf_free(&cmd);
    sq_cli_request_free(&req);
    sq_cli_invocation_free(&inv);
}

/* ---- output ---------------------------------------------------------------------------- */

/* Answers and what sq_cli_print shows of them. Each is read in the shape its route has (SPEC
 * 4), not guessed: a list, a receive or an upsert's count outside {"data": ...}, or a list
 * where one object belongs, is refused (the rows at the end). */
static const struct {
    sq_cli_output kind;
    const char *body;
    const char *want; /* exact stdout; NULL: refused, SQ_ERR and "unexpected answer" on stderr */
} shown[] = {
    {SQ_OUT_DELIVERIES, "{\"data\":[]}", "No messages available.\n"},
    {SQ_OUT_DELIVERIES,
     "{\"data\":[{\"ack_id\":\"A1\",\"message\":{\"key\":\"orders.us.cus_a.order_1\",\"seq\":3,"
     "\"data\":\"{\\\"product\\\": \\\"Shoes\\\"}\"}}]}",
     "key:    orders.us.cus_a.order_1\nseq:    3\ndata:   {\"product\": \"Shoes\"}\n"
     "ack_id: A1\n"},
    {SQ_OUT_PUBLISHED, "{\"data\":{\"published\":1}}", "Published 1 message.\n"},
    {SQ_OUT_PUBLISHED, "{\"data\":{\"published\":0}}", "Published 0 messages.\n"},
    {SQ_OUT_MESSAGE,
     "{\"key\":\"a.b\",\"stream_id\":\"s\",\"data\":\"x\",\"data_hash\":\"h\",\"seq\":9,"
     "\"inserted_at\":\"t1\",\"updated_at\":\"t2\"}",
     "key:         a.b\nseq:         9\ndata:        x\ndata_hash:   h\ninserted_at: t1\n"
     "updated_at:  t2\n"},
    {SQ_OUT_MESSAGE, "{\"key\":\"a.b\",\"data\":\"x\",\"seq\":9}",
     "key:         a.b\nseq:         9\ndata:        x\ndata_hash:   \ninserted_at: \n"
     "updated_at:  \n"},
    {SQ_OUT_STREAM,
     "{\"id\":\"i\",\"name\":\"orders\",\"stats\":{\"message_count\":4,\"consumer_count\":1,"
     "\"storage_size\":8192},\"inserted_at\":\"t\",\"updated_at\":\"u\"}",
     "name:         orders\nid:           i\nmessages:     4\nconsumers:    1\n"
     "storage_size: 8192\ninserted_at:  t\nupdated_at:   u\n"},
    {SQ_OUT_MESSAGES,
     "{\"data\":[{\"key\":\"a.b\",\"data\":\"one\\ntwo\",\"seq\":9,\"updated_at\":\"T\"},"
     "{\"key\":\"a.long.key\",\"data\":\"\xc3\xa9\",\"seq\":10,\"updated_at\":\"T\"}]}",
     "SEQ  KEY         UPDATED  DATA\n9    a.b         T        one two\n"
     "10   a.long.key  T        \xc3\xa9\n"},
    {SQ_OUT_STREAMS, "{\"data\":[]}", "No streams.\n"},
    {SQ_OUT_CONSUMERS,
     "{\"data\":[{\"name\":\"us_orders\",\"filter_key_pattern\":\"orders.us.>\",\"ack_wait_ms\":"
     "30000,\"max_ack_pending\":10000,\"stats\":{\"available\":3,\"delivered\":0,\"dead\":0}}]}",
     "NAME       FILTER       AVAILABLE  DELIVERED  DEAD  ACK_WAIT_MS  MAX_ACK_PENDING  KIND  "
     "PUSH_URL\n"
     "us_orders  orders.us.>  3          0          0     30000        10000                  "
     "\n"},
    {SQ_OUT_CONSUMER,
     "{\"id\":\"i\",\"name\":\"c\",\"filter_key_pattern\":\">\",\"ack_wait_ms\":30000,"
     "\"max_ack_pending\":10000,\"max_deliver\":null,\"deliver_policy\":\"all\",\"managed_by\":"
     "\"api\",\"stats\":{\"available\":1,\"delivered\":2,\"dead\":0},\"inserted_at\":\"t\","
     "\"updated_at\":\"u\"}",
     "name:            c\nid:              i\nfilter:          >\ndeliver_policy:  all\n"
     "ack_wait_ms:     30000\nmax_ack_pending: 10000\nmax_deliver:     -\n"
     "managed_by:      api\nkind:            \navailable:       1\ndelivered:       2\n"
     "dead:            0\ninserted_at:     t\nupdated_at:      u\n"},
    /* A push consumer's endpoint, as the server shows it (its secrets hidden). */
    {SQ_OUT_CONSUMER,
     "{\"id\":\"i\",\"name\":\"h\",\"filter_key_pattern\":\">\",\"ack_wait_ms\":30000,"
     "\"max_ack_pending\":10000,\"max_deliver\":null,\"deliver_policy\":\"all\",\"managed_by\":"
     "\"api\",\"kind\":\"push\",\"http_endpoint\":{\"url\":\"http://a/\",\"headers\":"
     "{\"Authorization\":\"***\"},\"signing_secret\":null},\"max_waiting\":20,"
     "\"backoff_base_ms\":1000,\"backoff_max_ms\":300000,\"stats\":{\"available\":1,"
     "\"delivered\":2,\"dead\":0},\"inserted_at\":\"t\",\"updated_at\":\"u\"}",
     "name:            h\nid:              i\nfilter:          >\ndeliver_policy:  all\n"
     "ack_wait_ms:     30000\nmax_ack_pending: 10000\nmax_deliver:     -\n"
     "managed_by:      api\nkind:            push\npush_url:        http://a/\n"
     "headers:         {\"Authorization\":\"***\"}\nsigning_secret:  -\n"
     "max_waiting:     20\nbackoff_base_ms: 1000\nbackoff_max_ms:  300000\n"
     "available:       1\ndelivered:       2\ndead:            0\ninserted_at:     t\n"
     "updated_at:      u\n"},
    /* A source: every member, its tables in one line, its backfill a line per table. */
    {SQ_OUT_SOURCE,
     "{\"id\":\"8f0c\",\"name\":\"mydb\",\"kind\":\"postgres\",\"stream\":\"default\","
     "\"postgres\":{\"url\":\"postgres://replicator:****@db.internal/app\",\"slot\":"
     "\"sequin_slot\",\"publication\":\"sequin_pub\",\"tables\":[\"public.orders\","
     "\"public.customers\"]},\"key_format\":\"basic\",\"backfill\":true,\"managed_by\":\"api\","
     "\"status\":{\"state\":\"streaming\",\"error\":null,\"node\":\"host-a:4242\","
     "\"last_commit_lsn\":\"0/16B3748\",\"last_commit_at\":\"t1\",\"received_lsn\":"
     "\"0/16B3780\",\"lag_bytes\":56,\"lag_seconds\":0.5,\"rows_streamed\":1042,"
     "\"reported_at\":\"t2\"},\"backfill_progress\":[{\"table\":\"public.orders\",\"rows\":"
     "1000,\"done\":true},{\"table\":\"public.customers\",\"rows\":42,\"done\":false}],"
     "\"inserted_at\":\"t0\",\"updated_at\":\"t0\"}",
     "name:              mydb\nid:                8f0c\nkind:              postgres\n"
     "stream:            default\n"
     "url:               postgres://replicator:****@db.internal/app\n"
     "slot:              sequin_slot\npublication:       sequin_pub\n"
     "tables:            public.orders, public.customers\nkey_format:        basic\n"
     "backfill:          true\nmanaged_by:        api\nstate:             streaming\n"
     "error:             -\nnode:              host-a:4242\n"
     "last_commit_lsn:   0/16B3748\nlast_commit_at:    t1\nreceived_lsn:      0/16B3780\n"
     "lag_bytes:         56\nlag_seconds:       0.5\nrows_streamed:     1042\n"
     "reported_at:       t2\n"
     "backfill_progress: public.orders: 1000 rows, done\n"
     "                   public.customers: 42 rows, in progress\n"
     "inserted_at:       t0\nupdated_at:        t0\n"},
    /* Before its first report: the status's members are null; no backfill, no progress. */
    {SQ_OUT_SOURCE,
     "{\"name\":\"s\",\"postgres\":{\"tables\":[]},\"status\":{\"state\":null,\"error\":"
     "\"wal_level is replica, not logical\"},\"backfill_progress\":[]}",
     "name:              s\nid:                \nkind:              \nstream:            \n"
     "url:               \nslot:              \npublication:       \ntables:            \n"
     "key_format:        \nbackfill:          \nmanaged_by:        \nstate:             -\n"
     "error:             wal_level is replica, not logical\nnode:              \n"
     "last_commit_lsn:   \nlast_commit_at:    \nreceived_lsn:      \nlag_bytes:         \n"
     "lag_seconds:       \nrows_streamed:     \nreported_at:       \n"
     "backfill_progress: -\ninserted_at:       \nupdated_at:        \n"},
    {SQ_OUT_SOURCES,
     "{\"data\":[{\"name\":\"mydb\",\"stream\":\"default\",\"status\":{\"state\":"
     "\"streaming\",\"lag_bytes\":56,\"lag_seconds\":0.0,\"rows_streamed\":1042}},"
     "{\"name\":\"other\",\"stream\":\"s2\",\"status\":{\"state\":\"error\",\"lag_bytes\":"
     "null,\"lag_seconds\":null,\"rows_streamed\":0}}]}",
     "NAME   STREAM   STATE      LAG_BYTES  LAG_SECONDS  ROWS\n"
     "mydb   default  streaming  56         0.0          1042\n"
     "other  s2       error      -          -            0\n"},
    {SQ_OUT_SOURCES, "{\"data\":[]}", "No sources.\n"},
    /* A webhook: whether it has secrets, never what they are; lists show one kind each. */
    {SQ_OUT_WEBHOOK,
     "{\"id\":\"9a1b\",\"name\":\"gh\",\"kind\":\"webhook\",\"stream\":\"default\","
     "\"webhook\":{\"key_field\":null,\"key_header\":\"X-GitHub-Delivery\",\"secret\":null,"
     "\"secret_header\":null,\"hmac_secret\":\"****\",\"hmac_header\":\"X-Hub-Signature-256\"},"
     "\"managed_by\":\"api\",\"inserted_at\":\"t0\",\"updated_at\":\"t1\"}",
     "name:          gh\nid:            9a1b\nkind:          webhook\nstream:        default\n"
     "url:           POST /api/webhook/gh\nkey_field:     -\nkey_header:    X-GitHub-Delivery\n"
     "secret:        not set\nsecret_header: -\nhmac_secret:   set\n"
     "hmac_header:   X-Hub-Signature-256\nmanaged_by:    api\ninserted_at:   t0\n"
     "updated_at:    t1\n"},
    {SQ_OUT_WEBHOOKS,
     "{\"data\":[{\"name\":\"mydb\",\"kind\":\"postgres\"},{\"name\":\"gh\",\"kind\":"
     "\"webhook\",\"stream\":\"default\",\"webhook\":{\"key_field\":\"id\",\"secret\":"
     "\"****\",\"hmac_secret\":null}}]}",
     "NAME  STREAM   KEY_FIELD  KEY_HEADER  SECRET  HMAC_SECRET\n"
     "gh    default  id                     set     not set\n"},
    {SQ_OUT_WEBHOOKS, "{\"data\":[{\"name\":\"mydb\",\"kind\":\"postgres\"}]}",
     "No webhook sources.\n"},
    {SQ_OUT_SOURCES, "{\"data\":[{\"name\":\"gh\",\"kind\":\"webhook\"}]}", "No sources.\n"},
    {SQ_OUT_DONE, "", "Done.\n"},
    {SQ_OUT_STREAMS, "[]", NULL},
    {SQ_OUT_DELIVERIES, "[{\"ack_id\":\"A1\"}]", NULL},
    {SQ_OUT_MESSAGES, "{\"data\":{\"key\":\"a.b\"}}", NULL},
    {SQ_OUT_PUBLISHED, "{\"published\":1}", NULL},
    {SQ_OUT_CONSUMER, "[]", NULL},
    {SQ_OUT_STREAM, "[{\"name\":\"orders\"}]", NULL},
    {SQ_OUT_SOURCE, "[{\"name\":\"mydb\"}]", NULL},
    {SQ_OUT_SOURCES, "[{\"name\":\"mydb\"}]", NULL},
};

static void test_output(void **state)
{
    (void)state;
    for (size_t i = 0; i < SQ_ARRAY_LEN(shown); i++) {
        char *text = NULL, *why = NULL;
        size_t len = 0, why_len = 0;
        FILE *out = open_memstream(&text, &len), *err = open_memstream(&why, &why_len);
        assert_non_null(out);
        assert_non_null(err);
        int rc =
            sq_cli_print(out, err, shown[i].kind, "Done.", shown[i].body, strlen(shown[i].body));
        fclose(out);
        fclose(err);
        bool ok = shown[i].want != NULL
                      ? rc == SQ_OK && strcmp(text, shown[i].want) == 0 && why_len == 0
                      : rc == SQ_ERR && strstr(why, "unexpected answer") != NULL;
        if (!ok)
            fail_msg("case %zu (%s): rc %d, stdout:\n%s\nstderr:\n%s\nwant:\n%s", i, shown[i].body,
                     rc, text, why, shown[i].want != NULL ? shown[i].want : "(refused)");
        free(text);
        free(why);
    }
}

static void test_error_output(void **state)
{
    (void)state;
    static const struct {
        long status;
        const char *body, *want;
    } cases[] = {
        {404, "{\"summary\":\"no consumer named x\"}", "error: no consumer named x\n"},
        {422,
         "{\"summary\":\"invalid consumer\",\"validation_errors\":{\"ack_wait_ms\":[\"is from "
         "500 to 3600000\"]}}",
         "error: invalid consumer\n  ack_wait_ms: is from 500 to 3600000\n"},
        {503, "the API is not served yet\n", "error: HTTP 503: the API is not served yet\n"},
        {502, "", "error: HTTP 502\n"},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(cases); i++) {
        char *text = NULL;
        size_t len = 0;
        FILE *err = open_memstream(&text, &len);
        sq_cli_print_error(err, cases[i].status, cases[i].body, strlen(cases[i].body));
        fclose(err);
        assert_string_equal(text, cases[i].want);
        free(text);
    }
}

static void test_ack_ids(void **state)
{
    (void)state;
    const char *body = "{\"data\":[{\"ack_id\":\"x1\",\"message\":{}},{\"ack_id\":\"x2\"}]}";
    sq_arena a = {0};
    const char **ids = NULL;
    assert_int_equal(sq_cli_ack_ids(body, strlen(body), &a, &ids), 2);
    assert_string_equal(ids[0], "x1");
    assert_string_equal(ids[1], "x2");
    assert_int_equal(sq_cli_ack_ids("{}", 2, &a, &ids), -1);
    assert_int_equal(sq_cli_ack_ids("[{\"ack_id\":\"x1\"}]", 17, &a, &ids), -1);
    assert_int_equal(sq_cli_ack_ids("nope", 4, &a, &ids), -1);
    sq_arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mappings),      cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_help),          cmocka_unit_test(test_observe_parse),
        cmocka_unit_test(test_build_ack),     cmocka_unit_test(test_as_curl_quoting),
        cmocka_unit_test(test_as_curl_shape), cmocka_unit_test(test_output),
        cmocka_unit_test(test_error_output),  cmocka_unit_test(test_ack_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
