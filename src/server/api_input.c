/* The API's inputs: JSON bodies and query parameters checked against SPEC 3-4. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sequin/api_input.h"
#include "sequin/json.h"
#include "sequin/keys.h"
#include "sequin/push_rules.h"
#include "sequin/source.h"
#include "sequin/webhook.h"

enum {
    MAX_BATCH = 10000,
    MAX_IDS = 10000
};

/* ---- problems ------------------------------------------------------------------------------ */

SQ_PRINTF(2, 3) static int bad(sq_api_problem *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->text, sizeof p->text, fmt, ap);
    va_end(ap);
    p->status = 400;
    p->summary = p->text;
    p->field = p->detail = NULL;
    return SQ_ERR;
}

/* A 422 for `field`, whose rule is `detail`; both are copied into the problem. */
static int invalid(sq_api_problem *p, const char *field, const char *detail)
{
    snprintf(p->field_text, sizeof p->field_text, "%s", field);
    snprintf(p->detail_text, sizeof p->detail_text, "%s", detail);
    snprintf(p->text, sizeof p->text, "invalid %s: %s", field, detail);
    p->status = 422;
    p->summary = p->text;
    p->field = p->field_text;
    p->detail = p->detail_text;
    return SQ_ERR;
}

/* ---- JSON helpers -------------------------------------------------------------------------- */

/* Parses `body` as one JSON object; the caller frees `doc` whatever this returns. */
static int parse_object(sq_json *doc, const char *body, size_t len, sq_api_problem *p)
{
    sq_json_error e;
    if (len == 0)
        return bad(p, "the request needs a JSON body");
    if (sq_json_parse(doc, body, len, 0, &e) != SQ_OK)
        return bad(p, "malformed JSON: %s", e.text);
    if (sq_json_type_of(doc, 0) != SQ_JSON_OBJECT)
        return bad(p, "the body must be a JSON object");
    return SQ_OK;
}

/* Refuses members other than `known` (a NULL-terminated list): a misspelt setting should
 * not be silently ignored. */
static int only_members(const sq_json *doc, int obj, const char *const *known, sq_api_problem *p)
{
    for (int k = sq_json_first(doc, obj); k >= 0; k = sq_json_next(doc, k)) {
        bool ok = false;
        for (size_t i = 0; known[i] != NULL && !ok; i++)
            ok = sq_json_str_equals(doc, k, known[i], strlen(known[i])) == 1;
        if (!ok) {
            const char *raw;
            size_t n;
            if (sq_json_raw(doc, k, &raw, &n) != SQ_OK)
                n = 0;
            return bad(p, "unknown member %.*s", (int)(n > 64 ? 64 : n), raw);
        }
    }
    return SQ_OK;
}

/* The value of member `name`, -1 when absent; a duplicated member is a 400. */
static int member(const sq_json *doc, int obj, const char *name, int *tok, sq_api_problem *p)
{
    if (sq_json_lookup(doc, obj, name, tok) != SQ_OK)
        return bad(p, "member \"%s\" appears more than once", name);
    return SQ_OK;
}

/* An optional string member: `*out` NULL when absent. Wrong type: 400. */
static int opt_string(const sq_json *doc, int obj, const char *name, sq_arena *arena,
                      const char **out, size_t *len, sq_api_problem *p)
{
    int tok;
    *out = NULL;
    if (member(doc, obj, name, &tok, p) != SQ_OK)
        return SQ_ERR;
    if (tok < 0)
        return SQ_OK;
    if (sq_json_type_of(doc, tok) != SQ_JSON_STRING)
        return bad(p, "\"%s\" must be a string", name);
    if (sq_json_get_str_arena(doc, tok, arena, out, len) != SQ_OK)
        return bad(p, "out of memory reading \"%s\"", name);
    return SQ_OK;
}

/* An optional integer member within [lo, hi]; absent leaves `*out` as it is. `*is_null` (if
 * not NULL) reports an explicit null, which is then allowed. */
