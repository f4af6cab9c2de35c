/* Loads and validates the configuration file into a fresh sq_config, handed out only when the
 * whole file is valid (a reload swaps it in or keeps the old one), errors at file:line:column. */
#include "config_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sequin/json.h"
#include "sequin/keys.h"
#include "sequin/push_rules.h"
#include "sequin/source_rules.h"
#include "sequin/webhook.h"

/* ---- values ---------------------------------------------------------------------------- */

/* Parses a plain decimal integer; leading zeros are refused (YAML 1.1 reads them as octal). */
static int parse_int(const char *s, long long *out)
{
    bool neg = false;
    long long v = 0;
    size_t i = 0;

    if (s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (s[i] == '\0' || (s[i] == '0' && s[i + 1] != '\0'))
        return -1;
    for (; s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (LLONG_MAX - 9) / 10)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

static int apply_streams(sq_config_loader *ld, const sq_config_option *opt, const sq_config_node *v,
                         void *base);
static int apply_sources(sq_config_loader *ld, const sq_config_option *opt, const sq_config_node *v,
                         void *base);
static int apply_webhook(sq_config_loader *ld, const sq_config_option *opt, const char *label,
                         const sq_config_node *v, void *base);
static int apply_tables(sq_config_loader *ld, const sq_config_option *opt, const char *label,
                        const sq_config_node *v, void *base);
static int apply_headers(sq_config_loader *ld, const sq_config_option *opt, const char *label,
                         const sq_config_node *v, void *base);

/* Stores scalar option `opt` from node `v` into `base`; `label` names it in messages. */
static int apply_option(sq_config_loader *ld, const sq_config_option *opt, const char *label,
                        const sq_config_node *v, void *base)
{
    char q[SQ_CONFIG_QBUF];

    switch (opt->type) {
    case SQ_CONFIG_INT: {
        char expect[96];
        long long x = 0;
        if (opt->word != NULL)
            snprintf(expect, sizeof expect, "\"%s\" or an integer %lld..%lld", opt->word, opt->min,
                     opt->max);
        else
            snprintf(expect, sizeof expect, "an integer %lld..%lld", opt->min, opt->max);
        if (v->kind != SQ_CONFIG_NODE_SCALAR)
            return sq_config_fail_node(ld, v, "%s must be %s, got %s", label, expect,
                                       sq_config_describe(q, v));
        if (opt->word != NULL && strcmp(v->text, opt->word) == 0) {
            *(int *)sq_config_field(base, opt) = 0;
            return 0;
        }
        bool number = parse_int(v->text, &x) == 0;
        if (number && !v->plain)
            return sq_config_fail_node(ld, v,
                                       "%s must be %s, got the quoted string %s (write numbers "
                                       "without quotes)",
                                       label, expect, sq_config_quote(q, v->text, v->len));
        if (!number || x < opt->min || x > opt->max)
            return sq_config_fail_node(ld, v, "%s must be %s, got %s", label, expect,
                                       sq_config_describe(q, v));
        *(int *)sq_config_field(base, opt) = (int)x;
        return 0;
    }
    case SQ_CONFIG_BOOL: {
        bool t = v->kind == SQ_CONFIG_NODE_SCALAR &&
                 (strcmp(v->text, "true") == 0 || strcmp(v->text, "True") == 0 ||
                  strcmp(v->text, "TRUE") == 0);
        bool f = v->kind == SQ_CONFIG_NODE_SCALAR &&
                 (strcmp(v->text, "false") == 0 || strcmp(v->text, "False") == 0 ||
                  strcmp(v->text, "FALSE") == 0);
        if ((t || f) && !v->plain)
            return sq_config_fail_node(ld, v,
                                       "%s must be true or false, got the quoted string %s (write "
                                       "it without quotes)",
                                       label, sq_config_quote(q, v->text, v->len));
        if (!t && !f)
            return sq_config_fail_node(ld, v, "%s must be true or false, got %s", label,
                                       sq_config_describe(q, v));
        *(bool *)sq_config_field(base, opt) = t;
        return 0;
    }
    case SQ_CONFIG_STRING:
    case SQ_CONFIG_NAME:
    case SQ_CONFIG_FILTER: {
        const char *why = NULL;
        if (v->kind != SQ_CONFIG_NODE_SCALAR || sq_config_is_null(v))
            return sq_config_fail_node(ld, v, "%s must be a string, got %s", label,
                                       sq_config_describe(q, v));
        if (opt->type == SQ_CONFIG_NAME && !sq_name_is_valid(v->text, v->len))
            return sq_config_fail_node(ld, v,
                                       "%s must be 1..%d characters of a-z, A-Z, 0-9 and _, got %s",
                                       label, SQ_CONFIG_NAME_MAX, sq_config_describe(q, v));
        if (opt->check != NULL && (why = opt->check(v->text, v->len)) != NULL)
            return sq_config_fail_node(ld, v, "%s %s, got %s", label, why,
                                       sq_config_describe(q, v));
        if (opt->type == SQ_CONFIG_FILTER && sq_filter_validate(v->text, v->len, &why) != 0) {
            /* An unquoted `filter: >` is a YAML folded block: empty, or the next line. */
            bool block = !v->plain && (v->len == 0 || memchr(v->text, '\n', v->len) != NULL);
            return sq_config_fail_node(ld, v, "%s is not a valid filter: %s; got %s%s", label,
                                       why ? why : "invalid", sq_config_describe(q, v),
                                       block ? " (a filter with wildcards must be quoted: filter: "
                                               "\"orders.>\")"
                                             : "");
        }
        char *s = sq_arena_strndup(&ld->cfg->arena, v->text, v->len);
        if (s == NULL)
            return sq_config_out_of_memory(ld);
        *(const char **)sq_config_field(base, opt) = s;
        return 0;
    }
    case SQ_CONFIG_ENUM: {
        char expect[128];
        size_t o = 0;
        expect[0] = '\0';
        for (size_t i = 0; opt->words[i] != NULL; i++) {
            int w = snprintf(expect + o, sizeof expect - o, "%s%s", i ? ", " : "", opt->words[i]);
            if (w < 0 || (size_t)w >= sizeof expect - o)
                break;
            o += (size_t)w;
        }
        if (v->kind == SQ_CONFIG_NODE_SCALAR) {
            for (int i = 0; opt->words[i] != NULL; i++) {
                if (strcmp(v->text, opt->words[i]) == 0) {
                    memcpy(sq_config_field(base, opt), &i, sizeof i);
                    return 0;
                }
            }
        }
        return sq_config_fail_node(ld, v, "%s must be one of %s; got %s", label, expect,
                                   sq_config_describe(q, v));
    }
    case SQ_CONFIG_LISTEN:
        return sq_config_apply_listen(ld, opt, v, base);
    case SQ_CONFIG_TOKENS:
        return sq_config_apply_tokens(ld, opt, v, base);
    case SQ_CONFIG_STREAMS:
        return apply_streams(ld, opt, v, base);
    case SQ_CONFIG_SOURCES:
        return apply_sources(ld, opt, v, base);
    case SQ_CONFIG_TABLES:
        return apply_tables(ld, opt, label, v, base);
    case SQ_CONFIG_HEADERS:
        return apply_headers(ld, opt, label, v, base);
    case SQ_CONFIG_WEBHOOK:
        return apply_webhook(ld, opt, label, v, base);
    }
    return sq_config_fail_node(ld, v, "internal error: option %s has an unknown type", opt->name);
}

/* ---- lists of named entries: streams, consumers, sources ------------------------------------ */

/*
 * The keys a mapping of `section` accepts (NULL: an entry's own mapping, or the top level):
 * the keys of its rows of `opts`, and where section is NULL one key per section, whose rows are
 * adjacent. Returns how many went to `keys`.
 */
static size_t section_keys(const sq_config_option *opts, size_t n, const char *section,
                           sq_config_key *keys)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        const sq_config_option *o = &opts[i];
        if (section == NULL && o->section != NULL) {
            if (k == 0 || keys[k - 1].opt != NULL || strcmp(keys[k - 1].name, o->section) != 0)
                keys[k++] = (sq_config_key){o->section, NULL};
        } else if (section == NULL || (o->section != NULL && strcmp(o->section, section) == 0)) {
            keys[k++] = (sq_config_key){o->key, o};
        }
    }
    return k;
}

