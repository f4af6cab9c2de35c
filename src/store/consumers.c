/* Consumers: their settings and stats, receive (leases), peek, ack, nack, extend, redrive. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void read_consumer(sq_row *w, void *item)
{
    sq_consumer *out = item;
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
    out->available = sq_row_int(w);
    out->delivered = sq_row_int(w);
    out->dead = sq_row_int(w);
    out->oldest_available_age_s = sq_row_double(w);
    out->inserted_at = sq_row_text(w);
    out->updated_at = sq_row_text(w);
}

int sq_store_consumer_get(sq_store *s, int stream, const char *name_or_id, sq_consumer *out,
                          sq_arena *arena, char *err, size_t errlen)
{
    char stream_s[16];
    snprintf(stream_s, sizeof stream_s, "%d", stream);
    const char *values[2] = {stream_s, name_or_id};
    PGresult *r = sq_store_query(s, "consumer_get", 2, values, err, errlen);
    return sq_store_read_one(r, read_consumer, out, arena, "consumer", name_or_id, err, errlen);
}

int sq_store_consumer_list(sq_store *s, int stream, sq_consumer **out, size_t *count,
                           sq_arena *arena, char *err, size_t errlen)
{
    char stream_s[16];
    snprintf(stream_s, sizeof stream_s, "%d", stream);
    const char *values[1] = {stream_s};
    PGresult *r = sq_store_query(s, "consumer_list", 1, values, err, errlen);
    return sq_store_read_list(r, sizeof **out, read_consumer, out, count, arena, err, errlen);
}

int sq_store_consumer_create(sq_store *s, int stream, const char *name, const char *filter,
                             const sq_consumer_settings *settings, bool deliver_new,
                             sq_consumer *out, sq_arena *arena, char *err, size_t errlen)
{
    char stream_s[16], wait_s[16], pending_s[16], max_s[16];
    snprintf(stream_s, sizeof stream_s, "%d", stream);
    snprintf(wait_s, sizeof wait_s, "%d", settings->ack_wait_ms);
    snprintf(pending_s, sizeof pending_s, "%d", settings->max_ack_pending);
    snprintf(max_s, sizeof max_s, "%d", settings->max_deliver);
    const char *values[7] = {
        stream_s, name, filter, wait_s, pending_s, max_s, deliver_new ? "new" : "all"};
    PGresult *r = PQexecPrepared(s->conn, "consumer_create", 7, values, NULL, NULL, 0);
    int rc = SQ_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        if (sq_store_is_unique_violation(r)) {
            sq_store_fail(NULL, NULL, err, errlen, "a consumer named \"%s\" exists", name);
            rc = SQ_STORE_CONFLICT;
        } else {
            rc = sq_store_fail(s, r, err, errlen, "creating consumer \"%s\" failed", name);
        }
    }
    PQclear(r);
    return rc != SQ_OK ? rc : sq_store_consumer_get(s, stream, name, out, arena, err, errlen);
}

/* Finds the consumer an edit or delete names, and refuses one the config file owns. */
static int find_editable(sq_store *s, int stream, const char *name_or_id, bool as_config,
                         sq_consumer *found, sq_arena *arena, char *err, size_t errlen)
{
    int rc = sq_store_consumer_get(s, stream, name_or_id, found, arena, err, errlen);
    if (rc == SQ_OK && found->managed_by_config && !as_config) {
        sq_store_fail(NULL, NULL, err, errlen,
                      "consumer \"%s\" is declared in the config file; change it there",
                      found->name);
        rc = SQ_STORE_CONFLICT;
    }
    return rc;
}

int sq_store_consumer_edit(sq_store *s, int stream, const char *name_or_id,
                           const sq_consumer_settings *changes, bool as_config, sq_consumer *out,
                           sq_arena *arena, char *err, size_t errlen)
{
    int rc = find_editable(s, stream, name_or_id, as_config, out, arena, err, errlen);
    if (rc != SQ_OK)
        return rc;
    char wait_s[16], pending_s[16], max_s[16];
    snprintf(wait_s, sizeof wait_s, "%d", changes->ack_wait_ms);
    snprintf(pending_s, sizeof pending_s, "%d", changes->max_ack_pending);
    snprintf(max_s, sizeof max_s, "%d", changes->max_deliver);
    const char *values[4] = {out->id, changes->ack_wait_ms >= 0 ? wait_s : NULL,
                             changes->max_ack_pending >= 0 ? pending_s : NULL,
                             changes->max_deliver >= 0 ? max_s : NULL};
    PGresult *r = sq_store_query(s, "consumer_edit", 4, values, err, errlen);
    if (r == NULL)
        return SQ_ERR;
    if (PQntuples(r) == 0) { /* deleted between the two statements */
        sq_store_fail(NULL, NULL, err, errlen, "no consumer \"%s\"", name_or_id);
        rc = SQ_STORE_NOT_FOUND;
    }
    PQclear(r);
    char id[37];
    memcpy(id, out->id, sizeof id);
    return rc != SQ_OK ? rc : sq_store_consumer_get(s, stream, id, out, arena, err, errlen);
}

int sq_store_consumer_delete(sq_store *s, int stream, const char *name_or_id, bool as_config,
                             char id[37], char *err, size_t errlen)
{
    sq_arena arena = {0};
    sq_consumer found;
    int rc = find_editable(s, stream, name_or_id, as_config, &found, &arena, err, errlen);
    if (rc == SQ_OK) {
        const char *values[1] = {found.id};
        PGresult *r = sq_store_query(s, "consumer_delete", 1, values, err, errlen);
        if (r == NULL) {
            rc = SQ_ERR;
        } else if (PQntuples(r) == 0) {
            sq_store_fail(NULL, NULL, err, errlen, "no consumer \"%s\"", name_or_id);
            rc = SQ_STORE_NOT_FOUND;
        } else {
            memcpy(id, found.id, 37);
        }
        PQclear(r);
    }
    sq_arena_free(&arena);
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

int sq_store_receive(sq_store *s, const char *consumer, int max, sq_delivery *out, int *count,
                     sq_arena *arena, char *err, size_t errlen)
{
    char max_s[16];
    snprintf(max_s, sizeof max_s, "%d", max);
    const char *values[2] = {consumer, max_s};
    PGresult *r = sq_store_query(s, "receive", 2, values, err, errlen);
    sq_delivery *got;
    size_t n;
    int rc = sq_store_read_list(r, sizeof *got, read_delivery, &got, &n, arena, err, errlen);
    if (rc != SQ_OK)
        return rc;
    if (n > (size_t)max)
        n = (size_t)max; /* cannot happen: receive claims at most max */
    memcpy(out, got, n * sizeof *got);
    *count = (int)n;
    return SQ_OK;
}

int sq_store_consumer_messages(sq_store *s, const char *consumer, const char *state,
                               const char *filter, int limit, sq_consumer_message **out,
                               size_t *count, sq_arena *arena, char *err, size_t errlen)
{
    char limit_s[16];
    snprintf(limit_s, sizeof limit_s, "%d", limit);
    const char *values[4] = {consumer, state, filter, limit_s};
    PGresult *r = sq_store_query(s, "consumer_messages", 4, values, err, errlen);
    return sq_store_read_list(r, sizeof **out, read_consumer_message, out, count, arena, err,
                              errlen);
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
