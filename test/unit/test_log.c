/* Tests of the logger: levels, text and JSON lines, pid and request id, one line per call; the
 * access-log line and request ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sequin/buf.h"
#include "sequin/json.h"
#include "sequin/log.h"

static sq_buf captured;
static int lines;

static void capture(const char *line, size_t len, void *ctx)
{
    (void)ctx;
    assert_int_equal(sq_buf_append(&captured, line, len), SQ_OK);
    lines++;
}

static int setup(void **state)
{
    (void)state;
    sq_buf_reset(&captured);
    lines = 0;
    sq_log_set_sink(capture, NULL);
    sq_log_set_level(SQ_LOG_INFO);
    sq_log_set_format(SQ_LOG_TEXT);
    sq_log_set_process(NULL);
    sq_log_set_request_id(NULL);
    return 0;
}

static void test_levels(void **state)
{
    (void)state;
    sq_debug("hidden %d", 1);
    assert_int_equal(lines, 0);
    sq_info("shown %d", 2);
    sq_warn("warned");
    sq_error("failed");
    assert_int_equal(lines, 3);
    assert_non_null(strstr(captured.data, " info "));
    assert_non_null(strstr(captured.data, " warn "));
    assert_non_null(strstr(captured.data, " error "));
    assert_null(strstr(captured.data, "hidden"));

    sq_log_set_level(SQ_LOG_DEBUG);
    sq_debug("now visible");
    assert_int_equal(lines, 4);
    assert_non_null(strstr(captured.data, "now visible"));

    sq_log_level lv;
    assert_int_equal(sq_log_level_parse("warn", &lv), SQ_OK);
    assert_int_equal(lv, SQ_LOG_WARN);
    assert_int_equal(sq_log_level_parse("WARN", &lv), SQ_ERR);
    assert_int_equal(sq_log_level_parse("verbose", &lv), SQ_ERR);
    sq_log_format fm;
    assert_int_equal(sq_log_format_parse("json", &fm), SQ_OK);
    assert_int_equal(fm, SQ_LOG_JSON);
    assert_int_equal(sq_log_format_parse("xml", &fm), SQ_ERR);
}

static void test_text_line(void **state)
{
    (void)state;
    char pid[32];
    snprintf(pid, sizeof pid, "[worker %ld]", (long)getpid());
    sq_log_set_process("worker");
    sq_log_set_request_id("r-42");
    sq_info("upserted %d messages\nsecond line\x01 caf\xc3\xa9\xff \\n", 3);
    assert_int_equal(lines, 1);
    /* 2026-11-24T13:49:06.123456Z info [worker 123] req=r-42: upserted ... */
    assert_int_equal(captured.data[4], '-');
    assert_int_equal(captured.data[10], 'T');
    assert_int_equal(captured.data[26], 'Z');
    assert_non_null(strstr(captured.data, pid));
    assert_non_null(
        strstr(captured.data,
               "req=r-42: upserted 3 messages\\nsecond line\\x01 caf\xc3\xa9\\xff \\\\n\n"));
    /* Exactly one newline: at the end. */
    assert_ptr_equal(strchr(captured.data, '\n'), captured.data + captured.len - 1);

    sq_buf_reset(&captured);
    sq_log_set_request_id(NULL);
    sq_info("no request");
    assert_null(strstr(captured.data, "req="));
}

static void test_json_line(void **state)
{
    (void)state;
    sq_log_set_format(SQ_LOG_JSON);
    sq_log_set_process("master");
    sq_log_set_request_id("abc\"def");
    sq_warn("quote \" backslash \\ tab \t byte \xff caf\xc3\xa9 \xe2\x82\xac end");
    assert_int_equal(lines, 1);
    assert_int_equal(captured.data[captured.len - 1], '\n');

    sq_json doc;
    sq_json_error err;
    if (sq_json_parse(&doc, captured.data, captured.len - 1, 0, &err) != SQ_OK)
        fail_msg("log line is not JSON: %s: %s", err.text, captured.data);
    sq_buf s = {0};
    int t = -1;
    assert_int_equal(sq_json_lookup(&doc, 0, "msg", &t), SQ_OK);
    assert_true(t > 0);
    assert_int_equal(sq_json_get_str(&doc, t, &s), SQ_OK);
    /* Valid UTF-8 passes through, the stray 0xff becomes U+FFFD. */
    assert_string_equal(
        s.data, "quote \" backslash \\ tab \t byte \xef\xbf\xbd caf\xc3\xa9 \xe2\x82\xac end");
    sq_buf_reset(&s);
    assert_int_equal(sq_json_lookup(&doc, 0, "request_id", &t), SQ_OK);
    assert_int_equal(sq_json_get_str(&doc, t, &s), SQ_OK);
    assert_string_equal(s.data, "abc\"def");
    int64_t pid = 0;
    assert_int_equal(sq_json_lookup(&doc, 0, "pid", &t), SQ_OK);
    assert_int_equal(sq_json_get_int64(&doc, t, &pid), SQ_OK);
    assert_int_equal(pid, getpid());
    sq_buf_reset(&s);
    assert_int_equal(sq_json_lookup(&doc, 0, "level", &t), SQ_OK);
    assert_int_equal(sq_json_get_str(&doc, t, &s), SQ_OK);
    assert_string_equal(s.data, "warn");
    sq_buf_free(&s);
    sq_json_free(&doc);
}

