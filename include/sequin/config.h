/* The configuration file (SPEC section 5): one declarative table of options, loaded with
 * libyaml into an sq_config that owns all its memory, with errors that name file:line:column. */
#ifndef SEQUIN_CONFIG_H
#define SEQUIN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "sequin/buf.h"
#include "sequin/common.h"
#include "sequin/log.h"

#define SQ_CONFIG_DEFAULT_PORT 7376
#define SQ_CONFIG_NAME_MAX 64        /* stream, consumer and source names, bytes */
#define SQ_CONFIG_TOKEN_NAME_MAX 64  /* auth token names, bytes */
#define SQ_CONFIG_FILE_MAX (1 << 20) /* a config file larger than this is refused */

/* The kinds of value an option takes; see docs/config.md for the YAML each accepts. */
typedef enum sq_config_type {
    SQ_CONFIG_INT,     /* decimal integer in [min, max], or `word` (stored as 0) if set */
    SQ_CONFIG_BOOL,    /* true or false */
    SQ_CONFIG_STRING,  /* any scalar, "" allowed unless `check` refuses it */
    SQ_CONFIG_ENUM,    /* one of `words`, stored as its index (an int-sized enum) */
    SQ_CONFIG_NAME,    /* [a-zA-Z0-9_]+, at most SQ_CONFIG_NAME_MAX bytes */
    SQ_CONFIG_FILTER,  /* a consumer filter, checked with sq_filter_validate */
    SQ_CONFIG_LISTEN,  /* host:port, or a list of them: an sq_config_listen_list */
    SQ_CONFIG_TOKENS,  /* list of {name, sha256}: an sq_config_token_list */
    SQ_CONFIG_STREAMS, /* list of {name, consumers}: an sq_config_stream_list */
    SQ_CONFIG_SOURCES, /* list of {name, postgres, stream, ...}: an sq_config_source_list */
    SQ_CONFIG_TABLES,  /* list of a source's table names: an sq_config_table_list */
    SQ_CONFIG_HEADERS, /* mapping of HTTP header names to values: an sq_config_header_list */
    SQ_CONFIG_WEBHOOK, /* a webhook source's settings mapping: its canonical settings JSON
                        * (sq_webhook_settings_write), a const char * */
} sq_config_type;

/*
 * One row of the option table. The table is the single source of truth: the loader accepts
 * exactly these keys, the defaults are made by parsing `default_text` with the same code that
 * parses the file, and the tests check etc/sequin.yaml and docs/config.md against it.
 */
typedef struct sq_config_option {
    const char *name;    /* dotted: "limits.max_body_bytes"; a consumer key: "ack_wait_ms"; a
                          * source key: "key_format", "postgres.slot" */
    const char *section; /* "limits", "postgres", or NULL for a key of no section */
    const char *key;     /* the last component: "max_body_bytes" */
    sq_config_type type;
    const char *default_text; /* YAML text of the default, as etc/sequin.yaml shows it;
                               * NULL for a required key (consumer name and filter) */
    bool reloadable;          /* applied by SIGHUP; otherwise it needs a restart */
    size_t offset;            /* where the value lands in sq_config (sq_config_consumer) */
    long long min, max;       /* SQ_CONFIG_INT */
    const char *word;         /* SQ_CONFIG_INT: a word accepted in place of a number, or NULL */
    const char *const *words; /* SQ_CONFIG_ENUM: the accepted words, NULL-terminated */
    /* SQ_CONFIG_STRING: NULL, or the rule of the value (`len` bytes at `s`): NULL when it is
     * valid, else the rule it breaks as a phrase that follows the option's name in a message */
    const char *(*check)(const char *s, size_t len);
    const char *help; /* one line, for docs and --check-config */
} sq_config_option;

/* One listening address. */
typedef struct sq_config_listen {
    const char *address; /* as written: "127.0.0.1:7376", "[::1]:7376", "localhost:80" */
    const char *host;    /* without brackets: "127.0.0.1", "::1", "localhost" */
    int port;            /* 1..65535 */
    bool ipv6;           /* the host was written in brackets (an IPv6 literal) */
    int line, column;    /* where it was written, for bind errors */
} sq_config_listen;

