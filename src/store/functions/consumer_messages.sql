-- A consumer's messages that are not settled, in seq order: delivery rows, and the matching
-- messages its fills have not reached yet (available, without an ack_id). `p_state`:
-- 'available', 'delivered', 'dead' or NULL for all three; `p_regex` narrows by key.
CREATE OR REPLACE FUNCTION sequin.consumer_messages(p_consumer uuid, p_state text, p_regex text,
                                                    lim int)
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
