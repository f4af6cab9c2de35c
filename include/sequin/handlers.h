/* The API's requests as store calls (SPEC 4): what a routed request carries, the route
 * operations each resource file (api_*.c) provides, and the life of a request from its inputs
 * to its answer (handler.c): resolving names, the route's own calls one after another
 * without waiting, and the JSON of the answer. The worker owns the connections, the pool of
 * store connections and the waiting; nothing here knows of sockets, and the worker names no
 * route. */
#ifndef SEQUIN_HANDLERS_H
#define SEQUIN_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sequin/api_input.h"
#include "sequin/buf.h"
#include "sequin/common.h"
#include "sequin/config.h"
#include "sequin/json.h"
#include "sequin/metrics.h"
#include "sequin/name_cache.h"
#include "sequin/router.h"
#include "sequin/store.h"

/* Where a request is in its store calls. Most routes resolve the stream's name (or id) to its
 * number first; the routes of one consumer's messages resolve the consumer to its id too. */
typedef enum sq_handler_step {
    SQ_STEP_STREAM,   /* resolve :s */
    SQ_STEP_CONSUMER, /* resolve :s and :c in one statement */
    SQ_STEP_CALL,     /* the route's own calls */
    SQ_STEP_TIMER     /* a long poll found nothing: ask when the clock alone turns a message
                       * deliverable (sq_store_next_visible) */
} sq_handler_step;

/* What a worker's requests share. */
typedef struct sq_handler_env {
    sq_metrics *metrics;  /* NULL: nothing counted */
    sq_name_cache *cache; /* NULL: every name resolved every time */
    size_t max_message_bytes;
    const sq_config_token_list *tokens; /* the API's tokens: a webhook without a secret of its
                                         * own wants one of them (NULL: none configured) */
    bool (*ready)(void *arg);           /* /readyz: whether the worker can reach the database */
    void *ready_arg;
} sq_handler_env;

/* One request, from routing to its answer. Strings live in `arena` (the connection's). */
typedef struct sq_handler {
    const sq_route_desc *route;     /* the row of the router's table that matched */
    const struct sq_route_ops *ops; /* its operations */
    sq_handler_step step;
    int calls; /* of the route's own calls, how many are over (a route may make several) */
    sq_arena *arena;
    const char *stream;   /* :s, decoded */
    const char *consumer; /* :c, decoded */
    const char *key;      /* :key, decoded */
    const char *source;   /* :src, decoded */
    int stream_num;       /* once resolved */
    char consumer_id[37]; /* once resolved */

    /* the inputs, as the route has them */
    const char *name; /* a stream to create */
    sq_message_in *msgs;
    size_t n_msgs;
    sq_api_listing listing;
    sq_api_consumer create;
    sq_api_source new_source;
    sq_consumer_settings changes;
    const char **ids;
    size_t n_ids;
    int delay_ms;
    sq_api_receive recv;
    /* a webhook's POST (api_webhook.c): the request's headers and body, copied into the arena,
     * and the key its message takes */
    const sq_http_header *headers;
    size_t n_headers;
    const char *body;
    size_t body_len;
    /* a route's own refusal (its finish returned SQ_HANDLER_REFUSED): the status, with the
     * summary in `err` */
    int refuse_status;

    /* a long poll: until when the request may wait (CLOCK_MONOTONIC ms), and after
     * SQ_HANDLER_WAIT how long until the clock alone may change the answer (-1: nothing
     * waits on the clock) */
    int64_t wait_until_ms;
    long long wake_in_ms;

    /* what the worker's requests share, and the answer's media type */
    const sq_handler_env *env;
    sq_metrics *metrics;
    bool cached; /* the names came from the cache: a call that finds them gone resolves again */
    const char *content_type;
    bool raw;           /* the route wrote a body that is not JSON (content_type says what) */
    sq_stream *streams; /* /metrics: every stream, by number */
    size_t n_streams;
    sq_metrics_consumer *gauges; /* /metrics: every consumer's */
    size_t n_gauges;

    /* after the answer: the stream has news for long polls (an upsert that published, a nack,
     * a redrive) that other processes hear through a notification (`news_notify`), or news for
     * this process's own waiters only (an ack makes room under max_ack_pending) */
    int news_stream;
    bool news_notify;
    bool waits; /* the answer was empty and the request may wait for news (a long poll) */
    bool bulk;  /* large: may run on the bulk lane of store connections */
    /* while a shared call's outcome is handed out: this request's share */
    const struct sq_group_share *share;
} sq_handler;

