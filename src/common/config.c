/* Loads the configuration file into an sq_config, driven by one table of options, with every
 * error pinned to file:line:column. */
#include "sequin/config.h"
#include "sequin/text.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "sequin/keys.h"

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

/* Only five levels are meaningful (top, streams, stream, consumers, consumer); the cap keeps
 * a hostile file from building an arbitrarily deep tree. */
#define MAX_DEPTH 16
/* Longest user text quoted back in an error message. */
#define QUOTE_MAX 60
#define QBUF (QUOTE_MAX * 4 + 8)

/* ---- the YAML tree --------------------------------------------------------------------- */

typedef enum node_kind {
    NODE_SCALAR,
    NODE_SEQ,
    NODE_MAP,
} node_kind;

/*
 * libyaml's events turned into a tree, because several checks need to look ahead (a stream's
 * name may come after its consumers) and back (duplicates name the first definition's line).
 * A mapping's children alternate key, value.
 */
typedef struct node {
    node_kind kind;
    bool plain; /* a scalar written without quotes: only those can be numbers, booleans, null */
    int line;   /* 1-based */
    int col;
    const char *text; /* scalar, NUL-terminated and free of NUL bytes */
    size_t len;
    size_t count; /* children */
    struct node *child;
    struct node *last;
    struct node *next;
} node;

typedef struct loader {
    const char *name; /* for error messages */
    const char *data; /* the text being parsed, to place libyaml's reader errors */
    size_t len;
    sq_config_error *err;
    sq_config *cfg;
    sq_arena tmp;            /* the tree of the document being applied */
    int pos_line[N_OPTIONS]; /* where the file set each option (0: it did not) */
    int pos_col[N_OPTIONS];
} loader;

/* A key a mapping accepts; `opt` is NULL for sections and for keys handled by hand. */
typedef struct allowed_key {
    const char *name;
    const sq_config_option *opt;
} allowed_key;

/* ---- errors ---------------------------------------------------------------------------- */

