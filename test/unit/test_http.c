/* Table-driven tests of the HTTP request parser's head: request lines, targets, header
 * syntax, keep-alive (the requests of cases/http_head.txt) and the head's limits, each fed
 * whole, byte by byte and split at every offset (http_cases.h); also the target helpers.
 * test_http_body.c has the bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "http_cases.h"
#include "sequin/buf.h"
#include "sequin/http.h"
#include "sequin/metrics.h"

#define E10 "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n" /* SQ_HTTP_EMPTY_LINES_MAX empty lines */

static void test_request_table(void **state)
{
    (void)state;
    assert_true(http_case_run_file("http_head.txt") >= 150);
}

/* Builds "GET /aaa... HTTP/1.1" of exactly `line` bytes plus `fields` bytes of header lines
 * in as many lines as needed ("Host: h" first), and runs it like a table case. */
static void run_built(const char *name, size_t line, size_t nfields, size_t field_bytes, int status,
                      const char *reason)
{
    char *raw = malloc(line + field_bytes + 64);
    assert_non_null(raw);
    size_t n = 0;
    memcpy(raw, "GET /", 5);
    n = 5;
    while (n < line - 9)
        raw[n++] = 'a';
    memcpy(raw + n, " HTTP/1.1\r\n", 11);
    n += 11;
    /* nfields lines sharing field_bytes: "Host: h\r\n" (9 bytes), then "X: vvv\r\n". */
    memcpy(raw + n, "Host: h\r\n", 9);
    n += 9;
    size_t left = field_bytes - 9;
    for (size_t i = 1; i < nfields; i++) {
        size_t this_len = left / (nfields - i);
        assert_true(this_len >= 5);
        memcpy(raw + n, "X: ", 3);
        memset(raw + n + 3, 'v', this_len - 5);
        memcpy(raw + n + this_len - 2, "\r\n", 2);
        n += this_len;
        left -= this_len;
    }
    memcpy(raw + n, "\r\n", 2);
    n += 2;
    struct req_case c = {.name = name, .raw = raw, .len = n, .status = status, .reason = reason};
    http_case_run(&c);
    free(raw);
}

static void test_head_limits(void **state)
{
    (void)state;
    run_built("request line at the limit", 128, 1, 9, 0, NULL);
    run_built("request line one over", 129, 1, 9, 414, TOO_LONG_LINE);
    run_built("request line far over", 4000, 1, 9, 414, TOO_LONG_LINE);
    run_built("header bytes at the limit", 20, 4, 256, 0, NULL);
    run_built("header bytes one over", 20, 4, 257, 431, TOO_BIG_FIELDS);
    run_built("one long header over", 20, 2, 5000, 431, TOO_BIG_FIELDS);
    run_built("header count at the limit", 20, 8, 100, 0, NULL);
    run_built("header count one over", 20, 9, 100, 431, TOO_MANY);

    /* Empty lines before the request line count towards its limit: ten of them (20 bytes)
     * and a request line of 108 bytes make the limit; of 109, one over. */
    char raw[300];
    for (size_t line = 108; line <= 109; line++) {
        size_t n = sizeof E10 - 1;
        memcpy(raw, E10, n);
        memcpy(raw + n, "GET /", 5);
        memset(raw + n + 5, 'a', line - 14);
        n += line - 9;
        memcpy(raw + n, " HTTP/1.1\r\nHost: h\r\n\r\n", 22);
        struct req_case c = {.name = line == 108 ? "empty lines and a request line at the limit"
                                                 : "empty lines and a request line over it",
                             .raw = raw,
                             .len = n + 22,
                             .status = line == 108 ? 0 : 414,
                             .reason = TOO_LONG_LINE};
        http_case_run(&c);
    }
}

