/* Tests of the metrics region and its Prometheus page, checked by a small parser of the text
 * format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sequin/buf.h"
#include "sequin/metrics.h"
#include "sequin/router.h"
#include "sequin/store.h"

/* ---- a checker of the text exposition format 0.0.4 ---------------------------------------- */

/* One sample as the checker read it. */
struct sample {
    char name[128];
    char labels[512]; /* the raw text between the braces, le included */
    char key[512];    /* the labels without le, for grouping a histogram's series */
    char le[32];
    double value;
};

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* Reads `name{labels} value` from `line` (no newline); NULL, or why the line is wrong. */
static const char *parse_sample(const char *line, struct sample *s)
{
    const char *p = line;
    size_t n = 0;
    memset(s, 0, sizeof *s);
    if (!name_char(*p, true))
        return "a sample must start with a metric name";
    while (name_char(*p, false) && n < sizeof s->name - 1)
        s->name[n++] = *p++;
    if (*p == '{') {
        const char *open = ++p;
        size_t kn = 0;
        while (*p != '}') {
            const char *label = p;
            if (!name_char(*p, true) || *p == ':')
                return "a label name must start with a letter or _";
            while (name_char(*p, false) && *p != ':')
                p++;
            size_t label_len = (size_t)(p - label);
            if (*p++ != '=' || *p++ != '"')
                return "a label needs =\"value\"";
            char value[256];
            size_t vn = 0;
            while (*p != '"') {
                if (*p == '\0' || *p == '\n')
                    return "an unterminated label value";
                char c = *p++;
                if (c == '\\') {
                    c = *p++;
                    if (c == 'n')
                        c = '\n';
                    else if (c != '\\' && c != '"')
                        return "a label value escapes only \\\\, \\\" and \\n";
                }
                if (vn < sizeof value - 1)
                    value[vn++] = c;
            }
            value[vn] = '\0';
            p++;
            if (label_len == 2 && memcmp(label, "le", 2) == 0) {
                snprintf(s->le, sizeof s->le, "%.31s", value);
            } else {
                int w = snprintf(s->key + kn, sizeof s->key - kn, "%.*s|", (int)(p - label), label);
                kn += (size_t)w;
            }
            if (*p == ',')
                p++;
            else if (*p != '}')
                return "labels are separated by commas";
        }
        snprintf(s->labels, sizeof s->labels, "%.*s", (int)(p - open), open);
        p++;
    }
    if (*p++ != ' ')
        return "one space between the sample's name or labels and its value";
    if (strcmp(p, "+Inf") == 0) {
        s->value = 1e308;
        return NULL;
    }
    char *end = NULL;
    if (*p == ' ' || *p == '\t')
        return "one space between the sample's name or labels and its value";
    s->value = strtod(p, &end);
    if (end == p || *end != '\0')
        return "a sample's value must be a number";
    return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/*
 * Fails the test unless `page` is valid exposition text: each family once, HELP then TYPE
 * before its samples; each sample belongs to the family declared last; no sample twice;
 * counters end in _total; every histogram series has buckets with rising bounds and values
 * that never decrease, ending at +Inf, then a _sum and a _count equal to the +Inf bucket.
 * Returns the number of samples.
 */
static int check_page(const char *page)
{
    char family[128] = "", type[16] = "", help_of[128] = "";
    char seen_families[64][128];
    size_t n_families = 0;
    char(*seen)[700] = calloc(4000, sizeof *seen);
    size_t n_seen = 0;
    struct sample s;
    /* The histogram series being read. */
    char hist_key[512] = "";
    double last_le = -1, last_bucket = -1, inf_value = -1;
    bool have_sum = false;
    int samples = 0;
    assert_non_null(seen);

    assert_true(strlen(page) > 0 && page[strlen(page) - 1] == '\n');
    const char *line = page;
    for (int lineno = 1; *line != '\0'; lineno++) {
        const char *nl = strchr(line, '\n');
        char buf[1024];
        assert_true((size_t)(nl - line) < sizeof buf);
        snprintf(buf, sizeof buf, "%.*s", (int)(nl - line), line);
        line = nl + 1;

        char name[128], rest[256];
        if (sscanf(buf, "# HELP %127s %255[^\n]", name, rest) == 2) {
            for (size_t i = 0; i < n_families; i++)
                if (strcmp(seen_families[i], name) == 0)
                    fail_msg("line %d: family %s declared twice", lineno, name);
            snprintf(help_of, sizeof help_of, "%s", name);
            continue;
        }
        if (sscanf(buf, "# TYPE %127s %15s", name, rest) == 2) {
            if (strcmp(help_of, name) != 0)
                fail_msg("line %d: # TYPE %s without its # HELP just before", lineno, name);
            if (strcmp(rest, "counter") != 0 && strcmp(rest, "gauge") != 0 &&
                strcmp(rest, "histogram") != 0)
                fail_msg("line %d: unknown type %s", lineno, rest);
            if (strcmp(rest, "counter") == 0 && !ends_with(name, "_total"))
                fail_msg("line %d: counter %s does not end in _total", lineno, name);
            assert_true(n_families < SQ_ARRAY_LEN(seen_families));
            snprintf(seen_families[n_families++], sizeof seen_families[0], "%s", name);
            snprintf(family, sizeof family, "%s", name);
            snprintf(type, sizeof type, "%.15s", rest);
            help_of[0] = '\0';
            continue;
        }
        if (buf[0] == '#')
            fail_msg("line %d: a comment that is neither HELP nor TYPE: %s", lineno, buf);

        const char *why = parse_sample(buf, &s);
        if (why != NULL)
            fail_msg("line %d: %s: %s", lineno, why, buf);
        if (family[0] == '\0' || help_of[0] != '\0')
            fail_msg("line %d: a sample before its family's # TYPE: %s", lineno, buf);
        samples++;
        char key[700];
        snprintf(key, sizeof key, "%s{%s}", s.name, s.labels);
        for (size_t i = 0; i < n_seen; i++)
            if (strcmp(seen[i], key) == 0)
                fail_msg("line %d: a sample given twice: %s", lineno, buf);
        assert_true(n_seen < 4000);
        snprintf(seen[n_seen++], sizeof seen[0], "%s", key);

        if (strcmp(type, "histogram") != 0) {
            if (strcmp(s.name, family) != 0)
                fail_msg("line %d: %s outside its family (%s)", lineno, s.name, family);
            if (s.le[0] != '\0')
                fail_msg("line %d: le outside a histogram", lineno);
            continue;
        }
        char bucket[160], sum[160], count[160];
        snprintf(bucket, sizeof bucket, "%s_bucket", family);
        snprintf(sum, sizeof sum, "%s_sum", family);
        snprintf(count, sizeof count, "%s_count", family);
        if (strcmp(s.name, bucket) == 0) {
            if (s.le[0] == '\0')
                fail_msg("line %d: a bucket without le", lineno);
            if (strcmp(hist_key, s.key) != 0) {
                if (hist_key[0] != '\0')
                    fail_msg("line %d: the previous series had no _count", lineno);
                snprintf(hist_key, sizeof hist_key, "%s", s.key);
                last_le = -1, last_bucket = -1, inf_value = -1, have_sum = false;
            }
            if (inf_value >= 0)
                fail_msg("line %d: a bucket after +Inf", lineno);
            double le = strcmp(s.le, "+Inf") == 0 ? 1e308 : strtod(s.le, NULL);
            if (le <= last_le)
                fail_msg("line %d: bucket bounds must rise", lineno);
            if (s.value < last_bucket)
                fail_msg("line %d: buckets must be cumulative (%g after %g)", lineno, s.value,
                         last_bucket);
            last_le = le, last_bucket = s.value;
            if (strcmp(s.le, "+Inf") == 0)
                inf_value = s.value;
        } else if (strcmp(s.name, sum) == 0) {
            if (strcmp(hist_key, s.key) != 0 || inf_value < 0)
                fail_msg("line %d: _sum before its buckets end at +Inf", lineno);
            have_sum = true;
        } else if (strcmp(s.name, count) == 0) {
            if (strcmp(hist_key, s.key) != 0 || inf_value < 0 || !have_sum)
                fail_msg("line %d: _count before its buckets and _sum", lineno);
            if (s.value != inf_value)
                fail_msg("line %d: _count %g differs from the +Inf bucket %g", lineno, s.value,
                         inf_value);
            hist_key[0] = '\0';
            inf_value = -1;
        } else {
            fail_msg("line %d: %s outside its histogram %s", lineno, s.name, family);
        }
    }
    if (hist_key[0] != '\0')
        fail_msg("the last histogram series has no _count");
    free(seen);
    return samples;
}

/* The value of the sample `series` (name and labels, exactly as rendered), or -1. */
static double value_of(const char *page, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = page; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

/* The rendered sample line of `series`, for exact comparisons of its value's text. */
static const char *line_of(const char *page, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = page; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return p;
    return NULL;
}

static void render(sq_buf *out, const sq_metrics *m, const sq_metrics_consumer *c, size_t n)
{
    sq_buf_reset(out);
    assert_int_equal(sq_metrics_render(out, m, c, n, NULL, 0), SQ_OK);
    check_page(out->data);
}

static void render_sources(sq_buf *out, const sq_metrics_source *s, size_t n)
{
    sq_buf_reset(out);
    assert_int_equal(sq_metrics_render(out, NULL, NULL, 0, s, n), SQ_OK);
    check_page(out->data);
}

static void record(sq_metrics *m, const sq_route_desc *r, const char *method, int status,
                   uint64_t us)
{
    sq_metrics_request(m, r, method, strlen(method), status, us);
}

/* The row of the router's table for `method` and `pattern`. */
static const sq_route_desc *row(const char *method, const char *pattern)
{
    for (size_t i = 0; i < sq_routes_count; i++)
        if (strcmp(sq_routes[i].method, method) == 0 && strcmp(sq_routes[i].pattern, pattern) == 0)
            return &sq_routes[i];
    fail_msg("no row %s %s", method, pattern);
    return NULL;
}

/* ---- the page ----------------------------------------------------------------------------- */

static const char *const families[] = {
    "sequin_messages_upserted_total",
    "sequin_messages_delivered_total",
    "sequin_messages_redelivered_total",
    "sequin_messages_acked_total",
    "sequin_messages_nacked_total",
    "sequin_messages_dead_total",
    "sequin_postgres_errors_total",
    "sequin_postgres_reconnects_total",
    "sequin_http_requests_total",
    "sequin_http_request_duration_seconds",
    "sequin_consumer_messages_available",
    "sequin_consumer_messages_delivered",
    "sequin_consumer_messages_dead",
    "sequin_consumer_oldest_available_age_seconds",
    "sequin_source_up",
    "sequin_source_lag_bytes",
    "sequin_source_lag_seconds",
    "sequin_source_rows_streamed_total",
    "sequin_source_errors_total",
    "sequin_source_reconnects_total",
};

/* A region nobody wrote to, or none at all: every family is there, the counters at 0. */
static void test_empty_page(void **state)
{
    (void)state;
    sq_buf page = {0};
    sq_metrics *m = sq_metrics_create();
    assert_non_null(m);
    for (int pass = 0; pass < 2; pass++) {
        render(&page, pass ? m : NULL, NULL, 0);
        for (size_t i = 0; i < SQ_ARRAY_LEN(families); i++) {
            char help[160];
            snprintf(help, sizeof help, "# HELP %s ", families[i]);
            assert_non_null(strstr(page.data, help));
        }
        assert_non_null(strstr(page.data, "# TYPE sequin_http_request_duration_seconds "
                                          "histogram\n"));
        assert_non_null(strstr(page.data, "# TYPE sequin_consumer_messages_dead gauge\n"));
        assert_non_null(strstr(page.data, "\nsequin_messages_upserted_total 0\n"));
        assert_non_null(strstr(page.data, "\nsequin_postgres_reconnects_total 0\n"));
        assert_null(strstr(page.data, "sequin_http_requests_total{"));
        assert_null(strstr(page.data, "_bucket{"));
    }
    sq_metrics_destroy(m);
    sq_metrics_destroy(NULL);
    sq_buf_free(&page);
}

#define STREAMS_GET_200 "{route=\"/api/streams\",method=\"GET\",status=\"200\""

static void test_known_requests(void **state)
{
    (void)state;
    sq_metrics *m = sq_metrics_create();
    assert_non_null(m);
    sq_buf page = {0};

    const sq_route_desc *list = row("GET", "/api/streams");
    const sq_route_desc *metrics = row("GET", "/metrics");
    record(m, list, "GET", 200, 500);                          /* le 0.001 */
    record(m, list, "GET", 200, 1000);                         /* le 0.001: bounds include */
    record(m, list, "GET", 200, 3000);                         /* le 0.005 */
    record(m, list, "GET", 200, 60200000);                     /* a full long poll: le 120 */
    record(m, list, "GET", 200, 200000000);                    /* +Inf only */
    record(m, list, "GET", 503, 7);                            /* another status: own series */
    record(m, row("POST", "/api/streams"), "POST", 409, 2000); /* same pattern, other method */
    /* one pattern in two rows, two methods: two series */
    record(m, row("PUT", "/api/streams/:s/consumers/:c"), "PUT", 200, 10);
    record(m, row("PATCH", "/api/streams/:s/consumers/:c"), "PATCH", 422, 10);
    record(m, row("GET", "/healthz"), "POST", 200, 10); /* the row's method counts: GET */
    record(m, NULL, "DELETE", 404, 10);                 /* unmatched, a known method */
    record(m, NULL, "BREW", 405, 10);                   /* unmatched, "other" */
    record(m, NULL, "BREWING", 405, 10);                /* same series */
    record(m, NULL, "GET", 400, 10);                    /* unmatched, GET */
    record(m, NULL, "POST", 501, 10);                   /* a coding we do not decode */
    record(m, metrics, "GET", 418, 10);                 /* an unlisted status */
    sq_metrics_request(m, metrics, NULL, 0, 200, 1);    /* no method: the row's */
    sq_metrics_request(NULL, metrics, "GET", 3, 200, 1);

    sq_metrics_add(m, SQ_METRIC_UPSERTED, 7);
    sq_metrics_add(m, SQ_METRIC_UPSERTED, 3);
    sq_metrics_add(m, SQ_METRIC_ACKED, 2);
    sq_metrics_add(m, SQ_METRIC_NACKED, 1);
    sq_metrics_add(m, SQ_METRIC_DEAD, 4);
    sq_metrics_add(m, SQ_METRIC_PG_ERRORS, 5);
    sq_metrics_add(m, SQ_METRIC_PG_RECONNECTS, 6);
    sq_metrics_add(m, SQ_METRIC_COUNTER_COUNT, 100); /* ignored */
    sq_metrics_add(NULL, SQ_METRIC_UPSERTED, 100);   /* ignored */
    sq_delivery d[4] = {
        {.deliver_count = 1}, {.deliver_count = 2}, {.deliver_count = 1}, {.deliver_count = 5}};
    sq_metrics_deliveries(m, d, 4);
    sq_metrics_deliveries(m, d, 0);
    sq_metrics_deliveries(NULL, d, 4);

    render(&page, m, NULL, 0);
    const char *p = page.data;
    assert_true(value_of(p, "sequin_messages_upserted_total") == 10);
    assert_true(value_of(p, "sequin_messages_delivered_total") == 4);
    assert_true(value_of(p, "sequin_messages_redelivered_total") == 2);
    assert_true(value_of(p, "sequin_messages_acked_total") == 2);
    assert_true(value_of(p, "sequin_messages_nacked_total") == 1);
    assert_true(value_of(p, "sequin_messages_dead_total") == 4);
    assert_true(value_of(p, "sequin_postgres_errors_total") == 5);
    assert_true(value_of(p, "sequin_postgres_reconnects_total") == 6);

    assert_true(value_of(p, "sequin_http_requests_total" STREAMS_GET_200 "}") == 5);
    const char *h = "sequin_http_request_duration_seconds";
    static const struct {
        const char *le;
        double count;
    } want[] = {{"0.001", 2}, {"0.0025", 2}, {"0.005", 3}, {"1", 3},
                {"60", 3},    {"120", 4},    {"+Inf", 5}};
    for (size_t i = 0; i < SQ_ARRAY_LEN(want); i++) {
        char series[256];
        snprintf(series, sizeof series, "%s_bucket" STREAMS_GET_200 ",le=\"%s\"}", h, want[i].le);
        if (value_of(p, series) != want[i].count)
            fail_msg("%s is %g, not %g", series, value_of(p, series), want[i].count);
    }
    /* The sum in seconds, exact to the microsecond: 0.0005 + 0.001 + 0.003 + 60.2 + 200. */
    const char *sum = line_of(p, "sequin_http_request_duration_seconds_sum" STREAMS_GET_200 "}");
    assert_non_null(sum);
    assert_memory_equal(strchr(sum, ' '), " 260.204500\n", 12);
    assert_true(value_of(p, "sequin_http_request_duration_seconds_count" STREAMS_GET_200 "}") == 5);

    static const struct {
        const char *series;
        double count;
    } others[] = {
        {"{route=\"/api/streams\",method=\"GET\",status=\"503\"}", 1},
        {"{route=\"/api/streams\",method=\"POST\",status=\"409\"}", 1},
        {"{route=\"/api/streams/:s/consumers/:c\",method=\"PUT\",status=\"200\"}", 1},
        {"{route=\"/api/streams/:s/consumers/:c\",method=\"PATCH\",status=\"422\"}", 1},
        {"{route=\"/healthz\",method=\"GET\",status=\"200\"}", 1},
        {"{route=\"unmatched\",method=\"DELETE\",status=\"404\"}", 1},
        {"{route=\"unmatched\",method=\"other\",status=\"405\"}", 2},
        {"{route=\"unmatched\",method=\"GET\",status=\"400\"}", 1},
        {"{route=\"unmatched\",method=\"POST\",status=\"501\"}", 1},
        {"{route=\"/metrics\",method=\"GET\",status=\"other\"}", 1},
        {"{route=\"/metrics\",method=\"GET\",status=\"200\"}", 1},
    };
    int series = 1;
    for (size_t i = 0; i < SQ_ARRAY_LEN(others); i++, series++) {
        char name[256];
        snprintf(name, sizeof name, "sequin_http_requests_total%s", others[i].series);
        if (value_of(p, name) != others[i].count)
            fail_msg("%s is %g, not %g", name, value_of(p, name), others[i].count);
        snprintf(name, sizeof name, "sequin_http_request_duration_seconds_count%s",
                 others[i].series);
        assert_true(value_of(p, name) == others[i].count);
    }
    /* Nothing else was counted: one requests_total line per series above. */
    int lines = 0;
    for (const char *q = p; (q = strstr(q, "\nsequin_http_requests_total{")) != NULL; q++)
        lines++;
    assert_int_equal(lines, series);

    sq_metrics_destroy(m);
    sq_buf_free(&page);
}

/* Replaces the captures of a route pattern with values, giving a path the router matches. */
static void path_of(const char *pattern, char *out, size_t outlen)
{
    size_t n = 0;
    for (const char *p = pattern; *p != '\0' && n + 8 < outlen;) {
        if (*p == ':') {
            const char *end = strchr(p, '/');
            n += (size_t)snprintf(out + n, outlen - n, "x%c", p[1]);
            p = end != NULL ? end : p + strlen(p);
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
}

/* Every row of the router's table has a series of its own, named after its pattern and
 * method. */
static void test_every_route_has_its_series(void **state)
{
    (void)state;
    sq_metrics *m = sq_metrics_create();
    assert_non_null(m);
    sq_buf page = {0};
    for (size_t r = 0; r < sq_routes_count; r++) {
        const sq_route_desc *want = &sq_routes[r];
        char path[128];
        path_of(want->pattern, path, sizeof path);
        sq_route_match match;
        const char *allow = NULL;
        sq_http_slice ms = {want->method, strlen(want->method)};
        sq_http_slice ps = {path, strlen(path)};
        if (sq_router_match(ms, ps, &match, &allow) != SQ_OK || match.desc != want)
            fail_msg("%s %s does not reach its row", want->method, path);
        record(m, match.desc, want->method, 200, 1);
        render(&page, m, NULL, 0);
        char series[256];
        snprintf(series, sizeof series,
                 "sequin_http_requests_total{route=\"%s\",method=\"%s\",status=\"200\"}",
                 want->pattern, want->method);
        if (value_of(page.data, series) != 1)
            fail_msg("%s %s has no series of its own: %s is %g", want->method, path, series,
                     value_of(page.data, series));
    }
    sq_metrics_destroy(m);
    sq_buf_free(&page);
}

/* ---- several processes ---------------------------------------------------------------------- */

enum {
    CHILDREN = 4,
    ROUNDS = 100000
};

/* Four processes record at once; the totals are exact, and pages rendered meanwhile are
 * valid and self-consistent. */
static void test_concurrent_processes(void **state)
{
    (void)state;
    sq_metrics *m = sq_metrics_create();
    assert_non_null(m);
    const sq_route_desc *ack_row = row("POST", "/api/streams/:s/consumers/:c/ack");
    pid_t kids[CHILDREN];
    for (int k = 0; k < CHILDREN; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            for (int i = 0; i < ROUNDS; i++) {
                sq_metrics_add(m, SQ_METRIC_UPSERTED, 1);
                sq_metrics_add(m, SQ_METRIC_PG_ERRORS, 2);
                sq_metrics_request(m, ack_row, "POST", 4, 200, i % 2 ? 2000 : 40000);
            }
            _exit(0);
        }
    }
    sq_buf page = {0};
    for (int i = 0; i < 20; i++)
        render(&page, m, NULL, 0);
    for (int k = 0; k < CHILDREN; k++) {
        int status = 0;
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    render(&page, m, NULL, 0);
    const char *p = page.data;
    const char *ack = "{route=\"/api/streams/:s/consumers/:c/ack\",method=\"POST\",status=\"200\"";
    char series[256];
    assert_true(value_of(p, "sequin_messages_upserted_total") == CHILDREN * ROUNDS);
    assert_true(value_of(p, "sequin_postgres_errors_total") == 2 * CHILDREN * ROUNDS);
    snprintf(series, sizeof series, "sequin_http_requests_total%s}", ack);
    assert_true(value_of(p, series) == CHILDREN * ROUNDS);
    snprintf(series, sizeof series, "sequin_http_request_duration_seconds_bucket%s,le=\"0.0025\"}",
             ack);
    assert_true(value_of(p, series) == CHILDREN * ROUNDS / 2);
    snprintf(series, sizeof series, "sequin_http_request_duration_seconds_bucket%s,le=\"0.05\"}",
             ack);
    assert_true(value_of(p, series) == CHILDREN * ROUNDS);
    /* 200,000 x 2 ms + 200,000 x 40 ms = 8,400 s. */
    snprintf(series, sizeof series, "sequin_http_request_duration_seconds_sum%s}", ack);
    assert_non_null(line_of(p, series));
    assert_memory_equal(strchr(line_of(p, series), ' '), " 8400.000000\n", 13);
    sq_metrics_destroy(m);
    sq_buf_free(&page);
}

/* ---- consumers --------------------------------------------------------------------------------
 */

static void test_consumer_gauges(void **state)
{
    (void)state;
    sq_consumer stored = {.name = "billing",
                          .available = 12,
                          .delivered = 3,
                          .dead = 1,
                          .oldest_available_age_s = 42.25};
    sq_metrics_consumer cs[3];
    cs[0] = sq_metrics_consumer_from("orders", &stored);
    assert_string_equal(cs[0].stream, "orders");
    assert_string_equal(cs[0].consumer, "billing");
    assert_true(cs[0].available == 12 && cs[0].delivered == 3 && cs[0].dead == 1);
    assert_true(cs[0].oldest_available_age_s == 42.25);
    /* Names with the three characters the format escapes; nothing available: no age. */
    cs[1] = (sq_metrics_consumer){"we\"ird", "back\\slash\nnew", 0, 0, 7, -1};
    cs[2] = (sq_metrics_consumer){"orders", "idle", 0, 0, 0, -1};

    sq_buf page = {0};
    render(&page, NULL, cs, 3);
    const char *p = page.data;
    assert_true(
        value_of(p, "sequin_consumer_messages_available{stream=\"orders\",consumer=\"billing\"}") ==
        12);
    assert_true(
        value_of(p, "sequin_consumer_messages_delivered{stream=\"orders\",consumer=\"billing\"}") ==
        3);
    assert_true(
        value_of(p, "sequin_consumer_messages_dead{stream=\"orders\",consumer=\"billing\"}") == 1);
    const char *age = line_of(
        p, "sequin_consumer_oldest_available_age_seconds{stream=\"orders\",consumer=\"billing\"}");
    assert_non_null(age);
    assert_memory_equal(strchr(age, ' '), " 42.250\n", 8);
    assert_true(value_of(p, "sequin_consumer_messages_dead{stream=\"we\\\"ird\",consumer="
                            "\"back\\\\slash\\nnew\"}") == 7);
    assert_true(
        value_of(p, "sequin_consumer_messages_available{stream=\"orders\",consumer=\"idle\"}") ==
        0);
    /* -1 is "nothing available": the age has no sample, the other gauges have theirs. */
    assert_null(strstr(p, "sequin_consumer_oldest_available_age_seconds{stream=\"orders\","
                          "consumer=\"idle\"}"));
    assert_null(strstr(p, "sequin_consumer_oldest_available_age_seconds{stream=\"we"));
    int ages = 0;
    for (const char *q = p; (q = strstr(q, "\nsequin_consumer_oldest_available_age_seconds{")); q++)
        ages++;
    assert_int_equal(ages, 1);
    /* Each raw line stays one line: no newline inside a label value. */
    assert_null(strstr(p, "slash\nnew"));
    sq_buf_free(&page);
}

/* ---- sources ----------------------------------------------------------------------------------
 */

static void test_source_series(void **state)
{
    (void)state;
    /* Streaming, with a report; one that failed; one that never reported. */
    sq_source stored[3] = {
        {.name = "mydb",
         .has_status = true,
         .state = "streaming",
         .lag_bytes = 56,
         .lag_seconds = 1.5,
         .rows_streamed = 1042,
         .errors = 2,
         .attempts = 3},
        {.name = "we\"ird",
         .has_status = true,
         .state = "error",
         .lag_bytes = -1,
         .lag_seconds = 0,
         .rows_streamed = 0,
         .errors = 7,
         .attempts = 1},
        {.name = "new",
         .lag_bytes = -1,
         .lag_seconds = -1,
         .rows_streamed = -1,
         .errors = -1,
         .attempts = -1},
    };
    sq_metrics_source ss[3];
    for (size_t i = 0; i < 3; i++)
        ss[i] = sq_metrics_source_from(&stored[i]);
    assert_true(ss[0].up && !ss[1].up && !ss[2].up);
    assert_true(ss[0].reconnects == 2 && ss[1].reconnects == 0 && ss[2].reconnects == 0);
    assert_true(ss[2].rows == 0 && ss[2].errors == 0 && ss[2].lag_seconds < 0);
    stored[0].state = "backfilling";
    assert_true(sq_metrics_source_from(&stored[0]).up);

    sq_buf page = {0};
    render_sources(&page, ss, 3);
    const char *p = page.data;
    assert_non_null(strstr(p, "# TYPE sequin_source_up gauge\n"));
    assert_non_null(strstr(p, "# TYPE sequin_source_rows_streamed_total counter\n"));
    assert_true(value_of(p, "sequin_source_up{source=\"mydb\"}") == 1);
    assert_true(value_of(p, "sequin_source_up{source=\"new\"}") == 0);
    assert_true(value_of(p, "sequin_source_lag_bytes{source=\"mydb\"}") == 56);
    assert_memory_equal(strchr(line_of(p, "sequin_source_lag_seconds{source=\"mydb\"}"), ' '),
                        " 1.500\n", 7);
    assert_true(value_of(p, "sequin_source_rows_streamed_total{source=\"mydb\"}") == 1042);
    assert_true(value_of(p, "sequin_source_errors_total{source=\"we\\\"ird\"}") == 7);
    assert_true(value_of(p, "sequin_source_reconnects_total{source=\"mydb\"}") == 2);
    assert_true(value_of(p, "sequin_source_lag_seconds{source=\"we\\\"ird\"}") == 0);
    /* What is not known has no sample, rather than a made-up one. */
    assert_null(strstr(p, "sequin_source_lag_bytes{source=\"we"));
    assert_null(strstr(p, "sequin_source_lag_bytes{source=\"new\"}"));
    assert_null(strstr(p, "sequin_source_lag_seconds{source=\"new\"}"));
    assert_true(value_of(p, "sequin_source_errors_total{source=\"new\"}") == 0);
    sq_buf_free(&page);
}

/* The checker itself rejects what it is there to catch (or the tests above prove nothing). */
static void test_checker_rejects(void **state)
{
    (void)state;
    struct sample s;
    assert_null(parse_sample("a_total{x=\"1\"} 3", &s));
    assert_non_null(parse_sample("a_total{x=\"1\"}  3", &s));
    assert_non_null(parse_sample("a_total{x=\"a\nb\"} 3", &s));
    assert_non_null(parse_sample("a_total{x=\"a\\tb\"} 3", &s));
    assert_non_null(parse_sample("a_total{x=1} 3", &s));
    assert_non_null(parse_sample("a_total 3x", &s));
    assert_non_null(parse_sample("9a 3", &s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_page),
        cmocka_unit_test(test_known_requests),
        cmocka_unit_test(test_every_route_has_its_series),
        cmocka_unit_test(test_concurrent_processes),
        cmocka_unit_test(test_consumer_gauges),
        cmocka_unit_test(test_source_series),
        cmocka_unit_test(test_checker_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