/* Applies the value `v` of an entry's key `opt` (NULL: absent, so the default, or an error at
 * `owner`, the mapping that lacks it, for a required key). `who` and `of` name the entry. */
static int apply_key(sq_config_loader *ld, const sq_config_option *opt, const sq_config_node *v,
                     const sq_config_node *owner, void *base, const char *who, const char *of)
{
    sq_config_node def = {
        .kind = SQ_CONFIG_NODE_SCALAR, .plain = true, .line = owner->line, .col = owner->col};
    char label[200];

    if (v == NULL && opt->default_text == NULL)
        return sq_config_fail_node(ld, owner, "%s%s is missing the required key \"%s\"", who, of,
                                   opt->name);
    if (v == NULL) {
        /* The default goes through the same code as a value from the file; "[]" is the empty
         * list, as YAML reads it. */
        def.text = opt->default_text;
        def.len = strlen(def.text);
        if (strcmp(def.text, "[]") == 0) {
            def.kind = SQ_CONFIG_NODE_SEQ;
        } else if (strcmp(def.text, "{}") == 0) {
            def.kind = SQ_CONFIG_NODE_MAP;
        } else if (strcmp(def.text, "\"\"") == 0) { /* the empty string, as YAML reads it */
            def.text = "";
            def.len = 0;
            def.plain = false;
        }
        v = &def;
    }
    snprintf(label, sizeof label, "\"%s\" of %s", opt->name, who);
    return apply_option(ld, opt, label, v, base);
}