static int opt_int(const sq_json *doc, int obj, const char *name, long lo, long hi, int *out,
                   bool *is_null, sq_api_problem *p)
{
    int tok;
    if (member(doc, obj, name, &tok, p) != SQ_OK)
        return SQ_ERR;
    if (tok < 0)
        return SQ_OK;
    if (is_null != NULL && sq_json_is_null(doc, tok)) {
        *is_null = true;
        return SQ_OK;
    }
    int64_t v;
    if (sq_json_type_of(doc, tok) != SQ_JSON_NUMBER || sq_json_get_int64(doc, tok, &v) != SQ_OK)
        return bad(p, "\"%s\" must be an integer", name);
    if (v < lo || v > hi) {
        char rule[64];
        snprintf(rule, sizeof rule, "must be between %ld and %ld", lo, hi);
        return invalid(p, name, rule);
    }
    *out = (int)v;
    return SQ_OK;
}

/* The array of 1 to `max` `items` (each one `each`) that the body's member `name` (its token
 * `arr`, -1 when absent) must be, with zeroed room for `*count` items of `size` bytes in
 * `arena`: NULL when it is not (the problem in `p`). */
static void *batch(const sq_json *doc, int arr, const char *name, const char *items,
                   const char *each, int max, size_t size, sq_arena *arena, int *count,
                   sq_api_problem *p)
{
    if (arr < 0 || sq_json_type_of(doc, arr) != SQ_JSON_ARRAY) {
        bad(p, "the body needs \"%s\": an array of %s", name, each);
        return NULL;
    }
    *count = sq_json_count(doc, arr);
    if (*count < 1 || *count > max) {
        char rule[64];
        snprintf(rule, sizeof rule, "holds 1 to %d %s", max, items);
        invalid(p, name, rule);
        return NULL;
    }
    void *room = sq_arena_calloc(arena, (size_t)*count, size);
    if (room == NULL)
        bad(p, "out of memory");
    return room;
}

static const char NAME_RULE[] = "1 to 64 letters, digits or underscores";

/* ---- bodies -------------------------------------------------------------------------------- */

int sq_api_parse_upsert(const char *body, size_t len, size_t max_message_bytes, sq_arena *arena,
                        sq_message_in **msgs, size_t *n, sq_api_problem *p)
{
    sq_json doc = {0};
    int rc = SQ_ERR, arr, count = 0;
    static const char *const known[] = {"messages", NULL};
    if (parse_object(&doc, body, len, p) != SQ_OK || only_members(&doc, 0, known, p) != SQ_OK ||
        member(&doc, 0, "messages", &arr, p) != SQ_OK)
        goto done;
    sq_message_in *out = batch(&doc, arr, "messages", "messages", "{\"key\", \"data\"}", MAX_BATCH,
                               sizeof *out, arena, &count, p);
    if (out == NULL)
        goto done;
    size_t i = 0;
    static const char *const item_known[] = {"key", "data", NULL};
    for (int it = sq_json_first(&doc, arr); it >= 0; it = sq_json_next(&doc, it), i++) {
        char field[48];
        const char *why;
        if (sq_json_type_of(&doc, it) != SQ_JSON_OBJECT) {
            bad(p, "messages[%zu] must be an object {\"key\", \"data\"}", i);
            goto done;
        }
        if (only_members(&doc, it, item_known, p) != SQ_OK ||
            opt_string(&doc, it, "key", arena, &out[i].key, &out[i].key_len, p) != SQ_OK ||
            opt_string(&doc, it, "data", arena, &out[i].data, &out[i].data_len, p) != SQ_OK)
            goto done;
        if (out[i].key == NULL || out[i].data == NULL) {
            bad(p, "messages[%zu] needs \"key\" and \"data\" (strings)", i);
            goto done;
        }
        if (sq_key_validate(out[i].key, out[i].key_len, &why) != SQ_OK) {
            bad(p, "messages[%zu].key is not a valid key: %s", i, why);
            goto done;
        }
        /* the field's name is formatted only for an error: this loop runs per message */
        const char *wrong = NULL;
        if (out[i].data_len > max_message_bytes)
            wrong = "is larger than limits.max_message_bytes";
        else if (memchr(out[i].data, '\0', out[i].data_len) != NULL)
            wrong = "must not contain U+0000";
        if (wrong != NULL) {
            snprintf(field, sizeof field, "messages[%zu].data", i);
            invalid(p, field, wrong);
            goto done;
        }
    }
    *msgs = out;
    *n = (size_t)count;
    rc = SQ_OK;
done:
    sq_json_free(&doc);
    return rc;
}

