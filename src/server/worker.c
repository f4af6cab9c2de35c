/* The sequind worker's event loop: the epoll set of listening sockets, client connections,
 * store connections and a signalfd; the deadlines its timeout is computed from; the graceful
 * stop. The jobs it hands events to are connection.c, calls.c, longpoll.c and pool.c. */
#include "sequin/worker.h"

#include "worker_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define MAX_EVENTS 64
/* How long a resolved stream or consumer name is trusted (handlers.h). */
#define NAME_CACHE_MS 1000

/* /readyz asks through the handlers' environment. */
static bool ready(void *arg)
{
    return sq_pool_ready(arg);
}

static void begin_stop(struct worker *w)
{
    int64_t grace = now_ms() + STOP_GRACE_MS;

    if (w->stopping)
        return;
    w->stopping = true;
    sq_conn_stop_accepting(w);
    for (size_t i = 0; i < w->ctx->n_listen; i++) {
        close(w->listeners[i].fd);
        w->listeners[i].fd = -1;
    }
    for (struct conn *c = w->conns; c != NULL; c = c->next) {
        if (c->state == CONN_READING && c->in.len == 0 && c->deadline_ms > grace)
            c->deadline_ms = grace;
        /* quiet_until keeps a lingering deadline_ms within linger_end_ms. */
        if (c->state == CONN_LINGERING && c->linger_end_ms > grace) {
            c->linger_end_ms = grace;
            if (c->deadline_ms > grace)
                c->deadline_ms = grace;
        }
    }
    /* Long polls are answered now, with what they have: nothing. */
    while (w->parked != NULL)
        sq_longpoll_answer(w, w->parked);
    sq_info("stopping; open connections: %zu", w->n_conns);
}

static void on_signal(struct worker *w)
{
    struct signalfd_siginfo si;
    while (read(w->sig.fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGQUIT)
            w->quit = true;
        else if (si.ssi_signo == SIGTERM)
            begin_stop(w);
    }
}

/* Closes the connections whose deadline passed; returns the epoll_wait timeout until the
 * next deadline (-1: none). */
static int expire(struct worker *w, int64_t now)
{
    int64_t next = INT64_MAX;
    bool rewake = false;
    struct conn *c;

    struct pconn *l = &w->listener;
    if (l->st != NULL && l->retry_at_ms != 0 && l->retry_at_ms <= now)
        sq_pool_reconnect(w, l);
    if (l->st != NULL && l->deadline_ms != 0 && l->deadline_ms <= now) {
        sq_warn("the listening database connection took too long; reconnecting");
        sq_listener_lost(w);
    }
    /* The pool first: a call given up answers its connection, whose new deadline then counts. */
    for (size_t i = 0; i < w->n_pool; i++) {
        struct pconn *pc = &w->pool[i];
        if (pc->retry_at_ms != 0 && pc->retry_at_ms <= now)
            sq_pool_reconnect(w, pc);
        if (pc->deadline_ms != 0 && pc->deadline_ms <= now) {
            struct conn *user = pc->user;
            pc->user = NULL;
            pc->deadline_ms = 0;
            sq_warn("database %s took too long; reconnecting",
                    user != NULL ? "call" : "connection attempt");
            sq_pool_reconnect(w, pc);
            if (user != NULL)
                sq_calls_given_up(w, user);
            sq_calls_dispatch(w);
        }
    }
    c = w->conns;
    while (c != NULL) {
        struct conn *following = c->next;
        if (c->state == CONN_WAITING) {
            /* its call's end (or the call's deadline) answers it */
        } else if (c->state == CONN_PARKED && c->deadline_ms <= now) {
            if (now >= c->h.wait_until_ms) {
                sq_longpoll_answer(w, c);
            } else {
                sq_longpoll_unpark(w, c); /* the clock: a lease ran out, or a nack's delay ended */
                sq_calls_queue(w, c);
                rewake = true;
            }
        } else if (c->deadline_ms <= now) {
            if (c->state == CONN_READING && c->in.len > 0)
                sq_debug("closing a connection whose request did not arrive in time");
            sq_conn_close(w, c);
        } else if (c->deadline_ms < next) {
            next = c->deadline_ms;
        }
        c = following;
    }
    if (rewake)
        sq_calls_dispatch(w);
    if (l->deadline_ms != 0 && l->deadline_ms < next)
        next = l->deadline_ms;
    if (l->retry_at_ms != 0 && l->retry_at_ms < next)
        next = l->retry_at_ms;
    for (size_t i = 0; i < w->n_pool; i++) {
        const struct pconn *pc = &w->pool[i];
        if (pc->deadline_ms != 0 && pc->deadline_ms < next)
            next = pc->deadline_ms;
        if (pc->retry_at_ms != 0 && pc->retry_at_ms < next)
            next = pc->retry_at_ms;
    }
    if (w->resume_accept_ms != 0 && w->resume_accept_ms < next)
        next = w->resume_accept_ms;
    if (next == INT64_MAX)
        return -1;
    return next - now > 60000 ? 60000 : (int)(next - now);
}