/*
 * Applies mapping `m`, an entry of a list whose keys are the `n` rows of `opts` (a row of a
 * section is a key of the entry's mapping of that name), into `base`. Row 0 is the entry's
 * name, required and applied first so that every later message can say which entry it is
 * about. `entry` says what an entry is ("consumer") and `of` what it belongs to (" of stream
 * \"s\"", or "").
 */
static int apply_entry(sq_config_loader *ld, const sq_config_node *m, const sq_config_option *opts,
                       size_t n, void *base, const char *entry, const char *of)
{
    sq_config_key keys[SQ_CONFIG_KEYS_MAX], skeys[SQ_CONFIG_KEYS_MAX];
    const sq_config_node *vals[SQ_CONFIG_KEYS_MAX], *svals[SQ_CONFIG_KEYS_MAX];
    char where[200], who[160], q[SQ_CONFIG_QBUF];
    size_t nk = section_keys(opts, n, NULL, keys);

    if (m->kind != SQ_CONFIG_NODE_MAP)
        return sq_config_fail_node(ld, m, "each %s%s must be a mapping, got %s", entry, of,
                                   sq_config_describe(q, m));
    snprintf(where, sizeof where, "in a %s%s", entry, of);
    if (sq_config_collect(ld, m, keys, nk, vals, where) != 0)
        return -1;
    if (vals[0] == NULL)
        return sq_config_fail_node(ld, m, "a %s%s is missing the required key \"%s\"", entry, of,
                                   opts[0].key);
    snprintf(who, sizeof who, "the name of a %s", entry);
    if (apply_option(ld, &opts[0], who, vals[0], base) != 0)
        return -1;
    snprintf(who, sizeof who, "%s \"%s\"", entry, *(const char **)sq_config_field(base, &opts[0]));

    for (size_t k = 1; k < nk; k++) {
        if (keys[k].opt != NULL) {
            if (apply_key(ld, keys[k].opt, vals[k], m, base, who, of) != 0)
                return -1;
            continue;
        }
        /* A section: absent or null, each of its keys takes its default. */
        const sq_config_node *sm = vals[k], *owner = m;
        size_t ns = section_keys(opts, n, keys[k].name, skeys);
        for (size_t j = 0; j < ns; j++)
            svals[j] = NULL;
        if (sm != NULL && !sq_config_is_null(sm)) {
            if (sm->kind != SQ_CONFIG_NODE_MAP)
                return sq_config_fail_node(ld, sm, "\"%s\" of %s must be a mapping, got %s",
                                           keys[k].name, who, sq_config_describe(q, sm));
            snprintf(where, sizeof where, "in \"%s\" of %s", keys[k].name, who);
            if (sq_config_collect(ld, sm, skeys, ns, svals, where) != 0)
                return -1;
            owner = sm;
        }
        for (size_t j = 0; j < ns; j++) {
            if (apply_key(ld, skeys[j].opt, svals[j], owner, base, who, of) != 0)
                return -1;
        }
    }
    return 0;
}

/* Where an entry of a list keeps its name and its place. */
typedef struct entry_layout {
    size_t size;       /* of the entry */
    size_t name;       /* the offset of its `const char *name` */
    size_t line;       /* the offset of its `int line, column` */
    const char *entry; /* what it is, for messages: "stream" */
} entry_layout;

#define LAYOUT(type, entry)                                                                        \
    {                                                                                              \
        sizeof(type), offsetof(type, name), offsetof(type, line), entry                            \
    }

/* Applies one entry of a list into `item`. */
typedef int (*apply_one)(sq_config_loader *ld, const sq_config_node *e, void *item,
                         const void *ctx);

