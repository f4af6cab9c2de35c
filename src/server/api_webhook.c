/* The webhook source's route (docs/sources.md, "Webhook source"): POST /api/webhook/:name reads
 * the webhook (one store call), checks the request against its secret and signature, and upserts
 * the body as one message (a second call), answering once it is committed. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sequin/auth.h"
#include "sequin/handlers.h"
#include "sequin/webhook.h"

/* The request's body and headers into the arena: the webhook's settings, read by the first
 * call, say which headers matter. */
static int webhook_parse(sq_handler *h, const sq_request_in *in, sq_api_problem *p)
{
    char *body = sq_arena_alloc(h->arena, in->body_len + 1);
    sq_http_header *hs = sq_arena_calloc(h->arena, in->n_headers + 1, sizeof *hs);
    bool oom = body == NULL || hs == NULL;
    for (size_t i = 0; !oom && i < in->n_headers; i++) {
        const sq_http_header *from = &in->headers[i];
        char *name = sq_arena_strndup(h->arena, from->name.p ? from->name.p : "", from->name.len);
        char *value = sq_arena_alloc(h->arena, from->value.len + 1);
        oom = name == NULL || value == NULL;
        if (!oom) {
            if (from->value.len > 0)
                memcpy(value, from->value.p, from->value.len);
            value[from->value.len] = '\0';
            hs[i] = (sq_http_header){{name, from->name.len}, {value, from->value.len}};
        }
    }
    if (oom) {
        p->status = 503;
        p->summary = "out of memory";
        p->field = p->detail = NULL;
        return 503;
    }
    if (in->body_len > 0)
        memcpy(body, in->body, in->body_len);
    body[in->body_len] = '\0';
    h->body = body;
    h->body_len = in->body_len;
    h->headers = hs;
    h->n_headers = in->n_headers;
    return 0;
}

static int refuse(sq_handler *h, int status, const char *summary, char *err, size_t errlen)
{
    h->refuse_status = status;
    snprintf(err, errlen, "%s", summary);
    return SQ_HANDLER_REFUSED;
}

/* The webhook is known: checks the request and makes the message, or refuses it. */
static int prepare(sq_handler *h, const char *settings, char *err, size_t errlen)
{
    sq_webhook_def def = {0};
    sq_buf key = {0};
    char why_settings[160];
    const char *why = NULL;
    bool too_large = false;
    int rc;

    if (settings == NULL || sq_webhook_settings_read(settings, strlen(settings), &def, why_settings,
                                                     sizeof why_settings) != SQ_OK) {
        rc = refuse(h, 500, "the webhook's settings cannot be read", err, errlen);
        goto done;
    }
    if (sq_webhook_has_auth(&def)) {
        why = sq_webhook_authorize(&def, h->headers, h->n_headers, h->body, h->body_len);
    } else {
        const sq_config_token_list *tokens = h->env != NULL ? h->env->tokens : NULL;
        const sq_http_header *a = sq_webhook_header(h->headers, h->n_headers, "Authorization");
        if (tokens != NULL &&
            !sq_auth_allows(tokens, a != NULL ? a->value.p : NULL, a != NULL ? a->value.len : 0))
            why = "the webhook has no secret of its own: a valid API bearer token is required";
    }
    if (why != NULL) {
        rc = refuse(h, 401, why, err, errlen);
        goto done;
    }
    size_t max = h->env != NULL ? h->env->max_message_bytes : SIZE_MAX;
    if ((why = sq_webhook_data_check(h->body, h->body_len, max, &too_large)) != NULL) {
        rc = refuse(h, too_large ? 413 : 400, why, err, errlen);
        goto done;
    }
    if (sq_webhook_key(&def, h->source, h->headers, h->n_headers, h->body, h->body_len, &key,
                       &why) != SQ_OK) {
        rc = refuse(h, 400, why, err, errlen);
        goto done;
    }
    sq_message_in *msg = sq_arena_calloc(h->arena, 1, sizeof *msg);
    char *k = sq_arena_strndup(h->arena, key.data, key.len);
    if (msg == NULL || k == NULL) {
        rc = refuse(h, 503, "out of memory", err, errlen);
        goto done;
    }
    *msg = (sq_message_in){.key = k, .key_len = key.len, .data = h->body, .data_len = h->body_len};
    h->msgs = msg;
    h->n_msgs = 1;
    rc = SQ_AGAIN;
done:
    sq_buf_free(&key);
    sq_webhook_def_free(&def);
    return rc;
}

static int webhook_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    if (h->calls == 0)
        return sq_store_begin_webhook_get(s, h->source, err, errlen);
    return sq_store_begin_upsert(s, h->stream_num, h->msgs, h->n_msgs, err, errlen);
}

/* The answer: {"key": the message's key, "published": 1 when it was new or changed, 0 for a
 * duplicate delivery}. */
static int webhook_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                          size_t errlen)
{
    (void)body;
    if (h->calls == 0) {
        sq_webhook_row row = {0};
        int rc = sq_store_finish_webhook_get(s, &row, h->arena, err, errlen);
        if (rc != SQ_OK)
            return rc;
        h->stream_num = row.stream;
        return prepare(h, row.settings, err, errlen);
    }
    long long published = 0;
    int rc = sq_store_finish_upsert(s, &published, err, errlen);
    if (rc != SQ_OK)
        return rc;
    int jr = sq_json_write_begin_object(jw);
    jr |= sq_json_write_key(jw, "key");
    jr |= sq_json_write_stringn(jw, h->msgs[0].key, h->msgs[0].key_len);
    jr |= sq_json_write_key(jw, "published");
    jr |= sq_json_write_int64(jw, published);
    jr |= sq_json_write_end_object(jw);
    sq_handler_published(h, published);
    return sq_handler_wrote(rc, jr, err, errlen);
}

/* Open to the router's token check: the webhook checks its own secret, or an API token when it
 * has none. A 404 is the webhook's. */
const sq_route_ops sq_api_webhook_route = {.open = true,
                                           .missing = "webhook",
                                           .parse = webhook_parse,
                                           .begin = webhook_begin,
                                           .finish = webhook_finish};
