/* A store connection's lifecycle: opening, reconnecting without waiting, preparing the
 * catalog on each new connection, LISTEN. Internal to src/store/. */
#ifndef SEQUIN_STORE_CONN_H
#define SEQUIN_STORE_CONN_H

#include <libpq-fe.h>

/* Sends what PostgreSQL says outside query results on `conn` (notices, an error that arrives
 * while idle) to the log rather than to stderr; every connection of the store has it. NULL is
 * a no-op. */
void sq_store_log_notices(PGconn *conn);

#endif
