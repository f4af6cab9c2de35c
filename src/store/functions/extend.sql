-- Extend: a held lease runs for another ack_wait from now; anything else is left alone.
-- Plans as for sequin.ack.
CREATE OR REPLACE FUNCTION sequin.extend(p_consumer uuid, ids uuid[]) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off SET jit = off
  SET plan_cache_mode = force_generic_plan AS $$
DECLARE h tid[] := sequin.held(p_consumer, ids);
BEGIN
  UPDATE sequin.deliveries d
     SET not_visible_until = now() + make_interval(secs => c.ack_wait_ms / 1000.0)
    FROM sequin.consumers c
   WHERE d.ctid = ANY (h) AND d.not_visible_until > now() AND c.id = p_consumer;
END $$;
