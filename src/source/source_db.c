/* The source database over a plain connection: what must hold before streaming (version,
 * wal_level, privileges, tables and their keys), and the publication and slot it creates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source_db.h"

/* The statements run against a source database, in one place (a publication's DDL and a
 * backfill page's SELECT are built from names below). */
static const char SQL_SERVER[] =
    "SELECT current_setting('server_version_num')::int, "
    "       current_setting('wal_level'), r.rolreplication OR r.rolsuper, "
    "       current_user "
    "  FROM pg_roles r WHERE r.rolname = current_user";
static const char SQL_TABLE_READABLE[] =
    "SELECT c.oid, has_table_privilege(c.oid, 'SELECT') "
    "  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    " WHERE n.nspname || '.' || c.relname = $1 AND c.relkind IN ('r', 'p')";
static const char SQL_PUBLICATION[] = "SELECT 1 FROM pg_publication WHERE pubname = $1";
/* A table of the store's own schema that the publication publishes. */
static const char SQL_PUBLISHES_STORE[] =
    "SELECT schemaname || '.' || tablename FROM pg_publication_tables "
    " WHERE pubname = $1 AND schemaname = 'sequin' ORDER BY 1 LIMIT 1";
static const char SQL_SLOT[] = "SELECT plugin, database = current_database() "
                               "  FROM pg_replication_slots WHERE slot_name = $1";
static const char SQL_SLOT_CREATE[] = "SELECT pg_create_logical_replication_slot($1, 'pgoutput')";
static const char SQL_TABLE_KEY[] =
    "SELECT a.attname, i.indexrelid "
    "  FROM pg_index i "
    "  JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, pos) ON true "
    "  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
    " WHERE i.indrelid = $1::oid AND (i.indisprimary OR i.indisreplident) "
    " ORDER BY i.indisreplident DESC, i.indisprimary DESC, k.pos";
/* Schema and name always, as the settings name a table (regclass leaves out a schema on the
 * search path). */
static const char SQL_TABLE_NAME[] = "SELECT n.nspname || '.' || c.relname FROM pg_class c "
                                     "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                     "WHERE c.oid = $1::oid";
static const char SQL_SLOT_LAG[] =
    "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
    "  FROM pg_replication_slots WHERE slot_name = $1 AND confirmed_flush_lsn IS NOT NULL";
/* The base type of each domain among $1 (a domain over a domain goes down to the type under
 * both): pgoutput names a column's own type, a query's row description its base type. */
static const char SQL_DOMAIN_BASES[] =
    "WITH RECURSIVE d(top, base) AS ("
    " SELECT t.oid, t.typbasetype FROM pg_catalog.pg_type t"
    "  WHERE t.oid = ANY ($1::oid[]) AND t.typtype = 'd'"
    " UNION ALL"
    " SELECT d.top, t.typbasetype FROM d JOIN pg_catalog.pg_type t ON t.oid = d.base"
    "  WHERE t.typtype = 'd')"
    " SELECT d.top, d.base FROM d JOIN pg_catalog.pg_type t ON t.oid = d.base"
    "  WHERE t.typtype <> 'd'";
static const char SQL_TABLE_OID[] = "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = "
                                    "c.relnamespace WHERE n.nspname || '.' || c.relname = $1";
static const char SQL_SNAPSHOT[] = "SELECT txid_current_snapshot()::text";
static const char SQL_PAGE_END[] = "SELECT pg_current_wal_insert_lsn()::text, txid_current()";

int sq_srcdb_error(PGconn *db, const PGresult *res, const char *what, char *err, size_t errlen)
{
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!msg || !*msg)
        msg = PQerrorMessage(db);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    return sq_fail(err, errlen, "%s: %.*s", what, (int)n, msg);
}

/* sq_srcdb_error, and `res` cleared. */
static int db_fail(PGconn *db, PGresult *res, const char *what, char *err, size_t errlen)
{
    int rc = sq_srcdb_error(db, res, what, err, errlen);
    PQclear(res);
    return rc;
}

