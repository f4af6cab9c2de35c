/* The sequin CLI's commands as a table: argv to a parsed invocation, and an invocation to
 * the HTTP request of SPEC 4 it stands for. Pure: no I/O, so every command is unit-tested. */
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

/* ---- flags ----------------------------------------------------------------------------- */

typedef struct opt_spec {
    const char *name;    /* without the dashes */
    bool takes_value;    /* false: a switch */
    long lo, hi;         /* an integer in lo..hi when lo <= hi */
    const char *choices; /* a value among these, space-separated, when not NULL */
    const char *metavar; /* for the usage */
} opt_spec;

static int check_filter(const char *filter, char *err, size_t errlen);
static int check_url(const char *url, char *err, size_t errlen);
static int check_slot(const char *slot, char *err, size_t errlen);
static int check_publication(const char *publication, char *err, size_t errlen);
static int check_table(const char *table, char *err, size_t errlen);
static int check_push_url(const char *url, char *err, size_t errlen);
static int check_header(const char *header, char *err, size_t errlen);
static int check_secret(const char *secret, char *err, size_t errlen);

/* The ranges are SPEC 3 and 4's: out of range is a usage error before any request. */
static const opt_spec opts[SQ_OPT_COUNT] = {
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
    [SQ_OPT_FILTER] = check_filter, [SQ_OPT_URL] = check_url,
    [SQ_OPT_SLOT] = check_slot,     [SQ_OPT_PUBLICATION] = check_publication,
    [SQ_OPT_TABLE] = check_table,   [SQ_OPT_PUSH_URL] = check_push_url,
    [SQ_OPT_HEADER] = check_header, [SQ_OPT_SIGNING_SECRET] = check_secret,
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

typedef int (*build_fn)(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                        size_t errlen);

struct sq_cli_command {
    const char *group;      /* the first word */
    const char *name;       /* the words after it, space-separated; "": a command of one word */
    const char *args_usage; /* positional arguments, for the usage */
    int min_args, max_args; /* max_args -1: any number */
    uint64_t flags;         /* accepted beyond the global ones */
    build_fn build;         /* NULL: a local command (contexts, observe) */
    const char *method;     /* the request's */
    sq_cli_output output;   /* how its answer is shown */
    const char *summary;
};

/* In a command's flags: an interactive view, for which --as-curl and --json make no sense. */
#define INTERACTIVE F(SQ_OPT_COUNT)
_Static_assert(SQ_OPT_COUNT < 64, "the flags of a command are bits of a uint64_t");

static int build_message_upsert(const sq_cli_invocation *, sq_cli_request *, char *, size_t);
static int build_message_get(const sq_cli_invocation *, sq_cli_request *, char *, size_t);
static int build_message_ls(const sq_cli_invocation *, sq_cli_request *, char *, size_t);
static int build_message_rm(const sq_cli_invocation *, sq_cli_request *, char *, size_t);
static int build_consumer_add(const sq_cli_invocation *, sq_cli_request *, char *, size_t);
static int build_consumer_ls(const sq_cli_invocation *, sq_cli_request *, char *, size_t);
static int build_consumer_info(const sq_cli_invocation *, sq_cli_request *, char *, size_t);
static int build_consumer_edit(const sq_cli_invocation *, sq_cli_request *, char *, size_t);
static int build_consumer_rm(const sq_cli_invocation *, sq_cli_request *, char *, size_t);
static int build_consumer_receive(const sq_cli_invocation *, sq_cli_request *, char *, size_t);
static int build_consumer_ack(const sq_cli_invocation *, sq_cli_request *, char *, size_t);
static int build_consumer_peek(const sq_cli_invocation *, sq_cli_request *, char *, size_t);
static int build_stream_add(const sq_cli_invocation *, sq_cli_request *, char *, size_t);
static int build_source_add(const sq_cli_invocation *, sq_cli_request *, char *, size_t);
static int build_webhook_add(const sq_cli_invocation *, sq_cli_request *, char *, size_t);
static int build_item(const sq_cli_invocation *, sq_cli_request *, char *, size_t);

#define STREAM F(SQ_OPT_STREAM)
static const sq_cli_command commands[] = {
    {"message", "upsert", "KEY DATA", 2, 2, STREAM, build_message_upsert, "POST", SQ_OUT_PUBLISHED,
     "insert or replace the message KEY"},
    {"message", "get", "KEY", 1, 1, STREAM, build_message_get, "GET", SQ_OUT_MESSAGE,
     "show one message"},
    {"message", "ls", "", 0, 0, STREAM | F(SQ_OPT_FILTER) | F(SQ_OPT_LAST) | F(SQ_OPT_FIRST),
     build_message_ls, "GET", SQ_OUT_MESSAGES,
     "list messages (oldest first; --last N for the newest)"},
    {"message", "rm", "KEY", 1, 1, STREAM, build_message_rm, "DELETE", SQ_OUT_DONE,
     "delete a message"},
    {"consumer", "add", "NAME", 1, 1,
     STREAM | F(SQ_OPT_FILTER) | CONSUMER_SETTINGS | F(SQ_OPT_DELIVER_POLICY) | F(SQ_OPT_DEFAULTS),
     build_consumer_add, "POST", SQ_OUT_CONSUMER,
     "create a consumer (prompts for unset settings on a terminal)"},
    {"consumer", "ls", "", 0, 0, STREAM, build_consumer_ls, "GET", SQ_OUT_CONSUMERS,
     "list consumers"},
    {"consumer", "info", "NAME", 1, 1, STREAM, build_consumer_info, "GET", SQ_OUT_CONSUMER,
     "show a consumer"},
    {"consumer", "edit", "NAME", 1, 1, STREAM | CONSUMER_SETTINGS, build_consumer_edit, "PATCH",
     SQ_OUT_CONSUMER, "change a consumer's numeric and push settings"},
    {"consumer", "rm", "NAME", 1, 1, STREAM, build_consumer_rm, "DELETE", SQ_OUT_DONE,
     "delete a consumer"},
    {"consumer", "receive", "NAME", 1, 1,
     STREAM | F(SQ_OPT_BATCH_SIZE) | F(SQ_OPT_WAIT) | F(SQ_OPT_NO_ACK), build_consumer_receive,
     "POST", SQ_OUT_DELIVERIES, "receive messages and ack them (--no-ack leaves them leased)"},
    {"consumer", "ack", "NAME ACK_ID...", 2, -1, STREAM, build_consumer_ack, "POST", SQ_OUT_DONE,
     "ack received messages"},
    {"consumer", "nack", "NAME ACK_ID...", 2, -1, STREAM | F(SQ_OPT_DELAY_MS), build_consumer_ack,
     "POST", SQ_OUT_DONE, "make received messages available again (after --delay-ms)"},
    {"consumer", "peek", "NAME", 1, 1,
     STREAM | F(SQ_OPT_STATE) | F(SQ_OPT_FILTER) | F(SQ_OPT_LIMIT), build_consumer_peek, "GET",
     SQ_OUT_PEEK, "list a consumer's messages and their delivery state without receiving"},
    {"stream", "ls", "", 0, 0, 0, build_item, "GET", SQ_OUT_STREAMS, "list streams"},
    {"stream", "add", "NAME", 1, 1, 0, build_stream_add, "POST", SQ_OUT_STREAM, "create a stream"},
    {"stream", "info", "NAME", 1, 1, 0, build_item, "GET", SQ_OUT_STREAM, "show a stream"},
    {"stream", "rm", "NAME", 1, 1, 0, build_item, "DELETE", SQ_OUT_DONE,
     "delete a stream with its messages and consumers"},
    {"source", "postgres add", "NAME", 1, 1, STREAM | SOURCE_SETTINGS | F(SQ_OPT_DEFAULTS),
     build_source_add, "POST", SQ_OUT_SOURCE,
     "stream a PostgreSQL database's tables (prompts for unset settings on a terminal)"},
    {"source", "postgres ls", "", 0, 0, 0, build_item, "GET", SQ_OUT_SOURCES,
     "list sources with their state and lag"},
    {"source", "postgres info", "NAME", 1, 1, 0, build_item, "GET", SQ_OUT_SOURCE,
     "show a source: settings, state, lag, last commit, backfill progress"},
    {"source", "postgres rm", "NAME", 1, 1, 0, build_item, "DELETE", SQ_OUT_DONE,
     "delete a source (its slot and publication stay in the source database)"},
    {"source", "webhook add", "NAME", 1, 1, STREAM | WEBHOOK_SETTINGS, build_webhook_add, "POST",
     SQ_OUT_WEBHOOK, "receive webhooks at POST /api/webhook/NAME into a stream"},
    {"source", "webhook ls", "", 0, 0, 0, build_item, "GET", SQ_OUT_WEBHOOKS,
     "list webhook sources"},
    {"source", "webhook info", "NAME", 1, 1, 0, build_item, "GET", SQ_OUT_WEBHOOK,
     "show a webhook source's settings (whether it has secrets, never what they are)"},
    {"source", "webhook rm", "NAME", 1, 1, 0, build_item, "DELETE", SQ_OUT_DONE,
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
    if (rules[o - opts] != NULL)
        return rules[o - opts](v, err, errlen);
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
        if (strlen(opts[o].name) != n || memcmp(opts[o].name, arg, n) != 0)
            continue;
        const char *v = "";
        if (opts[o].takes_value) {
            if (eq != NULL)
                v = eq + 1;
            else if (*i + 1 < argc)
                v = argv[++*i];
            else
                return sq_fail(err, errlen, "--%s needs a value", opts[o].name);
            if (check_value(&opts[o], v, err, errlen) != SQ_OK)
                return SQ_ERR;
        } else if (eq != NULL) {
            return sq_fail(err, errlen, "--%s takes no value", opts[o].name);
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
                           opts[o].name);
    for (size_t i = 0; i < SQ_ARRAY_LEN(exclusive); i++)
        if (inv->opt[exclusive[i][0]] != NULL && inv->opt[exclusive[i][1]] != NULL)
            return sq_fail(err, errlen, "--%s and --%s exclude each other",
                           opts[exclusive[i][0]].name, opts[exclusive[i][1]].name);
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
        if (opts[o].takes_value)
            fprintf(out, " [--%s %s]%s", opts[o].name, opts[o].metavar, repeats[o] ? "..." : "");
        else
            fprintf(out, " [--%s]", opts[o].name);
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

/* ---- building requests ----------------------------------------------------------------- */

/* Everything but RFC 3986's unreserved characters is percent-encoded, so a key's '/', '?', '#'
 * or '%' cannot change the route. */
int sq_cli_encode(sq_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        unsigned char c = *p;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';
        int rc =
            plain ? sq_buf_putc(b, (char)c) : sq_buf_printf(b, "%%%c%c", hex[c >> 4], hex[c & 15]);
        if (rc != SQ_OK)
            return SQ_ERR;
    }
    return SQ_OK;
}

/* Appends "/seg1/seg2..." (each encoded) to the path; a NULL ends the list. */
static int path(sq_cli_request *req, ...)
{
    va_list ap;
    int rc = SQ_OK;
    va_start(ap, req);
    for (const char *s = va_arg(ap, const char *); s != NULL && rc == SQ_OK;
         s = va_arg(ap, const char *))
        rc = sq_buf_putc(&req->path, '/') == SQ_OK ? sq_cli_encode(&req->path, s) : SQ_ERR;
    va_end(ap);
    return rc;
}

/* Appends "?name=value" or "&name=value" when value is not NULL. */
static int query(sq_cli_request *req, const char *name, const char *value)
{
    if (value == NULL)
        return SQ_OK;
    char sep = memchr(req->path.data, '?', req->path.len) != NULL ? '&' : '?';
    if (sq_buf_printf(&req->path, "%c%s=", sep, name) != SQ_OK)
        return SQ_ERR;
    return sq_cli_encode(&req->path, value);
}

const char *sq_cli_stream(const sq_cli_invocation *inv)
{
    return inv->opt[SQ_OPT_STREAM] != NULL ? inv->opt[SQ_OPT_STREAM] : "default";
}

/* The path of the consumer named by the first argument, then `tail` segments. */
static int consumer_path(const sq_cli_invocation *inv, sq_cli_request *req, const char *tail)
{
    return path(req, "api", "streams", sq_cli_stream(inv), "consumers", inv->args[0], tail, NULL);
}

static int check_key(const char *key, char *err, size_t errlen)
{
    const char *why = NULL;
    if (sq_key_validate(key, strlen(key), &why) != SQ_OK)
        return sq_fail(err, errlen, "invalid key \"%s\": %s", key, why);
    return SQ_OK;
}

static int check_filter(const char *filter, char *err, size_t errlen)
{
    const char *why = NULL;
    if (filter != NULL && sq_filter_validate(filter, strlen(filter), &why) != SQ_OK)
        return sq_fail(err, errlen, "invalid filter \"%s\": %s", filter, why);
    return SQ_OK;
}

static int check_name(const char *what, const char *name, char *err, size_t errlen)
{
    if (!sq_name_is_valid(name, strlen(name)))
        return sq_fail(err, errlen,
                       "invalid %s name \"%s\": 1 to 64 ASCII letters, digits or underscores", what,
                       name);
    return SQ_OK;
}

static int check_url(const char *url, char *err, size_t errlen)
{
    /* libpq judges the rest (a URL or key=value pairs) when the source connects. */
    if (*url == '\0')
        return sq_fail(err, errlen, "--url must not be empty");
    return SQ_OK;
}

/* A PostgreSQL name as a source's settings take one (docs/sources.md): 1 to 63 ASCII letters,
 * digits or underscores (PostgreSQL cuts longer names), and for a slot lower case only
 * (PostgreSQL's own rule for slot names). */
static bool pg_name_ok(const char *s, size_t n, bool lower)
{
    return n <= 63 && sq_name_is_valid(s, n) &&
           (!lower || strcspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") >= n);
}

/* A slot's or a publication's name (`what`), as pg_name_ok takes it. */
static int check_pg_name(const char *what, const char *name, bool lower, char *err, size_t errlen)
{
    if (!pg_name_ok(name, strlen(name), lower))
        return sq_fail(err, errlen, "invalid %s \"%s\": 1 to 63 %sletters, digits or underscores",
                       what, name, lower ? "lower-case " : "");
    return SQ_OK;
}

static int check_slot(const char *slot, char *err, size_t errlen)
{
    return check_pg_name("slot", slot, true, err, errlen);
}

static int check_publication(const char *publication, char *err, size_t errlen)
{
    return check_pg_name("publication", publication, false, err, errlen);
}

/* A push consumer's URL, header and signing secret, by the API's rules (sequin/push_rules.h). */
static int check_push_url(const char *url, char *err, size_t errlen)
{
    const char *why = sq_push_rules_url(url, strlen(url));
    return why != NULL ? sq_fail(err, errlen, "invalid --push-url \"%s\": it %s", url, why) : SQ_OK;
}

static int check_header(const char *header, char *err, size_t errlen)
{
    size_t nl, vl;
    const char *v, *why = sq_push_rules_split_header(header, strlen(header), &nl, &v, &vl);
    return why != NULL ? sq_fail(err, errlen, "invalid --header \"%s\": %s", header, why) : SQ_OK;
}

static int check_secret(const char *secret, char *err, size_t errlen)
{
    const char *why = sq_push_rules_secret(secret, strlen(secret));
    return why != NULL ? sq_fail(err, errlen, "invalid --signing-secret: it %s", why) : SQ_OK;
}

/* "schema.table", or "table" for public's. */
static int check_table(const char *table, char *err, size_t errlen)
{
    const char *dot = strchr(table, '.');
    size_t n = strlen(table), first = dot != NULL ? (size_t)(dot - table) : n;
    if (!pg_name_ok(table, first, false) ||
        (dot != NULL && !pg_name_ok(dot + 1, n - first - 1, false)))
        return sq_fail(err, errlen,
                       "invalid table \"%s\": schema.table, each 1 to 63 letters, digits or "
                       "underscores",
                       table);
    return SQ_OK;
}

/* Writes "member": value for a flag that is set: a number for an integer flag (the parse
 * checked its range), else a string. */
static int write_opt(sq_json_writer *w, const sq_cli_invocation *inv, sq_cli_opt o,
                     const char *member)
{
    if (inv->opt[o] == NULL)
        return SQ_OK;
    if (sq_json_write_key(w, member) != SQ_OK)
        return SQ_ERR;
    if (opts[o].lo <= opts[o].hi)
        return sq_json_write_int64(w, strtol(inv->opt[o], NULL, 10));
    return sq_json_write_string(w, inv->opt[o]);
}

/* A push consumer's flags as the API takes them: at creation "kind" and the whole
 * http_endpoint; in an edit (`patch`) the endpoint's members given (--header replaces every
 * header). */
static int write_push(sq_json_writer *w, const sq_cli_invocation *inv, bool patch)
{
    const char *url = inv->opt[SQ_OPT_PUSH_URL], *secret = inv->opt[SQ_OPT_SIGNING_SECRET];
    size_t nheaders = inv->nmany[SQ_OPT_HEADER];
    int rc = SQ_OK;
    if (!patch)
        rc |= sq_json_write_key(w, "kind") || sq_json_write_string(w, "push");
    if (url != NULL || nheaders > 0 || secret != NULL) {
        rc |= sq_json_write_key(w, "http_endpoint") || sq_json_write_begin_object(w);
        if (url != NULL)
            rc |= sq_json_write_key(w, "url") || sq_json_write_string(w, url);
        if (nheaders > 0) {
            rc |= sq_json_write_key(w, "headers") || sq_json_write_begin_object(w);
            for (size_t i = 0; i < nheaders; i++) {
                const char *line = inv->many[SQ_OPT_HEADER][i], *v;
                size_t nl, vl;
                if (sq_push_rules_split_header(line, strlen(line), &nl, &v, &vl) != NULL)
                    return SQ_ERR; /* cannot be: the parse checked it */
                rc |= sq_json_write_keyn(w, line, nl) || sq_json_write_stringn(w, v, vl);
            }
            rc |= sq_json_write_end_object(w);
        }
        if (secret != NULL)
            rc |= sq_json_write_key(w, "signing_secret") || sq_json_write_string(w, secret);
        rc |= sq_json_write_end_object(w);
    }
    rc |= write_opt(w, inv, SQ_OPT_MAX_WAITING, "max_waiting");
    return rc;
}

static int write_settings(sq_json_writer *w, const sq_cli_invocation *inv)
{
    int rc = write_opt(w, inv, SQ_OPT_ACK_WAIT_MS, "ack_wait_ms");
    rc |= write_opt(w, inv, SQ_OPT_MAX_ACK_PENDING, "max_ack_pending");
    rc |= write_opt(w, inv, SQ_OPT_MAX_DELIVER, "max_deliver");
    return rc;
}

/* Whether any push flag is given. */
static bool has_push(const sq_cli_invocation *inv)
{
    return inv->opt[SQ_OPT_PUSH_URL] != NULL || inv->opt[SQ_OPT_HEADER] != NULL ||
           inv->opt[SQ_OPT_SIGNING_SECRET] != NULL || inv->opt[SQ_OPT_MAX_WAITING] != NULL;
}

static int oom(char *err, size_t errlen)
{
    return sq_fail(err, errlen, "out of memory");
}

/* The end of a builder that writes a body: the writer's verdict, then the path's. */
static int finish_body(int rc, const sq_json_writer *w, int path_rc, char *err, size_t errlen)
{
    if (rc != SQ_OK || sq_json_writer_finish(w) != SQ_OK || path_rc != SQ_OK)
        return oom(err, errlen);
    return SQ_OK;
}

static int build_message_upsert(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                                size_t errlen)
{
    const char *key = inv->args[0], *data = inv->args[1];
    if (check_key(key, err, errlen) != SQ_OK)
        return SQ_ERR;
    sq_json_writer w;
    sq_json_writer_init(&w, &req->body);
    int rc = (sq_json_write_begin_object(&w) || sq_json_write_key(&w, "messages") ||
              sq_json_write_begin_array(&w) || sq_json_write_begin_object(&w) ||
              sq_json_write_key(&w, "key") || sq_json_write_string(&w, key) ||
              sq_json_write_key(&w, "data") || sq_json_write_string(&w, data) ||
              sq_json_write_end_object(&w) || sq_json_write_end_array(&w) ||
              sq_json_write_end_object(&w));
    return finish_body(rc, &w, path(req, "api", "streams", sq_cli_stream(inv), "messages", NULL),
                       err, errlen);
}

static int build_message_get(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                             size_t errlen)
{
    if (check_key(inv->args[0], err, errlen) != SQ_OK)
        return SQ_ERR;
    if (path(req, "api", "streams", sq_cli_stream(inv), "messages", inv->args[0], NULL) != SQ_OK)
        return oom(err, errlen);
    return SQ_OK;
}

static int build_message_ls(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                            size_t errlen)
{
    const char *filter = inv->opt[SQ_OPT_FILTER];
    const char *last = inv->opt[SQ_OPT_LAST], *first = inv->opt[SQ_OPT_FIRST];
    if (path(req, "api", "streams", sq_cli_stream(inv), "messages", NULL) != SQ_OK ||
        query(req, "sort",
              last != NULL    ? "seq_desc"
              : first != NULL ? "seq_asc"
                              : NULL) ||
        query(req, "limit", last != NULL ? last : first) != SQ_OK ||
        query(req, "key_pattern", filter) != SQ_OK)
        return oom(err, errlen);
    return SQ_OK;
}

static int build_message_rm(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                            size_t errlen)
{
    if (build_message_get(inv, req, err, errlen) != SQ_OK)
        return SQ_ERR;
    snprintf(req->done, sizeof req->done, "Deleted message %s.", inv->args[0]);
    return SQ_OK;
}

static int build_consumer_add(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                              size_t errlen)
{
    const char *name = inv->args[0], *filter = inv->opt[SQ_OPT_FILTER];
    if (check_name("consumer", name, err, errlen) != SQ_OK)
        return SQ_ERR;
    if (filter == NULL)
        return sq_fail(err, errlen, "consumer add needs --filter PATTERN (e.g. \"orders.us.>\")");
    bool push = inv->opt[SQ_OPT_PUSH_URL] != NULL;
    if (!push && has_push(inv))
        return sq_fail(err, errlen,
                       "--header, --signing-secret and --max-waiting are a push consumer's: give "
                       "--push-url URL too");
    sq_json_writer w;
    sq_json_writer_init(&w, &req->body);
    int rc = sq_json_write_begin_object(&w) || sq_json_write_key(&w, "name") ||
             sq_json_write_string(&w, name) || sq_json_write_key(&w, "filter_key_pattern") ||
             sq_json_write_string(&w, filter) || write_settings(&w, inv) ||
             write_opt(&w, inv, SQ_OPT_DELIVER_POLICY, "deliver_policy") ||
             (push && write_push(&w, inv, false)) || sq_json_write_end_object(&w);
    return finish_body(rc, &w, path(req, "api", "streams", sq_cli_stream(inv), "consumers", NULL),
                       err, errlen);
}

static int build_consumer_ls(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                             size_t errlen)
{
    if (path(req, "api", "streams", sq_cli_stream(inv), "consumers", NULL) != SQ_OK)
        return oom(err, errlen);
    return SQ_OK;
}

static int build_consumer_info(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                               size_t errlen)
{
    if (consumer_path(inv, req, NULL) != SQ_OK)
        return oom(err, errlen);
    return SQ_OK;
}

static int build_consumer_edit(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                               size_t errlen)
{
    if (inv->opt[SQ_OPT_ACK_WAIT_MS] == NULL && inv->opt[SQ_OPT_MAX_ACK_PENDING] == NULL &&
        inv->opt[SQ_OPT_MAX_DELIVER] == NULL && !has_push(inv))
        return sq_fail(err, errlen,
                       "consumer edit needs at least one of --ack-wait-ms, --max-ack-pending, "
                       "--max-deliver, --push-url, --header, --signing-secret, --max-waiting");
    sq_json_writer w;
    sq_json_writer_init(&w, &req->body);
    int rc = sq_json_write_begin_object(&w) || write_settings(&w, inv) ||
             write_push(&w, inv, true) || sq_json_write_end_object(&w);
    return finish_body(rc, &w, consumer_path(inv, req, NULL), err, errlen);
}

static int build_consumer_rm(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                             size_t errlen)
{
    snprintf(req->done, sizeof req->done, "Deleted consumer %s.", inv->args[0]);
    if (consumer_path(inv, req, NULL) != SQ_OK)
        return oom(err, errlen);
    return SQ_OK;
}

/* POST with a body rather than GET with a query: a receive leases messages, so it is not
 * a safe method, and a proxy must never replay it. */
static int build_consumer_receive(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                                  size_t errlen)
{
    sq_json_writer w;
    sq_json_writer_init(&w, &req->body);
    int rc = sq_json_write_begin_object(&w) || sq_json_write_key(&w, "batch_size") ||
             sq_json_write_int64(&w, inv->opt[SQ_OPT_BATCH_SIZE] != NULL
                                         ? strtol(inv->opt[SQ_OPT_BATCH_SIZE], NULL, 10)
                                         : 1) ||
             write_opt(&w, inv, SQ_OPT_WAIT, "wait_for") || sq_json_write_end_object(&w);
    req->wait_ms = inv->opt[SQ_OPT_WAIT] != NULL ? strtol(inv->opt[SQ_OPT_WAIT], NULL, 10) : 0;
    return finish_body(rc, &w, consumer_path(inv, req, "receive"), err, errlen);
}

/* The path and body of POST .../consumers/CONSUMER/VERB {"ack_ids": ids[, "delay_ms": delay]},
 * VERB "ack" or "nack", with its `done` sentence. 0 or -1 (out of memory). */
static int ack_request(sq_cli_request *req, const char *stream, const char *consumer,
                       const char *verb, const char *const *ids, size_t n, const char *delay)
{
    sq_json_writer w;
    sq_json_writer_init(&w, &req->body);
    int rc = sq_json_write_begin_object(&w) || sq_json_write_key(&w, "ack_ids") ||
             sq_json_write_begin_array(&w);
    for (size_t i = 0; i < n; i++)
        rc |= sq_json_write_string(&w, ids[i]);
    rc |= sq_json_write_end_array(&w);
    if (delay != NULL)
        rc |= sq_json_write_key(&w, "delay_ms") || sq_json_write_int64(&w, strtol(delay, NULL, 10));
    rc |= sq_json_write_end_object(&w);
    snprintf(req->done, sizeof req->done, "%s %zu message%s.",
             strcmp(verb, "nack") == 0 ? "Nacked" : "Acked", n, n == 1 ? "" : "s");
    if (rc != SQ_OK || sq_json_writer_finish(&w) != SQ_OK)
        return SQ_ERR;
    return path(req, "api", "streams", stream, "consumers", consumer, verb, NULL);
}

static int build_consumer_ack(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                              size_t errlen)
{
    if (ack_request(req, sq_cli_stream(inv), inv->args[0], inv->cmd->name, inv->args + 1,
                    (size_t)inv->nargs - 1, inv->opt[SQ_OPT_DELAY_MS]) != SQ_OK)
        return oom(err, errlen);
    return SQ_OK;
}

int sq_cli_build_ack(const char *stream, const char *consumer, const char *const *ids, size_t n,
                     sq_cli_request *req)
{
    *req = (sq_cli_request){.method = "POST", .output = SQ_OUT_DONE};
    return ack_request(req, stream, consumer, "ack", ids, n, NULL);
}

static int build_consumer_peek(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                               size_t errlen)
{
    const char *filter = inv->opt[SQ_OPT_FILTER];
    if (consumer_path(inv, req, "messages") != SQ_OK ||
        query(req, "state", inv->opt[SQ_OPT_STATE]) != SQ_OK ||
        query(req, "limit", inv->opt[SQ_OPT_LIMIT]) != SQ_OK ||
        query(req, "key_pattern", filter) != SQ_OK)
        return oom(err, errlen);
    return SQ_OK;
}

/* `ls`, `info NAME` and `rm NAME` of a group whose items are a collection of the API's own:
 * /api/streams, /api/sources (the group's name and an s). */
static int build_item(const sq_cli_invocation *inv, sq_cli_request *req, char *err, size_t errlen)
{
    char collection[32];
    const char *name = inv->nargs > 0 ? inv->args[0] : NULL;
    snprintf(collection, sizeof collection, "%ss", inv->cmd->group);
    if (strcmp(inv->cmd->method, "DELETE") == 0)
        snprintf(req->done, sizeof req->done, "Deleted %s %s.", inv->cmd->group, name);
    if (path(req, "api", collection, name, NULL) != SQ_OK)
        return oom(err, errlen);
    return SQ_OK;
}

static int build_stream_add(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                            size_t errlen)
{
    if (check_name("stream", inv->args[0], err, errlen) != SQ_OK)
        return SQ_ERR;
    sq_json_writer w;
    sq_json_writer_init(&w, &req->body);
    int rc = sq_json_write_begin_object(&w) || sq_json_write_key(&w, "name") ||
             sq_json_write_string(&w, inv->args[0]) || sq_json_write_end_object(&w);
    return finish_body(rc, &w, path(req, "api", "streams", NULL), err, errlen);
}

/* The body of POST /api/sources (docs/api.md): only the settings given, so that the server's
 * defaults hold for the others, as for a consumer. */
static int build_source_add(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                            size_t errlen)
{
    const char *name = inv->args[0], *url = inv->opt[SQ_OPT_URL];
    if (check_name("source", name, err, errlen) != SQ_OK)
        return SQ_ERR;
    if (url == NULL)
        return sq_fail(err, errlen,
                       "source postgres add needs --url URL "
                       "(e.g. postgres://replicator@db.internal/app)");
    if (inv->nmany[SQ_OPT_TABLE] == 0)
        return sq_fail(err, errlen,
                       "source postgres add needs --table SCHEMA.TABLE (once for each table)");
    sq_json_writer w;
    sq_json_writer_init(&w, &req->body);
    int rc = sq_json_write_begin_object(&w) || sq_json_write_key(&w, "name") ||
             sq_json_write_string(&w, name) || sq_json_write_key(&w, "stream") ||
             sq_json_write_string(&w, sq_cli_stream(inv)) || sq_json_write_key(&w, "postgres") ||
             sq_json_write_begin_object(&w) || sq_json_write_key(&w, "url") ||
             sq_json_write_string(&w, url) || write_opt(&w, inv, SQ_OPT_SLOT, "slot") ||
             write_opt(&w, inv, SQ_OPT_PUBLICATION, "publication") ||
             sq_json_write_key(&w, "tables") || sq_json_write_begin_array(&w);
    for (size_t i = 0; i < inv->nmany[SQ_OPT_TABLE]; i++)
        rc |= sq_json_write_string(&w, inv->many[SQ_OPT_TABLE][i]);
    rc |= sq_json_write_end_array(&w) || sq_json_write_end_object(&w) ||
          write_opt(&w, inv, SQ_OPT_KEY_FORMAT, "key_format");
    if (inv->opt[SQ_OPT_BACKFILL] != NULL || inv->opt[SQ_OPT_NO_BACKFILL] != NULL)
        rc |= sq_json_write_key(&w, "backfill") ||
              sq_json_write_bool(&w, inv->opt[SQ_OPT_BACKFILL] != NULL);
    rc |= sq_json_write_end_object(&w);
    return finish_body(rc, &w, path(req, "api", "sources", NULL), err, errlen);
}

/* The body of POST /api/sources for a webhook: the settings given, under "webhook". */
static int build_webhook_add(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                             size_t errlen)
{
    const char *name = inv->args[0];
    if (check_name("source", name, err, errlen) != SQ_OK)
        return SQ_ERR;
    if (inv->opt[SQ_OPT_SECRET_HEADER] != NULL && inv->opt[SQ_OPT_SECRET] == NULL)
        return sq_fail(err, errlen, "--secret-header needs --secret");
    if (inv->opt[SQ_OPT_HMAC_HEADER] != NULL && inv->opt[SQ_OPT_HMAC_SECRET] == NULL)
        return sq_fail(err, errlen, "--hmac-header needs --hmac-secret");
    sq_json_writer w;
    sq_json_writer_init(&w, &req->body);
    int rc = sq_json_write_begin_object(&w) || sq_json_write_key(&w, "name") ||
             sq_json_write_string(&w, name) || sq_json_write_key(&w, "stream") ||
             sq_json_write_string(&w, sq_cli_stream(inv)) || sq_json_write_key(&w, "webhook") ||
             sq_json_write_begin_object(&w) || write_opt(&w, inv, SQ_OPT_KEY_FIELD, "key_field") ||
             write_opt(&w, inv, SQ_OPT_KEY_HEADER, "key_header") ||
             write_opt(&w, inv, SQ_OPT_SECRET, "secret") ||
             write_opt(&w, inv, SQ_OPT_SECRET_HEADER, "secret_header") ||
             write_opt(&w, inv, SQ_OPT_HMAC_SECRET, "hmac_secret") ||
             write_opt(&w, inv, SQ_OPT_HMAC_HEADER, "hmac_header") ||
             sq_json_write_end_object(&w) || sq_json_write_end_object(&w);
    return finish_body(rc, &w, path(req, "api", "sources", NULL), err, errlen);
}

int sq_cli_build(const sq_cli_invocation *inv, sq_cli_request *req, char *err, size_t errlen)
{
    *req = (sq_cli_request){0};
    if (!sq_cli_is_remote(inv))
        return sq_fail(err, errlen, "not a command that sends a request");
    req->method = inv->cmd->method;
    req->output = inv->cmd->output;
    return inv->cmd->build(inv, req, err, errlen);
}

void sq_cli_request_free(sq_cli_request *req)
{
    sq_buf_free(&req->path);
    sq_buf_free(&req->body);
}

/* ---- the request as a curl command ----------------------------------------------------- */

int sq_cli_shell_quote(sq_buf *out, const char *s, size_t n)
{
    if (sq_buf_putc(out, '\'') != SQ_OK)
        return SQ_ERR;
    for (size_t i = 0; i < n; i++) {
        int rc = s[i] == '\'' ? sq_buf_puts(out, "'\\''") : sq_buf_putc(out, s[i]);
        if (rc != SQ_OK)
            return SQ_ERR;
    }
    return sq_buf_putc(out, '\'');
}

static int quoted_arg(sq_buf *out, const char *s)
{
    return sq_buf_putc(out, ' ') == SQ_OK ? sq_cli_shell_quote(out, s, strlen(s)) : SQ_ERR;
}

int sq_cli_curl_command(sq_buf *out, const sq_cli_request *req, const char *base_url,
                        const char *token)
{
    int rc = sq_buf_puts(out, "curl -X") || quoted_arg(out, req->method);
    if (token != NULL) {
        sq_buf h = {0};
        rc |= sq_buf_printf(&h, "Authorization: Bearer %s", token);
        rc |= rc == SQ_OK ? sq_buf_puts(out, " -H") || quoted_arg(out, h.data) : SQ_ERR;
        sq_buf_free(&h);
    }
    if (req->body.len > 0)
        rc |= sq_buf_puts(out, " -H") || quoted_arg(out, "Content-Type: application/json") ||
              sq_buf_puts(out, " --data-raw") || quoted_arg(out, req->body.data);
    rc |= sq_buf_putc(out, ' ');
    sq_buf url = {0};
    rc |= rc == SQ_OK ? sq_buf_printf(&url, "%s%s", base_url, req->path.data) : SQ_ERR;
    rc |= rc == SQ_OK ? sq_cli_shell_quote(out, url.data, url.len) : SQ_ERR;
    sq_buf_free(&url);
    return rc != SQ_OK ? SQ_ERR : SQ_OK;
}

int sq_cli_check_opt(sq_cli_opt o, const char *value, char *err, size_t errlen)
{
    if ((int)o < 0 || o >= SQ_OPT_COUNT)
        return sq_fail(err, errlen, "no such flag");
    return check_value(&opts[o], value, err, errlen);
}
