/* One call in flight on a non-blocking connection: connecting, sending, polling for results,
 * finishing. */
#include "call.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

int sq_store_socket(const sq_store *s)
{
    return PQsocket(s->conn);
}

bool sq_store_dead(const sq_store *s)
{
    return !s->up || PQstatus(s->conn) != CONNECTION_OK;
}

bool sq_store_busy(const sq_store *s)
{
    return s->call.op != NULL;
}

/* The call in flight is over with outcome `rc` (its error set already unless SQ_OK). */
static void over(sq_call *c, int rc)
{
    c->rc = rc;
    c->over = true;
    c->connecting = false;
}

/* The connection broke: the call in flight, if any, is over with the connection's reason. */
static int broken(sq_store *s)
{
    sq_call *c = &s->call;
    s->up = false;
    if (c->op != NULL && !c->over) {
        sq_store_fail(s->conn, NULL, c->err, sizeof c->err,
                      "%s: the connection to PostgreSQL broke", c->op);
        over(c, SQ_ERR);
    }
    return SQ_ERR;
}

int sq_store_sent(sq_store *s, int sent, const char *stmt)
{
    sq_call *c = &s->call;
    int left = sent ? PQflush(s->conn) : -1;
    if (left < 0) {
        s->up = PQstatus(s->conn) == CONNECTION_OK && s->up;
        return sq_store_fail(s->conn, NULL, c->err, sizeof c->err, "sending %s failed", stmt);
    }
    c->flushing = left == 1;
    return SQ_AGAIN;
}

/* Keeps a copy of statement `st` in the call's arena, to send again if it has to be (its
 * parameters are the caller's, gone by the time its result is in). */
static void keep_for_again(sq_call *c, const sq_stmt *st)
{
    sq_stmt *a = &c->again;
    *a = (sq_stmt){.id = st->id, .n = st->n, .next = st->next};
    const char **values = sq_arena_alloc(&c->mem, (size_t)st->n * sizeof *values);
    int *lengths = sq_arena_alloc(&c->mem, (size_t)st->n * sizeof *lengths);
    int *formats = sq_arena_alloc(&c->mem, (size_t)st->n * sizeof *formats);
    if (st->n > 0 && (values == NULL || lengths == NULL || formats == NULL))
        goto unusable;
    for (int i = 0; i < st->n; i++) {
        formats[i] = st->formats != NULL ? st->formats[i] : 0;
        const char *v = st->values[i];
        size_t len = v == NULL ? 0 : formats[i] ? (size_t)st->lengths[i] : strlen(v) + 1;
        lengths[i] = (int)len;
        values[i] = NULL;
        if (v != NULL) {
            char *copy = sq_arena_alloc(&c->mem, len + 1);
            if (copy == NULL)
                goto unusable;
            memcpy(copy, v, len);
            values[i] = copy;
        }
    }
    a->values = values;
    a->lengths = lengths;
    a->formats = formats;
    return;
unusable:
    a->values = NULL;
    a->n = -1;
}

int sq_store_next(sq_store *s, const sq_stmt *next)
{
    sq_call *c = &s->call;
    PQclear(c->res);
    c->res = NULL;
    if (next != &c->again)
        keep_for_again(c, next);
    const char *name = sq_catalog(next->id)->name;
    c->next = next->next;
    c->what = name;
    int sent =
        PQsendQueryPrepared(s->conn, name, next->n, next->values, next->lengths, next->formats, 0);
    return sq_store_sent(s, sent, name);
}

void sq_store_reset_call(sq_call *c)
{
    PQclear(c->res);
    PQclear(c->kept);
    sq_arena_reset(&c->mem);
    sq_arena mem = c->mem;
    *c = (sq_call){.mem = mem};
}

int sq_store_begin(sq_store *s, const char *op, const char *subject, const sq_stmt *first,
                   char *err, size_t errlen)
{
    sq_call *c = &s->call;
    if (c->op != NULL)
        return sq_store_fail(NULL, NULL, err, errlen, "%s: the store is busy with %s", op, c->op);
    if (sq_store_dead(s))
        return sq_store_fail(NULL, NULL, err, errlen, "%s: the connection to PostgreSQL is down",
                             op);
    sq_store_reset_call(c);
    c->subject = subject != NULL ? sq_arena_strdup(&c->mem, subject) : NULL;
    if (subject != NULL && c->subject == NULL)
        return sq_store_fail(NULL, NULL, err, errlen, "%s: out of memory", op);
    c->op = op;
    if (sq_store_next(s, first) != SQ_AGAIN) {
        snprintf(err, errlen, "%s", c->err);
        c->op = NULL;
        return SQ_ERR;
    }
    return SQ_OK;
}

