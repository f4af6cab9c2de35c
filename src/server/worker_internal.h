/* What the files of a sequind worker share: its state (the worker, its client connections,
 * its store connections, the news of long polls) and the functions each file offers the
 * others. The event loop (worker.c) hands events to connection.c, calls.c and longpoll.c,
 * which run calls on pool.c's store connections. Internal to src/server/. */
#ifndef SEQUIN_SERVER_WORKER_INTERNAL_H
#define SEQUIN_SERVER_WORKER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sequin/buf.h"
#include "sequin/group.h"
#include "sequin/handlers.h"
#include "sequin/http.h"
#include "sequin/log.h"
#include "sequin/metrics.h"
#include "sequin/store.h"
#include "sequin/worker.h"

/* On a graceful stop, a connection that has sent nothing yet gets this long to start. */
#define STOP_GRACE_MS 1000
#define JSON "application/json"
/* A store call that takes longer is dropped (its request answers 503) and its connection made
 * afresh; a connection attempt that takes longer is started again. */
#define STORE_CALL_MS 30000

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
    size_t n_headers;          /* the request's header lines in `headers` ... */
    const char *head_base;     /* ... whose slices point into `in` as it was at this address */
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
    bool bulk;           /* of the bulk lane: large upserts only (calls.c) */
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
    bool redispatch;            /* sq_calls_dispatch was asked for meanwhile */
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

static inline int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t now_ms(void)
{
    return now_us() / 1000;
}

/* ---- client connections (connection.c) ----------------------------------------------------- */

/* EPOLLEXCLUSIVE wakes one waiting worker per connection instead of all of them; such a
 * registration cannot be modified, only deleted and added again. */
int sq_conn_start_accepting(struct worker *w);

/* Takes the listening sockets out of the epoll set (a pause after EMFILE, or a stop). */
void sq_conn_stop_accepting(struct worker *w);

/* Closes the socket at once; the memory waits for sq_conn_free_dead, since events for it or callers
 * up the stack may still hold the pointer. */
void sq_conn_close(struct worker *w, struct conn *c);

/* Frees the connections closed during the events at hand: call it when none of them can be
 * referred to any more (after a turn of the loop). */
void sq_conn_free_dead(struct worker *w);

/* Accepts what listener `l` has waiting, a batch at a time; pauses accepting after EMFILE. */
void sq_conn_accept(struct worker *w, struct source *l);

/* Sets the epoll events watched on `c` (0: none, while its answer is being made). */
void sq_conn_want(struct worker *w, struct conn *c, uint32_t events);

/* Queues the response: status, body (`body` of `ctype`, left out for HEAD), headers. */
int sq_conn_respond(struct worker *w, struct conn *c, int status, const sq_buf *body,
                    const char *ctype, const char *allow);

/* An error response {"summary": summary} (with the 422 field when given). */
int sq_conn_error(struct worker *w, struct conn *c, int status, const char *summary,
                  const char *field, const char *problem, const char *allow);

/* The socket of `c` is ready (`events`): reads, writes, drains or closes it, as its state
 * says. */
void sq_conn_event(struct worker *w, struct conn *c, uint32_t events);

/* ---- the store connections (pool.c) -------------------------------------------------------- */

/* Puts `pc`'s current socket in the epoll set for reading (and writing when `want_write`);
 * a socket libpq replaced is taken out. */
void sq_pool_sync_fd(struct worker *w, struct pconn *pc, bool want_write);

/* A call was just begun on `pc` and may take `limit_ms`: sends what the socket takes and
 * says whether the call goes on (SQ_AGAIN) or is already over. */
int sq_pool_call_started(struct worker *w, struct pconn *pc, int limit_ms);

/* Starts connecting a pool connection afresh; a failure to start is retried by the timer. */
void sq_pool_reconnect(struct worker *w, struct pconn *pc);

/* Whether the general lane has a connection up: the bulk lane alone cannot serve every
 * request, so it does not count. */
bool sq_pool_ready(const struct worker *w);

/* A reconnect's call is over: SQ_OK when the connection is up (and in the epoll set), else
 * SQ_ERR with the next attempt scheduled. */
int sq_pool_reconnect_over(struct worker *w, struct pconn *pc);

/* A connection of the general (`bulk` false) or the bulk lane free for a call, or NULL. */
struct pconn *sq_pool_idle(struct worker *w, bool bulk);

/* ---- store calls (calls.c) ----------------------------------------------------------------- */

/* Puts `c` at the end of the queue for a pool connection, without starting anything. The
 * first large upsert asks for the bulk lane (opened by the event loop, outside any dispatch):
 * a node whose clients never send one holds only the general lane's connections. Until the
 * lane is up, large upserts take the general lane. */
void sq_calls_queue(struct worker *w, struct conn *c);

/* Queues `c` (sq_calls_queue) and hands queued requests to free connections. */
void sq_calls_enqueue(struct worker *w, struct conn *c);

/* Answers 503 to the request whose call was given up, and to the rest of its group. */
void sq_calls_given_up(struct worker *w, struct conn *c);

/* Hands queued requests to free pool connections, large upserts to the bulk lane when it has
 * one free; answers the queue 503 when no connection is up or coming. Deferred while a shared
 * call's outcome is being handed out. */
void sq_calls_dispatch(struct worker *w);

/* The socket of a pool connection is ready (or a call ended at once). */
void sq_calls_on_pool(struct worker *w, struct pconn *pc);

/* ---- long polls (longpoll.c) --------------------------------------------------------------- */

/* A number that changes whenever news of `stream` arrives. */
uint64_t sq_news_count(struct worker *w, int stream);

/* Takes parked `c` off the list of long polls (its state is the caller's to set). */
void sq_longpoll_unpark(struct worker *w, struct conn *c);

/* What an answered call changed for long polls. News that other processes must hear goes out
 * as a NOTIFY on the listening connection, which hears its own notification too; while that
 * connection is down, this worker's waiters are woken at once and the news is sent later. */
void sq_news_spread(struct worker *w, const sq_handler *h);

/* A receive found nothing and knows its timer: park it, unless news came meanwhile. */
void sq_longpoll_wait(struct worker *w, struct conn *c);

/* A parked long poll whose wait is over gets an empty answer. */
void sq_longpoll_answer(struct worker *w, struct conn *c);

/* The connection is down: what it was sending goes again after the reconnect, and this
 * worker's waiters are woken directly until then (sq_news_spread). */
void sq_listener_lost(struct worker *w);

/* The listening connection's socket is ready: notifications heard become news, and its
 * LISTEN or NOTIFY call, or reconnect, moves on. */
void sq_listener_event(struct worker *w, struct pconn *pc);

#endif
