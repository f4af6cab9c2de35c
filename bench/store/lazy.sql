-- Prototype B, lazy fan-out: an upsert writes only the message. A consumer materialises its
-- delivery rows when it receives ("fill", one filler per consumer at a time), scanning the
-- messages after its cursor in seq order; receivers then claim delivery rows with SKIP LOCKED
-- exactly as in prototype A. Writing costs the same for 1 or 1000 consumers.
--
-- The cursor must never pass a seq that is still uncommitted (seq order is not commit order).
-- It advances only to the horizon: the highest seq proven settled. Proof: every upsert takes
-- its transaction id before its first nextval. The horizon records a candidate (S = the
-- sequence's last value, then X = xmax of a snapshot taken after reading S). Any transaction
-- holding a seq <= S got its xid before reading S, so that xid < X. Once a later snapshot
-- has xmin >= X, all of them have ended, and S is settled. Rows above the horizon are still
-- filled (delivery never waits for it); they are only scanned again, harmlessly, next time.
CREATE SEQUENCE proto.l_seq;
CREATE TABLE proto.l_messages (
  stream_id int NOT NULL,
  key text COLLATE "C" NOT NULL,
  seq bigint NOT NULL,
  data text NOT NULL,
  data_hash bytea NOT NULL,
  inserted_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stream_id, key)
);
CREATE UNIQUE INDEX ON proto.l_messages (stream_id, seq);

CREATE TABLE proto.l_consumers (
  id int PRIMARY KEY,
  stream_id int NOT NULL,
  filter text NOT NULL,
  regex text NOT NULL,
  fill_cursor bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 50);

CREATE TABLE proto.l_horizon (
  id int PRIMARY KEY,
  safe_seq bigint NOT NULL,
  cand_seq bigint NOT NULL,
  cand_xmax xid8 NOT NULL
) WITH (fillfactor = 20);
INSERT INTO proto.l_horizon VALUES (1, 0, 0, '0');

-- As in prototype A, plus state 2: acked, kept only while its seq is above the fill cursor
-- (a rescan must not bring it back); below the cursor an ack deletes the row.
CREATE TABLE proto.l_deliveries (
  consumer_id int NOT NULL,
  key text COLLATE "C" NOT NULL,
  seq bigint NOT NULL,
  delivered_seq bigint NOT NULL DEFAULT 0,
  state smallint NOT NULL DEFAULT 0,
  deliver_count int NOT NULL DEFAULT 0,
  not_visible_until timestamptz NOT NULL DEFAULT '-infinity',
  last_delivered_at timestamptz,
  ack_id uuid NOT NULL DEFAULT gen_random_uuid(),
  PRIMARY KEY (consumer_id, key)
) WITH (fillfactor = 80);
CREATE INDEX l_ready ON proto.l_deliveries (consumer_id, seq) WHERE state = 0;
CREATE INDEX l_leased ON proto.l_deliveries (consumer_id, not_visible_until) WHERE state = 1;
CREATE UNIQUE INDEX ON proto.l_deliveries (ack_id);
CREATE INDEX l_acked ON proto.l_deliveries (consumer_id, seq) WHERE state = 2;

