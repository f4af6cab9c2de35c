/* The sequind worker, interim edition: an epoll loop that accepts connections, parses each
 * request head with http.c, answers GET /healthz, and 503 to the rest until the API is served. */
#include "sequin/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sequin/buf.h"
#include "sequin/http.h"
#include "sequin/log.h"

/* After EMFILE (or ENFILE, ENOBUFS, ENOMEM) the worker stops accepting for this long instead
 * of spinning on a listener that stays readable: connections wait in the backlog meanwhile. */
#define ACCEPT_PAUSE_MS 100
/* Connections accepted per wake-up, so one busy listener cannot starve the others. */
#define ACCEPT_BATCH 64
/* After the response, the request's unread rest (a body the interim worker does not use) is
 * read and dropped for up to this long and this many bytes: closing a socket with unread
 * input sends a reset, which can destroy the response before the client has read it. */
#define LINGER_MS 2000
#define LINGER_MAX_BYTES (256 * 1024)
/* On a graceful stop, a connection that has sent nothing yet gets this long to start. */
#define STOP_GRACE_MS 1000
#define MAX_EVENTS 64
#define READ_CHUNK 4096

enum source_kind {
    SRC_LISTENER,
    SRC_SIGNAL,
    SRC_CONN
};

/* What an epoll event's data.ptr points at. */
struct source {
    enum source_kind kind;
    int fd;
};

enum conn_state {
    CONN_READING,
    CONN_WRITING,
    CONN_LINGERING
};

struct conn {
    struct source src; /* first, so the source pointer is the connection */
    enum conn_state state;
    sq_buf in; /* the request head so far */
    sq_http_parser parser;
    sq_http_header *headers; /* room for limits.max_headers, as the parser wants */
    char out[512];
    size_t out_len, out_off;
    size_t dropped; /* bytes read and dropped while lingering */
    int64_t deadline_ms;
    struct conn *prev, *next;
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
    size_t head_max; /* the most bytes of a head the parser may need before it answers */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

static void close_conn(struct worker *w, struct conn *c)
{
    /* The fd is ours alone, so close() also removes it from the epoll set. */
    close(c->src.fd);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    sq_buf_free(&c->in);
    free(c->headers);
    free(c);
    w->n_conns--;
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
    c->deadline_ms = now_ms() + w->ctx->cfg->limits.header_timeout_ms;
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

/* ---- one request ------------------------------------------------------------------------ */

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

/* Writes what is left of the response; once it is all out, half-closes and lingers.
 * Returns -1 when the connection was closed. */
static int write_out(struct worker *w, struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->src.fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (c->state != CONN_WRITING) {
                c->state = CONN_WRITING;
                c->deadline_ms = now_ms() + w->ctx->cfg->limits.idle_timeout_ms;
                want_events(w, c, EPOLLOUT);
            }
            return 0;
        }
        close_conn(w, c);
        return -1;
    }
    shutdown(c->src.fd, SHUT_WR);
    if (c->state == CONN_WRITING)
        want_events(w, c, EPOLLIN);
    c->state = CONN_LINGERING;
    c->deadline_ms = now_ms() + LINGER_MS;
    sq_buf_free(&c->in);
    return 0;
}

static const char *status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    default:
        return "Service Unavailable";
    }
}

/* Queues a whole response with a JSON body: {"status":"ok"} for 200, else {"summary":...}
 * with `summary` (a static sentence; '"' and '\' are escaped). HEAD gets the head only. */
static int respond(struct worker *w, struct conn *c, int status, const char *summary,
                   bool head_only)
{
    char body[256];
    size_t n = 0;

    if (status == 200) {
        n = (size_t)snprintf(body, sizeof body, "{\"status\":\"ok\"}");
    } else {
        n = (size_t)snprintf(body, sizeof body, "{\"summary\":\"");
        for (const char *p = summary; *p != '\0' && n + 4 < sizeof body; p++) {
            if (*p == '"' || *p == '\\')
                body[n++] = '\\';
            body[n++] = *p;
        }
        n += (size_t)snprintf(body + n, sizeof body - n, "\"}");
    }
    int len = snprintf(c->out, sizeof c->out,
                       "HTTP/1.1 %d %s\r\n"
                       "Content-Type: application/json\r\n"
                       "Content-Length: %zu\r\n"
                       "%s"
                       "Cache-Control: no-store\r\n"
                       "Connection: close\r\n"
                       "\r\n"
                       "%s",
                       status, status_text(status), n, status == 503 ? "Retry-After: 1\r\n" : "",
                       head_only ? "" : body);
    c->out_len = len > 0 && (size_t)len < sizeof c->out ? (size_t)len : 0;
    c->out_off = 0;
    return write_out(w, c);
}

