/* Table-driven tests of the JSON reader: tokens, iteration, lookups, unescaping, numbers and
 * every getter on a bad index. Inputs end at a guard page. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "json_test.h"

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
        guarded g;
        sq_json doc;
        parse_guarded(&g, &doc, cases[i].doc, strlen(cases[i].doc));
        assert_int_equal(doc.ntoks, cases[i].n);
        for (int t = 0; t < cases[i].n; t++) {
            assert_int_equal(sq_json_type_of(&doc, t), cases[i].toks[t].type);
            assert_raw(&doc, t, cases[i].toks[t].raw);
        }
        parsed_free(&g, &doc);
    }
}

static void test_iteration(void **state)
{
    (void)state;
    const char *text = "{\"a\":[1,[2,3],{\"x\":4}],\"b\":{},\"c\":[]}";
    guarded g;
    sq_json doc;
    parse_guarded(&g, &doc, text, strlen(text));

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
    parsed_free(&g, &doc);
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
        guarded g;
        sq_json doc;
        int value = 12345;
        parse_guarded(&g, &doc, cases[i].doc, strlen(cases[i].doc));
        int rc = sq_json_lookup(&doc, 0, cases[i].name, &value);
        if (rc != cases[i].rc)
            fail_msg("case %zu: lookup \"%s\" in %s gave %d", i, cases[i].name, cases[i].doc, rc);
        if (rc != 0) {
            assert_int_equal(value, 12345);
        } else if (cases[i].value == NULL) {
            assert_int_equal(value, -1);
        } else {
            assert_raw(&doc, value, cases[i].value);
        }
        parsed_free(&g, &doc);
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
        guarded g;
        sq_json doc;
        parse_guarded(&g, &doc, c->doc, strlen(c->doc));

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
        parsed_free(&g, &doc);
    }

    /* An empty string into an empty buffer still leaves a terminated buffer. */
    guarded g;
    sq_json doc;
    sq_buf b = {0};
    parse_guarded(&g, &doc, "\"\"", 2);
    assert_int_equal(sq_json_get_str(&doc, 0, &b), 0);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    sq_buf_free(&b);
    parsed_free(&g, &doc);
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
        guarded g;
        sq_json doc;
        int64_t v = 777;
        uint64_t u = 777;
        parse_guarded(&g, &doc, ints[i].doc, strlen(ints[i].doc));
        if (sq_json_get_int64(&doc, 0, &v) != ints[i].i64_rc ||
            sq_json_get_uint64(&doc, 0, &u) != ints[i].u64_rc)
            fail_msg("integer case %zu: %s", i, ints[i].doc);
        assert_true(v == (ints[i].i64_rc == 0 ? ints[i].i64 : 777));
        assert_true(u == (ints[i].u64_rc == 0 ? ints[i].u64 : 777));
        parsed_free(&g, &doc);
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
        guarded g;
        sq_json doc;
        double d = 777;
        parse_guarded(&g, &doc, doubles[i].doc, strlen(doubles[i].doc));
        if (sq_json_get_double(&doc, 0, &d) != doubles[i].rc)
            fail_msg("double case %zu: %s", i, doubles[i].doc);
        if (doubles[i].rc == 0) {
            assert_true(d == doubles[i].value);
            assert_int_equal(signbit(d) != 0, signbit(doubles[i].value) != 0);
        } else {
            assert_true(d == 777);
        }
        parsed_free(&g, &doc);
    }
}

static void test_bool_null_and_bad_index(void **state)
{
    (void)state;
    const char *text = "[true,false,null]";
    guarded g;
    sq_json doc;
    bool b = false;
    parse_guarded(&g, &doc, text, strlen(text));
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
    parsed_free(&g, &doc);
    sq_json_free(&empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),  cmocka_unit_test(test_iteration),
        cmocka_unit_test(test_lookup),  cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_numbers), cmocka_unit_test(test_bool_null_and_bad_index),
    };
    return cmocka_run_group_tests_name("json_read", tests, NULL, NULL);
}
