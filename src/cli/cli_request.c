/* The sequin CLI's commands as a table, and argv parsed into an invocation of one of them
 * (cli_build.c makes the HTTP request of SPEC 4 it stands for). Pure: no I/O, so every command
 * is unit-tested. */
#include "sequin/buf.h"
#include "sequin/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sequin/json.h"
#include "sequin/keys.h"
#include "sequin/push_rules.h"

#include "cli_build.h"

/* ---- flags ----------------------------------------------------------------------------- */

/* The ranges are SPEC 3 and 4's: out of range is a usage error before any request. */
const opt_spec sq_cli_opts[SQ_OPT_COUNT] = {
    [SQ_OPT_CONTEXT] = {"context", true, 1, 0, NULL, "NAME"},
    [SQ_OPT_AS_CURL] = {"as-curl", false, 1, 0, NULL, NULL},
    [SQ_OPT_JSON] = {"json", false, 1, 0, NULL, NULL},
    [SQ_OPT_HELP] = {"help", false, 1, 0, NULL, NULL},
    [SQ_OPT_STREAM] = {"stream", true, 1, 0, NULL, "NAME"},
    [SQ_OPT_FILTER] = {"filter", true, 1, 0, NULL, "PATTERN"},
    [SQ_OPT_LAST] = {"last", true, 1, 10000, NULL, "N"},
    [SQ_OPT_FIRST] = {"first", true, 1, 10000, NULL, "N"},
    [SQ_OPT_LIMIT] = {"limit", true, 1, 10000, NULL, "N"},
    [SQ_OPT_ACK_WAIT_MS] = {"ack-wait-ms", true, 500, 3600000, NULL, "MS"},
    [SQ_OPT_MAX_ACK_PENDING] = {"max-ack-pending", true, 1, 1000000, NULL, "N"},
    [SQ_OPT_MAX_DELIVER] = {"max-deliver", true, 1, 1000, NULL, "N"},
    [SQ_OPT_DELIVER_POLICY] = {"deliver-policy", true, 1, 0, "all new", "all|new"},
    [SQ_OPT_DEFAULTS] = {"defaults", false, 1, 0, NULL, NULL},
    [SQ_OPT_BATCH_SIZE] = {"batch-size", true, 1, 1000, NULL, "N"},
    [SQ_OPT_WAIT] = {"wait", true, 0, 60000, NULL, "MS"},
    [SQ_OPT_NO_ACK] = {"no-ack", false, 1, 0, NULL, NULL},
    [SQ_OPT_STATE] = {"state", true, 1, 0, "available delivered dead", "available|delivered|dead"},
    [SQ_OPT_DELAY_MS] = {"delay-ms", true, 0, 3600000, NULL, "MS"},
    [SQ_OPT_SERVER_URL] = {"server-url", true, 1, 0, NULL, "URL"},
    [SQ_OPT_TOKEN] = {"token", true, 1, 0, NULL, "TOKEN"},
    [SQ_OPT_SET_DEFAULT] = {"set-default", false, 1, 0, NULL, NULL},
    [SQ_OPT_URL] = {"url", true, 1, 0, NULL, "URL"},
    [SQ_OPT_SLOT] = {"slot", true, 1, 0, NULL, "NAME"},
    [SQ_OPT_PUBLICATION] = {"publication", true, 1, 0, NULL, "NAME"},
    [SQ_OPT_TABLE] = {"table", true, 1, 0, NULL, "SCHEMA.TABLE"},
    [SQ_OPT_KEY_FORMAT] = {"key-format", true, 1, 0, "basic with_operation",
                           "basic|with_operation"},
    [SQ_OPT_BACKFILL] = {"backfill", false, 1, 0, NULL, NULL},
    [SQ_OPT_NO_BACKFILL] = {"no-backfill", false, 1, 0, NULL, NULL},
    [SQ_OPT_PUSH_URL] = {"push-url", true, 1, 0, NULL, "URL"},
    [SQ_OPT_HEADER] = {"header", true, 1, 0, NULL, "'NAME: VALUE'"},
    [SQ_OPT_SIGNING_SECRET] = {"signing-secret", true, 1, 0, NULL, "SECRET"},
    [SQ_OPT_MAX_WAITING] = {"max-waiting", true, 1, SQ_PUSH_MAX_WAITING_MAX, NULL, "N"},
    [SQ_OPT_KEY_FIELD] = {"key-field", true, 1, 0, NULL, "FIELD"},
    [SQ_OPT_KEY_HEADER] = {"key-header", true, 1, 0, NULL, "HEADER"},
    [SQ_OPT_SECRET] = {"secret", true, 1, 0, NULL, "SECRET"},
    [SQ_OPT_SECRET_HEADER] = {"secret-header", true, 1, 0, NULL, "HEADER"},
    [SQ_OPT_HMAC_SECRET] = {"hmac-secret", true, 1, 0, NULL, "SECRET"},
    [SQ_OPT_HMAC_HEADER] = {"hmac-header", true, 1, 0, NULL, "HEADER"},
};