int sq_api_parse_stream(const char *body, size_t len, sq_arena *arena, const char **name,
                        sq_api_problem *p)
{
    sq_json doc = {0};
    size_t n = 0;
    int rc = SQ_ERR;
    static const char *const known[] = {"name", NULL};
    if (parse_object(&doc, body, len, p) != SQ_OK || only_members(&doc, 0, known, p) != SQ_OK ||
        opt_string(&doc, 0, "name", arena, name, &n, p) != SQ_OK)
        goto done;
    if (*name == NULL)
        bad(p, "the body needs \"name\"");
    else if (!sq_name_is_valid(*name, n))
        invalid(p, "name", NAME_RULE);
    else
        rc = SQ_OK;
done:
    sq_json_free(&doc);
    return rc;
}

static const char *const consumer_members[] = {
    "name",        "filter_key_pattern", "ack_wait_ms",    "max_ack_pending",
    "max_deliver", "deliver_policy",     "kind",           "http_endpoint",
    "max_waiting", "backoff_base_ms",    "backoff_max_ms", NULL};

/* The numeric settings of a create or edit body; absent ones keep their value in `s`. A
 * max_waiting or backoff_base_ms the same body makes larger than max_ack_pending or
 * backoff_max_ms is refused (an edit's other half is the store's to check). */
static int parse_settings(const sq_json *doc, sq_consumer_settings *s, sq_api_problem *p)
{
    bool no_limit = false;
    sq_push_settings *push = &s->push;
    if (opt_int(doc, 0, "ack_wait_ms", 500, 3600000, &s->ack_wait_ms, NULL, p) != SQ_OK ||
        opt_int(doc, 0, "max_ack_pending", 1, 1000000, &s->max_ack_pending, NULL, p) != SQ_OK ||
        opt_int(doc, 0, "max_deliver", 1, 1000, &s->max_deliver, &no_limit, p) != SQ_OK ||
        opt_int(doc, 0, "max_waiting", 1, SQ_PUSH_MAX_WAITING_MAX, &push->max_waiting, NULL, p) !=
            SQ_OK ||
        opt_int(doc, 0, "backoff_base_ms", SQ_PUSH_BACKOFF_MIN_MS, SQ_PUSH_BACKOFF_MAX_MS,
                &push->backoff_base_ms, NULL, p) != SQ_OK ||
        opt_int(doc, 0, "backoff_max_ms", SQ_PUSH_BACKOFF_MIN_MS, SQ_PUSH_BACKOFF_MAX_MS,
                &push->backoff_max_ms, NULL, p) != SQ_OK)
        return SQ_ERR;
    if (no_limit)
        s->max_deliver = 0;
    if (s->max_ack_pending > 0 && push->max_waiting > s->max_ack_pending)
        return invalid(p, "max_waiting", "must not be above max_ack_pending");
    if (push->backoff_max_ms > 0 && push->backoff_base_ms > push->backoff_max_ms)
        return invalid(p, "backoff_base_ms", "must not be above backoff_max_ms");
    return SQ_OK;
}

/* A 422 for member `sub` of http_endpoint breaking `rule`. */
static int endpoint_invalid(sq_api_problem *p, const char *sub, const char *rule)
{
    char field[48];
    snprintf(field, sizeof field, "http_endpoint.%s", sub);
    return invalid(p, field, rule);
}

/*
 * The http_endpoint member `tok` of a body: {"url", "headers": {name: value}, "signing_secret"}
 * checked by sequin/push_rules.h, written as the store keeps it into `*out` (in `arena`). At
 * creation (!patch) url is required and nulls mean none; in an edit (patch) every member is
 * optional, and null removes the headers or the secret (written as null for the store).
 */
