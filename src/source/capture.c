/* One postgres source at work: its lock, the slot's changes turned into messages and put in the
 * stream a transaction at a time, the positions confirmed once the stream has them, and a
 * restart with backoff after any failure (docs/sources.md, "Guarantees"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backfill.h"
#include "sequin/log.h"
#include "sequin/replication.h"
#include "sequin/source.h"
#include "sequin/store.h"
#include "source_db.h"

/* A batch is put in the stream when it holds this many rows or bytes; a source transaction
 * larger than that goes in several calls of one store transaction, so memory stays bounded
 * whatever the transaction's size. */
#define CHUNK_ROWS 5000
#define CHUNK_BYTES (8u << 20)
/* How long the loop waits for the server before it looks at its stop flag and its chores. */
#define READ_WAIT_MS 100
#define REPORT_EVERY_MS 1000
#define CONFIRM_EVERY_MS 10000
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

/* A table as the stream's Relation message describes it, with its key from the catalog. */
typedef struct relation {
    uint32_t oid;
    sq_change_column *cols;
    size_t ncols;
    size_t *key_cols;
    size_t nkeys;
    const char *schema, *table;
    sq_arena mem; /* everything above; renewed with each Relation message */
} relation;

/* A message waiting for its transaction to be put in the stream: offsets into `blob`. */
typedef struct pending {
    size_t key_off, key_len, data_off, data_len;
} pending;

typedef struct capture {
    const sq_source_def *def;
    const char *store_url;
    const atomic_bool *stop;
    sq_store *store;
    PGconn *db;
    sq_repl *repl;

    relation *rels;
    size_t nrels;

    sq_backfill *bf; /* the tables left to backfill, and the page in hand */

    /* The source transaction being read. */
    bool in_txn;
    uint32_t txn_xid;
    bool skip_txn; /* already in the stream: a replay after a restart */
    sq_lsn txn_lsn;
    int64_t txn_time;
    /* Messages of complete transactions not yet in the stream, then of the one being read. */
    sq_buf blob;
    pending *msgs;
    size_t nmsgs, capmsgs;
    bool store_txn_open; /* part of the batch is in the stream's open transaction already */
    sq_lsn batch_lsn;    /* the commit of the last complete transaction in the batch */
    sq_lsn batch_end;    /* and where its commit record ends */
    int64_t batch_time;

    sq_lsn applied;   /* commit LSN of the last transaction the stream has */
    sq_lsn confirmed; /* what the slot was last told it may forget */
    sq_lsn received;  /* the server's position */
    int64_t last_commit_time;
    long long rows;
    long long errors, attempts; /* failed attempts, and attempts that took the lock */
    long long last_confirm_ms, last_report_ms;
    bool moved;       /* key_moved's answer */
    sq_arena scratch; /* per change: values taken from the stream's current message */
    char state[24];
} capture;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps up to `ms`, waking early when the source is told to stop. */
static void nap(const capture *c, long long ms)
{
    for (long long slept = 0; slept < ms && !atomic_load(c->stop); slept += 50)
        usleep(50 * 1000);
}

/* Writes the state the API's `info` shows; failures are logged, not fatal: a report is news. */
static void report(capture *c, const char *state, const char *error)
{
    char e[256];
    snprintf(c->state, sizeof c->state, "%s", state);
    if (!c->store || c->store_txn_open)
        return;
    sq_source_report r = {.source = c->def->num,
                          .state = state,
                          .error = error,
                          .received_lsn = c->received,
                          .applied_lsn = c->applied,
                          .last_commit_time_us = c->last_commit_time,
                          .rows = c->rows,
                          .errors = c->errors,
                          .attempts = c->attempts,
                          .lag_bytes = -1};
    /* The WAL the slot holds back: what the stream is behind the source database (unknown
     * before the slot exists). */
    long long lag;
    if (c->db && sq_srcdb_slot_lag(c->db, c->def->slot, &lag, e, sizeof e) == SQ_OK)
        r.lag_bytes = lag > 0 ? lag : 0;
    if (sq_store_source_report(c->store, &r, e, sizeof e) != SQ_OK)
        sq_warn("source %s: cannot report its state: %s", c->def->name, e);
    c->last_report_ms = now_ms();
}