static SQ_PRINTF(4, 5) int fail_at(loader *ld, int line, int col, const char *fmt, ...)
{
    sq_config_error *e = ld->err;
    va_list ap;

    snprintf(e->file, sizeof e->file, "%s", ld->name);
    e->line = line;
    e->column = col;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

#define fail_node(ld, n, ...) fail_at((ld), (n)->line, (n)->col, __VA_ARGS__)

static int out_of_memory(loader *ld)
{
    return fail_at(ld, 0, 0, "out of memory");
}

/* Writes `s` double-quoted and escaped, shortened past QUOTE_MAX characters, so that any
 * bytes from the file can be shown in a one-line message. Returns buf (QBUF bytes). */
static const char *quote(char *buf, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    buf[o++] = '"';
    for (size_t i = 0; i < len && i < QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    if (len > QUOTE_MAX) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

static bool is_null(const node *n)
{
    if (n->kind != NODE_SCALAR || !n->plain)
        return false;
    return n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
           strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0;
}

/* What a node is, for "got ..." at the end of a message. */
static const char *describe(char *buf, const node *n)
{
    if (n->kind == NODE_MAP)
        return "a mapping";
    if (n->kind == NODE_SEQ)
        return "a sequence";
    if (n->plain && n->len == 0)
        return "nothing (null)";
    return quote(buf, n->text, n->len);
}

/* ---- building the tree from libyaml events --------------------------------------------- */

static int syntax_error(loader *ld, const yaml_parser_t *p)
{
    size_t line = p->problem_mark.line + 1;
    size_t col = p->problem_mark.column + 1;
    const char *problem = p->problem ? p->problem : "unknown error";

    if (p->error == YAML_MEMORY_ERROR)
        return out_of_memory(ld);
    if (p->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark: count lines up to it. */
        size_t off = p->problem_offset < ld->len ? p->problem_offset : ld->len;
        line = 1;
        col = 1;
        for (size_t i = 0; i < off; i++) {
            if (ld->data[i] == '\n') {
                line++;
                col = 1;
            } else if (((unsigned char)ld->data[i] & 0xc0) != 0x80) {
                col++;
            }
        }
        if (p->problem_value >= 0)
            return fail_at(ld, (int)line, (int)col,
                           "invalid text: %s (0x%02x); the file must be UTF-8 without control "
                           "characters",
                           problem, (unsigned)p->problem_value);
        return fail_at(ld, (int)line, (int)col, "invalid text: %s", problem);
    }

    /* `listen: [::1]:7376` is the likeliest syntax error of all: '[' opens a YAML list. */
    const char *hint = "";
    const char *s = ld->data;
    const char *end = ld->data + ld->len;
    for (size_t l = 1; l < line && s < end; l++) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        s = nl ? nl + 1 : end;
    }
    const char *eol = memchr(s, '\n', (size_t)(end - s));
    size_t linelen = eol ? (size_t)(eol - s) : (size_t)(end - s);
    if (memmem(s, linelen, "]:", 2) != NULL && memchr(s, '[', linelen) != NULL)
        hint = " (an IPv6 address must be quoted: \"[::1]:7376\")";
    /* `filter: *` and `{filter: >}` are the next likeliest: '*' starts a YAML alias, '>' a
     * folded block. */
    if (memmem(s, linelen, "filter:", 7) != NULL &&
        (memchr(s, '*', linelen) != NULL || memchr(s, '>', linelen) != NULL))
        hint = " (a filter with wildcards must be quoted: filter: \"orders.>\")";

    if (p->context != NULL)
        return fail_at(ld, (int)line, (int)col,
                       "YAML syntax error: %s %s that started at line %zu, column %zu%s", problem,
                       p->context, p->context_mark.line + 1, p->context_mark.column + 1, hint);
    return fail_at(ld, (int)line, (int)col, "YAML syntax error: %s%s", problem, hint);
}

/* A new tree node at `mark`; reports ENOMEM itself (then NULL). */
static node *new_node(loader *ld, node_kind kind, const yaml_mark_t *mark)
{
    node *n = sq_arena_calloc(&ld->tmp, 1, sizeof *n);
    if (n == NULL) {
        out_of_memory(ld);
        return NULL;
    }
    n->kind = kind;
    n->line = (int)(mark->line + 1);
    n->col = (int)(mark->column + 1);
    return n;
}

static node *new_scalar(loader *ld, const yaml_event_t *ev)
{
    node *n = new_node(ld, NODE_SCALAR, &ev->start_mark);
    if (n == NULL)
        return NULL;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    n->len = ev->data.scalar.length;
    n->text = sq_arena_strndup(&ld->tmp, (const char *)ev->data.scalar.value, n->len);
    if (n->text == NULL) {
        out_of_memory(ld);
        return NULL;
    }
    return n;
}

/* Anchors and tags are refused: aliases would let a small file expand into a huge tree (and
 * make a value mean two places at once for error messages), and no option needs a tag. */
static int refuse_anchor_tag(loader *ld, const yaml_event_t *ev, const yaml_char_t *anchor,
                             const yaml_char_t *tag)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    char q[QBUF];

    if (anchor != NULL)
        return fail_at(ld, line, col, "anchors (&%.*s) are not supported in the config file",
                       QUOTE_MAX, (const char *)anchor);
    if (tag != NULL)
        return fail_at(ld, line, col, "tags (%s) are not supported in the config file",
                       quote(q, (const char *)tag, strlen((const char *)tag)));
    return 0;
}

/* Parses `ld->data` into a tree in ld->tmp. *root is NULL for a text without a document. */
static int parse_tree(loader *ld, node **root)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    bool have_event = false;
    node *stack[MAX_DEPTH];
    size_t depth = 0;
    int documents = 0;
    bool done = false;
    int rc = -1;

    *root = NULL;
    if (!yaml_parser_initialize(&parser))
        return out_of_memory(ld);
    yaml_parser_set_input_string(&parser, (const unsigned char *)(ld->data ? ld->data : ""),
                                 ld->len);
    while (!done) {
        node *n = NULL;
        if (!yaml_parser_parse(&parser, &ev)) {
            syntax_error(ld, &parser);
            goto fail;
        }
        have_event = true;
        int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++documents > 1) {
                fail_at(ld, line, col,
                        "a config file holds one YAML document, a second one starts here");
                goto fail;
            }
            break;
        case YAML_ALIAS_EVENT:
            fail_at(ld, line, col, "aliases (*%.*s) are not supported in the config file",
                    QUOTE_MAX, (const char *)ev.data.alias.anchor);
            goto fail;
        case YAML_SCALAR_EVENT:
            if (refuse_anchor_tag(ld, &ev, ev.data.scalar.anchor, ev.data.scalar.tag))
                goto fail;
            if (memchr(ev.data.scalar.value, '\0', ev.data.scalar.length) != NULL) {
                fail_at(ld, line, col, "a NUL character is not allowed in the config file");
                goto fail;
            }
            n = new_scalar(ld, &ev);
            if (n == NULL)
                goto fail;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            bool seq = ev.type == YAML_SEQUENCE_START_EVENT;
            if (refuse_anchor_tag(
                    ld, &ev, seq ? ev.data.sequence_start.anchor : ev.data.mapping_start.anchor,
                    seq ? ev.data.sequence_start.tag : ev.data.mapping_start.tag))
                goto fail;
            if (depth == MAX_DEPTH) {
                fail_at(ld, line, col, "the config file nests deeper than %d levels", MAX_DEPTH);
                goto fail;
            }
            n = new_node(ld, seq ? NODE_SEQ : NODE_MAP, &ev.start_mark);
            if (n == NULL)
                goto fail;
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--; /* libyaml only emits balanced events */
            break;
        default:
            break;
        }
        if (n != NULL) {
            if (depth == 0) {
                *root = n;
            } else {
                node *parent = stack[depth - 1];
                if (parent->last != NULL)
                    parent->last->next = n;
                else
                    parent->child = n;
                parent->last = n;
                parent->count++;
            }
            if (n->kind != NODE_SCALAR)
                stack[depth++] = n;
        }
        yaml_event_delete(&ev);
        have_event = false;
    }
    rc = 0;
