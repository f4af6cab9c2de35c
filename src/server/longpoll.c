/* Long polls: the news of each stream a worker has heard, the parked requests that wait for
 * news or the clock, and the listening connection that hears every node's news (LISTEN) and
 * sends this worker's (NOTIFY). */
#include "worker_internal.h"

#include <stdlib.h>
#include <sys/epoll.h>

/* A parked long poll looks again at least this long after its last look, however soon the
 * database says a lease runs out: clocks and rounding must not make it spin. */
#define MIN_REWAKE_MS 5

static void listener_kick(struct worker *w);

static struct news *news_of(struct worker *w, int stream)
{
    for (size_t i = 0; i < w->n_news; i++) {
        if (w->news[i].stream == stream)
            return &w->news[i];
    }
    if (w->n_news == w->cap_news) {
        size_t cap = w->cap_news ? w->cap_news * 2 : 16;
        struct news *grown = realloc(w->news, cap * sizeof *grown);
        if (grown == NULL)
            return NULL;
        w->news = grown;
        w->cap_news = cap;
    }
    w->news[w->n_news] = (struct news){.stream = stream};
    return &w->news[w->n_news++];
}

uint64_t sq_news_count(struct worker *w, int stream)
{
    struct news *n = news_of(w, stream);
    return w->news_all + (n != NULL ? n->count : 0);
}

static void park(struct worker *w, struct conn *c)
{
    int64_t now = now_ms();
    int64_t until = c->h.wait_until_ms;

    if (c->h.wake_in_ms >= 0) {
        int64_t wake = now + (c->h.wake_in_ms < MIN_REWAKE_MS ? MIN_REWAKE_MS : c->h.wake_in_ms);
        if (wake < until)
            until = wake;
    }
    c->state = CONN_PARKED;
    c->deadline_ms = until;
    sq_conn_want(w, c, EPOLLRDHUP); /* a client that hangs up is noticed; pipelined bytes wait */
    c->wprev = NULL;
    c->wnext = w->parked;
    if (w->parked != NULL)
        w->parked->wprev = c;
    w->parked = c;
}

void sq_longpoll_unpark(struct worker *w, struct conn *c)
{
    if (c->wprev != NULL)
        c->wprev->wnext = c->wnext;
    else
        w->parked = c->wnext;
    if (c->wnext != NULL)
        c->wnext->wprev = c->wprev;
    c->wprev = c->wnext = NULL;
}

/* Parked long polls of `stream` (every stream when `stream` is 0) look again. */
static void wake(struct worker *w, int stream)
{
    struct conn *c = w->parked;
    bool any = false;
    while (c != NULL) {
        struct conn *following = c->wnext;
        if (stream == 0 || c->h.stream_num == stream) {
            sq_longpoll_unpark(w, c);
            sq_calls_queue(w, c);
            any = true;
        }
        c = following;
    }
    if (any)
        sq_calls_dispatch(w);
}

/* News heard (or made here, when nobody else is to be told): count it and wake the waiters. */
static void news_heard(struct worker *w, int stream)
{
    struct news *n = news_of(w, stream);
    if (n != NULL)
        n->count++;
    else
        w->news_all++; /* out of memory: count it as news for every stream */
    wake(w, n != NULL ? stream : 0);
}

void sq_news_spread(struct worker *w, const sq_handler *h)
{
    if (h->news_stream <= 0)
        return;
    if (h->news_notify) {
        struct news *n = news_of(w, h->news_stream);
        if (n != NULL && !n->to_send) {
            n->to_send = true;
            listener_kick(w);
        }
        if (n != NULL && w->listening)
            return;
    }
    news_heard(w, h->news_stream);
}

/* A long poll that will not wait (longer) gets its empty answer. */
static void answer_empty(struct worker *w, struct conn *c)
{
    if (sq_handler_empty_answer(&w->body) != SQ_OK) {
        sq_conn_close(w, c);
        return;
    }
    (void)sq_conn_respond(w, c, 200, &w->body, JSON, NULL);
}

