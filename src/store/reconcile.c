/* Declared consumers and sources: the config file's consumers applied in one statement
 * (sequin.reconcile, functions/reconcile.sql), its sources in another (sequin.reconcile_sources,
 * functions/reconcile_sources.sql), each all or nothing. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "encode.h"

/* The reconciles' words for the actions, in sq_reconcile_action's order. */
static const char *const action_names[] = {"created", "updated",  "unchanged",
                                           "adopted", "released", "deleted"};

/* The SQLSTATEs the reconciles raise for a refused declaration. */
#define REFUSED_CONFLICT "SQ409"
#define REFUSED_NO_STREAM "SQ404"

/* An action's word; "unchanged" is the harmless reading of any other, which a newer schema
 * could add. */
static sq_reconcile_action action_of(const char *word)
{
    for (size_t i = 0; i < SQ_ARRAY_LEN(action_names); i++) {
        if (strcmp(word, action_names[i]) == 0)
            return (sq_reconcile_action)i;
    }
    return SQ_RECONCILE_UNCHANGED;
}

static void read_change(sq_row *w, void *item)
{
    sq_reconcile_change *c = item;

    c->action = action_of(PQgetvalue(w->r, w->row, w->col++));
    c->stream = sq_row_text(w);
    c->name = sq_row_text(w);
    sq_row_id(w, c->id);
    c->declared = (long)sq_row_int_or(w, 0) - 1; /* 1-based in SQL, NULL for a released consumer */
    c->before.ack_wait_ms = sq_row_int_or(w, -1);
    c->before.max_ack_pending = sq_row_int_or(w, -1);
    c->before.max_deliver = sq_row_int_or(w, -1);
}

static void read_source_change(sq_row *w, void *item)
{
    sq_source_change *c = item;

    c->action = action_of(PQgetvalue(w->r, w->row, w->col++));
    c->name = sq_row_text(w);
    sq_row_id(w, c->id);
    c->declared = (long)sq_row_int_or(w, 0) - 1; /* 1-based in SQL, NULL for a deleted source */
    c->changes = sq_row_text(w);
    c->slot = sq_row_text(w);
    c->publication = sq_row_text(w);
}

/* A reconcile's result: rows, or a refusal of one declaration, or PostgreSQL failing, said as
 * "reconciling the declared <what> failed". */
static int refused_or_rows(sq_store *s, PGresult *r, const char *what)
{
    sq_call *c = &s->call;
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        return SQ_OK;
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
    const char *message = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    bool conflict = state != NULL && strcmp(state, REFUSED_CONFLICT) == 0;
    if (message == NULL || !(conflict || (state != NULL && strcmp(state, REFUSED_NO_STREAM) == 0)))
        return sq_store_fail(s->conn, r, c->err, sizeof c->err,
                             "reconciling the declared %s failed", what);
    c->declared = detail != NULL ? strtol(detail, NULL, 10) - 1 : -1;
    snprintf(c->err, sizeof c->err, "%s", message);
    return conflict ? SQ_STORE_CONFLICT : SQ_STORE_NOT_FOUND;
}

static int consumers_reconciled(sq_store *s, PGresult *r)
{
    return refused_or_rows(s, r, "consumers");
}

static int sources_reconciled(sq_store *s, PGresult *r)
{
    return refused_or_rows(s, r, "sources");
}

/* One array parameter of a reconcile: the declarations' field at `offset`, a string (TEXTS,
 * NULL sent as "") or an int (INTS), or a consumer's deliver policy word (POLICIES). */
typedef struct column {
    size_t offset;
    enum {
        TEXTS,
        INTS,
        POLICIES
    } kind;
} column;

/* Appends the texts of column `col` of the `n` declarations of `size` bytes at `declared`. */
static int text_array(sq_buf *out, const char *declared, size_t size, size_t n, const column *col)
{
    const char **ptrs = malloc((n + 1) * sizeof *ptrs);
    size_t *lens = malloc((n + 1) * sizeof *lens);
    int rc = SQ_ERR;

    if (ptrs == NULL || lens == NULL)
        goto done;
    for (size_t i = 0; i < n; i++) {
        const char *d = declared + i * size;
        if (col->kind == POLICIES)
            ptrs[i] = ((const sq_declared_consumer *)d)->deliver_new ? "new" : "all";
        else
            memcpy(&ptrs[i], d + col->offset, sizeof ptrs[i]);
        if (ptrs[i] == NULL)
            ptrs[i] = "";
        lens[i] = strlen(ptrs[i]);
    }
    rc = sq_encode_array(out, SQ_OID_TEXT, ptrs, lens, n);
done:
    free(lens);
    free(ptrs);
    return rc;
}

/*
 * Begins reconcile `op`, statement `id` whose result goes to `step`, with one array parameter
 * (binary) per column of `cols` (at most 12) over the `n` declarations of `size` bytes at
 * `declared`.
 */
