/* The store: the only module that speaks SQL. Migrations, streams, messages, consumers. */
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

/*
 * Results beyond SQ_OK / SQ_ERR: the request named something that does not exist, or
 * collides with what exists (a name taken, an edit of a consumer the config file owns). The
 * server answers 404 and 409 for them; SQ_ERR is PostgreSQL failing (503).
 */
#define SQ_STORE_NOT_FOUND (-3)
#define SQ_STORE_CONFLICT (-4)

/*
 * Objects the store hands back. Strings live in the arena the call was given and stay valid
 * until it is reset; timestamps are already in the API's form (ISO 8601 UTC, microseconds),
 * NULL when there is none.
 */
typedef struct sq_stream {
    char id[37];
    int num; /* the compact number messages and consumers carry */
    const char *name;
    long long message_count;
    long long consumer_count;
    long long storage_size; /* bytes; the stream's share of the messages table */
    const char *inserted_at;
    const char *updated_at;
} sq_stream;

typedef struct sq_message {
    const char *key;
    const char *stream_id;
    const char *data;
    size_t data_len;
    const char *data_hash; /* SHA-256 of data, 64 hex digits */
    long long seq;
    const char *inserted_at;
    const char *updated_at;
} sq_message;

/* A (consumer, message) pair: SPEC 4's "info". ack_id is NULL for a message the consumer has
 * not materialised yet (available, never delivered). `state` is one of "available",
 * "delivered", "pending_redelivery", "acked", "dead". */
typedef struct sq_pair_info {
    const char *ack_id;
    const char *state;
    int deliver_count;
    const char *last_delivered_at;
    const char *not_visible_until;
} sq_pair_info;

/* A consumer's editable settings. In edits, a field set to -1 is left unchanged; max_deliver
 * 0 means no limit. */
typedef struct sq_consumer_settings {
    int ack_wait_ms;
    int max_ack_pending;
    int max_deliver;
} sq_consumer_settings;

typedef struct sq_consumer {
    char id[37];
    const char *name;
    const char *stream_id;
    int stream_num;
    const char *filter;
    sq_consumer_settings settings;
    bool deliver_new;       /* deliver_policy "new" */
    bool managed_by_config; /* declared in the config file: the API may not edit it */
    long long available, delivered, dead;
    double oldest_available_age_s; /* -1 when nothing is available */
    const char *inserted_at;
    const char *updated_at;
} sq_consumer;

/* ---- streams ------------------------------------------------------------------------------ */

/* The stream's compact number for a name; 0 with `*num` set, SQ_STORE_NOT_FOUND, or SQ_ERR. */
SQ_WUR int sq_store_stream_num(sq_store *s, const char *name, int *num, char *err, size_t errlen);

/* Creates a stream (the name is validated by the caller) and returns it in `out`, strings in
 * `arena`. SQ_STORE_CONFLICT when the name is taken. */
SQ_WUR int sq_store_stream_create(sq_store *s, const char *name, sq_stream *out, sq_arena *arena,
                                  char *err, size_t errlen);

/* One stream by name or id, with its stats. SQ_STORE_NOT_FOUND when there is none. */
SQ_WUR int sq_store_stream_get(sq_store *s, const char *name_or_id, sq_stream *out, sq_arena *arena,
                               char *err, size_t errlen);

/* Every stream by name; `*out` is an array of `*count` in `arena`. */
SQ_WUR int sq_store_stream_list(sq_store *s, sq_stream **out, size_t *count, sq_arena *arena,
                                char *err, size_t errlen);

/* Deletes a stream with its messages and consumers; its id goes to `id`. */
SQ_WUR int sq_store_stream_delete(sq_store *s, const char *name_or_id, char id[37], char *err,
                                  size_t errlen);

/* ---- messages ----------------------------------------------------------------------------- */

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
 * Long polls are not woken from here: see sq_store_notify.
 */
SQ_WUR int sq_store_upsert(sq_store *s, int stream, const sq_message_in *msgs, size_t n,
                           long long *published, char *err, size_t errlen);

/*
 * Tells every listener (sequind workers on any node, LISTEN sequin_stream) that stream
 * `stream` has news; the payload is the stream's number. Separate from the upsert so the
 * server can coalesce: one notify per stream every few milliseconds, not one per write, since
 * NOTIFY serialises the transactions that send it.
 */
SQ_WUR int sq_store_notify(sq_store *s, int stream, char *err, size_t errlen);

/* Listing order and selection of sq_store_message_list. `filter` (a validated filter) or
 * NULL for every message; `limit` 1..10,000. */
