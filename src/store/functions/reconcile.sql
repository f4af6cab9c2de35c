-- The consumers the config file declares (SPEC 5), applied in one statement so that a reload
-- changes all of them or none: docs/store.md, "Declared consumers".
--
-- Makes the declared consumers (element i of each array is one declaration; max_deliver 0 is
-- no limit; a push consumer has an http_endpoint, '' for a pull one, whose push ints are 0)
-- the config file's, and returns one row per consumer it looked at:
--   created    declared, did not exist;
--   updated    declared and the file's already, with other numeric or push settings;
--   unchanged  declared and the file's already, same settings;
--   adopted    declared, existed as an API consumer (created through the API, or released by
--              an earlier reconcile) with the same filter and deliver_policy: now the file's;
--   released   the file's, but no longer declared: kept with its messages, managed_by "api".
-- `declared` is the declaration's position (1-based), NULL for a released consumer; the
-- `was_` columns are the settings before (NULL for a created one).
--
-- Refusals raise SQLSTATE SQ409 (a filter, deliver_policy or kind that would change) or SQ404 (a
-- stream that does not exist) with DETAIL the declaration's position, and the statement's
-- transaction rolls back: nothing of the reconcile stays. Reconciles queue on an advisory
-- lock (sequin.reconcile_begin), so nodes starting together apply the file one after the other
-- and the later ones find it applied.
CREATE OR REPLACE FUNCTION sequin.reconcile(p_streams text[], p_names text[],
                                            p_filters text[], p_ack_wait_ms int[],
                                            p_max_ack_pending int[], p_max_deliver int[],
                                            p_policies text[], p_endpoints text[],
                                            p_max_waiting int[], p_backoff_base_ms int[],
                                            p_backoff_max_ms int[])
RETURNS TABLE (act text, stream_name text, consumer_name text, consumer_id uuid, declared int,
               was_ack_wait_ms int, was_max_ack_pending int, was_max_deliver int)
LANGUAGE plpgsql AS $$
DECLARE
  n int := sequin.reconcile_begin('sequin.reconcile', ARRAY[
             cardinality(p_names), cardinality(p_streams), cardinality(p_filters),
             cardinality(p_ack_wait_ms), cardinality(p_max_ack_pending),
             cardinality(p_max_deliver), cardinality(p_policies), cardinality(p_endpoints),
             cardinality(p_max_waiting), cardinality(p_backoff_base_ms),
             cardinality(p_backoff_max_ms)]);
  s_num int;
  c sequin.consumers;
  new_id uuid;
  what text;
  old_value text;
  new_value text;
  v_endpoint jsonb;
  v_kind text;
