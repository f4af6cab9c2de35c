/* A running source's rows: tables as the replication stream describes them, each change made a
 * message in the batch (unchanged TOASTed values taken from the stream, a moved key as a
 * delete), the batch put in the stream with the source's position, and backfill pages put in
 * at their point of the stream on several connections at once. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture.h"
#include "sequin/log.h"
#include "source_db.h"

static relation *find_relation(capture *c, uint32_t oid)
{
    for (size_t i = 0; i < c->nrels; i++)
        if (c->rels[i].oid == oid)
            return &c->rels[i];
    return NULL;
}

/* A Relation message: the table's columns as of now, and its key looked up in the catalog. */
int sq_capture_relation(capture *c, const sq_pgoutput_msg *m, char *err, size_t errlen)
{
    relation *r = find_relation(c, m->u.relation.oid);
    if (!r) {
        relation *grown = realloc(c->rels, (c->nrels + 1) * sizeof *grown);
        if (!grown)
            return sq_fail(err, errlen, "out of memory");
        c->rels = grown;
        r = &c->rels[c->nrels++];
        memset(r, 0, sizeof *r);
        r->oid = m->u.relation.oid;
    }
    sq_arena_reset(&r->mem);
    r->schema = sq_arena_strndup(&r->mem, m->u.relation.nspname.ptr, m->u.relation.nspname.len);
    r->table = sq_arena_strndup(&r->mem, m->u.relation.relname.ptr, m->u.relation.relname.len);
    r->ncols = m->u.relation.columns.ncols;
    r->cols = sq_arena_calloc(&r->mem, r->ncols ? r->ncols : 1, sizeof *r->cols);
    if (!r->schema || !r->table || !r->cols)
        return sq_fail(err, errlen, "out of memory");
    size_t pos = 0, flagged = 0;
    sq_pgoutput_column col;
    bool *is_key = sq_arena_calloc(&r->mem, r->ncols ? r->ncols : 1, sizeof *is_key);
    if (!is_key)
        return sq_fail(err, errlen, "out of memory");
    for (size_t i = 0; i < r->ncols; i++) {
        if (sq_pgoutput_column_next(&m->u.relation.columns, &pos, &col, err, errlen) != 0)
            return SQ_ERR;
        is_key[i] = col.is_key;
        flagged += col.is_key;
        r->cols[i].name = sq_arena_strndup(&r->mem, col.name.ptr, col.name.len);
        r->cols[i].type_oid = col.type_oid;
        if (!r->cols[i].name)
            return sq_fail(err, errlen, "out of memory");
    }
    if (sq_pgoutput_column_next(&m->u.relation.columns, &pos, &col, err, errlen) != 1)
        return SQ_ERR;
    /* A column of a domain type reads as its base type, as a backfilled row's does. */
    uint32_t *types = sq_arena_calloc(&r->mem, r->ncols ? r->ncols : 1, sizeof *types);
    if (!types)
        return sq_fail(err, errlen, "out of memory");
    for (size_t i = 0; i < r->ncols; i++)
        types[i] = r->cols[i].type_oid;
    if (sq_srcdb_base_types(c->db, types, r->ncols, err, errlen) != SQ_OK)
        return SQ_ERR;
    for (size_t i = 0; i < r->ncols; i++)
        r->cols[i].type_oid = types[i];

    const char **names;
    size_t nkeys;
    int found = sq_srcdb_table_key(c->db, r->oid, &names, &nkeys, &r->mem, err, errlen);
    if (found == SQ_SRCDB_GONE && flagged > 0 && m->u.relation.replica_identity != 'f') {
        /* The table was dropped after these changes committed: the catalog no longer says its
         * key, the Relation message's flags still do (the replica identity's columns, in the
         * table's column order, which is the key's for a one-column key). */
        sq_warn("source %s: table %s.%s is gone; its last changes take their key from the "
                "replication stream",
                c->def->name, r->schema, r->table);
        names = sq_arena_calloc(&r->mem, flagged, sizeof *names);
        if (!names)
            return sq_fail(err, errlen, "out of memory");
        nkeys = 0;
        for (size_t i = 0; i < r->ncols; i++)
            if (is_key[i])
                names[nkeys++] = r->cols[i].name;
    } else if (found != SQ_OK) {
        return SQ_ERR;
    }
    r->key_cols = sq_arena_calloc(&r->mem, nkeys, sizeof *r->key_cols);
    if (!r->key_cols)
        return sq_fail(err, errlen, "out of memory");
    for (size_t k = 0; k < nkeys; k++) {
        size_t i = 0;
        while (i < r->ncols && strcmp(r->cols[i].name, names[k]) != 0)
            i++;
        if (i == r->ncols)
            return sq_fail(err, errlen, "table %s.%s: key column \"%s\" is not published",
                           r->schema, r->table, names[k]);
        r->key_cols[k] = i;
    }
    r->nkeys = nkeys;
    return SQ_OK;
}

