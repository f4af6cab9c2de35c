/* The option table of the configuration file: every option's name, type, default, whether a
 * reload applies it and where it lands, with the lookups and comparisons made from it. */
#include "config_internal.h"

#include <string.h>
#include <strings.h>

/* Enum options are stored as the index of their word, through an int-sized field. */
_Static_assert(sizeof(sq_log_level) == sizeof(int), "enum options are stored as int");
_Static_assert(sizeof(sq_log_format) == sizeof(int), "enum options are stored as int");
_Static_assert(sizeof(sq_config_deliver_policy) == sizeof(int), "enum options are stored as int");
_Static_assert(SQ_LOG_DEBUG == 0 && SQ_LOG_INFO == 1 && SQ_LOG_WARN == 2 && SQ_LOG_ERROR == 3,
               "log_levels[] is indexed by sq_log_level");
_Static_assert(SQ_LOG_TEXT == 0 && SQ_LOG_JSON == 1, "log_formats[] is indexed by sq_log_format");
_Static_assert(SQ_CONFIG_DELIVER_ALL == 0 && SQ_CONFIG_DELIVER_NEW == 1,
               "deliver_policies[] is indexed by sq_config_deliver_policy");

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const deliver_policies[] = {"all", "new", NULL};

#define CFG(field) offsetof(sq_config, field)
#define CONSUMER(field) offsetof(sq_config_consumer, field)

/*
 * The option table. Order is file order: etc/sequin.yaml and docs/config.md follow it, and the
 * built-in defaults document is generated from it, so the options of one section must be
 * adjacent (a test checks it).
 */
static const sq_config_option options[] = {
    {.name = "listen",
     .key = "listen",
     .type = SQ_CONFIG_LISTEN,
     .default_text = "127.0.0.1:7376",
     .offset = CFG(listen),
     .help = "Addresses to accept HTTP on: host:port, or a list of them (IPv6 as "
             "\"[::1]:7376\", quoted)."},
    {.name = "workers",
     .key = "workers",
     .type = SQ_CONFIG_INT,
     .default_text = "auto",
     .offset = CFG(workers),
     .min = 1,
     .max = 1024,
     .word = "auto",
     .help = "Number of worker processes; auto starts one per CPU."},
    {.name = "shutdown_timeout_ms",
     .key = "shutdown_timeout_ms",
     .type = SQ_CONFIG_INT,
     .default_text = "30000",
     .reloadable = true,
     .offset = CFG(shutdown_timeout_ms),
     .min = 0,
     .max = 3600000,
     .help = "On SIGTERM or SIGINT, how long in-flight requests may run before workers are "
             "stopped."},
    {.name = "database.url",
     .section = "database",
     .key = "url",
     .type = SQ_CONFIG_STRING,
     .default_text = "\"\"",
     .offset = CFG(database.url),
     .help = "libpq connection string or URL; empty uses libpq's PG* environment variables."},
    {.name = "database.connections_per_worker",
     .section = "database",
     .key = "connections_per_worker",
     .type = SQ_CONFIG_INT,
     .default_text = "2",
     .offset = CFG(database.connections_per_worker),
     .min = 1,
     .max = 64,
     .help = "PostgreSQL connections each worker process keeps open."},
    {.name = "auth.tokens",
     .section = "auth",
     .key = "tokens",
     .type = SQ_CONFIG_TOKENS,
     .default_text = "[]",
     .reloadable = true,
     .offset = CFG(auth.tokens),
     .help = "API tokens as {name, sha256} (sequind --hash-token prints the sha256); none "
             "means no authentication."},
    {.name = "auth.allow_anonymous",
     .section = "auth",
     .key = "allow_anonymous",
     .type = SQ_CONFIG_BOOL,
     .default_text = "false",
     .reloadable = true,
     .offset = CFG(auth.allow_anonymous),
     .help = "With no tokens, allow listening on a non-loopback address anyway."},
    {.name = "limits.max_body_bytes",
     .section = "limits",
     .key = "max_body_bytes",
     .type = SQ_CONFIG_INT,
     .default_text = "16777216",
     .reloadable = true,
     .offset = CFG(limits.max_body_bytes),
     .min = 1024,
     .max = 1073741824,
     .help = "Largest request body; a larger one is answered 413."},
    {.name = "limits.max_message_bytes",
     .section = "limits",
     .key = "max_message_bytes",
     .type = SQ_CONFIG_INT,
     .default_text = "1048576",
     .reloadable = true,
     .offset = CFG(limits.max_message_bytes),
     .min = 1,
     .max = 1073741824,
     .help = "Largest data of one message; at most max_body_bytes."},
    {.name = "limits.max_request_line_bytes",
     .section = "limits",
     .key = "max_request_line_bytes",
     .type = SQ_CONFIG_INT,
     .default_text = "8192",
     .reloadable = true,
     .offset = CFG(limits.max_request_line_bytes),
     .min = 1024,
     .max = 65536,
     .help = "Longest request line (method, path, query); a longer one is answered 414."},
    {.name = "limits.max_header_bytes",
     .section = "limits",
     .key = "max_header_bytes",
     .type = SQ_CONFIG_INT,
     .default_text = "32768",
     .reloadable = true,
     .offset = CFG(limits.max_header_bytes),
     .min = 1024,
     .max = 1048576,
     .help = "Total size of a request's header fields; more is answered 431."},
    {.name = "limits.max_headers",
     .section = "limits",
     .key = "max_headers",
     .type = SQ_CONFIG_INT,
     .default_text = "100",
     .reloadable = true,
     .offset = CFG(limits.max_headers),
     .min = 8,
     .max = 1000,
     .help = "Most header fields in one request; more is answered 431."},
    {.name = "limits.idle_timeout_ms",
     .section = "limits",
     .key = "idle_timeout_ms",
     .type = SQ_CONFIG_INT,
     .default_text = "60000",
     .reloadable = true,
     .offset = CFG(limits.idle_timeout_ms),
     .min = 1000,
     .max = 3600000,
     .help = "A keep-alive connection idle this long is closed."},
    {.name = "limits.header_timeout_ms",
     .section = "limits",
     .key = "header_timeout_ms",
     .type = SQ_CONFIG_INT,
     .default_text = "10000",
     .reloadable = true,
     .offset = CFG(limits.header_timeout_ms),
     .min = 100,
     .max = 600000,
     .help = "Time allowed to receive a request's line and headers once it has started."},
    {.name = "limits.body_timeout_ms",
     .section = "limits",
     .key = "body_timeout_ms",
     .type = SQ_CONFIG_INT,
     .default_text = "30000",
     .reloadable = true,
     .offset = CFG(limits.body_timeout_ms),
     .min = 100,
     .max = 3600000,
     .help = "Time allowed to receive a request's whole body."},
    {.name = "log.level",
     .section = "log",
     .key = "level",
     .type = SQ_CONFIG_ENUM,
     .default_text = "info",
     .reloadable = true,
     .offset = CFG(log.level),
     .words = log_levels,
     .help = "Lines below this level are not written: debug, info, warn or error."},
    {.name = "log.format",
     .section = "log",
     .key = "format",
     .type = SQ_CONFIG_ENUM,
     .default_text = "text",
     .reloadable = true,
     .offset = CFG(log.format),
     .words = log_formats,
     .help = "text or json lines, to stderr (journald under systemd)."},
    {.name = "streams",
     .key = "streams",
     .type = SQ_CONFIG_STREAMS,
     .default_text = "[{name: default}]",
     .reloadable = true,
     .offset = CFG(streams),
     .help = "Streams created at start, each with the consumers declared for it; the stream "
             "default always exists."},
};

