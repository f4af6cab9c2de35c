/* The API's routes as store calls: the inputs each route takes, the calls in order (resolve
 * the stream, then the consumer, then the route's own), and the JSON each answers with. */
#include "sequin/handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sequin/http.h"
#include "sequin/json.h"
#include "sequin/keys.h"
#include "sequin/render.h"

/* A path parameter percent-decoded into the arena; NULL when malformed (a NUL inside) or out
 * of memory. */
static char *param(sq_arena *a, sq_http_slice s)
{
    char *out = sq_arena_alloc(a, s.len + 1);
    size_t len = 0;
    if (out == NULL || sq_http_percent_decode(s.p, s.len, out, &len) != 0)
        return NULL;
    out[len] = '\0';
    if (strlen(out) != len)
        return NULL;
    return out;
}

/* ---- the name cache ------------------------------------------------------------------------ */

#define CACHE_SLOTS 256 /* direct-mapped: a colliding name takes the slot */
#define SQ_NAME_KEY 65  /* a name (at most 64 bytes) or an id (36), and its NUL */

struct cache_entry {
    char stream[SQ_NAME_KEY];   /* as the path gave it: a name or an id */
    char consumer[SQ_NAME_KEY]; /* "" for a stream alone */
    int stream_num;
    char consumer_id[37];
    int64_t expires_ms; /* 0: empty */
};

struct sq_handler_cache {
    int ttl_ms;
    struct cache_entry slots[CACHE_SLOTS];
};

sq_handler_cache *sq_handler_cache_new(int ttl_ms)
{
    sq_handler_cache *c = calloc(1, sizeof *c);
    if (c != NULL)
        c->ttl_ms = ttl_ms;
    return c;
}

void sq_handler_cache_free(sq_handler_cache *c)
{
    free(c);
}