BEGIN

  FOR i IN 1 .. n LOOP
    stream_name := p_streams[i];
    consumer_name := p_names[i];
    declared := i;
    v_endpoint := nullif(p_endpoints[i], '')::jsonb;
    v_kind := CASE WHEN v_endpoint IS NULL THEN 'pull' ELSE 'push' END;
    SELECT num INTO s_num FROM sequin.streams WHERE name = p_streams[i];
    IF NOT FOUND THEN
      RAISE EXCEPTION 'consumer "%" is declared in stream "%", which does not exist',
                      p_names[i], p_streams[i] USING ERRCODE = 'SQ404', DETAIL = i;
    END IF;

    -- Each statement of a function sees what committed before it began (READ COMMITTED):
    -- after the lock, whatever an earlier reconcile or an API create committed.
    SELECT * INTO c FROM sequin.consumers x
     WHERE x.stream = s_num AND x.name = p_names[i] FOR UPDATE;
    IF NOT FOUND THEN
      new_id := sequin.create_consumer(s_num, p_names[i], p_filters[i], p_ack_wait_ms[i],
                                       p_max_ack_pending[i], p_max_deliver[i], p_policies[i],
                                       v_kind, v_endpoint, nullif(p_max_waiting[i], 0),
                                       nullif(p_backoff_base_ms[i], 0),
                                       nullif(p_backoff_max_ms[i], 0), 'config');
      IF new_id IS NOT NULL THEN
        act := 'created';
        consumer_id := new_id;
        was_ack_wait_ms := NULL;
        was_max_ack_pending := NULL;
        was_max_deliver := NULL;
        RETURN NEXT;
        CONTINUE;
      END IF;
      -- An API create of the same name committed while the insert waited for it.
      SELECT * INTO STRICT c FROM sequin.consumers x
       WHERE x.stream = s_num AND x.name = p_names[i] FOR UPDATE;
    END IF;

    -- What a consumer's messages are (filter), where it started (deliver_policy) and how they
    -- leave (kind) cannot change under it: a different one is a different consumer.
    what := NULL;
    IF c.filter <> p_filters[i] THEN
      what := 'filter'; old_value := c.filter; new_value := p_filters[i];
    ELSIF c.deliver_policy <> p_policies[i] THEN
      what := 'deliver_policy'; old_value := c.deliver_policy;
      new_value := p_policies[i];
    ELSIF c.kind <> v_kind THEN
      what := 'kind'; old_value := c.kind; new_value := v_kind;
    END IF;
    IF what IS NOT NULL AND c.managed_by = 'config' THEN
      RAISE EXCEPTION 'consumer "%" of stream "%": the % cannot change (was "%", now "%"); '
                      'declare a consumer with a new name instead',
                      c.name, p_streams[i], what, old_value, new_value
            USING ERRCODE = 'SQ409', DETAIL = i;
    ELSIF what IS NOT NULL THEN
      RAISE EXCEPTION 'consumer "%" of stream "%" exists, created through the API with % "%", '
                      'not "%": declare the same % to take it over, or a consumer with a new '
                      'name', c.name, p_streams[i], what, old_value, new_value, what
            USING ERRCODE = 'SQ409', DETAIL = i;
    END IF;

    consumer_id := c.id;
    was_ack_wait_ms := c.ack_wait_ms;
    was_max_ack_pending := c.max_ack_pending;
    was_max_deliver := coalesce(c.max_deliver, 0);
    IF c.managed_by <> 'config' THEN
      act := 'adopted';
    ELSIF c.ack_wait_ms <> p_ack_wait_ms[i] OR c.max_ack_pending <> p_max_ack_pending[i]
          OR coalesce(c.max_deliver, 0) <> p_max_deliver[i]
          OR c.http_endpoint IS DISTINCT FROM v_endpoint
          OR coalesce(c.max_waiting, 0) <> least(p_max_waiting[i], p_max_ack_pending[i])
          OR coalesce(c.backoff_base_ms, 0) <> p_backoff_base_ms[i]
          OR coalesce(c.backoff_max_ms, 0) <> p_backoff_max_ms[i] THEN
      act := 'updated';
    ELSE
      act := 'unchanged';
    END IF;
    IF act <> 'unchanged' THEN
      UPDATE sequin.consumers
         SET managed_by = 'config', ack_wait_ms = p_ack_wait_ms[i],
             max_ack_pending = p_max_ack_pending[i], max_deliver = nullif(p_max_deliver[i], 0),
             http_endpoint = v_endpoint,
             max_waiting = nullif(least(p_max_waiting[i], p_max_ack_pending[i]), 0),
             backoff_base_ms = nullif(p_backoff_base_ms[i], 0),
             backoff_max_ms = nullif(p_backoff_max_ms[i], 0), updated_at = now()
       WHERE id = c.id;
    END IF;
    RETURN NEXT;
  END LOOP;

  RETURN QUERY
  WITH released AS (
    UPDATE sequin.consumers x SET managed_by = 'api', updated_at = now()
      FROM sequin.streams s
     WHERE x.managed_by = 'config' AND s.num = x.stream
       AND NOT EXISTS (SELECT 1 FROM unnest(p_streams, p_names) AS d(st, nm)
                        WHERE d.st = s.name AND d.nm = x.name)
    RETURNING s.name AS s_name, x.name AS c_name, x.id, x.ack_wait_ms, x.max_ack_pending,
              coalesce(x.max_deliver, 0) AS max_deliver)
  SELECT 'released', r.s_name, r.c_name, r.id, NULL::int, r.ack_wait_ms, r.max_ack_pending,
         r.max_deliver
    FROM released r ORDER BY r.s_name, r.c_name;
END $$;
