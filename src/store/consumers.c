/* Consumers: creation, receive (leases) and ack. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int sq_store_consumer_create(sq_store *s, int stream, const char *name, const char *filter,
                             int ack_wait_ms, int max_deliver, bool deliver_new, char id[37],
                             char *err, size_t errlen)
{
    char stream_s[16], wait_s[16], max_s[16];
    snprintf(stream_s, sizeof stream_s, "%d", stream);
    snprintf(wait_s, sizeof wait_s, "%d", ack_wait_ms);
    snprintf(max_s, sizeof max_s, "%d", max_deliver);
    const char *values[6] = {stream_s, name, filter, wait_s, max_s, deliver_new ? "new" : "all"};
    PGresult *r = PQexecPrepared(s->conn, "consumer_create", 6, values, NULL, NULL, 0);
    int rc = SQ_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = sq_store_fail(s, r, err, errlen, "creating consumer \"%s\" failed", name);
    else
        snprintf(id, 37, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}

int sq_store_receive(sq_store *s, const char *consumer, int max, sq_delivery *out, int *count,
                     sq_arena *arena, char *err, size_t errlen)
{
    char max_s[16];
    snprintf(max_s, sizeof max_s, "%d", max);
    const char *values[2] = {consumer, max_s};
    PGresult *r = PQexecPrepared(s->conn, "receive", 2, values, NULL, NULL, 0);
    int rc = SQ_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = sq_store_fail(s, r, err, errlen, "receive failed");
        goto done;
    }
    int n = PQntuples(r);
    if (n > max)
        n = max; /* cannot happen: the statement's LIMIT is max */
    for (int i = 0; i < n; i++) {
        snprintf(out[i].ack_id, sizeof out[i].ack_id, "%s", PQgetvalue(r, i, 0));
        out[i].key = sq_arena_strdup(arena, PQgetvalue(r, i, 1));
        if (out[i].key == NULL) {
            rc = sq_store_fail(NULL, NULL, err, errlen, "out of memory");
            goto done;
        }
        out[i].seq = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        out[i].deliver_count = atoi(PQgetvalue(r, i, 3));
    }
    *count = n;
done:
    PQclear(r);
    return rc;
}

/* A UUID in text form to its 16 bytes; the caller validated the text. */
static int uuid_bytes(const char *text, unsigned char bytes[16])
{
    size_t j = 0;
    for (size_t i = 0; text[i] != '\0' && j < 32; i++) {
        char c = text[i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (c == '-')
            continue;
        if (v < 0)
            return SQ_ERR;
        if (j % 2 == 0)
            bytes[j / 2] = (unsigned char)(v << 4);
        else
            bytes[j / 2] |= (unsigned char)v;
        j++;
    }
    return j == 32 ? SQ_OK : SQ_ERR;
}

/*
 * Runs one of the statements that take (consumer, ack ids[, int]) and returns its first value
 * in `first` (if not NULL). `ids` NULL with n 0 sends a NULL array (redrive: all dead).
 */
static int ids_statement(sq_store *s, const char *stmt, const char *consumer,
                         const char *const *ack_ids, size_t n, const char *extra, long long *first,
                         char *err, size_t errlen)
{
    unsigned char *raw = NULL;
    const char **ptrs = NULL;
    size_t *lens = NULL;
    sq_buf ids = {0};
    PGresult *r = NULL;
    int rc = SQ_ERR;

    raw = malloc(n * 16 + 1);
    ptrs = malloc((n + 1) * sizeof *ptrs);
    lens = malloc((n + 1) * sizeof *lens);
    if (raw == NULL || ptrs == NULL || lens == NULL) {
        sq_store_fail(NULL, NULL, err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (uuid_bytes(ack_ids[i], raw + 16 * i) != SQ_OK) {
            sq_store_fail(NULL, NULL, err, errlen, "\"%s\" is not a UUID", ack_ids[i]);
            goto done;
        }
        ptrs[i] = (const char *)raw + 16 * i;
        lens[i] = 16;
    }
    if (ack_ids != NULL && sq_store_binary_array(&ids, SQ_OID_UUID, ptrs, lens, n) != SQ_OK) {
        sq_store_fail(NULL, NULL, err, errlen, "out of memory");
        goto done;
    }
    const char *values[3] = {consumer, ack_ids != NULL ? ids.data : NULL, extra};
    int lengths[3] = {0, (int)ids.len, 0};
    int formats[3] = {0, 1, 0};
    r = PQexecPrepared(s->conn, stmt, extra != NULL ? 3 : 2, values, lengths, formats, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        sq_store_fail(s, r, err, errlen, "%s failed", stmt);
        goto done;
    }
    if (first != NULL)
        *first = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    rc = SQ_OK;
done:
    PQclear(r);
    sq_buf_free(&ids);
    free(lens);
    free(ptrs);
    free(raw);
    return rc;
}

int sq_store_ack(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n, char *err,
                 size_t errlen)
{
    return ids_statement(s, "ack", consumer, ack_ids, n, NULL, NULL, err, errlen);
}

int sq_store_nack(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n,
                  int delay_ms, char *err, size_t errlen)
{
    char delay[16];
    snprintf(delay, sizeof delay, "%d", delay_ms);
    return ids_statement(s, "nack", consumer, ack_ids, n, delay, NULL, err, errlen);
}

int sq_store_extend(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n,
                    char *err, size_t errlen)
{
    return ids_statement(s, "extend", consumer, ack_ids, n, NULL, NULL, err, errlen);
}

int sq_store_redrive(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n,
                     long long *redriven, char *err, size_t errlen)
{
    return ids_statement(s, "redrive", consumer, n > 0 ? ack_ids : NULL, n, NULL, redriven, err,
                         errlen);
}