static struct cache_entry *cache_slot(sq_handler_cache *c, const char *stream, const char *consumer)
{
    uint32_t h = 2166136261u; /* FNV-1a over both names */
    for (const char *p = stream; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ 0xff) * 16777619u;
    for (const char *p = consumer; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return &c->slots[h % CACHE_SLOTS];
}

static bool cache_get(sq_handler *h, int64_t now)
{
    sq_handler_cache *c = h->env != NULL ? h->env->cache : NULL;
    const char *consumer = h->step == SQ_STEP_CONSUMER ? h->consumer : "";
    if (c == NULL)
        return false;
    struct cache_entry *e = cache_slot(c, h->stream, consumer);
    if (e->expires_ms <= now || strcmp(e->stream, h->stream) != 0 ||
        strcmp(e->consumer, consumer) != 0)
        return false;
    h->stream_num = e->stream_num;
    memcpy(h->consumer_id, e->consumer_id, sizeof h->consumer_id);
    return true;
}

static void cache_put(sq_handler *h, bool with_consumer, int64_t now)
{
    sq_handler_cache *c = h->env != NULL ? h->env->cache : NULL;
    const char *consumer = with_consumer ? h->consumer : "";
    if (c == NULL || strlen(h->stream) >= SQ_NAME_KEY || strlen(consumer) >= SQ_NAME_KEY)
        return;
    struct cache_entry *e = cache_slot(c, h->stream, consumer);
    snprintf(e->stream, sizeof e->stream, "%s", h->stream);
    snprintf(e->consumer, sizeof e->consumer, "%s", consumer);
    e->stream_num = h->stream_num;
    memcpy(e->consumer_id, h->consumer_id, sizeof e->consumer_id);
    e->expires_ms = now + c->ttl_ms;
}

static void cache_drop(sq_handler *h, bool with_consumer)
{
    sq_handler_cache *c = h->env != NULL ? h->env->cache : NULL;
    if (c == NULL)
        return;
    struct cache_entry *e = cache_slot(c, h->stream, with_consumer ? h->consumer : "");
    e->expires_ms = 0;
}

/* ---- requests ------------------------------------------------------------------------------ */

static int refuse(sq_api_problem *p, const char *summary)
{
    p->status = 400;
    snprintf(p->text, sizeof p->text, "%s", summary);
    p->summary = p->text;
    p->field = p->detail = NULL;
    return 400;
}

/* The routes that act on one consumer's messages and need its id, not just its name. */
static bool needs_consumer_id(sq_route r)
{
    switch (r) {
    case SQ_ROUTE_RECEIVE:
    case SQ_ROUTE_ACK:
    case SQ_ROUTE_NACK:
    case SQ_ROUTE_EXTEND:
    case SQ_ROUTE_REDRIVE:
    case SQ_ROUTE_CONSUMER_MESSAGES:
        return true;
    default:
        return false;
    }
}

int sq_handler_start(sq_handler *h, const sq_route_match *m, bool post, sq_http_slice query,
                     const char *body, size_t body_len, const sq_handler_env *env, sq_arena *arena,
                     int64_t now_ms, sq_api_problem *p)
{
    const char *why = NULL;
    int rc = 0;

    *h = (sq_handler){.route = m->route,
                      .arena = arena,
                      .wake_in_ms = -1,
                      .env = env,
                      .metrics = env != NULL ? env->metrics : NULL,
                      .content_type = "application/json"};
    if (m->stream.p != NULL && (h->stream = param(arena, m->stream)) == NULL)
        return refuse(p, "malformed stream in the path");
    if (m->consumer.p != NULL && (h->consumer = param(arena, m->consumer)) == NULL)
        return refuse(p, "malformed consumer in the path");
    if (m->key.p != NULL) {
        if ((h->key = param(arena, m->key)) == NULL)
            return refuse(p, "malformed key in the path");
        if (sq_key_validate(h->key, strlen(h->key), &why) != 0)
            return refuse(p, why != NULL ? why : "invalid key");
    }
    /* Stream list, create, get and delete name the stream themselves; the rest resolve it. */
    h->step =
        h->stream != NULL && m->route != SQ_ROUTE_STREAM_GET && m->route != SQ_ROUTE_STREAM_DELETE
            ? SQ_STEP_STREAM
            : SQ_STEP_CALL;
    if (needs_consumer_id(m->route))
        h->step = SQ_STEP_CONSUMER; /* resolves the stream too, in one statement */
    if (m->route == SQ_ROUTE_METRICS)
        h->step = SQ_STEP_STREAMS;
    if ((h->step == SQ_STEP_STREAM || h->step == SQ_STEP_CONSUMER) && cache_get(h, now_ms)) {
        h->step = SQ_STEP_CALL;
        h->cached = true;
    }

    switch (m->route) {
    case SQ_ROUTE_STREAM_CREATE:
        rc = sq_api_parse_stream(body, body_len, arena, &h->name, p);
        break;
    case SQ_ROUTE_MESSAGE_UPSERT:
        rc = sq_api_parse_upsert(body, body_len, env != NULL ? env->max_message_bytes : SIZE_MAX,
                                 arena, &h->msgs, &h->n_msgs, p);
        break;
    case SQ_ROUTE_MESSAGE_LIST:
        rc = sq_api_parse_listing(query, false, arena, &h->listing, p);
        break;
    case SQ_ROUTE_CONSUMER_MESSAGES:
        rc = sq_api_parse_listing(query, true, arena, &h->listing, p);
        break;
    case SQ_ROUTE_CONSUMER_CREATE:
        rc = sq_api_parse_consumer_create(body, body_len, arena, &h->create, p);
        break;
    case SQ_ROUTE_CONSUMER_EDIT:
        rc = sq_api_parse_consumer_edit(body, body_len, &h->changes, p);
        break;
    case SQ_ROUTE_RECEIVE:
        rc = post ? sq_api_parse_receive_body(body, body_len, &h->recv, p)
                  : sq_api_parse_receive_query(query, &h->recv, p);
        h->wait_until_ms = now_ms + h->recv.wait_for_ms;
        break;
    case SQ_ROUTE_ACK:
    case SQ_ROUTE_EXTEND:
        rc = sq_api_parse_ack_ids(body, body_len, false, NULL, arena, &h->ids, &h->n_ids, p);
        break;
    case SQ_ROUTE_NACK:
        rc =
            sq_api_parse_ack_ids(body, body_len, false, &h->delay_ms, arena, &h->ids, &h->n_ids, p);
        break;
    case SQ_ROUTE_REDRIVE:
        rc = sq_api_parse_ack_ids(body, body_len, true, NULL, arena, &h->ids, &h->n_ids, p);
        break;
    default:
        break;
    }
    return rc != 0 ? p->status : 0;
}

int sq_handler_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    const char *const *ids = (const char *const *)h->ids;

