/* Table-driven tests of the HTTP request parser's head: request lines, targets, header
 * syntax, keep-alive and the head's limits, each fed whole, byte by byte and split at every
 * offset (http_cases.h); also the target helpers. test_http_body.c has the bodies. */
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

static const struct req_case cases[] = {
    /* ---- accepted: methods, targets, versions ---- */
    {REQ("simple get", "GET /" H11 "\r\n"), .method = "GET", .path = "/", .query = "",
     .headers = 1},
    {REQ("any token is a method", "PURGE /x" H11 "\r\n"), .method = "PURGE"},
    {REQ("methods are case-sensitive tokens", "get /" H11 "\r\n"), .method = "get"},
    {REQ("method with every symbol", "!#$%&'*+-.^_`|~09az /" H11 "\r\n"),
     .method = "!#$%&'*+-.^_`|~09az"},
    {REQ("delete", "DELETE /api/streams/s" H11 "\r\n"), .method = "DELETE",
     .path = "/api/streams/s"},
    {REQ("query", "GET /api/streams/s/messages?limit=5&sort=seq_desc" H11 "\r\n"),
     .path = "/api/streams/s/messages", .query = "limit=5&sort=seq_desc"},
    {REQ("empty query", "GET /a?" H11 "\r\n"), .path = "/a", .query = ""},
    {REQ("second '?' belongs to the query", "GET /a?b?c" H11 "\r\n"), .path = "/a", .query = "b?c"},
    {REQ("unescaped '>' and '*' as curl sends them", "GET /m?key_pattern=orders.*.>" H11 "\r\n"),
     .query = "key_pattern=orders.*.>"},
    {REQ("percent-escapes stay encoded", "GET /a%20b?x=%2F" H11 "\r\n"), .path = "/a%20b",
     .query = "x=%2F"},
    {REQ("http/1.0 without host", "GET / HTTP/1.0\r\n\r\n"), .v10 = true, .close = true,
     .headers = 0},
    {REQ("an empty line before the request line", "\r\nGET /" H11 "\r\n"), .method = "GET"},
    {REQ("ten empty lines before the request line", E10 "GET /" H11 "\r\n"), .method = "GET"},
    {REQ("the Host header is the host", "GET /" H11 "\r\n"), .host = "h"},
    /* ---- accepted: the absolute form (RFC 9112 section 3.2.2) ---- */
    {REQ("absolute form", "GET http://localhost:7376/api/streams?x=1" H11 "\r\n"), .method = "GET",
     .path = "/api/streams", .query = "x=1", .host = "localhost:7376"},
    {REQ("absolute form, https in capitals", "GET HTTPS://H/a/b" H11 "\r\n"), .path = "/a/b",
     .query = "", .host = "H"},
    {REQ("absolute form, scheme in mixed case", "GET hTtP://h/a" H11 "\r\n"), .path = "/a"},
    {REQ("absolute form without a path", "GET http://h" H11 "\r\n"), .path = "/", .query = "",
     .host = "h"},
    {REQ("absolute form with a query and no path", "GET http://h:1?limit=5" H11 "\r\n"),
     .path = "/", .query = "limit=5", .host = "h:1"},
    {REQ("absolute form with the Host header disagreeing",
         "GET http://sequin.example/a HTTP/1.1\r\nHost: other:1\r\n\r\n"),
     .path = "/a", .host = "sequin.example"},
    {REQ("absolute form with an IPv6 literal", "GET http://[::1]:7376/x?" H11 "\r\n"), .path = "/x",
     .query = "", .host = "[::1]:7376"},
    {REQ("absolute form with an IPv4 address", "GET http://127.0.0.1/x" H11 "\r\n"),
     .host = "127.0.0.1"},
    {REQ("absolute form with an empty port", "GET http://h:/x" H11 "\r\n"), .path = "/x",
     .host = "h:"},
    {REQ("absolute form with every host byte", "GET http://a%2Db-._~!$&'()*+,;=/x" H11 "\r\n"),
     .path = "/x", .host = "a%2Db-._~!$&'()*+,;="},
    {REQ("absolute form with escapes in the path", "GET http://h/a%20b/%3E" H11 "\r\n"),
     .path = "/a%20b/%3E"},
    {REQ("absolute form in HTTP/1.0 without Host", "GET http://h/x HTTP/1.0\r\n\r\n"), .v10 = true,
     .close = true, .path = "/x", .host = "h"},
    /* ---- accepted: Host values (RFC 9112 section 3.2) ---- */
    {REQ("Host with a port", "GET / HTTP/1.1\r\nHost: localhost:7376\r\n\r\n"),
     .host = "localhost:7376"},
    {REQ("Host an IPv6 literal with a port", "GET / HTTP/1.1\r\nHost: [::1]:7376\r\n\r\n"),
     .host = "[::1]:7376"},
    {REQ("Host with an empty port", "GET / HTTP/1.1\r\nHost: h:\r\n\r\n"), .host = "h:"},
    {REQ("Host with every host byte", "GET / HTTP/1.1\r\nHost: a%2Db-._~!$&'()*+,;=\r\n\r\n"),
     .host = "a%2Db-._~!$&'()*+,;="},
    {REQ("empty Host (a target URI without an authority)", "GET / HTTP/1.1\r\nHost:\r\n\r\n"),
     .host = ""},
    {REQ("blank Host", "GET / HTTP/1.1\r\nHost: \t \r\n\r\n"), .host = ""},
    {REQ("absolute form with an empty Host", "GET http://h/x HTTP/1.1\r\nHost:\r\n\r\n"),
     .host = "h"},
    {REQ("1.0 with a Host", "GET / HTTP/1.0\r\nHost: h:1\r\n\r\n"), .v10 = true, .close = true,
     .host = "h:1"},
    /* ---- accepted: header syntax ---- */
    {REQ("no space after the colon", "GET / HTTP/1.1\r\nHost:h\r\nX:y\r\n\r\n"), .headers = 2},
    {REQ("tabs and spaces around values", "GET /" H11 "X: \t v w \t\r\n\r\n"), .headers = 2},
    {REQ("empty value", "GET /" H11 "X:\r\nY: \r\n\r\n"), .headers = 3},
    {REQ("obs-text in a value", "GET /" H11 "X: caf\xc3\xa9\xff\r\n\r\n"), .headers = 2},
    {REQ("tab inside a value", "GET /" H11 "X: a\tb\r\n\r\n")},
    {REQ("name with symbols", "GET /" H11 "X-a.b_c!~: 1\r\n\r\n")},
    {REQ("header names in any case", "GET / HTTP/1.1\r\nhOsT: h\r\ncOnNeCtIoN: ClOsE\r\n\r\n"),
     .close = true},
    {REQ("authorization and content type", "GET /" H11 "Authorization: Bearer t\r\n"
                                           "Content-Type: application/json\r\n\r\n"),
     .headers = 3},
    /* ---- accepted: keep-alive rules ---- */
    {REQ("1.1 closes on request", "GET /" H11 "Connection: close\r\n\r\n"), .close = true},
    {REQ("1.1 close among options", "GET /" H11 "Connection: keep-alive, Close\r\n\r\n"),
     .close = true},
    {REQ("1.1 close in a second header", "GET /" H11 "Connection: x\r\nConnection: close\r\n\r\n"),
     .close = true},
    {REQ("1.1 'closed' is not close", "GET /" H11 "Connection: closed\r\n\r\n")},
    {REQ("1.1 close among empty options", "GET /" H11 "Connection: , ,close ,\r\n\r\n"),
     .close = true},
    {REQ("1.1 empty Connection", "GET /" H11 "Connection:\r\n\r\n")},
    {REQ("1.1 keep-alive", "GET /" H11 "Connection: keep-alive\r\n\r\n")},
    {REQ("1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), .v10 = true},
    {REQ("1.0 keep-alive in a list", "GET / HTTP/1.0\r\nConnection: x ,keep-alive\t\r\n\r\n"),
     .v10 = true},
    {REQ("1.0 keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"),
     .v10 = true, .close = true},
    {REQ("1.0 keep-alive after empty options",
         "GET / HTTP/1.0\r\nConnection: ,,keep-alive\r\n\r\n"),
     .v10 = true},
    {REQ("1.0 only empty options", "GET / HTTP/1.0\r\nConnection: , \r\n\r\n"), .v10 = true,
     .close = true},
    /* ---- accepted: Expect ---- */
    {REQ("expect 100-continue",
         "POST /" H11 "Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"),
     .expect = true, .kind = SQ_HTTP_BODY_LENGTH, .body = "hello"},
    {REQ("expect in any case", "POST /" H11 "Expect: 100-Continue\r\n\r\n"), .expect = true},
    {REQ("expect ignored in 1.0",
         "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx"),
     .v10 = true, .close = true, .kind = SQ_HTTP_BODY_LENGTH, .body = "x"},
    {REQ("other expectations are ignored", "POST /" H11 "Expect: something\r\n\r\n")},

    /* ---- incomplete input ---- */
    BAD("nothing yet", "", -2, NULL),
    BAD("head without its empty line", "GET /" H11, -2, NULL),
    BAD("head ends in CR", "GET /" H11 "\r", -2, NULL),

    /* ---- rejected: the request line ---- */
    BAD("leading space", " GET /" H11 "\r\n", 400, START),
    BAD("leading NUL", "\0GET /" H11 "\r\n", 400, START),
    BAD("bare LF before the request line", "\nGET /" H11 "\r\n", 400, BARE_LF),
    BAD("bare CR before the request line", "\r\rGET /" H11 "\r\n", 400, BARE_CR),
    BAD("invalid character in the method", "G@T /" H11 "\r\n", 400, METHOD),
    BAD("tab after the method", "GET\t/" H11 "\r\n", 400, METHOD),
    BAD("NUL in the method", "GE\0T /" H11 "\r\n", 400, METHOD),
    BAD("two spaces after the method", "GET  /" H11 "\r\n", 400, SLASH),
    BAD("eleven empty lines before the request line", E10 "\r\nGET /" H11 "\r\n", 400, EMPTY_LINES),
    BAD("method only", "GET\r\n\r\n", 400, METHOD),
    BAD("asterisk form", "OPTIONS *" H11 "\r\n", 400, SLASH),
    BAD("authority form", "CONNECT h:443" H11 "\r\n", 400, SLASH),
    BAD("a scheme other than http", "GET ftp://h/x" H11 "\r\n", 400, SLASH),
    BAD("a scheme that starts like http", "GET httpx://h/x" H11 "\r\n", 400, SLASH),
    BAD("a digit starting the target", "GET 1http://h/x" H11 "\r\n", 400, SLASH),
    BAD("absolute form with one slash", "GET http:/h/x" H11 "\r\n", 400, SLASH),
    BAD("absolute form without slashes", "GET http:h/x" H11 "\r\n", 400, SLASH),
    BAD("absolute form without the scheme's colon", "GET http//h/x" H11 "\r\n", 400, SLASH),
    BAD("absolute form that is a scheme only", "GET http:" H11 "\r\n", 400, SLASH),
    BAD("absolute form without a host", "GET http:///x" H11 "\r\n", 400, AUTHORITY),
    BAD("absolute form with nothing after the scheme", "GET http://" H11 "\r\n", 400, AUTHORITY),
    BAD("absolute form with a query and no host", "GET https://?x=1" H11 "\r\n", 400, AUTHORITY),
    BAD("absolute form with a port and no host", "GET http://:80/x" H11 "\r\n", 400, AUTHORITY),
    BAD("absolute form with userinfo", "GET http://user:pw@h/x" H11 "\r\n", 400, AUTHORITY),
    BAD("absolute form with a letter in the port", "GET http://h:8o/x" H11 "\r\n", 400, AUTHORITY),
    BAD("absolute form with two ports", "GET http://h:80:81/x" H11 "\r\n", 400, AUTHORITY),
    BAD("absolute form with a bad escape in the host", "GET http://h%zz/x" H11 "\r\n", 400,
        AUTHORITY),
    BAD("absolute form with a cut escape in the host", "GET http://h%4" H11 "\r\n", 400, AUTHORITY),
    BAD("absolute form with a fragment in the authority", "GET http://h#f/x" H11 "\r\n", 400,
        AUTHORITY),
    BAD("absolute form with an unclosed IPv6 literal", "GET http://[::1/x" H11 "\r\n", 400,
        AUTHORITY),
    BAD("absolute form with an empty IPv6 literal", "GET http://[]/x" H11 "\r\n", 400, AUTHORITY),
    BAD("absolute form with text after an IPv6 literal", "GET http://[::1]x/x" H11 "\r\n", 400,
        AUTHORITY),
    BAD("absolute form with a bracket in the host", "GET http://h]/x" H11 "\r\n", 400, AUTHORITY),
    BAD("control character in the target", "GET /a\x01" H11 "\r\n", 400, TARGET),
    BAD("NUL in the target", "GET /a\0b" H11 "\r\n", 400, TARGET),
    BAD("DEL in the target", "GET /a\x7f" H11 "\r\n", 400, TARGET),
    BAD("tab in the target", "GET /a\tb" H11 "\r\n", 400, TARGET),
    BAD("non-ASCII in the target", "GET /caf\xc3\xa9" H11 "\r\n", 400, TARGET),
    BAD("HTTP/0.9 style request", "GET /\r\n\r\n", 400, TARGET),
    BAD("bare LF after the target", "GET /\n", 400, BARE_LF),
    BAD("two spaces before the version", "GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400, BAD_VERSION),
    BAD("HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 400, BAD_VERSION),
    BAD("HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 400, BAD_VERSION),
    BAD("HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", 400, BAD_VERSION),
    BAD("HTTP/1.10", "GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400, BAD_VERSION),
    BAD("HTTP/01.1", "GET / HTTP/01.1\r\nHost: h\r\n\r\n", 400, BAD_VERSION),
    BAD("HTTP/11", "GET / HTTP/11\r\nHost: h\r\n\r\n", 400, BAD_VERSION),
    BAD("HTTP/1", "GET / HTTP/1\r\nHost: h\r\n\r\n", 400, BAD_VERSION),
    BAD("lowercase version", "GET / http/1.1\r\nHost: h\r\n\r\n", 400, BAD_VERSION),
    BAD("space in the version", "GET / HTTP /1.1\r\nHost: h\r\n\r\n", 400, BAD_VERSION),
    BAD("space after the version", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400, BAD_VERSION),
    BAD("no version", "GET / \r\nHost: h\r\n\r\n", 400, BAD_VERSION),
    BAD("bare LF after the version", "GET / HTTP/1.1\nHost: h\n\n", 400, BARE_LF),
    BAD("bare CR after the version", "GET / HTTP/1.1\rHost: h\r\n\r\n", 400, BARE_CR),

    /* ---- rejected: header syntax ---- */
    BAD("folded first header", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400, FOLD),
    BAD("folded value", "GET /" H11 "X: a\r\n b\r\n\r\n", 400, FOLD),
    BAD("folded with a tab", "GET /" H11 "X: a\r\n\tb\r\n\r\n", 400, FOLD),
    BAD("space before the colon", "GET /" H11 "X : a\r\n\r\n", 400, WS_COLON),
    BAD("tab before the colon", "GET /" H11 "X\t: a\r\n\r\n", 400, WS_COLON),
    BAD("space inside a name", "GET /" H11 "X Y: a\r\n\r\n", 400, WS_COLON),
    BAD("no colon", "GET /" H11 "XY\r\n\r\n", 400, NO_COLON),
    BAD("empty name", "GET /" H11 ": a\r\n\r\n", 400, NAME),
    BAD("separator in a name", "GET /" H11 "X(y): a\r\n\r\n", 400, NAME),
    BAD("quote in a name", "GET /" H11 "X\"y: a\r\n\r\n", 400, NAME),
    BAD("non-ASCII in a name", "GET /" H11 "X\xc3\xa9: a\r\n\r\n", 400, NAME),
    BAD("NUL in a name", "GET /" H11 "X\0: a\r\n\r\n", 400, NAME),
    BAD("NUL in a value", "GET /" H11 "X: a\0b\r\n\r\n", 400, VALUE_CTL),
    BAD("control character in a value", "GET /" H11 "X: a\x01\r\n\r\n", 400, VALUE_CTL),
    BAD("escape in a value", "GET /" H11 "X: \x1b[0m\r\n\r\n", 400, VALUE_CTL),
    BAD("DEL in a value", "GET /" H11 "X: a\x7f\r\n\r\n", 400, VALUE_CTL),
    BAD("bare CR in a value", "GET /" H11 "X: a\rb\r\n\r\n", 400, BARE_CR),
    BAD("bare LF in a value", "GET /" H11 "X: a\nb\r\n\r\n", 400, BARE_LF),
    BAD("bare LF ending a header line", "GET /" H11 "X: a\n\r\n", 400, BARE_LF),
    BAD("bare LF ending the head", "GET /" H11 "\n", 400, BARE_LF),
    BAD("bare CR ending the head", "GET /" H11 "\rX", 400, BARE_CR),
    BAD("bare LF inside a name", "GET /" H11 "X\n: a\r\n\r\n", 400, BARE_LF),
    BAD("bare CR inside a name", "GET /" H11 "X\r: a\r\n\r\n", 400, NO_COLON),

    /* ---- rejected: headers the server relies on ---- */
    BAD("1.1 without Host", "GET / HTTP/1.1\r\n\r\n", 400, NO_HOST),
    BAD("1.1 absolute form without Host", "GET http://h/ HTTP/1.1\r\n\r\n", 400, NO_HOST),
    BAD("absolute form with two Host headers", "GET http://h/" H11 "Host: h\r\n\r\n", 400,
        TWO_HOSTS),
    BAD("two Host headers", "GET /" H11 "Host: i\r\n\r\n", 400, TWO_HOSTS),
    /* RFC 9112 section 3.2: a Host "with an invalid field value" is a 400, whatever the form
     * of the target; the value is host[:port], as the absolute form's authority. */
    BAD("Host with a space inside", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, HOST),
    BAD("Host with userinfo", "GET / HTTP/1.1\r\nHost: user:pw@h\r\n\r\n", 400, HOST),
    BAD("Host with a path", "GET / HTTP/1.1\r\nHost: h/x\r\n\r\n", 400, HOST),
    BAD("Host with a query", "GET / HTTP/1.1\r\nHost: h?x\r\n\r\n", 400, HOST),
    BAD("Host that is a URI", "GET / HTTP/1.1\r\nHost: http://h\r\n\r\n", 400, HOST),
    BAD("Host with a port and no host", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400, HOST),
    BAD("Host with a letter in the port", "GET / HTTP/1.1\r\nHost: h:8o\r\n\r\n", 400, HOST),
    BAD("Host with two ports", "GET / HTTP/1.1\r\nHost: h:80:81\r\n\r\n", 400, HOST),
    BAD("Host with a bad escape", "GET / HTTP/1.1\r\nHost: h%zz\r\n\r\n", 400, HOST),
    BAD("Host with an unclosed IPv6 literal", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, HOST),
    BAD("Host with non-ASCII", "GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", 400, HOST),
    BAD("Host with a quote", "GET / HTTP/1.1\r\nHost: \"h\"\r\n\r\n", 400, HOST),
    BAD("absolute form with an invalid Host", "GET http://h/x HTTP/1.1\r\nHost: a b\r\n\r\n", 400,
        HOST),
    BAD("1.0 with an invalid Host", "GET / HTTP/1.0\r\nHost: h@i\r\n\r\n", 400, HOST),
    BAD("two Authorization headers", "GET /" H11 "Authorization: a\r\nAuthorization: b\r\n\r\n",
        400, TWO_AUTHS),
    BAD("two Content-Type headers", "GET /" H11 "Content-Type: a\r\ncontent-type: a\r\n\r\n", 400,
        TWO_CTYPES),

    /* ---- rejected: the kinds of invalid request head in llhttp's test suite (test/request/
     * invalid.md), restated as our own cases ---- */
    BAD("a protocol other than HTTP", "GET /music ICE/1.0\r\nHost: h\r\n\r\n", 400, BAD_VERSION),
    BAD("RTSP", "PUT /music RTSP/1.0\r\nHost: h\r\n\r\n", 400, BAD_VERSION),
    BAD("a protocol that starts like HTTP", "GET / IHTTP/1.0\r\n\r\n", 400, BAD_VERSION),
    BAD("HTTP/5.6", "GET / HTTP/5.6\r\nHost: h\r\n\r\n", 400, BAD_VERSION),
    BAD("header lines separated by a lone CR", "GET /" H11 "Foo: 1\rBar: 2\r\n\r\n", 400, BARE_CR),
    BAD("CR and junk after the headers hiding a request",
        "GET /" H11 "Connection: close\r\n\rZGET /evil: HTTP/1.1\r\nHost: a\r\n\r\n", 400, BARE_CR),
    BAD("'@' in a header name", "GET /" H11 "Fo@: x\r\n\r\n", 400, NAME),
    BAD("control character in a header name", "GET /" H11 "Foo\x01test: x\r\n\r\n", 400, NAME),
    BAD("header name folded before its colon", "GET /" H11 "name\r\n : value\r\n\r\n", 400,
        NO_COLON),
    BAD("corrupted Connection header",
        "GET /" H11 "Connection\r\x1b\x35\xd5"
        "eep-Alive\r\n\r\n",
        400, NO_COLON),

    /* ---- rejected: limits (HTTP_CASE_LIM) ---- */
    BAD("nine headers",
        "GET /" H11 "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\n"
        "H: 8\r\n\r\n",
        431, TOO_MANY),
};

static void test_request_table(void **state)
{
    (void)state;
    http_case_run_all(cases, SQ_ARRAY_LEN(cases));
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
    assert_int_equal(sq_metrics_render(&page, m, NULL, 0), SQ_OK);
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
