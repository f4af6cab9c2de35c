/* Table-driven tests of the JSON module: verdicts on valid and invalid documents, getters,
 * unescaping, the writer, and writer-to-parser round trips. Inputs end at a guard page. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "sequin/json.h"

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

/* A document and its verdict: `what` NULL means valid, else the error at byte `at`. The
 * length comes from sizeof, so documents may contain NUL bytes. */
struct doc_case {
    const char *text;
    size_t len;
    const char *what;
    size_t at;
};
#define GOOD(s)                                                                                    \
    {                                                                                              \
        s, sizeof(s) - 1, NULL, 0                                                                  \
    }
#define BAD(s, what, at)                                                                           \
    {                                                                                              \
        s, sizeof(s) - 1, what, at                                                                 \
    }

static const struct doc_case doc_cases[] = {
    /* Numbers: the grammar exactly, with any magnitude. */
    GOOD("0"),
    GOOD("-0"),
    GOOD("1"),
    GOOD("-1"),
    GOOD("123"),
    GOOD("-123"),
    GOOD("1.5"),
    GOOD("-1.5"),
    GOOD("0.0"),
    GOOD("-0.0"),
    GOOD("1e5"),
    GOOD("1E5"),
    GOOD("1e+5"),
    GOOD("1e-5"),
    GOOD("-1E+2"),
    GOOD("1.5e10"),
    GOOD("0e0"),
    GOOD("0E-0"),
    GOOD("1e007"),
    GOOD("1e999"),
    GOOD("-1e999"),
    GOOD("1e-999"),
    GOOD("123456789012345678901234567890"),
    GOOD("9223372036854775807"),
    GOOD("-9223372036854775808"),
    GOOD("18446744073709551616"),
    GOOD(" 42 "),
    BAD("01", NUMBER, 1),
    BAD("-01", NUMBER, 2),
    BAD("00", NUMBER, 1),
    BAD("1.", NUMBER, 2),
    BAD(".1", VALUE, 0),
    BAD("+1", VALUE, 0),
    BAD("- 1", NUMBER, 1),
    BAD("-", NUMBER, 1),
    BAD("--1", NUMBER, 1),
    BAD("-.5", NUMBER, 1),
    BAD("0x1", NUMBER, 1),
    BAD("0x", NUMBER, 1),
    BAD("1e", NUMBER, 2),
    BAD("1e+", NUMBER, 3),
    BAD("1E-", NUMBER, 3),
    BAD("1.e5", NUMBER, 2),
    BAD("0.e1", NUMBER, 2),
    BAD("1.5.", NUMBER, 3),
    BAD("1..2", NUMBER, 2),
    BAD("1e5.5", NUMBER, 3),
    BAD("1.0e+-5", NUMBER, 5),
    BAD("1a", NUMBER, 1),
    BAD("1_000", TRAILING, 1),
    BAD("NaN", VALUE, 0),
    BAD("nan", LITERAL, 0),
    BAD("Infinity", VALUE, 0),
    BAD("-Infinity", NUMBER, 1),
    BAD("[01]", NUMBER, 2),
    BAD("[1.]", NUMBER, 3),
    BAD("[1e]", NUMBER, 3),
    BAD("\xD9\xA1", VALUE, 0), /* ARABIC-INDIC DIGIT ONE */

    /* Literals. */
    GOOD("true"),
    GOOD("false"),
    GOOD("null"),
    GOOD(" \t\r\n null \n"),
    BAD("tru", LITERAL, 0),
    BAD("nul", LITERAL, 0),
    BAD("nulll", LITERAL, 0),
    BAD("truefalse", LITERAL, 0),
    BAD("True", VALUE, 0),
    BAD("NULL", VALUE, 0),
    BAD("undefined", VALUE, 0),
    BAD("[ thanx ]", LITERAL, 2),
    BAD("[tru]", LITERAL, 1),
    BAD("[true false]", ASEP, 6),
    BAD("'a'", VALUE, 0),

    /* Strings: escapes. */
    GOOD("\"\""),
    GOOD("\"a\""),
    GOOD("\"hello world\""),
    GOOD("\"\\\"\""),
    GOOD("\"\\\\\""),
    GOOD("\"\\/\""),
    GOOD("\"\\b\\f\\n\\r\\t\""),
    GOOD("\"\\u0000\""),
    GOOD("\"a\\u0000b\""),
    GOOD("\"\\u0041\""),
    GOOD("\"\\u00e9\""),
    GOOD("\"\\u20AC\""),
    GOOD("\"\\uD83D\\uDE00\""),
    GOOD("\"\\ud83d\\ude00\""),
    GOOD("\"\\uDBFF\\uDFFF\""),
    GOOD("\"\\uFFFF\""),
    GOOD("\"\\uFFFE\""),
    GOOD("\"a/b'c\""),
    BAD("\"", UNTERM, 0),
    BAD("\"abc", UNTERM, 0),
    BAD("[\"abc", UNTERM, 1),
    BAD("\"\\", UNTERM, 0),
    BAD("\"\\\"", UNTERM, 0),
    BAD("\"\\u0041", UNTERM, 0),
    BAD("\"\\x\"", ESCAPE, 1),
    BAD("\"\\a\"", ESCAPE, 1),
    BAD("\"\\'\"", ESCAPE, 1),
    BAD("\"\\U0041\"", ESCAPE, 1),
    BAD("\"\\0\"", ESCAPE, 1),
    BAD("\"\\u12\"", UESC, 1),
    BAD("\"\\u\"", UESC, 1),
    BAD("\"\\u12G4\"", UESC, 1),
    BAD("\"\\u00", UESC, 1),
    BAD("\"\\uD800\"", SURR, 1),
    BAD("\"\\uDBFF\"", SURR, 1),
    BAD("\"\\uDC00\"", SURR, 1),
    BAD("\"\\uDFFF\"", SURR, 1),
    BAD("\"\\uDC00\\uD800\"", SURR, 1),
    BAD("\"\\uD800\\uD800\"", SURR, 1),
    BAD("\"\\uD800\\u0041\"", SURR, 1),
    BAD("\"\\uD800x\"", SURR, 1),
    BAD("\"\\uD800\\\"", SURR, 1),
    BAD("\"\\uD83D\\uDE00x\\uDE00\"", SURR, 14),

    /* Strings: raw bytes. Control characters must be escaped; DEL need not be. */
    GOOD("\"\x7f\""),
    BAD("\"a\tb\"", CTRL, 2),
    BAD("\"\n\"", CTRL, 1),
    BAD("\"\x00\"", CTRL, 1),
    BAD("\"\x1f\"", CTRL, 1),
    BAD("{\"a\x00\":1}", CTRL, 3),

    /* Strings: UTF-8, the boundaries of every row of Unicode table 3-7. */
    GOOD("\"caf\xc3\xa9\""),
    GOOD("\"\xc2\x80\""),
    GOOD("\"\xdf\xbf\""),
    GOOD("\"\xe0\xa0\x80\""),
    GOOD("\"\xe2\x82\xac\""),
    GOOD("\"\xed\x9f\xbf\""),
    GOOD("\"\xee\x80\x80\""),
    GOOD("\"\xef\xbf\xbf\""),
    GOOD("\"\xf0\x90\x80\x80\""),
    GOOD("\"\xf0\x9f\x98\x80\""),
    GOOD("\"\xf3\xbf\xbf\xbf\""),
    GOOD("\"\xf4\x8f\xbf\xbf\""),
    BAD("\"\xc0\xaf\"", UTF8, 1),
    BAD("\"\xc1\xbf\"", UTF8, 1),
    BAD("\"\xe0\x80\xaf\"", UTF8, 1),
    BAD("\"\xe0\x9f\xbf\"", UTF8, 1),
    BAD("\"\xed\xa0\x80\"", UTF8, 1),
    BAD("\"\xed\xbf\xbf\"", UTF8, 1),
    BAD("\"\xf0\x80\x80\xaf\"", UTF8, 1),
    BAD("\"\xf0\x8f\xbf\xbf\"", UTF8, 1),
    BAD("\"\xf4\x90\x80\x80\"", UTF8, 1),
    BAD("\"\xf5\x80\x80\x80\"", UTF8, 1),
    BAD("\"\xf8\x88\x80\x80\x80\"", UTF8, 1),
    BAD("\"\xfe\"", UTF8, 1),
    BAD("\"\xff\"", UTF8, 1),
    BAD("\"\x80\"", UTF8, 1),
    BAD("\"\xbf\"", UTF8, 1),
    BAD("\"a\xc3\"", UTF8, 2),
    BAD("\"\xc3", UTF8, 1),
    BAD("\"\xe2\x82\"", UTF8, 1),
    BAD("\"\xf0\x9f\x98\"", UTF8, 1),
    BAD("\"\xc3\xa9\xa9\"", UTF8, 3),
    BAD("\"\xc2\x20\"", UTF8, 1),
    BAD("\"\xe2\x28\xa1\"", UTF8, 1),
    BAD("\xc3\xa9", VALUE, 0),

    /* Objects. */
    GOOD("{}"),
    GOOD("{ }"),
    GOOD("{\"a\":1}"),
    GOOD("{\"\":0}"),
    GOOD("{\"a\":[]}"),
    GOOD("{\"a\":{}}"),
    GOOD("{\"a\":1,\"b\":2}"),
    GOOD("{ \"a\" : 1 , \"b\" : [ true , false , null ] }"),
    GOOD("{\"a\":{\"b\":{\"c\":null}}}"),
    GOOD("{\"key\":\"a\",\"key\":\"b\"}"),
    GOOD("{\"\\u0000\":1}"),
    GOOD("{\"a\":\"}\",\"b\":\"]\"}"),
    GOOD("{\"a,b\":1}"),
    GOOD("{\"a\":\"b\",\"c\":{\"d\":[1,{\"e\":\"f\"}]},\"g\":-0.5e-3}"),
    BAD("{1:2}", KEY, 1),
    BAD("{a:1}", KEY, 1),
    BAD("{'a':1}", KEY, 1),
    BAD("{null:1}", KEY, 1),
    BAD("{[]:1}", KEY, 1),
    BAD("{{}}", KEY, 1),
    BAD("{,}", KEY, 1),
    BAD("{]", KEY, 1),
    BAD("{\"a\" 1}", COLON, 5),
    BAD("{\"a\"}", COLON, 4),
    BAD("{\"a\",1}", COLON, 4),
    BAD("{\"a\":1,\"b\"}", COLON, 10),
    BAD("{\"a\":}", VALUE, 5),
    BAD("{\"a\"::1}", VALUE, 5),
    BAD("{\"a\":1 \"b\":2}", OSEP, 7),
    BAD("{\"a\":1]", OSEP, 6),
    BAD("{\"a\":1,}", KEY, 7),
    BAD("{\"a\":1,,\"b\":2}", KEY, 7),
    BAD("{\"a\":1}}", TRAILING, 7),

    /* Arrays. */
    GOOD("[]"),
    GOOD("[ ]"),
    GOOD("[1]"),
    GOOD("[1,2,3]"),
    GOOD("[[]]"),
    GOOD("[[[]]]"),
    GOOD("[{}]"),
    GOOD("[\"\"]"),
    GOOD("[1,\"a\",true,false,null,{},[]]"),
    GOOD("[-0,0.5,-1e-2,1e999]"),
    GOOD("[\"[\",\"{\",\"\\\\\\\"\"]"),
    GOOD("\n[\n1\n,\r\n2\t]\n"),
    BAD("[1,]", VALUE, 3),
    BAD("[,1]", VALUE, 1),
    BAD("[,]", VALUE, 1),
    BAD("[1 2]", ASEP, 3),
    BAD("[1,,2]", VALUE, 3),
    BAD("[1;2]", ASEP, 2),
    BAD("[1:2]", ASEP, 2),
    BAD("[\"a\":1]", ASEP, 4),
    BAD("[}", VALUE, 1),
    BAD("[1}", ASEP, 2),
    BAD("]", VALUE, 0),
    BAD("}", VALUE, 0),

    /* Where the document ends: too early, or not at all. */
    BAD("", EMPTY, 0),
    BAD("   ", EMPTY, 3),
    BAD("\n", EMPTY, 1),
    BAD("[", EOI, 1),
    BAD("{", EOI, 1),
    BAD("[1", EOI, 2),
    BAD("[1,", EOI, 3),
    BAD("[[[]]", EOI, 5),
    BAD("{\"a\"", EOI, 4),
    BAD("{\"a\":", EOI, 5),
    BAD("{\"a\":1", EOI, 6),
    BAD("{\"a\":1,", EOI, 7),
    BAD("[{\"a\":[", EOI, 7),
    BAD("[]]", TRAILING, 2),
    BAD("[][]", TRAILING, 2),
    BAD("{}{}", TRAILING, 2),
    BAD("{} x", TRAILING, 3),
    BAD("[1] 2", TRAILING, 4),
    BAD("\"a\" \"b\"", TRAILING, 4),
    BAD("1 2", TRAILING, 2),
    BAD("1,", TRAILING, 1),
    BAD("null null", TRAILING, 5),

    /* NUL is just a byte, and not a blank one. */
    BAD("\x00", VALUE, 0),
    BAD("\x00[]", VALUE, 0),
    BAD(" \x00", VALUE, 1),
    BAD("[\x00]", VALUE, 1),
    BAD("[1,\x00 2]", VALUE, 3),
    BAD("[1]\x00", TRAILING, 3),
    BAD("1\x00", TRAILING, 1),

    /* Whitespace is SP HT LF CR only; no comments; a byte order mark is refused. */
    BAD("\f[]", VALUE, 0),
    BAD("[\v]", VALUE, 1),
    BAD("\xc2\xa0[]", VALUE, 0),
    BAD("[1,\xe2\x80\x83 2]", VALUE, 3),
    BAD("[1] // c", TRAILING, 4),
    BAD("/* */ []", VALUE, 0),
    BAD("[1 /* c */]", ASEP, 3),
    BAD("\xef\xbb\xbf{}", BOM, 0),
    BAD("\xef\xbb\xbf", BOM, 0),
    BAD("\xef\xbb", VALUE, 0),
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

static void test_doc_table(void **state)
{
    (void)state;
    /* The issue asks for at least 150 documents; keep the table honest. */
    assert_true(SQ_ARRAY_LEN(doc_cases) >= 150);

    for (size_t i = 0; i < SQ_ARRAY_LEN(doc_cases); i++) {
        const struct doc_case *c = &doc_cases[i];
        guarded g;
        const char *in = guarded_copy(&g, c->text, c->len);
        sq_json doc;
        sq_json_error err = {0}, verr = {0};

        int rc = sq_json_parse(&doc, in, c->len, 0, &err);
        int vrc = sq_json_validate(in, c->len, 0, &verr);
        if ((rc == 0) != (c->what == NULL) || vrc != rc)
            fail_msg("case %zu \"%s\": parse %d validate %d, %s", i, c->text, rc, vrc,
                     rc ? err.text : "accepted");
        if (c->what != NULL) {
            if (strcmp(err.what, c->what) != 0 || err.offset != c->at)
                fail_msg("case %zu \"%s\": want \"%s\" at %zu, got \"%s\"", i, c->text, c->what,
                         c->at, err.text);
            assert_string_equal(verr.text, err.text);
            assert_non_null(strstr(err.text, " at byte "));
            assert_null(doc.toks);
            assert_int_equal(doc.ntoks, 0);
        } else {
            assert_true(doc.ntoks >= 1);
            walk_all_getters(&doc);
        }
        sq_json_free(&doc);
        guarded_free(&g);
    }
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
        {"\x01", "control character in string"},
        {"\x1f", "control character in string"},
        {"\x80", "invalid UTF-8"},
        {"\xff", "invalid UTF-8"},
        {"\\q", "invalid escape"},
        {"\\n", NULL},
        {"\xc3\xa9", NULL},
        {"\\u00e9", NULL},
        {" ", NULL},
        {"\x7f", NULL},
    };
    char text[128];
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
                guarded g;
                const char *in = guarded_copy(&g, text, n);
                sq_json doc;
                sq_json_error err = {0};
                int rc = sq_json_parse(&doc, in, n, 0, &err);
                if (odd[k].what == NULL) {
                    if (rc != 0)
                        fail_msg("len %zu at %zu insert %zu: %s", len, at, k, err.text);
                    assert_int_equal(doc.ntoks, 2);
                    sq_json_free(&doc);
                } else {
                    if (rc == 0 || strcmp(err.what, odd[k].what) != 0 || err.offset != 2 + at)
                        fail_msg("len %zu at %zu insert %zu: want \"%s\" at %zu, got %s", len, at,
                                 k, odd[k].what, 2 + at, rc == 0 ? "accepted" : err.text);
                }
                guarded_free(&g);
            }
        }
        /* and the string left open just after the run */
        memset(text, 'a', sizeof text);
        text[0] = '[';
        text[1] = '"';
        guarded g;
        const char *in = guarded_copy(&g, text, 2 + len);
        sq_json doc;
        sq_json_error err = {0};
        assert_int_equal(sq_json_parse(&doc, in, 2 + len, 0, &err), -1);
        assert_string_equal(err.what, "unterminated string");
        assert_int_equal(err.offset, 1);
        guarded_free(&g);
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
        sq_json doc;
        sq_json_error err;
        assert_int_equal(sq_json_parse(&doc, cases[i].doc, strlen(cases[i].doc), 0, &err), -1);
        assert_string_equal(err.text, cases[i].text);
        /* The error report is optional. */
        assert_int_equal(sq_json_parse(&doc, cases[i].doc, strlen(cases[i].doc), 0, NULL), -1);
    }

    sq_json doc;
    sq_json_error err;
    assert_int_equal(sq_json_parse(&doc, "[]", 2, -1, &err), -1);
    assert_string_equal(err.what, "invalid nesting limit");
    assert_int_equal(sq_json_validate("[]", 2, -1, &err), -1);
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
    for (size_t i = 0; i < SQ_ARRAY_LEN(cases); i++) {
        size_t len;
        char *text = nested(cases[i].depth, cases[i].objects, cases[i].closed, &len);
        guarded g;
        const char *in = guarded_copy(&g, text, len);
        sq_json doc;
        sq_json_error err;

        int rc = sq_json_parse(&doc, in, len, cases[i].limit, &err);
        assert_int_equal(sq_json_validate(in, len, cases[i].limit, NULL), rc);
        if (cases[i].what == NULL) {
            assert_int_equal(rc, 0);
            int want = cases[i].objects ? 2 * cases[i].depth + 1 : cases[i].depth + 1;
            assert_int_equal(doc.ntoks, want);
            int64_t v;
            assert_int_equal(sq_json_get_int64(&doc, doc.ntoks - 1, &v), 0);
            assert_int_equal(v, 1);
        } else {
            assert_int_equal(rc, -1);
            assert_string_equal(err.what, cases[i].what);
            size_t at = cases[i].objects ? cases[i].at * 5 : cases[i].at;
            assert_int_equal(err.offset, at);
        }
        sq_json_free(&doc);
        guarded_free(&g);
        free(text);
    }
}

