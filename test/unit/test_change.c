/* Table-driven tests of a row change made into a message: values by type, the data's shape per
 * action and replica identity, unchanged TOAST, key formats, and the escaping of key tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "json_test.h"
#include "sequin/change.h"
#include "sequin/keys.h"

#define T(s)                                                                                       \
    {                                                                                              \
        SQ_VALUE_TEXT, s, sizeof(s) - 1                                                            \
    }
#define NUL_V                                                                                      \
    {                                                                                              \
        SQ_VALUE_NULL, NULL, 0                                                                     \
    }
#define TOAST                                                                                      \
    {                                                                                              \
        SQ_VALUE_UNCHANGED_TOAST, NULL, 0                                                          \
    }

/* Every output must be valid JSON: checked on a copy ending at a guard page. */
static void assert_valid_json(const char *s, size_t n)
{
    guarded g;
    sq_json_error err;
    const char *in = guarded_copy(&g, s, n);
    if (sq_json_validate(in, n, 0, &err) != 0)
        fail_msg("<<%.*s>> is not JSON: %s", (int)n, s, err.text);
    guarded_free(&g);
}

/* ---- values by type ------------------------------------------------------------------------ */

struct value_case {
    uint32_t oid;
    sq_pgoutput_value v;
    const char *want; /* the JSON text */
};

static char digits_1000[1001];

