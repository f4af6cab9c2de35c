/* The config file's declared streams and consumers applied to the database through the store,
 * with a log line for each change and a refusal said at the declaration's FILE:LINE:COLUMN. */
#include "sequin/declared.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "sequin/log.h"
#include "sequin/store.h"

/* "FILE:LINE" of a declaration (the file alone when the place is unknown). */
static const char *declared_at(const sq_config *cfg, const sq_config_consumer *c, char *buf,
                               size_t size)
{
    if (c != NULL && c->line > 0)
        snprintf(buf, size, "%s:%d", cfg->source, c->line);
    else
        snprintf(buf, size, "%s", cfg->source);
    return buf;
}

/* Appends ", NAME was -> now" to `buf` for each setting that differs; "" if none does. */
static void describe_changes(const sq_consumer_settings *was, const sq_consumer_settings *now,
                             char *buf, size_t size)
{
    const struct {
        const char *name;
        int was, now;
    } fields[] = {
        {"ack_wait_ms", was->ack_wait_ms, now->ack_wait_ms},
        {"max_ack_pending", was->max_ack_pending, now->max_ack_pending},
        {"max_deliver", was->max_deliver, now->max_deliver},
    };
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < SQ_ARRAY_LEN(fields) && len < size; i++) {
        char a[16], b[16];
        if (fields[i].was == fields[i].now)
            continue;
        /* max_deliver 0 is "none", as the file writes it */
        snprintf(a, sizeof a, "%d", fields[i].was);
        snprintf(b, sizeof b, "%d", fields[i].now);
        int n = snprintf(buf + len, size - len, "%s%s %s -> %s", len > 0 ? ", " : ": ",
                         fields[i].name, fields[i].was == 0 && i == 2 ? "none" : a,
                         fields[i].now == 0 && i == 2 ? "none" : b);
        if (n < 0)
            break;
        len += (size_t)n;
    }
}

/* Logs one line per consumer the reconcile touched, and a summary. */
static void log_changes(const sq_config *cfg, const sq_reconcile_change *changes, size_t n,
                        const sq_declared_consumer *declared, const sq_config_consumer **origin,
                        size_t n_declared)
{
    size_t counts[SQ_RECONCILE_RELEASED + 1] = {0};
    char at[1100], diff[256];

    for (size_t i = 0; i < n; i++) {
        const sq_reconcile_change *c = &changes[i];
        bool known = c->declared >= 0 && (size_t)c->declared < n_declared;
        const sq_declared_consumer *d = known ? &declared[c->declared] : NULL;

        counts[c->action]++;
        declared_at(cfg, known ? origin[c->declared] : NULL, at, sizeof at);
        if (d != NULL)
            describe_changes(&c->before, &d->settings, diff, sizeof diff);
        switch (c->action) {
        case SQ_RECONCILE_CREATED:
            sq_info("consumer \"%s\" of stream \"%s\" created, as declared at %s (filter \"%s\", "
                    "deliver_policy %s)",
                    c->name, c->stream, at, d != NULL ? d->filter : "?",
                    d != NULL && d->deliver_new ? "new" : "all");
            break;
        case SQ_RECONCILE_UPDATED:
            sq_info("consumer \"%s\" of stream \"%s\" updated, as declared at %s%s", c->name,
                    c->stream, at, diff);
            break;
        case SQ_RECONCILE_ADOPTED:
            sq_info("consumer \"%s\" of stream \"%s\", which existed with managed_by \"api\", is "
                    "now managed by the config file, as declared at %s%s",
                    c->name, c->stream, at, diff);
            break;
        case SQ_RECONCILE_RELEASED:
            sq_info("consumer \"%s\" of stream \"%s\" is no longer declared in %s: it is kept "
                    "with its messages and is now managed_by \"api\" (delete it through the API "
                    "if it is not needed)",
                    c->name, c->stream, cfg->source);
            break;
        case SQ_RECONCILE_UNCHANGED:
            sq_debug("consumer \"%s\" of stream \"%s\" unchanged, as declared at %s", c->name,
                     c->stream, at);
            break;
        }
    }
    sq_info("declared consumers of %s: %zu created, %zu updated, %zu unchanged, %zu adopted, "
            "%zu released",
            cfg->source, counts[SQ_RECONCILE_CREATED], counts[SQ_RECONCILE_UPDATED],
            counts[SQ_RECONCILE_UNCHANGED], counts[SQ_RECONCILE_ADOPTED],
            counts[SQ_RECONCILE_RELEASED]);
}

