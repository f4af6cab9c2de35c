-- Timestamps as the API prints them: ISO 8601, UTC, microseconds; NULL for +-infinity and NULL.
-- Not STRICT: the body (one CASE expression) is then inlined into the query that calls it,
-- with no function call per row.
CREATE OR REPLACE FUNCTION sequin.iso(t timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN isfinite(t)
              THEN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END
$$;
