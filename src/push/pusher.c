/* The push delivery engine (include/sequin/push.h): each target's messages leased from the
 * store, POSTed with libcurl's multi interface, and settled by the answers (docs/consumers.md,
 * "Push delivery"). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sequin/push.h"

/* A target with nothing to deliver asks again after this long at most, notification or not. */
#define IDLE_MAX_MS 1000
#define MAX_LEASE 1000

typedef struct target {
    sq_push_target def; /* strings in mem */
    sq_arena mem;
    sq_push_stats stats;
    long long idle_until_ms;
    bool seen;
    /* The ack ids of this round's 2xx answers: acked in one store call at the round's end. */
    char (*acks)[37];
    size_t nacks, capacks;
} target;

typedef struct transfer {
    struct transfer *next;
    CURL *easy;
    target *t;
    char ack_id[37];
    int deliver_count;
    sq_buf body;
    struct curl_slist *headers;
    char retry_after[48];
    char error[CURL_ERROR_SIZE];
} transfer;

struct sq_pusher {
    sq_store *store;
    CURLM *multi;
    target **targets;
    size_t ntargets;
    transfer *flying; /* every transfer in the multi handle */
    uint64_t rng;
    sq_arena scratch;
    sq_delivery *got; /* a lease's deliveries, room for MAX_LEASE: reused every round */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sq_pusher_new(sq_store *store, sq_pusher **out, char *err, size_t errlen)
{
    sq_pusher *p = calloc(1, sizeof *p);
    *out = NULL;
    if (!p || !(p->got = calloc(MAX_LEASE, sizeof *p->got)) || !(p->multi = curl_multi_init())) {
        if (p)
            free(p->got);
        free(p);
        return sq_fail(err, errlen, "out of memory");
    }
    if (sq_store_listen(store, err, errlen) != SQ_OK) {
        curl_multi_cleanup(p->multi);
        free(p->got);
        free(p);
        return SQ_ERR;
    }
    p->store = store;
    p->rng = (uint64_t)time(NULL) * 2654435761u | 1;
    *out = p;
    return SQ_OK;
}

static void transfer_free(sq_pusher *p, transfer *x)
{
    for (transfer **at = &p->flying; *at; at = &(*at)->next) {
        if (*at == x) {
            *at = x->next;
            break;
        }
    }
    curl_multi_remove_handle(p->multi, x->easy);
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    sq_buf_free(&x->body);
    x->t->stats.in_flight--;
    free(x);
}

static void target_free(sq_pusher *p, target *t)
{
    for (transfer *x = p->flying, *next; x; x = next) {
        next = x->next;
        if (x->t == t)
            transfer_free(p, x);
    }
    sq_arena_free(&t->mem);
    free(t->acks);
    free(t);
}

void sq_pusher_free(sq_pusher *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->ntargets; i++)
        target_free(p, p->targets[i]);
    free(p->targets);
    curl_multi_cleanup(p->multi);
    sq_arena_free(&p->scratch);
    free(p->got);
    free(p);
}

/* A copy of `d` in `t->mem`. */
static int copy_def(target *t, const sq_push_target *d)
{
    sq_arena *m = &t->mem;
    t->def = *d;
    t->def.consumer = sq_arena_strdup(m, d->consumer);
    t->def.stream = sq_arena_strdup(m, d->stream);
    t->def.url = sq_arena_strdup(m, d->url);
    t->def.signing_secret = d->signing_secret ? sq_arena_strdup(m, d->signing_secret) : NULL;
    const char **h = sq_arena_alloc(m, (d->nheaders ? d->nheaders : 1) * sizeof *h);
    int *list = sq_arena_alloc(m, (d->backoff.nlist ? d->backoff.nlist : 1) * sizeof *list);
    if (!t->def.consumer || !t->def.stream || !t->def.url || !h || !list ||
        (d->signing_secret && !t->def.signing_secret))
        return SQ_ERR;
    for (size_t i = 0; i < d->nheaders; i++)
        if (!(h[i] = sq_arena_strdup(m, d->headers[i])))
            return SQ_ERR;
    t->def.headers = h;
    if (d->backoff.list_ms)
        memcpy(list, d->backoff.list_ms, d->backoff.nlist * sizeof *list);
    t->def.backoff.list_ms = d->backoff.list_ms ? list : NULL;
    return SQ_OK;
}

