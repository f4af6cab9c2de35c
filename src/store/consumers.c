/* Consumers: their settings and stats, receive (leases), peek, ack, nack, extend, redrive. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "encode.h"
#include "sequin/push_rules.h"

static void read_consumer(sq_row *w, void *item)
{
    sq_consumer *out = item;
    memset(&out->settings, 0, sizeof out->settings); /* its padding too: callers compare it */
    sq_row_id(w, out->id);
    out->name = sq_row_text(w);
    out->stream_id = sq_row_text(w);
    out->stream_num = (int)sq_row_int(w);
    out->filter = sq_row_text(w);
    out->settings.ack_wait_ms = (int)sq_row_int(w);
    out->settings.max_ack_pending = (int)sq_row_int(w);
    out->settings.max_deliver = (int)sq_row_int(w);
    out->deliver_new = sq_row_bool(w);
    out->managed_by_config = sq_row_bool(w);
    out->push = sq_row_bool(w);
    out->endpoint.url = sq_row_text(w);
    out->endpoint.headers = sq_row_strings(w, &out->endpoint.n_headers);
    out->endpoint.signing_secret = sq_row_text(w);
    out->settings.push = (sq_push_settings){.max_waiting = (int)sq_row_int(w),
                                            .backoff_base_ms = (int)sq_row_int(w),
                                            .backoff_max_ms = (int)sq_row_int(w)};
    out->available = sq_row_int(w);
    out->delivered = sq_row_int(w);
    out->dead = sq_row_int(w);
    out->oldest_available_age_s = sq_row_double(w);
    out->inserted_at = sq_row_text(w);
    out->updated_at = sq_row_text(w);
}

/* Begins call `op` about consumer `subject` of `stream` with statement `first`; the call keeps
 * the stream for get_again. */
static int begin_in(sq_store *s, const char *op, int stream, const char *subject,
                    const sq_stmt *first, char *err, size_t errlen)
{
    int rc = sq_store_begin(s, op, subject, first, err, errlen);
    if (rc == SQ_OK)
        s->call.stream = stream;
    return rc;
}

/* Begins call `op` with consumer_get of (stream, name_or_id) and `next` for its row. */
static int begin_get(sq_store *s, const char *op, int stream, const char *name_or_id,
                     sq_call_step next, char *err, size_t errlen)
{
    char stream_s[16];
    snprintf(stream_s, sizeof stream_s, "%d", stream);
    const char *values[2] = {stream_s, name_or_id};
    sq_stmt st = {.id = SQ_STMT_CONSUMER_GET, .n = 2, .values = values, .next = next};
    return begin_in(s, op, stream, name_or_id, &st, err, errlen);
}

/* The last statement of create and edit: the consumer as it is now, with its stats. */
static int get_again(sq_store *s, const char *name_or_id)
{
    char stream_s[16];
    snprintf(stream_s, sizeof stream_s, "%d", s->call.stream);
    s->call.subject = name_or_id;
    const char *values[2] = {stream_s, name_or_id};
    return sq_store_next(s, &(sq_stmt){.id = SQ_STMT_CONSUMER_GET, .n = 2, .values = values});
}

/* The finish of get, create and edit, which all end with the consumer as it is now. */
static int finish_consumer(sq_store *s, const char *op, sq_consumer *out, sq_arena *arena,
                           char *err, size_t errlen)
{
    return sq_store_finish_one(s, op, read_consumer, out, arena, "consumer", err, errlen);
}

int sq_store_begin_consumer_get(sq_store *s, int stream, const char *name_or_id, char *err,
                                size_t errlen)
{
    return begin_get(s, "consumer_get", stream, name_or_id, NULL, err, errlen);
}

int sq_store_finish_consumer_get(sq_store *s, sq_consumer *out, sq_arena *arena, char *err,
                                 size_t errlen)
{
    return finish_consumer(s, "consumer_get", out, arena, err, errlen);
}

/* A stream's number and one of its consumers' id, from their names or ids. */
struct resolved {
    int stream;
    char *consumer; /* room for 37 */
};

static void read_resolved(sq_row *w, void *item)
{
    struct resolved *out = item;
    out->stream = (int)sq_row_int(w);
    sq_row_id(w, out->consumer);
}

int sq_store_begin_resolve(sq_store *s, const char *stream, const char *consumer, char *err,
                           size_t errlen)
{
    const char *values[] = {stream, consumer};
    sq_stmt st = {.id = SQ_STMT_RESOLVE, .n = 2, .values = values};
    return sq_store_begin(s, "resolve", stream, &st, err, errlen);
}