static int parse_endpoint(const sq_json *doc, int tok, bool patch, sq_arena *arena,
                          const char **out, sq_api_problem *p)
{
    static const char *const known[] = {"url", "headers", "signing_secret", NULL};
    sq_buf buf = {0};
    sq_json_writer w;
    const char *url = NULL, *secret = NULL, *why;
    size_t url_len = 0, secret_len = 0;
    int headers = -1, secret_tok = -1, rc = SQ_ERR;

    if (sq_json_type_of(doc, tok) != SQ_JSON_OBJECT)
        return bad(p, "\"http_endpoint\" must be an object {\"url\", \"headers\", "
                      "\"signing_secret\"}");
    if (only_members(doc, tok, known, p) != SQ_OK ||
        opt_string(doc, tok, "url", arena, &url, &url_len, p) != SQ_OK ||
        member(doc, tok, "headers", &headers, p) != SQ_OK ||
        member(doc, tok, "signing_secret", &secret_tok, p) != SQ_OK)
        return SQ_ERR;
    if (url == NULL && !patch)
        return bad(p, "\"http_endpoint\" needs \"url\"");
    if (url != NULL && (why = sq_push_rules_url(url, url_len)) != NULL)
        return endpoint_invalid(p, "url", why);
    if (headers >= 0 && !sq_json_is_null(doc, headers)) {
        if (sq_json_type_of(doc, headers) != SQ_JSON_OBJECT)
            return bad(p, "\"http_endpoint.headers\" must be an object of strings");
        if (sq_json_count(doc, headers) > SQ_PUSH_HEADERS_MAX)
            return endpoint_invalid(p, "headers", "holds at most 32 headers");
    }
    if (secret_tok >= 0 && !sq_json_is_null(doc, secret_tok)) {
        if (opt_string(doc, tok, "signing_secret", arena, &secret, &secret_len, p) != SQ_OK)
            return SQ_ERR;
        if ((why = sq_push_rules_secret(secret, secret_len)) != NULL)
            return endpoint_invalid(p, "signing_secret", why);
    }

    sq_json_writer_init(&w, &buf);
    int jr = sq_json_write_begin_object(&w);
    if (url != NULL) {
        jr |= sq_json_write_key(&w, "url");
        jr |= sq_json_write_stringn(&w, url, url_len);
    }
    if (headers >= 0 && (patch || !sq_json_is_null(doc, headers))) {
        jr |= sq_json_write_key(&w, "headers");
        if (sq_json_is_null(doc, headers)) {
            jr |= sq_json_write_null(&w);
        } else {
            jr |= sq_json_write_begin_object(&w);
            for (int k = sq_json_first(doc, headers); k >= 0; k = sq_json_next(doc, k)) {
                int v = sq_json_member_value(doc, k);
                const char *name, *value;
                size_t nl, vl;
                if (sq_json_type_of(doc, v) != SQ_JSON_STRING) {
                    bad(p, "\"http_endpoint.headers\" must be an object of strings");
                    goto done;
                }
                if (sq_json_get_str_arena(doc, k, arena, &name, &nl) != SQ_OK ||
                    sq_json_get_str_arena(doc, v, arena, &value, &vl) != SQ_OK) {
                    bad(p, "out of memory");
                    goto done;
                }
                if ((why = sq_push_rules_header(name, nl, value, vl)) != NULL) {
                    endpoint_invalid(p, "headers", why);
                    goto done;
                }
                jr |= sq_json_write_keyn(&w, name, nl);
                jr |= sq_json_write_stringn(&w, value, vl);
            }
            jr |= sq_json_write_end_object(&w);
        }
    }
    if (secret_tok >= 0 && (patch || secret != NULL)) {
        jr |= sq_json_write_key(&w, "signing_secret");
        jr |=
            secret != NULL ? sq_json_write_stringn(&w, secret, secret_len) : sq_json_write_null(&w);
    }
    jr |= sq_json_write_end_object(&w);
    if (jr != 0 || sq_json_writer_finish(&w) != SQ_OK ||
        (*out = sq_arena_strndup(arena, buf.data, buf.len)) == NULL) {
        bad(p, "out of memory");
        goto done;
    }
    rc = SQ_OK;
done:
    sq_buf_free(&buf);
    return rc;
}

/* A create's kind and push settings: a push consumer needs an endpoint, a pull one takes no
 * push setting; a push consumer's unset ints take their defaults (max_waiting at most
 * max_ack_pending). */
