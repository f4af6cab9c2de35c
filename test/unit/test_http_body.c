/* Table-driven tests of the HTTP request bodies: Content-Length and chunked framing, the
 * request-smuggling forms, chunk syntax and the body's limits (the requests of
 * cases/http_body.txt), each fed whole, byte by byte and split at every offset (http_cases.h);
 * also pipelined requests. */
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
#include "sequin/http.h"

static void test_body_table(void **state)
{
    (void)state;
    assert_true(http_case_run_file("http_body.txt") >= 100);
}

static void test_chunk_line_limit(void **state)
{
    (void)state;
    static const char head[] = POST_TE;
    size_t hl = sizeof head - 1;
    char *raw = malloc(hl + SQ_HTTP_CHUNK_LINE_MAX + 64);
    assert_non_null(raw);
    for (int over = 0; over <= 1; over++) {
        size_t n = hl;
        memcpy(raw, head, hl);
        memcpy(raw + n, "1;", 2);
        memset(raw + n + 2, 'e', SQ_HTTP_CHUNK_LINE_MAX - 2 + (size_t)over);
        n += SQ_HTTP_CHUNK_LINE_MAX + (size_t)over;
        memcpy(raw + n, "\r\nx\r\n0\r\n\r\n", 10);
        n += 10;
        struct req_case c = {.name = over ? "chunk line over" : "chunk line at the limit",
                             .raw = raw,
                             .len = n,
                             .status = over ? 400 : 0,
                             .reason = CHUNK_LINE,
                             .kind = SQ_HTTP_BODY_CHUNKED,
                             .body = "x"};
        /* Whole only: 4 KiB of splits would be slow for nothing. */
        http_case_run_whole(&c);
    }
    free(raw);
}

/* Several requests back to back in one buffer, as a pipelining client sends them. */
static void test_pipelining(void **state)
{
    (void)state;
    static const char stream[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
                                 "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz"
                                 "\r\n" /* an empty line between requests is skipped */
                                 "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                                 "\r\n2\r\nhi\r\n0\r\nT: 1\r\n\r\n"
                                 "GET /d HTTP/1.0\r\n\r\n"
                                 "GET /e HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    static const struct {
        const char *path;
        const char *body;
        bool keep_alive;
    } want[] = {{"/a", "", true},
                {"/b", "xyz", true},
                {"/c", "hi", true},
                {"/d", "", false},
                {"/e", "", false}};
    guarded g;
    char *buf = guarded_copy(&g, stream, sizeof stream - 1);
    size_t at = 0, len = sizeof stream - 1;
    for (size_t i = 0; i < SQ_ARRAY_LEN(want); i++) {
        sq_http_parser p;
        sq_http_header headers[8];
        sq_http_request req;
        sq_http_error err;
        sq_http_parser_init(&p, &HTTP_CASE_LIM, headers);
        assert_int_equal(sq_http_parse_request(&p, buf + at, len - at, &req, &err), SQ_OK);
        assert_int_equal(req.path.len, strlen(want[i].path));
        assert_memory_equal(req.path.p, want[i].path, req.path.len);
        assert_int_equal(req.keep_alive, want[i].keep_alive);
        at += req.head_len;
        const char *body = buf + at;
        size_t body_len = 0;
        if (req.body == SQ_HTTP_BODY_LENGTH) {
            body_len = (size_t)req.content_length;
            at += body_len;
        } else if (req.body == SQ_HTTP_BODY_CHUNKED) {
            sq_http_chunked d;
            size_t used, made;
            sq_http_chunked_init(&d, &HTTP_CASE_LIM);
            assert_int_equal(
                sq_http_chunked_decode(&d, buf + at, len - at, buf + at, &used, &made, &err),
                SQ_OK);
            body_len = made;
            at += used;
        }
        assert_int_equal(body_len, strlen(want[i].body));
        assert_memory_equal(body, want[i].body, body_len);
    }
    assert_int_equal(at, len);
    guarded_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_table),
        cmocka_unit_test(test_chunk_line_limit),
        cmocka_unit_test(test_pipelining),
    };
    return cmocka_run_group_tests_name("http_body", tests, NULL, NULL);
}
