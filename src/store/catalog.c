/* The store's statements: every one of them, its SQL and its parameters, named by
 * sq_stmt_id. The only SQL outside the schema's own files. */
#include "catalog.h"

#include "encode.h"
#include "sequin/common.h"

/* The columns sq_row_message reads, from `messages m` joined with `streams s`. */
#define MESSAGE_COLS                                                                               \
    "m.key::text, s.id, m.data, encode(m.data_hash, 'hex'), m.seq, sequin.iso(m.inserted_at), "    \
    "sequin.iso(m.updated_at)"

/* The columns of a stream object, from `streams s`. The size is the stream's share of the
 * messages table by row count (the table's row estimate); with one stream, the table's size. */
#define STREAM_SELECT                                                                              \
    "SELECT s.id, s.num, s.name, mc.n, cc.n, sz.size, sequin.iso(s.inserted_at), "                 \
    "       sequin.iso(s.updated_at) "                                                             \
    "  FROM sequin.streams s "                                                                     \
    " CROSS JOIN LATERAL (SELECT count(*) AS n FROM sequin.messages m "                            \
    "                      WHERE m.stream = s.num) mc "                                            \
    " CROSS JOIN LATERAL (SELECT count(*) AS n FROM sequin.consumers c "                           \
    "                      WHERE c.stream = s.num) cc "                                            \
    " CROSS JOIN LATERAL (SELECT CASE WHEN mc.n = 0 THEN 0 "                                       \
    "                                 WHEN t.reltuples > mc.n "                                    \
    "                                 THEN (pg_total_relation_size(t.oid) * mc.n / t.reltuples) "  \
    "                                      ::bigint "                                              \
    "                                 ELSE pg_total_relation_size(t.oid) END AS size "             \
    "                      FROM pg_class t WHERE t.oid = 'sequin.messages'::regclass) sz "

/* The columns of a consumer object with the stats `stats` (four columns), from `consumers c`
 * and `streams s`: a push consumer's headers come as a JSON array of "Name: value" by name;
 * and the consumers with their stats `st` and stream. */
#define CONSUMER_COLS_WITH(stats)                                                                  \
    "SELECT c.id, c.name, s.id, c.stream, c.filter, c.ack_wait_ms, c.max_ack_pending, "            \
    "       coalesce(c.max_deliver, 0), c.deliver_policy = 'new', c.managed_by = 'config', "       \
    "       c.kind = 'push', c.http_endpoint ->> 'url', "                                          \
    "       (SELECT json_agg(h.key || ': ' || h.value ORDER BY h.key)::text "                      \
    "          FROM jsonb_each_text(c.http_endpoint -> 'headers') h), "                            \
    "       c.http_endpoint ->> 'signing_secret', coalesce(c.max_waiting, 0), "                    \
    "       coalesce(c.backoff_base_ms, 0), coalesce(c.backoff_max_ms, 0), " stats ", "            \
    "       sequin.iso(c.inserted_at), sequin.iso(c.updated_at) "
#define CONSUMER_COLS                                                                              \
    CONSUMER_COLS_WITH("st.available, st.delivered, st.dead, "                                     \
                       "extract(epoch FROM now() - st.oldest_available)::float8")
#define CONSUMER_SELECT                                                                            \
    CONSUMER_COLS "  FROM sequin.consumers c JOIN sequin.streams s ON s.num = c.stream "           \
                  " CROSS JOIN LATERAL sequin.consumer_stats(c.id) st "

/*
 * What a stream or consumer holds, listed by its number or id, is read from the stream (the
 * consumer) outwards: no row at all when it does not exist, one row of NULLs when it holds
 * nothing. A server that looked the name up a moment ago (its cache of names) so learns that
 * the stream was deleted meanwhile, where an empty list would say it exists
 * (sq_store_finish_contents reads them).
 */

/* The message listing, in two orders, with and without a key range. The filter's regex is a
 * scalar subquery so it is computed once per call even in a generic plan. */
