/* The routes of a stream's consumers (SPEC 4): their settings (list, create, get, edit,
 * delete), and their messages: receive, ack (both of whose calls group commit may share),
 * nack, extend, redrive and peek. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sequin/group.h"
#include "sequin/handlers.h"
#include "sequin/render.h"

/* The largest batch one receive call takes, alone or shared. */
#define RECEIVE_MAX 1000
/* The most ack ids one shared ack carries. */
#define GROUP_MAX_IDS 10000

/* ---- settings --------------------------------------------------------------------------- */

static int list_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_consumer_list(s, h->stream_num, err, errlen);
}

static int list_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                       size_t errlen)
{
    sq_consumer *list = NULL;
    size_t n = 0;
    (void)body;
    int rc = sq_store_finish_consumer_list(s, &list, &n, h->arena, err, errlen);
    if (rc != SQ_OK)
        return rc;
    int jr = sq_json_write_begin_array(jw);
    for (size_t i = 0; i < n; i++)
        jr |= sq_render_consumer(jw, &list[i]);
    jr |= sq_json_write_end_array(jw);
    return sq_handler_wrote(rc, jr, err, errlen);
}

static int create_parse(sq_handler *h, const sq_request_in *in, sq_api_problem *p)
{
    return sq_api_parse_consumer_create(in->body, in->body_len, h->arena, &h->create, p);
}

static int create_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_consumer_create(s, h->stream_num, h->create.name, h->create.filter,
                                          &h->create.settings, h->create.deliver_new, err, errlen);
}

static int edit_parse(sq_handler *h, const sq_request_in *in, sq_api_problem *p)
{
    return sq_api_parse_consumer_edit(in->body, in->body_len, h->arena, &h->changes, p);
}

static int edit_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_consumer_edit(s, h->stream_num, h->consumer, &h->changes, false, err,
                                        errlen);
}

static int get_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_consumer_get(s, h->stream_num, h->consumer, err, errlen);
}

/* The consumer that create, get or edit returns, once there is one. */
static int consumer_answer(int rc, const sq_consumer *c, sq_json_writer *jw, char *err,
                           size_t errlen)
{
    return rc == SQ_OK ? sq_handler_wrote(rc, sq_render_consumer(jw, c), err, errlen) : rc;
}

static int create_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                         size_t errlen)
{
    sq_consumer c;
    (void)body;
    int rc = sq_store_finish_consumer_create(s, &c, h->arena, err, errlen);
    if (rc == SQ_STORE_CONFLICT)
        snprintf(err, errlen, "a consumer named \"%s\" exists already in this stream",
                 h->create.name);
    return consumer_answer(rc, &c, jw, err, errlen);
}

static int get_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                      size_t errlen)
{
    sq_consumer c;
    (void)body;
    return consumer_answer(sq_store_finish_consumer_get(s, &c, h->arena, err, errlen), &c, jw, err,
                           errlen);
}

static int edit_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                       size_t errlen)
{
    sq_consumer c;
    (void)body;
    /* A conflict is the store's to say: the config file owns the consumer, or its kind or
     * max_ack_pending cannot take the push settings asked for. */
    return consumer_answer(sq_store_finish_consumer_edit(s, &c, h->arena, err, errlen), &c, jw, err,
                           errlen);
}

static int delete_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_consumer_delete(s, h->stream_num, h->consumer, false, err, errlen);
}

static int delete_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                         size_t errlen)
{
    char id[37] = "";
    (void)body;
    int rc = sq_store_finish_consumer_delete(s, id, err, errlen);
    if (rc == SQ_STORE_CONFLICT)
        snprintf(err, errlen,
                 "consumer \"%s\" is declared in the config file: remove it there, reload, "
                 "then delete it",
                 h->consumer);
    return rc == SQ_OK ? sq_handler_wrote(rc, sq_render_deleted(jw, id), err, errlen) : rc;
}

/* ---- receive: a long poll, whose calls the receives of one consumer share --------------- */

