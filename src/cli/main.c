/* sequin: the command-line client. Parses the command line, builds the request, then either
 * prints it as a curl command or sends it and shows the answer. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sequin/cli.h"
#include "sequin/json.h"
#include "sequin/observe.h"

/* Values typed at an add command's prompts; the invocation points into them until exit. */
static char *typed[SQ_OPT_COUNT];

/* One question of an add command's prompts: the flag the answer sets, and how it is asked. */
typedef struct ask {
    sq_cli_opt o;
    const char *label;
    const char *shown; /* in brackets: what an empty answer keeps (the server's default) */
    bool required;     /* the empty answer is refused */
    bool list;         /* several values, separated by commas or spaces (--table) */
    bool yes_no;       /* "yes" sets switch `o`, "no" switch `no` */
    sq_cli_opt no;
} ask;

/* The answer to a yes/no question into its switches; false when it is neither. */
static bool answer_yes_no(sq_cli_invocation *inv, const ask *q, const char *answer)
{
    if (strcmp(answer, "y") == 0 || strcmp(answer, "yes") == 0)
        inv->opt[q->o] = "";
    else if (strcmp(answer, "n") == 0 || strcmp(answer, "no") == 0)
        inv->opt[q->no] = "";
    else
        return false;
    return true;
}

/* The answer to a list question, cut in place into its values, each checked as the flag's;
 * 0, or -1 with `err` (nothing set). */
static int answer_list(sq_cli_invocation *inv, const ask *q, char *answer, char *err, size_t errlen)
{
    static const char seps[] = ", \t";
    size_t n = 0;
    const char **values = calloc(strlen(answer) / 2 + 2, sizeof *values);
    if (values == NULL)
        return sq_fail(err, errlen, "out of memory");
    for (char *save = NULL, *v = strtok_r(answer, seps, &save); v != NULL;
         v = strtok_r(NULL, seps, &save)) {
        if (sq_cli_check_opt(q->o, v, err, errlen) != SQ_OK) {
            free(values);
            return SQ_ERR;
        }
        values[n++] = v;
    }
    free(inv->many[q->o]);
    inv->many[q->o] = values;
    inv->nmany[q->o] = n;
    inv->opt[q->o] = n > 0 ? values[n - 1] : NULL;
    return SQ_OK;
}

/*
 * Asks question `q` on the terminal until the answer is valid; an empty answer keeps the
 * server's default (shown in brackets) unless the question is required. -1 at the end of the
 * input: the caller asks nothing more, and the request's build says what is missing.
 */
static int prompt(sq_cli_invocation *inv, const ask *q)
{
    char err[256];
    size_t cap = 0;
    for (;;) {
        fprintf(stderr, "%s [%s]: ", q->label, q->shown);
        fflush(stderr);
        ssize_t n = getline(&typed[q->o], &cap, stdin);
        if (n < 0)
            return SQ_ERR;
        char *answer = typed[q->o];
        answer[strcspn(answer, "\r\n")] = '\0';
        if (answer[0] == '\0') {
            if (!q->required)
                return SQ_OK;
            fprintf(stderr, "%s is required\n", q->label);
        } else if (q->yes_no) {
            if (answer_yes_no(inv, q, answer))
                return SQ_OK;
            fprintf(stderr, "answer yes or no\n");
        } else if (q->list) {
            int rc = answer_list(inv, q, answer, err, sizeof err);
            if (rc == SQ_OK && inv->nmany[q->o] > 0)
                return SQ_OK;
            fprintf(stderr, "%s\n", rc == SQ_OK ? "one or more, separated by commas" : err);
        } else if (sq_cli_check_opt(q->o, answer, err, sizeof err) != SQ_OK) {
            fprintf(stderr, "%s\n", err);
        } else {
            inv->opt[q->o] = answer;
            return SQ_OK;
        }
    }
}

/* Whether the command line answered question `q` already. */
static bool given(const sq_cli_invocation *inv, const ask *q)
{
    return inv->opt[q->o] != NULL || (q->yes_no && inv->opt[q->no] != NULL);
}

