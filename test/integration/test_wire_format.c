/* The wire format of SPEC section 4 against the real sequind: every route called once, and the
 * whole JSON body of each answer held to its shape, so that clients written for the original
 * Sequin API read it unmodified. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sequin/common.h"
#include "sequin/json.h"
#include "sequin/router.h"

#include "api_client.h"
#include "sequind_harness.h"

/* ---- shapes ---------------------------------------------------------------------------------
 * A shape is the whole of a JSON value, written compactly: `{name:SHAPE name:SHAPE}` is an
 * object with exactly these members (any order, none more, none twice), `[SHAPE]` a non-empty
 * array whose every element has SHAPE, `[]` an empty array; `s` a string, `S` a string or null,
 * `n` an integer, `N` an integer or null, `F` a number or null, `t` true, `b` true or false.
 */

#define STREAM                                                                                     \
    "{id:s name:s stats:{message_count:n consumer_count:n storage_size:n} inserted_at:s "          \
    "updated_at:s}"
/* A webhook source (docs/sources.md, "Webhook source"): its settings, a secret as "****" or
 * null; no node runs it, so its status stays null. */
#define WEBHOOK_SOURCE                                                                             \
    "{id:s name:s kind:s stream:s webhook:{key_field:S key_header:S secret:S secret_header:S "     \
    "hmac_secret:S hmac_header:S} managed_by:s status:{state:S error:S node:S "                    \
    "last_commit_lsn:S last_commit_at:S received_lsn:S lag_bytes:N lag_seconds:F "                 \
    "rows_streamed:N reported_at:S} backfill_progress:[] inserted_at:s updated_at:s}"
#define WEBHOOK_POSTED "{key:s published:n}"
#define MESSAGE "{key:s stream_id:s data:s data_hash:s seq:n inserted_at:s updated_at:s}"
#define CONSUMER                                                                                   \
    "{id:s name:s stream_id:s filter_key_pattern:s ack_wait_ms:n max_ack_pending:n "               \
    "max_deliver:N deliver_policy:s managed_by:s kind:s stats:{available:n delivered:n dead:n} "   \
    "inserted_at:s updated_at:s}"
/* A source before a backfill has begun (docs/api.md): its status's members are null until the
 * node running it reports. */
#define SOURCE                                                                                     \
    "{id:s name:s kind:s stream:s postgres:{url:s slot:s publication:s tables:[s]} key_format:s "  \
    "backfill:b managed_by:s status:{state:S error:S node:S last_commit_lsn:S last_commit_at:S "   \
    "received_lsn:S lag_bytes:N lag_seconds:F rows_streamed:N reported_at:S} "                     \
    "backfill_progress:[] inserted_at:s updated_at:s}"
#define INFO_MEMBERS "ack_id:s state:s deliver_count:n last_delivered_at:S not_visible_until:S"
#define LIST(item) "{data:[" item "]}"

#define DELIVERY "{ack_id:s message:" MESSAGE "}"
#define CONSUMER_MESSAGE "{message:" MESSAGE " info:{" INFO_MEMBERS "}}"
#define PAIR "{consumer_id:s consumer_name:s " INFO_MEMBERS "}"
#define CONSUMER_INFO "{data:{message:" MESSAGE " consumer_info:[" PAIR "]}}"
#define PUBLISHED "{data:{published:n}}"
#define SUCCESS "{success:t}"
#define DELETED_ID "{id:s deleted:t}"
#define DELETED "{deleted:t}"
#define REDRIVEN "{redriven:n}"
#define ERROR "{summary:s}"

/* Where a shape begins to where it ends, one past its last character. */
static const char *shape_end(const char *s)
{
    int depth = 0;
    if (*s != '{' && *s != '[')
        return s + 1;
    do {
        depth += (*s == '{' || *s == '[') - (*s == '}' || *s == ']');
        s++;
    } while (depth > 0);
    return s;
}

static bool match(const sq_json *doc, int tok, const char *shape, const char *at, char *why,
                  size_t n);

