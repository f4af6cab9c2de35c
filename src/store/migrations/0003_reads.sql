-- What the API reads: receive returns the message itself, the max_ack_pending window, a
-- consumer's messages by state, one message's state in every consumer, and stats.

-- Where a consumer with deliver_policy "new" began: messages at or below it are not its own.
-- (Consumers created before this migration keep 0: the only effect is on the info views.)
ALTER TABLE sequin.consumers ADD COLUMN start_seq bigint NOT NULL DEFAULT 0;

-- Timestamps as the API prints them: ISO 8601, UTC, microseconds; NULL for +-infinity.
CREATE FUNCTION sequin.iso(t timestamptz) RETURNS text
LANGUAGE sql STABLE STRICT AS $$
  SELECT CASE WHEN isfinite(t)
              THEN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END
$$;

-- A (consumer, message) pair's state as the API names it. `d` is the delivery row, if any.
-- Without a row, a message is settled (acked) at or below the cursor and due above it. A row
-- behind the message's seq means the message changed since: due again, even if acked or dead.
CREATE FUNCTION sequin.pair_state(d sequin.deliveries, m_seq bigint, c_cursor bigint)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN d.consumer IS NULL THEN CASE WHEN m_seq > c_cursor THEN 'available' ELSE 'acked' END
    WHEN d.state = 1 THEN CASE WHEN m_seq > d.delivered_seq THEN 'pending_redelivery'
                               ELSE 'delivered' END
    WHEN d.seq < m_seq OR d.state = 0 THEN 'available'
    WHEN d.state = 2 THEN 'acked'
    ELSE 'dead' END
$$;

DROP FUNCTION sequin.receive(uuid, int);
DROP FUNCTION sequin.claim(uuid, int, interval);

-- Leases up to n available rows of a consumer, in seq order, for `wait`, and returns them with
-- the message's current data. The row takes the seq of the data it hands out, so a fill that
-- meets the same version later leaves it alone. Update by ctid: a join on the key would let a
-- generic plan (n unknown) hash-join over the whole table. A row whose message was deleted
-- (a fill racing the delete) is locked here but not returned; receive clears such rows.
CREATE FUNCTION sequin.claim(p_consumer uuid, p_stream int, n int, wait interval)
RETURNS TABLE (ack_id uuid, deliver_count int, key text, seq bigint, data text,
               data_hash bytea, inserted_at timestamptz, updated_at timestamptz)
LANGUAGE sql AS $$
  UPDATE sequin.deliveries d
     SET state = 1, deliver_count = d.deliver_count + 1, seq = m.seq, delivered_seq = m.seq,
         not_visible_until = now() + wait, last_delivered_at = now()
    FROM sequin.messages m
   WHERE d.ctid = ANY (ARRAY(
           SELECT r.ctid FROM sequin.deliveries r
            WHERE r.consumer = p_consumer AND r.state = 0 AND r.not_visible_until <= now()
            ORDER BY r.seq LIMIT n FOR UPDATE SKIP LOCKED))
     AND m.stream = p_stream AND m.key = d.key
  RETURNING d.ack_id, d.deliver_count, m.key::text, m.seq, m.data, m.data_hash, m.inserted_at,
            m.updated_at;
$$;

-- How many leases a consumer holds, counting no further than `upto`.
CREATE FUNCTION sequin.leased(p_consumer uuid, upto int) RETURNS int
LANGUAGE sql STABLE AS $$
  SELECT count(*)::int FROM (SELECT 1 FROM sequin.deliveries
                              WHERE consumer = p_consumer AND state = 1 LIMIT upto) x
$$;

-- Leases up to n deliverable messages: claim first, fill only when short.
--
-- max_ack_pending: more than 1000 below it (the largest batch), receivers do not coordinate;
-- nearer, each takes the consumer's advisory lock and counts again under it, so the limit
-- is exact where it matters. docs/store.md has the argument.
--
-- Receive commits asynchronously (its own transaction only): a lease lost in a crash of
-- PostgreSQL means the message is delivered again, which at-least-once delivery allows.
CREATE FUNCTION sequin.receive(p_consumer uuid, n int)
RETURNS TABLE (ack_id uuid, deliver_count int, key text, seq bigint, data text,
               data_hash bytea, inserted_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE c sequin.consumers; got int; wait interval; held int;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT * INTO c FROM sequin.consumers WHERE id = p_consumer;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  wait := make_interval(secs => c.ack_wait_ms / 1000.0);
  -- Leases that ran out: deliverable again, or dead once max_deliver deliveries are spent.
  UPDATE sequin.deliveries d
     SET state = CASE WHEN d.deliver_count >= c.max_deliver THEN 3 ELSE 0 END
   WHERE d.consumer = p_consumer AND d.state = 1 AND d.not_visible_until <= now();
  held := sequin.leased(p_consumer, c.max_ack_pending);
  IF held + n > c.max_ack_pending - 1000 THEN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_consumer::text, 7376));
    held := sequin.leased(p_consumer, c.max_ack_pending);
  END IF;
  n := least(n, c.max_ack_pending - held);
  IF n <= 0 THEN
    RETURN;
  END IF;
  RETURN QUERY SELECT * FROM sequin.claim(p_consumer, c.stream, n, wait);
  GET DIAGNOSTICS got = ROW_COUNT;
  IF got < n THEN
    -- Rows of deleted messages would hold the head of the queue: drop them.
    DELETE FROM sequin.deliveries d
     WHERE d.ctid = ANY (ARRAY(
             SELECT r.ctid FROM sequin.deliveries r
              WHERE r.consumer = p_consumer AND r.state = 0 AND r.not_visible_until <= now()
              ORDER BY r.seq LIMIT n FOR UPDATE SKIP LOCKED))
       AND NOT EXISTS (SELECT 1 FROM sequin.messages m
                        WHERE m.stream = c.stream AND m.key = d.key);
    PERFORM sequin.fill(p_consumer, 500);
    RETURN QUERY SELECT * FROM sequin.claim(p_consumer, c.stream, n - got, wait);
  END IF;
