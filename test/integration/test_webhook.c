/* The webhook source against a real sequind (docs/sources.md, "Webhook source"): the guide's
 * flow (a POST to /api/webhook/NAME, then a consumer of NAME.> receives it), keys from the
 * body's hash, a field or a header, a duplicate body a no-op, text bodies, the shared secret
 * and the HMAC signature (good, bad, missing: 401 and nothing stored), a webhook without a
 * secret on a server with API tokens, 404, 400 and 413, and a burst of concurrent posts. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "api_client.h"
#include "pg_fixture.h"
#include "sequin/sha256.h"
#include "sequind_harness.h"

/* The digest of token "test", for the server with API tokens. */
#define TEST_TOKEN_SHA256 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

static int teardown(void **state)
{
    int rc = teardown_server(state);
    free(pgt_value("DELETE FROM sequin.sources RETURNING 1", 0, NULL));
    free(pgt_value("DELETE FROM sequin.messages RETURNING 1", 0, NULL));
    return rc;
}

/* One POST to webhook `name` with extra header lines (NULL: none); the answer. */
static api_resp post(int port, const char *name, const char *body, const char *headers)
{
    char target[128];
    api_conn c;
    api_format(target, sizeof target, "/api/webhook/%s", name);
    api_open(&c, port, 10000);
    api_send(&c, "POST", target, body, headers);
    api_resp r = api_read(&c);
    api_close(&c);
    return r;
}

/* post(), asserting the status and that the body holds `needle` (NULL: anything). */
static void post_expect(int port, const char *name, const char *body, const char *headers,
                        int status, const char *needle)
{
    api_resp r = post(port, name, body, headers);
    if (r.status != status || (needle != NULL && strstr(r.body, needle) == NULL))
        fail_msg("POST /api/webhook/%s %s: %d %s, wanted %d with %s", name, body, r.status, r.body,
                 status, needle ? needle : "anything");
    api_resp_free(&r);
}

/* Creates webhook `name` writing into stream default with `settings` (a JSON object). */
static void make_webhook(int port, const char *name, const char *settings)
{
    char body[1024];
    api_format(body, sizeof body, "{\"name\":\"%s\",\"stream\":\"default\",\"webhook\":%s}", name,
               settings);
    api_expect(port, "POST", "/api/sources", body, 200, "\"kind\":\"webhook\"");
}

