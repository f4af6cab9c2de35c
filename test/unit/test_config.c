/* Table-driven tests of loading and validating the config file: the defaults, valid values of
 * every option, every error of a value with its exact place, the error API, files, and which
 * options a reload sees change (the valid files, errors and changes of cases/config.txt). The YAML
 * reader, addresses and tokens, and the option table have test programs of their own
 * (test_config_yaml, test_config_addr, test_config_options). */
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
#include "sequin/source_rules.h"

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
    {"sources", ""},
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
    "sources: ~\n",
    "sources: []\n",
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

static void test_valid(void **state)
{
    (void)state;
    check_config_cases("config.txt", "valid", NULL, 0, 40);
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

/* A source's place, for the reconcile's messages, and its lookup by name. */
static void test_sources(void **state)
{
    (void)state;
    sq_config *cfg = load_ok("workers: 2\n"
                             "sources:\n"
                             "  - name: a\n"
                             "    postgres: {url: x}\n"
                             "  -   name: b\n"
                             "      postgres: {url: y}\n");
    const sq_config_source *b = sq_config_find_source(cfg, "b");

    assert_int_equal(cfg->sources.count, 2);
    assert_ptr_equal(sq_config_find_source(cfg, "a"), &cfg->sources.items[0]);
    assert_ptr_equal(b, &cfg->sources.items[1]);
    assert_null(sq_config_find_source(cfg, "c"));
    assert_int_equal(cfg->sources.items[0].line, 3);
    assert_int_equal(cfg->sources.items[0].column, 5);
    assert_int_equal(b->line, 5);
    assert_int_equal(b->column, 7);
    assert_int_equal(b->postgres.tables.count, 0);
    sq_config_free(cfg);
}

/* A source lists at most SQ_SOURCE_TABLES_MAX tables, as its settings JSON may. */
static void test_source_tables_max(void **state)
{
    (void)state;
    for (int n = SQ_SOURCE_TABLES_MAX; n <= SQ_SOURCE_TABLES_MAX + 1; n++) {
        sq_buf b = {0};
        assert_int_equal(sq_buf_printf(&b, "sources: [{name: a, postgres: {url: x, tables: ["), 0);
        for (int i = 0; i < n; i++)
            assert_int_equal(sq_buf_printf(&b, "%st%d", i ? ", " : "", i), 0);
        assert_int_equal(sq_buf_printf(&b, "]}}]\n"), 0);
        if (n == SQ_SOURCE_TABLES_MAX) {
            sq_config *cfg = load_ok(b.data);
            assert_int_equal(cfg->sources.items[0].postgres.tables.count, (size_t)n);
            assert_string_equal(cfg->sources.items[0].postgres.tables.items[n - 1], "public.t255");
            sq_config_free(cfg);
        } else {
            assert_int_equal(check_error("257 tables", b.data, b.len, 1, 48,
                                         "\"postgres.tables\" of source \"a\" lists 257 tables, "
                                         "at most 256"),
                             0);
        }
        sq_buf_free(&b);
    }
}

/* ---- errors ---------------------------------------------------------------------------- */

static void test_errors(void **state)
{
    (void)state;
    check_config_cases("config.txt", "error", NULL, 0, 60);
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

/* The defaults and the options, and which options the change rows have named. */
struct change_check {
    const sq_config *def;
    const sq_config_option *opts;
    size_t n;
    bool named[64];
};

/* A change row: its file differs from the defaults in its option alone (or in none). */
static bool check_change_row(const case_row *c, void *ctx)
{
    struct change_check *k = ctx;
    if (!config_row_is(c, "change"))
        return false;
    case_words(c, 2, 3);
    const char *changed = c->n == 3 ? c->w[2].p : NULL;
    sq_config *cfg = load_ok(c->w[1].p);
    for (size_t j = 0; j < k->n; j++) {
        bool want = changed == NULL || strcmp(changed, k->opts[j].name) != 0;
        if (sq_config_option_equal(k->def, cfg, &k->opts[j]) != want ||
            sq_config_option_equal(cfg, k->def, &k->opts[j]) != want)
            fail_msg("%s: <<%s>>: %s should %s", c->where, c->w[1].p, k->opts[j].name,
                     want ? "equal the default" : "differ");
        k->named[j] = k->named[j] || !want;
    }
    sq_config_free(cfg);
    return true;
}

static void test_option_equal(void **state)
{
    (void)state;
    sq_config *def = NULL;
    struct change_check k = {0};

    assert_int_equal(sq_config_defaults(&def), 0);
    k.def = def;
    k.opts = sq_config_options(&k.n);
    assert_true(k.n <= SQ_ARRAY_LEN(k.named));
    assert_true(config_cases_each("config.txt", NULL, 0, check_change_row, &k) >= 24);
    /* Every option is covered by a case. */
    for (size_t j = 0; j < k.n; j++) {
        if (!k.named[j])
            fail_msg("no change case for %s", k.opts[j].name);
    }
    sq_config_free(def);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),          cmocka_unit_test(test_valid),
        cmocka_unit_test(test_spec_example),      cmocka_unit_test(test_sources),
        cmocka_unit_test(test_source_tables_max), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_api),         cmocka_unit_test(test_files),
        cmocka_unit_test(test_option_equal),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