/* A tuple's values, one per column of `r`, into `out` (r->ncols entries). */
static int read_tuple(const relation *r, const sq_pgoutput_tuple *t, sq_pgoutput_value *out,
                      char *err, size_t errlen)
{
    size_t pos = 0;
    sq_pgoutput_value v;
    if (t->ncols != r->ncols)
        return sq_fail(err, errlen, "table %s.%s: a row of %u columns where %zu were announced",
                       r->schema, r->table, (unsigned)t->ncols, r->ncols);
    for (size_t i = 0; i < r->ncols; i++)
        if (sq_pgoutput_tuple_next(t, &pos, &out[i], err, errlen) != 0)
            return SQ_ERR;
    return sq_pgoutput_tuple_next(t, &pos, &v, err, errlen) == 1 ? SQ_OK : SQ_ERR;
}

static int push_pending(msgbuf *mb, size_t key_off, size_t data_off)
{
    if (mb->n == mb->cap) {
        size_t cap = mb->cap ? mb->cap * 2 : 256;
        pending *grown = realloc(mb->msgs, cap * sizeof *grown);
        if (!grown)
            return SQ_ERR;
        mb->msgs = grown;
        mb->cap = cap;
    }
    mb->msgs[mb->n++] =
        (pending){key_off, data_off - key_off - 1, data_off, mb->blob.len - data_off};
    return SQ_OK;
}

/* The messages of `mb` as the store takes them (the array to free), NULL when out of memory or
 * when there are none. */
static sq_message_in *inputs(const msgbuf *mb)
{
    sq_message_in *in = mb->n > 0 ? malloc(mb->n * sizeof *in) : NULL;
    for (size_t i = 0; in && i < mb->n; i++)
        in[i] = (sq_message_in){mb->blob.data + mb->msgs[i].key_off, mb->msgs[i].key_len,
                                mb->blob.data + mb->msgs[i].data_off, mb->msgs[i].data_len};
    return in;
}

void sq_msgbuf_reset(msgbuf *mb)
{
    mb->n = 0;
    sq_buf_reset(&mb->blob);
}

void sq_msgbuf_free(msgbuf *mb)
{
    sq_buf_free(&mb->blob);
    free(mb->msgs);
    *mb = (msgbuf){0};
}

/* Sends the batch's messages to the stream. With `lsn`, the transactions up to it are complete
 * and the source's progress moves there in the same transaction; without, the source
 * transaction goes on and the store transaction stays open. */
static int put_batch(capture *c, sq_lsn lsn, char *err, size_t errlen)
{
    sq_message_in *in = NULL;
    long long published = 0;
    int rc = SQ_ERR;

    /* A page in flight goes in first: the changes are newer than its rows. */
    if (sq_capture_page_land(c, false, err, errlen) != SQ_OK)
        return SQ_ERR;
    if (c->batch.n > 0 && !(in = inputs(&c->batch)))
        return sq_fail(err, errlen, "out of memory");
    if (!lsn && !c->store_txn_open) {
        if (sq_store_transaction(c->store, SQ_STORE_BEGIN, err, errlen) != SQ_OK)
            goto done;
        c->store_txn_open = true;
    }
    long long t0 = sq_capture_now_ms();
    if (sq_store_source_apply(c->store, c->def->num, lsn, in, c->batch.n, &published, err,
                              errlen) != SQ_OK)
        goto done;
    sq_debug("source %s: %zu messages applied in %lld ms", c->def->name, c->batch.n,
             sq_capture_now_ms() - t0);
    if (lsn && c->store_txn_open) {
        if (sq_store_transaction(c->store, SQ_STORE_COMMIT, err, errlen) != SQ_OK)
            goto done;
        c->store_txn_open = false;
    }
    c->rows += (long long)c->batch.n;
    sq_msgbuf_reset(&c->batch);
    rc = SQ_OK;
done:
    free(in);
    return rc;
}