    switch (h->step) {
    case SQ_STEP_STREAMS:
        return sq_store_begin_stream_list(s, err, errlen);
    case SQ_STEP_STREAM:
        /* By name, or through stream_get for an id. */
        if (sq_api_is_uuid(h->stream, strlen(h->stream)))
            return sq_store_begin_stream_get(s, h->stream, err, errlen);
        return sq_store_begin_stream_num(s, h->stream, err, errlen);
    case SQ_STEP_CONSUMER:
        return sq_store_begin_resolve(s, h->stream, h->consumer, err, errlen);
    case SQ_STEP_TIMER:
        return sq_store_begin_next_visible(s, h->consumer_id, err, errlen);
    case SQ_STEP_CALL:
        break;
    }
    switch (h->route) {
    case SQ_ROUTE_STREAM_LIST:
        return sq_store_begin_stream_list(s, err, errlen);
    case SQ_ROUTE_STREAM_CREATE:
        return sq_store_begin_stream_create(s, h->name, err, errlen);
    case SQ_ROUTE_STREAM_GET:
        return sq_store_begin_stream_get(s, h->stream, err, errlen);
    case SQ_ROUTE_STREAM_DELETE:
        return sq_store_begin_stream_delete(s, h->stream, err, errlen);
    case SQ_ROUTE_MESSAGE_UPSERT:
        return sq_store_begin_upsert(s, h->stream_num, h->msgs, h->n_msgs, err, errlen);
    case SQ_ROUTE_MESSAGE_LIST: {
        sq_message_query q = {.filter = h->listing.key_pattern,
                              .newest_first = h->listing.newest_first,
                              .limit = h->listing.limit};
        return sq_store_begin_message_list(s, h->stream_num, &q, err, errlen);
    }
    case SQ_ROUTE_MESSAGE_GET:
        return sq_store_begin_message_get(s, h->stream_num, h->key, err, errlen);
    case SQ_ROUTE_MESSAGE_DELETE:
        return sq_store_begin_message_delete(s, h->stream_num, h->key, err, errlen);
    case SQ_ROUTE_MESSAGE_CONSUMER_INFO:
        return sq_store_begin_message_info(s, h->stream_num, h->key, err, errlen);
    case SQ_ROUTE_CONSUMER_LIST:
        return sq_store_begin_consumer_list(s, h->stream_num, err, errlen);
    case SQ_ROUTE_METRICS:
        return sq_store_begin_consumer_list_all(s, err, errlen);
    case SQ_ROUTE_CONSUMER_CREATE:
        return sq_store_begin_consumer_create(s, h->stream_num, h->create.name, h->create.filter,
                                              &h->create.settings, h->create.deliver_new, err,
                                              errlen);
    case SQ_ROUTE_CONSUMER_GET:
        return sq_store_begin_consumer_get(s, h->stream_num, h->consumer, err, errlen);
    case SQ_ROUTE_CONSUMER_EDIT:
        return sq_store_begin_consumer_edit(s, h->stream_num, h->consumer, &h->changes, false, err,
                                            errlen);
    case SQ_ROUTE_CONSUMER_DELETE:
        return sq_store_begin_consumer_delete(s, h->stream_num, h->consumer, false, err, errlen);
    case SQ_ROUTE_RECEIVE:
        return sq_store_begin_receive(s, h->consumer_id, h->recv.batch_size, err, errlen);
    case SQ_ROUTE_ACK:
        return sq_store_begin_ack(s, h->consumer_id, ids, h->n_ids, err, errlen);
    case SQ_ROUTE_NACK:
        return sq_store_begin_nack(s, h->consumer_id, ids, h->n_ids, h->delay_ms, err, errlen);
    case SQ_ROUTE_EXTEND:
        return sq_store_begin_extend(s, h->consumer_id, ids, h->n_ids, err, errlen);
    case SQ_ROUTE_REDRIVE:
        return sq_store_begin_redrive(s, h->consumer_id, ids, h->n_ids, err, errlen);
    case SQ_ROUTE_CONSUMER_MESSAGES:
        return sq_store_begin_consumer_messages(s, h->consumer_id, h->listing.state,
                                                h->listing.key_pattern, h->listing.limit, err,
                                                errlen);
    default:
        snprintf(err, errlen, "%s is not a store route", sq_route_name(h->route));
        return SQ_ERR;
    }
}