int sq_store_finish_resolve(sq_store *s, int *stream_num, char consumer_id[37], char *err,
                            size_t errlen)
{
    struct resolved r = {0, consumer_id};
    consumer_id[0] = '\0';
    int rc = sq_store_finish_one(s, "resolve", read_resolved, &r, NULL, "stream", err, errlen);
    *stream_num = r.stream;
    return rc;
}

int sq_store_begin_consumer_list(sq_store *s, int stream, char *err, size_t errlen)
{
    char stream_s[16];
    snprintf(stream_s, sizeof stream_s, "%d", stream);
    const char *values[1] = {stream_s};
    sq_stmt st = {.id = SQ_STMT_CONSUMER_LIST, .n = 1, .values = values};
    return sq_store_begin(s, "consumer_list", NULL, &st, err, errlen);
}

int sq_store_finish_consumer_list(sq_store *s, sq_consumer **out, size_t *count, sq_arena *arena,
                                  char *err, size_t errlen)
{
    return sq_store_finish_contents(s, "consumer_list", 0, sizeof **out, read_consumer, out, count,
                                    arena, "stream", err, errlen);
}

static int consumer_created(sq_store *s, PGresult *r)
{
    int rc = sq_store_created(s, r, "consumer");
    return rc != SQ_OK ? rc : get_again(s, s->call.subject);
}

int sq_store_begin_consumer_create(sq_store *s, int stream, const char *name, const char *filter,
                                   const sq_consumer_settings *settings, bool deliver_new,
                                   char *err, size_t errlen)
{
    char stream_s[16], wait_s[16], pending_s[16], max_s[16], push_s[3][16];
    const sq_push_settings *push = &settings->push;
    snprintf(stream_s, sizeof stream_s, "%d", stream);
    snprintf(wait_s, sizeof wait_s, "%d", settings->ack_wait_ms);
    snprintf(pending_s, sizeof pending_s, "%d", settings->max_ack_pending);
    snprintf(max_s, sizeof max_s, "%d", settings->max_deliver);
    snprintf(push_s[0], sizeof push_s[0], "%d",
             push->max_waiting > 0 ? push->max_waiting : SQ_PUSH_DEFAULT_MAX_WAITING);
    snprintf(push_s[1], sizeof push_s[1], "%d",
             push->backoff_base_ms > 0 ? push->backoff_base_ms : SQ_PUSH_DEFAULT_BACKOFF_BASE_MS);
    snprintf(push_s[2], sizeof push_s[2], "%d",
             push->backoff_max_ms > 0 ? push->backoff_max_ms : SQ_PUSH_DEFAULT_BACKOFF_MAX_MS);
    bool is_push = push->http_endpoint != NULL;
    const char *values[11] = {stream_s,
                              name,
                              filter,
                              wait_s,
                              pending_s,
                              max_s,
                              deliver_new ? "new" : "all",
                              push->http_endpoint,
                              is_push ? push_s[0] : NULL,
                              is_push ? push_s[1] : NULL,
                              is_push ? push_s[2] : NULL};
    sq_stmt st = {
        .id = SQ_STMT_CONSUMER_CREATE, .n = 11, .values = values, .next = consumer_created};
    return begin_in(s, "consumer_create", stream, name, &st, err, errlen);
}

int sq_store_finish_consumer_create(sq_store *s, sq_consumer *out, sq_arena *arena, char *err,
                                    size_t errlen)
{
    return finish_consumer(s, "consumer_create", out, arena, err, errlen);
}

/* The consumer an edit or delete names is found: its id goes to the call, unless the config
 * file owns it. */
static int editable(sq_store *s, PGresult *r)
{
    sq_call *c = &s->call;
    int rc = sq_store_found(s, r, "consumer");
    if (rc != SQ_OK)
        return rc;
    sq_consumer found;
    sq_row w = {r, 0, 0, &c->mem, false};
    read_consumer(&w, &found);
    if (w.oom)
        return sq_store_fail(NULL, NULL, c->err, sizeof c->err, "out of memory");
    if (found.managed_by_config && !c->as_config) {
        sq_store_fail(NULL, NULL, c->err, sizeof c->err,
                      "consumer \"%s\" is declared in the config file: change it there and "
                      "reload",
                      found.name);
        return SQ_STORE_CONFLICT;
    }
    memcpy(c->id, found.id, sizeof c->id);
    return SQ_OK;
}

