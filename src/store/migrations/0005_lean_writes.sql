-- Leaner writes, found by profiling the 100-message upsert (docs/store.md): a fifth of its
-- time went to the foreign key from messages to streams, which checks (and share-locks) the
-- stream row once per inserted message. The upsert now locks the stream row once per batch,
-- which gives the same guarantee (a stream being deleted waits for upserts in flight, and
-- later ones fail), and triggers on the deletes remove what hangs off a stream or consumer.
-- The delivery rows lose their foreign key for the same reason: fills insert hundreds at a
-- time, and a fill already holds the consumer row locked, so a delete waits for it.
ALTER TABLE sequin.messages DROP CONSTRAINT messages_stream_fkey;
ALTER TABLE sequin.deliveries DROP CONSTRAINT deliveries_consumer_fkey;

-- seq is unique by construction (one sequence); checking it on every insert was work for
-- nothing. The index stays for reading in seq order.
DROP INDEX sequin.messages_seq;
CREATE INDEX messages_seq ON sequin.messages (stream, seq);

CREATE OR REPLACE FUNCTION sequin.upsert(p_stream int, p_keys text[], p_datas text[],
                                         p_hashes bytea[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  PERFORM pg_current_xact_id(); -- an xid before any seq: the horizon's proof depends on it
  -- One key-share lock on the stream for the whole batch, where a foreign key took one per
  -- message: a concurrent delete_stream waits for this transaction.
  PERFORM 1 FROM sequin.streams WHERE num = p_stream FOR KEY SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no stream number %', p_stream USING ERRCODE = 'foreign_key_violation';
  END IF;
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

-- What the foreign keys' cascades did, as triggers on the (rare) deletes. A trigger's
-- statements take their own snapshot after the delete got its row lock, so they see every
-- row a concurrent fill or upsert committed while the delete waited for it: a fill holds the
-- consumer row locked while it inserts delivery rows, an upsert the stream row.
CREATE FUNCTION sequin.stream_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM sequin.messages WHERE stream = OLD.num;
  RETURN NULL;
END $$;
CREATE TRIGGER stream_deleted AFTER DELETE ON sequin.streams
  FOR EACH ROW EXECUTE FUNCTION sequin.stream_deleted();

CREATE FUNCTION sequin.consumer_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM sequin.deliveries WHERE consumer = OLD.id;
  RETURN NULL;
END $$;
-- (consumers still cascade from streams, so this also runs when their stream is deleted)
CREATE TRIGGER consumer_deleted AFTER DELETE ON sequin.consumers
  FOR EACH ROW EXECUTE FUNCTION sequin.consumer_deleted();