static const struct value_case value_cases[] = {
    /* Integers and oid: numbers. */
    {21, T("-32768"), "-32768"},
    {23, T("2147483647"), "2147483647"},
    {20, T("-9223372036854775808"), "-9223372036854775808"},
    {26, T("4294967295"), "4294967295"},
    {23, T("0"), "0"},
    /* Floats: what PostgreSQL prints, JSON numbers where JSON has them. */
    {700, T("1.5"), "1.5"},
    {701, T("1e+100"), "1e+100"},
    {701, T("1.5e-07"), "1.5e-07"},
    {701, T("-0"), "-0"},
    {701, T("NaN"), "\"NaN\""},
    {701, T("Infinity"), "\"Infinity\""},
    {701, T("-Infinity"), "\"-Infinity\""},
    {700, T("-Infinity"), "\"-Infinity\""},
    /* numeric: any size of number, its specials as strings. */
    {1700, T("3.14159"), "3.14159"},
    {1700, T("-0.000100"), "-0.000100"},
    {1700, T("NaN"), "\"NaN\""},
    {1700, T("Infinity"), "\"Infinity\""},
    {1700, T("-Infinity"), "\"-Infinity\""},
    /* Text a number's type would never print, refused as a number: strings, never bad JSON. */
    {1700, T(""), "\"\""},
    {1700, T(" 1"), "\" 1\""},
    {1700, T("1 "), "\"1 \""},
    {1700, T("01"), "\"01\""},
    {1700, T("1."), "\"1.\""},
    {1700, T(".5"), "\".5\""},
    {1700, T("+1"), "\"+1\""},
    {1700, T("1e"), "\"1e\""},
    {1700, T("--1"), "\"--1\""},
    {1700, T("-"), "\"-\""},
    {1700, T("1,5"), "\"1,5\""},
    {23, T("0x10"), "\"0x10\""},
    {23, T("1]"), "\"1]\""},
    {23, T("[1]"), "\"[1]\""},
    {23, T("1\n"), "\"1\\n\""},
    {20, T("true"), "\"true\""},
    /* bool: "t" and "f" only. */
    {16, T("t"), "true"},
    {16, T("f"), "false"},
    {16, T("true"), "\"true\""},
    {16, T(""), "\"\""},
    /* json and jsonb: embedded as they are when valid, else strings. */
    {3802, T("{\"a\": [1, 2.5, null, true]}"), "{\"a\": [1, 2.5, null, true]}"},
    {114, T(" {\"a\" :\n 1} "), " {\"a\" :\n 1} "},
    {114, T("{\"a\":1,\"a\":2}"), "{\"a\":1,\"a\":2}"},
    {3802, T("\"x\""), "\"x\""},
    {3802, T("null"), "null"},
    {3802, T("123"), "123"},
    {114, T("\"\\u0000\""), "\"\\u0000\""},
    {114, T("[1,"), "\"[1,\""},
    {114, T("{\"a\":1,}"), "\"{\\\"a\\\":1,}\""},
    {114, T("NaN"), "\"NaN\""},
    {114, T(""), "\"\""},
    {114, T("\xef\xbb\xbf{}"), "\"\xef\xbb\xbf{}\""},
    {114, T("\"\xff\""), "\"\\\"\xef\xbf\xbd\\\"\""},
    /* Everything else: a string of the text form. */
    {25, T("hello"), "\"hello\""},
    {25, T(""), "\"\""},
    {25, T("123"), "\"123\""},
    {2950, T("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\""},
    {1184, T("2026-12-07 19:40:50.123456+00"), "\"2026-12-07 19:40:50.123456+00\""},
    {25, T("caf\xc3\xa9 \xf0\x9f\x98\x80"), "\"caf\xc3\xa9 \xf0\x9f\x98\x80\""},
    {25, T("\x01\x1f\t\n\r\b\f\x7f"), "\"\\u0001\\u001f\\t\\n\\r\\b\\f\x7f\""},
    {25, T("\"\\/"), "\"\\\"\\\\/\""},
    {25, T("\xff"), "\"\xef\xbf\xbd\""},
    {25, T("a\xc3"), "\"a\xef\xbf\xbd\""},
    {25, T("\xed\xa0\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
    {25, T("\xc0\xaf"), "\"\xef\xbf\xbd\xef\xbf\xbd\""},
    {25, {SQ_VALUE_TEXT, "a\0b", 3}, "\"a\\u0000b\""},
    /* NULL of any type. */
    {23, NUL_V, "null"},
    {3802, NUL_V, "null"},
    {25, NUL_V, "null"},
    /* A binary value is not interpreted by type. */
    {23, {SQ_VALUE_BINARY, "\0\0\0\5", 4}, "\"\\u0000\\u0000\\u0000\\u0005\""},
};

/* Writes the value as the element of an array, as sq_change_data writes it inside objects. */
static void check_value(uint32_t oid, const sq_pgoutput_value *v, const char *want, size_t wlen)
{
    sq_buf out = {0};
    sq_json_writer w;
    sq_json_writer_init(&w, &out);
    assert_int_equal(sq_json_write_begin_array(&w), 0);
    assert_int_equal(sq_change_value_json(&w, oid, v), 0);
    assert_int_equal(sq_json_write_end_array(&w), 0);
    assert_int_equal(sq_json_writer_finish(&w), 0);
    assert_valid_json(out.data, out.len);
    if (out.len != wlen + 2 || memcmp(out.data + 1, want, wlen) != 0)
        fail_msg("oid %u <<%.*s>>: got %s, want [%s]", oid, (int)v->len, v->data ? v->data : "",
                 out.data, want);
    sq_buf_free(&out);
}

static void test_value_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < SQ_ARRAY_LEN(value_cases); i++)
        check_value(value_cases[i].oid, &value_cases[i].v, value_cases[i].want,
                    strlen(value_cases[i].want));
}

/* A numeric of 1000 digits is a JSON number; one with a letter in it is not. */
static void test_value_huge_numeric(void **state)
{
    (void)state;
    memset(digits_1000, '9', 1000);
    digits_1000[0] = '1';
    sq_pgoutput_value v = {SQ_VALUE_TEXT, digits_1000, 1000};
    check_value(1700, &v, digits_1000, 1000);
    v.len = 999;
    check_value(20, &v, digits_1000, 999);
    digits_1000[500] = 'x';
    v.len = 1000;
    char want[1003];
    snprintf(want, sizeof(want), "\"%s\"", digits_1000);
    check_value(1700, &v, want, strlen(want));
}

/* json nested as deep as the writer has room for is embedded; one level more is a string, and
 * the writer goes on. */
static void test_value_json_depth(void **state)
{
    (void)state;
    char text[2 * SQ_JSON_DEFAULT_MAX_DEPTH + 2];
    for (int levels = SQ_JSON_DEFAULT_MAX_DEPTH - 2; levels <= SQ_JSON_DEFAULT_MAX_DEPTH + 1;
         levels++) {
        memset(text, '[', (size_t)levels);
        memset(text + levels, ']', (size_t)levels);
        sq_pgoutput_value v = {SQ_VALUE_TEXT, text, 2 * (size_t)levels};
        sq_buf out = {0};
        sq_json_writer w;
        sq_json_writer_init(&w, &out);
        assert_int_equal(sq_json_write_begin_array(&w), 0);
        assert_int_equal(sq_change_value_json(&w, 3802, &v), 0);
        assert_int_equal(sq_json_write_end_array(&w), 0);
        assert_int_equal(sq_json_writer_finish(&w), 0);
        assert_valid_json(out.data, out.len);
        bool embedded = out.data[1] == '[';
        assert_int_equal(embedded, levels <= SQ_JSON_DEFAULT_MAX_DEPTH - 1);
        sq_buf_free(&out);
    }
}

/* An unchanged TOASTed value has no JSON: -1, nothing written, the writer still usable. */
static void test_value_unchanged_toast(void **state)
{
    (void)state;
    sq_buf out = {0};
    sq_json_writer w;
    sq_pgoutput_value v = TOAST;
    sq_json_writer_init(&w, &out);
    assert_int_equal(sq_json_write_begin_array(&w), 0);
    assert_int_equal(sq_change_value_json(&w, 25, &v), -1);
    assert_int_equal(sq_json_write_null(&w), 0);
    assert_int_equal(sq_json_write_end_array(&w), 0);
    assert_int_equal(sq_json_writer_finish(&w), 0);
    assert_string_equal(out.data, "[null]");
    sq_buf_free(&out);
}

/* ---- the data of each action ----------------------------------------------------------------
 * The table: id int4 (the key), name text, blob text (TOASTable), n int4. */

static const sq_change_column order_cols[] = {
    {"id", 23},
    {"name", 25},
    {"blob", 25},
    {"n", 23},
};
static const size_t order_key[] = {0};
static const sq_change_table orders = {
    .source = "mydb",
    .schema = "public",
    .table = "orders",
    .ncols = 4,
    .cols = order_cols,
    .nkeys = 1,
    .key_cols = order_key,
};

static const sq_pgoutput_value row_1a[] = {T("1"), T("a"), T("big"), T("5")};
static const sq_pgoutput_value row_1b_toast[] = {T("1"), T("b"), TOAST, T("6")};
static const sq_pgoutput_value row_1a_toast[] = {T("1"), T("a"), TOAST, T("5")};
static const sq_pgoutput_value row_1_null[] = {T("1"), NUL_V, T("big"), NUL_V};
static const sq_pgoutput_value row_2a_toast[] = {T("2"), T("a"), TOAST, T("5")};
static const sq_pgoutput_value key_1[] = {T("1"), NUL_V, NUL_V, NUL_V};
static const sq_pgoutput_value key_1_toast_old[] = {T("1"), T("a"), TOAST, T("5")};

struct data_case {
    const char *name;
    sq_change_action action;
    char old_kind;
    const sq_pgoutput_value *new_values, *old_values;
    const char *data, *changes; /* JSON texts */
    bool unresolved;
};

static const struct data_case data_cases[] = {
    {"insert", SQ_ACTION_INSERT, 0, row_1a, NULL,
     "{\"id\":1,\"name\":\"a\",\"blob\":\"big\",\"n\":5}", "null", false},
    {"insert with nulls", SQ_ACTION_INSERT, 0, row_1_null, NULL,
     "{\"id\":1,\"name\":null,\"blob\":\"big\",\"n\":null}", "null", false},
    {"read", SQ_ACTION_READ, 0, row_1a, NULL, "{\"id\":1,\"name\":\"a\",\"blob\":\"big\",\"n\":5}",
     "null", false},
    /* Update without an old tuple: nothing to compare; the TOASTed column is not in the WAL. */
    {"update, no old tuple, toast unresolved", SQ_ACTION_UPDATE, 0, row_1b_toast, NULL,
     "{\"id\":1,\"name\":\"b\",\"n\":6}", "{}", true},
    {"update, no old tuple", SQ_ACTION_UPDATE, 0, row_1a, NULL,
     "{\"id\":1,\"name\":\"a\",\"blob\":\"big\",\"n\":5}", "{}", false},
    /* REPLICA IDENTITY FULL: the old row resolves the TOASTed value and gives the changes. */
    {"update 'O', toast resolved", SQ_ACTION_UPDATE, 'O', row_1b_toast, row_1a,
     "{\"id\":1,\"name\":\"b\",\"blob\":\"big\",\"n\":6}", "{\"name\":\"a\",\"n\":5}", false},
    {"update 'O', nothing changed", SQ_ACTION_UPDATE, 'O', row_1a, row_1a,
     "{\"id\":1,\"name\":\"a\",\"blob\":\"big\",\"n\":5}", "{}", false},
    {"update 'O', from nulls", SQ_ACTION_UPDATE, 'O', row_1a, row_1_null,
     "{\"id\":1,\"name\":\"a\",\"blob\":\"big\",\"n\":5}", "{\"name\":null,\"n\":null}", false},
    {"update 'O', to nulls", SQ_ACTION_UPDATE, 'O', row_1_null, row_1a,
     "{\"id\":1,\"name\":null,\"blob\":\"big\",\"n\":null}", "{\"name\":\"a\",\"n\":5}", false},
    /* An old row that lacks the value too leaves it unresolved, and out of the changes. */
    {"update 'O', toast in both", SQ_ACTION_UPDATE, 'O', row_1b_toast, key_1_toast_old,
     "{\"id\":1,\"name\":\"b\",\"n\":6}", "{\"name\":\"a\",\"n\":5}", true},
    /* The old key ('K', sent when the key changed): only the key's columns are values. */
    {"update 'K', key changed", SQ_ACTION_UPDATE, 'K', row_2a_toast, key_1,
     "{\"id\":2,\"name\":\"a\",\"n\":5}", "{\"id\":1}", true},
    {"update 'K', key same", SQ_ACTION_UPDATE, 'K', row_1a, key_1,
     "{\"id\":1,\"name\":\"a\",\"blob\":\"big\",\"n\":5}", "{}", false},
    {"update 'K' does not resolve toast", SQ_ACTION_UPDATE, 'K', row_1a_toast, key_1,
     "{\"id\":1,\"name\":\"a\",\"n\":5}", "{}", true},
    /* Delete: the old key, or the old row. */
    {"delete 'K'", SQ_ACTION_DELETE, 'K', NULL, key_1, "{\"id\":1}", "null", false},
    {"delete 'O'", SQ_ACTION_DELETE, 'O', NULL, row_1a,
     "{\"id\":1,\"name\":\"a\",\"blob\":\"big\",\"n\":5}", "null", false},
    {"delete 'O' with nulls", SQ_ACTION_DELETE, 'O', NULL, row_1_null,
     "{\"id\":1,\"name\":null,\"blob\":\"big\",\"n\":null}", "null", false},
    {"delete 'O', toast unresolved", SQ_ACTION_DELETE, 'O', NULL, row_1a_toast,
     "{\"id\":1,\"name\":\"a\",\"n\":5}", "null", true},
    /* No values at all: an empty row, never a crash. */
    {"delete without old values", SQ_ACTION_DELETE, 'K', NULL, NULL, "{}", "null", false},
};

/* Member `name` of the root object has exactly the JSON text `want`. */
static void assert_member(const sq_json *doc, const char *name, const char *want, const char *what)
{
    int v;
    const char *raw;
    size_t len;
    assert_int_equal(sq_json_lookup(doc, 0, name, &v), 0);
    assert_true(v >= 0);
    assert_int_equal(sq_json_raw(doc, v, &raw, &len), 0);
    if (len != strlen(want) || memcmp(raw, want, len) != 0)
        fail_msg("%s: %s is %.*s, want %s", what, name, (int)len, raw, want);
}

static void test_data_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < SQ_ARRAY_LEN(data_cases); i++) {
        const struct data_case *dc = &data_cases[i];
        sq_change c = {
            .action = dc->action,
            .new_values = dc->new_values,
            .old_values = dc->old_values,
            .old_kind = dc->old_kind,
            .commit_lsn = 0x16B3748,
            .commit_time_us = 849987650123456,
        };
        sq_buf out = {0};
        bool unresolved = !dc->unresolved;
        assert_int_equal(sq_change_data(&orders, &c, &out, &unresolved), 0);
        assert_valid_json(out.data, out.len);
        guarded g;
        sq_json doc;
        parse_guarded(&g, &doc, out.data, out.len);
        char action[16];
        snprintf(action, sizeof(action), "\"%s\"", sq_change_action_name(dc->action));
        assert_member(&doc, "action", action, dc->name);
        assert_member(&doc, "data", dc->data, dc->name);
        assert_member(&doc, "changes", dc->changes, dc->name);
        assert_member(&doc, "deleted", dc->action == SQ_ACTION_DELETE ? "true" : "false", dc->name);
        if (unresolved != dc->unresolved)
            fail_msg("%s: unresolved_toast %d", dc->name, unresolved);
        parsed_free(&g, &doc);
        sq_buf_free(&out);
    }
}

