/* Decoding of what a logical replication connection sends: the CopyData frames of the streaming
 * replication protocol and, inside them, the messages of PostgreSQL's pgoutput plugin. */
#ifndef SEQUIN_PGOUTPUT_H
#define SEQUIN_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sequin/common.h"

/*
 * The decoder is a parser of untrusted bytes (a server can be buggy or hostile): every length is
 * checked against what remains, nothing is allocated, and what it returns are slices into the
 * caller's buffer, valid as long as that buffer is. Every function returns 0, or -1 with a
 * sentence in `err` (at most `errlen` bytes, NUL-terminated) naming what was malformed.
 *
 * Protocol version 1 of pgoutput (PostgreSQL 10 and later) is what is decoded; messages of later
 * versions that a version-1 stream never carries (stream start/stop/commit/abort, prepared
 * transactions) are refused as unknown, so a server that sends them is noticed, not misread.
 */

/* An LSN (a position in the write-ahead log) as PostgreSQL prints it: "%X/%X". */
typedef uint64_t sq_lsn;
#define SQ_LSN_TEXT_MAX 18 /* "FFFFFFFF/FFFFFFFF" and the NUL */

/* Formats `lsn` into `out` (SQ_LSN_TEXT_MAX bytes). Returns `out`. */
char *sq_lsn_format(sq_lsn lsn, char out[SQ_LSN_TEXT_MAX]);

/* Parses "%X/%X" (each half 1 to 8 hex digits, nothing else). 0, or -1 if malformed. */
SQ_WUR int sq_lsn_parse(const char *s, sq_lsn *out);

/* ---- The CopyData frames of START_REPLICATION (PostgreSQL docs, "Streaming Replication
 * Protocol") ---- */

typedef enum sq_pgoutput_frame_kind {
    SQ_FRAME_XLOGDATA,  /* 'w': WAL data, here one pgoutput message */
    SQ_FRAME_KEEPALIVE, /* 'k': the server's position and whether it wants a reply now */
} sq_pgoutput_frame_kind;

typedef struct sq_pgoutput_frame {
    sq_pgoutput_frame_kind kind;
    sq_lsn wal_start;     /* 'w' only: where the data starts */
    sq_lsn wal_end;       /* 'w' and 'k': the server's end of WAL (for logical: what it has
                           * decoded and sent so far) */
    int64_t send_time_us; /* microseconds since 2000-01-01 UTC (PostgreSQL's epoch) */
    bool reply_requested; /* 'k' only */
    const uint8_t *data;  /* 'w' only: the pgoutput message */
    size_t len;
} sq_pgoutput_frame;

/* Decodes one CopyData payload as PQgetCopyData returned it. */
SQ_WUR int sq_pgoutput_frame_decode(const uint8_t *buf, size_t len, sq_pgoutput_frame *out,
                                    char *err, size_t errlen);

/* The standby status update ('r') that confirms positions to the server: writes the 34 bytes
 * into `out` and returns their count. `flush` is what the slot may forget (confirmed_flush_lsn).
 */
#define SQ_PGOUTPUT_STATUS_LEN 34
size_t sq_pgoutput_status_encode(uint8_t out[SQ_PGOUTPUT_STATUS_LEN], sq_lsn write, sq_lsn flush,
                                 sq_lsn apply, int64_t now_us, bool reply_requested);

/* Microseconds since PostgreSQL's epoch (2000-01-01 UTC) for a Unix time in microseconds. */
int64_t sq_pgoutput_time_from_unix_us(int64_t unix_us);

/* ---- pgoutput messages (PostgreSQL docs, "Logical Replication Message Formats") ---- */

typedef enum sq_pgoutput_kind {
    SQ_PGO_BEGIN = 'B',
    SQ_PGO_COMMIT = 'C',
    SQ_PGO_ORIGIN = 'O',
    SQ_PGO_RELATION = 'R',
    SQ_PGO_TYPE = 'Y',
    SQ_PGO_INSERT = 'I',
    SQ_PGO_UPDATE = 'U',
    SQ_PGO_DELETE = 'D',
    SQ_PGO_TRUNCATE = 'T',
    SQ_PGO_MESSAGE = 'M',
} sq_pgoutput_kind;

/* A string of the message: bytes up to (not including) its NUL terminator. */
typedef struct sq_pgoutput_str {
    const char *ptr;
    size_t len;
} sq_pgoutput_str;

/* A tuple as sent: its column values are read one by one with sq_pgoutput_tuple_next. `cols` and
 * `len` are the values' bytes (after the column count); sq_pgoutput_decode has walked them once,
 * so they hold exactly `ncols` values. */
