/* Reading PostgreSQL's results into the store's objects; the store's error helpers. */
#include "row.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sequin/json.h"

int sq_store_fail(PGconn *conn, const PGresult *r, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < errlen && (r != NULL || conn != NULL)) {
        const char *why = r != NULL ? PQresultErrorMessage(r) : "";
        if ((why == NULL || *why == '\0') && conn != NULL)
            why = PQerrorMessage(conn);
        snprintf(err + n, errlen - (size_t)n, ": %s", why);
        size_t len = strlen(err);
        while (len > 0 && err[len - 1] == '\n')
            err[--len] = '\0';
    }
    return SQ_ERR;
}

bool sq_store_failed_with(const PGresult *r, const char *code)
{
    const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return state != NULL && strcmp(state, code) == 0;
}

bool sq_store_is_unique_violation(const PGresult *r)
{
    return sq_store_failed_with(r, "23505");
}

bool sq_store_is_fk_violation(const PGresult *r)
{
    return sq_store_failed_with(r, "23503");
}

const char *sq_row_text(sq_row *w)
{
    int col = w->col++;
    if (PQgetisnull(w->r, w->row, col))
        return NULL;
    char *copy = sq_arena_strndup(w->arena, PQgetvalue(w->r, w->row, col),
                                  (size_t)PQgetlength(w->r, w->row, col));
    if (copy == NULL)
        w->oom = true;
    return copy;
}

const char **sq_row_strings(sq_row *w, size_t *n)
{
    int col = w->col++;
    const char **out = NULL;
    sq_json doc = {0};
    *n = 0;
    if (PQgetisnull(w->r, w->row, col) ||
        sq_json_parse(&doc, PQgetvalue(w->r, w->row, col), (size_t)PQgetlength(w->r, w->row, col),
                      2, NULL) != SQ_OK)
        goto done;
    int count = sq_json_count(&doc, 0);
    out = count > 0 ? sq_arena_calloc(w->arena, (size_t)count, sizeof *out) : NULL;
    if (count > 0 && out == NULL)
        w->oom = true;
    for (int t = sq_json_first(&doc, 0); out != NULL && t >= 0; t = sq_json_next(&doc, t)) {
        if (sq_json_get_str_arena(&doc, t, w->arena, &out[(*n)++], NULL) != SQ_OK)
            w->oom = true;
    }
done:
    sq_json_free(&doc);
    return out;
}

long long sq_row_int(sq_row *w)
{
    int col = w->col++;
    return PQgetisnull(w->r, w->row, col) ? 0 : strtoll(PQgetvalue(w->r, w->row, col), NULL, 10);
}

int sq_row_int_or(sq_row *w, int null_value)
{
    bool null = sq_row_null(w);
    long long v = sq_row_int(w);
    return null ? null_value : (int)v;
}

double sq_row_double(sq_row *w)
{
    int col = w->col++;
    return PQgetisnull(w->r, w->row, col) ? -1 : strtod(PQgetvalue(w->r, w->row, col), NULL);
}

bool sq_row_bool(sq_row *w)
{
    int col = w->col++;
    return PQgetvalue(w->r, w->row, col)[0] == 't';
}

bool sq_row_null(const sq_row *w)
{
    return PQgetisnull(w->r, w->row, w->col);
}

void sq_row_id(sq_row *w, char id[37])
{
    int col = w->col++;
    snprintf(id, 37, "%s", PQgetvalue(w->r, w->row, col));
}

void sq_row_message(sq_row *w, sq_message *m)
{
    m->key = sq_row_text(w);
    m->stream_id = sq_row_text(w);
    m->data_len = (size_t)PQgetlength(w->r, w->row, w->col);
    m->data = sq_row_text(w);
    m->data_hash = sq_row_text(w);
    m->seq = sq_row_int(w);
    m->inserted_at = sq_row_text(w);
    m->updated_at = sq_row_text(w);
}

void sq_row_pair_info(sq_row *w, sq_pair_info *i)
{
    i->ack_id = sq_row_text(w);
    i->state = sq_row_text(w);
    i->deliver_count = (int)sq_row_int(w);
    i->last_delivered_at = sq_row_text(w);
    i->not_visible_until = sq_row_text(w);
}

int sq_store_read_list(PGresult *r, int from, size_t size, sq_row_reader read, void *out,
                       size_t *count, sq_arena *arena, char *err, size_t errlen)
{
    if (r == NULL)
        return SQ_ERR;
    size_t n = PQntuples(r) > from ? (size_t)(PQntuples(r) - from) : 0;
    char *items = sq_arena_calloc(arena, n, size);
    sq_row w = {r, 0, 0, arena, items == NULL};
    for (size_t i = 0; i < n && !w.oom; i++) {
        w.row = from + (int)i, w.col = 0;
        read(&w, items + i * size);
    }
    PQclear(r);
    if (w.oom)
        return sq_store_fail(NULL, NULL, err, errlen, "out of memory");
    memcpy(out, &items, sizeof items);
    *count = n;
    return SQ_OK;
}

int sq_store_read_one(PGresult *r, sq_row_reader read, void *item, sq_arena *arena,
                      const char *what, const char *name, char *err, size_t errlen)
{
    if (r == NULL)
        return SQ_ERR;
    int rc = SQ_OK;
    if (PQntuples(r) == 0) {
        sq_store_fail(NULL, NULL, err, errlen, "no %s \"%s\"", what, name);
        rc = SQ_STORE_NOT_FOUND;
    } else {
        sq_row w = {r, 0, 0, arena, false};
        read(&w, item);
        if (w.oom)
            rc = sq_store_fail(NULL, NULL, err, errlen, "out of memory");
    }
    PQclear(r);
    return rc;
}

void sq_read_int(sq_row *w, void *item)
{
    *(int *)item = (int)sq_row_int(w);
}

void sq_read_count(sq_row *w, void *item)
{
    *(long long *)item = sq_row_int(w);
}

void sq_read_id(sq_row *w, void *item)
{
    sq_row_id(w, item);
}

void sq_read_flag(sq_row *w, void *item)
{
    *(int *)item = sq_row_bool(w);
}
