/* Table-driven tests of listen addresses and API tokens in the config file: valid ones and every
 * error with its exact place, then the address and digest parsers on their own, reading no byte
 * past the text they are given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_internal.h"
#include "config_test.h"

/* SPEC section 5's example: its digest is shortened, so it must be refused. */
static const char spec_example[] = SPEC_EXAMPLE("9f86d081884c7d65...");

static const struct valid_case valid_cases[] = {
    {"listen: 0.0.0.0:80", "listen", "0.0.0.0 80"},
    {"listen: localhost:7376", "listen", "localhost 7376"},
    {"listen: sequin-1.example.com:65535", "listen", "sequin-1.example.com 65535"},
    {"listen: 127.0.0.1:1", "listen", "127.0.0.1 1"},
    {"listen: \"[::1]:7376\"", "listen", "::1 7376 v6"},
    {"listen: '[::]:8080'", "listen", ":: 8080 v6"},
    {"listen: \"[2001:db8::1]:443\"", "listen", "2001:db8::1 443 v6"},
    {"listen: [\"[::1]:7376\", 127.0.0.1:7376]", "listen", "::1 7376 v6, 127.0.0.1 7376"},
    {"listen:\n  - 127.0.0.1:7376\n  - localhost:7377\n", "listen",
     "127.0.0.1 7376, localhost 7377"},
    {"listen: [127.0.0.1:7376, 127.0.0.1:7377]", "listen", "127.0.0.1 7376, 127.0.0.1 7377"},
    {"auth:\n  tokens:\n    - name: ci\n      sha256: " SHA_UPPER "\n", "auth.tokens",
     "ci=" SHA_LOWER},
    {"auth: {tokens: [{sha256: " SHA_LOWER ", name: \"ci bot\"}, {name: b, sha256: " SHA_OTHER
     "}]}",
     "auth.tokens", "ci bot=" SHA_LOWER ", b=" SHA_OTHER},
    {"auth: {tokens: ~}", "auth.tokens", ""},
    {"auth: {tokens: []}", "auth.tokens", ""},
};

static void test_valid(void **state)
{
    (void)state;
    check_valid(valid_cases, SQ_ARRAY_LEN(valid_cases));
}

