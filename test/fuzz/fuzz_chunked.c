/* libFuzzer target for the chunked-body decoder on its own: any bytes, decoded whole in place,
 * byte by byte, and in three pieces at offsets taken from the input, must give one result,
 * and that result must be the one of a slow whole-input decoder written here from RFC 9112
 * section 7.1 without looking at http.c's state machine. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sequin/http.h"

/* Two sets of caps, picked by the input's first byte: small ones so that the fuzzer reaches
 * each limit with short inputs, and a body cap of 2^64-1 so that no size is too large. */
static const sq_http_limits SMALL = {
    .max_request_line_bytes = 100,
    .max_header_bytes = 80,
    .max_headers = 4,
    .max_body_bytes = 200,
};
static const sq_http_limits HUGE = {
    .max_request_line_bytes = 100,
    .max_header_bytes = 4000,
    .max_headers = 100,
    .max_body_bytes = UINT64_MAX,
};

/* What came of a body: the return code, the status of an error, the bytes used and made. */
struct outcome {
    int rc;
    int status;
    const char *reason; /* NULL for the reference decoder */
    size_t used;
    size_t made;
    char *data; /* malloc'd, room for the whole input */
};

/* ---- the reference: the grammar of RFC 9112 section 7.1, read over the whole input ---- */

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned hex_value(unsigned char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

static int is_token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && strchr("\"(),/:;<=>?@[\\]{}", c) == NULL;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static int is_qdtext(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Where a line scan stopped: at a byte that cannot belong there (BAD), at the end of the
 * input with the line still valid so far (SHORT), or at the line's CR (DONE). */
enum scan {
    BAD,
    SHORT,
    DONE
};

/*
 * chunk-size *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] ) CR, from
 * s[0]; *at is where the scan stopped. BWS before the CR is not in the grammar, so a line
 * cannot end after whitespace. A size is too large once it has more than 16 hex digits
 * after its leading zeros (it would not fit in 64 bits): that digit is BAD.
 */
static enum scan scan_size_line(const unsigned char *s, size_t n, size_t *at, uint64_t *size)
{
    size_t i = 0, significant = 0;
    uint64_t v = 0;
#define AT_END (i == n ? (*at = i, 1) : 0)
    if (AT_END)
        return SHORT;
    if (!is_hex(s[i]))
        return *at = i, BAD;
    for (; i < n && is_hex(s[i]); i++) {
        if (v != 0 || s[i] != '0')
            significant++;
        if (significant > 16)
            return *at = i, BAD;
        v = v * 16 + hex_value(s[i]);
    }
    *size = v;
    for (;;) {
        size_t before_ws = i;
        while (i < n && is_space(s[i]))
            i++;
        if (AT_END)
            return SHORT;
        if (s[i] == '\r' && i == before_ws)
            return *at = i, DONE;
        if (s[i] != ';')
            return *at = i, BAD;
        i++;
        while (i < n && is_space(s[i]))
            i++;
        if (AT_END)
            return SHORT;
        if (!is_token_char(s[i]))
            return *at = i, BAD;
        while (i < n && is_token_char(s[i]))
            i++;
        size_t after_name = i;
        while (i < n && is_space(s[i]))
            i++;
        if (AT_END)
            return SHORT;
        if (s[i] != '=') {
            i = after_name; /* the whitespace belongs to the next round's BWS */
            continue;
        }
        i++;
        while (i < n && is_space(s[i]))
            i++;
        if (AT_END)
            return SHORT;
        if (is_token_char(s[i])) {
            while (i < n && is_token_char(s[i]))
                i++;
            continue;
        }
        if (s[i] != '"')
            return *at = i, BAD;
        for (i++;; i++) {
            if (AT_END)
                return SHORT;
            if (s[i] == '"')
                break;
            if (s[i] == '\\') {
                i++;
                if (AT_END)
                    return SHORT;
            }
            if (!is_qdtext(s[i]))
                return *at = i, BAD;
        }
        i++;
    }
#undef AT_END
}

/* field-name ":" field-value CRLF, a trailer line, from s[0]; on DONE *at is its LF. */
static enum scan scan_field_line(const unsigned char *s, size_t n, size_t *at)
{
    size_t i = 0;
    while (i < n && is_token_char(s[i]))
        i++;
    if (i == n)
        return *at = i, SHORT;
    if (i == 0 || s[i] != ':')
        return *at = i, BAD;
    for (i++; i < n && (s[i] == '\t' || (s[i] >= 0x20 && s[i] != 0x7f)); i++)
        continue;
    if (i == n)
        return *at = i, SHORT;
    if (s[i] != '\r')
        return *at = i, BAD;
    if (++i == n)
        return *at = i, SHORT;
    if (s[i] != '\n')
        return *at = i, BAD;
    return *at = i, DONE;
}

static int ref_fail(struct outcome *o, int status, size_t at)
{
    o->rc = SQ_ERR;
    o->status = status;
    o->used = at;
    return SQ_ERR;
}

/* The input ended with the body still valid so far: all of it was used. */
static int ref_short(struct outcome *o, size_t n)
{
    o->rc = SQ_AGAIN;
    o->used = n;
    return SQ_AGAIN;
}

/*
 * Decodes a whole body the slow way. The decoder under test answers on the first byte that
 * settles the matter, so the reference does too: a line that is invalid so far is an error
 * even if the input ends inside it, and a limit is an error at the byte that goes over it.
 */
static int ref_decode(const unsigned char *s, size_t n, const sq_http_limits *lim,
                      struct outcome *o)
{
    size_t i = 0, at = 0;
    uint64_t total = 0;
    memset(o, 0, sizeof *o);
    o->data = malloc(n + 1);
    CHECK(o->data != NULL);

    for (;;) {
        uint64_t size = 0;
        enum scan r = scan_size_line(s + i, n - i, &at, &size);
        /* Bytes before the CR count towards the line cap; the CR itself does not. */
        if (at > SQ_HTTP_CHUNK_LINE_MAX)
            return ref_fail(o, 400, i + SQ_HTTP_CHUNK_LINE_MAX);
        if (r == BAD)
            return ref_fail(o, 400, i + at);
        if (r == SHORT)
            return ref_short(o, n);
        i += at + 1;
        if (i == n)
            return ref_short(o, n);
        if (s[i] != '\n')
            return ref_fail(o, 400, i);
        i++;
        if (size == 0)
            break;
        if (size > lim->max_body_bytes || total > lim->max_body_bytes - size)
            return ref_fail(o, 413, i - 1);
        total += size;
        size_t have = n - i < size ? n - i : (size_t)size;
        memcpy(o->data + o->made, s + i, have);
        o->made += have;
        i += have;
        if (have < size || i == n)
            return ref_short(o, n);
        if (s[i] != '\r')
            return ref_fail(o, 400, i);
        if (++i == n)
            return ref_short(o, n);
        if (s[i] != '\n')
            return ref_fail(o, 400, i);
        i++;
    }

    /* Trailer lines, then the empty line. The caps count every byte of a non-empty line,
     * CRLF included, and are checked before the byte itself. */
    size_t lines = 0, bytes = 0;
    for (;;) {
        if (i == n)
            return ref_short(o, n);
        if (s[i] == '\r') {
            if (i + 1 == n)
                return ref_short(o, n);
            if (s[i + 1] != '\n')
                return ref_fail(o, 400, i + 1);
            o->rc = SQ_OK;
            o->used = i + 2;
            return SQ_OK;
        }
        if (lines == lim->max_headers)
            return ref_fail(o, 431, i);
        lines++;
        enum scan r = scan_field_line(s + i, n - i, &at);
        /* The scan looked at bytes 0..at (at == n - i when it ran out). */
        size_t room = lim->max_header_bytes - bytes;
        if (room <= at && (r != SHORT || room < n - i))
            return ref_fail(o, 431, i + room);
        if (r == BAD)
            return ref_fail(o, 400, i + at);
        if (r == SHORT)
            return ref_short(o, n);
        bytes += at + 1;
        i += at + 1;
    }
}

/* ---- the decoder under test, fed three ways ---- */

static char *copy(const uint8_t *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    CHECK(c != NULL);
    memcpy(c, p, n);
    return c;
}

static void start(struct outcome *o, size_t n)
{
    memset(o, 0, sizeof *o);
    o->rc = SQ_AGAIN;
    o->data = malloc(n + 1);
    CHECK(o->data != NULL);
}

/* One call's result folded into the outcome; checks the contract of a single call. */
static void step(struct outcome *o, int rc, size_t len, size_t used, size_t made,
                 const sq_http_error *err)
{
    CHECK(rc == SQ_OK || rc == SQ_ERR || rc == SQ_AGAIN);
    CHECK(used <= len && made <= used);
    CHECK(rc != SQ_AGAIN || used == len);
    if (rc == SQ_ERR) {
        CHECK(err->status == 400 || err->status == 413 || err->status == 431);
        CHECK(err->reason != NULL && err->reason[0] != '\0');
        o->status = err->status;
        o->reason = err->reason;
    }
    o->rc = rc;
    o->used += used;
    o->made += made;
}

/* The whole input in one call, decoded where it lies (dst == src). */
static void whole_in_place(const uint8_t *body, size_t n, const sq_http_limits *lim,
                           struct outcome *o)
{
    sq_http_chunked d;
    sq_http_error err;
    size_t used = 0, made = 0;
    char *buf = copy(body, n);
    start(o, n);
    sq_http_chunked_init(&d, lim);
    int rc = sq_http_chunked_decode(&d, buf, n, buf, &used, &made, &err);
    step(o, rc, n, used, made, &err);
    memcpy(o->data, buf, made);
    free(buf);
}

/* One byte per call, each in its own allocation, into a separate buffer. */
static void byte_by_byte(const uint8_t *body, size_t n, const sq_http_limits *lim,
                         struct outcome *o)
{
    sq_http_chunked d;
    sq_http_error err;
    start(o, n);
    sq_http_chunked_init(&d, lim);
    for (size_t i = 0; i < n && o->rc == SQ_AGAIN; i++) {
        size_t used = 0, made = 0;
        char *b = copy(body + i, 1);
        int rc = sq_http_chunked_decode(&d, b, 1, o->data + o->made, &used, &made, &err);
        free(b);
        step(o, rc, 1, used, made, &err);
    }
}

/*
 * Three pieces, as a connection receives them: the buffer keeps the decoded bytes, each
 * new piece is appended `gap` bytes after them, and decoded into place right after the
 * decoded bytes (dst before src in the same buffer, as the contract allows).
 */
static void pieces(const uint8_t *body, size_t n, const size_t cut[2], size_t gap,
                   const sq_http_limits *lim, struct outcome *o)
{
    sq_http_chunked d;
    sq_http_error err;
    size_t from[3] = {0, cut[0], cut[1]}, to[3] = {cut[0], cut[1], n};
    start(o, n);
    sq_http_chunked_init(&d, lim);
    for (int k = 0; k < 3 && o->rc == SQ_AGAIN; k++) {
        size_t len = to[k] - from[k], used = 0, made = 0;
        /* Exactly the bytes in use, so ASan sees a read or a write past them. */
        char *buf = malloc(o->made + gap + len + 1);
        CHECK(buf != NULL);
        memcpy(buf, o->data, o->made);
        memset(buf + o->made, '#', gap);
        memcpy(buf + o->made + gap, body + from[k], len);
        char *shrunk = realloc(buf, o->made + gap + len ? o->made + gap + len : 1);
        CHECK(shrunk != NULL);
        buf = shrunk;
        int rc =
            sq_http_chunked_decode(&d, buf + o->made + gap, len, buf + o->made, &used, &made, &err);
        memcpy(o->data + o->made, buf + o->made, made);
        free(buf);
        step(o, rc, len, used, made, &err); /* o->used: an offset into the whole body */
    }
}

static void same(const struct outcome *a, const struct outcome *b)
{
    CHECK(a->rc == b->rc);
    CHECK(a->used == b->used);
    CHECK(a->made == b->made && memcmp(a->data, b->data, a->made) == 0);
    if (a->rc == SQ_ERR) {
        CHECK(a->status == b->status);
        CHECK(a->reason == NULL || b->reason == NULL || a->reason == b->reason);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Byte 0: the caps and the gap; byte 1 with byte 0: the cut points; the rest: the body. */
    if (size < 2)
        return 0;
    const sq_http_limits *lim = data[0] & 1 ? &HUGE : &SMALL;
    size_t gap = (data[0] >> 1) & 7;
    const uint8_t *body = data + 2;
    size_t n = size - 2;
    size_t cut[2] = {((size_t)data[0] * 257 + data[1]) % (n + 1), (size_t)data[1] * 7 % (n + 1)};
    if (cut[0] > cut[1]) {
        size_t t = cut[0];
        cut[0] = cut[1];
        cut[1] = t;
    }

    struct outcome want, a, b, c;
    ref_decode(body, n, lim, &want);
    whole_in_place(body, n, lim, &a);
    byte_by_byte(body, n, lim, &b);
    pieces(body, n, cut, gap, lim, &c);
    same(&want, &a);
    same(&a, &b);
    same(&a, &c);
    CHECK(a.made <= lim->max_body_bytes);
    free(want.data);
    free(a.data);
    free(b.data);
    free(c.data);
    return 0;
}
