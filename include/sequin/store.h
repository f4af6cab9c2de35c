/* The store: the only module that speaks SQL. This part: the schema and its migrations. */
#ifndef SEQUIN_STORE_H
#define SEQUIN_STORE_H

#include <stddef.h>

#include <libpq-fe.h>

#include "sequin/common.h"

/*
 * One schema change: `version` numbers start at 1 and increase by one; `sql` runs inside the
 * migration transaction (several statements are fine) and may assume schema "sequin" exists.
 * The list is compiled in from src/store/migrations/NNNN_name.sql.
 */
typedef struct sq_migration {
    int version;
    const char *name;
    const char *sql;
} sq_migration;

/* The migrations this binary carries, in version order; static storage. */
const sq_migration *sq_store_migrations(size_t *count);

/*
 * Brings the database's schema up to the last of `list` (normally sq_store_migrations()).
 * Everything happens in one transaction under a transaction-scoped advisory lock, so any
 * number of nodes may call this at once: one applies what is missing, the others wait and
 * then find nothing to do. Each applied migration is recorded in sequin.schema_migrations.
 *
 * Returns the number of migrations applied (0 when up to date), or -1 with a sentence in
 * `err` (NUL-terminated, at most `errlen` bytes) and the database unchanged: when the
 * database's schema is newer than `list` knows (this binary is older than the data it would
 * serve), when the list itself is malformed, or when PostgreSQL fails. `conn` must be idle
 * and not in a transaction; it is left idle.
 */
SQ_WUR int sq_store_migrate(PGconn *conn, const sq_migration *list, size_t n, char *err,
                            size_t errlen);

#endif
