/* The store: the only module that speaks SQL. Migrations, streams, messages, consumers. */
#ifndef SEQUIN_STORE_H
#define SEQUIN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sequin/buf.h"
#include "sequin/common.h"

/* ---- the schema ------------------------------------------------------------------------- */

/*
 * One schema change: `version` numbers start at 1 and increase by one; `sql` runs inside the
 * migration transaction (several statements are fine) and may assume schema "sequin" exists.
 * Migrations hold tables, indexes and settings, and the DROP FUNCTION a function's change of
 * signature needs; once released, a migration never changes.
 */
typedef struct sq_migration {
    int version;
    const char *name;
    const char *sql;
} sq_migration;

/* One SQL function, `name` its file's name: `sql` creates it with CREATE OR REPLACE, so it
 * can run again whenever its text changes (a function's body is code, not data). */
typedef struct sq_function {
    const char *name;
    const char *sql;
} sq_function;

/* A schema: the migrations in version order, and the function files applied after them. */
typedef struct sq_schema {
    const sq_migration *migrations;
    size_t n_migrations;
    const sq_function *functions;
    size_t n_functions;
} sq_schema;

/* The schema this binary carries, compiled in from src/store/migrations/NNNN_name.sql and
 * src/store/functions/name.sql; static storage. */
const sq_schema *sq_store_schema(void);

/*
 * Connects to `url` (waiting; connect_timeout applies) and brings the database's schema up to
 * `schema` (normally sq_store_schema()): the migrations it lacks, then every function file
 * whose text differs from the one last applied there (all of them when a migration ran).
 * Everything happens in one transaction under a transaction-scoped advisory lock, so any
 * number of nodes may call this at once: one applies what is missing, the others wait and
 * then find nothing to do. What was applied is recorded in sequin.schema_migrations and
 * sequin.schema_functions (a function file's SHA-256).
 *
 * Returns the number of migrations applied (0 when up to date), with the number of function
 * files applied in `*functions` (may be NULL); or -1 with a sentence in `err`
 * (NUL-terminated, at most `errlen` bytes) and the database unchanged: when PostgreSQL cannot
 * be reached ("cannot connect to PostgreSQL: ..."), when the database's schema is newer than
 * `schema` knows (this binary is older than the data it would serve), when the list itself
 * is malformed, or when PostgreSQL fails.
 */
SQ_WUR int sq_store_migrate(const char *url, const sq_schema *schema, int *functions, char *err,
                            size_t errlen);

/* ---- a connection and its prepared statements ---------------------------------------- */

/* One connection to PostgreSQL with every statement of the store prepared on it. Open them
 * after fork, in the process that uses them; not for use from two threads at once. */
typedef struct sq_store sq_store;

/*
 * Connects to `url` (libpq syntax; "" uses the PG* environment) and prepares the statements,
 * waiting for both (connect_timeout in `url` applies). The schema must be migrated already.
 * Returns 0 with `*out` set (close with sq_store_close), or -1 with a sentence in `err`.
 */
SQ_WUR int sq_store_open(const char *url, sq_store **out, char *err, size_t errlen);

/*
 * A store for `url` that is not connected yet (sq_store_dead is true): connect it without
 * waiting with sq_store_begin_reconnect. 0 with `*out` set, or -1 (out of memory).
 */
SQ_WUR int sq_store_new(const char *url, sq_store **out, char *err, size_t errlen);

/* Closes the connection, dropping a call in flight; NULL is a no-op. */
void sq_store_close(sq_store *s);

/*
 * ---- calls without waiting ----
 *
 * Every call below has a synchronous form (the function without begin/finish) and the same
 * call in two halves, for an event loop that must never wait on PostgreSQL:
 *
 *   sq_store_begin_<op>(s, inputs..., err, errlen)
 *       sends the call's first statement and returns at once: SQ_OK, or SQ_ERR with `err` set
 *       when a call is already in flight on `s`, the connection is dead, an input is refused
 *       (a batch too large, an ack id that is not a UUID) or the send fails. It copies what it
 *       keeps: the inputs may be freed when it returns.
 *   sq_store_poll(s, &want_write)
 *       whenever sq_store_socket(s) is readable (or writable, while `want_write`): SQ_AGAIN
 *       until the call is over.
 *   sq_store_finish_<op>(s, outputs..., arena, err, errlen)
 *       once poll said the call is over: the outputs and return codes of the synchronous form.
 *       Calls without outputs (notify, ack, nack, extend, listen, reconnect) end with
 *       sq_store_finish.
 *
 * The synchronous form is exactly begin, waiting in poll(2), finish: one implementation.
 * One call at a time per connection, and one statement at a time within it (no pipelining
 * yet): a begin before the previous call's finish is refused. Some calls take several
 * statements (stream and consumer create, consumer edit and delete, message info); poll sends
 * each next one itself, so the caller sees one call, but each statement commits on its own, as
 * in the synchronous form. The store never gives up on a statement by itself: a caller's
 * timeout drops a call with sq_store_begin_reconnect, though PostgreSQL may still complete the
 * statement (statement_timeout in the URL's options bounds it server-side).
 */

/* The connection's socket for epoll; -1 when there is none. It changes on
 * sq_store_begin_reconnect and may change during that call's polls (libpq tries each address
 * of the URL): re-read it after each of them. */
