/* The sequind worker: an epoll loop that accepts connections, parses requests with http.c
 * (keep-alive, pipelining, Content-Length and chunked bodies), routes them, and runs their
 * store calls (handlers.c) on a pool of sq_store connections without waiting (begin, poll,
 * finish). Long polls park here until news: a notification heard on the worker's listening
 * connection (an upsert or nack on any node), or the clock (a lease that runs out). */
#include "sequin/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sequin/api_input.h"
#include "sequin/buf.h"
#include "sequin/group.h"
#include "sequin/handlers.h"
#include "sequin/http.h"
#include "sequin/json.h"
#include "sequin/keys.h"
#include "sequin/log.h"
#include "sequin/metrics.h"
#include "sequin/render.h"
#include "sequin/router.h"
#include "sequin/sha256.h"
#include "sequin/store.h"

/* After EMFILE (or ENFILE, ENOBUFS, ENOMEM) the worker stops accepting for this long instead
 * of spinning on a listener that stays readable: connections wait in the backlog meanwhile. */
#define ACCEPT_PAUSE_MS 100
/* Connections accepted per wake-up, so one busy listener cannot starve the others. */
#define ACCEPT_BATCH 64
/*
 * After a response that closes the connection, the worker closes the way nginx does (its
 * lingering close): it shuts down its side for writing, so that the client reads the response
 * and then the end of the stream, and it reads and drops what the client still sends until the
 * client closes too. Closing with input unread would send a reset, which can destroy the
 * response before the client has read it: a client still sending a body refused with 413 got
 * a broken pipe instead of the answer. The wait ends when the client has been quiet for
 * LINGER_QUIET_MS (one that neither sends nor closes is not reading either; nginx's
 * lingering_timeout is 5 s too), or LINGER_MS after it began (nginx's lingering_time, and our
 * default body_timeout_ms: a refused body sent at the pace allowed for an accepted one is in
 * by then), and at a graceful stop within STOP_GRACE_MS. No byte count ends it: a client
 * sending 64 MiB at full speed must be drained to the end to read its 413. One turn of the loop
 * drops at most LINGER_TURN_BYTES, so that a fast sender cannot hold up the worker's others.
 */
#define LINGER_QUIET_MS 5000
#define LINGER_MS 30000
#define LINGER_TURN_BYTES (256 * 1024)
/* On a graceful stop, a connection that has sent nothing yet gets this long to start. */
#define STOP_GRACE_MS 1000
#define MAX_EVENTS 64
#define JSON "application/json"
#define READ_CHUNK 4096
/* A pool connection that failed to connect tries again after this long. */
#define RECONNECT_MS 1000
/* A store call that takes longer is dropped (its request answers 503) and its connection made
 * afresh; a connection attempt that takes longer is started again. */
#define STORE_CALL_MS 30000
#define STORE_CONNECT_MS 10000
/* A parked long poll looks again at least this long after its last look, however soon the
 * database says a lease runs out: clocks and rounding must not make it spin. */
#define MIN_REWAKE_MS 5
/* How long a resolved stream or consumer name is trusted (handlers.h). */
#define NAME_CACHE_MS 1000

enum source_kind {
    SRC_LISTENER,
    SRC_SIGNAL,
    SRC_CONN,
    SRC_STORE
};

/* What an epoll event's data.ptr points at. */
struct source {
    enum source_kind kind;
    int fd;
};

enum conn_state {
    CONN_READING,
    CONN_WAITING, /* queued for, or running on, a pool connection */
    CONN_PARKED,  /* a receive with wait_for, waiting for news or its deadline */
    CONN_WRITING,
    CONN_LINGERING
};

enum req_phase {
    PHASE_HEAD,
    PHASE_LENGTH,
    PHASE_CHUNKED,
    PHASE_DONE
};

struct conn {
    struct source src; /* first, so the source pointer is the connection */
    enum conn_state state;
    bool closed; /* closed, freed at the end of the loop's turn */
    bool gone;   /* the client hung up while its call was running */
    bool keep_alive;
    bool head_only;
    sq_buf in; /* the request (and pipelined ones after it); chunked bodies decoded in place */
    sq_http_parser parser;
    sq_http_header *headers; /* room for limits.max_headers, as the parser wants */
    enum req_phase phase;
    size_t method_off, method_len, path_off, path_len, query_off, query_len; /* into `in` */
    size_t auth_off, auth_len; /* the Authorization header's value, into `in` */
    size_t head_len, body_len, req_end;
    sq_http_chunked chunked;
    size_t chunk_src, chunk_dst;
    /* the request's inputs and progress, strings in `arena` */
    sq_arena arena;
    sq_handler h;
    uint64_t news_seen; /* the stream's news count when the receive began (long polls) */
    bool routed;        /* the router matched: h.route is the request's */
    int64_t start_us;   /* the request's first byte, for the access log and metrics */
    char req_id[SQ_LOG_REQUEST_ID_MAX + 1]; /* the client's X-Request-Id or ours; "" until known */
    sq_buf out;
    size_t out_off;
    int64_t linger_end_ms; /* lingering ends by then at the latest */
    int64_t deadline_ms;
    struct conn *prev, *next;
    struct conn *qnext;         /* in the worker's queue of calls waiting for a pool connection */
    struct conn *wprev, *wnext; /* among the parked long polls */
    struct conn *gnext;         /* the other requests of the group it leads or is in */
    const sq_group_ops *leads_group; /* its call is shared by every request on gnext */
};