/*
 * The interim router: GET (or HEAD) /healthz is 200; everything else is 503 with Retry-After
 * until the API handlers exist. A request body is not read: the connection closes after the
 * response, and lingering drains what the client still sends.
 */
static int answer(struct worker *w, struct conn *c, const sq_http_request *req)
{
    bool head = slice_is(req->method, "HEAD");

    sq_debug("%.*s %.*s", (int)req->method.len, req->method.p, (int)req->target.len, req->target.p);
    if ((head || slice_is(req->method, "GET")) && slice_is(req->path, "/healthz"))
        return respond(w, c, 200, NULL, head);
    return respond(w, c, 503, "the API is not served yet", head);
}

/* Reads what the client sent; answers once the parser has a complete head or an error. */
static void on_readable(struct worker *w, struct conn *c)
{
    for (;;) {
        sq_http_request req;
        sq_http_error err;

        if (sq_buf_reserve(&c->in, READ_CHUNK) != 0) {
            close_conn(w, c);
            return;
        }
        size_t room = w->head_max - c->in.len < READ_CHUNK ? w->head_max - c->in.len : READ_CHUNK;
        ssize_t n = recv(c->src.fd, c->in.data + c->in.len, room, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            close_conn(w, c); /* the client went away before its request was complete */
            return;
        }
        c->in.len += (size_t)n;
        int rc = sq_http_parse_request(&c->parser, c->in.data, c->in.len, &req, &err);
        if (rc == SQ_OK) {
            (void)answer(w, c, &req);
            return;
        }
        if (rc == SQ_ERR) {
            (void)respond(w, c, err.status, err.reason, false);
            return;
        }
        /* Not reached: the parser answers before a head grows this large. */
        if (c->in.len >= w->head_max) {
            (void)respond(w, c, 431, "the header fields are larger than the limit", false);
            return;
        }
    }
}

/* Drops what the client still sends after its response, until it closes. */
static void on_lingering(struct worker *w, struct conn *c)
{
    char buf[READ_CHUNK];
    for (;;) {
        ssize_t n = recv(c->src.fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0 || (c->dropped += (size_t)n) > LINGER_MAX_BYTES) {
            close_conn(w, c);
            return;
        }
    }
}

static void on_conn(struct worker *w, struct conn *c, uint32_t events)
{
    switch (c->state) {
    case CONN_READING:
        on_readable(w, c);
        return;
    case CONN_WRITING:
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            (void)write_out(w, c);
        return;
    case CONN_LINGERING:
        on_lingering(w, c);
        return;
    }
}

/* ---- the loop ----------------------------------------------------------------------------- */

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
    }
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
    struct conn *c = w->conns;

    while (c != NULL) {
        struct conn *following = c->next;
        if (c->deadline_ms <= now) {
            if (c->state == CONN_READING && c->in.len > 0)
                sq_debug("closing a connection whose request did not arrive in time");
            close_conn(w, c);
        } else if (c->deadline_ms < next) {
            next = c->deadline_ms;
        }
        c = following;
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
    int status = 1;

    const sq_config *cfg = ctx->cfg;
    w.limits = (sq_http_limits){
        .max_request_line_bytes = (size_t)cfg->limits.max_request_line_bytes,
        .max_header_bytes = (size_t)cfg->limits.max_header_bytes,
        .max_headers = (size_t)cfg->limits.max_headers,
        .max_body_bytes = (uint64_t)cfg->limits.max_body_bytes,
    };
    w.head_max = w.limits.max_request_line_bytes + w.limits.max_header_bytes + 5;
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
        }
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
