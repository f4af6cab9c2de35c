/* Backfill: a source's existing rows, read a page at a time and put in the stream at the point of
 * the slot's stream where they are exactly current (docs/sources.md, "Backfill"). Internal to
 * src/source/. */
#ifndef SEQUIN_SOURCE_BACKFILL_H
#define SEQUIN_SOURCE_BACKFILL_H

#include <libpq-fe.h>

#include "sequin/source.h"
#include "sequin/store.h"

typedef struct sq_backfill sq_backfill;

/* A row of a page, as the capture loop makes it a message: the table and the change. */
typedef int (*sq_backfill_emit_fn)(void *ctx, const sq_change_table *t, const sq_change *ch,
                                   char *err, size_t errlen);

/*
 * The backfill state of source `def` from the store: a table the settings name and the store
 * has no backfill for is added when def->backfill is set. 0 with `*out` (free with
 * sq_backfill_free; NULL-safe), or -1.
 */
SQ_WUR int sq_backfill_open(sq_store *store, const sq_source_def *def, sq_backfill **out, char *err,
                            size_t errlen);
void sq_backfill_free(sq_backfill *b);

/* True when a table has pages left to read and no page is waiting (one may be in flight). */
bool sq_backfill_wants_page(const sq_backfill *b);

/*
 * Reads the next page of the first table with pages left, after the page in flight if it is of
 * that table, with its snapshot and the WAL position `W` after it, and holds it. 0, or -1.
 */
SQ_WUR int sq_backfill_read(sq_backfill *b, PGconn *db, char *err, size_t errlen);

/* The WAL position the slot's stream must pass before the waiting page can go in; 0 when no
 * page waits. */
sq_lsn sq_backfill_waits_for(const sq_backfill *b);

/* True when the waiting page found no rows: nothing to wait for, it only says the table is
 * done (once the page in flight is in). */
bool sq_backfill_due_now(const sq_backfill *b);

/*
 * A change of a source transaction with top-level `xid`, to row `basic_key` (the row's key in
 * the basic format) of `schema`.`table`, arrived while a page waits: if the page's snapshot
 * did not see that transaction, the page's row for that key is older than the stream's and is
 * left out. Cheap when no page waits.
 */
SQ_WUR int sq_backfill_touch(sq_backfill *b, uint32_t xid, const char *schema, const char *table,
                             const char *basic_key, size_t len);

/*
 * The waiting page's rows (those not left out) to `emit`, as changes of action "read" of a
 * table whose key columns are those of the page's table, `source` its first token. The page
 * still waits. 0, or -1 with `emit`'s error.
 */
SQ_WUR int sq_backfill_emit(sq_backfill *b, const char *source, int64_t now_us,
                            sq_backfill_emit_fn emit, void *ctx, char *err, size_t errlen);

/*
 * The emitted page is on its way into the stream: it no longer waits, the next page starts
 * after its last row, and it is in flight until sq_backfill_committed. Only one page flies at
 * a time: the one before must be committed. 0, or -1.
 */
SQ_WUR int sq_backfill_take_off(sq_backfill *b, char *err, size_t errlen);

/* True when a page is in flight. */
bool sq_backfill_in_flight(const sq_backfill *b);

/* Records the page in flight (its last key, its row count, whether the table is done) in the
 * store, once its rows are in; a crash before makes a restart read it again, which the stream
 * takes as unchanged data. */
SQ_WUR int sq_backfill_record(sq_backfill *b, sq_store *store, int num, char *err, size_t errlen);

/* After the record committed: the page is behind, the table's cursor moves on. 0, or -1. */
SQ_WUR int sq_backfill_committed(sq_backfill *b);

/* Whether every table is done (the report says "backfilling" until then). */
bool sq_backfill_done(const sq_backfill *b);

#endif
