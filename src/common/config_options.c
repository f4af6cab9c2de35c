/* The option table of the configuration file: every option's name, type, default, whether a
 * reload applies it and where it lands, with the lookups and comparisons made from it. */
#include "config_internal.h"

#include <string.h>
#include <strings.h>

#include "sequin/push_rules.h"
#include "sequin/source_rules.h"

/* Enum options are stored as the index of their word, through an int-sized field. */
_Static_assert(sizeof(sq_log_level) == sizeof(int), "enum options are stored as int");
_Static_assert(sizeof(sq_log_format) == sizeof(int), "enum options are stored as int");
_Static_assert(sizeof(sq_config_deliver_policy) == sizeof(int), "enum options are stored as int");
_Static_assert(SQ_LOG_DEBUG == 0 && SQ_LOG_INFO == 1 && SQ_LOG_WARN == 2 && SQ_LOG_ERROR == 3,
               "log_levels[] is indexed by sq_log_level");
_Static_assert(SQ_LOG_TEXT == 0 && SQ_LOG_JSON == 1, "log_formats[] is indexed by sq_log_format");
_Static_assert(SQ_CONFIG_DELIVER_ALL == 0 && SQ_CONFIG_DELIVER_NEW == 1,
               "deliver_policies[] is indexed by sq_config_deliver_policy");
_Static_assert(sizeof(sq_config_consumer_kind) == sizeof(int), "enum options are stored as int");
_Static_assert(SQ_CONFIG_PULL == 0 && SQ_CONFIG_PUSH == 1,
               "sq_push_rules_kinds[] is indexed by sq_config_consumer_kind");

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const deliver_policies[] = {"all", "new", NULL};

/*
 * A row of the option table: option `k` of section `sect` (TOP: a top-level one; CONSUMER: a
 * key of an entry of `consumers:`), stored in the field of the same name, so that its name,
 * key and place are spelt once; then the row's other fields.
 */
#define OPTION(sect, k, ...)                                                                       \
    {                                                                                              \
        .name = #sect "." #k, .section = #sect, .key = #k, .offset = offsetof(sq_config, sect.k),  \
        __VA_ARGS__                                                                                \
    }
#define TOP(k, ...)                                                                                \
    {                                                                                              \
        .name = #k, .key = #k, .offset = offsetof(sq_config, k), __VA_ARGS__                       \
    }
#define CONSUMER(k, ...)                                                                           \
    {                                                                                              \
        .name = #k, .key = #k, .offset = offsetof(sq_config_consumer, k), __VA_ARGS__              \
    }
/* A key of a consumer's `http_endpoint:` mapping. */
#define HTTP_ENDPOINT(k, ...)                                                                      \
    {                                                                                              \
        .name = "http_endpoint." #k, .section = "http_endpoint", .key = #k,                        \
        .offset = offsetof(sq_config_consumer, http_endpoint.k), __VA_ARGS__                       \
    }
/* A key of an entry of `sources:` (SOURCE), or of its `postgres:` mapping (POSTGRES). */
#define SOURCE(k, ...)                                                                             \
    {                                                                                              \
        .name = #k, .key = #k, .offset = offsetof(sq_config_source, k), __VA_ARGS__                \
    }
#define POSTGRES(k, ...)                                                                           \
    {                                                                                              \
        .name = "postgres." #k, .section = "postgres", .key = #k,                                  \
        .offset = offsetof(sq_config_source, postgres.k), __VA_ARGS__                              \
    }
/* An integer option within [lo, hi]. */
#define INT(lo, hi) .type = SQ_CONFIG_INT, .min = (lo), .max = (hi)
#define RELOADS .reloadable = true

/* A push consumer's url and signing secret: "" is none (a pull consumer's, or no signing),
 * anything else is checked by sequin/push_rules.h. */
static const char *endpoint_url(const char *s, size_t len)
{
    return len == 0 ? NULL : sq_push_rules_url(s, len);
}

static const char *endpoint_secret(const char *s, size_t len)
{
    return len == 0 ? NULL : sq_push_rules_secret(s, len);
}

/*
 * The option table. Order is file order: etc/sequin.yaml and docs/config.md follow it, and the
 * built-in defaults document is generated from it, so the options of one section must be
 * adjacent (a test checks it).
 */
