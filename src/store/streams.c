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

int sq_store_begin_stream_num(sq_store *s, const char *name, char *err, size_t errlen)
{
    sq_stmt st = {.id = SQ_STMT_STREAM_NUM, .n = 1, .values = &name};
    return sq_store_begin(s, "stream_num", name, &st, err, errlen);
}

int sq_store_finish_stream_num(sq_store *s, int *num, char *err, size_t errlen)
{
    return sq_store_finish_one(s, "stream_num", sq_read_int, num, NULL, "stream named", err,
                               errlen);
}

int sq_store_stream_num(sq_store *s, const char *name, int *num, char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_stream_num(s, name, err, errlen))
               ? sq_store_finish_stream_num(s, num, err, errlen)
               : SQ_ERR;
}

int sq_store_begin_stream_get(sq_store *s, const char *name_or_id, char *err, size_t errlen)
{
    sq_stmt st = {.id = SQ_STMT_STREAM_GET, .n = 1, .values = &name_or_id};
    return sq_store_begin(s, "stream_get", name_or_id, &st, err, errlen);
}

int sq_store_finish_stream_get(sq_store *s, sq_stream *out, sq_arena *arena, char *err,
                               size_t errlen)
{
    return sq_store_finish_one(s, "stream_get", read_stream, out, arena, "stream", err, errlen);
}

int sq_store_stream_get(sq_store *s, const char *name_or_id, sq_stream *out, sq_arena *arena,
                        char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_stream_get(s, name_or_id, err, errlen))
               ? sq_store_finish_stream_get(s, out, arena, err, errlen)
               : SQ_ERR;
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
    sq_stmt st = {.id = SQ_STMT_STREAM_CREATE, .n = 1, .values = &name, .next = stream_created};
    return sq_store_begin(s, "stream_create", name, &st, err, errlen);
}

int sq_store_finish_stream_create(sq_store *s, sq_stream *out, sq_arena *arena, char *err,
                                  size_t errlen)
{
    return sq_store_finish_one(s, "stream_create", read_stream, out, arena, "stream", err, errlen);
}

int sq_store_stream_create(sq_store *s, const char *name, sq_stream *out, sq_arena *arena,
                           char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_stream_create(s, name, err, errlen))
               ? sq_store_finish_stream_create(s, out, arena, err, errlen)
               : SQ_ERR;
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

int sq_store_stream_list(sq_store *s, sq_stream **out, size_t *count, sq_arena *arena, char *err,
                         size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_stream_list(s, err, errlen))
               ? sq_store_finish_stream_list(s, out, count, arena, err, errlen)
               : SQ_ERR;
}

int sq_store_begin_stream_delete(sq_store *s, const char *name_or_id, char *err, size_t errlen)
{
    sq_stmt st = {.id = SQ_STMT_STREAM_DELETE, .n = 1, .values = &name_or_id};
    return sq_store_begin(s, "stream_delete", name_or_id, &st, err, errlen);
}

int sq_store_finish_stream_delete(sq_store *s, char id[37], char *err, size_t errlen)
{
    return sq_store_finish_one(s, "stream_delete", sq_read_id, id, NULL, "stream", err, errlen);
}

int sq_store_stream_delete(sq_store *s, const char *name_or_id, char id[37], char *err,
                           size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_stream_delete(s, name_or_id, err, errlen))
               ? sq_store_finish_stream_delete(s, id, err, errlen)
               : SQ_ERR;
}
