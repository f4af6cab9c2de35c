-- The sources the config file declares (SPEC 8), applied in one statement so that a reload
-- changes all of them or none: docs/store.md, "Declared sources".
--
-- Makes the declared sources (element i of each array is one declaration; p_kinds[i] is
-- 'postgres' or 'webhook' and p_settings[i] the settings JSON as sq_source_settings_write or
-- sq_webhook_settings_write writes it) the config file's, and returns one row
-- per source it looked at:
--   created    declared, did not exist;
--   updated    declared and the file's already, with other settings or another stream (the
--              sources process sees the settings change and restarts it);
--   unchanged  declared and the file's already, same settings and stream;
--   adopted    declared, existed as an API source: now the file's, with the declared settings;
--   deleted    the file's, but no longer declared: deleted, so it stops streaming. Its slot and
--              publication stay in the source database (this database cannot reach it).
-- `declared` is the declaration's position (1-based), NULL for a deleted source; `changes`
-- says what an updated or adopted source had ("key_format \"basic\" -> \"with_operation\"",
-- the url and a webhook's secrets by name only), NULL when nothing changed; `slot` and
-- `publication` are the source's (for a deleted one, what to drop by hand).
--
-- A declaration naming a stream that does not exist raises SQLSTATE SQ404 with DETAIL its
-- position, and the statement's transaction rolls back. Runs under the declared consumers'
-- advisory lock (sequin.reconcile_begin), so reconciles of several nodes apply one after the
-- other.
CREATE OR REPLACE FUNCTION sequin.reconcile_sources(p_names text[], p_streams text[],
                                                    p_settings text[], p_kinds text[])
RETURNS TABLE (act text, source_name text, source_id uuid, declared int, changes text,
               slot text, publication text)
LANGUAGE plpgsql AS $$
DECLARE
  n int := sequin.reconcile_begin('sequin.reconcile_sources', ARRAY[
             cardinality(p_names), cardinality(p_streams), cardinality(p_settings),
             cardinality(p_kinds)]);
  s_num int;
  src sequin.sources;
  want jsonb;
BEGIN

  FOR i IN 1 .. n LOOP
    source_name := p_names[i];
    declared := i;
    want := p_settings[i]::jsonb;
    slot := want->>'slot';
    publication := want->>'publication';
    SELECT num INTO s_num FROM sequin.streams WHERE name = p_streams[i];
    IF NOT FOUND THEN
      RAISE EXCEPTION 'source "%" writes into stream "%", which does not exist: declare the '
                      'stream under "streams", or create it through the API',
                      p_names[i], p_streams[i] USING ERRCODE = 'SQ404', DETAIL = i;
    END IF;

    SELECT * INTO src FROM sequin.sources x WHERE x.name = p_names[i] FOR UPDATE;
    IF NOT FOUND THEN
      INSERT INTO sequin.sources AS x (name, kind, stream, settings, managed_by)
      VALUES (p_names[i], p_kinds[i], s_num, want, 'config')
      ON CONFLICT (name) DO NOTHING RETURNING x.id INTO source_id;
      IF source_id IS NOT NULL THEN
        act := 'created';
        changes := NULL;
        RETURN NEXT;
        CONTINUE;
      END IF;
      -- An API create of the same name committed while the insert waited for it.
      SELECT * INTO STRICT src FROM sequin.sources x WHERE x.name = p_names[i] FOR UPDATE;
    END IF;

    -- What differs, setting by setting in key order, then the stream; a value as JSON text
    -- but the url's, which is named only.
    SELECT string_agg(d.what, ', ' ORDER BY d.ord, d.what) INTO changes FROM (
      SELECT 1 AS ord, CASE WHEN k.key IN ('url', 'secret', 'hmac_secret') THEN k.key
                            ELSE k.key || ' ' || coalesce(src.settings->k.key, 'null'::jsonb)
                                 || ' -> ' || coalesce(want->k.key, 'null'::jsonb) END AS what
        FROM (SELECT jsonb_object_keys(src.settings) AS key
              UNION SELECT jsonb_object_keys(want)) k
       WHERE src.settings->k.key IS DISTINCT FROM want->k.key
      UNION ALL
      SELECT 0, 'kind ' || src.kind || ' -> ' || p_kinds[i] WHERE src.kind <> p_kinds[i]
      UNION ALL
      SELECT 2, 'stream "' || (SELECT name FROM sequin.streams WHERE num = src.stream)
                || '" -> "' || p_streams[i] || '"'
       WHERE src.stream <> s_num) d;

    source_id := src.id;
    act := CASE WHEN src.managed_by <> 'config' THEN 'adopted'
                WHEN changes IS NOT NULL THEN 'updated' ELSE 'unchanged' END;
    IF act <> 'unchanged' THEN
      UPDATE sequin.sources
         SET managed_by = 'config', kind = p_kinds[i], stream = s_num, settings = want,
             updated_at = now()
       WHERE id = src.id;
    END IF;
    RETURN NEXT;
  END LOOP;

  RETURN QUERY
  WITH deleted AS (
    DELETE FROM sequin.sources x
     WHERE x.managed_by = 'config' AND NOT (x.name = ANY (coalesce(p_names, '{}')))
    RETURNING x.name, x.id, x.settings)
  SELECT 'deleted', d.name, d.id, NULL::int, NULL::text, d.settings->>'slot',
         d.settings->>'publication'
    FROM deleted d ORDER BY d.name;
END $$;