int sq_store_socket(const sq_store *s);

/* True when the connection is broken or not made: every begin but
 * sq_store_begin_reconnect fails until a reconnect succeeds. A backend that went away while
 * idle is noticed when its socket turns readable and sq_store_poll runs. */
bool sq_store_dead(const sq_store *s);

/* True from a begin until its finish. */
bool sq_store_busy(const sq_store *s);

/*
 * Moves the call in flight on: reads what the socket holds, sends what libpq still holds, and
 * sends a call's next statement. Never waits, and may be called at any time (call it once
 * right after a begin to learn what to wait for). `*want_write` says to wait for the socket
 * to be writable as well as readable.
 *
 * SQ_AGAIN: the call goes on (or there is none; pending notifications have been read).
 * SQ_OK: the call is over; its finish is due, and says whether it succeeded.
 * SQ_ERR: the connection is broken (sq_store_dead). A call in flight is over: its finish
 * returns SQ_ERR with the reason.
 */
SQ_WUR int sq_store_poll(sq_store *s, bool *want_write);

/*
 * Ends the call that is over, whatever it was, and returns its outcome (its outputs are
 * dropped): the finish of calls without outputs, and how to end a call whose result no longer
 * matters. Finishing before poll said the call is over, or with the finish of another call, is
 * SQ_ERR and leaves the call as it was.
 */
SQ_WUR int sq_store_finish(sq_store *s, char *err, size_t errlen);

/*
 * Starts connecting afresh: closes the old connection (remove its socket from epoll first),
 * drops a call in flight, opens a new one, prepares every statement and, if the store was
 * listening, listens again. Poll it like any call; end it with sq_store_finish: SQ_OK and the
 * store is usable again, or SQ_ERR with the reason (try again later). connect_timeout does not
 * apply here: the caller bounds the attempt (another reconnect or sq_store_close ends it).
 * libpq may resolve a host name in `url` before returning (a blocking DNS lookup): give
 * hostaddr to avoid it. Notifications sent while the connection was down are lost: treat a
 * reconnect as news on every stream.
 */
SQ_WUR int sq_store_begin_reconnect(sq_store *s, char *err, size_t errlen);

/*
 * LISTEN sequin_stream: end it with sq_store_finish. From then on, sq_store_poll collects the
 * notifications sq_store_notify sends (from any connection, including this one) while idle or
 * during calls, and sq_store_next_notify hands them out.
 */
SQ_WUR int sq_store_begin_listen(sq_store *s, char *err, size_t errlen);
SQ_WUR int sq_store_listen(sq_store *s, char *err, size_t errlen);

/* SQ_OK with `*stream` set to the stream number of the next pending notification, or SQ_AGAIN
 * when none is pending. Reads nothing from the socket itself: call it after sq_store_poll. */
SQ_WUR int sq_store_next_notify(sq_store *s, int *stream);

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

/*
 * A push consumer's own settings (issue 15, docs/api.md "Push consumers"); all zero for a pull
 * consumer. At creation, `http_endpoint` NULL makes a pull consumer and a push consumer's ints
 * left 0 take their defaults (sequin/push_rules.h); in edits, NULL and 0 leave a field
 * unchanged. `http_endpoint` is JSON as sq_push_rules_write_endpoint writes it: at creation
 * the whole endpoint; in an edit the members to change, the others kept ("headers" replaces
 * every header; null removes the headers or the signing secret).
 */
typedef struct sq_push_settings {
    const char *http_endpoint;
    int max_waiting; /* never above max_ack_pending: a larger one is lowered to it */
    int backoff_base_ms;
    int backoff_max_ms; /* at least backoff_base_ms */
} sq_push_settings;

/* A consumer's editable settings. In edits, a field set to -1 is left unchanged; max_deliver
 * 0 means no limit. */
typedef struct sq_consumer_settings {
    int ack_wait_ms;
    int max_ack_pending;
    int max_deliver;
    sq_push_settings push; /* read back from the store: the ints, http_endpoint NULL */
} sq_consumer_settings;

/* Where a push consumer's messages go, as the store hands it out (strings in the call's
 * arena); all NULL for a pull consumer. */
typedef struct sq_push_endpoint {
    const char *url;
    const char **headers; /* "Name: value", by name */
    size_t n_headers;
    const char *signing_secret; /* NULL when none; never shown by the API */
} sq_push_endpoint;

typedef struct sq_consumer {
    char id[37];
    const char *name;
    const char *stream_id;
    int stream_num;
    const char *filter;
    sq_consumer_settings settings;
    bool deliver_new;       /* deliver_policy "new" */
    bool managed_by_config; /* declared in the config file: the API may not edit it */
    bool push;              /* kind "push" (else "pull"), fixed at creation */
    sq_push_endpoint endpoint;
    long long available, delivered, dead;
    double oldest_available_age_s; /* -1 when nothing is available */
    const char *inserted_at;
    const char *updated_at;
} sq_consumer;

/* ---- streams ------------------------------------------------------------------------------ */

/* The stream's compact number for a name; 0 with `*num` set, SQ_STORE_NOT_FOUND, or SQ_ERR. */
SQ_WUR int sq_store_stream_num(sq_store *s, const char *name, int *num, char *err, size_t errlen);
SQ_WUR int sq_store_begin_stream_num(sq_store *s, const char *name, char *err, size_t errlen);
SQ_WUR int sq_store_finish_stream_num(sq_store *s, int *num, char *err, size_t errlen);

