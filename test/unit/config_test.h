/* Test helper for the config loader's tests: loading from a copy that ends at a guard page,
 * the value of any option as text, and the runners of their case files' valid files and
 * errors. Include after <cmocka.h>. */
#ifndef SEQUIN_TEST_CONFIG_TEST_H
#define SEQUIN_TEST_CONFIG_TEST_H

#include <stdio.h>
#include <string.h>

#include "case_file.h"
#include "guard.h"
#include "sequin/config.h"

/* A digest of 64 hex digits in upper case, and the lower-case form the loader stores. */
#define SHA_UPPER "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
#define SHA_LOWER "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define SHA_OTHER "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"

/* SPEC section 5's example, verbatim but for the token's digest: the SPEC shortens it
 * ("9f86d081884c7d65..."), which the loader must refuse. */
#define SPEC_EXAMPLE(digest)                                                                       \
    "listen: 127.0.0.1:7376        # or a list; [::1]:7376 works too\n"                            \
    "workers: auto                  # number of worker processes; auto = CPU count\n"              \
    "database:\n"                                                                                  \
    "  url: postgres://sequin@localhost/sequin   # or the libpq PG* environment\n"                 \
    "  connections_per_worker: 2\n"                                                                \
    "auth:\n"                                                                                      \
    "  tokens:\n"                                                                                  \
    "    - name: ci\n"                                                                             \
    "      sha256: " digest "\n"                                                                   \
    "limits: {max_body_bytes: 16777216, max_message_bytes: 1048576, idle_timeout_ms: 60000}\n"     \
    "log: {level: info, format: text}   # text or json, to stderr (journald)\n"                    \
    "streams:\n"                                                                                   \
    "  - name: default\n"                                                                          \
    "    consumers:\n"                                                                             \
    "      - name: us_orders\n"                                                                    \
    "        filter: \"orders.us.>\"\n"                                                            \
    "        ack_wait_ms: 30000\n"                                                                 \
    "        max_ack_pending: 10000\n"                                                             \
    "        max_deliver: 5\n"

/* Loads `text` from a copy that ends right before an unreadable page. */
static inline int load_guarded(const char *text, size_t len, sq_config **out, sq_config_error *err)
{
    guarded g;
    const char *copy = guarded_copy(&g, text, len);
    int rc = sq_config_load_buffer("t.yaml", copy, len, out, err);
    guarded_free(&g);
    return rc;
}

static inline sq_config *load_ok(const char *text)
{
    sq_config *cfg = NULL;
    sq_config_error err;
    char msg[2048];

    if (load_guarded(text, strlen(text), &cfg, &err) != 0)
        fail_msg("unexpected error for <<%s>>: %s", text,
                 sq_config_error_format(&err, msg, sizeof msg));
    assert_non_null(cfg);
    return cfg;
}

static const char *const level_words[] = {"debug", "info", "warn", "error"};
static const char *const format_words[] = {"text", "json"};
static const char *const policy_words[] = {"all", "new"};
static const char *const key_format_words[] = {"basic", "with_operation"};

/*
 * The value of option `name` as text, read through the struct's fields by name (not through
 * the table's offsets, so that a wrong offset in the table shows up here). NULL: no such option.
 */
