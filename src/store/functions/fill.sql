-- Materialises delivery rows for up to `scan` new messages, and for any message that committed
-- late inside the unsettled window; one filler per consumer at a time, the others skip it.
CREATE OR REPLACE FUNCTION sequin.fill(p_consumer uuid, scan int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE c sequin.consumers; safe bigint; top bigint; new_scanned bigint; new_cursor bigint;
BEGIN
  SELECT * INTO c FROM sequin.consumers WHERE id = p_consumer FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  safe := sequin.safe_seq();
  -- New messages after everything scanned so far, and the late commits: a smaller seq that
  -- became visible after larger ones were scanned (only between cursor and scanned). The
  -- two sets never share a key: one row per key, with one seq.
  WITH fresh AS (
    SELECT m.key, m.seq FROM sequin.messages m
     WHERE m.stream = c.stream AND m.seq > c.scanned
     ORDER BY m.seq LIMIT scan
  ), late AS (
    SELECT m.key, m.seq FROM sequin.messages m
     WHERE c.scanned > c.cursor
       AND m.stream = c.stream AND m.seq > c.cursor AND m.seq <= c.scanned
       AND NOT EXISTS (SELECT 1 FROM sequin.deliveries x
                        WHERE x.consumer = p_consumer AND x.key = m.key AND x.seq >= m.seq)
  ), ins AS (
    INSERT INTO sequin.deliveries AS d (consumer, key, seq)
    SELECT p_consumer, u.key, u.seq
      FROM (SELECT * FROM fresh UNION ALL SELECT * FROM late) u
     WHERE u.key ~ c.regex
    ON CONFLICT (consumer, key) DO UPDATE
      SET seq = excluded.seq,
          state = CASE WHEN d.state = 1 THEN 1 ELSE 0 END,
          not_visible_until = CASE WHEN d.state = 1 THEN d.not_visible_until
                                   ELSE '-infinity' END,
          deliver_count = CASE WHEN d.state = 3 THEN 0 ELSE d.deliver_count END
      WHERE d.seq < excluded.seq
  )
  SELECT max(seq) INTO top FROM fresh;
  new_scanned := greatest(c.scanned, coalesce(top, 0));
  new_cursor := greatest(c.cursor, least(new_scanned, safe));
  IF new_scanned > c.scanned OR new_cursor > c.cursor THEN
    UPDATE sequin.consumers SET scanned = new_scanned, cursor = new_cursor WHERE id = p_consumer;
  END IF;
  IF new_cursor > c.cursor THEN
    DELETE FROM sequin.deliveries
     WHERE consumer = p_consumer AND state = 2 AND seq <= new_cursor;
  END IF;
END $$;
