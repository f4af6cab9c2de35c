/* A logical replication connection to a source database: the slot's stream of pgoutput messages
 * read without blocking past a deadline, and the positions confirmed back to the server. */
#ifndef SEQUIN_REPLICATION_H
#define SEQUIN_REPLICATION_H

#include <stdbool.h>
#include <stddef.h>

#include "sequin/buf.h"
#include "sequin/common.h"
#include "sequin/pgoutput.h"

typedef struct sq_repl sq_repl;

/*
 * Connects to `url` (libpq syntax) as a replication connection (replication=database) and asks
 * IDENTIFY_SYSTEM. Waits for the connection (connect_timeout in `url` applies). 0 with `*out`
 * set (close with sq_repl_close), or -1 with a sentence in `err` that says what the server said.
 */
SQ_WUR int sq_repl_connect(const char *url, sq_repl **out, char *err, size_t errlen);

/* Closes the connection; NULL is a no-op. The slot keeps its confirmed position. */
void sq_repl_close(sq_repl *r);

/*
 * START_REPLICATION of logical slot `slot` with pgoutput protocol version 1 and publication
 * `publication`, from `start` (0: where the slot's confirmed position is). 0, or -1 with the
 * server's reason (a slot another connection streams is SQLSTATE 55006).
 */
SQ_WUR int sq_repl_start(sq_repl *r, const char *slot, const char *publication, sq_lsn start,
                         char *err, size_t errlen);

/*
 * The next CopyData payload, waiting at most `timeout_ms` for it: 0 with `*data`/`*len` set
 * (valid until the next call on `r`), 1 when the deadline passed with nothing to read, -1 when
 * the stream ended or the connection broke (`err` says how).
 */
SQ_WUR int sq_repl_read(sq_repl *r, int timeout_ms, const uint8_t **data, size_t *len, char *err,
                        size_t errlen);

/*
 * Sends a standby status update: `flush` is what the slot may forget (its confirmed position),
 * and should be a position the stream's database has committed. 0 or -1.
 */
SQ_WUR int sq_repl_confirm(sq_repl *r, sq_lsn received, sq_lsn flush, char *err, size_t errlen);

#endif
