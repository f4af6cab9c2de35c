/* The sequin CLI's pieces: argv to an HTTP request (pure, cli_request.c), the request as a
 * curl command, the transport over libcurl (cli_transport.c), the output of responses
 * (cli_output.c) and contexts (cli_context.c). */
#ifndef SEQUIN_CLI_H
#define SEQUIN_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "sequin/buf.h"
#include "sequin/common.h"
#include "sequin/json.h"

/* The server a context names when nothing else does (SPEC 1: port 7376 on the loopback). */
#define SQ_CLI_DEFAULT_URL "http://localhost:7376"

/* Exit statuses (SPEC 7). */
#define SQ_CLI_EXIT_OK 0
#define SQ_CLI_EXIT_SERVER 1
#define SQ_CLI_EXIT_USAGE 2

/* Every flag the CLI knows; which command accepts which is in cli_request.c's table. */
typedef enum sq_cli_opt {
    SQ_OPT_CONTEXT,
    SQ_OPT_AS_CURL,
    SQ_OPT_JSON,
    SQ_OPT_HELP,
    SQ_OPT_STREAM,
    SQ_OPT_FILTER,
    SQ_OPT_LAST,
    SQ_OPT_FIRST,
    SQ_OPT_LIMIT,
    SQ_OPT_ACK_WAIT_MS,
    SQ_OPT_MAX_ACK_PENDING,
    SQ_OPT_MAX_DELIVER,
    SQ_OPT_DELIVER_POLICY,
    SQ_OPT_DEFAULTS,
    SQ_OPT_BATCH_SIZE,
    SQ_OPT_WAIT,
    SQ_OPT_NO_ACK,
    SQ_OPT_STATE,
    SQ_OPT_DELAY_MS,
    SQ_OPT_SERVER_URL,
    SQ_OPT_TOKEN,
    SQ_OPT_SET_DEFAULT,
    SQ_OPT_URL,
    SQ_OPT_SLOT,
    SQ_OPT_PUBLICATION,
    SQ_OPT_TABLE, /* the one flag that may be given more than once */
    SQ_OPT_KEY_FORMAT,
    SQ_OPT_BACKFILL,
    SQ_OPT_NO_BACKFILL,
    SQ_OPT_PUSH_URL, /* a push consumer's (issue 15) */
    SQ_OPT_HEADER,   /* may be given more than once */
    SQ_OPT_SIGNING_SECRET,
    SQ_OPT_MAX_WAITING,
    SQ_OPT_KEY_FIELD, /* a webhook source's settings (source webhook add) */
    SQ_OPT_KEY_HEADER,
    SQ_OPT_SECRET,
    SQ_OPT_SECRET_HEADER,
    SQ_OPT_HMAC_SECRET,
    SQ_OPT_HMAC_HEADER,
    SQ_OPT_COUNT
} sq_cli_opt;

/* How a successful response is shown. */
typedef enum sq_cli_output {
    SQ_OUT_STREAM,
    SQ_OUT_STREAMS,
    SQ_OUT_MESSAGE,
    SQ_OUT_MESSAGES,
    SQ_OUT_CONSUMER,
    SQ_OUT_CONSUMERS,
    SQ_OUT_DELIVERIES, /* receive */
    SQ_OUT_PEEK,       /* a consumer's messages with their delivery info */
    SQ_OUT_PUBLISHED,  /* upsert: {"data":{"published": N}} */
    SQ_OUT_DONE,       /* rm, ack, nack: the request's `done` sentence */
    SQ_OUT_SOURCE,     /* a source with its status and backfill progress */
    SQ_OUT_SOURCES,    /* the postgres sources of a list of sources */
    SQ_OUT_WEBHOOK,    /* a webhook source: its settings, "set" for a secret it has */
    SQ_OUT_WEBHOOKS,   /* the webhook sources of a list of sources */
} sq_cli_output;

typedef struct sq_cli_command sq_cli_command; /* private to src/cli (cli_build.h) */

/*
 * A parsed command line. Strings point into argv (or, for values typed at a prompt, into
 * memory the caller keeps alive as long as the invocation).
 */
