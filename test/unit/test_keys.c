/* Table-driven tests of key and filter validation (SPEC section 2) and of matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "sequin/keys.h"

/* Expected verdicts; the rule is identified by a word its sentence must contain. */
struct validity {
    const char *input;
    size_t len;              /* 0: strlen(input); for inputs with NUL bytes */
    const char *key_rule;    /* NULL: valid key; else a fragment of the expected reason */
    const char *filter_rule; /* NULL: valid filter */
};

/* 16 tokens / 17 tokens and 255 / 256 bytes, built at start-up. */
static char tok16[64], tok17[64], len255[300], len256[300];

static const struct validity validity_cases[] = {
    /* The examples of the SPEC and the getting-started guide. */
    {"orders.us.cus_a.order_1", 0, NULL, NULL},
    {"orders.eu.cus_b.order_2", 0, NULL, NULL},
    {"orders.us.cus_c.order_3", 0, NULL, NULL},
    {"orders.us.cus_a.order_4", 0, NULL, NULL},
    {"orders.us.>", 0, "wildcards", NULL},
    {"orders.*.cus_a.*", 0, "wildcards", NULL},
    {">", 0, "wildcards", NULL},
    {"*", 0, "wildcards", NULL},
    {"orders.*", 0, "wildcards", NULL},
    {"orders.>", 0, "wildcards", NULL},
    {"orders.new", 0, NULL, NULL},
    {"orders", 0, NULL, NULL},
    /* Emptiness and empty tokens. */
    {"", 0, "empty", "empty"},
    {".", 0, "empty token", "empty token"},
    {".orders", 0, "empty token", "empty token"},
    {"orders.", 0, "empty token", "empty token"},
    {"orders..us", 0, "empty token", "empty token"},
    {"a..", 0, "empty token", "empty token"},
    /* Wildcards must be whole tokens; '>' only last. */
    {"ab*", 0, "wildcards", "whole tokens"},
    {"*ab", 0, "wildcards", "whole tokens"},
    {"orders.ab*", 0, "wildcards", "whole tokens"},
    {"orders.>x", 0, "wildcards", "whole tokens"},
    {">>", 0, "wildcards", "whole tokens"},
    {"**", 0, "wildcards", "whole tokens"},
    {"a.>.b", 0, "wildcards", "last token"},
    {">.a", 0, "wildcards", "last token"},
    {"*.>", 0, "wildcards", NULL},
    {"*.*.*", 0, "wildcards", NULL},
    {"a.*.>", 0, "wildcards", NULL},
    /* Character set: printable ASCII 0x21-0x7E. */
    {"orders us", 0, "printable ASCII", "printable ASCII"},
    {" ", 0, "printable ASCII", "printable ASCII"},
    {"orders\t", 0, "printable ASCII", "printable ASCII"},
    {"a\nb", 0, "printable ASCII", "printable ASCII"},
    {"a\x7f", 0, "printable ASCII", "printable ASCII"},
    {"a\x01", 0, "printable ASCII", "printable ASCII"},
    {"caf\xc3\xa9", 0, "printable ASCII", "printable ASCII"},
    {"\xff", 0, "printable ASCII", "printable ASCII"},
    {"a\0b", 3, "printable ASCII", "printable ASCII"},
    /* The character set is checked before the token structure. */
    {"*\x01", 0, "printable ASCII", "printable ASCII"},
    {"orders.>\n", 0, "printable ASCII", "printable ASCII"},
    {"a..b c", 0, "printable ASCII", "printable ASCII"},
    {"!#$%&'()+,-/:;<=?@[\\]^_`{|}~\"", 0, NULL, NULL},
    {"A.Z.0.9", 0, NULL, NULL},
};

/* `validate` (of a `what`) accepts `len` bytes at `in`, a copy of `input`, when `rule` is NULL,
 * and otherwise refuses them for a reason that contains `rule`. */
static void check_rule(const char *what, int (*validate)(const char *, size_t, const char **),
                       const char *in, size_t len, const char *input, const char *rule)
{
    const char *why = NULL;
    int rc = validate(in, len, &why);
    if (rule == NULL) {
        if (rc != SQ_OK)
            fail_msg("%s \"%s\" should be valid, got: %s", what, input, why);
    } else {
        if (rc != SQ_ERR)
            fail_msg("%s \"%s\" should be invalid (%s)", what, input, rule);
        if (strstr(why, rule) == NULL)
            fail_msg("%s \"%s\": reason \"%s\" lacks \"%s\"", what, input, why, rule);
    }
}

static void test_validity_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < SQ_ARRAY_LEN(validity_cases); i++) {
        const struct validity *c = &validity_cases[i];
        size_t len = c->len ? c->len : strlen(c->input);
        guarded g;
        const char *in = guarded_copy(&g, c->input, len);
        check_rule("key", sq_key_validate, in, len, c->input, c->key_rule);
        check_rule("filter", sq_filter_validate, in, len, c->input, c->filter_rule);
        guarded_free(&g);
    }
}