/* A document, and the type and raw text of each of its tokens in order. */
static void test_tokens(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        int n;
        struct {
            int type;
            const char *raw;
        } toks[10];
    } cases[] = {
        {"[{},[],\"s\",1,true,false,null]",
         8,
         {{SQ_JSON_ARRAY, "[{},[],\"s\",1,true,false,null]"},
          {SQ_JSON_OBJECT, "{}"},
          {SQ_JSON_ARRAY, "[]"},
          {SQ_JSON_STRING, "\"s\""},
          {SQ_JSON_NUMBER, "1"},
          {SQ_JSON_TRUE, "true"},
          {SQ_JSON_FALSE, "false"},
          {SQ_JSON_NULL, "null"}}},
        {"{\"a\":[1,{\"b\":null}],\"c\":\"d\"}",
         9,
         {{SQ_JSON_OBJECT, "{\"a\":[1,{\"b\":null}],\"c\":\"d\"}"},
          {SQ_JSON_STRING, "\"a\""},
          {SQ_JSON_ARRAY, "[1,{\"b\":null}]"},
          {SQ_JSON_NUMBER, "1"},
          {SQ_JSON_OBJECT, "{\"b\":null}"},
          {SQ_JSON_STRING, "\"b\""},
          {SQ_JSON_NULL, "null"},
          {SQ_JSON_STRING, "\"c\""},
          {SQ_JSON_STRING, "\"d\""}}},
        {" -1.5e3 ", 1, {{SQ_JSON_NUMBER, "-1.5e3"}}},
        {"\t\"x\\\"y\"\n", 1, {{SQ_JSON_STRING, "\"x\\\"y\""}}},
        {"[ 1 , -2 ]",
         3,
         {{SQ_JSON_ARRAY, "[ 1 , -2 ]"}, {SQ_JSON_NUMBER, "1"}, {SQ_JSON_NUMBER, "-2"}}},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(cases); i++) {
        size_t len = strlen(cases[i].doc);
        guarded g;
        const char *in = guarded_copy(&g, cases[i].doc, len);
        sq_json doc;
        assert_int_equal(sq_json_parse(&doc, in, len, 0, NULL), 0);
        assert_int_equal(doc.ntoks, cases[i].n);
        for (int t = 0; t < cases[i].n; t++) {
            const char *raw;
            size_t rawlen;
            assert_int_equal(sq_json_type_of(&doc, t), cases[i].toks[t].type);
            assert_int_equal(sq_json_raw(&doc, t, &raw, &rawlen), 0);
            assert_int_equal(rawlen, strlen(cases[i].toks[t].raw));
            assert_memory_equal(raw, cases[i].toks[t].raw, rawlen);
        }
        sq_json_free(&doc);
        guarded_free(&g);
    }
}