static const sq_config_option options[] = {
    TOP(listen, .type = SQ_CONFIG_LISTEN, .default_text = "127.0.0.1:7376",
        .help = "Addresses to accept HTTP on: host:port, or a list of them (IPv6 as "
                "\"[::1]:7376\", quoted)."),
    TOP(workers, INT(1, 1024), .default_text = "auto", .word = "auto",
        .help = "Number of worker processes; auto starts one per CPU."),
    TOP(shutdown_timeout_ms, INT(0, 3600000), .default_text = "30000", RELOADS,
        .help = "On SIGTERM or SIGINT, how long in-flight requests may run before workers are "
                "stopped."),
    OPTION(database, url, .type = SQ_CONFIG_STRING, .default_text = "\"\"",
           .help = "libpq connection string or URL; empty uses libpq's PG* environment "
                   "variables."),
    OPTION(database, connections_per_worker, INT(1, 64), .default_text = "2",
           .help = "PostgreSQL connections each worker process keeps open."),
    OPTION(auth, tokens, .type = SQ_CONFIG_TOKENS, .default_text = "[]", RELOADS,
           .help = "API tokens as {name, sha256} (sequind --hash-token prints the sha256); none "
                   "means no authentication."),
    OPTION(auth, allow_anonymous, .type = SQ_CONFIG_BOOL, .default_text = "false", RELOADS,
           .help = "With no tokens, allow listening on a non-loopback address anyway."),
    OPTION(limits, max_body_bytes, INT(1024, 1073741824), .default_text = "16777216", RELOADS,
           .help = "Largest request body; a larger one is answered 413."),
    OPTION(limits, max_message_bytes, INT(1, 1073741824), .default_text = "1048576", RELOADS,
           .help = "Largest data of one message; at most max_body_bytes."),
    OPTION(limits, max_request_line_bytes, INT(1024, 65536), .default_text = "8192", RELOADS,
           .help = "Longest request line (method, path, query); a longer one is answered 414."),
    OPTION(limits, max_header_bytes, INT(1024, 1048576), .default_text = "32768", RELOADS,
           .help = "Total size of a request's header fields; more is answered 431."),
    OPTION(limits, max_headers, INT(8, 1000), .default_text = "100", RELOADS,
           .help = "Most header fields in one request; more is answered 431."),
    OPTION(limits, idle_timeout_ms, INT(1000, 3600000), .default_text = "60000", RELOADS,
           .help = "A keep-alive connection idle this long is closed."),
    OPTION(limits, header_timeout_ms, INT(100, 600000), .default_text = "10000", RELOADS,
           .help = "Time allowed to receive a request's line and headers once it has started."),
    OPTION(limits, body_timeout_ms, INT(100, 3600000), .default_text = "30000", RELOADS,
           .help = "Time allowed to receive a request's whole body."),
    OPTION(log, level, .type = SQ_CONFIG_ENUM, .words = log_levels, .default_text = "info", RELOADS,
           .help = "Lines below this level are not written: debug, info, warn or error."),
    OPTION(log, format, .type = SQ_CONFIG_ENUM, .words = log_formats, .default_text = "text",
           RELOADS, .help = "text or json lines, to stderr (journald under systemd)."),
    TOP(streams, .type = SQ_CONFIG_STREAMS, .default_text = "[{name: default}]", RELOADS,
        .help = "Streams created at start, each with the consumers declared for it; the stream "
                "default always exists."),
    TOP(sources, .type = SQ_CONFIG_SOURCES, .default_text = "[]", RELOADS,
        .help = "Sources streaming PostgreSQL tables into a stream, created, updated or deleted "
                "at start and on reload."),
};

