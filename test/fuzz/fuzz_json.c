/* libFuzzer target for the JSON module: parsing must be total and agree with validation,
 * and every accepted document must survive every getter and a rewrite through the writer
 * that parses back to the same tokens. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/utf8_ref.h"
#include "check.h"
#include "sequin/json.h"

/* Parses a writer's output, which must be accepted with the default limits. */
static void parse_back(sq_json *doc, const sq_buf *out)
{
    sq_json_error err;
    if (sq_json_parse(doc, out->data, out->len, 0, &err) != SQ_OK) {
        fprintf(stderr, "writer output rejected: %s\n%.*s\n", err.text, (int)out->len, out->data);
        abort();
    }
}

/* A string through the writer and back must come out as it went in. */
static void check_string_round_trip(const char *s, size_t n)
{
    sq_buf out = {0}, got = {0};
    sq_json_writer w;
    sq_json doc;

    sq_json_writer_init(&w, &out);
    CHECK(sq_json_write_stringn(&w, s, n) == SQ_OK);
    CHECK(sq_json_writer_finish(&w) == SQ_OK);
    parse_back(&doc, &out);
    CHECK(doc.ntoks == 1);
    CHECK(sq_json_get_str(&doc, 0, &got) == SQ_OK);
    CHECK(utf8_ref_valid((const unsigned char *)got.data, got.len));
    if (utf8_ref_valid((const unsigned char *)s, n))
        CHECK(got.len == n && memcmp(got.data, s, n) == 0);
    sq_json_free(&doc);
    sq_buf_free(&out);
    sq_buf_free(&got);
}

static void check_token(const sq_json *doc, int t, sq_buf *scratch, sq_arena *arena)
{
    int type = sq_json_type_of(doc, t);
    const char *raw;
    size_t rawlen;

    CHECK(type >= SQ_JSON_OBJECT && type <= SQ_JSON_NULL);
    CHECK(sq_json_raw(doc, t, &raw, &rawlen) == SQ_OK);
    CHECK(raw >= doc->src && rawlen > 0 && rawlen <= doc->len &&
          (size_t)(raw - doc->src) <= doc->len - rawlen);

    int count = sq_json_count(doc, t);
    CHECK((count >= 0) == (type == SQ_JSON_OBJECT || type == SQ_JSON_ARRAY));
    if (count >= 0) {
        CHECK(raw[0] == (type == SQ_JSON_OBJECT ? '{' : '['));
        int seen = 0;
        for (int c = sq_json_first(doc, t); c >= 0; c = sq_json_next(doc, c)) {
            const char *craw;
            size_t clen;
            CHECK(c > t && c < doc->ntoks && seen < count);
            CHECK(sq_json_raw(doc, c, &craw, &clen) == SQ_OK);
            CHECK(craw > raw && craw + clen < raw + rawlen);
            CHECK((sq_json_member_value(doc, c) == c + 1) == (type == SQ_JSON_OBJECT));
            seen++;
        }
        CHECK(seen == count);
    }

    sq_buf_reset(scratch);
    int rc = sq_json_get_str(doc, t, scratch);
    CHECK((rc == SQ_OK) == (type == SQ_JSON_STRING));
    if (rc == SQ_OK) {
        const char *s;
        size_t n;
        CHECK(raw[0] == '"' && raw[rawlen - 1] == '"');
        CHECK(scratch->len <= rawlen - 2);
        CHECK(utf8_ref_valid((const unsigned char *)scratch->data, scratch->len));
        CHECK(sq_json_str_equals(doc, t, scratch->data, scratch->len) == 1);
        CHECK(sq_json_get_str_arena(doc, t, arena, &s, &n) == SQ_OK);
        CHECK(n == scratch->len && memcmp(s, scratch->data, n + 1) == 0);
        check_string_round_trip(scratch->data, scratch->len);
    }

    int64_t i64;
    uint64_t u64;
    double d;
    int irc = sq_json_get_int64(doc, t, &i64);
    int urc = sq_json_get_uint64(doc, t, &u64);
    int drc = sq_json_get_double(doc, t, &d);
    if (type != SQ_JSON_NUMBER)
        CHECK(irc == SQ_ERR && urc == SQ_ERR && drc == SQ_ERR);
    if (irc == SQ_OK) {
        CHECK(drc == SQ_OK);
        CHECK((urc == SQ_OK) == (i64 >= 0));
        CHECK(urc != SQ_OK || u64 == (uint64_t)i64);
    }
    if (drc == SQ_OK) {
        /* Doubles survive the writer bit for bit. */
        sq_buf out = {0};
        sq_json_writer w;
        sq_json back;
        double again;
        CHECK(isfinite(d));
        sq_json_writer_init(&w, &out);
        CHECK(sq_json_write_double(&w, d) == SQ_OK);
        parse_back(&back, &out);
        CHECK(sq_json_get_double(&back, 0, &again) == SQ_OK);
        CHECK(memcmp(&again, &d, sizeof(d)) == 0);
        sq_json_free(&back);
        sq_buf_free(&out);
    }

    bool flag;
    rc = sq_json_get_bool(doc, t, &flag);
    CHECK((rc == SQ_OK) == (type == SQ_JSON_TRUE || type == SQ_JSON_FALSE));
    CHECK(rc != SQ_OK || flag == (type == SQ_JSON_TRUE));
    CHECK(sq_json_is_null(doc, t) == (type == SQ_JSON_NULL));

    /* Lookup finds each key that occurs once and refuses each that occurs more often. Keys
     * with a NUL cannot be named by a C string; big objects would make this quadratic. */
    if (type == SQ_JSON_OBJECT && count <= 32) {
        sq_buf name = {0};
        for (int k = sq_json_first(doc, t); k >= 0; k = sq_json_next(doc, k)) {
            sq_buf_reset(&name);
            CHECK(sq_json_get_str(doc, k, &name) == SQ_OK);
            if (memchr(name.data, '\0', name.len) != NULL)
                continue;
            int same = 0, value = -2;
            for (int o = sq_json_first(doc, t); o >= 0; o = sq_json_next(doc, o))
                same += sq_json_str_equals(doc, o, name.data, name.len);
            rc = sq_json_lookup(doc, t, name.data, &value);
            CHECK(same == 1 ? rc == SQ_OK && value == k + 1 : rc == SQ_ERR && value == -2);
        }
        sq_buf_free(&name);
    }
}