static void test_header_find(void **state)
{
    (void)state;
    static const char raw[] = "GET / HTTP/1.1\r\nHost: h\r\nX-Id: 1\r\nx-id: 2\r\n"
                              "Authorization: Bearer abc \r\nContent-Type: text/plain\r\n\r\n";
    guarded g;
    const char *buf = guarded_copy(&g, raw, sizeof raw - 1);
    sq_http_parser p;
    sq_http_header headers[8];
    sq_http_request req;
    sq_http_error err;
    sq_http_parser_init(&p, &HTTP_CASE_LIM, headers);
    assert_int_equal(sq_http_parse_request(&p, buf, sizeof raw - 1, &req, &err), SQ_OK);
    assert_ptr_equal(req.headers, headers);
    assert_int_equal(req.header_count, 5);
    const sq_http_header *h = sq_http_header_find(&req, "X-ID");
    assert_non_null(h);
    assert_int_equal(h->value.len, 1);
    assert_memory_equal(h->value.p, "1", 1);
    assert_null(sq_http_header_find(&req, "X-I"));
    assert_null(sq_http_header_find(&req, "X-Idd"));
    assert_int_equal(req.authorization.len, 10);
    assert_memory_equal(req.authorization.p, "Bearer abc", 10);
    assert_memory_equal(req.content_type.p, "text/plain", 10);
    assert_memory_equal(req.host.p, "h", 1);
    guarded_free(&g);
}

struct pct_case {
    const char *in;
    const char *out; /* NULL: rejected */
};

static const struct pct_case pct_cases[] = {
    {"", ""},           {"orders.us", "orders.us"},
    {"a%20b", "a b"},   {"%2f%2F", "//"},
    {"%3E%3e", ">>"},   {"a+b", "a+b"},
    {"%41%42C", "ABC"}, {"%c3%A9", "\xc3\xa9"},
    {"%ff", "\xff"},    {"%01", "\x01"},
    {"100%25", "100%"}, {"%", NULL},
    {"%4", NULL},       {"a%", NULL},
    {"%g0", NULL},      {"%0g", NULL},
    {"%%41", NULL},     {"%00", NULL},
    {"a%00b", NULL},    {"% 1", NULL},
};

static void test_percent_decode(void **state)
{
    (void)state;
    for (size_t i = 0; i < SQ_ARRAY_LEN(pct_cases); i++) {
        const struct pct_case *c = &pct_cases[i];
        size_t n = strlen(c->in), got_len = 99;
        guarded g;
        const char *in = guarded_copy(&g, c->in, n);
        char out[64];
        int rc = sq_http_percent_decode(in, n, out, &got_len);
        if (c->out == NULL) {
            if (rc != SQ_ERR)
                fail_msg("\"%s\" should be rejected", c->in);
        } else if (rc != SQ_OK || got_len != strlen(c->out) || memcmp(out, c->out, got_len)) {
            fail_msg("\"%s\" decoded to rc %d \"%.*s\"", c->in, rc, (int)got_len, out);
        }
        guarded_free(&g);
        /* In place gives the same. */
        if (c->out != NULL) {
            char copy[64];
            memcpy(copy, c->in, n);
            assert_int_equal(sq_http_percent_decode(copy, n, copy, &got_len), SQ_OK);
            assert_int_equal(got_len, strlen(c->out));
            assert_memory_equal(copy, c->out, got_len);
        }
    }
}

struct query_case {
    const char *query;
    const char *pairs; /* "name=value;" for each parameter, in order */
};

static const struct query_case query_cases[] = {
    {"", ""},
    {"a=1", "a=1;"},
    {"limit=5&sort=seq_desc", "limit=5;sort=seq_desc;"},
    {"a", "a=;"},
    {"a=", "a=;"},
    {"=1", "=1;"},
    {"a=1=2", "a=1=2;"},
    {"&&a=1&&b&", "a=1;b=;"},
    {"&", ""},
    {"k=%3E&k=x", "k=%3E;k=x;"},
};