/* Creates a stream (the name is validated by the caller) and returns it in `out`, strings in
 * `arena`. SQ_STORE_CONFLICT when the name is taken. */
SQ_WUR int sq_store_stream_create(sq_store *s, const char *name, sq_stream *out, sq_arena *arena,
                                  char *err, size_t errlen);
SQ_WUR int sq_store_begin_stream_create(sq_store *s, const char *name, char *err, size_t errlen);
SQ_WUR int sq_store_finish_stream_create(sq_store *s, sq_stream *out, sq_arena *arena, char *err,
                                         size_t errlen);

/* One stream by name or id, with its stats. SQ_STORE_NOT_FOUND when there is none. */
SQ_WUR int sq_store_stream_get(sq_store *s, const char *name_or_id, sq_stream *out, sq_arena *arena,
                               char *err, size_t errlen);
SQ_WUR int sq_store_begin_stream_get(sq_store *s, const char *name_or_id, char *err, size_t errlen);
SQ_WUR int sq_store_finish_stream_get(sq_store *s, sq_stream *out, sq_arena *arena, char *err,
                                      size_t errlen);

/* Every stream by name; `*out` is an array of `*count` in `arena`. */
SQ_WUR int sq_store_stream_list(sq_store *s, sq_stream **out, size_t *count, sq_arena *arena,
                                char *err, size_t errlen);
SQ_WUR int sq_store_begin_stream_list(sq_store *s, char *err, size_t errlen);
SQ_WUR int sq_store_finish_stream_list(sq_store *s, sq_stream **out, size_t *count, sq_arena *arena,
                                       char *err, size_t errlen);

/* Deletes a stream with its messages and consumers; its id goes to `id`. */
SQ_WUR int sq_store_stream_delete(sq_store *s, const char *name_or_id, char id[37], char *err,
                                  size_t errlen);
SQ_WUR int sq_store_begin_stream_delete(sq_store *s, const char *name_or_id, char *err,
                                        size_t errlen);
SQ_WUR int sq_store_finish_stream_delete(sq_store *s, char id[37], char *err, size_t errlen);

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
 * SQ_STORE_NOT_FOUND when stream `stream` does not exist (any more).
 * Long polls are not woken from here: see sq_store_notify.
 */
SQ_WUR int sq_store_upsert(sq_store *s, int stream, const sq_message_in *msgs, size_t n,
                           long long *published, char *err, size_t errlen);
SQ_WUR int sq_store_begin_upsert(sq_store *s, int stream, const sq_message_in *msgs, size_t n,
                                 char *err, size_t errlen);
SQ_WUR int sq_store_finish_upsert(sq_store *s, long long *published, char *err, size_t errlen);

/*
 * Group commit: the upserts of several requests to stream `stream` in one transaction.
 * Message i comes from request groups[i] (0..n_groups-1); no key may come from two requests.
 * Each request's messages are treated as sq_store_upsert treats a batch, and
 * `published[g]` (room for n_groups) counts request g's inserted and changed messages. All
 * of it is stored, or none.
 */
SQ_WUR int sq_store_begin_upsert_grouped(sq_store *s, int stream, const sq_message_in *msgs,
                                         size_t n, const int *groups, char *err, size_t errlen);
SQ_WUR int sq_store_finish_upsert_grouped(sq_store *s, long long *published, size_t n_groups,
                                          char *err, size_t errlen);

/*
 * Tells every listener (sequind workers on any node, LISTEN sequin_stream) that stream
 * `stream` has news; the payload is the stream's number. Separate from the upsert so the
 * server can coalesce: one notify per stream every few milliseconds, not one per write, since
 * NOTIFY serialises the transactions that send it.
 */
SQ_WUR int sq_store_notify(sq_store *s, int stream, char *err, size_t errlen);
SQ_WUR int sq_store_begin_notify(sq_store *s, int stream, char *err, size_t errlen);

/* Listing order and selection of sq_store_message_list. `filter` (a validated filter) or
 * NULL for every message; `limit` 1..10,000. */
typedef struct sq_message_query {
    const char *filter;
    bool newest_first;
    int limit;
} sq_message_query;

/* Messages of a stream in seq order (or newest first), narrowed by a filter through a key
 * range on the primary key where the filter has a literal head. SQ_STORE_NOT_FOUND when
 * stream `stream` does not exist (any more): an empty list says it does. */
SQ_WUR int sq_store_message_list(sq_store *s, int stream, const sq_message_query *q,
                                 sq_message **out, size_t *count, sq_arena *arena, char *err,
                                 size_t errlen);
SQ_WUR int sq_store_begin_message_list(sq_store *s, int stream, const sq_message_query *q,
                                       char *err, size_t errlen);
SQ_WUR int sq_store_finish_message_list(sq_store *s, sq_message **out, size_t *count,
                                        sq_arena *arena, char *err, size_t errlen);

/* One message by key; SQ_STORE_NOT_FOUND when there is none. */
SQ_WUR int sq_store_message_get(sq_store *s, int stream, const char *key, sq_message *out,
                                sq_arena *arena, char *err, size_t errlen);
