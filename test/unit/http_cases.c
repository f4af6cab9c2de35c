/* The runner of the HTTP parser's table-driven tests and their case files (http_cases.h). */
#include "http_cases.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "case_file.h"
#include "guard.h"

const sq_http_limits HTTP_CASE_LIM = {
    .max_request_line_bytes = 128,
    .max_header_bytes = 256,
    .max_headers = 8,
    .max_body_bytes = 64,
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
    sq_http_parser_init(&p, &HTTP_CASE_LIM, r->headers);
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
    sq_http_chunked_init(&d, &HTTP_CASE_LIM);
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
    SLICE_IS(q->host, c->host);
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

void http_case_run(const struct req_case *c)
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

/* The reasons a case file names, each by the name of its macro. */
#define REASON(name)                                                                               \
    {                                                                                              \
#name, name                                                                                \
    }
static const case_name reasons[] = {
    REASON(BARE_LF),     REASON(BARE_CR),       REASON(BAD_VERSION), REASON(START),
    REASON(METHOD),      REASON(SLASH),         REASON(AUTHORITY),   REASON(EMPTY_LINES),
    REASON(TARGET),      REASON(TOO_LONG_LINE), REASON(TOO_MANY),    REASON(TOO_BIG_FIELDS),
    REASON(FOLD),        REASON(NAME),          REASON(WS_COLON),    REASON(NO_COLON),
    REASON(VALUE_CTL),   REASON(CL_DIGITS),     REASON(CL_BIG),      REASON(CL_CONFLICT),
    REASON(TE_SYNTAX),   REASON(TE_LAST),       REASON(TE_OTHER),    REASON(CL_AND_TE),
    REASON(TE_10),       REASON(NO_HOST),       REASON(TWO_HOSTS),   REASON(HOST),
    REASON(TWO_AUTHS),   REASON(TWO_CTYPES),    REASON(BODY_BIG),    REASON(DATA_END),
    REASON(CHUNK_START), REASON(CHUNK_HEX),     REASON(CHUNK_BIG),   REASON(CHUNK_SYNTAX),
    REASON(CHUNK_EXT),   REASON(CHUNK_LINE),
};
#undef REASON

/* `*s` is "KEY=VALUE" for this key: points `*s` at the value. */
static bool option(const char **s, const char *key)
{
    size_t n = strlen(key);
    if (strncmp(*s, key, n) != 0 || (*s)[n] != '=')
        return false;
    *s += n + 1;
    return true;
}

/* Word `i` of `r` after its "KEY=", as a count. */
static int option_count(const case_row *r, size_t i, const char *value)
{
    char *end;
    long v = strtol(value, &end, 10);
    if (*value == '\0' || *end != '\0' || v < 0 || v > 1000000)
        fail_msg("%s: \"%s\" is not a count", r->where, r->w[i].p);
    return (int)v;
}

/* Row `r` of a case file as a case; its name in `label` says where the row is. */
static struct req_case case_of(const case_row *r, char *label, size_t size)
{
    struct req_case c = {.status = (int)case_long(r, 0)};
    size_t i = 1;
    if (c.status > 0)
        c.reason = case_phrase(r, i++, reasons, SQ_ARRAY_LEN(reasons));
    if (r->n < i + 2)
        fail_msg("%s: a row is STATUS [REASON] NAME RAW [OPTION...]", r->where);
    snprintf(label, size, "%s: %s", r->where, r->w[i++].p);
    c.name = label;
    c.raw = r->w[i].p;
    c.len = r->w[i++].len;
    for (; i < r->n; i++) {
        const char *v = r->w[i].p;
        if (option(&v, "method"))
            c.method = v;
        else if (option(&v, "path"))
            c.path = v;
        else if (option(&v, "query"))
            c.query = v;
        else if (option(&v, "host"))
            c.host = v;
        else if (option(&v, "body")) {
            c.body = v;
            c.body_len = r->w[i].len - (size_t)(v - r->w[i].p);
        } else if (option(&v, "headers"))
            c.headers = option_count(r, i, v);
        else if (option(&v, "rest"))
            c.rest = (size_t)option_count(r, i, v);
        else if (strcmp(v, "kind=length") == 0)
            c.kind = SQ_HTTP_BODY_LENGTH;
        else if (strcmp(v, "kind=chunked") == 0)
            c.kind = SQ_HTTP_BODY_CHUNKED;
        else if (strcmp(v, "v10") == 0)
            c.v10 = true;
        else if (strcmp(v, "close") == 0)
            c.close = true;
        else if (strcmp(v, "expect") == 0)
            c.expect = true;
        else
            fail_msg("%s: unknown option \"%s\"", r->where, v);
    }
    return c;
}

static bool run_row(const case_row *r, void *ctx)
{
    (void)ctx;
    char label[256];
    struct req_case c = case_of(r, label, sizeof label);
    http_case_run(&c);
    return true;
}

size_t http_case_run_file(const char *name)
{
    return case_file_each(name, NULL, 0, run_row, NULL);
}

void http_case_run_whole(const struct req_case *c)
{
    struct result r;
    guarded g;
    size_t all = c->len;
    feed(c->raw, c->len, &all, 1, NULL, 0, &r, &g);
    check_result(c, &r);
    release(&r, &g);
}