static int parse_kind(const sq_json *doc, sq_arena *arena, sq_consumer_settings *s,
                      sq_api_problem *p)
{
    const char *kind = NULL;
    size_t kind_len = 0;
    int endpoint = -1;
    sq_push_settings *push = &s->push;
    if (opt_string(doc, 0, "kind", arena, &kind, &kind_len, p) != SQ_OK ||
        member(doc, 0, "http_endpoint", &endpoint, p) != SQ_OK)
        return SQ_ERR;
    if (kind != NULL && strcmp(kind, "pull") != 0 && strcmp(kind, "push") != 0)
        return invalid(p, "kind", "is \"pull\" or \"push\"");
    if (kind == NULL || strcmp(kind, "pull") == 0) {
        if (endpoint >= 0 || push->max_waiting > 0 || push->backoff_base_ms > 0 ||
            push->backoff_max_ms > 0)
            return bad(p, "http_endpoint, max_waiting and backoff are settings of a push "
                          "consumer: add \"kind\": \"push\"");
        return SQ_OK;
    }
    if (endpoint < 0)
        return bad(p, "a push consumer needs \"http_endpoint\": {\"url\"}");
    if (parse_endpoint(doc, endpoint, false, arena, &push->http_endpoint, p) != SQ_OK)
        return SQ_ERR;
    if (push->max_waiting == 0)
        push->max_waiting = SQ_PUSH_DEFAULT_MAX_WAITING < s->max_ack_pending
                                ? SQ_PUSH_DEFAULT_MAX_WAITING
                                : s->max_ack_pending;
    if (push->backoff_base_ms == 0)
        push->backoff_base_ms = SQ_PUSH_DEFAULT_BACKOFF_BASE_MS;
    if (push->backoff_max_ms == 0)
        push->backoff_max_ms = SQ_PUSH_DEFAULT_BACKOFF_MAX_MS;
    if (push->backoff_base_ms > push->backoff_max_ms)
        return invalid(p, "backoff_base_ms", "must not be above backoff_max_ms");
    return SQ_OK;
}

int sq_api_parse_consumer_create(const char *body, size_t len, sq_arena *arena,
                                 sq_api_consumer *out, sq_api_problem *p)
{
    sq_json doc = {0};
    size_t name_len = 0, filter_len = 0, policy_len = 0;
    const char *policy = NULL, *why;
    int rc = SQ_ERR;
    *out = (sq_api_consumer){.settings = {30000, 10000, 0, {0}}};
    if (parse_object(&doc, body, len, p) != SQ_OK ||
        only_members(&doc, 0, consumer_members, p) != SQ_OK ||
        opt_string(&doc, 0, "name", arena, &out->name, &name_len, p) != SQ_OK ||
        opt_string(&doc, 0, "filter_key_pattern", arena, &out->filter, &filter_len, p) != SQ_OK ||
        opt_string(&doc, 0, "deliver_policy", arena, &policy, &policy_len, p) != SQ_OK ||
        parse_settings(&doc, &out->settings, p) != SQ_OK ||
        parse_kind(&doc, arena, &out->settings, p) != SQ_OK)
        goto done;
    if (out->name == NULL || out->filter == NULL) {
        bad(p, "the body needs \"name\" and \"filter_key_pattern\"");
        goto done;
    }
    if (!sq_name_is_valid(out->name, name_len)) {
        invalid(p, "name", NAME_RULE);
        goto done;
    }
    if (sq_filter_validate(out->filter, filter_len, &why) != SQ_OK) {
        bad(p, "filter_key_pattern is not a valid filter: %s", why);
        goto done;
    }
    if (policy != NULL && strcmp(policy, "all") != 0 && strcmp(policy, "new") != 0) {
        invalid(p, "deliver_policy", "is \"all\" or \"new\"");
        goto done;
    }
    out->deliver_new = policy != NULL && strcmp(policy, "new") == 0;
    rc = SQ_OK;
done:
    sq_json_free(&doc);
    return rc;
}

/* Members `names` of object `obj`, those present, as members of the object `w` writes. */
static int copy_members(const sq_json *doc, int obj, const char *const *names, sq_json_writer *w,
                        sq_api_problem *p)
{
    for (size_t i = 0; names[i] != NULL; i++) {
        int v;
        const char *raw;
        size_t n;
        if (member(doc, obj, names[i], &v, p) != SQ_OK)
            return SQ_ERR;
        if (v >= 0 &&
            (sq_json_raw(doc, v, &raw, &n) != SQ_OK || sq_json_write_key(w, names[i]) != SQ_OK ||
             sq_json_write_raw(w, raw, n) != SQ_OK))
            return bad(p, "out of memory");
    }
    return SQ_OK;
}

/* A webhook source's settings: the "webhook" object (token `wh`) checked and written in its
 * canonical form; the postgres members have no place beside it. */
