/* The call machine: one call in flight per connection, made of statements sent one after
 * another without waiting, each result handed to the step that sends the next. Internal to
 * src/store/; the resource files (streams.c, messages.c, consumers.c, reconcile.c) build
 * their calls on it, conn.c the connection's own lifecycle. */
#ifndef SEQUIN_STORE_CALL_H
#define SEQUIN_STORE_CALL_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "catalog.h"
#include "row.h"
#include "sequin/buf.h"
#include "sequin/store.h"

/* What a call does when its current statement's result `r` is in: ends the call (SQ_OK, or
 * another code with the call's `err` set) or sends the next statement with sq_store_next and
 * returns what that returns (SQ_AGAIN). */
typedef int (*sq_call_step)(sq_store *s, PGresult *r);

/* A statement to send for the call in flight: catalog statement `id` with `n` parameters
 * (text unless `formats` says binary), and the step for its result (NULL: the call ends with
 * it, failing unless it gave rows or OK). */
typedef struct sq_stmt {
    sq_stmt_id id;
    int n;
    const char *const *values;
    const int *lengths;
    const int *formats;
    sq_call_step next;
} sq_stmt;

/* The one call a connection has in flight, from its begin to its finish. */
typedef struct sq_call {
    const char *op;    /* the begin's name, which its finish checks; NULL: no call */
    const char *what;  /* "<what> failed" when a statement fails; the statement by default */
    sq_call_step next; /* for the result of the statement in flight; NULL: rows end the call */
    bool over;         /* poll saw it end: its finish is due */
    bool flushing;     /* libpq holds output the socket has not taken yet */
    bool connecting;   /* a reconnect: PQconnectPoll has not said OK yet */
    PostgresPollingStatusType polling; /* what PQconnectPoll waits for */
    int (*connected)(sq_store *s);     /* a reconnect's first statement, once connected */
    int rc;                            /* the outcome, once over */
    PGresult *res;                     /* the last statement's result */
    PGresult *kept;                    /* an earlier result a finish reads too */
    sq_arena mem;                      /* what later statements and messages need; reset by begin */
    const char *subject;               /* the name the call is about, for "no stream \"x\"" */
    int stream, max, step;
    long declared; /* reconcile: the declaration a refusal is about, or -1 */
    bool as_config;
    sq_consumer_settings changes;
    char id[37];
    char err[1024];
    sq_stmt again; /* the statement in flight, its parameters copied into `mem`: sent again
                      when PostgreSQL chose it as a deadlock's victim (`values` NULL with
                      parameters: cannot be) */
    int retries;   /* times the call's statements were sent again */
} sq_call;

struct sq_store {
    PGconn *conn; /* NULL only when PQconnectStart ran out of memory */
    char *url;
    bool up;        /* connected and every statement prepared */
    bool listening; /* LISTEN sequin_stream was sent: a reconnect sends it again */
    sq_call call;
};

/* Forgets the call in flight, if any, and everything it held but the arena's first block. */
void sq_store_reset_call(sq_call *c);

/*
 * Starts call `op` about `subject` (copied; NULL for none) and sends its first statement.
 * SQ_OK, or SQ_ERR with `err` set when a call is in flight, the connection is dead or the send
 * fails. The caller may then set the call's other fields for its steps.
 */
SQ_WUR int sq_store_begin(sq_store *s, const char *op, const char *subject, const sq_stmt *first,
                          char *err, size_t errlen);

/* Sends the next statement of the call in flight: SQ_AGAIN, or SQ_ERR with the call's error
 * set. What a step returns. */
SQ_WUR int sq_store_next(sq_store *s, const sq_stmt *next);

/* After PQsend*() returned `sent`: flushes what the socket takes. SQ_AGAIN (in flight), or
 * SQ_ERR with the call's error set. */
SQ_WUR int sq_store_sent(sq_store *s, int sent, const char *stmt);

/*
 * Ends the call that is over if its begin was `op` (NULL: any call): returns its outcome with
 * its error in `err`, and hands its last result to `*r` when SQ_OK (the caller clears it; NULL
 * otherwise). A finish that is not due (no call over, or another op's) is SQ_ERR and the call
 * stays.
 */
SQ_WUR int sq_store_end(sq_store *s, const char *op, PGresult **r, char *err, size_t errlen);

/* sq_store_end, then sq_store_read_one / sq_store_read_list of the last result; a missing row
 * is "no <what> <subject>". */
SQ_WUR int sq_store_finish_one(sq_store *s, const char *op, sq_row_reader read, void *item,
                               sq_arena *arena, const char *what, char *err, size_t errlen);
SQ_WUR int sq_store_finish_list(sq_store *s, const char *op, size_t size, sq_row_reader read,
                                void *out, size_t *count, sq_arena *arena, char *err,
                                size_t errlen);

/* sq_store_finish_list of a statement that lists what a stream or consumer holds from the
 * holder outwards (catalog.c): no row is SQ_STORE_NOT_FOUND ("no <what>"), one row whose
 * column `null_col` is NULL an empty list. */
SQ_WUR int sq_store_finish_contents(sq_store *s, const char *op, int null_col, size_t size,
                                    sq_row_reader read, void *out, size_t *count, sq_arena *arena,
                                    const char *what, char *err, size_t errlen);

/* The synchronous form of a call: when `begun` is SQ_OK, waits in poll(2) until the call is over
 * and returns true (its finish is due); false when the begin failed. */
bool sq_store_wait(sq_store *s, int begun);

/* For a step whose statement must give a row: SQ_OK when it did, SQ_STORE_NOT_FOUND and
 * "no <what> <subject>" when it gave none, SQ_ERR when it failed. */
SQ_WUR int sq_store_found(sq_store *s, PGresult *r, const char *what);

/* The step of "stream_create" and "consumer_create": SQ_OK when the insert gave its row with
 * an id, SQ_STORE_CONFLICT when the name is taken (a unique violation, or no id: an insert
 * that skipped the conflict), SQ_ERR otherwise. */
SQ_WUR int sq_store_created(sq_store *s, PGresult *r, const char *what);

#endif