/* The members of object `tok` against the object shape at `shape`. */
static bool match_members(const sq_json *doc, int tok, const char *shape, const char *at, char *why,
                          size_t n)
{
    int want = 0;
    for (const char *m = shape + 1; *m != '}'; want++) {
        const char *colon = strchr(m, ':');
        char name[64], sub[256];
        int v = -1;
        snprintf(name, sizeof name, "%.*s", (int)(colon - m), m);
        snprintf(sub, sizeof sub, "%s.%s", at, name);
        if (sq_json_lookup(doc, tok, name, &v) != 0 || v < 0) {
            snprintf(why, n, "%s: missing (or there twice)", sub);
            return false;
        }
        if (!match(doc, v, colon + 1, sub, why, n))
            return false;
        m = shape_end(colon + 1);
        m += *m == ' ';
    }
    if (sq_json_count(doc, tok) != want) {
        snprintf(why, n, "%s: %d members, not the %d of %.*s", at, sq_json_count(doc, tok), want,
                 (int)(shape_end(shape) - shape), shape);
        return false;
    }
    return true;
}

/* Whether value `tok` has the shape at `shape`; else why not, naming its path from `at`. */
static bool match(const sq_json *doc, int tok, const char *shape, const char *at, char *why,
                  size_t n)
{
    int type = sq_json_type_of(doc, tok);
    int64_t i;
    switch (*shape) {
    case 's':
    case 'S':
        if (type == SQ_JSON_STRING || (*shape == 'S' && type == SQ_JSON_NULL))
            return true;
        break;
    case 'n':
    case 'N':
        if ((type == SQ_JSON_NUMBER && sq_json_get_int64(doc, tok, &i) == 0) ||
            (*shape == 'N' && type == SQ_JSON_NULL))
            return true;
        break;
    case 'F':
        if (type == SQ_JSON_NUMBER || type == SQ_JSON_NULL)
            return true;
        break;
    case 't':
    case 'b':
        if (type == SQ_JSON_TRUE || (*shape == 'b' && type == SQ_JSON_FALSE))
            return true;
        break;
    case '{':
        if (type == SQ_JSON_OBJECT)
            return match_members(doc, tok, shape, at, why, n);
        break;
    case '[': {
        int k = 0, count = sq_json_count(doc, tok);
        if (type != SQ_JSON_ARRAY)
            break;
        if ((shape[1] == ']') != (count == 0)) {
            snprintf(why, n, "%s: %d elements, wanted %s", at, count,
                     shape[1] == ']' ? "none" : "some");
            return false;
        }
        for (int e = sq_json_first(doc, tok); e >= 0; e = sq_json_next(doc, e), k++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s[%d]", at, k);
            if (!match(doc, e, shape + 1, sub, why, n))
                return false;
        }
        return true;
    }
    }
    snprintf(why, n, "%s: wanted %.*s", at, (int)(shape_end(shape) - shape), shape);
    return false;
}

/* Whether JSON text `body` has the shape; else why not. */
static bool has_shape(const char *body, const char *shape, char *why, size_t n)
{
    sq_json doc = {0};
    sq_json_error jerr;
    if (sq_json_parse(&doc, body, strlen(body), 0, &jerr) != 0) {
        snprintf(why, n, "not JSON: %s", jerr.text);
        return false;
    }
    bool ok = match(&doc, 0, shape, "body", why, n);
    sq_json_free(&doc);
    return ok;
}

/* One request: asserts the status, a JSON answer, and its shape. Returns the body (free it). */
static char *wire(int port, const char *method, const char *target, const char *body, int status,
                  const char *shape)
{
    char why[512];
    char *got = api_expect_body(port, method, target, body, status, NULL);
    if (!has_shape(got, shape, why, sizeof why))
        fail_msg("%s %s answered\n%s\n%s", method, target, got, why);
    return got;
}

static void wire_ok(int port, const char *method, const char *target, const char *body,
                    const char *shape)
{
    free(wire(port, method, target, body, 200, shape));
}

/* ---- the tests ------------------------------------------------------------------------------ */

/* One server for the tests that need one: each works in a stream of its own. One store
 * connection per worker, so that concurrent requests queue and share calls. */
static int setup_server(void **state)
{
    *state = api_serve("  connections_per_worker: 1\nstreams:\n  - name: default\n");
    return 0;
}

