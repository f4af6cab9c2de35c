/* The metrics region shared by the master and every worker, and its Prometheus text page. */
#include "sequin/metrics.h"
#include "sequin/store.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

/*
 * The series requests are counted by: one per row of the router's table (routes.c), in its
 * order, each labelled with the row's pattern and method, then the requests no route took, by
 * method: a fixed set, so a client cannot mint new series.
 */
static const char *const unmatched[] = {"GET",   "HEAD",   "POST",    "PUT",
                                        "PATCH", "DELETE", "OPTIONS", "other"};
#define N_UNMATCHED SQ_ARRAY_LEN(unmatched)
/* The region's rows of series, in the page's order: the table's rows, then the unmatched. */
#define N_SLOTS (sq_routes_count + N_UNMATCHED)

/* The statuses sequind answers (SPEC 4), and one cell for anything else. */
static const int statuses[] = {200, 400, 401, 404, 405, 409, 413, 414, 422, 431, 500, 501, 503};
#define N_STATUSES (SQ_ARRAY_LEN(statuses) + 1)

/*
 * Upper bounds of the latency buckets, in microseconds, with their "le" labels. Most calls
 * take milliseconds; long polls are held up to wait_for's 60 s, and one that waits the full
 * minute finishes a little after 60 s, so the last bound is 120 s rather than 60.
 */
static const struct {
    uint64_t us;
    const char *le;
} buckets[] = {
    {1000, "0.001"},  {2500, "0.0025"}, {5000, "0.005"},  {10000, "0.01"},
    {25000, "0.025"}, {50000, "0.05"},  {100000, "0.1"},  {250000, "0.25"},
    {500000, "0.5"},  {1000000, "1"},   {2500000, "2.5"}, {5000000, "5"},
    {10000000, "10"}, {30000000, "30"}, {60000000, "60"}, {120000000, "120"},
};
#define N_BUCKETS SQ_ARRAY_LEN(buckets)

/*
 * One (route, method, status) series. Each bucket counts the requests that fell in it alone
 * (the last one: above every bound); the renderer sums them into Prometheus's cumulative
 * buckets and takes the total as _count. Keeping no separate count means a page read while
 * workers write is always self-consistent: +Inf equals _count, and the buckets never decrease.
 */
struct cell {
    uint64_t in_bucket[N_BUCKETS + 1];
    uint64_t sum_us;
};

struct sq_metrics {
    uint64_t counters[SQ_METRIC_COUNTER_COUNT];
    size_t size;                    /* of the whole region, for munmap */
    struct cell http[][N_STATUSES]; /* N_SLOTS rows, sized when the region is made */
};

/* Relaxed: the counters order nothing else, and each addition is atomic on its own. */
static void bump(uint64_t *p, uint64_t n)
{
    __atomic_fetch_add(p, n, __ATOMIC_RELAXED);
}