void sq_longpoll_wait(struct worker *w, struct conn *c)
{
    if (c->gone)
        sq_conn_close(w, c);
    else if (w->stopping)
        answer_empty(w, c); /* a graceful stop answers long polls now, as begin_stop does */
    else if (sq_news_count(w, c->h.stream_num) != c->news_seen)
        sq_calls_queue(w, c); /* news arrived during the receive: look again now */
    else
        park(w, c);
}

void sq_longpoll_answer(struct worker *w, struct conn *c)
{
    sq_longpoll_unpark(w, c);
    answer_empty(w, c);
}

/* Sends the next news that other processes are still to hear, when the connection is free. */
static void listener_kick(struct worker *w)
{
    struct pconn *pc = &w->listener;
    char err[256] = "";

    if (!w->listening || w->listen_call != LISTEN_NONE || sq_store_busy(pc->st))
        return;
    for (size_t i = 0; i < w->n_news; i++) {
        if (!w->news[i].to_send)
            continue;
        int stream = w->news[i].stream;
        w->news[i].to_send = false;
        if (sq_store_begin_notify(pc->st, stream, err, sizeof err) != SQ_OK) {
            sq_warn("notify: %s", err);
            news_heard(w, stream); /* this worker's waiters at least */
            return;
        }
        w->listen_call = LISTEN_NOTIFY;
        w->notify_stream = stream;
        if (sq_pool_call_started(w, pc, STORE_CALL_MS) != SQ_AGAIN)
            sq_listener_event(w, pc);
        return;
    }
}

void sq_listener_lost(struct worker *w)
{
    struct pconn *pc = &w->listener;
    if (w->listen_call == LISTEN_NOTIFY) {
        struct news *n = news_of(w, w->notify_stream);
        if (n != NULL)
            n->to_send = true;
    }
    w->listen_call = LISTEN_NONE;
    w->listening = false;
    pc->deadline_ms = 0;
    sq_pool_reconnect(w, pc);
}

static void begin_listen(struct worker *w, struct pconn *pc)
{
    char err[256] = "";

    if (sq_store_begin_listen(pc->st, err, sizeof err) != SQ_OK) {
        sq_warn("listen: %s", err);
        sq_listener_lost(w);
        return;
    }
    w->listen_call = LISTEN_LISTEN;
    if (sq_pool_call_started(w, pc, STORE_CALL_MS) != SQ_AGAIN)
        sq_listener_event(w, pc);
}

/* Now listening, after a connect: notifications sent meanwhile were lost, so every waiter
 * looks again. */
static void listener_up(struct worker *w)
{
    w->listening = true;
    w->news_all++;
    wake(w, 0);
    listener_kick(w);
}

void sq_listener_event(struct worker *w, struct pconn *pc)
{
    bool want_write = false;
    char err[256] = "";
    int rc = sq_store_poll(pc->st, &want_write);
    int stream;

    sq_pool_sync_fd(w, pc, want_write);
    if (pc->reconnecting) {
        if (rc == SQ_AGAIN)
            return;
        if (sq_pool_reconnect_over(w, pc) != SQ_OK)
            return;
        /* The store listens again by itself on a reconnect once it has listened. */
        if (!w->listen_sent) {
            w->listen_sent = true;
            begin_listen(w, pc);
        } else {
            listener_up(w);
        }
        return;
    }
    while (sq_store_next_notify(pc->st, &stream) == SQ_OK)
        news_heard(w, stream);
    if (rc == SQ_ERR || sq_store_dead(pc->st)) {
        sq_listener_lost(w);
        return;
    }
    if (rc == SQ_OK && w->listen_call != LISTEN_NONE) {
        enum listen_call was = w->listen_call;
        int done = sq_store_finish(pc->st, err, sizeof err);
        w->listen_call = LISTEN_NONE;
        pc->deadline_ms = 0;
        if (was == LISTEN_LISTEN && done == SQ_OK) {
            listener_up(w);
            return;
        }
        if (done != SQ_OK) {
            sq_warn("%s: %s", was == LISTEN_LISTEN ? "listen" : "notify", err);
            if (was == LISTEN_NOTIFY)
                news_heard(w, w->notify_stream);
            if (sq_store_dead(pc->st) || was == LISTEN_LISTEN) {
                sq_listener_lost(w);
                return;
            }
        }
    }
    listener_kick(w);
}