/* The batch's complete transactions into the stream, then the slot told so. */
int sq_capture_flush(capture *c, char *err, size_t errlen)
{
    sq_lsn lsn = c->batch_lsn > c->applied ? c->batch_lsn : 0;
    if (!lsn)
        return SQ_OK;
    if (put_batch(c, lsn, err, errlen) != SQ_OK)
        return SQ_ERR;
    /* Long polls on any node wake for the news. */
    if (sq_store_notify(c->store, c->def->stream, err, errlen) != SQ_OK)
        return SQ_ERR;
    c->applied = c->batch_lsn;
    c->last_commit_time = c->batch_time;
    sq_debug("source %s: the stream has the transactions up to %s", c->def->name,
             sq_lsn_format(c->batch_lsn, (char[SQ_LSN_TEXT_MAX]){0}));
    c->confirmed = c->batch_end;
    c->last_confirm_ms = sq_capture_now_ms();
    return sq_repl_confirm(c->repl, c->received, c->confirmed, err, errlen);
}

/* The actions whose messages hold a whole row: under with_operation keys the newest of them is
 * the row as the stream has it. */
static const sq_change_action whole_row_actions[] = {SQ_ACTION_UPDATE, SQ_ACTION_INSERT,
                                                     SQ_ACTION_READ};

/*
 * The data of the newest message among `keys`: one of the batch is newer than any of the
 * stream's, and among the stream's the highest seq is. NULL when none has one (deleted through
 * the API meanwhile), with *len (size_t)-1 when the store failed. Memory in c->scratch.
 */
static const char *current_data(capture *c, const sq_buf *keys, size_t nkeys, size_t *len,
                                char *err, size_t errlen)
{
    const char *found = NULL;
    long long seq = -1;

    for (size_t i = c->batch.n; i-- > 0;) {
        const pending *p = &c->batch.msgs[i];
        for (size_t k = 0; k < nkeys; k++) {
            if (p->key_len == keys[k].len &&
                memcmp(c->batch.blob.data + p->key_off, keys[k].data, p->key_len) == 0) {
                *len = p->data_len;
                return sq_arena_strndup(&c->scratch, c->batch.blob.data + p->data_off, p->data_len);
            }
        }
    }
    /* The page in flight may hold the newest: it goes in first. */
    if (sq_capture_page_land(c, false, err, errlen) != SQ_OK) {
        *len = (size_t)-1;
        return NULL;
    }
    for (size_t k = 0; k < nkeys; k++) {
        sq_message m;
        int rc = sq_store_message_get(c->store, c->def->stream, keys[k].data, &m, &c->scratch, err,
                                      errlen);
        if (rc == SQ_STORE_NOT_FOUND)
            continue;
        if (rc != SQ_OK) {
            *len = (size_t)-1; /* the store failed: not "no message" */
            return NULL;
        }
        if (m.seq > seq) {
            seq = m.seq;
            found = m.data;
            *len = m.data_len;
        }
    }
    return found;
}

/* Whether update `ch` left a TOASTed value alone that its old row does not hold either. */
static bool toast_unresolved(const sq_change_table *t, const sq_change *ch)
{
    for (size_t i = 0; ch->new_values && i < t->ncols; i++)
        if (ch->new_values[i].kind == SQ_VALUE_UNCHANGED_TOAST &&
            (ch->old_kind != 'O' || ch->old_values[i].kind == SQ_VALUE_UNCHANGED_TOAST))
            return true;
    return false;
}

/*
 * An update that left a TOASTed value alone carries no value for it: take the value from the
 * message the stream has for the row as it was before the update (under its old key when the
 * update moved it, which the old values hold; under with_operation its insert's, update's or
 * read's message, the newest), turned back into the text form it came from (a JSON string
 * unescaped, a number or embedded JSON as written, true/false as t/f), so mapping it again gives
 * the same JSON. Into `vals`, the update's new values. A column that cannot be found stays out of
 * "data" (logged). Runs before the update's own messages are in the batch.
 */
