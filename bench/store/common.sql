-- Pieces both store prototypes share: keys split into "position:token" literals, so that a
-- GIN index can find every filter whose literal tokens a key contains (filters are matched
-- by an index, never by evaluating each one), and the final shape check of a candidate.
DROP SCHEMA IF EXISTS proto CASCADE;
CREATE SCHEMA proto;

-- 'orders.us.cus_a' -> {1:orders,2:us,3:cus_a,#3}
CREATE FUNCTION proto.key_lits(key text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT array_agg(i || ':' || t) || ('#' || count(*))
  FROM unnest(string_to_array(key, '.')) WITH ORDINALITY AS u(t, i)
$$;

-- The literal tokens a filter requires; '#n' pins the token count when there is no '>'.
-- 'orders.*.cus_a.*' -> {1:orders,3:cus_a,#4}; 'orders.us.>' -> {1:orders,2:us}; '>' -> {}
CREATE FUNCTION proto.filter_lits(filter text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(i || ':' || t) FILTER (WHERE t NOT IN ('*', '>')), '{}')
         || CASE WHEN bool_or(t = '>') THEN '{}'::text[] ELSE array['#' || count(*)] END
  FROM unnest(string_to_array(filter, '.')) WITH ORDINALITY AS u(t, i)
$$;

-- For '>' filters the index cannot pin the count: the key needs more tokens than the prefix.
CREATE FUNCTION proto.min_tokens(filter text) RETURNS int
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE WHEN filter LIKE '%>' THEN array_length(string_to_array(filter, '.'), 1) ELSE 0 END
$$;
