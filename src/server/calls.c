/* Running requests' store calls on the pool: the queue of requests waiting for a free
 * connection, each call begun, polled and finished, group commit (requests whose calls run as
 * one, group.c), and what a call that is over does to its request. */
#include "worker_internal.h"

#include <stdio.h>
#include <string.h>

#include "sequin/group.h"
#include "sequin/router.h"

/* An upsert large enough for the bulk lane: its call, and the stream name's resolution
 * before it (a name is looked up again every second, and must not wait for the other lane). */
static bool is_bulk(const struct conn *c)
{
    return !c->gone && c->h.bulk;
}

void sq_calls_queue(struct worker *w, struct conn *c)
{
    if (!w->bulk_opened && is_bulk(c))
        w->bulk_due = true;
    c->state = CONN_WAITING;
    sq_conn_want(w, c, 0); /* pipelined bytes wait in the socket until the answer is out */
    c->qnext = NULL;
    if (w->qtail != NULL)
        w->qtail->qnext = c;
    else
        w->qhead = c;
    w->qtail = c;
}

void sq_calls_enqueue(struct worker *w, struct conn *c)
{
    sq_calls_queue(w, c);
    sq_calls_dispatch(w);
}

/* Finishes the call over on `pc` for `c`: 1 when its next call is due, else 0 (answered,
 * parked, queued again, or closed). */
static int finish_call(struct worker *w, struct pconn *pc, struct conn *c)
{
    char err[256] = "";
    int status = 0;
    int next = sq_handler_finish(&c->h, pc->st, now_ms(), &w->body, &status, err, sizeof err);

    if (next == SQ_HANDLER_NEXT)
        return 1;
    if (next == SQ_HANDLER_WAIT) {
        sq_longpoll_wait(w, c);
        return 0;
    }
    if (status >= 500) {
        sq_log_set_request_id(c->req_id);
        sq_warn("%s: %s", c->h.route->pattern, err);
        sq_log_set_request_id(NULL);
        sq_metrics_add(w->ctx->metrics, SQ_METRIC_PG_ERRORS, 1);
    }
    if (status == 200)
        sq_news_spread(w, &c->h);
    (void)sq_conn_respond(w, c, status, &w->body, c->h.content_type, NULL);
    return 0;
}

void sq_calls_given_up(struct worker *w, struct conn *c)
{
    c->leads_group = NULL;
    for (struct conn *following; c != NULL; c = following) {
        following = c->gnext;
        c->gnext = NULL;
        (void)sq_conn_error(w, c, 503, "the database is not available", NULL, NULL, NULL);
    }
}

/* A shared call failed: one warning, with the leader's request id, and one error counted. */
static void group_failed(struct worker *w, const struct conn *leader, size_t members,
                         const char *err)
{
    sq_log_set_request_id(leader->req_id);
    sq_warn("%s (%zu requests in one call): %s", leader->h.route->pattern, members, err);
    sq_log_set_request_id(NULL);
    sq_metrics_add(w->ctx->metrics, SQ_METRIC_PG_ERRORS, 1);
}

/* The grouped call led by `leader` is over: each request gets its share of the outcome. */
static void finish_group(struct worker *w, struct pconn *pc, struct conn *leader)
{
    sq_handler *members[SQ_GROUP_MAX_REQUESTS];
    sq_group_share shares[SQ_GROUP_MAX_REQUESTS];
    const sq_group_ops *ops = leader->leads_group;
    char err[256] = "";
    size_t n = 0;

    for (struct conn *m = leader; m != NULL && n < SQ_GROUP_MAX_REQUESTS; m = m->gnext)
        members[n++] = &m->h;
    int rc = sq_group_finish(w->group, ops, members, n, pc->st, shares, err, sizeof err);
    leader->leads_group = NULL;
    if (rc == SQ_ERR)
        group_failed(w, leader, n, err);
    /* Answering may let a pipelined request start a call at once; it waits until every
     * member has had its share, which the group holds until sq_group_done. */
    w->hold_dispatch = true;
    size_t i = 0;
    for (struct conn *m = leader, *following; m != NULL; m = following, i++) {
        following = m->gnext;
        m->gnext = NULL;
        int status = 0;
        int next =
            sq_handler_group_done(&m->h, &shares[i], now_ms(), &w->body, &status, err, sizeof err);
        if (next == SQ_HANDLER_NEXT && m->gone) {
            sq_conn_close(w, m);
            continue;
        }
        if (next == SQ_HANDLER_NEXT) {
            sq_calls_queue(w, m); /* a stale name resolved again, or a long poll's timer */
            continue;
        }
        if (next == SQ_HANDLER_WAIT) {
            sq_longpoll_wait(w, m);
            continue;
        }
        if (status == 200)
            sq_news_spread(w, &m->h);
        (void)sq_conn_respond(w, m, status, &w->body, m->h.content_type, NULL);
    }
    sq_group_done(w->group);
    w->hold_dispatch = false;
    if (w->redispatch)
        sq_calls_dispatch(w);
}

