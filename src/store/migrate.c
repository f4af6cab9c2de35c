/* Brings the database schema up to date: numbered migrations, one transaction, one lock. */
#include "sequin/buf.h"
#include "sequin/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The advisory lock every node takes before looking at the schema ("SQMIGRAT" in ASCII). A
 * transaction-scoped lock is released by COMMIT or ROLLBACK, and by PostgreSQL itself if the
 * node dies halfway, so a crashed migrator never leaves others waiting for ever.
 */
#define MIGRATE_LOCK_KEY "6003664755386106196"

/* PostgreSQL's message without its trailing newline, for embedding in a sentence. */
static const char *pg_message(const PGresult *r, PGconn *conn, char *buf, size_t size)
{
    const char *m = r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(conn);
    if (m == NULL || *m == '\0')
        m = PQerrorMessage(conn);
    snprintf(buf, size, "%s", m);
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return buf;
}

/* Runs `sql` (one or more statements, no parameters); 0, or -1 with `err` naming `what`. */
static int run(PGconn *conn, const char *sql, const char *what, char *err, size_t errlen)
{
    char msg[512];
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = SQ_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = sq_fail(err, errlen, "%s failed: %s", what, pg_message(r, conn, msg, sizeof msg));
    PQclear(r);
    return rc;
}

static int check_list(const sq_migration *list, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (list[i].version != (int)i + 1 || list[i].sql == NULL || list[i].name == NULL)
            return sq_fail(
                err, errlen,
                "the migration list is malformed: entry %zu has version %d, expected %zu", i + 1,
                list[i].version, i + 1);
    }
    return SQ_OK;
}

int sq_store_migrate(PGconn *conn, const sq_migration *list, size_t n, char *err, size_t errlen)
{
    char msg[512], what[160];
    PGresult *r = NULL;
    int applied = 0;
    int in_tx = 0;

    if (check_list(list, n, err, errlen) != SQ_OK)
        return SQ_ERR;
    if (run(conn, "BEGIN", "starting the migration transaction", err, errlen) != SQ_OK)
        goto fail;
    in_tx = 1;

    const char *key = MIGRATE_LOCK_KEY;
    r = PQexecParams(conn, "SELECT pg_advisory_xact_lock($1::bigint)", 1, NULL, &key, NULL, NULL,
                     0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        sq_fail(err, errlen, "taking the migration lock failed: %s",
                pg_message(r, conn, msg, sizeof msg));
        goto fail;
    }
    PQclear(r);
    r = NULL;

    if (run(conn,
            "CREATE SCHEMA IF NOT EXISTS sequin;"
            "CREATE TABLE IF NOT EXISTS sequin.schema_migrations ("
            "  version int PRIMARY KEY,"
            "  name text NOT NULL,"
            "  applied_at timestamptz NOT NULL DEFAULT now())",
            "creating the migrations table", err, errlen) != SQ_OK)
        goto fail;

    r = PQexec(conn, "SELECT coalesce(max(version), 0) FROM sequin.schema_migrations");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        sq_fail(err, errlen, "reading the schema version failed: %s",
                pg_message(r, conn, msg, sizeof msg));
        goto fail;
    }
    long current = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    r = NULL;

    if (current > (long)n) {
        sq_fail(err, errlen,
                "the database schema is at version %ld, newer than this sequind knows (%zu): "
                "upgrade sequind, or point it at another database",
                current, n);
        goto fail;
    }

    for (size_t v = (size_t)current + 1; v <= n; v++) {
        const sq_migration *m = &list[v - 1];
        snprintf(what, sizeof what, "migration %d (%s)", m->version, m->name);
        if (run(conn, m->sql, what, err, errlen) != SQ_OK)
            goto fail;

        char version[16];
        snprintf(version, sizeof version, "%d", m->version);
        const char *params[2] = {version, m->name};
        r = PQexecParams(conn,
                         "INSERT INTO sequin.schema_migrations (version, name) VALUES ($1, $2)", 2,
                         NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            sq_fail(err, errlen, "recording %s failed: %s", what,
                    pg_message(r, conn, msg, sizeof msg));
            goto fail;
        }
        PQclear(r);
        r = NULL;
        applied++;
    }

    in_tx = 0; /* COMMIT ends the transaction even when it fails */
    if (run(conn, "COMMIT", "committing the migrations", err, errlen) != SQ_OK)
        goto fail;
    return applied;

fail:
    PQclear(r);
    if (in_tx)
        PQclear(PQexec(conn, "ROLLBACK"));
    return SQ_ERR;
}
