/* Declared consumers: the config file's consumers applied in one statement (sequin.reconcile,
 * functions/reconcile.sql), all or nothing. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "encode.h"

/* sequin.reconcile's words for the actions, in sq_reconcile_action's order. */
static const char *const action_names[] = {"created", "updated", "unchanged", "adopted",
                                           "released"};

/* The SQLSTATEs sequin.reconcile raises for a refused declaration. */
#define REFUSED_CONFLICT "SQ409"
#define REFUSED_NO_STREAM "SQ404"

static void read_change(sq_row *w, void *item)
{
    sq_reconcile_change *c = item;
    const char *act = PQgetvalue(w->r, w->row, w->col++);

    /* sequin.reconcile returns only these words; "unchanged" is the harmless reading of any
     * other, which a newer schema could add. */
    c->action = SQ_RECONCILE_UNCHANGED;
    for (size_t i = 0; i < SQ_ARRAY_LEN(action_names); i++) {
        if (strcmp(act, action_names[i]) == 0)
            c->action = (sq_reconcile_action)i;
    }
    c->stream = sq_row_text(w);
    c->name = sq_row_text(w);
    sq_row_id(w, c->id);
    c->declared = (long)sq_row_int_or(w, 0) - 1; /* 1-based in SQL, NULL for a released consumer */
    c->before.ack_wait_ms = sq_row_int_or(w, -1);
    c->before.max_ack_pending = sq_row_int_or(w, -1);
    c->before.max_deliver = sq_row_int_or(w, -1);
}

/* The statement's result: rows, or a refusal of one declaration, or PostgreSQL failing. */
static int reconciled(sq_store *s, PGresult *r)
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
                             "reconciling the declared consumers failed");
    c->declared = detail != NULL ? strtol(detail, NULL, 10) - 1 : -1;
    snprintf(c->err, sizeof c->err, "%s", message);
    return conflict ? SQ_STORE_CONFLICT : SQ_STORE_NOT_FOUND;
}

/* Appends an array of `n` texts: `field` is the offset of a string in each declaration, or
 * SIZE_MAX for the deliver policy's word. */
static int text_array(sq_buf *out, const sq_declared_consumer *d, size_t n, size_t field)
{
    const char **ptrs = malloc((n + 1) * sizeof *ptrs);
    size_t *lens = malloc((n + 1) * sizeof *lens);
    int rc = SQ_ERR;

    if (ptrs == NULL || lens == NULL)
        goto done;
    for (size_t i = 0; i < n; i++) {
        if (field == SIZE_MAX)
            ptrs[i] = d[i].deliver_new ? "new" : "all";
        else
            memcpy(&ptrs[i], (const char *)&d[i] + field, sizeof ptrs[i]);
        lens[i] = strlen(ptrs[i]);
    }
    rc = sq_encode_array(out, SQ_OID_TEXT, ptrs, lens, n);
done:
    free(lens);
    free(ptrs);
    return rc;
}

int sq_store_begin_reconcile(sq_store *s, const sq_declared_consumer *declared, size_t n, char *err,
                             size_t errlen)
{
    enum {
        STREAMS,
        NAMES,
        FILTERS,
        WAITS,
        PENDINGS,
        DELIVERS,
        POLICIES,
        N_ARRAYS
    };
    static const size_t fields[N_ARRAYS] = {
        offsetof(sq_declared_consumer, stream),
        offsetof(sq_declared_consumer, name),
        offsetof(sq_declared_consumer, filter),
        offsetof(sq_declared_consumer, settings.ack_wait_ms),
        offsetof(sq_declared_consumer, settings.max_ack_pending),
        offsetof(sq_declared_consumer, settings.max_deliver),
        SIZE_MAX,
    };
    sq_buf arrays[N_ARRAYS] = {{0}};
    const char *values[N_ARRAYS];
    int lengths[N_ARRAYS], formats[N_ARRAYS];
    int rc = SQ_ERR;

    for (size_t a = 0; a < N_ARRAYS; a++) {
        bool ints = a == WAITS || a == PENDINGS || a == DELIVERS;
        int rc_a = ints ? sq_encode_int4_array(&arrays[a], (const char *)declared + fields[a],
                                               sizeof *declared, n)
                        : text_array(&arrays[a], declared, n, fields[a]);
        if (rc_a != SQ_OK) {
            sq_store_fail(NULL, NULL, err, errlen, "reconcile: out of memory");
            goto done;
        }
        values[a] = arrays[a].data;
        lengths[a] = (int)arrays[a].len;
        formats[a] = 1;
    }
    sq_stmt st = {SQ_STMT_RECONCILE, N_ARRAYS, values, lengths, formats, reconciled};
    rc = sq_store_begin(s, "reconcile", NULL, &st, err, errlen);
    if (rc == SQ_OK)
        s->call.declared = -1;
done:
    for (size_t a = 0; a < N_ARRAYS; a++)
        sq_buf_free(&arrays[a]);
    return rc;
}

int sq_store_finish_reconcile(sq_store *s, sq_reconcile_change **out, size_t *count, long *refused,
                              sq_arena *arena, char *err, size_t errlen)
{
    PGresult *r;
    int rc = sq_store_end(s, "reconcile", &r, err, errlen);

    *refused = rc == SQ_STORE_CONFLICT || rc == SQ_STORE_NOT_FOUND ? s->call.declared : -1;
    if (rc != SQ_OK)
        return rc;
    return sq_store_read_list(r, 0, sizeof **out, read_change, out, count, arena, err, errlen);
}

const char *sq_reconcile_action_name(sq_reconcile_action action)
{
    return (size_t)action < SQ_ARRAY_LEN(action_names) ? action_names[action] : "unknown";
}
