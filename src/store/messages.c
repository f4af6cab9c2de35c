/* Messages: the batch upsert, listing by filter, one message and its state per consumer. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sequin/sha256.h"

#define UPSERT_MAX 10000

int sq_store_upsert(sq_store *s, int stream, const sq_message_in *msgs, size_t n,
                    long long *published, char *err, size_t errlen)
{
    const char **ptrs = NULL;
    size_t *lens = NULL;
    unsigned char *digests = NULL;
    sq_buf keys = {0}, datas = {0}, hashes = {0};
    PGresult *r = NULL;
    int rc = SQ_ERR;

    if (n == 0 || n > UPSERT_MAX) {
        sq_store_fail(NULL, NULL, err, errlen, "a batch holds 1..%d messages, not %zu", UPSERT_MAX,
                      n);
        goto fail;
    }
    ptrs = malloc(n * sizeof *ptrs);
    lens = malloc(n * sizeof *lens);
    digests = malloc(n * SQ_SHA256_LEN);
    if (ptrs == NULL || lens == NULL || digests == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        ptrs[i] = msgs[i].key, lens[i] = msgs[i].key_len;
    if (sq_store_binary_array(&keys, SQ_OID_TEXT, ptrs, lens, n) != SQ_OK)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        ptrs[i] = msgs[i].data, lens[i] = msgs[i].data_len;
    if (sq_store_binary_array(&datas, SQ_OID_TEXT, ptrs, lens, n) != SQ_OK)
        goto nomem;
    /* The digest of the data decides "unchanged": computed here, in the worker, so the
     * database's CPU goes to the upsert itself. */
    for (size_t i = 0; i < n; i++) {
        sq_sha256(msgs[i].data, msgs[i].data_len, digests + SQ_SHA256_LEN * i);
        ptrs[i] = (const char *)digests + SQ_SHA256_LEN * i, lens[i] = SQ_SHA256_LEN;
    }
    if (sq_store_binary_array(&hashes, SQ_OID_BYTEA, ptrs, lens, n) != SQ_OK)
        goto nomem;

    uint32_t stream_be = htonl((uint32_t)stream);
    const char *values[4] = {(const char *)&stream_be, keys.data, datas.data, hashes.data};
    int lengths[4] = {4, (int)keys.len, (int)datas.len, (int)hashes.len};
    int formats[4] = {1, 1, 1, 1};
    r = PQexecPrepared(s->conn, "upsert", 4, values, lengths, formats, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        sq_store_fail(s, r, err, errlen, "upsert failed");
        goto fail;
    }
    *published = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    rc = SQ_OK;
    goto fail; /* the common release path */

nomem:
    sq_store_fail(NULL, NULL, err, errlen, "out of memory building the batch");
fail:
    PQclear(r);
    sq_buf_free(&hashes);
    sq_buf_free(&datas);
    sq_buf_free(&keys);
    free(digests);
    free(lens);
    free(ptrs);
    return rc;
}

int sq_store_message_delete(sq_store *s, int stream, const char *key, int *deleted, char *err,
                            size_t errlen)
{
    char stream_s[16];
    snprintf(stream_s, sizeof stream_s, "%d", stream);
    const char *values[2] = {stream_s, key};
    PGresult *r = PQexecPrepared(s->conn, "message_delete", 2, values, NULL, NULL, 0);
    int rc = SQ_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = sq_store_fail(s, r, err, errlen, "deleting message \"%s\" failed", key);
    else
        *deleted = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return rc;
}

int sq_store_notify(sq_store *s, int stream, char *err, size_t errlen)
{
    char stream_s[16];
    snprintf(stream_s, sizeof stream_s, "%d", stream);
    const char *values[1] = {stream_s};
    PGresult *r = sq_store_query(s, "notify", 1, values, err, errlen);
    PQclear(r);
    return r != NULL ? SQ_OK : SQ_ERR;
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

int sq_store_message_list(sq_store *s, int stream, const sq_message_query *q, sq_message **out,
                          size_t *count, sq_arena *arena, char *err, size_t errlen)
{
    char stream_s[16], limit_s[16], lo[256], hi[256];
    snprintf(stream_s, sizeof stream_s, "%d", stream);
    snprintf(limit_s, sizeof limit_s, "%d", q->limit);
    bool ranged = q->filter != NULL && key_range(q->filter, lo, hi, sizeof lo);
    const char *values[5] = {stream_s, q->filter, limit_s, lo, hi};
    const char *stmt = ranged ? (q->newest_first ? "message_range_desc" : "message_range_asc")
                              : (q->newest_first ? "message_list_desc" : "message_list_asc");
    PGresult *r = sq_store_query(s, stmt, ranged ? 5 : 3, values, err, errlen);
    return sq_store_read_list(r, sizeof **out, read_message, out, count, arena, err, errlen);
}

int sq_store_message_get(sq_store *s, int stream, const char *key, sq_message *out, sq_arena *arena,
                         char *err, size_t errlen)
{
    char stream_s[16];
    snprintf(stream_s, sizeof stream_s, "%d", stream);
    const char *values[2] = {stream_s, key};
    PGresult *r = sq_store_query(s, "message_get", 2, values, err, errlen);
    return sq_store_read_one(r, read_message, out, arena, "message with key", key, err, errlen);
}

int sq_store_message_info(sq_store *s, int stream, const char *key, sq_message *msg,
                          sq_consumer_pair **out, size_t *count, sq_arena *arena, char *err,
                          size_t errlen)
{
    int rc = sq_store_message_get(s, stream, key, msg, arena, err, errlen);
    if (rc != SQ_OK)
        return rc;
    char stream_s[16];
    snprintf(stream_s, sizeof stream_s, "%d", stream);
    const char *values[2] = {stream_s, key};
    PGresult *r = sq_store_query(s, "message_info", 2, values, err, errlen);
    return sq_store_read_list(r, sizeof **out, read_pair, out, count, arena, err, errlen);
}