static uint64_t load(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

sq_metrics *sq_metrics_create(void)
{
    /* Anonymous memory comes zeroed; MAP_SHARED keeps it one region across fork, made before
     * the first one, so the table's size is known. */
    size_t size = sizeof(sq_metrics) + N_SLOTS * sizeof(((sq_metrics *)0)->http[0]);
    sq_metrics *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    m->size = size;
    return m;
}

void sq_metrics_destroy(sq_metrics *m)
{
    if (m != NULL)
        munmap(m, m->size);
}

void sq_metrics_add(sq_metrics *m, sq_metric_counter c, uint64_t n)
{
    if (m != NULL && (unsigned)c < SQ_METRIC_COUNTER_COUNT && n > 0)
        bump(&m->counters[c], n);
}

void sq_metrics_deliveries(sq_metrics *m, const struct sq_delivery *d, size_t n)
{
    if (m == NULL || n == 0)
        return;
    uint64_t again = 0;
    for (size_t i = 0; i < n; i++)
        again += d[i].deliver_count > 1;
    bump(&m->counters[SQ_METRIC_DELIVERED], n);
    if (again > 0)
        bump(&m->counters[SQ_METRIC_REDELIVERED], again);
}

static bool method_is(const char *method, size_t len, const char *name)
{
    return strlen(name) == len && memcmp(method, name, len) == 0;
}

/* A row of the table counts in its own slot, whatever the method (a HEAD is routed, and
 * counted, as the GET it is); a request no row took counts by its method, an unlisted one
 * under "other", the last. */
static size_t slot_of(const sq_route_desc *route, const char *method, size_t method_len)
{
    if (route != NULL)
        return (size_t)(route - sq_routes);
    size_t i = 0;
    while (i < N_UNMATCHED - 1 && !(method != NULL && method_is(method, method_len, unmatched[i])))
        i++;
    return sq_routes_count + i;
}

static size_t status_of(int status)
{
    for (size_t i = 0; i < SQ_ARRAY_LEN(statuses); i++)
        if (statuses[i] == status)
            return i;
    return N_STATUSES - 1;
}

static size_t bucket_of(uint64_t us)
{
    size_t i = 0;
    while (i < N_BUCKETS && us > buckets[i].us)
        i++;
    return i;
}

void sq_metrics_request(sq_metrics *m, const sq_route_desc *route, const char *method,
                        size_t method_len, int status, uint64_t duration_us)
{
    if (m == NULL)
        return;
    struct cell *c = &m->http[slot_of(route, method, method_len)][status_of(status)];
    bump(&c->in_bucket[bucket_of(duration_us)], 1);
    bump(&c->sum_us, duration_us);
}

sq_metrics_consumer sq_metrics_consumer_from(const char *stream, const struct sq_consumer *c)
{
    return (sq_metrics_consumer){
        .stream = stream,
        .consumer = c->name,
        .available = c->available,
        .delivered = c->delivered,
        .dead = c->dead,
        .oldest_available_age_s = c->oldest_available_age_s,
    };
}

sq_metrics_source sq_metrics_source_from(const struct sq_source *src)
{
    bool up = src->state != NULL &&
              (strcmp(src->state, "streaming") == 0 || strcmp(src->state, "backfilling") == 0);
    return (sq_metrics_source){
        .source = src->name,
        .up = up,
        .lag_bytes = src->has_status ? src->lag_bytes : -1,
        .lag_seconds = src->has_status ? src->lag_seconds : -1,
        .rows = src->has_status ? src->rows_streamed : 0,
        .errors = src->has_status ? src->errors : 0,
        .reconnects = src->has_status && src->attempts > 1 ? src->attempts - 1 : 0,
    };
}

/* ---- rendering -------------------------------------------------------------------------- */

static const struct {
    const char *name;
    const char *help;
} counter_families[SQ_METRIC_COUNTER_COUNT] = {
    [SQ_METRIC_UPSERTED] = {"sequin_messages_upserted_total",
                            "Messages inserted or changed by upserts."},
    [SQ_METRIC_DELIVERED] = {"sequin_messages_delivered_total",
                             "Messages handed out by receives, redeliveries included."},
    [SQ_METRIC_REDELIVERED] = {"sequin_messages_redelivered_total",
                               "Messages handed out again (deliver_count above 1)."},
    [SQ_METRIC_ACKED] = {"sequin_messages_acked_total", "Ack ids in successful ack requests."},
    [SQ_METRIC_NACKED] = {"sequin_messages_nacked_total", "Ack ids in successful nack requests."},
    [SQ_METRIC_DEAD] = {"sequin_messages_dead_total",
                        "Consumer messages that became dead (max_deliver reached)."},
    [SQ_METRIC_PG_ERRORS] = {"sequin_postgres_errors_total",
                             "Store calls that failed because of PostgreSQL."},
    [SQ_METRIC_PG_RECONNECTS] = {"sequin_postgres_reconnects_total",
                                 "Database connections made again after one broke."},
};

static int family(sq_buf *out, const char *name, const char *type, const char *help)
{
    return sq_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the text format wants: backslash, double quote and line feed. */
static int put_label_value(sq_buf *out, const char *v)
{
    int rc = 0;
    for (const char *p = v != NULL ? v : ""; *p != '\0' && rc == 0; p++) {
        if (*p == '\\')
            rc = sq_buf_puts(out, "\\\\");
        else if (*p == '"')
            rc = sq_buf_puts(out, "\\\"");
        else if (*p == '\n')
            rc = sq_buf_puts(out, "\\n");
        else
            rc = sq_buf_putc(out, *p);
    }
    return rc;
}

/* `{route="...",method="...",status="..."` without the closing brace, which the histogram
 * follows with its le label. */
static int request_labels(sq_buf *out, size_t slot, size_t status)
{
    bool routed = slot < sq_routes_count;
    const char *route = routed ? sq_routes[slot].pattern : "unmatched";
    const char *method = routed ? sq_routes[slot].method : unmatched[slot - sq_routes_count];
    int rc = sq_buf_printf(out, "{route=\"%s\",method=\"%s\",status=\"", route, method);
    if (status < SQ_ARRAY_LEN(statuses))
        rc |= sq_buf_printf(out, "%d\"", statuses[status]);
    else
        rc |= sq_buf_puts(out, "other\"");
    return rc;
}

/* A series that has seen requests, read once: which one, its buckets and sum. */
struct snapshot {
    size_t slot, status;
    uint64_t in_bucket[N_BUCKETS + 1];
    uint64_t sum_us;
    uint64_t count;
};

static void take(const sq_metrics *m, size_t slot, size_t status, struct snapshot *s)
{
    *s = (struct snapshot){.slot = slot, .status = status};
    if (m == NULL)
        return;
    const struct cell *c = &m->http[slot][status];
    for (size_t b = 0; b <= N_BUCKETS; b++) {
        s->in_bucket[b] = load(&c->in_bucket[b]);
        s->count += s->in_bucket[b];
    }
    s->sum_us = load(&c->sum_us);
}

/* The next series, in the page's order, that has seen requests: from `*at` (0 for the first),
 * which moves past it. False after the last. */
static bool next_series(const sq_metrics *m, size_t *at, struct snapshot *s)
{
    while (*at < N_SLOTS * N_STATUSES) {
        size_t i = (*at)++;
        take(m, i / N_STATUSES, i % N_STATUSES, s);
        if (s->count > 0)
            return true;
    }
    return false;
}

static int render_requests(sq_buf *out, const sq_metrics *m)
{
    struct snapshot s;
    int rc = family(out, "sequin_http_requests_total", "counter",
                    "HTTP requests answered, by route, method and status.");
    for (size_t at = 0; rc == 0 && next_series(m, &at, &s);) {
        rc |= sq_buf_puts(out, "sequin_http_requests_total");
        rc |= request_labels(out, s.slot, s.status);
        rc |= sq_buf_printf(out, "} %llu\n", (unsigned long long)s.count);
    }

    const char *h = "sequin_http_request_duration_seconds";
    rc |= family(out, h, "histogram",
                 "Time from a request's first byte to its response's last, by route, method "
                 "and status.");
    for (size_t at = 0; rc == 0 && next_series(m, &at, &s);) {
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= N_BUCKETS; b++) {
            cumulative += s.in_bucket[b];
            rc |= sq_buf_printf(out, "%s_bucket", h);
            rc |= request_labels(out, s.slot, s.status);
            rc |= sq_buf_printf(out, ",le=\"%s\"} %llu\n", b < N_BUCKETS ? buckets[b].le : "+Inf",
                                (unsigned long long)cumulative);
        }
        rc |= sq_buf_printf(out, "%s_sum", h);
        rc |= request_labels(out, s.slot, s.status);
        rc |= sq_buf_printf(out, "} %llu.%06llu\n", (unsigned long long)(s.sum_us / 1000000),
                            (unsigned long long)(s.sum_us % 1000000));
        rc |= sq_buf_printf(out, "%s_count", h);
        rc |= request_labels(out, s.slot, s.status);
        rc |= sq_buf_printf(out, "} %llu\n", (unsigned long long)s.count);
    }
    return rc != 0 ? SQ_ERR : SQ_OK;
}

static int consumer_labels(sq_buf *out, const sq_metrics_consumer *c)
{
    int rc = sq_buf_puts(out, "{stream=\"");
    rc |= put_label_value(out, c->stream);
    rc |= sq_buf_puts(out, "\",consumer=\"");
    rc |= put_label_value(out, c->consumer);
    rc |= sq_buf_puts(out, "\"}");
    return rc;
}

enum gauge {
    G_AVAILABLE,
    G_DELIVERED,
    G_DEAD,
    G_AGE
};

static int render_consumers(sq_buf *out, const sq_metrics_consumer *cs, size_t n)
{
    static const struct {
        const char *name;
        const char *help;
    } gauges[] = {
        [G_AVAILABLE] = {"sequin_consumer_messages_available",
                         "Messages a consumer can receive now or once their nack delay ends."},
        [G_DELIVERED] = {"sequin_consumer_messages_delivered",
                         "Messages a consumer holds a lease on (delivered, not yet acked)."},
        [G_DEAD] = {"sequin_consumer_messages_dead",
                    "Messages a consumer gave up on after max_deliver deliveries."},
        [G_AGE] = {"sequin_consumer_oldest_available_age_seconds",
                   "Age of a consumer's oldest available message; no sample when none is."},
    };
    int rc = 0;
    for (size_t g = 0; g < SQ_ARRAY_LEN(gauges) && rc == 0; g++) {
        rc |= family(out, gauges[g].name, "gauge", gauges[g].help);
        for (size_t i = 0; i < n && rc == 0; i++) {
            const sq_metrics_consumer *c = &cs[i];
            /* -1 (or anything negative, or NaN) means nothing is available: no age to show. */
            if (g == G_AGE && !(c->oldest_available_age_s >= 0))
                continue;
            rc |= sq_buf_puts(out, gauges[g].name);
            rc |= consumer_labels(out, c);
            if (g == G_AGE)
                rc |= sq_buf_printf(out, " %.3f\n", c->oldest_available_age_s);
            else
                rc |= sq_buf_printf(out, " %lld\n",
                                    g == G_AVAILABLE   ? c->available
                                    : g == G_DELIVERED ? c->delivered
                                                       : c->dead);
        }
    }
    return rc != 0 ? SQ_ERR : SQ_OK;
}

enum source_series {
    S_UP,
    S_LAG_BYTES,
    S_LAG_SECONDS,
    S_ROWS,
    S_ERRORS,
    S_RECONNECTS
};

static int render_sources(sq_buf *out, const sq_metrics_source *ss, size_t n)
{
    static const struct {
        const char *name, *type, *help;
    } series[] = {
        [S_UP] = {"sequin_source_up", "gauge",
                  "1 while the source streams or backfills, else 0 (its state says why)."},
        [S_LAG_BYTES] = {"sequin_source_lag_bytes", "gauge",
                         "WAL of the source database the stream does not have yet; no sample "
                         "when unknown."},
        [S_LAG_SECONDS] = {"sequin_source_lag_seconds", "gauge",
                           "Time since the last commit the stream has, while WAL lags (0 when "
                           "none does)."},
        [S_ROWS] = {"sequin_source_rows_streamed_total", "counter",
                    "Messages the source wrote into its stream."},
        [S_ERRORS] = {"sequin_source_errors_total", "counter",
                      "Attempts of the source that failed (each is retried)."},
        [S_RECONNECTS] = {"sequin_source_reconnects_total", "counter",
                          "Times the source started over after its first attempt."},
    };
    int rc = 0;
    for (size_t f = 0; f < SQ_ARRAY_LEN(series) && rc == 0; f++) {
        rc |= family(out, series[f].name, series[f].type, series[f].help);
        for (size_t i = 0; i < n && rc == 0; i++) {
            const sq_metrics_source *s = &ss[i];
            if ((f == S_LAG_BYTES && s->lag_bytes < 0) ||
                (f == S_LAG_SECONDS && !(s->lag_seconds >= 0)))
                continue;
            rc |= sq_buf_printf(out, "%s{source=\"", series[f].name);
            rc |= put_label_value(out, s->source);
            rc |= sq_buf_puts(out, "\"}");
            if (f == S_LAG_SECONDS)
                rc |= sq_buf_printf(out, " %.3f\n", s->lag_seconds);
            else
                rc |= sq_buf_printf(out, " %lld\n",
                                    f == S_UP          ? (long long)s->up
                                    : f == S_LAG_BYTES ? s->lag_bytes
                                    : f == S_ROWS      ? s->rows
                                    : f == S_ERRORS    ? s->errors
                                                       : s->reconnects);
        }
    }
    return rc != 0 ? SQ_ERR : SQ_OK;
}

int sq_metrics_render(sq_buf *out, const sq_metrics *m, const sq_metrics_consumer *consumers,
                      size_t n, const sq_metrics_source *sources, size_t n_sources)
{
    int rc = 0;
    for (size_t c = 0; c < SQ_METRIC_COUNTER_COUNT && rc == 0; c++) {
        rc |= family(out, counter_families[c].name, "counter", counter_families[c].help);
        rc |= sq_buf_printf(out, "%s %llu\n", counter_families[c].name,
                            (unsigned long long)(m != NULL ? load(&m->counters[c]) : 0));
    }
    if (rc == 0)
        rc = render_requests(out, m);
    if (rc == 0)
        rc = render_consumers(out, consumers, n);
    if (rc == 0)
        rc = render_sources(out, sources, n_sources);
    return rc != 0 ? SQ_ERR : SQ_OK;
}
