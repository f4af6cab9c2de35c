/* The routes of sources (SPEC 8, docs/api.md): list, create, get and delete, each one store
 * call. The sources process of every node picks up what they change within a second. */
#include <stdio.h>

#include "sequin/handlers.h"
#include "sequin/render.h"

static int list_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    (void)h;
    return sq_store_begin_source_objects(s, err, errlen);
}

static int list_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                       size_t errlen)
{
    sq_source *list = NULL;
    size_t n = 0;
    (void)body;
    int rc = sq_store_finish_source_objects(s, &list, &n, h->arena, err, errlen);
    int jr = sq_json_write_begin_array(jw);
    for (size_t i = 0; rc == SQ_OK && i < n; i++)
        jr |= sq_render_source(jw, &list[i]);
    jr |= sq_json_write_end_array(jw);
    return sq_handler_wrote(rc, jr, err, errlen);
}

static int create_parse(sq_handler *h, const sq_request_in *in, sq_api_problem *p)
{
    return sq_api_parse_source_create(in->body, in->body_len, h->arena, &h->new_source, p);
}

static int create_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    const sq_api_source *src = &h->new_source;
    return sq_store_begin_source_create(s, src->name, src->kind, src->stream, src->settings, err,
                                        errlen);
}

/* The source that create or get returns, once there is one. */
static int source_answer(int rc, const sq_source *src, sq_json_writer *jw, char *err, size_t errlen)
{
    return rc == SQ_OK ? sq_handler_wrote(rc, sq_render_source(jw, src), err, errlen) : rc;
}

static int create_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                         size_t errlen)
{
    sq_source src;
    (void)body;
    int rc = sq_store_finish_source_create(s, &src, h->arena, err, errlen);
    if (rc == SQ_STORE_CONFLICT)
        snprintf(err, errlen, "a source named \"%s\" exists already", h->new_source.name);
    return source_answer(rc, &src, jw, err, errlen);
}

static int get_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_source_get(s, h->source, err, errlen);
}

static int get_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                      size_t errlen)
{
    sq_source src;
    (void)body;
    return source_answer(sq_store_finish_source_get(s, &src, h->arena, err, errlen), &src, jw, err,
                         errlen);
}

static int delete_begin(sq_handler *h, sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin_source_delete(s, h->source, err, errlen);
}

static int delete_finish(sq_handler *h, sq_store *s, sq_json_writer *jw, sq_buf *body, char *err,
                         size_t errlen)
{
    char id[37] = "";
    (void)h, (void)body;
    int rc = sq_store_finish_source_delete(s, id, err, errlen);
    return rc == SQ_OK ? sq_handler_wrote(rc, sq_render_deleted(jw, id), err, errlen) : rc;
}

const sq_route_ops sq_api_source_list_route = {
    .in_data = true, .begin = list_begin, .finish = list_finish};
/* Its only 404 is the stream the body names. */
const sq_route_ops sq_api_source_create_route = {
    .missing = "stream", .parse = create_parse, .begin = create_begin, .finish = create_finish};
const sq_route_ops sq_api_source_get_route = {
    .missing = "source", .begin = get_begin, .finish = get_finish};
const sq_route_ops sq_api_source_delete_route = {
    .missing = "source", .begin = delete_begin, .finish = delete_finish};