fail:
    if (have_event)
        yaml_event_delete(&ev);
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- keys of a mapping ----------------------------------------------------------------- */

/* Edit distance, to suggest the key that was probably meant; long inputs are not compared. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[65];

    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/*
 * Returns the index in `allowed` of the key node `k`, or -1 after reporting an unknown key,
 * a duplicate (seen[] holds the line of each key met so far, 0 if none) or a non-scalar key.
 */
static int match_key(loader *ld, const node *k, const allowed_key *allowed, size_t n, int *seen,
                     const char *where)
{
    char q[QBUF], q2[QBUF];

    if (k->kind != NODE_SCALAR)
        return fail_node(ld, k, "a key must be a word, got %s %s", describe(q, k), where);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(k->text, allowed[i].name) != 0)
            continue;
        if (seen[i] != 0)
            return fail_node(ld, k, "duplicate key %s %s (first defined at line %d)",
                             quote(q, k->text, k->len), where, seen[i]);
        seen[i] = k->line;
        return (int)i;
    }

    const sq_config_option *dotted = sq_config_option_find(k->text);
    if (dotted != NULL && dotted->section != NULL)
        return fail_node(ld, k, "unknown key %s %s (write it nested: %s: {%s: ...})",
                         quote(q, k->text, k->len), where, dotted->section, dotted->key);
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t d = distance(k->text, allowed[i].name);
        size_t limit = strlen(allowed[i].name) / 3;
        if (d <= (limit < 1 ? 1 : limit) && d < best_d) {
            best = allowed[i].name;
            best_d = d;
        }
    }
    if (best != NULL)
        return fail_node(ld, k, "unknown key %s %s (did you mean %s?)", quote(q, k->text, k->len),
                         where, quote(q2, best, strlen(best)));
    return fail_node(ld, k, "unknown key %s %s", quote(q, k->text, k->len), where);
}

/* Checks every key of mapping `m` and stores each value node in vals[] (NULL if absent). */
static int collect(loader *ld, const node *m, const allowed_key *allowed, size_t n,
                   const node **vals, const char *where)
{
    int seen[N_CONSUMER_OPTIONS > 8 ? N_CONSUMER_OPTIONS : 8] = {0};

    if (n > SQ_ARRAY_LEN(seen))
        return fail_node(ld, m, "internal error: too many keys for %s", where);
    for (size_t i = 0; i < n; i++)
        vals[i] = NULL;
    for (const node *k = m->child; k != NULL; k = k->next->next) {
        int idx = match_key(ld, k, allowed, n, seen, where);
        if (idx < 0)
            return -1;
        vals[idx] = k->next;
    }
    return 0;
}

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

static void *field(void *base, const sq_config_option *opt)
{
    return (char *)base + opt->offset;
}

static const void *cfield(const void *base, const sq_config_option *opt)
{
    return (const char *)base + opt->offset;
}

static int apply_listen(loader *ld, const sq_config_option *opt, const node *v, void *base);
static int apply_tokens(loader *ld, const sq_config_option *opt, const node *v, void *base);
static int apply_streams(loader *ld, const sq_config_option *opt, const node *v, void *base);

