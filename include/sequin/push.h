/* What a push consumer sends to its endpoint for one delivery, and how it reads the answer: the
 * request body, its signature, the wait before a retry (docs/consumers.md, "Push delivery"). The
 * pushing process builds on these; they do no I/O. */
#ifndef SEQUIN_PUSH_H
#define SEQUIN_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sequin/buf.h"
#include "sequin/store.h"

/*
 * The JSON body of one delivery: {"key", "data", "seq", "stream", "consumer",
 * "deliver_count"}, data as the message's text (what receive gives). Appended to `out`.
 * 0, or -1 when out of memory.
 */
SQ_WUR int sq_push_body(sq_buf *out, const sq_delivery *d, const char *stream,
                        const char *consumer);

/* The header that carries a body's signature, and the longest value it takes (with the NUL). */
#define SQ_PUSH_SIGNATURE_HEADER "Sequin-Signature"
#define SQ_PUSH_SIGNATURE_MAX 96

/*
 * The signature header's value for `body` sent at `unix_s` under `secret`, in the shape Stripe's
 * receivers check: "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">". The timestamp inside
 * the signed text lets a receiver refuse a replay of an old request.
 */
void sq_push_signature(const char *secret, int64_t unix_s, const char *body, size_t len,
                       char out[SQ_PUSH_SIGNATURE_MAX]);

/* How long to wait before a failed delivery is tried again. */
typedef struct sq_push_backoff {
    int base_ms;        /* the first wait; each next one doubles, */
    int max_ms;         /* up to this */
    const int *list_ms; /* or these waits, one per delivery (the last repeats); NULL: doubling */
    size_t nlist;
} sq_push_backoff;

/*
 * The wait after delivery number `deliver_count` (1 for the first) failed. Doubling waits are
 * jittered: a random point in the upper half of the doubled wait, from the xorshift state
 * `*rng` (nonzero), so that endpoints recovering from an outage are not hit by every retry at
 * once. A list's waits are taken as they are.
 */
long long sq_push_backoff_ms(const sq_push_backoff *b, int deliver_count, uint64_t *rng);

/*
 * A Retry-After header value (RFC 9110 10.2.3): delay-seconds or an HTTP-date (IMF-fixdate), as
 * milliseconds from `now_unix`; a date in the past is 0. 0 with `*ms`, or -1 for a value of
 * neither form (the caller then waits its own backoff). Values over a day are a day.
 */
SQ_WUR int sq_push_retry_after(const char *value, size_t len, int64_t now_unix, long long *ms);

/* Whether an HTTP status acks the delivery: any 2xx. */
bool sq_push_status_acks(long status);

/* Whether a status asks for its Retry-After to be honoured: 429 and 503. */
bool sq_push_status_honours_retry_after(long status);

#endif