/* The flags whose values have rules of their own (a filter's, a name's): 0, or -1 with `err`. */
static int (*const rules[SQ_OPT_COUNT])(const char *value, char *err, size_t errlen) = {
    [SQ_OPT_FILTER] = sq_cli_check_filter, [SQ_OPT_URL] = sq_cli_check_url,
    [SQ_OPT_SLOT] = sq_cli_check_slot,     [SQ_OPT_PUBLICATION] = sq_cli_check_publication,
    [SQ_OPT_TABLE] = sq_cli_check_table,   [SQ_OPT_PUSH_URL] = sq_cli_check_push_url,
    [SQ_OPT_HEADER] = sq_cli_check_header, [SQ_OPT_SIGNING_SECRET] = sq_cli_check_secret,
};

/* The flags that may be given more than once: every value is kept (sq_cli_invocation.many). */
static const bool repeats[SQ_OPT_COUNT] = {[SQ_OPT_TABLE] = true, [SQ_OPT_HEADER] = true};

/* Flags that say opposite things: giving both is a usage error. */
static const sq_cli_opt exclusive[][2] = {
    {SQ_OPT_LAST, SQ_OPT_FIRST},
    {SQ_OPT_BACKFILL, SQ_OPT_NO_BACKFILL},
    {SQ_OPT_KEY_FIELD, SQ_OPT_KEY_HEADER},
};

#define F(o) (UINT64_C(1) << (o))
#define GLOBAL_FLAGS (F(SQ_OPT_CONTEXT) | F(SQ_OPT_AS_CURL) | F(SQ_OPT_JSON) | F(SQ_OPT_HELP))
#define PUSH_SETTINGS                                                                              \
    (F(SQ_OPT_PUSH_URL) | F(SQ_OPT_HEADER) | F(SQ_OPT_SIGNING_SECRET) | F(SQ_OPT_MAX_WAITING))
#define CONSUMER_SETTINGS                                                                          \
    (F(SQ_OPT_ACK_WAIT_MS) | F(SQ_OPT_MAX_ACK_PENDING) | F(SQ_OPT_MAX_DELIVER) | PUSH_SETTINGS)
#define SOURCE_SETTINGS                                                                            \
    (F(SQ_OPT_URL) | F(SQ_OPT_SLOT) | F(SQ_OPT_PUBLICATION) | F(SQ_OPT_TABLE) |                    \
     F(SQ_OPT_KEY_FORMAT) | F(SQ_OPT_BACKFILL) | F(SQ_OPT_NO_BACKFILL))
#define WEBHOOK_SETTINGS                                                                           \
    (F(SQ_OPT_KEY_FIELD) | F(SQ_OPT_KEY_HEADER) | F(SQ_OPT_SECRET) | F(SQ_OPT_SECRET_HEADER) |     \
     F(SQ_OPT_HMAC_SECRET) | F(SQ_OPT_HMAC_HEADER))

/* ---- the command table ----------------------------------------------------------------- */

/* In a command's flags: an interactive view, for which --as-curl and --json make no sense. */
#define INTERACTIVE F(SQ_OPT_COUNT)
_Static_assert(SQ_OPT_COUNT < 64, "the flags of a command are bits of a uint64_t");