typedef struct sq_config_listen_list {
    sq_config_listen *items;
    size_t count; /* at least 1 */
} sq_config_listen_list;

/* An API token, declared by the SHA-256 of its secret (sequind --hash-token). */
typedef struct sq_config_token {
    const char *name;         /* unique, 1..SQ_CONFIG_TOKEN_NAME_MAX printable ASCII bytes */
    char sha256_hex[65];      /* 64 lowercase hex digits */
    unsigned char sha256[32]; /* the same digest as bytes, for constant-time comparison */
} sq_config_token;

typedef struct sq_config_token_list {
    sq_config_token *items;
    size_t count;
} sq_config_token_list;

typedef enum sq_config_deliver_policy {
    SQ_CONFIG_DELIVER_ALL = 0, /* the whole matching backlog */
    SQ_CONFIG_DELIVER_NEW = 1, /* only messages upserted after the consumer was created */
} sq_config_deliver_policy;

typedef enum sq_config_consumer_kind {
    SQ_CONFIG_PULL = 0, /* workers receive and ack */
    SQ_CONFIG_PUSH = 1, /* messages are POSTed to http_endpoint (issue 15) */
} sq_config_consumer_kind;

/* A push consumer's headers, each "Name: value" (checked by sequin/push_rules.h). */
typedef struct sq_config_header_list {
    const char **items;
    size_t count;
} sq_config_header_list;

/* A consumer declared in the file (managed_by "config"). */
typedef struct sq_config_consumer {
    const char *name;
    const char *filter;
    int ack_wait_ms;
    int max_ack_pending;
    int max_deliver; /* 0: no limit */
    sq_config_deliver_policy deliver_policy;
    sq_config_consumer_kind kind;
    struct {
        const char *url; /* "" for a pull consumer; a push consumer's is never empty */
        sq_config_header_list headers;
        const char *signing_secret; /* "": none */
    } http_endpoint;
    int max_waiting; /* a push consumer's; lowered to max_ack_pending when above it */
    int backoff_base_ms, backoff_max_ms;
    int line, column; /* of the consumer's mapping, for reconcile messages */
} sq_config_consumer;

typedef struct sq_config_stream {
    const char *name;
    sq_config_consumer *consumers;
    size_t n_consumers;
    int line, column; /* 0 for the `default` stream when the file does not declare it */
} sq_config_stream;

typedef struct sq_config_stream_list {
    sq_config_stream *items; /* names are unique; one of them is always "default" */
    size_t count;
} sq_config_stream_list;

/* The tables a source lists, each as "schema.table". */
typedef struct sq_config_table_list {
    const char **items;
    size_t count;
} sq_config_table_list;

/*
 * A source declared in the file (managed_by "config"): a postgres source's settings, checked by
 * the rules its settings JSON is checked by (sequin/source_rules.h), defaults filled in.
 */
typedef struct sq_config_source {
    const char *name;
    const char *webhook; /* a webhook source (a `webhook:` mapping in place of `postgres:`): its
                          * settings JSON, canonical; NULL for a postgres source, which alone
                          * has the members below but `stream` */
    struct {
        const char *url; /* never empty */
        const char *slot;
        const char *publication;
        sq_config_table_list tables; /* may be empty: the existing publication's tables */
    } postgres;
    const char *stream; /* need not be declared in the file: it may exist in the database */
    int key_format;     /* the index of its word in sq_source_rules_key_formats: an sq_key_format */
    bool backfill;
    int line, column; /* of the source's mapping, for reconcile messages */
} sq_config_source;

typedef struct sq_config_source_list {
    sq_config_source *items; /* names are unique */
    size_t count;
} sq_config_source_list;

/*
 * A loaded configuration. Every pointer in it (strings, lists) is owned by the sq_config and
 * stays valid until sq_config_free. It is never modified after loading, so it can be shared
 * read-only; a reload loads a new one and swaps it in.
 */