/* Stores scalar option `opt` from node `v` into `base`; `label` names it in messages. */
static int apply_option(loader *ld, const sq_config_option *opt, const char *label, const node *v,
                        void *base)
{
    char q[QBUF];

    switch (opt->type) {
    case SQ_CONFIG_INT: {
        char expect[96];
        long long x = 0;
        if (opt->word != NULL)
            snprintf(expect, sizeof expect, "\"%s\" or an integer %lld..%lld", opt->word, opt->min,
                     opt->max);
        else
            snprintf(expect, sizeof expect, "an integer %lld..%lld", opt->min, opt->max);
        if (v->kind != NODE_SCALAR)
            return fail_node(ld, v, "%s must be %s, got %s", label, expect, describe(q, v));
        if (opt->word != NULL && strcmp(v->text, opt->word) == 0) {
            *(int *)field(base, opt) = 0;
            return 0;
        }
        bool number = parse_int(v->text, &x) == 0;
        if (number && !v->plain)
            return fail_node(ld, v,
                             "%s must be %s, got the quoted string %s (write numbers "
                             "without quotes)",
                             label, expect, quote(q, v->text, v->len));
        if (!number || x < opt->min || x > opt->max)
            return fail_node(ld, v, "%s must be %s, got %s", label, expect, describe(q, v));
        *(int *)field(base, opt) = (int)x;
        return 0;
    }
    case SQ_CONFIG_BOOL: {
        bool t = v->kind == NODE_SCALAR &&
                 (strcmp(v->text, "true") == 0 || strcmp(v->text, "True") == 0 ||
                  strcmp(v->text, "TRUE") == 0);
        bool f = v->kind == NODE_SCALAR &&
                 (strcmp(v->text, "false") == 0 || strcmp(v->text, "False") == 0 ||
                  strcmp(v->text, "FALSE") == 0);
        if ((t || f) && !v->plain)
            return fail_node(ld, v,
                             "%s must be true or false, got the quoted string %s (write "
                             "it without quotes)",
                             label, quote(q, v->text, v->len));
        if (!t && !f)
            return fail_node(ld, v, "%s must be true or false, got %s", label, describe(q, v));
        *(bool *)field(base, opt) = t;
        return 0;
    }
    case SQ_CONFIG_STRING:
    case SQ_CONFIG_NAME:
    case SQ_CONFIG_FILTER: {
        const char *why = NULL;
        if (v->kind != NODE_SCALAR || is_null(v))
            return fail_node(ld, v, "%s must be a string, got %s", label, describe(q, v));
        if (opt->type == SQ_CONFIG_NAME && !sq_name_is_valid(v->text, v->len))
            return fail_node(ld, v, "%s must be 1..%d characters of a-z, A-Z, 0-9 and _, got %s",
                             label, SQ_CONFIG_NAME_MAX, describe(q, v));
        if (opt->type == SQ_CONFIG_FILTER && sq_filter_validate(v->text, v->len, &why) != 0) {
            /* An unquoted `filter: >` is a YAML folded block: empty, or the next line. */
            bool block = !v->plain && (v->len == 0 || memchr(v->text, '\n', v->len) != NULL);
            return fail_node(ld, v, "%s is not a valid filter: %s; got %s%s", label,
                             why ? why : "invalid", describe(q, v),
                             block ? " (a filter with wildcards must be quoted: filter: "
                                     "\"orders.>\")"
                                   : "");
        }
        char *s = sq_arena_strndup(&ld->cfg->arena, v->text, v->len);
        if (s == NULL)
            return out_of_memory(ld);
        *(const char **)field(base, opt) = s;
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
        if (v->kind == NODE_SCALAR) {
            for (int i = 0; opt->words[i] != NULL; i++) {
                if (strcmp(v->text, opt->words[i]) == 0) {
                    memcpy(field(base, opt), &i, sizeof i);
                    return 0;
                }
            }
        }
        return fail_node(ld, v, "%s must be one of %s; got %s", label, expect, describe(q, v));
    }
    case SQ_CONFIG_LISTEN:
        return apply_listen(ld, opt, v, base);
    case SQ_CONFIG_TOKENS:
        return apply_tokens(ld, opt, v, base);
    case SQ_CONFIG_STREAMS:
        return apply_streams(ld, opt, v, base);
    }
    return fail_node(ld, v, "internal error: option %s has an unknown type", opt->name);
}

/* ---- listen ---------------------------------------------------------------------------- */

static bool is_hostname(const char *s, size_t len)
{
    size_t label = 0;

    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
                return false;
            label = 0;
            continue;
        }
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
        label++;
    }
    return true;
}

/*
 * Splits "host:port" or "[v6]:port" into the host (offset and length in s) and the port.
 * Returns NULL, or the rule that the address breaks.
 */