/* An enormous message is cut, and the line says so and stays valid. */
static void test_truncation(void **state)
{
    (void)state;
    static char big[20000];
    memset(big, '"', sizeof big - 1); /* each quote doubles when escaped in JSON */
    for (int format = 0; format < 2; format++) {
        sq_buf_reset(&captured);
        sq_log_set_format(format ? SQ_LOG_JSON : SQ_LOG_TEXT);
        sq_info("%s", big);
        assert_true(captured.len <= 8192);
        assert_int_equal(captured.data[captured.len - 1], '\n');
        if (format) {
            sq_json doc;
            sq_json_error err;
            assert_int_equal(sq_json_parse(&doc, captured.data, captured.len - 1, 0, &err), SQ_OK);
            int t = -1;
            bool b = false;
            assert_int_equal(sq_json_lookup(&doc, 0, "truncated", &t), SQ_OK);
            assert_int_equal(sq_json_get_bool(&doc, t, &b), SQ_OK);
            assert_true(b);
            sq_json_free(&doc);
        } else {
            assert_non_null(strstr(captured.data, " [truncated]\n"));
        }
    }
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static const sq_log_request a_request = {
    .method = "POSTED",
    .method_len = 4, /* "POST": the method is a slice of the request */
    .route = "/api/streams/:s/messages",
    .status = 200,
    .bytes = 512,
    .duration_us = 3210,
    .request_id = "4242-k9zq2-1f",
};

static void test_access_text(void **state)
{
    (void)state;
    char head[64];
    snprintf(head, sizeof head, " info [worker %ld]: ", (long)getpid());
    sq_log_set_process("worker");
    sq_log_set_request_id("other-id");
    sq_log_access(&a_request);
    assert_int_equal(lines, 1);
    assert_non_null(strstr(captured.data, head));
    assert_true(ends_with(captured.data,
                          "]: POST /api/streams/:s/messages 200 512 3.210ms id=4242-k9zq2-1f\n"));
    /* The line's id, not the one set for other lines, and only once. */
    assert_null(strstr(captured.data, "req="));
    assert_null(strstr(captured.data, "other-id"));

    sq_buf_reset(&captured);
    sq_log_request r = {.method = "GET", .method_len = 3, .status = 404, .duration_us = 61000042};
    sq_log_access(&r);
    assert_true(ends_with(captured.data, "]: GET - 404 0 61000.042ms id=-\n"));

    /* At warn level the access log is off. */
    sq_log_set_level(SQ_LOG_WARN);
    sq_log_access(&a_request);
    assert_int_equal(lines, 2);
}

static void test_access_json(void **state)
{
    (void)state;
    sq_log_set_format(SQ_LOG_JSON);
    sq_log_set_process("worker");
    sq_log_request r = a_request;
    r.request_id = "client\"id";
    sq_log_access(&r);
    assert_int_equal(lines, 1);
    assert_true(ends_with(captured.data, "}\n"));

    sq_json doc;
    sq_json_error err;
    if (sq_json_parse(&doc, captured.data, captured.len - 1, 0, &err) != SQ_OK)
        fail_msg("the access line is not JSON: %s: %s", err.text, captured.data);
    static const struct {
        const char *field, *want;
    } strings[] = {{"level", "info"},
                   {"process", "worker"},
                   {"msg", "access"},
                   {"method", "POST"},
                   {"route", "/api/streams/:s/messages"},
                   {"request_id", "client\"id"}};
    for (size_t i = 0; i < SQ_ARRAY_LEN(strings); i++) {
        int t = -1;
        sq_buf s = {0};
        assert_int_equal(sq_json_lookup(&doc, 0, strings[i].field, &t), SQ_OK);
        assert_true(t > 0);
        assert_int_equal(sq_json_get_str(&doc, t, &s), SQ_OK);
        assert_string_equal(s.data, strings[i].want);
        sq_buf_free(&s);
    }
    int t = -1;
    int64_t v = 0;
    assert_int_equal(sq_json_lookup(&doc, 0, "status", &t), SQ_OK);
    assert_int_equal(sq_json_get_int64(&doc, t, &v), SQ_OK);
    assert_int_equal(v, 200);
    assert_int_equal(sq_json_lookup(&doc, 0, "bytes", &t), SQ_OK);
    assert_int_equal(sq_json_get_int64(&doc, t, &v), SQ_OK);
    assert_int_equal(v, 512);
    assert_int_equal(sq_json_lookup(&doc, 0, "pid", &t), SQ_OK);
    assert_int_equal(sq_json_get_int64(&doc, t, &v), SQ_OK);
    assert_int_equal(v, getpid());
    assert_non_null(strstr(captured.data, "\"duration_ms\":3.210"));
    sq_json_free(&doc);
}

/* The default sink: the line reaches stderr whole, with one write. */
static void test_access_to_stderr(void **state)
{
    (void)state;
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int fd = fileno(tmp);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    sq_log_set_sink(NULL, NULL);
    sq_log_access(&a_request);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);

    char buf[512] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    fclose(tmp);
    assert_true(n > 0);
    assert_true(ends_with(buf, "POST /api/streams/:s/messages 200 512 3.210ms id=4242-k9zq2-1f\n"));
    assert_ptr_equal(strchr(buf, '\n'), buf + n - 1);
}

