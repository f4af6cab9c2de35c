/* Table-driven tests of the JSON validator: verdicts and error places on the valid and invalid
 * documents of cases/json_valid.txt (every getter walked over each valid one), long strings,
 * error text and nesting. Inputs end at a guard page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "case_file.h"
#include "json_test.h"

/* The phrases of sq_json_error.what, spelled out here so that a changed message is noticed. */
#define EMPTY "empty document"
#define EOI "unexpected end of input"
#define TRAILING "unexpected data after the document"
#define VALUE "expected a value"
#define KEY "expected a string key"
#define COLON "expected ':' after a key"
#define ASEP "expected ',' or ']'"
#define OSEP "expected ',' or '}'"
#define NUMBER "invalid number"
#define LITERAL "invalid literal"
#define UNTERM "unterminated string"
#define ESCAPE "invalid escape"
#define UESC "invalid \\u escape"
#define SURR "unpaired surrogate"
#define CTRL "control character in string"
#define UTF8 "invalid UTF-8"
#define DEPTH "nesting too deep"
#define BOM "byte order mark"

/* The names the case file gives the phrases above. */
static const case_name errors[] = {
    {"EMPTY", EMPTY},   {"EOI", EOI},         {"TRAILING", TRAILING}, {"VALUE", VALUE},
    {"KEY", KEY},       {"COLON", COLON},     {"ASEP", ASEP},         {"OSEP", OSEP},
    {"NUMBER", NUMBER}, {"LITERAL", LITERAL}, {"UNTERM", UNTERM},     {"ESCAPE", ESCAPE},
    {"UESC", UESC},     {"SURR", SURR},       {"CTRL", CTRL},         {"UTF8", UTF8},
    {"DEPTH", DEPTH},   {"BOM", BOM},
};

/* Walks every token (and the indices just outside) through every getter, checking that
 * the answers agree with the token's type. */
static void walk_all_getters(const sq_json *doc)
{
    sq_buf b = {0};
    sq_arena a = {0};

    for (int t = -2; t <= doc->ntoks; t++) {
        int type = sq_json_type_of(doc, t);
        const char *raw = NULL, *str = NULL;
        size_t rawlen = 0, len = 0;
        int64_t i64;
        uint64_t u64;
        double d;
        bool flag;
        int v;

        if (t < 0 || t == doc->ntoks) {
            assert_int_equal(type, -1);
            assert_int_equal(sq_json_raw(doc, t, &raw, &rawlen), -1);
        } else {
            assert_true(type >= SQ_JSON_OBJECT && type <= SQ_JSON_NULL);
            assert_int_equal(sq_json_raw(doc, t, &raw, &rawlen), 0);
            assert_true(raw >= doc->src && rawlen > 0 && raw + rawlen <= doc->src + doc->len);
        }
        bool container = type == SQ_JSON_OBJECT || type == SQ_JSON_ARRAY;
        int count = sq_json_count(doc, t);
        assert_int_equal(count >= 0, container);
        if (container) {
            int seen = 0;
            for (int c = sq_json_first(doc, t); c >= 0; c = sq_json_next(doc, c)) {
                assert_true(c > t && c < doc->ntoks);
                if (type == SQ_JSON_OBJECT)
                    assert_int_equal(sq_json_member_value(doc, c), c + 1);
                else
                    assert_int_equal(sq_json_member_value(doc, c), -1);
                seen++;
            }
            assert_int_equal(seen, count);
        } else {
            assert_int_equal(sq_json_first(doc, t), -1);
        }

        sq_buf_reset(&b);
        int rc = sq_json_get_str(doc, t, &b);
        assert_int_equal(rc == 0, type == SQ_JSON_STRING);
        assert_int_equal(sq_json_get_str_arena(doc, t, &a, &str, &len), rc);
        if (rc == 0) {
            assert_int_equal(len, b.len);
            assert_memory_equal(str, b.data, len + 1);
            assert_int_equal(sq_json_str_equals(doc, t, b.data, b.len), 1);
        } else {
            assert_int_equal(sq_json_str_equals(doc, t, "", 0), -1);
        }

        rc = sq_json_get_bool(doc, t, &flag);
        assert_int_equal(rc == 0, type == SQ_JSON_TRUE || type == SQ_JSON_FALSE);
        assert_int_equal(sq_json_is_null(doc, t), type == SQ_JSON_NULL);
        if (type != SQ_JSON_NUMBER) {
            assert_int_equal(sq_json_get_int64(doc, t, &i64), -1);
            assert_int_equal(sq_json_get_uint64(doc, t, &u64), -1);
            assert_int_equal(sq_json_get_double(doc, t, &d), -1);
        } else if (sq_json_get_int64(doc, t, &i64) == 0) {
            assert_int_equal(sq_json_get_double(doc, t, &d), 0);
        }
        v = -7;
        rc = sq_json_lookup(doc, t, "a", &v);
        assert_true(rc == 0 || (rc == -1 && v == -7));
        if (type != SQ_JSON_OBJECT)
            assert_int_equal(rc, -1);
        if (rc == 0 && v >= 0)
            assert_int_equal(sq_json_str_equals(doc, v - 1, "a", 1), 1);
    }
    sq_buf_free(&b);
    sq_arena_free(&a);
}

