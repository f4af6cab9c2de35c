/* A request's life from its route to its answer: path parameters, the names resolved (through
 * the worker's cache), the route's own calls, a long poll's timer, and the answer's JSON. */
#include "sequin/handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sequin/http.h"
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

static int refuse(sq_api_problem *p, const char *summary)
{
    p->status = 400;
    snprintf(p->text, sizeof p->text, "%s", summary);
    p->summary = p->text;
    p->field = p->detail = NULL;
    return 400;
}

/* The cache's key for the names the route resolves: the consumer's, or "" for a stream. */
static const char *cached_consumer(const sq_handler *h)
{
    return h->ops->resolve == SQ_RESOLVE_CONSUMER ? h->consumer : "";
}

bool sq_handler_needs_auth(const sq_route_match *m)
{
    return !m->desc->ops->open;
}

int sq_handler_start(sq_handler *h, const sq_route_match *m, const sq_request_in *in,
                     const sq_handler_env *env, sq_arena *arena, const char **json,
                     sq_api_problem *p)
{
    const sq_route_ops *ops = m->desc->ops;
    const char *why = NULL;

    *h = (sq_handler){.route = m->desc,
                      .ops = ops,
                      .arena = arena,
                      .wake_in_ms = -1,
                      .env = env,
                      .metrics = env != NULL ? env->metrics : NULL,
                      .content_type = "application/json"};
    if (m->stream.p != NULL && (h->stream = param(arena, m->stream)) == NULL)
        return refuse(p, "malformed stream in the path");
    if (m->consumer.p != NULL && (h->consumer = param(arena, m->consumer)) == NULL)
        return refuse(p, "malformed consumer in the path");
    if (m->source.p != NULL && (h->source = param(arena, m->source)) == NULL)
        return refuse(p, "malformed source in the path");
    if (m->key.p != NULL) {
        if ((h->key = param(arena, m->key)) == NULL)
            return refuse(p, "malformed key in the path");
        if (sq_key_validate(h->key, strlen(h->key), &why) != 0)
            return refuse(p, why != NULL ? why : "invalid key");
    }
    if (ops->local != NULL)
        return ops->local(h, json, p);
    h->step = ops->resolve == SQ_RESOLVE_STREAM     ? SQ_STEP_STREAM
              : ops->resolve == SQ_RESOLVE_CONSUMER ? SQ_STEP_CONSUMER
                                                    : SQ_STEP_CALL;
    if (h->step != SQ_STEP_CALL &&
        sq_name_cache_get(env != NULL ? env->cache : NULL, h->stream, cached_consumer(h),
                          in->now_ms, &h->stream_num, h->consumer_id)) {
        h->step = SQ_STEP_CALL;
        h->cached = true;
    }
    int rc = ops->parse != NULL ? ops->parse(h, in, p) : 0;
    return rc != 0 ? p->status : 0;
}

int sq_handler_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    switch (h->step) {
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
    return h->ops->begin(h, s, err, errlen);
}

/* The resolving steps: SQ_HANDLER_NEXT with the next step set, or an outcome to answer. */
static int finish_resolve(sq_handler *h, sq_store *s, int64_t now, char *err, size_t errlen)
{
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
    sq_name_cache_put(h->env != NULL ? h->env->cache : NULL, h->stream, cached_consumer(h),
                      h->stream_num, h->consumer_id, now);
    h->step = SQ_STEP_CALL;
    return SQ_HANDLER_NEXT;
}

static int error_reply(sq_buf *body, int *status, int st, const char *summary)
{
    *status = st;
    sq_buf_reset(body);
    if (sq_render_error(body, summary, NULL, NULL) != SQ_OK)
        *status = 500;
    return SQ_HANDLER_REPLY;
}

/* The route's own call is over (or its share of a shared one): the answer, or what comes
 * next. */
static int finish_route(sq_handler *h, sq_store *s, int64_t now_ms, sq_buf *body, char *err,
                        size_t errlen, int *rc)
{
    const sq_route_ops *ops = h->ops;
    sq_json_writer jw;

    sq_json_writer_init(&jw, body);
    int jr = 0;
    if (ops->in_data) {
        jr |= sq_json_write_begin_object(&jw);
        jr |= sq_json_write_key(&jw, "data");
    }
    h->waits = false;
    *rc = ops->finish(h, s, &jw, body, err, errlen);
    if (*rc == SQ_AGAIN) {
        h->calls++;
        sq_buf_reset(body);
        return SQ_HANDLER_NEXT;
    }
    if (ops->in_data)
        jr |= sq_json_write_end_object(&jw);
    if (*rc == SQ_STORE_NOT_FOUND && ops->missing != NULL)
        snprintf(err, errlen, "%s not found", ops->missing);
    if (*rc == SQ_STORE_NOT_FOUND && h->cached) {
        /* The names came from the cache and the call found them gone: resolve again, once,
         * and let that say what exists. */
        sq_name_cache_drop(h->env != NULL ? h->env->cache : NULL, h->stream, cached_consumer(h));
        h->cached = false;
        h->step = ops->resolve == SQ_RESOLVE_CONSUMER ? SQ_STEP_CONSUMER : SQ_STEP_STREAM;
        sq_buf_reset(body);
        return SQ_HANDLER_NEXT;
    }
    if (*rc == SQ_OK && h->waits && now_ms < h->wait_until_ms) {
        /* Nothing yet, and the client will wait: learn how long the clock alone may take to
         * change that, then park. */
        h->step = SQ_STEP_TIMER;
        return SQ_HANDLER_NEXT;
    }
    if (*rc == SQ_OK && h->raw)
        return SQ_HANDLER_REPLY; /* not JSON: the route wrote its body itself */
    if (*rc == SQ_OK && (jr != 0 || sq_json_writer_finish(&jw) != SQ_OK)) {
        snprintf(err, errlen, "out of memory");
        *rc = SQ_ERR;
        return -1;
    }
    return SQ_HANDLER_REPLY;
}