/* Runs `sql` with text parameters and wants rows back; NULL (and `err` set) on failure. */
static PGresult *query(PGconn *db, const char *sql, int n, const char *const *params,
                       const char *what, char *err, size_t errlen)
{
    PGresult *res = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
        db_fail(db, res, what, err, errlen);
        return NULL;
    }
    return res;
}

int sq_srcdb_connect(const char *url, PGconn **out, char *err, size_t errlen)
{
    const char *const keys[] = {"dbname", "application_name", "client_encoding", "options", NULL};
    const char *const values[] = {url, "sequin", "UTF8", SQ_SOURCE_SESSION_OPTIONS, NULL};
    PGconn *db = PQconnectdbParams(keys, values, 1);

    *out = NULL;
    if (!db)
        return sq_fail(err, errlen, "out of memory");
    if (PQstatus(db) != CONNECTION_OK) {
        db_fail(db, NULL, "cannot connect to the source database", err, errlen);
        PQfinish(db);
        return SQ_ERR;
    }
    *out = db;
    return SQ_OK;
}

/* The server, its settings and the role: each refusal says what to change. */
static int check_server(PGconn *db, char *err, size_t errlen)
{
    PGresult *res =
        query(db, SQL_SERVER, 0, NULL, "cannot read the server's settings", err, errlen);
    int rc = SQ_ERR;

    if (!res)
        return SQ_ERR;
    if (PQntuples(res) != 1) {
        sq_fail(err, errlen, "cannot read the current role");
    } else if (atoi(PQgetvalue(res, 0, 0)) < 100000) {
        sq_fail(err, errlen, "the source database runs PostgreSQL %s; sources need 10 or later",
                PQgetvalue(res, 0, 0));
    } else if (strcmp(PQgetvalue(res, 0, 1), "logical") != 0) {
        sq_fail(err, errlen,
                "wal_level is %s on the source database; logical replication needs "
                "wal_level = logical (ALTER SYSTEM SET wal_level = logical, then restart it)",
                PQgetvalue(res, 0, 1));
    } else if (strcmp(PQgetvalue(res, 0, 2), "t") != 0) {
        sq_fail(err, errlen,
                "role \"%s\" may not replicate: ALTER ROLE \"%s\" REPLICATION (docs/sources.md)",
                PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 3));
    } else {
        rc = SQ_OK;
    }
    PQclear(res);
    return rc;
}

/* Each declared table: it exists, has a key, and the role may read it (backfill does). */
static int check_tables(PGconn *db, const sq_source_def *def, char *err, size_t errlen)
{
    for (size_t i = 0; i < def->ntables; i++) {
        const char *param[1] = {def->tables[i]};
        PGresult *res =
            query(db, SQL_TABLE_READABLE, 1, param, "cannot look up a table", err, errlen);
        if (!res)
            return SQ_ERR;
        if (PQntuples(res) != 1) {
            PQclear(res);
            return sq_fail(err, errlen, "table %s does not exist in the source database",
                           def->tables[i]);
        }
        unsigned oid = (unsigned)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
        bool readable = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
        PQclear(res);
        if (!readable)
            return sq_fail(err, errlen,
                           "role \"%s\" may not read table %s: GRANT SELECT ON %s TO \"%s\"",
                           PQuser(db), def->tables[i], def->tables[i], PQuser(db));
        sq_arena scratch = {0};
        const char **names;
        size_t n;
        int rc = sq_srcdb_table_key(db, oid, &names, &n, &scratch, err, errlen);
        sq_arena_free(&scratch);
        if (rc != SQ_OK)
            return SQ_ERR;
    }
    return SQ_OK;
}

/* "schema.table" as a quoted identifier pair, appended to `out`. */
static int put_table(PGconn *db, sq_buf *out, const char *table)
{
    const char *dot = strchr(table, '.');
    char *schema = PQescapeIdentifier(db, table, (size_t)(dot - table));
    char *name = PQescapeIdentifier(db, dot + 1, strlen(dot + 1));
    int rc = schema && name ? sq_buf_printf(out, "%s.%s", schema, name) : SQ_ERR;
    PQfreemem(schema);
    PQfreemem(name);
    return rc;
}

