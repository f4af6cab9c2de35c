-- What the foreign keys' cascades would do, as the trigger after the (rare) delete of a stream
-- or a consumer: a stream's messages go, and a consumer's delivery rows (consumers still
-- cascade from streams, so this runs for each consumer of a deleted stream too). Neither
-- carries a foreign key: checking it cost a fifth of an upsert, and a fill inserts hundreds of
-- delivery rows at a time while it holds the consumer row locked, so a delete waits for it
-- anyway. The trigger's statement takes its own snapshot after the delete got its row lock,
-- so it sees every row an upsert or a fill committed while the delete waited for it (an
-- upsert holds the stream row key-share locked, a fill the consumer row).
CREATE OR REPLACE FUNCTION sequin.cascade_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'streams' THEN
    DELETE FROM sequin.messages WHERE stream = OLD.num;
  ELSE
    DELETE FROM sequin.deliveries WHERE consumer = OLD.id;
  END IF;
  RETURN NULL;
END $$;