/* The whole message, byte for byte, with the metadata. */
static void test_data_exact(void **state)
{
    (void)state;
    sq_change c = {
        .action = SQ_ACTION_INSERT,
        .new_values = row_1a,
        .commit_lsn = 0x16B3748,
        .commit_time_us = 849987650123456, /* 2026-12-07T19:40:50.123456Z */
    };
    sq_buf out = {0};
    assert_int_equal(sq_buf_puts(&out, "before:"), 0);
    assert_int_equal(sq_change_data(&orders, &c, &out, NULL), 0);
    assert_string_equal(out.data, "before:{\"action\":\"insert\",\"data\":{\"id\":1,\"name\":\"a\","
                                  "\"blob\":\"big\",\"n\":5},\"changes\":null,\"deleted\":false,"
                                  "\"metadata\":{\"source\":\"mydb\",\"schema\":\"public\","
                                  "\"table\":\"orders\",\"commit_lsn\":\"0/16B3748\","
                                  "\"commit_timestamp\":\"2026-12-07T19:40:50.123456Z\"}}");
    sq_buf_free(&out);
}

struct meta_case {
    sq_lsn lsn;
    int64_t time_us;
    const char *metadata_tail; /* from "commit_lsn" on */
};

static const struct meta_case meta_cases[] = {
    {0, 0, "\"commit_lsn\":null,\"commit_timestamp\":\"2000-01-01T00:00:00.000000Z\"}"},
    {1, -1, "\"commit_lsn\":\"0/1\",\"commit_timestamp\":\"1999-12-31T23:59:59.999999Z\"}"},
    {UINT64_C(0x1000000AB), -946684800000000,
     "\"commit_lsn\":\"1/AB\",\"commit_timestamp\":\"1970-01-01T00:00:00.000000Z\"}"},
    {UINT64_MAX, 1000000,
     "\"commit_lsn\":\"FFFFFFFF/FFFFFFFF\",\"commit_timestamp\":\"2000-01-01T00:00:01.000000Z\"}"},
    /* A leap day, and the last microsecond of a year. */
    {2, 762480000000000,
     "\"commit_lsn\":\"0/2\",\"commit_timestamp\":\"2024-02-29T00:00:00.000000Z\"}"},
    {3, 789004799999999,
     "\"commit_lsn\":\"0/3\",\"commit_timestamp\":\"2024-12-31T23:59:59.999999Z\"}"},
};

