/* The HTTP request of SPEC 4 each CLI command stands for (the table in cli_request.c names
 * these builders), the checks of flag values that need more than a choice list, and a request
 * written as the curl command that sends it. Pure: no I/O. */
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

int sq_cli_check_filter(const char *filter, char *err, size_t errlen)
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

int sq_cli_check_url(const char *url, char *err, size_t errlen)
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

int sq_cli_check_slot(const char *slot, char *err, size_t errlen)
{
    return check_pg_name("slot", slot, true, err, errlen);
}

int sq_cli_check_publication(const char *publication, char *err, size_t errlen)
{
    return check_pg_name("publication", publication, false, err, errlen);
}

/* A push consumer's URL, header and signing secret, by the API's rules (sequin/push_rules.h). */
int sq_cli_check_push_url(const char *url, char *err, size_t errlen)
{
    const char *why = sq_push_rules_url(url, strlen(url));
    return why != NULL ? sq_fail(err, errlen, "invalid --push-url \"%s\": it %s", url, why) : SQ_OK;
}

int sq_cli_check_header(const char *header, char *err, size_t errlen)
{
    size_t nl, vl;
    const char *v, *why = sq_push_rules_split_header(header, strlen(header), &nl, &v, &vl);
    return why != NULL ? sq_fail(err, errlen, "invalid --header \"%s\": %s", header, why) : SQ_OK;
}

int sq_cli_check_secret(const char *secret, char *err, size_t errlen)
{
    const char *why = sq_push_rules_secret(secret, strlen(secret));
    return why != NULL ? sq_fail(err, errlen, "invalid --signing-secret: it %s", why) : SQ_OK;
}

/* "schema.table", or "table" for public's. */
int sq_cli_check_table(const char *table, char *err, size_t errlen)
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
    if (sq_cli_opts[o].lo <= sq_cli_opts[o].hi)
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

int sq_cli_build_message_upsert(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
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

int sq_cli_build_message_get(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                             size_t errlen)
{
    if (check_key(inv->args[0], err, errlen) != SQ_OK)
        return SQ_ERR;
    if (path(req, "api", "streams", sq_cli_stream(inv), "messages", inv->args[0], NULL) != SQ_OK)
        return oom(err, errlen);
    return SQ_OK;
}

int sq_cli_build_message_ls(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
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

int sq_cli_build_message_rm(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                            size_t errlen)
{
    if (sq_cli_build_message_get(inv, req, err, errlen) != SQ_OK)
        return SQ_ERR;
    snprintf(req->done, sizeof req->done, "Deleted message %s.", inv->args[0]);
    return SQ_OK;
}

int sq_cli_build_consumer_add(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
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

int sq_cli_build_consumer_ls(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                             size_t errlen)
{
    if (path(req, "api", "streams", sq_cli_stream(inv), "consumers", NULL) != SQ_OK)
        return oom(err, errlen);
    return SQ_OK;
}

int sq_cli_build_consumer_info(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                               size_t errlen)
{
    if (consumer_path(inv, req, NULL) != SQ_OK)
        return oom(err, errlen);
    return SQ_OK;
}

int sq_cli_build_consumer_edit(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
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

int sq_cli_build_consumer_rm(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
                             size_t errlen)
{
    snprintf(req->done, sizeof req->done, "Deleted consumer %s.", inv->args[0]);
    if (consumer_path(inv, req, NULL) != SQ_OK)
        return oom(err, errlen);
    return SQ_OK;
}

/* POST with a body rather than GET with a query: a receive leases messages, so it is not
 * a safe method, and a proxy must never replay it. */
int sq_cli_build_consumer_receive(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
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

int sq_cli_build_consumer_ack(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
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

int sq_cli_build_consumer_peek(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
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
int sq_cli_build_item(const sq_cli_invocation *inv, sq_cli_request *req, char *err, size_t errlen)
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

int sq_cli_build_stream_add(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
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
int sq_cli_build_source_add(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
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
int sq_cli_build_webhook_add(const sq_cli_invocation *inv, sq_cli_request *req, char *err,
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