/* The keys of one entry of `consumers:`. name and filter first: they have no default. */
static const sq_config_option consumer_options[] = {
    CONSUMER(name, .type = SQ_CONFIG_NAME, RELOADS,
             .help = "Required; [a-zA-Z0-9_]+, at most 64 characters, unique in its stream."),
    CONSUMER(filter, .type = SQ_CONFIG_FILTER, RELOADS,
             .help = "Required filter_key_pattern (SPEC section 2); it cannot be changed later."),
    CONSUMER(ack_wait_ms, INT(500, 3600000), .default_text = "30000", RELOADS,
             .help = "How long a received message stays invisible to other receivers unless "
                     "acked."),
    CONSUMER(max_ack_pending, INT(1, 1000000), .default_text = "10000", RELOADS,
             .help = "Most messages leased at once."),
    CONSUMER(max_deliver, INT(1, 1000), .default_text = "none", .word = "none", RELOADS,
             .help = "Deliveries before a message goes dead; none means no limit."),
    CONSUMER(deliver_policy, .type = SQ_CONFIG_ENUM, .words = deliver_policies,
             .default_text = "all", RELOADS,
             .help = "all: the whole matching backlog; new: only messages upserted after "
                     "creation."),
    CONSUMER(kind, .type = SQ_CONFIG_ENUM, .words = sq_push_rules_kinds, .default_text = "pull",
             RELOADS,
             .help = "pull: workers receive and ack; push: messages are POSTed to http_endpoint. "
                     "It cannot be changed later."),
    HTTP_ENDPOINT(url, .type = SQ_CONFIG_STRING, .check = endpoint_url, .default_text = "\"\"",
                  RELOADS,
                  .help = "A push consumer's http:// or https:// URL (required for push, "
                          "refused for pull)."),
    HTTP_ENDPOINT(headers, .type = SQ_CONFIG_HEADERS, .default_text = "{}", RELOADS,
                  .help = "Headers sent with every request, {Name: value}; the API shows their "
                          "values as ***."),
    HTTP_ENDPOINT(signing_secret, .type = SQ_CONFIG_STRING, .check = endpoint_secret,
                  .default_text = "\"\"", RELOADS,
                  .help = "Key of the HMAC-SHA256 signature header; \"\" signs nothing."),
    CONSUMER(max_waiting, INT(1, SQ_PUSH_MAX_WAITING_MAX), .default_text = "20", RELOADS,
             .help = "A push consumer's requests in flight at once; lowered to max_ack_pending."),
    CONSUMER(backoff_base_ms, INT(SQ_PUSH_BACKOFF_MIN_MS, SQ_PUSH_BACKOFF_MAX_MS),
             .default_text = "1000", RELOADS,
             .help = "A push consumer's first retry wait, doubled per delivery, with jitter."),
    CONSUMER(backoff_max_ms, INT(SQ_PUSH_BACKOFF_MIN_MS, SQ_PUSH_BACKOFF_MAX_MS),
             .default_text = "300000", RELOADS,
             .help = "The longest retry wait of a push consumer; at least backoff_base_ms."),
};

/* The keys of one entry of `sources:`. The name first: the loader reads it before the rest. The
 * rules are the settings JSON's (sequin/source_rules.h). */
static const sq_config_option source_options[] = {
    SOURCE(name, .type = SQ_CONFIG_NAME, RELOADS,
           .help = "Required; [a-zA-Z0-9_]+, at most 64 characters, unique: the first token of "
                   "every key."),
    POSTGRES(url, .type = SQ_CONFIG_STRING, .check = sq_source_rules_url, RELOADS,
             .help = "Required; libpq URL or connection string of the database to stream "
                     "(PostgreSQL 10+, wal_level=logical)."),
    POSTGRES(slot, .type = SQ_CONFIG_STRING, .check = sq_source_rules_slot,
             .default_text = SQ_SOURCE_DEFAULT_SLOT, RELOADS,
             .help = "Replication slot, [a-z0-9_]+; created (pgoutput) if missing."),
    POSTGRES(publication, .type = SQ_CONFIG_STRING, .check = sq_source_rules_publication,
             .default_text = SQ_SOURCE_DEFAULT_PUBLICATION, RELOADS,
             .help = "Publication; created for `tables` if missing, used as it is if it exists."),
    POSTGRES(tables, .type = SQ_CONFIG_TABLES, .default_text = "[]", RELOADS,
             .help = "Tables as schema.table (public when left out); [] takes the existing "
                     "publication's."),
    SOURCE(stream, .type = SQ_CONFIG_NAME, .default_text = "default", RELOADS,
           .help = "The stream the messages go to; it must exist (declared here or not)."),
    SOURCE(key_format, .type = SQ_CONFIG_ENUM, .words = sq_source_rules_key_formats,
           .default_text = SQ_SOURCE_DEFAULT_KEY_FORMAT, RELOADS,
           .help = "basic: <source>.<schema>.<table>.<pk>; with_operation: the operation before "
                   "the key."),
    SOURCE(backfill, .type = SQ_CONFIG_BOOL, .default_text = "false", RELOADS,
           .help = "Put the tables' existing rows in the stream first, then the changes."),
};