static const char *parse_address(const char *s, size_t len, size_t *host_off, size_t *host_len,
                                 int *port, bool *v6)
{
    char buf[64];
    size_t p;

    *v6 = false;
    if (len == 0)
        return "it is empty";
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (rb == NULL)
            return "the '[' of an IPv6 address is not closed by ']'";
        *host_off = 1;
        *host_len = (size_t)(rb - s) - 1;
        *v6 = true;
        if (*host_len == 0 || *host_len >= sizeof buf)
            return "the host in brackets is not an IPv6 address";
        memcpy(buf, s + 1, *host_len);
        buf[*host_len] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, buf, &a6) != 1)
            return "the host in brackets is not an IPv6 address";
        p = (size_t)(rb - s) + 1;
        if (p == len)
            return "it has no port (write [ADDRESS]:PORT, e.g. [::1]:7376)";
        if (s[p] != ':')
            return "']' must be followed by ':' and the port";
        p++;
    } else {
        size_t colon = len;
        for (size_t i = len; i > 0; i--) {
            if (s[i - 1] == ':') {
                colon = i - 1;
                break;
            }
        }
        if (colon == len)
            return "it has no port (write HOST:PORT, e.g. 127.0.0.1:7376)";
        if (memchr(s, ':', colon) != NULL)
            return "an IPv6 address must be written in brackets, e.g. [::1]:7376";
        if (colon == 0)
            return "it has no host (0.0.0.0:PORT listens on every IPv4 address)";
        *host_off = 0;
        *host_len = colon;
        bool numeric = true;
        for (size_t i = 0; i < colon; i++)
            numeric = numeric && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.');
        if (numeric) {
            struct in_addr a4;
            if (colon >= sizeof buf)
                return "the host is not a valid IPv4 address";
            memcpy(buf, s, colon);
            buf[colon] = '\0';
            if (inet_pton(AF_INET, buf, &a4) != 1)
                return "the host is not a valid IPv4 address";
        } else if (!is_hostname(s, colon)) {
            return "the host is not an IPv4 address, a hostname or a bracketed IPv6 address";
        }
        p = colon + 1;
    }
    if (len - p == 0 || len - p > 5 || s[p] == '0')
        return "the port must be an integer 1..65535";
    int v = 0;
    for (size_t i = p; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return "the port must be an integer 1..65535";
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return "the port must be an integer 1..65535";
    *port = v;
    return NULL;
}

static int apply_listen(loader *ld, const sq_config_option *opt, const node *v, void *base)
{
    sq_config_listen_list *list = field(base, opt);
    char q[QBUF];
    const node *first = v;
    size_t n = 1;

    if (v->kind == NODE_SEQ) {
        first = v->child;
        n = v->count;
    } else if (v->kind != NODE_SCALAR) {
        return fail_node(ld, v, "\"%s\" must be host:port or a list of them, got %s", opt->name,
                         describe(q, v));
    }
    if (n == 0 || is_null(v))
        return fail_node(ld, v, "\"%s\" must name at least one host:port", opt->name);

    sq_config_listen *items = sq_arena_calloc(&ld->cfg->arena, n, sizeof *items);
    if (items == NULL)
        return out_of_memory(ld);
    size_t i = 0;
    for (const node *e = first; e != NULL && i < n; e = e->next, i++) {
        size_t off = 0, hlen = 0;
        int port = 0;
        bool v6 = false;
        const char *why;

        if (e->kind != NODE_SCALAR || is_null(e))
            return fail_node(ld, e, "each \"%s\" entry must be host:port, got %s", opt->name,
                             describe(q, e));
        why = parse_address(e->text, e->len, &off, &hlen, &port, &v6);
        if (why != NULL)
            return fail_node(ld, e, "\"%s\" address %s is invalid: %s", opt->name,
                             quote(q, e->text, e->len), why);
        items[i].address = sq_arena_strndup(&ld->cfg->arena, e->text, e->len);
        items[i].host = sq_arena_strndup(&ld->cfg->arena, e->text + off, hlen);
        if (items[i].address == NULL || items[i].host == NULL)
            return out_of_memory(ld);
        items[i].port = port;
        items[i].ipv6 = v6;
        items[i].line = e->line;
        items[i].column = e->col;
        for (size_t j = 0; j < i; j++) {
            if (items[j].port == port && strcasecmp(items[j].host, items[i].host) == 0)
                return fail_node(ld, e, "duplicate \"%s\" address %s (first defined at line %d)",
                                 opt->name, quote(q, e->text, e->len), items[j].line);
        }
    }
    list->items = items;
    list->count = n;
    return 0;
}

/* ---- auth.tokens ----------------------------------------------------------------------- */