static int ensure_publication(PGconn *db, const sq_source_def *def, char *err, size_t errlen)
{
    const char *param[1] = {def->publication};
    PGresult *res =
        query(db, SQL_PUBLICATION, 1, param, "cannot look up the publication", err, errlen);
    sq_buf sql = {0};
    char *pub = NULL;
    int rc = SQ_ERR;

    if (!res)
        return SQ_ERR;
    bool exists = PQntuples(res) == 1;
    PQclear(res);
    if (exists)
        return SQ_OK; /* used as it is: its tables are what streams */
    if (def->ntables == 0)
        return sq_fail(err, errlen,
                       "publication \"%s\" does not exist and no tables are given to create it for",
                       def->publication);
    pub = PQescapeIdentifier(db, def->publication, strlen(def->publication));
    if (!pub || sq_buf_printf(&sql, "CREATE PUBLICATION %s FOR TABLE ", pub) != SQ_OK)
        goto nomem;
    for (size_t i = 0; i < def->ntables; i++) {
        if ((i > 0 && sq_buf_puts(&sql, ", ") != SQ_OK) || put_table(db, &sql, def->tables[i]))
            goto nomem;
    }
    /* A partitioned table's changes then come under its own name, as its backfill's rows do,
     * not under the name of the partition that holds the row (PostgreSQL 13 and later; before,
     * a partitioned table cannot be published at all). */
    if (PQserverVersion(db) >= 130000 &&
        sq_buf_puts(&sql, " WITH (publish_via_partition_root = true)") != SQ_OK)
        goto nomem;
    res = query(db, sql.data, 0, NULL, "cannot create the publication", err, errlen);
    if (res) {
        PQclear(res);
        rc = SQ_OK;
    }
    goto done;
nomem:
    sq_fail(err, errlen, "out of memory");
done:
    PQfreemem(pub);
    sq_buf_free(&sql);
    return rc;
}

/* The store's own tables are never streamed: in the store's database (a publication FOR ALL
 * TABLES there, say) each message the source writes would come back as a change to write
 * again, without end. */