/* A long poll's call begins: the news count it compares with to know whether news came while
 * the call ran (sq_longpoll_wait). */
static void note_news(struct worker *w, struct conn *c)
{
    if (c->h.wait_until_ms > 0)
        c->news_seen = sq_news_count(w, c->h.stream_num);
}

/*
 * Group commit: when other requests whose calls can share `c`'s wait in the queue (upserts
 * to the same stream, acks or receives of the same consumer: the route says, handlers.h), runs
 * them all as one call on `pc`. No waiting is added: only what queued up meanwhile, while
 * every pool connection was busy, is taken. True when it started such a call (or answered
 * them all 503); false to run `c` alone.
 */
static bool start_group(struct worker *w, struct pconn *pc, struct conn *c)
{
    sq_group_gather gg;
    char err[256] = "";
    struct conn *tail = c, *prev = NULL;

    /* Nobody waits: no group, and a lone upsert's keys are not hashed for one. */
    if (w->qhead == NULL || !sq_group_open(w->group, &gg, &c->h))
        return false;
    c->gnext = NULL;
    for (struct conn *q = w->qhead, *following; q != NULL; q = following) {
        following = q->qnext;
        if (q->gone || !sq_group_offer(w->group, &gg, &q->h)) {
            prev = q;
            continue;
        }
        if (prev != NULL)
            prev->qnext = following;
        else
            w->qhead = following;
        if (w->qtail == q)
            w->qtail = prev;
        tail->gnext = q;
        tail = q;
        q->gnext = NULL;
    }
    if (gg.n == 1)
        return false;
    for (struct conn *m = c; m != NULL; m = m->gnext)
        note_news(w, m);
    if (sq_group_begin(w->group, &gg, pc->st, err, sizeof err) != SQ_OK) {
        group_failed(w, c, gg.n, err);
        sq_calls_given_up(w, c);
        if (sq_store_dead(pc->st))
            sq_pool_reconnect(w, pc);
        return true;
    }
    c->leads_group = gg.ops;
    pc->user = c;
    if (sq_pool_call_started(w, pc, STORE_CALL_MS) != SQ_AGAIN) {
        pc->user = NULL;
        pc->deadline_ms = 0;
        finish_group(w, pc, c);
        if (sq_store_dead(pc->st))
            sq_pool_reconnect(w, pc);
    }
    return true;
}

/* Starts the call of `c` on `pc`; on failure answers 503 (and reconnects a dead connection). */
static void start_call(struct worker *w, struct pconn *pc, struct conn *c)
{
    char err[256] = "";

    if (start_group(w, pc, c))
        return;
    for (;;) {
        note_news(w, c);
        if (sq_handler_begin(&c->h, pc->st, err, sizeof err) != SQ_OK) {
            sq_log_set_request_id(c->req_id);
            sq_warn("%s: %s", c->h.route->pattern, err);
            sq_log_set_request_id(NULL);
            sq_metrics_add(w->ctx->metrics, SQ_METRIC_PG_ERRORS, 1);
            (void)sq_conn_error(w, c, 503, "the database is not available", NULL, NULL, NULL);
            if (sq_store_dead(pc->st))
                sq_pool_reconnect(w, pc);
            return;
        }
        pc->user = c;
        if (sq_pool_call_started(w, pc, STORE_CALL_MS) == SQ_AGAIN)
            return;
        pc->user = NULL;
        pc->deadline_ms = 0;
        if (finish_call(w, pc, c) != 1)
            break;
    }
    if (sq_store_dead(pc->st))
        sq_pool_reconnect(w, pc);
}

