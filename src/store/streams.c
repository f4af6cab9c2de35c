/* Streams: the named namespaces messages and consumers live in (SPEC 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int sq_store_stream_num(sq_store *s, const char *name, int *num, char *err, size_t errlen)
{
    PGresult *r = sq_store_query(s, "stream_num", 1, &name, err, errlen);
    if (r == NULL)
        return SQ_ERR;
    int rc = SQ_OK;
    if (PQntuples(r) == 0) {
        sq_store_fail(NULL, NULL, err, errlen, "no stream named \"%s\"", name);
        rc = SQ_STORE_NOT_FOUND;
    } else {
        *num = atoi(PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    return rc;
}

static void read_stream(sq_row *w, void *item)
{
    sq_stream *out = item;
    sq_row_id(w, out->id);
    out->num = (int)sq_row_int(w);
    out->name = sq_row_text(w);
    out->message_count = sq_row_int(w);
    out->consumer_count = sq_row_int(w);
    out->storage_size = sq_row_int(w);
    out->inserted_at = sq_row_text(w);
    out->updated_at = sq_row_text(w);
}

int sq_store_stream_get(sq_store *s, const char *name_or_id, sq_stream *out, sq_arena *arena,
                        char *err, size_t errlen)
{
    PGresult *r = sq_store_query(s, "stream_get", 1, &name_or_id, err, errlen);
    return sq_store_read_one(r, read_stream, out, arena, "stream", name_or_id, err, errlen);
}

int sq_store_stream_create(sq_store *s, const char *name, sq_stream *out, sq_arena *arena,
                           char *err, size_t errlen)
{
    const char *values[1] = {name};
    PGresult *r = PQexecPrepared(s->conn, "stream_create", 1, values, NULL, NULL, 0);
    int rc = SQ_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        if (sq_store_is_unique_violation(r)) {
            sq_store_fail(NULL, NULL, err, errlen, "a stream named \"%s\" exists", name);
            rc = SQ_STORE_CONFLICT;
        } else {
            rc = sq_store_fail(s, r, err, errlen, "creating stream \"%s\" failed", name);
        }
    }
    PQclear(r);
    return rc != SQ_OK ? rc : sq_store_stream_get(s, name, out, arena, err, errlen);
}

int sq_store_stream_list(sq_store *s, sq_stream **out, size_t *count, sq_arena *arena, char *err,
                         size_t errlen)
{
    PGresult *r = sq_store_query(s, "stream_list", 0, NULL, err, errlen);
    return sq_store_read_list(r, sizeof **out, read_stream, out, count, arena, err, errlen);
}

int sq_store_stream_delete(sq_store *s, const char *name_or_id, char id[37], char *err,
                           size_t errlen)
{
    PGresult *r = sq_store_query(s, "stream_delete", 1, &name_or_id, err, errlen);
    if (r == NULL)
        return SQ_ERR;
    int rc = SQ_OK;
    if (PQntuples(r) == 0) {
        sq_store_fail(NULL, NULL, err, errlen, "no stream \"%s\"", name_or_id);
        rc = SQ_STORE_NOT_FOUND;
    } else {
        snprintf(id, 37, "%s", PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    return rc;
}
