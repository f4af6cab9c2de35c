-- Acks: a message changed under its lease becomes available again (the newer data is due);
-- otherwise the pair is done: deleted below the cursor, kept as acked above it. The three
-- statements take disjoint rows; a row one of them changed has a new ctid, so the next ones
-- do not meet it again. Commits asynchronously, like receive: a lost ack is a redelivery.
--
-- Generic plans are forced: a custom plan knows how many ids an array holds and always looks
-- cheaper than the generic one, so PostgreSQL planned these statements on every call (0.30 ms
-- an ack instead of 0.15 ms); the generic plans are the index and ctid scans they are
-- written for. No sequential scans, no JIT: docs/store.md, "Lessons already paid for".
CREATE OR REPLACE FUNCTION sequin.ack(p_consumer uuid, ids uuid[]) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off SET jit = off
  SET plan_cache_mode = force_generic_plan AS $$
DECLARE h tid[] := sequin.held(p_consumer, ids);
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  UPDATE sequin.deliveries d SET state = 0, not_visible_until = '-infinity'
   WHERE d.ctid = ANY (h) AND d.seq > d.delivered_seq;
  DELETE FROM sequin.deliveries d USING sequin.consumers c
   WHERE d.ctid = ANY (h) AND d.seq = d.delivered_seq AND c.id = p_consumer
     AND d.seq <= c.cursor;
  UPDATE sequin.deliveries d SET state = 2
   WHERE d.ctid = ANY (h) AND d.seq = d.delivered_seq;
END $$;
