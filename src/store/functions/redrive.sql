-- Redrive: dead messages become available with a fresh delivery count; `ids` NULL: all dead.
CREATE OR REPLACE FUNCTION sequin.redrive(p_consumer uuid, ids uuid[]) RETURNS bigint
LANGUAGE sql AS $$
  WITH r AS (
    UPDATE sequin.deliveries
       SET state = 0, deliver_count = 0, not_visible_until = '-infinity'
     WHERE consumer = p_consumer AND state = 3 AND (ids IS NULL OR ack_id = ANY (ids))
    RETURNING 1
  ) SELECT count(*) FROM r;
$$;
