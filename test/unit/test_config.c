/* Table-driven tests of loading and validating the config file: the defaults, valid values of
 * every option, every error of a value with its exact place, the error API, files, and which
 * options a reload sees change. The YAML reader, addresses and tokens, and the option table
 * have test programs of their own (test_config_yaml, test_config_addr, test_config_options). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config_test.h"

static const char spec_example_valid[] = SPEC_EXAMPLE(SHA_LOWER);

/* ---- defaults -------------------------------------------------------------------------- */

struct expect {
    const char *name;
    const char *value;
};

static const struct expect default_cases[] = {
    {"listen", "127.0.0.1 7376"},
    {"workers", "0"},
    {"shutdown_timeout_ms", "30000"},
    {"database.url", ""},
    {"database.connections_per_worker", "2"},
    {"auth.tokens", ""},
    {"auth.allow_anonymous", "false"},
    {"limits.max_body_bytes", "16777216"},
    {"limits.max_message_bytes", "1048576"},
    {"limits.max_request_line_bytes", "8192"},
    {"limits.max_header_bytes", "32768"},
    {"limits.max_headers", "100"},
    {"limits.idle_timeout_ms", "60000"},
    {"limits.header_timeout_ms", "10000"},
    {"limits.body_timeout_ms", "30000"},
    {"log.level", "info"},
    {"log.format", "text"},
    {"streams", "default[]"},
};

/* Texts that mean "all defaults". */
static const char *const empty_texts[] = {
    "",
    "\n",
    "# only a comment\n",
    "---\n",
    "--- ~\n",
    "~\n",
    "null\n",
    "---\n...\n",
    "\xef\xbb\xbf",
    "database:\nauth:\nlimits:\nlog:\n",
    "streams: ~\n",
    "streams: []\n",
};

static void test_defaults(void **state)
{
    (void)state;
    sq_config *def = NULL;
    size_t n = 0;
    const sq_config_option *opts = sq_config_options(&n);
    char buf[1024];

    assert_int_equal(sq_config_defaults(&def), 0);
    assert_non_null(def);
    assert_string_equal(def->source, "<defaults>");
    assert_int_equal(SQ_ARRAY_LEN(default_cases), n);
    for (size_t i = 0; i < n; i++) {
        const char *got = show(def, opts[i].name, buf, sizeof buf);
        if (got == NULL)
            fail_msg("option %s has no case in show()", opts[i].name);
        bool found = false;
        for (size_t j = 0; j < SQ_ARRAY_LEN(default_cases); j++) {
            if (strcmp(default_cases[j].name, opts[i].name) != 0)
                continue;
            found = true;
            if (strcmp(got, default_cases[j].value) != 0)
                fail_msg("default of %s: got \"%s\", want \"%s\"", opts[i].name, got,
                         default_cases[j].value);
        }
        if (!found)
            fail_msg("option %s has no expected default in default_cases", opts[i].name);
    }
    assert_int_equal(def->log.level, SQ_LOG_INFO);
    assert_int_equal(def->log.format, SQ_LOG_TEXT);
    assert_int_equal(def->listen.items[0].port, SQ_CONFIG_DEFAULT_PORT);
    assert_non_null(sq_config_find_stream(def, "default"));
    assert_null(sq_config_find_stream(def, "other"));

    for (size_t t = 0; t < SQ_ARRAY_LEN(empty_texts); t++) {
        sq_config *c = load_ok(empty_texts[t]);
        for (size_t i = 0; i < n; i++) {
            if (!sq_config_option_equal(def, c, &opts[i]))
                fail_msg("text <<%s>>: %s differs from its default", empty_texts[t], opts[i].name);
        }
        sq_config_free(c);
    }
    sq_config_free(def);
    sq_config_free(NULL);
}

/* ---- valid files ----------------------------------------------------------------------- */

