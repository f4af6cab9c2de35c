/* Table-driven tests of the config loader: the defaults, valid files, every kind of error with
 * its exact place, and the shipped etc/sequin.yaml and docs/config.md against the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "guard.h"
#include "sequin/config.h"

/* ---- helpers --------------------------------------------------------------------------- */

/* A digest of 64 hex digits in upper case, and the lower-case form the loader stores. */
#define SHA_UPPER "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
#define SHA_LOWER "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define SHA_OTHER "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"

/* SPEC section 5, verbatim: its digest is shortened, so it must be refused. */
static const char spec_example[] =
    "listen: 127.0.0.1:7376        # or a list; [::1]:7376 works too\n"
    "workers: auto                  # number of worker processes; auto = CPU count\n"
    "database:\n"
    "  url: postgres://sequin@localhost/sequin   # or the libpq PG* environment\n"
    "  connections_per_worker: 2\n"
    "auth:\n"
    "  tokens:\n"
    "    - name: ci\n"
    "      sha256: 9f86d081884c7d65...\n"
    "limits: {max_body_bytes: 16777216, max_message_bytes: 1048576, idle_timeout_ms: 60000}\n"
    "log: {level: info, format: text}   # text or json, to stderr (journald)\n"
    "streams:\n"
    "  - name: default\n"
    "    consumers:\n"
    "      - name: us_orders\n"
    "        filter: \"orders.us.>\"\n"
    "        ack_wait_ms: 30000\n"
    "        max_ack_pending: 10000\n"
    "        max_deliver: 5\n";

/* The same with a whole digest. */
static const char spec_example_valid[] =
    "listen: 127.0.0.1:7376        # or a list; [::1]:7376 works too\n"
    "workers: auto                  # number of worker processes; auto = CPU count\n"
    "database:\n"
    "  url: postgres://sequin@localhost/sequin   # or the libpq PG* environment\n"
    "  connections_per_worker: 2\n"
    "auth:\n"
    "  tokens:\n"
    "    - name: ci\n"
    "      sha256: " SHA_LOWER "\n"
    "limits: {max_body_bytes: 16777216, max_message_bytes: 1048576, idle_timeout_ms: 60000}\n"
    "log: {level: info, format: text}   # text or json, to stderr (journald)\n"
    "streams:\n"
    "  - name: default\n"
    "    consumers:\n"
    "      - name: us_orders\n"
    "        filter: \"orders.us.>\"\n"
    "        ack_wait_ms: 30000\n"
    "        max_ack_pending: 10000\n"
    "        max_deliver: 5\n";

/* Loads `text` from a copy that ends right before an unreadable page. */
static int load_guarded(const char *text, size_t len, sq_config **out, sq_config_error *err)
{
    guarded g;
    const char *copy = guarded_copy(&g, text, len);
    int rc = sq_config_load_buffer("t.yaml", copy, len, out, err);
    guarded_free(&g);
    return rc;
}

static sq_config *load_ok(const char *text)
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

/*
 * The value of option `name` as text, read through the struct's fields by name (not through
 * the table's offsets, so that a wrong offset in the table shows up here). NULL: no such option.
 */
