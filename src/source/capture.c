/* One postgres source at work: its lock, the slot's changes turned into messages and put in the
 * stream a transaction at a time, the positions confirmed once the stream has them, and a
 * restart with backoff after any failure (docs/sources.md, "Guarantees"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "sequin/log.h"
#include "source_db.h"

/* How long the loop waits for the server before it looks at its stop flag and its chores. */
#define READ_WAIT_MS 100
/* And while a backfill page is going in, so that it lands soon after its parts are in. */
#define PAGE_WAIT_MS 5
#define REPORT_EVERY_MS 1000
#define CONFIRM_EVERY_MS 10000
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

long long sq_capture_now_ms(void)
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
    c->last_report_ms = sq_capture_now_ms();
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
            sq_capture_page_due(c, err, errlen) != SQ_OK)
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
        if (!c->skip_txn && c->batch.n == 0 && !c->store_txn_open && c->batch_lsn <= c->applied)
            c->skip_txn = true; /* nothing of it streams (PostgreSQL before 15 sends empty
                                 * transactions): no store call, only the slot moves on */
        if (!c->skip_txn) {
            c->batch_lsn = m.u.commit.commit_lsn;
            c->batch_end = m.u.commit.end_lsn;
            c->batch_time = m.u.commit.commit_time;
        } else if (m.u.commit.end_lsn > c->confirmed && c->batch.n == 0) {
            c->confirmed = m.u.commit.end_lsn;
        }
        return SQ_OK;
    case SQ_PGO_RELATION:
        return sq_capture_relation(c, &m, err, errlen);
    case SQ_PGO_INSERT:
    case SQ_PGO_UPDATE:
    case SQ_PGO_DELETE:
        return sq_capture_change(c, &m, err, errlen);
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
        bool due = c->batch_lsn > c->applied;
        int wait = !c->in_txn && due              ? 0
                   : sq_backfill_in_flight(c->bf) ? PAGE_WAIT_MS
                                                  : READ_WAIT_MS;
        int rc = sq_repl_read(c->repl, wait, &data, &len, err, errlen);
        if (rc < 0)
            return SQ_ERR;
        if (rc == 1) {
            if (!c->in_txn && sq_capture_flush(c, err, errlen) != SQ_OK)
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
                if (!c->in_txn && (c->batch.n >= CHUNK_ROWS || c->store_txn_open) &&
                    sq_capture_flush(c, err, errlen) != SQ_OK)
                    return SQ_ERR;
            } else {
                /* For a logical slot the server's position is what it has decoded: when
                 * nothing of ours is pending, the slot may forget everything before it. */
                if (!c->in_txn && c->batch.n == 0 && c->batch_lsn <= c->applied &&
                    f.wal_end > c->confirmed)
                    c->confirmed = f.wal_end;
                /* Between transactions the server's position says what it has sent: a page
                 * waiting for a position behind it is due. */
                if (!c->in_txn && sq_backfill_waits_for(c->bf) &&
                    f.wal_end >= sq_backfill_waits_for(c->bf) &&
                    sq_capture_page_due(c, err, errlen))
                    return SQ_ERR;
                /* Every keepalive is answered, not only those that ask: the server sends the
                 * next one only once this one is answered (walsender.c's
                 * waiting_for_ping_response), and a waiting backfill page learns from them
                 * that the server is past its position. */
                c->last_confirm_ms = sq_capture_now_ms();
                if (sq_repl_confirm(c->repl, c->received, c->confirmed, err, errlen) != SQ_OK)
                    return SQ_ERR;
            }
        }
        /* A page in flight whose parts are in lands; the next page is read between batches,
         * while the one before may still be going in. */
        if (sq_capture_page_land(c, true, err, errlen) != SQ_OK)
            return SQ_ERR;
        if (!c->in_txn && c->batch.n == 0 && !c->store_txn_open && sq_backfill_wants_page(c->bf)) {
            if (sq_backfill_read(c->bf, c->db, err, errlen) != SQ_OK)
                return SQ_ERR;
            sq_debug("source %s: backfill page read, waiting for %s", c->def->name,
                     sq_lsn_format(sq_backfill_waits_for(c->bf), (char[SQ_LSN_TEXT_MAX]){0}));
            /* A page that found no rows says its table is done: nothing to wait for. */
            if (sq_backfill_due_now(c->bf) && sq_capture_page_due(c, err, errlen) != SQ_OK)
                return SQ_ERR;
        }
        long long now = sq_capture_now_ms();
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
    for (size_t i = 0; i < PAGE_CONNS; i++) {
        sq_store_close(c->helpers[i]);
        c->helpers[i] = NULL;
    }
    c->parts = 0;
    sq_backfill_free(c->bf);
    c->bf = NULL;
    for (size_t i = 0; i < c->nrels; i++)
        sq_arena_free(&c->rels[i].mem);
    free(c->rels);
    c->rels = NULL;
    c->nrels = 0;
    sq_msgbuf_reset(&c->batch);
    sq_msgbuf_reset(&c->page);
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
            nap(&c, 1000); /* another node streams it; take over within a second of its end */
            continue;
        }
        nap(&c, backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    disconnect(&c);
    sq_arena_free(&c.scratch);
    sq_msgbuf_free(&c.batch);
    sq_msgbuf_free(&c.page);
}