static void test_query_iterator(void **state)
{
    (void)state;
    for (size_t i = 0; i < SQ_ARRAY_LEN(query_cases); i++) {
        const struct query_case *c = &query_cases[i];
        size_t n = strlen(c->query);
        guarded g;
        sq_http_slice q = {guarded_copy(&g, c->query, n), n}, name, value;
        char got[128];
        size_t len = 0;
        while (sq_http_query_next(&q, &name, &value))
            len += (size_t)snprintf(got + len, sizeof got - len, "%.*s=%.*s;", (int)name.len,
                                    name.p, (int)value.len, value.p);
        got[len] = '\0';
        if (strcmp(got, c->pairs) != 0)
            fail_msg("query \"%s\": got \"%s\", expected \"%s\"", c->query, got, c->pairs);
        assert_int_equal(q.len, 0);
        guarded_free(&g);
    }
}

static void test_split_target(void **state)
{
    (void)state;
    sq_http_slice path, query;
    sq_http_split_target((sq_http_slice){"/a/b?x=1?y", 10}, &path, &query);
    assert_int_equal(path.len, 4);
    assert_memory_equal(query.p, "x=1?y", query.len);
    assert_int_equal(query.len, 5);
    sq_http_split_target((sq_http_slice){"/a", 2}, &path, &query);
    assert_int_equal(path.len, 2);
    assert_int_equal(query.len, 0);
    sq_http_split_target((sq_http_slice){"?", 1}, &path, &query);
    assert_int_equal(path.len, 0);
    assert_int_equal(query.len, 0);
    sq_http_split_target((sq_http_slice){NULL, 0}, &path, &query);
    assert_int_equal(path.len, 0);
    assert_int_equal(query.len, 0);
}

/* The statuses sequind answers, as its metrics count them: every status that gets a label of
 * its own on the metrics page (the others are counted as "other"). */
static size_t counted_statuses(int *out, size_t max)
{
    sq_metrics *m = sq_metrics_create();
    sq_buf page = {0};
    size_t n = 0;

    assert_non_null(m);
    for (int status = 100; status < 600; status++)
        sq_metrics_request(m, NULL, "GET", 3, status, 1);
    assert_int_equal(sq_metrics_render(&page, m, NULL, 0, NULL, 0), SQ_OK);
    for (const char *p = page.data; (p = strstr(p, "_total{")) != NULL; p++) {
        const char *label = strstr(p, "status=\"");
        int status = 0;
        if (label != NULL && sscanf(label, "status=\"%3d\"", &status) == 1 && n < max)
            out[n++] = status;
    }
    sq_buf_free(&page);
    sq_metrics_destroy(m);
    return n;
}

/* Every status sequind answers has a phrase that a status line can carry (RFC 9112 section 4:
 * tabs, spaces and visible bytes); any other status has the empty one. The answered ones are
 * those the metrics count, and the parser's errors (sq_http_error). */
static void test_status_text(void **state)
{
    (void)state;
    static const int parser_errors[] = {400, 413, 414, 431, 501};
    static const int others[] = {0, -1, 100, 299, 402, 502, 999};
    int answered[64];
    size_t n = counted_statuses(answered, SQ_ARRAY_LEN(answered));

    assert_true(n >= 10); /* the page was read: 200 and the errors of SPEC section 4 */
    for (size_t i = 0; i < SQ_ARRAY_LEN(parser_errors); i++)
        answered[n++] = parser_errors[i];
    for (size_t i = 0; i < n; i++) {
        const char *text = sq_http_status_text(answered[i]);
        if (text[0] == '\0')
            fail_msg("status %d, which sequind answers, has no reason phrase", answered[i]);
        for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++)
            if (*c != '\t' && (*c < ' ' || *c == 0x7f))
                fail_msg("the reason phrase of %d has a control byte", answered[i]);
    }
    for (size_t i = 0; i < SQ_ARRAY_LEN(others); i++)
        assert_string_equal(sq_http_status_text(others[i]), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_table),  cmocka_unit_test(test_head_limits),
        cmocka_unit_test(test_header_find),    cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_query_iterator), cmocka_unit_test(test_split_target),
        cmocka_unit_test(test_status_text),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