static int receive_parse(sq_handler *h, const sq_request_in *in, sq_api_problem *p)
{
    int rc = in->post ? sq_api_parse_receive_body(in->body, in->body_len, &h->recv, p)
                      : sq_api_parse_receive_query(in->query, &h->recv, p);
    h->wait_until_ms = in->now_ms + h->recv.wait_for_ms;
    return rc;
}

static int receive_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_receive(s, h->consumer_id, h->recv.batch_size, err, errlen);
}

/* A receive's answer and counts, once its call (alone or shared) is over. Nothing received
 * lets a long poll wait (h->waits). */
static int receive_answer(sq_handler *h, int rc, const sq_delivery *got, int n, sq_json_writer *jw,
                          char *err, size_t errlen)
{
    if (rc != SQ_OK)
        return rc;
    int jr = sq_json_write_begin_array(jw);
    for (int i = 0; i < n; i++)
        jr |= sq_render_delivery(jw, &got[i]);
    jr |= sq_json_write_end_array(jw);
    sq_metrics_deliveries(h->metrics, got, (size_t)n);
    h->waits = n == 0;
    return sq_handler_wrote(rc, jr, err, errlen);
}

static int receive_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                          size_t errlen)
{
    (void)body;
    if (h->share != NULL)
        return receive_answer(h, h->share->rc, h->share->got, h->share->n_got, jw, err, errlen);
    sq_delivery *got = sq_arena_alloc(h->arena, sizeof *got * (size_t)h->recv.batch_size);
    int n = 0;
    if (got == NULL) {
        if (sq_store_finish(s, err, errlen) == SQ_OK)
            snprintf(err, errlen, "out of memory");
        return SQ_ERR;
    }
    int rc = sq_store_finish_receive(s, got, &n, h->arena, err, errlen);
    return receive_answer(h, rc, got, n, jw, err, errlen);
}

static size_t receive_items(const sq_handler *h)
{
    return (size_t)h->recv.batch_size;
}

static bool same_consumer(sq_group *g, const sq_handler *lead, const sq_handler *q)
{
    (void)g;
    return strcmp(lead->consumer_id, q->consumer_id) == 0;
}

static int receive_group_begin(sq_group *g, sq_handler *const *m, size_t n, size_t total,
                               sq_store *s, char *err, size_t errlen)
{
    (void)g, (void)n;
    return sq_store_begin_receive(s, m[0]->consumer_id, (int)total, err, errlen);
}

/* The messages go out in seq order, each request taking up to its batch size. */
static int receive_group_finish(sq_group *g, sq_handler *const *m, size_t n, sq_store *s,
                                sq_group_share *shares, char *err, size_t errlen)
{
    sq_delivery *got = sq_group_buffer(g, RECEIVE_MAX * sizeof *got);
    int n_got = 0, taken = 0, rc;
    if (got == NULL) {
        if (sq_store_finish(s, err, errlen) == SQ_OK)
            snprintf(err, errlen, "out of memory");
        rc = SQ_ERR;
    } else {
        rc = sq_store_finish_receive(s, got, &n_got, sq_group_arena(g), err, errlen);
    }
    for (size_t i = 0; i < n; i++) {
        int k = rc != SQ_OK                             ? 0
                : n_got - taken < m[i]->recv.batch_size ? n_got - taken
                                                        : m[i]->recv.batch_size;
        shares[i] = (sq_group_share){.rc = rc, .got = got + taken, .n_got = k};
        taken += k;
    }
    return rc;
}

static const sq_group_ops receive_group = {
    .limit = RECEIVE_MAX,
    .items = receive_items,
    .joins = same_consumer,
    .begin = receive_group_begin,
    .finish = receive_group_finish,
};

/* ---- settling leases: ack (whose calls the acks of one consumer share), nack, extend ---- */

/* The ack ids of a body; `all` lets {} name every dead message, `delay` takes a nack's
 * delay. */
static int parse_ids(sq_handler *h, const sq_request_in *in, bool all, int *delay,
                     sq_api_problem *p)
{
    return sq_api_parse_ack_ids(in->body, in->body_len, all, delay, h->arena, &h->ids, &h->n_ids,
                                p);
}