static void test_metadata_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < SQ_ARRAY_LEN(meta_cases); i++) {
        sq_change c = {.action = SQ_ACTION_READ,
                       .new_values = row_1a,
                       .commit_lsn = meta_cases[i].lsn,
                       .commit_time_us = meta_cases[i].time_us};
        sq_buf out = {0};
        assert_int_equal(sq_change_data(&orders, &c, &out, NULL), 0);
        const char *tail = meta_cases[i].metadata_tail;
        size_t tlen = strlen(tail);
        assert_true(out.len > tlen + 1);
        if (memcmp(out.data + out.len - tlen - 1, tail, tlen) != 0)
            fail_msg("got %s, want it to end with %s}", out.data, tail);
        sq_buf_free(&out);
    }
    /* Times no commit has: still valid JSON. */
    const int64_t odd[] = {INT64_MIN, INT64_MAX, INT64_MIN + 1, -INT64_C(999999)};
    for (size_t i = 0; i < SQ_ARRAY_LEN(odd); i++) {
        sq_change c = {.action = SQ_ACTION_INSERT, .new_values = row_1a, .commit_time_us = odd[i]};
        sq_buf out = {0};
        assert_int_equal(sq_change_data(&orders, &c, &out, NULL), 0);
        assert_valid_json(out.data, out.len);
        sq_buf_free(&out);
    }
}

