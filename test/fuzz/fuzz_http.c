/* libFuzzer target for the HTTP parser: the input is a request fed whole and in two pieces
 * split at an offset taken from the input; both must give the same result, and so must the
 * chunked decoder on the body, in place and into a separate buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "sequin/http.h"

/* Small caps, so that the fuzzer reaches every limit with short inputs. */
static const sq_http_limits LIM = {
    .max_request_line_bytes = 200,
    .max_header_bytes = 600,
    .max_headers = 12,
    .max_body_bytes = 300,
};

/* A copy of exactly n bytes in its own allocation, so ASan catches a read past n. */
static char *copy(const uint8_t *data, size_t n)
{
    char *c = malloc(n ? n : 1);
    CHECK(c != NULL);
    memcpy(c, data, n);
    return c;
}

static size_t offset_of(sq_http_slice s, const char *base)
{
    return s.p == NULL ? SIZE_MAX : (size_t)(s.p - base);
}

static void same_slice(sq_http_slice a, const char *abase, sq_http_slice b, const char *bbase)
{
    CHECK(a.len == b.len && offset_of(a, abase) == offset_of(b, bbase));
}

static void inside(sq_http_slice s, const char *base, size_t head_len)
{
    CHECK(s.p == NULL || (s.p >= base && (size_t)(s.p - base) + s.len <= head_len));
}

static int parse(const char *buf, size_t len, sq_http_parser *p, sq_http_request *req,
                 sq_http_error *err)
{
    int rc = sq_http_parse_request(p, buf, len, req, err);
    CHECK(rc == SQ_OK || rc == SQ_ERR || rc == SQ_AGAIN);
    if (rc == SQ_ERR)
        CHECK(err->reason != NULL &&
              (err->status == 400 || err->status == 413 || err->status == 414 ||
               err->status == 431 || err->status == 501));
    return rc;
}

/* An absolute-form target: "http://" or "https://" (any case), the authority, which is the
 * host, then the path and the query; without a path, the path is the '/' before the host. */
static void absolute_form(const sq_http_request *q)
{
    const char *end = q->target.p + q->target.len, *after = q->host.p + q->host.len;
    size_t scheme = (size_t)(q->host.p - q->target.p);
    bool no_path = q->path.p == q->host.p - 1 && q->path.len == 1;

    CHECK(q->host.len > 0 && (scheme == 7 || scheme == 8) && after <= end);
    CHECK(strncasecmp(q->target.p, scheme == 7 ? "http://" : "https://", scheme) == 0);
    CHECK(memchr(q->host.p, '/', q->host.len) == NULL &&
          memchr(q->host.p, '?', q->host.len) == NULL);
    CHECK(no_path ? after == end || *after == '?' : q->path.p == after);
    const char *from = no_path ? after : q->path.p + q->path.len;
    CHECK((no_path ? 0 : q->path.len) + (q->query.p > from) + q->query.len ==
          (size_t)(end - after));
}

/* The router's helpers on the parsed target: memory-safe, in place equal to out of place. */
static void exercise_target(const sq_http_request *req)
{
    char out[256], in_place[256];
    size_t n1 = 0, n2 = 0;
    sq_http_slice path = req->path;
    if (path.len <= sizeof out) {
        memcpy(in_place, path.p, path.len);
        int r1 = sq_http_percent_decode(path.p, path.len, out, &n1);
        int r2 = sq_http_percent_decode(in_place, path.len, in_place, &n2);
        CHECK(r1 == r2);
        CHECK(r1 != SQ_OK || (n1 == n2 && n1 <= path.len && memcmp(out, in_place, n1) == 0));
        CHECK(r1 != SQ_OK || memchr(out, 0, n1) == NULL);
    }
    sq_http_slice q = req->query, name, value;
    while (sq_http_query_next(&q, &name, &value))
        CHECK(memchr(name.p, '&', name.len) == NULL && memchr(value.p, '&', value.len) == NULL);
    CHECK(q.len == 0);
}

