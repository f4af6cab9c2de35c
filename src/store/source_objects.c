/* Sources as the API shows them: list, get, create and delete, with each source's last report
 * and backfill progress; calls without waiting, for the workers (the sources process has its
 * own synchronous calls in sources.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "sequin/json.h"

/* The backfills' [[table, rows, done], ...] (json_agg) into an array in the arena. */
static void read_progress(sq_row *w, sq_source *out)
{
    const char *text = sq_row_text(w);
    sq_json doc = {0};
    out->backfills = NULL;
    out->n_backfills = 0;
    if (!text)
        return; /* no backfill */
    int n = 0;
    if (sq_json_parse(&doc, text, strlen(text), 3, NULL) != SQ_OK ||
        (n = sq_json_count(&doc, 0)) <= 0 ||
        !(out->backfills = sq_arena_calloc(w->arena, (size_t)n, sizeof *out->backfills))) {
        w->oom = true; /* PostgreSQL's JSON always parses, with one element at least: memory
                        * ran out */
        sq_json_free(&doc);
        return;
    }
    for (int t = sq_json_first(&doc, 0); t >= 0; t = sq_json_next(&doc, t)) {
        sq_backfill_row *b = &out->backfills[out->n_backfills++];
        int table = sq_json_first(&doc, t);
        int rows = table >= 0 ? sq_json_next(&doc, table) : -1;
        int done = rows >= 0 ? sq_json_next(&doc, rows) : -1;
        int64_t v = 0;
        if (done < 0 || sq_json_get_str_arena(&doc, table, w->arena, &b->table, NULL) != SQ_OK ||
            sq_json_get_int64(&doc, rows, &v) != SQ_OK ||
            sq_json_get_bool(&doc, done, &b->done) != SQ_OK)
            w->oom = true;
        b->rows_done = v;
    }
    sq_json_free(&doc);
}

static void read_source(sq_row *w, void *item)
{
    sq_source *out = item;
    sq_row_id(w, out->id);
    out->name = sq_row_text(w);
    out->kind = sq_row_text(w);
    out->stream = sq_row_text(w);
    out->settings = sq_row_text(w);
    out->managed_by_config = sq_row_bool(w);
    out->has_status = sq_row_bool(w);
    out->state = sq_row_text(w);
    out->error = sq_row_text(w);
    out->node = sq_row_text(w);
    out->last_commit_lsn = sq_row_text(w);
    out->received_lsn = sq_row_text(w);
    out->last_commit_at = sq_row_text(w);
    out->reported_at = sq_row_text(w);
    out->lag_bytes = sq_row_int(w);
    out->lag_seconds = sq_row_double(w);
    out->rows_streamed = sq_row_int(w);
    out->errors = sq_row_int(w);
    out->attempts = sq_row_int(w);
    if (!out->has_status) {
        out->lag_seconds = -1;
        out->rows_streamed = out->errors = out->attempts = -1;
    }
    read_progress(w, out);
    out->inserted_at = sq_row_text(w);
    out->updated_at = sq_row_text(w);
}

/* The finish of get and create, which both end with the source as it is now. */
static int finish_source(sq_store *s, const char *op, sq_source *out, sq_arena *arena, char *err,
                         size_t errlen)
{
    return sq_store_finish_one(s, op, read_source, out, arena, "source", err, errlen);
}

int sq_store_begin_source_objects(sq_store *s, char *err, size_t errlen)
{
    return sq_store_begin(s, "source_objects", NULL, &(sq_stmt){.id = SQ_STMT_SOURCE_OBJECTS}, err,
                          errlen);
}

int sq_store_finish_source_objects(sq_store *s, sq_source **out, size_t *count, sq_arena *arena,
                                   char *err, size_t errlen)
{
    return sq_store_finish_list(s, "source_objects", sizeof **out, read_source, out, count, arena,
                                err, errlen);
}

int sq_store_begin_source_get(sq_store *s, const char *name_or_id, char *err, size_t errlen)
{
    sq_stmt st = {.id = SQ_STMT_SOURCE_GET, .n = 1, .values = &name_or_id};
    return sq_store_begin(s, "source_get", name_or_id, &st, err, errlen);
}

int sq_store_finish_source_get(sq_store *s, sq_source *out, sq_arena *arena, char *err,
                               size_t errlen)
{
    return finish_source(s, "source_get", out, arena, err, errlen);
}

/* The insert gave the source's id, or no row for a stream that does not exist: the source
 * with its (empty) report comes from source_get, by its name. */
static int source_created(sq_store *s, PGresult *r)
{
    sq_call *c = &s->call;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 0) {
        sq_store_fail(NULL, NULL, c->err, sizeof c->err, "no such stream");
        return SQ_STORE_NOT_FOUND;
    }
    int rc = sq_store_created(s, r, "source");
    if (rc != SQ_OK)
        return rc;
    return sq_store_next(s, &(sq_stmt){.id = SQ_STMT_SOURCE_GET, .n = 1, .values = &c->subject});
}

int sq_store_begin_source_create(sq_store *s, const char *name, const char *kind,
                                 const char *stream, const char *settings, char *err, size_t errlen)
{
    const char *values[4] = {name, kind, stream, settings};
    sq_stmt st = {.id = SQ_STMT_SOURCE_CREATE, .n = 4, .values = values, .next = source_created};
    return sq_store_begin(s, "source_create", name, &st, err, errlen);
}

int sq_store_finish_source_create(sq_store *s, sq_source *out, sq_arena *arena, char *err,
                                  size_t errlen)
{
    return finish_source(s, "source_create", out, arena, err, errlen);
}

/* The source the delete found: gone, or kept because the config file declares it. */
static int source_deleted(sq_store *s, PGresult *r)
{
    sq_call *c = &s->call;
    int rc = sq_store_found(s, r, "source");
    if (rc != SQ_OK)
        return rc;
    if (strcmp(PQgetvalue(r, 0, 1), "t") == 0) {
        sq_store_fail(NULL, NULL, c->err, sizeof c->err,
                      "source \"%s\" is declared in the config file; remove it there",
                      PQgetvalue(r, 0, 2));
        return SQ_STORE_CONFLICT;
    }
    return SQ_OK;
}

int sq_store_begin_source_delete(sq_store *s, const char *name_or_id, char *err, size_t errlen)
{
    sq_stmt st = {
        .id = SQ_STMT_SOURCE_DELETE, .n = 1, .values = &name_or_id, .next = source_deleted};
    return sq_store_begin(s, "source_delete", name_or_id, &st, err, errlen);
}

int sq_store_finish_source_delete(sq_store *s, char id[37], char *err, size_t errlen)
{
    return sq_store_finish_one(s, "source_delete", sq_read_id, id, NULL, "source", err, errlen);
}
