-- When a long poll that found nothing should look again without news from an upsert, in
-- milliseconds from now (0: at once), or -1 when nothing but news can change its answer:
--
-- - at once, when the consumer has room under max_ack_pending and something it could take
--   is there: messages its fills have not scanned yet, or delivery rows deliverable now. A
--   receive finds nothing beside them when another receive of the consumer is filling (a
--   fill skips a consumer another one fills: the rows appear when that fill commits, maybe
--   just after this receive looked), or when its own fill's scan of 500 messages matched none
--   of them. No news will come for messages already stored, so a long poll that parked until
--   news would wait out its whole wait_for while they sit there (seen as empty answers under
--   load in test_wire_format and test_sequind_consumers). Without room, looking again would
--   only spin: the leases' end is what it waits for.
-- - else the earliest moment one of the consumer's messages turns deliverable by the clock
--   alone, when a lease runs out or a nack's delay ends.
--
-- The server's timer uses it (docs/operations.md, "Long polls"); the database's clock decides,
-- so the nodes' clocks need not agree.
CREATE OR REPLACE FUNCTION sequin.next_visible(p_consumer uuid) RETURNS bigint
LANGUAGE plpgsql STABLE SET enable_seqscan = off SET jit = off AS $$
DECLARE c sequin.consumers;
BEGIN
  SELECT * INTO c FROM sequin.consumers WHERE id = p_consumer;
  IF FOUND AND sequin.leased(p_consumer, c.max_ack_pending) < c.max_ack_pending
     AND (EXISTS (SELECT 1 FROM sequin.messages m
                   WHERE m.stream = c.stream AND m.seq > c.scanned)
          OR EXISTS (SELECT 1 FROM sequin.deliveries d
                      WHERE d.consumer = p_consumer AND d.state = 0
                        AND d.not_visible_until <= now())) THEN
    RETURN 0;
  END IF;
  RETURN (
    SELECT CASE WHEN t IS NULL THEN -1
                ELSE greatest(0, ceil(extract(epoch FROM t - now()) * 1000))::bigint END
      FROM least((SELECT min(d.not_visible_until) FROM sequin.deliveries d
                   WHERE d.consumer = p_consumer AND d.state = 1),
                 (SELECT min(d.not_visible_until) FROM sequin.deliveries d
                   WHERE d.consumer = p_consumer AND d.state = 0
                     AND d.not_visible_until > now())) AS t);
END $$;
