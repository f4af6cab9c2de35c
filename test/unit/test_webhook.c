/* The webhook source's rules (src/common/webhook_settings.c, src/server/webhook.c): settings
 * read and written canonically, signatures read in both senders' forms, a request's secret and
 * signature checked, the key a body takes and what a body may be. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sequin/webhook.h"

#define S(s)                                                                                       \
    {                                                                                              \
        (s), sizeof(s) - 1                                                                         \
    }
#define H(n, v)                                                                                    \
    {                                                                                              \
        S(n), S(v)                                                                                 \
    }

/* Reads `json`; the canonical text it writes back, or the error, into `out`. */
static int read_back(const char *json, char *out, size_t size)
{
    sq_webhook_def def = {0};
    sq_buf b = {0};
    int rc = sq_webhook_settings_read(json, strlen(json), &def, out, size);
    if (rc == SQ_OK) {
        assert_int_equal(sq_webhook_settings_write(&def, &b), SQ_OK);
        snprintf(out, size, "%s", b.data);
    }
    sq_buf_free(&b);
    sq_webhook_def_free(&def);
    return rc;
}

static void test_settings(void **state)
{
    (void)state;
    char out[256];
    static const struct {
        const char *in, *want;
    } good[] = {
        {"{}", "{}"},
        {"{\"key_field\":null}", "{}"},
        {"{\"hmac_secret\":\"k\",\"key_header\":\"X-Id\"}",
         "{\"key_header\":\"X-Id\",\"hmac_secret\":\"k\",\"hmac_header\":\"X-Hub-Signature-256\"}"},
        {"{\"secret\":\"s\"}", "{\"secret\":\"s\",\"secret_header\":\"Authorization\"}"},
        {"{\"secret\":\"s\",\"secret_header\":\"X-Token\",\"key_field\":\"id\"}",
         "{\"key_field\":\"id\",\"secret\":\"s\",\"secret_header\":\"X-Token\"}"},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(good); i++) {
        assert_int_equal(read_back(good[i].in, out, sizeof out), SQ_OK);
        assert_string_equal(out, good[i].want);
        /* canonical: reading the canonical text gives it back */
        char again[256];
        assert_int_equal(read_back(out, again, sizeof again), SQ_OK);
        assert_string_equal(again, out);
    }
    static const struct {
        const char *in, *why;
    } bad[] = {
        {"[]", "must be an object"},
        {"{", "not JSON"},
        {"{\"nope\":1}", "unknown setting \"nope\""},
        {"{\"secret\":1}", "\"secret\" must be a string"},
        {"{\"secret\":\"\"}", "\"secret\" must be 1 to"},
        {"{\"secret\":\"a\\u0000b\"}", "without NUL"},
        {"{\"key_field\":\"a\",\"key_header\":\"b\"}", "not both"},
        {"{\"key_header\":\"X Id\"}", "\"key_header\" must be a header's name"},
        {"{\"secret_header\":\"X\"}", "\"secret_header\" needs \"secret\""},
        {"{\"hmac_header\":\"X\"}", "\"hmac_header\" needs \"hmac_secret\""},
        {"{\"secret\":\"a\",\"secret\":\"b\"}", "given twice"},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(bad); i++) {
        out[0] = '\0';
        assert_int_equal(read_back(bad[i].in, out, sizeof out), SQ_ERR);
        if (strstr(out, bad[i].why) == NULL)
            fail_msg("%s: %s, wanted %s", bad[i].in, out, bad[i].why);
    }
}

static void test_signature_parse(void **state)
{
    (void)state;
    unsigned char d[SQ_SHA256_LEN];
    const char *hex = "0123456789abcdefABCDEF0123456789abcdef0123456789abcdef0123456789";
    char v[128];
    assert_int_equal(sq_webhook_signature_parse(hex, strlen(hex), d), SQ_OK);
    assert_int_equal(d[0], 0x01);
    assert_int_equal(d[7], 0xef);
    assert_int_equal(d[8], 0xAB);
    snprintf(v, sizeof v, "sha256=%s", hex);
    assert_int_equal(sq_webhook_signature_parse(v, strlen(v), d), SQ_OK);
    snprintf(v, sizeof v, " SHA256=%s\t", hex);
    assert_int_equal(sq_webhook_signature_parse(v, strlen(v), d), SQ_OK);
    static const char *const refused[] = {"", "sha256=", "sha1=abcd", "zz", "sha256=sha256=00"};
    for (size_t i = 0; i < SQ_ARRAY_LEN(refused); i++)
        assert_int_equal(sq_webhook_signature_parse(refused[i], strlen(refused[i]), d), SQ_ERR);
    snprintf(v, sizeof v, "%.63s", hex);
    assert_int_equal(sq_webhook_signature_parse(v, strlen(v), d), SQ_ERR);
    snprintf(v, sizeof v, "%sa", hex);
    assert_int_equal(sq_webhook_signature_parse(v, strlen(v), d), SQ_ERR);
    snprintf(v, sizeof v, "%.63sg", hex);
    assert_int_equal(sq_webhook_signature_parse(v, strlen(v), d), SQ_ERR);
}