static int webhook_settings(const sq_json *doc, int wh, sq_arena *arena, sq_api_source *out,
                            sq_api_problem *p)
{
    sq_webhook_def def = {0};
    sq_buf canonical = {0};
    const char *raw;
    size_t n;
    int tok = -1, rc = SQ_ERR;
    char why[160];

    out->kind = "webhook";
    if (sq_json_lookup(doc, 0, "key_format", &tok) != SQ_OK || tok >= 0 ||
        sq_json_lookup(doc, 0, "backfill", &tok) != SQ_OK || tok >= 0)
        return bad(p, "\"key_format\" and \"backfill\" are a postgres source's");
    if (sq_json_type_of(doc, wh) != SQ_JSON_OBJECT || sq_json_raw(doc, wh, &raw, &n) != SQ_OK)
        return bad(p, "\"webhook\" must be an object {\"key_field\", \"key_header\", "
                      "\"secret\", \"secret_header\", \"hmac_secret\", \"hmac_header\"}");
    if (sq_webhook_settings_read(raw, n, &def, why, sizeof why) != SQ_OK) {
        bad(p, "%s", why);
        goto done;
    }
    if (sq_webhook_settings_write(&def, &canonical) != SQ_OK ||
        (out->settings = sq_arena_strndup(arena, canonical.data, canonical.len)) == NULL) {
        bad(p, "out of memory");
        goto done;
    }
    rc = SQ_OK;
done:
    sq_webhook_def_free(&def);
    sq_buf_free(&canonical);
    return rc;
}

int sq_api_parse_source_create(const char *body, size_t len, sq_arena *arena, sq_api_source *out,
                               sq_api_problem *p)
{
    static const char *const known[] = {"name",     "stream",  "postgres", "key_format",
                                        "backfill", "webhook", NULL};
    static const char *const postgres[] = {"url", "slot", "publication", "tables", NULL};
    static const char *const beside[] = {"key_format", "backfill", NULL};
    sq_json doc = {0};
    sq_buf flat = {0}, canonical = {0};
    sq_source_def def = {0};
    sq_json_writer w;
    size_t name_len = 0, stream_len = 0;
    int rc = SQ_ERR, pg = -1, wh = -1;
    char why[160];

    *out = (sq_api_source){.kind = "postgres"};
    if (parse_object(&doc, body, len, p) != SQ_OK || only_members(&doc, 0, known, p) != SQ_OK ||
        opt_string(&doc, 0, "name", arena, &out->name, &name_len, p) != SQ_OK ||
        opt_string(&doc, 0, "stream", arena, &out->stream, &stream_len, p) != SQ_OK ||
        member(&doc, 0, "postgres", &pg, p) != SQ_OK || member(&doc, 0, "webhook", &wh, p) != SQ_OK)
        goto done;
    if (out->name == NULL || out->stream == NULL || (pg < 0) == (wh < 0)) {
        bad(p, "the body needs \"name\", \"stream\" and \"postgres\" or \"webhook\"");
        goto done;
    }
    if (!sq_name_is_valid(out->name, name_len)) {
        invalid(p, "name", NAME_RULE);
        goto done;
    }
    if (!sq_name_is_valid(out->stream, stream_len) && !sq_api_is_uuid(out->stream, stream_len)) {
        invalid(p, "stream", "a stream's name or id");
        goto done;
    }
    if (wh >= 0) {
        rc = webhook_settings(&doc, wh, arena, out, p);
        goto done;
    }
    if (sq_json_type_of(&doc, pg) != SQ_JSON_OBJECT) {
        bad(p, "\"postgres\" must be an object {\"url\", \"slot\", \"publication\", "
               "\"tables\"}");
        goto done;
    }
    /* The settings as the store keeps them: one object, the connection's beside the rest. */
    sq_json_writer_init(&w, &flat);
    int jr = sq_json_write_begin_object(&w);
    if (only_members(&doc, pg, postgres, p) != SQ_OK ||
        copy_members(&doc, pg, postgres, &w, p) != SQ_OK ||
        copy_members(&doc, 0, beside, &w, p) != SQ_OK)
        goto done;
    jr |= sq_json_write_end_object(&w);
    if (jr != 0 || sq_json_writer_finish(&w) != SQ_OK) {
        bad(p, "out of memory");
        goto done;
    }
    if (sq_source_settings_read(flat.data, flat.len, &def, why, sizeof why) != SQ_OK) {
        bad(p, "%s", why);
        goto done;
    }
    if (sq_source_settings_write(&def, &canonical) != SQ_OK ||
        (out->settings = sq_arena_strndup(arena, canonical.data, canonical.len)) == NULL) {
        bad(p, "out of memory");
        goto done;
    }
    rc = SQ_OK;
done:
    sq_source_def_free(&def);
    sq_buf_free(&canonical);
    sq_buf_free(&flat);
    sq_json_free(&doc);
    return rc;
}

