/* A worker's pool of store connections: the general lane, the bulk lane opened at the first
 * large upsert, and the listening connection; each one's socket in the epoll set, its
 * connecting and reconnecting without waiting, and the worker's readiness. */
#include "worker_internal.h"

#include <sys/epoll.h>

/* A pool connection that failed to connect tries again after this long. */
#define RECONNECT_MS 1000
#define STORE_CONNECT_MS 10000

void sq_pool_sync_fd(struct worker *w, struct pconn *pc, bool want_write)
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

int sq_pool_call_started(struct worker *w, struct pconn *pc, int limit_ms)
{
    bool want_write = false;
    pc->deadline_ms = now_ms() + limit_ms;
    int rc = sq_store_poll(pc->st, &want_write);
    sq_pool_sync_fd(w, pc, want_write);
    return rc;
}

void sq_pool_reconnect(struct worker *w, struct pconn *pc)
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
    if (sq_pool_call_started(w, pc, STORE_CONNECT_MS) != SQ_AGAIN)
        sq_calls_on_pool(w, pc);
}

static bool pool_alive(const struct pconn *pc)
{
    return !pc->reconnecting && !sq_store_dead(pc->st);
}

bool sq_pool_ready(const struct worker *w)
{
    for (size_t i = 0; i < w->n_pool; i++) {
        if (!w->pool[i].bulk && pool_alive(&w->pool[i]))
            return true;
    }
    return false;
}

int sq_pool_reconnect_over(struct worker *w, struct pconn *pc)
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
    sq_pool_sync_fd(w, pc, false);
    if (pc->was_up)
        sq_metrics_add(w->ctx->metrics, SQ_METRIC_PG_RECONNECTS, 1);
    if (pc->lost) {
        sq_warn("database connection back");
        pc->lost = false;
    }
    pc->was_up = true;
    return SQ_OK;
}

struct pconn *sq_pool_idle(struct worker *w, bool bulk)
{
    for (size_t i = 0; i < w->n_pool; i++) {
        if (w->pool[i].bulk == bulk && w->pool[i].user == NULL && pool_alive(&w->pool[i]))
            return &w->pool[i];
    }
    return NULL;
}