/* Hands queued requests to free pool connections. */
/* The first queued request whose client is still there; the ones that hung up meanwhile are
 * closed on the way, with nothing run for them. */
static struct conn *queue_pop(struct worker *w)
{
    while (w->qhead != NULL) {
        struct conn *c = w->qhead;
        w->qhead = c->qnext;
        if (w->qhead == NULL)
            w->qtail = NULL;
        if (!c->gone)
            return c;
        sq_conn_close(w, c);
    }
    return NULL;
}

/* Takes the first bulk upsert out of the queue, or NULL. */
static struct conn *queue_take_bulk(struct worker *w)
{
    for (struct conn *q = w->qhead, *prev = NULL; q != NULL; prev = q, q = q->qnext) {
        if (!is_bulk(q))
            continue;
        if (prev != NULL)
            prev->qnext = q->qnext;
        else
            w->qhead = q->qnext;
        if (w->qtail == q)
            w->qtail = prev;
        return q;
    }
    return NULL;
}

void sq_calls_dispatch(struct worker *w)
{
    struct pconn *pc;

    if (w->hold_dispatch) {
        w->redispatch = true;
        return;
    }
    w->redispatch = false;
    /* Looks for a free connection afresh after each start: a call can be over at once (its
     * answer was in by its first poll, when the worker had been preempted after sending),
     * which frees its connection again and may queue its request again (a receive's timer).
     * A large upsert goes to the bulk lane when it has a connection free; everything else,
     * and large upserts when the bulk lane is busy, to the general lane in queue order. */
    while (w->qhead != NULL) {
        struct conn *c = NULL;
        if ((pc = sq_pool_idle(w, true)) == NULL || (c = queue_take_bulk(w)) == NULL) {
            if ((pc = sq_pool_idle(w, false)) == NULL || (c = queue_pop(w)) == NULL)
                break;
        }
        start_call(w, pc, c);
    }
    bool connecting = false;
    for (size_t i = 0; i < w->n_pool; i++)
        connecting = connecting || (!w->pool[i].bulk && w->pool[i].reconnecting);
    if (w->qhead != NULL && !sq_pool_ready(w) && !connecting) {
        /* No connection to wait for: answer 503 now rather than hold the requests. A
         * connection being made holds them until it succeeds or fails. */
        while (w->qhead != NULL) {
            struct conn *c = w->qhead;
            w->qhead = c->qnext;
            if (w->qhead == NULL)
                w->qtail = NULL;
            (void)sq_conn_error(w, c, 503, "the database is not available", NULL, NULL, NULL);
        }
    }
}

void sq_calls_on_pool(struct worker *w, struct pconn *pc)
{
    bool want_write = false;

    if (pc == &w->listener) {
        sq_listener_event(w, pc);
        return;
    }
    int rc = sq_store_poll(pc->st, &want_write);
    sq_pool_sync_fd(w, pc, want_write);
    if (pc->reconnecting) {
        if (rc == SQ_AGAIN)
            return;
        (void)sq_pool_reconnect_over(w, pc);
        sq_calls_dispatch(w); /* holds the queue, or answers it 503 when no connection is left */
        return;
    }
    if (pc->user == NULL) {
        if (rc == SQ_ERR || sq_store_dead(pc->st))
            sq_pool_reconnect(w, pc);
        return;
    }
    if (rc == SQ_AGAIN)
        return;
    struct conn *c = pc->user;
    pc->user = NULL;
    pc->deadline_ms = 0;
    if (c->leads_group != NULL) {
        finish_group(w, pc, c);
        if (sq_store_dead(pc->st))
            sq_pool_reconnect(w, pc);
    } else if (finish_call(w, pc, c) == 1) {
        start_call(w, pc, c);
        if (pc->user != NULL)
            return;
    } else if (sq_store_dead(pc->st)) {
        sq_pool_reconnect(w, pc);
    }
    sq_calls_dispatch(w);
}
