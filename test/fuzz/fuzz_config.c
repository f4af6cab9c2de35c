/* libFuzzer target for the config loader: any bytes either load into a configuration that
 * keeps every rule of the option table, or fail with one placed, one-line error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sequin/config.h"

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
    for (size_t i = 0; i < n; i++) {
        if (!sq_config_option_equal(cfg, cfg, &opts[i]))
            abort();
    }
    sq_config_free(cfg);
    return 0;
}