static const struct valid_case valid_cases[] = {
    /* workers */
    {"workers: auto", "workers", "0"},
    {"workers: \"auto\"", "workers", "0"},
    {"workers: 1", "workers", "1"},
    {"workers: 1024", "workers", "1024"},
    {"shutdown_timeout_ms: 0", "shutdown_timeout_ms", "0"},
    {"shutdown_timeout_ms: 3600000", "shutdown_timeout_ms", "3600000"},
    /* database */
    {"database:\n  url: postgres://sequin@localhost/sequin\n", "database.url",
     "postgres://sequin@localhost/sequin"},
    {"database: {url: \"host=/run/postgresql dbname=sequin\"}", "database.url",
     "host=/run/postgresql dbname=sequin"},
    {"database: {url: ''}", "database.url", ""},
    {"database: {connections_per_worker: 1}", "database.connections_per_worker", "1"},
    {"database: {connections_per_worker: 64}", "database.connections_per_worker", "64"},
    {"database:\n  # nothing set\n", "database.connections_per_worker", "2"},
    /* auth */
    {"auth: {allow_anonymous: true}", "auth.allow_anonymous", "true"},
    {"auth: {allow_anonymous: TRUE}", "auth.allow_anonymous", "true"},
    {"auth: {allow_anonymous: False}", "auth.allow_anonymous", "false"},
    /* limits, at the ends of their ranges */
    {"limits: {max_body_bytes: 1024, max_message_bytes: 1024}", "limits.max_body_bytes", "1024"},
    {"limits: {max_body_bytes: 1073741824}", "limits.max_body_bytes", "1073741824"},
    {"limits: {max_message_bytes: 1}", "limits.max_message_bytes", "1"},
    {"limits: {max_message_bytes: 16777216}", "limits.max_message_bytes", "16777216"},
    {"limits: {max_request_line_bytes: 1024}", "limits.max_request_line_bytes", "1024"},
    {"limits: {max_request_line_bytes: 65536}", "limits.max_request_line_bytes", "65536"},
    {"limits: {max_header_bytes: 1048576}", "limits.max_header_bytes", "1048576"},
    {"limits: {max_headers: 8}", "limits.max_headers", "8"},
    {"limits: {max_headers: 1000}", "limits.max_headers", "1000"},
    {"limits: {idle_timeout_ms: 1000}", "limits.idle_timeout_ms", "1000"},
    {"limits: {header_timeout_ms: 100}", "limits.header_timeout_ms", "100"},
    {"limits: {body_timeout_ms: 3600000}", "limits.body_timeout_ms", "3600000"},
    /* log */
    {"log: {level: debug}", "log.level", "debug"},
    {"log: {level: warn}", "log.level", "warn"},
    {"log: {level: \"error\"}", "log.level", "error"},
    {"log:\n  format: json\n", "log.format", "json"},
    /* streams and consumers */
    {"streams: [{name: orders}]", "streams", "default[] orders[]"},
    {"streams: [{name: orders}, {name: default}]", "streams", "orders[] default[]"},
    {"streams: [{name: default, consumers: ~}]", "streams", "default[]"},
    {"streams:\n  - name: default\n    consumers:\n      - name: c\n        filter: \">\"\n",
     "streams", "default[c > 30000 10000 0 all]"},
    {"streams:\n  - consumers:\n      - {filter: orders.*, name: C_1, ack_wait_ms: 500, "
     "max_ack_pending: 1000000, max_deliver: 1000, deliver_policy: new}\n    name: s\n",
     "streams", "default[] s[C_1 orders.* 500 1000000 1000 new]"},
    {"streams: [{name: a, consumers: [{name: c, filter: x, max_deliver: none, ack_wait_ms: "
     "3600000, max_ack_pending: 1}]}, {name: b, consumers: [{name: c, filter: y, "
     "max_deliver: 1}]}]",
     "streams", "default[] a[c x 3600000 1 0 all] b[c y 30000 10000 1 all]"},
    {"streams: [{name: "
     "a234567890123456789012345678901234567890123456789012345678901234}]",
     "streams", "default[] a234567890123456789012345678901234567890123456789012345678901234[]"},
    /* SPEC section 5's example */
    {spec_example_valid, "auth.tokens", "ci=" SHA_LOWER},
    {spec_example_valid, "database.url", "postgres://sequin@localhost/sequin"},
    {spec_example_valid, "streams", "default[us_orders orders.us.> 30000 10000 5 all]"},
};

static void test_valid(void **state)
{
    (void)state;
    check_valid(valid_cases, SQ_ARRAY_LEN(valid_cases));
}