static void test_authorize(void **state)
{
    (void)state;
    const char *body = "{\"a\":1}";
    unsigned char d[SQ_SHA256_LEN];
    char hex[65], sig[80];
    sq_hmac_sha256("k", 1, body, strlen(body), d);
    sq_sha256_hex(d, hex);
    snprintf(sig, sizeof sig, "sha256=%s", hex);

    sq_webhook_def open = {0}, shared = {.secret = "s3", .secret_header = "Authorization"},
                   own = {.secret = "s3", .secret_header = "X-Token"},
                   hmac = {.hmac_secret = "k", .hmac_header = "X-Sig"};
    assert_false(sq_webhook_has_auth(&open));
    assert_null(sq_webhook_authorize(&open, NULL, 0, body, strlen(body)));
    assert_true(sq_webhook_has_auth(&shared));

    sq_http_header bearer[] = {H("authorization", "Bearer s3")},
                   wrong[] = {H("Authorization", "Bearer s4")}, bare[] = {H("Authorization", "s3")},
                   token[] = {H("x-token", "s3")}, longer[] = {H("X-Token", "s3 ")};
    assert_null(sq_webhook_authorize(&shared, bearer, 1, body, strlen(body)));
    assert_non_null(sq_webhook_authorize(&shared, wrong, 1, body, strlen(body)));
    assert_non_null(sq_webhook_authorize(&shared, bare, 1, body, strlen(body)));
    assert_non_null(sq_webhook_authorize(&shared, NULL, 0, body, strlen(body)));
    assert_null(sq_webhook_authorize(&own, token, 1, body, strlen(body)));
    assert_non_null(sq_webhook_authorize(&own, longer, 1, body, strlen(body)));
    assert_non_null(sq_webhook_authorize(&own, bearer, 1, body, strlen(body)));

    sq_http_header good[] = {{S("X-Sig"), {sig, strlen(sig)}}},
                   bare_hex[] = {{S("x-sig"), {hex, strlen(hex)}}};
    assert_null(sq_webhook_authorize(&hmac, good, 1, body, strlen(body)));
    assert_null(sq_webhook_authorize(&hmac, bare_hex, 1, body, strlen(body)));
    assert_non_null(strstr(sq_webhook_authorize(&hmac, good, 1, "{\"a\":2}", 7), "does not match"));
    assert_non_null(strstr(sq_webhook_authorize(&hmac, NULL, 0, body, strlen(body)), "missing"));
    sq_http_header junk[] = {H("X-Sig", "sha256=nothex")};
    assert_non_null(strstr(sq_webhook_authorize(&hmac, junk, 1, body, strlen(body)), "hex"));
}

/* The key `def` gives `body` (with `headers`), or the reason it gives none. */
static const char *key_of(const sq_webhook_def *def, const sq_http_header *h, size_t n,
                          const char *body, char *out, size_t size)
{
    sq_buf key = {0};
    const char *why = NULL;
    if (sq_webhook_key(def, "hook", h, n, body, strlen(body), &key, &why) == SQ_OK)
        snprintf(out, size, "%s", key.data);
    else
        snprintf(out, size, "!%s", why);
    sq_buf_free(&key);
    return out;
}

static void test_key(void **state)
{
    (void)state;
    char out[512];
    sq_webhook_def hash = {0}, field = {.key_field = "id"}, header = {.key_header = "X-Id"};
    assert_string_equal(key_of(&hash, NULL, 0, "abc", out, sizeof out),
                        "hook.ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(key_of(&field, NULL, 0, "{\"id\":\"e1\"}", out, sizeof out), "hook.e1");
    assert_string_equal(key_of(&field, NULL, 0, "{\"id\":-12.5e3}", out, sizeof out),
                        "hook.-12%2E5e3");
    assert_string_equal(key_of(&field, NULL, 0, "{\"id\":\"a b>*%.\"}", out, sizeof out),
                        "hook.a%20b%3E%2A%25%2E");
    assert_string_equal(key_of(&field, NULL, 0, "{\"id\":\"\"}", out, sizeof out), "hook.%");
    assert_string_equal(key_of(&field, NULL, 0, "{\"id\":\"caf\\u00e9\"}", out, sizeof out),
                        "hook.caf%C3%A9");
    assert_non_null(strstr(key_of(&field, NULL, 0, "{}", out, sizeof out), "no key field"));
    assert_non_null(strstr(key_of(&field, NULL, 0, "[1]", out, sizeof out), "JSON object"));
    assert_non_null(strstr(key_of(&field, NULL, 0, "{\"id\":null}", out, sizeof out), "string"));
    assert_non_null(
        strstr(key_of(&field, NULL, 0, "{\"id\":1,\"id\":2}", out, sizeof out), "twice"));
    char big[400];
    snprintf(big, sizeof big, "{\"id\":\"%0300d\"}", 7);
    assert_int_equal(key_of(&field, NULL, 0, big, out, sizeof out)[0], '!');

    sq_http_header h[] = {H("Content-Type", "application/json"), H("x-id", "d-1")};
    assert_string_equal(key_of(&header, h, 2, "{}", out, sizeof out), "hook.d-1");
    assert_non_null(strstr(key_of(&header, h, 1, "{}", out, sizeof out), "no key header"));
}

static void test_data_check(void **state)
{
    (void)state;
    bool big = true;
    assert_null(sq_webhook_data_check("", 0, 10, &big));
    assert_false(big);
    assert_null(sq_webhook_data_check("caf\xc3\xa9", 5, 10, &big));
    assert_non_null(strstr(sq_webhook_data_check("caf\xc3", 4, 10, &big), "UTF-8"));
    assert_non_null(strstr(sq_webhook_data_check("a\0b", 3, 10, &big), "NUL"));
    assert_false(big);
    assert_non_null(sq_webhook_data_check("0123456789a", 11, 10, &big));
    assert_true(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings),   cmocka_unit_test(test_signature_parse),
        cmocka_unit_test(test_authorize),  cmocka_unit_test(test_key),
        cmocka_unit_test(test_data_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
