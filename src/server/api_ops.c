/* The operational routes: /healthz (the process answers), /readyz (it can reach the
 * database) and /metrics (the shared counters, every consumer's gauges and every source's
 * series, for Prometheus). */
#include "sequin/handlers.h"

static int healthz(sq_handler *h, const char **json, sq_api_problem *p)
{
    (void)h, (void)p;
    *json = "{\"status\":\"ok\"}";
    return 200;
}

static int readyz(sq_handler *h, const char **json, sq_api_problem *p)
{
    const sq_handler_env *env = h->env;
    if (env == NULL || env->ready == NULL || env->ready(env->ready_arg)) {
        *json = "{\"status\":\"ok\"}";
        return 200;
    }
    *p = (sq_api_problem){.status = 503, .summary = "the database is not reachable"};
    return 503;
}

/* Three calls: every stream's name (for the consumers' labels), every consumer, then every
 * source with its last report. */
static int metrics_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    if (h->calls == 0)
        return sq_store_begin_stream_list(s, err, errlen);
    if (h->calls == 1)
        return sq_store_begin_consumer_list_all(s, err, errlen);
    return sq_store_begin_source_objects(s, err, errlen);
}

/* The second call: each consumer's gauges, labelled with its stream's name. */
static int metrics_consumers(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    sq_consumer *list = NULL;
    size_t n = 0;
    int rc = sq_store_finish_consumer_list_all(s, &list, &n, h->arena, err, errlen);
    if (rc != SQ_OK)
        return rc;
    h->gauges = sq_arena_alloc(h->arena, sizeof *h->gauges * (n ? n : 1));
    if (h->gauges == NULL)
        return sq_fail(err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *stream = "?";
        for (size_t j = 0; j < h->n_streams; j++) {
            if (h->streams[j].num == list[i].stream_num)
                stream = h->streams[j].name;
        }
        h->gauges[i] = sq_metrics_consumer_from(stream, &list[i]);
    }
    h->n_gauges = n;
    return SQ_AGAIN;
}

/* The last call: each source's series, then the page. */
static int metrics_page(sq_handler *h, sq_store *s, sq_buf *body, char *err, size_t errlen)
{
    sq_source *list = NULL;
    size_t n = 0;
    int rc = sq_store_finish_source_objects(s, &list, &n, h->arena, err, errlen);
    if (rc != SQ_OK)
        return rc;
    sq_metrics_source *sources = sq_arena_alloc(h->arena, sizeof *sources * (n ? n : 1));
    if (sources == NULL)
        return sq_fail(err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++)
        sources[i] = sq_metrics_source_from(&list[i]);
    sq_buf_reset(body);
    if (sq_metrics_render(body, h->metrics, h->gauges, h->n_gauges, sources, n) != 0)
        return sq_fail(err, errlen, "out of memory");
    h->content_type = SQ_METRICS_CONTENT_TYPE;
    h->raw = true;
    return SQ_OK;
}

static int metrics_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                          size_t errlen)
{
    (void)jw;
    if (h->calls == 0) {
        int rc = sq_store_finish_stream_list(s, &h->streams, &h->n_streams, h->arena, err, errlen);
        return rc == SQ_OK ? SQ_AGAIN : rc;
    }
    if (h->calls == 1)
        return metrics_consumers(h, s, err, errlen);
    return metrics_page(h, s, body, err, errlen);
}

const sq_route_ops sq_api_healthz_route = {.open = true, .local = healthz};
const sq_route_ops sq_api_readyz_route = {.open = true, .local = readyz};
const sq_route_ops sq_api_metrics_route = {.begin = metrics_begin, .finish = metrics_finish};
