/* Sources: their list, the lock that lets one node run each, their position, the upsert of their
 * changes with it, and the state they report (docs/sources.md). Synchronous: the sources
 * process runs each source in a thread of its own, on a connection of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "call.h"
#include "encode.h"
#include "sequin/json.h"

static void read_source(sq_row *w, void *item)
{
    sq_source_row *out = item;
    out->id = sq_row_text(w);
    out->num = (int)sq_row_int(w);
    out->stream = (int)sq_row_int(w);
    out->name = sq_row_text(w);
    out->kind = sq_row_text(w);
    out->settings = sq_row_text(w);
    out->managed_by = sq_row_text(w);
}

int sq_store_source_list(sq_store *s, sq_source_row **out, size_t *count, sq_arena *arena,
                         char *err, size_t errlen)
{
    if (!sq_store_wait(s, sq_store_begin(s, "source_list", NULL,
                                         &(sq_stmt){.id = SQ_STMT_SOURCE_LIST}, err, errlen)))
        return SQ_ERR;
    return sq_store_finish_list(s, "source_list", sizeof **out, read_source, out, count, arena, err,
                                errlen);
}

/* Runs statement `st` as call `op` and hands back its one row's first column as text
 * (NULL for SQL NULL; SQ_STORE_NOT_FOUND for no row), copied into `out`. */
