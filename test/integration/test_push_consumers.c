/* Push consumers run by the real sequind (issue 15): a consumer created over the API with an
 * http_endpoint has every message POSTed to the test endpoint and acked by its 200s, a key's
 * versions never arrive out of order, and a kill -9 of the pushers process loses nothing: the
 * master respawns it and the leases of what was in flight run out and go again. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "api_client.h"
#include "endpoint.h"
#include "pg_fixture.h"
#include "sequind_harness.h"

#define KEYS 200
#define WAIT_MS 30000

/* Push consumer `name` of stream default for keys k.>, to `e`, with lease `ack_wait_ms`. */
static void make_hook(const struct server *s, const char *name, const endpoint *e, int ack_wait_ms)
{
    char body[512];
    api_format(body, sizeof body,
               "{\"name\":\"%s\",\"filter_key_pattern\":\"k.>\",\"kind\":\"push\","
               "\"ack_wait_ms\":%d,\"max_ack_pending\":1000,"
               "\"http_endpoint\":{\"url\":\"http://127.0.0.1:%d/hook\"}}",
               name, ack_wait_ms, e->port);
    api_expect(s->port, "POST", "/api/streams/default/consumers", body, 200, "\"kind\":\"push\"");
}

/* The version in a request's data ("data":"vN"), -1 when there is none. */
static int version_of(const ep_request *r)
{
    const char *v = strstr(r->body, "\"data\":\"v");
    return v ? atoi(v + 9) : -1;
}

/* The key number of a request ("key":"k.N"). */
static int key_of(const ep_request *r)
{
    const char *k = strstr(r->body, "\"key\":\"k.");
    assert_non_null(k);
    return atoi(k + 9);
}

/* Waits until every key's newest version (`want[k]`) has reached the endpoint and the consumer
 * has nothing left unacked; fails when a key's versions arrive out of order. */
static void wait_delivered(const struct server *s, const char *name, endpoint *e, const int *want)
{
    int seen[KEYS];
    size_t read = 0;
    memset(seen, 0, sizeof seen);
    int64_t deadline = now_ms() + WAIT_MS;
    for (;;) {
        for (size_t n = ep_count(e); read < n; read++) {
            ep_request r = ep_get(e, read);
            int k = key_of(&r), v = version_of(&r);
            assert_true(k >= 0 && k < KEYS);
            if (v < seen[k])
                fail_msg("key k.%d: version %d arrived after version %d", k, v, seen[k]);
            seen[k] = v;
            ep_request_free(&r);
        }
        bool all = true;
        for (int k = 0; k < KEYS; k++)
            all = all && seen[k] == want[k];
        if (all) {
            char target[128];
            api_format(target, sizeof target, "/api/streams/default/consumers/%s", name);
            api_resp r = api_call(s->port, "GET", target, NULL);
            bool settled = r.status == 200 && strstr(r.body, "\"available\":0") &&
                           strstr(r.body, "\"delivered\":0");
            api_resp_free(&r);
            if (settled)
                return;
        }
        if (now_ms() > deadline)
            fail_msg("not every message reached the endpoint within %d ms", WAIT_MS);
        sleep_ms(50);
    }
}

/* Upserts version `v` of every key. */
static void upsert_all(const struct server *s, int v, int *want)
{
    for (int k = 0; k < KEYS; k++) {
        char key[16], data[32];
        api_format(key, sizeof key, "k.%d", k);
        api_format(data, sizeof data, "v%d", v);
        api_upsert1(s->port, "default", key, data);
        want[k] = v;
    }
}

/* An endpoint answering as `policy` says (NULL: 200 at once), push consumer `name` to it with
 * lease `ack_wait_ms`, and version `v` of every key upserted. */
static void start_hook(const struct server *s, const char *name, endpoint *e, ep_policy policy,
                       int ack_wait_ms, int v, int *want)
{
    ep_start(e, policy, NULL);
    make_hook(s, name, e, ack_wait_ms);
    upsert_all(s, v, want);
}

static void test_delivers_in_key_order(void **state)
{
    struct server *s = *state;
    endpoint e;
    int want[KEYS];
    start_hook(s, "ordered", &e, NULL, 5000, 1, want);
    upsert_all(s, 2, want); /* while the first versions are on their way */
    wait_delivered(s, "ordered", &e, want);
    ep_stop(&e);
}

/* Every answer takes 100 ms, so that the kill finds requests in flight. */
static ep_answer slow(void *ctx, const ep_request *r, size_t n)
{
    (void)ctx, (void)r, (void)n;
    return (ep_answer){200, 100, NULL};
}

static void test_kill_loses_nothing(void **state)
{
    struct server *s = *state;
    endpoint e;
    int want[KEYS];
    start_hook(s, "killed", &e, slow, 2000, 3, want);
    int64_t deadline = now_ms() + WAIT_MS;
    while (ep_count(&e) < 20 && now_ms() < deadline)
        sleep_ms(10);
    assert_true(ep_count(&e) >= 20);
    pid_t pushers;
    assert_int_equal(children_of_kind(s->pid, "pushers", &pushers, 1), 1);
    assert_int_equal(kill(pushers, SIGKILL), 0);
    wait_delivered(s, "killed", &e, want);
    pid_t again;
    assert_int_equal(children_of_kind(s->pid, "pushers", &again, 1), 1);
    assert_true(again != pushers);
    ep_stop(&e);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        API_SERVER_TEST(test_delivers_in_key_order),
        API_SERVER_TEST(test_kill_loses_nothing),
    };
    int rc = cmocka_run_group_tests_name("push_consumers", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