static int resolve_toast(capture *c, const sq_change_table *r, const sq_change *ch,
                         sq_pgoutput_value *vals, char *err, size_t errlen)
{
    size_t nkeys =
        c->def->key_format == SQ_KEY_WITH_OPERATION ? SQ_ARRAY_LEN(whole_row_actions) : 1;
    sq_buf keys[SQ_ARRAY_LEN(whole_row_actions)] = {{0}};
    sq_change before = *ch;
    sq_json doc = {0};
    const char *data = NULL;
    size_t len = 0;
    int row = -1, rc = SQ_ERR;

    if (!toast_unresolved(r, ch))
        return SQ_OK;
    if (ch->old_values)
        before.new_values = ch->old_values;
    for (size_t k = 0; k < nkeys; k++) {
        before.action = whole_row_actions[k];
        if (sq_change_key(r, &before, c->def->key_format, &keys[k], err, errlen) != SQ_OK)
            goto done;
    }
    data = current_data(c, keys, nkeys, &len, err, errlen);
    if (!data && len == (size_t)-1)
        goto done;
    rc = SQ_OK;
    if (!data || sq_json_parse(&doc, data, len, 0, NULL) != SQ_OK ||
        sq_json_lookup(&doc, 0, "data", &row) != SQ_OK || row < 0) {
        sq_warn("source %s: table %s.%s: an unchanged TOASTed value of %s is not in the "
                "stream; the message leaves it out",
                c->def->name, r->schema, r->table, keys[0].data);
        goto done;
    }
    for (size_t i = 0; i < r->ncols; i++) {
        int v = -1;
        const char *text;
        size_t n;
        if (vals[i].kind != SQ_VALUE_UNCHANGED_TOAST ||
            sq_json_lookup(&doc, row, r->cols[i].name, &v) != SQ_OK || v < 0)
            continue;
        if (sq_json_is_null(&doc, v)) {
            vals[i] = (sq_pgoutput_value){.kind = SQ_VALUE_NULL};
            continue;
        }
        bool b;
        if (sq_json_type_of(&doc, v) == SQ_JSON_STRING) {
            if (sq_json_get_str_arena(&doc, v, &c->scratch, &text, &n) != SQ_OK)
                continue;
        } else if (sq_json_get_bool(&doc, v, &b) == SQ_OK) {
            text = b ? "t" : "f", n = 1;
        } else if (sq_json_raw(&doc, v, &text, &n) != SQ_OK ||
                   !(text = sq_arena_strndup(&c->scratch, text, n))) {
            continue;
        }
        vals[i] = (sq_pgoutput_value){.kind = SQ_VALUE_TEXT, .data = text, .len = n};
    }
done:
    sq_json_free(&doc);
    for (size_t k = 0; k < nkeys; k++)
        sq_buf_free(&keys[k]);
    return rc;
}

/* Whether the row of `ch` has another key than the old row `gone` (the same change made a
 * delete), into c->moved; compared as basic keys, which name the row alone. -1 when either key
 * cannot be made. */
static int key_moved(capture *c, const sq_change_table *t, const sq_change *ch,
                     const sq_change *gone, char *err, size_t errlen)
{
    sq_buf a = {0}, b = {0};
    int rc = SQ_ERR;
    if (sq_change_key(t, ch, SQ_KEY_BASIC, &a, err, errlen) == SQ_OK &&
        sq_change_key(t, gone, SQ_KEY_BASIC, &b, err, errlen) == SQ_OK) {
        c->moved = a.len != b.len || memcmp(a.data, b.data, a.len) != 0;
        rc = SQ_OK;
    }
    sq_buf_free(&a);
    sq_buf_free(&b);
    return rc;
}

/* One message of change `ch` of table `t` into `mb`: its key, its data. */
static int add_message(capture *c, msgbuf *mb, const sq_change_table *t, const sq_change *ch,
                       char *err, size_t errlen)
{
    size_t key_off = mb->blob.len;
    if (sq_change_key(t, ch, c->def->key_format, &mb->blob, err, errlen) != SQ_OK)
        return SQ_ERR;
    if (sq_buf_putc(&mb->blob, '\0') != SQ_OK)
        return sq_fail(err, errlen, "out of memory");
    size_t data_off = mb->blob.len;
    if (sq_change_data(t, ch, &mb->blob, NULL) != SQ_OK)
        return sq_fail(err, errlen, "out of memory");
    if (push_pending(mb, key_off, data_off) != SQ_OK)
        return sq_fail(err, errlen, "out of memory");
    return SQ_OK;
}

/* A row of a backfill page into the page's messages. */
static int emit_read(void *ctx, const sq_change_table *t, const sq_change *ch, char *err,
                     size_t errlen)
{
    capture *c = ctx;
    return add_message(c, &c->page, t, ch, err, errlen);
}

