-- Deleting a message removes it from every consumer: an outstanding lease ends with it, and
-- acking it afterwards is a no-op. True when the message existed.
CREATE OR REPLACE FUNCTION sequin.delete_message(p_stream int, p_key text) RETURNS boolean
LANGUAGE sql AS $$
  DELETE FROM sequin.deliveries d USING sequin.consumers c
   WHERE c.stream = p_stream AND d.consumer = c.id AND d.key = p_key;
  WITH m AS (
    DELETE FROM sequin.messages WHERE stream = p_stream AND key = p_key RETURNING 1
  ) SELECT count(*) > 0 FROM m;
$$;