typedef struct sq_message_query {
    const char *filter;
    bool newest_first;
    int limit;
} sq_message_query;

/* Messages of a stream in seq order (or newest first), narrowed by a filter through a key
 * range on the primary key where the filter has a literal head. */
SQ_WUR int sq_store_message_list(sq_store *s, int stream, const sq_message_query *q,
                                 sq_message **out, size_t *count, sq_arena *arena, char *err,
                                 size_t errlen);

/* One message by key; SQ_STORE_NOT_FOUND when there is none. */
SQ_WUR int sq_store_message_get(sq_store *s, int stream, const char *key, sq_message *out,
                                sq_arena *arena, char *err, size_t errlen);

/* The message and its state in every consumer whose filter matches it (by consumer name). */
typedef struct sq_consumer_pair {
    const char *consumer_id;
    const char *consumer_name;
    sq_pair_info info;
} sq_consumer_pair;
SQ_WUR int sq_store_message_info(sq_store *s, int stream, const char *key, sq_message *msg,
                                 sq_consumer_pair **out, size_t *count, sq_arena *arena, char *err,
                                 size_t errlen);

/* Deletes message `key` from `stream` and from every consumer (its lease ends); `*deleted`
 * says whether it existed. */
SQ_WUR int sq_store_message_delete(sq_store *s, int stream, const char *key, int *deleted,
                                   char *err, size_t errlen);

/* ---- consumers ---------------------------------------------------------------------------- */

/*
 * Creates consumer `name` on `stream` with a validated filter and complete settings. With
 * `deliver_new` it gets only messages upserted after its creation (deliver_policy "new"),
 * otherwise the whole matching backlog too ("all"). Creation takes no lock that writers wait
 * for: the backlog is read by the consumer's own fills. The new consumer goes to `out`.
 * SQ_STORE_CONFLICT when the name is taken in the stream.
 */
SQ_WUR int sq_store_consumer_create(sq_store *s, int stream, const char *name, const char *filter,
                                    const sq_consumer_settings *settings, bool deliver_new,
                                    sq_consumer *out, sq_arena *arena, char *err, size_t errlen);

/* One consumer of `stream` by name or id, with its stats. SQ_STORE_NOT_FOUND if none. */
SQ_WUR int sq_store_consumer_get(sq_store *s, int stream, const char *name_or_id, sq_consumer *out,
                                 sq_arena *arena, char *err, size_t errlen);

/* Every consumer of `stream` by name, with stats. */
SQ_WUR int sq_store_consumer_list(sq_store *s, int stream, sq_consumer **out, size_t *count,
                                  sq_arena *arena, char *err, size_t errlen);

/* Changes the settings that are not -1 and returns the consumer as it is now. A consumer the
 * config file declares is refused with SQ_STORE_CONFLICT unless `as_config` (the reconcile
 * of the config itself). */
SQ_WUR int sq_store_consumer_edit(sq_store *s, int stream, const char *name_or_id,
                                  const sq_consumer_settings *changes, bool as_config,
                                  sq_consumer *out, sq_arena *arena, char *err, size_t errlen);

/* Deletes a consumer and its delivery state; its id goes to `id`. Refused like an edit. */
SQ_WUR int sq_store_consumer_delete(sq_store *s, int stream, const char *name_or_id, bool as_config,
                                    char id[37], char *err, size_t errlen);

/* A message handed out by sq_store_receive. */
typedef struct sq_delivery {
    char ack_id[37];
    int deliver_count;
    sq_message message;
} sq_delivery;

/*
 * Leases up to `max` (1..1000) deliverable messages of consumer `consumer` (its id) in seq
 * order, never letting the consumer hold more than max_ack_pending; `*count` of them are
 * written to `out` (room for `max`), strings in `arena`. An unknown consumer gets none.
 */
SQ_WUR int sq_store_receive(sq_store *s, const char *consumer, int max, sq_delivery *out,
                            int *count, sq_arena *arena, char *err, size_t errlen);

/* A consumer's unsettled messages in seq order: `state` "available", "delivered", "dead" or
 * NULL for all; `filter` NULL or a validated filter; `limit` 1..10,000 (peek). */
typedef struct sq_consumer_message {
    sq_message message;
    sq_pair_info info;
} sq_consumer_message;
SQ_WUR int sq_store_consumer_messages(sq_store *s, const char *consumer, const char *state,
                                      const char *filter, int limit, sq_consumer_message **out,
                                      size_t *count, sq_arena *arena, char *err, size_t errlen);

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

#endif