-- 'orders.*.cus_a.>' -> '^orders\.[^.]+\.cus_a\..+$'
CREATE FUNCTION proto.filter_regex(filter text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT '^' || string_agg(CASE t WHEN '*' THEN '[^.]+' WHEN '>' THEN '.+'
                                  ELSE regexp_replace(t, '([^A-Za-z0-9_])', '\\\1', 'g') END,
                           '\.' ORDER BY i) || '$'
  FROM unnest(string_to_array(filter, '.')) WITH ORDINALITY AS u(t, i)
$$;

CREATE FUNCTION proto.l_upsert(keys text[], datas text[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  PERFORM pg_current_xact_id(); -- the xid first: the horizon's proof depends on it
  WITH up AS (
    INSERT INTO proto.l_messages AS m (stream_id, key, seq, data, data_hash)
    SELECT 1, k, nextval('proto.l_seq'), d, decode(md5(d), 'hex')
    FROM unnest(keys, datas) AS u(k, d)
    ON CONFLICT (stream_id, key) DO UPDATE
      SET data = excluded.data, data_hash = excluded.data_hash, seq = excluded.seq,
          updated_at = now()
      WHERE m.data_hash <> excluded.data_hash
    RETURNING 1
  ) SELECT count(*) INTO n FROM up;
  RETURN n;
END $$;

-- The highest settled seq; promotes the candidate when the snapshot proves it.
CREATE FUNCTION proto.l_safe_seq() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE h proto.l_horizon; last bigint; snap pg_snapshot;
BEGIN
  SELECT * INTO h FROM proto.l_horizon WHERE id = 1 FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN -- another receiver is promoting it right now
    RETURN (SELECT safe_seq FROM proto.l_horizon WHERE id = 1);
  END IF;
  SELECT last_value INTO last FROM proto.l_seq; -- first the sequence...
  snap := pg_current_snapshot();                 -- ...then the snapshot
  IF pg_snapshot_xmin(snap) >= h.cand_xmax THEN
    UPDATE proto.l_horizon
       SET safe_seq = h.cand_seq, cand_seq = last, cand_xmax = pg_snapshot_xmax(snap)
     WHERE id = 1;
    RETURN h.cand_seq;
  END IF;
  RETURN h.safe_seq;
END $$;

CREATE FUNCTION proto.l_fill(cid int, scan int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE c proto.l_consumers; safe bigint; top bigint;
BEGIN
  SELECT * INTO c FROM proto.l_consumers WHERE id = cid FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN; -- another receiver of this consumer is filling
  END IF;
  safe := proto.l_safe_seq();
  WITH scanned AS (
    SELECT m.key, m.seq FROM proto.l_messages m
     WHERE m.stream_id = c.stream_id AND m.seq > c.fill_cursor
     ORDER BY m.seq LIMIT scan
  ), ins AS (
    INSERT INTO proto.l_deliveries AS d (consumer_id, key, seq)
    SELECT cid, s.key, s.seq FROM scanned s WHERE s.key ~ c.regex
    ON CONFLICT (consumer_id, key) DO UPDATE
      SET seq = excluded.seq,
          state = CASE WHEN d.state = 1 THEN 1 ELSE 0 END,
          deliver_count = CASE WHEN d.state = 3 THEN 0 ELSE d.deliver_count END
      WHERE d.seq < excluded.seq
  )
  SELECT max(seq) INTO top FROM scanned;
  IF top IS NOT NULL AND least(top, safe) > c.fill_cursor THEN
    UPDATE proto.l_consumers SET fill_cursor = least(top, safe) WHERE id = cid;
    DELETE FROM proto.l_deliveries
     WHERE consumer_id = cid AND state = 2 AND seq <= least(top, safe);
  END IF;
END $$;

CREATE FUNCTION proto.l_receive(cid int, n int) RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
BEGIN
  -- Materialise more only when the ready rows run low: the table stays a small window.
  IF (SELECT count(*) FROM (SELECT 1 FROM proto.l_deliveries
                             WHERE consumer_id = cid AND state = 0 LIMIT 200) w) < 200 THEN
    PERFORM proto.l_fill(cid, 1000);
  END IF;
  UPDATE proto.l_deliveries SET state = 0
   WHERE consumer_id = cid AND state = 1 AND not_visible_until <= now();
  RETURN QUERY
  -- Update by ctid: a join on the key lets a generic plan (n unknown) pick a hash join
  -- over a scan of the whole table; a TID scan is right for any n.
  UPDATE proto.l_deliveries d
     SET state = 1, deliver_count = d.deliver_count + 1, delivered_seq = d.seq,
         not_visible_until = now() + interval '30 seconds', last_delivered_at = now()
   WHERE d.ctid = ANY (ARRAY(
           SELECT ctid FROM proto.l_deliveries
            WHERE consumer_id = cid AND state = 0
            ORDER BY seq LIMIT n FOR UPDATE SKIP LOCKED))
  RETURNING d.ack_id;
END $$;

CREATE FUNCTION proto.l_ack(cid int, ids uuid[]) RETURNS void
LANGUAGE sql AS $$
  UPDATE proto.l_deliveries SET state = 0
   WHERE ack_id = ANY (ids) AND consumer_id = cid AND state = 1 AND seq > delivered_seq;
  -- Done: below the cursor the row can go; above it, it must stay to block a rescan.
  DELETE FROM proto.l_deliveries d USING proto.l_consumers c
   WHERE d.ack_id = ANY (ids) AND d.consumer_id = cid AND d.state = 1
     AND d.seq = d.delivered_seq AND c.id = cid AND d.seq <= c.fill_cursor;
  UPDATE proto.l_deliveries SET state = 2
   WHERE ack_id = ANY (ids) AND consumer_id = cid AND state = 1 AND seq = delivered_seq;
$$;

-- Variant B2, "dispatch as leased": new messages go from the stream straight into leased
-- delivery rows under the consumer's row lock (one dispatcher at a time per consumer), so a
-- message costs one insert and the ack's delete, like the plain queue's update and delete.
-- Redeliveries (expired leases, nacks, changes after an ack) are claimed from the delivery
-- rows with SKIP LOCKED, concurrently.
CREATE FUNCTION proto.l2_receive(cid int, n int) RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
DECLARE c proto.l_consumers; got int; safe bigint;
BEGIN
  UPDATE proto.l_deliveries SET state = 0
   WHERE consumer_id = cid AND state = 1 AND not_visible_until <= now();
  RETURN QUERY
  UPDATE proto.l_deliveries d
     SET state = 1, deliver_count = d.deliver_count + 1, delivered_seq = d.seq,
         not_visible_until = now() + interval '30 seconds', last_delivered_at = now()
   WHERE d.ctid = ANY (ARRAY(
           SELECT ctid FROM proto.l_deliveries
            WHERE consumer_id = cid AND state = 0
            ORDER BY seq LIMIT n FOR UPDATE SKIP LOCKED))
  RETURNING d.ack_id;
  GET DIAGNOSTICS got = ROW_COUNT;
  IF got >= n THEN
    RETURN;
  END IF;

  SELECT * INTO c FROM proto.l_consumers WHERE id = cid FOR UPDATE;
  safe := proto.l_safe_seq();
  RETURN QUERY
  -- Scanned lazily in seq order: the scan stops at the n-th match, inside a window of the
  -- next 1000 messages (a sparse filter must not scan the whole stream under the lock).
  WITH picked AS (
    SELECT s.key, s.seq FROM (
      SELECT m.key, m.seq FROM proto.l_messages m
       WHERE m.stream_id = c.stream_id AND m.seq > c.fill_cursor
       ORDER BY m.seq LIMIT 1000) s
     WHERE s.key ~ c.regex
       AND NOT EXISTS (SELECT 1 FROM proto.l_deliveries d
                        WHERE d.consumer_id = cid AND d.key = s.key AND d.seq >= s.seq)
     ORDER BY s.seq LIMIT n - got
  ), reach AS (
    -- How far the cursor may move: past what is handed out, or past the whole window when
    -- it held fewer matches; never past the horizon.
    SELECT least(safe, CASE WHEN (SELECT count(*) FROM picked) >= n - got
                            THEN (SELECT max(seq) FROM picked)
                            ELSE (SELECT max(w.seq) FROM (
                                    SELECT m.seq FROM proto.l_messages m
                                     WHERE m.stream_id = c.stream_id AND m.seq > c.fill_cursor
                                     ORDER BY m.seq LIMIT 1000) w) END) AS upto
  ), moved AS (
    UPDATE proto.l_consumers SET fill_cursor = reach.upto FROM reach
     WHERE id = cid AND reach.upto > c.fill_cursor
  ), ins AS (
    INSERT INTO proto.l_deliveries AS d (consumer_id, key, seq, delivered_seq, state,
                                         deliver_count, not_visible_until, last_delivered_at)
    SELECT cid, p.key, p.seq, p.seq, 1, 1, now() + interval '30 seconds', now() FROM picked p
    ON CONFLICT (consumer_id, key) DO UPDATE
      -- A version still leased keeps its lease and only learns the new seq (pending
      -- redelivery); anything else is leased now with the new data.
      SET seq = excluded.seq,
          delivered_seq = CASE WHEN d.state = 1 THEN d.delivered_seq ELSE excluded.seq END,
          deliver_count = CASE WHEN d.state = 1 THEN d.deliver_count
                               WHEN d.state = 3 THEN 1 ELSE d.deliver_count + 1 END,
          not_visible_until = CASE WHEN d.state = 1 THEN d.not_visible_until
                                   ELSE excluded.not_visible_until END,
          last_delivered_at = CASE WHEN d.state = 1 THEN d.last_delivered_at ELSE now() END,
          state = 1
    RETURNING d.ack_id, d.seq = d.delivered_seq AS handed
  )
  SELECT ack_id FROM ins WHERE handed;
END $$;

-- Upsert as the server will send it: the data hashes computed by the worker (in C, off the
-- database's CPU), all three columns as arrays.
CREATE FUNCTION proto.l_upsert_h(keys text[], datas text[], hashes bytea[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  PERFORM pg_current_xact_id();
  WITH up AS (
    INSERT INTO proto.l_messages AS m (stream_id, key, seq, data, data_hash)
    SELECT 1, k, nextval('proto.l_seq'), d, h
    FROM unnest(keys, datas, hashes) AS u(k, d, h)
    ON CONFLICT (stream_id, key) DO UPDATE
      SET data = excluded.data, data_hash = excluded.data_hash, seq = excluded.seq,
          updated_at = now()
      WHERE m.data_hash <> excluded.data_hash
    RETURNING 1
  ) SELECT count(*) INTO n FROM up;
  RETURN n;
END $$;
CREATE SEQUENCE proto.keygen; -- benchmark keys in increasing order

-- Variant B3, "concurrent dispatch": like B2 (new messages go straight into leased rows) but
-- without serialising receivers on the consumer row. Receivers scan from the cursor at the
-- same time and split the messages between them with a try-lock per (consumer, key) held to
-- commit. A receiver whose snapshot predates another's commit may pick a key that was just
-- leased: ON CONFLICT updates only a row that is not leased at that seq, so it is not handed
-- out twice. The cursor moves now and then (one mover at a time, SKIP LOCKED), never past
-- the first matching message that has no committed delivery row, nor past the horizon.
CREATE FUNCTION proto.l3_advance(cid int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE c proto.l_consumers; safe bigint; upto bigint;
BEGIN
  SELECT * INTO c FROM proto.l_consumers WHERE id = cid FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  safe := proto.l_safe_seq();
  WITH w AS (
    SELECT m.key, m.seq FROM proto.l_messages m
     WHERE m.stream_id = c.stream_id AND m.seq > c.fill_cursor ORDER BY m.seq LIMIT 1000
  ), hole AS (
    SELECT min(w.seq) AS seq FROM w
     WHERE w.key ~ c.regex
       AND NOT EXISTS (SELECT 1 FROM proto.l_deliveries d
                        WHERE d.consumer_id = cid AND d.key = w.key AND d.seq >= w.seq)
  )
  SELECT least(safe, coalesce((SELECT seq FROM hole) - 1, (SELECT max(seq) FROM w))) INTO upto;
  IF upto > c.fill_cursor THEN
    UPDATE proto.l_consumers SET fill_cursor = upto WHERE id = cid;
    DELETE FROM proto.l_deliveries WHERE consumer_id = cid AND state = 2 AND seq <= upto;
  END IF;
END $$;

CREATE FUNCTION proto.l3_receive(cid int, n int) RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
DECLARE c proto.l_consumers; got int;
BEGIN
  UPDATE proto.l_deliveries SET state = 0
   WHERE consumer_id = cid AND state = 1 AND not_visible_until <= now();
  RETURN QUERY
  UPDATE proto.l_deliveries d
     SET state = 1, deliver_count = d.deliver_count + 1, delivered_seq = d.seq,
         not_visible_until = now() + interval '30 seconds', last_delivered_at = now()
   WHERE d.ctid = ANY (ARRAY(
           SELECT ctid FROM proto.l_deliveries
            WHERE consumer_id = cid AND state = 0
            ORDER BY seq LIMIT n FOR UPDATE SKIP LOCKED))
  RETURNING d.ack_id;
  GET DIAGNOSTICS got = ROW_COUNT;
  IF got < n THEN
    SELECT * INTO c FROM proto.l_consumers WHERE id = cid;
    RETURN QUERY
    WITH picked AS (
      SELECT s.key, s.seq FROM (
        SELECT m.key, m.seq FROM proto.l_messages m
         WHERE m.stream_id = c.stream_id AND m.seq > c.fill_cursor
         ORDER BY m.seq LIMIT 2000) s
       WHERE s.key ~ c.regex
         AND NOT EXISTS (SELECT 1 FROM proto.l_deliveries d
                          WHERE d.consumer_id = cid AND d.key = s.key AND d.seq >= s.seq)
         AND pg_try_advisory_xact_lock(hashtextextended(s.key, cid))
       ORDER BY s.seq LIMIT n - got
    ), ins AS (
      INSERT INTO proto.l_deliveries AS d (consumer_id, key, seq, delivered_seq, state,
                                           deliver_count, not_visible_until, last_delivered_at)
      SELECT cid, p.key, p.seq, p.seq, 1, 1, now() + interval '30 seconds', now() FROM picked p
      ON CONFLICT (consumer_id, key) DO UPDATE
        SET seq = excluded.seq,
            delivered_seq = CASE WHEN d.state = 1 THEN d.delivered_seq ELSE excluded.seq END,
            deliver_count = CASE WHEN d.state = 1 THEN d.deliver_count
                                 WHEN d.state = 3 THEN 1 ELSE d.deliver_count + 1 END,
            not_visible_until = CASE WHEN d.state = 1 THEN d.not_visible_until
                                     ELSE excluded.not_visible_until END,
            last_delivered_at = CASE WHEN d.state = 1 THEN d.last_delivered_at ELSE now() END,
            state = 1
        WHERE d.state <> 1 OR d.seq < excluded.seq
      RETURNING d.ack_id, d.seq = d.delivered_seq AS handed
    )
    SELECT ack_id FROM ins WHERE handed;
  END IF;
  IF random() < 0.1 THEN
    PERFORM proto.l3_advance(cid);
  END IF;
END $$;

-- Variant B4, the fill of B tuned: claim first, fill only when the claim came up short (no
-- counting of ready rows on every receive), and fill 500 at a time.
CREATE FUNCTION proto.l4_receive(cid int, n int) RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
DECLARE got int;
BEGIN
  UPDATE proto.l_deliveries SET state = 0
   WHERE consumer_id = cid AND state = 1 AND not_visible_until <= now();
  RETURN QUERY
  UPDATE proto.l_deliveries d
     SET state = 1, deliver_count = d.deliver_count + 1, delivered_seq = d.seq,
         not_visible_until = now() + interval '30 seconds', last_delivered_at = now()
   WHERE d.ctid = ANY (ARRAY(
           SELECT ctid FROM proto.l_deliveries
            WHERE consumer_id = cid AND state = 0
            ORDER BY seq LIMIT n FOR UPDATE SKIP LOCKED))
  RETURNING d.ack_id;
  GET DIAGNOSTICS got = ROW_COUNT;
  IF got < n THEN
    PERFORM proto.l_fill(cid, 500);
    RETURN QUERY
    UPDATE proto.l_deliveries d
       SET state = 1, deliver_count = d.deliver_count + 1, delivered_seq = d.seq,
           not_visible_until = now() + interval '30 seconds', last_delivered_at = now()
     WHERE d.ctid = ANY (ARRAY(
             SELECT ctid FROM proto.l_deliveries
              WHERE consumer_id = cid AND state = 0
              ORDER BY seq LIMIT n - got FOR UPDATE SKIP LOCKED))
    RETURNING d.ack_id;
  END IF;
END $$;