static int apply_tokens(loader *ld, const sq_config_option *opt, const node *v, void *base)
{
    static const allowed_key keys[] = {{"name", NULL}, {"sha256", NULL}};
    sq_config_token_list *list = field(base, opt);
    char q[QBUF], q2[QBUF], where[64];

    if (is_null(v)) {
        list->items = NULL;
        list->count = 0;
        return 0;
    }
    if (v->kind != NODE_SEQ)
        return fail_node(ld, v, "\"%s\" must be a list of {name, sha256}, got %s", opt->name,
                         describe(q, v));
    snprintf(where, sizeof where, "in a token of \"%s\"", opt->name);
    sq_config_token *items = sq_arena_calloc(&ld->cfg->arena, v->count, sizeof *items);
    int *lines = sq_arena_calloc(&ld->tmp, v->count, sizeof *lines);
    if (items == NULL || lines == NULL)
        return out_of_memory(ld);

    size_t i = 0;
    for (const node *e = v->child; e != NULL; e = e->next, i++) {
        const node *vals[2];
        sq_config_token *t = &items[i];

        if (e->kind != NODE_MAP)
            return fail_node(ld, e,
                             "each entry of \"%s\" must be a mapping {name, sha256}, "
                             "got %s",
                             opt->name, describe(q, e));
        if (collect(ld, e, keys, 2, vals, where) != 0)
            return -1;
        for (size_t k = 0; k < 2; k++) {
            if (vals[k] == NULL)
                return fail_node(ld, e, "a token of \"%s\" is missing the required key \"%s\"",
                                 opt->name, keys[k].name);
        }
        const node *nm = vals[0], *dg = vals[1];
        bool name_ok = nm->kind == NODE_SCALAR && !is_null(nm) && nm->len > 0 &&
                       nm->len <= SQ_CONFIG_TOKEN_NAME_MAX;
        for (size_t k = 0; name_ok && k < nm->len; k++)
            name_ok = nm->text[k] >= 0x20 && nm->text[k] <= 0x7e;
        if (!name_ok)
            return fail_node(ld, nm,
                             "the name of a token must be 1..%d printable ASCII "
                             "characters, got %s",
                             SQ_CONFIG_TOKEN_NAME_MAX, describe(q, nm));
        lines[i] = nm->line;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(items[j].name, nm->text) == 0)
                return fail_node(ld, nm, "duplicate token name %s (first defined at line %d)",
                                 quote(q, nm->text, nm->len), lines[j]);
        }
        t->name = sq_arena_strndup(&ld->cfg->arena, nm->text, nm->len);
        if (t->name == NULL)
            return out_of_memory(ld);

        bool hex_ok = dg->kind == NODE_SCALAR && dg->len == 64;
        for (size_t k = 0; hex_ok && k < 64; k++)
            hex_ok = sq_hex_digit((unsigned char)dg->text[k]) >= 0;
        if (!hex_ok)
            return fail_node(ld, dg,
                             "the sha256 of token %s must be exactly 64 hexadecimal "
                             "digits (sequind --hash-token prints it), got %s",
                             quote(q, nm->text, nm->len), describe(q2, dg));
        for (size_t k = 0; k < 32; k++) {
            int hi = sq_hex_digit((unsigned char)dg->text[2 * k]);
            int lo = sq_hex_digit((unsigned char)dg->text[2 * k + 1]);
            t->sha256[k] = (unsigned char)(hi << 4 | lo);
            t->sha256_hex[2 * k] = "0123456789abcdef"[hi];
            t->sha256_hex[2 * k + 1] = "0123456789abcdef"[lo];
        }
        t->sha256_hex[64] = '\0';
        /* Two names for one secret would make the name logged for a request a coin toss. */
        for (size_t j = 0; j < i; j++) {
            if (memcmp(items[j].sha256, t->sha256, 32) == 0)
                return fail_node(ld, dg, "token %s has the same sha256 as token \"%s\" (line %d)",
                                 quote(q, nm->text, nm->len), items[j].name, lines[j]);
        }
    }
    list->items = items;
    list->count = v->count;
    return 0;
}

/* ---- streams and consumers ------------------------------------------------------------- */