/* The resolving steps: SQ_HANDLER_NEXT with the next step set, or an outcome to answer. */
static int finish_resolve(sq_handler *h, sq_store *s, int64_t now, char *err, size_t errlen)
{
    bool with_consumer = h->step == SQ_STEP_CONSUMER;
    int rc;

    if (h->step == SQ_STEP_STREAM) {
        if (sq_api_is_uuid(h->stream, strlen(h->stream))) {
            sq_stream st = {0};
            rc = sq_store_finish_stream_get(s, &st, h->arena, err, errlen);
            h->stream_num = st.num;
        } else {
            rc = sq_store_finish_stream_num(s, &h->stream_num, err, errlen);
        }
    } else {
        rc = sq_store_finish_resolve(s, &h->stream_num, h->consumer_id, err, errlen);
        if (rc == SQ_OK && h->consumer_id[0] == '\0') {
            snprintf(err, errlen, "consumer not found");
            return SQ_STORE_NOT_FOUND;
        }
    }
    if (rc == SQ_STORE_NOT_FOUND)
        snprintf(err, errlen, "stream not found");
    if (rc != SQ_OK)
        return rc;
    cache_put(h, with_consumer, now);
    h->step = SQ_STEP_CALL;
    return SQ_HANDLER_NEXT;
}

/* SPEC 4, as the original product answered: lists, receive, an upsert's count and a
 * message's consumer info come wrapped in {"data": ...}; a stream, message or consumer, and
 * the answers of ack, nack, extend, delete and redrive, are the whole body. */
static bool answer_in_data(sq_route r)
{
    switch (r) {
    case SQ_ROUTE_STREAM_LIST:
    case SQ_ROUTE_MESSAGE_UPSERT:
    case SQ_ROUTE_MESSAGE_LIST:
    case SQ_ROUTE_MESSAGE_CONSUMER_INFO:
    case SQ_ROUTE_CONSUMER_LIST:
    case SQ_ROUTE_RECEIVE:
    case SQ_ROUTE_CONSUMER_MESSAGES:
        return true;
    default:
        return false;
    }
}

static int begin_data(sq_json_writer *jw)
{
    int jr = sq_json_write_begin_object(jw);
    return jr | sq_json_write_key(jw, "data");
}

/* {"<name>":true}: {"success":true}, {"deleted":true}. */
static int write_flag(sq_json_writer *jw, const char *name)
{
    int jr = sq_json_write_begin_object(jw);
    jr |= sq_json_write_key(jw, name);
    jr |= sq_json_write_bool(jw, true);
    return jr | sq_json_write_end_object(jw);
}

static int write_deleted_id(sq_json_writer *jw, const char *id)
{
    int jr = sq_json_write_begin_object(jw);
    jr |= sq_json_write_key(jw, "id");
    jr |= sq_json_write_string(jw, id);
    jr |= sq_json_write_key(jw, "deleted");
    jr |= sq_json_write_bool(jw, true);
    return jr | sq_json_write_end_object(jw);
}

/* An upsert's answer, its counts and its news, once its call (alone or grouped) is over. */
static int upsert_answer(sq_handler *h, int rc, long long published, sq_json_writer *jw, char *err,
                         size_t errlen)
{
    if (rc == SQ_STORE_NOT_FOUND)
        snprintf(err, errlen, "stream not found");
    int jr = sq_json_write_begin_object(jw);
    jr |= sq_json_write_key(jw, "published");
    jr |= sq_json_write_int64(jw, published);
    jr |= sq_json_write_end_object(jw);
    if (rc == SQ_OK && published > 0) {
        sq_metrics_add(h->metrics, SQ_METRIC_UPSERTED, (uint64_t)published);
        h->news_stream = h->stream_num;
        h->news_notify = true;
    }
    return jr;
}