/*
 * Parses and validates `len` bytes of `text`, from a copy that ends at a guard page, with the
 * nesting limit `limit`, and holds both to one verdict: with `what` NULL the document is
 * accepted with `ntoks` tokens (any number when 0), the last one's text `last` (unless NULL),
 * and every getter is walked over it; else both refuse it with `what` at byte `at` and the
 * parser keeps nothing. `label` names the case in a failure.
 */
static void check_verdict(const char *label, const char *text, size_t len, int limit,
                          const char *what, size_t at, int ntoks, const char *last)
{
    guarded g;
    const char *in = guarded_copy(&g, text, len);
    sq_json doc;
    sq_json_error err = {0}, verr = {0};

    int rc = sq_json_parse(&doc, in, len, limit, &err);
    int vrc = sq_json_validate(in, len, limit, &verr);
    if ((rc == 0) != (what == NULL) || vrc != rc)
        fail_msg("%s: parse %d validate %d, %s", label, rc, vrc, rc ? err.text : "accepted");
    if (what != NULL) {
        if (strcmp(err.what, what) != 0 || err.offset != at)
            fail_msg("%s: want \"%s\" at %zu, got \"%s\"", label, what, at, err.text);
        assert_string_equal(verr.text, err.text);
        assert_non_null(strstr(err.text, " at byte "));
        assert_null(doc.toks);
        assert_int_equal(doc.ntoks, 0);
    } else {
        assert_true(doc.ntoks >= 1);
        if (ntoks > 0)
            assert_int_equal(doc.ntoks, ntoks);
        if (last != NULL)
            assert_raw(&doc, doc.ntoks - 1, last);
        walk_all_getters(&doc);
    }
    sq_json_free(&doc);
    guarded_free(&g);
}

/* A row of cases/json_valid.txt: its document, with the verdict the row gives. */
static bool check_doc(const case_row *r, void *ctx)
{
    (void)ctx;
    char label[256];
    const case_word *doc = &r->w[r->n - 1];
    case_words(r, 2, 3);
    bool ok = r->n == 2;
    if (ok != (strcmp(r->w[0].p, "ok") == 0))
        fail_msg("%s: a row is \"ok DOC\" or \"ERROR BYTE DOC\"", r->where);
    snprintf(label, sizeof label, "%s \"%s\"", r->where, doc->p);
    check_verdict(label, doc->p, doc->len, 0,
                  ok ? NULL : case_phrase(r, 0, errors, SQ_ARRAY_LEN(errors)),
                  ok ? 0 : (size_t)case_long(r, 1), 0, NULL);
    return true;
}

static void test_doc_table(void **state)
{
    (void)state;
    /* The issue asks for at least 150 documents; keep the table honest. */
    assert_true(case_file_each("json_valid.txt", NULL, 0, check_doc, NULL) >= 150);
}

/* Strings long enough for the scanner's 16-byte blocks: one byte that needs attention at
 * every offset of every length around the block size, each judged as the byte loop would. */
static void test_long_strings(void **state)
{
    (void)state;
    static const struct {
        const char *ins; /* put into a run of 'a's */
        const char *what;
    } odd[] = {
        {"\x01", CTRL}, {"\x1f", CTRL},     {"\x80", UTF8},    {"\xff", UTF8}, {"\\q", ESCAPE},
        {"\\n", NULL},  {"\xc3\xa9", NULL}, {"\\u00e9", NULL}, {" ", NULL},    {"\x7f", NULL},
    };
    char text[128], label[64];
    for (size_t len = 0; len <= 48; len++) {
        for (size_t at = 0; at <= len; at++) {
            for (size_t k = 0; k < SQ_ARRAY_LEN(odd); k++) {
                size_t n = 0, ins = strlen(odd[k].ins);
                text[n++] = '[';
                text[n++] = '"';
                memset(text + n, 'a', at), n += at;
                memcpy(text + n, odd[k].ins, ins), n += ins;
                memset(text + n, 'a', len - at), n += len - at;
                text[n++] = '"';
                text[n++] = ']';
                snprintf(label, sizeof label, "len %zu at %zu insert %zu", len, at, k);
                check_verdict(label, text, n, 0, odd[k].what, 2 + at, 2, NULL);
            }
        }
        /* and the string left open just after the run */
        memset(text, 'a', sizeof text);
        text[0] = '[';
        text[1] = '"';
        snprintf(label, sizeof label, "open string of %zu", len);
        check_verdict(label, text, 2 + len, 0, UNTERM, 1, 0, NULL);
    }
}

