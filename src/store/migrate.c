/* Brings the database schema up to date: numbered migrations, then the function files whose
 * text changed, in one transaction under one lock. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "conn.h"
#include "sequin/sha256.h"
#include "sequin/store.h"

/*
 * The advisory lock every node takes before looking at the schema ("SQMIGRAT" in ASCII). A
 * transaction-scoped lock is released by COMMIT or ROLLBACK, and by PostgreSQL itself if the
 * node dies halfway, so a crashed migrator never leaves others waiting for ever.
 */
#define MIGRATE_LOCK_KEY "6003664755386106196"

/* The migrator's own bookkeeping: which migrations ran, and the text of each function file
 * as last applied (its SHA-256), so that an unchanged file is not applied again. */
#define BOOKKEEPING                                                                                \
    "CREATE SCHEMA IF NOT EXISTS sequin;"                                                          \
    "CREATE TABLE IF NOT EXISTS sequin.schema_migrations ("                                        \
    "  version int PRIMARY KEY,"                                                                   \
    "  name text NOT NULL,"                                                                        \
    "  applied_at timestamptz NOT NULL DEFAULT now());"                                            \
    "CREATE TABLE IF NOT EXISTS sequin.schema_functions ("                                         \
    "  name text PRIMARY KEY,"                                                                     \
    "  sha256 text NOT NULL,"                                                                      \
    "  applied_at timestamptz NOT NULL DEFAULT now())"

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

/* Runs `sql` with `n` text parameters and hands its result to `*out` (NULL: cleared). 0, or -1
 * with `err` naming `what`. */
static int run(PGconn *conn, const char *sql, int n, const char *const *params, PGresult **out,
               const char *what, char *err, size_t errlen)
{
    char msg[512];
    PGresult *r =
        n > 0 ? PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0) : PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        sq_fail(err, errlen, "%s failed: %s", what, pg_message(r, conn, msg, sizeof msg));
        PQclear(r);
        return SQ_ERR;
    }
    if (out != NULL)
        *out = r;
    else
        PQclear(r);
    return SQ_OK;
}

static int check_list(const sq_schema *schema, char *err, size_t errlen)
{
    for (size_t i = 0; i < schema->n_migrations; i++) {
        const sq_migration *m = &schema->migrations[i];
        if (m->version != (int)i + 1 || m->sql == NULL || m->name == NULL)
            return sq_fail(err, errlen,
                           "the migration list is malformed: entry %zu has version %d, "
                           "expected %zu",
                           i + 1, m->version, i + 1);
    }
    return SQ_OK;
}

/* Applies the numbered migrations the database lacks; the number applied, or -1. */
static int apply_migrations(PGconn *conn, const sq_schema *schema, char *err, size_t errlen)
{
    PGresult *r = NULL;
    int applied = 0;
    size_t n = schema->n_migrations;

    if (run(conn, "SELECT coalesce(max(version), 0) FROM sequin.schema_migrations", 0, NULL, &r,
            "reading the schema version", err, errlen) != SQ_OK)
        return SQ_ERR;
    long current = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (current > (long)n)
        return sq_fail(err, errlen,
                       "the database schema is at version %ld, newer than this sequind knows "
                       "(%zu): upgrade sequind, or point it at another database",
                       current, n);
    for (size_t v = (size_t)current + 1; v <= n; v++) {
        const sq_migration *m = &schema->migrations[v - 1];
        char what[160], version[16];
        snprintf(what, sizeof what, "migration %d (%s)", m->version, m->name);
        snprintf(version, sizeof version, "%d", m->version);
        const char *params[2] = {version, m->name};
        if (run(conn, m->sql, 0, NULL, NULL, what, err, errlen) != SQ_OK ||
            run(conn, "INSERT INTO sequin.schema_migrations (version, name) VALUES ($1, $2)", 2,
                params, NULL, "recording the migration", err, errlen) != SQ_OK)
            return SQ_ERR;
        applied++;
    }
    return applied;
}

/*
 * Applies the function files whose text is not the one last applied, or all of them when
 * `all` (a migration ran: it may have dropped or changed what a function relies on), in the
 * schema's order, and forgets the files the schema no longer has. PostgreSQL checks each body
 * as it is created (a SQL-language one against the catalog too), so a broken file fails the
 * migration rather than the first call; that is why a file comes after the files it uses.
 * The number applied, or -1.
 */
