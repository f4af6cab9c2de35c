/* The API's requests as store calls (SPEC 4): what a routed request carries, the store calls
 * that answer it, one after another without waiting, and the JSON of the answer. The worker
 * (worker.c) owns the connections, the pool of store connections and the waiting; this module
 * knows the routes and nothing of sockets. */
#ifndef SEQUIN_HANDLERS_H
#define SEQUIN_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sequin/api_input.h"
#include "sequin/buf.h"
#include "sequin/common.h"
#include "sequin/metrics.h"
#include "sequin/router.h"
#include "sequin/store.h"

/* Where a request is in its store calls. Most routes resolve the stream's name (or id) to its
 * number first; the routes of one consumer's messages resolve the consumer to its id too. */
typedef enum sq_handler_step {
    SQ_STEP_STREAMS,  /* /metrics: every stream's name, for the consumers' labels */
    SQ_STEP_STREAM,   /* resolve :s */
    SQ_STEP_CONSUMER, /* resolve :c */
    SQ_STEP_CALL,     /* the route's own call */
    SQ_STEP_TIMER     /* receive found nothing: ask when the clock alone turns a message
                       * deliverable (sq_store_next_visible) */
} sq_handler_step;

/*
 * What a worker's requests share: where the counters go, the largest message, and a small
 * cache of resolved names (a stream's number, a consumer's id) that saves most requests a
 * round trip to the database. An entry lives `ttl_ms`; one found stale earlier (a call says
 * the stream is gone) is dropped and the name resolved again. Until then a consumer deleted
 * and created again under the same name can look empty to this worker: docs/operations.md.
 */
typedef struct sq_handler_cache sq_handler_cache;
sq_handler_cache *sq_handler_cache_new(int ttl_ms); /* NULL: out of memory */
void sq_handler_cache_free(sq_handler_cache *c);

typedef struct sq_handler_env {
    sq_metrics *metrics;     /* NULL: nothing counted */
    sq_handler_cache *cache; /* NULL: every name resolved every time */
    size_t max_message_bytes;
} sq_handler_env;

/* One request, from routing to its answer. Strings live in `arena` (the connection's). */
typedef struct sq_handler {
    sq_route route;
    sq_handler_step step;
    sq_arena *arena;
    const char *stream;   /* :s, decoded */
    const char *consumer; /* :c, decoded */
    const char *key;      /* :key, decoded */
    int stream_num;       /* once resolved */
    char consumer_id[37]; /* once resolved */

    /* the inputs, as the route has them */
    const char *name; /* a stream to create */
    sq_message_in *msgs;
    size_t n_msgs;
    sq_api_listing listing;
    sq_api_consumer create;
    sq_consumer_settings changes;
    const char **ids;
    size_t n_ids;
    int delay_ms;
    sq_api_receive recv;

    /* receive with wait_for: until when the request may wait (CLOCK_MONOTONIC ms), and after
     * SQ_HANDLER_WAIT how long until the clock alone may change the answer (-1: nothing
     * waits on the clock) */
    int64_t wait_until_ms;
    long long wake_in_ms;

    /* what the worker's requests share, and the answer's media type */
    const sq_handler_env *env;
    sq_metrics *metrics;
    bool cached; /* the names came from the cache: a call that finds them gone resolves again */
    const char *content_type;
    sq_stream *streams; /* /metrics: every stream, by number */
    size_t n_streams;

    /* after the answer: the stream has news for long polls (an upsert that published, a nack,
     * a redrive) that other processes hear through a notification (`news_notify`), or news for
     * this process's own waiters only (an ack makes room under max_ack_pending) */
    int news_stream;
    bool news_notify;
    int n_delivered; /* by the last receive */
    /* while a shared call's outcome is handed out (sq_handler_group_done): this request's share */
    const struct sq_group_share *share;
} sq_handler;

/*
 * Starts a request matched by the router: decodes the path's parameters and parses the query
 * or body the route takes (`post` says whether a receive came as POST). 0 when store calls
 * are due, or the status to answer now (400/422) with the reason in `p`. `now_ms` is the
 * CLOCK_MONOTONIC time the request arrived, for wait_for.
 */
SQ_WUR int sq_handler_start(sq_handler *h, const sq_route_match *m, bool post, sq_http_slice query,
                            const char *body, size_t body_len, const sq_handler_env *env,
                            sq_arena *arena, int64_t now_ms, sq_api_problem *p);

/* Begins the store call of the request's current step on `s` (see store.h: begin/poll/finish). */
SQ_WUR int sq_handler_begin(sq_handler *h, sq_store *s, char *err, size_t errlen);

enum {
    SQ_HANDLER_REPLY, /* `*status` and `body` hold the answer */
    SQ_HANDLER_NEXT,  /* another call is due: begin it */
    SQ_HANDLER_WAIT   /* a receive found nothing and may wait: park it until news, the clock
                       * (wake_in_ms) or wait_until_ms, then set step SQ_STEP_CALL and begin */
};

/*
 * Finishes the call that is over on `s` and says what comes next. For a reply, `body` gets
 * the answer (JSON as SPEC 4 shows it per route, or an error's {"summary"}; for
 * /metrics the Prometheus page, with h->content_type saying so) and `*status` its status; a
 * 503 has the store's reason in `err` for the log. The counters of what the call did
 * (published, delivered, acked...) go to h->metrics. `now_ms` as above.
 */
SQ_WUR int sq_handler_finish(sq_handler *h, sq_store *s, int64_t now_ms, sq_buf *body, int *status,
                             char *err, size_t errlen);

/*
 * Group commit: the calls the worker may run for several requests at once. An upsert whose
 * own call is due may share a transaction with other upserts to the same stream
 * (sq_store_begin_upsert_grouped); an ack with other acks of the same consumer (one
 * sq_store_begin_ack with every request's ids); a receive with other receives of the same
 * consumer (one sq_store_begin_receive for their batch sizes together, the messages handed
 * out in seq order, each request taking up to its batch size). Once the shared call is over,
 * each request gets its share with sq_handler_group_done, which returns like
 * sq_handler_finish: SQ_HANDLER_NEXT when a cached name went stale (the request resolves it
 * again and runs alone) or when a receive got nothing and will wait; then the receives of a
 * consumer that wait share their timer call too (SQ_HANDLER_WAIT: park them).
 */
typedef enum sq_handler_group {
    SQ_GROUP_NONE,
    SQ_GROUP_UPSERT,
    SQ_GROUP_ACK,
    SQ_GROUP_RECEIVE,
    SQ_GROUP_TIMER /* receives of one consumer that found nothing ask next_visible once */
} sq_handler_group;

/* A request's share of a shared call. */
typedef struct sq_group_share {
    int rc;                 /* the shared call's outcome */
    long long published;    /* an upsert's own count */
    const sq_delivery *got; /* a receive's messages */
    int n_got;
    long long wake_in_ms; /* a timer's answer (sq_store_next_visible) */
} sq_group_share;

sq_handler_group sq_handler_groupable(const sq_handler *h);
SQ_WUR int sq_handler_group_done(sq_handler *h, const sq_group_share *share, int64_t now_ms,
                                 sq_buf *body, int *status, char *err, size_t errlen);

/* The answer to a receive whose wait ran out: {"data":[]}. */
SQ_WUR int sq_handler_empty_receive(sq_buf *body);

#endif