/* Whether every part of the page in flight is in (or failed); with `block`, waits for that. */
static bool parts_over(capture *c, bool block)
{
    for (;;) {
        struct pollfd fds[PAGE_CONNS];
        size_t live = 0;
        for (size_t i = 0; i < c->parts; i++) {
            bool want_write = false;
            if (!sq_store_busy(c->helpers[i]) ||
                sq_store_poll(c->helpers[i], &want_write) != SQ_AGAIN)
                continue;
            fds[live++] = (struct pollfd){sq_store_socket(c->helpers[i]),
                                          POLLIN | (want_write ? POLLOUT : 0), 0};
        }
        if (live == 0)
            return true;
        if (!block)
            return false;
        (void)poll(fds, live, 1000);
    }
}

int sq_capture_page_land(capture *c, bool only_if_over, char *err, size_t errlen)
{
    if (!sq_backfill_in_flight(c->bf))
        return SQ_OK;
    if (!parts_over(c, !only_if_over))
        return SQ_OK;
    int rc = SQ_OK;
    long long rows = 0;
    for (size_t p = 0; p < c->parts; p++) {
        long long published;
        char e[256];
        if (sq_store_finish_source_apply(c->helpers[p], &published, e, sizeof e) != SQ_OK &&
            rc == SQ_OK)
            rc = sq_fail(err, errlen, "%s", e);
        rows += published;
    }
    c->parts = 0;
    if (rc != SQ_OK)
        return SQ_ERR;
    if (sq_backfill_record(c->bf, c->store, c->def->num, err, errlen) != SQ_OK ||
        sq_backfill_committed(c->bf) != SQ_OK)
        return SQ_ERR;
    if (rows > 0 && sq_store_notify(c->store, c->def->stream, err, errlen) != SQ_OK)
        return SQ_ERR;
    sq_debug("source %s: a backfill page in the stream, %lld messages new or changed", c->def->name,
             rows);
    return SQ_OK;
}

/*
 * The slot's stream is past the waiting page's position: every transaction its snapshot saw is
 * in the batch, so the batch goes in first, then the page's rows (those a later transaction
 * changed left out), then its progress; the transactions after come after it.
 *
 * The page's rows become messages, encoded for the store, while the page before is still
 * going in; then that one lands and the batch goes in; then the rows go off in PAGE_CONNS parts
 * at once, one per page connection (their keys are distinct, each part is as new as the stream for
 * its keys), and the loop goes on reading the next page while they go in. Whatever is put in the
 * stream after lands the page first.
 */