SQ_WUR int sq_store_begin_message_get(sq_store *s, int stream, const char *key, char *err,
                                      size_t errlen);
SQ_WUR int sq_store_finish_message_get(sq_store *s, sq_message *out, sq_arena *arena, char *err,
                                       size_t errlen);

/* The message and its state in every consumer whose filter matches it (by consumer name). */
typedef struct sq_consumer_pair {
    const char *consumer_id;
    const char *consumer_name;
    sq_pair_info info;
} sq_consumer_pair;
SQ_WUR int sq_store_message_info(sq_store *s, int stream, const char *key, sq_message *msg,
                                 sq_consumer_pair **out, size_t *count, sq_arena *arena, char *err,
                                 size_t errlen);
SQ_WUR int sq_store_begin_message_info(sq_store *s, int stream, const char *key, char *err,
                                       size_t errlen);
SQ_WUR int sq_store_finish_message_info(sq_store *s, sq_message *msg, sq_consumer_pair **out,
                                        size_t *count, sq_arena *arena, char *err, size_t errlen);

/* Deletes message `key` from `stream` and from every consumer (its lease ends); `*deleted`
 * says whether it existed. */
SQ_WUR int sq_store_message_delete(sq_store *s, int stream, const char *key, int *deleted,
                                   char *err, size_t errlen);
SQ_WUR int sq_store_begin_message_delete(sq_store *s, int stream, const char *key, char *err,
                                         size_t errlen);
SQ_WUR int sq_store_finish_message_delete(sq_store *s, int *deleted, char *err, size_t errlen);

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
SQ_WUR int sq_store_begin_consumer_create(sq_store *s, int stream, const char *name,
                                          const char *filter, const sq_consumer_settings *settings,
                                          bool deliver_new, char *err, size_t errlen);
SQ_WUR int sq_store_finish_consumer_create(sq_store *s, sq_consumer *out, sq_arena *arena,
                                           char *err, size_t errlen);

/* One consumer of `stream` by name or id, with its stats. SQ_STORE_NOT_FOUND if none. */
SQ_WUR int sq_store_consumer_get(sq_store *s, int stream, const char *name_or_id, sq_consumer *out,
                                 sq_arena *arena, char *err, size_t errlen);
SQ_WUR int sq_store_begin_consumer_get(sq_store *s, int stream, const char *name_or_id, char *err,
                                       size_t errlen);
SQ_WUR int sq_store_finish_consumer_get(sq_store *s, sq_consumer *out, sq_arena *arena, char *err,
                                        size_t errlen);

/* A stream (name or id) and one of its consumers (name or id) in one statement, without
 * stats: the stream's number, and the consumer's id or "" when the stream has no such
 * consumer. SQ_STORE_NOT_FOUND when there is no such stream. */
SQ_WUR int sq_store_resolve(sq_store *s, const char *stream, const char *consumer, int *stream_num,
                            char consumer_id[37], char *err, size_t errlen);
SQ_WUR int sq_store_begin_resolve(sq_store *s, const char *stream, const char *consumer, char *err,
                                  size_t errlen);
SQ_WUR int sq_store_finish_resolve(sq_store *s, int *stream_num, char consumer_id[37], char *err,
                                   size_t errlen);

/* Every consumer of `stream` by name, with stats; SQ_STORE_NOT_FOUND when the stream does not
 * exist (any more). */
SQ_WUR int sq_store_consumer_list(sq_store *s, int stream, sq_consumer **out, size_t *count,
                                  sq_arena *arena, char *err, size_t errlen);
SQ_WUR int sq_store_begin_consumer_list(sq_store *s, int stream, char *err, size_t errlen);
SQ_WUR int sq_store_finish_consumer_list(sq_store *s, sq_consumer **out, size_t *count,
                                         sq_arena *arena, char *err, size_t errlen);

/* Every consumer of every stream, by stream number then name, with stats (the metrics page). */
SQ_WUR int sq_store_begin_consumer_list_all(sq_store *s, char *err, size_t errlen);
SQ_WUR int sq_store_finish_consumer_list_all(sq_store *s, sq_consumer **out, size_t *count,
                                             sq_arena *arena, char *err, size_t errlen);

/* Changes the settings that are not -1 (push settings: not NULL or 0) and returns the
 * consumer as it is now. A consumer the config file declares is refused with
 * SQ_STORE_CONFLICT unless `as_config` (the reconcile of the config itself); so are push
 * settings for a pull consumer, a max_waiting above the max_ack_pending the consumer would
 * have (a stored one is lowered to a lowered max_ack_pending instead) and a backoff_base_ms
 * above the backoff_max_ms it would have, with the reason in `err`. */
SQ_WUR int sq_store_consumer_edit(sq_store *s, int stream, const char *name_or_id,
                                  const sq_consumer_settings *changes, bool as_config,
                                  sq_consumer *out, sq_arena *arena, char *err, size_t errlen);
SQ_WUR int sq_store_begin_consumer_edit(sq_store *s, int stream, const char *name_or_id,
                                        const sq_consumer_settings *changes, bool as_config,
                                        char *err, size_t errlen);
SQ_WUR int sq_store_finish_consumer_edit(sq_store *s, sq_consumer *out, sq_arena *arena, char *err,
                                         size_t errlen);

