-- Raises foreign_key_violation, which the store reports as "not found", when consumer
-- `p_consumer` does not exist (any more). The calls that act on a consumer's leases by id
-- would otherwise succeed on a deleted consumer, doing nothing: a server that resolved the
-- consumer's name a moment ago (its cache of names, docs/operations.md) learns this way that
-- the consumer is gone and answers 404, as every node must once the delete was answered.
CREATE OR REPLACE FUNCTION sequin.known_consumer(p_consumer uuid) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
  PERFORM 1 FROM sequin.consumers WHERE id = p_consumer;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no consumer %', p_consumer USING ERRCODE = 'foreign_key_violation';
  END IF;
END $$;
