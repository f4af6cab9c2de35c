/* Table-driven tests of listen addresses and API tokens in the config file: valid ones and every
 * error with its exact place (cases/config_addr.txt), then the address and digest parsers on
 * their own, reading no byte past the text they are given. */
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

static void test_valid(void **state)
{
    (void)state;
    check_config_cases("config_addr.txt", "valid", NULL, 0, 14);
}

static void test_errors(void **state)
{
    (void)state;
    check_config_cases("config_addr.txt", "error", NULL, 0, 40);
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