static const ask consumer_asks[] = {
    {.o = SQ_OPT_FILTER, .label = "filter", .shown = "e.g. orders.us.>", .required = true},
    {.o = SQ_OPT_ACK_WAIT_MS, .label = "ack_wait_ms", .shown = "30000"},
    {.o = SQ_OPT_MAX_ACK_PENDING, .label = "max_ack_pending", .shown = "10000"},
    {.o = SQ_OPT_MAX_DELIVER, .label = "max_deliver", .shown = "no limit"},
    {.o = SQ_OPT_DELIVER_POLICY, .label = "deliver_policy (all|new)", .shown = "all"},
};

/* The source's settings in the order docs/sources.md explains them: where, what, how. */
static const ask source_asks[] = {
    {.o = SQ_OPT_URL,
     .label = "connection URL (a role with REPLICATION)",
     .shown = "e.g. postgres://replicator@db.internal/app",
     .required = true},
    {.o = SQ_OPT_SLOT,
     .label = "replication slot (used if it exists, else created)",
     .shown = "sequin_slot"},
    {.o = SQ_OPT_PUBLICATION,
     .label = "publication (used as it is if it exists, else created for the tables)",
     .shown = "sequin_pub"},
    {.o = SQ_OPT_TABLE,
     .label = "tables (schema.table, separated by commas)",
     .shown = "e.g. public.orders, public.customers",
     .required = true,
     .list = true},
    {.o = SQ_OPT_STREAM, .label = "stream", .shown = "default"},
    {.o = SQ_OPT_KEY_FORMAT, .label = "key format (basic|with_operation)", .shown = "basic"},
    {.o = SQ_OPT_BACKFILL,
     .label = "backfill: the rows the tables hold now first (yes|no)",
     .shown = "no",
     .yes_no = true,
     .no = SQ_OPT_NO_BACKFILL},
};

/* The commands that ask for their unset settings on a terminal, and their questions. */
static const struct {
    const char *group, *name;
    const ask *asks;
    size_t n;
} asking[] = {
    {"consumer", "add", consumer_asks, SQ_ARRAY_LEN(consumer_asks)},
    {"source", "postgres add", source_asks, SQ_ARRAY_LEN(source_asks)},
};

/* An add command without --defaults, on a terminal: asks for every setting not given. */
static void prompt_settings(sq_cli_invocation *inv)
{
    if (inv->opt[SQ_OPT_DEFAULTS] != NULL || !isatty(STDIN_FILENO))
        return;
    for (size_t c = 0; c < SQ_ARRAY_LEN(asking); c++) {
        if (!sq_cli_is(inv, asking[c].group, asking[c].name))
            continue;
        for (size_t i = 0; i < asking[c].n; i++)
            if (!given(inv, &asking[c].asks[i]) && prompt(inv, &asking[c].asks[i]) != SQ_OK)
                return;
    }
}

static int usage_error(const sq_cli_invocation *inv, const char *err)
{
    fprintf(stderr, "sequin: %s\n", err);
    sq_cli_usage(stderr, inv);
    return SQ_CLI_EXIT_USAGE;
}

/* Prints the request as curl. A receive that acks shows the ack as a comment: its ids exist
 * only in the receive's answer. */
static int print_curl(const sq_cli_invocation *inv, const sq_cli_request *req,
                      const sq_cli_target *t)
{
    sq_buf cmd = {0};
    int status = SQ_CLI_EXIT_OK;
    if (sq_cli_curl_command(&cmd, req, t->server_url, t->token) != SQ_OK) {
        fprintf(stderr, "sequin: out of memory\n");
        status = SQ_CLI_EXIT_SERVER;
    } else {
        printf("%s\n", cmd.data);
        if (sq_cli_is(inv, "consumer", "receive") && inv->opt[SQ_OPT_NO_ACK] == NULL)
            printf("# then, with the ack_ids of the answer: POST %s%.*s/ack "
                   "{\"ack_ids\":[...]}\n",
                   t->server_url, (int)(req->path.len - strlen("/receive")), req->path.data);
    }
    sq_buf_free(&cmd);
    return status;
}

/* Sends `req`; prints the error and returns -1 unless the answer is a 2xx. */
static int exchange(const sq_cli_target *t, const sq_cli_request *req, sq_cli_response *resp)
{
    char err[512];
    if (sq_cli_send(t, req, resp, err, sizeof err) != SQ_OK) {
        fprintf(stderr, "sequin: %s\n", err);
        return SQ_ERR;
    }
    if (resp->status < 200 || resp->status > 299) {
        sq_cli_print_error(stderr, resp->status, resp->body.data, resp->body.len);
        return SQ_ERR;
    }
    return SQ_OK;
}