/* Deletes a consumer and its delivery state; its id goes to `id`. Refused like an edit. */
SQ_WUR int sq_store_consumer_delete(sq_store *s, int stream, const char *name_or_id, bool as_config,
                                    char id[37], char *err, size_t errlen);
SQ_WUR int sq_store_begin_consumer_delete(sq_store *s, int stream, const char *name_or_id,
                                          bool as_config, char *err, size_t errlen);
SQ_WUR int sq_store_finish_consumer_delete(sq_store *s, char id[37], char *err, size_t errlen);

/* ---- push consumers (issue 15) ------------------------------------------------------------ */

/*
 * Every push consumer of every stream, by stream number then name, with its stream, filter,
 * settings and endpoint (the signing secret too) but no stats (0, and -1 for the oldest age):
 * what the pushing process delivers to. `*out` is an array of `*count` in `arena`.
 */
SQ_WUR int sq_store_push_consumers(sq_store *s, sq_consumer **out, size_t *count, sq_arena *arena,
                                   char *err, size_t errlen);
SQ_WUR int sq_store_begin_push_consumers(sq_store *s, char *err, size_t errlen);
SQ_WUR int sq_store_finish_push_consumers(sq_store *s, sq_consumer **out, size_t *count,
                                          sq_arena *arena, char *err, size_t errlen);

/* ---- declared consumers ------------------------------------------------------------------- */

/* A consumer the config file declares (SPEC 5), for sq_store_reconcile. */
typedef struct sq_declared_consumer {
    const char *stream;            /* the stream's name; the stream must exist */
    const char *name;              /* [a-zA-Z0-9_]{1,64} */
    const char *filter;            /* validated (sq_filter_validate) */
    sq_consumer_settings settings; /* complete: no -1; max_deliver 0 is no limit; push:
                                    * http_endpoint NULL for a pull consumer, else the whole
                                    * endpoint and every int set */
    bool deliver_new;              /* deliver_policy "new" */
} sq_declared_consumer;

/* What the reconcile did to one consumer. */
typedef enum sq_reconcile_action {
    SQ_RECONCILE_CREATED,   /* declared, did not exist: created, managed_by "config" */
    SQ_RECONCILE_UPDATED,   /* declared, the file's already: numeric or push settings changed */
    SQ_RECONCILE_UNCHANGED, /* declared, the file's already, same settings */
    SQ_RECONCILE_ADOPTED,   /* declared, was an API consumer with the same filter and
                             * deliver_policy: now the file's, with the declared settings */
    SQ_RECONCILE_RELEASED,  /* the file's but no longer declared: kept, managed_by "api" */
    SQ_RECONCILE_DELETED,   /* a source, the file's but no longer declared: deleted */
} sq_reconcile_action;

typedef struct sq_reconcile_change {
    sq_reconcile_action action;
    const char *stream;
    const char *name;
    char id[37];
    long declared;               /* index into the declarations; -1 for a released consumer */
    sq_consumer_settings before; /* the settings it had; all -1 for a created consumer */
} sq_reconcile_change;

/*
 * Makes `declared` (n of them, n may be 0) exactly the set of consumers the config file
 * manages, in one transaction: each is created, updated, adopted or left unchanged, and every
 * other consumer managed by the config (in any stream) is released to the API. Creation is
 * the same as sq_store_consumer_create's. Reconciles on any number of connections or nodes
 * queue on an advisory lock and apply one after the other.
 *
 * SQ_OK with `*out` an array of `*count` changes in `arena` (the declared ones in their order,
 * then the released ones by stream and name), `*refused` -1. Otherwise nothing changed and
 * `err` says why: SQ_STORE_CONFLICT when a declaration would change the filter or
 * deliver_policy or kind of an existing consumer (or take over an API consumer whose differ),
 * SQ_STORE_NOT_FOUND when a declaration names a stream that does not exist, with `*refused`
 * the index of that declaration; SQ_ERR when PostgreSQL fails (`*refused` -1).
 */
SQ_WUR int sq_store_reconcile(sq_store *s, const sq_declared_consumer *declared, size_t n,
                              sq_reconcile_change **out, size_t *count, long *refused,
                              sq_arena *arena, char *err, size_t errlen);
SQ_WUR int sq_store_begin_reconcile(sq_store *s, const sq_declared_consumer *declared, size_t n,
                                    char *err, size_t errlen);
SQ_WUR int sq_store_finish_reconcile(sq_store *s, sq_reconcile_change **out, size_t *count,
                                     long *refused, sq_arena *arena, char *err, size_t errlen);

/* "created", "updated", "unchanged", "adopted", "released", "deleted": static strings. */
const char *sq_reconcile_action_name(sq_reconcile_action action);

/* ---- declared sources ---------------------------------------------------------------------- */

/* A source the config file declares (SPEC 8), for sq_store_reconcile_sources. */
typedef struct sq_declared_source {
    const char *name;     /* [a-zA-Z0-9_]{1,64} */
    const char *stream;   /* the stream's name; the stream must exist */
    const char *settings; /* the settings JSON as sq_source_settings_write (a webhook's:
                           * sq_webhook_settings_write) writes it (checked) */
    const char *kind;     /* "postgres" or "webhook" */
} sq_declared_source;

