-- Counts per state and the age of the oldest available message. Materialised rows are
-- counted through their indexes; messages the fills have not reached are counted by a scan
-- of the stream after `scanned` (its cost grows with an unread backlog). Planned once on a
-- small table these queries would scan both tables whole on every call: no sequential scans
-- (docs/store.md, "Lessons already paid for").
CREATE OR REPLACE FUNCTION sequin.consumer_stats(p_consumer uuid, OUT available bigint,
                                                 OUT delivered bigint, OUT dead bigint,
                                                 OUT oldest_available timestamptz)
LANGUAGE plpgsql STABLE SET enable_seqscan = off SET jit = off AS $$
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
