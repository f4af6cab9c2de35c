/* The store: the only module that speaks SQL. This part: the schema and its migrations. */
#ifndef SEQUIN_STORE_H
#define SEQUIN_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "sequin/buf.h"
#include "sequin/common.h"

/*
 * One schema change: `version` numbers start at 1 and increase by one; `sql` runs inside the
 * migration transaction (several statements are fine) and may assume schema "sequin" exists.
 * The list is compiled in from src/store/migrations/NNNN_name.sql.
 */
typedef struct sq_migration {
    int version;
    const char *name;
    const char *sql;
} sq_migration;

/* The migrations this binary carries, in version order; static storage. */
const sq_migration *sq_store_migrations(size_t *count);

/*
 * Brings the database's schema up to the last of `list` (normally sq_store_migrations()).
 * Everything happens in one transaction under a transaction-scoped advisory lock, so any
 * number of nodes may call this at once: one applies what is missing, the others wait and
 * then find nothing to do. Each applied migration is recorded in sequin.schema_migrations.
 *
 * Returns the number of migrations applied (0 when up to date), or -1 with a sentence in
 * `err` (NUL-terminated, at most `errlen` bytes) and the database unchanged: when the
 * database's schema is newer than `list` knows (this binary is older than the data it would
 * serve), when the list itself is malformed, or when PostgreSQL fails. `conn` must be idle
 * and not in a transaction; it is left idle.
 */
SQ_WUR int sq_store_migrate(PGconn *conn, const sq_migration *list, size_t n, char *err,
                            size_t errlen);

/* ---- a connection and its prepared statements ---------------------------------------- */

/* One connection to PostgreSQL with every statement of the store prepared on it. Open one per
 * process (after fork); not for use from two threads at once. */
typedef struct sq_store sq_store;

/*
 * Connects to `url` (libpq syntax; "" uses the PG* environment) and prepares the statements.
 * The schema must be migrated already. Returns 0 with `*out` set (close with sq_store_close),
 * or -1 with a sentence in `err`.
 */
SQ_WUR int sq_store_open(const char *url, sq_store **out, char *err, size_t errlen);
void sq_store_close(sq_store *s);

/* The stream's compact number (the key messages and consumers carry) for a name; 0 with
 * `*num` set, -1 if there is no such stream or on error (`err` says which). */
SQ_WUR int sq_store_stream_num(sq_store *s, const char *name, int *num, char *err, size_t errlen);

/* One message of an upsert batch. Key and data are validated by the caller (keys.c, UTF-8). */
typedef struct sq_message_in {
    const char *key;
    size_t key_len;
    const char *data;
    size_t data_len;
} sq_message_in;

/*
 * Upserts 1..10,000 messages into stream `stream` atomically (SPEC 3): new keys are inserted,
 * changed data replaces the old and takes a new seq, unchanged data is a no-op, a key named
 * twice keeps its last occurrence. `*published` counts inserted and changed messages.
 */
SQ_WUR int sq_store_upsert(sq_store *s, int stream, const sq_message_in *msgs, size_t n,
                           long long *published, char *err, size_t errlen);

/*
 * Creates consumer `name` on `stream` with a validated filter; `max_deliver` 0 means no limit.
 * With `deliver_new` it gets only messages upserted after its creation (deliver_policy
 * "new"), otherwise the whole matching backlog too ("all"). Creation takes no lock that
 * writers wait for: the backlog is read by the consumer's own fills. Its id (a UUID, 36
 * characters and a NUL) goes to `id`.
 */
SQ_WUR int sq_store_consumer_create(sq_store *s, int stream, const char *name, const char *filter,
                                    int ack_wait_ms, int max_deliver, bool deliver_new, char id[37],
                                    char *err, size_t errlen);

/* A message handed out by sq_store_receive; `key` lives in the arena given to it. */
typedef struct sq_delivery {
    char ack_id[37];
    const char *key;
    long long seq;
    int deliver_count;
} sq_delivery;

/*
 * Leases up to `max` (1..1000) deliverable messages of consumer `consumer` (its id) in seq
 * order; `*count` of them are written to `out` (room for `max`), keys in `arena`.
 */
SQ_WUR int sq_store_receive(sq_store *s, const char *consumer, int max, sq_delivery *out,
                            int *count, sq_arena *arena, char *err, size_t errlen);

/* Acks the given ack ids (UUIDs, validated by the caller); unknown or already acked ids are
 * ignored (SPEC 3). */
SQ_WUR int sq_store_ack(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n,
                        char *err, size_t errlen);

/* Nack: the leases end now; each message is available again after `delay_ms`, or dead once
 * it has had max_deliver deliveries. Ids that hold no lease are ignored. */
SQ_WUR int sq_store_nack(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n,
                         int delay_ms, char *err, size_t errlen);

/* Extend: held leases run for another ack_wait from now; other ids are ignored. */
SQ_WUR int sq_store_extend(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n,
                           char *err, size_t errlen);

/* Redrive: dead messages become available with a fresh delivery count; `n` 0 redrives every
 * dead message of the consumer. `*redriven` counts them. */
SQ_WUR int sq_store_redrive(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n,
                            long long *redriven, char *err, size_t errlen);

/* Deletes message `key` from `stream` and from every consumer (its lease ends); `*deleted`
 * says whether it existed. */
SQ_WUR int sq_store_message_delete(sq_store *s, int stream, const char *key, int *deleted,
                                   char *err, size_t errlen);

#endif
