/* Messages: the batch upsert, listing by filter, one message and its state per consumer. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "encode.h"
#include "sequin/sha256.h"

#define UPSERT_MAX 10000

/* An upsert alone (`groups` NULL), or the upserts of several requests with message i from
 * request groups[i]: one statement either way (sequin.upsert). */
static int begin_upsert(sq_store *s, int stream, const sq_message_in *msgs, size_t n,
                        const int *groups, char *err, size_t errlen)
{
    sq_buf keys = {0}, datas = {0}, hashes = {0}, grps = {0};
    int rc = SQ_ERR;

    if (n == 0 || n > UPSERT_MAX) {
        sq_store_fail(NULL, NULL, err, errlen, "a batch holds 1..%d messages, not %zu", UPSERT_MAX,
                      n);
        goto fail;
    }
    if (sq_encode_messages(msgs, n, &keys, &datas, &hashes) != SQ_OK)
        goto nomem;
    if (groups != NULL && sq_encode_int4_array(&grps, groups, sizeof *groups, n) != SQ_OK)
        goto nomem;

    /* libpq copies the parameters into its output buffer: they go when the send returns. */
    unsigned char stream_be[4];
    sq_encode_int4(stream, stream_be);
    const char *values[5] = {(const char *)stream_be, keys.data, datas.data, hashes.data,
                             groups != NULL ? grps.data : NULL};
    int lengths[5] = {4, (int)keys.len, (int)datas.len, (int)hashes.len, (int)grps.len};
    int formats[5] = {1, 1, 1, 1, 1};
    sq_stmt st = {SQ_STMT_UPSERT, 5, values, lengths, formats, NULL};
    rc = sq_store_begin(s, groups != NULL ? "upsert_grouped" : "upsert", NULL, &st, err, errlen);
    goto fail; /* the common release path */

nomem:
    sq_store_fail(NULL, NULL, err, errlen, "out of memory building the batch");
fail:
    sq_buf_free(&grps);
    sq_buf_free(&hashes);
    sq_buf_free(&datas);
    sq_buf_free(&keys);
    return rc;
}

/* Ends an upsert call: how many messages of each of `n_groups` requests were published. */
static int finish_upsert(sq_store *s, const char *op, long long *published, size_t n_groups,
                         char *err, size_t errlen)
{
    PGresult *r;
    int rc = sq_store_end(s, op, &r, err, errlen);
    if (rc != SQ_OK)
        return rc;
    for (size_t i = 0; i < n_groups; i++)
        published[i] = 0;
    for (int row = 0; row < PQntuples(r); row++) {
        long g = strtol(PQgetvalue(r, row, 0), NULL, 10);
        if (g >= 0 && (size_t)g < n_groups)
            published[g] = strtoll(PQgetvalue(r, row, 1), NULL, 10);
    }
    PQclear(r);
    return SQ_OK;
}

int sq_store_begin_upsert(sq_store *s, int stream, const sq_message_in *msgs, size_t n, char *err,
                          size_t errlen)
{
    return begin_upsert(s, stream, msgs, n, NULL, err, errlen);
}

int sq_store_finish_upsert(sq_store *s, long long *published, char *err, size_t errlen)
{
    return finish_upsert(s, "upsert", published, 1, err, errlen);
}

int sq_store_begin_upsert_grouped(sq_store *s, int stream, const sq_message_in *msgs, size_t n,
                                  const int *groups, char *err, size_t errlen)
{
    return begin_upsert(s, stream, msgs, n, groups, err, errlen);
}

int sq_store_finish_upsert_grouped(sq_store *s, long long *published, size_t n_groups, char *err,
                                   size_t errlen)
{
    return finish_upsert(s, "upsert_grouped", published, n_groups, err, errlen);
}

/* Begins call `op` with statement `stmt` of (stream, key): message get, info, delete. */
static int begin_keyed(sq_store *s, const char *op, sq_stmt_id stmt, int stream, const char *key,
                       sq_call_step next, char *err, size_t errlen)
{
    char stream_s[16];
    snprintf(stream_s, sizeof stream_s, "%d", stream);
    const char *values[2] = {stream_s, key};
    sq_stmt st = {.id = stmt, .n = 2, .values = values, .next = next};
    int rc = sq_store_begin(s, op, key, &st, err, errlen);
    if (rc == SQ_OK)
        s->call.stream = stream;
    return rc;
}

int sq_store_begin_message_delete(sq_store *s, int stream, const char *key, char *err,
                                  size_t errlen)
{
    int rc =
        begin_keyed(s, "message_delete", SQ_STMT_MESSAGE_DELETE, stream, key, NULL, err, errlen);
    if (rc == SQ_OK)
        s->call.what = sq_arena_printf(&s->call.mem, "deleting message \"%s\"", key);
    return rc;
}

int sq_store_finish_message_delete(sq_store *s, int *deleted, char *err, size_t errlen)
{
    return sq_store_finish_one(s, "message_delete", sq_read_flag, deleted, NULL, "result", err,
                               errlen);
}