/*
 * Applies `v`, a sequence of entries laid out as `lay` says (absent or null: none), each
 * through `one` (with `ctx`), into a new array in cfg's arena: *items and *count. Anything but
 * a sequence is an error that starts with `must` ("\"streams\" must be a list"); two entries
 * with one name are an error at the second one, `of` ending its message (" in stream \"s\"",
 * or "").
 */
static int apply_list(sq_config_loader *ld, const sq_config_node *v, const entry_layout *lay,
                      apply_one one, const void *ctx, const char *must, const char *of,
                      void **items, size_t *count)
{
    char q[SQ_CONFIG_QBUF];
    size_t n = 0;

    *items = NULL;
    *count = 0;
    if (v == NULL || sq_config_is_null(v))
        return 0;
    if (v->kind != SQ_CONFIG_NODE_SEQ)
        return sq_config_fail_node(ld, v, "%s, got %s", must, sq_config_describe(q, v));
    char *arr = sq_arena_calloc(&ld->cfg->arena, v->count, lay->size);
    if (arr == NULL)
        return sq_config_out_of_memory(ld);
    for (const sq_config_node *e = v->child; e != NULL; e = e->next, n++) {
        char *item = arr + n * lay->size;
        if (one(ld, e, item, ctx) != 0)
            return -1;
        const char *name = *(const char **)(item + lay->name);
        const int *at = (const int *)(item + lay->line);
        for (size_t j = 0; j < n; j++) {
            const char *other = arr + j * lay->size;
            if (strcmp(*(const char **)(other + lay->name), name) == 0)
                return sq_config_fail_at(ld, at[0], at[1],
                                         "duplicate %s \"%s\"%s (first defined at line %d)",
                                         lay->entry, name, of, *(const int *)(other + lay->line));
        }
    }
    *items = arr;
    *count = n;
    return 0;
}

/* ---- streams and consumers ------------------------------------------------------------- */

static int apply_consumer(sq_config_loader *ld, const sq_config_node *m, void *item,
                          const void *stream)
{
    size_t n = 0;
    const sq_config_option *copts = sq_config_consumer_options(&n);
    sq_config_consumer *c = item;
    char of[SQ_CONFIG_NAME_MAX + 16];

    snprintf(of, sizeof of, " of stream \"%s\"", (const char *)stream);
    if (apply_entry(ld, m, copts, n, c, "consumer", of) != 0)
        return -1;
    /* The endpoint goes with the kind, as the API has it (issue 15). */
    bool has_endpoint = c->http_endpoint.url[0] != '\0' || c->http_endpoint.headers.count > 0 ||
                        c->http_endpoint.signing_secret[0] != '\0';
    if (c->kind == SQ_CONFIG_PULL && has_endpoint)
        return sq_config_fail_node(ld, m,
                                   "consumer \"%s\"%s has an http_endpoint but is a pull "
                                   "consumer: add \"kind: push\"",
                                   c->name, of);
    if (c->kind == SQ_CONFIG_PUSH && c->http_endpoint.url[0] == '\0')
        return sq_config_fail_node(ld, m,
                                   "consumer \"%s\"%s is a push consumer: it needs "
                                   "\"http_endpoint: {url: ...}\"",
                                   c->name, of);
    if (c->backoff_base_ms > c->backoff_max_ms)
        return sq_config_fail_node(ld, m,
                                   "consumer \"%s\"%s: backoff_base_ms %d is above "
                                   "backoff_max_ms %d",
                                   c->name, of, c->backoff_base_ms, c->backoff_max_ms);
    c->line = m->line;
    c->column = m->col;
    return 0;
}

static int apply_stream(sq_config_loader *ld, const sq_config_node *m, void *item, const void *ctx)
{
    static const sq_config_key keys[] = {{"name", NULL}, {"consumers", NULL}};
    static const sq_config_option name_opt = {.name = "name",
                                              .key = "name",
                                              .type = SQ_CONFIG_NAME,
                                              .offset = offsetof(sq_config_stream, name)};
    static const entry_layout consumer = LAYOUT(sq_config_consumer, "consumer");
    sq_config_stream *s = item;
    const sq_config_node *vals[2];
    char q[SQ_CONFIG_QBUF], must[160], of[100];
    void *items;

    (void)ctx;
    if (m->kind != SQ_CONFIG_NODE_MAP)
        return sq_config_fail_node(ld, m,
                                   "each entry of \"streams\" must be a mapping {name, consumers}, "
                                   "got %s",
                                   sq_config_describe(q, m));
    if (sq_config_collect(ld, m, keys, 2, vals, "in a stream") != 0)
        return -1;
    if (vals[0] == NULL)
        return sq_config_fail_node(ld, m, "a stream is missing the required key \"name\"");
    if (apply_option(ld, &name_opt, "the name of a stream", vals[0], s) != 0)
        return -1;
    s->line = m->line;
    s->column = m->col;

    snprintf(must, sizeof must, "\"consumers\" of stream \"%s\" must be a list", s->name);
    snprintf(of, sizeof of, " in stream \"%s\"", s->name);
    if (apply_list(ld, vals[1], &consumer, apply_consumer, s->name, must, of, &items,
                   &s->n_consumers) != 0)
        return -1;
    s->consumers = items;
    return 0;
}