typedef struct sq_config {
    const char *source; /* the file or buffer name it was loaded from */
    sq_config_listen_list listen;
    int workers;             /* 0: auto, the server starts one per CPU */
    int shutdown_timeout_ms; /* graceful-stop deadline */
    struct {
        const char *url; /* "" means libpq's PG* environment variables */
        int connections_per_worker;
    } database;
    struct {
        sq_config_token_list tokens;
        bool allow_anonymous;
    } auth;
    struct {
        int max_body_bytes;
        int max_message_bytes;
        int max_request_line_bytes;
        int max_header_bytes;
        int max_headers;
        int idle_timeout_ms;
        int header_timeout_ms;
        int body_timeout_ms;
    } limits;
    struct {
        sq_log_level level;
        sq_log_format format;
    } log;
    sq_config_stream_list streams;
    sq_config_source_list sources;
    sq_arena arena; /* private: owns everything above */
} sq_config;

/*
 * A load error. `file` is the name given to the loader; `line` and `column` are 1-based and
 * both 0 when the error is not about a place in the text (the file cannot be read, ENOMEM).
 * Plain data: copy it, keep it, no release needed.
 */
typedef struct sq_config_error {
    char file[1024];
    int line;
    int column;
    char message[512];
} sq_config_error;

/*
 * Reads and validates the file at `path` (at most SQ_CONFIG_FILE_MAX bytes). An empty file,
 * or one with only comments, gives all the defaults. On success returns 0 and stores a new
 * sq_config in *out, which the caller releases with sq_config_free. On failure returns -1,
 * sets *out to NULL, allocates nothing, and fills *err (if not NULL) with the first error.
 */
SQ_WUR int sq_config_load_file(const char *path, sq_config **out, sq_config_error *err);

/*
 * Same as sq_config_load_file for `len` bytes at `data` (not necessarily NUL-terminated; the
 * loader reads exactly `len` bytes). `name` is used in error messages and as cfg->source; it
 * is copied.
 */
SQ_WUR int sq_config_load_buffer(const char *name, const char *data, size_t len, sq_config **out,
                                 sq_config_error *err);

/* The configuration of an empty file: every option at its default. 0, or -1 on ENOMEM (then
 * *out is NULL). Release with sq_config_free. */
SQ_WUR int sq_config_defaults(sq_config **out);

/* Releases a configuration and everything it owns. NULL is a no-op. */
void sq_config_free(sq_config *cfg);

/*
 * The option table, in file order, and its length in *count (count may be NULL). The rows
 * are static: valid forever. Consumer keys are in their own table (their values land in an
 * sq_config_consumer, and `name` and `filter` are required), and so are a source's (they land
 * in an sq_config_source; `name` and `postgres.url` are required; the rows of section
 * "postgres" are the keys of the source's `postgres:` mapping).
 */
const sq_config_option *sq_config_options(size_t *count);
const sq_config_option *sq_config_consumer_options(size_t *count);
const sq_config_option *sq_config_source_options(size_t *count);
/* A webhook source's keys (an entry of `sources:` with a `webhook:` mapping): `name`, `webhook`
 * (its settings, checked by sq_webhook_settings_read) and `stream`. */
const sq_config_option *sq_config_webhook_source_options(size_t *count);

/* The row of the option with dotted name `name`, or NULL if there is none. */
const sq_config_option *sq_config_option_find(const char *name);

/*
 * True if `a` and `b` hold the same value for option `opt` (a row of sq_config_options).
 * A reload uses it to tell which non-reloadable options changed and so need a restart.
 */
bool sq_config_option_equal(const sq_config *a, const sq_config *b, const sq_config_option *opt);

/* The stream named `name`, or NULL. The pointer lives as long as `cfg`. */
const sq_config_stream *sq_config_find_stream(const sq_config *cfg, const char *name);

/* The source named `name`, or NULL. The pointer lives as long as `cfg`. */
const sq_config_source *sq_config_find_source(const sq_config *cfg, const char *name);

/*
 * Writes "file:line:column: message" (or "file: message" when the error has no place) into
 * `buf` of `size` bytes, truncating if needed, always NUL-terminated when size > 0. Returns
 * `buf`, so it can be passed straight to a log call.
 */
const char *sq_config_error_format(const sq_config_error *err, char *buf, size_t size);

#endif