/* A receive's answer and counts, once its call (alone or grouped) is over. */
static int receive_answer(sq_handler *h, int rc, const sq_delivery *got, int n, sq_json_writer *jw,
                          char *err, size_t errlen)
{
    if (rc == SQ_STORE_NOT_FOUND)
        snprintf(err, errlen, "consumer not found");
    int jr = sq_json_write_begin_array(jw);
    for (int i = 0; rc == SQ_OK && i < n; i++)
        jr |= sq_render_delivery(jw, &got[i]);
    jr |= sq_json_write_end_array(jw);
    h->n_delivered = rc == SQ_OK ? n : 0;
    sq_metrics_deliveries(h->metrics, got, (size_t)h->n_delivered);
    return jr;
}

/* An ack's, nack's or extend's answer and news, once its call (alone or grouped) is over. */
static int settle_answer(sq_handler *h, int rc, sq_json_writer *jw)
{
    if (rc == SQ_OK && h->route != SQ_ROUTE_EXTEND) {
        /* An ack makes room under max_ack_pending for this process's waiters; a nack makes
         * messages deliverable (now, or after its delay: waiters elsewhere then look again
         * and learn the new time). */
        h->news_stream = h->stream_num;
        h->news_notify = h->route == SQ_ROUTE_NACK;
        sq_metrics_add(h->metrics, h->route == SQ_ROUTE_ACK ? SQ_METRIC_ACKED : SQ_METRIC_NACKED,
                       h->n_ids);
    }
    return write_flag(jw, "success");
}

