-- When a long poll that found nothing should look again without news from an upsert, in
-- milliseconds from now (0: at once), or -1 when nothing but news can change its answer:
--
-- - at once, when the stream holds messages the consumer's fills have not scanned yet. A
--   receive finds nothing while such messages wait when another receive of the consumer is
--   filling (a fill skips a consumer another one fills), or when its own fill's scan of 500
--   messages matched none of them; either way no news will come for messages already
--   stored, so a long poll that parked until news would wait out its whole wait_for while
--   they sit there (seen as empty answers under load in test_wire_format and
--   test_sequind_consumers). Looking again lets the next fill scan them.
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
  IF FOUND AND EXISTS (SELECT 1 FROM sequin.messages m
                        WHERE m.stream = c.stream AND m.seq > c.scanned) THEN
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