int sq_capture_page_due(capture *c, char *err, size_t errlen)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = sq_pgoutput_time_from_unix_us((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
    sq_encoded_batch *part[PAGE_CONNS] = {NULL};
    sq_message_in *in = NULL;
    int rc = SQ_ERR;

    sq_msgbuf_reset(&c->page);
    if (sq_backfill_emit(c->bf, c->def->name, now, emit_read, c, err, errlen) != SQ_OK)
        goto done;
    size_t n = c->page.n;
    if (n > 0 && !(in = inputs(&c->page))) {
        sq_fail(err, errlen, "out of memory");
        goto done;
    }
    size_t parts = n < PAGE_CONNS ? n : PAGE_CONNS, per = parts ? (n + parts - 1) / parts : 0;
    for (size_t p = 0; p < parts; p++) {
        size_t from = p * per, count = n - from < per ? n - from : per;
        if (sq_store_encode_batch(in + from, count, &part[p], err, errlen) != SQ_OK)
            goto done;
    }
    if (sq_capture_page_land(c, false, err, errlen) != SQ_OK ||
        sq_capture_flush(c, err, errlen) != SQ_OK ||
        sq_backfill_take_off(c->bf, err, errlen) != SQ_OK)
        goto done;
    for (size_t p = 0; p < parts; p++) {
        if (!c->helpers[p] && sq_store_open(c->store_url, &c->helpers[p], err, errlen) != SQ_OK)
            goto done;
        if (sq_store_begin_source_apply_encoded(c->helpers[p], c->def->num, 0, part[p], err,
                                                errlen) != SQ_OK)
            goto done;
        c->parts = p + 1;
    }
    c->rows += (long long)n;
    /* A page with no rows to put in (a table found done, or every row newer in the stream)
     * lands at once: only its record is left. */
    rc = parts == 0 ? sq_capture_page_land(c, false, err, errlen) : SQ_OK;
done:
    for (size_t p = 0; p < PAGE_CONNS; p++)
        sq_encoded_batch_free(part[p]);
    free(in);
    sq_msgbuf_reset(&c->page);
    return rc;
}

/* While a page waits, the rows a transaction changes: their basic keys, so the page leaves
 * them out if its snapshot did not see the transaction. */
static int touch(capture *c, const sq_change_table *t, const sq_change *ch, char *err,
                 size_t errlen)
{
    sq_buf key = {0};
    int rc = sq_change_key(t, ch, SQ_KEY_BASIC, &key, err, errlen);
    if (rc == SQ_OK &&
        sq_backfill_touch(c->bf, c->txn_xid, t->schema, t->table, key.data, key.len) != SQ_OK)
        rc = sq_fail(err, errlen, "out of memory");
    sq_buf_free(&key);
    return rc;
}

/* An insert, update or delete: its message into the batch. */
int sq_capture_change(capture *c, const sq_pgoutput_msg *m, char *err, size_t errlen)
{
    uint32_t oid;
    const sq_pgoutput_tuple *new_t = NULL, *old_t = NULL;
    sq_change ch = {.commit_lsn = c->txn_lsn, .commit_time_us = c->txn_time};

    switch (m->kind) {
    case SQ_PGO_INSERT:
        ch.action = SQ_ACTION_INSERT, oid = m->u.insert.relation_oid;
        new_t = &m->u.insert.new_tuple;
        break;
    case SQ_PGO_UPDATE:
        ch.action = SQ_ACTION_UPDATE, oid = m->u.update.relation_oid;
        new_t = &m->u.update.new_tuple;
        ch.old_kind = m->u.update.old_kind;
        old_t = ch.old_kind ? &m->u.update.old_tuple : NULL;
        break;
    default:
        ch.action = SQ_ACTION_DELETE, oid = m->u.del.relation_oid;
        ch.old_kind = m->u.del.old_kind;
        old_t = &m->u.del.old_tuple;
        break;
    }
    if (c->skip_txn)
        return SQ_OK;
    const relation *r = find_relation(c, oid);
    if (!r)
        return sq_fail(err, errlen, "a change of relation %u before its description", oid);

    sq_arena_reset(&c->scratch);
    sq_pgoutput_value *nv = NULL, *ov = NULL;
    size_t cols = r->ncols ? r->ncols : 1;
    if ((new_t && !(nv = sq_arena_calloc(&c->scratch, cols, sizeof *nv))) ||
        (old_t && !(ov = sq_arena_calloc(&c->scratch, cols, sizeof *ov))))
        return sq_fail(err, errlen, "out of memory");
    if ((new_t && read_tuple(r, new_t, nv, err, errlen) != SQ_OK) ||
        (old_t && read_tuple(r, old_t, ov, err, errlen) != SQ_OK))
        return SQ_ERR;
    ch.new_values = nv;
    ch.old_values = ov;

    sq_change_table t = {.source = c->def->name,
                         .schema = r->schema,
                         .table = r->table,
                         .ncols = r->ncols,
                         .cols = r->cols,
                         .nkeys = r->nkeys,
                         .key_cols = r->key_cols};
    /* Values left out as unchanged TOASTed ones are looked up first: a row moved to another
     * key has its message under the old key, which the delete below replaces. */
    if (ch.action == SQ_ACTION_UPDATE && resolve_toast(c, &t, &ch, nv, err, errlen) != SQ_OK)
        return SQ_ERR;
    /* An update that changes the key moves the row: its old key's message says it is gone,
     * as a delete would, before the new key's says what it is now. */
    bool waits = sq_backfill_waits_for(c->bf) != 0;
    if (ch.action == SQ_ACTION_UPDATE && ov) {
        sq_change gone = ch;
        gone.action = SQ_ACTION_DELETE;
        gone.new_values = NULL;
        if (key_moved(c, &t, &ch, &gone, err, errlen) < 0 ||
            (c->moved && add_message(c, &c->batch, &t, &gone, err, errlen) != SQ_OK) ||
            (c->moved && waits && touch(c, &t, &gone, err, errlen) != SQ_OK))
            return SQ_ERR;
    }
    if (waits && touch(c, &t, &ch, err, errlen) != SQ_OK)
        return SQ_ERR;
    if (add_message(c, &c->batch, &t, &ch, err, errlen) != SQ_OK)
        return SQ_ERR;
    /* A large source transaction goes on in the store's open transaction, chunk by chunk. */
    if (c->batch.n >= CHUNK_ROWS || c->batch.blob.len >= CHUNK_BYTES)
        return put_batch(c, 0, err, errlen);
    return SQ_OK;
}
