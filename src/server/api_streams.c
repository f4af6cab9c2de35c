/* The routes of streams (SPEC 4): list, create, get and delete, each one store call. */
#include <stdio.h>

#include "sequin/handlers.h"
#include "sequin/render.h"

static int list_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    (void)h;
    return sq_store_begin_stream_list(s, err, errlen);
}

static int list_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                       size_t errlen)
{
    sq_stream *list = NULL;
    size_t n = 0;
    (void)body;
    int rc = sq_store_finish_stream_list(s, &list, &n, h->arena, err, errlen);
    int jr = sq_json_write_begin_array(jw);
    for (size_t i = 0; rc == SQ_OK && i < n; i++)
        jr |= sq_render_stream(jw, &list[i]);
    jr |= sq_json_write_end_array(jw);
    return sq_handler_wrote(rc, jr, err, errlen);
}

static int create_parse(sq_handler *h, const sq_request_in *in, sq_api_problem *p)
{
    return sq_api_parse_stream(in->body, in->body_len, h->arena, &h->name, p);
}

static int create_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_stream_create(s, h->name, err, errlen);
}

static int get_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_stream_get(s, h->stream, err, errlen);
}

/* The stream that create or get returns, once there is one. */
static int stream_answer(int rc, const sq_stream *st, sq_json_writer *jw, char *err, size_t errlen)
{
    return rc == SQ_OK ? sq_handler_wrote(rc, sq_render_stream(jw, st), err, errlen) : rc;
}

static int create_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                         size_t errlen)
{
    sq_stream st;
    (void)body;
    int rc = sq_store_finish_stream_create(s, &st, h->arena, err, errlen);
    if (rc == SQ_STORE_CONFLICT)
        snprintf(err, errlen, "a stream named \"%s\" exists already", h->name);
    return stream_answer(rc, &st, jw, err, errlen);
}

static int get_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                      size_t errlen)
{
    sq_stream st;
    (void)body;
    return stream_answer(sq_store_finish_stream_get(s, &st, h->arena, err, errlen), &st, jw, err,
                         errlen);
}

static int delete_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_stream_delete(s, h->stream, err, errlen);
}

static int delete_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                         size_t errlen)
{
    char id[37] = "";
    (void)h, (void)body;
    int rc = sq_store_finish_stream_delete(s, id, err, errlen);
    return rc == SQ_OK ? sq_handler_wrote(rc, sq_render_deleted(jw, id), err, errlen) : rc;
}

const sq_route_ops sq_api_stream_list_route = {
    .in_data = true, .begin = list_begin, .finish = list_finish};
const sq_route_ops sq_api_stream_create_route = {
    .missing = "stream", .parse = create_parse, .begin = create_begin, .finish = create_finish};
const sq_route_ops sq_api_stream_get_route = {
    .missing = "stream", .begin = get_begin, .finish = get_finish};
const sq_route_ops sq_api_stream_delete_route = {
    .missing = "stream", .begin = delete_begin, .finish = delete_finish};