static int apply_consumer(loader *ld, const node *m, const char *stream, sq_config_consumer *c)
{
    allowed_key keys[N_CONSUMER_OPTIONS];
    const node *vals[N_CONSUMER_OPTIONS];
    char where[128], label[160], q[QBUF];

    if (m->kind != NODE_MAP)
        return fail_node(ld, m, "each consumer of stream \"%s\" must be a mapping, got %s", stream,
                         describe(q, m));
    for (size_t i = 0; i < N_CONSUMER_OPTIONS; i++) {
        keys[i].name = consumer_options[i].key;
        keys[i].opt = &consumer_options[i];
    }
    snprintf(where, sizeof where, "in a consumer of stream \"%s\"", stream);
    if (collect(ld, m, keys, N_CONSUMER_OPTIONS, vals, where) != 0)
        return -1;
    c->line = m->line;
    c->column = m->col;

    /* The name first, so every later message can say which consumer it is about. */
    if (vals[0] == NULL)
        return fail_node(ld, m, "a consumer of stream \"%s\" is missing the required key \"name\"",
                         stream);
    if (apply_option(ld, &consumer_options[0], "the name of a consumer", vals[0], c) != 0)
        return -1;
    for (size_t i = 1; i < N_CONSUMER_OPTIONS; i++) {
        const sq_config_option *opt = &consumer_options[i];
        node def = {.kind = NODE_SCALAR, .plain = true, .line = m->line, .col = m->col};
        const node *v = vals[i];

        if (v == NULL && opt->default_text == NULL)
            return fail_node(ld, m,
                             "consumer \"%s\" of stream \"%s\" is missing the required "
                             "key \"%s\"",
                             c->name, stream, opt->key);
        if (v == NULL) {
            /* The default goes through the same code as a value from the file. */
            def.text = opt->default_text;
            def.len = strlen(def.text);
            v = &def;
        }
        snprintf(label, sizeof label, "\"%s\" of consumer \"%s\"", opt->key, c->name);
        if (apply_option(ld, opt, label, v, c) != 0)
            return -1;
    }
    return 0;
}

static int apply_stream(loader *ld, const node *m, sq_config_stream *s)
{
    static const allowed_key keys[] = {{"name", NULL}, {"consumers", NULL}};
    static const sq_config_option name_opt = {.name = "name",
                                              .key = "name",
                                              .type = SQ_CONFIG_NAME,
                                              .offset = offsetof(sq_config_stream, name)};
    const node *vals[2];
    char q[QBUF], where[160];

    if (m->kind != NODE_MAP)
        return fail_node(ld, m,
                         "each entry of \"streams\" must be a mapping {name, consumers}, "
                         "got %s",
                         describe(q, m));
    if (collect(ld, m, keys, 2, vals, "in a stream") != 0)
        return -1;
    if (vals[0] == NULL)
        return fail_node(ld, m, "a stream is missing the required key \"name\"");
    if (apply_option(ld, &name_opt, "the name of a stream", vals[0], s) != 0)
        return -1;
    s->line = m->line;
    s->column = m->col;

    const node *cs = vals[1];
    if (cs == NULL || is_null(cs))
        return 0;
    snprintf(where, sizeof where, "\"consumers\" of stream \"%s\"", s->name);
    if (cs->kind != NODE_SEQ)
        return fail_node(ld, cs, "%s must be a list, got %s", where, describe(q, cs));
    s->consumers = sq_arena_calloc(&ld->cfg->arena, cs->count, sizeof *s->consumers);
    if (s->consumers == NULL)
        return out_of_memory(ld);
    for (const node *e = cs->child; e != NULL; e = e->next) {
        sq_config_consumer *c = &s->consumers[s->n_consumers];
        if (apply_consumer(ld, e, s->name, c) != 0)
            return -1;
        for (size_t j = 0; j < s->n_consumers; j++) {
            if (strcmp(s->consumers[j].name, c->name) == 0)
                return fail_at(ld, c->line, c->column,
                               "duplicate consumer \"%s\" in stream \"%s\" (first defined at "
                               "line %d)",
                               c->name, s->name, s->consumers[j].line);
        }
        s->n_consumers++;
    }
    return 0;
}

static int apply_streams(loader *ld, const sq_config_option *opt, const node *v, void *base)
{
    sq_config_stream_list *list = field(base, opt);
    char q[QBUF];

    list->items = NULL;
    list->count = 0;
    if (is_null(v))
        return 0;
    if (v->kind != NODE_SEQ)
        return fail_node(ld, v, "\"%s\" must be a list of {name, consumers}, got %s", opt->name,
                         describe(q, v));
    sq_config_stream *items = sq_arena_calloc(&ld->cfg->arena, v->count, sizeof *items);
    if (items == NULL)
        return out_of_memory(ld);
    for (const node *e = v->child; e != NULL; e = e->next) {
        sq_config_stream *s = &items[list->count];
        if (apply_stream(ld, e, s) != 0)
            return -1;
        for (size_t j = 0; j < list->count; j++) {
            if (strcmp(items[j].name, s->name) == 0)
                return fail_at(ld, s->line, s->column,
                               "duplicate stream \"%s\" (first defined at line %d)", s->name,
                               items[j].line);
        }
        list->count++;
    }
    list->items = items;
    return 0;
}