static void test_limits(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(strlen(len255), 255);
    assert_int_equal(strlen(len256), 256);
    assert_int_equal(sq_key_validate(len255, 255, &why), SQ_OK);
    assert_int_equal(sq_filter_validate(len255, 255, &why), SQ_OK);
    assert_int_equal(sq_key_validate(len256, 256, &why), SQ_ERR);
    assert_non_null(strstr(why, "255 bytes"));
    assert_int_equal(sq_filter_validate(len256, 256, &why), SQ_ERR);
    assert_non_null(strstr(why, "255 bytes"));

    assert_int_equal(sq_key_validate(tok16, strlen(tok16), &why), SQ_OK);
    assert_int_equal(sq_filter_validate(tok16, strlen(tok16), &why), SQ_OK);
    assert_int_equal(sq_key_validate(tok17, strlen(tok17), &why), SQ_ERR);
    assert_non_null(strstr(why, "16 tokens"));
    assert_int_equal(sq_filter_validate(tok17, strlen(tok17), &why), SQ_ERR);
    assert_non_null(strstr(why, "16 tokens"));

    /* '>' counts as a token: 15 literal tokens plus '>' is fine, 16 plus '>' is not. */
    char f[80];
    snprintf(f, sizeof f, "%.29s.>", tok16);
    assert_int_equal(sq_filter_validate(f, strlen(f), &why), SQ_OK);
    snprintf(f, sizeof f, "%s.>", tok16);
    assert_int_equal(sq_filter_validate(f, strlen(f), &why), SQ_ERR);
    assert_non_null(strstr(why, "16 tokens"));

    /* 256 bytes that break no other rule: 16 tokens of 15 or 16 letters. */
    char k256[257];
    memset(k256, 'k', 256);
    for (size_t i = 16; i < 256; i += 16)
        k256[i] = '.';
    k256[256] = '\0';
    assert_int_equal(sq_key_validate(k256, 255, &why), SQ_OK);
    assert_int_equal(sq_key_validate(k256, 256, &why), SQ_ERR);
    assert_non_null(strstr(why, "255 bytes"));

    /* A NULL `why` is allowed. */
    assert_int_equal(sq_key_validate("", 0, NULL), SQ_ERR);
}

struct match {
    const char *filter;
    const char *key;
    bool expect;
};

static const struct match match_cases[] = {
    /* SPEC section 2. */
    {"orders.*", "orders.new", true},
    {"orders.*", "orders.new.priority", false},
    {"orders.>", "orders.new", true},
    {"orders.>", "orders.new.priority", true},
    {"orders.>", "orders", false},
    {"orders.*.cus_a.*", "orders.us.cus_a.order_1", true},
    /* The getting-started guide's filters over its four orders. */
    {"orders.us.>", "orders.us.cus_a.order_1", true},
    {"orders.us.>", "orders.eu.cus_b.order_2", false},
    {"orders.us.>", "orders.us.cus_c.order_3", true},
    {"orders.us.>", "orders.us.cus_a.order_4", true},
    {"orders.*.cus_a.*", "orders.eu.cus_b.order_2", false},
    {"orders.*.cus_a.*", "orders.us.cus_a.order_4", true},
    {"orders.*.cus_a.*", "orders.us.cus_a", false},
    {"orders.*.cus_a.*", "orders.us.cus_a.order_1.x", false},
    {">", "orders.us.cus_a.order_1", true},
    {">", "a", true},
    /* Literal filters and token boundaries. */
    {"orders", "orders", true},
    {"orders", "orders.us", false},
    {"orders.us", "orders", false},
    {"orders.us", "orders.usa", false},
    {"orders.usa", "orders.us", false},
    {"a.b", "ab", false},
    {"*", "a", true},
    {"*", "a.b", false},
    {"*.*", "a.b", true},
    {"*.*", "a", false},
    {"*.>", "a", false},
    {"*.>", "a.b", true},
    {"*.>", "a.b.c", true},
    {"a.*.c", "a.b.c", true},
    {"a.*.c", "a.b.d", false},
    {"a.*.c", "a.c", false},
    {"a.>", "a.>", true}, /* never a real key, but matching stays total */
};

static void test_match_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < SQ_ARRAY_LEN(match_cases); i++) {
        const struct match *c = &match_cases[i];
        guarded gf, gk;
        const char *f = guarded_copy(&gf, c->filter, strlen(c->filter));
        const char *k = guarded_copy(&gk, c->key, strlen(c->key));
        bool got = sq_filter_match(f, strlen(c->filter), k, strlen(c->key));
        if (got != c->expect)
            fail_msg("filter \"%s\" vs key \"%s\": expected %s", c->filter, c->key,
                     c->expect ? "match" : "no match");
        guarded_free(&gk);
        guarded_free(&gf);
    }
}

static void test_literal(void **state)
{
    (void)state;
    assert_true(sq_filter_is_literal("orders.us", 9));
    assert_false(sq_filter_is_literal("orders.*", 8));
    assert_false(sq_filter_is_literal(">", 1));
}

static int setup(void **state)
{
    (void)state;
    /* "a.b.c...p" has 16 one-letter tokens; "a.b.c...p.q" has 17. */
    size_t n = 0;
    for (int i = 0; i < 17; i++) {
        tok17[n++] = (char)('a' + i);
        tok17[n++] = '.';
    }
    tok17[n - 1] = '\0';
    memcpy(tok16, tok17, n - 3);
    tok16[n - 3] = '\0';
    /* 255 and 256 bytes: tokens of 15 letters, dots between, within 16 tokens. */
    memset(len256, 'k', 256);
    for (size_t i = 15; i < 256; i += 16)
        len256[i] = '.';
    len256[256] = '\0';
    memcpy(len255, len256, 255);
    len255[255] = '\0';
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validity_table),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_literal),
    };
    return cmocka_run_group_tests_name("keys", tests, setup, NULL);
}