static int apply_streams(sq_config_loader *ld, const sq_config_option *opt, const sq_config_node *v,
                         void *base)
{
    static const entry_layout stream = LAYOUT(sq_config_stream, "stream");
    sq_config_stream_list *list = sq_config_field(base, opt);
    void *items;

    if (apply_list(ld, v, &stream, apply_stream, NULL,
                   "\"streams\" must be a list of {name, consumers}", "", &items,
                   &list->count) != 0)
        return -1;
    list->items = items;
    return 0;
}

/* The stream `default` exists from first start (SPEC section 3), declared or not. */
static int ensure_default_stream(sq_config_loader *ld)
{
    sq_config_stream_list *list = &ld->cfg->streams;

    if (sq_config_find_stream(ld->cfg, "default") != NULL)
        return 0;
    sq_config_stream *items = sq_arena_calloc(&ld->cfg->arena, list->count + 1, sizeof *items);
    if (items == NULL)
        return sq_config_out_of_memory(ld);
    items[0].name = "default";
    if (list->count > 0)
        memcpy(items + 1, list->items, list->count * sizeof *items);
    list->items = items;
    list->count++;
    return 0;
}

/* ---- sources -------------------------------------------------------------------------------- */

/* Whether mapping `m` has key `key`. */
static bool has_key(const sq_config_node *m, const char *key)
{
    if (m->kind != SQ_CONFIG_NODE_MAP)
        return false;
    for (const sq_config_node *k = m->child; k != NULL && k->next != NULL; k = k->next->next) {
        if (k->kind == SQ_CONFIG_NODE_SCALAR && k->len == strlen(key) &&
            memcmp(k->text, key, k->len) == 0)
            return true;
    }
    return false;
}

/* An entry of `sources:`: a webhook source when it has a `webhook:` mapping, else a postgres
 * source. */
static int apply_source(sq_config_loader *ld, const sq_config_node *m, void *item, const void *ctx)
{
    size_t n = 0;
    bool webhook = has_key(m, "webhook");
    const sq_config_option *opts =
        webhook ? sq_config_webhook_source_options(&n) : sq_config_source_options(&n);
    sq_config_source *src = item;

    (void)ctx;
    if (apply_entry(ld, m, opts, n, src, "source", "") != 0)
        return -1;
    src->line = m->line;
    src->column = m->col;
    return 0;
}

static int apply_sources(sq_config_loader *ld, const sq_config_option *opt, const sq_config_node *v,
                         void *base)
{
    static const entry_layout source = LAYOUT(sq_config_source, "source");
    sq_config_source_list *list = sq_config_field(base, opt);
    void *items;

    if (apply_list(ld, v, &source, apply_source, NULL,
                   "\"sources\" must be a list of {name, postgres, stream, ...}", "", &items,
                   &list->count) != 0)
        return -1;
    list->items = items;
    return 0;
}

/*
 * The start of an option's list of strings (a source's tables, a consumer's headers) from `v`:
 * a node of `kind` (else "LABEL must be MUST, got ..."), of at most `max` items counted by
 * `n`, which the list gets room for in cfg's arena. 1 to fill it, 0 when `v` is null (an
 * empty list), -1 on error.
 */
static int list_start(sq_config_loader *ld, const sq_config_node *v, sq_config_node_kind kind,
                      const char *label, const char *must, size_t n, size_t max, const char *what,
                      const char ***items, size_t *count)
{
    char q[SQ_CONFIG_QBUF];

    *items = NULL;
    *count = 0;
    if (sq_config_is_null(v))
        return 0;
    if (v->kind != kind)
        return sq_config_fail_node(ld, v, "%s must be %s, got %s", label, must,
                                   sq_config_describe(q, v));
    if (n > max)
        return sq_config_fail_node(ld, v, "%s lists %zu %s, at most %zu", label, n, what, max);
    *items = sq_arena_calloc(&ld->cfg->arena, n + 1, sizeof **items);
    return *items != NULL ? 1 : sq_config_out_of_memory(ld);
}

