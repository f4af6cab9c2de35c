/* Table-driven tests of the HTTP request parser and chunked decoder: every accepted and every
 * rejected form, each fed whole, byte by byte and split at every offset (the results must not
 * change), with every piece ending at a guard page. Also the target helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "sequin/http.h"

/* The reasons, spelled out here so that a changed message is noticed. */
#define BARE_LF "lines must end with CRLF, not a bare LF"
#define BARE_CR "a CR must be followed by LF"
#define BAD_VERSION "the HTTP version must be HTTP/1.0 or HTTP/1.1"
#define START "a request must start with a method token"
#define METHOD "the method must be a token followed by one space"
#define SLASH "the request target must start with '/'"
#define TARGET "the request target must be visible ASCII"
#define TOO_LONG_LINE "the request line is longer than the limit"
#define TOO_MANY "the request has more header fields than the limit"
#define TOO_BIG_FIELDS "the header fields are larger than the limit"
#define FOLD "obsolete line folding"
#define NAME "a header name must be a token"
#define WS_COLON "no whitespace is allowed between a header name and its colon"
#define NO_COLON "a header line must have a colon"
#define VALUE_CTL "a header value must not contain control characters"
#define CL_DIGITS "Content-Length must be a decimal number"
#define CL_BIG "Content-Length is too large a number"
#define CL_CONFLICT "the request has conflicting Content-Length headers"
#define TE_ONLY "the only Transfer-Encoding accepted is chunked"
#define CL_AND_TE "a request must not have both Content-Length and Transfer-Encoding"
#define TE_10 "Transfer-Encoding is not allowed in an HTTP/1.0 request"
#define NO_HOST "an HTTP/1.1 request must have a Host header"
#define TWO_HOSTS "the request has more than one Host header"
#define TWO_AUTHS "the request has more than one Authorization header"
#define TWO_CTYPES "the request has more than one Content-Type header"
#define BODY_BIG "the request body is larger than the limit"
#define DATA_END "chunk data must be followed by CRLF"
#define CHUNK_START "a chunk must start with its size in hexadecimal"
#define CHUNK_HEX "a chunk size must be hexadecimal digits only"
#define CHUNK_BIG "a chunk size does not fit in 64 bits"
#define CHUNK_SYNTAX "a chunk extension must be ;name or ;name=value"
#define CHUNK_EXT "a chunk extension must not contain control characters"
#define CHUNK_LINE "a chunk-size line is longer than 4096 bytes"

/* Small limits, so that the limit cases stay readable. */
static const sq_http_limits LIM = {
    .max_request_line_bytes = 128,
    .max_header_bytes = 256,
    .max_headers = 8,
    .max_body_bytes = 64,
};

/*
 * A raw request and what must come of it. `status` 0 means accepted (head and body), -2
 * that the input ends before the request does, else the status of the rejection, whose
 * reason must contain `reason`. For accepted requests the other fields are checked; those
 * left zero mean the common case: GET-less checks skipped, HTTP/1.1, keep-alive, no body.
 */
struct req_case {
    const char *name;
    const char *raw;
    size_t len;
    int status;
    const char *reason;
    const char *method; /* NULL: not checked */
    const char *path;   /* NULL: not checked */
    const char *query;  /* NULL: not checked */
    bool v10;           /* HTTP/1.0 */
    bool close;         /* keep_alive must be false */
    bool expect;        /* expect_continue must be true */
    sq_http_body kind;
    const char *body; /* the decoded body; NULL: empty */
    size_t body_len;  /* 0: strlen(body) */
    int headers;      /* header count; 0: not checked */
    size_t rest;      /* bytes after the request (the next pipelined one) */
};