static void test_spec_example(void **state)
{
    (void)state;
    sq_config *cfg = load_ok(spec_example_valid);
    const sq_config_stream *s = sq_config_find_stream(cfg, "default");

    assert_int_equal(cfg->listen.count, 1);
    assert_string_equal(cfg->listen.items[0].address, "127.0.0.1:7376");
    assert_string_equal(cfg->listen.items[0].host, "127.0.0.1");
    assert_int_equal(cfg->listen.items[0].line, 1);
    assert_int_equal(cfg->listen.items[0].column, 9);
    assert_int_equal(cfg->workers, 0);
    assert_int_equal(cfg->auth.tokens.count, 1);
    assert_int_equal(cfg->auth.tokens.items[0].sha256[0], 0x9f);
    assert_int_equal(cfg->auth.tokens.items[0].sha256[31], 0x08);
    assert_non_null(s);
    assert_int_equal(s->line, 13);
    assert_int_equal(s->column, 5);
    assert_int_equal(s->n_consumers, 1);
    assert_int_equal(s->consumers[0].line, 15);
    assert_int_equal(s->consumers[0].column, 9);
    assert_int_equal(s->consumers[0].deliver_policy, SQ_CONFIG_DELIVER_ALL);
    sq_config_free(cfg);
}

/* ---- errors ---------------------------------------------------------------------------- */