/* Names with any bytes: keys of JSON and metadata strings, all valid JSON. */
static void test_data_odd_names(void **state)
{
    (void)state;
    const sq_change_column cols[] = {{"we\"ird\n", 23}, {"caf\xc3\xa9\xff", 3802}};
    const size_t key[] = {0};
    const sq_change_table t = {"s", "sch\x01", "t\xfe", 2, cols, 1, key};
    const sq_pgoutput_value row[] = {T("7"), T("[]")};
    sq_change c = {.action = SQ_ACTION_INSERT, .new_values = row};
    sq_buf out = {0};
    assert_int_equal(sq_change_data(&t, &c, &out, NULL), 0);
    assert_valid_json(out.data, out.len);
    assert_non_null(strstr(out.data, "{\"we\\\"ird\\n\":7,\"caf\xc3\xa9\xef\xbf\xbd\":[]}"));
    assert_non_null(strstr(out.data, "\"schema\":\"sch\\u0001\",\"table\":\"t\xef\xbf\xbd\""));
    sq_buf_free(&out);
}

/* ---- keys ------------------------------------------------------------------------------------ */

static const sq_change_column line_cols[] = {{"id", 23}, {"note", 25}, {"tenant", 25}};
static const size_t line_key[] = {2, 0}; /* the key's order, not the columns' */
static const sq_change_table lines = {"mydb", "my schema", "Line.items", 3, line_cols, 2, line_key};

static const sq_pgoutput_value line_acme7[] = {T("7"), T("x"), T("acme")};
static const sq_pgoutput_value line_odd[] = {T("-1"), NUL_V, T("a.b c*>%\xc3\xa9")};
static const sq_pgoutput_value line_empty[] = {T("0"), NUL_V, T("")};
static const sq_pgoutput_value line_toast[] = {T("7"), T("y"), TOAST};
static const sq_pgoutput_value line_null[] = {T("7"), T("x"), NUL_V};
static const sq_pgoutput_value row_toast_key[] = {TOAST, T("a"), T("big"), T("5")};

struct key_case {
    const sq_change_table *t;
    sq_change_action action;
    char old_kind;
    const sq_pgoutput_value *new_values, *old_values;
    sq_key_format f;
    const char *want; /* NULL: refused */
    const char *err;  /* a fragment of the refusal */
};

