/* libFuzzer target for the webhook source's parsers: settings JSON (read, written, read again:
 * the same text), signature headers (a parsed digest is the hex it came from), and a body made
 * into a key under each key rule (a key is always valid) with its data check total. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "sequin/keys.h"
#include "sequin/webhook.h"

static void settings(const char *s, size_t n)
{
    sq_webhook_def def = {0}, again = {0};
    sq_buf out = {0}, out2 = {0};
    char err[256];
    if (sq_webhook_settings_read(s, n, &def, err, sizeof err) == SQ_OK) {
        CHECK(sq_webhook_settings_write(&def, &out) == SQ_OK);
        CHECK(sq_webhook_settings_read(out.data, out.len, &again, err, sizeof err) == SQ_OK);
        CHECK(sq_webhook_settings_write(&again, &out2) == SQ_OK);
        CHECK(out.len == out2.len && memcmp(out.data, out2.data, out.len) == 0);
    }
    sq_buf_free(&out);
    sq_buf_free(&out2);
    sq_webhook_def_free(&def);
    sq_webhook_def_free(&again);
}

static void signature(const char *s, size_t n)
{
    unsigned char d[SQ_SHA256_LEN];
    char hex[2 * SQ_SHA256_LEN + 1];
    if (sq_webhook_signature_parse(s, n, d) != SQ_OK)
        return;
    sq_sha256_hex(d, hex);
    const char *at = s;
    while (*at == ' ' || *at == '\t')
        at++;
    if (strncasecmp(at, "sha256=", 7) == 0)
        at += 7;
    CHECK(strncasecmp(at, hex, 2 * SQ_SHA256_LEN) == 0);
    /* what a sender signs with the same key is accepted */
    sq_webhook_def def = {.hmac_secret = "k", .hmac_header = "X-Sig"};
    sq_http_header h = {{"X-Sig", 5}, {s, n}};
    (void)sq_webhook_authorize(&def, &h, 1, s, n);
}

static void body(const char *s, size_t n)
{
    static const sq_webhook_def defs[] = {
        {.key_field = "id"}, {.key_header = "X-Id"}, {.key_field = "a"}, {0}};
    sq_http_header h = {{"x-id", 4}, {s, n > 300 ? 300 : n}};
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        sq_buf key = {0};
        const char *why = NULL;
        if (sq_webhook_key(&defs[i], "hook", &h, 1, s, n, &key, &why) == SQ_OK)
            CHECK(sq_key_validate(key.data, key.len, NULL) == 0 &&
                  strncmp(key.data, "hook.", 5) == 0);
        else
            CHECK(why != NULL);
        sq_buf_free(&key);
    }
    bool big;
    (void)sq_webhook_data_check(s, n, 1024, &big);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* NUL-terminated, for the parsers that look past a prefix */
    char *s = malloc(size);
    if (s == NULL)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    switch (data[0] % 3) {
    case 0:
        settings(s, size - 1);
        break;
    case 1:
        signature(s, size - 1);
        break;
    default:
        body(s, size - 1);
        break;
    }
    free(s);
    return 0;
}