/* What the reconcile did to one source. */
typedef struct sq_source_change {
    sq_reconcile_action action; /* CREATED, UPDATED, UNCHANGED, ADOPTED or DELETED */
    const char *name;
    char id[37];
    long declared;           /* index into the declarations; -1 for a deleted source */
    const char *changes;     /* updated or adopted: what differed, "key_format \"basic\" ->
                              * \"with_operation\", stream \"a\" -> \"b\"" (the url by name alone:
                              * it may hold a password); NULL when nothing did */
    const char *slot;        /* its settings' slot and publication: for a deleted source, what */
    const char *publication; /* stays in the source database */
} sq_source_change;

/*
 * Makes `declared` (n of them, n may be 0) exactly the set of sources the config file
 * manages (managed_by "config"), in one transaction (or in the caller's, inside
 * sq_store_transaction), under the declared consumers' advisory lock: each is created, updated
 * (settings or stream changed: the sources process restarts it), adopted (an API source of
 * that name) or left unchanged, and every other source the config manages is deleted (its
 * replication slot and publication stay in the source database).
 *
 * SQ_OK with `*out` an array of `*count` changes in `arena` (the declared ones in their order,
 * then the deleted ones by name), `*refused` -1. Otherwise nothing changed and `err` says why:
 * SQ_STORE_NOT_FOUND when a declaration names a stream that does not exist, with `*refused`
 * the index of that declaration; SQ_ERR when PostgreSQL fails (`*refused` -1).
 */
SQ_WUR int sq_store_reconcile_sources(sq_store *s, const sq_declared_source *declared, size_t n,
                                      sq_source_change **out, size_t *count, long *refused,
                                      sq_arena *arena, char *err, size_t errlen);

/* A message handed out by sq_store_receive. */
typedef struct sq_delivery {
    char ack_id[37];
    int deliver_count;
    sq_message message;
} sq_delivery;

/*
 * Leases up to `max` (1..1000) deliverable messages of consumer `consumer` (its id) in seq
 * order, never letting the consumer hold more than max_ack_pending; `*count` of them are
 * written to `out` (room for `max`), strings in `arena`. SQ_STORE_NOT_FOUND for a consumer that
 * does not exist (any more).
 */
SQ_WUR int sq_store_receive(sq_store *s, const char *consumer, int max, sq_delivery *out,
                            int *count, sq_arena *arena, char *err, size_t errlen);
/* `out` in the finish has room for the `max` given to the begin. */
SQ_WUR int sq_store_begin_receive(sq_store *s, const char *consumer, int max, char *err,
                                  size_t errlen);
SQ_WUR int sq_store_finish_receive(sq_store *s, sq_delivery *out, int *count, sq_arena *arena,
                                   char *err, size_t errlen);

/* How long until one of the consumer's messages turns deliverable by the clock alone (a lease
 * runs out, a nack's delay ends): `*ms` from now by the database's clock, 0 when one already
 * has, -1 when none is waiting. A long poll that found nothing sleeps that long at most. */
SQ_WUR int sq_store_next_visible(sq_store *s, const char *consumer, long long *ms, char *err,
                                 size_t errlen);
SQ_WUR int sq_store_begin_next_visible(sq_store *s, const char *consumer, char *err, size_t errlen);
SQ_WUR int sq_store_finish_next_visible(sq_store *s, long long *ms, char *err, size_t errlen);

/* A consumer's unsettled messages in seq order: `state` "available", "delivered", "dead" or
 * NULL for all; `filter` NULL or a validated filter; `limit` 1..10,000 (peek).
 * SQ_STORE_NOT_FOUND when the consumer does not exist (any more). */
typedef struct sq_consumer_message {
    sq_message message;
    sq_pair_info info;
} sq_consumer_message;
SQ_WUR int sq_store_consumer_messages(sq_store *s, const char *consumer, const char *state,
                                      const char *filter, int limit, sq_consumer_message **out,
                                      size_t *count, sq_arena *arena, char *err, size_t errlen);
SQ_WUR int sq_store_begin_consumer_messages(sq_store *s, const char *consumer, const char *state,
                                            const char *filter, int limit, char *err,
                                            size_t errlen);
SQ_WUR int sq_store_finish_consumer_messages(sq_store *s, sq_consumer_message **out, size_t *count,
                                             sq_arena *arena, char *err, size_t errlen);

/*
 * Ack, nack, extend and redrive below name a consumer by id: SQ_STORE_NOT_FOUND when it does
 * not exist (any more), so that a caller holding the id from before a delete learns of it.
 */

/* Acks the given ack ids (UUIDs, validated by the caller); unknown or already acked ids are
 * ignored (SPEC 3). */
SQ_WUR int sq_store_ack(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n,
                        char *err, size_t errlen);
SQ_WUR int sq_store_begin_ack(sq_store *s, const char *consumer, const char *const *ack_ids,
                              size_t n, char *err, size_t errlen);

/* Nack: the leases end now; each message is available again after `delay_ms`, or dead once
 * it has had max_deliver deliveries. Ids that hold no lease are ignored. */
SQ_WUR int sq_store_nack(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n,
                         int delay_ms, char *err, size_t errlen);
SQ_WUR int sq_store_begin_nack(sq_store *s, const char *consumer, const char *const *ack_ids,
                               size_t n, int delay_ms, char *err, size_t errlen);