static relation *find_relation(capture *c, uint32_t oid)
{
    for (size_t i = 0; i < c->nrels; i++)
        if (c->rels[i].oid == oid)
            return &c->rels[i];
    return NULL;
}

/* A Relation message: the table's columns as of now, and its key looked up in the catalog. */
static int on_relation(capture *c, const sq_pgoutput_msg *m, char *err, size_t errlen)
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

static int push_pending(capture *c, size_t key_off, size_t data_off)
{
    if (c->nmsgs == c->capmsgs) {
        size_t cap = c->capmsgs ? c->capmsgs * 2 : 256;
        pending *grown = realloc(c->msgs, cap * sizeof *grown);
        if (!grown)
            return SQ_ERR;
        c->msgs = grown;
        c->capmsgs = cap;
    }
    c->msgs[c->nmsgs++] =
        (pending){key_off, data_off - key_off - 1, data_off, c->blob.len - data_off};
    return SQ_OK;
}

/* Sends the batch's messages to the stream. With `lsn`, the transactions up to it are complete
 * and the source's progress moves there in the same transaction; without, the source
 * transaction goes on and the store transaction stays open. */
static int put_batch(capture *c, sq_lsn lsn, char *err, size_t errlen)
{
    sq_message_in *in = NULL;
    long long published = 0;
    int rc = SQ_ERR;

    if (c->nmsgs > 0 && !(in = malloc(c->nmsgs * sizeof *in)))
        return sq_fail(err, errlen, "out of memory");
    for (size_t i = 0; i < c->nmsgs; i++)
        in[i] = (sq_message_in){c->blob.data + c->msgs[i].key_off, c->msgs[i].key_len,
                                c->blob.data + c->msgs[i].data_off, c->msgs[i].data_len};
    if (!lsn && !c->store_txn_open && !sq_backfill_in_flight(c->bf)) {
        if (sq_store_transaction(c->store, SQ_STORE_BEGIN, err, errlen) != SQ_OK)
            goto done;
        c->store_txn_open = true;
    }
    long long t0 = now_ms();
    if (sq_store_source_apply(c->store, c->def->num, lsn, in, c->nmsgs, &published, err, errlen) !=
        SQ_OK)
        goto done;
    sq_debug("source %s: %zu messages applied in %lld ms", c->def->name, c->nmsgs, now_ms() - t0);
    if (lsn && c->store_txn_open && !sq_backfill_in_flight(c->bf)) {
        if (sq_store_transaction(c->store, SQ_STORE_COMMIT, err, errlen) != SQ_OK)
            goto done;
        c->store_txn_open = false;
    }
    c->rows += (long long)c->nmsgs;
    c->nmsgs = 0;
    sq_buf_reset(&c->blob);
    rc = SQ_OK;
done:
    free(in);
    return rc;
}

/* The batch's complete transactions into the stream, with a backfill page in flight and its
 * progress when there is one, then the slot told so. */