int sq_pusher_set(sq_pusher *p, const sq_push_target *targets, size_t n, char *err, size_t errlen)
{
    target **next = calloc(n ? n : 1, sizeof *next);
    if (!next)
        return sq_fail(err, errlen, "out of memory");
    for (size_t i = 0; i < p->ntargets; i++)
        p->targets[i]->seen = false;
    for (size_t j = 0; j < n; j++) {
        target *t = NULL;
        for (size_t i = 0; i < p->ntargets && !t; i++)
            if (strcmp(p->targets[i]->def.consumer_id, targets[j].consumer_id) == 0)
                t = p->targets[i];
        if (t) {
            /* Kept: its requests in flight stay; its settings are the new ones. */
            sq_arena old = t->mem;
            t->mem = (sq_arena){0};
            if (copy_def(t, &targets[j]) != SQ_OK) {
                sq_arena_free(&t->mem);
                t->mem = old;
                goto nomem;
            }
            sq_arena_free(&old);
        } else if (!(t = calloc(1, sizeof *t)) || copy_def(t, &targets[j]) != SQ_OK) {
            if (t)
                sq_arena_free(&t->mem);
            free(t);
            goto nomem;
        }
        t->seen = true;
        next[j] = t;
    }
    for (size_t i = 0; i < p->ntargets; i++)
        if (!p->targets[i]->seen)
            target_free(p, p->targets[i]);
    free(p->targets);
    p->targets = next;
    p->ntargets = n;
    return SQ_OK;
nomem:
    /* The targets made so far that are new are not in p->targets: free them. */
    for (size_t j = 0; j < n; j++) {
        bool old = false;
        for (size_t i = 0; i < p->ntargets; i++)
            old = old || p->targets[i] == next[j];
        if (next[j] && !old)
            target_free(p, next[j]);
    }
    free(next);
    return sq_fail(err, errlen, "out of memory");
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
    transfer *x = ctx;
    size_t len = size * n;
    if (len > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
        size_t v = len - 12;
        while (v > 0 && (data[12 + v - 1] == '\r' || data[12 + v - 1] == '\n'))
            v--;
        snprintf(x->retry_after, sizeof x->retry_after, "%.*s", (int)v, data + 12);
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    (void)data, (void)ctx;
    return size * n; /* the answer's body says nothing to us */
}

/* A request for delivery `d` of target `t`, added to the multi handle. */
static int start(sq_pusher *p, target *t, const sq_delivery *d)
{
    transfer *x = calloc(1, sizeof *x);
    if (!x || !(x->easy = curl_easy_init()))
        goto fail;
    x->t = t;
    snprintf(x->ack_id, sizeof x->ack_id, "%s", d->ack_id);
    x->deliver_count = d->deliver_count;
    if (sq_push_body(&x->body, d, t->def.stream, t->def.consumer) != SQ_OK)
        goto fail;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    for (size_t i = 0; h && i < t->def.nheaders; i++)
        h = curl_slist_append(h, t->def.headers[i]) ? h : NULL;
    if (h && t->def.signing_secret) {
        char sig[SQ_PUSH_SIGNATURE_MAX], line[SQ_PUSH_SIGNATURE_MAX + 32];
        sq_push_signature(t->def.signing_secret, (int64_t)time(NULL), x->body.data, x->body.len,
                          sig);
        snprintf(line, sizeof line, SQ_PUSH_SIGNATURE_HEADER ": %s", sig);
        h = curl_slist_append(h, line) ? h : NULL;
    }
    if (!(x->headers = h))
        goto fail;
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, t->def.url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body.data);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body.len);
    /* Given up a tenth of the lease before it runs out, so that the message is nacked while
     * the lease still holds and never goes to a second request while this one is open. */
    long limit = (long)t->def.ack_wait_ms - t->def.ack_wait_ms / 10;
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, limit > 0 ? limit : 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->error);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    if (curl_multi_add_handle(p->multi, e) != CURLM_OK)
        goto fail;
    x->next = p->flying;
    p->flying = x;
    t->stats.in_flight++;
    return SQ_OK;
fail:
    if (x) {
        curl_easy_cleanup(x->easy);
        curl_slist_free_all(x->headers);
        sq_buf_free(&x->body);
    }
    free(x);
    return SQ_ERR;
}

/* Leases what each target has room for and sends it. */
static int fill(sq_pusher *p, char *err, size_t errlen)
{
    long long now = now_ms();
    for (size_t i = 0; i < p->ntargets; i++) {
        target *t = p->targets[i];
        int room = t->def.max_waiting - t->stats.in_flight;
        if (room <= 0 || now < t->idle_until_ms)
            continue;
        if (room > MAX_LEASE)
            room = MAX_LEASE;
        sq_delivery *got = p->got;
        int count = 0;
        sq_arena_reset(&p->scratch);
        int rc = sq_store_receive(p->store, t->def.consumer_id, room, got, &count, &p->scratch, err,
                                  errlen);
        if (rc == SQ_STORE_NOT_FOUND) {
            count = 0; /* deleted meanwhile: the next list drops it */
        } else if (rc != SQ_OK) {
            return SQ_ERR;
        }
        for (int k = 0; k < count; k++) {
            if (start(p, t, &got[k]) != SQ_OK) {
                return sq_fail(err, errlen, "out of memory starting a request");
            }
        }
        long long due = IDLE_MAX_MS;
        if (count == 0 && rc == SQ_OK &&
            sq_store_next_visible(p->store, t->def.consumer_id, &due, err, errlen) != SQ_OK)
            return SQ_ERR;
        if (count == 0)
            t->idle_until_ms = now + (due < 0 || due > IDLE_MAX_MS ? IDLE_MAX_MS : due);
    }
    return SQ_OK;
}