static int check_publication(PGconn *db, const sq_source_def *def, char *err, size_t errlen)
{
    const char *param[1] = {def->publication};
    PGresult *res =
        query(db, SQL_PUBLISHES_STORE, 1, param, "cannot read the publication", err, errlen);
    if (!res)
        return SQ_ERR;
    int rc = SQ_OK;
    if (PQntuples(res) == 1)
        rc = sq_fail(err, errlen,
                     "publication \"%s\" publishes %s, a table of Sequin's own: the source "
                     "would stream its own writes back into the stream; publish the tables to "
                     "stream alone (CREATE PUBLICATION ... FOR TABLE ...)",
                     def->publication, PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

static int ensure_slot(PGconn *db, const sq_source_def *def, char *err, size_t errlen)
{
    const char *param[1] = {def->slot};
    PGresult *res =
        query(db, SQL_SLOT, 1, param, "cannot look up the replication slot", err, errlen);
    if (!res)
        return SQ_ERR;
    if (PQntuples(res) == 1) {
        int rc = SQ_OK;
        if (PQgetisnull(res, 0, 0) || strcmp(PQgetvalue(res, 0, 0), "pgoutput") != 0)
            rc = sq_fail(err, errlen,
                         "replication slot \"%s\" exists but is not a logical slot of pgoutput",
                         def->slot);
        else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
            rc = sq_fail(err, errlen, "replication slot \"%s\" belongs to another database",
                         def->slot);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    res = query(db, SQL_SLOT_CREATE, 1, param, "cannot create the replication slot", err, errlen);
    if (!res)
        return SQ_ERR;
    PQclear(res);
    return SQ_OK;
}

int sq_srcdb_prepare(PGconn *db, const sq_source_def *def, char *err, size_t errlen)
{
    if (check_server(db, err, errlen) != SQ_OK || check_tables(db, def, err, errlen) != SQ_OK ||
        ensure_publication(db, def, err, errlen) != SQ_OK ||
        check_publication(db, def, err, errlen) != SQ_OK)
        return SQ_ERR;
    return ensure_slot(db, def, err, errlen);
}

int sq_srcdb_table_key(PGconn *db, unsigned oid, const char ***names, size_t *n, sq_arena *arena,
                       char *err, size_t errlen)
{
    char oid_s[16];
    snprintf(oid_s, sizeof oid_s, "%u", oid);
    const char *param[1] = {oid_s};
    /* The replica identity index, else the primary key: the columns whose old values a
     * delete's WAL record carries, so the key of a deleted row is always known (under
     * REPLICA IDENTITY USING INDEX that is the index's alone, even beside a primary key). */
    PGresult *res =
        query(db, SQL_TABLE_KEY, 1, param, "cannot read a table's primary key", err, errlen);
    if (!res)
        return SQ_ERR;
    int rows = PQntuples(res), count = 0;
    /* Rows of the index that is the key come first; stop where they end. */
    while (count < rows && strcmp(PQgetvalue(res, count, 1), PQgetvalue(res, 0, 1)) == 0)
        count++;
    if (count == 0) {
        PQclear(res);
        PGresult *name = query(db, SQL_TABLE_NAME, 1, param, "cannot name a table", err, errlen);
        if (!name)
            return SQ_ERR;
        if (PQntuples(name) == 0) {
            PQclear(name);
            sq_fail(err, errlen, "table %s is no longer in the source database", oid_s);
            return SQ_SRCDB_GONE;
        }
        sq_fail(err, errlen,
                "table %s has no primary key, so its rows have no key: add a primary key, or "
                "REPLICA IDENTITY USING INDEX with a unique index on NOT NULL columns",
                PQntuples(name) == 1 ? PQgetvalue(name, 0, 0) : oid_s);
        PQclear(name);
        return SQ_ERR;
    }
    const char **out = sq_arena_alloc(arena, (size_t)count * sizeof *out);
    for (int i = 0; out && i < count; i++)
        if (!(out[i] = sq_arena_strdup(arena, PQgetvalue(res, i, 0))))
            out = NULL;
    PQclear(res);
    if (!out)
        return sq_fail(err, errlen, "out of memory");
    *names = out;
    *n = (size_t)count;
    return SQ_OK;
}

int sq_srcdb_slot_lag(PGconn *db, const char *slot, long long *bytes, char *err, size_t errlen)
{
    const char *param[1] = {slot};
    PGresult *res = query(db, SQL_SLOT_LAG, 1, param, "cannot read the slot's lag", err, errlen);
    if (!res)
        return SQ_ERR;
    int rc = PQntuples(res) == 1 ? SQ_OK : SQ_ERR;
    if (rc == SQ_OK)
        *bytes = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    else
        sq_fail(err, errlen, "no replication slot \"%s\"", slot);
    PQclear(res);
    return rc;
}

int sq_srcdb_table_oid(PGconn *db, const char *table, unsigned *oid, char *err, size_t errlen)
{
    const char *param[1] = {table};
    PGresult *res = query(db, SQL_TABLE_OID, 1, param, "cannot look up a table", err, errlen);
    if (!res)
        return SQ_ERR;
    int rc = PQntuples(res) == 1 ? SQ_OK : SQ_ERR;
    if (rc == SQ_OK)
        *oid = (unsigned)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
    else
        sq_fail(err, errlen, "table %s does not exist in the source database", table);
    PQclear(res);
    return rc;
}

int sq_srcdb_base_types(PGconn *db, uint32_t *oids, size_t n, char *err, size_t errlen)
{
    sq_buf list = {0};
    int bad = sq_buf_putc(&list, '{');
    for (size_t i = 0; i < n; i++)
        bad |= sq_buf_printf(&list, "%s%u", i ? "," : "", (unsigned)oids[i]);
    bad |= sq_buf_putc(&list, '}');
    if (bad) {
        sq_buf_free(&list);
        return sq_fail(err, errlen, "out of memory");
    }
    const char *param[1] = {list.data};
    PGresult *res =
        query(db, SQL_DOMAIN_BASES, 1, param, "cannot look up the columns' types", err, errlen);
    sq_buf_free(&list);
    if (!res)
        return SQ_ERR;
    for (int r = 0; r < PQntuples(res); r++) {
        uint32_t domain = (uint32_t)strtoul(PQgetvalue(res, r, 0), NULL, 10);
        uint32_t base = (uint32_t)strtoul(PQgetvalue(res, r, 1), NULL, 10);
        for (size_t i = 0; i < n; i++)
            if (oids[i] == domain)
                oids[i] = base;
    }
    PQclear(res);
    return SQ_OK;
}

/* Runs `sql` on `db`, failing with its error behind `what`; for statements without rows. */
static int exec(PGconn *db, const char *sql, const char *what, char *err, size_t errlen)
{
    PGresult *res = query(db, sql, 0, NULL, what, err, errlen);
    PQclear(res);
    return res ? SQ_OK : SQ_ERR;
}

int sq_srcdb_read_page(PGconn *db, const char *schema, const char *table, const char *const *keys,
                       size_t nkeys, const char *const *after, int limit, PGresult **rows,
                       char **snapshot, sq_lsn *w, char *err, size_t errlen)
{
    sq_buf sql = {0}, cols = {0}, params = {0};
    char *s = PQescapeIdentifier(db, schema, strlen(schema));
    char *t = PQescapeIdentifier(db, table, strlen(table));
    PGresult *res = NULL;
    int rc = SQ_ERR;

    *rows = NULL;
    *snapshot = NULL;
    if (!s || !t)
        goto nomem;
    for (size_t i = 0; i < nkeys; i++) {
        char *k = PQescapeIdentifier(db, keys[i], strlen(keys[i]));
        int bad = !k || sq_buf_printf(&cols, "%s%s", i ? ", " : "", k) ||
                  sq_buf_printf(&params, "%s$%zu", i ? ", " : "", i + 1);
        PQfreemem(k);
        if (bad)
            goto nomem;
    }
    /* Keyset pagination: the rows after the cursor in the key's order, so a page costs the
     * same wherever it is and nothing is held between pages. ROW() keeps a one-column key a
     * row comparison too. */
    if (sq_buf_printf(&sql, "SELECT * FROM %s.%s %s%s%s%s%s ORDER BY %s LIMIT %d", s, t,
                      after ? "WHERE ROW(" : "", after ? cols.data : "", after ? ") > ROW(" : "",
                      after ? params.data : "", after ? ")" : "", cols.data, limit) != SQ_OK)
        goto nomem;

    /* The snapshot is the transaction's first statement's; the WAL position read after the
     * rows bounds every commit the snapshot saw. The transaction takes an xid and commits it
     * durably, which writes WAL past that position, so the slot's stream passes it soon even
     * when the database is idle. */
    if (exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ", "cannot begin a backfill page", err,
             errlen) != SQ_OK)
        goto done;
    if (exec(db, "SET LOCAL synchronous_commit = on", "cannot begin a backfill page", err,
             errlen) != SQ_OK)
        goto rollback;
    if (!(res = query(db, SQL_SNAPSHOT, 0, NULL, "cannot take a backfill snapshot", err, errlen)))
        goto rollback;
    *snapshot = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (!*snapshot) {
        sq_fail(err, errlen, "out of memory");
        goto rollback;
    }
    if (!(*rows = query(db, sql.data, after ? (int)nkeys : 0, after, "cannot read a backfill page",
                        err, errlen)))
        goto rollback;
    if (!(res = query(db, SQL_PAGE_END, 0, NULL, "cannot read the WAL position", err, errlen)))
        goto rollback;
    int bad = sq_lsn_parse(PQgetvalue(res, 0, 0), w);
    PQclear(res);
    if (bad) {
        sq_fail(err, errlen, "cannot read the WAL position");
        goto rollback;
    }
    if (exec(db, "COMMIT", "cannot end a backfill page", err, errlen) != SQ_OK)
        goto done;
    rc = SQ_OK;
    goto done;
nomem:
    sq_fail(err, errlen, "out of memory");
    goto done;
rollback:
    PQclear(PQexec(db, "ROLLBACK"));
done:
    if (rc != SQ_OK) {
        PQclear(*rows);
        *rows = NULL;
        free(*snapshot);
        *snapshot = NULL;
    }
    PQfreemem(s);
    PQfreemem(t);
    sq_buf_free(&sql);
    sq_buf_free(&cols);
    sq_buf_free(&params);
    return rc;
}
