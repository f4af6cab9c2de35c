/* sequin: the command-line client. Parses the command line, builds the request, then either
 * prints it as a curl command or sends it and shows the answer. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sequin/cli.h"
#include "sequin/observe.h"

/* Values typed at consumer add's prompts; the invocation points into them until exit. */
static char *typed[SQ_OPT_COUNT];

/*
 * Asks for flag `o` on the terminal until the answer is valid; an empty answer keeps the
 * server's default (shown in brackets). `required` refuses the empty answer.
 */
static int prompt(sq_cli_invocation *inv, sq_cli_opt o, const char *label, const char *shown,
                  bool required)
{
    char err[256];
    size_t cap = 0;
    for (;;) {
        fprintf(stderr, "%s [%s]: ", label, shown);
        fflush(stderr);
        ssize_t n = getline(&typed[o], &cap, stdin);
        if (n < 0)
            return required ? SQ_ERR : SQ_OK; /* end of input: keep the default */
        typed[o][strcspn(typed[o], "\r\n")] = '\0';
        if (typed[o][0] == '\0') {
            if (!required)
                return SQ_OK;
            fprintf(stderr, "%s is required\n", label);
        } else if (sq_cli_check_opt(o, typed[o], err, sizeof err) != SQ_OK) {
            fprintf(stderr, "%s\n", err);
        } else {
            inv->opt[o] = typed[o];
            return SQ_OK;
        }
    }
}

/* consumer add without --defaults, on a terminal: ask for every setting not given. */
static int prompt_consumer_settings(sq_cli_invocation *inv)
{
    static const struct {
        sq_cli_opt o;
        const char *label, *shown;
        bool required;
    } asks[] = {
        {SQ_OPT_FILTER, "filter", "e.g. orders.us.>", true},
        {SQ_OPT_ACK_WAIT_MS, "ack_wait_ms", "30000", false},
        {SQ_OPT_MAX_ACK_PENDING, "max_ack_pending", "10000", false},
        {SQ_OPT_MAX_DELIVER, "max_deliver", "no limit", false},
        {SQ_OPT_DELIVER_POLICY, "deliver_policy (all|new)", "all", false},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(asks); i++)
        if (inv->opt[asks[i].o] == NULL &&
            prompt(inv, asks[i].o, asks[i].label, asks[i].shown, asks[i].required) != SQ_OK)
            return SQ_ERR;
    return SQ_OK;
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

static int run_remote(sq_cli_invocation *inv)
{
    char err[512];
    sq_cli_request req = {0};
    sq_cli_target t = {0};
    sq_cli_response resp = {0};
    int status = SQ_CLI_EXIT_SERVER;
    if (sq_cli_is(inv, "consumer", "add") && inv->opt[SQ_OPT_DEFAULTS] == NULL &&
        isatty(STDIN_FILENO) && prompt_consumer_settings(inv) != SQ_OK)
        return usage_error(inv, "consumer add needs a filter");
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