/* A connection of the worker's store pool. */
struct pconn {
    struct source src; /* first; src.fd unused (the socket changes on reconnects) */
    sq_store *st;
    int reg_fd; /* the socket in the epoll set, or -1 */
    uint32_t events;
    bool reconnecting;
    bool was_up;         /* connected once: the next connect is a reconnect, for the metrics */
    bool lost;           /* was up, and is not: logged once when lost and once when back */
    int64_t retry_at_ms; /* a reconnect is due then; 0: none */
    int64_t deadline_ms; /* the call or connection attempt in flight ends by then; 0: none */
    struct conn *user;   /* whose call is in flight */
    bool bulk;           /* of the bulk lane: large upserts only (see is_bulk) */
};

/* What the listening connection is doing. */
enum listen_call {
    LISTEN_NONE,   /* idle (or down) */
    LISTEN_LISTEN, /* LISTEN sequin_stream, after each connect */
    LISTEN_NOTIFY  /* telling every node that a stream has news */
};

/* A stream's news: how many times it had some, as this worker heard. */
struct news {
    int stream;
    uint64_t count;
    bool to_send; /* the other processes are still to be told */
};

struct worker {
    const sq_worker_ctx *ctx;
    int epfd;
    struct source sig;
    struct source *listeners;
    bool accepting;           /* the listeners are in the epoll set */
    int64_t resume_accept_ms; /* paused after EMFILE until then; 0 when not paused */
    bool stopping;
    bool quit;
    struct conn *conns;
    size_t n_conns;
    sq_http_limits limits;
    size_t head_max;   /* the most bytes of a head the parser may need before it answers */
    struct conn *dead; /* closed connections, freed after the events at hand */
    struct pconn *pool;
    size_t n_pool;
    bool bulk_due;              /* a large upsert was queued: the loop opens the bulk lane */
    bool bulk_opened;           /* it did */
    struct conn *qhead, *qtail; /* waiting for a pool connection */
    bool hold_dispatch;         /* a shared call's outcome is being handed out: no new calls */
    bool redispatch;            /* pool_dispatch was asked for meanwhile */
    struct conn *parked;        /* long polls waiting for news */
    /* The listening connection: hears every node's news, and sends this worker's. */
    struct pconn listener;
    enum listen_call listen_call;
    bool listening;   /* LISTEN is in place: news sent through NOTIFY comes back to us too */
    bool listen_sent; /* LISTEN was sent once: the store repeats it on each reconnect */
    int notify_stream;
    struct news *news;
    size_t n_news, cap_news;
    uint64_t news_all;  /* news for every stream: each listener reconnect */
    sq_buf body;        /* the answer being written */
    sq_handler_env env; /* what the requests' handlers share */
    sq_group *group;    /* group commit's scratch; NULL: every call runs alone */
};

static void on_pool(struct worker *w, struct pconn *pc);
static void pool_dispatch(struct worker *w);
static void unpark(struct worker *w, struct conn *c);

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_ms(void)
{
    return now_us() / 1000;
}

/* ---- accepting ---------------------------------------------------------------------------- */

/* EPOLLEXCLUSIVE wakes one waiting worker per connection instead of all of them; such a
 * registration cannot be modified, only deleted and added again. */
static int start_accepting(struct worker *w)
{
    for (size_t i = 0; i < w->ctx->n_listen; i++) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &w->listeners[i]};
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->listeners[i].fd, &ev) != 0) {
            sq_error("epoll_ctl(ADD) of a listening socket: %s", strerror(errno));
            return -1;
        }
    }
    w->accepting = true;
    return 0;
}

static void stop_accepting(struct worker *w)
{
    if (!w->accepting)
        return;
    for (size_t i = 0; i < w->ctx->n_listen; i++)
        (void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listeners[i].fd, NULL);
    w->accepting = false;
}

/* Closes the socket at once; the memory waits for free_dead, since events for it or callers
 * up the stack may still hold the pointer. */
static void close_conn(struct worker *w, struct conn *c)
{
    if (c->closed)
        return;
    c->closed = true;
    if (c->state == CONN_PARKED)
        unpark(w, c);
    /* The fd is ours alone, so close() also removes it from the epoll set. */
    close(c->src.fd);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    w->n_conns--;
    c->next = w->dead;
    w->dead = c;
}

static void free_dead(struct worker *w)
{
    while (w->dead != NULL) {
        struct conn *c = w->dead;
        w->dead = c->next;
        sq_buf_free(&c->in);
        sq_buf_free(&c->out);
        sq_arena_free(&c->arena);
        free(c->headers);
        free(c);
    }
}

static void add_conn(struct worker *w, int fd)
{
    struct conn *c = calloc(1, sizeof *c);
    struct epoll_event ev = {.events = EPOLLIN};

    if (c != NULL)
        c->headers = calloc(w->limits.max_headers, sizeof *c->headers);
    if (c == NULL || c->headers == NULL) {
        sq_warn("out of memory: connection refused");
        close(fd);
        free(c);
        return;
    }
    sq_http_parser_init(&c->parser, &w->limits, c->headers);
    c->src.kind = SRC_CONN;
    c->src.fd = fd;
    c->state = CONN_READING;
    c->start_us = now_us();
    c->deadline_ms = c->start_us / 1000 + w->ctx->cfg->limits.header_timeout_ms;
    ev.data.ptr = c;
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        sq_warn("epoll_ctl(ADD) of a connection: %s", strerror(errno));
        close(fd);
        free(c->headers);
        free(c);
        return;
    }
    c->next = w->conns;
    if (w->conns != NULL)
        w->conns->prev = c;
    w->conns = c;
    w->n_conns++;
}

static void accept_some(struct worker *w, struct source *l)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            add_conn(w, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            sq_warn("accept: %s; not accepting for %d ms (%zu connections open)", strerror(errno),
                    ACCEPT_PAUSE_MS, w->n_conns);
            stop_accepting(w);
            w->resume_accept_ms = now_ms() + ACCEPT_PAUSE_MS;
            return;
        }
        sq_warn("accept: %s", strerror(errno));
        return;
    }
}

