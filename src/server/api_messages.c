/* The routes of a stream's messages (SPEC 4): upsert (whose calls group commit may share),
 * list, get, delete, and a message's state in each consumer. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sequin/group.h"
#include "sequin/handlers.h"
#include "sequin/render.h"

/* An upsert of this many messages or more is bulk work: it may run on the bulk lane of store
 * connections (docs/operations.md, "Two lanes"). */
#define BULK_MESSAGES 64
/* The most messages one shared upsert carries: a request's own limit. */
#define GROUP_MAX_MESSAGES 10000

static int upsert_parse(sq_handler *h, const sq_request_in *in, sq_api_problem *p)
{
    size_t max = h->env != NULL ? h->env->max_message_bytes : SIZE_MAX;
    int rc = sq_api_parse_upsert(in->body, in->body_len, max, h->arena, &h->msgs, &h->n_msgs, p);
    h->bulk = h->n_msgs >= BULK_MESSAGES;
    return rc;
}

static int upsert_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_upsert(s, h->stream_num, h->msgs, h->n_msgs, err, errlen);
}

/* An upsert's answer, its count and its news, once its call (alone or shared) is over. */
static int upsert_answer(sq_handler *h, int rc, long long published, sq_json_writer *jw, char *err,
                         size_t errlen)
{
    if (rc != SQ_OK)
        return rc;
    int jr = sq_json_write_begin_object(jw);
    jr |= sq_json_write_key(jw, "published");
    jr |= sq_json_write_int64(jw, published);
    jr |= sq_json_write_end_object(jw);
    sq_handler_published(h, published);
    return sq_handler_wrote(rc, jr, err, errlen);
}

static int upsert_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                         size_t errlen)
{
    long long published = 0;
    (void)body;
    if (h->share != NULL)
        return upsert_answer(h, h->share->rc, h->share->published, jw, err, errlen);
    int rc = sq_store_finish_upsert(s, &published, err, errlen);
    return upsert_answer(h, rc, published, jw, err, errlen);
}

/* ---- upserts to one stream share a transaction ------------------------------------------ */

static size_t upsert_items(const sq_handler *h)
{
    return h->n_msgs;
}

/* Same stream, and no key in two requests: a key's last occurrence is then always its own
 * request's, and each request's count is its own. */
static bool upsert_joins(sq_group *g, const sq_handler *lead, const sq_handler *q)
{
    if (q != lead &&
        (q->stream_num != lead->stream_num || sq_group_keys_clash(g, q->msgs, q->n_msgs)))
        return false;
    sq_group_keys_add(g, q->msgs, q->n_msgs);
    return true;
}

static int upsert_group_begin(sq_group *g, sq_handler *const *m, size_t n, size_t total,
                              sq_store *s, char *err, size_t errlen)
{
    sq_message_in *msgs = sq_group_buffer(g, total * (sizeof *msgs + sizeof(int)));
    if (msgs == NULL) {
        snprintf(err, errlen, "out of memory");
        return SQ_ERR;
    }
    int *groups = (int *)(msgs + total);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < m[i]->n_msgs; j++, k++) {
            msgs[k] = m[i]->msgs[j];
            groups[k] = (int)i;
        }
    }
    return sq_store_begin_upsert_grouped(s, m[0]->stream_num, msgs, total, groups, err, errlen);
}

static int upsert_group_finish(sq_group *g, sq_handler *const *m, size_t n, sq_store *s,
                               sq_group_share *shares, char *err, size_t errlen)
{
    long long published[SQ_GROUP_MAX_REQUESTS] = {0};
    (void)g, (void)m;
    int rc = sq_store_finish_upsert_grouped(s, published, n, err, errlen);
    for (size_t i = 0; i < n; i++)
        shares[i] = (sq_group_share){.rc = rc, .published = rc == SQ_OK ? published[i] : 0};
    return rc;
}

static const sq_group_ops upsert_group = {
    .limit = GROUP_MAX_MESSAGES,
    .items = upsert_items,
    .joins = upsert_joins,
    .begin = upsert_group_begin,
    .finish = upsert_group_finish,
};