static inline const char *show(const sq_config *c, const char *name, char *buf, size_t size)
{
    const struct {
        const char *name;
        const int *v;
    } ints[] = {
        {"workers", &c->workers},
        {"shutdown_timeout_ms", &c->shutdown_timeout_ms},
        {"database.connections_per_worker", &c->database.connections_per_worker},
        {"limits.max_body_bytes", &c->limits.max_body_bytes},
        {"limits.max_message_bytes", &c->limits.max_message_bytes},
        {"limits.max_request_line_bytes", &c->limits.max_request_line_bytes},
        {"limits.max_header_bytes", &c->limits.max_header_bytes},
        {"limits.max_headers", &c->limits.max_headers},
        {"limits.idle_timeout_ms", &c->limits.idle_timeout_ms},
        {"limits.header_timeout_ms", &c->limits.header_timeout_ms},
        {"limits.body_timeout_ms", &c->limits.body_timeout_ms},
    };
    const struct {
        const char *name;
        const char *v;
    } texts[] = {
        {"database.url", c->database.url},
        {"auth.allow_anonymous", c->auth.allow_anonymous ? "true" : "false"},
        {"log.level", level_words[c->log.level]},
        {"log.format", format_words[c->log.format]},
    };
    size_t o = 0;
#define PUT(...) (o += (size_t)snprintf(buf + o, o < size ? size - o : 0, __VA_ARGS__))
    buf[0] = '\0';
    for (size_t i = 0; i < SQ_ARRAY_LEN(ints); i++) {
        if (strcmp(name, ints[i].name) == 0) {
            PUT("%d", *ints[i].v);
            return buf;
        }
    }
    for (size_t i = 0; i < SQ_ARRAY_LEN(texts); i++) {
        if (strcmp(name, texts[i].name) == 0) {
            PUT("%s", texts[i].v);
            return buf;
        }
    }
    if (strcmp(name, "listen") == 0) {
        for (size_t i = 0; i < c->listen.count; i++) {
            const sq_config_listen *l = &c->listen.items[i];
            PUT("%s%s %d%s", i ? ", " : "", l->host, l->port, l->ipv6 ? " v6" : "");
        }
    } else if (strcmp(name, "auth.tokens") == 0) {
        for (size_t i = 0; i < c->auth.tokens.count; i++) {
            const sq_config_token *t = &c->auth.tokens.items[i];
            PUT("%s%s=%s", i ? ", " : "", t->name, t->sha256_hex);
        }
    } else if (strcmp(name, "streams") == 0) {
        for (size_t i = 0; i < c->streams.count; i++) {
            const sq_config_stream *s = &c->streams.items[i];
            PUT("%s%s[", i ? " " : "", s->name);
            for (size_t j = 0; j < s->n_consumers; j++) {
                const sq_config_consumer *k = &s->consumers[j];
                PUT("%s%s %s %d %d %d %s", j ? ", " : "", k->name, k->filter, k->ack_wait_ms,
                    k->max_ack_pending, k->max_deliver, policy_words[k->deliver_policy]);
            }
            PUT("]");
        }
    } else if (strcmp(name, "sources") == 0) {
        /* NAME[stream key_format backfill url slot publication [table,table...]] each */
        for (size_t i = 0; i < c->sources.count; i++) {
            const sq_config_source *s = &c->sources.items[i];
            PUT("%s%s[%s %s %s %s %s %s", i ? " " : "", s->name, s->stream,
                key_format_words[s->key_format], s->backfill ? "true" : "false", s->postgres.url,
                s->postgres.slot, s->postgres.publication);
            for (size_t j = 0; j < s->postgres.tables.count; j++)
                PUT("%s%s", j ? "," : " ", s->postgres.tables.items[j]);
            PUT("]");
        }
    } else {
        return NULL;
    }
#undef PUT
    return buf;
}

/* What the config case files may name: the digests, and SPEC section 5's example with a digest
 * that loads ($SPEC_EXAMPLE_VALID) or as the SPEC writes it, shortened, which the loader must
 * refuse ($SPEC_EXAMPLE). */
static const case_name config_case_defs[] = {
    {"SHA_UPPER", SHA_UPPER},
    {"SHA_LOWER", SHA_LOWER},
    {"SHA_OTHER", SHA_OTHER},
    {"SPEC_EXAMPLE_VALID", SPEC_EXAMPLE(SHA_LOWER)},
    {"SPEC_EXAMPLE", SPEC_EXAMPLE("9f86d081884c7d65...")},
};

/* Calls `check` on each row of test/unit/cases/NAME, a config case file, with `ctx`, as
 * case_file_each does; the file reads config_case_defs and the `n` definitions of `more` (a
 * test's own). Returns how many rows `check` checked. Its rows are:
 *   valid YAML OPTION=VALUE      a file that loads, and the value one option then has, as
 *                                show() prints it;
 *   error YAML LINE:COLUMN TEXT  a file that must not load, where it fails, and a fragment of
 *                                the message;
 *   change YAML [OPTION]         the one option whose value differs from its default (none:
 *                                equal values written otherwise), for test_config.c. */
static inline size_t config_cases_each(const char *name, const case_name *more, size_t n,
                                       bool (*check)(const case_row *r, void *ctx), void *ctx)
{
    case_name defs[16];
    size_t k = SQ_ARRAY_LEN(config_case_defs);
    assert_true(k + n <= SQ_ARRAY_LEN(defs));
    memcpy(defs, config_case_defs, sizeof config_case_defs);
    for (size_t i = 0; i < n; i++)
        defs[k + i] = more[i];
    return case_file_each(name, defs, k + n, check, ctx);
}