/* Wakes the targets of every stream a notification names (read by the store's calls and
 * polls). */
static void wake(sq_pusher *p)
{
    int stream;
    while (sq_store_next_notify(p->store, &stream) == SQ_OK)
        for (size_t i = 0; i < p->ntargets; i++)
            if (p->targets[i]->def.stream_num == stream)
                p->targets[i]->idle_until_ms = 0;
}

static sq_push_cause cause_of(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return SQ_PUSH_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        return SQ_PUSH_REFUSED;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return SQ_PUSH_RESET;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
        return SQ_PUSH_TLS;
    default:
        return SQ_PUSH_OTHER;
    }
}

/* The answer of a finished transfer: ack or nack, then the transfer goes. */
static int settle(sq_pusher *p, transfer *x, CURLcode result, char *err, size_t errlen)
{
    target *t = x->t;
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    const char *ids[1] = {x->ack_id};
    int rc;
    if (result == CURLE_OK && sq_push_status_acks(status)) {
        if (t->nacks == t->capacks) {
            size_t cap = t->capacks ? 2 * t->capacks : 16;
            char(*grown)[37] = realloc(t->acks, cap * sizeof *grown);
            if (!grown) {
                transfer_free(p, x);
                return sq_fail(err, errlen, "out of memory");
            }
            t->acks = grown;
            t->capacks = cap;
        }
        memcpy(t->acks[t->nacks++], x->ack_id, sizeof x->ack_id);
        rc = SQ_OK;
    } else {
        sq_push_cause cause = result == CURLE_OK ? SQ_PUSH_STATUS : cause_of(result);
        long long wait = sq_push_backoff_ms(&t->def.backoff, x->deliver_count, &p->rng), asked;
        if (result == CURLE_OK && sq_push_status_honours_retry_after(status) &&
            sq_push_retry_after(x->retry_after, strlen(x->retry_after), (int64_t)time(NULL),
                                &asked) == SQ_OK)
            wait = asked;
        t->stats.failed[cause]++;
        t->stats.retries++;
        if (result == CURLE_OK)
            snprintf(t->stats.last_error, sizeof t->stats.last_error, "HTTP %ld", status);
        else
            snprintf(t->stats.last_error, sizeof t->stats.last_error, "%.150s",
                     x->error[0] ? x->error : curl_easy_strerror(result));
        rc = sq_store_nack(p->store, t->def.consumer_id, ids, 1, (int)wait, err, errlen);
    }
    transfer_free(p, x);
    return rc == SQ_OK || rc == SQ_STORE_NOT_FOUND ? SQ_OK : SQ_ERR;
}

/* Each target's 2xx answers of this round, acked in one call. */
static int ack_round(sq_pusher *p, char *err, size_t errlen)
{
    for (size_t i = 0; i < p->ntargets; i++) {
        target *t = p->targets[i];
        if (t->nacks == 0)
            continue;
        const char **ids = malloc(t->nacks * sizeof *ids);
        if (!ids)
            return sq_fail(err, errlen, "out of memory");
        for (size_t k = 0; k < t->nacks; k++)
            ids[k] = t->acks[k];
        int rc = sq_store_ack(p->store, t->def.consumer_id, ids, t->nacks, err, errlen);
        free(ids);
        if (rc != SQ_OK && rc != SQ_STORE_NOT_FOUND)
            return SQ_ERR;
        t->stats.pushed += (long long)t->nacks;
        t->nacks = 0;
    }
    return SQ_OK;
}

int sq_pusher_round(sq_pusher *p, int wait_ms, char *err, size_t errlen)
{
    int running = 0;
    wake(p);
    if (fill(p, err, errlen) != SQ_OK)
        return SQ_ERR;
    curl_multi_perform(p->multi, &running);
    /* The store's socket too: a notification ends the wait. */
    struct curl_waitfd news = {sq_store_socket(p->store), CURL_WAIT_POLLIN, 0};
    curl_multi_poll(p->multi, &news, 1, wait_ms, NULL);
    if (news.revents) {
        bool want_write;
        if (sq_store_poll(p->store, &want_write) != SQ_AGAIN || sq_store_dead(p->store))
            return sq_fail(err, errlen, "the store's connection is gone");
        wake(p);
    }
    curl_multi_perform(p->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(p->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        transfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (settle(p, x, m->data.result, err, errlen) != SQ_OK)
            return SQ_ERR;
    }
    return ack_round(p, err, errlen);
}

bool sq_pusher_stats(const sq_pusher *p, const char *consumer_id, sq_push_stats *out)
{
    for (size_t i = 0; i < p->ntargets; i++) {
        if (strcmp(p->targets[i]->def.consumer_id, consumer_id) == 0) {
            *out = p->targets[i]->stats;
            return true;
        }
    }
    return false;
}