/* The shape checks themselves: each refuses the answer its route gave before the wire format
 * followed SPEC 4 (single objects, acks, deletes and redrive wrapped in {"data": ...}), and
 * takes the answer it gives now. */
static void test_shapes_refuse_the_wrapped_answers(void **state)
{
    (void)state; /* needs no server */
    static const char stream[] =
        "{\"id\":\"5b1e\",\"name\":\"w\",\"stats\":{\"message_count\":1,\"consumer_count\":0,"
        "\"storage_size\":8192},\"inserted_at\":\"t\",\"updated_at\":\"t\"}";
    static const char message[] =
        "{\"key\":\"w.a\",\"stream_id\":\"5b1e\",\"data\":\"x\",\"data_hash\":\"h\",\"seq\":7,"
        "\"inserted_at\":\"t\",\"updated_at\":\"t\"}";
    static const char consumer[] =
        "{\"id\":\"c1\",\"name\":\"c\",\"stream_id\":\"5b1e\",\"filter_key_pattern\":\"w.>\","
        "\"ack_wait_ms\":30000,\"max_ack_pending\":10000,\"max_deliver\":null,"
        "\"deliver_policy\":\"all\",\"managed_by\":\"api\",\"kind\":\"pull\",\"stats\":"
        "{\"available\":1,\"delivered\":0,\"dead\":0},\"inserted_at\":\"t\",\"updated_at\":\"t\"}";
    static const struct {
        const char *shape, *now, *member; /* member: the old answer is {"data": {member}} */
    } cases[] = {
        {STREAM, stream, NULL},
        {MESSAGE, message, NULL},
        {CONSUMER, consumer, NULL},
        {SUCCESS, "{\"success\":true}", "\"success\":true"},
        {DELETED_ID, "{\"id\":\"5b1e\",\"deleted\":true}", "\"id\":\"5b1e\",\"deleted\":true"},
        {DELETED, "{\"deleted\":true}", "\"deleted\":true"},
        {REDRIVEN, "{\"redriven\":2}", "\"redriven\":2"},
    };
    char old[1024], why[512];
    for (size_t i = 0; i < SQ_ARRAY_LEN(cases); i++) {
        if (!has_shape(cases[i].now, cases[i].shape, why, sizeof why))
            fail_msg("%s refused %s: %s", cases[i].shape, cases[i].now, why);
        if (cases[i].member != NULL)
            snprintf(old, sizeof old, "{\"data\":{%s}}", cases[i].member);
        else
            snprintf(old, sizeof old, "{\"data\":%s}", cases[i].now);
        if (has_shape(old, cases[i].shape, why, sizeof why))
            fail_msg("%s took the old answer %s", cases[i].shape, old);
    }
    /* And the ways a shape is strict: a member more, a member less, a wrong type, a list not
     * wrapped, an empty list where items were wanted. */
    assert_false(has_shape("{\"success\":true,\"data\":1}", SUCCESS, why, sizeof why));
    assert_false(has_shape("{}", SUCCESS, why, sizeof why));
    assert_false(has_shape("{\"success\":\"true\"}", SUCCESS, why, sizeof why));
    assert_false(has_shape("[]", LIST(STREAM), why, sizeof why));
    assert_false(has_shape("{\"data\":[]}", LIST(STREAM), why, sizeof why));
    assert_true(has_shape("{\"data\":[]}", "{data:[]}", why, sizeof why));
}

