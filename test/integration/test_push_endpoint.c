/* The test endpoint that push tests will fail deliveries with (endpoint.h): it records what
 * libcurl sends and answers as its policy says: a status with Retry-After, a reset connection,
 * an answer after a delay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "endpoint.h"

static ep_answer scripted(void *ctx, const ep_request *r, size_t n)
{
    (void)ctx, (void)r;
    static const ep_answer script[] = {{503, 0, "2"}, {0, 0, NULL}, {200, 300, NULL}};
    return n < 3 ? script[n] : (ep_answer){204, 0, NULL};
}

static size_t discard(char *data, size_t size, size_t n, void *ctx)
{
    (void)data, (void)ctx;
    return size * n;
}

static size_t header_line(char *data, size_t size, size_t n, void *ctx)
{
    char *retry_after = ctx;
    if (size * n > 13 && strncmp(data, "Retry-After: ", 13) == 0)
        snprintf(retry_after, 16, "%.*s", (int)(size * n - 15), data + 13);
    return size * n;
}

/* One POST of `body`: the status (0 when the connection failed) and how long it took. */
static long post(CURL *h, int port, const char *body, char retry_after[16], long *took_ms)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", port);
    retry_after[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_line);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, retry_after);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    /* A new connection each time: libcurl sends a request again by itself when a connection it
     * reused is reset before any answer, and this test counts requests. */
    curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    long status = 0;
    double secs = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, &secs);
    *took_ms = (long)(secs * 1000);
    return status;
}

static void test_answers_as_told(void **state)
{
    (void)state;
    endpoint e;
    ep_start(&e, scripted, NULL);
    CURL *h = curl_easy_init();
    assert_non_null(h);
    struct curl_slist *headers = curl_slist_append(NULL, "X-Test: one two");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    char retry_after[16];
    long took;

    assert_int_equal(post(h, e.port, "{\"n\":0}", retry_after, &took), 503);
    assert_string_equal(retry_after, "2");
    assert_int_equal(post(h, e.port, "{\"n\":1}", retry_after, &took), 0);
    assert_int_equal(post(h, e.port, "{\"n\":2}", retry_after, &took), 200);
    assert_true(took >= 290);
    assert_int_equal(post(h, e.port, "{\"n\":3}", retry_after, &took), 204);

    assert_int_equal(ep_count(&e), 4);
    for (size_t i = 0; i < 4; i++) {
        ep_request r = ep_get(&e, i);
        char want[16];
        snprintf(want, sizeof want, "{\"n\":%zu}", i);
        assert_string_equal(r.path, "/hook");
        assert_string_equal(r.body, want);
        char *v = ep_header(&r, "x-test");
        assert_string_equal(v, "one two");
        free(v);
        assert_null(ep_header(&r, "X-Absent"));
        ep_request_free(&r);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    ep_stop(&e);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_answers_as_told)};
    int rc = cmocka_run_group_tests_name("push_endpoint", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