#define REQ(n, s) .name = (n), .raw = (s), .len = sizeof(s) - 1
/* clang-format off */
#define BAD(n, s, st, why) {REQ(n, s), .status = (st), .reason = (why)}
/* clang-format on */
#define H11 " HTTP/1.1\r\nHost: h\r\n"
#define POST_TE "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"

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
    {REQ("empty lines before the request line", "\r\n\r\nGET /" H11 "\r\n"), .method = "GET"},
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
    {REQ("1.1 keep-alive", "GET /" H11 "Connection: keep-alive\r\n\r\n")},
    {REQ("1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), .v10 = true},
    {REQ("1.0 keep-alive in a list", "GET / HTTP/1.0\r\nConnection: x ,keep-alive\t\r\n\r\n"),
     .v10 = true},
    {REQ("1.0 keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"),
     .v10 = true, .close = true},
    /* ---- accepted: Expect ---- */
    {REQ("expect 100-continue",
         "POST /" H11 "Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"),
     .expect = true, .kind = SQ_HTTP_BODY_LENGTH, .body = "hello"},
    {REQ("expect in any case", "POST /" H11 "Expect: 100-Continue\r\n\r\n"), .expect = true},
    {REQ("expect ignored in 1.0",
         "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx"),
     .v10 = true, .close = true, .kind = SQ_HTTP_BODY_LENGTH, .body = "x"},
    {REQ("other expectations are ignored", "POST /" H11 "Expect: something\r\n\r\n")},
    /* ---- accepted: bodies ---- */
    {REQ("content-length", "POST /" H11 "Content-Length: 5\r\n\r\nhello"),
     .kind = SQ_HTTP_BODY_LENGTH, .body = "hello"},
    {REQ("content-length zero", "POST /" H11 "Content-Length: 0\r\n\r\n"),
     .kind = SQ_HTTP_BODY_LENGTH},
    {REQ("content-length with OWS", "POST /" H11 "Content-Length: \t 3 \r\n\r\nabc"),
     .kind = SQ_HTTP_BODY_LENGTH, .body = "abc"},
    {REQ("identical duplicate content-length",
         "POST /" H11 "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc"),
     .kind = SQ_HTTP_BODY_LENGTH, .body = "abc"},
    {REQ("duplicates equal in value", "POST /" H11 "Content-Length: 3\r\nContent-Length: 003\r\n"
                                      "\r\nabc"),
     .kind = SQ_HTTP_BODY_LENGTH, .body = "abc"},
    {REQ("body with NUL bytes", "POST /" H11 "Content-Length: 3\r\n\r\na\0b"),
     .kind = SQ_HTTP_BODY_LENGTH, .body = "a\0b", .body_len = 3},
    {REQ("next request after a body", "POST /" H11 "Content-Length: 2\r\n\r\nhiGET /" H11 "\r\n"),
     .kind = SQ_HTTP_BODY_LENGTH, .body = "hi", .rest = sizeof("GET /" H11 "\r\n") - 1},
    {REQ("chunked", POST_TE "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), .kind = SQ_HTTP_BODY_CHUNKED,
     .body = "hello world"},
    {REQ("chunked, empty", POST_TE "0\r\n\r\n"), .kind = SQ_HTTP_BODY_CHUNKED},
    {REQ("chunked, any case", "POST /" H11 "transfer-encoding: CHUNKED\r\n\r\n0\r\n\r\n"),
     .kind = SQ_HTTP_BODY_CHUNKED},
    {REQ("chunked with OWS", "POST /" H11 "Transfer-Encoding:\t chunked \r\n\r\n0\r\n\r\n"),
     .kind = SQ_HTTP_BODY_CHUNKED},
    {REQ("chunk sizes in hex, any case, leading zeros",
         POST_TE "a\r\n0123456789\r\nB\r\nabcdefghijk\r\n0001\r\n!\r\n000\r\n\r\n"),
     .kind = SQ_HTTP_BODY_CHUNKED, .body = "0123456789abcdefghijk!"},
    {REQ("chunk extensions are skipped",
         POST_TE "3;a=b\r\nabc\r\n2 ; x = \"q;\\\" \" \t;y\r\nde\r\n0;last\r\n\r\n"),
     .kind = SQ_HTTP_BODY_CHUNKED, .body = "abcde"},
    {REQ("every chunk extension form",
         POST_TE "1;a\r\nx\r\n1;a=b;c=\"\"\r\ny\r\n1 ;a = \"\\\\\\\"\xe9\" ; b\r\nz\r\n0\r\n\r\n"),
     .kind = SQ_HTTP_BODY_CHUNKED, .body = "xyz"},
    {REQ("trailers are skipped", POST_TE "2\r\nok\r\n0\r\nX-Sum: 1\r\nY:\r\n\r\n"),
     .kind = SQ_HTTP_BODY_CHUNKED, .body = "ok"},
    {REQ("chunk data holding CRLF and NUL", POST_TE "4\r\n\r\n\0\n\r\n0\r\n\r\n"),
     .kind = SQ_HTTP_BODY_CHUNKED, .body = "\r\n\0\n", .body_len = 4},
    {REQ("next request after chunked", POST_TE "1\r\na\r\n0\r\n\r\nGET /" H11 "\r\n"),
     .kind = SQ_HTTP_BODY_CHUNKED, .body = "a", .rest = sizeof("GET /" H11 "\r\n") - 1},
    {REQ("body up to the limit",
         "POST /" H11 "Content-Length: 64\r\n\r\n"
         "0123456789012345678901234567890123456789012345678901234567890123"),
     .kind = SQ_HTTP_BODY_LENGTH,
     .body = "0123456789012345678901234567890123456789012345678901234567890123"},
    {REQ("chunked up to the limit", POST_TE "20\r\n01234567890123456789012345678901\r\n"
                                            "20\r\n01234567890123456789012345678901\r\n0\r\n\r\n"),
     .kind = SQ_HTTP_BODY_CHUNKED,
     .body = "0123456789012345678901234567890101234567890123456789012345678901"},

    /* ---- incomplete input ---- */
    BAD("nothing yet", "", -2, NULL),
    BAD("head without its empty line", "GET /" H11, -2, NULL),
    BAD("head ends in CR", "GET /" H11 "\r", -2, NULL),
    BAD("chunked body cut short", POST_TE "5\r\nhel", -2, NULL),
    BAD("chunked body without its last chunk", POST_TE "1\r\nx\r\n", -2, NULL),
    BAD("chunked body without the trailers' end", POST_TE "0\r\nX: y\r\n", -2, NULL),

    /* ---- rejected: the request line ---- */
    BAD("leading space", " GET /" H11 "\r\n", 400, START),
    BAD("leading NUL", "\0GET /" H11 "\r\n", 400, START),
    BAD("bare LF before the request line", "\nGET /" H11 "\r\n", 400, BARE_LF),
    BAD("bare CR before the request line", "\r\rGET /" H11 "\r\n", 400, BARE_CR),
    BAD("invalid character in the method", "G@T /" H11 "\r\n", 400, METHOD),
    BAD("tab after the method", "GET\t/" H11 "\r\n", 400, METHOD),
    BAD("NUL in the method", "GE\0T /" H11 "\r\n", 400, METHOD),
    BAD("two spaces after the method", "GET  /" H11 "\r\n", 400, SLASH),
    BAD("method only", "GET\r\n\r\n", 400, METHOD),
    BAD("asterisk form", "OPTIONS *" H11 "\r\n", 400, SLASH),
    BAD("absolute form", "GET http://h/" H11 "\r\n", 400, SLASH),
    BAD("authority form", "CONNECT h:443" H11 "\r\n", 400, SLASH),
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
    BAD("two Host headers", "GET /" H11 "Host: i\r\n\r\n", 400, TWO_HOSTS),
    BAD("two Authorization headers", "GET /" H11 "Authorization: a\r\nAuthorization: b\r\n\r\n",
        400, TWO_AUTHS),
    BAD("two Content-Type headers", "GET /" H11 "Content-Type: a\r\ncontent-type: a\r\n\r\n", 400,
        TWO_CTYPES),

    /* ---- rejected: framing, the request-smuggling forms ---- */
    BAD("CL then TE",
        "POST /" H11 "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        "0\r\n\r\n",
        400, CL_AND_TE),
    BAD("TE then CL",
        "POST /" H11 "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
        "0\r\n\r\n",
        400, CL_AND_TE),
    BAD("TE with CL zero", "POST /" H11 "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
        400, CL_AND_TE),
    BAD("conflicting CL", "POST /" H11 "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400,
        CL_CONFLICT),
    BAD("CL as a list", "POST /" H11 "Content-Length: 1, 1\r\n\r\na", 400, CL_DIGITS),
    BAD("CL with a plus sign", "POST /" H11 "Content-Length: +1\r\n\r\na", 400, CL_DIGITS),
    BAD("negative CL", "POST /" H11 "Content-Length: -1\r\n\r\n", 400, CL_DIGITS),
    BAD("hex CL", "POST /" H11 "Content-Length: 0x1\r\n\r\na", 400, CL_DIGITS),
    BAD("CL with a space inside", "POST /" H11 "Content-Length: 1 2\r\n\r\n", 400, CL_DIGITS),
    BAD("CL with a fraction", "POST /" H11 "Content-Length: 1.0\r\n\r\n", 400, CL_DIGITS),
    BAD("empty CL", "POST /" H11 "Content-Length:\r\n\r\n", 400, CL_DIGITS),
    BAD("blank CL", "POST /" H11 "Content-Length:  \r\n\r\n", 400, CL_DIGITS),
    BAD("CL overflowing 64 bits", "POST /" H11 "Content-Length: 18446744073709551616\r\n\r\n", 400,
        CL_BIG),
    BAD("CL far over 64 bits",
        "POST /" H11 "Content-Length: 99999999999999999999999999\r\n"
        "\r\n",
        400, CL_BIG),
    BAD("CL at the 64-bit maximum is too large a body",
        "POST /" H11 "Content-Length: 18446744073709551615\r\n\r\n", 413, BODY_BIG),
    BAD("TE identity", "POST /" H11 "Transfer-Encoding: identity\r\n\r\n", 400, TE_ONLY),
    BAD("TE gzip, chunked", "POST /" H11 "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400,
        TE_ONLY),
    BAD("TE chunked, identity", "POST /" H11 "Transfer-Encoding: chunked, identity\r\n\r\n", 400,
        TE_ONLY),
    BAD("TE chunked twice",
        "POST /" H11 "Transfer-Encoding: chunked\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400, TE_ONLY),
    BAD("TE chunked then identity",
        "POST /" H11 "Transfer-Encoding: chunked\r\n"
        "Transfer-Encoding: identity\r\n\r\n",
        400, TE_ONLY),
    BAD("TE with a prefix", "POST /" H11 "Transfer-Encoding: xchunked\r\n\r\n", 400, TE_ONLY),
    BAD("TE with a suffix", "POST /" H11 "Transfer-Encoding: chunkedx\r\n\r\n", 400, TE_ONLY),
    BAD("TE with a comma", "POST /" H11 "Transfer-Encoding: chunked,\r\n\r\n", 400, TE_ONLY),
    BAD("TE with a parameter", "POST /" H11 "Transfer-Encoding: chunked;q=1\r\n\r\n", 400, TE_ONLY),
    BAD("TE quoted", "POST /" H11 "Transfer-Encoding: \"chunked\"\r\n\r\n", 400, TE_ONLY),
    BAD("empty TE", "POST /" H11 "Transfer-Encoding:\r\n\r\n", 400, TE_ONLY),
    BAD("TE folded onto the next line", "POST /" H11 "Transfer-Encoding:\r\n chunked\r\n\r\n", 400,
        FOLD),
    BAD("TE with a space before the colon",
        "POST /" H11 "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, WS_COLON),
    BAD("TE after a bare-LF line", "POST /" H11 "X: y\nTransfer-Encoding: chunked\r\n\r\n", 400,
        BARE_LF),
    BAD("TE value with a vertical tab",
        "POST /" H11 "Transfer-Encoding: \x0b"
        "chunked\r\n\r\n",
        400, VALUE_CTL),
    BAD("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
        TE_10),

    /* ---- rejected: chunked bodies ---- */
    BAD("chunk size not hex", POST_TE "g\r\nx\r\n0\r\n\r\n", 400, CHUNK_START),
    BAD("chunk size with 0x", POST_TE "0x5\r\nhello\r\n0\r\n\r\n", 400, CHUNK_HEX),
    BAD("negative chunk size", POST_TE "-5\r\nhello\r\n0\r\n\r\n", 400, CHUNK_START),
    BAD("chunk size with a plus", POST_TE "+5\r\nhello\r\n0\r\n\r\n", 400, CHUNK_START),
    BAD("empty chunk size", POST_TE "\r\nhello\r\n0\r\n\r\n", 400, CHUNK_START),
    BAD("space before a chunk size", POST_TE " 5\r\nhello\r\n0\r\n\r\n", 400, CHUNK_START),
    BAD("space after a chunk size", POST_TE "5 \r\nhello\r\n0\r\n\r\n", 400, CHUNK_SYNTAX),
    BAD("space inside a chunk size", POST_TE "1 0\r\n0123456789abcdef\r\n0\r\n\r\n", 400,
        CHUNK_SYNTAX),
    BAD("chunk size overflowing 64 bits", POST_TE "10000000000000000\r\n", 400, CHUNK_BIG),
    BAD("chunk size that wraps to a small one", POST_TE "100000000000000005\r\nhello\r\n0\r\n\r\n",
        400, CHUNK_BIG),
    BAD("chunk size over the body limit", POST_TE "ffffffffffffffff\r\n", 413, BODY_BIG),
    BAD("chunks adding up over the body limit",
        POST_TE "20\r\n01234567890123456789012345678901\r\n21\r\n", 413, BODY_BIG),
    BAD("bare LF after a chunk size", POST_TE "5\nhello\r\n0\r\n\r\n", 400, BARE_LF),
    BAD("bare CR after a chunk size", POST_TE "5\rhello\r\n0\r\n\r\n", 400, BARE_CR),
    BAD("chunk data longer than its size", POST_TE "5\r\nhello!\r\n0\r\n\r\n", 400, DATA_END),
    BAD("chunk data shorter than its size", POST_TE "5\r\nhell\r\n0\r\n\r\n", 400, DATA_END),
    BAD("chunk data ended by a bare LF", POST_TE "5\r\nhello\n0\r\n\r\n", 400, DATA_END),
    BAD("chunk data ended by a bare CR", POST_TE "5\r\nhello\r0\r\n\r\n", 400, DATA_END),
    BAD("bare LF in a chunk extension", POST_TE "5;a\nb\r\nhello\r\n0\r\n\r\n", 400, BARE_LF),
    BAD("bare CR in a quoted chunk extension", POST_TE "5;a=\"x\ry\"\r\nhello\r\n0\r\n\r\n", 400,
        CHUNK_SYNTAX),
    BAD("chunk extension without a name", POST_TE "2;\r\naa\r\n0\r\n\r\n", 400, CHUNK_SYNTAX),
    BAD("chunk extension with an empty value", POST_TE "2;a=\r\naa\r\n0\r\n\r\n", 400,
        CHUNK_SYNTAX),
    BAD("chunk extension without a semicolon", POST_TE "2 erfr\r\naa\r\n0\r\n\r\n", 400,
        CHUNK_SYNTAX),
    BAD("unterminated quoted chunk extension", POST_TE "5;a=\"abc\r\nhello\r\n0\r\n\r\n", 400,
        CHUNK_SYNTAX),
    BAD("text after a quoted chunk extension", POST_TE "1;a=\"x\"y\r\nz\r\n0\r\n\r\n", 400,
        CHUNK_SYNTAX),
    BAD("separator in a chunk extension name", POST_TE "1;a@b\r\nz\r\n0\r\n\r\n", 400,
        CHUNK_SYNTAX),
    BAD("two names in one chunk extension", POST_TE "1;a b\r\nz\r\n0\r\n\r\n", 400, CHUNK_SYNTAX),
    BAD("whitespace ending a chunk-size line", POST_TE "1;a \r\nz\r\n0\r\n\r\n", 400, CHUNK_SYNTAX),
    BAD("control character in a quoted chunk extension", POST_TE "1;a=\"\x01\"\r\nz\r\n0\r\n\r\n",
        400, CHUNK_EXT),
    BAD("NUL in a chunk extension", POST_TE "5;a\0\r\nhello\r\n0\r\n\r\n", 400, CHUNK_EXT),
    BAD("last chunk with a bare LF", POST_TE "0\n\r\n", 400, BARE_LF),
    BAD("trailers ended by a bare LF", POST_TE "0\r\n\n", 400, BARE_LF),
    BAD("folded trailer", POST_TE "0\r\nX: a\r\n b\r\n\r\n", 400, FOLD),
    BAD("trailer with a space before the colon", POST_TE "0\r\nX : a\r\n\r\n", 400, WS_COLON),
    BAD("trailer without a colon", POST_TE "0\r\nX\r\n\r\n", 400, NO_COLON),
    BAD("trailer with a control character", POST_TE "0\r\nX: \x01\r\n\r\n", 400, VALUE_CTL),
    BAD("body after the last chunk without trailers' end", POST_TE "0\r\nhello\r\n\r\n", 400,
        NO_COLON),

    /* ---- rejected: the kinds of invalid request in llhttp's test suite (test/request/
     * invalid.md, transfer-encoding.md), restated as our own cases ---- */
    BAD("a protocol other than HTTP", "GET /music ICE/1.0\r\nHost: h\r\n\r\n", 400, BAD_VERSION),
    BAD("RTSP", "PUT /music RTSP/1.0\r\nHost: h\r\n\r\n", 400, BAD_VERSION),
    BAD("a protocol that starts like HTTP", "GET / IHTTP/1.0\r\n\r\n", 400, BAD_VERSION),
    BAD("HTTP/5.6", "GET / HTTP/5.6\r\nHost: h\r\n\r\n", 400, BAD_VERSION),
    BAD("header lines separated by a lone CR", "GET /" H11 "Foo: 1\rBar: 2\r\n\r\n", 400, BARE_CR),
    BAD("empty value ended by a lone CR before TE",
        "POST /" H11 "x:\rTransfer-Encoding: chunked\r\n\r\n1\r\nA\r\n0\r\n\r\n", 400, BARE_CR),
    BAD("empty value ended by a bare LF before TE",
        "POST /" H11 "x:\nTransfer-Encoding: chunked\r\n\r\n1\r\nA\r\n0\r\n\r\n", 400, BARE_LF),
    BAD("CR and junk after the headers hiding a request",
        "GET /" H11 "Connection: close\r\n\rZGET /evil: HTTP/1.1\r\nHost: a\r\n\r\n", 400, BARE_CR),
    BAD("bare LF hiding a Content-Length",
        "GET /" H11 "Dummy: x\nContent-Length: 23\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400,
        BARE_LF),
    BAD("folded Content-Length", "POST /" H11 "Foo: bar\r\n Content-Length: 38\r\n\r\n", 400, FOLD),
    BAD("'@' in a header name", "GET /" H11 "Fo@: x\r\n\r\n", 400, NAME),
    BAD("control character in a header name", "GET /" H11 "Foo\x01test: x\r\n\r\n", 400, NAME),
    BAD("header name folded before its colon", "GET /" H11 "name\r\n : value\r\n\r\n", 400,
        NO_COLON),
    BAD("corrupted Connection header",
        "GET /" H11 "Connection\r\x1b\x35\xd5"
        "eep-Alive\r\n\r\n",
        400, NO_COLON),
    BAD("empty TE with a Content-Length",
        "POST /" H11 "Transfer-Encoding:\r\nContent-Length: 5\r\n\r\nhello", 400, TE_ONLY),
    BAD("TE chunkedchunked", "POST /" H11 "Transfer-Encoding: chunkedchunked\r\n\r\n", 400,
        TE_ONLY),
    BAD("TE deflate, chunked", "POST /" H11 "Transfer-Encoding: deflate, chunked\r\n\r\n", 400,
        TE_ONLY),
    BAD("TE continued on a folded line", "POST /" H11 "Transfer-Encoding: chunked\r\n  abc\r\n\r\n",
        400, FOLD),
    BAD("missing last chunk", POST_TE "3\r\nfoo\r\n\r\n", 400, CHUNK_START),
    BAD("whitespace and bare LF after a chunk size", POST_TE "3 \n  \r\nfoo\r\n0\r\n\r\n", 400,
        BARE_LF),
    BAD("CR CR after a chunk size", POST_TE "5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\n", 400, BARE_CR),
    BAD("chunk data run into the next size", POST_TE "5\r\nABCDE0\r\n\r\n", 400, DATA_END),

    /* ---- rejected: limits (LIM above) ---- */
    BAD("content-length over the limit", "POST /" H11 "Content-Length: 65\r\n\r\n", 413, BODY_BIG),
    BAD("nine headers",
        "GET /" H11 "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\n"
        "H: 8\r\n\r\n",
        431, TOO_MANY),
    BAD("nine trailers",
        POST_TE "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\n"
                "H: 8\r\nI: 9\r\n\r\n",
        431, TOO_MANY),
};

/* What came of feeding a request, in a form that can be compared between feeding modes. */
struct result {
    int rc; /* of the head parser */
    sq_http_error err;
    sq_http_request req;
    sq_http_header headers[16];
    const char *base; /* the buffer the slices point into */
    int body_rc;      /* of the body decoding; 0 for LENGTH and NONE */
    sq_http_error body_err;
    size_t consumed; /* body bytes used */
    char *decoded;   /* malloc'd */
    size_t decoded_len;
};

static void describe_slice(char *out, size_t cap, const char *base, sq_http_slice s)
{
    if (s.p == NULL)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%td+%zu", s.p - base, s.len);
}

/* A one-line text of everything in the result, with slices as offsets into the buffer. */
static void describe(const struct result *r, char *out, size_t cap)
{
    char s[8][32];
    const sq_http_request *q = &r->req;
    int n = snprintf(out, cap, "head rc=%d", r->rc);
    if (r->rc == SQ_ERR)
        n += snprintf(out + n, cap - (size_t)n, " %d \"%s\"", r->err.status, r->err.reason);
    if (r->rc != SQ_OK)
        return;
    const sq_http_slice sl[8] = {q->method, q->target,        q->path,         q->query,
                                 q->host,   q->authorization, q->content_type, {NULL, 0}};
    for (int i = 0; i < 7; i++)
        describe_slice(s[i], sizeof s[i], r->base, sl[i]);
    n += snprintf(out + n, cap - (size_t)n,
                  " len=%zu m=%s t=%s p=%s q=%s host=%s auth=%s ct=%s v=1.%d ka=%d ex=%d "
                  "body=%d cl=%llu",
                  q->head_len, s[0], s[1], s[2], s[3], s[4], s[5], s[6], q->minor_version,
                  q->keep_alive, q->expect_continue, (int)q->body,
                  (unsigned long long)q->content_length);
    for (size_t i = 0; i < q->header_count && (size_t)n < cap; i++) {
        describe_slice(s[0], sizeof s[0], r->base, q->headers[i].name);
        describe_slice(s[1], sizeof s[1], r->base, q->headers[i].value);
        n += snprintf(out + n, cap - (size_t)n, " [%s:%s]", s[0], s[1]);
    }
    if ((size_t)n >= cap)
        return;
    n += snprintf(out + n, cap - (size_t)n, " | body rc=%d", r->body_rc);
    if (r->body_rc == SQ_ERR)
        n += snprintf(out + n, cap - (size_t)n, " %d \"%s\"", r->body_err.status,
                      r->body_err.reason);
    n += snprintf(out + n, cap - (size_t)n, " used=%zu data=", r->consumed);
    for (size_t i = 0; i < r->decoded_len && (size_t)n + 4 < cap; i++)
        n += snprintf(out + n, cap - (size_t)n, "%02x", (unsigned char)r->decoded[i]);
}

/*
 * Feeds raw[0..n) to the head parser as prefixes ending at head_cuts[] (ascending, the last
 * is n), each a fresh guarded copy, so the buffer moves between calls as the contract
 * allows. Then decodes a chunked body in the pieces body_cuts[] (offsets from the body's
 * start, ascending, the last is the body's length), each piece a guarded copy, into a
 * separate buffer; or, with nbc == 0, in place in one piece. `g` keeps the last copy alive.
 */
static void feed(const char *raw, size_t n, const size_t *head_cuts, size_t nhc,
                 const size_t *body_cuts, size_t nbc, struct result *r, guarded *g)
{
    sq_http_parser p;
    memset(r, 0, sizeof *r);
    sq_http_parser_init(&p, &LIM, r->headers);
    r->rc = SQ_AGAIN;
    g->map = NULL;
    for (size_t i = 0; i < nhc && r->rc == SQ_AGAIN; i++) {
        if (g->map != NULL)
            guarded_free(g);
        const char *buf = guarded_copy(g, raw, head_cuts[i]);
        r->base = buf;
        r->rc = sq_http_parse_request(&p, buf, head_cuts[i], &r->req, &r->err);
    }
    if (r->rc != SQ_OK)
        return;

    size_t head = r->req.head_len, avail = n - head;
    r->decoded = malloc(avail + 1);
    assert_non_null(r->decoded);
    if (r->req.body == SQ_HTTP_BODY_LENGTH) {
        r->consumed = r->req.content_length <= avail ? (size_t)r->req.content_length : avail;
        r->body_rc = r->req.content_length <= avail ? SQ_OK : SQ_AGAIN;
        memcpy(r->decoded, raw + head, r->consumed);
        r->decoded_len = r->consumed;
        return;
    }
    if (r->req.body != SQ_HTTP_BODY_CHUNKED)
        return;

    sq_http_chunked d;
    sq_http_chunked_init(&d, &LIM);
    r->body_rc = SQ_AGAIN;
    if (nbc == 0) {
        /* In place: the decoded data lands where the raw body started. */
        guarded whole;
        char *buf = guarded_copy(&whole, raw, n);
        size_t used = 0, made = 0;
        r->body_rc =
            sq_http_chunked_decode(&d, buf + head, avail, buf + head, &used, &made, &r->body_err);
        r->consumed = used;
        r->decoded_len = made;
        memcpy(r->decoded, buf + head, made);
        guarded_free(&whole);
        return;
    }
    size_t from = 0;
    for (size_t i = 0; i < nbc && r->body_rc == SQ_AGAIN; i++) {
        guarded piece;
        const char *src = guarded_copy(&piece, raw + head + from, body_cuts[i] - from);
        size_t used = 0, made = 0;
        r->body_rc = sq_http_chunked_decode(
            &d, src, body_cuts[i] - from, r->decoded + r->decoded_len, &used, &made, &r->body_err);
        if (r->body_rc == SQ_AGAIN)
            assert_int_equal(used, body_cuts[i] - from);
        r->consumed += used;
        r->decoded_len += made;
        from = body_cuts[i];
        guarded_free(&piece);
    }
}

static void release(struct result *r, guarded *g)
{
    free(r->decoded);
    if (g->map != NULL)
        guarded_free(g);
}

/* Checks the whole-input result against the table. */
static void check_result(const struct req_case *c, const struct result *r)
{
    int rc = r->rc == SQ_OK ? r->body_rc : r->rc;
    const sq_http_error *err = r->rc == SQ_OK ? &r->body_err : &r->err;
    const sq_http_request *q = &r->req;

    if (c->status == -2 || c->status > 0) {
        if (c->status == -2 && rc != SQ_AGAIN)
            fail_msg("%s: expected incomplete, got rc %d", c->name, rc);
        if (c->status > 0) {
            if (rc != SQ_ERR)
                fail_msg("%s: expected %d, got rc %d", c->name, c->status, rc);
            if (err->status != c->status || strstr(err->reason, c->reason) == NULL)
                fail_msg("%s: expected %d \"%s\", got %d \"%s\"", c->name, c->status, c->reason,
                         err->status, err->reason);
        }
        return;
    }
    if (rc != SQ_OK)
        fail_msg("%s: expected success, got rc %d (%d %s)", c->name, rc, err->status,
                 rc == SQ_ERR ? err->reason : "");
#define SLICE_IS(s, want)                                                                          \
    do {                                                                                           \
        if ((want) != NULL && ((s).len != strlen(want) || memcmp((s).p, want, (s).len) != 0))      \
            fail_msg("%s: %s is \"%.*s\", expected \"%s\"", c->name, #s, (int)(s).len, (s).p,      \
                     (want));                                                                      \
    } while (0)
    SLICE_IS(q->method, c->method);
    SLICE_IS(q->path, c->path);
    SLICE_IS(q->query, c->query);
#undef SLICE_IS
    if (q->minor_version != (c->v10 ? 0 : 1))
        fail_msg("%s: minor version %d", c->name, q->minor_version);
    if (q->keep_alive == c->close)
        fail_msg("%s: keep_alive is %d", c->name, q->keep_alive);
    if (q->expect_continue != c->expect)
        fail_msg("%s: expect_continue is %d", c->name, q->expect_continue);
    if (q->body != c->kind)
        fail_msg("%s: body kind %d, expected %d", c->name, (int)q->body, (int)c->kind);
    if (c->headers != 0 && q->header_count != (size_t)c->headers)
        fail_msg("%s: %zu headers, expected %d", c->name, q->header_count, c->headers);
    size_t blen = c->body == NULL ? 0 : c->body_len ? c->body_len : strlen(c->body);
    if (r->decoded_len != blen || memcmp(r->decoded, c->body ? c->body : "", blen) != 0)
        fail_msg("%s: body \"%.*s\"", c->name, (int)r->decoded_len, r->decoded);
    if (q->head_len + r->consumed + c->rest != c->len)
        fail_msg("%s: the request used %zu + %zu bytes of %zu", c->name, q->head_len, r->consumed,
                 c->len);
    for (size_t i = 0; i < q->header_count; i++) {
        const sq_http_header *h = &q->headers[i];
        if (h->value.len > 0 && (h->value.p[0] == ' ' || h->value.p[h->value.len - 1] == '\t'))
            fail_msg("%s: header %zu value not trimmed", c->name, i);
    }
}

static void fail_differ(const char *name, const char *mode, size_t at, const char *want,
                        const char *got)
{
    fail_msg("%s: %s at %zu differs from whole input\n  whole: %s\n  %s: %s", name, mode, at, want,
             mode, got);
}

/* Runs one case whole, byte by byte, and split in two at every offset of the head and of
 * the body; all must describe the same outcome. */
static void run_case(const struct req_case *c)
{
    size_t n = c->len;
    static char want[4096], got[4096];
    size_t all = n, *cuts = malloc((n + 1) * sizeof *cuts);
    struct result r;
    guarded g;
    assert_non_null(cuts);

    feed(c->raw, n, &all, 1, NULL, 0, &r, &g);
    check_result(c, &r);
    describe(&r, want, sizeof want);
    size_t body_avail = r.rc == SQ_OK ? n - r.req.head_len : 0;
    bool chunked = r.rc == SQ_OK && r.req.body == SQ_HTTP_BODY_CHUNKED;
    release(&r, &g);

    /* Byte by byte: head prefixes 1..n, then the body one byte per call. */
    for (size_t i = 0; i < n; i++)
        cuts[i] = i + 1;
    size_t *body_bytes = cuts; /* body cuts 1..avail are the same numbers */
    feed(c->raw, n, cuts, n, body_bytes, body_avail, &r, &g);
    describe(&r, got, sizeof got);
    if (strcmp(want, got) != 0)
        fail_differ(c->name, "byte by byte", 0, want, got);
    release(&r, &g);

    for (size_t k = 1; k < n; k++) {
        size_t two[2] = {k, n};
        feed(c->raw, n, two, 2, NULL, 0, &r, &g);
        describe(&r, got, sizeof got);
        if (strcmp(want, got) != 0)
            fail_differ(c->name, "head split", k, want, got);
        release(&r, &g);
    }
    for (size_t k = 1; chunked && k < body_avail; k++) {
        size_t two[2] = {k, body_avail};
        feed(c->raw, n, &all, 1, two, 2, &r, &g);
        describe(&r, got, sizeof got);
        if (strcmp(want, got) != 0)
            fail_differ(c->name, "body split", k, want, got);
        release(&r, &g);
    }
    free(cuts);
}

static void test_request_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < SQ_ARRAY_LEN(cases); i++)
        run_case(&cases[i]);
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
    run_case(&c);
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

    /* Empty lines before the request line count towards its limit. */
    char raw[300];
    size_t n = 0;
    for (int i = 0; i < 60; i++) {
        raw[n++] = '\r';
        raw[n++] = '\n';
    }
    memcpy(raw + n, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 27);
    struct req_case c = {.name = "many empty lines",
                         .raw = raw,
                         .len = n + 27,
                         .status = 414,
                         .reason = TOO_LONG_LINE};
    run_case(&c);
    struct req_case ok = {.name = "a few empty lines", .raw = raw + 100, .len = n + 27 - 100};
    run_case(&ok);
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
        /* Whole and split at a few points only: 4 KiB of splits would be slow for nothing. */
        struct result r;
        guarded g;
        size_t all = n;
        feed(raw, n, &all, 1, NULL, 0, &r, &g);
        check_result(&c, &r);
        release(&r, &g);
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
        sq_http_parser_init(&p, &LIM, headers);
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
            sq_http_chunked_init(&d, &LIM);
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
    sq_http_parser_init(&p, &LIM, headers);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_table),    cmocka_unit_test(test_head_limits),
        cmocka_unit_test(test_chunk_line_limit), cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_header_find),      cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_query_iterator),   cmocka_unit_test(test_split_target),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