/* What poll says when it has done what it could: a call going on, a dead connection, a call
 * over, or nothing. */
static int state(const sq_store *s)
{
    if (s->call.op != NULL && !s->call.over)
        return SQ_AGAIN;
    if (sq_store_dead(s))
        return SQ_ERR;
    return s->call.op != NULL ? SQ_OK : SQ_AGAIN;
}

/* The step of a statement that ends its call: rows (or OK for LISTEN) are success. A foreign
 * key violation means the stream (or consumer) the call names is gone: SQ_STORE_NOT_FOUND, so
 * that a caller holding its number from before can look it up again. */
static int ended(sq_store *s, PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return SQ_OK;
    int rc = sq_store_fail(s->conn, r, s->call.err, sizeof s->call.err, "%s failed", s->call.what);
    return sq_store_is_fk_violation(r) ? SQ_STORE_NOT_FOUND : rc;
}

/* Whether the statement just ended was the victim of a deadlock (or, under stricter isolation,
 * of a serialization failure) and may simply be sent again: each statement is a transaction
 * of its own, rolled back whole, so running it again is running it once. Three times at most. */
static bool lost_to_deadlock(sq_call *c)
{
    if (!sq_store_failed_with(c->res, "40P01") && !sq_store_failed_with(c->res, "40001"))
        return false;
    if (c->again.n < 0 || c->retries >= 3)
        return false;
    c->retries++;
    return true;
}

/* Drives a reconnect: SQ_AGAIN while PQconnectPoll waits (for writing when `*want_write`),
 * SQ_OK once connected with the call's first statement sent, SQ_ERR with the call's error
 * set when connecting failed. */
static int connect_step(sq_store *s, bool *want_write)
{
    sq_call *c = &s->call;
    for (;;) {
        if (c->polling == PGRES_POLLING_FAILED)
            return sq_store_fail(s->conn, NULL, c->err, sizeof c->err,
                                 "cannot connect to PostgreSQL");
        if (c->polling == PGRES_POLLING_OK)
            break;
        /* libpq's rule: PQconnectPoll runs only once the socket is ready for what it asked
         * for. The event loop may poll sooner, so look without waiting. */
        bool writing = c->polling == PGRES_POLLING_WRITING;
        struct pollfd p = {PQsocket(s->conn), writing ? POLLOUT : POLLIN, 0};
        if (c->polling != PGRES_POLLING_ACTIVE && poll(&p, 1, 0) <= 0) {
            *want_write = writing;
            return SQ_AGAIN;
        }
        c->polling = PQconnectPoll(s->conn);
    }
    c->connecting = false;
    if (PQsetnonblocking(s->conn, 1) != 0)
        return sq_store_fail(s->conn, NULL, c->err, sizeof c->err, "cannot connect to PostgreSQL");
    return c->connected(s) == SQ_AGAIN ? SQ_OK : SQ_ERR;
}

int sq_store_poll(sq_store *s, bool *want_write)
{
    sq_call *c = &s->call;
    *want_write = false;
    if (c->connecting) {
        int rc = connect_step(s, want_write);
        if (rc == SQ_ERR) {
            s->up = false;
            over(c, SQ_ERR);
        }
        if (rc != SQ_OK)
            return rc;
        /* connected, the first statement is on its way: on as for any call */
    }
    if (c->op != NULL && c->over)
        return state(s);
    if (!PQconsumeInput(s->conn))
        return broken(s);
    if (c->flushing) {
        int left = PQflush(s->conn);
        if (left < 0)
            return broken(s);
        c->flushing = *want_write = left == 1;
        if (c->flushing)
            return SQ_AGAIN;
    }
    while (c->op != NULL && !c->over && !PQisBusy(s->conn)) {
        PGresult *r = PQgetResult(s->conn);
        if (r != NULL) { /* keep the last: a statement's results end with a NULL */
            PQclear(c->res);
            c->res = r;
            continue;
        }
        int rc = lost_to_deadlock(c) ? sq_store_next(s, &c->again)
                                     : (c->next != NULL ? c->next : ended)(s, c->res);
        if (rc != SQ_AGAIN) {
            over(c, rc);
        } else if (c->flushing) {
            *want_write = true;
            return SQ_AGAIN;
        }
    }
    if (PQstatus(s->conn) != CONNECTION_OK)
        return broken(s);
    return state(s);
}

