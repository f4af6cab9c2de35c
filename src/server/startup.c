/* The master's work before its first fork: the configuration checked for running, the schema
 * migrated and the listening sockets bound. */
#include "sequin/startup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sequin/log.h"
#include "sequin/store.h"

int sq_startup_check_config(const sq_config *cfg, sq_config_error *err)
{
    if (cfg->auth.tokens.count > 0 || cfg->auth.allow_anonymous)
        return 0;
    for (size_t i = 0; i < cfg->listen.count; i++) {
        const sq_config_listen *l = &cfg->listen.items[i];
        if (sq_listen_is_loopback(l))
            continue;
        memset(err, 0, sizeof *err);
        snprintf(err->file, sizeof err->file, "%s", cfg->source);
        err->line = l->line;
        err->column = l->column;
        snprintf(err->message, sizeof err->message,
                 "listen address \"%s\" is not a loopback address and auth.tokens is empty: "
                 "add a token (sequind --hash-token) or set auth.allow_anonymous: true",
                 l->address);
        return -1;
    }
    return 0;
}

int sq_startup_migrate(const sq_config *cfg)
{
    char err[512];
    const sq_schema *schema = sq_store_schema();
    int functions = 0;
    int applied = sq_store_migrate(cfg->database.url, schema, &functions, err, sizeof err);

    if (applied < 0) {
        sq_error("cannot migrate the schema (database.url in %s): %s", cfg->source, err);
        return -1;
    }
    sq_info("schema at version %zu (%d migrations and %d function files applied now)",
            schema->n_migrations, applied, functions);
    return 0;
}

int sq_startup_bind(const sq_config *cfg, sq_listen_set *set, int **fds, char *names, size_t size)
{
    char err[512];

    *fds = NULL;
    if (sq_listen_open(&cfg->listen, set, err, sizeof err) != 0) {
        sq_error("%s: %s", cfg->source, err);
        goto fail;
    }
    *fds = calloc(set->count + 1, sizeof **fds);
    if (*fds == NULL) {
        sq_error("out of memory");
        goto fail;
    }
    names[0] = '\0';
    for (size_t i = 0, len = 0; i < set->count; i++) {
        (*fds)[i] = set->items[i].fd;
        if (len < size)
            len +=
                (size_t)snprintf(names + len, size - len, "%s%s", i ? " " : "", set->items[i].name);
    }
    return 0;
fail:
    sq_listen_close(set);
    return -1;
}
