-- What a foreign key's cascade did, as a trigger on the (rare) delete of a stream: its
-- messages go (the messages carry no foreign key: checking it cost a fifth of an upsert). The
-- trigger's statement takes its own snapshot after the delete got its row lock, so it sees
-- every row an upsert committed while the delete waited for it (an upsert holds the stream
-- row key-share locked).
CREATE OR REPLACE FUNCTION sequin.stream_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM sequin.messages WHERE stream = OLD.num;
  RETURN NULL;
END $$;