/* The route's own call: its outcome, with the answer's data written to `jw`. */
static int finish_call(sq_handler *h, sq_store *s, sq_json_writer *jw, char *err, size_t errlen)
{
    sq_arena *a = h->arena;
    int rc, jr = 0;

    switch (h->route) {
    case SQ_ROUTE_STREAM_LIST: {
        sq_stream *list = NULL;
        size_t n = 0;
        rc = sq_store_finish_stream_list(s, &list, &n, a, err, errlen);
        jr |= sq_json_write_begin_array(jw);
        for (size_t i = 0; rc == SQ_OK && i < n; i++)
            jr |= sq_render_stream(jw, &list[i]);
        jr |= sq_json_write_end_array(jw);
        break;
    }
    case SQ_ROUTE_STREAM_CREATE:
    case SQ_ROUTE_STREAM_GET: {
        sq_stream st;
        rc = h->route == SQ_ROUTE_STREAM_CREATE
                 ? sq_store_finish_stream_create(s, &st, a, err, errlen)
                 : sq_store_finish_stream_get(s, &st, a, err, errlen);
        if (rc == SQ_OK)
            jr |= sq_render_stream(jw, &st);
        else if (rc == SQ_STORE_NOT_FOUND)
            snprintf(err, errlen, "stream not found");
        else if (rc == SQ_STORE_CONFLICT)
            snprintf(err, errlen, "a stream named \"%s\" exists already", h->name);
        break;
    }
    case SQ_ROUTE_STREAM_DELETE: {
        char id[37] = "";
        rc = sq_store_finish_stream_delete(s, id, err, errlen);
        if (rc == SQ_STORE_NOT_FOUND)
            snprintf(err, errlen, "stream not found");
        jr |= write_deleted_id(jw, id);
        break;
    }
    case SQ_ROUTE_MESSAGE_UPSERT: {
        long long published = 0;
        rc = sq_store_finish_upsert(s, &published, err, errlen);
        jr |= upsert_answer(h, rc, published, jw, err, errlen);
        break;
    }
    case SQ_ROUTE_MESSAGE_LIST: {
        sq_message *list = NULL;
        size_t n = 0;
        rc = sq_store_finish_message_list(s, &list, &n, a, err, errlen);
        jr |= sq_json_write_begin_array(jw);
        for (size_t i = 0; rc == SQ_OK && i < n; i++)
            jr |= sq_render_message(jw, &list[i]);
        jr |= sq_json_write_end_array(jw);
        break;
    }
    case SQ_ROUTE_MESSAGE_GET: {
        sq_message msg;
        rc = sq_store_finish_message_get(s, &msg, a, err, errlen);
        if (rc == SQ_OK)
            jr |= sq_render_message(jw, &msg);
        else if (rc == SQ_STORE_NOT_FOUND)
            snprintf(err, errlen, "message not found");
        break;
    }
    case SQ_ROUTE_MESSAGE_DELETE: {
        int deleted = 0;
        rc = sq_store_finish_message_delete(s, &deleted, err, errlen);
        if (rc == SQ_OK && !deleted) {
            snprintf(err, errlen, "message not found");
            rc = SQ_STORE_NOT_FOUND;
        }
        jr |= write_flag(jw, "deleted");
        break;
    }
    case SQ_ROUTE_MESSAGE_CONSUMER_INFO: {
        sq_message msg;
        sq_consumer_pair *pairs = NULL;
        size_t n = 0;
        rc = sq_store_finish_message_info(s, &msg, &pairs, &n, a, err, errlen);
        if (rc == SQ_STORE_NOT_FOUND)
            snprintf(err, errlen, "message not found");
        if (rc != SQ_OK)
            break;
        jr |= sq_json_write_begin_object(jw);
        jr |= sq_json_write_key(jw, "message");
        jr |= sq_render_message(jw, &msg);
        jr |= sq_json_write_key(jw, "consumer_info");
        jr |= sq_json_write_begin_array(jw);
        for (size_t i = 0; i < n; i++)
            jr |= sq_render_consumer_pair(jw, &pairs[i]);
        jr |= sq_json_write_end_array(jw);
        jr |= sq_json_write_end_object(jw);
        break;
    }
    case SQ_ROUTE_CONSUMER_LIST: {
        sq_consumer *list = NULL;
        size_t n = 0;
        rc = sq_store_finish_consumer_list(s, &list, &n, a, err, errlen);
        jr |= sq_json_write_begin_array(jw);
        for (size_t i = 0; rc == SQ_OK && i < n; i++)
            jr |= sq_render_consumer(jw, &list[i]);
        jr |= sq_json_write_end_array(jw);
        break;
    }
    case SQ_ROUTE_CONSUMER_CREATE:
    case SQ_ROUTE_CONSUMER_GET:
    case SQ_ROUTE_CONSUMER_EDIT: {
        sq_consumer c;
        if (h->route == SQ_ROUTE_CONSUMER_CREATE)
            rc = sq_store_finish_consumer_create(s, &c, a, err, errlen);
        else if (h->route == SQ_ROUTE_CONSUMER_GET)
            rc = sq_store_finish_consumer_get(s, &c, a, err, errlen);
        else
            rc = sq_store_finish_consumer_edit(s, &c, a, err, errlen);
        if (rc == SQ_OK)
            jr |= sq_render_consumer(jw, &c);
        else if (rc == SQ_STORE_NOT_FOUND)
            snprintf(err, errlen, "consumer not found");
        else if (rc == SQ_STORE_CONFLICT && h->route == SQ_ROUTE_CONSUMER_CREATE)
            snprintf(err, errlen, "a consumer named \"%s\" exists already in this stream",
                     h->create.name);
        else if (rc == SQ_STORE_CONFLICT)
            snprintf(err, errlen,
                     "consumer \"%s\" is declared in the config file: change it there and "
                     "reload",
                     h->consumer);
        break;
    }
    case SQ_ROUTE_CONSUMER_DELETE: {
        char id[37] = "";
        rc = sq_store_finish_consumer_delete(s, id, err, errlen);
        if (rc == SQ_STORE_NOT_FOUND)
            snprintf(err, errlen, "consumer not found");
        else if (rc == SQ_STORE_CONFLICT)
            snprintf(err, errlen,
                     "consumer \"%s\" is declared in the config file: remove it there, reload, "
                     "then delete it",
                     h->consumer);
        jr |= write_deleted_id(jw, id);
        break;
    }
    case SQ_ROUTE_RECEIVE: {
        sq_delivery *got = sq_arena_alloc(a, sizeof *got * (size_t)h->recv.batch_size);
        int n = 0;
        if (got == NULL) {
            if (sq_store_finish(s, err, errlen) == SQ_OK)
                snprintf(err, errlen, "out of memory");
            return SQ_ERR;
        }
        rc = sq_store_finish_receive(s, got, &n, a, err, errlen);
        jr |= receive_answer(h, rc, got, n, jw, err, errlen);
        break;
    }
    case SQ_ROUTE_ACK:
    case SQ_ROUTE_NACK:
    case SQ_ROUTE_EXTEND:
        rc = sq_store_finish(s, err, errlen);
        jr |= settle_answer(h, rc, jw);
        break;
    case SQ_ROUTE_REDRIVE: {
        long long n = 0;
        rc = sq_store_finish_redrive(s, &n, err, errlen);
        jr |= sq_json_write_begin_object(jw);
        jr |= sq_json_write_key(jw, "redriven");
        jr |= sq_json_write_int64(jw, n);
        jr |= sq_json_write_end_object(jw);
        if (rc == SQ_OK && n > 0) {
            h->news_stream = h->stream_num;
            h->news_notify = true;
        }
        break;
    }
    case SQ_ROUTE_CONSUMER_MESSAGES: {
        sq_consumer_message *list = NULL;
        size_t n = 0;
        rc = sq_store_finish_consumer_messages(s, &list, &n, a, err, errlen);
        jr |= sq_json_write_begin_array(jw);
        for (size_t i = 0; rc == SQ_OK && i < n; i++)
            jr |= sq_render_consumer_message(jw, &list[i]);
        jr |= sq_json_write_end_array(jw);
        break;
    }
    default:
        if (sq_store_finish(s, err, errlen) == SQ_OK)
            snprintf(err, errlen, "%s is not a store route", sq_route_name(h->route));
        return SQ_ERR;
    }
    /* The writer's failure is sticky: sq_json_writer_finish reports it too. */
    if (jr != 0 && rc == SQ_OK) {
        snprintf(err, errlen, "out of memory");
        return SQ_ERR;
    }
    return rc;
}