/* In an object, writes key `child` and returns its value; in an array, returns `child`. */
static int enter(const sq_json *doc, sq_json_writer *w, int child, int in_object, sq_buf *scratch)
{
    if (!in_object)
        return child;
    sq_buf_reset(scratch);
    CHECK(sq_json_get_str(doc, child, scratch) == SQ_OK);
    CHECK(sq_json_write_keyn(w, scratch->data, scratch->len) == SQ_OK);
    return sq_json_member_value(doc, child);
}

static void write_scalar(const sq_json *doc, sq_json_writer *w, int t, sq_buf *scratch)
{
    const char *raw;
    size_t rawlen;
    bool flag;

    switch (sq_json_type_of(doc, t)) {
    case SQ_JSON_STRING:
        sq_buf_reset(scratch);
        CHECK(sq_json_get_str(doc, t, scratch) == SQ_OK);
        CHECK(sq_json_write_stringn(w, scratch->data, scratch->len) == SQ_OK);
        break;
    case SQ_JSON_NUMBER:
        /* Verbatim, so that numbers no getter can hold (1e999) survive too. */
        CHECK(sq_json_raw(doc, t, &raw, &rawlen) == SQ_OK);
        CHECK(sq_json_write_raw(w, raw, rawlen) == SQ_OK);
        break;
    case SQ_JSON_TRUE:
    case SQ_JSON_FALSE:
        CHECK(sq_json_get_bool(doc, t, &flag) == SQ_OK);
        CHECK(sq_json_write_bool(w, flag) == SQ_OK);
        break;
    case SQ_JSON_NULL:
        CHECK(sq_json_write_null(w) == SQ_OK);
        break;
    default:
        abort();
    }
}

static void close_container(const sq_json *doc, sq_json_writer *w, int t)
{
    if (sq_json_type_of(doc, t) == SQ_JSON_OBJECT)
        CHECK(sq_json_write_end_object(w) == SQ_OK);
    else
        CHECK(sq_json_write_end_array(w) == SQ_OK);
}