/* Every route once, in an order that gives each something to answer about. */
static void test_every_route(void **state)
{
    struct server *s = *state;
    int port = s->port;
    char stream_id[64], consumer_id[64], source_id[64], a1[64], a2[64], body[512], target[256];

    /* Streams. */
    char *got = wire(port, "POST", "/api/streams", "{\"name\":\"wire\"}", 200, STREAM);
    json_str(got, "id", stream_id, sizeof stream_id);
    free(got);
    wire_ok(port, "GET", "/api/streams", NULL, LIST(STREAM));
    wire_ok(port, "GET", "/api/streams/wire", NULL, STREAM);
    snprintf(target, sizeof target, "/api/streams/%s", stream_id);
    wire_ok(port, "GET", target, NULL, STREAM);

    /* Messages. */
    wire_ok(port, "POST", "/api/streams/wire/messages",
            "{\"messages\":[{\"key\":\"w.a\",\"data\":\"1\"},{\"key\":\"w.b\",\"data\":\"2\"},"
            "{\"key\":\"w.c\",\"data\":\"3\"}]}",
            PUBLISHED);
    wire_ok(port, "GET", "/api/streams/wire/messages", NULL, LIST(MESSAGE));
    wire_ok(port, "GET", "/api/streams/wire/messages?sort=seq_desc&limit=1&key_pattern=w.*", NULL,
            LIST(MESSAGE));
    wire_ok(port, "GET", "/api/streams/wire/messages/w.a", NULL, MESSAGE);

    /* Consumers. */
    got = wire(port, "POST", "/api/streams/wire/consumers",
               "{\"name\":\"c\",\"filter_key_pattern\":\"w.>\"}", 200, CONSUMER);
    json_str(got, "id", consumer_id, sizeof consumer_id);
    free(got);
    wire_ok(port, "GET", "/api/streams/wire/consumers", NULL, LIST(CONSUMER));
    wire_ok(port, "GET", "/api/streams/wire/consumers/c", NULL, CONSUMER);
    wire_ok(port, "PATCH", "/api/streams/wire/consumers/c", "{\"max_deliver\":5}", CONSUMER);
    wire_ok(port, "PUT", "/api/streams/wire/consumers/c", "{\"max_ack_pending\":100}", CONSUMER);

    /* Receiving and settling. */
    got = wire(port, "POST", "/api/streams/wire/consumers/c/receive", "{\"batch_size\":2}", 200,
               LIST(DELIVERY));
    json_str(got, "ack_id", a1, sizeof a1);
    json_str(strstr(got, a1) + strlen(a1), "ack_id", a2, sizeof a2);
    free(got);
    wire_ok(port, "GET", "/api/streams/wire/consumers/c/receive?batch_size=1", NULL,
            LIST(DELIVERY));
    /* Nothing left: the long poll runs out and answers an empty list. */
    wire_ok(port, "GET", "/api/streams/wire/consumers/c/receive?wait_for=50", NULL, "{data:[]}");
    wire_ok(port, "GET", "/api/streams/wire/consumers/c/messages?state=delivered", NULL,
            LIST(CONSUMER_MESSAGE));
    wire_ok(port, "GET", "/api/streams/wire/messages/w.a/consumer_info", NULL, CONSUMER_INFO);
    snprintf(body, sizeof body, "{\"ack_ids\":[\"%s\"]}", a1);
    wire_ok(port, "POST", "/api/streams/wire/consumers/c/extend", body, SUCCESS);
    wire_ok(port, "POST", "/api/streams/wire/consumers/c/ack", body, SUCCESS);
    snprintf(body, sizeof body, "{\"ack_ids\":[\"%s\"],\"delay_ms\":0}", a2);
    wire_ok(port, "POST", "/api/streams/wire/consumers/c/nack", body, SUCCESS);
    wire_ok(port, "POST", "/api/streams/wire/consumers/c/redrive", "{}", REDRIVEN);

    /* Sources: one that cannot connect (a port nobody listens on) answers all the same. */
    got = wire(port, "POST", "/api/sources",
               "{\"name\":\"wire_src\",\"stream\":\"wire\",\"postgres\":{\"url\":"
               "\"postgres://wire:secret@127.0.0.1:1/nowhere\",\"tables\":[\"public.t\"]},"
               "\"backfill\":false}",
               200, SOURCE);
    json_str(got, "id", source_id, sizeof source_id);
    assert_non_null(strstr(got, "\"postgres://wire:****@127.0.0.1:1/nowhere\""));
    assert_null(strstr(got, "secret"));
    free(got);
    wire_ok(port, "GET", "/api/sources", NULL, LIST(SOURCE));
    wire_ok(port, "GET", "/api/sources/wire_src", NULL, SOURCE);
    snprintf(target, sizeof target, "/api/sources/%s", source_id);
    wire_ok(port, "GET", target, NULL, SOURCE);
    got = wire(port, "DELETE", "/api/sources/wire_src", NULL, 200, DELETED_ID);
    assert_string_equal(json_str(got, "id", body, sizeof body), source_id);
    free(got);
    /* A webhook: its object, a POST to it, its refusals. */
    got = wire(port, "POST", "/api/sources",
               "{\"name\":\"wire_hook\",\"stream\":\"wire\",\"webhook\":{\"key_field\":\"id\"}}",
               200, WEBHOOK_SOURCE);
    free(got);
    wire_ok(port, "GET", "/api/sources/wire_hook", NULL, WEBHOOK_SOURCE);
    wire_ok(port, "POST", "/api/webhook/wire_hook", "{\"id\":\"w1\"}", WEBHOOK_POSTED);
    free(wire(port, "POST", "/api/webhook/gone", "{}", 404, ERROR));
    free(wire(port, "DELETE", "/api/sources/wire_hook", NULL, 200, DELETED_ID));

    /* Deletes: the id of what went. */
    wire_ok(port, "DELETE", "/api/streams/wire/messages/w.b", NULL, DELETED);
    got = wire(port, "DELETE", "/api/streams/wire/consumers/c", NULL, 200, DELETED_ID);
    assert_string_equal(json_str(got, "id", body, sizeof body), consumer_id);
    free(got);
    got = wire(port, "DELETE", "/api/streams/wire", NULL, 200, DELETED_ID);
    assert_string_equal(json_str(got, "id", body, sizeof body), stream_id);
    free(got);
}

