-- A filter as a regular expression over keys (SPEC 2), for consumers and listings:
-- 'orders.*.cus_a.>' -> '^orders\.[^.]+\.cus_a\..+$'. Filters are validated before this.
CREATE OR REPLACE FUNCTION sequin.filter_regex(filter text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT '^' || string_agg(CASE t WHEN '*' THEN '[^.]+' WHEN '>' THEN '.+'
                                  ELSE regexp_replace(t, '([^A-Za-z0-9_])', '\\\1', 'g') END,
                           '\.' ORDER BY i) || '$'
  FROM unnest(string_to_array(filter, '.')) WITH ORDINALITY AS u(t, i)
$$;