/* Extend: held leases run for another ack_wait from now; other ids are ignored. */
SQ_WUR int sq_store_extend(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n,
                           char *err, size_t errlen);
SQ_WUR int sq_store_begin_extend(sq_store *s, const char *consumer, const char *const *ack_ids,
                                 size_t n, char *err, size_t errlen);

/* Redrive: dead messages become available with a fresh delivery count; `n` 0 redrives every
 * dead message of the consumer. `*redriven` counts them. */
SQ_WUR int sq_store_redrive(sq_store *s, const char *consumer, const char *const *ack_ids, size_t n,
                            long long *redriven, char *err, size_t errlen);
SQ_WUR int sq_store_begin_redrive(sq_store *s, const char *consumer, const char *const *ack_ids,
                                  size_t n, char *err, size_t errlen);
SQ_WUR int sq_store_finish_redrive(sq_store *s, long long *redriven, char *err, size_t errlen);

/* ---- sources (SPEC 8, docs/sources.md) ----------------------------------------------------- */

/* A source as the store holds it; strings in the call's arena. */
typedef struct sq_source_row {
    const char *id;
    int num;    /* its advisory lock's number */
    int stream; /* the number of the stream it writes into */
    const char *name;
    const char *kind;     /* "postgres" or "webhook" */
    const char *settings; /* the kind's settings, JSON */
    const char *managed_by;
} sq_source_row;

/* Every source, by name. */
SQ_WUR int sq_store_source_list(sq_store *s, sq_source_row **out, size_t *count, sq_arena *arena,
                                char *err, size_t errlen);

/*
 * Tries to take source `num`'s lock for this connection's session (pg_try_advisory_lock): the
 * one node that streams it holds it until its connection ends. `*got` says whether it did.
 */
SQ_WUR int sq_store_source_lock(sq_store *s, int num, bool *got, char *err, size_t errlen);

/* The commit position of the last source transaction the stream has (0 before the first).
 * SQ_STORE_NOT_FOUND when the source is gone. */
SQ_WUR int sq_store_source_applied(sq_store *s, int num, uint64_t *lsn, char *err, size_t errlen);

/*
 * Upserts messages of source `num` into its stream as sq_store_upsert does (any count, 0 too),
 * and with `lsn` (not 0) moves the source's position there in the same transaction; a position
 * at or below the stored one is SQ_STORE_CONFLICT and nothing is written. Inside a transaction
 * opened with sq_store_transaction, only its commit makes any of it last.
 */
SQ_WUR int sq_store_source_apply(sq_store *s, int num, uint64_t lsn, const sq_message_in *msgs,
                                 size_t n, long long *published, char *err, size_t errlen);
/* The same in two halves (see "calls without waiting"), so that one thread can keep calls in
 * flight on several connections: a backfill page goes in on several at once. */
SQ_WUR int sq_store_begin_source_apply(sq_store *s, int num, uint64_t lsn,
                                       const sq_message_in *msgs, size_t n, char *err,
                                       size_t errlen);
SQ_WUR int sq_store_finish_source_apply(sq_store *s, long long *published, char *err,
                                        size_t errlen);
/* A batch encoded ahead of its call (keys, data and each data's SHA-256, the CPU of a begin),
 * so that a caller can encode the next batch while calls are in flight. Free with
 * sq_encoded_batch_free (NULL-safe). */
typedef struct sq_encoded_batch sq_encoded_batch;
SQ_WUR int sq_store_encode_batch(const sq_message_in *msgs, size_t n, sq_encoded_batch **out,
                                 char *err, size_t errlen);
void sq_encoded_batch_free(sq_encoded_batch *b);
SQ_WUR int sq_store_begin_source_apply_encoded(sq_store *s, int num, uint64_t lsn,
                                               const sq_encoded_batch *b, char *err, size_t errlen);

/* What the process running a source reports about it (sequin.source_status). */
typedef struct sq_source_report {
    int source;
    const char *state;
    const char *error; /* NULL when none */
    uint64_t received_lsn, applied_lsn;
    int64_t last_commit_time_us; /* PostgreSQL epoch; 0 when none yet */
    long long lag_bytes;         /* the source database's WAL ahead of the slot; -1 unknown */
    long long rows;              /* messages written since the process started the source */
    long long errors;            /* failed attempts since the process started the source */
    long long attempts;          /* attempts that took the lock, since then: all but the first are
                                  * reconnects */
} sq_source_report;
SQ_WUR int sq_store_source_report(sq_store *s, const sq_source_report *r, char *err, size_t errlen);

/* The backfill of one table of a source (sequin.source_backfills). */
typedef struct sq_backfill_row {
    const char *table;     /* "schema.table" */
    const char **last_key; /* the key of the last row in the stream, one text per key column;
                            * NULL before the first page */
    size_t nkeys;
    long long rows_done;
    bool done;
} sq_backfill_row;

/* The backfills of source `num`, by table name. */
SQ_WUR int sq_store_backfill_list(sq_store *s, int num, sq_backfill_row **out, size_t *count,
                                  sq_arena *arena, char *err, size_t errlen);

/* Adds the backfill of `table` to source `num` unless it has one (done or not). */
SQ_WUR int sq_store_backfill_add(sq_store *s, int num, const char *table, char *err, size_t errlen);