/* The update returns no row when the consumer was deleted since it was found. */
static int edited(sq_store *s, PGresult *r)
{
    int rc = sq_store_found(s, r, "consumer");
    return rc != SQ_OK ? rc : get_again(s, s->call.id);
}

/* The push settings an edit asks for that the consumer it found cannot take: a reason in the
 * call's err and SQ_STORE_CONFLICT, or SQ_OK. A stored max_waiting above a lowered
 * max_ack_pending is lowered by the edit's statement instead. */
static int push_edit_refused(sq_store *s, const sq_consumer *found)
{
    sq_call *c = &s->call;
    const sq_consumer_settings *ch = &c->changes;
    const sq_push_settings *p = &ch->push;
    const char *why = NULL;
    int pending = ch->max_ack_pending >= 0 ? ch->max_ack_pending : found->settings.max_ack_pending;
    int base = p->backoff_base_ms > 0 ? p->backoff_base_ms : found->settings.push.backoff_base_ms;
    int max = p->backoff_max_ms > 0 ? p->backoff_max_ms : found->settings.push.backoff_max_ms;
    bool asks = p->http_endpoint != NULL || p->max_waiting > 0 || p->backoff_base_ms > 0 ||
                p->backoff_max_ms > 0;
    if (asks && !found->push)
        why = "is a pull consumer: http_endpoint, max_waiting and backoff are a push consumer's "
              "(the kind cannot change: create a push consumer with a new name)";
    else if (p->max_waiting > pending)
        why = "cannot have max_waiting above max_ack_pending";
    else if (found->push && base > max)
        why = "cannot have backoff_base_ms above backoff_max_ms";
    if (why == NULL)
        return SQ_OK;
    snprintf(c->err, sizeof c->err, "consumer \"%s\" %s", found->name, why);
    return SQ_STORE_CONFLICT;
}

static int edit_found(sq_store *s, PGresult *r)
{
    sq_call *c = &s->call;
    int rc = editable(s, r);
    if (rc != SQ_OK)
        return rc;
    sq_consumer found;
    sq_row w = {r, 0, 0, &c->mem, false};
    read_consumer(&w, &found);
    if (w.oom)
        return sq_store_fail(NULL, NULL, c->err, sizeof c->err, "out of memory");
    if (c->changes.push.http_endpoint != NULL && c->changes.push.http_endpoint[0] == '\0')
        return sq_store_fail(NULL, NULL, c->err, sizeof c->err, "out of memory");
    if ((rc = push_edit_refused(s, &found)) != SQ_OK)
        return rc;
    const sq_push_settings *p = &c->changes.push;
    char wait_s[16], pending_s[16], max_s[16], push_s[3][16];
    snprintf(wait_s, sizeof wait_s, "%d", c->changes.ack_wait_ms);
    snprintf(pending_s, sizeof pending_s, "%d", c->changes.max_ack_pending);
    snprintf(max_s, sizeof max_s, "%d", c->changes.max_deliver);
    snprintf(push_s[0], sizeof push_s[0], "%d", p->max_waiting);
    snprintf(push_s[1], sizeof push_s[1], "%d", p->backoff_base_ms);
    snprintf(push_s[2], sizeof push_s[2], "%d", p->backoff_max_ms);
    const char *values[8] = {c->id,
                             c->changes.ack_wait_ms >= 0 ? wait_s : NULL,
                             c->changes.max_ack_pending >= 0 ? pending_s : NULL,
                             c->changes.max_deliver >= 0 ? max_s : NULL,
                             p->http_endpoint,
                             p->max_waiting > 0 ? push_s[0] : NULL,
                             p->backoff_base_ms > 0 ? push_s[1] : NULL,
                             p->backoff_max_ms > 0 ? push_s[2] : NULL};
    return sq_store_next(
        s, &(sq_stmt){.id = SQ_STMT_CONSUMER_EDIT, .n = 8, .values = values, .next = edited});
}

int sq_store_begin_consumer_edit(sq_store *s, int stream, const char *name_or_id,
                                 const sq_consumer_settings *changes, bool as_config, char *err,
                                 size_t errlen)
{
    int rc = begin_get(s, "consumer_edit", stream, name_or_id, edit_found, err, errlen);
    if (rc == SQ_OK) {
        s->call.changes = *changes;
        s->call.as_config = as_config;
        /* The endpoint is the caller's: the call keeps a copy for its next statement. The
         * first statement is sent already, so running out of memory here is the call's
         * failure, which edit_found reports (an empty endpoint is never valid JSON). */
        const char *endpoint = changes->push.http_endpoint;
        if (endpoint != NULL) {
            const char *copy = sq_arena_strdup(&s->call.mem, endpoint);
            s->call.changes.push.http_endpoint = copy != NULL ? copy : "";
        }
    }
    return rc;
}

