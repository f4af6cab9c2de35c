/* A worker's client connections: accepting them, reading and framing each request (head,
 * Content-Length or chunked body), routing it to its handler, writing the answer with its
 * access-log line and metrics, keep-alive and pipelining, and closing (lingering after an
 * answer that closes, the way nginx does). */
#include "worker_internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sequin/auth.h"
#include "sequin/render.h"
#include "sequin/router.h"

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
#define READ_CHUNK 4096

static void next_request(struct worker *w, struct conn *c);
static void advance(struct worker *w, struct conn *c);

int sq_conn_start_accepting(struct worker *w)
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

void sq_conn_stop_accepting(struct worker *w)
{
    if (!w->accepting)
        return;
    for (size_t i = 0; i < w->ctx->n_listen; i++)
        (void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listeners[i].fd, NULL);
    w->accepting = false;
}

void sq_conn_close(struct worker *w, struct conn *c)
{
    if (c->closed)
        return;
    c->closed = true;
    if (c->state == CONN_PARKED)
        sq_longpoll_unpark(w, c);
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

void sq_conn_free_dead(struct worker *w)
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

void sq_conn_accept(struct worker *w, struct source *l)
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
            sq_conn_stop_accepting(w);
            w->resume_accept_ms = now_ms() + ACCEPT_PAUSE_MS;
            return;
        }
        sq_warn("accept: %s", strerror(errno));
        return;
    }
}

static bool slice_is(sq_http_slice slice, const char *s)
{
    return slice.len == strlen(s) && memcmp(slice.p, s, slice.len) == 0;
}

void sq_conn_want(struct worker *w, struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->src.fd, &ev) != 0)
        sq_warn("epoll_ctl(MOD) of a connection: %s", strerror(errno));
}

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
                sq_conn_want(w, c, EPOLLOUT);
            }
            c->deadline_ms = now_ms() + w->ctx->cfg->limits.idle_timeout_ms;
            return 0;
        }
        sq_conn_close(w, c);
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
    sq_conn_want(w, c, EPOLLIN);
    c->state = CONN_LINGERING;
    int64_t now = now_ms();
    c->linger_end_ms = now + (w->stopping ? STOP_GRACE_MS : LINGER_MS);
    c->deadline_ms = quiet_until(c, now);
    sq_buf_free(&c->in);
    return 0;
}

/* The request is answered: one access-log line, and its count and time in the metrics. */
static void account(struct worker *w, struct conn *c, int status, size_t bytes)
{
    const char *method = c->method_len > 0 ? c->in.data + c->method_off : NULL;
    uint64_t took = (uint64_t)(now_us() - c->start_us);

    /* A routed HEAD counts in its GET row's series (metrics.h). */
    sq_metrics_request(w->ctx->metrics, c->routed ? c->h.route : NULL, method, c->method_len,
                       status, took);
    sq_log_request line = {.method = method,
                           .method_len = c->method_len,
                           .route = c->routed ? c->h.route->pattern : NULL,
                           .status = status,
                           .bytes = bytes,
                           .duration_us = took,
                           .request_id = c->req_id};
    sq_log_access(&line);
}

int sq_conn_respond(struct worker *w, struct conn *c, int status, const sq_buf *body,
                    const char *ctype, const char *allow)
{
    int rc = 0;

    if (c->req_id[0] == '\0')
        sq_log_request_id_new(c->req_id);
    if (c->gone) {
        account(w, c, status, 0);
        sq_conn_close(w, c);
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
        sq_conn_close(w, c);
        return -1;
    }
    return write_out(w, c);
}

int sq_conn_error(struct worker *w, struct conn *c, int status, const char *summary,
                  const char *field, const char *problem, const char *allow)
{
    sq_buf body = {0};
    if (sq_render_error(&body, summary, field, problem) != 0) {
        sq_buf_free(&body);
        sq_conn_close(w, c);
        return -1;
    }
    int rc = sq_conn_respond(w, c, status, &body, JSON, allow);
    sq_buf_free(&body);
    return rc;
}

static int respond_ok_json(struct worker *w, struct conn *c, const char *json)
{
    sq_buf body = {0};
    if (sq_buf_puts(&body, json) != 0) {
        sq_conn_close(w, c);
        return -1;
    }
    int rc = sq_conn_respond(w, c, 200, &body, JSON, NULL);
    sq_buf_free(&body);
    return rc;
}

/* The header slices point into the buffer as the head's parse found it; reading the body may
 * have moved the buffer since (the head's bytes stay where they were in it). */
static void rebase_headers(struct conn *c)
{
    if (c->head_base == c->in.data)
        return;
    for (size_t i = 0; i < 2 * c->n_headers; i++) {
        sq_http_slice *s = i % 2 ? &c->headers[i / 2].value : &c->headers[i / 2].name;
        if (s->p != NULL)
            s->p = c->in.data + (size_t)((uintptr_t)s->p - (uintptr_t)c->head_base);
    }
    c->head_base = c->in.data;
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
        (void)sq_conn_error(w, c, 404, "no such route", NULL, NULL, NULL);
        return;
    }
    if (rc != 0) {
        (void)sq_conn_error(w, c, 405, "method not allowed", NULL, NULL, allow);
        return;
    }
    c->h.route = m.desc;
    c->routed = true;
    if (sq_handler_needs_auth(&m) &&
        !sq_auth_allows(&w->ctx->cfg->auth.tokens, c->in.data + c->auth_off, c->auth_len)) {
        (void)sq_conn_error(w, c, 401, "a valid bearer token is required", NULL, NULL, NULL);
        return;
    }
    rebase_headers(c);
    sq_request_in in = {.post = slice_is(method, "POST"),
                        .query = query,
                        .body = body,
                        .body_len = body_len,
                        .now_ms = now_ms(),
                        .headers = c->headers,
                        .n_headers = c->n_headers};
    const char *json = NULL;
    rc = sq_handler_start(&c->h, &m, &in, &w->env, &c->arena, &json, &p);
    if (rc == 200 && json != NULL)
        (void)respond_ok_json(w, c, json);
    else if (rc != 0)
        (void)sq_conn_error(w, c, p.status, p.summary, p.field, p.detail, NULL);
    else
        sq_calls_enqueue(w, c);
}

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
    sq_conn_want(w, c, EPOLLIN);
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
                (void)sq_conn_error(w, c, 431, "the header fields are larger than the limit", NULL,
                                    NULL, NULL);
            }
            return;
        }
        if (rc != SQ_OK) {
            c->keep_alive = false;
            (void)sq_conn_error(w, c, err.status, err.reason, NULL, NULL, NULL);
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
        c->n_headers = req.header_count;
        c->head_base = c->in.data;
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
            (void)sq_conn_error(w, c, err.status, err.reason, NULL, NULL, NULL);
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
            sq_conn_close(w, c);
            return;
        }
        ssize_t n = recv(c->src.fd, c->in.data + c->in.len, room, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            sq_conn_close(w, c); /* the client went away */
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
            sq_conn_close(w, c);
            return;
        }
        dropped += (size_t)n;
    }
    if (dropped > 0)
        c->deadline_ms = quiet_until(c, now_ms());
}

void sq_conn_event(struct worker *w, struct conn *c, uint32_t events)
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
        sq_conn_close(w, c); /* only a hang-up is watched while parked */
        return;
    }
}