static const char *show(const sq_config *c, const char *name, char *buf, size_t size)
{
    size_t o = 0;
#define PUT(...) (o += (size_t)snprintf(buf + o, o < size ? size - o : 0, __VA_ARGS__))
    buf[0] = '\0';
    if (strcmp(name, "listen") == 0) {
        for (size_t i = 0; i < c->listen.count; i++) {
            const sq_config_listen *l = &c->listen.items[i];
            PUT("%s%s %d%s", i ? ", " : "", l->host, l->port, l->ipv6 ? " v6" : "");
        }
    } else if (strcmp(name, "workers") == 0) {
        PUT("%d", c->workers);
    } else if (strcmp(name, "shutdown_timeout_ms") == 0) {
        PUT("%d", c->shutdown_timeout_ms);
    } else if (strcmp(name, "database.url") == 0) {
        PUT("%s", c->database.url);
    } else if (strcmp(name, "database.connections_per_worker") == 0) {
        PUT("%d", c->database.connections_per_worker);
    } else if (strcmp(name, "auth.tokens") == 0) {
        for (size_t i = 0; i < c->auth.tokens.count; i++) {
            const sq_config_token *t = &c->auth.tokens.items[i];
            PUT("%s%s=%s", i ? ", " : "", t->name, t->sha256_hex);
        }
    } else if (strcmp(name, "auth.allow_anonymous") == 0) {
        PUT("%s", c->auth.allow_anonymous ? "true" : "false");
    } else if (strcmp(name, "limits.max_body_bytes") == 0) {
        PUT("%d", c->limits.max_body_bytes);
    } else if (strcmp(name, "limits.max_message_bytes") == 0) {
        PUT("%d", c->limits.max_message_bytes);
    } else if (strcmp(name, "limits.max_request_line_bytes") == 0) {
        PUT("%d", c->limits.max_request_line_bytes);
    } else if (strcmp(name, "limits.max_header_bytes") == 0) {
        PUT("%d", c->limits.max_header_bytes);
    } else if (strcmp(name, "limits.max_headers") == 0) {
        PUT("%d", c->limits.max_headers);
    } else if (strcmp(name, "limits.idle_timeout_ms") == 0) {
        PUT("%d", c->limits.idle_timeout_ms);
    } else if (strcmp(name, "limits.header_timeout_ms") == 0) {
        PUT("%d", c->limits.header_timeout_ms);
    } else if (strcmp(name, "limits.body_timeout_ms") == 0) {
        PUT("%d", c->limits.body_timeout_ms);
    } else if (strcmp(name, "log.level") == 0) {
        PUT("%s", level_words[c->log.level]);
    } else if (strcmp(name, "log.format") == 0) {
        PUT("%s", format_words[c->log.format]);
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
    } else {
        return NULL;
    }
#undef PUT
    return buf;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t len = 0, cap = 0;

    if (f == NULL)
        fail_msg("cannot open %s", path);
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            data = realloc(data, cap);
            assert_non_null(data);
        }
        size_t n = fread(data + len, 1, 4096, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    data[len] = '\0';
    return data;
}

static void source_path(char *buf, size_t size, const char *rel)
{
    const char *dir = getenv("SQ_SRCDIR");
    snprintf(buf, size, "%s/%s", dir != NULL && dir[0] != '\0' ? dir : ".", rel);
}

/* ---- the table ------------------------------------------------------------------------- */

static void test_table(void **state)
{
    (void)state;
    size_t n = 0, nc = 0;
    const sq_config_option *opts = sq_config_options(&n);
    const sq_config_option *copts = sq_config_consumer_options(&nc);
    /* Exactly these need a restart (SPEC section 6: new workers take over on reload, but the
     * sockets and the database pools are the master's). */
    static const char *const restart[] = {"listen", "workers", "database.url",
                                          "database.connections_per_worker"};

    assert_true(n >= 18);
    assert_int_equal(nc, 6);
    for (size_t i = 0; i < n; i++) {
        const sq_config_option *o = &opts[i];
        char dotted[128];
        assert_non_null(o->name);
        assert_non_null(o->key);
        assert_non_null(o->default_text);
        assert_non_null(o->help);
        assert_true(strlen(o->help) > 10);
        snprintf(dotted, sizeof dotted, "%s%s%s", o->section ? o->section : "",
                 o->section ? "." : "", o->key);
        assert_string_equal(dotted, o->name);
        assert_ptr_equal(sq_config_option_find(o->name), o);
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(opts[j].name, o->name);
            /* The options of a section are adjacent: the defaults document relies on it. */
            if (o->section != NULL && opts[j].section != NULL &&
                strcmp(o->section, opts[j].section) == 0) {
                for (size_t k = j + 1; k < i; k++) {
                    assert_non_null(opts[k].section);
                    assert_string_equal(opts[k].section, o->section);
                }
            }
        }
        if (o->type == SQ_CONFIG_INT)
            assert_true(o->min <= o->max);
        if (o->type == SQ_CONFIG_ENUM)
            assert_non_null(o->words[0]);
        bool must_restart = false;
        for (size_t j = 0; j < SQ_ARRAY_LEN(restart); j++)
            must_restart = must_restart || strcmp(restart[j], o->name) == 0;
        if (o->reloadable == must_restart)
            fail_msg("%s should %sbe reloadable", o->name, must_restart ? "not " : "");
    }
    for (size_t i = 0; i < nc; i++) {
        assert_non_null(copts[i].key);
        assert_non_null(copts[i].help);
        /* Required keys first: the loader reads the name before anything else. */
        if (copts[i].default_text == NULL)
            assert_true(i < 2);
    }
    assert_null(sq_config_option_find("nope"));
    assert_null(sq_config_option_find("limits"));
    assert_null(sq_config_option_find("max_body_bytes"));
}

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