typedef struct sq_cli_invocation {
    const sq_cli_command *cmd;     /* NULL until a command is recognised */
    const char *group;             /* "consumer" */
    const char *name;              /* "receive" */
    const char **args;             /* positional arguments after the command */
    int nargs;                     /*   and their count */
    const char *opt[SQ_OPT_COUNT]; /* each flag's value ("" for a switch), NULL when absent */
    /* Every value of a flag that may repeat (--table), in order; opt[o] is the last. Each array
     * is malloc'd, and freed by sq_cli_invocation_free, whoever set it. */
    const char **many[SQ_OPT_COUNT];
    size_t nmany[SQ_OPT_COUNT];
    void *alloc; /* private: the array behind args */
} sq_cli_invocation;

/*
 * Parses `argv` (argv[0] excluded: pass argc - 1, argv + 1). A command is a group and one or
 * more words ("consumer add", "source postgres add"), or one word ("observe"). Flags may come
 * anywhere, as `--flag=value` or `--flag value`; `--` ends them. Every flag's value is checked
 * here: integers against their range, choices against their choices, filters and names by
 * their rules. Returns 0, or -1 with a usage error in
 * `err` (the caller exits 2). `--help` alone or no command at all returns 0 with
 * inv->cmd NULL. inv->args is allocated: release with sq_cli_invocation_free.
 */
SQ_WUR int sq_cli_parse(int argc, char **argv, sq_cli_invocation *inv, char *err, size_t errlen);
void sq_cli_invocation_free(sq_cli_invocation *inv);

/* Checks a value for flag `o` as sq_cli_parse does (range, choices, a filter's or a name's
 * rules). 0, or -1 with `err`. */
SQ_WUR int sq_cli_check_opt(sq_cli_opt o, const char *value, char *err, size_t errlen);

/* The usage of the whole CLI, or of inv->cmd when it is set, written to `out`. */
void sq_cli_usage(FILE *out, const sq_cli_invocation *inv);

/* True if the command talks to the server (everything but `context ...`). */
bool sq_cli_is_remote(const sq_cli_invocation *inv);

/* The same command: "consumer receive" is sq_cli_is(inv, "consumer", "receive"), "source
 * postgres add" sq_cli_is(inv, "source", "postgres add"). */
bool sq_cli_is(const sq_cli_invocation *inv, const char *group, const char *name);

/* The stream a command works on: --stream, else "default". Points into the invocation. */
const char *sq_cli_stream(const sq_cli_invocation *inv);

/* One HTTP request of the API (SPEC 4). */
typedef struct sq_cli_request {
    const char *method;   /* static string */
    sq_buf path;          /* percent-encoded path and query, from "/api/..." */
    sq_buf body;          /* JSON; empty (len 0) when the request has no body */
    sq_cli_output output; /* how to show the answer */
    char done[192];       /* SQ_OUT_DONE's sentence, e.g. "Deleted stream orders." */
    long wait_ms;         /* how long the server may hold the request (long poll) */
} sq_cli_request;

/*
 * Builds the request of a remote command: method, path, query, body; keys, filters and new
 * names are validated first (SPEC 2 and 3). No I/O. Returns 0, or -1 with the reason in
 * `err` (a usage error: exit 2). Release `req` with sq_cli_request_free either way.
 */
SQ_WUR int sq_cli_build(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                        size_t errlen);

/* The ack that follows a receive: POST .../consumers/:c/ack {"ack_ids": ids}. 0 or -1. */
SQ_WUR int sq_cli_build_ack(const char *stream, const char *consumer, const char *const *ids,
                            size_t n, sq_cli_request *req);

void sq_cli_request_free(sq_cli_request *req);

/* Appends `s` percent-encoded: every byte but letters, digits and `-._~` as %XX. 0 or -1. */
SQ_WUR int sq_cli_encode(sq_buf *b, const char *s);

/* Appends `s` quoted for a POSIX shell: in single quotes, each ' written as '\''. */
SQ_WUR int sq_cli_shell_quote(sq_buf *out, const char *s, size_t n);

/*
 * Appends the curl command that performs `req` against `base_url` (no trailing newline):
 * curl -X METHOD [-H 'Authorization: Bearer TOKEN'] [-H 'Content-Type: application/json'
 * --data-raw BODY] URL, every argument after `curl` shell-quoted. `token` may be NULL.
 */
SQ_WUR int sq_cli_curl_command(sq_buf *out, const sq_cli_request *req, const char *base_url,
                               const char *token);

/* ---- transport ------------------------------------------------------------------------- */

/* Where requests go. */
typedef struct sq_cli_target {
    char *server_url; /* without a trailing slash */
    char *token;      /* NULL: no Authorization header */
} sq_cli_target;