/* ---- the store pool ----------------------------------------------------------------------- */

static void pool_sync_fd(struct worker *w, struct pconn *pc, bool want_write)
{
    int fd = sq_store_socket(pc->st);
    uint32_t events = EPOLLIN | (want_write ? EPOLLOUT : 0);

    if (fd != pc->reg_fd && pc->reg_fd >= 0) {
        (void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, pc->reg_fd, NULL);
        pc->reg_fd = -1;
    }
    if (fd < 0)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = pc};
    if (fd != pc->reg_fd) {
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
            pc->reg_fd = fd;
            pc->events = events;
        }
    } else if (events != pc->events) {
        if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
            pc->events = events;
    }
}

/* A call was just begun on `pc` and may take `limit_ms`: sends what the socket takes and
 * says whether the call goes on (SQ_AGAIN) or is already over. */
static int call_started(struct worker *w, struct pconn *pc, int limit_ms)
{
    bool want_write = false;
    pc->deadline_ms = now_ms() + limit_ms;
    int rc = sq_store_poll(pc->st, &want_write);
    pool_sync_fd(w, pc, want_write);
    return rc;
}

/* Starts connecting a pool connection afresh; a failure to start is retried by the timer. */
static void pool_reconnect(struct worker *w, struct pconn *pc)
{
    char err[256];

    if (pc->reg_fd >= 0) {
        (void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, pc->reg_fd, NULL);
        pc->reg_fd = -1;
    }
    pc->retry_at_ms = 0;
    if (pc->was_up && !pc->lost) {
        /* once per outage, at warn so that log.level warn still shows it (and its end) */
        sq_warn("database connection lost; reconnecting every %d ms", RECONNECT_MS);
        pc->lost = true;
    }
    if (sq_store_begin_reconnect(pc->st, err, sizeof err) != SQ_OK) {
        sq_warn("database connection: %s", err);
        pc->retry_at_ms = now_ms() + RECONNECT_MS;
        return;
    }
    pc->reconnecting = true;
    if (call_started(w, pc, STORE_CONNECT_MS) != SQ_AGAIN)
        on_pool(w, pc);
}

static bool pool_alive(const struct pconn *pc)
{
    return !pc->reconnecting && !sq_store_dead(pc->st);
}

/* Whether the general lane has a connection up: the bulk lane alone cannot serve every
 * request, so it does not count. */
static bool worker_ready(const struct worker *w)
{
    for (size_t i = 0; i < w->n_pool; i++) {
        if (!w->pool[i].bulk && pool_alive(&w->pool[i]))
            return true;
    }
    return false;
}

/* /readyz asks through the handlers' environment. */
static bool ready(void *arg)
{
    return worker_ready(arg);
}

/* ---- responses ---------------------------------------------------------------------------- */

static bool slice_is(sq_http_slice slice, const char *s)
{
    return slice.len == strlen(s) && memcmp(slice.p, s, slice.len) == 0;
}

static void want_events(struct worker *w, struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->src.fd, &ev) != 0)
        sq_warn("epoll_ctl(MOD) of a connection: %s", strerror(errno));
}

static void next_request(struct worker *w, struct conn *c);

/* The deadline of a lingering connection after it was last heard from at `now`. */
static int64_t quiet_until(const struct conn *c, int64_t now)
{
    return now + LINGER_QUIET_MS < c->linger_end_ms ? now + LINGER_QUIET_MS : c->linger_end_ms;
}

/* Writes what is left of the response. Once it is all out: with keep-alive, the next
 * (possibly pipelined) request is read; otherwise the connection half-closes and lingers.
 * Returns -1 when the connection was closed. */
static int write_out(struct worker *w, struct conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n =
            send(c->src.fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (c->state != CONN_WRITING) {
                c->state = CONN_WRITING;
                want_events(w, c, EPOLLOUT);
            }
            c->deadline_ms = now_ms() + w->ctx->cfg->limits.idle_timeout_ms;
            return 0;
        }
        close_conn(w, c);
        return -1;
    }
    sq_buf_reset(&c->out);
    c->out_off = 0;
    sq_arena_reset(&c->arena);
    if (c->keep_alive && !w->stopping) {
        next_request(w, c);
        return 0;
    }
    shutdown(c->src.fd, SHUT_WR);
    want_events(w, c, EPOLLIN);
    c->state = CONN_LINGERING;
    c->linger_end_ms = now_ms() + (w->stopping ? STOP_GRACE_MS : LINGER_MS);
    c->deadline_ms = quiet_until(c, now_ms());
    sq_buf_free(&c->in);
    return 0;
}

/* The request is answered: one access-log line, and its count and time in the metrics. */
static void account(struct worker *w, struct conn *c, int status, size_t bytes)
{
    const char *method = c->method_len > 0 ? c->in.data + c->method_off : NULL;
    size_t method_len = c->method_len;
    uint64_t took = (uint64_t)(now_us() - c->start_us);

    if (c->head_only) {
        method = "GET"; /* HEAD is counted as the GET it is routed as */
        method_len = 3;
    }
    sq_metrics_request(w->ctx->metrics, c->routed ? c->h.route : SQ_ROUTE_COUNT, method, method_len,
                       status, took);
    sq_log_request line = {.method = c->method_len > 0 ? c->in.data + c->method_off : NULL,
                           .method_len = c->method_len,
                           .route = c->routed ? sq_route_name(c->h.route) : NULL,
                           .status = status,
                           .bytes = bytes,
                           .duration_us = took,
                           .request_id = c->req_id};
    sq_log_access(&line);
}

