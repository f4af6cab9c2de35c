/* Table-driven tests of the JSON writer: scripts of calls and their output or first failure,
 * nesting, and writer-to-parser round trips of strings and values. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "json_test.h"
#include "utf8_ref.h"

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

/* One call of a script: its kind, then the string, length, integers and double it takes. */
#define OP(kind, s, n, i, u, d)                                                                    \
    {                                                                                              \
        kind, s, n, i, u, d                                                                        \
    }
#define NO_ARG(kind) OP(kind, NULL, 0, 0, 0, 0)
#define OBJ NO_ARG(OP_OBJ)
#define END_OBJ NO_ARG(OP_END_OBJ)
#define ARR NO_ARG(OP_ARR)
#define END_ARR NO_ARG(OP_END_ARR)
#define T NO_ARG(OP_TRUE)
#define F NO_ARG(OP_FALSE)
#define N NO_ARG(OP_NULL)
#define NOTHING NO_ARG(OP_NONE)
/* Strings: a C string, or a literal's bytes up to its end, NULs included. */
#define K(s) OP(OP_KEY, s, 0, 0, 0, 0)
#define KN(s) OP(OP_KEYN, s, sizeof(s) - 1, 0, 0, 0)
#define S(s) OP(OP_STR, s, 0, 0, 0, 0)
#define SN(s) OP(OP_STRN, s, sizeof(s) - 1, 0, 0, 0)
#define RAW(s) OP(OP_RAW, s, 0, 0, 0, 0)
#define I(v) OP(OP_I64, NULL, 0, v, 0, 0)
#define U(v) OP(OP_U64, NULL, 0, 0, v, 0)
#define D(v) OP(OP_DBL, NULL, 0, 0, 0, v)

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
            guarded g;
            sq_json doc;
            parse_guarded(&g, &doc, out.data, out.len);
            parsed_free(&g, &doc);
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

/* What the writer should make of arbitrary bytes, by the independent judge of utf8_ref.h:
 * valid sequences as they are, every other byte as U+FFFD. */
static void reference_sanitize(const unsigned char *s, size_t n, sq_buf *out)
{
    for (size_t i = 0, k; i < n; i += k ? k : 1) {
        k = utf8_ref_len(s + i, n - i);
        if (k > 0)
            assert_int_equal(sq_buf_append(out, s + i, k), 0);
        else
            assert_int_equal(sq_buf_append(out, "\xef\xbf\xbd", 3), 0);
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
    guarded g;

    reference_sanitize(s, n, &want);
    sq_json_writer_init(&w, &out);
    assert_int_equal(sq_json_write_begin_object(&w), 0);
    assert_int_equal(sq_json_write_keyn(&w, (const char *)s, n), 0);
    assert_int_equal(sq_json_write_stringn(&w, (const char *)s, n), 0);
    assert_int_equal(sq_json_write_end_object(&w), 0);
    assert_int_equal(sq_json_writer_finish(&w), 0);

    parse_guarded(&g, &doc, out.data, out.len);
    assert_int_equal(doc.ntoks, 3);
    for (int t = 1; t <= 2; t++) {
        sq_buf_reset(&got);
        assert_int_equal(sq_json_get_str(&doc, t, &got), 0);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.data, want.data, want.len);
    }
    parsed_free(&g, &doc);
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
            size_t len = utf8_ref_encode(cp, enc);
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

/* Token `t` read back as the kind of value `op` wrote: the same value, doubles bit for bit. */
static void check_read_back(const sq_json *doc, int t, const struct op *op)
{
    int64_t i;
    uint64_t u;
    double d;
    bool b;

    switch (op->kind) {
    case OP_I64:
        assert_int_equal(sq_json_get_int64(doc, t, &i), 0);
        assert_true(i == op->i);
        break;
    case OP_U64:
        assert_int_equal(sq_json_get_uint64(doc, t, &u), 0);
        assert_true(u == op->u);
        break;
    case OP_DBL:
        assert_int_equal(sq_json_get_double(doc, t, &d), 0);
        if (memcmp(&d, &op->d, sizeof(d)) != 0)
            fail_msg("double: wrote %.17g, read %.17g", op->d, d);
        break;
    case OP_TRUE:
    case OP_FALSE:
        assert_int_equal(sq_json_get_bool(doc, t, &b), 0);
        assert_int_equal(b, op->kind == OP_TRUE);
        break;
    case OP_NULL:
        assert_true(sq_json_is_null(doc, t));
        break;
    default:
        fail_msg("no read-back for op %d", (int)op->kind);
    }
}

/* Values of every kind, a thousand random doubles among them, in one array and back. */
static void test_round_trip_values(void **state)
{
    (void)state;
    static const int64_t ints[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN, INT64_MIN + 1, 1000000007};
    static const uint64_t uints[] = {0, 1, UINT64_MAX, (uint64_t)INT64_MAX + 1};
    static const double doubles[] = {0.0,
                                     -0.0,
                                     0.1,
                                     1e300,
                                     -1e-300,
                                     5e-324,
                                     1.7976931348623157e308,
                                     2.2250738585072014e-308,
                                     1.0 / 3.0,
                                     123456789.125};
    struct op ops[SQ_ARRAY_LEN(ints) + SQ_ARRAY_LEN(uints) + SQ_ARRAY_LEN(doubles) + 1000 + 3];
    size_t n = 0;
    for (size_t k = 0; k < SQ_ARRAY_LEN(ints); k++)
        ops[n++] = (struct op){.kind = OP_I64, .i = ints[k]};
    for (size_t k = 0; k < SQ_ARRAY_LEN(uints); k++)
        ops[n++] = (struct op){.kind = OP_U64, .u = uints[k]};
    for (size_t k = 0; k < SQ_ARRAY_LEN(doubles); k++)
        ops[n++] = (struct op){.kind = OP_DBL, .d = doubles[k]};
    while (n < SQ_ARRAY_LEN(ops) - 3) {
        uint64_t bits = rng();
        double d;
        memcpy(&d, &bits, sizeof(d));
        if (isfinite(d))
            ops[n++] = (struct op){.kind = OP_DBL, .d = d};
    }
    ops[n++] = (struct op){.kind = OP_TRUE};
    ops[n++] = (struct op){.kind = OP_FALSE};
    ops[n++] = (struct op){.kind = OP_NULL};

    sq_buf out = {0};
    sq_json_writer w;
    sq_json_writer_init(&w, &out);
    assert_int_equal(sq_json_write_begin_array(&w), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(run_op(&w, &ops[i]), 0);
    assert_int_equal(sq_json_write_end_array(&w), 0);
    assert_int_equal(sq_json_writer_finish(&w), 0);

    guarded g;
    sq_json doc;
    size_t i = 0;
    parse_guarded(&g, &doc, out.data, out.len);
    for (int e = sq_json_first(&doc, 0); e >= 0; e = sq_json_next(&doc, e), i++)
        check_read_back(&doc, e, &ops[i]);
    assert_int_equal(i, n);
    parsed_free(&g, &doc);
    sq_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_table),
        cmocka_unit_test(test_writer_depth),
        cmocka_unit_test(test_round_trip_strings),
        cmocka_unit_test(test_round_trip_values),
    };
    return cmocka_run_group_tests_name("json_write", tests, NULL, NULL);
}
