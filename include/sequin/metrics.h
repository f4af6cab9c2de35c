/* sequind's metrics: counters in one shared memory region that every worker of every
 * generation adds to without locks, and their rendering in the Prometheus text format. */
#ifndef SEQUIN_METRICS_H
#define SEQUIN_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sequin/buf.h"
#include "sequin/common.h"
#include "sequin/router.h"

/* The Content-Type of what sq_metrics_render writes (text exposition format 0.0.4). */
#define SQ_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * The region. The master creates it before it forks the first worker; workers inherit the
 * mapping, so a worker that is respawned, or one of a later reload generation, adds to the
 * same counters. Every recording call is a few relaxed atomic additions: no lock, no
 * allocation, safe from any process that shares the mapping. Every recording call accepts
 * NULL and then does nothing, so code paths work without metrics (tests, a failed create).
 */
typedef struct sq_metrics sq_metrics;

/* Maps a zeroed shared region (MAP_SHARED | MAP_ANONYMOUS). NULL on failure (errno set). */
sq_metrics *sq_metrics_create(void);

/* Unmaps the region in the calling process (other processes keep their mapping). NULL is a
 * no-op. The master calls it when it exits; workers need not. */
void sq_metrics_destroy(sq_metrics *m);

/* The message and database counters. */
typedef enum sq_metric_counter {
    SQ_METRIC_UPSERTED,      /* messages inserted or changed by upserts ("published") */
    SQ_METRIC_DELIVERED,     /* messages handed out by receives, redeliveries included */
    SQ_METRIC_REDELIVERED,   /* of those, the ones with deliver_count > 1 */
    SQ_METRIC_ACKED,         /* ack ids in successful ack requests */
    SQ_METRIC_NACKED,        /* ack ids in successful nack requests */
    SQ_METRIC_DEAD,          /* (consumer, message) pairs that became dead */
    SQ_METRIC_PG_ERRORS,     /* store calls that failed because of PostgreSQL */
    SQ_METRIC_PG_RECONNECTS, /* database connections made again after one broke */
    SQ_METRIC_COUNTER_COUNT
} sq_metric_counter;

/* Adds `n` to a counter. An unknown counter is ignored. */
void sq_metrics_add(sq_metrics *m, sq_metric_counter c, uint64_t n);

/* Counts the deliveries of one receive (`d`, `n` of them, as sq_store_finish_receive wrote
 * them): each one is delivered, and the ones with a deliver_count above 1 are redelivered. */
struct sq_delivery;
void sq_metrics_deliveries(sq_metrics *m, const struct sq_delivery *d, size_t n);

/*
 * Records one answered HTTP request: `route` the row of the router's table that took it (as
 * sq_router_match found it), or NULL when none did (a 404, a 405, or a request refused before
 * routing); `method` (not NUL-terminated, `method_len` bytes) the request's, by which an
 * unmatched request is counted (a matched one by its row's); `status` the status sent;
 * `duration_us` from the first byte of the request to the last of the response.
 *
 * A matched request is labelled with its row's pattern and method (a HEAD is routed, and so
 * counted, as its GET). Unmatched requests are labelled route "unmatched" and their method if
 * it is a standard one (GET HEAD POST PUT PATCH DELETE OPTIONS), else "other". `route` is a
 * row of sq_routes or NULL. A status outside the table (200 400 401 404 405 409
 * 413 414 422 431 500 501 503) is labelled "other". So the number of series is fixed whatever
 * clients send: one set per row of the table and the unmatched.
 */
void sq_metrics_request(sq_metrics *m, const sq_route_desc *route, const char *method,
                        size_t method_len, int status, uint64_t duration_us);

/*
 * One consumer's gauges, read from the store when /metrics is asked for. The strings are
 * the caller's and only read during sq_metrics_render. sq_metrics_consumer_from fills one
 * from the store's object (which names its stream by id: the caller knows the name).
 */
typedef struct sq_metrics_consumer {
    const char *stream;
    const char *consumer;
    long long available, delivered, dead;
    double oldest_available_age_s; /* -1 when nothing is available: the sample is left out */
} sq_metrics_consumer;

struct sq_consumer;
sq_metrics_consumer sq_metrics_consumer_from(const char *stream, const struct sq_consumer *c);

/*
 * One source's series, read from the store when /metrics is asked for: what the node running
 * it last reported. The name is the caller's, only read during sq_metrics_render;
 * sq_metrics_source_from fills one from the store's object.
 */
typedef struct sq_metrics_source {
    const char *source;
    bool up;              /* streaming or backfilling */
    long long lag_bytes;  /* -1 unknown: the sample is left out */
    double lag_seconds;   /* -1 before the first report: left out */
    long long rows;       /* messages written, errors (failed attempts) and reconnects */
    long long errors;     /* (attempts after the first) since the process running the */
    long long reconnects; /* source started it; 0 before the first report */
} sq_metrics_source;

struct sq_source;
sq_metrics_source sq_metrics_source_from(const struct sq_source *src);

/*
 * Appends the metrics page to `out`: every counter and the request histogram of `m` (all
 * zero when `m` is NULL), then the gauges of `consumers` (`n` of them) and the series of
 * `sources` (`n_sources`); each may be NULL when its count is 0. Every family has its # HELP
 * and # TYPE even without samples. Returns 0, or -1 when memory runs out (`out` may then hold
 * part of the page). docs/operations.md lists the families.
 */
SQ_WUR int sq_metrics_render(sq_buf *out, const sq_metrics *m, const sq_metrics_consumer *consumers,
                             size_t n, const sq_metrics_source *sources, size_t n_sources);

#endif