int sq_store_finish_consumer_edit(sq_store *s, sq_consumer *out, sq_arena *arena, char *err,
                                  size_t errlen)
{
    return finish_consumer(s, "consumer_edit", out, arena, err, errlen);
}

static int deleted(sq_store *s, PGresult *r)
{
    return sq_store_found(s, r, "consumer");
}

static int delete_found(sq_store *s, PGresult *r)
{
    int rc = editable(s, r);
    if (rc != SQ_OK)
        return rc;
    const char *values[1] = {s->call.id};
    return sq_store_next(
        s, &(sq_stmt){.id = SQ_STMT_CONSUMER_DELETE, .n = 1, .values = values, .next = deleted});
}

int sq_store_begin_consumer_delete(sq_store *s, int stream, const char *name_or_id, bool as_config,
                                   char *err, size_t errlen)
{
    int rc = begin_get(s, "consumer_delete", stream, name_or_id, delete_found, err, errlen);
    if (rc == SQ_OK)
        s->call.as_config = as_config;
    return rc;
}

int sq_store_finish_consumer_delete(sq_store *s, char id[37], char *err, size_t errlen)
{
    PGresult *r;
    int rc = sq_store_end(s, "consumer_delete", &r, err, errlen);
    PQclear(r);
    if (rc == SQ_OK)
        memcpy(id, s->call.id, sizeof s->call.id);
    return rc;
}

static void read_delivery(sq_row *w, void *item)
{
    sq_delivery *d = item;
    sq_row_id(w, d->ack_id);
    d->deliver_count = (int)sq_row_int(w);
    sq_row_message(w, &d->message);
}

static void read_consumer_message(sq_row *w, void *item)
{
    sq_consumer_message *m = item;
    sq_row_pair_info(w, &m->info);
    sq_row_message(w, &m->message);
}

int sq_store_begin_receive(sq_store *s, const char *consumer, int max, char *err, size_t errlen)
{
    char max_s[16];
    snprintf(max_s, sizeof max_s, "%d", max);
    const char *values[2] = {consumer, max_s};
    sq_stmt st = {.id = SQ_STMT_RECEIVE, .n = 2, .values = values};
    int rc = sq_store_begin(s, "receive", NULL, &st, err, errlen);
    if (rc == SQ_OK)
        s->call.max = max;
    return rc;
}

int sq_store_finish_receive(sq_store *s, sq_delivery *out, int *count, sq_arena *arena, char *err,
                            size_t errlen)
{
    int max = s->call.max;
    sq_delivery *got;
    size_t n;
    int rc = sq_store_finish_list(s, "receive", sizeof *got, read_delivery, &got, &n, arena, err,
                                  errlen);
    if (rc != SQ_OK)
        return rc;
    if (n > (size_t)max)
        n = (size_t)max; /* cannot happen: receive claims at most max */
    memcpy(out, got, n * sizeof *got);
    *count = (int)n;
    return SQ_OK;
}

int sq_store_begin_consumer_messages(sq_store *s, const char *consumer, const char *state,
                                     const char *filter, int limit, char *err, size_t errlen)
{
    char limit_s[16];
    snprintf(limit_s, sizeof limit_s, "%d", limit);
    const char *values[4] = {consumer, state, filter, limit_s};
    sq_stmt st = {.id = SQ_STMT_CONSUMER_MESSAGES, .n = 4, .values = values};
    return sq_store_begin(s, "consumer_messages", NULL, &st, err, errlen);
}

int sq_store_finish_consumer_messages(sq_store *s, sq_consumer_message **out, size_t *count,
                                      sq_arena *arena, char *err, size_t errlen)
{
    return sq_store_finish_contents(s, "consumer_messages", 5, sizeof **out, read_consumer_message,
                                    out, count, arena, "consumer", err, errlen);
}

/*
 * Begins one of the calls whose statement takes (consumer, ack ids[, int]). `ids` NULL with n 0
 * sends a NULL array (redrive: all dead).
 */
