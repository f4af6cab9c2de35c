/* The test endpoint (endpoint.h): one thread, poll(2) over the listening socket and its
 * connections, each connection's answer sent when its delay is over. */
#include "endpoint.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 64

typedef struct conn {
    int fd;
    char *in;
    size_t len, cap;
    char *out; /* the answer waiting for its time; NULL when none */
    size_t out_len;
    int64_t due_ms;
    int reset; /* close without answering, at due_ms */
} conn;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A test's endpoint that cannot work ends the test: nothing to recover. */
#define die(what) (perror("endpoint: " what), abort())

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        die("malloc");
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *ep_header(const ep_request *r, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = r->headers; p && *p;) {
        const char *end = strstr(p, "\r\n");
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > n && p[n] == ':' && strncasecmp(p, name, n) == 0) {
            const char *v = p + n + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            return dup_n(v, (size_t)(p + len - v));
        }
        p += len + (end ? 2 : 0);
    }
    return NULL;
}

/* A complete request at the start of c->in: recorded, answered (later), and cut from the
 * buffer. 1 when one was there, 0 when more bytes are needed, -1 when it is malformed. */
static int take_request(endpoint *e, conn *c)
{
    char *head_end = memmem(c->in, c->len, "\r\n\r\n", 4);
    if (!head_end)
        return 0;
    size_t head_len = (size_t)(head_end - c->in) + 4;
    char *line_end = memmem(c->in, head_len, "\r\n", 2);
    char *sp1 = memchr(c->in, ' ', (size_t)(line_end - c->in));
    char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1)) : NULL;
    if (!sp1 || !sp2)
        return -1;
    ep_request r = {0};
    r.path = dup_n(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    r.headers = dup_n(line_end + 2, (size_t)(head_end - line_end - 2));
    char *cl = ep_header(&r, "Content-Length");
    size_t body_len = cl ? strtoul(cl, NULL, 10) : 0;
    free(cl);
    if (c->len < head_len + body_len) {
        ep_request_free(&r);
        return 0;
    }
    r.body = dup_n(c->in + head_len, body_len);
    r.body_len = body_len;
    r.at_ms = now_ms();

    pthread_mutex_lock(&e->lock);
    if (e->count == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 64;
        e->requests = realloc(e->requests, e->cap * sizeof *e->requests);
        if (!e->requests)
            die("realloc");
    }
    e->requests[e->count] = r;
    ep_answer a = e->policy ? e->policy(e->ctx, &r, e->count) : (ep_answer){200, 0, NULL};
    e->count++;
    pthread_mutex_unlock(&e->lock);

    c->due_ms = now_ms() + a.delay_ms;
    c->reset = a.status == 0;
    if (!c->reset) {
        char head[256];
        int n =
            snprintf(head, sizeof head, "HTTP/1.1 %d Answer\r\nContent-Length: 2\r\n%s%s%s\r\nok",
                     a.status, a.retry_after ? "Retry-After: " : "",
                     a.retry_after ? a.retry_after : "", a.retry_after ? "\r\n" : "");
        c->out = dup_n(head, (size_t)n);
        c->out_len = (size_t)n;
    }
    memmove(c->in, c->in + head_len + body_len, c->len - head_len - body_len);
    c->len -= head_len + body_len;
    return 1;
}