/*
 * Declared consumers (SPEC section 5), at start and on reload: the store applies every
 * declaration in one transaction, or none (docs/operations.md, "Declared consumers").
 * 0; SQ_DECLARED_REFUSED with `refusal` set to "FILE:LINE:COLUMN: why"; -1 after logging why.
 */
static int reconcile_consumers(sq_store *store, const sq_config *cfg, char *refusal, size_t size)
{
    sq_declared_consumer *declared = NULL;
    const sq_config_consumer **origin = NULL;
    sq_reconcile_change *changes = NULL;
    sq_arena arena = {0};
    size_t n = 0, k = 0, n_changes = 0;
    long refused = -1;
    char err[1024];
    int rc = -1;

    for (size_t i = 0; i < cfg->streams.count; i++)
        n += cfg->streams.items[i].n_consumers;
    declared = calloc(n + 1, sizeof *declared);
    origin = calloc(n + 1, sizeof *origin);
    if (declared == NULL || origin == NULL) {
        sq_error("cannot reconcile the declared consumers: out of memory");
        goto done;
    }
    for (size_t i = 0; i < cfg->streams.count; i++) {
        const sq_config_stream *st = &cfg->streams.items[i];
        for (size_t j = 0; j < st->n_consumers; j++, k++) {
            const sq_config_consumer *c = &st->consumers[j];
            origin[k] = c;
            declared[k] = (sq_declared_consumer){
                .stream = st->name,
                .name = c->name,
                .filter = c->filter,
                .settings = {c->ack_wait_ms, c->max_ack_pending, c->max_deliver},
                .deliver_new = c->deliver_policy == SQ_CONFIG_DELIVER_NEW,
            };
        }
    }
    int r = sq_store_reconcile(store, declared, n, &changes, &n_changes, &refused, &arena, err,
                               sizeof err);
    if (r == SQ_STORE_CONFLICT) {
        /* Said like a config file error, at the declaration that cannot be applied. */
        const sq_config_consumer *c = refused >= 0 && (size_t)refused < n ? origin[refused] : NULL;
        if (c != NULL && c->line > 0)
            snprintf(refusal, size, "%s:%d:%d: %s", cfg->source, c->line, c->column, err);
        else
            snprintf(refusal, size, "%s: %s", cfg->source, err);
        rc = SQ_DECLARED_REFUSED;
        goto done;
    }
    if (r != SQ_OK) {
        /* SQ_STORE_NOT_FOUND: a declared stream deleted since it was created, a moment ago */
        sq_error("cannot reconcile the declared consumers of %s: %s", cfg->source, err);
        goto done;
    }
    log_changes(cfg, changes, n_changes, declared, origin, n);
    rc = 0;
done:
    sq_arena_free(&arena);
    free(origin);
    free(declared);
    return rc;
}

int sq_declared_apply(const sq_config *cfg, char *refusal, size_t size)
{
    sq_store *store = NULL;
    sq_arena arena = {0};
    char err[512];
    int rc = -1;

    if (sq_store_open(cfg->database.url, &store, err, sizeof err) != SQ_OK) {
        sq_error("cannot open the store: %s", err);
        goto fail;
    }
    for (size_t i = 0; i < cfg->streams.count; i++) {
        const char *name = cfg->streams.items[i].name;
        sq_stream stream;
        int num, r;
        /* Looked up first so that PostgreSQL does not log a unique violation at every start;
         * a node creating the same stream at the same moment is the conflict tolerated below. */
        r = sq_store_stream_num(store, name, &num, err, sizeof err);
        if (r == SQ_OK)
            continue;
        if (r == SQ_STORE_NOT_FOUND)
            r = sq_store_stream_create(store, name, &stream, &arena, err, sizeof err);
        if (r == SQ_OK) {
            sq_info("stream \"%s\" created", name);
        } else if (r != SQ_STORE_CONFLICT) {
            sq_error("cannot create stream \"%s\": %s", name, err);
            goto fail;
        }
        sq_arena_reset(&arena);
    }
    rc = reconcile_consumers(store, cfg, refusal, size);
fail:
    sq_arena_free(&arena);
    sq_store_close(store);
    return rc;
}