END $$;

-- A consumer's messages that are not settled, in seq order: delivery rows, and the matching
-- messages its fills have not reached yet (available, without an ack_id). `p_state`:
-- 'available', 'delivered', 'dead' or NULL for all three; `p_regex` narrows by key.
CREATE FUNCTION sequin.consumer_messages(p_consumer uuid, p_state text, p_regex text, lim int)
RETURNS TABLE (ack_id uuid, state text, deliver_count int, last_delivered_at timestamptz,
               not_visible_until timestamptz, key text, seq bigint, data text, data_hash bytea,
               inserted_at timestamptz, updated_at timestamptz)
LANGUAGE sql STABLE AS $$
  WITH c AS (SELECT * FROM sequin.consumers WHERE id = p_consumer)
  SELECT * FROM (
    SELECT d.ack_id, sequin.pair_state(d, m.seq, c.cursor) AS state, d.deliver_count,
           d.last_delivered_at, d.not_visible_until, m.key::text, m.seq, m.data, m.data_hash,
           m.inserted_at, m.updated_at
      FROM c JOIN sequin.deliveries d ON d.consumer = c.id
             JOIN sequin.messages m ON m.stream = c.stream AND m.key = d.key
     WHERE p_regex IS NULL OR d.key ~ p_regex
    UNION ALL
    SELECT NULL, 'available', 0, NULL, NULL, m.key::text, m.seq, m.data, m.data_hash,
           m.inserted_at, m.updated_at
      FROM c JOIN sequin.messages m ON m.stream = c.stream AND m.seq > c.scanned
     WHERE m.key ~ c.regex AND (p_regex IS NULL OR m.key ~ p_regex)
       AND (p_state IS NULL OR p_state = 'available')
       -- a key with a row is the row's: a change under a lease is pending, not available
       AND NOT EXISTS (SELECT 1 FROM sequin.deliveries x
                        WHERE x.consumer = c.id AND x.key = m.key)
  ) x
  WHERE x.state <> 'acked'
    AND (p_state IS NULL OR x.state = p_state
         OR (p_state = 'delivered' AND x.state = 'pending_redelivery'))
  ORDER BY x.seq LIMIT lim
$$;

-- One message's state in every consumer of its stream whose filter matches it.
CREATE FUNCTION sequin.message_info(p_stream int, p_key text)
RETURNS TABLE (consumer_id uuid, consumer_name text, ack_id uuid, state text, deliver_count int,
               last_delivered_at timestamptz, not_visible_until timestamptz)
LANGUAGE sql STABLE AS $$
  SELECT c.id, c.name, d.ack_id, sequin.pair_state(d, m.seq, c.cursor),
         coalesce(d.deliver_count, 0), d.last_delivered_at, d.not_visible_until
    FROM sequin.messages m
    JOIN sequin.consumers c ON c.stream = m.stream AND m.seq > c.start_seq AND m.key ~ c.regex
    LEFT JOIN sequin.deliveries d ON d.consumer = c.id AND d.key = m.key
   WHERE m.stream = p_stream AND m.key = p_key
   ORDER BY c.name
$$;

-- Counts per state and the age of the oldest available message. Materialised rows are
-- counted through their indexes; messages the fills have not reached are counted by a scan
-- of the stream after `scanned` (its cost grows with an unread backlog).
CREATE FUNCTION sequin.consumer_stats(p_consumer uuid, OUT available bigint,
                                      OUT delivered bigint, OUT dead bigint,
                                      OUT oldest_available timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE c sequin.consumers; unread bigint; first_unread timestamptz; first_ready timestamptz;
BEGIN
  SELECT * INTO c FROM sequin.consumers WHERE id = p_consumer;
  SELECT count(*) FILTER (WHERE state = 0), count(*) FILTER (WHERE state = 1),
         count(*) FILTER (WHERE state = 3)
    INTO available, delivered, dead
    FROM sequin.deliveries WHERE consumer = p_consumer AND state <> 2;
  SELECT count(*), min(m.updated_at) INTO unread, first_unread
    FROM sequin.messages m
   WHERE m.stream = c.stream AND m.seq > c.scanned AND m.key ~ c.regex
     AND NOT EXISTS (SELECT 1 FROM sequin.deliveries x
                      WHERE x.consumer = p_consumer AND x.key = m.key AND x.state IN (0, 1));
  SELECT m.updated_at INTO first_ready
    FROM sequin.deliveries d JOIN sequin.messages m ON m.stream = c.stream AND m.key = d.key
   WHERE d.consumer = p_consumer AND d.state = 0
   ORDER BY d.seq LIMIT 1;
  available := available + unread;
  oldest_available := least(first_ready, first_unread);
END $$;

-- Wake-ups for long polls: the server sends at most one per stream every few milliseconds
-- (sq_store_notify); the channel carries the stream's number.
CREATE FUNCTION sequin.notify(p_stream int) RETURNS void
LANGUAGE sql AS $$
  SELECT pg_notify('sequin_stream', p_stream::text);
$$;