static void test_iteration(void **state)
{
    (void)state;
    const char *text = "{\"a\":[1,[2,3],{\"x\":4}],\"b\":{},\"c\":[]}";
    sq_json doc;
    assert_int_equal(sq_json_parse(&doc, text, strlen(text), 0, NULL), 0);

    /* The root's members, each key followed by its value. */
    static const char *const names[] = {"a", "b", "c"};
    static const int types[] = {SQ_JSON_ARRAY, SQ_JSON_OBJECT, SQ_JSON_ARRAY};
    int keys[3], n = 0;
    assert_int_equal(sq_json_count(&doc, 0), 3);
    for (int k = sq_json_first(&doc, 0); k >= 0; k = sq_json_next(&doc, k)) {
        assert_true(n < 3);
        assert_int_equal(sq_json_str_equals(&doc, k, names[n], 1), 1);
        assert_int_equal(sq_json_type_of(&doc, sq_json_member_value(&doc, k)), types[n]);
        /* A value under a key has no sibling of its own. */
        assert_int_equal(sq_json_next(&doc, sq_json_member_value(&doc, k)), -1);
        keys[n++] = k;
    }
    assert_int_equal(n, 3);

    /* "a": next() skips the nested array and object whole. */
    int arr = sq_json_member_value(&doc, keys[0]);
    static const int elem_types[] = {SQ_JSON_NUMBER, SQ_JSON_ARRAY, SQ_JSON_OBJECT};
    n = 0;
    for (int e = sq_json_first(&doc, arr); e >= 0; e = sq_json_next(&doc, e)) {
        assert_true(n < 3);
        assert_int_equal(sq_json_type_of(&doc, e), elem_types[n]);
        assert_int_equal(sq_json_member_value(&doc, e), -1);
        n++;
    }
    assert_int_equal(n, 3);
    assert_int_equal(sq_json_count(&doc, arr), 3);

    /* Empty containers, scalars and the root have nothing to iterate. */
    assert_int_equal(sq_json_first(&doc, sq_json_member_value(&doc, keys[1])), -1);
    assert_int_equal(sq_json_count(&doc, sq_json_member_value(&doc, keys[1])), 0);
    assert_int_equal(sq_json_first(&doc, sq_json_member_value(&doc, keys[2])), -1);
    assert_int_equal(sq_json_first(&doc, arr + 1), -1);
    assert_int_equal(sq_json_count(&doc, arr + 1), -1);
    assert_int_equal(sq_json_next(&doc, 0), -1);
    assert_int_equal(sq_json_member_value(&doc, 0), -1);
    sq_json_free(&doc);
}