static void test_request_ids(void **state)
{
    (void)state;
    char a[SQ_LOG_REQUEST_ID_MAX + 1], b[SQ_LOG_REQUEST_ID_MAX + 1];
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%ld-", (long)getpid());
    sq_log_request_id_new(a);
    assert_true(sq_log_request_id_valid(a, strlen(a)));
    assert_true(strlen(a) <= 32);
    assert_memory_equal(a, prefix, strlen(prefix));
    for (int i = 0; i < 1000; i++) {
        sq_log_request_id_new(b);
        assert_true(sq_log_request_id_valid(b, strlen(b)));
        assert_string_not_equal(a, b);
    }
    /* The same process keeps its salt: only the counter moves. */
    assert_memory_equal(a, b, strlen(a) - 1);

    /* A forked child has its own pid and salt: its ids are never the parent's. */
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        char c[SQ_LOG_REQUEST_ID_MAX + 1];
        sq_log_request_id_new(c);
        ssize_t w = write(pipefd[1], c, strlen(c) + 1);
        _exit(w > 0 ? 0 : 1);
    }
    close(pipefd[1]);
    char c[SQ_LOG_REQUEST_ID_MAX + 1] = {0};
    assert_true(read(pipefd[0], c, sizeof c - 1) > 0);
    close(pipefd[0]);
    int status = 0;
    assert_int_equal(waitpid(kid, &status, 0), kid);
    char kid_prefix[32];
    snprintf(kid_prefix, sizeof kid_prefix, "%ld-", (long)kid);
    assert_memory_equal(c, kid_prefix, strlen(kid_prefix));
    assert_true(ends_with(c, "-0"));
    assert_string_not_equal(c, a);
}

static void test_request_id_validation(void **state)
{
    (void)state;
    static const struct {
        const char *id;
        bool ok;
    } cases[] = {
        {"abc-123_X.y:z", true},
        {"f81d4fae-7dec-11d0-a765-00a0c91e6bf6", true},
        {"a", true},
        {"!\"#~", true},
        {"", false},
        {"with space", false},
        {"tab\there", false},
        {"line\nfeed", false},
        {"del\x7f", false},
        {"caf\xc3\xa9", false},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(cases); i++)
        if (sq_log_request_id_valid(cases[i].id, strlen(cases[i].id)) != cases[i].ok)
            fail_msg("\"%s\" should be %s", cases[i].id, cases[i].ok ? "valid" : "refused");
    char longest[SQ_LOG_REQUEST_ID_MAX + 2];
    memset(longest, 'r', sizeof longest);
    assert_true(sq_log_request_id_valid(longest, SQ_LOG_REQUEST_ID_MAX));
    assert_false(sq_log_request_id_valid(longest, SQ_LOG_REQUEST_ID_MAX + 1));
    /* The length is the caller's: a NUL inside is refused, not a terminator. */
    assert_false(sq_log_request_id_valid("ab\0cd", 5));
}

static int teardown(void **state)
{
    (void)state;
    sq_log_set_sink(NULL, NULL);
    sq_buf_free(&captured);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_levels, setup),
        cmocka_unit_test_setup(test_text_line, setup),
        cmocka_unit_test_setup(test_json_line, setup),
        cmocka_unit_test_setup(test_truncation, setup),
        cmocka_unit_test_setup(test_access_text, setup),
        cmocka_unit_test_setup(test_access_json, setup),
        cmocka_unit_test_setup(test_access_to_stderr, setup),
        cmocka_unit_test(test_request_ids),
        cmocka_unit_test(test_request_id_validation),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, teardown);
}