/* Decodes the body whole in place and in two pieces into a separate buffer. */
static void decode_body(const uint8_t *body, size_t n, size_t cut)
{
    char *whole = copy(body, n);
    char *out = malloc(n ? n : 1);
    CHECK(out != NULL);
    sq_http_chunked d1, d2;
    sq_http_error e1, e2;
    size_t used1 = 0, made1 = 0, used2 = 0, made2 = 0;

    sq_http_chunked_init(&d1, &LIM);
    int r1 = sq_http_chunked_decode(&d1, whole, n, whole, &used1, &made1, &e1);
    CHECK(used1 <= n && made1 <= used1 && made1 <= LIM.max_body_bytes);
    CHECK(r1 != SQ_AGAIN || used1 == n);

    sq_http_chunked_init(&d2, &LIM);
    char *first = copy(body, cut);
    int r2 = sq_http_chunked_decode(&d2, first, cut, out, &used2, &made2, &e2);
    free(first);
    if (r2 == SQ_AGAIN) {
        CHECK(used2 == cut);
        char *second = copy(body + cut, n - cut);
        size_t u = 0, m = 0;
        r2 = sq_http_chunked_decode(&d2, second, n - cut, out + made2, &u, &m, &e2);
        free(second);
        used2 += u;
        made2 += m;
    }
    CHECK(r1 == r2);
    if (r1 == SQ_ERR)
        CHECK(e1.status == e2.status && e1.reason == e2.reason &&
              (e1.status == 400 || e1.status == 413 || e1.status == 431));
    CHECK(used1 == used2 && made1 == made2 && memcmp(whole, out, made1) == 0);
    free(out);
    free(whole);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cut = size ? ((size_t)data[0] * 131 + (size_t)data[size - 1] * 7) % (size + 1) : 0;
    sq_http_header h1[12], h2[12];
    sq_http_parser p1, p2;
    sq_http_request q1, q2;
    sq_http_error e1, e2;

    char *a = copy(data, size);
    sq_http_parser_init(&p1, &LIM, h1);
    int r1 = parse(a, size, &p1, &q1, &e1);

    char *b = copy(data, cut);
    sq_http_parser_init(&p2, &LIM, h2);
    int r2 = parse(b, cut, &p2, &q2, &e2);
    const char *bbase = b;
    if (r2 == SQ_AGAIN) {
        free(b);
        b = copy(data, size); /* the buffer moves, as a growing connection buffer may */
        bbase = b;
        r2 = parse(b, size, &p2, &q2, &e2);
    }

    CHECK(r1 == r2);
    if (r1 == SQ_ERR)
        CHECK(e1.status == e2.status && e1.reason == e2.reason);
    if (r1 == SQ_OK) {
        CHECK(q1.head_len == q2.head_len && q1.head_len <= size);
        CHECK(q1.head_len <= LIM.max_request_line_bytes + LIM.max_header_bytes + 4);
        CHECK(q1.header_count == q2.header_count && q1.header_count <= LIM.max_headers);
        CHECK(q1.minor_version == q2.minor_version);
        CHECK(q1.minor_version == 0 || q1.minor_version == 1);
        CHECK(q1.keep_alive == q2.keep_alive && q1.expect_continue == q2.expect_continue);
        CHECK(q1.body == q2.body && q1.content_length == q2.content_length);
        CHECK(q1.body != SQ_HTTP_BODY_LENGTH || q1.content_length <= LIM.max_body_bytes);
        CHECK(q1.method.len > 0 && q1.path.len > 0 && q1.path.p[0] == '/');
        if (q1.target.p[0] == '/') {
            CHECK(q1.path.p == q1.target.p);
            CHECK(q1.path.len + (q1.query.p > q1.path.p + q1.path.len) + q1.query.len ==
                  q1.target.len);
        } else {
            absolute_form(&q1);
        }
        const sq_http_slice s1[] = {q1.method, q1.target,        q1.path,        q1.query,
                                    q1.host,   q1.authorization, q1.content_type};
        const sq_http_slice s2[] = {q2.method, q2.target,        q2.path,        q2.query,
                                    q2.host,   q2.authorization, q2.content_type};
        for (size_t i = 0; i < sizeof s1 / sizeof s1[0]; i++) {
            same_slice(s1[i], a, s2[i], bbase);
            inside(s1[i], a, q1.head_len);
        }
        for (size_t i = 0; i < q1.header_count; i++) {
            same_slice(h1[i].name, a, h2[i].name, bbase);
            same_slice(h1[i].value, a, h2[i].value, bbase);
            inside(h1[i].name, a, q1.head_len);
            inside(h1[i].value, a, q1.head_len);
            CHECK(h1[i].name.len > 0);
        }
        /* The host comes from the Host header or the absolute form's authority; an accepted
         * Host value is empty or host[:port], so it holds no byte that ends an authority or
         * puts userinfo in it. */
        const sq_http_header *host = sq_http_header_find(&q1, "host");
        CHECK(host != NULL || q1.host.p == NULL || q1.target.p[0] != '/');
        for (size_t i = 0; host != NULL && i < host->value.len; i++)
            CHECK(memchr("/?#@ \t", host->value.p[i], 6) == NULL);
        exercise_target(&q1);
        if (q1.body == SQ_HTTP_BODY_CHUNKED) {
            size_t n = size - q1.head_len;
            decode_body(data + q1.head_len, n, n ? cut % (n + 1) : 0);
        }
    }
    free(b);
    free(a);
    return 0;
}