#define STREAM F(SQ_OPT_STREAM)
static const sq_cli_command commands[] = {
    {"message", "upsert", "KEY DATA", 2, 2, STREAM, sq_cli_build_message_upsert, "POST",
     SQ_OUT_PUBLISHED, "insert or replace the message KEY"},
    {"message", "get", "KEY", 1, 1, STREAM, sq_cli_build_message_get, "GET", SQ_OUT_MESSAGE,
     "show one message"},
    {"message", "ls", "", 0, 0, STREAM | F(SQ_OPT_FILTER) | F(SQ_OPT_LAST) | F(SQ_OPT_FIRST),
     sq_cli_build_message_ls, "GET", SQ_OUT_MESSAGES,
     "list messages (oldest first; --last N for the newest)"},
    {"message", "rm", "KEY", 1, 1, STREAM, sq_cli_build_message_rm, "DELETE", SQ_OUT_DONE,
     "delete a message"},
    {"consumer", "add", "NAME", 1, 1,
     STREAM | F(SQ_OPT_FILTER) | CONSUMER_SETTINGS | F(SQ_OPT_DELIVER_POLICY) | F(SQ_OPT_DEFAULTS),
     sq_cli_build_consumer_add, "POST", SQ_OUT_CONSUMER,
     "create a consumer (prompts for unset settings on a terminal)"},
    {"consumer", "ls", "", 0, 0, STREAM, sq_cli_build_consumer_ls, "GET", SQ_OUT_CONSUMERS,
     "list consumers"},
    {"consumer", "info", "NAME", 1, 1, STREAM, sq_cli_build_consumer_info, "GET", SQ_OUT_CONSUMER,
     "show a consumer"},
    {"consumer", "edit", "NAME", 1, 1, STREAM | CONSUMER_SETTINGS, sq_cli_build_consumer_edit,
     "PATCH", SQ_OUT_CONSUMER, "change a consumer's numeric and push settings"},
    {"consumer", "rm", "NAME", 1, 1, STREAM, sq_cli_build_consumer_rm, "DELETE", SQ_OUT_DONE,
     "delete a consumer"},
    {"consumer", "receive", "NAME", 1, 1,
     STREAM | F(SQ_OPT_BATCH_SIZE) | F(SQ_OPT_WAIT) | F(SQ_OPT_NO_ACK),
     sq_cli_build_consumer_receive, "POST", SQ_OUT_DELIVERIES,
     "receive messages and ack them (--no-ack leaves them leased)"},
    {"consumer", "ack", "NAME ACK_ID...", 2, -1, STREAM, sq_cli_build_consumer_ack, "POST",
     SQ_OUT_DONE, "ack received messages"},
    {"consumer", "nack", "NAME ACK_ID...", 2, -1, STREAM | F(SQ_OPT_DELAY_MS),
     sq_cli_build_consumer_ack, "POST", SQ_OUT_DONE,
     "make received messages available again (after --delay-ms)"},
    {"consumer", "peek", "NAME", 1, 1,
     STREAM | F(SQ_OPT_STATE) | F(SQ_OPT_FILTER) | F(SQ_OPT_LIMIT), sq_cli_build_consumer_peek,
     "GET", SQ_OUT_PEEK, "list a consumer's messages and their delivery state without receiving"},
    {"stream", "ls", "", 0, 0, 0, sq_cli_build_item, "GET", SQ_OUT_STREAMS, "list streams"},
    {"stream", "add", "NAME", 1, 1, 0, sq_cli_build_stream_add, "POST", SQ_OUT_STREAM,
     "create a stream"},
    {"stream", "info", "NAME", 1, 1, 0, sq_cli_build_item, "GET", SQ_OUT_STREAM, "show a stream"},
    {"stream", "rm", "NAME", 1, 1, 0, sq_cli_build_item, "DELETE", SQ_OUT_DONE,
     "delete a stream with its messages and consumers"},
    {"source", "postgres add", "NAME", 1, 1, STREAM | SOURCE_SETTINGS | F(SQ_OPT_DEFAULTS),
     sq_cli_build_source_add, "POST", SQ_OUT_SOURCE,
     "stream a PostgreSQL database's tables (prompts for unset settings on a terminal)"},
    {"source", "postgres ls", "", 0, 0, 0, sq_cli_build_item, "GET", SQ_OUT_SOURCES,
     "list sources with their state and lag"},
    {"source", "postgres info", "NAME", 1, 1, 0, sq_cli_build_item, "GET", SQ_OUT_SOURCE,
     "show a source: settings, state, lag, last commit, backfill progress"},
    {"source", "postgres rm", "NAME", 1, 1, 0, sq_cli_build_item, "DELETE", SQ_OUT_DONE,
     "delete a source (its slot and publication stay in the source database)"},
    {"source", "webhook add", "NAME", 1, 1, STREAM | WEBHOOK_SETTINGS, sq_cli_build_webhook_add,
     "POST", SQ_OUT_WEBHOOK, "receive webhooks at POST /api/webhook/NAME into a stream"},
    {"source", "webhook ls", "", 0, 0, 0, sq_cli_build_item, "GET", SQ_OUT_WEBHOOKS,
     "list webhook sources"},
    {"source", "webhook info", "NAME", 1, 1, 0, sq_cli_build_item, "GET", SQ_OUT_WEBHOOK,
     "show a webhook source's settings (whether it has secrets, never what they are)"},
    {"source", "webhook rm", "NAME", 1, 1, 0, sq_cli_build_item, "DELETE", SQ_OUT_DONE,
     "delete a webhook source (a POST to it is then a 404)"},
    {"context", "add", "NAME", 1, 1, F(SQ_OPT_SERVER_URL) | F(SQ_OPT_TOKEN) | F(SQ_OPT_SET_DEFAULT),
     NULL, NULL, 0, "save a server URL (and token) under NAME"},
    {"context", "ls", "", 0, 0, 0, NULL, NULL, 0, "list contexts (* marks the default)"},
    {"context", "select", "NAME", 1, 1, 0, NULL, NULL, 0, "make NAME the default context"},
    {"context", "rm", "NAME", 1, 1, 0, NULL, NULL, 0, "delete a context"},
    {"observe", "", "", 0, 0, STREAM | INTERACTIVE, NULL, NULL, 0,
     "a live full-screen view of messages, consumers and sources (q quits)"},
};

