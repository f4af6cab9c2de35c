/* Backfill of a source's tables: pages read in key order under a snapshot, held until the slot's
 * stream has every transaction that snapshot saw, then put in the stream without the rows that a
 * later transaction changed meanwhile (docs/sources.md, "Backfill"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill.h"
#include "sequin/log.h"
#include "source_db.h"

/* Rows per page: the first page reads PAGE_ROWS_MIN, the next ones as many as make about
 * PAGE_BYTES of values at the rows' size so far, up to PAGE_ROWS_MAX. Large pages spread the
 * costs of a page (its snapshot's commit, the wait for the slot, recording it) over many rows;
 * the byte bound keeps a page of wide rows in memory without care. */
#define PAGE_ROWS_MIN 1000
#define PAGE_ROWS_MAX 20000
#define PAGE_BYTES (8u << 20)

typedef struct table_state {
    const char *name; /* "schema.table" */
    const char *schema, *table;
    const char **key_names; /* its key columns, looked up on the first page */
    size_t nkeys;
    const char **cursor; /* the key of the last row in the stream; NULL before the first */
    long long rows_done;
    bool done;
    /* Where the next page starts: past the page in flight, if one is. */
    const char **next;
    bool read_all;       /* the last page is read */
    sq_arena mem;        /* name parts and key names */
    sq_arena cursor_mem; /* the cursor, renewed with each page */
    sq_arena next_mem;   /* the next page's start, likewise */
} table_state;

/* A page emitted and on its way into the stream: what recording it takes. */
typedef struct flight {
    bool on;
    size_t t;
    const char **cursor; /* its last row's key; NULL when it had none */
    long long rows;
    bool done; /* its table has no rows after it */
    sq_arena mem;
} flight;

struct sq_backfill {
    table_state *tables;
    size_t ntables;

    /* The page read and waiting for the slot's stream to pass its position. */
    bool waiting;
    size_t t;
    PGresult *rows;
    uint32_t xmin, xmax;
    uint32_t *xip;
    size_t nxip;
    sq_lsn w;
    int limit; /* the rows it asked for: fewer say the table has no more */
    sq_arena page_mem;

    /* Rows and their values' bytes read so far, for the size of the next page. */
    long long rows_read, bytes_read;

    flight flight;

    /* Rows of the page's table that transactions the snapshot did not see have changed. */
    const char **touched; /* open addressing; NULL slots are free */
    size_t cap, count;
};

/* Sets `*cursor` to a copy of `keys` (n texts; NULL: before the first row) in `mem`, which it
 * renews. */
static int set_cursor(const char ***cursor, sq_arena *mem, const char *const *keys, size_t n)
{
    sq_arena fresh = {0};
    const char **copy = NULL;
    if (keys && n > 0) {
        if (!(copy = sq_arena_calloc(&fresh, n, sizeof *copy)))
            goto nomem;
        for (size_t i = 0; i < n; i++)
            if (!(copy[i] = sq_arena_strdup(&fresh, keys[i])))
                goto nomem;
    }
    sq_arena_free(mem);
    *mem = fresh;
    *cursor = copy;
    return SQ_OK;
nomem:
    sq_arena_free(&fresh);
    return SQ_ERR;
}