int sq_api_parse_consumer_edit(const char *body, size_t len, sq_arena *arena,
                               sq_consumer_settings *changes, sq_api_problem *p)
{
    sq_json doc = {0};
    int rc = SQ_ERR, endpoint = -1;
    *changes = (sq_consumer_settings){-1, -1, -1, {0}};
    if (parse_object(&doc, body, len, p) != SQ_OK ||
        only_members(&doc, 0, consumer_members, p) != SQ_OK)
        goto done;
    /* The filter, the policy and the kind are fixed at creation (SPEC 3, issue 15); the name is
     * the consumer's identity. Naming them at all in an edit is refused, so a client learns it
     * early. */
    static const char *const fixed[] = {"name", "filter_key_pattern", "deliver_policy", "kind"};
    for (size_t i = 0; i < SQ_ARRAY_LEN(fixed); i++) {
        int tok;
        if (member(&doc, 0, fixed[i], &tok, p) != SQ_OK)
            goto done;
        if (tok >= 0) {
            invalid(p, fixed[i], "cannot be changed; create a consumer with a new name");
            goto done;
        }
    }
    if (parse_settings(&doc, changes, p) != SQ_OK ||
        member(&doc, 0, "http_endpoint", &endpoint, p) != SQ_OK ||
        (endpoint >= 0 &&
         parse_endpoint(&doc, endpoint, true, arena, &changes->push.http_endpoint, p) != SQ_OK))
        goto done;
    rc = SQ_OK;
done:
    sq_json_free(&doc);
    return rc;
}