/* A push consumer's headers: a mapping of names to values, each checked by the API's rules
 * (sequin/push_rules.h), kept as "Name: value" lines. */
static int apply_headers(sq_config_loader *ld, const sq_config_option *opt, const char *label,
                         const sq_config_node *v, void *base)
{
    sq_config_header_list *list = sq_config_field(base, opt);
    char q[SQ_CONFIG_QBUF];
    /* A mapping's children alternate: a key, then its value. */
    int rc = list_start(ld, v, SQ_CONFIG_NODE_MAP, label, "a mapping {Name: value}", v->count / 2,
                        SQ_PUSH_HEADERS_MAX, "headers", &list->items, &list->count);
    if (rc <= 0)
        return rc;
    for (const sq_config_node *k = v->child; k != NULL && k->next != NULL; k = k->next->next) {
        const sq_config_node *val = k->next;
        const char *why;
        if (k->kind != SQ_CONFIG_NODE_SCALAR || val->kind != SQ_CONFIG_NODE_SCALAR)
            return sq_config_fail_node(ld, k, "%s must map header names to strings", label);
        if ((why = sq_push_rules_header(k->text, k->len, val->text, val->len)) != NULL)
            return sq_config_fail_node(ld, k, "%s: %s %s", label,
                                       sq_config_quote(q, k->text, k->len), why);
        list->items[list->count] = sq_arena_printf(&ld->cfg->arena, "%.*s: %.*s", (int)k->len,
                                                   k->text, (int)val->len, val->text);
        if (list->items[list->count++] == NULL)
            return sq_config_out_of_memory(ld);
    }
    return 0;
}

/* A webhook source's `webhook:` mapping of strings (null: not set), checked by the settings
 * JSON's rules and kept as its canonical JSON. */
static int apply_webhook(sq_config_loader *ld, const sq_config_option *opt, const char *label,
                         const sq_config_node *v, void *base)
{
    sq_buf json = {0}, canonical = {0};
    sq_webhook_def def = {0};
    sq_json_writer w;
    char q[SQ_CONFIG_QBUF], why[200];
    int rc = -1;

    if (v->kind == SQ_CONFIG_NODE_SCALAR && !sq_config_is_null(v) &&
        !(v->len == 2 && memcmp(v->text, "{}", 2) == 0))
        return sq_config_fail_node(ld, v, "%s must be a mapping, got %s", label,
                                   sq_config_describe(q, v));
    if (v->kind == SQ_CONFIG_NODE_SEQ)
        return sq_config_fail_node(ld, v, "%s must be a mapping, got a list", label);
    sq_json_writer_init(&w, &json);
    int jr = sq_json_write_begin_object(&w);
    for (const sq_config_node *k = v->kind == SQ_CONFIG_NODE_MAP ? v->child : NULL;
         k != NULL && k->next != NULL; k = k->next->next) {
        const sq_config_node *val = k->next;
        if (k->kind != SQ_CONFIG_NODE_SCALAR || val->kind != SQ_CONFIG_NODE_SCALAR) {
            rc = sq_config_fail_node(ld, val, "%s: each setting must be a string", label);
            goto done;
        }
        jr |= sq_json_write_key(&w, k->text);
        jr |= sq_config_is_null(val) ? sq_json_write_null(&w) : sq_json_write_string(&w, val->text);
    }
    jr |= sq_json_write_end_object(&w);
    if (jr != 0 || sq_json_writer_finish(&w) != SQ_OK) {
        rc = sq_config_out_of_memory(ld);
        goto done;
    }
    if (sq_webhook_settings_read(json.data, json.len, &def, why, sizeof why) != SQ_OK) {
        rc = sq_config_fail_node(ld, v, "%s: %s", label, why);
        goto done;
    }
    const char **out = sq_config_field(base, opt);
    if (sq_webhook_settings_write(&def, &canonical) != SQ_OK ||
        (*out = sq_arena_strndup(&ld->cfg->arena, canonical.data, canonical.len)) == NULL) {
        rc = sq_config_out_of_memory(ld);
        goto done;
    }
    rc = 0;
done:
    sq_webhook_def_free(&def);
    sq_buf_free(&canonical);
    sq_buf_free(&json);
    return rc;
}