/* Queues the response: status, body (`body` of `ctype`, left out for HEAD), headers. */
static int send_response(struct worker *w, struct conn *c, int status, const sq_buf *body,
                         const char *ctype, const char *allow)
{
    int rc = 0;

    if (c->req_id[0] == '\0')
        sq_log_request_id_new(c->req_id);
    if (c->gone) {
        account(w, c, status, 0);
        close_conn(w, c);
        return -1;
    }
    if (w->stopping)
        c->keep_alive = false;
    sq_buf_reset(&c->out);
    c->out_off = 0;
    rc |= sq_buf_printf(&c->out,
                        "HTTP/1.1 %d %s\r\n"
                        "Content-Type: %s\r\n"
                        "Content-Length: %zu\r\n"
                        "Cache-Control: no-store\r\n"
                        "X-Request-Id: %s\r\n",
                        status, sq_http_status_text(status), ctype, body->len, c->req_id);
    if (status == 503)
        rc |= sq_buf_puts(&c->out, "Retry-After: 1\r\n");
    if (allow != NULL)
        rc |= sq_buf_printf(&c->out, "Allow: %s\r\n", allow);
    if (status == 401)
        rc |= sq_buf_puts(&c->out, "WWW-Authenticate: Bearer\r\n");
    rc |= sq_buf_puts(&c->out, c->keep_alive ? "\r\n" : "Connection: close\r\n\r\n");
    if (!c->head_only)
        rc |= sq_buf_append(&c->out, body->data, body->len);
    account(w, c, status, c->out.len);
    if (rc != 0) {
        close_conn(w, c);
        return -1;
    }
    return write_out(w, c);
}

/* An error response {"summary": summary} (with the 422 field when given). */
static int respond_error(struct worker *w, struct conn *c, int status, const char *summary,
                         const char *field, const char *problem, const char *allow)
{
    sq_buf body = {0};
    if (sq_render_error(&body, summary, field, problem) != 0) {
        sq_buf_free(&body);
        close_conn(w, c);
        return -1;
    }
    int rc = send_response(w, c, status, &body, JSON, allow);
    sq_buf_free(&body);
    return rc;
}

/* ---- requests ----------------------------------------------------------------------------- */

/* With tokens configured, "Authorization: Bearer TOKEN" must carry one of them: its SHA-256
 * is compared with every configured digest in constant time. Without tokens, all may pass. */
static bool authorized(const struct worker *w, const struct conn *c)
{
    const sq_config_token_list *tokens = &w->ctx->cfg->auth.tokens;
    const char *v = c->in.data + c->auth_off;
    size_t len = c->auth_len;
    unsigned char digest[SQ_SHA256_LEN];
    bool match = false;

    if (tokens->count == 0)
        return true;
    if (len < 8 || strncasecmp(v, "Bearer ", 7) != 0)
        return false;
    v += 7;
    len -= 7;
    while (len > 0 && *v == ' ') {
        v++;
        len--;
    }
    if (len == 0)
        return false;
    sq_sha256(v, len, digest);
    for (size_t i = 0; i < tokens->count; i++) {
        unsigned char diff = 0;
        for (size_t j = 0; j < SQ_SHA256_LEN; j++)
            diff |= (unsigned char)(digest[j] ^ tokens->items[i].sha256[j]);
        match |= diff == 0;
    }
    return match;
}

/* An upsert large enough for the bulk lane: its call, and the stream name's resolution
 * before it (a name is looked up again every second, and must not wait for the other lane). */
static bool is_bulk(const struct conn *c)
{
    return !c->gone && c->h.bulk;
}

/* Puts `c` at the end of the queue for a pool connection, without starting anything. The
 * first large upsert asks for the bulk lane (opened by the event loop, outside any dispatch):
 * a node whose clients never send one holds only the general lane's connections. Until the
 * lane is up, large upserts take the general lane. */
static void queue_push(struct worker *w, struct conn *c)
{
    if (!w->bulk_opened && is_bulk(c))
        w->bulk_due = true;
    c->state = CONN_WAITING;
    want_events(w, c, 0); /* pipelined bytes wait in the socket until the answer is out */
    c->qnext = NULL;
    if (w->qtail != NULL)
        w->qtail->qnext = c;
    else
        w->qhead = c;
    w->qtail = c;
}

static void enqueue(struct worker *w, struct conn *c)
{
    queue_push(w, c);
    pool_dispatch(w);
}

static int respond_ok_json(struct worker *w, struct conn *c, const char *json)
{
    sq_buf body = {0};
    if (sq_buf_puts(&body, json) != 0) {
        close_conn(w, c);
        return -1;
    }
    int rc = send_response(w, c, 200, &body, JSON, NULL);
    sq_buf_free(&body);
    return rc;
}

/* Routes a complete request (head and body) and answers it or queues its store calls. */
static void dispatch(struct worker *w, struct conn *c, const char *body, size_t body_len)
{
    sq_http_slice method = {c->in.data + c->method_off, c->method_len};
    sq_http_slice path = {c->in.data + c->path_off, c->path_len};
    sq_http_slice query = {c->in.data + c->query_off, c->query_len};
    sq_route_match m;
    const char *allow = NULL;
    sq_api_problem p;

    sq_debug("%.*s %.*s", (int)method.len, method.p, (int)path.len, path.p);
    c->head_only = slice_is(method, "HEAD");
    if (c->head_only)
        method = (sq_http_slice){"GET", 3};
    int rc = sq_router_match(method, path, &m, &allow);
    if (rc == 404) {
        (void)respond_error(w, c, 404, "no such route", NULL, NULL, NULL);
        return;
    }
    if (rc != 0) {
        (void)respond_error(w, c, 405, "method not allowed", NULL, NULL, allow);
        return;
    }
    c->h.route = m.route;
    c->routed = true;
    if (sq_handler_needs_auth(&m) && !authorized(w, c)) {
        (void)respond_error(w, c, 401, "a valid bearer token is required", NULL, NULL, NULL);
        return;
    }
    sq_request_in in = {.post = slice_is(method, "POST"),
                        .query = query,
                        .body = body,
                        .body_len = body_len,
                        .now_ms = now_ms()};
    const char *json = NULL;
    rc = sq_handler_start(&c->h, &m, &in, &w->env, &c->arena, &json, &p);
    if (rc == 200 && json != NULL)
        (void)respond_ok_json(w, c, json);
    else if (rc != 0)
        (void)respond_error(w, c, p.status, p.summary, p.field, p.detail, NULL);
    else
        enqueue(w, c);
}

