/* A store connection: connecting (waiting or not), preparing every statement once, LISTEN,
 * and the shared helpers. */
#include <arpa/inet.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sequin/log.h"

/* The columns of a stream object, from `streams s`. The size is the stream's share of the
 * messages table by row count (the table's row estimate); with one stream, the table's size. */
#define STREAM_SELECT                                                                              \
    "SELECT s.id, s.num, s.name, mc.n, cc.n, sz.size, sequin.iso(s.inserted_at), "                 \
    "       sequin.iso(s.updated_at) "                                                             \
    "  FROM sequin.streams s "                                                                     \
    " CROSS JOIN LATERAL (SELECT count(*) AS n FROM sequin.messages m "                            \
    "                      WHERE m.stream = s.num) mc "                                            \
    " CROSS JOIN LATERAL (SELECT count(*) AS n FROM sequin.consumers c "                           \
    "                      WHERE c.stream = s.num) cc "                                            \
    " CROSS JOIN LATERAL (SELECT CASE WHEN mc.n = 0 THEN 0 "                                       \
    "                                 WHEN t.reltuples > mc.n "                                    \
    "                                 THEN (pg_total_relation_size(t.oid) * mc.n / t.reltuples) "  \
    "                                      ::bigint "                                              \
    "                                 ELSE pg_total_relation_size(t.oid) END AS size "             \
    "                      FROM pg_class t WHERE t.oid = 'sequin.messages'::regclass) sz "

/* The columns of a consumer object with its stats, from `consumers c` and `streams s`. */
#define CONSUMER_SELECT                                                                            \
    "SELECT c.id, c.name, s.id, c.stream, c.filter, c.ack_wait_ms, c.max_ack_pending, "            \
    "       coalesce(c.max_deliver, 0), c.deliver_policy = 'new', c.managed_by = 'config', "       \
    "       st.available, st.delivered, st.dead, "                                                 \
    "       extract(epoch FROM now() - st.oldest_available)::float8, "                             \
    "       sequin.iso(c.inserted_at), sequin.iso(c.updated_at) "                                  \
    "  FROM sequin.consumers c JOIN sequin.streams s ON s.num = c.stream "                         \
    " CROSS JOIN LATERAL sequin.consumer_stats(c.id) st "

/* The message listing, in two orders, with and without a key range. The filter's regex is a
 * scalar subquery so it is computed once per call even in a generic plan. */
#define MESSAGE_LIST(range, order)                                                                 \
    "SELECT " SQ_MESSAGE_COLS " FROM sequin.messages m JOIN sequin.streams s ON s.num = m.stream " \
    " WHERE m.stream = $1 " range                                                                  \
    "   AND ($2::text IS NULL OR m.key ~ (SELECT sequin.filter_regex($2))) "                       \
    " ORDER BY m.seq " order " LIMIT $3"
#define KEY_RANGE "AND m.key >= $4 AND m.key < $5 "

/* Every statement the store runs, prepared once per connection by name. Parameters whose type
 * is 0 are inferred by PostgreSQL (always sent as text). */
