/* What test_http.c and test_http_body.c share: a case holding a raw request and what must come
 * of it, read from a case file, and the runner that feeds it whole, byte by byte and split at
 * every offset, each piece ending at a guard page, and requires the same outcome from all. */
#ifndef SEQUIN_TEST_HTTP_CASES_H
#define SEQUIN_TEST_HTTP_CASES_H

#include <stdbool.h>
#include <stddef.h>

#include "sequin/http.h"

/* The reasons, spelled out here so that a changed message is noticed. */
#define BARE_LF "lines must end with CRLF, not a bare LF"
#define BARE_CR "a CR must be followed by LF"
#define BAD_VERSION "the HTTP version must be HTTP/1.0 or HTTP/1.1"
#define START "a request must start with a method token"
#define METHOD "the method must be a token followed by one space"
#define SLASH "the request target must be a path starting with '/' or an absolute http or https URI"
#define AUTHORITY "the authority of an absolute request target must be host[:port]"
#define EMPTY_LINES "too many empty lines before the request line"
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
#define TE_SYNTAX "Transfer-Encoding must be a list of transfer coding names"
#define TE_LAST "chunked must be the last Transfer-Encoding, and appear once"
#define TE_OTHER "no transfer coding other than chunked is implemented"
#define CL_AND_TE "a request must not have both Content-Length and Transfer-Encoding"
#define TE_10 "Transfer-Encoding is not allowed in an HTTP/1.0 request"
#define NO_HOST "an HTTP/1.1 request must have a Host header"
#define TWO_HOSTS "the request has more than one Host header"
#define HOST "the Host header must be host[:port]"
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
extern const sq_http_limits HTTP_CASE_LIM;

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
    const char *host;   /* NULL: not checked */
    bool v10;           /* HTTP/1.0 */
    bool close;         /* keep_alive must be false */
    bool expect;        /* expect_continue must be true */
    sq_http_body kind;
    const char *body; /* the decoded body; NULL: empty */
    size_t body_len;  /* 0: strlen(body) */
    int headers;      /* header count; 0: not checked */
    size_t rest;      /* bytes after the request (the next pipelined one) */
};

#define POST_TE "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"

/* Runs one case whole, byte by byte, and split in two at every offset of the head and of the
 * body; all must describe the same outcome, and the whole input the one the case wants. */
void http_case_run(const struct req_case *c);

/*
 * http_case_run on each case of test/unit/cases/NAME (case_file.h), a record each:
 * "STATUS [REASON] NAME RAW [OPTION...]". STATUS is the case's status; REASON, for a refusal,
 * names one of the phrases above (BARE_LF for BARE_LF's). The OPTIONs of an accepted request
 * set the other fields: method=, path=, query=, host= (a slice, exactly), v10, close, expect,
 * kind=length or kind=chunked, body= (its length is the word's), headers=N, rest=N. A failure
 * names the record's line. Returns the number of cases.
 */
size_t http_case_run_file(const char *name);

/* Runs one case on the whole input only (for inputs too long to split at every offset). */
void http_case_run_whole(const struct req_case *c);

#endif