/* The keys of a webhook source's entry of `sources:`: a `webhook:` mapping in place of
 * `postgres:` (docs/sources.md, "Webhook source"). */
static const sq_config_option webhook_source_options[] = {
    SOURCE(name, .type = SQ_CONFIG_NAME, RELOADS,
           .help = "Required; [a-zA-Z0-9_]+, at most 64 characters, unique: the path "
                   "/api/webhook/<name> and the first token of every key."),
    SOURCE(webhook, .type = SQ_CONFIG_WEBHOOK, .default_text = "{}", RELOADS,
           .help = "key_field or key_header, secret and secret_header, hmac_secret and "
                   "hmac_header: all optional."),
    SOURCE(stream, .type = SQ_CONFIG_NAME, .default_text = "default", RELOADS,
           .help = "The stream the messages go to; it must exist (declared here or not)."),
};

#define N_OPTIONS SQ_ARRAY_LEN(options)
#define N_CONSUMER_OPTIONS SQ_ARRAY_LEN(consumer_options)
#define N_SOURCE_OPTIONS SQ_ARRAY_LEN(source_options)
_Static_assert(N_OPTIONS <= SQ_CONFIG_OPTIONS_MAX, "the loader sizes its arrays by this bound");
_Static_assert(N_CONSUMER_OPTIONS <= SQ_CONFIG_KEYS_MAX,
               "the loader sizes its arrays by this bound");
_Static_assert(N_SOURCE_OPTIONS <= SQ_CONFIG_KEYS_MAX, "the loader sizes its arrays by this bound");

int sq_config_defaults_text(sq_buf *b)
{
    const char *section = NULL;

    for (size_t i = 0; i < N_OPTIONS; i++) {
        const sq_config_option *o = &options[i];
        if (o->section != NULL && (section == NULL || strcmp(section, o->section) != 0)) {
            if (sq_buf_printf(b, "%s:\n", o->section) != 0)
                return -1;
        }
        section = o->section;
        if (sq_buf_printf(b, "%s%s: %s\n", o->section ? "  " : "", o->key, o->default_text) != 0)
            return -1;
    }
    return 0;
}

const sq_config_option *sq_config_options(size_t *count)
{
    if (count != NULL)
        *count = N_OPTIONS;
    return options;
}

const sq_config_option *sq_config_consumer_options(size_t *count)
{
    if (count != NULL)
        *count = N_CONSUMER_OPTIONS;
    return consumer_options;
}

const sq_config_option *sq_config_source_options(size_t *count)
{
    if (count != NULL)
        *count = N_SOURCE_OPTIONS;
    return source_options;
}

const sq_config_option *sq_config_webhook_source_options(size_t *count)
{
    if (count != NULL)
        *count = SQ_ARRAY_LEN(webhook_source_options);
    return webhook_source_options;
}

const sq_config_option *sq_config_option_find(const char *name)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (strcmp(options[i].name, name) == 0)
            return &options[i];
    }
    return NULL;
}

static const void *cfield(const void *base, const sq_config_option *opt)
{
    return (const char *)base + opt->offset;
}

static bool str_equal(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Two lists of strings, in order (a source's tables, a consumer's headers). */
static bool strings_equal(const char *const *a, size_t na, const char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        if (strcmp(a[i], b[i]) != 0)
            return false;
    }
    return true;
}

static bool tables_equal(const sq_config_table_list *a, const sq_config_table_list *b)
{
    return strings_equal(a->items, a->count, b->items, b->count);
}

static bool headers_equal(const sq_config_header_list *a, const sq_config_header_list *b)
{
    return strings_equal(a->items, a->count, b->items, b->count);
}

