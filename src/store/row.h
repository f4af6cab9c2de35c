/* Reading PostgreSQL's results into the store's objects, and the store's error helpers: the
 * bottom layer of src/store/, which knows libpq's results and nothing of calls. */
#ifndef SEQUIN_STORE_ROW_H
#define SEQUIN_STORE_ROW_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "sequin/buf.h"
#include "sequin/store.h"

/* Formats `fmt` into `err` and returns -1; with a PGresult (or else a connection), PostgreSQL's
 * reason is appended after a colon. */
SQ_PRINTF(5, 6)
int sq_store_fail(PGconn *conn, const PGresult *r, char *err, size_t errlen, const char *fmt, ...);

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
int sq_row_int_or(sq_row *w, int null_value);
double sq_row_double(sq_row *w); /* -1 for SQL NULL */
void sq_row_id(sq_row *w, char id[37]);
bool sq_row_bool(sq_row *w);
/* A JSON array of strings (array_to_json, json_agg): the strings in the arena, `*n` of them;
 * NULL with `*n` 0 for SQL NULL or an empty array. */
const char **sq_row_strings(sq_row *w, size_t *n);
bool sq_row_null(const sq_row *w); /* whether the next column is NULL; reads nothing */
/* Seven columns: key, stream id, data, data hash (hex), seq, inserted_at, updated_at. */
void sq_row_message(sq_row *w, sq_message *m);
/* Five columns: ack_id, state, deliver_count, last_delivered_at, not_visible_until. */
void sq_row_pair_info(sq_row *w, sq_pair_info *i);

/* Reads one object of a result row into `item`. */
typedef void (*sq_row_reader)(sq_row *w, void *item);

/*
 * Reads rows `from`.. of `r` (a successful result; NULL is SQ_ERR) into an array of
 * `size`-byte items in `arena`, which goes to `*out` with its length in `*count`. Clears `r`
 * in every case.
 */
SQ_WUR int sq_store_read_list(PGresult *r, int from, size_t size, sq_row_reader read, void *out,
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

#endif
