/* The replication connection of a postgres source: connect with replication=database, start
 * the slot's logical stream, read CopyData frames, confirm positions (pg_recvlogical's job). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <libpq-fe.h>

#include "sequin/replication.h"
#include "sequin/source.h"
#include "source_db.h"

struct sq_repl {
    PGconn *conn;
    char *copy; /* the last PQgetCopyData buffer: freed on the next read */
};

/* The server's message for `res` (or the connection's) behind `what`. */
static int server_fail(sq_repl *r, const PGresult *res, const char *what, char *err, size_t errlen)
{
    return sq_srcdb_error(r->conn, res, what, err, errlen);
}

int sq_repl_connect(const char *url, sq_repl **out, char *err, size_t errlen)
{
    /* The URL's own parameters are expanded from dbname; "replication" after it wins over any
     * the URL names, so the connection is always a logical replication one. UTF8: pgoutput
     * sends text in the client encoding, and messages are JSON. The options fix the text of
     * values (source.h); they replace any the URL gives. */
    const char *const keys[] = {"dbname",          "replication", "application_name",
                                "client_encoding", "options",     NULL};
    const char *const values[] = {url, "database", "sequin", "UTF8", SQ_SOURCE_SESSION_OPTIONS,
                                  NULL};
    sq_repl *r = calloc(1, sizeof *r);
    PGresult *res = NULL;

    *out = NULL;
    if (!r)
        return sq_fail(err, errlen, "out of memory");
    r->conn = PQconnectdbParams(keys, values, 1);
    if (!r->conn) {
        free(r);
        return sq_fail(err, errlen, "out of memory");
    }
    if (PQstatus(r->conn) != CONNECTION_OK) {
        server_fail(r, NULL, "cannot open a replication connection", err, errlen);
        goto fail;
    }
    /* A replication connection answers IDENTIFY_SYSTEM; a plain one (a server or a pooler
     * that ignored the replication parameter) does not, and is told apart here. */
    res = PQexec(r->conn, "IDENTIFY_SYSTEM");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) < 4) {
        server_fail(r, res, "the server refused IDENTIFY_SYSTEM", err, errlen);
        goto fail;
    }
    if (PQgetisnull(res, 0, 3)) {
        sq_fail(err, errlen,
                "the replication connection is not bound to a database (is "
                "replication=database stripped by a pooler?)");
        goto fail;
    }
    PQclear(res);
    *out = r;
    return SQ_OK;
fail:
    PQclear(res);
    sq_repl_close(r);
    return SQ_ERR;
}

void sq_repl_close(sq_repl *r)
{
    if (!r)
        return;
    if (r->copy)
        PQfreemem(r->copy);
    PQfinish(r->conn);
    free(r);
}

int sq_repl_start(sq_repl *r, const char *slot, const char *publication, sq_lsn start, char *err,
                  size_t errlen)
{
    char lsn[SQ_LSN_TEXT_MAX];
    char *slot_id = PQescapeIdentifier(r->conn, slot, strlen(slot));
    char *pub_lit = NULL, *pub_id = NULL;
    sq_buf cmd = {0};
    PGresult *res = NULL;
    int rc = SQ_ERR;

    /* publication_names is a string literal holding a list of identifiers. */
    pub_id = PQescapeIdentifier(r->conn, publication, strlen(publication));
    if (pub_id)
        pub_lit = PQescapeLiteral(r->conn, pub_id, strlen(pub_id));
    if (!slot_id || !pub_id || !pub_lit) {
        sq_fail(err, errlen, "out of memory");
        goto done;
    }
    if (sq_buf_printf(&cmd,
                      "START_REPLICATION SLOT %s LOGICAL %s (\"proto_version\" '1', "
                      "\"publication_names\" %s)",
                      slot_id, sq_lsn_format(start, lsn), pub_lit) != SQ_OK) {
        sq_fail(err, errlen, "out of memory");
        goto done;
    }
    res = PQexec(r->conn, cmd.data);
    if (PQresultStatus(res) != PGRES_COPY_BOTH) {
        server_fail(r, res, "cannot start streaming the slot", err, errlen);
        goto done;
    }
    rc = SQ_OK;
done:
    PQclear(res);
    sq_buf_free(&cmd);
    PQfreemem(slot_id);
    PQfreemem(pub_id);
    PQfreemem(pub_lit);
    return rc;
}

/* The end of the copy stream: the server's final result says why. */
static int stream_ended(sq_repl *r, char *err, size_t errlen)
{
    PGresult *res = PQgetResult(r->conn);
    int rc;

    if (res && PQresultStatus(res) == PGRES_COMMAND_OK)
        rc = sq_fail(err, errlen, "the server ended the replication stream");
    else
        rc = server_fail(r, res, "the replication stream broke", err, errlen);
    PQclear(res);
    return rc;
}

int sq_repl_read(sq_repl *r, int timeout_ms, const uint8_t **data, size_t *len, char *err,
                 size_t errlen)
{
    struct timeval start, now;

    if (r->copy) {
        PQfreemem(r->copy);
        r->copy = NULL;
    }
    gettimeofday(&start, NULL);
    for (bool consumed = false;;) {
        char *buf = NULL;
        int n = PQgetCopyData(r->conn, &buf, 1);
        if (n > 0) {
            r->copy = buf;
            *data = (const uint8_t *)buf;
            *len = (size_t)n;
            return SQ_OK;
        }
        if (n == -1)
            return stream_ended(r, err, errlen);
        if (n == -2)
            return server_fail(r, NULL, "reading the replication stream", err, errlen);

        /* What the socket holds already is read even with no time to wait. */
        if (!consumed) {
            consumed = true;
            if (!PQconsumeInput(r->conn))
                return server_fail(r, NULL, "reading the replication stream", err, errlen);
            continue;
        }
        gettimeofday(&now, NULL);
        long spent = (now.tv_sec - start.tv_sec) * 1000L + (now.tv_usec - start.tv_usec) / 1000L;
        if (spent >= timeout_ms)
            return 1;
        struct pollfd p = {.fd = PQsocket(r->conn), .events = POLLIN};
        if (poll(&p, 1, (int)(timeout_ms - spent)) < 0 && errno != EINTR)
            return sq_fail(err, errlen, "poll: %s", strerror(errno));
        consumed = false;
    }
}

int sq_repl_confirm(sq_repl *r, sq_lsn received, sq_lsn flush, char *err, size_t errlen)
{
    uint8_t msg[SQ_PGOUTPUT_STATUS_LEN];
    struct timeval tv;

    gettimeofday(&tv, NULL);
    int64_t now = sq_pgoutput_time_from_unix_us((int64_t)tv.tv_sec * 1000000 + tv.tv_usec);
    size_t n = sq_pgoutput_status_encode(msg, received, flush, flush, now, false);
    if (PQputCopyData(r->conn, (const char *)msg, (int)n) != 1 || PQflush(r->conn) != 0)
        return server_fail(r, NULL, "confirming a position", err, errlen);
    return SQ_OK;
}