static const struct key_case key_cases[] = {
    {&orders, SQ_ACTION_INSERT, 0, row_1a, NULL, SQ_KEY_BASIC, "mydb.public.orders.1", NULL},
    {&orders, SQ_ACTION_READ, 0, row_1a, NULL, SQ_KEY_BASIC, "mydb.public.orders.1", NULL},
    {&orders, SQ_ACTION_UPDATE, 0, row_1b_toast, NULL, SQ_KEY_BASIC, "mydb.public.orders.1", NULL},
    {&orders, SQ_ACTION_DELETE, 'K', NULL, key_1, SQ_KEY_BASIC, "mydb.public.orders.1", NULL},
    {&orders, SQ_ACTION_INSERT, 0, row_1a, NULL, SQ_KEY_WITH_OPERATION,
     "mydb.public.orders.insert.1", NULL},
    {&orders, SQ_ACTION_UPDATE, 'O', row_1a, row_1a, SQ_KEY_WITH_OPERATION,
     "mydb.public.orders.update.1", NULL},
    {&orders, SQ_ACTION_DELETE, 'O', NULL, row_1a, SQ_KEY_WITH_OPERATION,
     "mydb.public.orders.delete.1", NULL},
    {&orders, SQ_ACTION_READ, 0, row_1a, NULL, SQ_KEY_WITH_OPERATION, "mydb.public.orders.read.1",
     NULL},
    /* The new key after a key change. */
    {&orders, SQ_ACTION_UPDATE, 'K', row_2a_toast, key_1, SQ_KEY_BASIC, "mydb.public.orders.2",
     NULL},
    /* An unchanged TOASTed key value comes from the old key. */
    {&orders, SQ_ACTION_UPDATE, 'K', row_toast_key, key_1, SQ_KEY_BASIC, "mydb.public.orders.1",
     NULL},
    /* Composite keys, one token per column in the key's order; names escaped like values. */
    {&lines, SQ_ACTION_INSERT, 0, line_acme7, NULL, SQ_KEY_BASIC,
     "mydb.my%20schema.Line%2Eitems.acme.7", NULL},
    {&lines, SQ_ACTION_UPDATE, 0, line_acme7, NULL, SQ_KEY_WITH_OPERATION,
     "mydb.my%20schema.Line%2Eitems.update.acme.7", NULL},
    {&lines, SQ_ACTION_INSERT, 0, line_odd, NULL, SQ_KEY_BASIC,
     "mydb.my%20schema.Line%2Eitems.a%2Eb%20c%2A%3E%25%C3%A9.-1", NULL},
    {&lines, SQ_ACTION_INSERT, 0, line_empty, NULL, SQ_KEY_BASIC,
     "mydb.my%20schema.Line%2Eitems.%.0", NULL},
    /* A key value that is missing: refused, naming the column and the table. */
    {&lines, SQ_ACTION_INSERT, 0, line_null, NULL, SQ_KEY_BASIC, NULL,
     "key column tenant of table my schema.Line.items"},
    {&lines, SQ_ACTION_UPDATE, 0, line_toast, NULL, SQ_KEY_BASIC, NULL, "tenant"},
    {&orders, SQ_ACTION_UPDATE, 0, row_toast_key, NULL, SQ_KEY_BASIC, NULL,
     "key column id of table public.orders"},
    {&orders, SQ_ACTION_DELETE, 'K', NULL, NULL, SQ_KEY_BASIC, NULL, "id"},
    {&orders, SQ_ACTION_INSERT, 0, NULL, NULL, SQ_KEY_BASIC, NULL, "id"},
    {&orders, SQ_ACTION_DELETE, 'K', row_1a, row_1_null, SQ_KEY_BASIC, "mydb.public.orders.1",
     NULL},
};

static void check_key(const struct key_case *kc, size_t i)
{
    sq_change c = {.action = kc->action,
                   .new_values = kc->new_values,
                   .old_values = kc->old_values,
                   .old_kind = kc->old_kind};
    sq_buf out = {0};
    char err[256] = "";
    assert_int_equal(sq_buf_puts(&out, "pre"), 0);
    int rc = sq_change_key(kc->t, &c, kc->f, &out, err, sizeof(err));
    if (kc->want != NULL) {
        if (rc != 0)
            fail_msg("key case %zu refused: %s", i, err);
        assert_string_equal(out.data + 3, kc->want);
        assert_int_equal(sq_key_validate(out.data + 3, out.len - 3, NULL), 0);
    } else {
        if (rc != -1)
            fail_msg("key case %zu made %s", i, out.data);
        assert_string_equal(out.data, "pre");
        if (strstr(err, kc->err) == NULL)
            fail_msg("key case %zu: \"%s\" does not say \"%s\"", i, err, kc->err);
    }
    sq_buf_free(&out);
}