static int begin_ids(sq_store *s, const char *op, sq_stmt_id stmt, const char *consumer,
                     const char *const *ack_ids, size_t n, const char *extra, char *err,
                     size_t errlen)
{
    unsigned char *raw = NULL;
    const char **ptrs = NULL;
    size_t *lens = NULL;
    sq_buf ids = {0};
    int rc = SQ_ERR;

    raw = malloc(n * 16 + 1);
    ptrs = malloc((n + 1) * sizeof *ptrs);
    lens = malloc((n + 1) * sizeof *lens);
    if (raw == NULL || ptrs == NULL || lens == NULL) {
        sq_store_fail(NULL, NULL, err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (sq_encode_uuid(ack_ids[i], raw + 16 * i) != SQ_OK) {
            sq_store_fail(NULL, NULL, err, errlen, "\"%s\" is not a UUID", ack_ids[i]);
            goto done;
        }
        ptrs[i] = (const char *)raw + 16 * i;
        lens[i] = 16;
    }
    if (ack_ids != NULL && sq_encode_array(&ids, SQ_OID_UUID, ptrs, lens, n) != SQ_OK) {
        sq_store_fail(NULL, NULL, err, errlen, "out of memory");
        goto done;
    }
    const char *values[3] = {consumer, ack_ids != NULL ? ids.data : NULL, extra};
    int lengths[3] = {0, (int)ids.len, 0};
    int formats[3] = {0, 1, 0};
    sq_stmt st = {stmt, extra != NULL ? 3 : 2, values, lengths, formats, NULL};
    rc = sq_store_begin(s, op, NULL, &st, err, errlen);
done:
    sq_buf_free(&ids);
    free(lens);
    free(ptrs);
    free(raw);
    return rc;
}

int sq_store_begin_ack(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n,
                       char *err, size_t errlen)
{
    return begin_ids(s, "ack", SQ_STMT_ACK, consumer, ack_ids, n, NULL, err, errlen);
}

int sq_store_begin_nack(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n,
                        int delay_ms, char *err, size_t errlen)
{
    char delay[16];
    snprintf(delay, sizeof delay, "%d", delay_ms);
    return begin_ids(s, "nack", SQ_STMT_NACK, consumer, ack_ids, n, delay, err, errlen);
}

int sq_store_begin_extend(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n,
                          char *err, size_t errlen)
{
    return begin_ids(s, "extend", SQ_STMT_EXTEND, consumer, ack_ids, n, NULL, err, errlen);
}

int sq_store_begin_redrive(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n,
                           char *err, size_t errlen)
{
    return begin_ids(s, "redrive", SQ_STMT_REDRIVE, consumer, n > 0 ? ack_ids : NULL, n, NULL, err,
                     errlen);
}

int sq_store_finish_redrive(sq_store *s, long long *redriven, char *err, size_t errlen)
{
    return sq_store_finish_one(s, "redrive", sq_read_count, redriven, NULL, "result", err, errlen);
}

int sq_store_begin_next_visible(sq_store *s, const char *consumer, char *err, size_t errlen)
{
    const char *values[] = {consumer};
    sq_stmt st = {.id = SQ_STMT_NEXT_VISIBLE, .n = 1, .values = values};
    return sq_store_begin(s, "next_visible", NULL, &st, err, errlen);
}

int sq_store_finish_next_visible(sq_store *s, long long *ms, char *err, size_t errlen)
{
    return sq_store_finish_one(s, "next_visible", sq_read_count, ms, NULL, "result", err, errlen);
}

int sq_store_begin_consumer_list_all(sq_store *s, char *err, size_t errlen)
{
    sq_stmt st = {.id = SQ_STMT_CONSUMER_LIST_ALL, .n = 0, .values = NULL};
    return sq_store_begin(s, "consumer_list_all", NULL, &st, err, errlen);
}

int sq_store_finish_consumer_list_all(sq_store *s, sq_consumer **out, size_t *count,
                                      sq_arena *arena, char *err, size_t errlen)
{
    return sq_store_finish_list(s, "consumer_list_all", sizeof **out, read_consumer, out, count,
                                arena, err, errlen);
}

int sq_store_begin_push_consumers(sq_store *s, char *err, size_t errlen)
{
    sq_stmt st = {.id = SQ_STMT_PUSH_CONSUMERS, .n = 0, .values = NULL};
    return sq_store_begin(s, "push_consumers", NULL, &st, err, errlen);
}

int sq_store_finish_push_consumers(sq_store *s, sq_consumer **out, size_t *count, sq_arena *arena,
                                   char *err, size_t errlen)
{
    return sq_store_finish_list(s, "push_consumers", sizeof **out, read_consumer, out, count, arena,
                                err, errlen);
}
