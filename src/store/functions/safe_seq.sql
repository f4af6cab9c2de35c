-- The highest seq proven settled: no transaction that could still commit a smaller one is
-- running (docs/store.md, "The cursor and seq order that is not commit order"). Promotes the candidate once every transaction that
-- was running when it was taken has ended; one receiver promotes at a time, the others read.
CREATE OR REPLACE FUNCTION sequin.safe_seq() RETURNS bigint
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
