-- Puts changes of a source into its stream (docs/sources.md, "Guarantees"): the messages of one
-- or more source transactions, upserted as an API batch is (SPEC 3), and, when p_lsn is given,
-- the source's progress moved to p_lsn in the same transaction, so the stream and the progress
-- never disagree. A source transaction too large for one call is sent in several within one
-- store transaction, p_lsn NULL on all but the last.
--
-- The progress only moves forward: a p_lsn at or below it raises SQ409 and the transaction
-- rolls back. The process that runs the source skips replayed transactions itself; this is
-- the guard against a second node that lost its lock and has not noticed yet (the row lock
-- makes the two wait for each other, and the later one finds the position taken).
CREATE OR REPLACE FUNCTION sequin.source_apply(p_source int, p_lsn pg_lsn, p_keys text[],
                                               p_datas text[], p_hashes bytea[])
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE src sequin.sources; n bigint := 0;
BEGIN
  -- The slot is told it may forget these changes once this transaction commits: the commit
  -- must be durable then, whatever the database's own setting (the rest of the store may
  -- trade durability for speed; this may not).
  PERFORM set_config('synchronous_commit', 'on', true);
  -- A call that moves the progress locks the source's row; one that only adds messages (a
  -- part of a backfill page, applied on several connections at once) shares it, so the parts
  -- run side by side while the source still cannot be deleted under them.
  IF p_lsn IS NOT NULL THEN
    SELECT * INTO src FROM sequin.sources WHERE num = p_source FOR NO KEY UPDATE;
  ELSE
    SELECT * INTO src FROM sequin.sources WHERE num = p_source FOR KEY SHARE;
  END IF;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no source number %', p_source USING ERRCODE = 'SQ404';
  END IF;
  IF p_lsn IS NOT NULL AND src.applied_lsn >= p_lsn THEN
    RAISE EXCEPTION 'source "%" is already at %, not before %', src.name, src.applied_lsn, p_lsn
      USING ERRCODE = 'SQ409';
  END IF;
  IF coalesce(array_length(p_keys, 1), 0) > 0 THEN
    SELECT coalesce(sum(u.published), 0) INTO n
      FROM sequin.upsert(src.stream, p_keys, p_datas, p_hashes, NULL) u;
  END IF;
  IF p_lsn IS NOT NULL THEN
    UPDATE sequin.sources SET applied_lsn = p_lsn WHERE num = p_source;
  END IF;
  RETURN n;
END $$;