/* Reads the body (or the next request) as far as the buffered bytes go. */
static void advance(struct worker *w, struct conn *c);

static void next_request(struct worker *w, struct conn *c)
{
    /* Drop the request just answered; pipelined bytes after it move to the front. */
    if (c->req_end < c->in.len)
        memmove(c->in.data, c->in.data + c->req_end, c->in.len - c->req_end);
    c->in.len -= c->req_end;
    c->req_end = 0;
    c->phase = PHASE_HEAD;
    c->routed = false;
    c->method_len = 0;
    c->req_id[0] = '\0';
    c->start_us = now_us();
    sq_http_parser_init(&c->parser, &w->limits, c->headers);
    c->state = CONN_READING;
    c->deadline_ms = now_ms() + (c->in.len > 0 ? w->ctx->cfg->limits.header_timeout_ms
                                               : w->ctx->cfg->limits.idle_timeout_ms);
    want_events(w, c, EPOLLIN);
    advance(w, c);
}

/* The request's id: the client's X-Request-Id when it is a fit one, else a new one. */
static void take_request_id(struct conn *c, const sq_http_request *req)
{
    for (size_t i = 0; i < req->header_count; i++) {
        const sq_http_header *h = &req->headers[i];
        if (h->name.len == 12 && strncasecmp(h->name.p, "X-Request-Id", 12) == 0 &&
            sq_log_request_id_valid(h->value.p, h->value.len)) {
            memcpy(c->req_id, h->value.p, h->value.len);
            c->req_id[h->value.len] = '\0';
            return;
        }
    }
    sq_log_request_id_new(c->req_id);
}

static void advance(struct worker *w, struct conn *c)
{
    sq_http_error err;

    if (c->phase == PHASE_HEAD) {
        sq_http_request req;
        if (c->in.len == 0)
            return;
        int rc = sq_http_parse_request(&c->parser, c->in.data, c->in.len, &req, &err);
        if (rc == SQ_AGAIN) {
            if (c->in.len >= w->head_max) {
                c->keep_alive = false;
                (void)respond_error(w, c, 431, "the header fields are larger than the limit", NULL,
                                    NULL, NULL);
            }
            return;
        }
        if (rc != SQ_OK) {
            c->keep_alive = false;
            (void)respond_error(w, c, err.status, err.reason, NULL, NULL, NULL);
            return;
        }
        c->method_off = (size_t)(req.method.p - c->in.data);
        c->method_len = req.method.len;
        c->path_off = (size_t)(req.path.p - c->in.data);
        c->path_len = req.path.len;
        c->query_off = req.query.p != NULL ? (size_t)(req.query.p - c->in.data) : 0;
        c->query_len = req.query.len;
        c->auth_off = req.authorization.p != NULL ? (size_t)(req.authorization.p - c->in.data) : 0;
        c->auth_len = req.authorization.len;
        c->keep_alive = req.keep_alive;
        c->head_len = req.head_len;
        take_request_id(c, &req);
        c->deadline_ms = now_ms() + w->ctx->cfg->limits.body_timeout_ms;
        if (req.body == SQ_HTTP_BODY_CHUNKED) {
            c->phase = PHASE_CHUNKED;
            sq_http_chunked_init(&c->chunked, &w->limits);
            c->chunk_src = c->chunk_dst = req.head_len;
        } else {
            c->phase = PHASE_LENGTH;
            c->body_len = req.body == SQ_HTTP_BODY_LENGTH ? (size_t)req.content_length : 0;
        }
        if (req.expect_continue && c->in.len == req.head_len)
            (void)send(c->src.fd, "HTTP/1.1 100 Continue\r\n\r\n", 25, MSG_NOSIGNAL);
    }
    if (c->phase == PHASE_LENGTH) {
        if (c->in.len - c->head_len < c->body_len)
            return;
        c->req_end = c->head_len + c->body_len;
        c->phase = PHASE_DONE;
        dispatch(w, c, c->in.data + c->head_len, c->body_len);
        return;
    }
    if (c->phase == PHASE_CHUNKED) {
        size_t consumed = 0, produced = 0;
        int rc =
            sq_http_chunked_decode(&c->chunked, c->in.data + c->chunk_src, c->in.len - c->chunk_src,
                                   c->in.data + c->chunk_dst, &consumed, &produced, &err);
        c->chunk_src += consumed;
        c->chunk_dst += produced;
        if (rc == SQ_AGAIN) {
            /* Everything read was used: drop the chunk framing so the buffer holds no more
             * than the decoded body (framing could otherwise pad it far beyond the limit). */
            c->in.len = c->chunk_dst;
            c->chunk_src = c->chunk_dst;
            return;
        }
        if (rc != SQ_OK) {
            c->keep_alive = false;
            (void)respond_error(w, c, err.status, err.reason, NULL, NULL, NULL);
            return;
        }
        c->req_end = c->chunk_src;
        c->phase = PHASE_DONE;
        dispatch(w, c, c->in.data + c->head_len, c->chunk_dst - c->head_len);
    }
}