/* "consumer add", or "observe" for a command of one word. */
static const char *title(const sq_cli_command *c, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s", c->group, *c->name != '\0' ? " " : "", c->name);
    return buf;
}

/* ---- parsing --------------------------------------------------------------------------- */

static bool is_choice(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices; *p != '\0';) {
        size_t w = strcspn(p, " ");
        if (w == n && memcmp(p, v, n) == 0)
            return true;
        p += w;
        p += *p == ' ';
    }
    return false;
}

/* A decimal integer, digits only, within the flag's range. */
static int check_value(const opt_spec *o, const char *v, char *err, size_t errlen)
{
    if (o->choices != NULL && !is_choice(o->choices, v))
        return sq_fail(err, errlen, "--%s must be one of %s, not \"%s\"", o->name, o->metavar, v);
    if (rules[o - sq_cli_opts] != NULL)
        return rules[o - sq_cli_opts](v, err, errlen);
    if (o->lo > o->hi)
        return SQ_OK;
    bool digits = *v != '\0' && strspn(v, "0123456789") == strlen(v);
    errno = 0;
    long n = digits ? strtol(v, NULL, 10) : 0;
    if (!digits || errno != 0 || n < o->lo || n > o->hi)
        return sq_fail(err, errlen, "--%s must be an integer from %ld to %ld, not \"%s\"", o->name,
                       o->lo, o->hi, v);
    return SQ_OK;
}

/* How many of the `n` words spell command name `name` ("postgres add") from its start, word
 * by word; *whole says whether they spell all of it. */
static int spelled(const char *name, const char *const *words, int n, bool *whole)
{
    int k = 0;
    const char *p = name;
    while (*p != '\0' && k < n) {
        size_t w = strcspn(p, " ");
        if (strlen(words[k]) != w || memcmp(words[k], p, w) != 0)
            break;
        k++;
        p += w + (p[w] == ' ');
    }
    *whole = *p == '\0';
    return k;
}

/* The command of `group` that the first of the `n` words spell (the longest such name), with
 * its words' count in *used; NULL when none does, with in *used how many of the words begin
 * some command's name. */
static const sq_cli_command *find_command(const char *group, const char *const *words, int n,
                                          int *used)
{
    const sq_cli_command *found = NULL;
    int deepest = 0;
    for (size_t i = 0; i < SQ_ARRAY_LEN(commands); i++) {
        bool whole;
        if (strcmp(commands[i].group, group) != 0)
            continue;
        int k = spelled(commands[i].name, words, n, &whole);
        if (whole && (found == NULL || k > *used)) {
            found = &commands[i];
            *used = k;
        } else if (!whole && found == NULL && k > deepest) {
            deepest = k;
        }
    }
    if (found == NULL)
        *used = deepest;
    return found;
}