/* Blocks TERM and QUIT for the signalfd and leaves HUP and INT to the master. */
static int setup_signals(struct worker *w)
{
    struct sigaction ign = {.sa_handler = SIG_IGN}, dfl = {.sa_handler = SIG_DFL};
    sigset_t mine;

    sigemptyset(&ign.sa_mask);
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGHUP, &ign, NULL);
    sigaction(SIGINT, &ign, NULL);
    sigaction(SIGPIPE, &ign, NULL);
    sigaction(SIGTERM, &dfl, NULL);
    sigaction(SIGQUIT, &dfl, NULL);
    sigaction(SIGCHLD, &dfl, NULL);
    sigaction(SIGALRM, &dfl, NULL);
    sigemptyset(&mine);
    sigaddset(&mine, SIGTERM);
    sigaddset(&mine, SIGQUIT);
    if (sigprocmask(SIG_SETMASK, &mine, NULL) != 0)
        return -1;
    w->sig.kind = SRC_SIGNAL;
    w->sig.fd = signalfd(-1, &mine, SFD_NONBLOCK | SFD_CLOEXEC);
    return w->sig.fd < 0 ? -1 : 0;
}

int sq_worker_run(const sq_worker_ctx *ctx)
{
    struct worker w = {.ctx = ctx, .epfd = -1, .sig = {.fd = -1}};
    struct epoll_event events[MAX_EVENTS];
    char err[256];
    int status = 1;

    const sq_config *cfg = ctx->cfg;
    w.limits = (sq_http_limits){
        .max_request_line_bytes = (size_t)cfg->limits.max_request_line_bytes,
        .max_header_bytes = (size_t)cfg->limits.max_header_bytes,
        .max_headers = (size_t)cfg->limits.max_headers,
        .max_body_bytes = (uint64_t)cfg->limits.max_body_bytes,
    };
    w.head_max = w.limits.max_request_line_bytes + w.limits.max_header_bytes + 5;
    w.group = sq_group_new(); /* NULL: no group commit, each call runs alone */
    w.env = (sq_handler_env){.metrics = ctx->metrics,
                             .cache = sq_name_cache_new(NAME_CACHE_MS),
                             .max_message_bytes = (size_t)cfg->limits.max_message_bytes,
                             .tokens = &cfg->auth.tokens,
                             .ready = ready,
                             .ready_arg = &w};
    w.listeners = calloc(ctx->n_listen ? ctx->n_listen : 1, sizeof *w.listeners);
    if (w.listeners == NULL) {
        sq_error("out of memory");
        goto fail;
    }
    for (size_t i = 0; i < ctx->n_listen; i++) {
        w.listeners[i].kind = SRC_LISTENER;
        w.listeners[i].fd = ctx->listen_fds[i];
    }
    if (setup_signals(&w) != 0) {
        sq_error("signal setup: %s", strerror(errno));
        goto fail;
    }
    w.epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w.sig};
    if (w.epfd < 0 || epoll_ctl(w.epfd, EPOLL_CTL_ADD, w.sig.fd, &ev) != 0) {
        sq_error("epoll: %s", strerror(errno));
        goto fail;
    }
    /* The general lane (connections_per_worker) and the bulk lane (as many again): large
     * upserts spend most of their time in their own rows and commit, and share little with
     * a group; on a lane of their own they add transactions in flight without taking the
     * general lane's connections from small requests (docs/operations.md, "Two lanes"). */
    size_t lane =
        cfg->database.connections_per_worker > 0 ? (size_t)cfg->database.connections_per_worker : 1;
    w.n_pool = 2 * lane;
    w.pool = calloc(w.n_pool, sizeof *w.pool);
    if (w.pool == NULL) {
        sq_error("out of memory");
        goto fail;
    }
    for (size_t i = 0; i < w.n_pool; i++) {
        w.pool[i].bulk = i >= lane;
        w.pool[i].src.kind = SRC_STORE;
        w.pool[i].src.fd = -1;
        w.pool[i].reg_fd = -1;
        if (sq_store_new(cfg->database.url, &w.pool[i].st, err, sizeof err) != SQ_OK) {
            sq_error("database connection: %s", err);
            goto fail;
        }
    }
    w.listener.src.kind = SRC_STORE;
    w.listener.src.fd = -1;
    w.listener.reg_fd = -1;
    if (sq_store_new(cfg->database.url, &w.listener.st, err, sizeof err) != SQ_OK) {
        sq_error("database connection: %s", err);
        goto fail;
    }
    for (size_t i = 0; i < w.n_pool; i++) {
        if (!w.pool[i].bulk) /* the bulk lane opens on first need (bulk_due) */
            sq_pool_reconnect(&w, &w.pool[i]);
    }
    sq_pool_reconnect(&w, &w.listener);
    if (sq_conn_start_accepting(&w) != 0)
        goto fail;
    sq_debug("serving (generation %u, %zu listening sockets)", ctx->generation, ctx->n_listen);

    int timeout = -1;
    while (!w.quit && !(w.stopping && w.n_conns == 0)) {
        int n = epoll_wait(w.epfd, events, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            sq_error("epoll_wait: %s", strerror(errno));
            goto fail;
        }
        for (int i = 0; i < n; i++) {
            struct source *src = events[i].data.ptr;
            if (src->kind == SRC_SIGNAL)
                on_signal(&w);
            else if (src->kind == SRC_LISTENER && w.accepting)
                sq_conn_accept(&w, src);
            else if (src->kind == SRC_CONN)
                sq_conn_event(&w, (struct conn *)src, events[i].events);
            else if (src->kind == SRC_STORE)
                sq_calls_on_pool(&w, (struct pconn *)src);
        }
        sq_conn_free_dead(&w);
        if (w.bulk_due && !w.bulk_opened) {
            w.bulk_opened = true;
            for (size_t i = 0; i < w.n_pool; i++) {
                if (w.pool[i].bulk)
                    sq_pool_reconnect(&w, &w.pool[i]);
            }
        }
        /* Nothing waits in the queue while a pool connection is free, whatever path queued
         * it: a request stranded there would wait for the next event, and on a quiet server
         * there may be none. */
        if (w.qhead != NULL)
            sq_calls_dispatch(&w);
        int64_t now = now_ms();
        if (w.resume_accept_ms != 0 && now >= w.resume_accept_ms) {
            w.resume_accept_ms = 0;
            if (!w.stopping && sq_conn_start_accepting(&w) != 0)
                goto fail;
        }
        timeout = expire(&w, now);
    }
    status = 0;
fail:
    while (w.conns != NULL)
        sq_conn_close(&w, w.conns);
    sq_conn_free_dead(&w);
    for (size_t i = 0; w.pool != NULL && i < w.n_pool; i++)
        sq_store_close(w.pool[i].st);
    free(w.pool);
    sq_store_close(w.listener.st);
    sq_name_cache_free(w.env.cache);
    sq_group_free(w.group);
    free(w.news);
    sq_buf_free(&w.body);
    for (size_t i = 0; w.listeners != NULL && i < ctx->n_listen; i++) {
        if (w.listeners[i].fd >= 0)
            close(w.listeners[i].fd);
    }
    free(w.listeners);
    if (w.epfd >= 0)
        close(w.epfd);
    if (w.sig.fd >= 0)
        close(w.sig.fd);
    return status;
}