/* Reads what the client sent and moves the request on. */
static void on_readable(struct worker *w, struct conn *c)
{
    for (;;) {
        size_t room = READ_CHUNK;
        if (c->phase == PHASE_HEAD && c->in.len < w->head_max && w->head_max - c->in.len < room)
            room = w->head_max - c->in.len;
        else if (c->phase == PHASE_LENGTH && c->head_len + c->body_len > c->in.len &&
                 c->head_len + c->body_len - c->in.len < room)
            room = c->head_len + c->body_len - c->in.len;
        if (sq_buf_reserve(&c->in, room + 1) != 0) {
            close_conn(w, c);
            return;
        }
        ssize_t n = recv(c->src.fd, c->in.data + c->in.len, room, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            close_conn(w, c); /* the client went away */
            return;
        }
        c->in.len += (size_t)n;
        if (c->phase == PHASE_HEAD && c->in.len == (size_t)n) {
            c->start_us = now_us();
            c->deadline_ms = c->start_us / 1000 + w->ctx->cfg->limits.header_timeout_ms;
        }
        advance(w, c);
        if (c->closed || c->state != CONN_READING)
            return; /* answered, queued or closed: the rest waits in the buffer */
    }
}

/* ---- news for long polls ------------------------------------------------------------------ */

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

/* A number that changes whenever news of `stream` arrives. */
static uint64_t news_count(struct worker *w, int stream)
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
    want_events(w, c, EPOLLRDHUP); /* a client that hangs up is noticed; pipelined bytes wait */
    c->wprev = NULL;
    c->wnext = w->parked;
    if (w->parked != NULL)
        w->parked->wprev = c;
    w->parked = c;
}

static void unpark(struct worker *w, struct conn *c)
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
            unpark(w, c);
            queue_push(w, c);
            any = true;
        }
        c = following;
    }
    if (any)
        pool_dispatch(w);
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

static void listener_kick(struct worker *w);

/* What an answered call changed for long polls. News that other processes must hear goes out
 * as a NOTIFY on the listening connection, which hears its own notification too; while that
 * connection is down, this worker's waiters are woken at once and the news is sent later. */
static void spread_news(struct worker *w, const sq_handler *h)
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

/* ---- store calls -------------------------------------------------------------------------- */

/* A long poll that will not wait (longer) gets its empty answer. */
static void answer_empty(struct worker *w, struct conn *c)
{
    if (sq_handler_empty_answer(&w->body) != SQ_OK) {
        close_conn(w, c);
        return;
    }
    (void)send_response(w, c, 200, &w->body, JSON, NULL);
}

/* A receive found nothing and knows its timer: park it, unless news came meanwhile. */
static void wait_for_news(struct worker *w, struct conn *c)
{
    if (c->gone)
        close_conn(w, c);
    else if (w->stopping)
        answer_empty(w, c); /* a graceful stop answers long polls now, as begin_stop does */
    else if (news_count(w, c->h.stream_num) != c->news_seen)
        queue_push(w, c); /* news arrived during the receive: look again now */
    else
        park(w, c);
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
        wait_for_news(w, c);
        return 0;
    }
    if (status >= 500) {
        sq_log_set_request_id(c->req_id);
        sq_warn("%s: %s", sq_route_name(c->h.route), err);
        sq_log_set_request_id(NULL);
        sq_metrics_add(w->ctx->metrics, SQ_METRIC_PG_ERRORS, 1);
    }
    if (status == 200)
        spread_news(w, &c->h);
    (void)send_response(w, c, status, &w->body, c->h.content_type, NULL);
    return 0;
}

/* ---- group commit ------------------------------------------------------------------------- */

/* Answers 503 to the request whose call was given up, and to the rest of its group. */
static void call_given_up(struct worker *w, struct conn *c)
{
    c->leads_group = NULL;
    for (struct conn *following; c != NULL; c = following) {
        following = c->gnext;
        c->gnext = NULL;
        (void)respond_error(w, c, 503, "the database is not available", NULL, NULL, NULL);
    }
}

/* A shared call failed: one warning, with the leader's request id, and one error counted. */
static void group_failed(struct worker *w, const struct conn *leader, size_t members,
                         const char *err)
{
    sq_log_set_request_id(leader->req_id);
    sq_warn("%s (%zu requests in one call): %s", sq_route_name(leader->h.route), members, err);
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
            close_conn(w, m);
            continue;
        }
        if (next == SQ_HANDLER_NEXT) {
            queue_push(w, m); /* a stale name resolved again, or a long poll's timer */
            continue;
        }
        if (next == SQ_HANDLER_WAIT) {
            wait_for_news(w, m);
            continue;
        }
        if (status == 200)
            spread_news(w, &m->h);
        (void)send_response(w, m, status, &w->body, m->h.content_type, NULL);
    }
    sq_group_done(w->group);
    w->hold_dispatch = false;
    if (w->redispatch)
        pool_dispatch(w);
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

    if (!sq_group_open(w->group, &gg, &c->h))
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
    for (struct conn *m = c; m != NULL; m = m->gnext) {
        if (m->h.wait_until_ms > 0)
            m->news_seen = news_count(w, m->h.stream_num);
    }
    if (sq_group_begin(w->group, &gg, pc->st, err, sizeof err) != SQ_OK) {
        group_failed(w, c, gg.n, err);
        call_given_up(w, c);
        if (sq_store_dead(pc->st))
            pool_reconnect(w, pc);
        return true;
    }
    c->leads_group = gg.ops;
    pc->user = c;
    if (call_started(w, pc, STORE_CALL_MS) != SQ_AGAIN) {
        pc->user = NULL;
        pc->deadline_ms = 0;
        finish_group(w, pc, c);
        if (sq_store_dead(pc->st))
            pool_reconnect(w, pc);
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
        /* What a long poll that finds nothing compares with to know whether news came
         * while its call ran (wait_for_news). */
        if (c->h.wait_until_ms > 0)
            c->news_seen = news_count(w, c->h.stream_num);
        if (sq_handler_begin(&c->h, pc->st, err, sizeof err) != SQ_OK) {
            sq_log_set_request_id(c->req_id);
            sq_warn("%s: %s", sq_route_name(c->h.route), err);
            sq_log_set_request_id(NULL);
            sq_metrics_add(w->ctx->metrics, SQ_METRIC_PG_ERRORS, 1);
            (void)respond_error(w, c, 503, "the database is not available", NULL, NULL, NULL);
            if (sq_store_dead(pc->st))
                pool_reconnect(w, pc);
            return;
        }
        pc->user = c;
        if (call_started(w, pc, STORE_CALL_MS) == SQ_AGAIN)
            return;
        pc->user = NULL;
        pc->deadline_ms = 0;
        if (finish_call(w, pc, c) != 1)
            break;
    }
    if (sq_store_dead(pc->st))
        pool_reconnect(w, pc);
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
        close_conn(w, c);
    }
    return NULL;
}

