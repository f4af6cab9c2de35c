-- Where a new consumer starts, written once for the API and the config file. deliver_policy
-- "new" starts every position at the sequence's last value: messages upserted before the
-- consumer existed are behind it. No lock that writers wait for: the backlog of "all" is read
-- by the consumer's own fills. A name taken in the stream gives NULL, not an error, so the
-- caller decides (409 for the API, take the existing one over for the reconcile) and
-- PostgreSQL logs nothing; a concurrent create of the same name is waited for first. A pull
-- consumer (p_kind 'pull') takes NULL push settings; a push consumer's max_waiting is lowered
-- to its max_ack_pending (the callers refuse an explicit one above it).
CREATE OR REPLACE FUNCTION sequin.create_consumer(p_stream int, p_name text, p_filter text,
                                                  p_ack_wait_ms int, p_max_ack_pending int,
                                                  p_max_deliver int, p_policy text,
                                                  p_kind text, p_http_endpoint jsonb,
                                                  p_max_waiting int, p_backoff_base_ms int,
                                                  p_backoff_max_ms int, p_managed_by text)
RETURNS uuid LANGUAGE sql AS $$
  INSERT INTO sequin.consumers (stream, name, filter, regex, ack_wait_ms, max_ack_pending,
                                max_deliver, deliver_policy, managed_by, cursor, scanned,
                                start_seq, kind, http_endpoint, max_waiting, backoff_base_ms,
                                backoff_max_ms)
  SELECT p_stream, p_name, p_filter, sequin.filter_regex(p_filter), p_ack_wait_ms,
         p_max_ack_pending, nullif(p_max_deliver, 0), p_policy, p_managed_by, start, start, start,
         p_kind, p_http_endpoint,
         CASE WHEN p_kind = 'push' THEN least(p_max_waiting, p_max_ack_pending) END,
         p_backoff_base_ms, p_backoff_max_ms
    FROM (SELECT CASE WHEN p_policy = 'new' AND is_called THEN last_value ELSE 0 END AS start
            FROM sequin.seq) s
  ON CONFLICT (stream, name) DO NOTHING
  RETURNING id
$$;