/* The ack that follows a receive, for every message the answer holds. */
static int ack_received(const sq_cli_invocation *inv, const sq_cli_target *t,
                        const sq_cli_response *received)
{
    sq_arena a = {0};
    sq_cli_request ack = {0};
    sq_cli_response resp = {0};
    const char **ids = NULL;
    int rc = SQ_ERR;
    int n = sq_cli_ack_ids(received->body.data, received->body.len, &a, &ids);
    if (n < 0) {
        fprintf(stderr, "sequin: cannot read the ack ids of the answer\n");
        goto fail;
    }
    if (n > 0) {
        if (sq_cli_build_ack(sq_cli_stream(inv), inv->args[0], ids, (size_t)n, &ack) != SQ_OK) {
            fprintf(stderr, "sequin: out of memory\n");
            goto fail;
        }
        if (exchange(t, &ack, &resp) != SQ_OK)
            goto fail;
    }
    rc = SQ_OK;
fail:
    sq_buf_free(&resp.body);
    sq_cli_request_free(&ack);
    sq_arena_free(&a);
    return rc;
}

/* How long `source postgres add` waits for the new source to start: the sources process picks
 * it up within a second, and making a slot waits for the transactions running then. */
#define SOURCE_START_MS 30000

/* The state in a source object's "status", into `state` (empty when there is none yet), and
 * its error into `error`. */
static void source_state(const sq_buf *body, char *state, size_t n, char *error, size_t en)
{
    sq_json doc = {0};
    int status = -1, v = -1;
    sq_buf text = {0};
    state[0] = error[0] = '\0';
    if (sq_json_parse(&doc, body->data, body->len, 0, NULL) != SQ_OK)
        return;
    if (sq_json_lookup(&doc, 0, "status", &status) == SQ_OK && status >= 0 &&
        sq_json_type_of(&doc, status) == SQ_JSON_OBJECT) {
        if (sq_json_lookup(&doc, status, "state", &v) == SQ_OK && v >= 0 &&
            sq_json_get_str(&doc, v, &text) == SQ_OK)
            snprintf(state, n, "%s", text.data);
        sq_buf_reset(&text);
        if (sq_json_lookup(&doc, status, "error", &v) == SQ_OK && v >= 0 &&
            sq_json_get_str(&doc, v, &text) == SQ_OK)
            snprintf(error, en, "%s", text.data);
    }
    sq_buf_free(&text);
    sq_json_free(&doc);
}

/*
 * After `source postgres add`: waits until the source streams its slot (or backfills, which
 * means the slot exists), so that a change made once the command returns is the source's, and
 * says so; a source that fails says why and the command exits 1.
 */
static int wait_source(const sq_cli_invocation *inv, const sq_cli_target *t)
{
    sq_cli_request get = {.method = "GET"};
    sq_cli_response resp = {0};
    char state[32] = "", error[512] = "";
    int rc = SQ_ERR;
    if (sq_buf_puts(&get.path, "/api/sources/") != SQ_OK ||
        sq_cli_encode(&get.path, inv->args[0]) != SQ_OK) {
        fprintf(stderr, "sequin: out of memory\n");
        goto done;
    }
    for (int waited = 0; waited < SOURCE_START_MS; waited += 200) {
        sq_buf_free(&resp.body); /* a send fills a response afresh */
        if (exchange(t, &get, &resp) != SQ_OK)
            goto done;
        source_state(&resp.body, state, sizeof state, error, sizeof error);
        if (strcmp(state, "streaming") == 0 || strcmp(state, "backfilling") == 0) {
            printf("Source %s is %s.\n", inv->args[0], state);
            rc = SQ_OK;
            goto done;
        }
        if (strcmp(state, "error") == 0) {
            fprintf(stderr,
                    "sequin: source %s: %s (it retries; see sequin source postgres info "
                    "%s)\n",
                    inv->args[0], error, inv->args[0]);
            goto done;
        }
        usleep(200 * 1000);
    }
    fprintf(stderr, "sequin: source %s has not started after %d s (state: %s)\n", inv->args[0],
            SOURCE_START_MS / 1000, state[0] ? state : "none reported");
done:
    sq_buf_free(&resp.body);
    sq_cli_request_free(&get);
    return rc;
}