/* A connection of the general (`bulk` false) or the bulk lane free for a call, or NULL. */
static struct pconn *pool_free(struct worker *w, bool bulk)
{
    for (size_t i = 0; i < w->n_pool; i++) {
        if (w->pool[i].bulk == bulk && w->pool[i].user == NULL && pool_alive(&w->pool[i]))
            return &w->pool[i];
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

static void pool_dispatch(struct worker *w)
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
        if ((pc = pool_free(w, true)) == NULL || (c = queue_take_bulk(w)) == NULL) {
            if ((pc = pool_free(w, false)) == NULL || (c = queue_pop(w)) == NULL)
                break;
        }
        start_call(w, pc, c);
    }
    bool connecting = false;
    for (size_t i = 0; i < w->n_pool; i++)
        connecting = connecting || (!w->pool[i].bulk && w->pool[i].reconnecting);
    if (w->qhead != NULL && !worker_ready(w) && !connecting) {
        /* No connection to wait for: answer 503 now rather than hold the requests. A
         * connection being made holds them until it succeeds or fails. */
        while (w->qhead != NULL) {
            struct conn *c = w->qhead;
            w->qhead = c->qnext;
            if (w->qhead == NULL)
                w->qtail = NULL;
            (void)respond_error(w, c, 503, "the database is not available", NULL, NULL, NULL);
        }
    }
}

/* ---- the listening connection ------------------------------------------------------------ */

/* A reconnect's call is over: SQ_OK when the connection is up (and in the epoll set), else
 * SQ_ERR with the next attempt scheduled. */
static int reconnect_over(struct worker *w, struct pconn *pc)
{
    char err[256] = "";

    pc->reconnecting = false;
    pc->deadline_ms = 0;
    if (sq_store_finish(pc->st, err, sizeof err) != SQ_OK) {
        sq_debug("database connection%s: %s", pc == &w->listener ? " (listening)" : "", err);
        pc->retry_at_ms = now_ms() + RECONNECT_MS;
        if (pc->reg_fd >= 0) {
            (void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, pc->reg_fd, NULL);
            pc->reg_fd = -1;
        }
        return SQ_ERR;
    }
    pool_sync_fd(w, pc, false);
    if (pc->was_up)
        sq_metrics_add(w->ctx->metrics, SQ_METRIC_PG_RECONNECTS, 1);
    if (pc->lost) {
        sq_warn("database connection back");
        pc->lost = false;
    }
    pc->was_up = true;
    return SQ_OK;
}

static void on_listener(struct worker *w, struct pconn *pc);

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
        if (call_started(w, pc, STORE_CALL_MS) != SQ_AGAIN)
            on_listener(w, pc);
        return;
    }
}

/* The connection is down: what it was sending goes again after the reconnect, and this
 * worker's waiters are woken directly until then (spread_news). */
static void listener_lost(struct worker *w)
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
    pool_reconnect(w, pc);
}

static void begin_listen(struct worker *w, struct pconn *pc)
{
    char err[256] = "";

    if (sq_store_begin_listen(pc->st, err, sizeof err) != SQ_OK) {
        sq_warn("listen: %s", err);
        listener_lost(w);
        return;
    }
    w->listen_call = LISTEN_LISTEN;
    if (call_started(w, pc, STORE_CALL_MS) != SQ_AGAIN)
        on_listener(w, pc);
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

static void on_listener(struct worker *w, struct pconn *pc)
{
    bool want_write = false;
    char err[256] = "";
    int rc = sq_store_poll(pc->st, &want_write);
    int stream;

    pool_sync_fd(w, pc, want_write);
    if (pc->reconnecting) {
        if (rc == SQ_AGAIN)
            return;
        if (reconnect_over(w, pc) != SQ_OK)
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
        listener_lost(w);
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
                listener_lost(w);
                return;
            }
        }
    }
    listener_kick(w);
}

/* ---- the pool's events -------------------------------------------------------------------- */

/* The socket of a pool connection is ready (or a call ended at once). */
static void on_pool(struct worker *w, struct pconn *pc)
{
    bool want_write = false;

    if (pc == &w->listener) {
        on_listener(w, pc);
        return;
    }
    int rc = sq_store_poll(pc->st, &want_write);
    pool_sync_fd(w, pc, want_write);
    if (pc->reconnecting) {
        if (rc == SQ_AGAIN)
            return;
        (void)reconnect_over(w, pc);
        pool_dispatch(w); /* holds the queue, or answers it 503 when no connection is left */
        return;
    }
    if (pc->user == NULL) {
        if (rc == SQ_ERR || sq_store_dead(pc->st))
            pool_reconnect(w, pc);
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
            pool_reconnect(w, pc);
    } else if (finish_call(w, pc, c) == 1) {
        start_call(w, pc, c);
        if (pc->user != NULL)
            return;
    } else if (sq_store_dead(pc->st)) {
        pool_reconnect(w, pc);
    }
    pool_dispatch(w);
}

