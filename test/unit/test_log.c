/* Tests of the logger: levels, text and JSON lines, pid and request id, one line per call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
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
    };
    return cmocka_run_group_tests_name("log", tests, NULL, teardown);
}