/* The data of message `key` in stream default, or NULL when there is none (free it). */
static char *data_of(const char *key)
{
    const char *params[] = {key};
    PGconn *c = pgt_connect();
    PGresult *r = PQexecParams(c,
                               "SELECT m.data FROM sequin.messages m JOIN sequin.streams s "
                               "ON s.num = m.stream WHERE s.name = 'default' AND m.key = $1",
                               1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    char *v = PQntuples(r) == 1 ? strdup(PQgetvalue(r, 0, 0)) : NULL;
    PQclear(r);
    PQfinish(c);
    return v;
}

static long long messages_like(const char *prefix)
{
    const char *params[] = {prefix};
    return pgt_long("SELECT count(*) FROM sequin.messages WHERE key LIKE $1 || '.%'", 1, params);
}

static void hex_of(const unsigned char *d, char hex[65])
{
    sq_sha256_hex(d, hex);
}

/* The guide: curl -X POST .../api/webhook/my_webhook -d '{...}', then a consumer of
 * my_webhook.> receives it; the same body again is the same key and no new message. */
static void test_guide_flow(void **state)
{
    struct server *s = *state;
    int port = s->port;
    const char *body = "{\"event\":\"order.paid\",\"amount\":42}";
    unsigned char d[SQ_SHA256_LEN];
    char hex[65], key[128], needle[192];

    make_webhook(port, "my_webhook", "{}");
    api_expect(port, "POST", "/api/streams/default/consumers",
               "{\"name\":\"hooks\",\"filter_key_pattern\":\"my_webhook.>\"}", 200, NULL);
    sq_sha256(body, strlen(body), d);
    hex_of(d, hex);
    api_format(key, sizeof key, "my_webhook.%s", hex);
    api_format(needle, sizeof needle, "{\"key\":\"%s\",\"published\":1}", key);
    post_expect(port, "my_webhook", body, NULL, 200, needle);
    char *got = api_receive(port, "default", "hooks", 10, 5000);
    api_format(needle, sizeof needle, "\"key\":\"%s\"", key);
    assert_non_null(strstr(got, needle));
    assert_non_null(
        strstr(got, "\"data\":\"{\\\"event\\\":\\\"order.paid\\\",\\\"amount\\\":42}\""));
    free(got);

    /* A duplicate delivery: the same key, nothing new to deliver. */
    api_format(needle, sizeof needle, "{\"key\":\"%s\",\"published\":0}", key);
    post_expect(port, "my_webhook", body, NULL, 200, needle);
    assert_int_equal(messages_like("my_webhook"), 1);

    /* A body that is not JSON is stored as its text. */
    post_expect(port, "my_webhook", "plain text, not JSON", NULL, 200, "\"published\":1");
    sq_sha256("plain text, not JSON", 20, d);
    hex_of(d, hex);
    api_format(key, sizeof key, "my_webhook.%s", hex);
    char *data = data_of(key);
    assert_string_equal(data, "plain text, not JSON");
    free(data);

    /* Refusals: nothing stored. */
    post_expect(port, "nobody", "{}", NULL, 404, "\"summary\":\"webhook not found\"");
    post_expect(port, "my_webhook", "caf\xc3", NULL, 400, "not UTF-8");
    post_expect(port, "bad-name", "{}", NULL, 404, NULL);
    assert_int_equal(messages_like("my_webhook"), 2);

    /* The source's object says what it is; the process running postgres sources leaves it. */
    char *obj =
        api_expect_body(port, "GET", "/api/sources/my_webhook", NULL, 200, "\"kind\":\"webhook\"");
    assert_non_null(strstr(obj, "\"webhook\":{\"key_field\":null"));
    free(obj);
    sleep_ms(1500);
    assert_false(log_has(s, "source my_webhook"));
}

/* Keys from a field of the body or from a header, escaped as a postgres source's tokens. */
static void test_keys(void **state)
{
    int port = ((struct server *)*state)->port;
    make_webhook(port, "by_field", "{\"key_field\":\"id\"}");
    make_webhook(port, "by_header", "{\"key_header\":\"X-Event-Id\"}");

    post_expect(port, "by_field", "{\"id\":\"evt_1\",\"n\":1}", NULL, 200,
                "{\"key\":\"by_field.evt_1\",\"published\":1}");
    post_expect(port, "by_field", "{\"id\":\"evt_1\",\"n\":2}", NULL, 200,
                "{\"key\":\"by_field.evt_1\",\"published\":1}");
    char *data = data_of("by_field.evt_1");
    assert_string_equal(data, "{\"id\":\"evt_1\",\"n\":2}");
    free(data);
    post_expect(port, "by_field", "{\"id\":1234}", NULL, 200, "\"key\":\"by_field.1234\"");
    post_expect(port, "by_field", "{\"id\":\"a.b*c\"}", NULL, 200,
                "\"key\":\"by_field.a%2Eb%2Ac\"");
    post_expect(port, "by_field", "{\"other\":1}", NULL, 400, "no key field");
    post_expect(port, "by_field", "{\"id\":[1]}", NULL, 400, "a string or a number");
    post_expect(port, "by_field", "not json", NULL, 400, "must be a JSON object");

    post_expect(port, "by_header", "{}", "X-Event-Id: delivery-7\r\n", 200,
                "\"key\":\"by_header.delivery-7\"");
    post_expect(port, "by_header", "{}", NULL, 400, "no key header");
}

/* A signature is "sha256=<hex>" of the HMAC-SHA256 of the body (or the bare hex). */
static void signature(const char *secret, const char *body, const char *prefix, char *out,
                      size_t size)
{
    unsigned char d[SQ_SHA256_LEN];
    char hex[65];
    sq_hmac_sha256(secret, strlen(secret), body, strlen(body), d);
    hex_of(d, hex);
    api_format(out, size, "%s%s", prefix, hex);
}

static void test_auth(void **state)
{
    int port = ((struct server *)*state)->port;
    char h[256], sig[128];
    const char *body = "{\"id\":\"evt_9\"}";

    make_webhook(port, "signed", "{\"hmac_secret\":\"whsec_abc\"}");
    signature("whsec_abc", body, "sha256=", sig, sizeof sig);
    api_format(h, sizeof h, "X-Hub-Signature-256: %s\r\n", sig);
    post_expect(port, "signed", body, h, 200, "\"published\":1");
    signature("whsec_abc", body, "", sig, sizeof sig);
    api_format(h, sizeof h, "x-hub-signature-256: %s\r\n", sig);
    post_expect(port, "signed", body, h, 200, "\"published\":0");
    /* The signature of another body, another secret, garbage, none: 401, nothing stored. */
    signature("whsec_abc", "{}", "sha256=", sig, sizeof sig);
    api_format(h, sizeof h, "X-Hub-Signature-256: %s\r\n", sig);
    post_expect(port, "signed", "{\"id\":\"forged\"}", h, 401, "does not match the body");
    signature("wrong", "{\"id\":\"forged\"}", "sha256=", sig, sizeof sig);
    api_format(h, sizeof h, "X-Hub-Signature-256: %s\r\n", sig);
    post_expect(port, "signed", "{\"id\":\"forged\"}", h, 401, "does not match the body");
    post_expect(port, "signed", "{\"id\":\"forged\"}", "X-Hub-Signature-256: sha256=zz\r\n", 401,
                "not 64 hex digits");
    post_expect(port, "signed", "{\"id\":\"forged\"}", NULL, 401, "signature header is missing");
    assert_int_equal(messages_like("signed"), 1);

    /* A shared secret, in Authorization or in a header of its own, with a signature too. */
    make_webhook(port, "shared", "{\"secret\":\"s3cret\"}");
    post_expect(port, "shared", "{}", "Authorization: Bearer s3cret\r\n", 200, "\"published\":1");
    post_expect(port, "shared", "{\"x\":1}", "Authorization: Bearer s3cre\r\n", 401,
                "secret is missing or wrong");
    post_expect(port, "shared", "{\"x\":1}", "Authorization: s3cret\r\n", 401, "secret");
    post_expect(port, "shared", "{\"x\":1}", NULL, 401, "secret");
    make_webhook(port, "both",
                 "{\"secret\":\"tok\",\"secret_header\":\"X-Token\","
                 "\"hmac_secret\":\"k\",\"hmac_header\":\"X-Sig\"}");
    signature("k", body, "sha256=", sig, sizeof sig);
    api_format(h, sizeof h, "X-Token: tok\r\nX-Sig: %s\r\n", sig);
    post_expect(port, "both", body, h, 200, "\"published\":1");
    api_format(h, sizeof h, "X-Sig: %s\r\n", sig);
    post_expect(port, "both", body, h, 401, "secret");
    post_expect(port, "both", body, "X-Token: tok\r\n", 401, "signature");
    assert_int_equal(messages_like("shared") + messages_like("both"), 2);

    /* What GET shows: that there are secrets, never what they are. */
    char *obj = api_expect_body(port, "GET", "/api/sources/both", NULL, 200, "\"secret\":\"****\"");
    assert_null(strstr(obj, "\"tok\""));
    assert_non_null(strstr(obj, "\"hmac_secret\":\"****\",\"hmac_header\":\"X-Sig\""));
    free(obj);

    /* Settings refused at creation. */
    static const api_case refused[] = {
        {"POST", "/api/sources",
         "{\"name\":\"w1\",\"stream\":\"default\",\"webhook\":{\"key_field\":\"a\","
         "\"key_header\":\"b\"}}",
         400, "not both"},
        {"POST", "/api/sources",
         "{\"name\":\"w1\",\"stream\":\"default\",\"webhook\":{\"secret\":\"\"}}", 400,
         "\\\"secret\\\" must be 1 to"},
        {"POST", "/api/sources",
         "{\"name\":\"w1\",\"stream\":\"default\",\"webhook\":{\"hmac_header\":\"X\"}}", 400,
         "needs \\\"hmac_secret\\\""},
        {"POST", "/api/sources",
         "{\"name\":\"w1\",\"stream\":\"default\",\"webhook\":{\"nope\":1}}", 400,
         "unknown setting \\\"nope\\\""},
        {"POST", "/api/sources",
         "{\"name\":\"w1\",\"stream\":\"default\",\"webhook\":{},\"postgres\":{}}", 400,
         "\\\"postgres\\\" or \\\"webhook\\\""},
        {"POST", "/api/sources", "{\"name\":\"w1\",\"stream\":\"nostream\",\"webhook\":{}}", 404,
         NULL},
    };
    api_expect_each(port, refused, SQ_ARRAY_LEN(refused));
}

/* A body over limits.max_message_bytes is a 413, over max_body_bytes too. */
static void test_limits(void **state)
{
    *state = api_serve("limits:\n  max_message_bytes: 100\n  max_body_bytes: 1024\n");
    int port = ((struct server *)*state)->port;
    char big[2048];
    make_webhook(port, "small", "{}");
    memset(big, 'a', 150);
    big[150] = '\0';
    post_expect(port, "small", big, NULL, 413, "max_message_bytes");
    memset(big, 'a', 2000);
    big[2000] = '\0';
    post_expect(port, "small", big, NULL, 413, NULL);
    big[100] = '\0';
    post_expect(port, "small", big, NULL, 200, "\"published\":1");
    assert_int_equal(messages_like("small"), 1);
}

/* With API tokens configured, a webhook without a secret of its own wants one; one with a
 * secret takes its own and no token. */
static void test_api_tokens(void **state)
{
    *state = api_serve("auth:\n  tokens:\n    - name: ci\n      sha256: " TEST_TOKEN_SHA256 "\n");
    int port = ((struct server *)*state)->port;
    api_resp r = api_call_as(port, "test", "POST", "/api/sources",
                             "{\"name\":\"open\",\"stream\":\"default\",\"webhook\":{}}");
    assert_int_equal(r.status, 200);
    api_resp_free(&r);
    r = api_call_as(port, "test", "POST", "/api/sources",
                    "{\"name\":\"own\",\"stream\":\"default\",\"webhook\":{\"secret\":\"x\","
                    "\"secret_header\":\"X-Hook-Token\"}}");
    assert_int_equal(r.status, 200);
    api_resp_free(&r);
    post_expect(port, "open", "{}", NULL, 401, "API bearer token");
    post_expect(port, "open", "{}", "Authorization: Bearer wrong\r\n", 401, "API bearer token");
    post_expect(port, "open", "{}", "Authorization: Bearer test\r\n", 200, "\"published\":1");
    post_expect(port, "own", "{}", "X-Hook-Token: x\r\n", 200, "\"published\":1");
    post_expect(port, "own", "{}", "Authorization: Bearer test\r\n", 401, "secret");
    /* An unknown webhook is a 404 even without a token: the name is all it says. */
    post_expect(port, "nobody", "{}", NULL, 404, NULL);
}

/* A webhook declared in the config file: created at start, its settings changed by a reload,
 * deleted when no longer declared; a bad declaration is refused with its line. */
static void test_declared(void **state)
{
    struct server *s =
        api_serve("sources:\n  - name: declared_hook\n    stream: default\n    webhook:\n"
                  "      key_field: id\n");
    *state = s;
    int port = s->port;
    post_expect(port, "declared_hook", "{\"id\":\"a\"}", NULL, 200,
                "{\"key\":\"declared_hook.a\",\"published\":1}");
    api_expect(port, "GET", "/api/sources/declared_hook", NULL, 200, "\"managed_by\":\"config\"");
    api_expect(port, "DELETE", "/api/sources/declared_hook", NULL, 409, NULL);

    write_config(s, "sources:\n  - name: declared_hook\n    webhook:\n      secret: s3\n"
                    "      secret_header: X-Token\n");
    reload(s);
    post_expect(port, "declared_hook", "{\"id\":\"b\"}", NULL, 401, "secret");
    post_expect(port, "declared_hook", "{\"id\":\"b\"}", "X-Token: s3\r\n", 200, "\"published\":1");
    assert_false(log_has(s, "s3"));

    write_config(s, NULL);
    reload(s);
    post_expect(port, "declared_hook", "{}", "X-Token: s3\r\n", 404, NULL);
    wait_log(s, "webhook source \"declared_hook\" is no longer declared");

    start_refused(new_server(false), "sources:\n  - name: w\n    webhook:\n      key_field: a\n"
                                     "      key_header: B\n");
    struct server *r = new_server(false);
    start_refused(r, "sources:\n  - name: w\n    webhook:\n      secret: x\n"
                     "    postgres:\n      url: x\n");
}

/* ---- a burst: 8 threads post 25 bodies each at once, every one stored ---------------------- */

#define THREADS 8
#define EACH 25

struct burst {
    int port, thread, failed;
};

static void *burst_main(void *arg)
{
    struct burst *b = arg;
    api_conn c;
    char body[128];
    api_open(&c, b->port, 20000);
    for (int i = 0; i < EACH; i++) {
        snprintf(body, sizeof body, "{\"thread\":%d,\"i\":%d}", b->thread, i);
        api_send(&c, "POST", "/api/webhook/burst", body, NULL);
        api_resp r = api_read(&c);
        if (r.status != 200 || strstr(r.body, "\"published\":1") == NULL)
            b->failed++;
        api_resp_free(&r);
    }
    api_close(&c);
    return NULL;
}

static void test_burst(void **state)
{
    int port = ((struct server *)*state)->port;
    pthread_t t[THREADS];
    struct burst b[THREADS];
    make_webhook(port, "burst", "{}");
    for (int i = 0; i < THREADS; i++) {
        b[i] = (struct burst){port, i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, burst_main, &b[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(b[i].failed, 0);
    }
    assert_int_equal(messages_like("burst"), THREADS * EACH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_guide_flow, api_setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_keys, api_setup_server, teardown),
        cmocka_unit_test_setup_teardown(test_auth, api_setup_server, teardown),
        cmocka_unit_test_teardown(test_limits, teardown),
        cmocka_unit_test_teardown(test_api_tokens, teardown),
        cmocka_unit_test_teardown(test_declared, teardown),
        cmocka_unit_test_setup_teardown(test_burst, api_setup_server, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