static const struct error_case error_cases[] = {
    /* wrong node kinds */
    {"workers: [1]", 1, 10, "\"workers\" must be \"auto\" or an integer 1..1024, got a sequence"},
    {"workers:\n", 1, 9, "got nothing (null)"},
    {"limits: [1]", 1, 9, "\"limits\" must be a mapping, got a sequence"},
    {"limits: 5", 1, 9, "\"limits\" must be a mapping, got \"5\""},
    {"database: {url: [a]}", 1, 17, "\"database.url\" must be a string, got a sequence"},
    {"database: {url: ~}", 1, 17, "\"database.url\" must be a string, got \"~\""},
    {"log: {level: {a: b}}", 1, 14, "got a mapping"},
    {"[1]", 1, 1, "the top level must be a mapping of options, got a sequence"},
    {"just text", 1, 1, "the top level must be a mapping of options, got \"just text\""},
    /* bad values */
    {"workers: many", 1, 10, "\"workers\" must be \"auto\" or an integer 1..1024, got \"many\""},
    {"workers: 0", 1, 10, "got \"0\""},
    {"workers: 1025", 1, 10, "got \"1025\""},
    {"workers: -1", 1, 10, "got \"-1\""},
    {"workers: 1.5", 1, 10, "got \"1.5\""},
    {"workers: 010", 1, 10, "got \"010\""},
    {"workers: 0x10", 1, 10, "got \"0x10\""},
    {"workers: 99999999999999999999999", 1, 10, "got \"99999999999999999999999\""},
    {"workers: \"4\"", 1, 10, "got the quoted string \"4\" (write numbers without quotes)"},
    {"shutdown_timeout_ms: 3600001", 1, 22,
     "\"shutdown_timeout_ms\" must be an integer 0..3600000"},
    {"database:\n  connections_per_worker: 65\n", 2, 27, "an integer 1..64, got \"65\""},
    {"auth: {allow_anonymous: yes}", 1, 25,
     "\"auth.allow_anonymous\" must be true or false, got "
     "\"yes\""},
    {"auth: {allow_anonymous: \"true\"}", 1, 25, "got the quoted string \"true\""},
    {"limits: {max_body_bytes: 1023}", 1, 26,
     "\"limits.max_body_bytes\" must be an integer "
     "1024..1073741824, got \"1023\""},
    {"limits: {max_headers: 7}", 1, 23, "an integer 8..1000, got \"7\""},
    {"limits: {max_request_line_bytes: 65537}", 1, 34, "an integer 1024..65536"},
    {"limits: {idle_timeout_ms: 999}", 1, 27, "an integer 1000..3600000"},
    {"limits: {header_timeout_ms: 99}", 1, 29, "an integer 100..600000"},
    {"limits: {body_timeout_ms: 0}", 1, 27, "an integer 100..3600000"},
    {"limits: {max_header_bytes: 1023}", 1, 28, "an integer 1024..1048576"},
    {"limits: {max_message_bytes: 0}", 1, 29, "an integer 1..1073741824"},
    {"limits: {max_message_bytes: 16777217}", 1, 29,
     "\"limits.max_message_bytes\" (16777217) must not exceed \"limits.max_body_bytes\" "
     "(16777216)"},
    {"limits:\n  max_body_bytes: 2048\n", 2, 19, "must not exceed \"limits.max_body_bytes\""},
    {"log: {level: verbose}", 1, 14,
     "\"log.level\" must be one of debug, info, warn, error; got \"verbose\""},
    {"log: {level: INFO}", 1, 14, "got \"INFO\""},
    {"log:\n  format: xml\n", 2, 11, "\"log.format\" must be one of text, json; got \"xml\""},
    /* streams */
    {"streams: {name: x}", 1, 10, "\"streams\" must be a list of {name, consumers}"},
    {"streams: [x]", 1, 11, "each entry of \"streams\" must be a mapping {name, consumers}"},
    {"streams: [{consumers: []}]", 1, 11, "a stream is missing the required key \"name\""},
    {"streams: [{name: a-b}]", 1, 18,
     "the name of a stream must be 1..64 characters of a-z, A-Z, 0-9 and _, got \"a-b\""},
    {"streams: [{name: \"\"}]", 1, 18, "the name of a stream must be 1..64 characters"},
    {"streams: [{name: "
     "a2345678901234567890123456789012345678901234567890123456789012345}]",
     1, 18, "the name of a stream must be 1..64 characters"},
    {"streams:\n  - name: s\n  - name: t\n  - name: s\n", 4, 5,
     "duplicate stream \"s\" (first defined at line 2)"},
    {"streams: [{name: s, consumer: []}]", 1, 21,
     "unknown key \"consumer\" in a stream (did you mean \"consumers\"?)"},
    {"streams: [{name: s, consumers: {}}]", 1, 32,
     "\"consumers\" of stream \"s\" must be a list, got a mapping"},
    /* consumers */
    {"streams: [{name: s, consumers: [c]}]", 1, 33,
     "each consumer of stream \"s\" must be a mapping, got \"c\""},
    {"streams: [{name: s, consumers: [{filter: x}]}]", 1, 33,
     "a consumer of stream \"s\" is missing the required key \"name\""},
    {"streams: [{name: s, consumers: [{name: c}]}]", 1, 33,
     "consumer \"c\" of stream \"s\" is missing the required key \"filter\""},
    {"streams: [{name: s, consumers: [{name: c, filtr: x}]}]", 1, 43,
     "unknown key \"filtr\" in a consumer of stream \"s\" (did you mean \"filter\"?)"},
    {"streams: [{name: s, consumers: [{name: c, name: d}]}]", 1, 43,
     "duplicate key \"name\" in a consumer of stream \"s\" (first defined at line 1)"},
    {"streams: [{name: s, consumers: [{name: c.d, filter: x}]}]", 1, 40,
     "the name of a consumer must be 1..64 characters"},
    {"streams: [{name: s, consumers: [{name: c, filter: \"orders.ab*\"}]}]", 1, 51,
     "\"filter\" of consumer \"c\" is not a valid filter: '*' and '>' must be whole tokens"},
    {"streams: [{name: s, consumers: [{name: c, filter: \"a.>.b\"}]}]", 1, 51,
     "is not a valid filter: '>' is allowed only as the last token of a filter"},
    {"streams: [{name: s, consumers: [{name: c, filter: \"\"}]}]", 1, 51,
     "is not a valid filter: a filter must not be empty"},
    {"streams: [{name: s, consumers: [{name: c, filter: x, ack_wait_ms: 499}]}]", 1, 67,
     "\"ack_wait_ms\" of consumer \"c\" must be an integer 500..3600000, got \"499\""},
    {"streams: [{name: s, consumers: [{name: c, filter: x, ack_wait_ms: 3600001}]}]", 1, 67,
     "an integer 500..3600000"},
    {"streams: [{name: s, consumers: [{name: c, filter: x, max_ack_pending: 0}]}]", 1, 71,
     "\"max_ack_pending\" of consumer \"c\" must be an integer 1..1000000"},
    {"streams: [{name: s, consumers: [{name: c, filter: x, max_deliver: 0}]}]", 1, 67,
     "\"max_deliver\" of consumer \"c\" must be \"none\" or an integer 1..1000, got \"0\""},
    {"streams: [{name: s, consumers: [{name: c, filter: x, max_deliver: 1001}]}]", 1, 67,
     "\"none\" or an integer 1..1000"},
    {"streams: [{name: s, consumers: [{name: c, filter: x, deliver_policy: old}]}]", 1, 70,
     "\"deliver_policy\" of consumer \"c\" must be one of all, new; got \"old\""},
    {"streams:\n"
     "  - name: default\n"
     "    consumers:\n"
     "      - name: eu_orders\n"
     "        filter: \"orders.eu.>\"\n"
     "      - name: other\n"
     "        filter: \"other.>\"\n"
     "        max_deliver: 3\n"
     "      - name: us_orders\n"
     "        filter: \"orders.us.>\"\n"
     "      - name: us_orders\n"
     "        filter: \"orders.us.*\"\n",
     11, 9, "duplicate consumer \"us_orders\" in stream \"default\" (first defined at line 9)"},
};

