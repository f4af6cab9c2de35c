-- When a long poll that found nothing should look again without news from an upsert: the
-- earliest moment one of the consumer's messages turns deliverable by the clock alone, when
-- a lease runs out or a nack's delay ends. In milliseconds from now (0 when one already has),
-- or -1 when nothing is waiting on the clock. The server's timer uses it (docs/operations.md,
-- "Long polls"); the database's clock decides, so the nodes' clocks need not agree.
CREATE OR REPLACE FUNCTION sequin.next_visible(p_consumer uuid) RETURNS bigint
LANGUAGE plpgsql STABLE SET enable_seqscan = off SET jit = off AS $$
BEGIN
  RETURN (
    SELECT CASE WHEN t IS NULL THEN -1
                ELSE greatest(0, ceil(extract(epoch FROM t - now()) * 1000))::bigint END
      FROM least((SELECT min(d.not_visible_until) FROM sequin.deliveries d
                   WHERE d.consumer = p_consumer AND d.state = 1),
                 (SELECT min(d.not_visible_until) FROM sequin.deliveries d
                   WHERE d.consumer = p_consumer AND d.state = 0
                     AND d.not_visible_until > now())) AS t);
END $$;
