/* What a postgres source asks of the user's database over a plain connection: checks, the
 * publication, the slot, tables' keys. The only SQL run against a source database. Internal to
 * src/source/. */
#ifndef SEQUIN_SOURCE_DB_H
#define SEQUIN_SOURCE_DB_H

#include <libpq-fe.h>

#include "sequin/source.h"

/* The server's error for `res` (or the connection's, when `res` has none) behind `what`, without
 * libpq's trailing newline, into `err`; returns -1. For both connections to a source database. */
int sq_srcdb_error(PGconn *db, const PGresult *res, const char *what, char *err, size_t errlen);

/* A plain connection to the source database. 0 with `*out` set (PQfinish it), or -1. */
SQ_WUR int sq_srcdb_connect(const char *url, PGconn **out, char *err, size_t errlen);

/*
 * Everything the source needs before it streams, each a clear sentence when missing:
 * PostgreSQL 10 or later, wal_level logical, a role with REPLICATION (or superuser), each table
 * there with a primary key (or a replica identity index) and readable; then the publication
 * (created for the tables if missing, used as it is otherwise; refused when it publishes a table
 * of the store's schema, sequin) and the slot (created with pgoutput if missing; one of another
 * plugin or database is refused).
 */
SQ_WUR int sq_srcdb_prepare(PGconn *db, const sq_source_def *def, char *err, size_t errlen);

/* sq_srcdb_table_key's answer for a table dropped since (the stream may still hold changes
 * of it that were committed before the drop). */
#define SQ_SRCDB_GONE (-3)

/*
 * The key columns of table `oid`: its replica identity index's (REPLICA IDENTITY USING INDEX),
 * else its primary key's, in the index's order; their names in `arena`. 0, or -1 with `err`
 * saying why the table has none.
 */
SQ_WUR int sq_srcdb_table_key(PGconn *db, unsigned oid, const char ***names, size_t *n,
                              sq_arena *arena, char *err, size_t errlen);

/* Each of the `n` type OIDs that names a domain replaced by its base type's, so that a column
 * of a domain over integer is a number in a change as in a backfilled row. 0, or -1. */
SQ_WUR int sq_srcdb_base_types(PGconn *db, uint32_t *oids, size_t n, char *err, size_t errlen);

/* The OID of table "schema.table". 0, or -1 (it does not exist). */
SQ_WUR int sq_srcdb_table_oid(PGconn *db, const char *table, unsigned *oid, char *err,
                              size_t errlen);

/*
 * A backfill page: up to `limit` rows of schema.table after key `after` (nkeys texts of the
 * columns `keys`; NULL: from the first row) in the key's order, read in a REPEATABLE READ
 * transaction whose snapshot (txid_current_snapshot's text, malloc'd into `*snapshot`) and the
 * WAL insert position after the read (`*w`) come with them. 0 with `*rows` (PQclear it), or -1.
 */
SQ_WUR int sq_srcdb_read_page(PGconn *db, const char *schema, const char *table,
                              const char *const *keys, size_t nkeys, const char *const *after,
                              int limit, PGresult **rows, char **snapshot, sq_lsn *w, char *err,
                              size_t errlen);

/* How many bytes of WAL slot `slot` holds back: the source database's WAL position less the
 * slot's confirmed one (what the stream has, or was idle past). 0, or -1 (no such slot). */
SQ_WUR int sq_srcdb_slot_lag(PGconn *db, const char *slot, long long *bytes, char *err,
                             size_t errlen);

#endif
