/* The invalid requests of two well-known HTTP/1.1 parsers' test suites (llhttp's
 * test/request/ files and nodejs/http-parser's test.c), restated in our own words as one case
 * file (cases/http_conformance.txt):
 * request smuggling, bad chunking, bad versions, bad header syntax, bad request lines and the
 * limits. Each must get a 4xx (or a 501 for a transfer coding we do not implement, RFC 9112
 * section 6.1), from the head parser, the chunked decoder or (for a method the
 * suites do not know) the router, whatever the pieces the bytes arrive in.
 * docs/reliability.md ("HTTP conformance") says where and why we differ from the suites. */
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
#include "sequin/http.h"
#include "sequin/router.h"

/* Small caps, so that the limit cases stay short. */
static const sq_http_limits LIM = {
    .max_request_line_bytes = 64,
    .max_header_bytes = 256,
    .max_headers = 8,
    .max_body_bytes = 64,
};

/* Which layer must refuse the request. */
enum layer {
    HEAD,   /* sq_http_parse_request */
    BODY,   /* sq_http_chunked_decode, after a head that parsed */
    ROUTER, /* sq_router_match, after a head (and body) that parsed */
};

/* A row of the case file: STATUS LAYER WHAT RAW FROM. */
struct conf_case {
    const char *where; /* the row's file and line */
    const char *what;  /* our description */
    const char *raw;
    size_t len;
    int status; /* 0: accepted by every layer */
    enum layer layer;
    const char *from; /* the suite's case: "llhttp FILE 'TITLE'" or "http-parser test.c ..." */
};

static struct conf_case conf_case_of(const case_row *r)
{
    static const char *const layers[] = {[HEAD] = "head", [BODY] = "body", [ROUTER] = "router"};
    size_t l = 0;
    case_words(r, 5, 5);
    while (l < SQ_ARRAY_LEN(layers) && strcmp(layers[l], r->w[1].p) != 0)
        l++;
    if (l == SQ_ARRAY_LEN(layers))
        fail_msg("%s: the layer is head, body or router, not \"%s\"", r->where, r->w[1].p);
    return (struct conf_case){.where = r->where,
                              .what = r->w[2].p,
                              .raw = r->w[3].p,
                              .len = r->w[3].len,
                              .status = (int)case_long(r, 0),
                              .layer = (enum layer)l,
                              .from = r->w[4].p};
}

/* What came of one request: the layer that answered and its status (0: all accepted). */
struct answer {
    enum layer layer;
    int status;
    const char *reason;
};

/*
 * Feeds `raw` in the pieces that end at cuts[0..n) (ascending, the last is len), as a
 * connection would receive them: the head parser sees growing prefixes, the chunked decoder
 * the pieces after the head; every piece is a fresh copy ending at a guard page.
 */
static struct answer feed(const char *raw, size_t len, const size_t *cuts, size_t n)
{
    sq_http_parser p;
    sq_http_header headers[8];
    sq_http_request req;
    sq_http_error err = {0};
    struct answer a = {HEAD, 0, NULL};
    int rc = SQ_AGAIN;
    size_t i = 0;

    sq_http_parser_init(&p, &LIM, headers);
    guarded head = {0};
    for (; i < n && rc == SQ_AGAIN; i++) {
        if (head.map != NULL)
            guarded_free(&head);
        rc = sq_http_parse_request(&p, guarded_copy(&head, raw, cuts[i]), cuts[i], &req, &err);
    }
    if (rc != SQ_OK) {
        guarded_free(&head);
        return (struct answer){HEAD, rc == SQ_ERR ? err.status : -2, err.reason};
    }

