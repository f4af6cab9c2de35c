/* The pushers process: a child kind of the master, one per node, that runs the delivery engine
 * (pusher.c) over every push consumer of the store, the list looked at again every second, and
 * starts over on a fresh store connection after any failure (docs/consumers.md, "Push
 * delivery"). Leases keep two nodes from pushing one message at once. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sequin/log.h"
#include "sequin/push.h"

#define LIST_EVERY_MS 1000
#define ROUND_WAIT_MS 100
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The store's push consumers as the engine's targets (strings in `arena`). */
static int list_targets(sq_store *store, sq_push_target **out, size_t *n, sq_arena *arena,
                        char *err, size_t errlen)
{
    sq_consumer *cs;
    sq_stream *streams;
    size_t ncs, nstreams;
    if (sq_store_push_consumers(store, &cs, &ncs, arena, err, errlen) != SQ_OK ||
        sq_store_stream_list(store, &streams, &nstreams, arena, err, errlen) != SQ_OK)
        return SQ_ERR;
    sq_push_target *t = sq_arena_calloc(arena, ncs ? ncs : 1, sizeof *t);
    if (!t)
        return sq_fail(err, errlen, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < ncs; i++) {
        const sq_consumer *c = &cs[i];
        const char *stream = NULL;
        for (size_t j = 0; j < nstreams && !stream; j++)
            if (streams[j].num == c->stream_num)
                stream = streams[j].name;
        if (!stream || !c->endpoint.url)
            continue; /* its stream went between the two calls */
        sq_push_target *x = &t[k++];
        snprintf(x->consumer_id, sizeof x->consumer_id, "%s", c->id);
        x->consumer = c->name;
        x->stream = stream;
        x->stream_num = c->stream_num;
        x->url = c->endpoint.url;
        x->headers = c->endpoint.headers;
        x->nheaders = c->endpoint.n_headers;
        x->signing_secret = c->endpoint.signing_secret;
        x->max_waiting = c->settings.push.max_waiting;
        x->ack_wait_ms = c->settings.ack_wait_ms;
        x->backoff = (sq_push_backoff){c->settings.push.backoff_base_ms,
                                       c->settings.push.backoff_max_ms, NULL, 0};
    }
    *out = t;
    *n = k;
    return SQ_OK;
}

/* Delivers until an error or a stop signal (`*stop` set). */
static int deliver(const sq_config *cfg, const sigset_t *signals, bool *stop, char *err,
                   size_t errlen)
{
    sq_store *store = NULL;
    sq_pusher *p = NULL;
    sq_arena mem = {0};
    int rc = SQ_ERR;
    long long listed = 0;

    if (sq_store_open(cfg->database.url, &store, err, errlen) != SQ_OK ||
        sq_pusher_new(store, &p, err, errlen) != SQ_OK)
        goto done;
    sq_info("pushers: delivering");
    while (!*stop) {
        if (now_ms() - listed >= LIST_EVERY_MS) {
            sq_push_target *t = NULL;
            size_t n = 0;
            sq_arena_reset(&mem);
            if (list_targets(store, &t, &n, &mem, err, errlen) != SQ_OK ||
                sq_pusher_set(p, t, n, err, errlen) != SQ_OK)
                goto done;
            listed = now_ms();
        }
        if (sq_pusher_round(p, ROUND_WAIT_MS, err, errlen) != SQ_OK)
            goto done;
        struct timespec none = {0};
        int sig = sigtimedwait(signals, NULL, &none);
        *stop = sig == SIGTERM || sig == SIGQUIT || sig == SIGINT;
    }
    rc = SQ_OK;
done:
    sq_pusher_free(p);
    sq_store_close(store);
    sq_arena_free(&mem);
    return rc;
}

int sq_push_process_run(const sq_config *cfg)
{
    sigset_t signals;
    bool stop = false;
    long long backoff = BACKOFF_MIN_MS;
    char err[512];

    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGQUIT);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    sigprocmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    sq_log_set_process("pushers");

    while (!stop) {
        long long started = now_ms();
        if (deliver(cfg, &signals, &stop, err, sizeof err) == SQ_OK)
            break;
        if (now_ms() - started > BACKOFF_MAX_MS)
            backoff = BACKOFF_MIN_MS; /* it worked for a while: start over */
        sq_error("pushers: %s (again in %lld ms)", err, backoff);
        /* The wait, cut short by a stop signal. */
        struct timespec wait = {backoff / 1000, (backoff % 1000) * 1000000};
        int sig = sigtimedwait(&signals, NULL, &wait);
        stop = sig == SIGTERM || sig == SIGQUIT || sig == SIGINT;
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    return 0;
}