int sq_store_begin_notify(sq_store *s, int stream, char *err, size_t errlen)
{
    char stream_s[16];
    snprintf(stream_s, sizeof stream_s, "%d", stream);
    const char *values[1] = {stream_s};
    return sq_store_begin(s, "notify", NULL,
                          &(sq_stmt){.id = SQ_STMT_NOTIFY, .n = 1, .values = values}, err, errlen);
}

/*
 * The key range that holds every match of a filter: keys from `lo` (inclusive) to `hi`
 * (exclusive), where `lo` is the filter's literal head ("orders.us." for "orders.us.>",
 * the whole filter when it has no wildcard) and `hi` is `lo` with its last byte plus one.
 * Keys are printable ASCII, so that byte is at most 0x7F. Returns false when the filter
 * starts with a wildcard: no range narrows it.
 */
static bool key_range(const char *filter, char *lo, char *hi, size_t cap)
{
    size_t head = 0, len = strlen(filter);
    for (size_t start = 0; start <= len;) {
        const char *dot = memchr(filter + start, '.', len - start);
        size_t end = dot != NULL ? (size_t)(dot - filter) : len;
        bool wild = end - start == 1 && (filter[start] == '*' || filter[start] == '>');
        if (wild)
            break;
        head = dot != NULL ? end + 1 : end; /* keep the dot: "orders." not "orders" */
        start = end + 1;
    }
    if (head == 0 || head >= cap)
        return false;
    memcpy(lo, filter, head);
    lo[head] = '\0';
    memcpy(hi, lo, head + 1);
    hi[head - 1]++;
    return true;
}

static void read_message(sq_row *w, void *item)
{
    sq_row_message(w, item);
}

static void read_pair(sq_row *w, void *item)
{
    sq_consumer_pair *p = item;
    p->consumer_id = sq_row_text(w);
    p->consumer_name = sq_row_text(w);
    sq_row_pair_info(w, &p->info);
}

int sq_store_begin_message_list(sq_store *s, int stream, const sq_message_query *q, char *err,
                                size_t errlen)
{
    char stream_s[16], limit_s[16], lo[256], hi[256];
    snprintf(stream_s, sizeof stream_s, "%d", stream);
    snprintf(limit_s, sizeof limit_s, "%d", q->limit);
    bool ranged = q->filter != NULL && key_range(q->filter, lo, hi, sizeof lo);
    const char *values[5] = {stream_s, q->filter, limit_s, lo, hi};
    sq_stmt_id stmt =
        ranged ? (q->newest_first ? SQ_STMT_MESSAGE_RANGE_DESC : SQ_STMT_MESSAGE_RANGE_ASC)
               : (q->newest_first ? SQ_STMT_MESSAGE_LIST_DESC : SQ_STMT_MESSAGE_LIST_ASC);
    sq_stmt st = {.id = stmt, .n = ranged ? 5 : 3, .values = values};
    return sq_store_begin(s, "message_list", NULL, &st, err, errlen);
}

int sq_store_finish_message_list(sq_store *s, sq_message **out, size_t *count, sq_arena *arena,
                                 char *err, size_t errlen)
{
    return sq_store_finish_contents(s, "message_list", 0, sizeof **out, read_message, out, count,
                                    arena, "stream", err, errlen);
}

int sq_store_begin_message_get(sq_store *s, int stream, const char *key, char *err, size_t errlen)
{
    return begin_keyed(s, "message_get", SQ_STMT_MESSAGE_GET, stream, key, NULL, err, errlen);
}

int sq_store_finish_message_get(sq_store *s, sq_message *out, sq_arena *arena, char *err,
                                size_t errlen)
{
    return sq_store_finish_one(s, "message_get", read_message, out, arena, "message with key", err,
                               errlen);
}

/* The message is read: keep it for the finish and ask for its state in each consumer. */
static int info_found(sq_store *s, PGresult *r)
{
    sq_call *c = &s->call;
    int rc = sq_store_found(s, r, "message with key");
    if (rc != SQ_OK)
        return rc;
    c->kept = r;
    c->res = NULL;
    char stream_s[16];
    snprintf(stream_s, sizeof stream_s, "%d", c->stream);
    const char *values[2] = {stream_s, c->subject};
    return sq_store_next(s, &(sq_stmt){.id = SQ_STMT_MESSAGE_INFO, .n = 2, .values = values});
}

int sq_store_begin_message_info(sq_store *s, int stream, const char *key, char *err, size_t errlen)
{
    return begin_keyed(s, "message_info", SQ_STMT_MESSAGE_GET, stream, key, info_found, err,
                       errlen);
}

int sq_store_finish_message_info(sq_store *s, sq_message *msg, sq_consumer_pair **out,
                                 size_t *count, sq_arena *arena, char *err, size_t errlen)
{
    PGresult *r;
    int rc = sq_store_end(s, "message_info", &r, err, errlen);
    if (rc == SQ_OK) {
        rc = sq_store_read_one(s->call.kept, read_message, msg, arena, "message with key",
                               s->call.subject, err, errlen);
        s->call.kept = NULL;
    }
    if (rc != SQ_OK) {
        PQclear(r);
        return rc;
    }
    return sq_store_read_list(r, 0, sizeof **out, read_pair, out, count, arena, err, errlen);
}
