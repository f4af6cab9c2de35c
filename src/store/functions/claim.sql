-- Leases up to n available rows of a consumer, in seq order, for `wait`, and returns them with
-- the message's current data. The row takes the seq of the data it hands out, so a fill that
-- meets the same version later leaves it alone. Update by ctid: a join on the key would let a
-- generic plan (n unknown) hash-join over the whole table. A row whose message was deleted
-- (a fill racing the delete) is locked here but not returned; receive clears such rows.
--
-- SQL, not PL/pgSQL, so that it is planned on every call with the tables' current sizes: a
-- plan kept from a stream's first seconds started from the stream's messages (two, then) and
-- a minute later read the whole stream on every receive (docs/store.md, "Lessons already paid for").
CREATE OR REPLACE FUNCTION sequin.claim(p_consumer uuid, p_stream int, n int, wait interval)
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