/* ---- reading and deleting --------------------------------------------------------------- */

static int list_parse(sq_handler *h, const sq_request_in *in, sq_api_problem *p)
{
    return sq_api_parse_listing(in->query, false, h->arena, &h->listing, p);
}

static int list_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    sq_message_query q = {.filter = h->listing.key_pattern,
                          .newest_first = h->listing.newest_first,
                          .limit = h->listing.limit};
    return sq_store_begin_message_list(s, h->stream_num, &q, err, errlen);
}

static int list_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                       size_t errlen)
{
    sq_message *list = NULL;
    size_t n = 0;
    (void)body;
    int rc = sq_store_finish_message_list(s, &list, &n, h->arena, err, errlen);
    if (rc != SQ_OK)
        return rc;
    int jr = sq_json_write_begin_array(jw);
    for (size_t i = 0; i < n; i++)
        jr |= sq_render_message(jw, &list[i]);
    jr |= sq_json_write_end_array(jw);
    return sq_handler_wrote(rc, jr, err, errlen);
}

static int get_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_message_get(s, h->stream_num, h->key, err, errlen);
}

static int get_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                      size_t errlen)
{
    sq_message msg;
    (void)body;
    int rc = sq_store_finish_message_get(s, &msg, h->arena, err, errlen);
    return rc == SQ_OK ? sq_handler_wrote(rc, sq_render_message(jw, &msg), err, errlen) : rc;
}

static int delete_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_message_delete(s, h->stream_num, h->key, err, errlen);
}

static int delete_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                         size_t errlen)
{
    int deleted = 0;
    (void)h, (void)body;
    int rc = sq_store_finish_message_delete(s, &deleted, err, errlen);
    if (rc == SQ_OK && !deleted)
        rc = SQ_STORE_NOT_FOUND;
    return rc == SQ_OK ? sq_handler_wrote(rc, sq_render_flag(jw, "deleted"), err, errlen) : rc;
}

static int info_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_message_info(s, h->stream_num, h->key, err, errlen);
}

static int info_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                       size_t errlen)
{
    sq_message msg;
    sq_consumer_pair *pairs = NULL;
    size_t n = 0;
    (void)body;
    int rc = sq_store_finish_message_info(s, &msg, &pairs, &n, h->arena, err, errlen);
    if (rc != SQ_OK)
        return rc;
    int jr = sq_json_write_begin_object(jw);
    jr |= sq_json_write_key(jw, "message");
    jr |= sq_render_message(jw, &msg);
    jr |= sq_json_write_key(jw, "consumer_info");
    jr |= sq_json_write_begin_array(jw);
    for (size_t i = 0; i < n; i++)
        jr |= sq_render_consumer_pair(jw, &pairs[i]);
    jr |= sq_json_write_end_array(jw);
    jr |= sq_json_write_end_object(jw);
    return sq_handler_wrote(rc, jr, err, errlen);
}

const sq_route_ops sq_api_message_upsert_route = {.in_data = true,
                                                  .resolve = SQ_RESOLVE_STREAM,
                                                  .missing = "stream",
                                                  .parse = upsert_parse,
                                                  .begin = upsert_begin,
                                                  .finish = upsert_finish,
                                                  .group = &upsert_group};
const sq_route_ops sq_api_message_list_route = {.in_data = true,
                                                .resolve = SQ_RESOLVE_STREAM,
                                                .parse = list_parse,
                                                .begin = list_begin,
                                                .finish = list_finish};
const sq_route_ops sq_api_message_get_route = {
    .resolve = SQ_RESOLVE_STREAM, .missing = "message", .begin = get_begin, .finish = get_finish};
const sq_route_ops sq_api_message_delete_route = {.resolve = SQ_RESOLVE_STREAM,
                                                  .missing = "message",
                                                  .begin = delete_begin,
                                                  .finish = delete_finish};
const sq_route_ops sq_api_message_info_route = {.in_data = true,
                                                .resolve = SQ_RESOLVE_STREAM,
                                                .missing = "message",
                                                .begin = info_begin,
                                                .finish = info_finish};
