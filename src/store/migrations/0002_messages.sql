-- Messages, consumers and their delivery state: the lazy fan-out design of docs/store.md.
-- An upsert writes only the message; a consumer materialises delivery rows when it receives.

-- CACHE 1: with per-backend caching a later change could get a smaller seq (SPEC 3 forbids).
CREATE SEQUENCE sequin.seq AS bigint CACHE 1;

CREATE TABLE sequin.messages (
  stream int NOT NULL REFERENCES sequin.streams (num) ON DELETE CASCADE,
  key text COLLATE "C" NOT NULL,
  seq bigint NOT NULL,
  data text NOT NULL,
  data_hash bytea NOT NULL,
  inserted_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stream, key)
);
CREATE UNIQUE INDEX messages_seq ON sequin.messages (stream, seq);

CREATE TABLE sequin.consumers (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  stream int NOT NULL REFERENCES sequin.streams (num) ON DELETE CASCADE,
  name text NOT NULL CHECK (name ~ '^[a-zA-Z0-9_]{1,64}$'),
  filter text NOT NULL,
  regex text NOT NULL,
  ack_wait_ms int NOT NULL DEFAULT 30000,
  max_ack_pending int NOT NULL DEFAULT 10000,
  max_deliver int,
  deliver_policy text NOT NULL DEFAULT 'all',
  managed_by text NOT NULL DEFAULT 'api',
  -- Every message with seq <= cursor is settled for this consumer; every visible one up to
  -- `scanned` has been looked at. Between the two, a late commit may still appear
  -- (docs/store.md); the window is as wide as the horizon's lag.
  cursor bigint NOT NULL DEFAULT 0,
  scanned bigint NOT NULL DEFAULT 0,
  inserted_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stream, name)
) WITH (fillfactor = 50);

