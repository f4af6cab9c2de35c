-- The triggers after a stream's and a consumer's delete (0005) share one function,
-- sequin.cascade_delete() (functions/cascade_delete.sql), which deletes the children of
-- either. It is created here, with the body the file has now, so that the triggers can point
-- at it; the two functions it replaces go.
CREATE FUNCTION sequin.cascade_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'streams' THEN
    DELETE FROM sequin.messages WHERE stream = OLD.num;
  ELSE
    DELETE FROM sequin.deliveries WHERE consumer = OLD.id;
  END IF;
  RETURN NULL;
END $$;
DROP TRIGGER stream_deleted ON sequin.streams;
CREATE TRIGGER stream_deleted AFTER DELETE ON sequin.streams
  FOR EACH ROW EXECUTE FUNCTION sequin.cascade_delete();
DROP TRIGGER consumer_deleted ON sequin.consumers;
CREATE TRIGGER consumer_deleted AFTER DELETE ON sequin.consumers
  FOR EACH ROW EXECUTE FUNCTION sequin.cascade_delete();
DROP FUNCTION sequin.stream_deleted();
DROP FUNCTION sequin.consumer_deleted();