/* Rebuilds the document with the writer, iteratively: tokens come out in the same order. */
static void rewrite(const sq_json *doc, sq_json_writer *w, sq_buf *scratch)
{
    int open[SQ_JSON_DEFAULT_MAX_DEPTH]; /* containers being written */
    int cur[SQ_JSON_DEFAULT_MAX_DEPTH];  /* the child being written in each */
    int sp = 0, t = 0;

    for (;;) {
        int type = sq_json_type_of(doc, t);
        if (type == SQ_JSON_OBJECT || type == SQ_JSON_ARRAY) {
            int rc = type == SQ_JSON_OBJECT ? sq_json_write_begin_object(w)
                                            : sq_json_write_begin_array(w);
            CHECK(rc == SQ_OK);
            int c = sq_json_first(doc, t);
            if (c >= 0) {
                CHECK(sp < SQ_JSON_DEFAULT_MAX_DEPTH);
                open[sp] = t;
                cur[sp] = c;
                sp++;
                t = enter(doc, w, c, type == SQ_JSON_OBJECT, scratch);
                continue;
            }
            close_container(doc, w, t);
        } else {
            write_scalar(doc, w, t, scratch);
        }
        /* `t` is complete: on to its next sibling, closing the containers that are done. */
        for (;;) {
            if (sp == 0)
                return;
            int nx = sq_json_next(doc, cur[sp - 1]);
            if (nx >= 0) {
                cur[sp - 1] = nx;
                t = enter(doc, w, nx, sq_json_type_of(doc, open[sp - 1]) == SQ_JSON_OBJECT,
                          scratch);
                break;
            }
            close_container(doc, w, open[sp - 1]);
            sp--;
        }
    }
}

static void check_same(const sq_json *a, const sq_json *b, sq_buf *x, sq_buf *y)
{
    CHECK(a->ntoks == b->ntoks);
    for (int t = 0; t < a->ntoks; t++) {
        int type = sq_json_type_of(a, t);
        CHECK(sq_json_type_of(b, t) == type);
        CHECK(sq_json_count(a, t) == sq_json_count(b, t));
        if (type == SQ_JSON_STRING) {
            sq_buf_reset(x);
            sq_buf_reset(y);
            CHECK(sq_json_get_str(a, t, x) == SQ_OK && sq_json_get_str(b, t, y) == SQ_OK);
            CHECK(x->len == y->len && memcmp(x->data, y->data, x->len) == 0);
        } else if (type == SQ_JSON_NUMBER) {
            const char *ra, *rb;
            size_t na, nb;
            CHECK(sq_json_raw(a, t, &ra, &na) == SQ_OK && sq_json_raw(b, t, &rb, &nb) == SQ_OK);
            CHECK(na == nb && memcmp(ra, rb, na) == 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *src = (const char *)data;
    sq_json doc, deep;
    sq_json_error err, verr;

    /* The writer must make valid JSON of any bytes. */
    check_string_round_trip(src, size);

    int rc = sq_json_parse(&doc, src, size, 0, &err);
    int vrc = sq_json_validate(src, size, 0, &verr);
    CHECK(rc == vrc);
    if (rc != SQ_OK) {
        CHECK(doc.ntoks == 0 && doc.toks == NULL);
        CHECK(err.what != NULL && err.what == verr.what && err.offset == verr.offset);
        CHECK(err.offset <= size);
        /* A higher nesting limit changes only the verdict on depth. */
        int drc = sq_json_parse(&deep, src, size, 100000, &verr);
        if (strcmp(err.what, "nesting too deep") != 0)
            CHECK(drc == SQ_ERR && verr.what == err.what && verr.offset == err.offset);
        sq_json_free(&deep);
        return 0;
    }

    sq_buf scratch = {0}, other = {0}, out = {0};
    sq_arena arena = {0};
    for (int t = 0; t < doc.ntoks; t++)
        check_token(&doc, t, &scratch, &arena);
    CHECK(sq_json_type_of(&doc, -1) == SQ_ERR && sq_json_type_of(&doc, doc.ntoks) == SQ_ERR);

    sq_json_writer w;
    sq_json_writer_init(&w, &out);
    rewrite(&doc, &w, &scratch);
    CHECK(sq_json_writer_finish(&w) == SQ_OK);
    sq_json again;
    parse_back(&again, &out);
    check_same(&doc, &again, &scratch, &other);

    sq_json_free(&again);
    sq_json_free(&doc);
    sq_buf_free(&scratch);
    sq_buf_free(&other);
    sq_buf_free(&out);
    sq_arena_free(&arena);
    return 0;
}