-- state: 0 available (from not_visible_until on: a nack may delay it), 1 leased until
-- not_visible_until, 2 acked (kept only while seq > the consumer's cursor), 3 dead.
-- delivered_seq < seq while leased: the message changed under the lease.
CREATE TABLE sequin.deliveries (
  consumer uuid NOT NULL REFERENCES sequin.consumers (id) ON DELETE CASCADE,
  key text COLLATE "C" NOT NULL,
  seq bigint NOT NULL,
  delivered_seq bigint NOT NULL DEFAULT 0,
  state smallint NOT NULL DEFAULT 0,
  deliver_count int NOT NULL DEFAULT 0,
  not_visible_until timestamptz NOT NULL DEFAULT '-infinity',
  last_delivered_at timestamptz,
  ack_id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
  PRIMARY KEY (consumer, key)
) WITH (fillfactor = 80);
CREATE INDEX deliveries_ready ON sequin.deliveries (consumer, seq) WHERE state = 0;
CREATE INDEX deliveries_leased ON sequin.deliveries (consumer, not_visible_until) WHERE state = 1;
CREATE INDEX deliveries_acked ON sequin.deliveries (consumer, seq) WHERE state = 2;

-- The highest seq proven settled, and the candidate waiting for its proof (docs/store.md).
CREATE TABLE sequin.horizon (
  id int PRIMARY KEY CHECK (id = 1),
  safe_seq bigint NOT NULL,
  cand_seq bigint NOT NULL,
  cand_xmax xid8 NOT NULL
) WITH (fillfactor = 20);
INSERT INTO sequin.horizon VALUES (1, 0, 0, '0');

-- 'orders.*.cus_a.>' -> '^orders\.[^.]+\.cus_a\..+$' (filters are validated before this).
CREATE FUNCTION sequin.filter_regex(filter text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT '^' || string_agg(CASE t WHEN '*' THEN '[^.]+' WHEN '>' THEN '.+'
                                  ELSE regexp_replace(t, '([^A-Za-z0-9_])', '\\\1', 'g') END,
                           '\.' ORDER BY i) || '$'
  FROM unnest(string_to_array(filter, '.')) WITH ORDINALITY AS u(t, i)
$$;

-- Upserts a batch; returns how many messages were inserted or changed. A key named twice
-- keeps its last occurrence; unchanged data (same SHA-256, computed by the worker to spare
-- the database's CPU) is a no-op and takes no seq.
CREATE FUNCTION sequin.upsert(p_stream int, p_keys text[], p_datas text[], p_hashes bytea[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  PERFORM pg_current_xact_id(); -- an xid before any seq: the horizon's proof depends on it
  WITH input AS (
    SELECT DISTINCT ON (k) k, d, h
      FROM unnest(p_keys, p_datas, p_hashes) WITH ORDINALITY AS u(k, d, h, i)
     ORDER BY k, i DESC
  ), up AS (
    INSERT INTO sequin.messages AS m (stream, key, seq, data, data_hash)
    SELECT p_stream, k, nextval('sequin.seq'), d, h FROM input
    ON CONFLICT (stream, key) DO UPDATE
      SET data = excluded.data, data_hash = excluded.data_hash, seq = excluded.seq,
          updated_at = now()
      WHERE m.data_hash <> excluded.data_hash
    RETURNING 1
  ) SELECT count(*) INTO n FROM up;
  RETURN n;
END $$;

CREATE FUNCTION sequin.safe_seq() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE h sequin.horizon; last bigint; snap pg_snapshot;
BEGIN
  SELECT * INTO h FROM sequin.horizon WHERE id = 1 FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN -- another receiver is promoting it right now
    RETURN (SELECT safe_seq FROM sequin.horizon WHERE id = 1);
  END IF;
  SELECT last_value INTO last FROM sequin.seq; -- first the sequence...
  snap := pg_current_snapshot();                -- ...then the snapshot
  IF pg_snapshot_xmin(snap) >= h.cand_xmax THEN
    UPDATE sequin.horizon
       SET safe_seq = h.cand_seq, cand_seq = last, cand_xmax = pg_snapshot_xmax(snap)
     WHERE id = 1;
    RETURN h.cand_seq;
  END IF;
  RETURN h.safe_seq;
END $$;

-- Materialises delivery rows for up to `scan` new messages, and for any message that committed
-- late inside the unsettled window; one filler per consumer at a time, the others skip it.
CREATE FUNCTION sequin.fill(p_consumer uuid, scan int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE c sequin.consumers; safe bigint; top bigint; new_scanned bigint; new_cursor bigint;
BEGIN
  SELECT * INTO c FROM sequin.consumers WHERE id = p_consumer FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  safe := sequin.safe_seq();
  -- New messages after everything scanned so far, and the late commits: a smaller seq that
  -- became visible after larger ones were scanned (only between cursor and scanned). The
  -- two sets never share a key: one row per key, with one seq.
  WITH fresh AS (
    SELECT m.key, m.seq FROM sequin.messages m
     WHERE m.stream = c.stream AND m.seq > c.scanned
     ORDER BY m.seq LIMIT scan
  ), late AS (
    SELECT m.key, m.seq FROM sequin.messages m
     WHERE c.scanned > c.cursor
       AND m.stream = c.stream AND m.seq > c.cursor AND m.seq <= c.scanned
       AND NOT EXISTS (SELECT 1 FROM sequin.deliveries x
                        WHERE x.consumer = p_consumer AND x.key = m.key AND x.seq >= m.seq)
  ), ins AS (
    INSERT INTO sequin.deliveries AS d (consumer, key, seq)
    SELECT p_consumer, u.key, u.seq
      FROM (SELECT * FROM fresh UNION ALL SELECT * FROM late) u
     WHERE u.key ~ c.regex
    ON CONFLICT (consumer, key) DO UPDATE
      SET seq = excluded.seq,
          state = CASE WHEN d.state = 1 THEN 1 ELSE 0 END,
          not_visible_until = CASE WHEN d.state = 1 THEN d.not_visible_until
                                   ELSE '-infinity' END,
          deliver_count = CASE WHEN d.state = 3 THEN 0 ELSE d.deliver_count END
      WHERE d.seq < excluded.seq
  )
  SELECT max(seq) INTO top FROM fresh;
  new_scanned := greatest(c.scanned, coalesce(top, 0));
  new_cursor := greatest(c.cursor, least(new_scanned, safe));
  IF new_scanned > c.scanned OR new_cursor > c.cursor THEN
    UPDATE sequin.consumers SET scanned = new_scanned, cursor = new_cursor WHERE id = p_consumer;
  END IF;
  IF new_cursor > c.cursor THEN
    DELETE FROM sequin.deliveries
     WHERE consumer = p_consumer AND state = 2 AND seq <= new_cursor;
  END IF;
END $$;

-- Leases up to n available rows of a consumer, in seq order, for `wait`. Update by ctid: a
-- join on the key would let a generic plan (n unknown) hash-join over the whole table.
CREATE FUNCTION sequin.claim(p_consumer uuid, n int, wait interval)
RETURNS TABLE (ack_id uuid, key text, seq bigint, deliver_count int)
LANGUAGE sql AS $$
  UPDATE sequin.deliveries d
     SET state = 1, deliver_count = d.deliver_count + 1, delivered_seq = d.seq,
         not_visible_until = now() + wait, last_delivered_at = now()
   WHERE d.ctid = ANY (ARRAY(
           SELECT r.ctid FROM sequin.deliveries r
            WHERE r.consumer = p_consumer AND r.state = 0 AND r.not_visible_until <= now()
            ORDER BY r.seq LIMIT n FOR UPDATE SKIP LOCKED))
  RETURNING d.ack_id, d.key::text, d.seq, d.deliver_count;
$$;

-- Leases up to n deliverable messages in seq order: claim first, fill only when short.
--
-- Receive and ack commit asynchronously (for their own transaction only): a lease or an ack
-- lost in a crash of PostgreSQL means the message is delivered again, which at-least-once
-- delivery allows; waiting for the disk on every receive would halve its throughput
-- (docs/store.md). Upserts keep synchronous commit: an answered upsert is stored.
CREATE FUNCTION sequin.receive(p_consumer uuid, n int)
RETURNS TABLE (ack_id uuid, key text, seq bigint, deliver_count int)
LANGUAGE plpgsql AS $$
DECLARE got int; wait interval; max_deliver int;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT make_interval(secs => c.ack_wait_ms / 1000.0), c.max_deliver INTO wait, max_deliver
    FROM sequin.consumers c WHERE c.id = p_consumer;
  -- Leases that ran out: deliverable again, or dead once max_deliver deliveries are spent.
  UPDATE sequin.deliveries d
     SET state = CASE WHEN d.deliver_count >= max_deliver THEN 3 ELSE 0 END
   WHERE d.consumer = p_consumer AND d.state = 1 AND d.not_visible_until <= now();
  RETURN QUERY SELECT * FROM sequin.claim(p_consumer, n, wait);
  GET DIAGNOSTICS got = ROW_COUNT;
  IF got < n THEN
    PERFORM sequin.fill(p_consumer, 500);
    RETURN QUERY SELECT * FROM sequin.claim(p_consumer, n - got, wait);
  END IF;
END $$;

-- Acks: a message changed under its lease becomes available again (the newer data is due);
-- otherwise the pair is done: deleted below the cursor, kept as acked above it.
CREATE FUNCTION sequin.ack(p_consumer uuid, ids uuid[]) RETURNS void
LANGUAGE sql AS $$
  SELECT set_config('synchronous_commit', 'off', true);
  UPDATE sequin.deliveries SET state = 0, not_visible_until = '-infinity'
   WHERE ack_id = ANY (ids) AND consumer = p_consumer AND state = 1 AND seq > delivered_seq;
  DELETE FROM sequin.deliveries d USING sequin.consumers c
   WHERE d.ack_id = ANY (ids) AND d.consumer = p_consumer AND d.state = 1
     AND d.seq = d.delivered_seq AND c.id = p_consumer AND d.seq <= c.cursor;
  UPDATE sequin.deliveries SET state = 2
   WHERE ack_id = ANY (ids) AND consumer = p_consumer AND state = 1 AND seq = delivered_seq;
$$;

-- Nack: the lease ends now; the message is available again after `delay_ms`, or dead when it
-- has had max_deliver deliveries (a nack is a failed delivery, like an expired lease).
CREATE FUNCTION sequin.nack(p_consumer uuid, ids uuid[], delay_ms int) RETURNS void
LANGUAGE sql AS $$
  SELECT set_config('synchronous_commit', 'off', true);
  UPDATE sequin.deliveries d
     SET state = CASE WHEN d.deliver_count >= c.max_deliver THEN 3 ELSE 0 END,
         not_visible_until = now() + make_interval(secs => delay_ms / 1000.0)
    FROM sequin.consumers c
   WHERE d.ack_id = ANY (ids) AND d.consumer = p_consumer AND d.state = 1
     AND c.id = p_consumer;
$$;

-- Extend: a held lease runs for another ack_wait from now. Anything else is left alone.
CREATE FUNCTION sequin.extend(p_consumer uuid, ids uuid[]) RETURNS void
LANGUAGE sql AS $$
  UPDATE sequin.deliveries d
     SET not_visible_until = now() + make_interval(secs => c.ack_wait_ms / 1000.0)
    FROM sequin.consumers c
   WHERE d.ack_id = ANY (ids) AND d.consumer = p_consumer AND d.state = 1
     AND d.not_visible_until > now() AND c.id = p_consumer;
$$;

-- Redrive: dead messages become available with a fresh delivery count; `ids` NULL: all dead.
CREATE FUNCTION sequin.redrive(p_consumer uuid, ids uuid[]) RETURNS bigint
LANGUAGE sql AS $$
  WITH r AS (
    UPDATE sequin.deliveries
       SET state = 0, deliver_count = 0, not_visible_until = '-infinity'
     WHERE consumer = p_consumer AND state = 3 AND (ids IS NULL OR ack_id = ANY (ids))
    RETURNING 1
  ) SELECT count(*) FROM r;
$$;

-- Deleting a message removes it from every consumer: an outstanding lease ends with it, and
-- acking it afterwards is a no-op.
CREATE FUNCTION sequin.delete_message(p_stream int, p_key text) RETURNS boolean
LANGUAGE sql AS $$
  DELETE FROM sequin.deliveries d USING sequin.consumers c
   WHERE c.stream = p_stream AND d.consumer = c.id AND d.key = p_key;
  WITH m AS (
    DELETE FROM sequin.messages WHERE stream = p_stream AND key = p_key RETURNING 1
  ) SELECT count(*) > 0 FROM m;
$$;