static const struct error_case error_cases[] = {
    {"listen: 127.0.0.1:0", 1, 9,
     "\"listen\" address \"127.0.0.1:0\" is invalid: the port must be an integer 1..65535"},
    {"listen: 127.0.0.1:65536", 1, 9, "the port must be an integer 1..65535"},
    {"listen: 127.0.0.1:abc", 1, 9, "the port must be an integer 1..65535"},
    {"listen: 127.0.0.1:07376", 1, 9, "the port must be an integer 1..65535"},
    {"listen: \"127.0.0.1:\"", 1, 9, "the port must be an integer 1..65535"},
    {"listen: 127.0.0.1", 1, 9, "it has no port"},
    {"listen: localhost", 1, 9, "it has no port"},
    {"listen: \"[::1:7376\"", 1, 9, "the '[' of an IPv6 address is not closed by ']'"},
    {"listen: \"[::1]\"", 1, 9, "it has no port"},
    {"listen: \"[::1]7376\"", 1, 9, "']' must be followed by ':' and the port"},
    {"listen: \"[::1]:0\"", 1, 9, "the port must be an integer 1..65535"},
    {"listen: \"[]:7376\"", 1, 9, "the host in brackets is not an IPv6 address"},
    {"listen: \"[127.0.0.1]:7376\"", 1, 9, "the host in brackets is not an IPv6 address"},
    {"listen: \"[fe80::1%eth0]:80\"", 1, 9, "the host in brackets is not an IPv6 address"},
    {"listen: ::1:7376", 1, 9, "an IPv6 address must be written in brackets"},
    {"listen: :7376", 1, 9, "it has no host"},
    {"listen: 300.1.1.1:80", 1, 9, "the host is not a valid IPv4 address"},
    {"listen: bad_host:80", 1, 9, "the host is not an IPv4 address, a hostname"},
    {"listen: -bad.example:80", 1, 9, "the host is not an IPv4 address, a hostname"},
    {"listen: \"\"", 1, 9, "it is empty"},
    {"listen: []", 1, 9, "\"listen\" must name at least one host:port"},
    {"listen:\n", 1, 8, "\"listen\" must name at least one host:port"},
    {"listen: {a: 1}", 1, 9, "\"listen\" must be host:port or a list of them, got a mapping"},
    {"listen: [[127.0.0.1:1]]", 1, 10, "each \"listen\" entry must be host:port, got a sequence"},
    {"listen:\n  - 127.0.0.1:7376\n  - 127.0.0.1:9\n  - 127.0.0.1:7376\n", 4, 5,
     "duplicate \"listen\" address \"127.0.0.1:7376\" (first defined at line 2)"},
    {"listen: [LOCALHOST:1, localhost:1]", 1, 23, "duplicate \"listen\" address"},
    {spec_example, 9, 15,
     "the sha256 of token \"ci\" must be exactly 64 hexadecimal digits (sequind --hash-token "
     "prints it), got \"9f86d081884c7d65...\""},
    {"auth: {tokens: [{name: ci, sha256: " SHA_LOWER "0}]}", 1, 36, "exactly 64 hexadecimal"},
    {"auth: {tokens: [{name: ci, sha256: g" SHA_LOWER "}]}", 1, 36, "exactly 64 hexadecimal"},
    {"auth: {tokens: [{name: ci, sha256: [a]}]}", 1, 36, "got a sequence"},
    {"auth: {tokens: [{name: ci}]}", 1, 17,
     "a token of \"auth.tokens\" is missing the required key \"sha256\""},
    {"auth: {tokens: [{sha256: " SHA_LOWER "}]}", 1, 17, "is missing the required key \"name\""},
    {"auth: {tokens: [{name: ci, sha: x}]}", 1, 28,
     "unknown key \"sha\" in a token of \"auth.tokens\""},
    {"auth: {tokens: [{name: ci, name: cd}]}", 1, 28, "duplicate key \"name\" in a token"},
    {"auth: {tokens: [{name: \"\", sha256: " SHA_LOWER "}]}", 1, 24,
     "the name of a token must be 1..64 printable ASCII characters, got \"\""},
    {"auth: {tokens: [{name: \"a\\tb\", sha256: " SHA_LOWER "}]}", 1, 24, "printable ASCII"},
    {"auth:\n  tokens:\n    - {name: ci, sha256: " SHA_LOWER
     "}\n    - {name: ci, sha256: " SHA_OTHER "}\n",
     4, 14, "duplicate token name \"ci\" (first defined at line 3)"},
    {"auth:\n  tokens:\n    - {name: a, sha256: " SHA_LOWER "}\n    - {name: b, sha256: " SHA_UPPER
     "}\n",
     4, 25, "token \"b\" has the same sha256 as token \"a\" (line 3)"},
    {"auth: {tokens: {name: ci}}", 1, 16, "\"auth.tokens\" must be a list of {name, sha256}"},
    {"auth: {tokens: [ci]}", 1, 17, "each entry of \"auth.tokens\" must be a mapping"},
};

static void test_errors(void **state)
{
    (void)state;
    check_errors(error_cases, SQ_ARRAY_LEN(error_cases));
}

/* ---- the parsers on their own ----------------------------------------------------------- */