/* A source's tables: each checked, and made "schema.table", by the settings JSON's rules. */
static int apply_tables(sq_config_loader *ld, const sq_config_option *opt, const char *label,
                        const sq_config_node *v, void *base)
{
    sq_config_table_list *list = sq_config_field(base, opt);
    char q[SQ_CONFIG_QBUF];
    int rc = list_start(ld, v, SQ_CONFIG_NODE_SEQ, label, "a list of table names", v->count,
                        SQ_SOURCE_TABLES_MAX, "tables", &list->items, &list->count);
    if (rc <= 0)
        return rc;
    for (const sq_config_node *e = v->child; e != NULL; e = e->next) {
        const char *name = NULL, *why;
        if (e->kind != SQ_CONFIG_NODE_SCALAR || sq_config_is_null(e))
            return sq_config_fail_node(ld, e, "%s must be a list of table names, got %s", label,
                                       sq_config_describe(q, e));
        why = sq_source_rules_table(e->text, e->len, list->items, list->count, &ld->cfg->arena,
                                    &name);
        if (why != NULL)
            return sq_config_fail_node(
                ld, e, "%s: table %s %s", label,
                sq_config_quote(q, name ? name : e->text, name ? strlen(name) : e->len), why);
        list->items[list->count++] = name;
    }
    return 0;
}

/* ---- the document ---------------------------------------------------------------------- */

/*
 * Applies mapping `m` of section `section` (NULL: the top level). Pairs are applied in file
 * order, so the first error reported is the first one in the file.
 */
static int apply_mapping(sq_config_loader *ld, const sq_config_node *m, const char *section)
{
    size_t count = 0;
    const sq_config_option *options = sq_config_options(&count);
    sq_config_key keys[SQ_CONFIG_OPTIONS_MAX];
    int seen[SQ_CONFIG_OPTIONS_MAX] = {0};
    size_t n = section_keys(options, count, section, keys);
    char where[64], label[80], q[SQ_CONFIG_QBUF];

    if (section == NULL)
        snprintf(where, sizeof where, "in the top level mapping");
    else
        snprintf(where, sizeof where, "in \"%s\"", section);

    for (const sq_config_node *k = m->child; k != NULL; k = k->next->next) {
        const sq_config_node *v = k->next;
        int idx = sq_config_match_key(ld, k, keys, n, seen, where);
        if (idx < 0)
            return -1;
        const sq_config_option *o = keys[idx].opt;
        if (o == NULL) {
            if (sq_config_is_null(v))
                continue; /* "limits:" with every option commented out */
            if (v->kind != SQ_CONFIG_NODE_MAP)
                return sq_config_fail_node(ld, v, "\"%s\" must be a mapping, got %s",
                                           keys[idx].name, sq_config_describe(q, v));
            if (apply_mapping(ld, v, keys[idx].name) != 0)
                return -1;
            continue;
        }
        snprintf(label, sizeof label, "\"%s\"", o->name);
        if (apply_option(ld, o, label, v, ld->cfg) != 0)
            return -1;
        ld->pos_line[o - options] = v->line;
        ld->pos_col[o - options] = v->col;
    }
    return 0;
}

/* Parses `len` bytes at `data` named `name` and applies them over what ld->cfg holds. */
static int apply_text(sq_config_loader *ld, const char *name, const char *data, size_t len)
{
    sq_config_node *root = NULL;
    char q[SQ_CONFIG_QBUF];
    int rc = -1;

    ld->name = name;
    ld->data = data;
    ld->len = len;
    memset(ld->pos_line, 0, sizeof ld->pos_line);
    memset(ld->pos_col, 0, sizeof ld->pos_col);
    if (sq_config_yaml_parse(ld, &root) != 0)
        goto fail;
    /* No document, or an empty one, changes nothing. */
    if (root != NULL && !sq_config_is_null(root)) {
        if (root->kind != SQ_CONFIG_NODE_MAP) {
            sq_config_fail_node(ld, root, "the top level must be a mapping of options, got %s",
                                sq_config_describe(q, root));
            goto fail;
        }
        if (apply_mapping(ld, root, NULL) != 0)
            goto fail;
    }
    rc = 0;
fail:
    sq_arena_free(&ld->tmp);
    return rc;
}