struct valid_case {
    const char *yaml;
    const char *name;  /* option to look at */
    const char *value; /* as show() prints it */
};

static const struct valid_case valid_cases[] = {
    /* listen */
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
    {"auth:\n  tokens:\n    - name: ci\n      sha256: " SHA_UPPER "\n", "auth.tokens",
     "ci=" SHA_LOWER},
    {"auth: {tokens: [{sha256: " SHA_LOWER ", name: \"ci bot\"}, {name: b, sha256: " SHA_OTHER
     "}]}",
     "auth.tokens", "ci bot=" SHA_LOWER ", b=" SHA_OTHER},
    {"auth: {tokens: ~}", "auth.tokens", ""},
    {"auth: {tokens: []}", "auth.tokens", ""},
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
    /* YAML forms */
    {"---\nworkers: 2\n...\n", "workers", "2"},
    {"workers: 2\r\nlog: {level: warn}\r\n", "log.level", "warn"},
    {"\xef\xbb\xbfworkers: 3\n", "workers", "3"},
    {"\"workers\": 4\n", "workers", "4"},
    {"%YAML 1.1\n---\nworkers: 5\n", "workers", "5"},
    {"workers: 6 # a comment\n", "workers", "6"},
    {spec_example_valid, "auth.tokens", "ci=" SHA_LOWER},
    {spec_example_valid, "database.url", "postgres://sequin@localhost/sequin"},
    {spec_example_valid, "streams", "default[us_orders orders.us.> 30000 10000 5 all]"},
};