/* Records that a page of `rows` rows of `table`, ending at `last_key` (nkeys texts), is in the
 * stream; `done` when it was the last. Make it in the transaction that put the page in the
 * stream, so a restart resumes exactly after it. */
SQ_WUR int sq_store_backfill_progress(sq_store *s, int num, const char *table,
                                      const char *const *last_key, size_t nkeys, long long rows,
                                      bool done, char *err, size_t errlen);

/* BEGIN, COMMIT or ROLLBACK on this connection: the calls made in between are one transaction. */
typedef enum sq_store_txn {
    SQ_STORE_BEGIN,
    SQ_STORE_COMMIT,
    SQ_STORE_ROLLBACK
} sq_store_txn;
SQ_WUR int sq_store_transaction(sq_store *s, sq_store_txn what, char *err, size_t errlen);

/* ---- sources as the API shows them (docs/api.md), calls without waiting ------------------- */

/* A source with its stream's name, what the node running it last reported and its backfills:
 * strings in the call's arena. */
typedef struct sq_source {
    char id[37];
    const char *name;
    const char *kind;     /* "postgres" or "webhook" */
    const char *stream;   /* the stream's name */
    const char *settings; /* the kind's settings, JSON as stored (the password in it too) */
    bool managed_by_config;
    /* The last report (sequin.source_status); before the first, has_status is false, the
     * strings NULL and the numbers -1. */
    bool has_status;
    const char *state, *error, *node;
    const char *last_commit_lsn, *received_lsn; /* "X/X"; NULL when none yet */
    const char *last_commit_at, *reported_at;
    long long lag_bytes; /* -1 when the node could not tell */
    double lag_seconds;  /* 0 when nothing lags (or lag_bytes is unknown), else the time since
                          * the last commit the stream has */
    long long rows_streamed, errors, attempts;
    sq_backfill_row *backfills; /* by table; last_key NULL */
    size_t n_backfills;
    const char *inserted_at;
    const char *updated_at;
} sq_source;

/* Every source by name (the API's list, and the gauges of /metrics). */
SQ_WUR int sq_store_source_objects(sq_store *s, sq_source **out, size_t *count, sq_arena *arena,
                                   char *err, size_t errlen);
SQ_WUR int sq_store_begin_source_objects(sq_store *s, char *err, size_t errlen);
SQ_WUR int sq_store_finish_source_objects(sq_store *s, sq_source **out, size_t *count,
                                          sq_arena *arena, char *err, size_t errlen);

/* One source by name or id. SQ_STORE_NOT_FOUND when there is none. */
SQ_WUR int sq_store_source_get(sq_store *s, const char *name_or_id, sq_source *out, sq_arena *arena,
                               char *err, size_t errlen);
SQ_WUR int sq_store_begin_source_get(sq_store *s, const char *name_or_id, char *err, size_t errlen);
SQ_WUR int sq_store_finish_source_get(sq_store *s, sq_source *out, sq_arena *arena, char *err,
                                      size_t errlen);

/* Creates source `name` of `kind` writing into `stream` (a name or id), managed by the API,
 * with `settings` (JSON, checked by the caller: sq_source_settings_read, stored as
 * sq_source_settings_write writes them), and returns it. SQ_STORE_CONFLICT when the name is
 * taken, SQ_STORE_NOT_FOUND when there is no such stream. The sources process of every node
 * sees it within a second. */
SQ_WUR int sq_store_source_create(sq_store *s, const char *name, const char *kind,
                                  const char *stream, const char *settings, sq_source *out,
                                  sq_arena *arena, char *err, size_t errlen);
SQ_WUR int sq_store_begin_source_create(sq_store *s, const char *name, const char *kind,
                                        const char *stream, const char *settings, char *err,
                                        size_t errlen);
SQ_WUR int sq_store_finish_source_create(sq_store *s, sq_source *out, sq_arena *arena, char *err,
                                         size_t errlen);

/* Deletes a source (name or id) with its status and backfills; its id goes to `id`. A source
 * the config file declares is SQ_STORE_CONFLICT. The node running it stops within a second;
 * the slot and the publication stay in the source database. */
SQ_WUR int sq_store_source_delete(sq_store *s, const char *name_or_id, char id[37], char *err,
                                  size_t errlen);
SQ_WUR int sq_store_begin_source_delete(sq_store *s, const char *name_or_id, char *err,
                                        size_t errlen);
SQ_WUR int sq_store_finish_source_delete(sq_store *s, char id[37], char *err, size_t errlen);

/* ---- webhooks (docs/sources.md, "Webhook source"), a call without waiting --------------- */

/* What a POST to a webhook needs: the stream it writes into and its settings (JSON, as
 * sq_webhook_settings_write writes them), in the call's arena. */
typedef struct sq_webhook_row {
    int stream;
    const char *settings;
} sq_webhook_row;

/* The webhook source named `name`. SQ_STORE_NOT_FOUND when there is none (or the source of
 * that name is of another kind). One indexed read of sequin.sources. */
SQ_WUR int sq_store_begin_webhook_get(sq_store *s, const char *name, char *err, size_t errlen);
SQ_WUR int sq_store_finish_webhook_get(sq_store *s, sq_webhook_row *out, sq_arena *arena, char *err,
                                       size_t errlen);

#endif
