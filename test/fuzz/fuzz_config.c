/* libFuzzer target for the config loader: any bytes either load into a configuration that
 * keeps every rule of the option tables (a declared source's settings rules included), or fail
 * with one placed, one-line error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sequin/config.h"
#include "sequin/source_rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every integer option of `table` stored in `base` is in its range (0 standing for the word). */
static void check_ints(const sq_config_option *table, size_t n, const void *base)
{
    for (size_t i = 0; i < n; i++) {
        const sq_config_option *o = &table[i];
        if (o->type != SQ_CONFIG_INT)
            continue;
        int v;
        memcpy(&v, (const char *)base + o->offset, sizeof v);
        if (!((v >= o->min && v <= o->max) || (v == 0 && (o->word != NULL || o->min == 0))))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sq_config *cfg = NULL;
    sq_config_error err;
    char line[2048];
    size_t n = 0, nc = 0;
    const sq_config_option *opts = sq_config_options(&n);
    const sq_config_option *copts = sq_config_consumer_options(&nc);

    if (sq_config_load_buffer("fuzz.yaml", (const char *)data, size, &cfg, &err) != 0) {
        if (cfg != NULL || err.message[0] == '\0' || strcmp(err.file, "fuzz.yaml") != 0)
            abort();
        if (err.line < 0 || err.column < 0 || (err.line == 0) != (err.column == 0))
            abort();
        sq_config_error_format(&err, line, sizeof line);
        if (strchr(line, '\n') != NULL)
            abort();
        return 0;
    }

    /* A configuration that loaded keeps the invariants the server relies on. */
    if (cfg->listen.count == 0 || sq_config_find_stream(cfg, "default") == NULL)
        abort();
    for (size_t i = 0; i < cfg->listen.count; i++) {
        const sq_config_listen *l = &cfg->listen.items[i];
        if (l->port < 1 || l->port > 65535 || l->host[0] == '\0')
            abort();
    }
    for (size_t i = 0; i < cfg->auth.tokens.count; i++) {
        const sq_config_token *t = &cfg->auth.tokens.items[i];
        if (t->name[0] == '\0' || strlen(t->sha256_hex) != 64 ||
            strspn(t->sha256_hex, "0123456789abcdef") != 64)
            abort();
    }
    if (cfg->limits.max_message_bytes > cfg->limits.max_body_bytes)
        abort();
    check_ints(opts, n, cfg);
    for (size_t i = 0; i < cfg->streams.count; i++) {
        const sq_config_stream *s = &cfg->streams.items[i];
        for (size_t j = 0; j < s->n_consumers; j++) {
            const sq_config_consumer *c = &s->consumers[j];
            if (c->name == NULL || c->filter == NULL)
                abort();
            check_ints(copts, nc, c);
        }
    }
    /* A declared source keeps the rules its settings JSON is held to. */
    for (size_t i = 0; i < cfg->sources.count; i++) {
        const sq_config_source *s = &cfg->sources.items[i];
        const char *url = s->postgres.url, *slot = s->postgres.slot;
        const char *pub = s->postgres.publication;
        if (s->name == NULL || s->stream == NULL || (s->key_format != 0 && s->key_format != 1) ||
            sq_source_rules_url(url, strlen(url)) != NULL ||
            sq_source_rules_slot(slot, strlen(slot)) != NULL ||
            sq_source_rules_publication(pub, strlen(pub)) != NULL ||
            s->postgres.tables.count > SQ_SOURCE_TABLES_MAX)
            abort();
        for (size_t t = 0; t < s->postgres.tables.count; t++) {
            if (strchr(s->postgres.tables.items[t], '.') == NULL)
                abort();
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cfg->sources.items[j].name, s->name) == 0)
                abort();
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!sq_config_option_equal(cfg, cfg, &opts[i]))
            abort();
    }
    sq_config_free(cfg);
    return 0;
}