static void test_lookup(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        const char *name;
        int rc;
        const char *value; /* raw text of the value; NULL: absent */
    } cases[] = {
        {"{\"a\":1,\"b\":2}", "a", 0, "1"},
        {"{\"a\":1,\"b\":2}", "b", 0, "2"},
        {"{\"a\":1,\"b\":2}", "c", 0, NULL},
        {"{\"a\":1,\"b\":2}", "", 0, NULL},
        {"{}", "a", 0, NULL},
        {"{\"\":5}", "", 0, "5"},
        {"{\"key\":\"a\",\"key\":\"b\"}", "key", -1, NULL},
        {"{\"key\":\"a\",\"key\":\"b\"}", "other", 0, NULL},
        {"{\"k\":1,\"x\":2,\"k\":3}", "x", 0, "2"},
        {"{\"\\u0061\":1}", "a", 0, "1"},
        {"{\"a\":1,\"\\u0061\":2}", "a", -1, NULL},
        {"{\"a\\u0000b\":1}", "a", 0, NULL},
        {"{\"ab\":1}", "a", 0, NULL},
        {"{\"a\":1}", "ab", 0, NULL},
        {"{\"a\\\"b\":[1]}", "a\"b", 0, "[1]"},
        {"{\"a\\/b\":true}", "a/b", 0, "true"},
        {"{\"\\u00e9\":1}", "\xc3\xa9", 0, "1"},
        {"{\"\\uD83D\\uDE00\":{}}", "\xf0\x9f\x98\x80", 0, "{}"},
        {"{\"a\":{\"b\":1}}", "b", 0, NULL},
        {"[1]", "a", -1, NULL},
        {"\"a\"", "a", -1, NULL},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(cases); i++) {
        size_t len = strlen(cases[i].doc);
        guarded g;
        const char *in = guarded_copy(&g, cases[i].doc, len);
        sq_json doc;
        int value = 12345;
        assert_int_equal(sq_json_parse(&doc, in, len, 0, NULL), 0);
        int rc = sq_json_lookup(&doc, 0, cases[i].name, &value);
        if (rc != cases[i].rc)
            fail_msg("case %zu: lookup \"%s\" in %s gave %d", i, cases[i].name, cases[i].doc, rc);
        if (rc != 0) {
            assert_int_equal(value, 12345);
        } else if (cases[i].value == NULL) {
            assert_int_equal(value, -1);
        } else {
            const char *raw;
            size_t rawlen;
            assert_int_equal(sq_json_raw(&doc, value, &raw, &rawlen), 0);
            assert_int_equal(rawlen, strlen(cases[i].value));
            assert_memory_equal(raw, cases[i].value, rawlen);
        }
        sq_json_free(&doc);
        guarded_free(&g);
    }
}

/* Exact bytes out of escaped strings; the document is the string alone, so its last byte
 * sits right before the guard page. */
static void test_unescape(void **state)
{
    (void)state;
    struct unescape_case {
        const char *doc;
        const char *bytes;
        size_t len;
    };
#define UNESC(d, b)                                                                                \
    {                                                                                              \
        d, b, sizeof(b) - 1                                                                        \
    }
    static const struct unescape_case cases[] = {
        UNESC("\"\"", ""),
        UNESC("\"abc\"", "abc"),
        UNESC("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t"),
        UNESC("\"\\u0000\"", "\0"),
        UNESC("\"a\\u0000b\"", "a\0b"),
        UNESC("\"\\u0041\\u00e9\\u20ac\"", "A\xc3\xa9\xe2\x82\xac"),
        UNESC("\"\\u007F\"", "\x7f"),
        UNESC("\"\\u0080\"", "\xc2\x80"),
        UNESC("\"\\u07FF\"", "\xdf\xbf"),
        UNESC("\"\\u0800\"", "\xe0\xa0\x80"),
        UNESC("\"\\uD7FF\"", "\xed\x9f\xbf"),
        UNESC("\"\\uE000\"", "\xee\x80\x80"),
        UNESC("\"\\uFFFF\"", "\xef\xbf\xbf"),
        UNESC("\"\\uD800\\uDC00\"", "\xf0\x90\x80\x80"),
        UNESC("\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80"),
        UNESC("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80"),
        UNESC("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf"),
        UNESC("\"caf\xc3\xa9\"", "caf\xc3\xa9"),
        UNESC("\"x\\\\u0041\"", "x\\u0041"),
        UNESC("\"\\u005C\\u0022\"", "\\\""),
        UNESC("\"a\\nb\\tc\"", "a\nb\tc"),
    };
#undef UNESC
    sq_arena a = {0};
    for (size_t i = 0; i < SQ_ARRAY_LEN(cases); i++) {
        const struct unescape_case *c = &cases[i];
        size_t len = strlen(c->doc);
        guarded g;
        const char *in = guarded_copy(&g, c->doc, len);
        sq_json doc;
        assert_int_equal(sq_json_parse(&doc, in, len, 0, NULL), 0);

        /* The buffer version appends. */
        sq_buf b = {0};
        assert_int_equal(sq_buf_puts(&b, "pre"), 0);
        assert_int_equal(sq_json_get_str(&doc, 0, &b), 0);
        assert_int_equal(b.len, 3 + c->len);
        assert_memory_equal(b.data, "pre", 3);
        assert_memory_equal(b.data + 3, c->bytes, c->len);
        assert_int_equal(b.data[b.len], '\0');

        const char *s;
        size_t n;
        assert_int_equal(sq_json_get_str_arena(&doc, 0, &a, &s, &n), 0);
        assert_int_equal(n, c->len);
        assert_memory_equal(s, c->bytes, n + 1);

        assert_int_equal(sq_json_str_equals(&doc, 0, c->bytes, c->len), 1);
        if (c->len > 0)
            assert_int_equal(sq_json_str_equals(&doc, 0, c->bytes, c->len - 1), 0);
        assert_int_equal(sq_json_str_equals(&doc, 0, "pre", 3), 0);
        sq_buf_free(&b);
        sq_json_free(&doc);
        guarded_free(&g);
    }

    /* An empty string into an empty buffer still leaves a terminated buffer. */
    sq_json doc;
    sq_buf b = {0};
    assert_int_equal(sq_json_parse(&doc, "\"\"", 2, 0, NULL), 0);
    assert_int_equal(sq_json_get_str(&doc, 0, &b), 0);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    sq_buf_free(&b);
    sq_json_free(&doc);
    sq_arena_free(&a);
}