static int ids_parse(sq_handler *h, const sq_request_in *in, sq_api_problem *p)
{
    return parse_ids(h, in, false, NULL, p);
}

static int nack_parse(sq_handler *h, const sq_request_in *in, sq_api_problem *p)
{
    return parse_ids(h, in, false, &h->delay_ms, p);
}

static int ack_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_ack(s, h->consumer_id, (const char *const *)h->ids, h->n_ids, err,
                              errlen);
}

static int nack_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_nack(s, h->consumer_id, (const char *const *)h->ids, h->n_ids,
                               h->delay_ms, err, errlen);
}

static int extend_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_extend(s, h->consumer_id, (const char *const *)h->ids, h->n_ids, err,
                                 errlen);
}

/* The outcome of an ack's, nack's or extend's call, alone or its share of a shared one. */
static int settled(const sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return h->share != NULL ? h->share->rc : sq_store_finish(s, err, errlen);
}

/* Their answer, once the call is over. */
static int success(int rc, sq_json_writer *jw, char *err, size_t errlen)
{
    return rc == SQ_OK ? sq_handler_wrote(rc, sq_render_flag(jw, "success"), err, errlen) : rc;
}

/* An ack makes room under max_ack_pending: news for this process's waiters. */
static int ack_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                      size_t errlen)
{
    (void)body;
    int rc = settled(h, s, err, errlen);
    if (rc == SQ_OK) {
        h->news_stream = h->stream_num;
        sq_metrics_add(h->metrics, SQ_METRIC_ACKED, h->n_ids);
    }
    return success(rc, jw, err, errlen);
}

/* A nack makes messages deliverable (now, or after its delay: waiters elsewhere then look
 * again and learn the new time): news for every process. */
static int nack_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                       size_t errlen)
{
    (void)body;
    int rc = settled(h, s, err, errlen);
    if (rc == SQ_OK) {
        h->news_stream = h->stream_num;
        h->news_notify = true;
        sq_metrics_add(h->metrics, SQ_METRIC_NACKED, h->n_ids);
    }
    return success(rc, jw, err, errlen);
}

/* An extend only moves leases on: no news. */
static int extend_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                         size_t errlen)
{
    (void)body;
    return success(settled(h, s, err, errlen), jw, err, errlen);
}

static size_t ack_items(const sq_handler *h)
{
    return h->n_ids;
}

static int ack_group_begin(sq_group *g, sq_handler *const *m, size_t n, size_t total, sq_store *s,
                           char *err, size_t errlen)
{
    const char **ids = sq_group_buffer(g, total * sizeof *ids);
    if (ids == NULL) {
        snprintf(err, errlen, "out of memory");
        return SQ_ERR;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < m[i]->n_ids; j++)
            ids[k++] = m[i]->ids[j];
    }
    return sq_store_begin_ack(s, m[0]->consumer_id, ids, total, err, errlen);
}

static int ack_group_finish(sq_group *g, sq_handler *const *m, size_t n, sq_store *s,
                            sq_group_share *shares, char *err, size_t errlen)
{
    (void)g, (void)m;
    int rc = sq_store_finish(s, err, errlen);
    for (size_t i = 0; i < n; i++)
        shares[i] = (sq_group_share){.rc = rc};
    return rc;
}

static const sq_group_ops ack_group = {
    .limit = GROUP_MAX_IDS,
    .items = ack_items,
    .joins = same_consumer,
    .begin = ack_group_begin,
    .finish = ack_group_finish,
};

/* {} redrives every dead message. */
static int redrive_parse(sq_handler *h, const sq_request_in *in, sq_api_problem *p)
{
    return parse_ids(h, in, true, NULL, p);
}

static int redrive_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_redrive(s, h->consumer_id, (const char *const *)h->ids, h->n_ids, err,
                                  errlen);
}