static int run_remote(sq_cli_invocation *inv)
{
    char err[512];
    sq_cli_request req = {0};
    sq_cli_target t = {0};
    sq_cli_response resp = {0};
    int status = SQ_CLI_EXIT_SERVER;
    prompt_settings(inv);
    if (sq_cli_build(inv, &req, err, sizeof err) != SQ_OK) {
        status = usage_error(inv, err);
        goto done;
    }
    if (sq_cli_resolve_target(inv->opt[SQ_OPT_CONTEXT], &t, err, sizeof err) != SQ_OK) {
        fprintf(stderr, "sequin: %s\n", err);
        goto done;
    }
    if (inv->opt[SQ_OPT_AS_CURL] != NULL) {
        status = print_curl(inv, &req, &t);
        goto done;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "sequin: cannot initialise libcurl\n");
        goto done;
    }
    if (exchange(&t, &req, &resp) != SQ_OK)
        goto cleanup;
    if (inv->opt[SQ_OPT_JSON] != NULL) {
        fwrite(resp.body.data, 1, resp.body.len, stdout);
        if (resp.body.len > 0 && resp.body.data[resp.body.len - 1] != '\n')
            putchar('\n');
    } else if (sq_cli_print(stdout, stderr, req.output, req.done, resp.body.data, resp.body.len) !=
               SQ_OK) {
        goto cleanup;
    }
    if (sq_cli_is(inv, "consumer", "receive") && inv->opt[SQ_OPT_NO_ACK] == NULL &&
        ack_received(inv, &t, &resp) != SQ_OK)
        goto cleanup;
    if (sq_cli_is(inv, "source", "postgres add") && wait_source(inv, &t) != SQ_OK)
        goto cleanup;
    status = SQ_CLI_EXIT_OK;
cleanup:
    curl_global_cleanup();
done:
    if (fflush(stdout) != 0 && status == SQ_CLI_EXIT_OK)
        status = SQ_CLI_EXIT_SERVER;
    sq_buf_free(&resp.body);
    sq_cli_target_free(&t);
    sq_cli_request_free(&req);
    return status;
}

/* The full-screen view: it needs a terminal on both ends, so a pipe is a usage error. */
static int run_observe(const sq_cli_invocation *inv)
{
    char err[512] = "";
    sq_cli_target t = {0};
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "sequin: observe is a full-screen view: it needs a terminal\n");
        return SQ_CLI_EXIT_USAGE;
    }
    if (sq_cli_resolve_target(inv->opt[SQ_OPT_CONTEXT], &t, err, sizeof err) != SQ_OK) {
        fprintf(stderr, "sequin: %s\n", err);
        return SQ_CLI_EXIT_SERVER;
    }
    int status = sq_observe_run(&t, sq_cli_stream(inv), err, sizeof err);
    if (status == SQ_CLI_EXIT_SERVER)
        fprintf(stderr, "sequin: %s\n", err);
    sq_cli_target_free(&t);
    return status;
}

int main(int argc, char **argv)
{
    char err[512];
    sq_cli_invocation inv;
    int status;
    if (sq_cli_parse(argc - 1, argv + 1, &inv, err, sizeof err) != SQ_OK) {
        status = usage_error(&inv, err);
    } else if (inv.opt[SQ_OPT_HELP] != NULL) {
        sq_cli_usage(stdout, &inv);
        status = SQ_CLI_EXIT_OK;
    } else if (inv.cmd == NULL) {
        sq_cli_usage(stderr, &inv);
        status = SQ_CLI_EXIT_USAGE;
    } else if (sq_cli_is(&inv, "observe", "")) {
        status = run_observe(&inv);
    } else if (!sq_cli_is_remote(&inv)) {
        status = sq_cli_context_run(&inv, stdout, stderr);
    } else {
        status = run_remote(&inv);
    }
    sq_cli_invocation_free(&inv);
    for (size_t i = 0; i < SQ_ARRAY_LEN(typed); i++)
        free(typed[i]);
    return status;
}