static void test_numbers(void **state)
{
    (void)state;
    static const struct {
        const char *doc;
        int i64_rc;
        int64_t i64;
        int u64_rc;
        uint64_t u64;
    } ints[] = {
        {"0", 0, 0, 0, 0},
        {"-0", 0, 0, 0, 0},
        {"1", 0, 1, 0, 1},
        {"-1", 0, -1, -1, 0},
        {"42", 0, 42, 0, 42},
        {"9223372036854775807", 0, INT64_MAX, 0, INT64_MAX},
        {"9223372036854775808", -1, 0, 0, (uint64_t)INT64_MAX + 1},
        {"-9223372036854775808", 0, INT64_MIN, -1, 0},
        {"-9223372036854775809", -1, 0, -1, 0},
        {"18446744073709551615", -1, 0, 0, UINT64_MAX},
        {"18446744073709551616", -1, 0, -1, 0},
        {"99999999999999999999", -1, 0, -1, 0},
        {"123456789012345678901234567890", -1, 0, -1, 0},
        {"1.0", -1, 0, -1, 0},
        {"1e2", -1, 0, -1, 0},
        {"1E0", -1, 0, -1, 0},
        {"0.5", -1, 0, -1, 0},
        {"-0.0", -1, 0, -1, 0},
        {"\"1\"", -1, 0, -1, 0},
        {"true", -1, 0, -1, 0},
        {"null", -1, 0, -1, 0},
        {"[1]", -1, 0, -1, 0},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(ints); i++) {
        size_t len = strlen(ints[i].doc);
        guarded g;
        const char *in = guarded_copy(&g, ints[i].doc, len);
        sq_json doc;
        int64_t v = 777;
        uint64_t u = 777;
        assert_int_equal(sq_json_parse(&doc, in, len, 0, NULL), 0);
        if (sq_json_get_int64(&doc, 0, &v) != ints[i].i64_rc ||
            sq_json_get_uint64(&doc, 0, &u) != ints[i].u64_rc)
            fail_msg("integer case %zu: %s", i, ints[i].doc);
        assert_true(v == (ints[i].i64_rc == 0 ? ints[i].i64 : 777));
        assert_true(u == (ints[i].u64_rc == 0 ? ints[i].u64 : 777));
        sq_json_free(&doc);
        guarded_free(&g);
    }

    static const struct {
        const char *doc;
        int rc;
        double value;
    } doubles[] = {
        {"0", 0, 0.0},
        {"-0", 0, -0.0},
        {"1.5", 0, 1.5},
        {"-1E+2", 0, -100.0},
        {"0.1", 0, 0.1},
        {"1e-5", 0, 1e-5},
        {"123456789012345678901234567890", 0, 123456789012345678901234567890.0},
        {"1.7976931348623157e308", 0, 1.7976931348623157e308},
        {"2.2250738585072014e-308", 0, 2.2250738585072014e-308},
        {"4.9e-324", 0, 4.9e-324},
        {"1e-999", 0, 0.0},
        {"1e999", -1, 0},
        {"-1e999", -1, 0},
        {"1.8e308", -1, 0},
        {"0.0000000000000000000000000000000000000000000000000000000000000000000000000001", 0,
         1e-76},
        {"\"1\"", -1, 0},
        {"true", -1, 0},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(doubles); i++) {
        size_t len = strlen(doubles[i].doc);
        guarded g;
        const char *in = guarded_copy(&g, doubles[i].doc, len);
        sq_json doc;
        double d = 777;
        assert_int_equal(sq_json_parse(&doc, in, len, 0, NULL), 0);
        if (sq_json_get_double(&doc, 0, &d) != doubles[i].rc)
            fail_msg("double case %zu: %s", i, doubles[i].doc);
        if (doubles[i].rc == 0) {
            assert_true(d == doubles[i].value);
            assert_int_equal(signbit(d) != 0, signbit(doubles[i].value) != 0);
        } else {
            assert_true(d == 777);
        }
        sq_json_free(&doc);
        guarded_free(&g);
    }
}

static void test_bool_null_and_bad_index(void **state)
{
    (void)state;
    const char *text = "[true,false,null]";
    sq_json doc;
    bool b = false;
    assert_int_equal(sq_json_parse(&doc, text, strlen(text), 0, NULL), 0);
    assert_int_equal(sq_json_get_bool(&doc, 1, &b), 0);
    assert_true(b);
    assert_int_equal(sq_json_get_bool(&doc, 2, &b), 0);
    assert_false(b);
    b = true;
    assert_int_equal(sq_json_get_bool(&doc, 3, &b), -1);
    assert_true(b);
    assert_true(sq_json_is_null(&doc, 3));
    assert_false(sq_json_is_null(&doc, 2));
    assert_false(sq_json_is_null(&doc, 0));

    /* Out-of-range indices, and a document that was never parsed, fail every getter. */
    sq_json empty = {0};
    const sq_json *docs[] = {&doc, &empty};
    const int bad[2][4] = {{-1, 4, INT32_MAX, INT32_MIN}, {0, -1, 1, INT32_MAX}};
    for (size_t d = 0; d < SQ_ARRAY_LEN(docs); d++) {
        for (size_t i = 0; i < SQ_ARRAY_LEN(bad[d]); i++) {
            const sq_json *j = docs[d];
            int t = bad[d][i];
            sq_buf buf = {0};
            sq_arena arena = {0};
            const char *s = NULL;
            size_t n = 99;
            int64_t v = 5;
            uint64_t u = 5;
            double x = 5;
            int value = 5;
            assert_int_equal(sq_json_type_of(j, t), -1);
            assert_int_equal(sq_json_count(j, t), -1);
            assert_int_equal(sq_json_first(j, t), -1);
            assert_int_equal(sq_json_next(j, t), -1);
            assert_int_equal(sq_json_member_value(j, t), -1);
            assert_int_equal(sq_json_lookup(j, t, "a", &value), -1);
            assert_int_equal(sq_json_get_str(j, t, &buf), -1);
            assert_int_equal(sq_json_get_str_arena(j, t, &arena, &s, &n), -1);
            assert_int_equal(sq_json_str_equals(j, t, "a", 1), -1);
            assert_int_equal(sq_json_get_int64(j, t, &v), -1);
            assert_int_equal(sq_json_get_uint64(j, t, &u), -1);
            assert_int_equal(sq_json_get_double(j, t, &x), -1);
            assert_int_equal(sq_json_get_bool(j, t, &b), -1);
            assert_false(sq_json_is_null(j, t));
            assert_int_equal(sq_json_raw(j, t, &s, &n), -1);
            assert_true(s == NULL && n == 99 && v == 5 && u == 5 && x == 5 && value == 5);
            assert_int_equal(buf.len, 0);
            assert_int_equal(arena.allocated, 0);
        }
    }
    sq_json_free(&doc);
    sq_json_free(&empty);
}

/* ---- writer ------------------------------------------------------------------------------- */