static void test_key_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < SQ_ARRAY_LEN(key_cases); i++)
        check_key(&key_cases[i], i);
}

/* 255 bytes are a key, 256 are not; 16 tokens are, 17 are not: refused with the rule and the
 * table named, and `out` left as it was. */
static void test_key_limits(void **state)
{
    (void)state;
    /* "mydb.public.orders." is 19 bytes: a value of 236 makes 255. */
    char value[300];
    memset(value, 'v', sizeof(value));
    for (size_t len = 235; len <= 237; len++) {
        sq_pgoutput_value row[] = {{SQ_VALUE_TEXT, value, len}, T("a"), T("b"), T("5")};
        sq_change c = {.action = SQ_ACTION_INSERT, .new_values = row};
        struct key_case kc = {
            &orders, SQ_ACTION_INSERT,
            0,       row,
            NULL,    SQ_KEY_BASIC,
            NULL,    "table public.orders breaks a key rule (a key is at most 255 bytes"};
        if (len <= 236) {
            sq_buf out = {0};
            char err[256];
            assert_int_equal(sq_change_key(&orders, &c, SQ_KEY_BASIC, &out, err, sizeof(err)), 0);
            assert_int_equal(out.len, 19 + len);
            sq_buf_free(&out);
        } else {
            check_key(&kc, len);
        }
    }
    /* An escaped byte takes three: 47 dots make a key of 160 bytes, 79 one of 256. */
    sq_pgoutput_value dots[] = {
        {SQ_VALUE_TEXT, "...............................................", 47},
        T("a"),
        T("b"),
        T("5")};
    struct key_case kc = {&orders, SQ_ACTION_INSERT, 0, dots, NULL, SQ_KEY_BASIC, "", NULL};
    char want[200];
    strcpy(want, "mydb.public.orders.");
    for (int i = 0; i < 47; i++)
        strcat(want, "%2E");
    kc.want = want;
    check_key(&kc, 0);
    char many[300];
    memset(many, '.', 79);
    dots[0].data = many;
    dots[0].len = 79;
    kc.want = NULL;
    kc.err = "at most 255 bytes";
    check_key(&kc, 1);

    /* 13 key columns: 16 tokens basic, 17 with the operation. */
    sq_change_column cols[13];
    size_t key[13];
    sq_pgoutput_value row[13];
    for (size_t i = 0; i < 13; i++) {
        cols[i] = (sq_change_column){"k", 23};
        key[i] = i;
        row[i] = (sq_pgoutput_value)T("1");
    }
    sq_change_table wide = {"s", "p", "w", 13, cols, 13, key};
    struct key_case w16 = {
        &wide, SQ_ACTION_INSERT, 0, row, NULL, SQ_KEY_BASIC, "s.p.w.1.1.1.1.1.1.1.1.1.1.1.1.1",
        NULL};
    check_key(&w16, 0);
    struct key_case w17 = {&wide, SQ_ACTION_INSERT,
                           0,     row,
                           NULL,  SQ_KEY_WITH_OPERATION,
                           NULL,  "table p.w breaks a key rule (a key has at most 16 tokens"};
    check_key(&w17, 1);
    /* No key column at all. */
    wide.nkeys = 0;
    struct key_case none = {&wide, SQ_ACTION_INSERT, 0,    row,
                            NULL,  SQ_KEY_BASIC,     NULL, "table p.w has no primary key"};
    check_key(&none, 2);
}

/* ---- token escaping ----------------------------------------------------------------------- */

struct escape_case {
    const char *in;
    size_t len;
    const char *out;
};

#define E(in, out)                                                                                 \
    {                                                                                              \
        in, sizeof(in) - 1, out                                                                    \
    }
static const struct escape_case escape_cases[] = {
    E("", "%"),
    E(".", "%2E"),
    E("*", "%2A"),
    E(">", "%3E"),
    E("%", "%25"),
    E(" ", "%20"),
    E("\0", "%00"),
    E("\x1f", "%1F"),
    E("\x7f", "%7F"),
    E("\x80", "%80"),
    E("\xff", "%FF"),
    E("!", "!"),
    E("~", "~"),
    E("a\0b", "a%00b"),
    E("%25", "%2525"),
    E("order_1", "order_1"),
    E("-42", "-42"),
    E("a.b", "a%2Eb"),
    E("\t\n", "%09%0A"),
    E("caf\xc3\xa9", "caf%C3%A9"),
    E("!#$&'()+,-/:;<=?@[\\]^_`{|}~\"", "!#$&'()+,-/:;<=?@[\\]^_`{|}~\""),
};