/* Errors are {"summary"}, and a 422 adds its validation_errors; the operational routes keep
 * their own answers. */
static void test_errors_and_operations(void **state)
{
    struct server *s = *state;
    int port = s->port;

    wire_ok(port, "GET", "/api/streams/default", NULL, STREAM);
    free(wire(port, "GET", "/api/streams/gone", NULL, 404, ERROR));
    free(wire(port, "GET", "/api/streams/default/messages/no.such", NULL, 404, ERROR));
    free(wire(port, "GET", "/api/streams/default/consumers/none", NULL, 404, ERROR));
    free(wire(port, "POST", "/api/streams", "{\"name\":", 400, ERROR));
    free(wire(port, "POST", "/api/streams", "{\"name\":\"no spaces\"}", 422,
              "{summary:s validation_errors:{name:[s]}}"));
    free(wire(port, "POST", "/api/streams/default/consumers/none/ack", "{\"ack_ids\":[\"x\"]}", 400,
              ERROR));
    free(wire(port, "DELETE", "/api/streams/default/consumers", NULL, 405, ERROR));
    free(wire(port, "GET", "/api/sources/gone", NULL, 404, ERROR));
    free(wire(port, "DELETE", "/api/sources/gone", NULL, 404, ERROR));
    free(wire(port, "POST", "/api/sources",
              "{\"name\":\"s\",\"stream\":\"default\",\"postgres\":{\"slot\":\"x\"}}", 400, ERROR));
    free(wire(port, "POST", "/api/sources",
              "{\"name\":\"s\",\"stream\":\"gone\",\"postgres\":{\"url\":\"x\"}}", 404, ERROR));
    free(wire(port, "POST", "/api/sources",
              "{\"name\":\"a b\",\"stream\":\"default\",\"postgres\":{}}", 422,
              "{summary:s validation_errors:{name:[s]}}"));
    free(wire(port, "GET", "/api/nowhere", NULL, 404, ERROR));

    char *ok = wire(port, "GET", "/healthz", NULL, 200, "{status:s}");
    assert_string_equal(ok, "{\"status\":\"ok\"}");
    free(ok);
    ok = wire(port, "GET", "/readyz", NULL, 200, "{status:s}");
    assert_string_equal(ok, "{\"status\":\"ok\"}");
    free(ok);
    api_resp r = api_call(port, "GET", "/metrics", NULL);
    assert_int_equal(r.status, 200);
    if (strstr(r.head, "\r\nContent-Type: text/plain") == NULL || r.body[0] != '#')
        fail_msg("/metrics is not Prometheus text: %s%s", r.head, r.body);
    api_resp_free(&r);
}

