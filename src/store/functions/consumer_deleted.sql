-- A consumer's delivery rows go with it (they carry no foreign key: fills insert hundreds at a
-- time while holding the consumer row locked, so a delete waits for them anyway). Runs for
-- every consumer of a deleted stream too, since consumers still cascade from streams.
CREATE OR REPLACE FUNCTION sequin.consumer_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM sequin.deliveries WHERE consumer = OLD.id;
  RETURN NULL;
END $$;