typedef struct sq_pgoutput_tuple {
    uint16_t ncols;
    const uint8_t *cols; /* the encoded column values */
    size_t len;
} sq_pgoutput_tuple;

typedef enum sq_pgoutput_value_kind {
    SQ_VALUE_NULL = 'n',
    SQ_VALUE_UNCHANGED_TOAST = 'u', /* a TOASTed value the update did not change: not sent */
    SQ_VALUE_TEXT = 't',            /* the type's text output */
    SQ_VALUE_BINARY = 'b',          /* the type's binary send form (only with `binary`) */
} sq_pgoutput_value_kind;

typedef struct sq_pgoutput_value {
    sq_pgoutput_value_kind kind;
    const char *data; /* text or binary; not NUL-terminated; NULL for null and unchanged */
    size_t len;
} sq_pgoutput_value;

/* Walks a tuple's values: set `*pos` to 0 first; each call decodes the next value and returns 0;
 * after the last one it returns 1; -1 if malformed. The end of the bytes is the end of the tuple
 * (decode has checked the count); every length is still checked against `len`, so a tuple built
 * by other means cannot lead it past its end. */
SQ_WUR int sq_pgoutput_tuple_next(const sq_pgoutput_tuple *t, size_t *pos, sq_pgoutput_value *out,
                                  char *err, size_t errlen);

/* A column of a Relation message. */
typedef struct sq_pgoutput_column {
    bool is_key; /* part of the replica identity (flag 1) */
    sq_pgoutput_str name;
    uint32_t type_oid;
    int32_t type_modifier;
} sq_pgoutput_column;

/* Walks a Relation message's columns like sq_pgoutput_tuple_next: 0 a column, 1 done, -1. */
typedef struct sq_pgoutput_columns {
    uint16_t ncols;
    const uint8_t *data;
    size_t len;
} sq_pgoutput_columns;
SQ_WUR int sq_pgoutput_column_next(const sq_pgoutput_columns *c, size_t *pos,
                                   sq_pgoutput_column *out, char *err, size_t errlen);

typedef struct sq_pgoutput_msg {
    sq_pgoutput_kind kind;
    union {
        struct {
            sq_lsn final_lsn;    /* the LSN of the transaction's commit record */
            int64_t commit_time; /* PostgreSQL epoch, microseconds */
            uint32_t xid;
        } begin;
        struct {
            uint8_t flags;
            sq_lsn commit_lsn;
            sq_lsn end_lsn;
            int64_t commit_time;
        } commit;
        struct {
            sq_lsn lsn;
            sq_pgoutput_str name;
        } origin;
        struct {
            uint32_t oid;
            sq_pgoutput_str nspname; /* "" means pg_catalog, as the protocol says */
            sq_pgoutput_str relname;
            char replica_identity; /* 'd' default, 'n' nothing, 'f' full, 'i' index */
            sq_pgoutput_columns columns;
        } relation;
        struct {
            uint32_t oid;
            sq_pgoutput_str nspname;
            sq_pgoutput_str typname;
        } type;
        struct {
            uint32_t relation_oid;
            sq_pgoutput_tuple new_tuple;
        } insert;
        struct {
            uint32_t relation_oid;
            char old_kind; /* 0 none, 'K' the old key, 'O' the whole old row */
            sq_pgoutput_tuple old_tuple;
            sq_pgoutput_tuple new_tuple;
        } update;
        struct {
            uint32_t relation_oid;
            char old_kind; /* 'K' or 'O' */
            sq_pgoutput_tuple old_tuple;
        } del;
        struct {
            uint8_t options; /* 1 CASCADE, 2 RESTART IDENTITY */
            uint32_t nrelations;
            const uint8_t *relation_oids; /* nrelations big-endian uint32 */
        } truncate;
        struct {
            uint8_t flags; /* 1: transactional */
            sq_lsn lsn;
            sq_pgoutput_str prefix;
            const uint8_t *content;
            size_t len;
        } message;
    } u;
} sq_pgoutput_msg;

/* Decodes one pgoutput message (the payload of an XLogData frame). Every byte must belong to the
 * message: trailing bytes are an error. Tuples and a Relation's columns are walked once here
 * (an Update's new tuple starts where its old one ends), so a message that decodes has nothing
 * malformed left for the walks to find. */
SQ_WUR int sq_pgoutput_decode(const uint8_t *buf, size_t len, sq_pgoutput_msg *out, char *err,
                              size_t errlen);

/* The i-th relation OID of a Truncate message (i < nrelations). */
uint32_t sq_pgoutput_truncate_oid(const sq_pgoutput_msg *m, uint32_t i);

#endif
