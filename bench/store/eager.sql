-- Prototype A, eager fan-out: an upsert writes the message and, in the same statement, one
-- delivery row per matching consumer. Receive claims delivery rows with SKIP LOCKED; ack
-- deletes them. Reading is a plain queue per consumer; writing pays for every consumer.
CREATE SEQUENCE proto.e_seq;
CREATE TABLE proto.e_messages (
  stream_id int NOT NULL,
  key text COLLATE "C" NOT NULL,
  seq bigint NOT NULL,
  data text NOT NULL,
  data_hash bytea NOT NULL,
  inserted_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stream_id, key)
);
CREATE UNIQUE INDEX ON proto.e_messages (stream_id, seq);

CREATE TABLE proto.e_consumers (
  id int PRIMARY KEY,
  stream_id int NOT NULL,
  filter text NOT NULL,
  lits text[] NOT NULL,
  min_tokens int NOT NULL
);
CREATE INDEX ON proto.e_consumers USING gin (lits);

-- state: 0 available, 1 leased (also: nacked with a delay, i.e. a lease nobody holds), 3 dead.
-- delivered_seq < seq while leased means the message changed under the lease.
CREATE TABLE proto.e_deliveries (
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
CREATE INDEX e_ready ON proto.e_deliveries (consumer_id, seq) WHERE state = 0;
CREATE INDEX e_leased ON proto.e_deliveries (consumer_id, not_visible_until) WHERE state = 1;
CREATE UNIQUE INDEX ON proto.e_deliveries (ack_id);

-- keys: one array per batch, as the server would send them.
CREATE FUNCTION proto.e_upsert(keys text[], datas text[]) RETURNS bigint
LANGUAGE sql AS $$
  WITH up AS (
    INSERT INTO proto.e_messages AS m (stream_id, key, seq, data, data_hash)
    SELECT 1, k, nextval('proto.e_seq'), d, decode(md5(d), 'hex')
    FROM unnest(keys, datas) AS u(k, d)
    ON CONFLICT (stream_id, key) DO UPDATE
      SET data = excluded.data, data_hash = excluded.data_hash, seq = excluded.seq,
          updated_at = now()
      WHERE m.data_hash <> excluded.data_hash
    RETURNING m.key, m.seq
  ), fan AS (
    INSERT INTO proto.e_deliveries AS d (consumer_id, key, seq)
    SELECT c.id, up.key, up.seq
    FROM up JOIN proto.e_consumers c
      ON c.stream_id = 1 AND c.lits <@ proto.key_lits(up.key)
     AND array_length(string_to_array(up.key, '.'), 1) >= c.min_tokens
    ON CONFLICT (consumer_id, key) DO UPDATE
      SET seq = excluded.seq,
          state = CASE WHEN d.state = 1 THEN 1 ELSE 0 END,
          deliver_count = CASE WHEN d.state = 3 THEN 0 ELSE d.deliver_count END
    RETURNING 1
  )
  SELECT count(*) FROM up
$$;

CREATE FUNCTION proto.e_receive(cid int, n int) RETURNS SETOF uuid
LANGUAGE sql AS $$
  -- Leases that ran out become available first; the partial index makes this a probe.
  UPDATE proto.e_deliveries SET state = 0
   WHERE consumer_id = cid AND state = 1 AND not_visible_until <= now();
  -- Update by ctid: a join on the key lets a generic plan (n unknown) pick a hash join
  -- over a scan of the whole table; a TID scan is right for any n.
  UPDATE proto.e_deliveries d
     SET state = 1, deliver_count = d.deliver_count + 1, delivered_seq = d.seq,
         not_visible_until = now() + interval '30 seconds', last_delivered_at = now()
   WHERE d.ctid = ANY (ARRAY(
           SELECT ctid FROM proto.e_deliveries
            WHERE consumer_id = cid AND state = 0
            ORDER BY seq LIMIT n FOR UPDATE SKIP LOCKED))
  RETURNING d.ack_id
$$;

CREATE FUNCTION proto.e_ack(cid int, ids uuid[]) RETURNS void
LANGUAGE sql AS $$
  -- Changed while leased: deliver the newer data; otherwise done, the row goes.
  UPDATE proto.e_deliveries SET state = 0
   WHERE ack_id = ANY (ids) AND consumer_id = cid AND state = 1 AND seq > delivered_seq;
  DELETE FROM proto.e_deliveries
   WHERE ack_id = ANY (ids) AND consumer_id = cid AND state = 1 AND seq = delivered_seq;
$$;
