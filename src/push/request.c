/* A push delivery's request and the reading of its answer: body, signature, backoff and
 * Retry-After (include/sequin/push.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sequin/json.h"
#include "sequin/push.h"
#include "sequin/sha256.h"

#define DAY_MS (24LL * 3600 * 1000)

int sq_push_body(sq_buf *out, const sq_delivery *d, const char *stream, const char *consumer)
{
    size_t start = out->len;
    sq_json_writer w;
    sq_json_writer_init(&w, out);
    int rc = sq_json_write_begin_object(&w);
    rc |= sq_json_write_key(&w, "key") || sq_json_write_string(&w, d->message.key);
    rc |= sq_json_write_key(&w, "data") ||
          sq_json_write_stringn(&w, d->message.data, d->message.data_len);
    rc |= sq_json_write_key(&w, "seq") || sq_json_write_int64(&w, d->message.seq);
    rc |= sq_json_write_key(&w, "stream") || sq_json_write_string(&w, stream);
    rc |= sq_json_write_key(&w, "consumer") || sq_json_write_string(&w, consumer);
    rc |= sq_json_write_key(&w, "deliver_count") || sq_json_write_int64(&w, d->deliver_count);
    rc |= sq_json_write_end_object(&w);
    if (rc != SQ_OK || sq_json_writer_finish(&w) != SQ_OK) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return SQ_ERR;
    }
    return SQ_OK;
}

void sq_push_signature(const char *secret, int64_t unix_s, const char *body, size_t len,
                       char out[SQ_PUSH_SIGNATURE_MAX])
{
    char stamp[24], hex[2 * SQ_SHA256_LEN + 1];
    unsigned char inner[SQ_SHA256_LEN];
    int n = snprintf(stamp, sizeof stamp, "%lld.", (long long)unix_s);

    /* HMAC over "<t>." then the body: the signed text without a copy of the body. */
    sq_hmac_sha256_ctx h;
    sq_hmac_sha256_init(&h, secret, strlen(secret));
    sq_hmac_sha256_update(&h, stamp, (size_t)n);
    sq_hmac_sha256_update(&h, body, len);
    sq_hmac_sha256_final(&h, inner);
    sq_sha256_hex(inner, hex);
    snprintf(out, SQ_PUSH_SIGNATURE_MAX, "t=%lld,v1=%s", (long long)unix_s, hex);
}

static uint64_t next_random(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

long long sq_push_backoff_ms(const sq_push_backoff *b, int deliver_count, uint64_t *rng)
{
    int n = deliver_count < 1 ? 1 : deliver_count;
    if (b->list_ms && b->nlist > 0)
        return b->list_ms[(size_t)n - 1 < b->nlist ? (size_t)n - 1 : b->nlist - 1];
    long long wait = b->base_ms > 0 ? b->base_ms : 1;
    for (int i = 1; i < n && wait < b->max_ms; i++)
        wait *= 2;
    if (wait > b->max_ms)
        wait = b->max_ms;
    long long half = wait / 2;
    return half + (half > 0 ? (long long)(next_random(rng) % (uint64_t)(half + 1)) : 0);
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate, RFC 9110 5.6.7) to Unix seconds. */
static int parse_imf_fixdate(const char *s, size_t len, int64_t *out)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char text[40], wday[4], mon[4], zone[4];
    int day, year, hh, mm, ss, used = 0;
    if (len >= sizeof text)
        return SQ_ERR;
    memcpy(text, s, len);
    text[len] = '\0';
    if (sscanf(text, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3[A-Z]%n", wday, &day, mon, &year,
               &hh, &mm, &ss, zone, &used) != 8 ||
        (size_t)used != len || strcmp(zone, "GMT") != 0)
        return SQ_ERR;
    int m = -1;
    for (int i = 0; i < 12; i++)
        if (strcmp(mon, months[i]) == 0)
            m = i;
    if (m < 0 || day < 1 || day > 31 || year < 1970 || hh > 23 || mm > 59 || ss > 60)
        return SQ_ERR;
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = m,
                    .tm_mday = day,
                    .tm_hour = hh,
                    .tm_min = mm,
                    .tm_sec = ss};
    *out = (int64_t)timegm(&tm);
    return SQ_OK;
}

int sq_push_retry_after(const char *value, size_t len, int64_t now_unix, long long *ms)
{
    while (len > 0 && (*value == ' ' || *value == '\t'))
        value++, len--;
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    if (len == 0)
        return SQ_ERR;
    if (value[0] >= '0' && value[0] <= '9') {
        long long secs = 0;
        for (size_t i = 0; i < len; i++) {
            if (value[i] < '0' || value[i] > '9')
                return SQ_ERR;
            if (secs < DAY_MS / 1000)
                secs = secs * 10 + (value[i] - '0');
        }
        *ms = secs * 1000 > DAY_MS ? DAY_MS : secs * 1000;
        return SQ_OK;
    }
    int64_t when;
    if (parse_imf_fixdate(value, len, &when) != SQ_OK)
        return SQ_ERR;
    long long d = (when - now_unix) * 1000;
    *ms = d < 0 ? 0 : d > DAY_MS ? DAY_MS : d;
    return SQ_OK;
}

bool sq_push_status_acks(long status)
{
    return status >= 200 && status <= 299;
}

bool sq_push_status_honours_retry_after(long status)
{
    return status == 429 || status == 503;
}