int sq_backfill_open(sq_store *store, const sq_source_def *def, sq_backfill **out, char *err,
                     size_t errlen)
{
    sq_backfill *b = calloc(1, sizeof *b);
    sq_arena mem = {0};
    sq_backfill_row *rows = NULL;
    size_t n = 0;

    *out = NULL;
    if (!b)
        return sq_fail(err, errlen, "out of memory");
    for (size_t i = 0; def->backfill && i < def->ntables; i++)
        if (sq_store_backfill_add(store, def->num, def->tables[i], err, errlen) != SQ_OK)
            goto fail;
    if (sq_store_backfill_list(store, def->num, &rows, &n, &mem, err, errlen) != SQ_OK)
        goto fail;
    if (n > 0 && !(b->tables = calloc(n, sizeof *b->tables))) {
        sq_fail(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        table_state *t = &b->tables[b->ntables++];
        const char *dot = strchr(rows[i].table, '.');
        if (!dot) {
            sq_fail(err, errlen, "backfill of a table without a schema: %s", rows[i].table);
            goto fail;
        }
        t->name = sq_arena_strdup(&t->mem, rows[i].table);
        t->schema = sq_arena_strndup(&t->mem, rows[i].table, (size_t)(dot - rows[i].table));
        t->table = sq_arena_strdup(&t->mem, dot + 1);
        t->rows_done = rows[i].rows_done;
        t->done = rows[i].done;
        t->read_all = t->done;
        if (!t->name || !t->schema || !t->table ||
            set_cursor(&t->cursor, &t->cursor_mem, rows[i].last_key, rows[i].nkeys) != SQ_OK ||
            set_cursor(&t->next, &t->next_mem, rows[i].last_key, rows[i].nkeys) != SQ_OK) {
            sq_fail(err, errlen, "out of memory");
            goto fail;
        }
    }
    sq_arena_free(&mem);
    *out = b;
    return SQ_OK;
fail:
    sq_arena_free(&mem);
    sq_backfill_free(b);
    return SQ_ERR;
}

static void drop_page(sq_backfill *b)
{
    PQclear(b->rows);
    b->rows = NULL;
    free(b->xip);
    b->xip = NULL;
    b->nxip = 0;
    free(b->touched);
    b->touched = NULL;
    b->cap = b->count = 0;
    sq_arena_reset(&b->page_mem);
    b->waiting = false;
    b->w = 0;
}

void sq_backfill_free(sq_backfill *b)
{
    if (!b)
        return;
    drop_page(b);
    sq_arena_free(&b->page_mem);
    sq_arena_free(&b->flight.mem);
    for (size_t i = 0; i < b->ntables; i++) {
        sq_arena_free(&b->tables[i].mem);
        sq_arena_free(&b->tables[i].cursor_mem);
        sq_arena_free(&b->tables[i].next_mem);
    }
    free(b->tables);
    free(b);
}

/* The first table with pages left to read. */
static table_state *next_table(const sq_backfill *b, size_t *index)
{
    for (size_t i = 0; i < b->ntables; i++) {
        if (!b->tables[i].read_all) {
            *index = i;
            return &b->tables[i];
        }
    }
    return NULL;
}

bool sq_backfill_wants_page(const sq_backfill *b)
{
    size_t i;
    return b && !b->waiting && next_table(b, &i) != NULL;
}

/* "xmin:xmax:xip,xip,..." (txid_current_snapshot, 64-bit ids): their low 32 bits, which is
 * what pgoutput's Begin carries; compared modulo 2^32 as PostgreSQL compares xids. */
static int parse_snapshot(sq_backfill *b, const char *s)
{
    unsigned long long xmin, xmax;
    int used = 0;
    if (sscanf(s, "%llu:%llu:%n", &xmin, &xmax, &used) != 2)
        return SQ_ERR;
    b->xmin = (uint32_t)xmin;
    b->xmax = (uint32_t)xmax;
    const char *p = s + used;
    size_t n = *p ? 1 : 0;
    for (const char *q = p; *q; q++)
        n += *q == ',';
    b->xip = n ? calloc(n, sizeof *b->xip) : NULL;
    if (n && !b->xip)
        return SQ_ERR;
    for (b->nxip = 0; b->nxip < n; b->nxip++) {
        char *end;
        b->xip[b->nxip] = (uint32_t)strtoull(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
    return SQ_OK;
}

/* Whether the page's snapshot saw transaction `xid` (committed ones only reach us). */
static bool seen(const sq_backfill *b, uint32_t xid)
{
    if ((int32_t)(xid - b->xmin) < 0)
        return true;
    if ((int32_t)(xid - b->xmax) >= 0)
        return false;
    for (size_t i = 0; i < b->nxip; i++)
        if (b->xip[i] == xid)
            return false;
    return true;
}

/* How many rows the next page asks for. */
static int page_limit(const sq_backfill *b)
{
    if (b->rows_read == 0)
        return PAGE_ROWS_MIN;
    long long per_row = b->bytes_read / b->rows_read + 1;
    long long fit = PAGE_BYTES / per_row;
    return fit < PAGE_ROWS_MIN ? PAGE_ROWS_MIN : fit > PAGE_ROWS_MAX ? PAGE_ROWS_MAX : (int)fit;
}

int sq_backfill_read(sq_backfill *b, PGconn *db, char *err, size_t errlen)
{
    size_t i;
    table_state *t;
    char *snapshot = NULL;

    if ((t = next_table(b, &i)) == NULL)
        return SQ_OK;
    if (!t->key_names) {
        unsigned oid;
        if (sq_srcdb_table_oid(db, t->name, &oid, err, errlen) != SQ_OK ||
            sq_srcdb_table_key(db, oid, &t->key_names, &t->nkeys, &t->mem, err, errlen))
            return SQ_ERR;
    }
    drop_page(b);
    b->limit = page_limit(b);
    if (sq_srcdb_read_page(db, t->schema, t->table, t->key_names, t->nkeys, t->next, b->limit,
                           &b->rows, &snapshot, &b->w, err, errlen) != SQ_OK)
        return SQ_ERR;
    int nrows = PQntuples(b->rows), ncols = PQnfields(b->rows);
    for (int r = 0; r < nrows; r++)
        for (int c = 0; c < ncols; c++)
            b->bytes_read += PQgetlength(b->rows, r, c) + 1;
    b->rows_read += nrows;
    int rc = parse_snapshot(b, snapshot);
    free(snapshot);
    if (rc != SQ_OK) {
        drop_page(b);
        return sq_fail(err, errlen, "cannot read the snapshot of a backfill page");
    }
    b->t = i;
    b->waiting = true;
    return SQ_OK;
}

sq_lsn sq_backfill_waits_for(const sq_backfill *b)
{
    return b && b->waiting ? b->w : 0;
}

bool sq_backfill_due_now(const sq_backfill *b)
{
    return b && b->waiting && PQntuples(b->rows) == 0;
}

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static bool touched(const sq_backfill *b, const char *key, size_t len)
{
    if (!b->cap)
        return false;
    for (size_t i = hash(key, len) & (b->cap - 1); b->touched[i]; i = (i + 1) & (b->cap - 1))
        if (strlen(b->touched[i]) == len && memcmp(b->touched[i], key, len) == 0)
            return true;
    return false;
}

static int add_touched(sq_backfill *b, const char *key, size_t len)
{
    if (touched(b, key, len))
        return SQ_OK;
    if (2 * (b->count + 1) > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        const char **grown = calloc(cap, sizeof *grown);
        if (!grown)
            return SQ_ERR;
        for (size_t i = 0; i < b->cap; i++) {
            if (!b->touched[i])
                continue;
            size_t j = hash(b->touched[i], strlen(b->touched[i])) & (cap - 1);
            while (grown[j])
                j = (j + 1) & (cap - 1);
            grown[j] = b->touched[i];
        }
        free(b->touched);
        b->touched = grown;
        b->cap = cap;
    }
    const char *copy = sq_arena_strndup(&b->page_mem, key, len);
    if (!copy)
        return SQ_ERR;
    size_t j = hash(key, len) & (b->cap - 1);
    while (b->touched[j])
        j = (j + 1) & (b->cap - 1);
    b->touched[j] = copy;
    b->count++;
    return SQ_OK;
}

int sq_backfill_touch(sq_backfill *b, uint32_t xid, const char *schema, const char *table,
                      const char *basic_key, size_t len)
{
    if (!b || !b->waiting || seen(b, xid))
        return SQ_OK;
    const table_state *t = &b->tables[b->t];
    if (strcmp(t->schema, schema) != 0 || strcmp(t->table, table) != 0)
        return SQ_OK;
    return add_touched(b, basic_key, len);
}

int sq_backfill_emit(sq_backfill *b, const char *source, int64_t now_us, sq_backfill_emit_fn emit,
                     void *ctx, char *err, size_t errlen)
{
    table_state *t = &b->tables[b->t];
    int nrows = PQntuples(b->rows), ncols = PQnfields(b->rows);
    sq_change_column *cols = sq_arena_calloc(&b->page_mem, (size_t)ncols + 1, sizeof *cols);
    size_t *key_cols = sq_arena_calloc(&b->page_mem, t->nkeys, sizeof *key_cols);
    sq_pgoutput_value *vals = sq_arena_calloc(&b->page_mem, (size_t)ncols + 1, sizeof *vals);
    sq_buf key = {0};
    int rc = SQ_ERR;

    if (!cols || !key_cols || !vals)
        return sq_fail(err, errlen, "out of memory");
    for (int i = 0; i < ncols; i++)
        cols[i] = (sq_change_column){PQfname(b->rows, i), PQftype(b->rows, i)};
    for (size_t k = 0; k < t->nkeys; k++) {
        int i = PQfnumber(b->rows, t->key_names[k]);
        if (i < 0)
            return sq_fail(err, errlen, "table %s: key column %s is not in its rows", t->name,
                           t->key_names[k]);
        key_cols[k] = (size_t)i;
    }
    sq_change_table tab = {.source = source,
                           .schema = t->schema,
                           .table = t->table,
                           .ncols = (size_t)ncols,
                           .cols = cols,
                           .nkeys = t->nkeys,
                           .key_cols = key_cols};
    sq_change ch = {.action = SQ_ACTION_READ, .new_values = vals, .commit_time_us = now_us};
    for (int r = 0; r < nrows; r++) {
        for (int i = 0; i < ncols; i++)
            vals[i] = PQgetisnull(b->rows, r, i)
                          ? (sq_pgoutput_value){.kind = SQ_VALUE_NULL}
                          : (sq_pgoutput_value){.kind = SQ_VALUE_TEXT,
                                                .data = PQgetvalue(b->rows, r, i),
                                                .len = (size_t)PQgetlength(b->rows, r, i)};
        sq_buf_reset(&key);
        if (sq_change_key(&tab, &ch, SQ_KEY_BASIC, &key, err, errlen) != SQ_OK)
            goto done;
        if (touched(b, key.data, key.len))
            continue; /* a transaction the snapshot did not see has a newer version */
        if (emit(ctx, &tab, &ch, err, errlen) != SQ_OK)
            goto done;
    }
    rc = SQ_OK;
done:
    sq_buf_free(&key);
    return rc;
}

int sq_backfill_take_off(sq_backfill *b, char *err, size_t errlen)
{
    table_state *t = &b->tables[b->t];
    flight *f = &b->flight;
    int nrows = PQntuples(b->rows);
    const char **last = nrows > 0 ? sq_arena_calloc(&b->page_mem, t->nkeys, sizeof *last) : NULL;

    if (nrows > 0 && !last)
        return sq_fail(err, errlen, "out of memory");
    for (size_t k = 0; last && k < t->nkeys; k++)
        last[k] = PQgetvalue(b->rows, nrows - 1, PQfnumber(b->rows, t->key_names[k]));
    if (set_cursor(&f->cursor, &f->mem, last, t->nkeys) != SQ_OK ||
        (last && set_cursor(&t->next, &t->next_mem, last, t->nkeys) != SQ_OK))
        return sq_fail(err, errlen, "out of memory");
    f->on = true;
    f->t = b->t;
    f->rows = nrows;
    f->done = nrows < b->limit;
    t->read_all = f->done;
    drop_page(b);
    return SQ_OK;
}

bool sq_backfill_in_flight(const sq_backfill *b)
{
    return b && b->flight.on;
}

int sq_backfill_record(sq_backfill *b, sq_store *store, int num, char *err, size_t errlen)
{
    const flight *f = &b->flight;
    const table_state *t = &b->tables[f->t];
    return sq_store_backfill_progress(store, num, t->name, f->cursor, f->cursor ? t->nkeys : 0,
                                      f->rows, f->done, err, errlen);
}

int sq_backfill_committed(sq_backfill *b)
{
    flight *f = &b->flight;
    table_state *t = &b->tables[f->t];
    f->on = false;
    t->rows_done += f->rows;
    t->done = t->done || f->done;
    return f->cursor ? set_cursor(&t->cursor, &t->cursor_mem, f->cursor, t->nkeys) : SQ_OK;
}

bool sq_backfill_done(const sq_backfill *b)
{
    if (!b)
        return true;
    for (size_t i = 0; i < b->ntables; i++)
        if (!b->tables[i].done)
            return false;
    return true;
}