static void test_errors(void **state)
{
    (void)state;
    check_errors(error_cases, SQ_ARRAY_LEN(error_cases));
}

/* The error argument is optional, and a failure leaves nothing allocated (ASan checks). */
static void test_error_api(void **state)
{
    (void)state;
    sq_config *cfg = NULL;
    sq_config_error err;
    char buf[64];

    assert_int_equal(sq_config_load_buffer("x", "workers: x", 10, &cfg, NULL), -1);
    assert_null(cfg);
    assert_int_equal(sq_config_load_buffer(NULL, "workers: x", 10, &cfg, &err), -1);
    assert_string_equal(err.file, "<buffer>");

    /* The formatter truncates and terminates. */
    memset(&err, 0, sizeof err);
    strcpy(err.file, "f.yaml");
    err.line = 3;
    err.column = 7;
    strcpy(err.message, "bad");
    assert_string_equal(sq_config_error_format(&err, buf, sizeof buf), "f.yaml:3:7: bad");
    assert_string_equal(sq_config_error_format(&err, buf, 8), "f.yaml:");
    err.line = 0;
    err.column = 0;
    assert_string_equal(sq_config_error_format(&err, buf, sizeof buf), "f.yaml: bad");
    assert_ptr_equal(sq_config_error_format(&err, buf, 0), buf);

    /* A long value is shortened in the message, and the message still fits. */
    char text[3000];
    memcpy(text, "workers: ", 9);
    memset(text + 9, 'x', sizeof text - 10);
    text[sizeof text - 1] = '\0';
    assert_int_equal(sq_config_load_buffer("t", text, strlen(text), &cfg, &err), -1);
    assert_non_null(strstr(err.message, "xxx\"..."));
    assert_true(strlen(err.message) < 200);
}

/* ---- files ----------------------------------------------------------------------------- */

static void test_files(void **state)
{
    (void)state;
    sq_config *cfg = NULL;
    sq_config_error err;
    char path[] = "/tmp/sequin_test_configXXXXXX";
    char msg[2048];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);

    assert_int_equal(sq_config_load_file("/nonexistent/sequin.yaml", &cfg, &err), -1);
    assert_null(cfg);
    assert_string_equal(sq_config_error_format(&err, msg, sizeof msg),
                        "/nonexistent/sequin.yaml: cannot open the file: No such file or "
                        "directory");
    assert_int_equal(sq_config_load_file("/", &cfg, &err), -1);
    assert_int_equal(err.line, 0);
    assert_non_null(strstr(err.message, "cannot read the file"));

    fputs("workers: 3\nlog: {level: debug}\n", f);
    fflush(f);
    assert_int_equal(sq_config_load_file(path, &cfg, &err), 0);
    assert_int_equal(cfg->workers, 3);
    assert_string_equal(cfg->source, path);
    sq_config_free(cfg);

    fputs("limits: {max_headers: 1}\n", f);
    fflush(f);
    assert_int_equal(sq_config_load_file(path, &cfg, NULL), -1);
    assert_int_equal(sq_config_load_file(path, &cfg, &err), -1);
    assert_string_equal(err.file, path);
    assert_int_equal(err.line, 3);
    assert_int_equal(err.column, 23);

    /* Larger than the cap: refused before parsing. */
    assert_int_equal(ftruncate(fd, 0), 0);
    rewind(f);
    for (size_t n = 0; n <= SQ_CONFIG_FILE_MAX; n += 16)
        fputs("# padding .....\n", f);
    fflush(f);
    assert_int_equal(sq_config_load_file(path, &cfg, &err), -1);
    assert_int_equal(err.line, 0);
    assert_non_null(strstr(err.message, "larger than"));

    fclose(f);
    unlink(path);
}

