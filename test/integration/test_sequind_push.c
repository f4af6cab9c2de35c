/* Push consumers' settings through the real sequind (issue 15): the original SDK's
 * "kind": "pull", push consumers created, shown (secrets hidden), edited and refused over the
 * API; declared in the config file, reloaded, and bad values refused with their line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "api_client.h"
#include "sequin/common.h"
#include "sequind_harness.h"

#define CONSUMERS "/api/streams/pushes/consumers"

static void test_api(void **state)
{
    struct server *s = *state;
    int port = s->port;

    api_make_stream(port, "pushes");
    /* The original SDK names the kind of every consumer it creates. */
    char *c = api_expect_body(port, "POST", CONSUMERS,
                              "{\"name\":\"pulled\",\"filter_key_pattern\":\"a.>\","
                              "\"kind\":\"pull\"}",
                              200, "\"kind\":\"pull\"");
    assert_null(strstr(c, "http_endpoint"));
    free(c);
    c = api_expect_body(port, "POST", CONSUMERS,
                        "{\"name\":\"hooks\",\"filter_key_pattern\":\"a.>\",\"kind\":\"push\","
                        "\"max_ack_pending\":10,\"http_endpoint\":{\"url\":"
                        "\"https://hooks.example.com/in\",\"headers\":{\"Authorization\":"
                        "\"Bearer t0k\"},\"signing_secret\":\"s3cret\"}}",
                        200, "\"kind\":\"push\"");
    assert_non_null(strstr(c,
                           "\"http_endpoint\":{\"url\":\"https://hooks.example.com/in\","
                           "\"headers\":{\"Authorization\":\"***\"},\"signing_secret\":\"***\"}"));
    assert_non_null(strstr(c, "\"max_waiting\":10,\"backoff_base_ms\":1000,"
                              "\"backoff_max_ms\":300000"));
    assert_null(strstr(c, "s3cret"));
    assert_null(strstr(c, "t0k"));
    free(c);
    c = api_expect_body(port, "GET", CONSUMERS, NULL, 200, "\"kind\":\"pull\"");
    assert_non_null(strstr(c, "\"kind\":\"push\""));
    assert_null(strstr(c, "s3cret"));
    free(c);

    const api_case cases[] = {
        {"POST", CONSUMERS,
         "{\"name\":\"x\",\"filter_key_pattern\":\"a.>\",\"http_endpoint\":{\"url\":\"http://a/"
         "\"}}",
         400, "add \\\"kind\\\": \\\"push\\\""},
        {"POST", CONSUMERS, "{\"name\":\"x\",\"filter_key_pattern\":\"a.>\",\"kind\":\"push\"}",
         400, "needs \\\"http_endpoint\\\""},
        {"POST", CONSUMERS,
         "{\"name\":\"x\",\"filter_key_pattern\":\"a.>\",\"kind\":\"push\",\"http_endpoint\":"
         "{\"url\":\"file:///etc/passwd\"}}",
         422, "\"validation_errors\":{\"http_endpoint.url\""},
        {"POST", CONSUMERS,
         "{\"name\":\"x\",\"filter_key_pattern\":\"a.>\",\"kind\":\"push\",\"http_endpoint\":"
         "{\"url\":\"http://a/\",\"headers\":{\"X-A\":\"1\\r\\nX-B: 2\"}}}",
         422, "\"validation_errors\":{\"http_endpoint.headers\""},
        {"POST", CONSUMERS, "{\"name\":\"x\",\"filter_key_pattern\":\"a.>\",\"kind\":\"sideways\"}",
         422, "\"validation_errors\":{\"kind\""},
        {"POST", CONSUMERS,
         "{\"name\":\"x\",\"filter_key_pattern\":\"a.>\",\"kind\":\"push\",\"http_endpoint\":"
         "{\"url\":\"http://a/\"},\"colour\":1}",
         400, "unknown member"},
        /* edits: the kind is fixed; push settings are a push consumer's */
        {"PATCH", CONSUMERS "/hooks", "{\"kind\":\"pull\"}", 422,
         "\"validation_errors\":{\"kind\""},
        {"PATCH", CONSUMERS "/pulled", "{\"http_endpoint\":{\"url\":\"http://a/\"}}", 409,
         "is a pull consumer"},
        {"PATCH", CONSUMERS "/hooks", "{\"max_waiting\":11}", 409, "max_waiting above"},
        {"PATCH", CONSUMERS "/hooks", "{\"http_endpoint\":{\"url\":\"http://a b/\"}}", 422,
         "http_endpoint.url"},
    };
    api_expect_each(port, cases, SQ_ARRAY_LEN(cases));

    c = api_expect_body(port, "PATCH", CONSUMERS "/hooks",
                        "{\"http_endpoint\":{\"url\":\"http://127.0.0.1:9/x\",\"signing_secret\":"
                        "null},\"max_waiting\":3,\"backoff_max_ms\":60000}",
                        200, "\"url\":\"http://127.0.0.1:9/x\"");
    assert_non_null(strstr(c, "\"headers\":{\"Authorization\":\"***\"},\"signing_secret\":null"));
    assert_non_null(strstr(c, "\"max_waiting\":3,\"backoff_base_ms\":1000,"
                              "\"backoff_max_ms\":60000"));
    free(c);
    /* A lower max_ack_pending lowers max_waiting with it. */
    api_expect(port, "PUT", CONSUMERS "/hooks", "{\"max_ack_pending\":2}", 200,
               "\"max_waiting\":2");
}