/* ---- what a route is: one row of the router's table points at one of these ------------- */

typedef enum sq_resolve {
    SQ_RESOLVE_NONE,     /* the route names its stream itself, or none */
    SQ_RESOLVE_STREAM,   /* :s to its number */
    SQ_RESOLVE_CONSUMER, /* :s to its number and :c to its id */
} sq_resolve;

/* The parts of the request a route's inputs come from. */
typedef struct sq_request_in {
    bool post; /* the method was POST (a receive takes a query or a body) */
    sq_http_slice query;
    const char *body;
    size_t body_len;
    int64_t now_ms;                /* when the request arrived (CLOCK_MONOTONIC) */
    const sq_http_header *headers; /* every header line in order (valid during the parse) */
    size_t n_headers;
} sq_request_in;

typedef struct sq_route_ops {
    bool open;          /* answered without a token (/healthz, /readyz) */
    bool in_data;       /* the answer is wrapped in {"data": ...} (SPEC 4) */
    sq_resolve resolve; /* names resolved before the route's own calls */
    /* What a 404 from the route's own calls is about: its summary "<missing> not found".
     * NULL: the store's own words. */
    const char *missing;
    /* The route's inputs from the query or body into `h`: 0, or the status to answer with
     * `p` (400, 422). NULL: none. */
    int (*parse)(sq_handler *h, const sq_request_in *in, sq_api_problem *p);
    /* A route answered without the store: the status (200, or another with `p`) and the
     * body's JSON text in `*json`. NULL for a store route. */
    int (*local)(sq_handler *h, const char **json, sq_api_problem *p);
    /* Begins the route's next own call (h->calls of them are over). */
    int (*begin)(sq_handler *h, sq_store *s, char *err, size_t errlen);
    /* Finishes it: the store's outcome, with the answer's data written to `jw` (the body of
     * a route that is not JSON goes to `body`, with h->raw and h->content_type set); SQ_AGAIN when
     * another call of the route is due; SQ_HANDLER_REFUSED for a 4xx of the route's own, its
     * status in h->refuse_status. A 409's or a refusal's summary goes to `err` (a 404's is
     * `missing`'s). */
    int (*finish)(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                  size_t errlen);
    /* How its calls may be shared with other requests' (group commit), or NULL. */
    const struct sq_group_ops *group;
} sq_route_ops;

/* ---- a request's life ------------------------------------------------------------------- */

/*
 * Starts a request matched by the router: decodes the path's parameters and parses the
 * inputs the route takes. 0 when store calls are due; otherwise the status to answer now:
 * 200 for a route answered without the store, with its JSON text in `*json`, else an error
 * with its reason in `p`.
 */
SQ_WUR int sq_handler_start(sq_handler *h, const sq_route_match *m, const sq_request_in *in,
                            const sq_handler_env *env, sq_arena *arena, const char **json,
                            sq_api_problem *p);

/* Whether the route needs a token (false for /healthz and /readyz). */
bool sq_handler_needs_auth(const sq_route_match *m);

/* Begins the store call of the request's current step on `s` (see store.h: begin/poll/finish). */
SQ_WUR int sq_handler_begin(sq_handler *h, sq_store *s, char *err, size_t errlen);

/* A route's finish refusing the request itself (a webhook's 401, 400, 413): distinct from the
 * store's outcomes. */
#define SQ_HANDLER_REFUSED (-10)

enum {
    SQ_HANDLER_REPLY, /* `*status` and `body` hold the answer */
    SQ_HANDLER_NEXT,  /* another call is due: begin it */
    SQ_HANDLER_WAIT   /* a long poll found nothing and may wait: park it until news, the clock
                       * (wake_in_ms) or wait_until_ms, then begin it again */
};

/*
 * Finishes the call that is over on `s` and says what comes next. For a reply, `body` gets
 * the answer (JSON as SPEC 4 shows it per route, or an error's {"summary"}; for /metrics the
 * Prometheus page, with h->content_type saying so) and `*status` its status; a 503 has the
 * store's reason in `err` for the log. The counters of what the call did (published,
 * delivered, acked...) go to h->metrics. `now_ms` as in sq_request_in.
 */