int sq_store_end(sq_store *s, const char *op, PGresult **r, char *err, size_t errlen)
{
    sq_call *c = &s->call;
    *r = NULL;
    if (c->op == NULL || !c->over)
        return sq_store_fail(NULL, NULL, err, errlen, "finish %s: no call is over",
                             op != NULL ? op : "");
    if (op != NULL && strcmp(op, c->op) != 0)
        return sq_store_fail(NULL, NULL, err, errlen, "finish %s: the call is %s", op, c->op);
    int rc = c->rc;
    if (rc == SQ_OK) {
        *r = c->res;
    } else {
        snprintf(err, errlen, "%s", c->err);
        PQclear(c->res);
    }
    c->res = NULL;
    c->op = NULL;
    c->over = false;
    return rc;
}

int sq_store_finish(sq_store *s, char *err, size_t errlen)
{
    PGresult *r;
    int rc = sq_store_end(s, NULL, &r, err, errlen);
    PQclear(r);
    return rc;
}

int sq_store_finish_one(sq_store *s, const char *op, sq_row_reader read, void *item,
                        sq_arena *arena, const char *what, char *err, size_t errlen)
{
    PGresult *r;
    int rc = sq_store_end(s, op, &r, err, errlen);
    if (rc != SQ_OK)
        return rc;
    return sq_store_read_one(r, read, item, arena, what, s->call.subject, err, errlen);
}

int sq_store_finish_list(sq_store *s, const char *op, size_t size, sq_row_reader read, void *out,
                         size_t *count, sq_arena *arena, char *err, size_t errlen)
{
    PGresult *r;
    int rc = sq_store_end(s, op, &r, err, errlen);
    if (rc != SQ_OK)
        return rc;
    return sq_store_read_list(r, 0, size, read, out, count, arena, err, errlen);
}

int sq_store_finish_contents(sq_store *s, const char *op, int null_col, size_t size,
                             sq_row_reader read, void *out, size_t *count, sq_arena *arena,
                             const char *what, char *err, size_t errlen)
{
    PGresult *r;
    int rc = sq_store_end(s, op, &r, err, errlen);
    if (rc != SQ_OK)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        sq_store_fail(NULL, NULL, err, errlen, "no %s", what);
        return SQ_STORE_NOT_FOUND;
    }
    int from = PQgetisnull(r, 0, null_col) ? 1 : 0;
    return sq_store_read_list(r, from, size, read, out, count, arena, err, errlen);
}

bool sq_store_wait(sq_store *s, int begun)
{
    if (begun != SQ_OK)
        return false;
    bool want_write;
    while (sq_store_poll(s, &want_write) == SQ_AGAIN) {
        struct pollfd p = {sq_store_socket(s), POLLIN | (want_write ? POLLOUT : 0), 0};
        if (poll(&p, 1, -1) < 0 && errno != EINTR) {
            /* The statement is still on its way: only a new connection gets out of it. */
            sq_store_fail(NULL, NULL, s->call.err, sizeof s->call.err,
                          "%s: waiting for PostgreSQL failed: %s", s->call.op, strerror(errno));
            s->up = false;
            over(&s->call, SQ_ERR);
        }
    }
    return true;
}

int sq_store_created(sq_store *s, PGresult *r, const char *what)
{
    sq_call *c = &s->call;
    bool taken =
        PQresultStatus(r) == PGRES_TUPLES_OK && (PQntuples(r) == 0 || PQgetisnull(r, 0, 0));
    if (PQresultStatus(r) == PGRES_TUPLES_OK && !taken)
        return SQ_OK;
    if (taken || sq_store_is_unique_violation(r)) {
        sq_store_fail(NULL, NULL, c->err, sizeof c->err, "a %s named \"%s\" exists", what,
                      c->subject);
        return SQ_STORE_CONFLICT;
    }
    if (sq_store_is_fk_violation(r)) {
        /* what it was made in (a stream whose number the caller held) is gone */
        sq_store_fail(NULL, NULL, c->err, sizeof c->err, "stream not found");
        return SQ_STORE_NOT_FOUND;
    }
    return sq_store_fail(s->conn, r, c->err, sizeof c->err, "creating %s \"%s\" failed", what,
                         c->subject);
}

int sq_store_found(sq_store *s, PGresult *r, const char *what)
{
    sq_call *c = &s->call;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return sq_store_fail(s->conn, r, c->err, sizeof c->err, "%s failed", c->what);
    if (PQntuples(r) > 0)
        return SQ_OK;
    sq_store_fail(NULL, NULL, c->err, sizeof c->err, "no %s \"%s\"", what, c->subject);
    return SQ_STORE_NOT_FOUND;
}
