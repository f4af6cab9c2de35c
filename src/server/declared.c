/* The config file's declared streams, consumers and sources applied to the database through the
 * store, with a log line for each change and a refusal said at the declaration's
 * FILE:LINE:COLUMN. */
#include "sequin/declared.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "sequin/json.h"
#include "sequin/log.h"
#include "sequin/push_rules.h"
#include "sequin/source.h"
#include "sequin/store.h"

/* "FILE:LINE" of a declaration at `line` (the file alone when the place is unknown: 0). */
static const char *declared_at(const sq_config *cfg, int line, char *buf, size_t size)
{
    if (line > 0)
        snprintf(buf, size, "%s:%d", cfg->source, line);
    else
        snprintf(buf, size, "%s", cfg->source);
    return buf;
}

/* A refusal said like a config file error, at the declaration (line, column) that cannot be
 * applied: "FILE:LINE:COLUMN: why". */
static int refuse(const sq_config *cfg, int line, int column, const char *why, char *refusal,
                  size_t size)
{
    if (line > 0)
        snprintf(refusal, size, "%s:%d:%d: %s", cfg->source, line, column, why);
    else
        snprintf(refusal, size, "%s: %s", cfg->source, why);
    return SQ_DECLARED_REFUSED;
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
    size_t counts[SQ_RECONCILE_DELETED + 1] = {0};
    char at[1100], diff[256];

    for (size_t i = 0; i < n; i++) {
        const sq_reconcile_change *c = &changes[i];
        bool known = c->declared >= 0 && (size_t)c->declared < n_declared;
        const sq_declared_consumer *d = known ? &declared[c->declared] : NULL;

        counts[c->action]++;
        declared_at(cfg, known ? origin[c->declared]->line : 0, at, sizeof at);
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
        case SQ_RECONCILE_DELETED: /* a source's action */
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

/* The declarations of a file and what the store did with them. */
typedef struct reconcile {
    const sq_config *cfg;
    sq_declared_consumer *consumers;
    const sq_config_consumer **origin; /* the file's declaration of each consumer */
    size_t n_consumers;
    sq_reconcile_change *consumer_changes;
    size_t n_consumer_changes;
    sq_declared_source *sources; /* in the order of cfg->sources */
    sq_source_change *source_changes;
    size_t n_source_changes;
    sq_arena arena; /* the settings texts, the changes */
} reconcile;

/* A declared push consumer's endpoint (as the store keeps it, in rc's arena) and delivery
 * settings into `d`. 0, or -1 when out of memory. */
static int push_settings(reconcile *rc, const sq_config_consumer *c, sq_declared_consumer *d)
{
    sq_buf json = {0};
    sq_json_writer w;
    const char *secret = c->http_endpoint.signing_secret;
    sq_json_writer_init(&w, &json);
    int jr = sq_push_rules_write_endpoint(&w, c->http_endpoint.url, c->http_endpoint.headers.items,
                                          c->http_endpoint.headers.count,
                                          secret[0] != '\0' ? secret : NULL);
    d->settings.push = (sq_push_settings){
        .http_endpoint = jr == SQ_OK && sq_json_writer_finish(&w) == SQ_OK
                             ? sq_arena_strndup(&rc->arena, json.data, json.len)
                             : NULL,
        .max_waiting = c->max_waiting,
        .backoff_base_ms = c->backoff_base_ms,
        .backoff_max_ms = c->backoff_max_ms,
    };
    sq_buf_free(&json);
    return d->settings.push.http_endpoint != NULL ? 0 : -1;
}

/* The declared consumers and sources of rc->cfg as the store takes them. 0, or -1 after
 * logging why. */
static int build(reconcile *rc)
{
    const sq_config *cfg = rc->cfg;
    size_t n = 0, k = 0;
    sq_buf json = {0};

    for (size_t i = 0; i < cfg->streams.count; i++)
        n += cfg->streams.items[i].n_consumers;
    rc->consumers = calloc(n + 1, sizeof *rc->consumers);
    rc->origin = calloc(n + 1, sizeof *rc->origin);
    rc->sources = calloc(cfg->sources.count + 1, sizeof *rc->sources);
    if (rc->consumers == NULL || rc->origin == NULL || rc->sources == NULL)
        goto oom;
    for (size_t i = 0; i < cfg->streams.count; i++) {
        const sq_config_stream *st = &cfg->streams.items[i];
        for (size_t j = 0; j < st->n_consumers; j++, k++) {
            const sq_config_consumer *c = &st->consumers[j];
            rc->origin[k] = c;
            rc->consumers[k] = (sq_declared_consumer){
                .stream = st->name,
                .name = c->name,
                .filter = c->filter,
                .settings = {c->ack_wait_ms, c->max_ack_pending, c->max_deliver, {0}},
                .deliver_new = c->deliver_policy == SQ_CONFIG_DELIVER_NEW,
            };
            if (c->kind == SQ_CONFIG_PUSH && push_settings(rc, c, &rc->consumers[k]) != 0)
                goto oom;
        }
    }
    rc->n_consumers = n;
    /* The settings as the store keeps them: the one canonical text, so that equal settings are
     * equal text and the sources process restarts a source only when they change. */
    for (size_t i = 0; i < cfg->sources.count; i++) {
        const sq_config_source *src = &cfg->sources.items[i];
        if (src->webhook != NULL) {
            /* the loader keeps a webhook's settings in their canonical text already */
            rc->sources[i] = (sq_declared_source){
                .name = src->name,
                .stream = src->stream,
                .settings = src->webhook,
                .kind = "webhook",
            };
            continue;
        }
        const sq_source_def def = {
            .url = src->postgres.url,
            .slot = src->postgres.slot,
            .publication = src->postgres.publication,
            .tables = src->postgres.tables.items,
            .ntables = src->postgres.tables.count,
            .key_format = (sq_key_format)src->key_format,
            .backfill = src->backfill,
        };
        sq_buf_reset(&json);
        if (sq_source_settings_write(&def, &json) != SQ_OK)
            goto oom;
        rc->sources[i] = (sq_declared_source){
            .name = src->name,
            .stream = src->stream,
            .settings = sq_arena_strndup(&rc->arena, json.data, json.len),
            .kind = "postgres",
        };
        if (rc->sources[i].settings == NULL)
            goto oom;
    }
    sq_buf_free(&json);
    return 0;
oom:
    sq_buf_free(&json);
    sq_error("cannot reconcile the declarations of %s: out of memory", cfg->source);
    return -1;
}

/*
 * Declared consumers (SPEC section 5) and sources (SPEC section 8), at start and on reload:
 * the store applies every declaration in one transaction, or none (docs/operations.md,
 * "Declared consumers", "Declared sources"). 0; SQ_DECLARED_REFUSED with `refusal` set to
 * "FILE:LINE:COLUMN: why"; -1 after logging why.
 */
static int apply(sq_store *store, reconcile *rc, char *refusal, size_t size)
{
    const sq_config *cfg = rc->cfg;
    long refused = -1;
    int line = 0, column = 0;
    bool refusal_made = false;
    char err[1024];

    int r = sq_store_transaction(store, SQ_STORE_BEGIN, err, sizeof err);
    if (r == SQ_OK) {
        r = sq_store_reconcile(store, rc->consumers, rc->n_consumers, &rc->consumer_changes,
                               &rc->n_consumer_changes, &refused, &rc->arena, err, sizeof err);
        /* (SQ_STORE_NOT_FOUND here is a declared stream deleted since it was created, a moment
         * ago: PostgreSQL's doing, not the file's.) */
        refusal_made = r == SQ_STORE_CONFLICT;
        if (refusal_made && refused >= 0 && (size_t)refused < rc->n_consumers) {
            line = rc->origin[refused]->line;
            column = rc->origin[refused]->column;
        }
    }
    if (r == SQ_OK) {
        r = sq_store_reconcile_sources(store, rc->sources, cfg->sources.count, &rc->source_changes,
                                       &rc->n_source_changes, &refused, &rc->arena, err,
                                       sizeof err);
        refusal_made = r == SQ_STORE_NOT_FOUND; /* a stream that does not exist */
        if (refusal_made && refused >= 0 && (size_t)refused < cfg->sources.count) {
            line = cfg->sources.items[refused].line;
            column = cfg->sources.items[refused].column;
        }
    }
    if (r == SQ_OK)
        r = sq_store_transaction(store, SQ_STORE_COMMIT, err, sizeof err);
    if (r == SQ_OK)
        return 0;
    if (refusal_made) {
        r = refuse(cfg, line, column, err, refusal, size);
    } else {
        sq_error("cannot reconcile the declared consumers and sources of %s: %s", cfg->source, err);
        r = -1;
    }
    if (sq_store_transaction(store, SQ_STORE_ROLLBACK, err, sizeof err) != SQ_OK)
        sq_debug("the rollback of the reconcile failed: %s", err);
    return r;
}

/* Logs one line per source the reconcile touched, and a summary. */
static void log_sources(const sq_config *cfg, const sq_source_change *changes, size_t n)
{
    size_t counts[SQ_RECONCILE_DELETED + 1] = {0};
    char at[1100];

    for (size_t i = 0; i < n; i++) {
        const sq_source_change *c = &changes[i];
        bool known = c->declared >= 0 && (size_t)c->declared < cfg->sources.count;
        const sq_config_source *d = known ? &cfg->sources.items[c->declared] : NULL;

        counts[c->action]++;
        declared_at(cfg, d != NULL ? d->line : 0, at, sizeof at);
        switch (c->action) {
        case SQ_RECONCILE_CREATED:
            if (c->slot == NULL) { /* a webhook: no slot, no publication */
                sq_info("webhook source \"%s\" created, as declared at %s (stream \"%s\"): "
                        "POST /api/webhook/%s",
                        c->name, at, d != NULL ? d->stream : "?", c->name);
                break;
            }
            sq_info("source \"%s\" created, as declared at %s (stream \"%s\", slot \"%s\", "
                    "publication \"%s\")",
                    c->name, at, d != NULL ? d->stream : "?", c->slot, c->publication);
            break;
        case SQ_RECONCILE_UPDATED:
            sq_info("source \"%s\" updated, as declared at %s: %s; it restarts with them", c->name,
                    at, c->changes != NULL ? c->changes : "");
            break;
        case SQ_RECONCILE_ADOPTED:
            sq_info("source \"%s\", which existed with managed_by \"api\", is now managed by the "
                    "config file, as declared at %s%s%s",
                    c->name, at, c->changes != NULL ? ": " : "",
                    c->changes != NULL ? c->changes : "");
            break;
        case SQ_RECONCILE_DELETED:
            if (c->slot == NULL) {
                sq_warn("webhook source \"%s\" is no longer declared in %s: deleted, a POST to "
                        "it is a 404 now",
                        c->name, cfg->source);
                break;
            }
            /* A slot nobody reads keeps every WAL segment after its position: a disk fills. */
            sq_warn("source \"%s\" is no longer declared in %s: deleted, it stops streaming. Its "
                    "replication slot \"%s\" and publication \"%s\" stay in the source "
                    "database, where the slot holds WAL until it is dropped: SELECT "
                    "pg_drop_replication_slot('%s'); DROP PUBLICATION %s;",
                    c->name, cfg->source, c->slot, c->publication, c->slot, c->publication);
            break;
        case SQ_RECONCILE_UNCHANGED:
        case SQ_RECONCILE_RELEASED: /* a consumer's action */
            sq_debug("source \"%s\" unchanged, as declared at %s", c->name, at);
            break;
        }
    }
    sq_info("declared sources of %s: %zu created, %zu updated, %zu unchanged, %zu adopted, %zu "
            "deleted",
            cfg->source, counts[SQ_RECONCILE_CREATED], counts[SQ_RECONCILE_UPDATED],
            counts[SQ_RECONCILE_UNCHANGED], counts[SQ_RECONCILE_ADOPTED],
            counts[SQ_RECONCILE_DELETED]);
}

int sq_declared_apply(const sq_config *cfg, char *refusal, size_t size)
{
    sq_store *store = NULL;
    sq_arena arena = {0};
    reconcile rec = {.cfg = cfg};
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
    if (build(&rec) != 0)
        goto fail;
    rc = apply(store, &rec, refusal, size);
    if (rc != 0)
        goto fail;
    /* Said once committed: what the log says happened, happened. */
    log_changes(cfg, rec.consumer_changes, rec.n_consumer_changes, rec.consumers, rec.origin,
                rec.n_consumers);
    log_sources(cfg, rec.source_changes, rec.n_source_changes);
fail:
    sq_arena_free(&rec.arena);
    free(rec.sources);
    free(rec.origin);
    free(rec.consumers);
    sq_arena_free(&arena);
    sq_store_close(store);
    return rc;
}