static int one_value(sq_store *s, const char *op, const sq_stmt *st, char *out, size_t outlen,
                     bool *is_null, char *err, size_t errlen)
{
    PGresult *r = NULL;
    if (!sq_store_wait(s, sq_store_begin(s, op, NULL, st, err, errlen)))
        return SQ_ERR;
    int rc = sq_store_end(s, op, &r, err, errlen);
    if (rc != SQ_OK)
        return rc;
    if (PQntuples(r) < 1) {
        PQclear(r);
        return SQ_STORE_NOT_FOUND;
    }
    *is_null = PQgetisnull(r, 0, 0);
    snprintf(out, outlen, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return SQ_OK;
}

/* one_value of statement `id`, whose one parameter is source number `num`. */
static int of_source(sq_store *s, const char *op, sq_stmt_id id, int num, char *out, size_t outlen,
                     bool *is_null, char *err, size_t errlen)
{
    char num_s[16];
    snprintf(num_s, sizeof num_s, "%d", num);
    const char *values[1] = {num_s};
    sq_stmt st = {.id = id, .n = 1, .values = values};
    return one_value(s, op, &st, out, outlen, is_null, err, errlen);
}

int sq_store_source_lock(sq_store *s, int num, bool *got, char *err, size_t errlen)
{
    char v[8];
    bool is_null;
    int rc =
        of_source(s, "source_lock", SQ_STMT_SOURCE_LOCK, num, v, sizeof v, &is_null, err, errlen);
    if (rc == SQ_OK)
        *got = strcmp(v, "t") == 0;
    return rc;
}

/* "X/X" into a uint64_t; 0 for NULL or anything malformed. */
static uint64_t lsn_of(const char *text)
{
    unsigned hi, lo;
    char tail;
    if (sscanf(text, "%X/%X%c", &hi, &lo, &tail) != 2)
        return 0;
    return (uint64_t)hi << 32 | lo;
}

int sq_store_source_applied(sq_store *s, int num, uint64_t *lsn, char *err, size_t errlen)
{
    char v[32];
    bool is_null;
    int rc = of_source(s, "source_applied", SQ_STMT_SOURCE_APPLIED, num, v, sizeof v, &is_null, err,
                       errlen);
    if (rc == SQ_STORE_NOT_FOUND)
        sq_store_fail(NULL, NULL, err, errlen, "no source number %d", num);
    if (rc == SQ_OK)
        *lsn = is_null ? 0 : lsn_of(v);
    return rc;
}

/* source_apply's result: its refusals (SQ409 an older position, SQ404 a source gone) are
 * results of their own. */
static int applied(sq_store *s, PGresult *r)
{
    sq_call *c = &s->call;
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        return SQ_OK;
    int rc = sq_store_failed_with(r, "SQ409")   ? SQ_STORE_CONFLICT
             : sq_store_failed_with(r, "SQ404") ? SQ_STORE_NOT_FOUND
                                                : SQ_ERR;
    sq_store_fail(s->conn, r, c->err, sizeof c->err, "putting a source's changes in the stream");
    return rc;
}

struct sq_encoded_batch {
    sq_buf keys, datas, hashes;
};

int sq_store_encode_batch(const sq_message_in *msgs, size_t n, sq_encoded_batch **out, char *err,
                          size_t errlen)
{
    sq_encoded_batch *b = calloc(1, sizeof *b);
    *out = NULL;
    if (!b || sq_encode_messages(msgs, n, &b->keys, &b->datas, &b->hashes) != SQ_OK) {
        sq_encoded_batch_free(b);
        return sq_store_fail(NULL, NULL, err, errlen, "out of memory building the batch");
    }
    *out = b;
    return SQ_OK;
}

void sq_encoded_batch_free(sq_encoded_batch *b)
{
    if (!b)
        return;
    sq_buf_free(&b->keys);
    sq_buf_free(&b->datas);
    sq_buf_free(&b->hashes);
    free(b);
}

int sq_store_begin_source_apply_encoded(sq_store *s, int num, uint64_t lsn,
                                        const sq_encoded_batch *b, char *err, size_t errlen)
{
    char num_s[16], lsn_s[24];
    snprintf(num_s, sizeof num_s, "%d", num);
    snprintf(lsn_s, sizeof lsn_s, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
    const char *values[5] = {num_s, lsn ? lsn_s : NULL, b->keys.data, b->datas.data,
                             b->hashes.data};
    int lengths[5] = {0, 0, (int)b->keys.len, (int)b->datas.len, (int)b->hashes.len};
    int formats[5] = {0, 0, 1, 1, 1};
    sq_stmt st = {SQ_STMT_SOURCE_APPLY, 5, values, lengths, formats, applied};
    /* libpq copies the parameters as it sends them: the batch may go when this returns. */
    return sq_store_begin(s, "source_apply", NULL, &st, err, errlen);
}

int sq_store_begin_source_apply(sq_store *s, int num, uint64_t lsn, const sq_message_in *msgs,
                                size_t n, char *err, size_t errlen)
{
    sq_encoded_batch *b;
    if (sq_store_encode_batch(msgs, n, &b, err, errlen) != SQ_OK)
        return SQ_ERR;
    int rc = sq_store_begin_source_apply_encoded(s, num, lsn, b, err, errlen);
    sq_encoded_batch_free(b);
    return rc;
}

int sq_store_finish_source_apply(sq_store *s, long long *published, char *err, size_t errlen)
{
    PGresult *r = NULL;
    int rc = sq_store_end(s, "source_apply", &r, err, errlen);
    if (rc != SQ_OK)
        return rc;
    *published = PQntuples(r) > 0 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return SQ_OK;
}

int sq_store_source_apply(sq_store *s, int num, uint64_t lsn, const sq_message_in *msgs, size_t n,
                          long long *published, char *err, size_t errlen)
{
    return sq_store_wait(s, sq_store_begin_source_apply(s, num, lsn, msgs, n, err, errlen))
               ? sq_store_finish_source_apply(s, published, err, errlen)
               : SQ_ERR;
}

int sq_store_source_report(sq_store *s, const sq_source_report *r, char *err, size_t errlen)
{
    char num_s[16], recv_s[24], applied_s[24], time_s[24], rows_s[24], lag_s[24], node[128],
        errors_s[24], attempts_s[24];
    char host[64] = "";
    bool is_null;

    gethostname(host, sizeof host - 1);
    snprintf(node, sizeof node, "%s:%ld", host, (long)getpid());
    snprintf(num_s, sizeof num_s, "%d", r->source);
    snprintf(recv_s, sizeof recv_s, "%X/%X", (unsigned)(r->received_lsn >> 32),
             (unsigned)r->received_lsn);
    snprintf(applied_s, sizeof applied_s, "%X/%X", (unsigned)(r->applied_lsn >> 32),
             (unsigned)r->applied_lsn);
    snprintf(time_s, sizeof time_s, "%lld", (long long)r->last_commit_time_us);
    snprintf(rows_s, sizeof rows_s, "%lld", r->rows);
    snprintf(lag_s, sizeof lag_s, "%lld", r->lag_bytes);
    snprintf(errors_s, sizeof errors_s, "%lld", r->errors);
    snprintf(attempts_s, sizeof attempts_s, "%lld", r->attempts);
    const char *values[11] = {num_s,  r->state, r->error, node,     recv_s,    applied_s,
                              time_s, rows_s,   lag_s,    errors_s, attempts_s};
    sq_stmt st = {.id = SQ_STMT_SOURCE_REPORT, .n = 11, .values = values};
    char v[8];
    int rc = one_value(s, "source_report", &st, v, sizeof v, &is_null, err, errlen);
    return rc == SQ_STORE_NOT_FOUND ? SQ_OK : rc; /* a source deleted meanwhile: nothing to say */
}

int sq_store_transaction(sq_store *s, sq_store_txn what, char *err, size_t errlen)
{
    static const sq_stmt_id ids[] = {[SQ_STORE_BEGIN] = SQ_STMT_TXN_BEGIN,
                                     [SQ_STORE_COMMIT] = SQ_STMT_TXN_COMMIT,
                                     [SQ_STORE_ROLLBACK] = SQ_STMT_TXN_ROLLBACK};
    sq_stmt st = {.id = ids[what]};
    if (!sq_store_wait(s, sq_store_begin(s, "transaction", NULL, &st, err, errlen)))
        return SQ_ERR;
    return sq_store_finish(s, err, errlen);
}

/* A backfill's row; last_key comes as a JSON array of strings (array_to_json). */
static void read_backfill(sq_row *w, void *item)
{
    sq_backfill_row *out = item;
    out->table = sq_row_text(w);
    out->last_key = sq_row_strings(w, &out->nkeys);
    out->rows_done = sq_row_int(w);
    out->done = sq_row_bool(w);
}

int sq_store_backfill_list(sq_store *s, int num, sq_backfill_row **out, size_t *count,
                           sq_arena *arena, char *err, size_t errlen)
{
    char num_s[16];
    snprintf(num_s, sizeof num_s, "%d", num);
    const char *values[1] = {num_s};
    sq_stmt st = {.id = SQ_STMT_BACKFILL_LIST, .n = 1, .values = values};
    if (!sq_store_wait(s, sq_store_begin(s, "backfill_list", NULL, &st, err, errlen)))
        return SQ_ERR;
    return sq_store_finish_list(s, "backfill_list", sizeof **out, read_backfill, out, count, arena,
                                err, errlen);
}

int sq_store_backfill_add(sq_store *s, int num, const char *table, char *err, size_t errlen)
{
    char num_s[16];
    snprintf(num_s, sizeof num_s, "%d", num);
    const char *values[2] = {num_s, table};
    sq_stmt st = {.id = SQ_STMT_BACKFILL_ADD, .n = 2, .values = values};
    if (!sq_store_wait(s, sq_store_begin(s, "backfill_add", NULL, &st, err, errlen)))
        return SQ_ERR;
    return sq_store_finish(s, err, errlen);
}

int sq_store_backfill_progress(sq_store *s, int num, const char *table, const char *const *last_key,
                               size_t nkeys, long long rows, bool done, char *err, size_t errlen)
{
    char num_s[16], rows_s[24];
    sq_buf keys = {0};
    size_t *lens = calloc(nkeys ? nkeys : 1, sizeof *lens);
    int rc = SQ_ERR;

    for (size_t i = 0; lens && i < nkeys; i++)
        lens[i] = strlen(last_key[i]);
    if (!lens || sq_encode_array(&keys, SQ_OID_TEXT, last_key, lens, nkeys) != SQ_OK) {
        sq_store_fail(NULL, NULL, err, errlen, "out of memory");
        goto done;
    }
    snprintf(num_s, sizeof num_s, "%d", num);
    snprintf(rows_s, sizeof rows_s, "%lld", rows);
    const char *values[5] = {num_s, table, keys.data, rows_s, done ? "t" : "f"};
    int lengths[5] = {0, 0, (int)keys.len, 0, 0};
    int formats[5] = {0, 0, 1, 0, 0};
    sq_stmt st = {SQ_STMT_BACKFILL_PROGRESS, 5, values, lengths, formats, NULL};
    if (sq_store_wait(s, sq_store_begin(s, "backfill_progress", NULL, &st, err, errlen)))
        rc = sq_store_finish(s, err, errlen);
done:
    sq_buf_free(&keys);
    free(lens);
    return rc;
}
