-- Group commit (docs/operations.md, "Group commit"): the upserts of several requests to one
-- stream, in one transaction, with how many messages each request published. p_groups[i] says
-- which request message i came from. The caller never puts one key in two requests of a group
-- (so a key's last occurrence is always its own request's), and a request's messages count
-- as in sequin.upsert: inserted or changed. Same two paths as sequin.upsert (0006): a plain
-- insert first, ON CONFLICT when some key exists.
CREATE FUNCTION sequin.upsert_grouped(p_stream int, p_keys text[], p_datas text[],
                                      p_hashes bytea[], p_groups int[])
RETURNS TABLE (grp int, published bigint) LANGUAGE plpgsql AS $$
DECLARE gs int[]; ns bigint[];
BEGIN
  PERFORM pg_current_xact_id(); -- an xid before any seq: the horizon's proof depends on it
  PERFORM 1 FROM sequin.streams WHERE num = p_stream FOR KEY SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no stream number %', p_stream USING ERRCODE = 'foreign_key_violation';
  END IF;
  BEGIN
    WITH latest AS (
      SELECT DISTINCT ON (k) k, d, h, g
        FROM unnest(p_keys, p_datas, p_hashes, p_groups) WITH ORDINALITY AS u(k, d, h, g, i)
       ORDER BY k, i DESC
    ), ins AS (
      INSERT INTO sequin.messages (stream, key, seq, data, data_hash)
      SELECT p_stream, k, nextval('sequin.seq'), d, h FROM latest
      RETURNING key
    )
    SELECT array_agg(x.g), array_agg(x.n) INTO gs, ns
      FROM (SELECT l.g, count(*) AS n FROM ins JOIN latest l ON l.k = ins.key GROUP BY l.g) x;
    RETURN QUERY SELECT * FROM unnest(gs, ns);
    RETURN;
  EXCEPTION WHEN unique_violation THEN
    NULL; -- some key exists: the general path below
  END;
  RETURN QUERY
  WITH latest AS (
    SELECT DISTINCT ON (k) k, d, h, g
      FROM unnest(p_keys, p_datas, p_hashes, p_groups) WITH ORDINALITY AS u(k, d, h, g, i)
     ORDER BY k, i DESC
  ), up AS (
    INSERT INTO sequin.messages AS m (stream, key, seq, data, data_hash)
    SELECT p_stream, k, nextval('sequin.seq'), d, h FROM latest
    ON CONFLICT (stream, key) DO UPDATE
      SET data = excluded.data, data_hash = excluded.data_hash, seq = excluded.seq,
          updated_at = now()
      WHERE m.data_hash <> excluded.data_hash
    RETURNING m.key
  ) SELECT l.g, count(*) FROM up JOIN latest l ON l.k = up.key GROUP BY l.g;
END $$;