#define DECLARED                                                                                   \
    "streams:\n  - name: default\n    consumers:\n"                                                \
    "      - name: hooks\n"                                                                        \
    "        filter: \"h.>\"\n"                                                                    \
    "        kind: push\n"                                                                         \
    "        max_waiting: 5\n"                                                                     \
    "        http_endpoint:\n"                                                                     \
    "          url: https://hooks.example.com/in\n"                                                \
    "          headers: {Authorization: Bearer t0k}\n"                                             \
    "          signing_secret: s3cret\n"

static void test_declared(void **state)
{
    struct server *s = api_serve(DECLARED);
    int port = s->port;
    *state = s;

    char *c = api_expect_body(port, "GET", "/api/streams/default/consumers/hooks", NULL, 200,
                              "\"kind\":\"push\"");
    assert_non_null(strstr(c, "\"managed_by\":\"config\""));
    assert_non_null(
        strstr(c, "\"headers\":{\"Authorization\":\"***\"},\"signing_secret\":\"***\""));
    assert_non_null(strstr(c, "\"max_waiting\":5"));
    free(c);

    /* A reload changes the endpoint; one that would change the kind is refused and logged. */
    write_config(s, "streams:\n  - name: default\n    consumers:\n"
                    "      - name: hooks\n        filter: \"h.>\"\n        kind: push\n"
                    "        backoff_base_ms: 250\n"
                    "        http_endpoint: {url: \"http://127.0.0.1:9/in\"}\n");
    reload(s);
    c = api_expect_body(port, "GET", "/api/streams/default/consumers/hooks", NULL, 200,
                        "\"url\":\"http://127.0.0.1:9/in\"");
    assert_non_null(strstr(c, "\"headers\":{},\"signing_secret\":null"));
    assert_non_null(strstr(c, "\"max_waiting\":20,\"backoff_base_ms\":250"));
    free(c);
    write_config(s, "streams:\n  - name: default\n    consumers:\n"
                    "      - {name: hooks, filter: \"h.>\"}\n");
    reload(s);
    wait_log(s, "the kind cannot change");
    api_expect(port, "GET", "/api/streams/default/consumers/hooks", NULL, 200, "\"kind\":\"push\"");
}

/* Bad values are refused at start with the file's line (the harness writes five lines first). */
static void test_declared_refused(void **state)
{
    struct server *s = new_server(false);
    *state = s;
    start_refused(s, "streams:\n  - name: default\n    consumers:\n"
                     "      - name: hooks\n        filter: \"h.>\"\n        kind: push\n"
                     "        http_endpoint:\n          url: \"ftp://x/\"\n");
    if (!log_hasf(s, "%s:13:16:", s->config) || !log_has(s, "must start with http:// or https://"))
        fail_msg("no line-numbered error in the log: %s", read_file(s->log));
}

/* The output of `sequin ARGS` (a shell command line) against the server on `port`, which must
 * exit with `status`; malloc'd. */
static char *cli(int port, int status, const char *args)
{
    char cmd[1024];
    api_format(cmd, sizeof cmd, "SEQUIN_URL=http://127.0.0.1:%d '%s/sequin' %s 2>&1", port,
               builddir(), args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *out = calloc(1, cap);
    assert_non_null(out);
    for (size_t got; n + 1 < cap && (got = fread(out + n, 1, cap - 1 - n, p)) > 0;)
        n += got;
    int st = pclose(p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != status)
        fail_msg("sequin %s: exit %d (want %d): %s", args, WEXITSTATUS(st), status, out);
    return out;
}

/* cli(), and its output holds each string that follows (NULL ends them). */
static void cli_says(int port, int status, const char *args, ...)
{
    va_list ap;
    char *out = cli(port, status, args);
    va_start(ap, args);
    for (const char *want = va_arg(ap, const char *); want != NULL;
         want = va_arg(ap, const char *)) {
        if (strstr(out, want) == NULL)
            fail_msg("sequin %s: no \"%s\" in %s", args, want, out);
    }
    va_end(ap);
    free(out);
}

/* The CLI's push flags against the real server, and what info and ls show. */
static void test_cli(void **state)
{
    struct server *s = *state;
    int port = s->port;
    char *out = cli(port, 0,
                    "consumer add hooks --filter 'h.>' --defaults --push-url https://h.example/in "
                    "--header 'Authorization: Bearer t0k' --signing-secret s3cret "
                    "--max-waiting 4");
    assert_non_null(strstr(out, "kind:            push"));
    assert_non_null(strstr(out, "push_url:        https://h.example/in"));
    assert_non_null(strstr(out, "headers:         {\"Authorization\":\"***\"}"));
    assert_non_null(strstr(out, "signing_secret:  ***"));
    assert_non_null(strstr(out, "max_waiting:     4"));
    assert_null(strstr(out, "t0k"));
    free(out);
    free(cli(port, 0, "consumer add pulled --filter 'p.>' --defaults"));
    cli_says(port, 0, "consumer edit hooks --push-url http://127.0.0.1:9/x --header 'X-A: 1'",
             "push_url:        http://127.0.0.1:9/x", "headers:         {\"X-A\":\"***\"}", NULL);
    cli_says(port, 0, "consumer ls", "KIND", "push  http://127.0.0.1:9/x", "pull", NULL);
    out = cli(port, 0, "consumer info pulled");
    assert_non_null(strstr(out, "kind:            pull"));
    assert_null(strstr(out, "push_url"));
    free(out);
    cli_says(port, 1, "consumer edit pulled --max-waiting 3", "is a pull consumer", NULL);
    cli_says(port, 2, "consumer add x --filter '>' --push-url 'http://a b/'", "without spaces",
             NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        API_SERVER_TEST(test_api),
        API_SERVER_TEST(test_cli),
        cmocka_unit_test_teardown(test_declared, teardown_server),
        cmocka_unit_test_teardown(test_declared_refused, teardown_server),
    };
    return cmocka_run_group_tests_name("sequind_push", tests, NULL, NULL);
}