/* The Prometheus page: the shared counters and every consumer's gauges. */
static int metrics_page(sq_handler *h, sq_store *s, sq_buf *body, char *err, size_t errlen)
{
    sq_consumer *list = NULL;
    size_t n = 0;
    int rc = sq_store_finish_consumer_list_all(s, &list, &n, h->arena, err, errlen);
    if (rc != SQ_OK)
        return rc;
    sq_metrics_consumer *gauges = sq_arena_alloc(h->arena, sizeof *gauges * (n ? n : 1));
    if (gauges == NULL) {
        snprintf(err, errlen, "out of memory");
        return SQ_ERR;
    }
    for (size_t i = 0; i < n; i++) {
        const char *stream = "?";
        for (size_t j = 0; j < h->n_streams; j++) {
            if (h->streams[j].num == list[i].stream_num)
                stream = h->streams[j].name;
        }
        gauges[i] = sq_metrics_consumer_from(stream, &list[i]);
    }
    if (sq_metrics_render(body, h->metrics, gauges, n) != 0) {
        snprintf(err, errlen, "out of memory");
        return SQ_ERR;
    }
    h->content_type = SQ_METRICS_CONTENT_TYPE;
    return SQ_OK;
}

static int error_reply(sq_buf *body, int *status, int st, const char *summary)
{
    *status = st;
    sq_buf_reset(body);
    if (sq_render_error(body, summary, NULL, NULL) != SQ_OK)
        *status = 500;
    return SQ_HANDLER_REPLY;
}

