-- The hot SQL-language functions become PL/pgSQL, with the same signatures and statements.
-- PostgreSQL 15 parses and plans the body of a SQL-language function again on every query
-- that calls it (only a single-expression body is inlined into the caller instead), while
-- PL/pgSQL keeps its statements' plans for the life of the connection. Found by a profile of
-- receive 10 + ack (docs/performance.md): the parser and planner ran on every ack and every
-- claim. Measured one call at a time on an empty table: sequin.ack 280 us as SQL, 106 us as
-- PL/pgSQL.
--
-- A kept plan has its own hazard: it is made for the tables as they are at a connection's
-- first calls. A consumer's first receives meet a nearly empty deliveries table and a young
-- stream, and the plans that suit those stay while the tables grow (until an ANALYZE
-- replaces them). Two were measured:
-- - the ack's lookup kept a sequential scan of the deliveries. Every query of the receive
--   and lease calls has an index or a ctid to go by, so these calls run with
--   `enable_seqscan` off; a sequential scan is then chosen only where nothing else exists
--   (the sequence, one row). That scan then costs 1e10 on paper, past `jit_above_cost`, and
--   PostgreSQL compiled it with LLVM: 77 ms per fill. So `jit` is off in the same calls;
--   nothing in them is worth compiling.
-- - the claim's join of delivery rows to messages, kept from a stream's first seconds,
--   started from the stream's messages (two, then) and looked up each one's delivery row; a
--   minute later it read the whole stream on every receive (end-to-end p99 8 ms -> 750 ms).
--   The claim stays SQL, planned on every call with the tables' current sizes.

-- Without STRICT, the body (one CASE expression) is inlined into the query that calls it:
-- the same answer, NULL for NULL, with no function call per row.
CREATE OR REPLACE FUNCTION sequin.iso(t timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN isfinite(t)
              THEN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END
$$;

CREATE OR REPLACE FUNCTION sequin.leased(p_consumer uuid, upto int) RETURNS int
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT count(*)::int FROM (SELECT 1 FROM sequin.deliveries
                                      WHERE consumer = p_consumer AND state = 1 LIMIT upto) x);
END $$;

-- The rows of a consumer's leases that `ids` name, locked, found through the ack_id index
-- alone. The SQL versions of ack, nack and extend put `consumer = ... AND state = 1` beside
-- `ack_id = ANY (ids)`, and with statistics taken while the consumer held few leases the
-- planner read them through the index of leased rows: every ack then read every lease its
-- consumer held (2 ms for 10 acks among 8,000 leases). Here the query has no other condition
-- an index could serve, the checks are made on the locked rows, and the statements that
-- follow go by ctid. Locks are taken in ack_id order, so two acks naming the same leases do
-- not deadlock. Its callers force generic plans: a custom plan knows how many ids or ctids
-- an array holds and always looks cheaper than the generic one (which assumes ten), so
-- PostgreSQL planned these statements again on every call (an ack: 0.30-0.37 ms instead of
-- 0.15-0.16, one call at a time on an empty table). The generic plans are the index and
-- ctid scans these statements are written for.
CREATE FUNCTION sequin.held(p_consumer uuid, ids uuid[]) RETURNS tid[]
LANGUAGE plpgsql AS $$
DECLARE r record; found tid[] := '{}';
BEGIN
  FOR r IN SELECT d.ctid, d.consumer, d.state FROM sequin.deliveries d
            WHERE d.ack_id = ANY (ids) ORDER BY d.ack_id FOR UPDATE LOOP
    IF r.consumer = p_consumer AND r.state = 1 THEN
      found := found || r.ctid;
    END IF;
  END LOOP;
  RETURN found;
END $$;

-- Acks: a message changed under its lease becomes available again (the newer data is due);
-- otherwise the pair is done: deleted below the cursor, kept as acked above it. The three
-- statements take disjoint rows; a row one of them changed has a new ctid, so the next ones
-- do not meet it again.
CREATE OR REPLACE FUNCTION sequin.ack(p_consumer uuid, ids uuid[]) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off SET jit = off
  SET plan_cache_mode = force_generic_plan AS $$
DECLARE h tid[];
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  h := sequin.held(p_consumer, ids);
  UPDATE sequin.deliveries d SET state = 0, not_visible_until = '-infinity'
   WHERE d.ctid = ANY (h) AND d.seq > d.delivered_seq;
  DELETE FROM sequin.deliveries d USING sequin.consumers c
   WHERE d.ctid = ANY (h) AND d.seq = d.delivered_seq AND c.id = p_consumer
     AND d.seq <= c.cursor;
  UPDATE sequin.deliveries d SET state = 2
   WHERE d.ctid = ANY (h) AND d.seq = d.delivered_seq;
END $$;

CREATE OR REPLACE FUNCTION sequin.nack(p_consumer uuid, ids uuid[], delay_ms int) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off SET jit = off
  SET plan_cache_mode = force_generic_plan AS $$
DECLARE h tid[];
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  h := sequin.held(p_consumer, ids);
  UPDATE sequin.deliveries d
     SET state = CASE WHEN d.deliver_count >= c.max_deliver THEN 3 ELSE 0 END,
         not_visible_until = now() + make_interval(secs => delay_ms / 1000.0)
    FROM sequin.consumers c
   WHERE d.ctid = ANY (h) AND c.id = p_consumer;
END $$;

CREATE OR REPLACE FUNCTION sequin.extend(p_consumer uuid, ids uuid[]) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off SET jit = off
  SET plan_cache_mode = force_generic_plan AS $$
DECLARE h tid[];
BEGIN
  h := sequin.held(p_consumer, ids);
  UPDATE sequin.deliveries d
     SET not_visible_until = now() + make_interval(secs => c.ack_wait_ms / 1000.0)
    FROM sequin.consumers c
   WHERE d.ctid = ANY (h) AND d.not_visible_until > now() AND c.id = p_consumer;
END $$;

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

-- The receive (0011's) runs its own queries, leased and fill the same way.
ALTER FUNCTION sequin.receive(uuid, int) SET enable_seqscan = off;
ALTER FUNCTION sequin.receive(uuid, int) SET jit = off;

-- The consumer's stats (the consumer API and /metrics) count its delivery rows and the
-- messages its fills have not reached; planned once on a small table, they too would scan
-- the whole of both tables on every call.
ALTER FUNCTION sequin.consumer_stats(uuid) SET enable_seqscan = off;
ALTER FUNCTION sequin.consumer_stats(uuid) SET jit = off;