static void test_valid(void **state)
{
    (void)state;
    char buf[2048];

    for (size_t i = 0; i < SQ_ARRAY_LEN(valid_cases); i++) {
        const struct valid_case *c = &valid_cases[i];
        sq_config *cfg = load_ok(c->yaml);
        const char *got = show(cfg, c->name, buf, sizeof buf);
        assert_non_null(got);
        if (strcmp(got, c->value) != 0)
            fail_msg("<<%s>>: %s is \"%s\", want \"%s\"", c->yaml, c->name, got, c->value);
        assert_non_null(sq_config_find_stream(cfg, "default"));
        assert_string_equal(cfg->source, "t.yaml");
        sq_config_free(cfg);
    }
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

struct error_case {
    const char *yaml;
    int line;
    int column;
    const char *message; /* a fragment of the message */
};

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
    /* listen */
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
    /* auth.tokens: SPEC section 5's example has a shortened digest */
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

/* Loads `yaml` and checks that it fails at line:column with `fragment` in the message.
 * Returns 0, or 1 after printing what went wrong (so that one run lists every bad row). */
static int check_error(const char *yaml, size_t len, int line, int column, const char *fragment)
{
    sq_config *cfg = (sq_config *)1;
    sq_config_error err;
    char msg[2048], want[64];

    memset(&err, 0x55, sizeof err);
    if (load_guarded(yaml, len, &cfg, &err) == 0) {
        print_error("<<%s>> loaded, want an error containing %s\n", yaml, fragment);
        sq_config_free(cfg);
        return 1;
    }
    assert_null(cfg);
    sq_config_error_format(&err, msg, sizeof msg);
    snprintf(want, sizeof want, "t.yaml:%d:%d: ", line, column);
    if (strncmp(msg, want, strlen(want)) != 0 || strstr(msg, fragment) == NULL) {
        print_error("<<%s>>\n  got  %s\n  want %s...%s\n", yaml, msg, want, fragment);
        return 1;
    }
    assert_string_equal(err.file, "t.yaml");
    assert_int_equal(err.line, line);
    assert_int_equal(err.column, column);
    /* One line, whatever the input held. */
    assert_null(strchr(msg, '\n'));
    return 0;
}

static void test_errors(void **state)
{
    (void)state;
    int bad = 0;

    for (size_t i = 0; i < SQ_ARRAY_LEN(error_cases); i++) {
        const struct error_case *c = &error_cases[i];
        bad += check_error(c->yaml, strlen(c->yaml), c->line, c->column, c->message);
    }
    /* A NUL byte in the text itself (not the "\0" escape) is a control character to libyaml. */
    static const char nul[] = "workers: 2\nlog: {le\0vel: info}\n";
    bad += check_error(nul, sizeof nul - 1, 2, 9, "invalid text: ");
    assert_int_equal(bad, 0);
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

/* ---- the shipped file and the docs ----------------------------------------------------- */

/*
 * Looks in the text of etc/sequin.yaml for a line showing `key`, set ("key: value") or
 * commented out ("#key: value"), in `section` (NULL: the top level; "streams" also finds the
 * consumer keys of its example). Returns 2 for a set line, 1 for a commented line whose value
 * is `want` (any value when want is NULL), 0 if there is none.
 */
static int shows_option(const char *text, const char *section, const char *key, const char *want)
{
    char current[64] = "";
    int best = 0;

    for (const char *line = text; *line != '\0';) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char buf[512];
        if (len >= sizeof buf)
            len = sizeof buf - 1;
        memcpy(buf, line, len);
        buf[len] = '\0';
        line = eol ? eol + 1 : line + len;

        size_t indent = strspn(buf, " ");
        char *p = buf + indent;
        bool commented = *p == '#';
        if (commented)
            p += 1 + strspn(p + 1, " ");
        if (strncmp(p, "- ", 2) == 0)
            p += 2 + strspn(p + 2, " ");
        char *colon = strchr(p, ':');
        if (colon == NULL || (colon[1] != '\0' && colon[1] != ' '))
            continue;
        *colon = '\0';
        char *value = colon + 1;
        value += strspn(value, " ");
        char *comment = strstr(value, " #");
        if (comment != NULL)
            *comment = '\0';
        for (size_t n = strlen(value); n > 0 && value[n - 1] == ' '; n--)
            value[n - 1] = '\0';

        if (indent == 0 && !commented)
            snprintf(current, sizeof current, "%s", p);
        if (strcmp(p, key) != 0)
            continue;
        bool placed = section == NULL ? indent == 0 : indent > 0 && strcmp(current, section) == 0;
        if (!placed)
            continue;
        if (!commented)
            best = 2;
        else if ((want == NULL || strcmp(value, want) == 0) && best == 0)
            best = 1;
    }
    return best;
}

static void test_shipped_file(void **state)
{
    (void)state;
    char path[4096], msg[2048], buf[1024], buf2[1024];
    sq_config *cfg = NULL, *def = NULL;
    sq_config_error err;
    size_t n = 0, nc = 0;
    const sq_config_option *opts = sq_config_options(&n);
    const sq_config_option *copts = sq_config_consumer_options(&nc);
    int missing = 0;

    source_path(path, sizeof path, "etc/sequin.yaml");
    if (sq_config_load_file(path, &cfg, &err) != 0)
        fail_msg("%s", sq_config_error_format(&err, msg, sizeof msg));
    assert_int_equal(sq_config_defaults(&def), 0);

    char *text = read_text(path);
    for (size_t i = 0; i < n; i++) {
        const sq_config_option *o = &opts[i];
        /* What the file sets must be the default: the installed file changes nothing. */
        if (!sq_config_option_equal(def, cfg, o)) {
            print_error("etc/sequin.yaml sets %s to %s, not its default %s\n", o->name,
                        show(cfg, o->name, buf, sizeof buf), show(def, o->name, buf2, sizeof buf2));
            missing++;
        }
        if (shows_option(text, o->section, o->key, o->default_text) == 0) {
            print_error("etc/sequin.yaml does not show \"%s%s: %s\"%s%s\n",
                        o->section ? "  #" : "#", o->key, o->default_text,
                        o->section ? " under " : "", o->section ? o->section : "");
            missing++;
        }
    }
    for (size_t i = 0; i < nc; i++) {
        const sq_config_option *o = &copts[i];
        if (shows_option(text, "streams", o->key, o->default_text) == 0) {
            print_error("etc/sequin.yaml does not show the consumer key \"%s: %s\"\n", o->key,
                        o->default_text ? o->default_text : "...");
            missing++;
        }
    }
    assert_int_equal(missing, 0);

    /* The check itself: a missing option and a wrong default are caught. */
    assert_int_equal(shows_option("limits:\n  #max_headers: 100\n", "limits", "max_headers", "100"),
                     1);
    assert_int_equal(shows_option("limits:\n  #max_headers: 99\n", "limits", "max_headers", "100"),
                     0);
    assert_int_equal(shows_option("log:\n  #max_headers: 100\n", "limits", "max_headers", "100"),
                     0);
    assert_int_equal(shows_option("#workers: auto  # why\n", NULL, "workers", "auto"), 1);
    assert_int_equal(shows_option("workers: 2\n", NULL, "workers", "auto"), 2);

    free(text);
    sq_config_free(cfg);
    sq_config_free(def);
}

/* Copies cell `index` (0: the option's name) of the Markdown table row at `row`, trimmed. */
static void cell(const char *row, int index, char *out, size_t size)
{
    const char *p = row;
    out[0] = '\0';
    for (int i = 0; i <= index; i++) {
        p = strchr(p, '|');
        if (p == NULL)
            return;
        p++;
    }
    const char *end = strchr(p, '|');
    const char *eol = strchr(p, '\n');
    if (end == NULL || (eol != NULL && eol < end))
        return;
    p += strspn(p, " ");
    size_t len = (size_t)(end - p);
    while (len > 0 && p[len - 1] == ' ')
        len--;
    snprintf(out, size, "%.*s", (int)len, p);
}

static void test_docs(void **state)
{
    (void)state;
    char path[4096], row[256], got[256], want[256];
    size_t n = 0, nc = 0;
    const sq_config_option *opts = sq_config_options(&n);
    const sq_config_option *copts = sq_config_consumer_options(&nc);
    int missing = 0;

    source_path(path, sizeof path, "docs/config.md");
    char *text = read_text(path);
    /* Each option has a row: "| `name` | type | `default` | range | reload | meaning |"; a
     * consumer key: "| `key` | type | `default` or required | range | meaning |". */
    for (size_t i = 0; i < n + nc; i++) {
        const sq_config_option *o = i < n ? &opts[i] : &copts[i - n];
        snprintf(row, sizeof row, "\n| `%s` |", o->name);
        const char *at = strstr(text, row);
        if (at == NULL) {
            print_error("docs/config.md has no row for %s\n", o->name);
            missing++;
            continue;
        }
        cell(at + 1, 2, got, sizeof got);
        if (o->default_text != NULL)
            snprintf(want, sizeof want, "`%s`", o->default_text);
        else
            snprintf(want, sizeof want, "required");
        if (strcmp(got, want) != 0) {
            print_error("docs/config.md gives %s the default \"%s\", not \"%s\"\n", o->name, got,
                        want);
            missing++;
        }
        cell(at + 1, 4, got, sizeof got);
        if (i < n && strcmp(got, o->reloadable ? "yes" : "no") != 0) {
            print_error("docs/config.md has the wrong reload column for %s\n", o->name);
            missing++;
        }
    }
    assert_int_equal(missing, 0);
    free(text);
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
        cmocka_unit_test(test_table),        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_valid),        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_errors),       cmocka_unit_test(test_error_api),
        cmocka_unit_test(test_files),        cmocka_unit_test(test_option_equal),
        cmocka_unit_test(test_shipped_file), cmocka_unit_test(test_docs),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