#define MESSAGE_LIST(range, order)                                                                 \
    "SELECT " MESSAGE_COLS " FROM sequin.streams s LEFT JOIN LATERAL ("                            \
    "  SELECT * FROM sequin.messages m WHERE m.stream = s.num " range                              \
    "     AND ($2::text IS NULL OR m.key ~ (SELECT sequin.filter_regex($2))) "                     \
    "   ORDER BY m.seq " order " LIMIT $3) m ON true "                                             \
    " WHERE s.num = $1 ORDER BY m.seq " order
#define KEY_RANGE "AND m.key >= $4 AND m.key < $5 "

/* The columns of a source object (sq_source), from `sources s` with its stream `st` and its
 * last report `r`: lag_seconds is the time since the last commit the stream has, while the
 * source database's WAL is ahead of the slot; backfills come as [[table, rows, done], ...]. */
#define SOURCE_SELECT                                                                              \
    "SELECT s.id, s.name, s.kind, st.name, s.settings::text, s.managed_by = 'config', "            \
    "       r.source IS NOT NULL, r.state, r.error, r.node, r.last_commit_lsn::text, "             \
    "       r.received_lsn::text, sequin.iso(r.last_commit_at), sequin.iso(r.reported_at), "       \
    "       coalesce(r.lag_bytes, -1), "                                                           \
    "       CASE WHEN coalesce(r.lag_bytes, 0) = 0 OR r.last_commit_at IS NULL THEN 0 "            \
    "            ELSE round(greatest(extract(epoch FROM now() - r.last_commit_at), 0)::numeric, "  \
    "                       3) END::float8, "                                                      \
    "       r.rows_streamed, r.errors, r.attempts, "                                               \
    "       (SELECT json_agg(json_build_array(b.table_name, b.rows_done, b.done) "                 \
    "                        ORDER BY b.table_name)::text "                                        \
    "          FROM sequin.source_backfills b WHERE b.source = s.id), "                            \
    "       sequin.iso(s.inserted_at), sequin.iso(s.updated_at) "                                  \
    "  FROM sequin.sources s JOIN sequin.streams st ON st.num = s.stream "                         \
    "  LEFT JOIN sequin.source_status r ON r.source = s.id "

