/* What a postgres source asks of the user's database over a plain connection: checks, the
 * publication, the slot, tables' keys. The only SQL run against a source database. Internal to
 * src/source/. */
#ifndef SEQUIN_SOURCE_DB_H
#define SEQUIN_SOURCE_DB_H

#include <libpq-fe.h>

#include "sequin/source.h"

/* A plain connection to the source database. 0 with `*out` set (PQfinish it), or -1. */
SQ_WUR int sq_srcdb_connect(const char *url, PGconn **out, char *err, size_t errlen);

/*
 * Everything the source needs before it streams, each a clear sentence when missing:
 * PostgreSQL 10 or later, wal_level logical, a role with REPLICATION (or superuser), each table
 * there with a primary key (or a replica identity index) and readable; then the publication
 * (created for the tables if missing, used as it is otherwise) and the slot (created with
 * pgoutput if missing; one of another plugin or database is refused).
 */
SQ_WUR int sq_srcdb_prepare(PGconn *db, const sq_source_def *def, char *err, size_t errlen);

/*
 * The key columns of table `oid`: its primary key's, else its replica identity index's, in the
 * index's order; their names in `arena`. 0, or -1 with `err` saying why the table has none.
 */
SQ_WUR int sq_srcdb_table_key(PGconn *db, unsigned oid, const char ***names, size_t *n,
                              sq_arena *arena, char *err, size_t errlen);

/* pg_current_wal_lsn() of the source database, for the lag. 0 or -1. */
SQ_WUR int sq_srcdb_wal_lsn(PGconn *db, sq_lsn *out, char *err, size_t errlen);

#endif