/* Whether row `r` of a config case file is of `kind`; fails the test on a row of no kind
 * above. */
static inline bool config_row_is(const case_row *r, const char *kind)
{
    if (strcmp(r->w[0].p, "valid") != 0 && strcmp(r->w[0].p, "error") != 0 &&
        strcmp(r->w[0].p, "change") != 0)
        fail_msg("%s: a row is valid, error or change, not \"%s\"", r->where, r->w[0].p);
    return strcmp(r->w[0].p, kind) == 0;
}

/* A valid row: loads the file and checks the option's value (and that the stream default
 * exists). */
static inline bool check_valid_row(const case_row *r, void *ctx)
{
    char buf[2048], option[128];

    (void)ctx;
    if (!config_row_is(r, "valid"))
        return false;
    case_words(r, 3, 3);
    const char *yaml = r->w[1].p, *name = r->w[2].p, *eq = strchr(name, '=');
    if (eq == NULL)
        fail_msg("%s: a valid file is followed by OPTION=VALUE", r->where);
    snprintf(option, sizeof option, "%.*s", (int)(eq - name), name);
    sq_config *cfg = load_ok(yaml);
    const char *got = show(cfg, option, buf, sizeof buf);
    assert_non_null(got);
    if (strcmp(got, eq + 1) != 0)
        fail_msg("%s: <<%s>>: %s is \"%s\", want \"%s\"", r->where, yaml, option, got, eq + 1);
    assert_non_null(sq_config_find_stream(cfg, "default"));
    assert_string_equal(cfg->source, "t.yaml");
    sq_config_free(cfg);
    return true;
}

/* Loads `len` bytes of `yaml` and checks that it fails at line:column with `fragment` in the
 * message. Returns 0, or 1 after printing what went wrong, naming the case `where` (so that
 * one run lists every bad row). */
static inline int check_error(const char *where, const char *yaml, size_t len, int line, int column,
                              const char *fragment)
{
    sq_config *cfg = (sq_config *)1;
    sq_config_error err;
    char msg[2048], want[64];

    memset(&err, 0x55, sizeof err);
    if (load_guarded(yaml, len, &cfg, &err) == 0) {
        print_error("%s: <<%s>> loaded, want an error containing %s\n", where, yaml, fragment);
        sq_config_free(cfg);
        return 1;
    }
    assert_null(cfg);
    sq_config_error_format(&err, msg, sizeof msg);
    snprintf(want, sizeof want, "t.yaml:%d:%d: ", line, column);
    if (strncmp(msg, want, strlen(want)) != 0 || strstr(msg, fragment) == NULL) {
        print_error("%s: <<%s>>\n  got  %s\n  want %s...%s\n", where, yaml, msg, want, fragment);
        return 1;
    }
    assert_string_equal(err.file, "t.yaml");
    assert_int_equal(err.line, line);
    assert_int_equal(err.column, column);
    /* One line, whatever the input held. */
    assert_null(strchr(msg, '\n'));
    return 0;
}

/* An error row, through check_error; adds its result to the int `bad` points to. */
static inline bool check_error_row(const case_row *r, void *bad)
{
    int line, column, end = 0;

    if (!config_row_is(r, "error"))
        return false;
    case_words(r, 4, 4);
    if (sscanf(r->w[2].p, "%d:%d%n", &line, &column, &end) != 2 || r->w[2].p[end] != '\0')
        fail_msg("%s: an error file is followed by LINE:COLUMN", r->where);
    *(int *)bad += check_error(r->where, r->w[1].p, r->w[1].len, line, column, r->w[3].p);
    return true;
}

/* Checks the valid files (or the errors) of the config case file NAME, which reads the `n`
 * definitions of `more`, and that there are at least `min` of them. Every bad error row is
 * listed before the test fails. */
static inline void check_config_cases(const char *name, const char *kind, const case_name *more,
                                      size_t n, size_t min)
{
    int bad = 0;
    size_t checked = config_cases_each(
        name, more, n, strcmp(kind, "valid") == 0 ? check_valid_row : check_error_row, &bad);
    assert_int_equal(bad, 0);
    if (checked < min)
        fail_msg("%s: %zu %s rows, want at least %zu", name, checked, kind, min);
}

#endif
