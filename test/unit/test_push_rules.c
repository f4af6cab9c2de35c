/* The rules of a push consumer's endpoint (sequin/push_rules.h): URLs, headers, secrets, the
 * CLI's "Name: value" lines and the endpoint JSON the store keeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sequin/push_rules.h"

static void test_urls(void **state)
{
    (void)state;
    static const char *const good[] = {
        "http://localhost/", "https://hooks.example.com/in?x=1#f",
        "HTTP://a",          "http://127.0.0.1:8080",
        "http://[::1]:9/x",  "https://a.b/c%20d",
    };
    static const char *const bad[] = {
        "",
        "localhost",
        "ftp://a/",
        "http://",
        "http:///x",
        "http://a b/",
        "http://a/\tx",
        "http://user:pw@a/",
        "http://a:0/",
        "http://a:65536/",
        "http://a:8x/",
        "http://[::1/",
        "http://[]/",
        "http://a\r\n/",
        "https://:80/",
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(good); i++) {
        const char *why = sq_push_rules_url(good[i], strlen(good[i]));
        if (why != NULL)
            fail_msg("%s refused: %s", good[i], why);
    }
    for (size_t i = 0; i < SQ_ARRAY_LEN(bad); i++) {
        if (sq_push_rules_url(bad[i], strlen(bad[i])) == NULL)
            fail_msg("%s accepted", bad[i]);
    }
    char longer[SQ_PUSH_URL_MAX + 2];
    memset(longer, 'a', sizeof longer - 1);
    memcpy(longer, "http://", 7);
    longer[sizeof longer - 1] = '\0';
    assert_non_null(sq_push_rules_url(longer, strlen(longer)));
    assert_null(sq_push_rules_url(longer, SQ_PUSH_URL_MAX));
}

static void test_headers_and_secrets(void **state)
{
    (void)state;
    assert_null(sq_push_rules_header("Authorization", 13, "Bearer x", 8));
    assert_null(sq_push_rules_header("X-Empty", 7, "", 0));
    assert_null(sq_push_rules_header("X-Tab", 5, "a\tb", 3));
    assert_non_null(sq_push_rules_header("", 0, "v", 1));
    assert_non_null(sq_push_rules_header("X A", 3, "v", 1));
    assert_non_null(sq_push_rules_header("X:A", 3, "v", 1));
    assert_non_null(sq_push_rules_header("X-A", 3, "a\r\nX-B: 1", 10));
    assert_non_null(sq_push_rules_header("X-A", 3, "a\nb", 3));
    assert_non_null(sq_push_rules_header("X-A", 3, "a\0b", 3));
    assert_non_null(sq_push_rules_header("content-length", 14, "5", 1));
    assert_non_null(sq_push_rules_header("Host", 4, "a", 1));

    size_t nl, vl;
    const char *v;
    const char *line = "Authorization:  Bearer t0k  ";
    assert_null(sq_push_rules_split_header(line, strlen(line), &nl, &v, &vl));
    assert_int_equal(nl, 13);
    assert_int_equal(vl, 10);
    assert_memory_equal(v, "Bearer t0k", 10);
    assert_non_null(sq_push_rules_split_header("NoColon", 7, &nl, &v, &vl));
    assert_non_null(sq_push_rules_split_header(": v", 3, &nl, &v, &vl));

    assert_null(sq_push_rules_secret("s3cret", 6));
    assert_non_null(sq_push_rules_secret("", 0));
    assert_non_null(sq_push_rules_secret("a b", 3));
}

static void test_write_endpoint(void **state)
{
    (void)state;
    sq_buf out = {0};
    sq_json_writer w;
    const char *headers[] = {"Authorization: Bearer t", "X-Team:a"};
    sq_json_writer_init(&w, &out);
    assert_int_equal(sq_push_rules_write_endpoint(&w, "http://a/", headers, 2, "k"), 0);
    assert_int_equal(sq_json_writer_finish(&w), 0);
    assert_string_equal(out.data, "{\"url\":\"http://a/\",\"headers\":{\"Authorization\":\"Bearer "
                                  "t\",\"X-Team\":\"a\"},\"signing_secret\":\"k\"}");
    sq_buf_reset(&out);
    sq_json_writer_init(&w, &out);
    assert_int_equal(sq_push_rules_write_endpoint(&w, "http://a/", NULL, 0, NULL), 0);
    assert_int_equal(sq_json_writer_finish(&w), 0);
    assert_string_equal(out.data, "{\"url\":\"http://a/\"}");
    const char *broken[] = {"no colon"};
    sq_buf_reset(&out);
    sq_json_writer_init(&w, &out);
    assert_int_equal(sq_push_rules_write_endpoint(&w, "http://a/", broken, 1, NULL), -1);
    sq_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_headers_and_secrets),
        cmocka_unit_test(test_write_endpoint),
    };
    return cmocka_run_group_tests_name("push_rules", tests, NULL, NULL);
}
