/* Table-driven tests of the config file's YAML reader: the forms of YAML a file may take, and
 * every error of the document itself with its exact place: syntax, documents, anchors,
 * aliases, tags, bytes, nesting, and the keys of a mapping (unknown, duplicate, misspelt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_test.h"

static const struct valid_case valid_cases[] = {
    {"---\nworkers: 2\n...\n", "workers", "2"},
    {"workers: 2\r\nlog: {level: warn}\r\n", "log.level", "warn"},
    {"\xef\xbb\xbfworkers: 3\n", "workers", "3"},
    {"\"workers\": 4\n", "workers", "4"},
    {"%YAML 1.1\n---\nworkers: 5\n", "workers", "5"},
    {"workers: 6 # a comment\n", "workers", "6"},
};

static void test_valid(void **state)
{
    (void)state;
    check_valid(valid_cases, SQ_ARRAY_LEN(valid_cases));
}

static char deep[64], long_key[200];

static const struct error_case error_cases[] = {
    /* unknown keys */
    {"listn: 127.0.0.1:7376", 1, 1,
     "unknown key \"listn\" in the top level mapping (did you mean \"listen\"?)"},
    {"workers: 2\nfoo: 1\n", 2, 1, "unknown key \"foo\" in the top level mapping"},
    {"limits:\n  max_bdy_bytes: 5\n", 2, 3,
     "unknown key \"max_bdy_bytes\" in \"limits\" (did you mean \"max_body_bytes\"?)"},
    {"limits.max_body_bytes: 5\n", 1, 1, "(write it nested: limits: {max_body_bytes: ...})"},
    {"Workers: 2\n", 1, 1, "unknown key \"Workers\""},
    {long_key, 1, 1, "unknown key \"aaaaaaaaaaaa"},
    {"\"a\\tb\": 1\n", 1, 1, "unknown key \"a\\x09b\""},
    {"? [a]\n: 1\n", 1, 3, "a key must be a word, got a sequence in the top level mapping"},
    /* duplicate keys */
    {"workers: 2\nworkers: 3\n", 2, 1,
     "duplicate key \"workers\" in the top level mapping (first defined at line 1)"},
    {"limits:\n  max_headers: 10\n  max_headers: 20\n", 3, 3,
     "duplicate key \"max_headers\" in \"limits\" (first defined at line 2)"},
    {"log: {level: info}\nlog: {format: json}\n", 2, 1, "duplicate key \"log\""},
    /* YAML syntax, documents, anchors, aliases, tags, bytes */
    {"listen: [::1]:7376", 1, 10,
     "YAML syntax error: did not find expected node content while parsing a flow node that "
     "started at line 1, column 10 (an IPv6 address must be quoted: \"[::1]:7376\")"},
    /* Unquoted wildcards: YAML reads '*' as an alias and '>' as a folded block. */
    {"streams:\n  - name: default\n    consumers:\n      - name: a\n        filter: *\n", 5, 18,
     "(a filter with wildcards must be quoted: filter: \"orders.>\")"},
    {"streams:\n  - name: default\n    consumers:\n      - {name: a, filter: >}\n", 4, 27,
     "(a filter with wildcards must be quoted: filter: \"orders.>\")"},
    {"streams:\n  - name: default\n    consumers:\n      - name: a\n        filter: >\n"
     "          orders.>\n",
     5, 17, "(a filter with wildcards must be quoted: filter: \"orders.>\")"},
    {"workers: 2\n log: x\n", 2, 5, "YAML syntax error: mapping values are not allowed"},
    {"limits: {max_headers: 10\n", 2, 1, "YAML syntax error: did not find expected ',' or '}'"},
    {"workers: \"2\n", 2, 1, "YAML syntax error: found unexpected end of stream"},
    {"workers: 2\n\tlog: x\n", 2, 1, "YAML syntax error"},
    {"a: 1\n---\nb: 2\n", 2, 1, "a config file holds one YAML document, a second one starts here"},
    {"workers: &w 2\n", 1, 10, "anchors (&w) are not supported"},
    {"workers: 2\nshutdown_timeout_ms: *w\n", 2, 22, "aliases (*w) are not supported"},
    {"workers: !!int 2\n", 1, 10, "tags (\"tag:yaml.org,2002:int\") are not supported"},
    {"limits: !custom {}\n", 1, 9, "tags (\"!custom\") are not supported"},
    {"database: {url: \"a\\0b\"}", 1, 17, "a NUL character is not allowed"},
    {"workers: 2\nlog: {level: \"\xff\"}\n", 2, 15, "invalid text: "},
    {"workers: 2\x01\n", 1, 11, "invalid text: control characters are not allowed (0x01)"},
    {deep, 1, 19, "the config file nests deeper than 16 levels"},
};

static void test_errors(void **state)
{
    (void)state;
    check_errors(error_cases, SQ_ARRAY_LEN(error_cases));
    /* A NUL byte in the text itself (not the "\0" escape) is a control character to libyaml. */
    static const char nul[] = "workers: 2\nlog: {le\0vel: info}\n";
    assert_int_equal(check_error(nul, sizeof nul - 1, 2, 9, "invalid text: "), 0);
}

int main(void)
{
    /* A 150-byte key and 40 nested '[': built here, not spelled out in the tables. */
    memset(long_key, 'a', 150);
    memcpy(long_key + 150, ": 1\n", 5);
    memcpy(deep, "a: ", 3);
    memset(deep + 3, '[', 40);
    deep[43] = '\0';

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("config_yaml", tests, NULL, NULL);
}