static int redrive_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                          size_t errlen)
{
    long long n = 0;
    (void)body;
    int rc = sq_store_finish_redrive(s, &n, err, errlen);
    if (rc != SQ_OK)
        return rc;
    int jr = sq_json_write_begin_object(jw);
    jr |= sq_json_write_key(jw, "redriven");
    jr |= sq_json_write_int64(jw, n);
    jr |= sq_json_write_end_object(jw);
    if (n > 0) {
        h->news_stream = h->stream_num;
        h->news_notify = true;
    }
    return sq_handler_wrote(rc, jr, err, errlen);
}

/* ---- peek ------------------------------------------------------------------------------- */

static int messages_parse(sq_handler *h, const sq_request_in *in, sq_api_problem *p)
{
    return sq_api_parse_listing(in->query, true, h->arena, &h->listing, p);
}

static int messages_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_consumer_messages(s, h->consumer_id, h->listing.state,
                                            h->listing.key_pattern, h->listing.limit, err, errlen);
}

static int messages_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                           size_t errlen)
{
    sq_consumer_message *list = NULL;
    size_t n = 0;
    (void)body;
    int rc = sq_store_finish_consumer_messages(s, &list, &n, h->arena, err, errlen);
    if (rc != SQ_OK)
        return rc;
    int jr = sq_json_write_begin_array(jw);
    for (size_t i = 0; i < n; i++)
        jr |= sq_render_consumer_message(jw, &list[i]);
    jr |= sq_json_write_end_array(jw);
    return sq_handler_wrote(rc, jr, err, errlen);
}

const sq_route_ops sq_api_consumer_list_route = {
    .in_data = true, .resolve = SQ_RESOLVE_STREAM, .begin = list_begin, .finish = list_finish};
const sq_route_ops sq_api_consumer_create_route = {.resolve = SQ_RESOLVE_STREAM,
                                                   .missing = "consumer",
                                                   .parse = create_parse,
                                                   .begin = create_begin,
                                                   .finish = create_finish};
const sq_route_ops sq_api_consumer_get_route = {
    .resolve = SQ_RESOLVE_STREAM, .missing = "consumer", .begin = get_begin, .finish = get_finish};
const sq_route_ops sq_api_consumer_edit_route = {.resolve = SQ_RESOLVE_STREAM,
                                                 .missing = "consumer",
                                                 .parse = edit_parse,
                                                 .begin = edit_begin,
                                                 .finish = edit_finish};
const sq_route_ops sq_api_consumer_delete_route = {.resolve = SQ_RESOLVE_STREAM,
                                                   .missing = "consumer",
                                                   .begin = delete_begin,
                                                   .finish = delete_finish};
const sq_route_ops sq_api_receive_route = {.in_data = true,
                                           .resolve = SQ_RESOLVE_CONSUMER,
                                           .missing = "consumer",
                                           .parse = receive_parse,
                                           .begin = receive_begin,
                                           .finish = receive_finish,
                                           .group = &receive_group};
const sq_route_ops sq_api_ack_route = {.resolve = SQ_RESOLVE_CONSUMER,
                                       .missing = "consumer",
                                       .parse = ids_parse,
                                       .begin = ack_begin,
                                       .finish = ack_finish,
                                       .group = &ack_group};
const sq_route_ops sq_api_nack_route = {.resolve = SQ_RESOLVE_CONSUMER,
                                        .missing = "consumer",
                                        .parse = nack_parse,
                                        .begin = nack_begin,
                                        .finish = nack_finish};
const sq_route_ops sq_api_extend_route = {.resolve = SQ_RESOLVE_CONSUMER,
                                          .missing = "consumer",
                                          .parse = ids_parse,
                                          .begin = extend_begin,
                                          .finish = extend_finish};
const sq_route_ops sq_api_redrive_route = {.resolve = SQ_RESOLVE_CONSUMER,
                                           .missing = "consumer",
                                           .parse = redrive_parse,
                                           .begin = redrive_begin,
                                           .finish = redrive_finish};
const sq_route_ops sq_api_consumer_messages_route = {.in_data = true,
                                                     .resolve = SQ_RESOLVE_CONSUMER,
                                                     .missing = "consumer",
                                                     .parse = messages_parse,
                                                     .begin = messages_begin,
                                                     .finish = messages_finish};