enum op_kind {
    OP_NONE, /* end of script */
    OP_OBJ,
    OP_END_OBJ,
    OP_ARR,
    OP_END_ARR,
    OP_KEY,
    OP_KEYN,
    OP_STR,
    OP_STRN,
    OP_I64,
    OP_U64,
    OP_DBL,
    OP_TRUE,
    OP_FALSE,
    OP_NULL,
    OP_RAW,
};

struct op {
    enum op_kind kind;
    const char *s;
    size_t n;
    int64_t i;
    uint64_t u;
    double d;
};

#define OBJ                                                                                        \
    {                                                                                              \
        OP_OBJ, NULL, 0, 0, 0, 0                                                                   \
    }
#define END_OBJ                                                                                    \
    {                                                                                              \
        OP_END_OBJ, NULL, 0, 0, 0, 0                                                               \
    }
#define ARR                                                                                        \
    {                                                                                              \
        OP_ARR, NULL, 0, 0, 0, 0                                                                   \
    }
#define END_ARR                                                                                    \
    {                                                                                              \
        OP_END_ARR, NULL, 0, 0, 0, 0                                                               \
    }
#define K(s)                                                                                       \
    {                                                                                              \
        OP_KEY, s, 0, 0, 0, 0                                                                      \
    }
#define KN(s)                                                                                      \
    {                                                                                              \
        OP_KEYN, s, sizeof(s) - 1, 0, 0, 0                                                         \
    }
#define S(s)                                                                                       \
    {                                                                                              \
        OP_STR, s, 0, 0, 0, 0                                                                      \
    }
#define SN(s)                                                                                      \
    {                                                                                              \
        OP_STRN, s, sizeof(s) - 1, 0, 0, 0                                                         \
    }
#define I(v)                                                                                       \
    {                                                                                              \
        OP_I64, NULL, 0, v, 0, 0                                                                   \
    }
#define U(v)                                                                                       \
    {                                                                                              \
        OP_U64, NULL, 0, 0, v, 0                                                                   \
    }
#define D(v)                                                                                       \
    {                                                                                              \
        OP_DBL, NULL, 0, 0, 0, v                                                                   \
    }
#define T                                                                                          \
    {                                                                                              \
        OP_TRUE, NULL, 0, 0, 0, 0                                                                  \
    }
#define F                                                                                          \
    {                                                                                              \
        OP_FALSE, NULL, 0, 0, 0, 0                                                                 \
    }
#define N                                                                                          \
    {                                                                                              \
        OP_NULL, NULL, 0, 0, 0, 0                                                                  \
    }
#define RAW(s)                                                                                     \
    {                                                                                              \
        OP_RAW, s, 0, 0, 0, 0                                                                      \
    }
#define NOTHING                                                                                    \
    {                                                                                              \
        OP_NONE, NULL, 0, 0, 0, 0                                                                  \
    }

static int run_op(sq_json_writer *w, const struct op *op)
{
    switch (op->kind) {
    case OP_OBJ:
        return sq_json_write_begin_object(w);
    case OP_END_OBJ:
        return sq_json_write_end_object(w);
    case OP_ARR:
        return sq_json_write_begin_array(w);
    case OP_END_ARR:
        return sq_json_write_end_array(w);
    case OP_KEY:
        return sq_json_write_key(w, op->s);
    case OP_KEYN:
        return sq_json_write_keyn(w, op->s, op->n);
    case OP_STR:
        return sq_json_write_string(w, op->s);
    case OP_STRN:
        return sq_json_write_stringn(w, op->s, op->n);
    case OP_I64:
        return sq_json_write_int64(w, op->i);
    case OP_U64:
        return sq_json_write_uint64(w, op->u);
    case OP_DBL:
        return sq_json_write_double(w, op->d);
    case OP_TRUE:
        return sq_json_write_bool(w, true);
    case OP_FALSE:
        return sq_json_write_bool(w, false);
    case OP_NULL:
        return sq_json_write_null(w);
    case OP_RAW:
        return sq_json_write_raw(w, op->s, strlen(op->s));
    case OP_NONE:
        break;
    }
    return -1;
}

/* A script of writer calls; `out` is the expected output if every call succeeds and the
 * writer finishes, else NULL and `fails` is the index of the call that must fail first
 * (-1: every call succeeds but finish must fail). */
struct writer_case {
    struct op ops[12];
    const char *out;
    int fails;
};

static const struct writer_case writer_cases[] = {
    {{OBJ, END_OBJ}, "{}", 0},
    {{ARR, END_ARR}, "[]", 0},
    {{ARR, I(1), I(2), END_ARR}, "[1,2]", 0},
    {{OBJ, K("a"), I(1), K("b"), ARR, T, N, END_ARR, END_OBJ}, "{\"a\":1,\"b\":[true,null]}", 0},
    {{ARR, OBJ, END_OBJ, ARR, END_ARR, OBJ, K("x"), ARR, END_ARR, END_OBJ, END_ARR},
     "[{},[],{\"x\":[]}]",
     0},
    {{S("x")}, "\"x\"", 0},
    {{S("")}, "\"\"", 0},
    {{T}, "true", 0},
    {{F}, "false", 0},
    {{N}, "null", 0},
    {{I(0)}, "0", 0},
    {{I(-42)}, "-42", 0},
    {{I(INT64_MIN)}, "-9223372036854775808", 0},
    {{I(INT64_MAX)}, "9223372036854775807", 0},
    {{U(UINT64_MAX)}, "18446744073709551615", 0},
    {{D(0.1)}, "0.1", 0},
    {{D(1.5)}, "1.5", 0},
    {{D(-0.0)}, "-0", 0},
    {{D(100.0)}, "100", 0},
    {{D(1e300)}, "1e+300", 0},
    {{D(0.30000000000000004)}, "0.30000000000000004", 0},
    {{ARR, D(1.0 / 3.0), END_ARR}, "[0.3333333333333333]", 0},
    /* Escaping: the short forms where JSON has them, \u00XX for other controls, DEL and '/'
     * as they are. */
    {{S("\"\\/\b\f\n\r\t\x01\x1f\x7f")}, "\"\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\"", 0},
    {{SN("a\0b")}, "\"a\\u0000b\"", 0},
    {{OBJ, K("a\"b"), I(1), KN("\0"), I(2), END_OBJ}, "{\"a\\\"b\":1,\"\\u0000\":2}", 0},
    /* UTF-8 stays as it is, and every byte that does not start a valid sequence becomes one
     * U+FFFD. */
    {{S("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")},
     "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
     0},
    {{S("a\xff"
        "b")},
     "\"a\xef\xbf\xbd"
     "b\"",
     0},
    {{S("\xc0\xaf")}, "\"\xef\xbf\xbd\xef\xbf\xbd\"", 0},
    {{S("\xed\xa0\x80")}, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"", 0},
    {{S("\xe2\x82")}, "\"\xef\xbf\xbd\xef\xbf\xbd\"", 0},
    {{S("\xf4\x90\x80\x80")}, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"", 0},
    {{S("\xc3\xa9\xa9")}, "\"\xc3\xa9\xef\xbf\xbd\"", 0},
    /* Raw JSON goes in verbatim once validated. */
    {{ARR, RAW("{}"), RAW(" 2 "), RAW("\"s\""), END_ARR}, "[{}, 2 ,\"s\"]", 0},
    {{OBJ, K("payload"), RAW("{\"a\":[1,2]}"), END_OBJ}, "{\"payload\":{\"a\":[1,2]}}", 0},
    /* Misuse. */
    {{OBJ, I(1)}, NULL, 1},
    {{OBJ, S("a")}, NULL, 1},
    {{OBJ, ARR}, NULL, 1},
    {{ARR, K("a")}, NULL, 1},
    {{K("a")}, NULL, 0},
    {{OBJ, K("a"), K("b")}, NULL, 2},
    {{OBJ, K("a"), END_OBJ}, NULL, 2},
    {{ARR, END_OBJ}, NULL, 1},
    {{OBJ, END_ARR}, NULL, 1},
    {{END_ARR}, NULL, 0},
    {{END_OBJ}, NULL, 0},
    {{I(1), I(2)}, NULL, 1},
    {{ARR, END_ARR, ARR}, NULL, 2},
    {{ARR, END_ARR, END_ARR}, NULL, 2},
    {{D(NAN)}, NULL, 0},
    {{D(INFINITY)}, NULL, 0},
    {{ARR, D(-INFINITY)}, NULL, 1},
    {{RAW("[1,]")}, NULL, 0},
    {{RAW("")}, NULL, 0},
    {{RAW("1 2")}, NULL, 0},
    {{OBJ, RAW("\"k\"")}, NULL, 1},
    /* The failure is sticky: the valid calls after it fail too. */
    {{ARR, K("a"), I(1), END_ARR}, NULL, 1},
    /* Incomplete documents cannot be finished. */
    {{NOTHING}, NULL, -1},
    {{ARR}, NULL, -1},
    {{OBJ, K("a")}, NULL, -1},
    {{ARR, OBJ, END_OBJ}, NULL, -1},
};

