/* The server's HTTP/1.x request parser (request line and headers), chunked-body decoder, the
 * target helpers the router needs (path/query split, percent-decoding, query iteration), and
 * the reason phrases of the statuses it answers. */
#ifndef SEQUIN_HTTP_H
#define SEQUIN_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sequin/common.h"

/*
 * How this module treats the points RFC 9112 leaves open (the tests pin each one down):
 *
 * - Every line ends with CRLF. A bare LF or a CR not followed by LF is a 400, in the head, in
 *   chunk-size lines and in trailers: lenient line endings are how request smuggling starts.
 * - Only "HTTP/1.0" and "HTTP/1.1" are accepted; any other version, well-formed or not, is a
 *   400 (not 505: SPEC section 4 says bad input never gets a 5xx).
 * - The request target is the origin form ("/path?query") or the absolute form
 *   ("http://host:port/path?query", scheme http or https in any case, no userinfo; RFC 9112
 *   section 3.2.2 says a server must accept it); not the authority form nor "*". It may hold
 *   any visible ASCII byte (0x21-0x7E), because curl sends characters such as '>' unescaped.
 * - Up to SQ_HTTP_EMPTY_LINES_MAX empty lines (CRLF) before the request line are skipped
 *   (RFC 9112 section 2.2), so also between pipelined requests; one more is a 400. They
 *   count towards the request-line limit.
 * - Repeated Content-Length headers with the same value are accepted as one; differing
 *   values are a 400. Transfer-Encoding (all its lines as one list) must name chunked last
 *   and once, else it is a 400 (RFC 9112 section 6.3: the body has no known end); a coding
 *   before chunked ("gzip, chunked") is a 501, the one coding we do not implement being
 *   valid input (section 6.1). Transfer-Encoding is a 400 in an HTTP/1.0 request and
 *   together with Content-Length.
 * - An HTTP/1.1 request needs exactly one Host header; Host, Authorization and Content-Type
 *   may each appear at most once (a second copy is ambiguous, so it is a 400). A Host value
 *   is empty or host[:port], checked like the absolute form's authority, else it is a 400
 *   (RFC 9112 section 3.2), in HTTP/1.0 too. With an absolute-form target the Host header is
 *   still required and checked but its value is ignored: the target's authority is the host
 *   (RFC 9112 section 3.2.2), whatever the header says.
 * - "Expect: 100-continue" is reported for HTTP/1.1 only (RFC 9110 says to ignore it in
 *   1.0); other expectations are ignored.
 *
 * After any -1 from the parser or the chunked decoder the caller answers `status` with
 * `Connection: close` and closes the connection: the end of the broken request is unknown,
 * so nothing after it on the connection can be trusted.
 */

/* A run of bytes inside the caller's buffer; not NUL-terminated. Empty slices may have any
 * `p` (NULL for a field that is absent). */
typedef struct sq_http_slice {
    const char *p;
    size_t len;
} sq_http_slice;

typedef struct sq_http_header {
    sq_http_slice name;  /* as sent; compare case-insensitively */
    sq_http_slice value; /* without leading and trailing spaces and tabs */
} sq_http_header;

/* The caps (from the config's `limits`). Each check fires on the first byte over it, so a
 * caller never buffers more than max_request_line_bytes + max_header_bytes + 5 bytes of a
 * head before the parser has answered. */
typedef struct sq_http_limits {
    size_t max_request_line_bytes; /* request line without its CRLF; longer: 414 */
    size_t max_header_bytes;       /* header lines with their CRLFs; more: 431 */
    size_t max_headers;            /* header lines; more: 431 */
    uint64_t max_body_bytes;       /* body after chunked decoding; larger: 413 */
} sq_http_limits;

/* Why a request was rejected: the status to answer and a static sentence for the response's
 * "summary" (valid forever). */
typedef struct sq_http_error {
    int status; /* 400, 413, 414, 431 or 501 */
    const char *reason;
} sq_http_error;

typedef enum sq_http_body {
    SQ_HTTP_BODY_NONE,    /* no Content-Length, no Transfer-Encoding: the body is empty */
    SQ_HTTP_BODY_LENGTH,  /* content_length bytes follow the head */
    SQ_HTTP_BODY_CHUNKED, /* decode what follows the head with sq_http_chunked_decode */
} sq_http_body;

/* A parsed request head. Every slice points into the buffer given to sq_http_parse_request
 * and is valid as long as those bytes stay where they are. */
typedef struct sq_http_request {
    sq_http_slice method;    /* a token, case-sensitive ("GET") */
    sq_http_slice target;    /* as sent: "/api/streams?limit=5" or "http://h/api/streams" */
    sq_http_slice path;      /* of the target, before the first '?', still percent-encoded;
                                "/" for an absolute form without a path */
    sq_http_slice query;     /* after the first '?' (without it); empty if there is none */
    int minor_version;       /* 0 or 1 */
    sq_http_header *headers; /* every header line in order: the array given to the parser */
    size_t header_count;
    sq_http_slice host; /* the headers the server uses; {NULL, 0} when absent. host is the
                           authority instead for an absolute-form target */
    sq_http_slice authorization;
    sq_http_slice content_type;
    sq_http_body body;
    uint64_t content_length; /* SQ_HTTP_BODY_LENGTH only, at most max_body_bytes */
    bool keep_alive;         /* 1.1 unless "Connection: close"; 1.0 only with "keep-alive" */
    bool expect_continue;    /* "Expect: 100-continue": send "100 Continue" before reading */
    size_t head_len;         /* bytes of the head including its empty line: the body starts here */
} sq_http_request;

