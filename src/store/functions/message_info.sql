-- One message's state in every consumer of its stream whose filter matches it.
CREATE OR REPLACE FUNCTION sequin.message_info(p_stream int, p_key text)
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