static int apply_functions(PGconn *conn, const sq_schema *schema, bool all, char *err,
                           size_t errlen)
{
    PGresult *recorded = NULL;
    int applied = 0;

    if (run(conn, "SELECT name, sha256 FROM sequin.schema_functions", 0, NULL, &recorded,
            "reading the applied functions", err, errlen) != SQ_OK)
        return SQ_ERR;
    for (size_t i = 0; i < schema->n_functions && applied >= 0; i++) {
        const sq_function *f = &schema->functions[i];
        unsigned char digest[SQ_SHA256_LEN];
        char hex[2 * SQ_SHA256_LEN + 1], what[160];

        sq_sha256(f->sql, strlen(f->sql), digest);
        sq_sha256_hex(digest, hex);
        bool current = false;
        for (int row = 0; row < PQntuples(recorded); row++)
            current |= strcmp(PQgetvalue(recorded, row, 0), f->name) == 0 &&
                       strcmp(PQgetvalue(recorded, row, 1), hex) == 0;
        if (current && !all)
            continue;
        const char *params[2] = {f->name, hex};
        snprintf(what, sizeof what, "function file %s.sql", f->name);
        if (run(conn, f->sql, 0, NULL, NULL, what, err, errlen) != SQ_OK ||
            run(conn,
                "INSERT INTO sequin.schema_functions (name, sha256) VALUES ($1, $2) "
                "ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, applied_at = now()",
                2, params, NULL, "recording the function file", err, errlen) != SQ_OK)
            applied = SQ_ERR;
        else
            applied++;
    }
    /* The files this schema no longer has are forgotten (and applied afresh if they return). */
    for (int row = 0; row < PQntuples(recorded) && applied >= 0; row++) {
        const char *name = PQgetvalue(recorded, row, 0);
        bool kept = false;
        for (size_t i = 0; i < schema->n_functions; i++)
            kept |= strcmp(schema->functions[i].name, name) == 0;
        if (!kept && run(conn, "DELETE FROM sequin.schema_functions WHERE name = $1", 1, &name,
                         NULL, "forgetting a removed function file", err, errlen) != SQ_OK)
            applied = SQ_ERR;
    }
    PQclear(recorded);
    return applied;
}

int sq_store_migrate(const char *url, const sq_schema *schema, int *functions, char *err,
                     size_t errlen)
{
    char msg[512];
    PGconn *conn = NULL;
    int applied = SQ_ERR, fn = 0;
    bool in_tx = false;

    if (functions != NULL)
        *functions = 0;
    if (check_list(schema, err, errlen) != SQ_OK)
        return SQ_ERR;
    conn = PQconnectdb(url);
    sq_store_log_notices(conn);
    if (PQstatus(conn) != CONNECTION_OK) {
        sq_fail(err, errlen, "cannot connect to PostgreSQL: %s",
                conn != NULL ? pg_message(NULL, conn, msg, sizeof msg) : "out of memory");
        goto fail;
    }
    if (run(conn, "BEGIN", 0, NULL, NULL, "starting the migration transaction", err, errlen) !=
        SQ_OK)
        goto fail;
    in_tx = true;
    const char *key = MIGRATE_LOCK_KEY;
    if (run(conn, "SELECT pg_advisory_xact_lock($1::bigint)", 1, &key, NULL,
            "taking the migration lock", err, errlen) != SQ_OK ||
        run(conn, BOOKKEEPING, 0, NULL, NULL, "creating the bookkeeping tables", err, errlen) !=
            SQ_OK)
        goto fail;
    int migrations = apply_migrations(conn, schema, err, errlen);
    if (migrations < 0 || (fn = apply_functions(conn, schema, migrations > 0, err, errlen)) < 0)
        goto fail;
    in_tx = false; /* COMMIT ends the transaction even when it fails */
    if (run(conn, "COMMIT", 0, NULL, NULL, "committing the migrations", err, errlen) != SQ_OK)
        goto fail;
    applied = migrations;
    if (functions != NULL)
        *functions = fn;
fail:
    if (in_tx)
        PQclear(PQexec(conn, "ROLLBACK"));
    PQfinish(conn);
    return applied;
}
