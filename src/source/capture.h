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
/* Store connections a backfill page goes in on at once: the store's inserts are what a
 * backfill waits on, and one connection keeps one core of the stream's database busy. */
#define PAGE_CONNS 3

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
    sq_store *helpers[PAGE_CONNS - 1]; /* more connections for backfill pages, opened for them */
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

/* A monotonic clock in milliseconds. */
long long sq_capture_now_ms(void);

/* A Relation message: the table's columns as of now, and its key from the catalog. 0 or -1. */
SQ_WUR int sq_capture_relation(capture *c, const sq_pgoutput_msg *m, char *err, size_t errlen);

/* An Insert, Update or Delete: its message (two, for a key that moves) into the batch; a batch
 * that grows past a chunk goes into the store's open transaction. 0 or -1. */
SQ_WUR int sq_capture_change(capture *c, const sq_pgoutput_msg *m, char *err, size_t errlen);

/* The batch's complete transactions into the stream, then the slot told so. 0 or -1. */
SQ_WUR int sq_capture_flush(capture *c, char *err, size_t errlen);

/* The waiting backfill page is due: the batch, then the page, then its progress. 0 or -1. */
SQ_WUR int sq_capture_page_due(capture *c, char *err, size_t errlen);

/* Records the page in flight (or a table found done) and moves the backfill on. 0 or -1. */
SQ_WUR int sq_capture_page_recorded(capture *c, char *err, size_t errlen);

#endif