static int begin_arrays(sq_store *s, const char *op, sq_stmt_id id, sq_call_step step,
                        const void *declared, size_t size, size_t n, const column *cols,
                        size_t ncols, char *err, size_t errlen)
{
    sq_buf arrays[12] = {{0}};
    const char *values[12];
    int lengths[12], formats[12];
    int rc = SQ_ERR;

    if (ncols > SQ_ARRAY_LEN(arrays))
        return sq_store_fail(NULL, NULL, err, errlen, "%s: too many arrays", op);
    for (size_t a = 0; a < ncols; a++) {
        int rc_a =
            cols[a].kind == INTS
                ? sq_encode_int4_array(&arrays[a], (const char *)declared + cols[a].offset, size, n)
                : text_array(&arrays[a], declared, size, n, &cols[a]);
        if (rc_a != SQ_OK) {
            sq_store_fail(NULL, NULL, err, errlen, "%s: out of memory", op);
            goto done;
        }
        values[a] = arrays[a].data;
        lengths[a] = (int)arrays[a].len;
        formats[a] = 1;
    }
    sq_stmt st = {id, (int)ncols, values, lengths, formats, step};
    rc = sq_store_begin(s, op, NULL, &st, err, errlen);
    if (rc == SQ_OK)
        s->call.declared = -1;
done:
    for (size_t a = 0; a < SQ_ARRAY_LEN(arrays); a++)
        sq_buf_free(&arrays[a]);
    return rc;
}

/* Ends reconcile `op`: its rows through `read` into `*out`, or the refused declaration's
 * index in `*refused`. */
static int finish_arrays(sq_store *s, const char *op, sq_row_reader read, size_t size, void *out,
                         size_t *count, long *refused, sq_arena *arena, char *err, size_t errlen)
{
    PGresult *r;
    int rc = sq_store_end(s, op, &r, err, errlen);

    *refused = rc == SQ_STORE_CONFLICT || rc == SQ_STORE_NOT_FOUND ? s->call.declared : -1;
    if (rc != SQ_OK)
        return rc;
    return sq_store_read_list(r, 0, size, read, out, count, arena, err, errlen);
}

int sq_store_begin_reconcile(sq_store *s, const sq_declared_consumer *declared, size_t n, char *err,
                             size_t errlen)
{
    static const column cols[] = {
        {offsetof(sq_declared_consumer, stream), TEXTS},
        {offsetof(sq_declared_consumer, name), TEXTS},
        {offsetof(sq_declared_consumer, filter), TEXTS},
        {offsetof(sq_declared_consumer, settings.ack_wait_ms), INTS},
        {offsetof(sq_declared_consumer, settings.max_ack_pending), INTS},
        {offsetof(sq_declared_consumer, settings.max_deliver), INTS},
        {0, POLICIES},
        {offsetof(sq_declared_consumer, settings.push.http_endpoint), TEXTS},
        {offsetof(sq_declared_consumer, settings.push.max_waiting), INTS},
        {offsetof(sq_declared_consumer, settings.push.backoff_base_ms), INTS},
        {offsetof(sq_declared_consumer, settings.push.backoff_max_ms), INTS},
    };
    return begin_arrays(s, "reconcile", SQ_STMT_RECONCILE, consumers_reconciled, declared,
                        sizeof *declared, n, cols, SQ_ARRAY_LEN(cols), err, errlen);
}

int sq_store_finish_reconcile(sq_store *s, sq_reconcile_change **out, size_t *count, long *refused,
                              sq_arena *arena, char *err, size_t errlen)
{
    return finish_arrays(s, "reconcile", read_change, sizeof **out, out, count, refused, arena, err,
                         errlen);
}

int sq_store_reconcile_sources(sq_store *s, const sq_declared_source *declared, size_t n,
                               sq_source_change **out, size_t *count, long *refused,
                               sq_arena *arena, char *err, size_t errlen)
{
    static const column cols[] = {
        {offsetof(sq_declared_source, name), TEXTS},
        {offsetof(sq_declared_source, stream), TEXTS},
        {offsetof(sq_declared_source, settings), TEXTS},
        {offsetof(sq_declared_source, kind), TEXTS},
    };
    *refused = -1;
    if (!sq_store_wait(s, begin_arrays(s, "reconcile_sources", SQ_STMT_RECONCILE_SOURCES,
                                       sources_reconciled, declared, sizeof *declared, n, cols,
                                       SQ_ARRAY_LEN(cols), err, errlen)))
        return SQ_ERR;
    return finish_arrays(s, "reconcile_sources", read_source_change, sizeof **out, out, count,
                         refused, arena, err, errlen);
}

const char *sq_reconcile_action_name(sq_reconcile_action action)
{
    return (size_t)action < SQ_ARRAY_LEN(action_names) ? action_names[action] : "unknown";
}