/* The parser's position in a head; its fields are private. */
typedef struct sq_http_parser {
    const sq_http_limits *lim;
    sq_http_header *headers;
    size_t pos;                /* bytes scanned so far */
    size_t line_bytes;         /* request line so far */
    size_t field_bytes;        /* header lines so far */
    size_t field_count;        /* header lines started so far */
    unsigned char state;       /* where the next byte goes */
    unsigned char index;       /* position inside "HTTP/1." */
    unsigned char empty_lines; /* before the request line */
} sq_http_parser;

/* The most empty lines skipped before a request line. RFC 9112 section 2.2 asks a server to
 * ignore "at least one"; a client sends one at most (an old client's CRLF after a POST body),
 * and Apache httpd skips 10 by default. More is no client's doing, so it is a 400. */
#define SQ_HTTP_EMPTY_LINES_MAX 10

/*
 * Prepares `p` for one request. `lim` and `headers` are kept (not copied) and must outlive
 * the parse; `headers` has room for lim->max_headers entries. Call it again before the next
 * request on the connection.
 */
void sq_http_parser_init(sq_http_parser *p, const sq_http_limits *lim, sq_http_header *headers);

/*
 * Parses the head of a request from `buf`, which holds the `len` bytes received so far for
 * this request, starting with its first byte. Resumable: call again with the same bytes plus
 * more (the buffer may have moved, `len` never shrinks); each call scans only the new bytes,
 * so feeding a head byte by byte costs O(length). Bytes after the head are never read.
 *
 * Returns 0 when the head is complete: `req` is filled and the next req->head_len bytes of
 * `buf` were the head. Returns -2 if the bytes so far are a valid beginning (`req` untouched).
 * Returns -1 on an invalid or too large head, with `err` filled (see the contract on
 * closing above); `req` is unspecified then. Do not call again after 0 or -1 without
 * sq_http_parser_init. A split anywhere gives the same result as the whole input at once.
 */
SQ_WUR int sq_http_parse_request(sq_http_parser *p, const char *buf, size_t len,
                                 sq_http_request *req, sq_http_error *err);

/* The first header called `name` (compared case-insensitively), or NULL. */
const sq_http_header *sq_http_header_find(const sq_http_request *req, const char *name);

/* The chunked decoder's position in a body; its fields are private. */
typedef struct sq_http_chunked {
    const sq_http_limits *lim;
    uint64_t total;      /* decoded bytes so far */
    uint64_t left;       /* of the current chunk's size, or its size while it is read */
    size_t line_bytes;   /* of the current chunk-size line */
    size_t field_bytes;  /* trailer lines so far */
    size_t field_count;  /* trailer lines so far */
    unsigned char state; /* where the next byte goes */
} sq_http_chunked;

/* The longest chunk-size line, extensions included, without its CRLF; longer is a 400. */
#define SQ_HTTP_CHUNK_LINE_MAX 4096

/* Prepares `d` for one chunked body; `lim` is kept and must outlive the decoding. */
void sq_http_chunked_init(sq_http_chunked *d, const sq_http_limits *lim);

/*
 * Decodes the next `len` raw bytes `src` of a chunked body, writing the chunk data to `dst`.
 * `dst` needs room for `len` bytes; it may be `src` itself or any address before it in the
 * same buffer (the data never overtakes the input), so a body can be decoded in place.
 * Resumable at any byte: call again with the bytes that follow, and `dst` advanced by what
 * was produced. Chunk extensions are checked against RFC 9112 and skipped; trailers
 * are checked like header lines, bounded by max_headers and max_header_bytes, and skipped.
 *
 * Returns 0 when the body ended (after the trailers' empty line): *consumed is how many bytes
 * of `src` belonged to it (the next pipelined request starts at src + *consumed), *produced
 * how many bytes were written to `dst`. Returns -2 after using all of `src` (*consumed is
 * `len`) when the body goes on. Returns -1 with `err` filled on a malformed body (400) or a
 * body over max_body_bytes (413, as soon as a chunk size announces it); close the
 * connection then.
 */
SQ_WUR int sq_http_chunked_decode(sq_http_chunked *d, const char *src, size_t len, char *dst,
                                  size_t *consumed, size_t *produced, sq_http_error *err);

/* Splits a request target at its first '?' into the path and the query (without the '?';
 * empty when there is none). Both are slices of `target`. */
void sq_http_split_target(sq_http_slice target, sq_http_slice *path, sq_http_slice *query);

/*
 * Decodes %XX escapes (either case of hex) of the `len` bytes at `in` into `out`, which has
 * room for `len` bytes and may be `in` itself; sets *out_len. '+' stays '+' (spaces must
 * come as %20: a key may contain '+'). Decode a path segment after splitting the path on '/'
 * so that %2F stays inside its segment. Returns 0, or -1 on a '%' not followed by two hex
 * digits or on %00 (`out` then holds garbage).
 */
SQ_WUR int sq_http_percent_decode(const char *in, size_t len, char *out, size_t *out_len);

/*
 * Takes the next parameter off the front of `*query` (a query string without its '?'):
 * returns true with `name` and `value` set to slices of it, still percent-encoded ("a" with
 * no '=' gives an empty value), or false when no parameter is left. Empty parameters (as
 * in "a=1&&b=2") are skipped.
 */
bool sq_http_query_next(sq_http_slice *query, sq_http_slice *name, sq_http_slice *value);

/*
 * The reason phrase of RFC 9110 for `status` ("Not Found" for 404), for a status line. Covers
 * every status sequind answers with a response: those its metrics count and the parser's
 * errors (tested); for any other status it returns "" (RFC 9112 section 4 allows an empty
 * reason phrase, and clients must not rely on it). Never NULL; the string is static.
 */
const char *sq_http_status_text(int status);

#endif