    if (req.body == SQ_HTTP_BODY_CHUNKED) {
        sq_http_chunked d;
        char *out = malloc(len + 1);
        assert_non_null(out);
        size_t from = req.head_len, made = 0;
        sq_http_chunked_init(&d, &LIM);
        rc = SQ_AGAIN;
        /* The piece the head ended in may hold the start of the body: resume from there. */
        for (i = i == 0 ? 0 : i - 1; i < n && rc == SQ_AGAIN; i++) {
            if (cuts[i] <= from)
                continue;
            guarded g;
            size_t used = 0, got = 0, piece = cuts[i] - from;
            const char *src = guarded_copy(&g, raw + from, piece);
            rc = sq_http_chunked_decode(&d, src, piece, out + made, &used, &got, &err);
            guarded_free(&g);
            made += got;
            from = cuts[i];
        }
        free(out);
        if (rc != SQ_OK) {
            guarded_free(&head);
            return (struct answer){BODY, rc == SQ_ERR ? err.status : -2, err.reason};
        }
    }

    sq_route_match m;
    const char *allow = NULL;
    a.layer = ROUTER;
    /* The request's slices point into the last copy of the head, which is still there. */
    a.status = sq_router_match(req.method, req.path, &m, &allow);
    guarded_free(&head);
    return a;
}

static const char *layer_name(enum layer l)
{
    return l == HEAD ? "head parser" : l == BODY ? "chunked decoder" : "router";
}

static void expect(const struct conf_case *c, struct answer a, const char *how)
{
    if (a.layer != c->layer || a.status != c->status)
        fail_msg("%s: %s [%s], fed %s: expected %d from the %s, got %d from the %s (%s)", c->where,
                 c->what, c->from, how, c->status, layer_name(c->layer), a.status,
                 layer_name(a.layer), a.reason ? a.reason : "-");
    if (a.layer != ROUTER && (a.reason == NULL || a.reason[0] == '\0'))
        fail_msg("%s: %s: a refusal without a reason", c->where, c->what);
}

/* A refused row (of a status other than 0), whole, byte by byte and split in two at every
 * offset. */
static bool check_refused(const case_row *r, void *ctx)
{
    (void)ctx;
    const struct conf_case conf = conf_case_of(r), *c = &conf;
    if (c->status == 0)
        return false;
    size_t n = c->len, *cuts = malloc((n + 1) * sizeof *cuts);
    assert_non_null(cuts);
    assert_true((c->status >= 400 && c->status <= 499) || c->status == 501);

    expect(c, feed(c->raw, n, &n, 1), "whole");
    for (size_t i = 0; i < n; i++)
        cuts[i] = i + 1;
    expect(c, feed(c->raw, n, cuts, n), "byte by byte");
    for (size_t at = 1; at < n; at++) {
        size_t two[2] = {at, n};
        char how[32];
        snprintf(how, sizeof how, "split at %zu", at);
        expect(c, feed(c->raw, n, two, 2), how);
    }
    free(cuts);
    return true;
}

/* The cases that the suites accept and we refuse, or the reverse, are each a choice that
 * docs/reliability.md explains; the rows of status 0 are the ones we accept, pinned so that a
 * change to the parser that starts refusing them is a decision, not an accident. */
static bool check_accepted(const case_row *r, void *ctx)
{
    (void)ctx;
    const struct conf_case c = conf_case_of(r);
    if (c.status != 0)
        return false;
    size_t n = c.len;
    struct answer a = feed(c.raw, n, &n, 1);
    if (c.layer != ROUTER || a.layer != ROUTER || a.status != 0)
        fail_msg("%s: %s (%s): refused with %d by the %s (%s)", c.where, c.what, c.from, a.status,
                 layer_name(a.layer), a.reason ? a.reason : "-");
    return true;
}

static void test_conformance_table(void **state)
{
    (void)state;
    assert_true(case_file_each("http_conformance.txt", NULL, 0, check_refused, NULL) >= 100);
}

static void test_accepted_on_purpose(void **state)
{
    (void)state;
    assert_true(case_file_each("http_conformance.txt", NULL, 0, check_accepted, NULL) >= 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conformance_table),
        cmocka_unit_test(test_accepted_on_purpose),
    };
    return cmocka_run_group_tests_name("http_conformance", tests, NULL, NULL);
}