bool sq_api_is_uuid(const char *s, size_t len)
{
    if (len != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        char c = s[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (dash ? c != '-' : !hex)
            return false;
    }
    return true;
}

int sq_api_parse_ack_ids(const char *body, size_t len, bool allow_none, int *delay_ms,
                         sq_arena *arena, const char ***ids, size_t *n, sq_api_problem *p)
{
    sq_json doc = {0};
    int rc = SQ_ERR, arr, count = 0;
    static const char *const known[] = {"ack_ids", "delay_ms", NULL};
    static const char *const known_plain[] = {"ack_ids", NULL};
    *ids = NULL;
    *n = 0;
    if (parse_object(&doc, body, len, p) != SQ_OK ||
        only_members(&doc, 0, delay_ms != NULL ? known : known_plain, p) != SQ_OK ||
        member(&doc, 0, "ack_ids", &arr, p) != SQ_OK)
        goto done;
    if (delay_ms != NULL) {
        *delay_ms = 0;
        if (opt_int(&doc, 0, "delay_ms", 0, 3600000, delay_ms, NULL, p) != SQ_OK)
            goto done;
    }
    if (arr < 0 && allow_none) {
        rc = SQ_OK;
        goto done;
    }
    const char **out =
        batch(&doc, arr, "ack_ids", "ack ids", "ack ids", MAX_IDS, sizeof *out, arena, &count, p);
    if (out == NULL)
        goto done;
    size_t i = 0;
    for (int it = sq_json_first(&doc, arr); it >= 0; it = sq_json_next(&doc, it), i++) {
        size_t l = 0;
        if (sq_json_type_of(&doc, it) != SQ_JSON_STRING ||
            sq_json_get_str_arena(&doc, it, arena, &out[i], &l) != SQ_OK ||
            !sq_api_is_uuid(out[i], l)) {
            bad(p, "ack_ids[%zu] is not an ack id (a UUID)", i);
            goto done;
        }
    }
    *ids = out;
    *n = (size_t)count;
    rc = SQ_OK;
done:
    sq_json_free(&doc);
    return rc;
}

/* ---- query parameters ---------------------------------------------------------------------- */

/* A decimal integer query value within [lo, hi]. */
static int query_int(sq_http_slice name, sq_http_slice value, long lo, long hi, int *out,
                     sq_api_problem *p)
{
    long v = 0;
    bool ok = value.len > 0 && value.len <= 9;
    for (size_t i = 0; ok && i < value.len; i++) {
        ok = value.p[i] >= '0' && value.p[i] <= '9';
        v = v * 10 + (value.p[i] - '0');
    }
    if (!ok || v < lo || v > hi)
        return bad(p, "query parameter %.*s must be an integer from %ld to %ld", (int)name.len,
                   name.p, lo, hi);
    *out = (int)v;
    return SQ_OK;
}

static bool slice_is(sq_http_slice s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

int sq_api_parse_receive_query(sq_http_slice query, sq_api_receive *out, sq_api_problem *p)
{
    sq_http_slice name, value;
    *out = (sq_api_receive){1, 0};
    while (sq_http_query_next(&query, &name, &value)) {
        if (slice_is(name, "batch_size")) {
            if (query_int(name, value, 1, 1000, &out->batch_size, p) != SQ_OK)
                return SQ_ERR;
        } else if (slice_is(name, "wait_for")) {
            if (query_int(name, value, 0, 60000, &out->wait_for_ms, p) != SQ_OK)
                return SQ_ERR;
        } else {
            return bad(p, "unknown query parameter %.*s", (int)(name.len > 64 ? 64 : name.len),
                       name.p);
        }
    }
    return SQ_OK;
}

int sq_api_parse_receive_body(const char *body, size_t len, sq_api_receive *out, sq_api_problem *p)
{
    *out = (sq_api_receive){1, 0};
    if (len == 0)
        return SQ_OK; /* POST without a body: the defaults */
    sq_json doc = {0};
    static const char *const known[] = {"batch_size", "wait_for", NULL};
    int rc = SQ_ERR;
    if (parse_object(&doc, body, len, p) == SQ_OK && only_members(&doc, 0, known, p) == SQ_OK &&
        opt_int(&doc, 0, "batch_size", 1, 1000, &out->batch_size, NULL, p) == SQ_OK &&
        opt_int(&doc, 0, "wait_for", 0, 60000, &out->wait_for_ms, NULL, p) == SQ_OK)
        rc = SQ_OK;
    sq_json_free(&doc);
    return rc;
}

/* A query value, percent-decoded into the arena. */
static int query_text(sq_http_slice name, sq_http_slice value, sq_arena *arena, const char **out,
                      sq_api_problem *p)
{
    char *buf = sq_arena_alloc(arena, value.len + 1);
    size_t n = 0;
    if (buf == NULL)
        return bad(p, "out of memory");
    if (sq_http_percent_decode(value.p, value.len, buf, &n) != SQ_OK)
        return bad(p, "query parameter %.*s is not valid percent-encoding", (int)name.len, name.p);
    buf[n] = '\0';
    *out = buf;
    return SQ_OK;
}

int sq_api_parse_listing(sq_http_slice query, bool consumer_messages, sq_arena *arena,
                         sq_api_listing *out, sq_api_problem *p)
{
    sq_http_slice name, value;
    const char *text = NULL, *why = NULL;
    *out = (sq_api_listing){100, false, NULL, NULL};
    while (sq_http_query_next(&query, &name, &value)) {
        if (slice_is(name, "limit")) {
            if (query_int(name, value, 1, 10000, &out->limit, p) != SQ_OK)
                return SQ_ERR;
        } else if (slice_is(name, "key_pattern")) {
            if (query_text(name, value, arena, &text, p) != SQ_OK)
                return SQ_ERR;
            if (sq_filter_validate(text, strlen(text), &why) != SQ_OK)
                return bad(p, "key_pattern is not a valid filter: %s", why);
            out->key_pattern = text;
        } else if (!consumer_messages && slice_is(name, "sort")) {
            if (!slice_is(value, "seq_asc") && !slice_is(value, "seq_desc"))
                return bad(p, "query parameter sort is seq_asc or seq_desc");
            out->newest_first = slice_is(value, "seq_desc");
        } else if (consumer_messages && slice_is(name, "state")) {
            static const char *const states[] = {"available", "delivered", "dead"};
            out->state = NULL;
            for (size_t i = 0; i < SQ_ARRAY_LEN(states); i++)
                if (slice_is(value, states[i]))
                    out->state = states[i];
            if (out->state == NULL)
                return bad(p, "query parameter state is available, delivered or dead");
        } else {
            return bad(p, "unknown query parameter %.*s", (int)(name.len > 64 ? 64 : name.len),
                       name.p);
        }
    }
    return SQ_OK;
}
