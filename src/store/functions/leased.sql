-- How many leases a consumer holds, counting no further than `upto`.
CREATE OR REPLACE FUNCTION sequin.leased(p_consumer uuid, upto int) RETURNS int
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT count(*)::int FROM (SELECT 1 FROM sequin.deliveries
                                      WHERE consumer = p_consumer AND state = 1 LIMIT upto) x);
END $$;