static bool group_exists(const char *group)
{
    for (size_t i = 0; i < SQ_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].group, group) == 0)
            return true;
    return false;
}

/* Reads one `--name[=value]` at argv[*i]; the value may be the next argument. */
static int parse_flag(int argc, char **argv, int *i, sq_cli_invocation *inv, char *err,
                      size_t errlen)
{
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    size_t n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    for (int o = 0; o < SQ_OPT_COUNT; o++) {
        if (strlen(sq_cli_opts[o].name) != n || memcmp(sq_cli_opts[o].name, arg, n) != 0)
            continue;
        const char *v = "";
        if (sq_cli_opts[o].takes_value) {
            if (eq != NULL)
                v = eq + 1;
            else if (*i + 1 < argc)
                v = argv[++*i];
            else
                return sq_fail(err, errlen, "--%s needs a value", sq_cli_opts[o].name);
            if (check_value(&sq_cli_opts[o], v, err, errlen) != SQ_OK)
                return SQ_ERR;
        } else if (eq != NULL) {
            return sq_fail(err, errlen, "--%s takes no value", sq_cli_opts[o].name);
        }
        inv->opt[o] = v;
        if (!repeats[o])
            return SQ_OK;
        if (inv->many[o] == NULL)
            inv->many[o] = calloc((size_t)argc + 1, sizeof *inv->many[o]);
        if (inv->many[o] == NULL)
            return sq_fail(err, errlen, "out of memory");
        inv->many[o][inv->nmany[o]++] = v;
        return SQ_OK;
    }
    return sq_fail(err, errlen, "unknown flag --%.*s", (int)n, arg);
}

/* "source postgres": the first `n` words joined by spaces, into `buf`. */
static const char *joined(const char *const *words, int n, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s", i > 0 ? " " : "", words[i]);
    return buf;
}

int sq_cli_parse(int argc, char **argv, sq_cli_invocation *inv, char *err, size_t errlen)
{
    *inv = (sq_cli_invocation){0};
    const char **pos = calloc((size_t)argc + 1, sizeof *pos);
    int npos = 0;
    bool flags_done = false, bad_flag = false;
    if (pos == NULL)
        return sq_fail(err, errlen, "out of memory");
    inv->args = pos;
    inv->alloc = pos;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!flags_done && strcmp(a, "--") == 0) {
            flags_done = true;
        } else if (!flags_done && strcmp(a, "-h") == 0) {
            inv->opt[SQ_OPT_HELP] = "";
        } else if (!flags_done && a[0] == '-' && a[1] == '-') {
            /* The first bad flag is the error; the command is still found, for its usage. */
            if (!bad_flag && parse_flag(argc, argv, &i, inv, err, errlen) != SQ_OK)
                bad_flag = true;
        } else {
            pos[npos++] = a;
        }
    }
    if (npos == 0)
        return bad_flag ? SQ_ERR : SQ_OK; /* no command: the caller prints the usage */
    inv->group = pos[0];
    if (!group_exists(pos[0])) {
        inv->group = NULL;
        return bad_flag ? SQ_ERR : sq_fail(err, errlen, "unknown command \"%s\"", pos[0]);
    }
    int used = 0;
    char name[64];
    inv->cmd = find_command(pos[0], pos + 1, npos - 1, &used);
    if (inv->cmd == NULL) {
        if (bad_flag)
            return SQ_ERR;
        if (used == npos - 1) { /* the words so far begin a command: "source postgres" */
            if (inv->opt[SQ_OPT_HELP] != NULL)
                return SQ_OK;
            return sq_fail(err, errlen, "\"%s\" needs a subcommand",
                           joined(pos, npos, name, sizeof name));
        }
        return sq_fail(err, errlen, "unknown command \"%s\"",
                       joined(pos, used + 2, name, sizeof name));
    }
    inv->name = inv->cmd->name;
    inv->args = pos + 1 + used;
    inv->nargs = npos - 1 - used;
    if (bad_flag)
        return SQ_ERR;
    if (inv->opt[SQ_OPT_HELP] != NULL)
        return SQ_OK;
    const sq_cli_command *c = inv->cmd;
    if (inv->nargs < c->min_args)
        return sq_fail(err, errlen, "%s needs %s", title(c, name, sizeof name), c->args_usage);
    if (c->max_args >= 0 && inv->nargs > c->max_args)
        return sq_fail(err, errlen, "%s: unexpected argument \"%s\"", title(c, name, sizeof name),
                       inv->args[c->max_args]);
    for (int o = 0; o < SQ_OPT_COUNT; o++)
        if (inv->opt[o] != NULL &&
            (!((GLOBAL_FLAGS | c->flags) & F(o)) ||
             ((c->flags & INTERACTIVE) && (o == SQ_OPT_AS_CURL || o == SQ_OPT_JSON))))
            return sq_fail(err, errlen, "%s does not take --%s", title(c, name, sizeof name),
                           sq_cli_opts[o].name);
    for (size_t i = 0; i < SQ_ARRAY_LEN(exclusive); i++)
        if (inv->opt[exclusive[i][0]] != NULL && inv->opt[exclusive[i][1]] != NULL)
            return sq_fail(err, errlen, "--%s and --%s exclude each other",
                           sq_cli_opts[exclusive[i][0]].name, sq_cli_opts[exclusive[i][1]].name);
    return SQ_OK;
}

