-- Leases up to n deliverable messages of a consumer: claim first, fill only when short.
--
-- max_ack_pending: more than 1000 below it (the largest batch), receivers do not coordinate;
-- nearer, each takes the consumer's advisory lock and counts again under it, so the limit
-- is exact where it matters (docs/store.md has the argument).
--
-- A consumer that does not exist (any more) is an error, foreign_key_violation, which the
-- store reports as "not found": a server that resolved the consumer's name a moment ago then
-- learns that it was deleted, rather than long-polling on it for nothing.
--
-- Receive commits asynchronously (its own transaction only): a lease lost in a crash of
-- PostgreSQL means the message is delivered again, which at-least-once delivery allows.
-- Its queries run without sequential scans and without JIT: docs/store.md, "Lessons already
-- paid for" (plans kept from a small table; a one-row scan compiled by LLVM).
CREATE OR REPLACE FUNCTION sequin.receive(p_consumer uuid, n int)
RETURNS TABLE (ack_id uuid, deliver_count int, key text, seq bigint, data text,
               data_hash bytea, inserted_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql SET enable_seqscan = off SET jit = off AS $$
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
  -- are skipped: that transaction settles them, or the next receive does. Taking them all
  -- in whatever order they come deadlocked with late acks (docs/reliability.md).
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
