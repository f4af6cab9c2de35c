-- A receive no longer waits for, or deadlocks with, a transaction that holds an expired
-- lease's row. 0003's receive turned expired leases back into deliverable rows with one
-- UPDATE that locked every such row of the consumer, in whatever order it met them; an ack of
-- some of those same leases (a client acking late) locks them in its own order, so the two
-- could deadlock, and PostgreSQL found it only after deadlock_timeout (1 s): the soak's p99.9
-- (docs/performance.md). Now the expiry takes the rows it can lock and skips the others, as
-- the claim already does. The rest of the function is 0009's.
CREATE OR REPLACE FUNCTION sequin.receive(p_consumer uuid, n int)
RETURNS TABLE (ack_id uuid, deliver_count int, key text, seq bigint, data text,
               data_hash bytea, inserted_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE c sequin.consumers; got int; wait interval; held int;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT * INTO c FROM sequin.consumers WHERE id = p_consumer;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no consumer %', p_consumer USING ERRCODE = 'foreign_key_violation';
  END IF;
  wait := make_interval(secs => c.ack_wait_ms / 1000.0);
  -- Leases that ran out: deliverable again, or dead once max_deliver deliveries are spent.
  -- Rows another transaction holds (an ack of that very lease, another receive doing this)
  -- are skipped: that transaction settles them, or the next receive does.
  UPDATE sequin.deliveries d
     SET state = CASE WHEN d.deliver_count >= c.max_deliver THEN 3 ELSE 0 END
   WHERE d.ctid = ANY (ARRAY(
           SELECT r.ctid FROM sequin.deliveries r
            WHERE r.consumer = p_consumer AND r.state = 1 AND r.not_visible_until <= now()
            FOR UPDATE SKIP LOCKED))
     AND d.state = 1;
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
