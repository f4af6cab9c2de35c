/* A store connection's lifecycle: connecting (waiting or not), preparing every statement of
 * the catalog once per connection, LISTEN and its notifications, closing. */
#include "conn.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "sequin/log.h"

/* The step of each PREPARE: the next one, then LISTEN again if the store was listening. */
static int prepared(sq_store *s, PGresult *r);

static int prepare_next(sq_store *s)
{
    sq_call *c = &s->call;
    const sq_statement *st = sq_catalog((sq_stmt_id)c->step);
    c->next = prepared;
    c->what = st->name;
    int sent = PQsendPrepare(s->conn, st->name, st->sql, st->nparams, st->types);
    return sq_store_sent(s, sent, c->what);
}

/* A new connection is up: its first statement prepares the first of the catalog. */
static int prepare_first(sq_store *s)
{
    s->call.step = 0;
    return prepare_next(s);
}

/* The step of the LISTEN that ends a reconnect, and of the last PREPARE otherwise. */
static int ready(sq_store *s, PGresult *r)
{
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return sq_store_fail(s->conn, r, s->call.err, sizeof s->call.err, "%s failed",
                             s->call.what);
    s->up = true;
    return SQ_OK;
}

static int prepared(sq_store *s, PGresult *r)
{
    sq_call *c = &s->call;
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return sq_store_fail(s->conn, r, c->err, sizeof c->err, "preparing \"%s\" failed", c->what);
    if (++c->step < SQ_STMT_COUNT)
        return prepare_next(s);
    if (s->listening)
        return sq_store_next(s, &(sq_stmt){.id = SQ_STMT_LISTEN, .next = ready});
    return ready(s, r);
}

/* libpq prints what the server says outside a query's result (NOTICE, and an error that
 * arrives while idle, such as an administrator's shutdown) to stderr by itself: these go
 * through the log instead, in its format. Warnings and errors at warn, the rest at debug. */
static void log_notice(void *arg, const PGresult *r)
{
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    (void)arg;
    if (sev == NULL)
        sev = "NOTICE";
    if (msg == NULL)
        msg = "";
    if (strcmp(sev, "WARNING") == 0 || strcmp(sev, "ERROR") == 0 || strcmp(sev, "FATAL") == 0 ||
        strcmp(sev, "PANIC") == 0)
        sq_warn("PostgreSQL %s: %s", sev, msg);
    else
        sq_debug("PostgreSQL %s: %s", sev, msg);
}

void sq_store_log_notices(PGconn *conn)
{
    if (conn != NULL)
        PQsetNoticeReceiver(conn, log_notice, NULL);
}

int sq_store_begin_reconnect(sq_store *s, char *err, size_t errlen)
{
    sq_call *c = &s->call;
    PQfinish(s->conn);
    s->up = false;
    sq_store_reset_call(c);
    c->op = "reconnect";
    s->conn = PQconnectStart(s->url);
    sq_store_log_notices(s->conn);
    if (PQstatus(s->conn) == CONNECTION_BAD) {
        sq_store_fail(s->conn, NULL, err, errlen, "cannot connect to PostgreSQL");
        c->op = NULL;
        return SQ_ERR;
    }
    /* PQconnectStart has begun connecting: the socket is to be writable first. */
    c->connecting = true;
    c->connected = prepare_first;
    c->polling = PGRES_POLLING_WRITING;
    return SQ_OK;
}

int sq_store_new(const char *url, sq_store **out, char *err, size_t errlen)
{
    sq_store *s = calloc(1, sizeof *s);
    if (s == NULL || (s->url = strdup(url)) == NULL) {
        free(s);
        return sq_store_fail(NULL, NULL, err, errlen, "out of memory");
    }
    *out = s;
    return SQ_OK;
}

int sq_store_open(const char *url, sq_store **out, char *err, size_t errlen)
{
    sq_store *s;
    if (sq_store_new(url, &s, err, errlen) != SQ_OK)
        return SQ_ERR;
    /* PQconnectdb rather than a reconnect: it honours connect_timeout. */
    s->conn = PQconnectdb(url);
    sq_store_log_notices(s->conn);
    if (PQstatus(s->conn) != CONNECTION_OK || PQsetnonblocking(s->conn, 1) != 0) {
        sq_store_fail(s->conn, NULL, err, errlen, "cannot connect to PostgreSQL");
        goto fail;
    }
    s->call.op = "open";
    if (prepare_first(s) != SQ_AGAIN) {
        snprintf(err, errlen, "%s", s->call.err);
        goto fail;
    }
    (void)sq_store_wait(s, SQ_OK);
    if (sq_store_finish(s, err, errlen) != SQ_OK)
        goto fail;
    *out = s;
    return SQ_OK;

fail:
    sq_store_close(s);
    return SQ_ERR;
}

void sq_store_close(sq_store *s)
{
    if (s == NULL)
        return;
    PQfinish(s->conn);
    PQclear(s->call.res);
    PQclear(s->call.kept);
    sq_arena_free(&s->call.mem);
    free(s->url);
    free(s);
}

int sq_store_begin_listen(sq_store *s, char *err, size_t errlen)
{
    int rc = sq_store_begin(s, "listen", NULL, &(sq_stmt){.id = SQ_STMT_LISTEN}, err, errlen);
    s->listening = s->listening || rc == SQ_OK;
    return rc;
}

int sq_store_next_notify(sq_store *s, int *stream)
{
    PGnotify *n;
    while ((n = PQnotifies(s->conn)) != NULL) {
        char *end;
        long v = strtol(n->extra, &end, 10);
        bool ours = strcmp(n->relname, "sequin_stream") == 0 && end != n->extra && *end == '\0' &&
                    v > 0 && v <= INT_MAX;
        PQfreemem(n);
        if (ours) {
            *stream = (int)v;
            return SQ_OK;
        }
    }
    return SQ_AGAIN;
}
