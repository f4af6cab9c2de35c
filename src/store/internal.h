/* What the store's files share and nothing outside src/store/ may use. */
#ifndef SEQUIN_STORE_INTERNAL_H
#define SEQUIN_STORE_INTERNAL_H

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

#endif