/* Rules between options, checked once the whole file is applied. */
static int check_across(sq_config_loader *ld)
{
    const sq_config *c = ld->cfg;
    const sq_config_option *options = sq_config_options(NULL);

    if (c->limits.max_message_bytes > c->limits.max_body_bytes) {
        size_t msg = (size_t)(sq_config_option_find("limits.max_message_bytes") - options);
        size_t body = (size_t)(sq_config_option_find("limits.max_body_bytes") - options);
        size_t at = ld->pos_line[msg] != 0 ? msg : body;
        return sq_config_fail_at(
            ld, ld->pos_line[at], ld->pos_col[at],
            "\"limits.max_message_bytes\" (%d) must not exceed "
            "\"limits.max_body_bytes\" (%d): such a message could never be sent",
            c->limits.max_message_bytes, c->limits.max_body_bytes);
    }
    return 0;
}

static int load(const char *name, const char *data, size_t len, sq_config **out,
                sq_config_error *err)
{
    sq_config_error scratch;
    sq_config_loader ld = {0};
    sq_buf defaults = {0};
    sq_config *cfg = NULL;
    int rc = -1;

    *out = NULL;
    ld.err = err != NULL ? err : &scratch;
    memset(ld.err, 0, sizeof *ld.err);
    ld.name = name;
    cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL) {
        sq_config_out_of_memory(&ld);
        goto fail;
    }
    ld.cfg = cfg;
    cfg->source = sq_arena_strdup(&cfg->arena, name);
    if (cfg->source == NULL || sq_config_defaults_text(&defaults) != 0) {
        sq_config_out_of_memory(&ld);
        goto fail;
    }
    if (apply_text(&ld, "<built-in defaults>", defaults.data, defaults.len) != 0)
        goto fail;
    if (apply_text(&ld, name, data, len) != 0)
        goto fail;
    if (check_across(&ld) != 0 || ensure_default_stream(&ld) != 0)
        goto fail;
    *out = cfg;
    cfg = NULL;
    rc = 0;
fail:
    sq_buf_free(&defaults);
    sq_config_free(cfg);
    return rc;
}

/* ---- public functions ------------------------------------------------------------------ */

int sq_config_load_buffer(const char *name, const char *data, size_t len, sq_config **out,
                          sq_config_error *err)
{
    return load(name != NULL ? name : "<buffer>", data, len, out, err);
}

int sq_config_load_file(const char *path, sq_config **out, sq_config_error *err)
{
    sq_config_error scratch;
    sq_config_error *e = err != NULL ? err : &scratch;
    FILE *f = NULL;
    char *data = NULL;
    size_t len = 0;
    int rc = -1;

    *out = NULL;
    memset(e, 0, sizeof *e);
    snprintf(e->file, sizeof e->file, "%s", path);
    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(e->message, sizeof e->message, "cannot open the file: %s", strerror(errno));
        goto fail;
    }
    /* One byte more than the cap tells "too large" from "exactly at the cap". */
    data = malloc(SQ_CONFIG_FILE_MAX + 1);
    if (data == NULL) {
        snprintf(e->message, sizeof e->message, "out of memory");
        goto fail;
    }
    len = fread(data, 1, SQ_CONFIG_FILE_MAX + 1, f);
    if (ferror(f)) {
        snprintf(e->message, sizeof e->message, "cannot read the file: %s", strerror(errno));
        goto fail;
    }
    if (len > SQ_CONFIG_FILE_MAX) {
        snprintf(e->message, sizeof e->message, "the file is larger than %d bytes",
                 SQ_CONFIG_FILE_MAX);
        goto fail;
    }
    rc = load(path, data, len, out, err);
fail:
    free(data);
    if (f != NULL)
        fclose(f);
    return rc;
}

int sq_config_defaults(sq_config **out)
{
    return load("<defaults>", "", 0, out, NULL);
}

void sq_config_free(sq_config *cfg)
{
    if (cfg == NULL)
        return;
    sq_arena_free(&cfg->arena);
    free(cfg);
}

const sq_config_stream *sq_config_find_stream(const sq_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->streams.count; i++) {
        if (strcmp(cfg->streams.items[i].name, name) == 0)
            return &cfg->streams.items[i];
    }
    return NULL;
}

const sq_config_source *sq_config_find_source(const sq_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->sources.count; i++) {
        if (strcmp(cfg->sources.items[i].name, name) == 0)
            return &cfg->sources.items[i];
    }
    return NULL;
}

const char *sq_config_error_format(const sq_config_error *err, char *buf, size_t size)
{
    if (size == 0)
        return buf;
    if (err->line > 0)
        snprintf(buf, size, "%s:%d:%d: %s", err->file, err->line, err->column, err->message);
    else
        snprintf(buf, size, "%s: %s", err->file, err->message);
    return buf;
}
