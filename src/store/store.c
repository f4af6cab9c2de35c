/* A store connection: connecting, preparing every statement once, and the shared helpers. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Every statement the store runs, prepared once per connection by name. */
static const struct {
    const char *name;
    const char *sql;
    int nparams;
    unsigned types[6];
} statements[] = {
    {"stream_num", "SELECT num FROM sequin.streams WHERE name = $1", 1, {SQ_OID_TEXT}},
    {"upsert",
     "SELECT sequin.upsert($1, $2, $3, $4)",
     4,
     {SQ_OID_INT4, SQ_OID_TEXT_ARRAY, SQ_OID_TEXT_ARRAY, SQ_OID_BYTEA_ARRAY}},
    /* deliver_policy "new" starts both positions at the sequence's last value: messages
     * upserted before the consumer existed are behind it. */
    {"consumer_create",
     "INSERT INTO sequin.consumers (stream, name, filter, regex, ack_wait_ms, max_deliver, "
     "                              deliver_policy, cursor, scanned) "
     "SELECT $1, $2, $3, sequin.filter_regex($3), $4, nullif($5, 0), $6, start, start "
     "  FROM (SELECT CASE WHEN $6 = 'new' AND is_called THEN last_value ELSE 0 END AS start "
     "          FROM sequin.seq) s "
     "RETURNING id",
     6,
     {SQ_OID_INT4, SQ_OID_TEXT, SQ_OID_TEXT, SQ_OID_INT4, SQ_OID_INT4, SQ_OID_TEXT}},
    {"receive",
     "SELECT ack_id, key, seq, deliver_count FROM sequin.receive($1, $2)",
     2,
     {SQ_OID_UUID, SQ_OID_INT4}},
    {"ack", "SELECT sequin.ack($1, $2)", 2, {SQ_OID_UUID, SQ_OID_UUID_ARRAY}},
    {"nack", "SELECT sequin.nack($1, $2, $3)", 3, {SQ_OID_UUID, SQ_OID_UUID_ARRAY, SQ_OID_INT4}},
    {"extend", "SELECT sequin.extend($1, $2)", 2, {SQ_OID_UUID, SQ_OID_UUID_ARRAY}},
    {"redrive", "SELECT sequin.redrive($1, $2)", 2, {SQ_OID_UUID, SQ_OID_UUID_ARRAY}},
    {"message_delete", "SELECT sequin.delete_message($1, $2)", 2, {SQ_OID_INT4, SQ_OID_TEXT}},
};

int sq_store_fail(const sq_store *s, const PGresult *r, char *err, size_t errlen, const char *fmt,
                  ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < errlen && (r != NULL || s != NULL)) {
        const char *why = r != NULL ? PQresultErrorMessage(r) : "";
        if ((why == NULL || *why == '\0') && s != NULL)
            why = PQerrorMessage(s->conn);
        snprintf(err + n, errlen - (size_t)n, ": %s", why);
        size_t len = strlen(err);
        while (len > 0 && err[len - 1] == '\n')
            err[--len] = '\0';
    }
    return SQ_ERR;
}

static int put_be32(sq_buf *out, uint32_t v)
{
    uint32_t be = htonl(v);
    return sq_buf_append(out, &be, 4);
}

int sq_store_binary_array(sq_buf *out, unsigned elem_oid, const char *const *elems,
                          const size_t *lens, size_t n)
{
    if (n > INT32_MAX)
        return SQ_ERR;
    /* Header: dimensions, has-nulls flag, element type; then size and lower bound. */
    if (put_be32(out, 1) || put_be32(out, 0) || put_be32(out, elem_oid) ||
        put_be32(out, (uint32_t)n) || put_be32(out, 1))
        return SQ_ERR;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] > (1u << 30))
            return SQ_ERR;
        if (put_be32(out, (uint32_t)lens[i]) || sq_buf_append(out, elems[i], lens[i]))
            return SQ_ERR;
    }
    return SQ_OK;
}

int sq_store_open(const char *url, sq_store **out, char *err, size_t errlen)
{
    sq_store *s = calloc(1, sizeof *s);
    PGresult *r = NULL;
    if (s == NULL)
        return sq_store_fail(NULL, NULL, err, errlen, "out of memory");
    s->conn = PQconnectdb(url);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        sq_store_fail(s, NULL, err, errlen, "cannot connect to PostgreSQL");
        goto fail;
    }
    for (size_t i = 0; i < SQ_ARRAY_LEN(statements); i++) {
        r = PQprepare(s->conn, statements[i].name, statements[i].sql, statements[i].nparams,
                      statements[i].types);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            sq_store_fail(s, r, err, errlen, "preparing \"%s\" failed", statements[i].name);
            goto fail;
        }
        PQclear(r);
        r = NULL;
    }
    *out = s;
    return SQ_OK;

fail:
    PQclear(r);
    sq_store_close(s);
    return SQ_ERR;
}

void sq_store_close(sq_store *s)
{
    if (s == NULL)
        return;
    PQfinish(s->conn);
    free(s);
}

int sq_store_stream_num(sq_store *s, const char *name, int *num, char *err, size_t errlen)
{
    PGresult *r = PQexecPrepared(s->conn, "stream_num", 1, &name, NULL, NULL, 0);
    int rc = SQ_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = sq_store_fail(s, r, err, errlen, "looking up stream \"%s\" failed", name);
    else if (PQntuples(r) == 0)
        rc = sq_store_fail(NULL, NULL, err, errlen, "no stream named \"%s\"", name);
    else
        *num = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}