static void test_error_text(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        const char *text;
    } cases[] = {
        {"[1,]", "expected a value at byte 3 (line 1, column 4)"},
        {"{\n  \"a\": 01\n}", "invalid number at byte 10 (line 2, column 9)"},
        {"[\n\n", "unexpected end of input at byte 3 (line 3, column 1)"},
        {"", "empty document at byte 0 (line 1, column 1)"},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(cases); i++) {
        size_t len = strlen(cases[i].doc);
        guarded g;
        const char *in = guarded_copy(&g, cases[i].doc, len);
        sq_json doc;
        sq_json_error err;
        assert_int_equal(sq_json_parse(&doc, in, len, 0, &err), -1);
        assert_string_equal(err.text, cases[i].text);
        /* The error report is optional. */
        assert_int_equal(sq_json_parse(&doc, in, len, 0, NULL), -1);
        guarded_free(&g);
    }

    guarded g;
    const char *in = guarded_copy(&g, "[]", 2);
    sq_json doc;
    sq_json_error err;
    assert_int_equal(sq_json_parse(&doc, in, 2, -1, &err), -1);
    assert_string_equal(err.what, "invalid nesting limit");
    assert_int_equal(sq_json_validate(in, 2, -1, &err), -1);
    guarded_free(&g);
}

/* `depth` nested containers around a 1: "[[[1]]]" or {"a":{"a":1}}. */
static char *nested(int depth, bool objects, bool closed, size_t *len)
{
    sq_buf b = {0};
    for (int i = 0; i < depth; i++)
        assert_int_equal(sq_buf_puts(&b, objects ? "{\"a\":" : "["), 0);
    assert_int_equal(sq_buf_putc(&b, '1'), 0);
    for (int i = 0; closed && i < depth; i++)
        assert_int_equal(sq_buf_putc(&b, objects ? '}' : ']'), 0);
    return sq_buf_steal(&b, len);
}

static void test_depth(void **state)
{
    (void)state;
    static const struct {
        int depth;
        bool objects;
        bool closed;
        int limit;
        const char *what; /* NULL: valid */
        size_t at;        /* offset in the array form; an object level takes 5 bytes */
    } cases[] = {
        {1, false, true, 0, NULL, 0},
        {64, false, true, 0, NULL, 0},
        {65, false, true, 0, DEPTH, 64},
        {64, true, true, 0, NULL, 0},
        {65, true, true, 0, DEPTH, 64},
        {10000, false, true, 0, DEPTH, 64},
        {10000, true, true, 0, DEPTH, 64},
        {10000, false, true, 20000, NULL, 0},
        {10000, true, true, 20000, NULL, 0},
        {10000, false, true, 10000, NULL, 0},
        {10000, false, true, 9999, DEPTH, 9999},
        {10000, false, false, 20000, EOI, 10001},
        {1, false, true, 1, NULL, 0},
        {2, false, true, 1, DEPTH, 1},
    };
    char label[64];
    for (size_t i = 0; i < SQ_ARRAY_LEN(cases); i++) {
        size_t len;
        char *text = nested(cases[i].depth, cases[i].objects, cases[i].closed, &len);
        int ntoks = cases[i].objects ? 2 * cases[i].depth + 1 : cases[i].depth + 1;
        size_t at = cases[i].objects ? cases[i].at * 5 : cases[i].at;
        snprintf(label, sizeof label, "depth case %zu", i);
        check_verdict(label, text, len, cases[i].limit, cases[i].what, at, ntoks, "1");
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doc_table),
        cmocka_unit_test(test_long_strings),
        cmocka_unit_test(test_error_text),
        cmocka_unit_test(test_depth),
    };
    return cmocka_run_group_tests_name("json_valid", tests, NULL, NULL);
}