/* Drops what the client still sends after its response, until it closes (see LINGER_MS). */
static void on_lingering(struct worker *w, struct conn *c)
{
    char buf[READ_CHUNK];
    size_t dropped = 0;

    while (dropped < LINGER_TURN_BYTES) {
        ssize_t n = recv(c->src.fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            close_conn(w, c);
            return;
        }
        dropped += (size_t)n;
    }
    if (dropped > 0)
        c->deadline_ms = quiet_until(c, now_ms());
}

static void on_conn(struct worker *w, struct conn *c, uint32_t events)
{
    if (c->closed)
        return;
    switch (c->state) {
    case CONN_READING:
        on_readable(w, c);
        return;
    case CONN_WAITING:
        if (events & (EPOLLERR | EPOLLHUP)) {
            /* The client is gone; the response is dropped when the call ends. */
            (void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->src.fd, NULL);
            c->gone = true;
        }
        return;
    case CONN_WRITING:
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            (void)write_out(w, c);
        return;
    case CONN_LINGERING:
        on_lingering(w, c);
        return;
    case CONN_PARKED:
        close_conn(w, c); /* only a hang-up is watched while parked */
        return;
    }
}

/* ---- the loop ----------------------------------------------------------------------------- */

/* A parked long poll whose wait is over gets an empty answer. */
static void answer_parked(struct worker *w, struct conn *c)
{
    unpark(w, c);
    answer_empty(w, c);
}

static void begin_stop(struct worker *w)
{
    int64_t grace = now_ms() + STOP_GRACE_MS;

    if (w->stopping)
        return;
    w->stopping = true;
    stop_accepting(w);
    for (size_t i = 0; i < w->ctx->n_listen; i++) {
        close(w->listeners[i].fd);
        w->listeners[i].fd = -1;
    }
    for (struct conn *c = w->conns; c != NULL; c = c->next) {
        if (c->state == CONN_READING && c->in.len == 0 && c->deadline_ms > grace)
            c->deadline_ms = grace;
        if (c->state == CONN_LINGERING && c->linger_end_ms > grace)
            c->linger_end_ms = grace;
        if (c->state == CONN_LINGERING && c->deadline_ms > grace)
            c->deadline_ms = grace;
    }
    /* Long polls are answered now, with what they have: nothing. */
    while (w->parked != NULL)
        answer_parked(w, w->parked);
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
        pool_reconnect(w, l);
    if (l->st != NULL && l->deadline_ms != 0 && l->deadline_ms <= now) {
        sq_warn("the listening database connection took too long; reconnecting");
        listener_lost(w);
    }
    /* The pool first: a call given up answers its connection, whose new deadline then counts. */
    for (size_t i = 0; i < w->n_pool; i++) {
        struct pconn *pc = &w->pool[i];
        if (pc->retry_at_ms != 0 && pc->retry_at_ms <= now)
            pool_reconnect(w, pc);
        if (pc->deadline_ms != 0 && pc->deadline_ms <= now) {
            struct conn *user = pc->user;
            pc->user = NULL;
            pc->deadline_ms = 0;
            sq_warn("database %s took too long; reconnecting",
                    user != NULL ? "call" : "connection attempt");
            pool_reconnect(w, pc);
            if (user != NULL)
                call_given_up(w, user);
            pool_dispatch(w);
        }
    }
    c = w->conns;
    while (c != NULL) {
        struct conn *following = c->next;
        if (c->state == CONN_WAITING) {
            /* its call's end (or the call's deadline) answers it */
        } else if (c->state == CONN_PARKED && c->deadline_ms <= now) {
            if (now >= c->h.wait_until_ms) {
                answer_parked(w, c);
            } else {
                unpark(w, c); /* the clock: a lease ran out, or a nack's delay ended */
                queue_push(w, c);
                rewake = true;
            }
        } else if (c->deadline_ms <= now) {
            if (c->state == CONN_READING && c->in.len > 0)
                sq_debug("closing a connection whose request did not arrive in time");
            close_conn(w, c);
        } else if (c->deadline_ms < next) {
            next = c->deadline_ms;
        }
        c = following;
    }
    if (rewake)
        pool_dispatch(w);
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
            pool_reconnect(&w, &w.pool[i]);
    }
    pool_reconnect(&w, &w.listener);
    if (start_accepting(&w) != 0)
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
                accept_some(&w, src);
            else if (src->kind == SRC_CONN)
                on_conn(&w, (struct conn *)src, events[i].events);
            else if (src->kind == SRC_STORE)
                on_pool(&w, (struct pconn *)src);
        }
        free_dead(&w);
        if (w.bulk_due && !w.bulk_opened) {
            w.bulk_opened = true;
            for (size_t i = 0; i < w.n_pool; i++) {
                if (w.pool[i].bulk)
                    pool_reconnect(&w, &w.pool[i]);
            }
        }
        /* Nothing waits in the queue while a pool connection is free, whatever path queued
         * it: a request stranded there would wait for the next event, and on a quiet server
         * there may be none. */
        if (w.qhead != NULL)
            pool_dispatch(&w);
        int64_t now = now_ms();
        if (w.resume_accept_ms != 0 && now >= w.resume_accept_ms) {
            w.resume_accept_ms = 0;
            if (!w.stopping && start_accepting(&w) != 0)
                goto fail;
        }
        timeout = expire(&w, now);
    }
    status = 0;
fail:
    while (w.conns != NULL)
        close_conn(&w, w.conns);
    free_dead(&w);
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