static const struct {
    const char *name;
    const char *sql;
    int nparams;
    unsigned types[8];
} statements[] = {
    /* streams */
    {"stream_num", "SELECT num FROM sequin.streams WHERE name = $1", 1, {SQ_OID_TEXT}},
    {"stream_create",
     "INSERT INTO sequin.streams (name) VALUES ($1) RETURNING id",
     1,
     {SQ_OID_TEXT}},
    {"stream_get", STREAM_SELECT "WHERE s.name = $1 OR s.id::text = $1", 1, {SQ_OID_TEXT}},
    {"stream_list", STREAM_SELECT "ORDER BY s.name", 0, {0}},
    {"stream_delete",
     "DELETE FROM sequin.streams WHERE name = $1 OR id::text = $1 RETURNING id",
     1,
     {SQ_OID_TEXT}},

    /* messages */
    {"upsert",
     "SELECT sequin.upsert($1, $2, $3, $4)",
     4,
     {SQ_OID_INT4, SQ_OID_TEXT_ARRAY, SQ_OID_TEXT_ARRAY, SQ_OID_BYTEA_ARRAY}},
    {"upsert_grouped",
     "SELECT grp, published FROM sequin.upsert_grouped($1, $2, $3, $4, $5)",
     5,
     {SQ_OID_INT4, SQ_OID_TEXT_ARRAY, SQ_OID_TEXT_ARRAY, SQ_OID_BYTEA_ARRAY, SQ_OID_INT4_ARRAY}},
    /* A notification needs no durability: its transaction does not wait for the WAL flush. */
    {"notify",
     "SELECT set_config('synchronous_commit', 'off', true), sequin.notify($1)",
     1,
     {SQ_OID_INT4}},
    /* utility statements go through the extended protocol too: this one is prepared */
    {"listen", "LISTEN sequin_stream", 0, {0}},
    {"message_list_asc", MESSAGE_LIST("", "ASC"), 3, {SQ_OID_INT4, SQ_OID_TEXT, SQ_OID_INT4}},
    {"message_list_desc", MESSAGE_LIST("", "DESC"), 3, {SQ_OID_INT4, SQ_OID_TEXT, SQ_OID_INT4}},
    {"message_range_asc",
     MESSAGE_LIST(KEY_RANGE, "ASC"),
     5,
     {SQ_OID_INT4, SQ_OID_TEXT, SQ_OID_INT4, SQ_OID_TEXT, SQ_OID_TEXT}},
    {"message_range_desc",
     MESSAGE_LIST(KEY_RANGE, "DESC"),
     5,
     {SQ_OID_INT4, SQ_OID_TEXT, SQ_OID_INT4, SQ_OID_TEXT, SQ_OID_TEXT}},
    {"message_get",
     "SELECT " SQ_MESSAGE_COLS " FROM sequin.messages m JOIN sequin.streams s ON s.num = m.stream "
     " WHERE m.stream = $1 AND m.key = $2",
     2,
     {SQ_OID_INT4, SQ_OID_TEXT}},
    {"message_info",
     "SELECT consumer_id, consumer_name, ack_id, state, deliver_count, "
     "       sequin.iso(last_delivered_at), sequin.iso(not_visible_until) "
     "  FROM sequin.message_info($1, $2)",
     2,
     {SQ_OID_INT4, SQ_OID_TEXT}},
    {"message_delete", "SELECT sequin.delete_message($1, $2)", 2, {SQ_OID_INT4, SQ_OID_TEXT}},

    /* consumers. Where a new one starts is sequin.create_consumer's (migration 0008), shared
     * with the reconcile of declared consumers; a NULL id means the name is taken. */
    {"consumer_create",
     "SELECT sequin.create_consumer($1, $2, $3, $4, $5, $6, $7, 'api')",
     7,
     {SQ_OID_INT4, SQ_OID_TEXT, SQ_OID_TEXT, SQ_OID_INT4, SQ_OID_INT4, SQ_OID_INT4, SQ_OID_TEXT}},
    {"consumer_get",
     CONSUMER_SELECT "WHERE c.stream = $1 AND (c.name = $2 OR c.id::text = $2)",
     2,
     {SQ_OID_INT4, SQ_OID_TEXT}},
    {"resolve",
     "SELECT s.num, c.id FROM sequin.streams s "
     "  LEFT JOIN sequin.consumers c ON c.stream = s.num AND (c.name = $2 OR c.id::text = $2) "
     " WHERE s.name = $1 OR s.id::text = $1 LIMIT 1",
     2,
     {SQ_OID_TEXT, SQ_OID_TEXT}},
    {"consumer_list", CONSUMER_SELECT "WHERE c.stream = $1 ORDER BY c.name", 1, {SQ_OID_INT4}},
    {"consumer_list_all", CONSUMER_SELECT "ORDER BY c.stream, c.name", 0, {0}},
    {"consumer_edit",
     "UPDATE sequin.consumers "
     "   SET ack_wait_ms = coalesce($2, ack_wait_ms), "
     "       max_ack_pending = coalesce($3, max_ack_pending), "
     "       max_deliver = CASE WHEN $4 IS NULL THEN max_deliver ELSE nullif($4, 0) END, "
     "       updated_at = now() "
     " WHERE id = $1 RETURNING id",
     4,
     {SQ_OID_UUID, SQ_OID_INT4, SQ_OID_INT4, SQ_OID_INT4}},
    {"consumer_delete",
     "DELETE FROM sequin.consumers WHERE id = $1 RETURNING id",
     1,
     {SQ_OID_UUID}},
    {"reconcile",
     "SELECT act, stream_name, consumer_name, consumer_id, declared, was_ack_wait_ms, "
     "       was_max_ack_pending, was_max_deliver "
     "  FROM sequin.reconcile($1, $2, $3, $4, $5, $6, $7)",
     7,
     {SQ_OID_TEXT_ARRAY, SQ_OID_TEXT_ARRAY, SQ_OID_TEXT_ARRAY, SQ_OID_INT4_ARRAY, SQ_OID_INT4_ARRAY,
      SQ_OID_INT4_ARRAY, SQ_OID_TEXT_ARRAY}},
    {"receive",
     "SELECT ack_id, deliver_count, key, (SELECT s.id FROM sequin.streams s "
     "         JOIN sequin.consumers c ON c.stream = s.num WHERE c.id = $1), "
     "       data, encode(data_hash, 'hex'), seq, sequin.iso(inserted_at), "
     "       sequin.iso(updated_at) "
     "  FROM sequin.receive($1, $2) ORDER BY seq",
     2,
     {SQ_OID_UUID, SQ_OID_INT4}},
    {"consumer_messages",
     "SELECT ack_id, state, deliver_count, sequin.iso(last_delivered_at), "
     "       sequin.iso(not_visible_until), key, (SELECT s.id FROM sequin.streams s "
     "         JOIN sequin.consumers c ON c.stream = s.num WHERE c.id = $1), "
     "       data, encode(data_hash, 'hex'), seq, sequin.iso(inserted_at), "
     "       sequin.iso(updated_at) "
     "  FROM sequin.consumer_messages($1, $2, (SELECT sequin.filter_regex($3)), $4)",
     4,
     {SQ_OID_UUID, SQ_OID_TEXT, SQ_OID_TEXT, SQ_OID_INT4}},
    {"ack", "SELECT sequin.ack($1, $2)", 2, {SQ_OID_UUID, SQ_OID_UUID_ARRAY}},
    {"nack", "SELECT sequin.nack($1, $2, $3)", 3, {SQ_OID_UUID, SQ_OID_UUID_ARRAY, SQ_OID_INT4}},
    {"extend", "SELECT sequin.extend($1, $2)", 2, {SQ_OID_UUID, SQ_OID_UUID_ARRAY}},
    {"redrive", "SELECT sequin.redrive($1, $2)", 2, {SQ_OID_UUID, SQ_OID_UUID_ARRAY}},
    {"next_visible", "SELECT sequin.next_visible($1)", 1, {SQ_OID_UUID}},
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

/* The step of each PREPARE: the next one, then LISTEN again if the store was listening. */
static int prepared(sq_store *s, PGresult *r);

static int prepare_next(sq_store *s)
{
    sq_call *c = &s->call;
    c->next = prepared;
    c->what = statements[c->step].name;
    int sent = PQsendPrepare(s->conn, statements[c->step].name, statements[c->step].sql,
                             statements[c->step].nparams, statements[c->step].types);
    return sq_store_sent(s, sent, c->what);
}

/* The step of the LISTEN that ends a reconnect, and of the last PREPARE otherwise. */
static int ready(sq_store *s, PGresult *r)
{
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return sq_store_fail(s, r, s->call.err, sizeof s->call.err, "%s failed", s->call.what);
    s->up = true;
    return SQ_OK;
}

static int prepared(sq_store *s, PGresult *r)
{
    sq_call *c = &s->call;
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return sq_store_fail(s, r, c->err, sizeof c->err, "preparing \"%s\" failed", c->what);
    if (++c->step < (int)SQ_ARRAY_LEN(statements))
        return prepare_next(s);
    if (s->listening)
        return sq_store_next(s, &(sq_stmt){.name = "listen", .next = ready});
    return ready(s, r);
}

int sq_store_connect_step(sq_store *s, bool *want_write)
{
    sq_call *c = &s->call;
    for (;;) {
        if (c->polling == PGRES_POLLING_FAILED)
            return sq_store_fail(s, NULL, c->err, sizeof c->err, "cannot connect to PostgreSQL");
        if (c->polling == PGRES_POLLING_OK)
            break;
        /* libpq's rule: PQconnectPoll runs only once the socket is ready for what it asked
         * for. The event loop may poll sooner, so look without waiting. */
        bool writing = c->polling == PGRES_POLLING_WRITING;
        struct pollfd p = {PQsocket(s->conn), writing ? POLLOUT : POLLIN, 0};
        if (c->polling != PGRES_POLLING_ACTIVE && poll(&p, 1, 0) <= 0) {
            *want_write = writing;
            return SQ_AGAIN;
        }
        c->polling = PQconnectPoll(s->conn);
    }
    c->connecting = false;
    if (PQsetnonblocking(s->conn, 1) != 0)
        return sq_store_fail(s, NULL, c->err, sizeof c->err, "cannot connect to PostgreSQL");
    c->step = 0;
    return prepare_next(s) == SQ_AGAIN ? SQ_OK : SQ_ERR;
}

/* libpq prints what the server says outside a query's result (NOTICE, and an error that
 * arrives while idle, such as an administrator's shutdown) to stderr by itself: these go
 * through the log instead, in its format. Warnings and errors at warn, the rest at debug. */
static void log_notice(void *arg, const PGresult *r)
{
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    (void)arg;
    if (sev == NULL)
        sev = "NOTICE";
    if (msg == NULL)
        msg = "";
    if (strcmp(sev, "WARNING") == 0 || strcmp(sev, "ERROR") == 0 || strcmp(sev, "FATAL") == 0 ||
        strcmp(sev, "PANIC") == 0)
        sq_warn("PostgreSQL %s: %s", sev, msg);
    else
        sq_debug("PostgreSQL %s: %s", sev, msg);
}

void sq_store_log_notices(PGconn *conn)
{
    if (conn != NULL)
        PQsetNoticeReceiver(conn, log_notice, NULL);
}

int sq_store_begin_reconnect(sq_store *s, char *err, size_t errlen)
{
    sq_call *c = &s->call;
    PQfinish(s->conn);
    s->up = false;
    sq_store_reset_call(c);
    c->op = "reconnect";
    s->conn = PQconnectStart(s->url);
    sq_store_log_notices(s->conn);
    if (PQstatus(s->conn) == CONNECTION_BAD) {
        sq_store_fail(s, NULL, err, errlen, "cannot connect to PostgreSQL");
        c->op = NULL;
        return SQ_ERR;
    }
    /* PQconnectStart has begun connecting: the socket is to be writable first. */
    c->connecting = true;
    c->polling = PGRES_POLLING_WRITING;
    return SQ_OK;
}

int sq_store_new(const char *url, sq_store **out, char *err, size_t errlen)
{
    sq_store *s = calloc(1, sizeof *s);
    if (s == NULL || (s->url = strdup(url)) == NULL) {
        free(s);
        return sq_store_fail(NULL, NULL, err, errlen, "out of memory");
    }
    *out = s;
    return SQ_OK;
}

int sq_store_open(const char *url, sq_store **out, char *err, size_t errlen)
{
    sq_store *s;
    if (sq_store_new(url, &s, err, errlen) != SQ_OK)
        return SQ_ERR;
    /* PQconnectdb rather than a reconnect: it honours connect_timeout. */
    s->conn = PQconnectdb(url);
    sq_store_log_notices(s->conn);
    if (PQstatus(s->conn) != CONNECTION_OK || PQsetnonblocking(s->conn, 1) != 0) {
        sq_store_fail(s, NULL, err, errlen, "cannot connect to PostgreSQL");
        goto fail;
    }
    s->call.op = "open";
    if (prepare_next(s) != SQ_AGAIN) {
        snprintf(err, errlen, "%s", s->call.err);
        goto fail;
    }
    (void)sq_store_wait(s, SQ_OK);
    if (sq_store_finish(s, err, errlen) != SQ_OK)
        goto fail;
    *out = s;
    return SQ_OK;

fail:
    sq_store_close(s);
    return SQ_ERR;
}

void sq_store_close(sq_store *s)
{
    if (s == NULL)
        return;
    PQfinish(s->conn);
    PQclear(s->call.res);
    PQclear(s->call.kept);
    sq_arena_free(&s->call.mem);
    free(s->url);
    free(s);
}

int sq_store_begin_listen(sq_store *s, char *err, size_t errlen)
{
    int rc = sq_store_begin(s, "listen", NULL, &(sq_stmt){.name = "listen"}, err, errlen);
    s->listening = s->listening || rc == SQ_OK;
    return rc;
}

int sq_store_next_notify(sq_store *s, int *stream)
{
    PGnotify *n;
    while ((n = PQnotifies(s->conn)) != NULL) {
        char *end;
        long v = strtol(n->extra, &end, 10);
        bool ours = strcmp(n->relname, "sequin_stream") == 0 && end != n->extra && *end == '\0' &&
                    v > 0 && v <= INT_MAX;
        PQfreemem(n);
        if (ours) {
            *stream = (int)v;
            return SQ_OK;
        }
    }
    return SQ_AGAIN;
}

bool sq_store_failed_with(const PGresult *r, const char *code)
{
    const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return state != NULL && strcmp(state, code) == 0;
}

bool sq_store_is_unique_violation(const PGresult *r)
{
    return sq_store_failed_with(r, "23505");
}

bool sq_store_is_fk_violation(const PGresult *r)
{
    return sq_store_failed_with(r, "23503");
}

/* ---- reading rows ----------------------------------------------------------------------- */

const char *sq_row_text(sq_row *w)
{
    int col = w->col++;
    if (PQgetisnull(w->r, w->row, col))
        return NULL;
    char *copy = sq_arena_strndup(w->arena, PQgetvalue(w->r, w->row, col),
                                  (size_t)PQgetlength(w->r, w->row, col));
    if (copy == NULL)
        w->oom = true;
    return copy;
}

long long sq_row_int(sq_row *w)
{
    int col = w->col++;
    return PQgetisnull(w->r, w->row, col) ? 0 : strtoll(PQgetvalue(w->r, w->row, col), NULL, 10);
}

double sq_row_double(sq_row *w)
{
    int col = w->col++;
    return PQgetisnull(w->r, w->row, col) ? -1 : strtod(PQgetvalue(w->r, w->row, col), NULL);
}

bool sq_row_bool(sq_row *w)
{
    int col = w->col++;
    return PQgetvalue(w->r, w->row, col)[0] == 't';
}

void sq_row_id(sq_row *w, char id[37])
{
    int col = w->col++;
    snprintf(id, 37, "%s", PQgetvalue(w->r, w->row, col));
}

void sq_row_message(sq_row *w, sq_message *m)
{
    m->key = sq_row_text(w);
    m->stream_id = sq_row_text(w);
    m->data_len = (size_t)PQgetlength(w->r, w->row, w->col);
    m->data = sq_row_text(w);
    m->data_hash = sq_row_text(w);
    m->seq = sq_row_int(w);
    m->inserted_at = sq_row_text(w);
    m->updated_at = sq_row_text(w);
}

void sq_row_pair_info(sq_row *w, sq_pair_info *i)
{
    i->ack_id = sq_row_text(w);
    i->state = sq_row_text(w);
    i->deliver_count = (int)sq_row_int(w);
    i->last_delivered_at = sq_row_text(w);
    i->not_visible_until = sq_row_text(w);
}

int sq_store_read_list(PGresult *r, size_t size, sq_row_reader read, void *out, size_t *count,
                       sq_arena *arena, char *err, size_t errlen)
{
    if (r == NULL)
        return SQ_ERR;
    size_t n = (size_t)PQntuples(r);
    char *items = sq_arena_calloc(arena, n, size);
    sq_row w = {r, 0, 0, arena, items == NULL};
    for (size_t i = 0; i < n && !w.oom; i++) {
        w.row = (int)i, w.col = 0;
        read(&w, items + i * size);
    }
    PQclear(r);
    if (w.oom)
        return sq_store_fail(NULL, NULL, err, errlen, "out of memory");
    memcpy(out, &items, sizeof items);
    *count = n;
    return SQ_OK;
}

int sq_store_read_one(PGresult *r, sq_row_reader read, void *item, sq_arena *arena,
                      const char *what, const char *name, char *err, size_t errlen)
{
    if (r == NULL)
        return SQ_ERR;
    int rc = SQ_OK;
    if (PQntuples(r) == 0) {
        sq_store_fail(NULL, NULL, err, errlen, "no %s \"%s\"", what, name);
        rc = SQ_STORE_NOT_FOUND;
    } else {
        sq_row w = {r, 0, 0, arena, false};
        read(&w, item);
        if (w.oom)
            rc = sq_store_fail(NULL, NULL, err, errlen, "out of memory");
    }
    PQclear(r);
    return rc;
}

void sq_read_int(sq_row *w, void *item)
{
    *(int *)item = (int)sq_row_int(w);
}

void sq_read_count(sq_row *w, void *item)
{
    *(long long *)item = sq_row_int(w);
}

void sq_read_id(sq_row *w, void *item)
{
    sq_row_id(w, item);
}

void sq_read_flag(sq_row *w, void *item)
{
    *(int *)item = sq_row_bool(w);
}