static const sq_statement statements[SQ_STMT_COUNT] = {
    /* streams */
    [SQ_STMT_STREAM_NUM] = {"stream_num",
                            "SELECT num FROM sequin.streams WHERE name = $1",
                            1,
                            {SQ_OID_TEXT}},
    [SQ_STMT_STREAM_CREATE] = {"stream_create",
                               "INSERT INTO sequin.streams (name) VALUES ($1) RETURNING id",
                               1,
                               {SQ_OID_TEXT}},
    [SQ_STMT_STREAM_GET] = {"stream_get",
                            STREAM_SELECT "WHERE s.name = $1 OR s.id::text = $1",
                            1,
                            {SQ_OID_TEXT}},
    [SQ_STMT_STREAM_LIST] = {"stream_list", STREAM_SELECT "ORDER BY s.name", 0, {0}},
    [SQ_STMT_STREAM_DELETE] =
        {"stream_delete",
         "DELETE FROM sequin.streams WHERE name = $1 OR id::text = $1 RETURNING id",
         1,
         {SQ_OID_TEXT}},

    /* messages */
    /* One request, or a group commit's (the last parameter: which request each message is
     * from; NULL for one request). A row per request that published anything. */
    [SQ_STMT_UPSERT] = {"upsert",
                        "SELECT grp, published FROM sequin.upsert($1, $2, $3, $4, $5)",
                        5,
                        {SQ_OID_INT4, SQ_OID_TEXT_ARRAY, SQ_OID_TEXT_ARRAY, SQ_OID_BYTEA_ARRAY,
                         SQ_OID_INT4_ARRAY}},
    /* A notification needs no durability: its transaction does not wait for the WAL flush. */
    [SQ_STMT_NOTIFY] = {"notify",
                        "SELECT set_config('synchronous_commit', 'off', true), sequin.notify($1)",
                        1,
                        {SQ_OID_INT4}},
    /* utility statements go through the extended protocol too: this one is prepared */
    [SQ_STMT_LISTEN] = {"listen", "LISTEN sequin_stream", 0, {0}},
    [SQ_STMT_MESSAGE_LIST_ASC] = {"message_list_asc",
                                  MESSAGE_LIST("", "ASC"),
                                  3,
                                  {SQ_OID_INT4, SQ_OID_TEXT, SQ_OID_INT4}},
    [SQ_STMT_MESSAGE_LIST_DESC] = {"message_list_desc",
                                   MESSAGE_LIST("", "DESC"),
                                   3,
                                   {SQ_OID_INT4, SQ_OID_TEXT, SQ_OID_INT4}},
    [SQ_STMT_MESSAGE_RANGE_ASC] = {"message_range_asc",
                                   MESSAGE_LIST(KEY_RANGE, "ASC"),
                                   5,
                                   {SQ_OID_INT4, SQ_OID_TEXT, SQ_OID_INT4, SQ_OID_TEXT,
                                    SQ_OID_TEXT}},
    [SQ_STMT_MESSAGE_RANGE_DESC] = {"message_range_desc",
                                    MESSAGE_LIST(KEY_RANGE, "DESC"),
                                    5,
                                    {SQ_OID_INT4, SQ_OID_TEXT, SQ_OID_INT4, SQ_OID_TEXT,
                                     SQ_OID_TEXT}},
    [SQ_STMT_MESSAGE_GET] = {"message_get",
                             "SELECT " MESSAGE_COLS
                             " FROM sequin.messages m JOIN sequin.streams s ON s.num = m.stream "
                             " WHERE m.stream = $1 AND m.key = $2",
                             2,
                             {SQ_OID_INT4, SQ_OID_TEXT}},
    [SQ_STMT_MESSAGE_INFO] = {"message_info",
                              "SELECT consumer_id, consumer_name, ack_id, state, deliver_count, "
                              "       sequin.iso(last_delivered_at), sequin.iso(not_visible_until) "
                              "  FROM sequin.message_info($1, $2)",
                              2,
                              {SQ_OID_INT4, SQ_OID_TEXT}},
    [SQ_STMT_MESSAGE_DELETE] = {"message_delete",
                                "SELECT sequin.delete_message($1, $2)",
                                2,
                                {SQ_OID_INT4, SQ_OID_TEXT}},

    /* consumers. Where a new one starts is sequin.create_consumer's (functions/), shared with
     * the reconcile of declared consumers; a NULL id means the name is taken. */
    [SQ_STMT_CONSUMER_CREATE] = {"consumer_create",
                                 "SELECT sequin.create_consumer($1, $2, $3, $4, $5, $6, $7, "
                                 "       CASE WHEN $8 IS NULL THEN 'pull' ELSE 'push' END, "
                                 "       $8::jsonb, $9, $10, $11, 'api')",
                                 11,
                                 {SQ_OID_INT4, SQ_OID_TEXT, SQ_OID_TEXT, SQ_OID_INT4, SQ_OID_INT4,
                                  SQ_OID_INT4, SQ_OID_TEXT, SQ_OID_TEXT, SQ_OID_INT4, SQ_OID_INT4,
                                  SQ_OID_INT4}},
    [SQ_STMT_CONSUMER_GET] = {"consumer_get",
                              CONSUMER_SELECT
                              "WHERE c.stream = $1 AND (c.name = $2 OR c.id::text = $2)",
                              2,
                              {SQ_OID_INT4, SQ_OID_TEXT}},
    [SQ_STMT_RESOLVE] =
        {"resolve",
         "SELECT s.num, c.id FROM sequin.streams s "
         "  LEFT JOIN sequin.consumers c ON c.stream = s.num AND (c.name = $2 OR c.id::text = $2) "
         " WHERE s.name = $1 OR s.id::text = $1 LIMIT 1",
         2,
         {SQ_OID_TEXT, SQ_OID_TEXT}},
    [SQ_STMT_CONSUMER_LIST] =
        {"consumer_list",
         CONSUMER_COLS "  FROM sequin.streams s LEFT JOIN sequin.consumers c ON c.stream = s.num "
                       "  LEFT JOIN LATERAL sequin.consumer_stats(c.id) st ON c.id IS NOT NULL "
                       " WHERE s.num = $1 ORDER BY c.name",
         1,
         {SQ_OID_INT4}},
    [SQ_STMT_CONSUMER_LIST_ALL] = {"consumer_list_all",
                                   CONSUMER_SELECT "ORDER BY c.stream, c.name",
                                   0,
                                   {0}},
    [SQ_STMT_CONSUMER_EDIT] =
        {"consumer_edit",
         "UPDATE sequin.consumers "
         "   SET ack_wait_ms = coalesce($2, ack_wait_ms), "
         "       max_ack_pending = coalesce($3, max_ack_pending), "
         "       max_deliver = CASE WHEN $4 IS NULL THEN max_deliver ELSE nullif($4, 0) END, "
         "       http_endpoint = CASE WHEN $5 IS NULL THEN http_endpoint "
         "                            ELSE jsonb_strip_nulls(http_endpoint || $5::jsonb) END, "
         "       max_waiting = CASE WHEN kind = 'push' THEN least(coalesce($6, max_waiting), "
         "                                                        coalesce($3, max_ack_pending)) "
         "                     END, "
         "       backoff_base_ms = coalesce($7, backoff_base_ms), "
         "       backoff_max_ms = coalesce($8, backoff_max_ms), "
         "       updated_at = now() "
         " WHERE id = $1 RETURNING id",
         8,
         {SQ_OID_UUID, SQ_OID_INT4, SQ_OID_INT4, SQ_OID_INT4, SQ_OID_TEXT, SQ_OID_INT4, SQ_OID_INT4,
          SQ_OID_INT4}},
    [SQ_STMT_CONSUMER_DELETE] = {"consumer_delete",
                                 "DELETE FROM sequin.consumers WHERE id = $1 RETURNING id",
                                 1,
                                 {SQ_OID_UUID}},
    [SQ_STMT_RECONCILE] =
        {"reconcile",
         "SELECT act, stream_name, consumer_name, consumer_id, declared, was_ack_wait_ms, "
         "       was_max_ack_pending, was_max_deliver "
         "  FROM sequin.reconcile($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
         11,
         {SQ_OID_TEXT_ARRAY, SQ_OID_TEXT_ARRAY, SQ_OID_TEXT_ARRAY, SQ_OID_INT4_ARRAY,
          SQ_OID_INT4_ARRAY, SQ_OID_INT4_ARRAY, SQ_OID_TEXT_ARRAY, SQ_OID_TEXT_ARRAY,
          SQ_OID_INT4_ARRAY, SQ_OID_INT4_ARRAY, SQ_OID_INT4_ARRAY}},
    [SQ_STMT_RECONCILE_SOURCES] = {"reconcile_sources",
                                   "SELECT act, source_name, source_id, declared, changes, slot, "
                                   "       publication "
                                   "  FROM sequin.reconcile_sources($1, $2, $3, $4)",
                                   4,
                                   {SQ_OID_TEXT_ARRAY, SQ_OID_TEXT_ARRAY, SQ_OID_TEXT_ARRAY,
                                    SQ_OID_TEXT_ARRAY}},
    [SQ_STMT_RECEIVE] = {"receive",
                         "SELECT ack_id, deliver_count, key, (SELECT s.id FROM sequin.streams s "
                         "         JOIN sequin.consumers c ON c.stream = s.num WHERE c.id = $1), "
                         "       data, encode(data_hash, 'hex'), seq, sequin.iso(inserted_at), "
                         "       sequin.iso(updated_at) "
                         "  FROM sequin.receive($1, $2) ORDER BY seq",
                         2,
                         {SQ_OID_UUID, SQ_OID_INT4}},
    [SQ_STMT_CONSUMER_MESSAGES] =
        {"consumer_messages",
         "SELECT x.ack_id, x.state, x.deliver_count, sequin.iso(x.last_delivered_at), "
         "       sequin.iso(x.not_visible_until), x.key, s.id, x.data, encode(x.data_hash, 'hex'), "
         "       x.seq, sequin.iso(x.inserted_at), sequin.iso(x.updated_at) "
         "  FROM sequin.consumers c JOIN sequin.streams s ON s.num = c.stream "
         "  LEFT JOIN LATERAL sequin.consumer_messages(c.id, $2, (SELECT sequin.filter_regex($3)), "
         "                                             $4) x ON true "
         " WHERE c.id = $1 ORDER BY x.seq",
         4,
         {SQ_OID_UUID, SQ_OID_TEXT, SQ_OID_TEXT, SQ_OID_INT4}},
    [SQ_STMT_ACK] = {"ack", "SELECT sequin.ack($1, $2)", 2, {SQ_OID_UUID, SQ_OID_UUID_ARRAY}},
    [SQ_STMT_NACK] = {"nack",
                      "SELECT sequin.nack($1, $2, $3)",
                      3,
                      {SQ_OID_UUID, SQ_OID_UUID_ARRAY, SQ_OID_INT4}},
    [SQ_STMT_EXTEND] = {"extend",
                        "SELECT sequin.extend($1, $2)",
                        2,
                        {SQ_OID_UUID, SQ_OID_UUID_ARRAY}},
    [SQ_STMT_REDRIVE] = {"redrive",
                         "SELECT sequin.redrive($1, $2)",
                         2,
                         {SQ_OID_UUID, SQ_OID_UUID_ARRAY}},
    [SQ_STMT_NEXT_VISIBLE] = {"next_visible", "SELECT sequin.next_visible($1)", 1, {SQ_OID_UUID}},
    /* What the pushing process delivers to: no stats, which would cost a scan per consumer. */
    [SQ_STMT_PUSH_CONSUMERS] =
        {"push_consumers",
         CONSUMER_COLS_WITH(
             "0::bigint, 0::bigint, 0::bigint, NULL::float8") "  FROM sequin.consumers c JOIN "
                                                              "sequin.streams s "
                                                              "    ON s.num = c.stream "
                                                              " WHERE c.kind = 'push' ORDER BY "
                                                              "c.stream, c.name",
         0,
         {0}},
    /* sources */
    [SQ_STMT_SOURCE_LIST] = {"source_list",
                             "SELECT id, num, stream, name, kind, settings::text, managed_by "
                             "  FROM sequin.sources ORDER BY name",
                             0,
                             {0}},
    /* The two-key form of the advisory locks: its class, 'SQSR', is the sources' own. */
    [SQ_STMT_SOURCE_LOCK] = {"source_lock",
                             "SELECT pg_try_advisory_lock(1397838674, $1)",
                             1,
                             {SQ_OID_INT4}},
    [SQ_STMT_SOURCE_APPLIED] = {"source_applied",
                                "SELECT applied_lsn::text FROM sequin.sources WHERE num = $1",
                                1,
                                {SQ_OID_INT4}},
    [SQ_STMT_SOURCE_APPLY] = {"source_apply",
                              "SELECT sequin.source_apply($1, $2::pg_lsn, $3, $4, $5)",
                              5,
                              {SQ_OID_INT4, SQ_OID_TEXT, SQ_OID_TEXT_ARRAY, SQ_OID_TEXT_ARRAY,
                               SQ_OID_BYTEA_ARRAY}},
    [SQ_STMT_SOURCE_REPORT] =
        {"source_report",
         "INSERT INTO sequin.source_status AS t (source, state, error, node, received_lsn, "
         "       last_commit_lsn, last_commit_at, rows_streamed, lag_bytes, errors, attempts) "
         "SELECT s.id, $2, $3, $4, $5::pg_lsn, nullif($6::pg_lsn, '0/0'), "
         "       CASE WHEN $7::bigint = 0 THEN NULL "
         "       ELSE timestamptz '2000-01-01 00:00:00+00' + $7::bigint * interval '1 us' END, "
         "       $8::bigint, nullif($9::bigint, -1), $10::bigint, $11::bigint "
         "  FROM sequin.sources s WHERE s.num = $1 "
         "ON CONFLICT (source) DO UPDATE SET state = excluded.state, error = excluded.error, "
         "   node = excluded.node, received_lsn = excluded.received_lsn, "
         "   last_commit_lsn = excluded.last_commit_lsn, last_commit_at = excluded.last_commit_at, "
         "   rows_streamed = excluded.rows_streamed, lag_bytes = excluded.lag_bytes, "
         "   errors = excluded.errors, attempts = excluded.attempts, reported_at = now() "
         "RETURNING 1",
         11,
         {SQ_OID_INT4, SQ_OID_TEXT, SQ_OID_TEXT, SQ_OID_TEXT, SQ_OID_TEXT, SQ_OID_TEXT, SQ_OID_TEXT,
          SQ_OID_TEXT, SQ_OID_TEXT, SQ_OID_TEXT, SQ_OID_TEXT}},
    [SQ_STMT_BACKFILL_LIST] = {"backfill_list",
                               "SELECT b.table_name, array_to_json(b.last_key)::text, "
                               "       b.rows_done, b.done "
                               "  FROM sequin.source_backfills b "
                               "  JOIN sequin.sources s ON s.id = b.source "
                               " WHERE s.num = $1 ORDER BY b.table_name",
                               1,
                               {SQ_OID_INT4}},
    [SQ_STMT_BACKFILL_ADD] = {"backfill_add",
                              "INSERT INTO sequin.source_backfills (source, table_name) "
                              "SELECT id, $2 FROM sequin.sources WHERE num = $1 "
                              "ON CONFLICT DO NOTHING",
                              2,
                              {SQ_OID_INT4, SQ_OID_TEXT}},
    [SQ_STMT_BACKFILL_PROGRESS] = {"backfill_progress",
                                   "UPDATE sequin.source_backfills b "
                                   "   SET last_key = $3, rows_done = rows_done + $4, done = $5 "
                                   "  FROM sequin.sources s "
                                   " WHERE s.num = $1 AND b.source = s.id AND b.table_name = $2",
                                   5,
                                   {SQ_OID_INT4, SQ_OID_TEXT, SQ_OID_TEXT_ARRAY, 20, 16}},
    [SQ_STMT_TXN_BEGIN] = {"txn_begin", "BEGIN", 0, {0}},
    [SQ_STMT_TXN_COMMIT] = {"txn_commit", "COMMIT", 0, {0}},
    [SQ_STMT_TXN_ROLLBACK] = {"txn_rollback", "ROLLBACK", 0, {0}},

    /* sources, as the API shows them */
    [SQ_STMT_SOURCE_OBJECTS] = {"source_objects", SOURCE_SELECT "ORDER BY s.name", 0, {0}},
    [SQ_STMT_SOURCE_GET] = {"source_get",
                            SOURCE_SELECT "WHERE s.name = $1 OR s.id::text = $1",
                            1,
                            {SQ_OID_TEXT}},
    /* No row: there is no such stream (a name taken is a unique violation). */
    [SQ_STMT_SOURCE_CREATE] = {"source_create",
                               "INSERT INTO sequin.sources (name, kind, stream, settings) "
                               "SELECT $1, $2, num, $4::jsonb FROM sequin.streams "
                               " WHERE name = $3 OR id::text = $3 RETURNING id",
                               4,
                               {SQ_OID_TEXT, SQ_OID_TEXT, SQ_OID_TEXT, SQ_OID_TEXT}},
    /* The source found (none: no row) and whether the config file owns it, which keeps it;
     * otherwise it is gone with the statement. */
    [SQ_STMT_SOURCE_DELETE] = {"source_delete",
                               "WITH t AS (SELECT id, name, managed_by FROM sequin.sources "
                               "            WHERE name = $1 OR id::text = $1), "
                               "     d AS (DELETE FROM sequin.sources s USING t "
                               "            WHERE s.id = t.id AND t.managed_by = 'api') "
                               "SELECT id, managed_by = 'config', name FROM t",
                               1,
                               {SQ_OID_TEXT}},
    /* webhooks: what a POST to one needs, its stream and settings (no row: no such webhook) */
    [SQ_STMT_WEBHOOK_GET] = {"webhook_get",
                             "SELECT stream, settings::text FROM sequin.sources "
                             " WHERE name = $1 AND kind = 'webhook'",
                             1,
                             {SQ_OID_TEXT}},
};

const sq_statement *sq_catalog(sq_stmt_id id)
{
    return &statements[id];
}