static void test_parse_address(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *host; /* NULL: refused */
        int port;
        bool v6;
        const char *why; /* refused: a fragment of the rule broken */
    } cases[] = {
        {"127.0.0.1:7376", "127.0.0.1", 7376, false, NULL},
        {"0.0.0.0:1", "0.0.0.0", 1, false, NULL},
        {"[::1]:7376", "::1", 7376, true, NULL},
        {"[2001:db8::1]:65535", "2001:db8::1", 65535, true, NULL},
        {"localhost:80", "localhost", 80, false, NULL},
        {"Sequin-1.Example.COM:443", "Sequin-1.Example.COM", 443, false, NULL},
        {"a:1", "a", 1, false, NULL},
        {"1.2.3.4.example:1", "1.2.3.4.example", 1, false, NULL},
        /* a label of 63 characters, a name of 253 */
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1",
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 1, false, NULL},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1", NULL, 0, false,
         "not an IPv4 address, a hostname"},
        {"", NULL, 0, false, "it is empty"},
        {"localhost", NULL, 0, false, "it has no port"},
        {"localhost:", NULL, 0, false, "the port must be an integer 1..65535"},
        {"localhost:0", NULL, 0, false, "the port must be an integer 1..65535"},
        {"localhost:65536", NULL, 0, false, "the port must be an integer 1..65535"},
        {"localhost:123456", NULL, 0, false, "the port must be an integer 1..65535"},
        {"localhost:+80", NULL, 0, false, "the port must be an integer 1..65535"},
        {"localhost:08", NULL, 0, false, "the port must be an integer 1..65535"},
        {":80", NULL, 0, false, "it has no host"},
        {"::1:80", NULL, 0, false, "must be written in brackets"},
        {"a..b:80", NULL, 0, false, "not an IPv4 address, a hostname"},
        {"a.:80", NULL, 0, false, "not an IPv4 address, a hostname"},
        {"a-.b:80", NULL, 0, false, "not an IPv4 address, a hostname"},
        {"a_b:80", NULL, 0, false, "not an IPv4 address, a hostname"},
        {"1.2.3:80", NULL, 0, false, "not a valid IPv4 address"},
        {"1.2.3.256:80", NULL, 0, false, "not a valid IPv4 address"},
        {"[::1", NULL, 0, false, "is not closed by ']'"},
        {"[]:80", NULL, 0, false, "not an IPv6 address"},
        {"[::g]:80", NULL, 0, false, "not an IPv6 address"},
        {"[::1]", NULL, 0, false, "it has no port"},
        {"[::1]80", NULL, 0, false, "must be followed by ':'"},
        {"[::1]:", NULL, 0, false, "the port must be an integer 1..65535"},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(cases); i++) {
        size_t len = strlen(cases[i].text), off = 99, hlen = 99;
        int port = -1;
        bool v6 = !cases[i].v6;
        guarded g;
        const char *in = guarded_copy(&g, cases[i].text, len);
        const char *why = sq_config_parse_address(in, len, &off, &hlen, &port, &v6);
        if (cases[i].host == NULL) {
            if (why == NULL || strstr(why, cases[i].why) == NULL)
                fail_msg("\"%s\": want a refusal with \"%s\", got %s", cases[i].text, cases[i].why,
                         why != NULL ? why : "none");
        } else {
            if (why != NULL)
                fail_msg("\"%s\" refused: %s", cases[i].text, why);
            assert_int_equal(hlen, strlen(cases[i].host));
            assert_memory_equal(in + off, cases[i].host, hlen);
            assert_int_equal(port, cases[i].port);
            assert_int_equal(v6, cases[i].v6);
        }
        guarded_free(&g);
    }
}

static void test_parse_sha256(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *hex; /* NULL: refused */
    } cases[] = {
        {SHA_LOWER, SHA_LOWER},
        {SHA_UPPER, SHA_LOWER},
        {SHA_OTHER, SHA_OTHER},
        {"", NULL},
        {SHA_LOWER "0", NULL},
        {"9f86d081884c7d65", NULL},
        {"g" SHA_LOWER, NULL},
        {"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0 ", NULL},
        {"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0x", NULL},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(cases); i++) {
        size_t len = strlen(cases[i].text);
        unsigned char sha[SQ_SHA256_LEN], pattern[SQ_SHA256_LEN];
        char hex[2 * SQ_SHA256_LEN + 1] = "untouched";
        memset(pattern, 0xa5, sizeof pattern);
        memcpy(sha, pattern, sizeof sha);
        guarded g;
        const char *in = guarded_copy(&g, cases[i].text, len);
        bool ok = sq_config_parse_sha256(in, len, sha, hex);
        if (ok != (cases[i].hex != NULL))
            fail_msg("\"%s\": %s", cases[i].text, ok ? "accepted" : "refused");
        if (ok) {
            assert_string_equal(hex, cases[i].hex);
            for (size_t k = 0; k < SQ_SHA256_LEN; k++) {
                unsigned byte = 0;
                assert_int_equal(sscanf(cases[i].hex + 2 * k, "%2x", &byte), 1);
                assert_int_equal(sha[k], byte);
            }
        } else {
            /* Refused, it writes nothing: neither the hex nor the bytes. */
            assert_string_equal(hex, "untouched");
            assert_memory_equal(sha, pattern, sizeof sha);
        }
        guarded_free(&g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_parse_address),
        cmocka_unit_test(test_parse_sha256),
    };
    return cmocka_run_group_tests_name("config_addr", tests, NULL, NULL);
}
