-- Nack: the lease ends now; the message is available again after `delay_ms`, or dead when it
-- has had max_deliver deliveries (a nack is a failed delivery, like an expired lease). Ids
-- that hold no lease are ignored. Plans and commit as for sequin.ack.
CREATE OR REPLACE FUNCTION sequin.nack(p_consumer uuid, ids uuid[], delay_ms int) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off SET jit = off
  SET plan_cache_mode = force_generic_plan AS $$
DECLARE h tid[] := sequin.held(p_consumer, ids);
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  UPDATE sequin.deliveries d
     SET state = CASE WHEN d.deliver_count >= c.max_deliver THEN 3 ELSE 0 END,
         not_visible_until = now() + make_interval(secs => delay_ms / 1000.0)
    FROM sequin.consumers c
   WHERE d.ctid = ANY (h) AND c.id = p_consumer;
END $$;