static bool consumer_equal(const sq_config_consumer *a, const sq_config_consumer *b)
{
    return str_equal(a->name, b->name) && str_equal(a->filter, b->filter) &&
           a->ack_wait_ms == b->ack_wait_ms && a->max_ack_pending == b->max_ack_pending &&
           a->max_deliver == b->max_deliver && a->deliver_policy == b->deliver_policy &&
           a->kind == b->kind && str_equal(a->http_endpoint.url, b->http_endpoint.url) &&
           headers_equal(&a->http_endpoint.headers, &b->http_endpoint.headers) &&
           str_equal(a->http_endpoint.signing_secret, b->http_endpoint.signing_secret) &&
           a->max_waiting == b->max_waiting && a->backoff_base_ms == b->backoff_base_ms &&
           a->backoff_max_ms == b->backoff_max_ms;
}

static bool source_equal(const sq_config_source *a, const sq_config_source *b)
{
    if (a->webhook != NULL || b->webhook != NULL)
        return str_equal(a->name, b->name) && str_equal(a->stream, b->stream) &&
               str_equal(a->webhook, b->webhook);
    return str_equal(a->name, b->name) && str_equal(a->stream, b->stream) &&
           str_equal(a->postgres.url, b->postgres.url) &&
           str_equal(a->postgres.slot, b->postgres.slot) &&
           str_equal(a->postgres.publication, b->postgres.publication) &&
           tables_equal(&a->postgres.tables, &b->postgres.tables) &&
           a->key_format == b->key_format && a->backfill == b->backfill;
}

bool sq_config_option_equal(const sq_config *a, const sq_config *b, const sq_config_option *opt)
{
    const void *x = cfield(a, opt), *y = cfield(b, opt);

    switch (opt->type) {
    case SQ_CONFIG_INT:
    case SQ_CONFIG_ENUM:
        return memcmp(x, y, sizeof(int)) == 0;
    case SQ_CONFIG_BOOL:
        return *(const bool *)x == *(const bool *)y;
    case SQ_CONFIG_STRING:
    case SQ_CONFIG_NAME:
    case SQ_CONFIG_FILTER:
        return str_equal(*(const char *const *)x, *(const char *const *)y);
    case SQ_CONFIG_LISTEN: {
        const sq_config_listen_list *l = x, *m = y;
        if (l->count != m->count)
            return false;
        for (size_t i = 0; i < l->count; i++) {
            if (l->items[i].port != m->items[i].port ||
                strcasecmp(l->items[i].host, m->items[i].host) != 0)
                return false;
        }
        return true;
    }
    case SQ_CONFIG_TOKENS: {
        const sq_config_token_list *l = x, *m = y;
        if (l->count != m->count)
            return false;
        for (size_t i = 0; i < l->count; i++) {
            if (strcmp(l->items[i].name, m->items[i].name) != 0 ||
                memcmp(l->items[i].sha256, m->items[i].sha256, 32) != 0)
                return false;
        }
        return true;
    }
    case SQ_CONFIG_STREAMS: {
        const sq_config_stream_list *l = x, *m = y;
        if (l->count != m->count)
            return false;
        for (size_t i = 0; i < l->count; i++) {
            const sq_config_stream *s = &l->items[i], *t = &m->items[i];
            if (strcmp(s->name, t->name) != 0 || s->n_consumers != t->n_consumers)
                return false;
            for (size_t j = 0; j < s->n_consumers; j++) {
                if (!consumer_equal(&s->consumers[j], &t->consumers[j]))
                    return false;
            }
        }
        return true;
    }
    case SQ_CONFIG_SOURCES: {
        const sq_config_source_list *l = x, *m = y;
        if (l->count != m->count)
            return false;
        for (size_t i = 0; i < l->count; i++) {
            if (!source_equal(&l->items[i], &m->items[i]))
                return false;
        }
        return true;
    }
    case SQ_CONFIG_TABLES:
        return tables_equal(x, y);
    case SQ_CONFIG_HEADERS:
        return headers_equal(x, y);
    case SQ_CONFIG_WEBHOOK:
        return str_equal(*(const char *const *)x, *(const char *const *)y);
    }
    return false;
}