/* Concurrent upserts, receives and acks, so that some queue behind the one store connection
 * and share a call (group commit): each answers in its own shape all the same. */
#define CONCURRENT 8

static void concurrently(int port, const char *method, const char *const *targets,
                         char *const *bodies, const char *shape, char **out)
{
    api_conn *c = calloc(CONCURRENT, sizeof *c);
    char why[512];
    assert_non_null(c);
    for (int i = 0; i < CONCURRENT; i++)
        api_open(&c[i], port, EVENT_MS);
    for (int i = 0; i < CONCURRENT; i++)
        api_send(&c[i], method, targets[i], bodies[i], NULL);
    for (int i = 0; i < CONCURRENT; i++) {
        api_resp r = api_read(&c[i]);
        if (r.status != 200 || !has_shape(r.body, shape, why, sizeof why))
            fail_msg("%s %s: %d %s\n%s", method, targets[i], r.status, r.body, why);
        if (out != NULL)
            out[i] = r.body;
        else
            api_resp_free(&r);
        api_close(&c[i]);
    }
    free(c);
}

static void test_shared_calls(void **state)
{
    struct server *s = *state;
    const char *upsert[CONCURRENT], *receive[CONCURRENT], *ack[CONCURRENT];
    char *bodies[CONCURRENT], *got[CONCURRENT], ack_id[64];

    wire_ok(s->port, "POST", "/api/streams", "{\"name\":\"shared\"}", STREAM);
    wire_ok(s->port, "POST", "/api/streams/shared/consumers",
            "{\"name\":\"c\",\"filter_key_pattern\":\">\"}", CONSUMER);
    for (int i = 0; i < CONCURRENT; i++) {
        upsert[i] = "/api/streams/shared/messages";
        receive[i] = "/api/streams/shared/consumers/c/receive";
        ack[i] = "/api/streams/shared/consumers/c/ack";
        bodies[i] = malloc(128);
        assert_non_null(bodies[i]);
        snprintf(bodies[i], 128, "{\"messages\":[{\"key\":\"s.k%d\",\"data\":\"x\"}]}", i);
    }
    concurrently(s->port, "POST", upsert, bodies, PUBLISHED, NULL);
    for (int i = 0; i < CONCURRENT; i++)
        snprintf(bodies[i], 128, "{\"batch_size\":1,\"wait_for\":%d}", EVENT_MS / 2);
    concurrently(s->port, "POST", receive, bodies, LIST(DELIVERY), got);
    for (int i = 0; i < CONCURRENT; i++) {
        snprintf(bodies[i], 128, "{\"ack_ids\":[\"%s\"]}",
                 json_str(got[i], "ack_id", ack_id, sizeof ack_id));
        free(got[i]);
    }
    concurrently(s->port, "POST", ack, bodies, SUCCESS, NULL);
    for (int i = 0; i < CONCURRENT; i++)
        free(bodies[i]);
    wire_ok(s->port, "DELETE", "/api/streams/shared", NULL, DELETED_ID);
}

/* "Every route" above is the router's table, not this file's list: each row of routes.c has
 * answered 200 in the tests before this one (the server counts requests by row, /metrics). */
static void test_every_row_answered(void **state)
{
    struct server *s = *state;
    char series[256];
    api_resp r = api_call(s->port, "GET", "/metrics", NULL);
    assert_int_equal(r.status, 200);
    for (size_t i = 0; i < sq_routes_count; i++) {
        snprintf(series, sizeof series,
                 "sequin_http_requests_total{route=\"%s\",method=\"%s\",status=\"200\"}",
                 sq_routes[i].pattern, sq_routes[i].method);
        if (strstr(r.body, series) == NULL)
            fail_msg("%s %s: never answered 200 here", sq_routes[i].method, sq_routes[i].pattern);
    }
    api_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes_refuse_the_wrapped_answers),
        cmocka_unit_test(test_every_route),
        cmocka_unit_test(test_errors_and_operations),
        cmocka_unit_test(test_shared_calls),
        cmocka_unit_test(test_every_row_answered),
    };
    return cmocka_run_group_tests(tests, setup_server, teardown_server);
}
