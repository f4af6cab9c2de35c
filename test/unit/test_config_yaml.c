/* Table-driven tests of the config file's YAML reader (cases/config_yaml.txt): the forms of YAML
 * a file may take, and every error of the document itself with its exact place: syntax,
 * documents, anchors, aliases, tags, bytes, nesting, and the keys of a mapping (unknown,
 * duplicate, misspelt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_test.h"

/* $DEEP and $LONG_KEY of the case file, which main() builds. */
static char deep[64], long_key[200];
static const case_name built[] = {{"LONG_KEY", long_key}, {"DEEP", deep}};

static void test_valid(void **state)
{
    (void)state;
    check_config_cases("config_yaml.txt", "valid", built, SQ_ARRAY_LEN(built), 6);
}

static void test_errors(void **state)
{
    (void)state;
    check_config_cases("config_yaml.txt", "error", built, SQ_ARRAY_LEN(built), 29);
}

int main(void)
{
    /* A 150-byte key and 40 nested '[' ($LONG_KEY and $DEEP): built here, not spelled out in
     * the case file. */
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
