/* What a push consumer sends to its endpoint for one delivery, and how it reads the answer: the
 * request body, its signature, the wait before a retry (docs/consumers.md, "Push delivery"). The
 * pushing process builds on these; they do no I/O. */
#ifndef SEQUIN_PUSH_H
#define SEQUIN_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sequin/buf.h"
#include "sequin/config.h"
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

/* ---- the delivery engine: leases a push consumer's messages and POSTs each ---------------- */

/* One push consumer as the engine delivers it: everything is copied by sq_pusher_set. */
typedef struct sq_push_target {
    char consumer_id[37];
    const char *consumer, *stream; /* names, for the body */
    int stream_num;                /* which notifications wake it */
    const char *url;
    const char *const *headers; /* "Name: value" lines sent with every request */
    size_t nheaders;
    const char *signing_secret; /* NULL: unsigned */
    int max_waiting;            /* deliveries in flight at once */
    int ack_wait_ms;            /* the lease: each request is given up at 90% of it */
    sq_push_backoff backoff;
} sq_push_target;

/* Why a delivery failed, for the metrics. */
typedef enum sq_push_cause {
    SQ_PUSH_STATUS,  /* answered, but not 2xx */
    SQ_PUSH_TIMEOUT, /* no answer within ack_wait_ms */
    SQ_PUSH_REFUSED, /* no connection */
    SQ_PUSH_RESET,   /* the connection broke */
    SQ_PUSH_TLS,     /* TLS failed */
    SQ_PUSH_OTHER,
    SQ_PUSH_CAUSES
} sq_push_cause;

/* What the engine has done for one target since it was set. */
typedef struct sq_push_stats {
    long long pushed, retries, failed[SQ_PUSH_CAUSES];
    int in_flight;
    char last_error[160]; /* the last failure, "" when none yet */
} sq_push_stats;

typedef struct sq_pusher sq_pusher;

/* An engine over `store` (the caller's connection, used synchronously; the engine does not own
 * it), which it makes listen: a notification of a target's stream wakes the target at once, so
 * a target with nothing to deliver asks the store again only when its next message is due by
 * the clock (a nack's wait, a lease's end) or once a second. 0, or -1. */
SQ_WUR int sq_pusher_new(sq_store *store, sq_pusher **out, char *err, size_t errlen);
/* Aborts the requests in flight (their leases run out and the messages go again) and frees. */
void sq_pusher_free(sq_pusher *p);

/* The targets to deliver from now on: a target whose consumer id stays keeps its requests in
 * flight and its stats; one that goes has its requests aborted. 0, or -1 (out of memory). */
SQ_WUR int sq_pusher_set(sq_pusher *p, const sq_push_target *targets, size_t n, char *err,
                         size_t errlen);

/*
 * One round: each target with room leases messages and sends them; then waits up to `wait_ms`
 * for answers and settles each one that came: a 2xx acks, anything else nacks with the
 * backoff's wait (or Retry-After's, on 429 and 503). 0, or -1 when the store failed (the caller
 * reconnects; leases of the requests in flight simply run out).
 */
SQ_WUR int sq_pusher_round(sq_pusher *p, int wait_ms, char *err, size_t errlen);

/*
 * The pushers process (a child kind of the master): runs the engine over every push consumer of
 * the store (the list looked at every second) until SIGTERM, starting over on a fresh store
 * connection with a backoff after any failure. Returns the process's exit status.
 */
int sq_push_process_run(const sq_config *cfg);

/* Target `consumer_id`'s stats; false when it is not a target. */
bool sq_pusher_stats(const sq_pusher *p, const char *consumer_id, sq_push_stats *out);

#endif