/* escape(s) is `want`, a valid key token, and unescapes back to s; escape(unescape(t)) == t. */
static void check_round_trip(const char *s, size_t n, const char *want)
{
    sq_buf esc = {0}, back = {0}, again = {0};
    assert_int_equal(sq_change_token_escape(&esc, s, n), 0);
    if (want != NULL)
        assert_string_equal(esc.data, want);
    assert_non_null(esc.data);
    /* A token alone is a one-token key (when short enough to be a key at all). */
    if (esc.len <= SQ_KEY_MAX_BYTES)
        assert_int_equal(sq_key_validate(esc.data, esc.len, NULL), 0);
    assert_null(memchr(esc.data, '.', esc.len));
    assert_int_equal(sq_change_token_unescape(&back, esc.data, esc.len), 0);
    assert_non_null(back.data);
    assert_int_equal(back.len, n);
    if (n > 0)
        assert_memory_equal(back.data, s, n);
    assert_int_equal(sq_change_token_escape(&again, back.data, back.len), 0);
    assert_int_equal(again.len, esc.len);
    assert_memory_equal(again.data, esc.data, esc.len);
    sq_buf_free(&esc);
    sq_buf_free(&back);
    sq_buf_free(&again);
}

static void test_escape_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < SQ_ARRAY_LEN(escape_cases); i++)
        check_round_trip(escape_cases[i].in, escape_cases[i].len, escape_cases[i].out);
}

/* Every single byte: escaped exactly when the key rules or the escaping need it. */
static void test_escape_every_byte(void **state)
{
    (void)state;
    for (int b = 0; b < 256; b++) {
        char s[1] = {(char)b}, want[4];
        bool plain = b >= 0x21 && b <= 0x7e && b != '.' && b != '*' && b != '>' && b != '%';
        if (plain)
            snprintf(want, sizeof(want), "%c", b);
        else
            snprintf(want, sizeof(want), "%%%02X", b);
        check_round_trip(s, 1, want);
    }
}

/* Random byte strings, biased toward the bytes that need escaping. */
static void test_escape_random(void **state)
{
    (void)state;
    static const char special[] = ".*>% %0\x80\xff";
    uint32_t x = 2463534242u;
    char s[96];
    for (int round = 0; round < 20000; round++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        size_t n = x % sizeof(s);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            s[i] = x & 0x100 ? special[(x >> 9) % (sizeof(special) - 1)] : (char)(x >> 16);
        }
        check_round_trip(s, n, NULL);
    }
}

/* What escaping never produces is refused, and `out` is left as it was. */
static void test_unescape_refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",    "%%", "%4", "a%", "a%4",  "%G0", "%0G", "%41",   "%2e", "%fF",  "%7E",  "a.b",
        "a b", "*",  ">",  "a*", "\x80", "\t",  "%2",  "x%2E%", "%5F", "%%00", "%00%", "%zz",
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(bad); i++) {
        sq_buf out = {0};
        assert_int_equal(sq_buf_puts(&out, "keep"), 0);
        if (sq_change_token_unescape(&out, bad[i], strlen(bad[i])) != -1)
            fail_msg("<<%s>> unescaped to <<%s>>", bad[i], out.data);
        assert_int_equal(out.len, 4);
        assert_string_equal(out.data, "keep");
        sq_buf_free(&out);
    }
    /* The lone '%' is the empty string's token: into an empty buffer, a terminated "". */
    sq_buf out = {0};
    assert_int_equal(sq_change_token_unescape(&out, "%", 1), 0);
    assert_non_null(out.data);
    assert_int_equal(out.len, 0);
    assert_string_equal(out.data, "");
    sq_buf_free(&out);
}

static void test_action_names(void **state)
{
    (void)state;
    assert_string_equal(sq_change_action_name(SQ_ACTION_INSERT), "insert");
    assert_string_equal(sq_change_action_name(SQ_ACTION_UPDATE), "update");
    assert_string_equal(sq_change_action_name(SQ_ACTION_DELETE), "delete");
    assert_string_equal(sq_change_action_name(SQ_ACTION_READ), "read");
    assert_string_equal(sq_change_action_name((sq_change_action)42), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_table),      cmocka_unit_test(test_value_huge_numeric),
        cmocka_unit_test(test_value_json_depth), cmocka_unit_test(test_value_unchanged_toast),
        cmocka_unit_test(test_data_table),       cmocka_unit_test(test_data_exact),
        cmocka_unit_test(test_metadata_table),   cmocka_unit_test(test_data_odd_names),
        cmocka_unit_test(test_key_table),        cmocka_unit_test(test_key_limits),
        cmocka_unit_test(test_escape_table),     cmocka_unit_test(test_escape_every_byte),
        cmocka_unit_test(test_escape_random),    cmocka_unit_test(test_unescape_refuses),
        cmocka_unit_test(test_action_names),
    };
    return cmocka_run_group_tests_name("change", tests, NULL, NULL);
}
