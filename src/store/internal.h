/* What the store's files share and nothing outside src/store/ may use. */
#ifndef SEQUIN_STORE_INTERNAL_H
#define SEQUIN_STORE_INTERNAL_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "sequin/buf.h"
#include "sequin/store.h"

struct sq_store {
    PGconn *conn;
};

/* Type OIDs of the parameters we send (fixed in PostgreSQL's catalog). */
#define SQ_OID_BYTEA 17
#define SQ_OID_INT4 23
#define SQ_OID_TEXT 25
#define SQ_OID_UUID 2950
#define SQ_OID_BYTEA_ARRAY 1001
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

/* Runs prepared statement `name` with text parameters (NULL entries are SQL NULL) and checks
 * that it returned rows; NULL with `err` set otherwise. The caller PQclear()s the result. */
PGresult *sq_store_query(sq_store *s, const char *name, int n, const char *const *values, char *err,
                         size_t errlen);

/* True when `r` failed on a unique constraint (the name is taken). */
bool sq_store_is_unique_violation(const PGresult *r);

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
 * Reads every row of `r` (a successful result, or NULL after a failed sq_store_query: then
 * SQ_ERR) into an array of `size`-byte items in `arena`, which goes to `*out` with its length
 * in `*count`. Clears `r` in every case.
 */
SQ_WUR int sq_store_read_list(PGresult *r, size_t size, sq_row_reader read, void *out,
                              size_t *count, sq_arena *arena, char *err, size_t errlen);

/* Reads the first row of `r` into `item`; with no row, SQ_STORE_NOT_FOUND and "no <what>
 * <name>" in `err`. Clears `r` in every case; NULL `r` is SQ_ERR (its error is in `err`). */
SQ_WUR int sq_store_read_one(PGresult *r, sq_row_reader read, void *item, sq_arena *arena,
                             const char *what, const char *name, char *err, size_t errlen);

/* The columns sq_row_message reads, from `messages m` joined with `streams s`. */
#define SQ_MESSAGE_COLS                                                                            \
    "m.key::text, s.id, m.data, encode(m.data_hash, 'hex'), m.seq, sequin.iso(m.inserted_at), "    \
    "sequin.iso(m.updated_at)"

#endif
