-- Wake-ups for long polls: the server sends at most one per stream every few milliseconds
-- (sq_store_notify); the channel carries the stream's number.
CREATE OR REPLACE FUNCTION sequin.notify(p_stream int) RETURNS void
LANGUAGE sql AS $$
  SELECT pg_notify('sequin_stream', p_stream::text);
$$;