/* ---- reload: which options differ ------------------------------------------------------ */

struct change_case {
    const char *yaml;
    const char *changed; /* the one option that differs from the defaults */
};

static const struct change_case change_cases[] = {
    {"listen: 127.0.0.1:7377", "listen"},
    {"listen: [127.0.0.1:7376, 127.0.0.1:7377]", "listen"},
    {"listen: localhost:7376", "listen"},
    {"workers: 4", "workers"},
    {"shutdown_timeout_ms: 1", "shutdown_timeout_ms"},
    {"database: {url: x}", "database.url"},
    {"database: {connections_per_worker: 3}", "database.connections_per_worker"},
    {"auth: {tokens: [{name: a, sha256: " SHA_LOWER "}]}", "auth.tokens"},
    {"auth: {allow_anonymous: true}", "auth.allow_anonymous"},
    {"limits: {max_body_bytes: 16777217}", "limits.max_body_bytes"},
    {"limits: {max_message_bytes: 5}", "limits.max_message_bytes"},
    {"limits: {max_request_line_bytes: 4096}", "limits.max_request_line_bytes"},
    {"limits: {max_header_bytes: 4096}", "limits.max_header_bytes"},
    {"limits: {max_headers: 50}", "limits.max_headers"},
    {"limits: {idle_timeout_ms: 5000}", "limits.idle_timeout_ms"},
    {"limits: {header_timeout_ms: 5000}", "limits.header_timeout_ms"},
    {"limits: {body_timeout_ms: 5000}", "limits.body_timeout_ms"},
    {"log: {level: error}", "log.level"},
    {"log: {format: json}", "log.format"},
    {"streams: [{name: x}]", "streams"},
    {"streams: [{name: default, consumers: [{name: c, filter: a}]}]", "streams"},
    /* Equal values written differently change nothing. */
    {"listen: [127.0.0.1:7376]", NULL},
    {"workers: auto", NULL},
    {"streams: [{name: default, consumers: []}]", NULL},
};

static void test_option_equal(void **state)
{
    (void)state;
    sq_config *def = NULL;
    size_t n = 0;
    const sq_config_option *opts = sq_config_options(&n);

    assert_int_equal(sq_config_defaults(&def), 0);
    for (size_t i = 0; i < SQ_ARRAY_LEN(change_cases); i++) {
        const struct change_case *c = &change_cases[i];
        sq_config *cfg = load_ok(c->yaml);
        for (size_t j = 0; j < n; j++) {
            bool want = c->changed == NULL || strcmp(c->changed, opts[j].name) != 0;
            if (sq_config_option_equal(def, cfg, &opts[j]) != want ||
                sq_config_option_equal(cfg, def, &opts[j]) != want)
                fail_msg("<<%s>>: %s should %s", c->yaml, opts[j].name,
                         want ? "equal the default" : "differ");
        }
        sq_config_free(cfg);
    }
    /* Every option is covered by a case. */
    for (size_t j = 0; j < n; j++) {
        bool covered = false;
        for (size_t i = 0; i < SQ_ARRAY_LEN(change_cases); i++)
            covered = covered || (change_cases[i].changed != NULL &&
                                  strcmp(change_cases[i].changed, opts[j].name) == 0);
        if (!covered)
            fail_msg("no change case for %s", opts[j].name);
    }
    sq_config_free(def);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),     cmocka_unit_test(test_valid),
        cmocka_unit_test(test_spec_example), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_api),    cmocka_unit_test(test_files),
        cmocka_unit_test(test_option_equal),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