SQ_WUR int sq_handler_finish(sq_handler *h, sq_store *s, int64_t now_ms, sq_buf *body, int *status,
                             char *err, size_t errlen);

/* The answer to a long poll whose wait ran out: the route's empty answer ({"data":[]}). */
SQ_WUR int sq_handler_empty_answer(sq_buf *body);

/* ---- group commit: requests whose calls are shared (group.c runs them) ------------------ */

struct sq_group;

/* A request's share of a shared call, which the route's group finish fills. */
typedef struct sq_group_share {
    int rc;                 /* the shared call's outcome for this request */
    long long published;    /* an upsert's own count */
    const sq_delivery *got; /* a receive's messages */
    int n_got;
    long long wake_in_ms; /* a timer's answer (sq_store_next_visible) */
} sq_group_share;

/*
 * How a route's calls are shared: an upsert's with other upserts to the same stream (one
 * transaction), an ack's with other acks of the same consumer, a receive's with other
 * receives of the same consumer (the messages handed out in seq order, each request taking
 * up to its batch size), and the timer of long polls of one consumer that found nothing.
 */
typedef struct sq_group_ops {
    size_t limit; /* the most items one shared call takes */
    /* What a request brings: messages, ack ids, a batch size; 0 for a timer. */
    size_t (*items)(const sq_handler *h);
    /* Whether `q` may share the call `lead` leads; `g` for what the members hold together
     * (an upsert's keys). `q` == `lead` when the group opens. */
    bool (*joins)(struct sq_group *g, const sq_handler *lead, const sq_handler *q);
    /* Begins one call for the `n` members (lead first), `total` items together. */
    int (*begin)(struct sq_group *g, sq_handler *const *m, size_t n, size_t total, sq_store *s,
                 char *err, size_t errlen);
    /* Finishes it: member i's share in shares[i]; the call's outcome. */
    int (*finish)(struct sq_group *g, sq_handler *const *m, size_t n, sq_store *s,
                  sq_group_share *shares, char *err, size_t errlen);
} sq_group_ops;

/* How the request's current call may be shared, or NULL when it runs alone. */
const sq_group_ops *sq_handler_grouping(const sq_handler *h);

/* Hands a request its share of a shared call that is over; returns like sq_handler_finish
 * (SQ_HANDLER_NEXT when a cached name went stale and the request resolves it again alone). */
SQ_WUR int sq_handler_group_done(sq_handler *h, const sq_group_share *share, int64_t now_ms,
                                 sq_buf *body, int *status, char *err, size_t errlen);

/* ---- for the route files ---------------------------------------------------------------- */

/* What a route's finish returns once it wrote its answer: `rc`, or SQ_ERR with "out of
 * memory" in `err` when the writing failed (`jr` != 0) where the call succeeded. */
int sq_handler_wrote(int rc, int jr, char *err, size_t errlen);

/* An upsert's call that published `published` messages (0: none) into h->stream_num: counts
 * them, and gives the stream news for long polls (every process's, by a notification). */
void sq_handler_published(sq_handler *h, long long published);

/* The route operations of each resource (api_streams.c, api_messages.c, api_consumers.c,
 * api_sources.c, api_ops.c); the router's table points at them. */
extern const sq_route_ops sq_api_healthz_route, sq_api_readyz_route, sq_api_metrics_route;
extern const sq_route_ops sq_api_stream_list_route, sq_api_stream_create_route,
    sq_api_stream_get_route, sq_api_stream_delete_route;
extern const sq_route_ops sq_api_message_upsert_route, sq_api_message_list_route,
    sq_api_message_get_route, sq_api_message_delete_route, sq_api_message_info_route;
extern const sq_route_ops sq_api_consumer_list_route, sq_api_consumer_create_route,
    sq_api_consumer_get_route, sq_api_consumer_edit_route, sq_api_consumer_delete_route,
    sq_api_receive_route, sq_api_ack_route, sq_api_nack_route, sq_api_extend_route,
    sq_api_redrive_route, sq_api_consumer_messages_route;
extern const sq_route_ops sq_api_source_list_route, sq_api_source_create_route,
    sq_api_source_get_route, sq_api_source_delete_route;
extern const sq_route_ops sq_api_webhook_route;

#endif