int sq_handler_finish(sq_handler *h, sq_store *s, int64_t now_ms, sq_buf *body, int *status,
                      char *err, size_t errlen)
{
    sq_json_writer jw;
    int rc;

    err[0] = '\0';
    sq_buf_reset(body);
    if (h->step == SQ_STEP_STREAMS) {
        rc = sq_store_finish_stream_list(s, &h->streams, &h->n_streams, h->arena, err, errlen);
        if (rc == SQ_OK) {
            h->step = SQ_STEP_CALL;
            return SQ_HANDLER_NEXT;
        }
    } else if (h->route == SQ_ROUTE_METRICS) {
        rc = metrics_page(h, s, body, err, errlen);
    } else if (h->step == SQ_STEP_STREAM || h->step == SQ_STEP_CONSUMER) {
        rc = finish_resolve(h, s, now_ms, err, errlen);
        if (rc == SQ_HANDLER_NEXT)
            return rc;
    } else if (h->step == SQ_STEP_TIMER) {
        rc = sq_store_finish_next_visible(s, &h->wake_in_ms, err, errlen);
        if (rc == SQ_OK) {
            h->step = SQ_STEP_CALL;
            return SQ_HANDLER_WAIT;
        }
    } else {
        bool in_data = answer_in_data(h->route);
        sq_json_writer_init(&jw, body);
        int jr = in_data ? begin_data(&jw) : 0;
        const sq_group_share *g = h->share;
        rc = g != NULL ? g->rc : finish_call(h, s, &jw, err, errlen);
        if (g != NULL && h->route == SQ_ROUTE_MESSAGE_UPSERT)
            jr |= upsert_answer(h, rc, g->published, &jw, err, errlen);
        else if (g != NULL && h->route == SQ_ROUTE_RECEIVE)
            jr |= receive_answer(h, rc, g->got, g->n_got, &jw, err, errlen);
        else if (g != NULL)
            jr |= settle_answer(h, rc, &jw);
        if (in_data)
            jr |= sq_json_write_end_object(&jw);
        if (rc == SQ_STORE_NOT_FOUND && h->cached) {
            /* The names came from the cache and the call found them gone: resolve again, once,
             * and let that say what exists. */
            bool with_consumer = needs_consumer_id(h->route);
            cache_drop(h, with_consumer);
            h->cached = false;
            h->step = with_consumer ? SQ_STEP_CONSUMER : SQ_STEP_STREAM;
            sq_buf_reset(body);
            return SQ_HANDLER_NEXT;
        }
        if (rc == SQ_OK && h->route == SQ_ROUTE_RECEIVE && h->n_delivered == 0 &&
            now_ms < h->wait_until_ms) {
            /* Nothing yet, and the client will wait: learn how long the clock alone may
             * take to change that, then park. */
            h->step = SQ_STEP_TIMER;
            return SQ_HANDLER_NEXT;
        }
        if (rc == SQ_OK && (jr != 0 || sq_json_writer_finish(&jw) != SQ_OK)) {
            snprintf(err, errlen, "out of memory");
            return error_reply(body, status, 500, "the answer could not be written");
        }
    }
    switch (rc) {
    case SQ_OK:
        *status = 200;
        return SQ_HANDLER_REPLY;
    case SQ_STORE_NOT_FOUND:
        return error_reply(body, status, 404, err);
    case SQ_STORE_CONFLICT:
        return error_reply(body, status, 409, err);
    default:
        return error_reply(body, status, 503, "the database is not available");
    }
}

sq_handler_group sq_handler_groupable(const sq_handler *h)
{
    if (h->step == SQ_STEP_TIMER)
        return SQ_GROUP_TIMER;
    if (h->step != SQ_STEP_CALL)
        return SQ_GROUP_NONE;
    if (h->route == SQ_ROUTE_MESSAGE_UPSERT)
        return SQ_GROUP_UPSERT;
    if (h->route == SQ_ROUTE_ACK)
        return SQ_GROUP_ACK;
    if (h->route == SQ_ROUTE_RECEIVE)
        return SQ_GROUP_RECEIVE;
    return SQ_GROUP_NONE;
}

int sq_handler_group_done(sq_handler *h, const sq_group_share *share, int64_t now_ms, sq_buf *body,
                          int *status, char *err, size_t errlen)
{
    if (h->step == SQ_STEP_TIMER) {
        if (share->rc == SQ_OK) {
            h->wake_in_ms = share->wake_in_ms;
            h->step = SQ_STEP_CALL;
            return SQ_HANDLER_WAIT;
        }
        return error_reply(body, status, 503, "the database is not available");
    }
    h->share = share;
    int next = sq_handler_finish(h, NULL, now_ms, body, status, err, errlen);
    h->share = NULL;
    return next;
}

int sq_handler_empty_receive(sq_buf *body)
{
    sq_buf_reset(body);
    return sq_buf_puts(body, "{\"data\":[]}");
}
