-- The start of a reconcile of the config file's declarations (reconcile.sql for consumers,
-- reconcile_sources.sql for sources): the declaration arrays `p_lengths` (each array's
-- cardinality; NULL for an empty or NULL array) must be of one length, which it returns, and
-- the reconcile lock is taken for the rest of the transaction. One lock for both kinds, so that
-- nodes starting together apply their files one after the other ("SQRECONC" as its key), and a
-- reconcile of consumers and one of sources in one transaction hold it once.
CREATE OR REPLACE FUNCTION sequin.reconcile_begin(p_what text, p_lengths int[])
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  n int := coalesce(p_lengths[1], 0);
BEGIN
  IF EXISTS (SELECT 1 FROM unnest(p_lengths) l WHERE coalesce(l, 0) <> n) THEN
    RAISE EXCEPTION '%: the declaration arrays differ in length', p_what;
  END IF;
  PERFORM pg_advisory_xact_lock(6003670235697073731);
  RETURN n;
END $$;