static void close_conn(conn *c)
{
    if (c->reset) {
        struct linger l = {1, 0}; /* an RST, not a FIN */
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(c->fd);
    free(c->in);
    free(c->out);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static void *serve(void *arg)
{
    endpoint *e = arg;
    conn conns[MAX_CONNS];
    for (int i = 0; i < MAX_CONNS; i++)
        conns[i] = (conn){.fd = -1};
    for (;;) {
        struct pollfd fds[MAX_CONNS + 2];
        int idx[MAX_CONNS + 2], n = 0, timeout = -1;
        int64_t now = now_ms();
        fds[n] = (struct pollfd){e->stop_fd, POLLIN, 0}, idx[n++] = -2;
        fds[n] = (struct pollfd){e->listen_fd, POLLIN, 0}, idx[n++] = -1;
        for (int i = 0; i < MAX_CONNS; i++) {
            conn *c = &conns[i];
            if (c->fd < 0)
                continue;
            bool waiting = c->out || c->reset;
            if (waiting) {
                int64_t left = c->due_ms - now;
                left = left < 0 ? 0 : left;
                if (timeout < 0 || left < timeout)
                    timeout = (int)left;
            }
            fds[n] = (struct pollfd){c->fd, waiting ? 0 : POLLIN, 0}, idx[n++] = i;
        }
        if (poll(fds, (nfds_t)n, timeout) < 0 && errno != EINTR)
            die("poll");
        if (fds[0].revents)
            break;
        if (fds[1].revents & POLLIN) {
            int fd = accept(e->listen_fd, NULL, NULL);
            int i = 0;
            while (fd >= 0 && i < MAX_CONNS && conns[i].fd >= 0)
                i++;
            if (fd >= 0 && i == MAX_CONNS)
                close(fd);
            else if (fd >= 0)
                conns[i] = (conn){.fd = fd};
        }
        now = now_ms();
        for (int k = 2; k < n; k++) {
            conn *c = &conns[idx[k]];
            if (c->fd < 0)
                continue;
            if ((c->out || c->reset) && c->due_ms <= now) {
                if (c->reset) {
                    close_conn(c);
                    continue;
                }
                /* Small answers to a local peer: one write is all of it. */
                if (write(c->fd, c->out, c->out_len) != (ssize_t)c->out_len) {
                    close_conn(c);
                    continue;
                }
                free(c->out);
                c->out = NULL;
            }
            if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) {
                if (c->len + 4096 > c->cap) {
                    c->cap = c->cap ? 2 * c->cap + 4096 : 8192;
                    c->in = realloc(c->in, c->cap);
                    if (!c->in)
                        die("realloc");
                }
                ssize_t got = read(c->fd, c->in + c->len, c->cap - c->len);
                if (got <= 0) {
                    close_conn(c);
                    continue;
                }
                c->len += (size_t)got;
            }
            if (!c->out && !c->reset && take_request(e, c) < 0)
                close_conn(c);
        }
    }
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].fd >= 0)
            close_conn(&conns[i]);
    return NULL;
}

void ep_start(endpoint *e, ep_policy policy, void *ctx)
{
    int pipefd[2];
    memset(e, 0, sizeof *e);
    e->policy = policy;
    e->ctx = ctx;
    pthread_mutex_init(&e->lock, NULL);
    e->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (e->listen_fd < 0 || bind(e->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(e->listen_fd, 128) != 0 ||
        getsockname(e->listen_fd, (struct sockaddr *)&a, &alen) != 0 || pipe(pipefd) != 0)
        die("listen");
    e->port = ntohs(a.sin_port);
    e->stop_fd = pipefd[0];
    e->stop_write_fd = pipefd[1];
    if (pthread_create(&e->thread, NULL, serve, e) != 0)
        die("pthread_create");
}

void ep_stop(endpoint *e)
{
    close(e->stop_write_fd);
    pthread_join(e->thread, NULL);
    close(e->stop_fd);
    close(e->listen_fd);
    for (size_t i = 0; i < e->count; i++)
        ep_request_free(&e->requests[i]);
    free(e->requests);
    pthread_mutex_destroy(&e->lock);
    memset(e, 0, sizeof *e);
}

size_t ep_count(endpoint *e)
{
    pthread_mutex_lock(&e->lock);
    size_t n = e->count;
    pthread_mutex_unlock(&e->lock);
    return n;
}

ep_request ep_get(endpoint *e, size_t i)
{
    ep_request copy = {0};
    pthread_mutex_lock(&e->lock);
    if (i < e->count) {
        const ep_request *r = &e->requests[i];
        copy = (ep_request){r->at_ms, dup_n(r->path, strlen(r->path)),
                            dup_n(r->headers, strlen(r->headers)), dup_n(r->body, r->body_len),
                            r->body_len};
    }
    pthread_mutex_unlock(&e->lock);
    return copy;
}

void ep_request_free(ep_request *r)
{
    free(r->path);
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}