/* The keys of one entry of `consumers:`. name and filter first: they have no default. */
static const sq_config_option consumer_options[] = {
    {.name = "name",
     .key = "name",
     .type = SQ_CONFIG_NAME,
     .reloadable = true,
     .offset = CONSUMER(name),
     .help = "Required; [a-zA-Z0-9_]+, at most 64 characters, unique in its stream."},
    {.name = "filter",
     .key = "filter",
     .type = SQ_CONFIG_FILTER,
     .reloadable = true,
     .offset = CONSUMER(filter),
     .help = "Required filter_key_pattern (SPEC section 2); it cannot be changed later."},
    {.name = "ack_wait_ms",
     .key = "ack_wait_ms",
     .type = SQ_CONFIG_INT,
     .default_text = "30000",
     .reloadable = true,
     .offset = CONSUMER(ack_wait_ms),
     .min = 500,
     .max = 3600000,
     .help = "How long a received message stays invisible to other receivers unless acked."},
    {.name = "max_ack_pending",
     .key = "max_ack_pending",
     .type = SQ_CONFIG_INT,
     .default_text = "10000",
     .reloadable = true,
     .offset = CONSUMER(max_ack_pending),
     .min = 1,
     .max = 1000000,
     .help = "Most messages leased at once."},
    {.name = "max_deliver",
     .key = "max_deliver",
     .type = SQ_CONFIG_INT,
     .default_text = "none",
     .reloadable = true,
     .offset = CONSUMER(max_deliver),
     .min = 1,
     .max = 1000,
     .word = "none",
     .help = "Deliveries before a message goes dead; none means no limit."},
    {.name = "deliver_policy",
     .key = "deliver_policy",
     .type = SQ_CONFIG_ENUM,
     .default_text = "all",
     .reloadable = true,
     .offset = CONSUMER(deliver_policy),
     .words = deliver_policies,
     .help = "all: the whole matching backlog; new: only messages upserted after creation."},
};

#define N_OPTIONS SQ_ARRAY_LEN(options)
#define N_CONSUMER_OPTIONS SQ_ARRAY_LEN(consumer_options)
_Static_assert(N_OPTIONS <= SQ_CONFIG_OPTIONS_MAX, "the loader sizes its arrays by this bound");
_Static_assert(N_CONSUMER_OPTIONS <= SQ_CONFIG_KEYS_MAX,
               "the loader sizes its arrays by this bound");

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

static bool consumer_equal(const sq_config_consumer *a, const sq_config_consumer *b)
{
    return str_equal(a->name, b->name) && str_equal(a->filter, b->filter) &&
           a->ack_wait_ms == b->ack_wait_ms && a->max_ack_pending == b->max_ack_pending &&
           a->max_deliver == b->max_deliver && a->deliver_policy == b->deliver_policy;
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
    }
    return false;
}