static void test_writer_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < SQ_ARRAY_LEN(writer_cases); i++) {
        const struct writer_case *c = &writer_cases[i];
        sq_buf out = {0};
        sq_json_writer w;
        int failed_at = -1;

        sq_json_writer_init(&w, &out);
        for (int k = 0; k < (int)SQ_ARRAY_LEN(c->ops) && c->ops[k].kind != OP_NONE; k++) {
            int rc = run_op(&w, &c->ops[k]);
            if (failed_at >= 0 && rc != -1)
                fail_msg("writer case %zu: op %d succeeded after a failure", i, k);
            if (rc != 0 && failed_at < 0)
                failed_at = k;
        }
        int fin = sq_json_writer_finish(&w);
        if (c->out != NULL) {
            if (failed_at >= 0 || fin != 0)
                fail_msg("writer case %zu: op %d failed, finish %d", i, failed_at, fin);
            assert_int_equal(out.len, strlen(c->out));
            assert_memory_equal(out.data, c->out, out.len);

            /* Whatever the writer completes, the parser accepts. */
            sq_json doc;
            sq_json_error err;
            if (sq_json_parse(&doc, out.data, out.len, 0, &err) != 0)
                fail_msg("writer case %zu: output rejected: %s", i, err.text);
            sq_json_free(&doc);
        } else {
            if (failed_at != c->fails)
                fail_msg("writer case %zu: first failure at op %d, want %d", i, failed_at,
                         c->fails);
            assert_int_equal(fin, -1);
        }
        sq_buf_free(&out);
    }
}

static void test_writer_depth(void **state)
{
    (void)state;
    sq_buf out = {0};
    sq_json_writer w;
    sq_json_writer_init(&w, &out);
    for (int i = 0; i < SQ_JSON_WRITER_MAX_DEPTH; i++)
        assert_int_equal(sq_json_write_begin_array(&w), 0);
    /* At the limit, raw text may add no nesting of its own. */
    sq_json_writer probe = w;
    assert_int_equal(sq_json_write_raw(&probe, "[]", 2), -1);
    assert_int_equal(sq_json_write_raw(&w, "1", 1), 0);
    for (int i = 0; i < SQ_JSON_WRITER_MAX_DEPTH; i++)
        assert_int_equal(sq_json_write_end_array(&w), 0);
    assert_int_equal(sq_json_writer_finish(&w), 0);

    /* The deepest output the writer makes parses with the default limit. */
    sq_json doc;
    assert_int_equal(sq_json_parse(&doc, out.data, out.len, 0, NULL), 0);
    assert_int_equal(doc.ntoks, SQ_JSON_WRITER_MAX_DEPTH + 1);
    sq_json_free(&doc);

    sq_buf_reset(&out);
    sq_json_writer_init(&w, &out);
    for (int i = 0; i < SQ_JSON_WRITER_MAX_DEPTH; i++)
        assert_int_equal(sq_json_write_begin_object(&w) | sq_json_write_key(&w, "k"), 0);
    assert_int_equal(sq_json_write_begin_array(&w), -1);
    assert_int_equal(sq_json_writer_finish(&w), -1);
    sq_buf_free(&out);
}

/* ---- round trips -------------------------------------------------------------------------- */

/* What the writer should make of arbitrary bytes, computed independently of json.c: decode
 * each sequence to a code point and reject it by value (overlong, surrogate, out of range)
 * rather than by the table of lead and second bytes that json.c uses. */
static void reference_sanitize(const unsigned char *s, size_t n, sq_buf *out)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t need = c < 0x80             ? 0
                      : (c & 0xE0) == 0xC0 ? 1
                      : (c & 0xF0) == 0xE0 ? 2
                      : (c & 0xF8) == 0xF0 ? 3
                                           : 99;
        uint32_t cp = need == 0 ? c : need == 1 ? c & 0x1Fu : need == 2 ? c & 0x0Fu : c & 0x07u;
        bool ok = need != 99 && n - i > need;
        for (size_t k = 1; ok && k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                ok = false;
            else
                cp = cp << 6 | (s[i + k] & 0x3Fu);
        }
        static const uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
        if (ok && (cp < min_cp[need] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
            ok = false;
        if (ok) {
            assert_int_equal(sq_buf_append(out, s + i, need + 1), 0);
            i += need + 1;
        } else {
            assert_int_equal(sq_buf_append(out, "\xef\xbf\xbd", 3), 0);
            i++;
        }
    }
    assert_int_equal(sq_buf_append(out, "", 0), 0);
}

/* Writes `s` as a string and as a key, parses the output back, and checks both unescape to
 * the sanitized bytes. */
static void round_trip_string(const unsigned char *s, size_t n)
{
    sq_buf out = {0}, want = {0}, got = {0};
    sq_json_writer w;
    sq_json doc;
    sq_json_error err;

    reference_sanitize(s, n, &want);
    sq_json_writer_init(&w, &out);
    assert_int_equal(sq_json_write_begin_object(&w), 0);
    assert_int_equal(sq_json_write_keyn(&w, (const char *)s, n), 0);
    assert_int_equal(sq_json_write_stringn(&w, (const char *)s, n), 0);
    assert_int_equal(sq_json_write_end_object(&w), 0);
    assert_int_equal(sq_json_writer_finish(&w), 0);

    guarded g;
    const char *in = guarded_copy(&g, out.data, out.len);
    if (sq_json_parse(&doc, in, out.len, 0, &err) != 0)
        fail_msg("writer output rejected: %s", err.text);
    assert_int_equal(doc.ntoks, 3);
    for (int t = 1; t <= 2; t++) {
        sq_buf_reset(&got);
        assert_int_equal(sq_json_get_str(&doc, t, &got), 0);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.data, want.data, want.len);
    }
    sq_json_free(&doc);
    guarded_free(&g);
    sq_buf_free(&out);
    sq_buf_free(&want);
    sq_buf_free(&got);
}