/* The stream `default` exists from first start (SPEC section 3), declared or not. */
static int ensure_default_stream(loader *ld)
{
    sq_config_stream_list *list = &ld->cfg->streams;

    if (sq_config_find_stream(ld->cfg, "default") != NULL)
        return 0;
    sq_config_stream *items = sq_arena_calloc(&ld->cfg->arena, list->count + 1, sizeof *items);
    if (items == NULL)
        return out_of_memory(ld);
    items[0].name = "default";
    if (list->count > 0)
        memcpy(items + 1, list->items, list->count * sizeof *items);
    list->items = items;
    list->count++;
    return 0;
}

/* ---- the document ---------------------------------------------------------------------- */

/*
 * Applies mapping `m` of section `section` (NULL: the top level). Pairs are applied in file
 * order, so the first error reported is the first one in the file.
 */
static int apply_mapping(loader *ld, const node *m, const char *section)
{
    allowed_key keys[N_OPTIONS];
    int seen[N_OPTIONS] = {0};
    size_t n = 0;
    char where[64], label[80], q[QBUF];

    for (size_t i = 0; i < N_OPTIONS; i++) {
        const sq_config_option *o = &options[i];
        if (section == NULL && o->section != NULL) {
            /* A section is one key of the top level; its options are adjacent in the table. */
            if (n == 0 || keys[n - 1].opt != NULL || strcmp(keys[n - 1].name, o->section) != 0)
                keys[n++] = (allowed_key){o->section, NULL};
        } else if (section == NULL || (o->section != NULL && strcmp(o->section, section) == 0)) {
            keys[n++] = (allowed_key){o->key, o};
        }
    }
    if (section == NULL)
        snprintf(where, sizeof where, "in the top level mapping");
    else
        snprintf(where, sizeof where, "in \"%s\"", section);

    for (const node *k = m->child; k != NULL; k = k->next->next) {
        const node *v = k->next;
        int idx = match_key(ld, k, keys, n, seen, where);
        if (idx < 0)
            return -1;
        const sq_config_option *o = keys[idx].opt;
        if (o == NULL) {
            if (is_null(v))
                continue; /* "limits:" with every option commented out */
            if (v->kind != NODE_MAP)
                return fail_node(ld, v, "\"%s\" must be a mapping, got %s", keys[idx].name,
                                 describe(q, v));
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
static int apply_text(loader *ld, const char *name, const char *data, size_t len)
{
    node *root = NULL;
    char q[QBUF];
    int rc = -1;

    ld->name = name;
    ld->data = data;
    ld->len = len;
    memset(ld->pos_line, 0, sizeof ld->pos_line);
    memset(ld->pos_col, 0, sizeof ld->pos_col);
    if (parse_tree(ld, &root) != 0)
        goto fail;
    /* No document, or an empty one, changes nothing. */
    if (root != NULL && !is_null(root)) {
        if (root->kind != NODE_MAP) {
            fail_node(ld, root, "the top level must be a mapping of options, got %s",
                      describe(q, root));
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
static int check_across(loader *ld)
{
    const sq_config *c = ld->cfg;

    if (c->limits.max_message_bytes > c->limits.max_body_bytes) {
        size_t msg = (size_t)(sq_config_option_find("limits.max_message_bytes") - options);
        size_t body = (size_t)(sq_config_option_find("limits.max_body_bytes") - options);
        size_t at = ld->pos_line[msg] != 0 ? msg : body;
        return fail_at(ld, ld->pos_line[at], ld->pos_col[at],
                       "\"limits.max_message_bytes\" (%d) must not exceed "
                       "\"limits.max_body_bytes\" (%d): such a message could never be sent",
                       c->limits.max_message_bytes, c->limits.max_body_bytes);
    }
    return 0;
}

/* The built-in defaults as a YAML document, generated from the table. */
static int defaults_text(sq_buf *b)
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

static int load(const char *name, const char *data, size_t len, sq_config **out,
                sq_config_error *err)
{
    sq_config_error scratch;
    loader ld = {0};
    sq_buf defaults = {0};
    sq_config *cfg = NULL;
    int rc = -1;

    *out = NULL;
    ld.err = err != NULL ? err : &scratch;
    memset(ld.err, 0, sizeof *ld.err);
    ld.name = name;
    cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL) {
        out_of_memory(&ld);
        goto fail;
    }
    ld.cfg = cfg;
    cfg->source = sq_arena_strdup(&cfg->arena, name);
    if (cfg->source == NULL || defaults_text(&defaults) != 0) {
        out_of_memory(&ld);
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

const sq_config_stream *sq_config_find_stream(const sq_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->streams.count; i++) {
        if (strcmp(cfg->streams.items[i].name, name) == 0)
            return &cfg->streams.items[i];
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