void sq_cli_invocation_free(sq_cli_invocation *inv)
{
    for (int o = 0; o < SQ_OPT_COUNT; o++)
        free(inv->many[o]);
    free(inv->alloc);
    *inv = (sq_cli_invocation){0};
}

bool sq_cli_is_remote(const sq_cli_invocation *inv)
{
    return inv->cmd != NULL && inv->cmd->build != NULL;
}

bool sq_cli_is(const sq_cli_invocation *inv, const char *group, const char *name)
{
    return inv->cmd != NULL && strcmp(inv->cmd->group, group) == 0 &&
           strcmp(inv->cmd->name, name) == 0;
}

static void flag_usage(FILE *out, uint64_t flags)
{
    for (int o = 0; o < SQ_OPT_COUNT; o++) {
        if (!(flags & F(o)))
            continue;
        if (sq_cli_opts[o].takes_value)
            fprintf(out, " [--%s %s]%s", sq_cli_opts[o].name, sq_cli_opts[o].metavar,
                    repeats[o] ? "..." : "");
        else
            fprintf(out, " [--%s]", sq_cli_opts[o].name);
    }
}

void sq_cli_usage(FILE *out, const sq_cli_invocation *inv)
{
    char name[64];
    if (inv != NULL && inv->cmd != NULL) {
        const sq_cli_command *c = inv->cmd;
        fprintf(out, "usage: sequin %s%s%s", title(c, name, sizeof name), *c->args_usage ? " " : "",
                c->args_usage);
        flag_usage(out, c->flags);
        fprintf(out, "\n  %s\n", c->summary);
        return;
    }
    fputs("usage: sequin [--context NAME] [--as-curl] [--json] COMMAND [ARGS] [FLAGS]\n"
          "\ncommands:\n",
          out);
    for (size_t i = 0; i < SQ_ARRAY_LEN(commands); i++) {
        const sq_cli_command *c = &commands[i];
        if (inv != NULL && inv->group != NULL && strcmp(inv->group, c->group) != 0)
            continue;
        char head[sizeof name + 64];
        snprintf(head, sizeof head, "%s %s", title(c, name, sizeof name), c->args_usage);
        fprintf(out, "  %-32s %s\n", head, c->summary);
    }
    fputs("\n--stream NAME (default \"default\") selects the stream of message, consumer and"
          " observe,\nand the stream a new source writes into.\n"
          "Server: --context NAME, else the default context, else $SEQUIN_URL and"
          " $SEQUIN_TOKEN,\nelse " SQ_CLI_DEFAULT_URL ".\n"
          "A command's flags: sequin GROUP COMMAND --help.\n",
          out);
}

int sq_cli_check_opt(sq_cli_opt o, const char *value, char *err, size_t errlen)
{
    if ((int)o < 0 || o >= SQ_OPT_COUNT)
        return sq_fail(err, errlen, "no such flag");
    return check_value(&sq_cli_opts[o], value, err, errlen);
}