int sq_handler_finish(sq_handler *h, sq_store *s, int64_t now_ms, sq_buf *body, int *status,
                      char *err, size_t errlen)
{
    int rc;

    err[0] = '\0';
    sq_buf_reset(body);
    if (h->step == SQ_STEP_STREAM || h->step == SQ_STEP_CONSUMER) {
        rc = finish_resolve(h, s, now_ms, err, errlen);
        if (rc == SQ_HANDLER_NEXT)
            return rc;
    } else if (h->step == SQ_STEP_TIMER) {
        const sq_group_share *g = h->share;
        rc = g != NULL ? g->rc : sq_store_finish_next_visible(s, &h->wake_in_ms, err, errlen);
        if (rc == SQ_OK) {
            if (g != NULL)
                h->wake_in_ms = g->wake_in_ms;
            h->step = SQ_STEP_CALL;
            return SQ_HANDLER_WAIT;
        }
    } else {
        int next = finish_route(h, s, now_ms, body, err, errlen, &rc);
        if (next == SQ_HANDLER_NEXT)
            return next;
        if (next < 0)
            return error_reply(body, status, 500, "the answer could not be written");
    }
    switch (rc) {
    case SQ_OK:
        *status = 200;
        return SQ_HANDLER_REPLY;
    case SQ_STORE_NOT_FOUND:
        return error_reply(body, status, 404, err);
    case SQ_STORE_CONFLICT:
        return error_reply(body, status, 409, err);
    case SQ_HANDLER_REFUSED:
        return error_reply(body, status, h->refuse_status, err);
    default:
        return error_reply(body, status, 503, "the database is not available");
    }
}

int sq_handler_group_done(sq_handler *h, const sq_group_share *share, int64_t now_ms, sq_buf *body,
                          int *status, char *err, size_t errlen)
{
    h->share = share;
    int next = sq_handler_finish(h, NULL, now_ms, body, status, err, errlen);
    h->share = NULL;
    return next;
}

void sq_handler_published(sq_handler *h, long long published)
{
    if (published <= 0)
        return;
    sq_metrics_add(h->metrics, SQ_METRIC_UPSERTED, (uint64_t)published);
    h->news_stream = h->stream_num;
    h->news_notify = true;
}

int sq_handler_empty_answer(sq_buf *body)
{
    sq_buf_reset(body);
    return sq_buf_puts(body, "{\"data\":[]}");
}

int sq_handler_wrote(int rc, int jr, char *err, size_t errlen)
{
    if (rc == SQ_OK && jr != 0) {
        snprintf(err, errlen, "out of memory");
        return SQ_ERR;
    }
    return rc;
}

/* ---- the timer of long polls, shared by the receives of one consumer --------------------- */

static size_t timer_items(const sq_handler *h)
{
    (void)h;
    return 0;
}

static bool timer_joins(struct sq_group *g, const sq_handler *lead, const sq_handler *q)
{
    (void)g;
    return strcmp(lead->consumer_id, q->consumer_id) == 0;
}

static int timer_begin(struct sq_group *g, sq_handler *const *m, size_t n, size_t total,
                       sq_store *s, char *err, size_t errlen)
{
    (void)g, (void)n, (void)total;
    return sq_store_begin_next_visible(s, m[0]->consumer_id, err, errlen);
}

static int timer_finish(struct sq_group *g, sq_handler *const *m, size_t n, sq_store *s,
                        sq_group_share *shares, char *err, size_t errlen)
{
    long long wake_in = -1;
    (void)g, (void)m;
    int rc = sq_store_finish_next_visible(s, &wake_in, err, errlen);
    for (size_t i = 0; i < n; i++)
        shares[i] = (sq_group_share){.rc = rc, .wake_in_ms = wake_in};
    return rc;
}

static const sq_group_ops timer_group = {
    .limit = 0,
    .items = timer_items,
    .joins = timer_joins,
    .begin = timer_begin,
    .finish = timer_finish,
};

const sq_group_ops *sq_handler_grouping(const sq_handler *h)
{
    if (h->step == SQ_STEP_TIMER)
        return &timer_group;
    return h->step == SQ_STEP_CALL && h->calls == 0 ? h->ops->group : NULL;
}
