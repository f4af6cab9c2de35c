/* What the store's files share and nothing outside src/store/ may use. */
#ifndef SEQUIN_STORE_INTERNAL_H
#define SEQUIN_STORE_INTERNAL_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "sequin/buf.h"
#include "sequin/store.h"

/* Type OIDs of the parameters we send (fixed in PostgreSQL's catalog). */
#define SQ_OID_BYTEA 17
#define SQ_OID_INT4 23
#define SQ_OID_TEXT 25
#define SQ_OID_UUID 2950
#define SQ_OID_BYTEA_ARRAY 1001
#define SQ_OID_INT4_ARRAY 1007
#define SQ_OID_TEXT_ARRAY 1009
#define SQ_OID_UUID_ARRAY 2951

/* Formats `fmt` into err and returns -1; with a PGresult, PostgreSQL's reason is appended. */
SQ_PRINTF(5, 6)
int sq_store_fail(const sq_store *s, const PGresult *r, char *err, size_t errlen, const char *fmt,
                  ...);

/*
 * Appends a one-dimensional array of `n` elements in PostgreSQL's binary format to `out`:
 * the way batches travel as one parameter, with no quoting of their contents. Element i is
 * `lens[i]` bytes at `elems[i]`. Returns 0, or -1 on ENOMEM or an element over 1 GB.
 */
SQ_WUR int sq_store_binary_array(sq_buf *out, unsigned elem_oid, const char *const *elems,
                                 const size_t *lens, size_t n);

/* True when `r` (may be NULL) failed with SQLSTATE `code`. */
bool sq_store_failed_with(const PGresult *r, const char *code);

/* True when `r` failed on a unique constraint (the name is taken). */
bool sq_store_is_unique_violation(const PGresult *r);

/* True when `r` failed on a foreign key: the stream or consumer a statement named is gone. */
bool sq_store_is_fk_violation(const PGresult *r);

/*
 * Reads a result row column by column into the API's objects, copying strings into an arena.
 * Any allocation failure sets `oom` and the reads go on returning NULL/0, so a caller checks
 * once at the end.
 */
typedef struct sq_row {
    const PGresult *r;
    int row;
    int col;
    sq_arena *arena;
    bool oom;
} sq_row;

const char *sq_row_text(sq_row *w); /* NULL for SQL NULL */
long long sq_row_int(sq_row *w);    /* 0 for SQL NULL */
double sq_row_double(sq_row *w);    /* -1 for SQL NULL */
void sq_row_id(sq_row *w, char id[37]);
bool sq_row_bool(sq_row *w);
/* Seven columns: key, stream id, data, data hash (hex), seq, inserted_at, updated_at. */
void sq_row_message(sq_row *w, sq_message *m);
/* Five columns: ack_id, state, deliver_count, last_delivered_at, not_visible_until. */
void sq_row_pair_info(sq_row *w, sq_pair_info *i);

/* Reads one object of a result row into `item`. */
typedef void (*sq_row_reader)(sq_row *w, void *item);

/*
 * Reads every row of `r` (a successful result; NULL is SQ_ERR) into an array of `size`-byte items
 * in `arena`, which goes to `*out` with its length in `*count`. Clears `r` in every case.
 */
SQ_WUR int sq_store_read_list(PGresult *r, size_t size, sq_row_reader read, void *out,
                              size_t *count, sq_arena *arena, char *err, size_t errlen);

/* Reads the first row of `r` into `item`; with no row, SQ_STORE_NOT_FOUND and "no <what>
 * <name>" in `err`. Clears `r` in every case; NULL `r` is SQ_ERR. */
SQ_WUR int sq_store_read_one(PGresult *r, sq_row_reader read, void *item, sq_arena *arena,
                             const char *what, const char *name, char *err, size_t errlen);

/* Readers of a single value into an int, a long long, an id (char[37]) or a flag (int). */
void sq_read_int(sq_row *w, void *item);
void sq_read_count(sq_row *w, void *item);
void sq_read_id(sq_row *w, void *item);
void sq_read_flag(sq_row *w, void *item);

/* ---- calls: one in flight per connection ---------------------------------------------------- */

/* What a call does when its current statement's result `r` is in: ends the call (SQ_OK, or
 * another code with the call's `err` set) or sends the next statement with sq_store_next and
 * returns what that returns (SQ_AGAIN). */
typedef int (*sq_call_step)(sq_store *s, PGresult *r);

/* A statement to send for the call in flight: prepared statement `name` with `n` parameters
 * (text unless `formats` says binary), and the step for its result (NULL: the call ends with
 * it, failing unless it gave rows or OK). */
typedef struct sq_stmt {
    const char *name;
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
                      when PostgreSQL chose it as a deadlock's victim (name NULL: cannot be) */
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

/* Drives a reconnect (store.c): SQ_AGAIN while PQconnectPoll waits (for writing when
 * `*want_write`), SQ_OK once connected with the first statement to prepare sent and
 * `connecting` cleared, SQ_ERR with the call's error set when connecting failed. */
SQ_WUR int sq_store_connect_step(sq_store *s, bool *want_write);

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

/* The columns sq_row_message reads, from `messages m` joined with `streams s`. */
#define SQ_MESSAGE_COLS                                                                            \
    "m.key::text, s.id, m.data, encode(m.data_hash, 'hex'), m.seq, sequin.iso(m.inserted_at), "    \
    "sequin.iso(m.updated_at)"

#endif
