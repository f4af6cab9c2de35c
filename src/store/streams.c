/* Streams: the named namespaces messages and consumers live in (SPEC 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "encode.h"

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

/* Begins call `op` with statement `id` of one stream's name (or id), `next` for its result. */
static int begin_named(sq_store *s, const char *op, sq_stmt_id id, const char *name,
                       sq_call_step next, char *err, size_t errlen)
{
    sq_stmt st = {.id = id, .n = 1, .values = &name, .next = next};
    return sq_store_begin(s, op, name, &st, err, errlen);
}

int sq_store_begin_stream_num(sq_store *s, const char *name, char *err, size_t errlen)
{
    return begin_named(s, "stream_num", SQ_STMT_STREAM_NUM, name, NULL, err, errlen);
}

int sq_store_finish_stream_num(sq_store *s, int *num, char *err, size_t errlen)
{
    return sq_store_finish_one(s, "stream_num", sq_read_int, num, NULL, "stream named", err,
                               errlen);
}

int sq_store_begin_stream_get(sq_store *s, const char *name_or_id, char *err, size_t errlen)
{
    return begin_named(s, "stream_get", SQ_STMT_STREAM_GET, name_or_id, NULL, err, errlen);
}

int sq_store_finish_stream_get(sq_store *s, sq_stream *out, sq_arena *arena, char *err,
                               size_t errlen)
{
    return sq_store_finish_one(s, "stream_get", read_stream, out, arena, "stream", err, errlen);
}

/* The insert gave the stream's id: the stream with its stats comes from stream_get. */
static int stream_created(sq_store *s, PGresult *r)
{
    int rc = sq_store_created(s, r, "stream");
    if (rc != SQ_OK)
        return rc;
    return sq_store_next(s,
                         &(sq_stmt){.id = SQ_STMT_STREAM_GET, .n = 1, .values = &s->call.subject});
}

int sq_store_begin_stream_create(sq_store *s, const char *name, char *err, size_t errlen)
{
    return begin_named(s, "stream_create", SQ_STMT_STREAM_CREATE, name, stream_created, err,
                       errlen);
}

int sq_store_finish_stream_create(sq_store *s, sq_stream *out, sq_arena *arena, char *err,
                                  size_t errlen)
{
    return sq_store_finish_one(s, "stream_create", read_stream, out, arena, "stream", err, errlen);
}

int sq_store_begin_stream_list(sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin(s, "stream_list", NULL, &(sq_stmt){.id = SQ_STMT_STREAM_LIST}, err,
                          errlen);
}

int sq_store_finish_stream_list(sq_store *s, sq_stream **out, size_t *count, sq_arena *arena,
                                char *err, size_t errlen)
{
    return sq_store_finish_list(s, "stream_list", sizeof **out, read_stream, out, count, arena, err,
                                errlen);
}

int sq_store_begin_stream_delete(sq_store *s, const char *name_or_id, char *err, size_t errlen)
{
    return begin_named(s, "stream_delete", SQ_STMT_STREAM_DELETE, name_or_id, NULL, err, errlen);
}

int sq_store_finish_stream_delete(sq_store *s, char id[37], char *err, size_t errlen)
{
    return sq_store_finish_one(s, "stream_delete", sq_read_id, id, NULL, "stream", err, errlen);
}
