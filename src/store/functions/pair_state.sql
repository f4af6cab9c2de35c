-- A (consumer, message) pair's state as the API names it. `d` is the delivery row, if any.
-- Without a row, a message is settled (acked) at or below the cursor and due above it. A row
-- behind the message's seq means the message changed since: due again, even if acked or dead.
CREATE OR REPLACE FUNCTION sequin.pair_state(d sequin.deliveries, m_seq bigint, c_cursor bigint)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN d.consumer IS NULL THEN CASE WHEN m_seq > c_cursor THEN 'available' ELSE 'acked' END
    WHEN d.state = 1 THEN CASE WHEN m_seq > d.delivered_seq THEN 'pending_redelivery'
                               ELSE 'delivered' END
    WHEN d.seq < m_seq OR d.state = 0 THEN 'available'
    WHEN d.state = 2 THEN 'acked'
    ELSE 'dead' END
$$;