static int flush_batch(capture *c, char *err, size_t errlen)
{
    bool page = sq_backfill_in_flight(c->bf);
    sq_lsn lsn = c->batch_lsn > c->applied ? c->batch_lsn : 0;
    if (!lsn && !page)
        return SQ_OK;
    if (page) {
        /* The page's progress goes in the same store transaction as its rows. */
        if (!c->store_txn_open) {
            if (sq_store_transaction(c->store, SQ_STORE_BEGIN, err, errlen) != SQ_OK)
                return SQ_ERR;
            c->store_txn_open = true;
        }
        if (put_batch(c, lsn, err, errlen) != SQ_OK ||
            sq_backfill_record(c->bf, c->store, c->def->num, err, errlen) != SQ_OK ||
            sq_store_transaction(c->store, SQ_STORE_COMMIT, err, errlen) != SQ_OK)
            return SQ_ERR;
        c->store_txn_open = false;
        sq_backfill_committed(c->bf);
        sq_debug("source %s: backfill page in the stream", c->def->name);
    } else if (put_batch(c, lsn, err, errlen) != SQ_OK) {
        return SQ_ERR;
    }
    /* Long polls on any node wake for the news. */
    if (sq_store_notify(c->store, c->def->stream, err, errlen) != SQ_OK)
        return SQ_ERR;
    if (!lsn)
        return SQ_OK;
    c->applied = c->batch_lsn;
    c->last_commit_time = c->batch_time;
    sq_debug("source %s: the stream has the transactions up to %s", c->def->name,
             sq_lsn_format(c->batch_lsn, (char[SQ_LSN_TEXT_MAX]){0}));
    c->confirmed = c->batch_end;
    c->last_confirm_ms = now_ms();
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

    for (size_t i = c->nmsgs; i-- > 0;) {
        const pending *p = &c->msgs[i];
        for (size_t k = 0; k < nkeys; k++) {
            if (p->key_len == keys[k].len &&
                memcmp(c->blob.data + p->key_off, keys[k].data, p->key_len) == 0) {
                *len = p->data_len;
                return sq_arena_strndup(&c->scratch, c->blob.data + p->data_off, p->data_len);
            }
        }
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

/* One message of change `ch` of table `t` into the batch: its key, its data. */
static int add_message(capture *c, const sq_change_table *t, const sq_change *ch, char *err,
                       size_t errlen)
{
    size_t key_off = c->blob.len;
    if (sq_change_key(t, ch, c->def->key_format, &c->blob, err, errlen) != SQ_OK)
        return SQ_ERR;
    if (sq_buf_putc(&c->blob, '\0') != SQ_OK)
        return sq_fail(err, errlen, "out of memory");
    size_t data_off = c->blob.len;
    if (sq_change_data(t, ch, &c->blob, NULL) != SQ_OK)
        return sq_fail(err, errlen, "out of memory");
    if (push_pending(c, key_off, data_off) != SQ_OK)
        return sq_fail(err, errlen, "out of memory");
    return SQ_OK;
}

/* A row of a backfill page into the batch. */
static int emit_read(void *ctx, const sq_change_table *t, const sq_change *ch, char *err,
                     size_t errlen)
{
    return add_message(ctx, t, ch, err, errlen);
}

/* The slot's stream is past the waiting page's position: every transaction its snapshot saw is
 * in the batch or the stream, so its rows go in now (those a later transaction changed left
 * out), to be committed with the batch. */
static int page_due(capture *c, char *err, size_t errlen)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = sq_pgoutput_time_from_unix_us((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
    sq_debug("source %s: backfill page due", c->def->name);
    return sq_backfill_emit(c->bf, c->def->name, now, emit_read, c, err, errlen);
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
static int on_change(capture *c, const sq_pgoutput_msg *m, char *err, size_t errlen)
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
            (c->moved && add_message(c, &t, &gone, err, errlen) != SQ_OK) ||
            (c->moved && waits && touch(c, &t, &gone, err, errlen) != SQ_OK))
            return SQ_ERR;
    }
    if (waits && touch(c, &t, &ch, err, errlen) != SQ_OK)
        return SQ_ERR;
    if (add_message(c, &t, &ch, err, errlen) != SQ_OK)
        return SQ_ERR;
    /* A large source transaction goes on in the store's open transaction, chunk by chunk. */
    if (c->nmsgs >= CHUNK_ROWS || c->blob.len >= CHUNK_BYTES)
        return put_batch(c, 0, err, errlen);
    return SQ_OK;
}

/* One pgoutput message. */
static int on_message(capture *c, const uint8_t *data, size_t len, char *err, size_t errlen)
{
    sq_pgoutput_msg m;
    if (sq_pgoutput_decode(data, len, &m, err, errlen) != SQ_OK)
        return SQ_ERR;
    switch (m.kind) {
    case SQ_PGO_BEGIN:
        /* A transaction committed at or after the page's position: the page's snapshot did not
         * see it, and everything it saw has arrived. The page goes in before it. */
        if (sq_backfill_waits_for(c->bf) && m.u.begin.final_lsn >= sq_backfill_waits_for(c->bf) &&
            page_due(c, err, errlen) != SQ_OK)
            return SQ_ERR;
        c->in_txn = true;
        c->txn_xid = m.u.begin.xid;
        c->txn_lsn = m.u.begin.final_lsn;
        c->txn_time = m.u.begin.commit_time;
        /* A replay from the slot of what the stream has already (the slot is told only after
         * the store commits; a crash between the two resends it). */
        c->skip_txn = c->txn_lsn <= c->applied;
        return SQ_OK;
    case SQ_PGO_COMMIT:
        c->in_txn = false;
        if (!c->skip_txn && c->nmsgs == 0 && !c->store_txn_open && c->batch_lsn <= c->applied)
            c->skip_txn = true; /* nothing of it streams (PostgreSQL before 15 sends empty
                                 * transactions): no store call, only the slot moves on */
        if (!c->skip_txn) {
            c->batch_lsn = m.u.commit.commit_lsn;
            c->batch_end = m.u.commit.end_lsn;
            c->batch_time = m.u.commit.commit_time;
        } else if (m.u.commit.end_lsn > c->confirmed && c->nmsgs == 0) {
            c->confirmed = m.u.commit.end_lsn;
        }
        return SQ_OK;
    case SQ_PGO_RELATION:
        return on_relation(c, &m, err, errlen);
    case SQ_PGO_INSERT:
    case SQ_PGO_UPDATE:
    case SQ_PGO_DELETE:
        return on_change(c, &m, err, errlen);
    case SQ_PGO_TRUNCATE:
        sq_warn("source %s: a TRUNCATE of %u table(s) is not streamed: the stream keeps "
                "their messages (docs/sources.md)",
                c->def->name, (unsigned)m.u.truncate.nrelations);
        return SQ_OK;
    default: /* origin, type, message: nothing to do */
        return SQ_OK;
    }
}

/* Streams until an error or the stop flag. */
static int stream(capture *c, char *err, size_t errlen)
{
    report(c, "streaming", NULL);
    while (!atomic_load(c->stop)) {
        const uint8_t *data;
        size_t len;
        /* Wait only when nothing is batched: a batch goes to the stream as soon as the
         * server has nothing more at hand, so transactions group under load only. */
        bool due = c->batch_lsn > c->applied || sq_backfill_in_flight(c->bf);
        int wait = !c->in_txn && due ? 0 : READ_WAIT_MS;
        int rc = sq_repl_read(c->repl, wait, &data, &len, err, errlen);
        if (rc < 0)
            return SQ_ERR;
        if (rc == 1) {
            if (!c->in_txn && flush_batch(c, err, errlen) != SQ_OK)
                return SQ_ERR;
        } else {
            sq_pgoutput_frame f;
            if (sq_pgoutput_frame_decode(data, len, &f, err, errlen) != SQ_OK)
                return SQ_ERR;
            if (f.wal_end > c->received)
                c->received = f.wal_end;
            if (f.kind == SQ_FRAME_XLOGDATA) {
                if (on_message(c, f.data, f.len, err, errlen) != SQ_OK)
                    return SQ_ERR;
                if (!c->in_txn && (c->nmsgs >= CHUNK_ROWS || c->store_txn_open) &&
                    flush_batch(c, err, errlen) != SQ_OK)
                    return SQ_ERR;
            } else {
                /* For a logical slot the server's position is what it has decoded: when
                 * nothing of ours is pending, the slot may forget everything before it. */
                if (!c->in_txn && c->nmsgs == 0 && c->batch_lsn <= c->applied &&
                    f.wal_end > c->confirmed)
                    c->confirmed = f.wal_end;
                /* Between transactions the server's position says what it has sent: a page
                 * waiting for a position behind it is due. */
                if (!c->in_txn && sq_backfill_waits_for(c->bf) &&
                    f.wal_end >= sq_backfill_waits_for(c->bf) && page_due(c, err, errlen))
                    return SQ_ERR;
                /* Every keepalive is answered, not only those that ask: the server sends the
                 * next one only once this one is answered (walsender.c's
                 * waiting_for_ping_response), and a waiting backfill page learns from them
                 * that the server is past its position. */
                c->last_confirm_ms = now_ms();
                if (sq_repl_confirm(c->repl, c->received, c->confirmed, err, errlen) != SQ_OK)
                    return SQ_ERR;
            }
        }
        /* The next backfill page, between batches: one page in hand at a time. */
        if (!c->in_txn && c->nmsgs == 0 && !c->store_txn_open && sq_backfill_wants_page(c->bf)) {
            if (sq_backfill_read(c->bf, c->db, err, errlen) != SQ_OK)
                return SQ_ERR;
            sq_debug("source %s: backfill page read, waiting for %s", c->def->name,
                     sq_lsn_format(sq_backfill_waits_for(c->bf), (char[SQ_LSN_TEXT_MAX]){0}));
        }
        long long now = now_ms();
        if (now - c->last_confirm_ms >= CONFIRM_EVERY_MS) {
            c->last_confirm_ms = now;
            if (sq_repl_confirm(c->repl, c->received, c->confirmed, err, errlen) != SQ_OK)
                return SQ_ERR;
        }
        if (now - c->last_report_ms >= REPORT_EVERY_MS)
            report(c, sq_backfill_done(c->bf) ? "streaming" : "backfilling", NULL);
    }
    return SQ_OK;
}

/* Drops the connections of one attempt; the store's goes too, and with it the lock. */
static void disconnect(capture *c)
{
    sq_repl_close(c->repl);
    c->repl = NULL;
    if (c->db)
        PQfinish(c->db);
    c->db = NULL;
    sq_store_close(c->store);
    c->store = NULL;
    sq_backfill_free(c->bf);
    c->bf = NULL;
    for (size_t i = 0; i < c->nrels; i++)
        sq_arena_free(&c->rels[i].mem);
    free(c->rels);
    c->rels = NULL;
    c->nrels = 0;
    c->nmsgs = 0;
    sq_buf_reset(&c->blob);
    c->store_txn_open = false;
    c->in_txn = false;
}

/*
 * One attempt: the lock, the source database made ready, the stream from where the store says
 * the source is. 0 when stopped or when another node holds the lock (`*standby`), -1 on error.
 */
static int attempt(capture *c, bool *standby, char *err, size_t errlen)
{
    bool got = false;
    *standby = false;
    if (sq_store_open(c->store_url, &c->store, err, errlen) != SQ_OK)
        return SQ_ERR;
    if (sq_store_source_lock(c->store, c->def->num, &got, err, errlen) != SQ_OK)
        return SQ_ERR;
    if (!got) {
        *standby = true;
        return SQ_OK;
    }
    c->attempts++; /* a standby's tries of the lock are no reconnects */
    report(c, "starting", NULL);
    if (sq_store_source_applied(c->store, c->def->num, &c->applied, err, errlen) != SQ_OK)
        return SQ_ERR;
    c->confirmed = c->batch_lsn = c->batch_end = 0;
    if (sq_srcdb_connect(c->def->url, &c->db, err, errlen) != SQ_OK ||
        sq_srcdb_prepare(c->db, c->def, err, errlen) != SQ_OK ||
        sq_backfill_open(c->store, c->def, &c->bf, err, errlen) != SQ_OK ||
        sq_repl_connect(c->def->url, &c->repl, err, errlen) != SQ_OK ||
        sq_repl_start(c->repl, c->def->slot, c->def->publication, 0, err, errlen) != SQ_OK)
        return SQ_ERR;
    sq_info("source %s: streaming slot %s of publication %s into stream %d from %s", c->def->name,
            c->def->slot, c->def->publication, c->def->stream,
            sq_lsn_format(c->applied, (char[SQ_LSN_TEXT_MAX]){0}));
    return stream(c, err, errlen);
}

void sq_source_run(const sq_source_def *def, const char *store_url, const atomic_bool *stop)
{
    capture c = {.def = def, .store_url = store_url, .stop = stop};
    long long backoff = BACKOFF_MIN_MS;
    char err[512];

    while (!atomic_load(stop)) {
        bool standby = false;
        err[0] = '\0';
        c.state[0] = '\0';
        int rc = attempt(&c, &standby, err, sizeof err);
        if (strcmp(c.state, "streaming") == 0)
            backoff = BACKOFF_MIN_MS; /* it worked for a while: a new failure starts over */
        if (rc != SQ_OK) {
            c.errors++;
            sq_error("source %s: %s (again in %lld ms)", def->name, err, backoff);
            /* Said while the lock is still ours, so that it never overwrites the report of a
             * node that took over; a broken store connection just fails to say it. */
            if (c.store_txn_open &&
                sq_store_transaction(c.store, SQ_STORE_ROLLBACK, (char[64]){0}, 64) == SQ_OK)
                c.store_txn_open = false;
            if (c.state[0])
                report(&c, "error", err);
        }
        disconnect(&c);
        if (atomic_load(stop))
            break;
        if (standby) {
            snprintf(c.state, sizeof c.state, "standby");
            nap(&c, 1000); /* another node streams it; take over within a second of its end */
            continue;
        }
        nap(&c, backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    disconnect(&c);
    sq_arena_free(&c.scratch);
    sq_buf_free(&c.blob);
    free(c.msgs);
}
