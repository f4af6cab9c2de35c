-- The upsert's fast path for batches of new keys, the common case of a stream (docs/store.md,
-- "Where the upsert's time goes"). INSERT ... ON CONFLICT searches the key index once to
-- look for a conflict and again to insert; a plain INSERT searches it once, and reports a
-- conflict as a unique violation. So: try the plain insert first, inside a block that a
-- unique violation rolls back (a subtransaction), and fall back to ON CONFLICT when the
-- batch names a key that exists. Keys go in sorted, so a batch of updates fails at its first
-- key and costs little; a concurrent upsert of the same new key makes the plain insert wait
-- for it and then fail over to the path that handles it. Measured: +12-21% on 100 new keys.
CREATE OR REPLACE FUNCTION sequin.upsert(p_stream int, p_keys text[], p_datas text[],
                                         p_hashes bytea[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  PERFORM pg_current_xact_id(); -- an xid before any seq: the horizon's proof depends on it
  -- One key-share lock on the stream for the whole batch (migration 0005).
  PERFORM 1 FROM sequin.streams WHERE num = p_stream FOR KEY SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no stream number %', p_stream USING ERRCODE = 'foreign_key_violation';
  END IF;
  BEGIN
    INSERT INTO sequin.messages (stream, key, seq, data, data_hash)
    SELECT p_stream, k, nextval('sequin.seq'), d, h
      FROM (SELECT DISTINCT ON (k) k, d, h
              FROM unnest(p_keys, p_datas, p_hashes) WITH ORDINALITY AS u(k, d, h, i)
             ORDER BY k, i DESC) latest;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
  EXCEPTION WHEN unique_violation THEN
    NULL; -- some key exists: the general path below
  END;
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