/* A small deterministic generator, so that a failure can be replayed. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_round_trip_strings(void **state)
{
    (void)state;
    unsigned char all[256];

    /* Every byte value alone, then all of them in one string. */
    for (int b = 0; b < 256; b++) {
        all[b] = (unsigned char)b;
        round_trip_string(&all[b], 1);
    }
    round_trip_string(all, sizeof(all));
    round_trip_string(all, 0);

    /* Random bytes, biased towards the interesting ones. */
    static const unsigned char spice[] = {0x00, 0x1F, '"',  '\\', 0x7F, 0x80, 0xBF, 0xC0,
                                          0xC2, 0xE0, 0xED, 0xF0, 0xF4, 0xF5, 0xFF};
    unsigned char buf[48];
    for (int i = 0; i < 3000; i++) {
        size_t n = rng() % sizeof(buf);
        for (size_t k = 0; k < n; k++) {
            uint64_t r = rng();
            buf[k] = r % 4 == 0 ? spice[(r >> 8) % sizeof(spice)] : (unsigned char)(r >> 16);
        }
        round_trip_string(buf, n);
    }

    /* Random valid UTF-8 must come back byte for byte. */
    for (int i = 0; i < 1000; i++) {
        sq_buf s = {0};
        size_t count = rng() % 12;
        for (size_t k = 0; k < count; k++) {
            uint32_t cp;
            do {
                uint64_t r = rng();
                cp = (uint32_t)(r % 4 == 0 ? r % 0x80 : r % 0x110000);
            } while (cp >= 0xD800 && cp <= 0xDFFF);
            char enc[4];
            size_t len;
            if (cp < 0x80) {
                enc[0] = (char)cp;
                len = 1;
            } else if (cp < 0x800) {
                enc[0] = (char)(0xC0 | cp >> 6);
                enc[1] = (char)(0x80 | (cp & 0x3F));
                len = 2;
            } else if (cp < 0x10000) {
                enc[0] = (char)(0xE0 | cp >> 12);
                enc[1] = (char)(0x80 | (cp >> 6 & 0x3F));
                enc[2] = (char)(0x80 | (cp & 0x3F));
                len = 3;
            } else {
                enc[0] = (char)(0xF0 | cp >> 18);
                enc[1] = (char)(0x80 | (cp >> 12 & 0x3F));
                enc[2] = (char)(0x80 | (cp >> 6 & 0x3F));
                enc[3] = (char)(0x80 | (cp & 0x3F));
                len = 4;
            }
            assert_int_equal(sq_buf_append(&s, enc, len), 0);
        }
        sq_buf check = {0};
        reference_sanitize((const unsigned char *)s.data, s.len, &check);
        assert_int_equal(check.len, s.len); /* the reference agrees it is valid */
        round_trip_string((const unsigned char *)s.data, s.len);
        sq_buf_free(&check);
        sq_buf_free(&s);
    }
}

static void test_round_trip_values(void **state)
{
    (void)state;
    static const int64_t ints[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN, INT64_MIN + 1, 1000000007};
    static const uint64_t uints[] = {0, 1, UINT64_MAX, (uint64_t)INT64_MAX + 1};
    double doubles[1000 + 10] = {0.0,
                                 -0.0,
                                 0.1,
                                 1e300,
                                 -1e-300,
                                 5e-324,
                                 1.7976931348623157e308,
                                 2.2250738585072014e-308,
                                 1.0 / 3.0,
                                 123456789.125};
    size_t nd = 10;
    while (nd < SQ_ARRAY_LEN(doubles)) {
        uint64_t bits = rng();
        double d;
        memcpy(&d, &bits, sizeof(d));
        if (isfinite(d))
            doubles[nd++] = d;
    }

    sq_buf out = {0};
    sq_json_writer w;
    sq_json_writer_init(&w, &out);
    assert_int_equal(sq_json_write_begin_object(&w), 0);
    assert_int_equal(sq_json_write_key(&w, "ints"), 0);
    assert_int_equal(sq_json_write_begin_array(&w), 0);
    for (size_t i = 0; i < SQ_ARRAY_LEN(ints); i++)
        assert_int_equal(sq_json_write_int64(&w, ints[i]), 0);
    assert_int_equal(sq_json_write_end_array(&w), 0);
    assert_int_equal(sq_json_write_key(&w, "uints"), 0);
    assert_int_equal(sq_json_write_begin_array(&w), 0);
    for (size_t i = 0; i < SQ_ARRAY_LEN(uints); i++)
        assert_int_equal(sq_json_write_uint64(&w, uints[i]), 0);
    assert_int_equal(sq_json_write_end_array(&w), 0);
    assert_int_equal(sq_json_write_key(&w, "doubles"), 0);
    assert_int_equal(sq_json_write_begin_array(&w), 0);
    for (size_t i = 0; i < nd; i++)
        assert_int_equal(sq_json_write_double(&w, doubles[i]), 0);
    assert_int_equal(sq_json_write_end_array(&w), 0);
    assert_int_equal(sq_json_write_key(&w, "flags"), 0);
    assert_int_equal(sq_json_write_begin_array(&w), 0);
    assert_int_equal(
        sq_json_write_bool(&w, true) | sq_json_write_bool(&w, false) | sq_json_write_null(&w), 0);
    assert_int_equal(sq_json_write_end_array(&w), 0);
    assert_int_equal(sq_json_write_end_object(&w), 0);
    assert_int_equal(sq_json_writer_finish(&w), 0);

    sq_json doc;
    sq_json_error err;
    if (sq_json_parse(&doc, out.data, out.len, 0, &err) != 0)
        fail_msg("writer output rejected: %s", err.text);
    int arr, e;
    size_t i;

    assert_int_equal(sq_json_lookup(&doc, 0, "ints", &arr), 0);
    for (i = 0, e = sq_json_first(&doc, arr); e >= 0; e = sq_json_next(&doc, e), i++) {
        int64_t v;
        assert_int_equal(sq_json_get_int64(&doc, e, &v), 0);
        assert_true(v == ints[i]);
    }
    assert_int_equal(i, SQ_ARRAY_LEN(ints));

    assert_int_equal(sq_json_lookup(&doc, 0, "uints", &arr), 0);
    for (i = 0, e = sq_json_first(&doc, arr); e >= 0; e = sq_json_next(&doc, e), i++) {
        uint64_t v;
        assert_int_equal(sq_json_get_uint64(&doc, e, &v), 0);
        assert_true(v == uints[i]);
    }
    assert_int_equal(i, SQ_ARRAY_LEN(uints));

    assert_int_equal(sq_json_lookup(&doc, 0, "doubles", &arr), 0);
    for (i = 0, e = sq_json_first(&doc, arr); e >= 0; e = sq_json_next(&doc, e), i++) {
        double v;
        assert_int_equal(sq_json_get_double(&doc, e, &v), 0);
        if (memcmp(&v, &doubles[i], sizeof(v)) != 0)
            fail_msg("double %zu: wrote %.17g, read %.17g", i, doubles[i], v);
    }
    assert_int_equal(i, nd);

    bool b;
    assert_int_equal(sq_json_lookup(&doc, 0, "flags", &arr), 0);
    assert_int_equal(sq_json_get_bool(&doc, arr + 1, &b), 0);
    assert_true(b);
    assert_int_equal(sq_json_get_bool(&doc, arr + 2, &b), 0);
    assert_false(b);
    assert_true(sq_json_is_null(&doc, arr + 3));

    sq_json_free(&doc);
    sq_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doc_table),
        cmocka_unit_test(test_long_strings),
        cmocka_unit_test(test_error_text),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_iteration),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_bool_null_and_bad_index),
        cmocka_unit_test(test_writer_table),
        cmocka_unit_test(test_writer_depth),
        cmocka_unit_test(test_round_trip_strings),
        cmocka_unit_test(test_round_trip_values),
    };
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
