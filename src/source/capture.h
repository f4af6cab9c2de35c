/* What the two halves of a running source share (internal to src/source/): capture.c runs the
 * loop (the lock, the slot, the reports, restarts), batch.c makes the rows messages and puts
 * batches and backfill pages in the stream. */
#ifndef SEQUIN_SOURCE_CAPTURE_H
#define SEQUIN_SOURCE_CAPTURE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "backfill.h"
#include "sequin/replication.h"
#include "sequin/source.h"
#include "sequin/store.h"

/* A batch is put in the stream when it holds this many rows or bytes; a source transaction
 * larger than that goes in several calls of one store transaction, so memory stays bounded
 * whatever the transaction's size. */
#define CHUNK_ROWS 5000
#define CHUNK_BYTES (8u << 20)
/* Store connections a backfill page goes in on at once, besides the one of the batches: the
 * store's inserts are what a backfill waits on, and one connection keeps at most one core of
 * the stream's database busy. */
#define PAGE_CONNS 4

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

/* A message waiting to be put in the stream: offsets into its msgbuf's `blob`. */
typedef struct pending {
    size_t key_off, key_len, data_off, data_len;
} pending;

/* Messages waiting to be put in the stream. */
typedef struct msgbuf {
    sq_buf blob; /* each message's key, a NUL, then its data */
    pending *msgs;
    size_t n, cap;
} msgbuf;

typedef struct capture {
    const sq_source_def *def;
    const char *store_url;
    const atomic_bool *stop;
    sq_store *store;
    sq_store *helpers[PAGE_CONNS]; /* the backfill pages' connections, opened for the first */
    size_t parts;                  /* how many of them have a part of the page in flight */
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
    msgbuf batch;
    msgbuf page;         /* a backfill page's rows, from when it is due until it takes off */
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

/* A monotonic clock in milliseconds. */
long long sq_capture_now_ms(void);

/* A Relation message: the table's columns as of now, and its key from the catalog. 0 or -1. */
SQ_WUR int sq_capture_relation(capture *c, const sq_pgoutput_msg *m, char *err, size_t errlen);

/* An Insert, Update or Delete: its message (two, for a key that moves) into the batch; a batch
 * that grows past a chunk goes into the store's open transaction. 0 or -1. */
SQ_WUR int sq_capture_change(capture *c, const sq_pgoutput_msg *m, char *err, size_t errlen);

/* The batch's complete transactions into the stream, then the slot told so. 0 or -1. */
SQ_WUR int sq_capture_flush(capture *c, char *err, size_t errlen);

/* The waiting backfill page is due: its rows made messages, the page in flight landed, the
 * batch put in, and the page sent off on the page connections. 0 or -1. */
SQ_WUR int sq_capture_page_due(capture *c, char *err, size_t errlen);

/* The page in flight, if any, waited for, recorded and the stream's listeners told: whatever
 * goes into the stream next comes after it. With `only_if_over`, nothing waits: a page whose
 * parts are not all in yet stays in flight. 0 or -1. */
SQ_WUR int sq_capture_page_land(capture *c, bool only_if_over, char *err, size_t errlen);

/* Empties `mb`, keeping its memory; frees it. */
void sq_msgbuf_reset(msgbuf *mb);
void sq_msgbuf_free(msgbuf *mb);

#endif
