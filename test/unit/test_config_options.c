/* Tests of the config file's option tables: their rows are consistent, and the shipped
 * etc/sequin.yaml and docs/config.md show every option, consumer key and source key with its
 * default (and an option with its reload rule). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_test.h"

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
    size_t ns = 0;
    const sq_config_option *sopts = sq_config_source_options(&ns);
    /* Exactly these need a restart (SPEC section 6: new workers take over on reload, but the
     * sockets and the database pools are the master's). */
    static const char *const restart[] = {"listen", "workers", "database.url",
                                          "database.connections_per_worker"};

    assert_true(n >= 18);
    assert_int_equal(nc, 13);
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
    /* A source's keys: the name first; its postgres keys adjacent and named "postgres.KEY";
     * only the name and the url are required. */
    size_t first = ns, last = 0;
    assert_int_equal(ns, 8);
    assert_string_equal(sopts[0].name, "name");
    for (size_t i = 0; i < ns; i++) {
        char dotted[128];
        assert_non_null(sopts[i].help);
        assert_true(sopts[i].reloadable);
        snprintf(dotted, sizeof dotted, "%s%s%s", sopts[i].section ? sopts[i].section : "",
                 sopts[i].section ? "." : "", sopts[i].key);
        assert_string_equal(dotted, sopts[i].name);
        if (sopts[i].section != NULL) {
            first = first < i ? first : i;
            last = i;
        }
        bool required =
            strcmp(sopts[i].name, "name") == 0 || strcmp(sopts[i].name, "postgres.url") == 0;
        assert_int_equal(sopts[i].default_text == NULL, required);
    }
    for (size_t i = first; i <= last; i++)
        assert_string_equal(sopts[i].section, "postgres");
    assert_null(sq_config_option_find("nope"));
    assert_null(sq_config_option_find("limits"));
    assert_null(sq_config_option_find("max_body_bytes"));
}

/* ---- the shipped file and the docs ----------------------------------------------------- */

/*
 * Looks in the text of etc/sequin.yaml for a line showing `key`, set ("key: value") or
 * commented out ("#key: value"), in `section` (NULL: the top level; "streams" also finds the
 * consumer keys of its example, "sources" the keys of its example). A commented line is
 * indented by the blanks before and after its '#' ("#  - name: x" is below "#sources:");
 * prose ("# text") is never at the top level. Returns 2 for a set line, 1 for a commented line
 * whose value is `want` (any value when want is NULL), 0 if there is none.
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
        if (commented) {
            size_t after = strspn(p + 1, " ");
            indent += after;
            p += 1 + after;
        }
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

        if (indent == 0)
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

/* The three option tables: the file's top-level options, a consumer's keys, a source's. */
typedef struct option_tables {
    const sq_config_option *opts, *copts, *sopts;
    size_t n, nc, ns;
} option_tables;

static option_tables option_tables_get(void)
{
    option_tables t;
    t.opts = sq_config_options(&t.n);
    t.copts = sq_config_consumer_options(&t.nc);
    t.sopts = sq_config_source_options(&t.ns);
    return t;
}

/* The keys of a list's entries (consumers under `section` "streams", sources under "sources")
 * that the shipped file does not show commented out with their default; each is reported by
 * its key (`by_name`: by its dotted name, for keys nested under the entry). How many. */
static int keys_not_shown(const char *text, const char *section, const char *what,
                          const sq_config_option *opts, size_t n, bool by_name)
{
    int missing = 0;
    for (size_t i = 0; i < n; i++) {
        const sq_config_option *o = &opts[i];
        if (shows_option(text, section, o->key, o->default_text) == 0) {
            print_error("etc/sequin.yaml does not show the %s key \"%s: %s\"\n", what,
                        by_name ? o->name : o->key, o->default_text ? o->default_text : "...");
            missing++;
        }
    }
    return missing;
}

static void test_shipped_file(void **state)
{
    (void)state;
    char path[4096], msg[2048], buf[1024], buf2[1024];
    sq_config *cfg = NULL, *def = NULL;
    sq_config_error err;
    option_tables t = option_tables_get();
    size_t n = t.n, nc = t.nc, ns = t.ns;
    const sq_config_option *opts = t.opts, *copts = t.copts, *sopts = t.sopts;
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
    missing += keys_not_shown(text, "streams", "consumer", copts, nc, false);
    missing += keys_not_shown(text, "sources", "source", sopts, ns, true);
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
    assert_int_equal(shows_option("#sources:\n#  - name: a\n", "sources", "name", NULL), 1);
    assert_int_equal(shows_option("#sources:\n#name: a\n", "sources", "name", NULL), 0);
    assert_int_equal(shows_option("#sources:\n#log:\n#  name: a\n", "sources", "name", NULL), 0);

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
    option_tables t = option_tables_get();
    size_t n = t.n, nc = t.nc, ns = t.ns;
    const sq_config_option *opts = t.opts, *copts = t.copts, *sopts = t.sopts;
    int missing = 0;

    source_path(path, sizeof path, "docs/config.md");
    char *text = read_text(path);
    /* A source's keys have their table in the section on sources (a consumer's `name` comes
     * first in the file). */
    const char *sources = strstr(text, "\n### `sources`");
    if (sources == NULL)
        fail_msg("docs/config.md has no section \"### `sources`\"");
    /* Each option has a row: "| `name` | type | `default` | range | reload | meaning |"; a
     * consumer or source key: "| `key` | type | `default` or required | range | meaning |". */
    for (size_t i = 0; i < n + nc + ns; i++) {
        const sq_config_option *o = i < n        ? &opts[i]
                                    : i < n + nc ? &copts[i - n]
                                                 : &sopts[i - n - nc];
        snprintf(row, sizeof row, "\n| `%s` |", o->name);
        const char *at = strstr(i < n + nc ? text : sources, row);
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
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_shipped_file),
        cmocka_unit_test(test_docs),
    };
    return cmocka_run_group_tests_name("config_options", tests, NULL, NULL);
}
