-- Redrive: dead messages become available with a fresh delivery count; `ids` NULL: all dead.
-- How many there were; a consumer that does not exist is an error (sequin.known_consumer).
CREATE OR REPLACE FUNCTION sequin.redrive(p_consumer uuid, ids uuid[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  PERFORM sequin.known_consumer(p_consumer);
  UPDATE sequin.deliveries
     SET state = 0, deliver_count = 0, not_visible_until = '-infinity'
   WHERE consumer = p_consumer AND state = 3 AND (ids IS NULL OR ack_id = ANY (ids));
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