typedef struct sq_cli_response {
    long status; /* HTTP status */
    sq_buf body;
} sq_cli_response;

/*
 * Sends `req` and reads the whole answer into `resp` (whatever its status). Returns 0, or
 * -1 when no answer came, with a sentence in `err` such as
 * "cannot reach http://localhost:7376: Connection refused". Release resp->body.
 */
SQ_WUR int sq_cli_send(const sq_cli_target *t, const sq_cli_request *req, sq_cli_response *resp,
                       char *err, size_t errlen);

/*
 * Sets what every request of the CLI shares on curl easy handle `easy` (a CURL *): the
 * headers (Accept, the target's token, Content-Type when `has_body`), the user agent, no
 * signals, the connect timeout, the answer's bytes appended to `body`, and curl's error
 * sentence into `errbuf` (CURL_ERROR_SIZE bytes). `body` and `errbuf` must outlive the
 * transfers. On 0, *headers is the header list the handle uses: free it with
 * curl_slist_free_all once the handle is done with. -1 when out of memory.
 */
struct curl_slist;
SQ_WUR int sq_cli_curl_prepare(void *easy, const sq_cli_target *t, bool has_body, sq_buf *body,
                               struct curl_slist **headers, char *errbuf);

/* The sentence for a transfer of `easy` that ended with CURLcode `code`:
 * "cannot reach URL: Connection refused". */
void sq_cli_curl_failure(void *easy, int code, const char *errbuf, const sq_cli_target *t,
                         char *err, size_t errlen);

/* ---- output ---------------------------------------------------------------------------- */

/*
 * Prints a 2xx answer's body as `kind` in human form (tables for lists, "key: value" blocks
 * for one object). `done` is SQ_OUT_DONE's sentence. Returns 0, or -1 when the body is not
 * the JSON expected (a message is printed to `err`).
 */
SQ_WUR int sq_cli_print(FILE *out, FILE *err, sq_cli_output kind, const char *done,
                        const char *body, size_t len);

/* Prints an error answer: its `summary` and any `validation_errors`, else the status and
 * the raw body. */
void sq_cli_print_error(FILE *err, long status, const char *body, size_t len);

/*
 * The ack ids of a receive's answer, appended to `ids` as pointers into `arena`. Returns
 * the count, or -1 when the body is not a receive's answer.
 */
SQ_WUR int sq_cli_ack_ids(const char *body, size_t len, sq_arena *arena, const char ***ids);

/* The value at dotted `path` below token `obj` ("stats.available"; "" for `obj` itself) as
 * text in arena `a`: strings unescaped, null as "-", other values as their JSON; "" when
 * there is no such value. */
const char *sq_cli_json_text(const sq_json *doc, int obj, const char *path, sq_arena *a);

/*
 * The token of the value an answer carries, read as the route shapes it (SPEC 4): with
 * `in_data` the answer is {"data": X} (lists, receive, upsert) and X is returned; else the
 * whole body is X (a stream, message or consumer). -1 when there is no X or it is not of
 * type `want`.
 */
int sq_cli_json_payload(const sq_json *doc, bool in_data, sq_json_type want);

/* Aligned columns: rows of `ncols` cells (row 0 the header), each column padded to its
 * widest cell, two spaces apart, the last column not padded. */
void sq_cli_print_table(FILE *out, const char *const *cells, size_t nrows, size_t ncols);

/* ---- contexts -------------------------------------------------------------------------- */

/*
 * The directory holding contexts: $XDG_CONFIG_HOME/sequin, else $HOME/.config/sequin, into
 * `out`. -1 when neither variable is set.
 */
SQ_WUR int sq_cli_config_dir(sq_buf *out);

/*
 * Resolves where requests go: context `name` when not NULL (an error if it does not exist),
 * else the default context if one is selected, else SEQUIN_URL / SEQUIN_TOKEN, else
 * SQ_CLI_DEFAULT_URL. Returns 0 (free with sq_cli_target_free) or -1 with `err`.
 */
SQ_WUR int sq_cli_resolve_target(const char *name, sq_cli_target *t, char *err, size_t errlen);
void sq_cli_target_free(sq_cli_target *t);

/* Runs `context add|ls|select|rm`; returns the exit status. */
int sq_cli_context_run(const sq_cli_invocation *inv, FILE *out, FILE *err);

#endif
